//! Rendering of jicofo's configuration: `jicofo.conf` (HOCON, read by
//! Typesafe Config) and `logging.properties`.
//!
//! Follows the pinned image's template: jicofo logs in as `focus` on the auth
//! domain, finds bridges, recorders and gateways in their brewery rooms on the
//! internal MUC domain, and trusts the hidden domain when recording or
//! transcription is on. In the pinned release SCTP data channels are always on
//! (bridge channels no longer use colibri websockets).
//!
//! Where the image pastes a variable as raw HOCON (`JICOFO_BRIDGE_REGION_GROUPS`,
//! `JICOFO_CONF_SOURCE_SIGNALING_DELAYS`), the value is parsed here and
//! written back as escaped HOCON; anything else is refused.

use super::{logging_properties, sentry_on};
use crate::config::{Stack, Values};
use crate::render::{prosody, render_template, Output};
use crate::stack::visitors;
use anyhow::{bail, Result};
use minijinja::{Environment, Value};
use serde::Serialize;

/// Templates this module renders: (name under templates/, source).
pub static TEMPLATES: &[(&str, &str)] = &[(
    "jicofo/jicofo.conf.j2",
    include_str!("../../../templates/jicofo/jicofo.conf.j2"),
)];

/// Everything `jicofo.conf` says, decided here.
#[derive(Debug, Clone, Serialize)]
pub struct Jicofo {
    pub auth: Option<Auth>,
    pub bridge: Bridge,
    /// (codec, enabled) for the video codecs set in `.env`.
    pub video_codecs: Vec<(String, bool)>,
    pub opus_red: Option<bool>,
    pub vla: bool,
    pub mid: bool,
    pub conference: Conference,
    pub health_checks: Option<bool>,
    /// Recording on: the recorders' brewery room.
    pub jibri: Option<Jibri>,
    pub jibri_sip_brewery: Option<String>,
    /// SIP gateway or transcription on: the gateways' brewery room.
    pub jigasi_brewery: Option<String>,
    pub local_region: Option<String>,
    pub octo: bool,
    /// JICOFO_ENABLE_REST: the REST API (health, stats) listens on every
    /// interface of the container instead of its loopback only.
    pub rest_public: bool,
    pub transcription: Option<Transcription>,
    pub client: XmppClient,
    /// ENABLE_JVB_XMPP_SERVER: bridges on their own XMPP server.
    pub service: Option<XmppService>,
    pub trusted_domains: Vec<String>,
    /// Visitor nodes (`ENABLE_VISITORS` with `JITSI_STACK_VISITORS`).
    pub visitors: Option<Visitors>,
}

/// jicofo's `visitors { }` block and one `xmpp.visitors.v<N>` client per node.
#[derive(Debug, Clone, Serialize)]
pub struct Visitors {
    pub max_participants: Option<i64>,
    pub max_per_node: i64,
    pub require_muc_config: bool,
    pub nodes: Vec<VisitorClient>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VisitorClient {
    /// `v<N>`.
    pub name: String,
    pub conference_service: String,
    /// The node's client port (never its s2s port, see `stack::visitors`).
    pub hostname: String,
    pub port: u16,
    pub domain: String,
    pub xmpp_domain: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Auth {
    /// `JWT` or `XMPP`.
    pub kind: &'static str,
    pub login_url: String,
    pub auto_login: bool,
    pub lifetime: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bridge {
    pub max_participants: Option<i64>,
    /// Decimals stay the validated text (Typesafe Config reads a quoted
    /// number as that number).
    pub average_participant_stress: Option<String>,
    pub stress_threshold: Option<String>,
    pub selection_strategy: Option<String>,
    /// (enabled, use-presence) when JICOFO_ENABLE_BRIDGE_HEALTH_CHECKS is set.
    pub health_checks: Option<(bool, bool)>,
    pub ice_failure: IceFailure,
    pub load_redistribution: Option<bool>,
    pub brewery_jid: String,
    /// Groups of region names.
    pub region_groups: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IceFailure {
    pub enabled: bool,
    pub interval: String,
    pub min_endpoints: i64,
    pub threshold: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Conference {
    pub auto_owner: Option<bool>,
    pub moderator_checks: Option<bool>,
    pub initial_timeout: Option<String>,
    pub max_ssrcs_per_user: i64,
    pub max_ssrc_groups_per_user: i64,
    pub single_participant_timeout: Option<String>,
    /// (conference size, delay in ms), ascending.
    pub source_signaling_delays: Vec<(i64, i64)>,
    pub max_audio_senders: Option<i64>,
    pub max_video_senders: Option<i64>,
    pub strip_simulcast: Option<bool>,
    pub ssrc_rewriting: Option<bool>,
    pub multi_stream_backward_compat: Option<bool>,
    pub shared_document_random_name: bool,
    pub restart_max_requests: Option<i64>,
    pub restart_interval: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Jibri {
    pub brewery_jid: String,
    pub num_retries: Option<i64>,
    pub pending_timeout: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Transcription {
    pub url_template: String,
    /// (header, value): Cloudflare Access credentials when set.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct XmppClient {
    pub hostname: String,
    pub port: u16,
    pub domain: String,
    pub xmpp_domain: String,
    pub password: String,
    pub conference_muc_jid: String,
    pub client_proxy: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct XmppService {
    pub hostname: String,
    pub port: u16,
    pub domain: String,
    pub password: String,
}

/// A boolean that is written only when set in `.env` (unset keeps jicofo's
/// own default).
fn opt_bool(v: &Values, name: &str) -> Option<bool> {
    v.raw(name).map(|_| v.bool(name))
}

fn opt_int(v: &Values, name: &str) -> Option<i64> {
    v.raw(name).and_then(|x| x.trim().parse().ok())
}

fn opt_text(v: &Values, name: &str) -> Option<String> {
    v.raw(name).map(String::from)
}

/// Seconds, as the image writes a bare number into a duration key.
fn seconds(v: &Values, name: &str, fallback: i64) -> String {
    format!("{} seconds", v.int(name).unwrap_or(fallback))
}

/// Computes `jicofo.conf` from the stack.
pub fn derive(stack: &Stack) -> Result<Jicofo> {
    let v = &stack.values;
    let domain = v.text("XMPP_DOMAIN", "meet.jitsi");
    let internal_muc = v.text("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi");
    let Some(password) = v.get("JICOFO_AUTH_PASSWORD").map(String::from) else {
        bail!("JICOFO_AUTH_PASSWORD is not set in .env: run `jitsi-stack gen-passwords`");
    };

    let auth_on = match v.raw("JICOFO_ENABLE_AUTH") {
        Some(_) => v.bool("JICOFO_ENABLE_AUTH"),
        None => v.bool("ENABLE_AUTH"),
    };
    let auth_type = v
        .raw("JICOFO_AUTH_TYPE")
        .unwrap_or(v.get_or("AUTH_TYPE", "internal"));
    let auth = auth_on.then(|| Auth {
        kind: if auth_type == "jwt" { "JWT" } else { "XMPP" },
        login_url: domain.clone(),
        auto_login: v.bool("ENABLE_AUTO_LOGIN"),
        lifetime: v.text("JICOFO_AUTH_LIFETIME", "24 hours"),
    });

    let jvb_server = v.bool("ENABLE_JVB_XMPP_SERVER");
    let jvb_brewery = v.text("JVB_BREWERY_MUC", "jvbbrewery");
    let brewery_jid = if jvb_server {
        format!(
            "{jvb_brewery}@{}",
            v.get_or("JVB_XMPP_INTERNAL_MUC_DOMAIN", "muc.jvb.meet.jitsi")
        )
    } else {
        format!("{jvb_brewery}@{internal_muc}")
    };
    let bridge = Bridge {
        max_participants: opt_int(v, "MAX_BRIDGE_PARTICIPANTS"),
        average_participant_stress: opt_text(v, "BRIDGE_AVG_PARTICIPANT_STRESS"),
        stress_threshold: opt_text(v, "BRIDGE_STRESS_THRESHOLD"),
        selection_strategy: opt_text(v, "OCTO_BRIDGE_SELECTION_STRATEGY"),
        health_checks: opt_bool(v, "JICOFO_ENABLE_BRIDGE_HEALTH_CHECKS")
            .map(|on| (on, v.bool("JICOFO_HEALTH_CHECKS_USE_PRESENCE"))),
        ice_failure: IceFailure {
            enabled: v.bool("JICOFO_ENABLE_ICE_FAILURE_DETECTION"),
            interval: seconds(v, "JICOFO_ICE_FAILURE_INTERVAL", 60),
            min_endpoints: v.int("JICOFO_ICE_FAILURE_MIN_ENDPOINTS").unwrap_or(40),
            threshold: v.text("JICOFO_ICE_FAILURE_THRESHOLD", "0.1"),
        },
        load_redistribution: opt_bool(v, "JICOFO_ENABLE_LOAD_REDISTRIBUTION"),
        brewery_jid,
        region_groups: match v.raw("JICOFO_BRIDGE_REGION_GROUPS") {
            Some(raw) => parse_region_groups(raw)?,
            None => vec![],
        },
    };

    let video_codecs = [
        ("vp8", "ENABLE_CODEC_VP8"),
        ("vp9", "ENABLE_CODEC_VP9"),
        ("av1", "ENABLE_CODEC_AV1"),
        ("h264", "ENABLE_CODEC_H264"),
    ]
    .iter()
    .filter_map(|(codec, var)| opt_bool(v, var).map(|on| (codec.to_string(), on)))
    .collect();

    let max_ssrcs = v.int("MAX_SSRCS_PER_USER").unwrap_or(20);
    let conference = Conference {
        auto_owner: opt_bool(v, "ENABLE_AUTO_OWNER"),
        moderator_checks: opt_bool(v, "ENABLE_MODERATOR_CHECKS"),
        initial_timeout: opt_text(v, "JICOFO_CONF_INITIAL_PARTICIPANT_WAIT_TIMEOUT"),
        max_ssrcs_per_user: max_ssrcs,
        max_ssrc_groups_per_user: opt_int(v, "MAX_SSRC_GROUPS_PER_USER").unwrap_or(max_ssrcs),
        single_participant_timeout: opt_text(v, "JICOFO_CONF_SINGLE_PARTICIPANT_TIMEOUT"),
        source_signaling_delays: match v.raw("JICOFO_CONF_SOURCE_SIGNALING_DELAYS") {
            Some(raw) => parse_signaling_delays(raw)?,
            None => vec![],
        },
        max_audio_senders: opt_int(v, "JICOFO_CONF_MAX_AUDIO_SENDERS"),
        max_video_senders: opt_int(v, "JICOFO_CONF_MAX_VIDEO_SENDERS"),
        strip_simulcast: opt_bool(v, "JICOFO_CONF_STRIP_SIMULCAST"),
        ssrc_rewriting: opt_bool(v, "JICOFO_CONF_SSRC_REWRITING"),
        multi_stream_backward_compat: opt_bool(v, "JICOFO_MULTI_STREAM_BACKWARD_COMPAT"),
        shared_document_random_name: v.bool("ENABLE_SHARED_DOCUMENT_RANDOM_NAME"),
        restart_max_requests: opt_int(v, "JICOFO_RESTART_REQUEST_MAX"),
        restart_interval: seconds(v, "JICOFO_RESTART_REQUEST_INTERVAL", 60),
    };

    let recording = stack.recording();
    let transcriptions = stack.transcriptions();
    let jibri = recording.then(|| Jibri {
        brewery_jid: format!(
            "{}@{internal_muc}",
            v.get_or("JIBRI_BREWERY_MUC", "jibribrewery")
        ),
        num_retries: opt_int(v, "JIBRI_REQUEST_RETRIES"),
        pending_timeout: v.text("JIBRI_PENDING_TIMEOUT", "90 seconds"),
    });
    let jigasi_brewery = (v.raw("JIGASI_SIP_URI").is_some() || transcriptions).then(|| {
        format!(
            "{}@{internal_muc}",
            v.get_or("JIGASI_BREWERY_MUC", "jigasibrewery")
        )
    });

    let transcription = opt_text(v, "JICOFO_TRANSLATION_URL_TEMPLATE").map(|url_template| {
        let headers = [
            (
                "CF-Access-Client-Id",
                "JICOFO_TRANSLATION_CF_ACCESS_CLIENT_ID",
            ),
            (
                "CF-Access-Client-Secret",
                "JICOFO_TRANSLATION_CF_ACCESS_CLIENT_SECRET",
            ),
        ]
        .iter()
        .filter_map(|(h, var)| v.raw(var).map(|x| (h.to_string(), x.to_string())))
        .collect();
        Transcription {
            url_template,
            headers,
        }
    });

    let client = XmppClient {
        hostname: v.text("XMPP_SERVER", "xmpp.meet.jitsi"),
        port: v.port("XMPP_PORT").unwrap_or(5222),
        domain: v.text("XMPP_AUTH_DOMAIN", "auth.meet.jitsi"),
        xmpp_domain: domain.clone(),
        password: password.clone(),
        conference_muc_jid: v.text("XMPP_MUC_DOMAIN", "muc.meet.jitsi"),
        client_proxy: format!("focus.{domain}"),
    };
    let service = jvb_server.then(|| XmppService {
        hostname: v.text("JVB_XMPP_SERVER", "xmpp.jvb.meet.jitsi"),
        port: v.port("JVB_XMPP_PORT").unwrap_or(6222),
        domain: v.text("JVB_XMPP_AUTH_DOMAIN", "auth.jvb.meet.jitsi"),
        password: password.clone(),
    });

    // Recorders and transcribers log in on the hidden domain; jicofo must
    // trust it for them to declare themselves.
    let trusted_domains = if v.raw("JICOFO_TRUSTED_DOMAINS").is_some() {
        v.list("JICOFO_TRUSTED_DOMAINS")
    } else if recording || transcriptions {
        vec![prosody::hidden_domain(v)]
    } else {
        vec![]
    };

    let visitors = visitors::enabled(v).then(|| {
        let auth_domain = v.text("VISITORS_XMPP_AUTH_DOMAIN", "auth.meet.jitsi");
        Visitors {
            max_participants: opt_int(v, "VISITORS_MAX_PARTICIPANTS"),
            max_per_node: v.int("VISITORS_MAX_VISITORS_PER_NODE").unwrap_or(250),
            require_muc_config: v.bool("JICOFO_VISITORS_REQUIRE_MUC_CONFIG"),
            nodes: visitors::nodes_of(v)
                .into_iter()
                .map(|n| VisitorClient {
                    name: n.vnode.clone(),
                    conference_service: n.muc.clone(),
                    hostname: n.host(),
                    port: visitors::C2S_PORT,
                    domain: auth_domain.clone(),
                    xmpp_domain: n.domain.clone(),
                    // A node on another host has its own focus password:
                    // it never holds this host's.
                    password: match &n.remote {
                        Some(r) => v.get_or(&r.password_var, "").to_string(),
                        None => password.clone(),
                    },
                })
                .collect(),
        }
    });
    let mut bridge = bridge;
    if visitors.is_some() {
        // The image replaces OCTO_BRIDGE_SELECTION_STRATEGY with these.
        bridge.selection_strategy = None;
    }

    Ok(Jicofo {
        visitors,
        auth,
        bridge,
        video_codecs,
        opus_red: opt_bool(v, "ENABLE_CODEC_OPUS_RED"),
        vla: v.bool("ENABLE_VLA"),
        mid: v.bool("JICOFO_ENABLE_MID"),
        conference,
        health_checks: opt_bool(v, "JICOFO_ENABLE_HEALTH_CHECKS"),
        jibri,
        jibri_sip_brewery: opt_text(v, "JIBRI_SIP_BREWERY_MUC"),
        jigasi_brewery,
        local_region: opt_text(v, "JICOFO_OCTO_REGION"),
        octo: v.bool("ENABLE_OCTO"),
        rest_public: v.bool("JICOFO_ENABLE_REST"),
        transcription,
        client,
        service,
        trusted_domains,
    })
}

/// `JICOFO_BRIDGE_REGION_GROUPS`: HOCON lists of region names, as upstream
/// documents it (`["us-east", "us-west"], ["eu-central", "eu-west"]`),
/// optionally inside one outer `[ ]`. Names may be quoted or bare.
pub fn parse_region_groups(raw: &str) -> Result<Vec<Vec<String>>> {
    let refuse = |why: &str| -> anyhow::Error {
        anyhow::anyhow!(
            "JICOFO_BRIDGE_REGION_GROUPS: {why}; expected groups of region names such as \
             [\"us-east\", \"us-west\"], [\"eu-central\", \"eu-west\"] (found {raw:?})"
        )
    };
    let mut text = raw.trim();
    // An outer list around the groups: `[[...], [...]]`.
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        if inner.trim_start().starts_with('[') {
            text = inner.trim();
        }
    }
    let mut groups = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix('[') else {
            return Err(refuse("each group must be in [ ]"));
        };
        let Some(end) = after.find(']') else {
            return Err(refuse("a group is not closed with ]"));
        };
        let mut group = Vec::new();
        for item in after[..end].split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let name = item
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(item);
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(refuse(&format!(
                    "{item:?} is not a region name (letters, digits, - _ .)"
                )));
            }
            group.push(name.to_string());
        }
        if group.is_empty() {
            return Err(refuse("a group is empty"));
        }
        groups.push(group);
        rest = after[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(groups)
}

/// `JICOFO_CONF_SOURCE_SIGNALING_DELAYS`: a HOCON map from conference size to
/// delay in milliseconds (`{ 50 = 500, 100 = 1000 }`; braces optional,
/// `=` or `:`, commas or new lines between entries).
pub fn parse_signaling_delays(raw: &str) -> Result<Vec<(i64, i64)>> {
    let mut text = raw.trim();
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        text = inner;
    }
    let mut out = Vec::new();
    for entry in text.split([',', '\n']) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let parsed = entry.split_once(['=', ':']).and_then(|(k, d)| {
            let k = k.trim().trim_matches('"');
            Some((k.parse::<i64>().ok()?, d.trim().parse::<i64>().ok()?))
        });
        match parsed {
            Some((size, delay)) if size >= 0 && delay >= 0 => out.push((size, delay)),
            _ => bail!(
                "JICOFO_CONF_SOURCE_SIGNALING_DELAYS: {entry:?} is not `size = milliseconds`; \
                 expected for example {{ 50 = 500, 100 = 1000 }} (found {raw:?})"
            ),
        }
    }
    out.sort();
    out.dedup_by_key(|e| e.0);
    Ok(out)
}

pub fn render(env: &Environment<'_>, stack: &Stack, ctx: &Value, out: &mut Output) -> Result<()> {
    let j = derive(stack)?;
    let ctx = minijinja::context! { jicofo => Value::from_serialize(&j), ..ctx.clone() };
    out.add(
        "generated/jicofo/jicofo.conf",
        render_template(env, "jicofo/jicofo.conf.j2", &ctx)?,
    );
    out.add(
        "generated/jicofo/logging.properties",
        logging_properties(
            env,
            &ctx,
            "Jicofo",
            sentry_on(&stack.values, "JICOFO_SENTRY_DSN"),
        )?,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_groups_parse_strictly() {
        let g = parse_region_groups(r#"["us-east", "us-west"], [eu-central,"eu-west"]"#).unwrap();
        assert_eq!(
            g,
            vec![vec!["us-east", "us-west"], vec!["eu-central", "eu-west"]]
        );
        let outer = parse_region_groups(r#"[["a"],["b","c"]]"#).unwrap();
        assert_eq!(outer, vec![vec!["a"], vec!["b", "c"]]);
        for bad in [
            r#"["a"] x"#,
            r#"["a" ]]"#,
            r#"["a\"b"]"#,
            r#"["a"], []"#,
            r#"["${HOME}"]"#,
            "[\"a\"]\nfoo = 1",
        ] {
            assert!(parse_region_groups(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signaling_delays_parse_strictly() {
        assert_eq!(
            parse_signaling_delays("{ 100 = 1000, 50 = 500 }").unwrap(),
            vec![(50, 500), (100, 1000)]
        );
        assert_eq!(
            parse_signaling_delays("50:500\n\"100\" = 1000").unwrap(),
            vec![(50, 500), (100, 1000)]
        );
        for bad in ["50 = x", "{ a = 1 }", "50 = 500 } x = { 1", "50 = -1"] {
            assert!(parse_signaling_delays(bad).is_err(), "{bad}");
        }
    }
}
