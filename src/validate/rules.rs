//! Cross-variable rules: a table of named checks over the effective values,
//! each saying which variable it concerns, what was expected, what was found
//! and how to fix it. A rule reports an error only where the stack would
//! certainly break; everything else is a warning.

use crate::config::{Component, SiteCert, Values, BEHIND_PROXY_VAR, WITH_VAR};
use crate::schema::kind::{not_public_dns_name, parse_port, url_host_port};
use crate::schema::PINNED_IMAGE_VERSION;
use std::collections::BTreeSet;

pub use crate::schema::Level;

/// A rule's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The id of the rule that found it (filled in by [`check`]).
    pub rule: &'static str,
    pub level: Level,
    /// The variable the message is about (its line is reported).
    pub var: &'static str,
    pub message: String,
    pub expected: Option<String>,
    /// What was found; rules never put a secret's value here.
    pub found: Option<String>,
    pub fix: String,
}

impl Violation {
    fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }

    fn found(mut self, f: impl Into<String>) -> Self {
        self.found = Some(f.into());
        self
    }
}

/// What a rule sees.
pub struct Input<'a> {
    pub values: &'a Values,
    pub components: &'a BTreeSet<Component>,
    /// The certificate the web image will serve (read from CONFIG).
    pub site: &'a SiteCert,
}

impl Input<'_> {
    fn has(&self, c: Component) -> bool {
        self.components.contains(&c)
    }

    fn set(&self, name: &str) -> bool {
        self.values.raw(name).is_some()
    }
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
        summary: "PUBLIC_URL is set (warning), is an https URL (error), and its port matches HTTPS_PORT when that is not 443 (warning)",
        check: public_url,
    },
    Rule {
        id: "http-ports",
        summary: "HTTP_PORT and HTTPS_PORT differ (error)",
        check: http_ports,
    },
    Rule {
        id: "letsencrypt",
        summary: "ENABLE_LETSENCRYPT=1 needs LETSENCRYPT_DOMAIN (a public DNS name: no IP address, localhost or single label) and LETSENCRYPT_EMAIL (errors), ports 80/443, an explicit ACME server, and a domain matching PUBLIC_URL",
        check: letsencrypt,
    },
    Rule {
        id: "disable-https",
        summary: "DISABLE_HTTPS=1 conflicts with ENABLE_HTTP_REDIRECT (error: redirect to a port nothing serves) and ENABLE_LETSENCRYPT (ignored)",
        check: disable_https,
    },
    Rule {
        id: "behind-proxy",
        summary: "JITSI_STACK_BEHIND_PROXY=1 (web on 127.0.0.1:HTTP_PORT only) conflicts with ENABLE_LETSENCRYPT and ENABLE_HTTP_REDIRECT (errors) and wants DISABLE_HTTPS=1 (warning)",
        check: behind_proxy,
    },
    Rule {
        id: "auth-backend",
        summary: "ENABLE_AUTH with AUTH_TYPE jwt needs JWT_APP_ID and JWT_APP_SECRET or JWT_ASAP_KEYSERVER; ldap needs LDAP_URL; matrix needs MATRIX_UVS_URL; hybrid_matrix_token needs both (errors)",
        check: auth_backend,
    },
    Rule {
        id: "auth-unused",
        summary: "ENABLE_GUESTS and a non-internal AUTH_TYPE have no effect without ENABLE_AUTH",
        check: auth_unused,
    },
    Rule {
        id: "jigasi-sip",
        summary: "the jigasi component needs JIGASI_SIP_URI (user@domain), JIGASI_SIP_PASSWORD and JIGASI_SIP_SERVER (errors); a sip: prefix is passed on as the image does, with a warning",
        check: jigasi_sip,
    },
    Rule {
        id: "jigasi-ports",
        summary: "JIGASI_PORT_MIN is not above JIGASI_PORT_MAX (error)",
        check: jigasi_ports,
    },
    Rule {
        id: "recording",
        summary: "ENABLE_RECORDING or ENABLE_LIVESTREAMING without the jibri component shows a button that cannot work (warning); the jibri component turns recording on by itself",
        check: recording,
    },
    Rule {
        id: "jibri-url",
        summary: "the jibri component with PUBLIC_URL on localhost (jibri's Chrome opens the meeting from inside its container), or with a self-signed certificate on the site (the one the web image generates without Let's Encrypt or a cert.crt and cert.key in CONFIG/web/keys, or a self-issued one there) while Chrome does not ignore certificate errors (IGNORE_CERTIFICATE_ERRORS, which CHROMIUM_FLAGS overrides): recordings never start (warnings)",
        check: jibri_url,
    },
    Rule {
        id: "transcription",
        summary: "the transcriber component needs ENABLE_TRANSCRIPTIONS (error: prosody does not create its account); ENABLE_TRANSCRIPTIONS without it does nothing",
        check: transcription,
    },
    Rule {
        id: "turn",
        summary: "TURN_HOST/TURNS_HOST need TURN_CREDENTIALS or TURN_USERNAME with TURN_PASSWORD (error); static TURN credentials without a TURN server do nothing",
        check: turn,
    },
    Rule {
        id: "jvb-ports",
        summary: "JVB_PORT + JVB_INSTANCES - 1 stays within 65535 (error)",
        check: jvb_ports,
    },
    Rule {
        id: "xmpp-domains",
        summary: "the XMPP domains (main, auth, muc, internal muc, guest, hidden) are all different (error)",
        check: xmpp_domains,
    },
    Rule {
        id: "image-version",
        summary: "JITSI_IMAGE_VERSION is the pinned release; latest, unstable or another tag gets configs written for a different release",
        check: image_version,
    },
    Rule {
        id: "shared-document",
        summary: "the etherpad and whiteboard components need their public URLs set, or the web client does not offer them",
        check: shared_document,
    },
    Rule {
        id: "visitors",
        summary: "visitors need visitor nodes (JITSI_STACK_VISITORS), the visitors domain meet.jitsi, a MUC prefix matching XMPP_MUC_DOMAIN, and no VISITORS_XMPP_SERVER entry contradicting the derived nodes and ports (errors)",
        check: visitors_rule,
    },
    Rule {
        id: "kubernetes",
        summary: "with JITSI_STACK_K8S_MEDIA=hostport, JITSI_STACK_K8S_BRIDGE_NODES names one node per bridge (error) and no node twice (warning); with nodeport, every bridge's node port is within 30000-32767 (error); the bridge nodes are ignored by the other modes (warning); with loadbalancer and several bridges, their load balancers must share the advertised address (warning)",
        check: kubernetes,
    },
];

fn v(
    level: Level,
    var: &'static str,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Violation {
    Violation {
        rule: "",
        level,
        var,
        message: message.into(),
        expected: None,
        found: None,
        fix: fix.into(),
    }
}

fn shown(i: &Input<'_>, name: &str) -> String {
    match i.values.raw(name) {
        Some(value) => format!("{name}={value}"),
        None => match i.values.get(name) {
            Some(d) => format!("{name} unset (default {d})"),
            None => format!("{name} unset"),
        },
    }
}

fn public_url(i: &Input<'_>) -> Vec<Violation> {
    let Some(url) = i.values.raw("PUBLIC_URL") else {
        return vec![v(
            Level::Warning,
            "PUBLIC_URL",
            "PUBLIC_URL is not set: the images fall back to https://localhost:8443, which only works on this machine",
            "set PUBLIC_URL to the address users open, such as https://meet.example.org",
        )
        .expected("the public https URL of the site")
        .found("PUBLIC_URL unset")];
    };
    let Some((_host, port, scheme)) = url_host_port(url) else {
        return vec![];
    };
    let mut out = vec![];
    if scheme != "https" {
        out.push(
            v(
                Level::Error,
                "PUBLIC_URL",
                "browsers only allow camera and microphone on https pages",
                "set PUBLIC_URL=https://your.domain (with DISABLE_HTTPS=1 the proxy in front still serves https)",
            )
            .expected("an https:// URL")
            .found(format!("{url:?}")),
        );
    }
    let https = i.values.port("HTTPS_PORT").unwrap_or(443);
    let proxied = i.values.bool("DISABLE_HTTPS") || i.values.bool(BEHIND_PROXY_VAR);
    if https != 443 && port != Some(https) && !proxied {
        out.push(
            v(
                Level::Warning,
                "PUBLIC_URL",
                "the port in PUBLIC_URL differs from HTTPS_PORT, the port the web container is published on",
                format!("add :{https} to PUBLIC_URL, unless a reverse proxy publishes it on that URL"),
            )
            .expected(format!("port {https} (HTTPS_PORT)"))
            .found(match port {
                Some(p) => format!("{url:?} (port {p})"),
                None => format!("{url:?} (no port, so 443)"),
            }),
        );
    }
    out
}

fn http_ports(i: &Input<'_>) -> Vec<Violation> {
    // Behind a proxy HTTPS_PORT is not published at all.
    if i.values.bool(BEHIND_PROXY_VAR) {
        return vec![];
    }
    match (i.values.port("HTTP_PORT"), i.values.port("HTTPS_PORT")) {
        (Some(a), Some(b)) if a == b => vec![v(
            Level::Error,
            "HTTPS_PORT",
            "HTTP and HTTPS are published on the same host port; Docker cannot bind it twice",
            "give HTTP_PORT and HTTPS_PORT different values, such as 80 and 443",
        )
        .expected(format!("a port other than HTTP_PORT ({a})"))
        .found(format!("HTTPS_PORT={b}"))],
        _ => vec![],
    }
}

fn letsencrypt(i: &Input<'_>) -> Vec<Violation> {
    if !i.values.bool("ENABLE_LETSENCRYPT") || i.values.bool("DISABLE_HTTPS") {
        return vec![];
    }
    let mut out = vec![];
    for name in ["LETSENCRYPT_DOMAIN", "LETSENCRYPT_EMAIL"] {
        if !i.set(name) {
            out.push(
                v(
                    Level::Error,
                    name,
                    format!(
                        "ENABLE_LETSENCRYPT=1 needs {name}; the web container exits without it"
                    ),
                    if name == "LETSENCRYPT_DOMAIN" {
                        "set LETSENCRYPT_DOMAIN to the certificate's domain: the public DNS name users open, the host of PUBLIC_URL".to_string()
                    } else {
                        "set LETSENCRYPT_EMAIL to the e-mail address Let's Encrypt sends expiry notices to (the ACME account's)".to_string()
                    },
                )
                .expected(format!("{name} set"))
                .found(format!("{name} empty")),
            );
        }
    }
    if let Some(domain) = i.values.raw("LETSENCRYPT_DOMAIN") {
        if let Some(why) = not_public_dns_name(domain) {
            out.push(
                v(
                    Level::Error,
                    "LETSENCRYPT_DOMAIN",
                    format!("Let's Encrypt cannot issue a certificate for {domain}: {why}; the web container exits when it gets none"),
                    "use the public DNS name users open (and point its A/AAAA record at this host), or turn Let's Encrypt off (ENABLE_LETSENCRYPT=0) and use the image's self-signed certificate or your own",
                )
                .expected("a public DNS name such as meet.example.org")
                .found(format!("LETSENCRYPT_DOMAIN={domain}")),
            );
        }
    }
    let http = i.values.port("HTTP_PORT");
    let https = i.values.port("HTTPS_PORT");
    // Clients use the port of PUBLIC_URL (443 without one).
    let public = i
        .values
        .raw("PUBLIC_URL")
        .and_then(url_host_port)
        .map(|(_, p, _)| p.unwrap_or(443))
        .unwrap_or(443);
    if http != Some(80) || https != Some(public) {
        out.push(
            v(
                Level::Warning,
                "ENABLE_LETSENCRYPT",
                "Let's Encrypt validates over port 80 and clients use the port of PUBLIC_URL",
                format!(
                    "set HTTP_PORT=80 and HTTPS_PORT={public}, or forward 80 and {public} to them"
                ),
            )
            .expected(format!("HTTP_PORT=80 and HTTPS_PORT={public}"))
            .found(format!(
                "{}, {}",
                shown(i, "HTTP_PORT"),
                shown(i, "HTTPS_PORT")
            )),
        );
    }
    if !i.set("LETSENCRYPT_ACME_SERVER") {
        out.push(
            v(
                Level::Warning,
                "ENABLE_LETSENCRYPT",
                "the image's acme.sh uses ZeroSSL as its default ACME server, not Let's Encrypt",
                "set LETSENCRYPT_ACME_SERVER=letsencrypt to use Let's Encrypt",
            )
            .expected("LETSENCRYPT_ACME_SERVER set")
            .found("LETSENCRYPT_ACME_SERVER unset"),
        );
    }
    if let (Some(domain), Some(url)) = (
        i.values.raw("LETSENCRYPT_DOMAIN"),
        i.values.raw("PUBLIC_URL"),
    ) {
        if let Some((host, _, _)) = url_host_port(url) {
            if !host.eq_ignore_ascii_case(domain) {
                out.push(
                    v(
                        Level::Warning,
                        "LETSENCRYPT_DOMAIN",
                        "the certificate would be for another name than the one users open",
                        "make LETSENCRYPT_DOMAIN the host of PUBLIC_URL",
                    )
                    .expected(format!("{host} (the host of PUBLIC_URL)"))
                    .found(format!("LETSENCRYPT_DOMAIN={domain}")),
                );
            }
        }
    }
    out
}

fn behind_proxy(i: &Input<'_>) -> Vec<Violation> {
    if !i.values.bool(BEHIND_PROXY_VAR) {
        return vec![];
    }
    let mut out = vec![];
    if i.values.bool("ENABLE_LETSENCRYPT") {
        out.push(
            v(
                Level::Error,
                "ENABLE_LETSENCRYPT",
                "behind a reverse proxy the web container is published on 127.0.0.1 only, so Let's Encrypt cannot reach it on port 80 (the proxy holds it): the certificate is the proxy's",
                "set ENABLE_LETSENCRYPT=0 and let the proxy get the certificate (certbot, or Caddy by itself)",
            )
            .expected(format!("ENABLE_LETSENCRYPT=0 with {BEHIND_PROXY_VAR}=1"))
            .found(shown(i, "ENABLE_LETSENCRYPT")),
        );
    }
    // With DISABLE_HTTPS=1 the disable-https rule reports it already.
    if i.values.bool("ENABLE_HTTP_REDIRECT") && !i.values.bool("DISABLE_HTTPS") {
        out.push(
            v(
                Level::Error,
                "ENABLE_HTTP_REDIRECT",
                "the proxy talks plain HTTP to the web container, which would redirect each request back to https:// in a loop",
                "set ENABLE_HTTP_REDIRECT=0 (the proxy redirects HTTP to HTTPS itself)",
            )
            .expected(format!("ENABLE_HTTP_REDIRECT=0 with {BEHIND_PROXY_VAR}=1"))
            .found(shown(i, "ENABLE_HTTP_REDIRECT")),
        );
    }
    if !i.values.bool("DISABLE_HTTPS") {
        out.push(
            v(
                Level::Warning,
                BEHIND_PROXY_VAR,
                "the web container still makes and serves its own HTTPS certificate, which nothing reaches: the proxy talks to HTTP_PORT",
                "set DISABLE_HTTPS=1",
            )
            .expected(format!("DISABLE_HTTPS=1 with {BEHIND_PROXY_VAR}=1"))
            .found(shown(i, "DISABLE_HTTPS")),
        );
    }
    out
}

fn disable_https(i: &Input<'_>) -> Vec<Violation> {
    if !i.values.bool("DISABLE_HTTPS") {
        return vec![];
    }
    let mut out = vec![];
    if i.values.bool("ENABLE_HTTP_REDIRECT") {
        out.push(
            v(
                Level::Error,
                "ENABLE_HTTP_REDIRECT",
                "with DISABLE_HTTPS=1 the web container serves only HTTP, so redirecting HTTP to HTTPS sends every request to a port nothing serves (or loops behind a proxy)",
                "set ENABLE_HTTP_REDIRECT=0 and let the TLS proxy in front redirect",
            )
            .expected("ENABLE_HTTP_REDIRECT=0 when DISABLE_HTTPS=1")
            .found(shown(i, "ENABLE_HTTP_REDIRECT")),
        );
    }
    if i.values.bool("ENABLE_LETSENCRYPT") {
        out.push(
            v(
                Level::Warning,
                "ENABLE_LETSENCRYPT",
                "the web container skips certificates entirely when DISABLE_HTTPS=1, so Let's Encrypt is ignored",
                "remove ENABLE_LETSENCRYPT (the proxy in front gets the certificate), or set DISABLE_HTTPS=0",
            )
            .expected("ENABLE_LETSENCRYPT=0 when DISABLE_HTTPS=1")
            .found(shown(i, "ENABLE_LETSENCRYPT")),
        );
    }
    out
}

fn auth_backend(i: &Input<'_>) -> Vec<Violation> {
    if !i.values.bool("ENABLE_AUTH") {
        return vec![];
    }
    let ty = i.values.get_or("AUTH_TYPE", "internal");
    let jwt = matches!(ty, "jwt" | "hybrid_matrix_token");
    let mut missing: Vec<&'static str> = vec![];
    if jwt {
        if !i.set("JWT_APP_ID") {
            missing.push("JWT_APP_ID");
        }
        if !i.set("JWT_APP_SECRET") && !i.set("JWT_ASAP_KEYSERVER") {
            missing.push("JWT_APP_SECRET");
        }
    }
    if ty == "ldap" && !i.set("LDAP_URL") {
        missing.push("LDAP_URL");
    }
    if matches!(ty, "matrix" | "hybrid_matrix_token") && !i.set("MATRIX_UVS_URL") {
        missing.push("MATRIX_UVS_URL");
    }
    missing
        .into_iter()
        .map(|n| {
            let what = if n == "JWT_APP_SECRET" {
                "JWT_APP_SECRET (or JWT_ASAP_KEYSERVER)".to_string()
            } else {
                n.to_string()
            };
            v(
                Level::Error,
                n,
                format!("ENABLE_AUTH=1 with AUTH_TYPE={ty} cannot check any login without {what}"),
                format!("set {what}, or choose another AUTH_TYPE"),
            )
            .expected(format!("{what} set"))
            .found(format!("{n} empty"))
        })
        .collect()
}

fn auth_unused(i: &Input<'_>) -> Vec<Violation> {
    if i.values.bool("ENABLE_AUTH") {
        return vec![];
    }
    let mut out = vec![];
    if i.values.bool("ENABLE_GUESTS") {
        out.push(
            v(
                Level::Warning,
                "ENABLE_GUESTS",
                "guest access only matters when authentication is on; without it everyone may create meetings",
                "set ENABLE_AUTH=1 to require a login, or remove ENABLE_GUESTS",
            )
            .expected("ENABLE_AUTH=1 with ENABLE_GUESTS")
            .found(shown(i, "ENABLE_AUTH")),
        );
    }
    if let Some(ty) = i.values.raw("AUTH_TYPE").filter(|t| *t != "internal") {
        out.push(
            v(
                Level::Warning,
                "AUTH_TYPE",
                format!("AUTH_TYPE={ty} has no effect while ENABLE_AUTH is off: anyone can create meetings"),
                "set ENABLE_AUTH=1",
            )
            .expected("ENABLE_AUTH=1 with a non-internal AUTH_TYPE")
            .found(shown(i, "ENABLE_AUTH")),
        );
    }
    out
}

fn jigasi_sip(i: &Input<'_>) -> Vec<Violation> {
    // JIGASI_DISABLE_SIP is not honoured by the pinned image: no escape here.
    if !i.has(Component::Jigasi) {
        return vec![];
    }
    let mut out: Vec<Violation> = ["JIGASI_SIP_URI", "JIGASI_SIP_PASSWORD", "JIGASI_SIP_SERVER"]
        .into_iter()
        .filter(|n| !i.set(n))
        .map(|n| {
            v(
                Level::Error,
                n,
                format!("jigasi is enabled but {n} is empty: jigasi cannot register with your SIP provider"),
                format!("set {n} to your SIP account's value, or remove jigasi from {WITH_VAR} in .env"),
            )
            .expected(format!("{n} set"))
            .found(format!("{n} empty"))
        })
        .collect();
    if let Some(uri) = i.values.raw("JIGASI_SIP_URI") {
        if let Some(bare) = uri.strip_prefix("sip:") {
            out.push(
                v(
                    Level::Warning,
                    "JIGASI_SIP_URI",
                    "the image passes JIGASI_SIP_URI on as written and adds its own SIP: scheme (ACCOUNT_UID=SIP:sip:...), so the account would be registered with a user part that starts with sip:",
                    format!("write JIGASI_SIP_URI={bare} (without sip:; `jitsi-stack init --sip-uri` drops it for you)"),
                )
                .expected("user@domain without a sip: prefix")
                .found(format!("{uri:?}")),
            );
        }
        let bare = uri.strip_prefix("sip:").unwrap_or(uri);
        let ok = bare.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && !host.is_empty() && !bare.contains(char::is_whitespace)
        });
        if !ok {
            out.push(
                v(
                    Level::Error,
                    "JIGASI_SIP_URI",
                    "jigasi registers the SIP account user@domain; without a domain it has nowhere to register",
                    "write the SIP account as user@sip.example.org",
                )
                .expected("a SIP address user@domain")
                .found(format!("{uri:?}")),
            );
        }
    }
    out
}

fn jigasi_ports(i: &Input<'_>) -> Vec<Violation> {
    let lo = i.values.get("JIGASI_PORT_MIN").and_then(parse_port);
    let hi = i.values.get("JIGASI_PORT_MAX").and_then(parse_port);
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo > hi => vec![v(
            Level::Error,
            "JIGASI_PORT_MIN",
            "the media port range is empty, so jigasi has no port for call audio",
            "make JIGASI_PORT_MIN lower than JIGASI_PORT_MAX",
        )
        .expected(format!("at most JIGASI_PORT_MAX ({hi})"))
        .found(format!("JIGASI_PORT_MIN={lo}"))],
        _ => vec![],
    }
}

fn recording(i: &Input<'_>) -> Vec<Violation> {
    let jibri = i.has(Component::Jibri);
    let mut out = vec![];
    for name in ["ENABLE_RECORDING", "ENABLE_LIVESTREAMING"] {
        if i.values.bool(name) && !jibri {
            out.push(
                v(
                    Level::Warning,
                    name,
                    format!("{name} shows the button, but without a recorder every attempt fails (local recording does not need it)"),
                    format!("add jibri to {WITH_VAR} (`jitsi-stack init --with jibri` or edit {WITH_VAR}), or remove {name}"),
                )
                .expected(format!("jibri in {WITH_VAR}"))
                .found(shown(i, WITH_VAR)),
            );
        }
    }
    out
}

/// Jibri's Chrome joins the meeting at PUBLIC_URL from inside its own
/// container: it must reach the site there and trust its certificate.
fn jibri_url(i: &Input<'_>) -> Vec<Violation> {
    if !i.has(Component::Jibri) || i.values.bool(BEHIND_PROXY_VAR) {
        return vec![];
    }
    let url = i.values.get_or("PUBLIC_URL", "https://localhost:8443");
    let Some((host, _, _)) = url_host_port(url) else {
        return vec![];
    };
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    let mut out = vec![];
    let loopback = h == "localhost"
        || h.ends_with(".localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        out.push(
            v(
                Level::Warning,
                "PUBLIC_URL",
                format!("jibri opens {url} from inside its container, where {host} is jibri itself: recordings and streams never start"),
                "set PUBLIC_URL to a name or address of this host that the containers reach (not localhost)",
            )
            .expected("a PUBLIC_URL host reachable from the containers")
            .found(format!("PUBLIC_URL={url}")),
        );
    }
    out.extend(jibri_certificate(i));
    out
}

/// Jibri's Chrome refuses a self-signed certificate unless it ignores
/// certificate errors: which certificate the web image serves is
/// [`SiteCert`] (the image's boot script's choice, read from CONFIG).
fn jibri_certificate(i: &Input<'_>) -> Option<Violation> {
    if !i.site.self_signed() || crate::stack::chrome::ignores_certificate_errors(i.values) {
        return None;
    }
    let why = match i.site {
        SiteCert::File {
            path, own: true, ..
        } => format!("the site's certificate, {}, is self-signed (its own issuer)", path.display()),
        SiteCert::File { path, .. } => format!(
            "the site serves the self-signed certificate an earlier start of the web image generated, {} (Let's Encrypt is off and CONFIG/web/keys has no cert.crt and cert.key)",
            path.display()
        ),
        SiteCert::Generated { keys } => format!(
            "Let's Encrypt is off (ENABLE_LETSENCRYPT) and {} has no cert.crt and cert.key, so the web image generates a self-signed certificate at its first start",
            keys.display()
        ),
        SiteCert::NoHttps | SiteCert::LetsEncrypt => return None,
    };
    let message =
        format!("{why}; jibri's Chrome refuses it, so recordings and streams never start");
    let own = "a certificate from a public CA: Let's Encrypt (ENABLE_LETSENCRYPT=1 with LETSENCRYPT_DOMAIN and LETSENCRYPT_EMAIL, for a public DNS name) or your own cert.crt (with its chain) and cert.key in CONFIG/web/keys";
    if crate::stack::chrome::custom_flags(i.values) && i.values.bool("IGNORE_CERTIFICATE_ERRORS") {
        return Some(
            v(
                Level::Warning,
                "CHROMIUM_FLAGS",
                format!("{message}: IGNORE_CERTIFICATE_ERRORS=1 does nothing while CHROMIUM_FLAGS is set (it replaces the image's flags)"),
                format!("use {own}; or add --ignore-certificate-errors to CHROMIUM_FLAGS (a test setup)"),
            )
            .expected("--ignore-certificate-errors in CHROMIUM_FLAGS with a self-signed certificate")
            .found(shown(i, "CHROMIUM_FLAGS")),
        );
    }
    Some(
        v(
            Level::Warning,
            "IGNORE_CERTIFICATE_ERRORS",
            message,
            format!("use {own}; or set IGNORE_CERTIFICATE_ERRORS=1 so jibri's Chrome accepts any certificate (a test setup)"),
        )
        .expected("a certificate from a public CA, or IGNORE_CERTIFICATE_ERRORS=1")
        .found(shown(i, "IGNORE_CERTIFICATE_ERRORS")),
    )
}

fn transcription(i: &Input<'_>) -> Vec<Violation> {
    let on = i.values.bool("ENABLE_TRANSCRIPTIONS");
    let comp = i.has(Component::Transcriber);
    if comp && !on {
        vec![v(
            Level::Error,
            "ENABLE_TRANSCRIPTIONS",
            "prosody only creates the transcriber's account when ENABLE_TRANSCRIPTIONS is on, so the transcriber cannot log in",
            "set ENABLE_TRANSCRIPTIONS=1, or remove transcriber from the components",
        )
        .expected("ENABLE_TRANSCRIPTIONS=1 with the transcriber component")
        .found(shown(i, "ENABLE_TRANSCRIPTIONS"))]
    } else if on && !comp {
        vec![v(
            Level::Warning,
            "ENABLE_TRANSCRIPTIONS",
            "captions and transcription are offered, but no transcriber runs to produce them",
            format!("add transcriber to {WITH_VAR}, or remove ENABLE_TRANSCRIPTIONS"),
        )
        .expected(format!("transcriber in {WITH_VAR}"))
        .found(shown(i, WITH_VAR))]
    } else {
        vec![]
    }
}

fn turn(i: &Input<'_>) -> Vec<Violation> {
    let server = i.set("TURN_HOST") || i.set("TURNS_HOST") || i.has(Component::Turn);
    let shared = i.set("TURN_CREDENTIALS");
    let user = i.set("TURN_USERNAME");
    let pass = i.set("TURN_PASSWORD");
    let mut out = vec![];
    if user != pass {
        let (missing, present) = if user {
            ("TURN_PASSWORD", "TURN_USERNAME")
        } else {
            ("TURN_USERNAME", "TURN_PASSWORD")
        };
        out.push(
            v(
                Level::Error,
                missing,
                "static TURN credentials need both a user name and a password",
                format!("set {missing}, or remove {present}"),
            )
            .expected(format!("{missing} set together with {present}"))
            .found(format!("{missing} empty")),
        );
    }
    if server && !shared && !user && !pass && !i.has(Component::Turn) {
        let var = if i.set("TURN_HOST") {
            "TURN_HOST"
        } else {
            "TURNS_HOST"
        };
        out.push(
            v(
                Level::Error,
                var,
                "clients are sent to a TURN server without any credentials, so it refuses them",
                "set TURN_CREDENTIALS to the server's shared secret, or TURN_USERNAME and TURN_PASSWORD",
            )
            .expected("TURN_CREDENTIALS, or TURN_USERNAME with TURN_PASSWORD")
            .found("no TURN credentials set"),
        );
    }
    // What the turn component writes into turnserver.conf must be a plain
    // token there (render refuses anything else, so check does too).
    if i.has(Component::Turn) {
        for var in ["TURN_CREDENTIALS", "TURN_TLS_CERT", "TURN_TLS_KEY"] {
            let Some(value) = i.values.raw(var) else {
                continue;
            };
            if let Err(e) = crate::escape::coturn_value(value) {
                let secret = var == "TURN_CREDENTIALS";
                out.push(
                    v(
                        Level::Error,
                        var,
                        e.0.clone(),
                        if secret {
                            "use a plain token: `jitsi-stack gen-passwords --force --only TURN_CREDENTIALS` makes one".to_string()
                        } else {
                            format!("use a path without white space, '#' or braces for {var}")
                        },
                    )
                    .expected("one word: no white space, '#', braces or control characters")
                    .found(if secret {
                        format!("a {}-character value (not shown: secret)", value.chars().count())
                    } else {
                        format!("{value:?}")
                    }),
                );
            }
        }
    }
    // TURN_CREDENTIALS alone is normal: gen-passwords always fills it.
    if !server && (user || pass) {
        let var = if user {
            "TURN_USERNAME"
        } else {
            "TURN_PASSWORD"
        };
        out.push(
            v(
                Level::Warning,
                var,
                "static TURN credentials are set but no TURN server is announced, so they are unused",
                format!("set TURN_HOST (or TURNS_HOST), or add turn to {WITH_VAR}"),
            )
            .expected("TURN_HOST, TURNS_HOST or the turn component")
            .found("none of them"),
        );
    }
    out
}

fn jvb_ports(i: &Input<'_>) -> Vec<Violation> {
    let Some(port) = i.values.port("JVB_PORT") else {
        return vec![];
    };
    let n = i.values.int("JVB_INSTANCES").unwrap_or(1).max(1);
    let last = i64::from(port) + n - 1;
    if last > 65535 {
        vec![v(
            Level::Error,
            "JVB_PORT",
            format!("bridge {n} would listen on UDP port {last}, which does not exist"),
            format!("lower JVB_PORT to at most {}", 65536 - n),
        )
        .expected(format!(
            "JVB_PORT + JVB_INSTANCES - 1 <= 65535 (JVB_INSTANCES={n})"
        ))
        .found(format!("JVB_PORT={port}"))]
    } else {
        vec![]
    }
}

fn kubernetes(i: &Input<'_>) -> Vec<Violation> {
    const NODES: &str = "JITSI_STACK_K8S_BRIDGE_NODES";
    let media = i.values.get_or("JITSI_STACK_K8S_MEDIA", "hostport");
    let bridges = i.values.int("JVB_INSTANCES").unwrap_or(1).max(1);
    let nodes: Vec<String> = i
        .values
        .list(NODES)
        .into_iter()
        .map(|n| {
            n.split_once('=')
                .map_or(n.clone(), |(name, _)| name.to_string())
        })
        .collect();
    let mut out = vec![];
    if !nodes.is_empty() && media != "hostport" {
        out.push(
            v(
                Level::Warning,
                NODES,
                format!("only JITSI_STACK_K8S_MEDIA=hostport pins bridges to nodes; with {media} it has no effect"),
                format!("remove {NODES}, or set JITSI_STACK_K8S_MEDIA=hostport"),
            )
            .found(shown(i, NODES)),
        );
    }
    if media == "hostport" && !nodes.is_empty() && nodes.len() as i64 != bridges {
        let fix = if (nodes.len() as i64) < bridges {
            format!("name {bridges} nodes in {NODES} (one per bridge, in bridge order), or lower JVB_INSTANCES to {}", nodes.len())
        } else {
            format!(
                "name only {bridges} nodes in {NODES}, or raise JVB_INSTANCES to {}",
                nodes.len()
            )
        };
        out.push(
            v(
                Level::Error,
                NODES,
                format!(
                    "{} node(s) for {bridges} bridge(s): each bridge runs on its own named node, on its own host port",
                    nodes.len()
                ),
                fix,
            )
            .expected(format!("one node per bridge: {bridges} (JVB_INSTANCES)"))
            .found(shown(i, NODES)),
        );
    }
    let mut seen = BTreeSet::new();
    for n in &nodes {
        if !seen.insert(n.as_str()) && media == "hostport" {
            out.push(
                v(
                    Level::Warning,
                    NODES,
                    format!("node {n} is named twice: its bridges share one node's address and bandwidth"),
                    format!("name a different node for each bridge in {NODES}"),
                )
                .found(shown(i, NODES)),
            );
        }
    }
    if media == "nodeport" {
        let base = i
            .values
            .int("JITSI_STACK_K8S_NODEPORT_BASE")
            .unwrap_or(30000);
        let last = base + bridges - 1;
        if last > 32767 {
            out.push(
                v(
                    Level::Error,
                    "JITSI_STACK_K8S_NODEPORT_BASE",
                    format!("bridge {bridges} would get node port {last}, outside the cluster's node port range"),
                    format!("lower JITSI_STACK_K8S_NODEPORT_BASE to at most {}", 32768 - bridges),
                )
                .expected(format!("JITSI_STACK_K8S_NODEPORT_BASE + JVB_INSTANCES - 1 <= 32767 (JVB_INSTANCES={bridges})"))
                .found(shown(i, "JITSI_STACK_K8S_NODEPORT_BASE")),
            );
        }
    }
    if media == "loadbalancer" && bridges > 1 {
        out.push(
            v(
                Level::Warning,
                "JITSI_STACK_K8S_MEDIA",
                format!("{bridges} bridges, each behind a load balancer of its own, all announce JVB_ADVERTISE_IPS: unless the load balancers share that address (one port per bridge), the media of all but one bridge goes nowhere"),
                "let the bridges' load balancers share the address (MetalLB: its allow-shared-ip annotation on each jvb*-media Service), or use JITSI_STACK_K8S_MEDIA=nodeport or hostport",
            )
            .found(shown(i, "JITSI_STACK_K8S_MEDIA")),
        );
    }
    out
}

fn xmpp_domains(i: &Input<'_>) -> Vec<Violation> {
    const DOMAINS: &[&str] = &[
        "XMPP_DOMAIN",
        "XMPP_AUTH_DOMAIN",
        "XMPP_MUC_DOMAIN",
        "XMPP_INTERNAL_MUC_DOMAIN",
        "XMPP_GUEST_DOMAIN",
        "XMPP_HIDDEN_DOMAIN",
    ];
    let mut out = vec![];
    for (k, name) in DOMAINS.iter().enumerate() {
        let Some(value) = i.values.get(name) else {
            continue;
        };
        if let Some(other) = DOMAINS[..k].iter().find(|o| {
            i.values
                .get(o)
                .is_some_and(|x| x.eq_ignore_ascii_case(value))
        }) {
            out.push(
                v(
                    Level::Error,
                    name,
                    format!("{name} and {other} are the same domain; prosody would serve two hosts under one name"),
                    format!("give {name} its own domain, such as the default {}", crate::schema::lookup(name).and_then(|v| v.default).unwrap_or("")),
                )
                .expected(format!("a domain different from {other}"))
                .found(format!("{name}={value}")),
            );
        }
    }
    out
}

fn image_version(i: &Input<'_>) -> Vec<Violation> {
    let Some(tag) = i.values.raw("JITSI_IMAGE_VERSION") else {
        return vec![];
    };
    if tag == PINNED_IMAGE_VERSION {
        return vec![];
    }
    let why = match tag {
        "latest" | "stable" => "moves to each new release",
        "unstable" | "nightly" => "is a development build",
        _ => "is not the release the configs were written for",
    };
    vec![v(
        Level::Warning,
        "JITSI_IMAGE_VERSION",
        format!("the tag {why}; jitsi-stack mounts configs written for {PINNED_IMAGE_VERSION}, which may not match what another release reads"),
        format!("remove JITSI_IMAGE_VERSION (or set it to {PINNED_IMAGE_VERSION}), and upgrade jitsi-stack to move to a newer release"),
    )
    .expected(PINNED_IMAGE_VERSION)
    .found(format!("JITSI_IMAGE_VERSION={tag}"))]
}

fn shared_document(i: &Input<'_>) -> Vec<Violation> {
    let mut out = vec![];
    for (comp, var) in [
        (Component::Etherpad, "ETHERPAD_PUBLIC_URL"),
        (Component::Whiteboard, "WHITEBOARD_COLLAB_SERVER_PUBLIC_URL"),
    ] {
        if i.has(comp) && !i.set(var) {
            out.push(
                v(
                    Level::Warning,
                    var,
                    format!("the {comp} component runs, but the web client only offers it when {var} is set"),
                    format!("set {var} to the URL users reach it on"),
                )
                .expected(format!("{var} set with the {comp} component"))
                .found(format!("{var} empty")),
            );
        }
    }
    out
}

fn visitors_rule(i: &Input<'_>) -> Vec<Violation> {
    use crate::stack::visitors::{self, COUNT_VAR};
    let vals = i.values;
    let on = vals.bool("ENABLE_VISITORS");
    let count = visitors::nodes_of(vals).len();
    let mut out = vec![];
    if on && count == 0 {
        out.push(
            v(
                Level::Error,
                "ENABLE_VISITORS",
                "visitors are on but there is no visitor node: viewers rejoin as participants or everyone is kicked (docker-jitsi-meet #2183)",
                format!("set {COUNT_VAR}=1 (or more) for nodes on this host, or ENABLE_VISITORS=0"),
            )
            .expected(format!("{COUNT_VAR} at least 1 with ENABLE_VISITORS=1"))
            .found(format!("ENABLE_VISITORS=1, {}", shown(i, COUNT_VAR))),
        );
    }
    if !on && count > 0 {
        out.push(
            v(
                Level::Error,
                COUNT_VAR,
                "visitor nodes are asked for but visitors are off: the nodes would run unused",
                format!("set ENABLE_VISITORS=1, or {COUNT_VAR}=0"),
            )
            .expected("ENABLE_VISITORS=1 with visitor nodes")
            .found(format!(
                "{COUNT_VAR}={count}, {}",
                shown(i, "ENABLE_VISITORS")
            )),
        );
    }
    if let Some(raw) = vals.raw(visitors::INDEXES_VAR) {
        let mut seen = vec![];
        for e in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let ok = e
                .parse::<u32>()
                .is_ok_and(|n| n <= visitors::MAX_INDEX && !seen.contains(&n));
            if !ok {
                out.push(
                    v(
                        Level::Error,
                        visitors::INDEXES_VAR,
                        format!("entry {e:?} is not an index given to one node: render writes this record, and a node's index must never change"),
                        format!("put back the value the last `jitsi-stack render` wrote (see .env.bak), or remove {} and {} if no visitor node ever ran", visitors::INDEXES_VAR, visitors::NEXT_VAR),
                    )
                    .expected(format!("distinct whole numbers from 0 to {}, comma-separated", visitors::MAX_INDEX))
                    .found(format!("{}={raw}", visitors::INDEXES_VAR)),
                );
                break;
            }
            seen.push(e.parse().unwrap_or(0));
        }
    }
    if !on {
        return out;
    }
    let domain = vals.text("VISITORS_XMPP_DOMAIN", visitors::CLIENT_DOMAIN);
    if domain != visitors::CLIENT_DOMAIN {
        out.push(
            v(
                Level::Error,
                "VISITORS_XMPP_DOMAIN",
                "the web client and jicofo of the pinned release hard-code the visitor nodes' domain as v<N>.meet.jitsi; another domain leaves viewers without a node",
                "remove VISITORS_XMPP_DOMAIN from .env",
            )
            .expected(format!("VISITORS_XMPP_DOMAIN={}", visitors::CLIENT_DOMAIN))
            .found(format!("VISITORS_XMPP_DOMAIN={domain}")),
        );
    }
    let muc = vals.text("XMPP_MUC_DOMAIN", "muc.meet.jitsi");
    let muc_prefix = muc.split('.').next().unwrap_or("").to_string();
    let prefix = vals.text("PROSODY_VISITORS_MUC_PREFIX", "muc");
    if prefix != muc_prefix {
        out.push(
            v(
                Level::Error,
                "PROSODY_VISITORS_MUC_PREFIX",
                format!(
                    "a viewer redirected to a node joins {muc_prefix}.v<N>.meet.jitsi (the client keeps the first label of XMPP_MUC_DOMAIN), but the nodes' MUC would be {prefix}.v<N>.meet.jitsi"
                ),
                format!("set PROSODY_VISITORS_MUC_PREFIX={muc_prefix} (or remove it and keep XMPP_MUC_DOMAIN's first label muc)"),
            )
            .expected(format!("PROSODY_VISITORS_MUC_PREFIX={muc_prefix}"))
            .found(format!("PROSODY_VISITORS_MUC_PREFIX={prefix}, XMPP_MUC_DOMAIN={muc}")),
        );
    }
    if let Some(raw) = vals.raw("VISITORS_XMPP_SERVER") {
        let entries: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let derived: Vec<String> = visitors::nodes_of(vals)
            .into_iter()
            .map(|n| n.host())
            .collect();
        let bad =
            entries.len() != derived.len() || entries.iter().zip(&derived).any(|(e, d)| e != d);
        if bad {
            let with_port = entries.iter().any(|e| e.contains(':'));
            out.push(
                v(
                    Level::Error,
                    "VISITORS_XMPP_SERVER",
                    if with_port {
                        "an entry names a port: the release reads this one list for main prosody's s2s and for jicofo's client logins, so one of them would dial the wrong port; jitsi-stack derives prosody-vN:5269 for prosody and prosody-vN:5222 for jicofo".to_string()
                    } else {
                        format!("the list does not match the {count} visitor node(s) of {COUNT_VAR}")
                    },
                    "remove VISITORS_XMPP_SERVER from .env (jitsi-stack derives it per service)",
                )
                .expected(if derived.is_empty() { "unset".to_string() } else { derived.join(",") })
                .found(format!("VISITORS_XMPP_SERVER={raw}")),
            );
        }
    }
    out
}

/// Runs every rule.
pub fn check(input: &Input<'_>) -> Vec<Violation> {
    RULES
        .iter()
        .flat_map(|r| {
            (r.check)(input).into_iter().map(|mut v| {
                v.rule = r.id;
                v
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The rules on these values, with no certificate in CONFIG.
    fn run(pairs: &[(&str, &str)], comps: &[Component]) -> Vec<Violation> {
        run_in(pairs, comps, Path::new("/nonexistent/config"))
    }

    /// The rules on these values, with CONFIG at `config`.
    fn run_in(pairs: &[(&str, &str)], comps: &[Component], config: &Path) -> Vec<Violation> {
        let mut all = vec![("PUBLIC_URL", "https://meet.example.org:8443")];
        all.extend_from_slice(pairs);
        let values = Values::from_pairs(all);
        let components = comps.iter().copied().collect();
        let site = SiteCert::read(&values, config);
        check(&Input {
            values: &values,
            components: &components,
            site: &site,
        })
    }

    /// (rule, level, variable) of each violation.
    fn ids(out: &[Violation]) -> Vec<(&'static str, Level, &'static str)> {
        out.iter().map(|v| (v.rule, v.level, v.var)).collect()
    }

    #[test]
    fn defaults_with_a_public_url_are_clean() {
        assert_eq!(run(&[], &[]), vec![]);
    }

    #[test]
    fn every_rule_has_a_unique_id_and_summary() {
        let mut seen = BTreeSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "duplicate rule {}", r.id);
            assert!(!r.summary.is_empty());
        }
    }

    #[test]
    fn public_url_port_mismatch_warns_and_http_errs() {
        let out = run(&[("PUBLIC_URL", "https://meet.example.org")], &[]);
        assert_eq!(ids(&out), [("public-url", Level::Warning, "PUBLIC_URL")]);
        assert!(out[0].found.as_deref().unwrap().contains("443"));
        let out = run(
            &[
                ("PUBLIC_URL", "http://meet.example.org"),
                ("HTTPS_PORT", "443"),
            ],
            &[],
        );
        assert_eq!(ids(&out), [("public-url", Level::Error, "PUBLIC_URL")]);
        let out = Values::from_pairs([("X", "y")]);
        let comps = BTreeSet::new();
        let out = public_url(&Input {
            values: &out,
            components: &comps,
            site: &SiteCert::NoHttps,
        });
        assert_eq!(out[0].level, Level::Warning);
    }

    #[test]
    fn same_http_and_https_port_is_an_error() {
        let out = run(&[("HTTP_PORT", "8443")], &[]);
        assert_eq!(ids(&out), [("http-ports", Level::Error, "HTTPS_PORT")]);
    }

    #[test]
    fn letsencrypt_needs_domain_and_email() {
        let out = run(
            &[
                ("ENABLE_LETSENCRYPT", "1"),
                ("HTTP_PORT", "80"),
                ("HTTPS_PORT", "443"),
                ("PUBLIC_URL", "https://meet.example.org"),
            ],
            &[],
        );
        let errors: Vec<_> = out
            .iter()
            .filter(|v| v.level == Level::Error)
            .map(|v| v.var)
            .collect();
        assert_eq!(errors, ["LETSENCRYPT_DOMAIN", "LETSENCRYPT_EMAIL"]);
        assert!(out.iter().any(|v| v.message.contains("ZeroSSL")));
    }

    #[test]
    fn letsencrypt_domain_must_match_public_url() {
        let out = run(
            &[
                ("ENABLE_LETSENCRYPT", "1"),
                ("HTTP_PORT", "80"),
                ("HTTPS_PORT", "443"),
                ("PUBLIC_URL", "https://meet.example.org"),
                ("LETSENCRYPT_DOMAIN", "other.example.org"),
                ("LETSENCRYPT_EMAIL", "a@example.org"),
                ("LETSENCRYPT_ACME_SERVER", "letsencrypt"),
            ],
            &[],
        );
        assert_eq!(
            ids(&out),
            [("letsencrypt", Level::Warning, "LETSENCRYPT_DOMAIN")]
        );
    }

    #[test]
    fn disable_https_conflicts() {
        let out = run(
            &[
                ("DISABLE_HTTPS", "1"),
                ("ENABLE_HTTP_REDIRECT", "1"),
                ("ENABLE_LETSENCRYPT", "1"),
            ],
            &[],
        );
        assert_eq!(
            ids(&out),
            [
                ("disable-https", Level::Error, "ENABLE_HTTP_REDIRECT"),
                ("disable-https", Level::Warning, "ENABLE_LETSENCRYPT"),
            ]
        );
    }

    #[test]
    fn jwt_needs_app_id_and_secret_or_keyserver() {
        let out = run(&[("ENABLE_AUTH", "1"), ("AUTH_TYPE", "jwt")], &[]);
        let vars: Vec<_> = out.iter().map(|v| v.var).collect();
        assert_eq!(vars, ["JWT_APP_ID", "JWT_APP_SECRET"]);
        let out = run(
            &[
                ("ENABLE_AUTH", "1"),
                ("AUTH_TYPE", "jwt"),
                ("JWT_APP_ID", "x"),
                ("JWT_ASAP_KEYSERVER", "https://keys.example.org"),
            ],
            &[],
        );
        assert_eq!(out, vec![]);
        let out = run(
            &[
                ("ENABLE_AUTH", "true"),
                ("AUTH_TYPE", "hybrid_matrix_token"),
            ],
            &[],
        );
        let vars: Vec<_> = out.iter().map(|v| v.var).collect();
        assert_eq!(vars, ["JWT_APP_ID", "JWT_APP_SECRET", "MATRIX_UVS_URL"]);
        let out = run(&[("ENABLE_AUTH", "1"), ("AUTH_TYPE", "ldap")], &[]);
        assert_eq!(ids(&out), [("auth-backend", Level::Error, "LDAP_URL")]);
    }

    #[test]
    fn guests_and_auth_type_without_auth_warn() {
        let out = run(&[("ENABLE_GUESTS", "1"), ("AUTH_TYPE", "jwt")], &[]);
        assert_eq!(
            ids(&out),
            [
                ("auth-unused", Level::Warning, "ENABLE_GUESTS"),
                ("auth-unused", Level::Warning, "AUTH_TYPE")
            ]
        );
    }

    #[test]
    fn jigasi_needs_its_sip_account() {
        let out = run(&[], &[Component::Jigasi]);
        let vars: Vec<_> = out.iter().map(|v| v.var).collect();
        assert_eq!(
            vars,
            ["JIGASI_SIP_URI", "JIGASI_SIP_PASSWORD", "JIGASI_SIP_SERVER"]
        );
        let out = run(
            &[
                ("JIGASI_SIP_URI", "nodomain"),
                ("JIGASI_SIP_PASSWORD", "x"),
                ("JIGASI_SIP_SERVER", "sip.example.org"),
            ],
            &[Component::Jigasi],
        );
        assert_eq!(ids(&out), [("jigasi-sip", Level::Error, "JIGASI_SIP_URI")]);
        let out = run(&[("JIGASI_DISABLE_SIP", "true")], &[Component::Jigasi]);
        assert_eq!(out.len(), 3, "the image ignores JIGASI_DISABLE_SIP");
    }

    #[test]
    fn jigasi_port_range_must_not_be_empty() {
        let out = run(&[("JIGASI_PORT_MIN", "30000")], &[]);
        assert_eq!(
            ids(&out),
            [("jigasi-ports", Level::Error, "JIGASI_PORT_MIN")]
        );
    }

    #[test]
    fn recording_and_jibri_go_together() {
        let out = run(&[("ENABLE_RECORDING", "1")], &[]);
        assert_eq!(
            ids(&out),
            [("recording", Level::Warning, "ENABLE_RECORDING")]
        );
        // The component turns recording on by itself (Stack::recording).
        let recording = |pairs: &[(&str, &str)]| {
            let out = run(pairs, &[Component::Jibri]);
            out.iter().filter(|v| v.rule == "recording").count()
        };
        assert_eq!(recording(&[]), 0);
        assert_eq!(recording(&[("ENABLE_RECORDING", "1")]), 0);
    }

    /// The jibri-url findings only.
    fn jibri(out: &[Violation]) -> Vec<(&'static str, Level, &'static str)> {
        ids(out)
            .into_iter()
            .filter(|(rule, _, _)| *rule == "jibri-url")
            .collect()
    }

    const CERT_WARNING: (&str, Level, &str) =
        ("jibri-url", Level::Warning, "IGNORE_CERTIFICATE_ERRORS");

    /// The README's troubleshooting case: jibri on https://localhost:8443
    /// with the certificate the web image generates warns twice;
    /// IGNORE_CERTIFICATE_ERRORS quiets the certificate's.
    #[test]
    fn jibri_warns_for_localhost_and_a_self_signed_certificate() {
        let local = [("PUBLIC_URL", "https://localhost:8443")];
        assert_eq!(
            ids(&run(&local, &[Component::Jibri])),
            [("jibri-url", Level::Warning, "PUBLIC_URL"), CERT_WARNING]
        );
        assert!(run(&local, &[]).is_empty());
        let ignored = [local[0], ("IGNORE_CERTIFICATE_ERRORS", "1")];
        assert_eq!(
            ids(&run(&ignored, &[Component::Jibri])),
            [("jibri-url", Level::Warning, "PUBLIC_URL")]
        );
    }

    /// The web image generates a self-signed certificate whatever the
    /// host name: a public one without Let's Encrypt or a certificate in
    /// CONFIG/web/keys warns too; Let's Encrypt and DISABLE_HTTPS (no
    /// certificate of the web container's) do not.
    #[test]
    fn jibri_warns_for_the_generated_certificate_of_a_public_name() {
        let out = run(&[], &[Component::Jibri]);
        assert_eq!(jibri(&out), [CERT_WARNING]);
        let message = &out.iter().find(|v| v.rule == "jibri-url").unwrap().message;
        assert!(
            message.contains("/nonexistent/config/web/keys has no cert.crt and cert.key")
                && message.contains("generates a self-signed certificate"),
            "{message}"
        );
        let fix = &out.iter().find(|v| v.rule == "jibri-url").unwrap().fix;
        for way in [
            "ENABLE_LETSENCRYPT=1",
            "CONFIG/web/keys",
            "IGNORE_CERTIFICATE_ERRORS=1",
        ] {
            assert!(fix.contains(way), "{fix}");
        }
        let le = [
            ("PUBLIC_URL", "https://meet.example.org"),
            ("ENABLE_LETSENCRYPT", "1"),
            ("LETSENCRYPT_DOMAIN", "meet.example.org"),
            ("LETSENCRYPT_EMAIL", "admin@example.org"),
        ];
        assert_eq!(jibri(&run(&le, &[Component::Jibri])), []);
        let lan = [
            ("PUBLIC_URL", "https://10.0.0.5:8443"),
            ("DISABLE_HTTPS", "1"),
        ];
        assert_eq!(jibri(&run(&lan, &[Component::Jibri])), []);
    }

    /// CHROMIUM_FLAGS replaces the image's flags: IGNORE_CERTIFICATE_ERRORS
    /// then adds nothing, and only the flag in CHROMIUM_FLAGS counts.
    #[test]
    fn jibri_ignore_certificate_errors_does_nothing_with_chromium_flags() {
        let out = run(
            &[
                ("IGNORE_CERTIFICATE_ERRORS", "1"),
                ("CHROMIUM_FLAGS", "--kiosk,--start-maximized"),
            ],
            &[Component::Jibri],
        );
        assert_eq!(
            jibri(&out),
            [("jibri-url", Level::Warning, "CHROMIUM_FLAGS")]
        );
        assert!(out[0]
            .fix
            .contains("--ignore-certificate-errors to CHROMIUM_FLAGS"));
        let flagged = [("CHROMIUM_FLAGS", "--kiosk, --ignore-certificate-errors")];
        assert_eq!(jibri(&run(&flagged, &[Component::Jibri])), []);
        // Empty entries are no flags: the image's list, with the ignore flag.
        let empty = [
            ("IGNORE_CERTIFICATE_ERRORS", "1"),
            ("CHROMIUM_FLAGS", " , "),
        ];
        assert_eq!(jibri(&run(&empty, &[Component::Jibri])), []);
    }

    /// A certificate (PEM) and its key: self-signed, or issued by a CA.
    fn certificate(name: &str, by_ca: bool) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        let cert = if by_ca {
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            ca.distinguished_name
                .push(rcgen::DnType::CommonName, "Example CA");
            ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params
                .signed_by(&key, &rcgen::Issuer::new(ca, &ca_key))
                .unwrap()
        } else {
            params.self_signed(&key).unwrap()
        };
        (cert.pem(), key.serialize_pem())
    }

    fn put(config: &Path, dir: &str, pem: &(String, String)) {
        std::fs::create_dir_all(config.join(dir)).unwrap();
        std::fs::write(config.join(dir).join("cert.crt"), &pem.0).unwrap();
        std::fs::write(config.join(dir).join("cert.key"), &pem.1).unwrap();
    }

    /// What the image serves is in CONFIG: the admin's certificate in
    /// web/keys (warns only when self-signed, naming it), else the one an
    /// earlier start kept in storage/web/keys; a cert.crt without its
    /// cert.key is passed over, as the image does.
    #[test]
    fn jibri_judges_the_certificate_in_config() {
        let lan = [("PUBLIC_URL", "https://10.0.0.5:8443")];
        let config = tempfile::tempdir().unwrap();
        let c = config.path();
        put(c, "web/keys", &certificate("10.0.0.5", true));
        assert_eq!(jibri(&run_in(&lan, &[Component::Jibri], c)), []);

        let config = tempfile::tempdir().unwrap();
        let c = config.path();
        put(c, "web/keys", &certificate("meet.example.org", false));
        let out = run_in(&[], &[Component::Jibri], c);
        assert_eq!(jibri(&out), [CERT_WARNING]);
        let own = c.join("web/keys/cert.crt").display().to_string();
        assert!(
            out[0].message.contains(&format!("{own}, is self-signed")),
            "{}",
            out[0].message
        );

        let config = tempfile::tempdir().unwrap();
        let c = config.path();
        put(c, "storage/web/keys", &certificate("*", false));
        let out = run_in(&[], &[Component::Jibri], c);
        assert_eq!(jibri(&out), [CERT_WARNING]);
        let kept = c.join("storage/web/keys/cert.crt").display().to_string();
        assert!(
            out[0].message.contains(&format!(
                "an earlier start of the web image generated, {kept}"
            )),
            "{}",
            out[0].message
        );
        // The admin's CA-issued one takes precedence over the kept one.
        put(c, "web/keys", &certificate("meet.example.org", true));
        assert_eq!(jibri(&run_in(&[], &[Component::Jibri], c)), []);
        // Without its key the image ignores it.
        std::fs::remove_file(c.join("web/keys/cert.key")).unwrap();
        assert_eq!(jibri(&run_in(&[], &[Component::Jibri], c)), [CERT_WARNING]);
    }

    #[test]
    fn transcriber_needs_enable_transcriptions() {
        let out = run(&[], &[Component::Transcriber]);
        assert_eq!(
            ids(&out),
            [("transcription", Level::Error, "ENABLE_TRANSCRIPTIONS")]
        );
        let out = run(&[("ENABLE_TRANSCRIPTIONS", "1")], &[]);
        assert_eq!(
            ids(&out),
            [("transcription", Level::Warning, "ENABLE_TRANSCRIPTIONS")]
        );
    }

    #[test]
    fn turn_server_needs_credentials() {
        let out = run(&[("TURN_HOST", "turn.example.org")], &[]);
        assert_eq!(ids(&out), [("turn", Level::Error, "TURN_HOST")]);
        let out = run(
            &[("TURN_HOST", "turn.example.org"), ("TURN_USERNAME", "u")],
            &[],
        );
        assert_eq!(ids(&out), [("turn", Level::Error, "TURN_PASSWORD")]);
        assert!(run(&[("TURN_CREDENTIALS", "0123456789abcdef")], &[]).is_empty());
        let out = run(&[("TURN_USERNAME", "u"), ("TURN_PASSWORD", "p")], &[]);
        assert_eq!(ids(&out), [("turn", Level::Warning, "TURN_USERNAME")]);
        assert!(run(
            &[("TURN_CREDENTIALS", "0123456789abcdef")],
            &[Component::Turn]
        )
        .is_empty());
    }

    #[test]
    fn jvb_port_range_must_fit() {
        let out = run(&[("JVB_PORT", "65535"), ("JVB_INSTANCES", "2")], &[]);
        assert_eq!(ids(&out), [("jvb-ports", Level::Error, "JVB_PORT")]);
        assert!(out[0].fix.contains("65534"));
        assert!(run(&[("JVB_PORT", "65535")], &[]).is_empty());
    }

    #[test]
    fn xmpp_domains_must_differ() {
        let out = run(&[("XMPP_GUEST_DOMAIN", "meet.jitsi")], &[]);
        assert_eq!(
            ids(&out),
            [("xmpp-domains", Level::Error, "XMPP_GUEST_DOMAIN")]
        );
        assert!(out[0].expected.as_deref().unwrap().contains("XMPP_DOMAIN"));
    }

    #[test]
    fn unpinned_image_version_warns() {
        let out = run(&[("JITSI_IMAGE_VERSION", "latest")], &[]);
        assert_eq!(
            ids(&out),
            [("image-version", Level::Warning, "JITSI_IMAGE_VERSION")]
        );
        assert!(run(&[("JITSI_IMAGE_VERSION", PINNED_IMAGE_VERSION)], &[]).is_empty());
    }

    #[test]
    fn etherpad_and_whiteboard_need_public_urls() {
        let out = run(&[], &[Component::Etherpad, Component::Whiteboard]);
        assert_eq!(
            ids(&out),
            [
                ("shared-document", Level::Warning, "ETHERPAD_PUBLIC_URL"),
                (
                    "shared-document",
                    Level::Warning,
                    "WHITEBOARD_COLLAB_SERVER_PUBLIC_URL"
                ),
            ]
        );
    }
}
