//! Cross-variable rules: a table of named checks over the effective values,
//! each saying which variables it concerns, what is wrong and how to fix it.

use crate::config::{Component, Values};
use crate::schema::kind::url_host_port;
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}

/// A rule's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub level: Level,
    /// The variable the message is about (its line is reported).
    pub var: &'static str,
    pub message: String,
    pub fix: String,
}

/// What a rule sees.
pub struct Input<'a> {
    pub values: &'a Values,
    pub components: &'a BTreeSet<Component>,
}

/// One rule: an id for `--json` consumers, a one-line summary for the
/// reference, and the check itself.
pub struct Rule {
    pub id: &'static str,
    pub summary: &'static str,
    pub check: fn(&Input<'_>) -> Vec<Violation>,
}

pub static RULES: &[Rule] = &[
    Rule {
        id: "public-url",
        summary: "PUBLIC_URL is an https URL whose port matches HTTPS_PORT when that is not 443",
        check: public_url,
    },
    Rule {
        id: "letsencrypt",
        summary: "ENABLE_LETSENCRYPT=1 needs LETSENCRYPT_DOMAIN and LETSENCRYPT_EMAIL, and ports 80/443",
        check: letsencrypt,
    },
    Rule {
        id: "auth-backend",
        summary: "ENABLE_AUTH with AUTH_TYPE jwt needs JWT_APP_ID and JWT_APP_SECRET; ldap needs LDAP_URL; matrix needs MATRIX_UVS_URL",
        check: auth_backend,
    },
    Rule {
        id: "jigasi-sip",
        summary: "jigasi enabled needs JIGASI_SIP_URI, JIGASI_SIP_PASSWORD and JIGASI_SIP_SERVER",
        check: jigasi_sip,
    },
];

fn v(
    level: Level,
    var: &'static str,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Violation {
    Violation {
        level,
        var,
        message: message.into(),
        fix: fix.into(),
    }
}

fn public_url(i: &Input<'_>) -> Vec<Violation> {
    let Some(url) = i.values.raw("PUBLIC_URL") else {
        return vec![];
    };
    let Some((_host, port, scheme)) = url_host_port(url) else {
        return vec![];
    };
    let mut out = vec![];
    if scheme != "https" {
        out.push(v(
            Level::Error,
            "PUBLIC_URL",
            format!("expected an https:// URL, found {url:?}: browsers only allow camera and microphone on https pages"),
            "set PUBLIC_URL=https://your.domain",
        ));
    }
    let https = i.values.port("HTTPS_PORT").unwrap_or(443);
    if https != 443 && port != Some(https) && !i.values.bool("DISABLE_HTTPS") {
        out.push(v(
            Level::Warning,
            "PUBLIC_URL",
            format!(
                "HTTPS_PORT is {https} but PUBLIC_URL {url:?} {}",
                match port {
                    Some(p) => format!("uses port {p}"),
                    None => "has no port (so 443)".into(),
                }
            ),
            format!("add :{https} to PUBLIC_URL, unless a reverse proxy publishes it on that URL"),
        ));
    }
    out
}

fn letsencrypt(i: &Input<'_>) -> Vec<Violation> {
    if !i.values.bool("ENABLE_LETSENCRYPT") {
        return vec![];
    }
    let mut out = vec![];
    for name in ["LETSENCRYPT_DOMAIN", "LETSENCRYPT_EMAIL"] {
        if i.values.raw(name).is_none() {
            out.push(v(
                Level::Error,
                name,
                format!("ENABLE_LETSENCRYPT=1 needs {name}, found it empty"),
                format!("set {name} (the certificate's domain and the ACME account's e-mail)"),
            ));
        }
    }
    let http = i.values.port("HTTP_PORT");
    let https = i.values.port("HTTPS_PORT");
    if http != Some(80) || https != Some(443) {
        out.push(v(
            Level::Warning,
            "ENABLE_LETSENCRYPT",
            format!(
                "Let's Encrypt validates over port 80 and serves on 443, found HTTP_PORT={} HTTPS_PORT={}",
                http.map_or("unset".into(), |p| p.to_string()),
                https.map_or("unset".into(), |p| p.to_string())
            ),
            "set HTTP_PORT=80 and HTTPS_PORT=443, or forward 80 and 443 to them",
        ));
    }
    if i.values.raw("LETSENCRYPT_ACME_SERVER").is_none() {
        out.push(v(
            Level::Warning,
            "ENABLE_LETSENCRYPT",
            "the image's acme.sh uses ZeroSSL as its default ACME server, not Let's Encrypt",
            "set LETSENCRYPT_ACME_SERVER=letsencrypt to use Let's Encrypt",
        ));
    }
    out
}

fn auth_backend(i: &Input<'_>) -> Vec<Violation> {
    if !i.values.bool("ENABLE_AUTH") {
        return vec![];
    }
    let needs: &[&'static str] = match i.values.get_or("AUTH_TYPE", "internal") {
        "jwt" => &["JWT_APP_ID", "JWT_APP_SECRET"],
        "ldap" => &["LDAP_URL"],
        "matrix" => &["MATRIX_UVS_URL"],
        _ => &[],
    };
    let ty = i.values.get_or("AUTH_TYPE", "internal");
    needs
        .iter()
        .filter(|n| i.values.raw(n).is_none())
        .map(|n| {
            v(
                Level::Error,
                n,
                format!("ENABLE_AUTH=1 with AUTH_TYPE={ty} needs {n}, found it empty"),
                format!("set {n}, or choose another AUTH_TYPE"),
            )
        })
        .collect()
}

fn jigasi_sip(i: &Input<'_>) -> Vec<Violation> {
    if !i.components.contains(&Component::Jigasi) || i.values.bool("JIGASI_DISABLE_SIP") {
        return vec![];
    }
    ["JIGASI_SIP_URI", "JIGASI_SIP_PASSWORD", "JIGASI_SIP_SERVER"]
        .into_iter()
        .filter(|n| i.values.raw(n).is_none() || i.values.raw(n) == Some("replaceme"))
        .map(|n| {
            v(
                Level::Error,
                n,
                format!("jigasi is enabled but {n} is not set: jigasi cannot register with your SIP provider"),
                format!("set {n} to your SIP account's value, or remove jigasi from {}", crate::config::WITH_VAR),
            )
        })
        .collect()
}

/// Runs every rule.
pub fn check(input: &Input<'_>) -> Vec<Violation> {
    RULES.iter().flat_map(|r| (r.check)(input)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pairs: &[(&str, &str)], comps: &[Component]) -> Vec<Violation> {
        let values = Values::from_pairs(pairs.iter().copied());
        let components = comps.iter().copied().collect();
        check(&Input {
            values: &values,
            components: &components,
        })
    }

    #[test]
    fn letsencrypt_needs_domain_and_email() {
        let out = run(
            &[
                ("ENABLE_LETSENCRYPT", "1"),
                ("HTTP_PORT", "80"),
                ("HTTPS_PORT", "443"),
            ],
            &[],
        );
        let vars: Vec<_> = out
            .iter()
            .filter(|v| v.level == Level::Error)
            .map(|v| v.var)
            .collect();
        assert_eq!(vars, ["LETSENCRYPT_DOMAIN", "LETSENCRYPT_EMAIL"]);
        assert!(out.iter().any(|v| v.message.contains("ZeroSSL")));
    }

    #[test]
    fn public_url_port_mismatch_warns() {
        let out = run(
            &[
                ("PUBLIC_URL", "https://meet.example.org"),
                ("HTTPS_PORT", "8443"),
            ],
            &[],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].level, Level::Warning);
        let out = run(
            &[
                ("PUBLIC_URL", "http://meet.example.org"),
                ("HTTPS_PORT", "443"),
            ],
            &[],
        );
        assert_eq!(out[0].level, Level::Error);
    }

    #[test]
    fn jwt_needs_app_id_and_secret() {
        let out = run(&[("ENABLE_AUTH", "1"), ("AUTH_TYPE", "jwt")], &[]);
        let vars: Vec<_> = out.iter().map(|v| v.var).collect();
        assert_eq!(vars, ["JWT_APP_ID", "JWT_APP_SECRET"]);
    }
}
