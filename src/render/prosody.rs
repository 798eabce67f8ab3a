//! Rendering of prosody's configuration (client mode): `prosody.cfg.lua`,
//! `conf.d/jitsi-meet.cfg.lua` and, for LDAP, `saslauthd.conf`. Every
//! decision the image's templates make is computed here as typed context;
//! the templates only print it, each value through `lua_str`.
//!
//! Upstream's "raw Lua" passthroughs (`GLOBAL_CONFIG`, `XMPP_CONFIGURATION`,
//! `XMPP_MUC_CONFIGURATION`) are accepted only as `name = literal`
//! assignments (a Lua name, then a number, `true`/`false` or a quoted string
//! without escapes); the literal is re-emitted escaped. Anything else
//! (function calls, concatenation, tables) is refused: it would be code run
//! when prosody loads its config. `PROSODY_LOG_CONFIG` (raw log sinks) is
//! refused for the same reason.

use super::{render_template, Output};
use crate::config::{Component, Stack, Values};
use crate::stack::visitors;
use anyhow::{bail, Result};
use minijinja::{Environment, Value};
use serde::Serialize;

/// Templates this module renders: (name under templates/, source).
pub static TEMPLATES: &[(&str, &str)] = &[
    (
        "prosody/prosody.cfg.lua.j2",
        include_str!("../../templates/prosody/prosody.cfg.lua.j2"),
    ),
    (
        "prosody/jitsi-meet.cfg.lua.j2",
        include_str!("../../templates/prosody/jitsi-meet.cfg.lua.j2"),
    ),
    (
        "prosody/visitors.cfg.lua.j2",
        include_str!("../../templates/prosody/visitors.cfg.lua.j2"),
    ),
];

/// TURN ports of the bundled coturn (`--with turn`), see `render::turn`.
pub const TURN_PORT: u16 = 3478;
pub const TURNS_PORT: u16 = 5349;

/// One `external_services` entry (mod_external_services).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExternalService {
    #[serde(rename = "type")]
    pub kind: String,
    pub host: String,
    pub port: u16,
    pub transport: String,
    /// None for STUN.
    pub ttl: Option<i64>,
    /// Time-limited credentials from `external_service_secret`.
    pub secret: bool,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// A `name = literal` line from one of the passthrough variables.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Assignment {
    /// A validated Lua name.
    pub key: String,
    /// Exactly one of these is set.
    pub number: Option<String>,
    pub boolean: Option<bool>,
    pub string: Option<String>,
}

/// Everything the two Lua templates need, decided here.
#[derive(Debug, Clone, Serialize)]
pub struct Prosody {
    /// `client` (the main prosody) or `visitors` (a visitor node).
    pub mode: String,
    /// Main prosody with visitor nodes: the `visitors` module and component.
    pub visitors: bool,
    /// Main prosody: (host, `tcp://node:5269`) for each node's MUC, host
    /// and polls component (`s2sout_override`).
    pub visitor_routes: Vec<(String, String)>,
    /// Main prosody: the nodes' MUC and polls hosts it accepts over s2s.
    pub visitor_whitelist: Vec<String>,
    /// A visitor node: the main prosody's hosts it accepts over s2s.
    pub node_s2s_whitelist: Vec<String>,
    pub admins: Vec<String>,
    pub global_modules: Vec<String>,
    pub trusted_proxies: Vec<String>,
    pub c2s_require_encryption: bool,
    pub c2s_limit: Option<String>,
    pub s2s_limit: Option<String>,
    pub gc_generational: bool,
    pub gc: [i64; 5],
    pub xmpp_port: u16,
    pub http_port: u16,
    pub ipv6: bool,
    pub log_level: String,
    pub metrics: bool,
    pub metrics_cidr: String,
    pub stanza_counts: bool,
    /// `PROSODY_ENABLE_S2S`: server-to-server on (visitors are refused).
    pub s2s: bool,
    pub s2s_port: u16,
    pub external_service_secret: Option<String>,
    /// mod_external_services is loaded: some service is announced.
    pub external_services_module: bool,
    pub external_services: Vec<ExternalService>,
    pub global_config: Vec<Assignment>,

    // conf.d/jitsi-meet.cfg.lua
    pub domain: String,
    pub auth_domain: String,
    pub guest_domain: Option<String>,
    pub hidden_domain: String,
    /// Recording or transcription on: the hidden domain's virtual host.
    pub hidden_host: bool,
    pub muc_domain: String,
    pub muc_prefix: String,
    pub internal_muc_domain: String,
    pub jvb_user: String,
    pub jibri_admin: Option<String>,
    pub jigasi_admin: Option<String>,
    /// The nodes' accounts (`node-<name>@<auth domain>`): admins as the main
    /// host's jvb, jibri and jigasi accounts are, so a node may create its
    /// brewery room.
    pub node_accounts: Vec<String>,
    /// The bridge nodes' accounts: exempt from the client rate limit, as
    /// the main host's jvb account is.
    pub node_bridges: Vec<String>,
    pub recorder_jid: String,
    pub transcriber_jid: String,
    pub recording: bool,
    pub transcriptions: bool,
    /// internal, jwt, ldap, matrix, hybrid_matrix_token; None: anonymous.
    pub auth: Option<String>,
    pub guest_auth_type: String,
    pub jwt: Jwt,
    pub matrix: Matrix,
    pub websocket: bool,
    pub lobby: bool,
    pub breakout: bool,
    pub av_moderation: bool,
    pub end_conference: bool,
    pub polls: bool,
    pub audio_translation: bool,
    pub rate_limits: bool,
    pub rate_limit: [i64; 4],
    pub rate_limit_ranges: Vec<String>,
    pub filter_messages: bool,
    /// mod_muc_resource_validate on the main MUC, with its options.
    pub resource_validate: bool,
    pub anonymous_strict: bool,
    pub anonymous_auth_methods: Vec<String>,
    pub wait_for_host_disable_auto_owners: bool,
    pub recording_metadata: bool,
    pub reservations: Option<String>,
    pub jaas: bool,
    pub public_domain: String,
    pub max_participants: Option<String>,
    pub xmpp_modules: Vec<String>,
    pub muc_modules: Vec<String>,
    pub internal_muc_modules: Vec<String>,
    pub lobby_muc_modules: Vec<String>,
    pub breakout_muc_modules: Vec<String>,
    pub speakerstats_modules: Vec<String>,
    pub xmpp_configuration: Vec<Assignment>,
    pub muc_configuration: Vec<Assignment>,
    pub accepted_issuers: Vec<String>,
    pub accepted_audiences: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Jwt {
    pub auth_type: String,
    pub app_id: String,
    /// None when JWT_APP_SECRET is unset or reads as false (upstream's test).
    pub app_secret: Option<String>,
    pub allow_empty: bool,
    pub asap_key_server: Option<String>,
    pub domain_verification: bool,
    pub sign_type: Option<String>,
    pub token_module: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Matrix {
    pub uvs_url: String,
    pub issuer: String,
    pub issuer_set: bool,
    pub auth_token: Option<String>,
    pub sync_power_levels: bool,
    pub lobby_bypass: bool,
}

/// A boolean the images default to true: unset reads as on.
fn on_by_default(v: &Values, name: &str) -> bool {
    v.get(name).is_none() || v.bool(name)
}

fn opt(v: &Values, name: &str) -> Option<String> {
    v.get(name).map(str::to_string)
}

fn num(v: &Values, name: &str, fallback: i64) -> Result<i64> {
    match v.get(name) {
        None => Ok(fallback),
        Some(raw) => raw.trim().parse().map_err(|_| {
            anyhow::anyhow!("{name}={raw:?}: expected a whole number (prosody config)")
        }),
    }
}

/// The image's `toBool` (jitsi/tpl) on a string: quotes removed, then Go's
/// `strconv.ParseBool` words; any other non-empty string is true.
pub fn tpl_to_bool(raw: &str) -> bool {
    let s: String = raw.chars().filter(|c| !matches!(c, '"' | '\'')).collect();
    match s.as_str() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
        "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
        other => !other.is_empty(),
    }
}

/// The host of PUBLIC_URL (no scheme, port or path).
pub fn public_host(v: &Values) -> String {
    let url = v.get_or("PUBLIC_URL", "https://localhost:8443");
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if let Some(stripped) = hostport.strip_prefix('[') {
        return stripped.split(']').next().unwrap_or(stripped).to_string();
    }
    hostport.split(':').next().unwrap_or(hostport).to_string()
}

/// Parses `name = literal` entries from a passthrough variable.
pub fn parse_assignments(var: &str, entries: &[String]) -> Result<Vec<Assignment>> {
    entries
        .iter()
        .map(|e| {
            parse_assignment(e).map_err(|why| {
                anyhow::anyhow!(
                    "{var}: entry {e:?} is not a plain `name = value` assignment ({why}); \
                     jitsi-stack accepts only a Lua name and a number, true/false or a quoted string \
                     (no code, concatenation, calls or tables)"
                )
            })
        })
        .collect()
}

fn parse_assignment(entry: &str) -> std::result::Result<Assignment, &'static str> {
    let entry = entry.trim().trim_end_matches(';').trim_end();
    let (key, value) = entry.split_once('=').ok_or("no '='")?;
    let key = key.trim();
    let value = value.trim();
    let ident_ok = !key.is_empty()
        && key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident_ok || LUA_KEYWORDS.contains(&key) {
        return Err("the name is not a Lua identifier");
    }
    let mut a = Assignment {
        key: key.to_string(),
        number: None,
        boolean: None,
        string: None,
    };
    match value {
        "true" => a.boolean = Some(true),
        "false" => a.boolean = Some(false),
        _ if is_number(value) => a.number = Some(value.to_string()),
        _ => {
            let quote = value.chars().next().ok_or("empty value")?;
            if !matches!(quote, '"' | '\'') || value.len() < 2 || !value.ends_with(quote) {
                return Err("the value is not a number, boolean or quoted string");
            }
            let inner = &value[1..value.len() - 1];
            if inner.contains(quote) || inner.contains('\\') || inner.contains('\n') {
                return Err("quotes, backslashes or newlines inside the string");
            }
            a.string = Some(inner.to_string());
        }
    }
    Ok(a)
}

const LUA_KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

fn is_number(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit())
}

/// Upstream splits GLOBAL_CONFIG on the two characters `\n`.
fn split_escaped_newlines(raw: Option<&str>) -> Vec<String> {
    raw.map(|r| {
        r.split("\\n")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

/// The XMPP domain of hidden participants (recorders, transcribers). The
/// images' boot scripts copy the old `XMPP_RECORDER_DOMAIN` into
/// `XMPP_HIDDEN_DOMAIN` when that is unset, before the templates apply
/// their default.
pub fn hidden_domain(v: &Values) -> String {
    v.raw("XMPP_HIDDEN_DOMAIN")
        .or_else(|| v.raw("XMPP_RECORDER_DOMAIN"))
        .or_else(|| v.get("XMPP_HIDDEN_DOMAIN"))
        .unwrap_or("hidden.meet.jitsi")
        .to_string()
}

/// Computes the main prosody's context from the stack.
pub fn derive(stack: &Stack) -> Result<Prosody> {
    let v = &stack.values;
    if let Some(mode) = v.raw("PROSODY_MODE").filter(|m| *m != "client") {
        bail!(
            "PROSODY_MODE={mode:?}: jitsi-stack sets each prosody's mode itself (visitor nodes: \
             JITSI_STACK_VISITORS); remove PROSODY_MODE from .env"
        );
    }
    let nodes = visitors::nodes(stack);
    if v.bool("ENABLE_VISITORS") && nodes.is_empty() {
        bail!(
            "ENABLE_VISITORS=1 but no visitor node: viewers would rejoin as participants or be \
             kicked (docker-jitsi-meet #2183); set {}=1 (or more) or ENABLE_VISITORS=0",
            visitors::COUNT_VAR
        );
    }
    if !v.bool("ENABLE_VISITORS") && !nodes.is_empty() {
        bail!(
            "{}={} but ENABLE_VISITORS is off: set ENABLE_VISITORS=1 or {}=0",
            visitors::COUNT_VAR,
            nodes.len(),
            visitors::COUNT_VAR
        );
    }
    let mut p = derive_from(
        stack,
        &visitors::values_for(v, visitors::Reader::MainProsody),
    )?;
    p.mode = "client".into();
    p.visitors = !nodes.is_empty();
    p.s2s = p.s2s || p.visitors;
    for n in &nodes {
        let target = format!("tcp://{}", n.s2s_target());
        for host in [&n.muc, &n.domain, &n.polls] {
            p.visitor_routes.push((host.clone(), target.clone()));
        }
        p.visitor_whitelist.extend([n.muc.clone(), n.polls.clone()]);
    }
    Ok(p)
}

/// Computes a visitor node's global context (its prosody.cfg.lua).
pub fn derive_node(stack: &Stack, v: &Values) -> Result<Prosody> {
    let mut p = derive_from(stack, v)?;
    p.mode = "visitors".into();
    p.s2s = true;
    p.node_s2s_whitelist = vec![
        p.muc_domain.clone(),
        format!("visitors.{}", p.domain),
        p.domain.clone(),
    ];
    if p.polls {
        p.node_s2s_whitelist.push(format!("polls.{}", p.domain));
    }
    if let Some(g) = &p.guest_domain {
        p.node_s2s_whitelist.push(g.clone());
    }
    if p.hidden_host {
        p.node_s2s_whitelist.push(p.hidden_domain.clone());
    }
    p.node_s2s_whitelist
        .extend(v.list("PROSODY_VISITORS_S2S_VHOSTS"));
    Ok(p)
}

fn derive_from(stack: &Stack, v: &Values) -> Result<Prosody> {
    if v.get("PROSODY_LOG_CONFIG").is_some() {
        bail!(
            "PROSODY_LOG_CONFIG is raw Lua that would run when prosody loads its config; \
             jitsi-stack does not pass it through: remove it and use LOG_LEVEL"
        );
    }
    let auth_enabled = v.bool("ENABLE_AUTH");
    let auth_type = v.text("PROSODY_AUTH_TYPE", v.get_or("AUTH_TYPE", "internal"));
    let auth = if auth_enabled {
        match auth_type.as_str() {
            "internal" | "jwt" | "ldap" | "matrix" | "hybrid_matrix_token" => {
                Some(auth_type.clone())
            }
            other => bail!(
                "AUTH_TYPE={other:?}: expected internal, jwt, ldap, matrix or hybrid_matrix_token"
            ),
        }
    } else {
        None
    };
    let jwt_like = matches!(auth.as_deref(), Some("jwt" | "hybrid_matrix_token"));
    let domain = v.text("XMPP_DOMAIN", "meet.jitsi");
    let auth_domain = v.text("XMPP_AUTH_DOMAIN", "auth.meet.jitsi");
    let hidden_domain = hidden_domain(v);
    let muc_domain = v.text("XMPP_MUC_DOMAIN", "muc.meet.jitsi");
    let recording = stack.recording();
    let transcriptions = stack.transcriptions();
    let recorder_user = v.text("JIBRI_RECORDER_USER", "recorder");
    let transcriber_user = v.text("JIGASI_TRANSCRIBER_USER", "transcriber");

    let mut external_services = Vec::new();
    let stun_host = opt(v, "STUN_HOST");
    if let Some(h) = &stun_host {
        external_services.push(ExternalService {
            kind: "stun".into(),
            host: h.clone(),
            port: v.port_or("STUN_PORT", 443)?,
            transport: "udp".into(),
            ttl: None,
            secret: false,
            username: None,
            password: None,
        });
    }
    let ttl = num(v, "TURN_TTL", 86400)?;
    let username = opt(v, "TURN_USERNAME");
    let password = opt(v, "TURN_PASSWORD");
    let bundled = stack.has(Component::Turn);
    let secret = v.get("TURN_CREDENTIALS").map(str::to_string);
    if bundled && secret.is_none() {
        bail!("--with turn needs TURN_CREDENTIALS in .env: run `jitsi-stack gen-passwords`");
    }
    let has_secret = secret.is_some();
    // TURN_HOST/TURNS_HOST as the image announces them, whether or not the
    // bundled coturn runs too (then both are listed: an external server the
    // user named stays announced).
    let transports = {
        let t = v.list("TURN_TRANSPORT");
        if t.is_empty() {
            vec!["tcp".to_string()]
        } else {
            t
        }
    };
    let turn_port = v.port_or("TURN_PORT", 443)?;
    for host in v.list("TURN_HOST") {
        for t in &transports {
            external_services.push(ExternalService {
                kind: "turn".into(),
                host: host.clone(),
                port: turn_port,
                transport: t.clone(),
                ttl: Some(ttl),
                secret: has_secret,
                username: username.clone(),
                password: password.clone(),
            });
        }
    }
    let turns_port = v.port_or("TURNS_PORT", 443)?;
    for host in v.list("TURNS_HOST") {
        external_services.push(ExternalService {
            kind: "turns".into(),
            host,
            port: turns_port,
            transport: "tcp".into(),
            ttl: Some(ttl),
            secret: has_secret,
            username: username.clone(),
            password: password.clone(),
        });
    }
    if bundled {
        // The bundled coturn (render::turn): the public host, shared-secret
        // credentials only; TURNS only when coturn has a certificate.
        let host = public_host(v);
        for t in ["udp", "tcp"] {
            external_services.push(ExternalService {
                kind: "turn".into(),
                host: host.clone(),
                port: TURN_PORT,
                transport: t.into(),
                ttl: Some(ttl),
                secret: true,
                username: None,
                password: None,
            });
        }
        if v.raw("TURN_TLS_CERT").is_some() {
            external_services.push(ExternalService {
                kind: "turns".into(),
                host,
                port: TURNS_PORT,
                transport: "tcp".into(),
                ttl: Some(ttl),
                secret: true,
                username: None,
                password: None,
            });
        }
    }

    let list_or = |name: &str| v.list(name);
    Ok(Prosody {
        mode: String::new(),
        visitors: false,
        visitor_routes: vec![],
        visitor_whitelist: vec![],
        node_s2s_whitelist: vec![],
        admins: list_or("PROSODY_ADMINS"),
        global_modules: list_or("GLOBAL_MODULES"),
        trusted_proxies: {
            let l = v.list("PROSODY_TRUSTED_PROXIES");
            if v.get("PROSODY_TRUSTED_PROXIES").is_none() {
                vec!["127.0.0.1".into(), "::1".into()]
            } else {
                l
            }
        },
        c2s_require_encryption: on_by_default(v, "PROSODY_C2S_REQUIRE_ENCRYPTION"),
        c2s_limit: (!v.bool("PROSODY_DISABLE_C2S_LIMIT"))
            .then(|| v.text("PROSODY_C2S_LIMIT", "10kb/s")),
        s2s_limit: (!v.bool("PROSODY_DISABLE_S2S_LIMIT"))
            .then(|| v.text("PROSODY_S2S_LIMIT", "30kb/s")),
        gc_generational: v.get_or("GC_TYPE", "incremental") == "generational",
        gc: [
            num(v, "GC_INC_TH", 400)?,
            num(v, "GC_INC_SPEED", 250)?,
            num(v, "GC_INC_STEP_SIZE", 13)?,
            num(v, "GC_GEN_MIN_TH", 20)?,
            num(v, "GC_GEN_MAX_TH", 100)?,
        ],
        xmpp_port: v.port_or("XMPP_PORT", 5222)?,
        http_port: v.port_or("PROSODY_HTTP_PORT", 5280)?,
        ipv6: on_by_default(v, "ENABLE_IPV6"),
        log_level: v.text("LOG_LEVEL", "info"),
        metrics: v.bool("PROSODY_ENABLE_METRICS"),
        metrics_cidr: v.text("PROSODY_METRICS_ALLOWED_CIDR", "172.16.0.0/12"),
        stanza_counts: v.bool("PROSODY_ENABLE_STANZA_COUNTS"),
        s2s: v.bool("PROSODY_ENABLE_S2S"),
        s2s_port: v.port_or("PROSODY_S2S_PORT", 5269)?,
        external_service_secret: secret,
        // The image loads the module only for TURN_HOST/TURNS_HOST, so a
        // STUN_HOST alone is rendered but never served; here any announced
        // service loads it (docs/differences.md).
        external_services_module: !external_services.is_empty(),
        external_services,
        global_config: parse_assignments(
            "GLOBAL_CONFIG",
            &split_escaped_newlines(v.get("GLOBAL_CONFIG")),
        )?,

        guest_domain: (auth_enabled && v.bool("ENABLE_GUESTS"))
            .then(|| v.text("XMPP_GUEST_DOMAIN", "guest.meet.jitsi")),
        hidden_host: recording || transcriptions,
        muc_prefix: muc_domain.split('.').next().unwrap_or("").to_string(),
        internal_muc_domain: v.text("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi"),
        jvb_user: v.text("JVB_AUTH_USER", "jvb"),
        jibri_admin: v
            .get("JIBRI_XMPP_PASSWORD")
            .map(|_| format!("{}@{auth_domain}", v.get_or("JIBRI_XMPP_USER", "jibri"))),
        jigasi_admin: v
            .get("JIGASI_XMPP_PASSWORD")
            .map(|_| format!("{}@{auth_domain}", v.get_or("JIGASI_XMPP_USER", "jigasi"))),
        node_accounts: crate::stack::nodes::nodes(&stack.file)
            .iter()
            .map(|n| format!("{}@{auth_domain}", n.account()))
            .collect(),
        node_bridges: crate::stack::nodes::nodes(&stack.file)
            .iter()
            .filter(|n| n.kind == crate::stack::NodeKind::Jvb)
            .map(|n| format!("{}@{auth_domain}", n.account()))
            .collect(),
        recorder_jid: format!("{recorder_user}@{hidden_domain}"),
        transcriber_jid: format!("{transcriber_user}@{hidden_domain}"),
        recording,
        transcriptions,
        guest_auth_type: v.text("PROSODY_GUEST_AUTH_TYPE", "jitsi-anonymous"),
        jwt: Jwt {
            auth_type: v.text("JWT_AUTH_TYPE", "token"),
            app_id: v.text("JWT_APP_ID", ""),
            // Upstream: `.Env.JWT_APP_SECRET | default "false" | toBool`,
            // i.e. a secret that is not itself a boolean word is printed.
            app_secret: v
                .get("JWT_APP_SECRET")
                .filter(|s| tpl_to_bool(s))
                .map(str::to_string),
            allow_empty: v.bool("JWT_ALLOW_EMPTY"),
            asap_key_server: opt(v, "JWT_ASAP_KEYSERVER"),
            domain_verification: v.bool("JWT_ENABLE_DOMAIN_VERIFICATION"),
            sign_type: opt(v, "JWT_SIGN_TYPE"),
            token_module: v.text("JWT_TOKEN_AUTH_MODULE", "token_verification"),
        },
        matrix: Matrix {
            uvs_url: v.text("MATRIX_UVS_URL", ""),
            issuer: v.text("MATRIX_UVS_ISSUER", "issuer"),
            // Upstream tests the variable itself here, not its default.
            issuer_set: v.raw("MATRIX_UVS_ISSUER").is_some(),
            auth_token: opt(v, "MATRIX_UVS_AUTH_TOKEN"),
            sync_power_levels: v.bool("MATRIX_UVS_SYNC_POWER_LEVELS"),
            lobby_bypass: v.bool("MATRIX_LOBBY_BYPASS"),
        },
        websocket: on_by_default(v, "ENABLE_XMPP_WEBSOCKET"),
        lobby: on_by_default(v, "ENABLE_LOBBY"),
        breakout: on_by_default(v, "ENABLE_BREAKOUT_ROOMS"),
        av_moderation: on_by_default(v, "ENABLE_AV_MODERATION"),
        end_conference: on_by_default(v, "ENABLE_END_CONFERENCE"),
        polls: !v.bool("DISABLE_POLLS"),
        audio_translation: v.bool("ENABLE_AUDIO_TRANSLATION"),
        rate_limits: v.bool("PROSODY_ENABLE_RATE_LIMITS"),
        rate_limit: [
            num(v, "PROSODY_RATE_LIMIT_LOGIN_RATE", 3)?,
            num(v, "PROSODY_RATE_LIMIT_SESSION_RATE", 200)?,
            num(v, "PROSODY_RATE_LIMIT_TIMEOUT", 60)?,
            num(v, "PROSODY_RATE_LIMIT_CACHE_SIZE", 10000)?,
        ],
        rate_limit_ranges: if v.get("PROSODY_RATE_LIMIT_ALLOW_RANGES").is_none() {
            vec!["10.0.0.0/8".into()]
        } else {
            v.list("PROSODY_RATE_LIMIT_ALLOW_RANGES")
        },
        filter_messages: v.bool("PROSODY_ENABLE_FILTER_MESSAGES"),
        resource_validate: on_by_default(v, "PROSODY_ENABLE_MUC_RESOURCE_VALIDATE"),
        anonymous_strict: v.bool("PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT"),
        anonymous_auth_methods: list_or("PROSODY_MUC_RESOURCE_VALIDATE_ANON_METHODS"),
        wait_for_host_disable_auto_owners: v.bool("WAIT_FOR_HOST_DISABLE_AUTO_OWNERS"),
        recording_metadata: on_by_default(v, "PROSODY_ENABLE_RECORDING_METADATA")
            && auth.as_deref() == Some("jwt")
            && recording,
        reservations: v
            .bool("PROSODY_RESERVATION_ENABLED")
            .then(|| v.text("PROSODY_RESERVATION_REST_BASE_URL", "")),
        jaas: v.bool("ENABLE_JAAS_COMPONENTS"),
        public_domain: v.public_url_domain(),
        max_participants: opt(v, "MAX_PARTICIPANTS"),
        xmpp_modules: list_or("XMPP_MODULES"),
        muc_modules: list_or("XMPP_MUC_MODULES"),
        internal_muc_modules: list_or("XMPP_INTERNAL_MUC_MODULES"),
        lobby_muc_modules: list_or("XMPP_LOBBY_MUC_MODULES"),
        breakout_muc_modules: list_or("XMPP_BREAKOUT_MUC_MODULES"),
        speakerstats_modules: list_or("XMPP_SPEAKERSTATS_MODULES"),
        xmpp_configuration: parse_assignments("XMPP_CONFIGURATION", &v.list("XMPP_CONFIGURATION"))?,
        muc_configuration: parse_assignments(
            "XMPP_MUC_CONFIGURATION",
            &v.list("XMPP_MUC_CONFIGURATION"),
        )?,
        accepted_issuers: if jwt_like {
            v.list("JWT_ACCEPTED_ISSUERS")
        } else {
            vec![]
        },
        accepted_audiences: if jwt_like {
            v.list("JWT_ACCEPTED_AUDIENCES")
        } else {
            vec![]
        },
        auth,
        domain,
        auth_domain,
        hidden_domain,
        muc_domain,
    })
}

/// saslauthd's `key: value` format has no quoting: a value is the rest of
/// its line. Refuse what would end the line or be read differently.
fn sasl_value(name: &str, value: &str) -> Result<String> {
    if value.chars().any(|c| c.is_control()) || value.contains("{{") {
        bail!(
            "{name}={value:?}: saslauthd.conf cannot hold control characters (newlines) or '{{{{'"
        );
    }
    if value.trim() != value {
        bail!("{name}={value:?}: leading or trailing white space would be lost in saslauthd.conf");
    }
    Ok(value.to_string())
}

/// saslauthd.conf as the image's template gives it for
/// `PROSODY_AUTH_TYPE` (else `AUTH_TYPE`) `ldap`, whether or not
/// `ENABLE_AUTH` is on (the boot script renders it and starts saslauthd for
/// `AUTH_TYPE=ldap` alone).
pub fn saslauthd_conf(stack: &Stack) -> Result<String> {
    let v = &stack.values;
    let mut out = format!("# {}\n", super::GENERATED_NOTE);
    let mut line = |key: &str, name: &str, value: &str| -> Result<()> {
        out.push_str(&format!("{key}: {}\n", sasl_value(name, value)?));
        Ok(())
    };
    let prosody_auth = v.get_or("PROSODY_AUTH_TYPE", v.get_or("AUTH_TYPE", "internal"));
    if prosody_auth == "ldap" {
        let domain = v.get_or("XMPP_DOMAIN", "meet.jitsi");
        line("ldap_servers", "LDAP_URL", v.get_or("LDAP_URL", ""))?;
        line("ldap_search_base", "LDAP_BASE", v.get_or("LDAP_BASE", ""))?;
        if let Some(dn) = v.get("LDAP_BINDDN") {
            line("ldap_bind_dn", "LDAP_BINDDN", dn)?;
            line("ldap_bind_pw", "LDAP_BINDPW", v.get_or("LDAP_BINDPW", ""))?;
        }
        line(
            "ldap_filter",
            "LDAP_FILTER",
            v.get_or("LDAP_FILTER", "uid=%u"),
        )?;
        line(
            "ldap_version",
            "LDAP_VERSION",
            v.get_or("LDAP_VERSION", "3"),
        )?;
        line(
            "ldap_auth_method",
            "LDAP_AUTH_METHOD",
            v.get_or("LDAP_AUTH_METHOD", "bind"),
        )?;
        if v.bool("LDAP_USE_TLS") {
            line(
                "ldap_tls_key",
                "XMPP_DOMAIN",
                &format!("/run/prosody/config/certs/{domain}.key"),
            )?;
            line(
                "ldap_tls_cert",
                "XMPP_DOMAIN",
                &format!("/run/prosody/config/certs/{domain}.crt"),
            )?;
            if v.bool("LDAP_TLS_CHECK_PEER") {
                line("ldap_tls_check_peer", "LDAP_TLS_CHECK_PEER", "yes")?;
                line(
                    "ldap_tls_cacert_file",
                    "LDAP_TLS_CACERT_FILE",
                    v.get_or("LDAP_TLS_CACERT_FILE", "/etc/ssl/certs/ca-certificates.crt"),
                )?;
                line(
                    "ldap_tls_cacert_dir",
                    "LDAP_TLS_CACERT_DIR",
                    v.get_or("LDAP_TLS_CACERT_DIR", "/etc/ssl/certs"),
                )?;
            }
            if let Some(c) = v.get("LDAP_TLS_CIPHERS") {
                line("ldap_tls_ciphers", "LDAP_TLS_CIPHERS", c)?;
            }
        }
    }
    if v.bool("LDAP_START_TLS") {
        line("ldap_start_tls", "LDAP_START_TLS", "yes")?;
    }
    Ok(out)
}

/// A visitor node's `conf.d/visitors.cfg.lua`, decided here.
#[derive(Debug, Clone, Serialize)]
pub struct VisitorNodeCfg {
    pub index: u32,
    /// `v<N>.<VISITORS_XMPP_DOMAIN>`.
    pub domain: String,
    pub muc: String,
    pub polls_host: String,
    pub polls: bool,
    pub muc_mapper_prefix: String,
    pub main_domain: String,
    pub auth_domain: String,
    /// The main prosody's hosts the node reaches over s2s.
    pub routes: Vec<String>,
    /// `tcp://XMPP_SERVER:XMPP_SERVER_S2S_PORT`.
    pub main_target: String,
    pub limit_messages_check_token: bool,
    pub websocket: bool,
    pub xmpp_modules: Vec<String>,
    pub shard: String,
    pub region: String,
    pub release: String,
    pub xmpp_configuration: Vec<Assignment>,
    pub subdomains: bool,
    pub rate_limits: bool,
    pub rate_limit: [i64; 4],
    pub rate_limit_ranges: Vec<String>,
    pub recorder_jid: String,
    pub transcriber_jid: String,
    pub muc_modules: Vec<String>,
    pub max_occupants: i64,
    pub muc_configuration: Vec<Assignment>,
}

/// Computes node `index`'s visitors.cfg.lua context from its values
/// ([`visitors::values_for`]) and its global context.
pub fn derive_node_site(v: &Values, p: &Prosody, index: u32) -> Result<VisitorNodeCfg> {
    let base = v.text("VISITORS_XMPP_DOMAIN", visitors::CLIENT_DOMAIN);
    let domain = format!("v{index}.{base}");
    let prefix = v.text("PROSODY_VISITORS_MUC_PREFIX", "muc");
    let server = v.host_or("XMPP_SERVER", "xmpp.meet.jitsi")?;
    let port = v.port_or("XMPP_SERVER_S2S_PORT", v.port_or("PROSODY_S2S_PORT", 5269)?)?;
    let mut routes = vec![
        p.muc_domain.clone(),
        p.domain.clone(),
        format!("visitors.{}", p.domain),
    ];
    if let Some(g) = &p.guest_domain {
        routes.push(g.clone());
    }
    if p.hidden_host {
        routes.push(p.hidden_domain.clone());
    }
    routes.extend(v.list("PROSODY_VISITORS_S2S_VHOSTS"));
    if p.polls {
        routes.push(format!("polls.{}", p.domain));
    }
    Ok(VisitorNodeCfg {
        index,
        muc: format!("{prefix}.{domain}"),
        polls_host: format!("polls.{domain}"),
        polls: p.polls,
        muc_mapper_prefix: p.muc_prefix.clone(),
        main_domain: p.domain.clone(),
        auth_domain: p.auth_domain.clone(),
        routes,
        main_target: format!("tcp://{server}:{port}"),
        limit_messages_check_token: v.bool("PROSODY_LIMIT_MESSAGES_CHECK_TOKEN"),
        websocket: p.websocket,
        xmpp_modules: p.xmpp_modules.clone(),
        shard: v.text("SHARD", "default"),
        region: v.text("PROSODY_REGION_NAME", "default"),
        release: v.text("RELEASE_NUMBER", ""),
        xmpp_configuration: p.xmpp_configuration.clone(),
        subdomains: on_by_default(v, "ENABLE_SUBDOMAINS"),
        rate_limits: p.rate_limits,
        rate_limit: p.rate_limit,
        rate_limit_ranges: p.rate_limit_ranges.clone(),
        recorder_jid: p.recorder_jid.clone(),
        transcriber_jid: p.transcriber_jid.clone(),
        muc_modules: p.muc_modules.clone(),
        max_occupants: num(v, "VISITORS_MAX_VISITORS_PER_NODE", 250)?,
        muc_configuration: p.muc_configuration.clone(),
        domain,
    })
}

/// Renders every visitor node's two files into `generated/prosody-v<N>/`.
pub fn render_nodes(
    env: &Environment<'_>,
    stack: &Stack,
    ctx: &Value,
    out: &mut Output,
) -> Result<()> {
    // On the main host its own nodes; in a visitor node's bundle, that node.
    let list = if crate::stack::nodes::is_bundle(&stack.values) {
        visitors::nodes(stack)
    } else {
        visitors::local_nodes(stack)
    };
    for n in list {
        let v = visitors::values_for(&stack.values, visitors::Reader::Node(n.index));
        let p = derive_node(stack, &v)?;
        let site = derive_node_site(&v, &p, n.index)?;
        let ctx = minijinja::context! {
            prosody => Value::from_serialize(&p),
            node => Value::from_serialize(&site),
            ..ctx.clone()
        };
        out.add(
            format!("generated/{}/prosody.cfg.lua", n.service),
            render_template(env, "prosody/prosody.cfg.lua.j2", &ctx)?,
        );
        out.add(
            format!("generated/{}/visitors.cfg.lua", n.service),
            render_template(env, "prosody/visitors.cfg.lua.j2", &ctx)?,
        );
    }
    Ok(())
}

pub fn render(env: &Environment<'_>, stack: &Stack, ctx: &Value, out: &mut Output) -> Result<()> {
    if crate::stack::nodes::is_bundle(&stack.values) {
        // A visitor node's bundle runs that node's prosody only.
        return render_nodes(env, stack, ctx, out);
    }
    let p = derive(stack)?;
    let ctx = minijinja::context! { prosody => Value::from_serialize(&p), ..ctx.clone() };
    out.add(
        "generated/prosody/prosody.cfg.lua",
        render_template(env, "prosody/prosody.cfg.lua.j2", &ctx)?,
    );
    out.add(
        "generated/prosody/jitsi-meet.cfg.lua",
        render_template(env, "prosody/jitsi-meet.cfg.lua.j2", &ctx)?,
    );
    // The boot script reads the template only for AUTH_TYPE=ldap.
    let sasl = if stack.values.get_or("AUTH_TYPE", "internal") == "ldap" {
        saslauthd_conf(stack)?
    } else {
        format!(
            "# {}\n# LDAP authentication is off.\n",
            super::GENERATED_NOTE
        )
    };
    out.add("generated/prosody/saslauthd.conf", sasl);
    render_nodes(env, stack, &ctx, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_accept_literals_only() {
        let ok = parse_assignments(
            "X",
            &["a = 1".into(), "b_2 = 'x y'".into(), "c=true".into()],
        )
        .unwrap();
        assert_eq!(ok[0].number.as_deref(), Some("1"));
        assert_eq!(ok[1].string.as_deref(), Some("x y"));
        assert_eq!(ok[2].boolean, Some(true));
        for bad in [
            "a = os.getenv('HOME')",
            "a = \"x\" .. \"y\"",
            "a = { 1 }",
            "os.exit(1)",
            "end = 1",
            "a = \"x\\\"\"",
            "a.b = 1",
        ] {
            assert!(parse_assignments("X", &[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn hidden_domain_falls_back_to_the_old_recorder_domain() {
        let v = Values::from_pairs([("XMPP_RECORDER_DOMAIN", "recorder.example")]);
        assert_eq!(hidden_domain(&v), "recorder.example");
        let v = Values::from_pairs([
            ("XMPP_RECORDER_DOMAIN", "recorder.example"),
            ("XMPP_HIDDEN_DOMAIN", "hidden.example"),
        ]);
        assert_eq!(hidden_domain(&v), "hidden.example");
        assert_eq!(hidden_domain(&Values::default()), "hidden.meet.jitsi");
    }

    #[test]
    fn public_host_strips_scheme_port_path() {
        let v = Values::from_pairs([("PUBLIC_URL", "https://meet.example.org:8443/x")]);
        assert_eq!(public_host(&v), "meet.example.org");
        let v = Values::from_pairs([("PUBLIC_URL", "https://[2001:db8::1]:443")]);
        assert_eq!(public_host(&v), "2001:db8::1");
    }
}
