//! Rendering of the jigasi image's configuration, for both services that run
//! it: the SIP gateway (`jigasi`, `JIGASI_MODE=sip`) and the transcriber
//! (`transcriber`, `JIGASI_MODE=transcriber`). Each gets
//! `generated/<service>/sip-communicator.properties` and
//! `generated/<service>/logging.properties` (java.util.Properties files).
//!
//! The pinned image's boot script (`/etc/s6-overlay/scripts/config`) writes
//! `/run/jigasi/config/sip-communicator.properties` by concatenating
//! `tpl /defaults/sip-communicator.properties`, then
//! `xmpp-sip-communicator.properties`, then `sipserver-` (sip mode) or
//! `transcriber-sip-communicator.properties` (transcriber mode), then
//! `/config/custom-sip-communicator.properties` if present. The whole file
//! is rendered here and mounted over the first template; the other three are
//! mounted empty (`render::mounts`). The image's `custom-*.properties` append
//! still works.
//!
//! What the image derives at boot, and what is rendered instead:
//! - `JIGASI_INSTANCE_ID` (`jigasi-$(date +%N)` / `transcriber-$(date +%N)`)
//!   and `JIGASI_STATS_ID` (defaults to it): the Compose service name
//!   (`jigasi`, `transcriber`), distinct per service and stable across
//!   restarts. They reach the file only as `org.jitsi.jigasi.STATS_ID`.
//! - The brewery nickname is the XMPP resource jigasi generates itself
//!   (`AUTO_GENERATE_RESOURCE=true`): nothing to derive.
//! - `LOCAL_ADDRESS`: jigasi's boot script neither computes nor uses it
//!   (only the autoscaler sidecar's config prints it): nothing to derive.
//!
//! Values inside structured values are checked rather than trusted: XMPP
//! names that become JIDs or part of a key, the SIP account `user@domain`
//! behind `ACCOUNT_UID=SIP:...`, the trusted-domain list printed as
//! `[ "a","b" ]`, the OCI region inside a host name, and the raw
//! `JIGASI_CONFIGURATION` lines (accepted only as `key=value` entries whose
//! key the file does not already set).

use super::sentry_on;
use crate::config::{Stack, Values};
use crate::render::{render_template, Output};
use crate::schema::kind::{self, Kind};
use anyhow::{bail, Result};
use minijinja::{Environment, Value};
use serde::Serialize;
use std::collections::BTreeSet;

/// Templates this module renders: (name under templates/, source).
pub static TEMPLATES: &[(&str, &str)] = &[
    (
        "jigasi/sip-communicator.properties.j2",
        include_str!("../../../templates/jigasi/sip-communicator.properties.j2"),
    ),
    (
        "jigasi/logging.properties.j2",
        include_str!("../../../templates/jigasi/logging.properties.j2"),
    ),
];

/// Which of the two services a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Sip,
    Transcriber,
}

impl Mode {
    /// The Compose service (and `generated/` directory) running this mode.
    pub fn service(self) -> &'static str {
        match self {
            Mode::Sip => "jigasi",
            Mode::Transcriber => "transcriber",
        }
    }
}

/// Everything one service's `sip-communicator.properties` says.
#[derive(Debug, Clone, Serialize)]
pub struct Jigasi {
    pub mode: Mode,
    /// On a node: verify the main host's certificate and never fall back
    /// to a plain connection (on the main host the Compose network is
    /// internal, as upstream).
    pub verify_certificates: bool,
    pub shutdown_rest: bool,
    pub health_check_sip_uri: String,
    pub health_check_interval: i64,
    /// Where jigasi's own XMPP connection goes (the first, and with this
    /// schema only, XMPP server).
    pub xmpp_server: String,
    pub xmpp_port: u16,
    pub default_room: Option<String>,
    pub muc_domain: String,
    /// `[ "a","b" ]`, built from checked host names; None when empty.
    pub trusted_domains: Option<String>,
    pub jvb_timeout: i64,
    pub local_region: Option<String>,
    pub bosh_url_pattern: Option<String>,
    pub rest: bool,
    pub stats_id: String,
    /// JIGASI_CONFIGURATION entries.
    pub extra: Vec<Property>,
    pub control: Control,
    pub sip: Option<Sip>,
    pub transcriber: Option<Transcriber>,
}

/// The XMPP account jigasi (in both modes) uses for the brewery room.
#[derive(Debug, Clone, Serialize)]
pub struct Control {
    /// `Jabber:<user>@<auth domain>`: part of the reconnect plugin's key.
    pub uid: String,
    /// `Jabber:<user>@<auth domain>@<server id>`.
    pub account_uid: String,
    pub user_id: String,
    pub password_b64: String,
    /// `<JIGASI_BREWERY_MUC>@<internal MUC domain>`.
    pub brewery: String,
    /// PUBLIC_URL without `https://` and a trailing `/` (as upstream).
    pub domain_base: String,
}

/// The SIP account and SIP-mode settings (`sipserver-...` upstream).
#[derive(Debug, Clone, Serialize)]
pub struct Sip {
    /// JIGASI_SIP_SERVER, also the outbound proxy when set.
    pub server: Option<String>,
    pub port: u16,
    pub transport: String,
    pub sdes: bool,
    pub uri: String,
    pub password_b64: String,
    pub keep_alive_method: String,
    pub xmpp_domain: String,
    /// Conference login with ENABLE_AUTH.
    pub login: Option<Login>,
    pub translator: bool,
    pub visitors: Option<Visitors>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Login {
    pub user_id: String,
    pub anonymous: bool,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Visitors {
    pub queue_url: Option<String>,
    pub key_path: Option<String>,
    pub key_id: Option<String>,
}

/// The transcriber's account and transcription settings.
#[derive(Debug, Clone, Serialize)]
pub struct Transcriber {
    pub user_id: String,
    pub password: String,
    pub translation: bool,
    /// Saving transcripts to /tmp/transcripts (JIGASI_TRANSCRIBER_ENABLE_SAVING).
    pub saving: Option<Saving>,
    pub send_txt: bool,
    pub record_audio: bool,
    pub custom_service: Option<String>,
    pub translation_service: Option<String>,
    pub libretranslate_url: Option<String>,
    pub filter_silence: bool,
    pub remote_config: Option<RemoteConfig>,
    pub oci_websocket_url: Option<String>,
    pub oci_compartment: Option<String>,
    pub whisper_url: Option<String>,
    pub whisper_key_name: Option<String>,
    pub whisper_key: Option<String>,
    pub vosk_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Saving {
    /// Where the transcripts directory is served: `<PUBLIC_URL>/transcripts`.
    pub base_url: String,
    pub advertise_url: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RemoteConfig {
    pub url: String,
    pub key_path: Option<String>,
    pub key_id: Option<String>,
    pub audience: Option<String>,
}

/// One `key=value` line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
}

/// Where the transcripts are written inside the container (mounted from
/// `CONFIG/storage/transcripts` by the compose model).
pub const TRANSCRIPTS_DIR: &str = "/tmp/transcripts";

/// Standard base64 with padding (sprig's `b64enc`, which the image applies
/// to the SIP and XMPP passwords).
pub fn b64(raw: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(raw.len().div_ceil(3) * 4);
    for chunk in raw.chunks(3) {
        let n = u32::from(chunk[0]) << 16
            | u32::from(*chunk.get(1).unwrap_or(&0)) << 8
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The SIP account `user@domain` (optionally `sip:`-prefixed, as upstream
/// passes it through): one `@`, a user part without white space, and a host
/// name or IP address (optionally `:port`) after it. The image prints it as
/// `USER_ID` and inside `ACCOUNT_UID=SIP:<uri>`; a second `@` or a space
/// would make the SIP stack register somewhere else.
pub fn sip_uri(value: &str) -> Result<String> {
    let bare = value.strip_prefix("sip:").unwrap_or(value);
    let why = match bare.split_once('@') {
        _ if value.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Some("it contains white space or a control character")
        }
        None => Some("it has no @domain"),
        Some(("", _)) => Some("the user part before @ is empty"),
        Some((_, host)) if host.contains('@') => Some("it contains more than one @"),
        Some((_, host)) => {
            let (name, port) = match host.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                _ => (host, None),
            };
            let host_ok = Kind::Host.check(name).is_ok();
            let port_ok = port.is_none_or(|p| kind::parse_port(p).is_some());
            (!(host_ok && port_ok))
                .then_some("the part after @ is not a host name (with an optional :port)")
        }
    };
    if let Some(why) = why {
        bail!(
            "JIGASI_SIP_URI={value:?}: {why}; jigasi registers the SIP account user@domain \
             (written as ACCOUNT_UID=SIP:user@domain), so write it as user@sip.example.org"
        );
    }
    Ok(value.to_string())
}

/// JIGASI_TRUSTED_DOMAINS as the image prints it: `[ "a","b" ]`. Each entry
/// must be a domain (letters, digits, `. - _`, optionally a `*.` wildcard):
/// a quote, comma or backslash would change the list jigasi reads.
pub fn trusted_domains(v: &Values) -> Result<Option<String>> {
    let items = v.list("JIGASI_TRUSTED_DOMAINS");
    for d in &items {
        let name = d.strip_prefix("*.").unwrap_or(d);
        if Kind::Host.check(name).is_err() || name.contains(':') {
            bail!(
                "JIGASI_TRUSTED_DOMAINS: entry {d:?} is not a domain name; jigasi reads the list as \
                 [ \"a\",\"b\" ], where quotes, backslashes or other characters would change it; \
                 write XMPP domains separated by commas, such as auth.meet.jitsi,recorder.meet.jitsi"
            );
        }
    }
    if items.is_empty() {
        return Ok(None);
    }
    let quoted: Vec<String> = items.iter().map(|d| format!("\"{d}\"")).collect();
    Ok(Some(format!("[ {} ]", quoted.join(","))))
}

/// Parses JIGASI_CONFIGURATION: comma-separated `key=value` (or `key: value`)
/// lines that upstream pastes raw into the file. Accepted: a key of letters,
/// digits and `. _ - /`, a separator, any value without a backslash (which
/// upstream would read as an escape). Entries are trimmed, empty ones
/// dropped; a key set twice, or one the file already sets, is refused
/// (upstream's result would depend on where the key lands in the file).
pub fn extra_properties(raw: Option<&str>, taken: &BTreeSet<String>) -> Result<Vec<Property>> {
    let Some(raw) = raw else {
        return Ok(vec![]);
    };
    let mut out: Vec<Property> = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let prop = parse_entry(entry).map_err(|why| {
            anyhow::anyhow!(
                "JIGASI_CONFIGURATION: entry {entry:?} is not a plain key=value property ({why}); \
                 write comma-separated lines such as org.jitsi.jigasi.MUC_JOIN_TIMEOUT=20, or put \
                 anything else in custom-sip-communicator.properties under the service's CONFIG directory"
            )
        })?;
        if taken.contains(&prop.key) {
            bail!(
                "JIGASI_CONFIGURATION: {} is already set by jitsi-stack from .env; set the matching \
                 variable instead, or override it in custom-sip-communicator.properties (appended last)",
                prop.key
            );
        }
        if out.iter().any(|p| p.key == prop.key) {
            bail!("JIGASI_CONFIGURATION: {} is set twice", prop.key);
        }
        out.push(prop);
    }
    Ok(out)
}

fn parse_entry(entry: &str) -> std::result::Result<Property, &'static str> {
    if entry.contains('\\') {
        return Err("a backslash would be read as an escape");
    }
    let end = entry
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
        .ok_or("no '=' after the key")?;
    let (key, rest) = entry.split_at(end);
    if key.is_empty() {
        return Err("no key before the separator");
    }
    let rest = rest.trim_start();
    let value = rest
        .strip_prefix(['=', ':'])
        .ok_or("the key may hold only letters, digits and . _ - /, then '='")?;
    Ok(Property {
        key: key.to_string(),
        value: value.trim_start().to_string(),
    })
}

/// `JIGASI_TRANSCRIBER_OCI_REGION` goes inside a host name
/// (`wss://realtime.aiservice.<region>.oci.oraclecloud.com`).
fn oci_region(value: &str) -> Result<String> {
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        bail!(
            "JIGASI_TRANSCRIBER_OCI_REGION={value:?}: it becomes part of the host name \
             realtime.aiservice.<region>.oci.oraclecloud.com; write a region id such as us-ashburn-1"
        );
    }
    Ok(value.to_string())
}

/// The id jigasi reports as `org.jitsi.jigasi.STATS_ID`: JIGASI_STATS_ID,
/// else JIGASI_INSTANCE_ID, else (where the image makes a random
/// `<mode>-<nanoseconds>`) the Compose service name.
pub fn stats_id(v: &Values, mode: Mode) -> String {
    v.raw("JIGASI_STATS_ID")
        .or_else(|| v.raw("JIGASI_INSTANCE_ID"))
        .unwrap_or(mode.service())
        .to_string()
}

fn opt(v: &Values, name: &str) -> Option<String> {
    v.raw(name).map(str::to_string)
}

/// The keys a rendered properties file sets (its own output: one
/// `key=value` per line, `\\`-escapes in keys undone).
pub fn keys_of(text: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for line in text.lines().map(str::trim_start) {
        if line.is_empty() || line.starts_with(['#', '!']) {
            continue;
        }
        let mut key = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => key.extend(chars.next()),
                '=' | ':' | ' ' | '\t' => break,
                c => key.push(c),
            }
        }
        keys.insert(key);
    }
    keys
}

/// Computes one service's `sip-communicator.properties`.
pub fn derive(stack: &Stack, mode: Mode) -> Result<Jigasi> {
    let v = &stack.values;
    let auth_domain = v.host_or("XMPP_AUTH_DOMAIN", "auth.meet.jitsi")?;
    let internal_muc = v.host_or("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")?;
    let xmpp_user =
        crate::render::jvm::xmpp_name("JIGASI_XMPP_USER", v.get_or("JIGASI_XMPP_USER", "jigasi"))?;
    let brewery_room = crate::render::jvm::xmpp_name(
        "JIGASI_BREWERY_MUC",
        v.get_or("JIGASI_BREWERY_MUC", "jigasibrewery"),
    )?;
    // Upstream: FATAL ERROR: Jigasi auth password must be set (both modes).
    let Some(xmpp_password) = v.raw("JIGASI_XMPP_PASSWORD").map(str::to_string) else {
        bail!(
            "JIGASI_XMPP_PASSWORD is not set in .env (the {} service logs in to the brewery room with \
             jigasi's account): run `jitsi-stack gen-passwords`",
            mode.service()
        );
    };
    let uid = format!("Jabber:{xmpp_user}@{auth_domain}");
    let control = Control {
        account_uid: format!("{uid}@0"),
        uid,
        user_id: format!("{xmpp_user}@{auth_domain}"),
        password_b64: b64(xmpp_password.as_bytes()),
        brewery: format!("{brewery_room}@{internal_muc}"),
        domain_base: v.public_url_domain(),
    };

    let sip = match mode {
        Mode::Transcriber => None,
        Mode::Sip => Some(derive_sip(v, &auth_domain, &xmpp_user, &xmpp_password)?),
    };
    let transcriber = match mode {
        Mode::Sip => None,
        Mode::Transcriber => Some(derive_transcriber(v)?),
    };

    let trusted = trusted_domains(v)?;
    // The compose model does not pass JIGASI_SIP_* to the transcriber.
    let default_room = match mode {
        Mode::Sip => opt(v, "JIGASI_SIP_DEFAULT_ROOM"),
        Mode::Transcriber => None,
    };

    Ok(Jigasi {
        mode,
        verify_certificates: crate::stack::nodes::is_bundle(v),
        shutdown_rest: v.bool("SHUTDOWN_REST_ENABLED"),
        health_check_sip_uri: v.text("JIGASI_HEALTH_CHECK_SIP_URI", ""),
        health_check_interval: v.int_or("JIGASI_HEALTH_CHECK_INTERVAL", 300_000)?,
        xmpp_server: v.host_or("XMPP_SERVER", "xmpp.meet.jitsi")?,
        xmpp_port: v.port_or("XMPP_PORT", 5222)?,
        default_room,
        muc_domain: v.host_or("XMPP_MUC_DOMAIN", "muc.meet.jitsi")?,
        trusted_domains: trusted,
        jvb_timeout: v.int_or("JIGASI_JVB_TIMEOUT", 30_000)?,
        local_region: opt(v, "JIGASI_LOCAL_REGION"),
        bosh_url_pattern: opt(v, "BOSH_URL_PATTERN"),
        rest: v.bool("JIGASI_ENABLE_REST"),
        stats_id: stats_id(v, mode),
        // Filled by [`render_one`], which knows the keys the file sets.
        extra: vec![],
        control,
        sip,
        transcriber,
    })
}

fn derive_sip(v: &Values, auth_domain: &str, xmpp_user: &str, xmpp_password: &str) -> Result<Sip> {
    let uri = match v.raw("JIGASI_SIP_URI") {
        Some(u) => sip_uri(u)?,
        None => bail!(
            "JIGASI_SIP_URI is not set in .env: jigasi needs the SIP account it registers \
             (user@sip.example.org), or remove jigasi from the components"
        ),
    };
    // The image's template default; `check` requires the variable anyway.
    let password = v.get_or("JIGASI_SIP_PASSWORD", "replaceme");
    let server = match v.raw("JIGASI_SIP_SERVER") {
        Some(_) => Some(v.host_or("JIGASI_SIP_SERVER", "sip.example.org")?),
        None => None,
    };
    let transport = v.text("JIGASI_SIP_TRANSPORT", "UDP");
    if !matches!(transport.as_str(), "UDP" | "TCP" | "TLS") {
        bail!("JIGASI_SIP_TRANSPORT={transport:?}: expected UDP, TCP or TLS");
    }
    let login = v.bool("ENABLE_AUTH").then(|| {
        let guests = v.bool("ENABLE_GUESTS");
        let domain = if guests {
            v.get_or("XMPP_GUEST_DOMAIN", "guest.meet.jitsi")
                .to_string()
        } else {
            auth_domain.to_string()
        };
        Login {
            user_id: format!("{xmpp_user}@{domain}"),
            anonymous: guests,
            password: xmpp_password.to_string(),
        }
    });
    if login.as_ref().is_some_and(|l| l.anonymous) {
        v.host_or("XMPP_GUEST_DOMAIN", "guest.meet.jitsi")?;
    }
    Ok(Sip {
        server,
        port: v.port_or("JIGASI_SIP_PORT", 5060)?,
        transport,
        sdes: v.bool("JIGASI_ENABLE_SDES_SRTP"),
        uri,
        password_b64: b64(password.as_bytes()),
        keep_alive_method: v.text("JIGASI_SIP_KEEP_ALIVE_METHOD", "OPTIONS"),
        xmpp_domain: v.host_or("XMPP_DOMAIN", "meet.jitsi")?,
        login,
        // The schema lists this variable under the transcriber, but the image
        // reads it in SIP mode only (sipserver-sip-communicator.properties).
        translator: v.bool("USE_TRANSLATOR_IN_CONFERENCE"),
        visitors: v.bool("ENABLE_VISITORS").then(|| Visitors {
            queue_url: opt(v, "JIGASI_VISITORS_QUEUE_SERVICE_URL"),
            key_path: opt(v, "JIGASI_VISITORS_QUEUE_SERVICE_PRIVATE_KEY_PATH"),
            key_id: opt(v, "JIGASI_VISITORS_QUEUE_SERVICE_PRIVATE_KEY_ID"),
        }),
    })
}

fn derive_transcriber(v: &Values) -> Result<Transcriber> {
    let user = crate::render::jvm::xmpp_name(
        "JIGASI_TRANSCRIBER_USER",
        v.get_or("JIGASI_TRANSCRIBER_USER", "transcriber"),
    )?;
    // Upstream: the boot script copies XMPP_RECORDER_DOMAIN into an unset
    // XMPP_HIDDEN_DOMAIN; the template defaults to hidden.meet.jitsi.
    let hidden_var =
        if v.raw("XMPP_HIDDEN_DOMAIN").is_none() && v.raw("XMPP_RECORDER_DOMAIN").is_some() {
            "XMPP_RECORDER_DOMAIN"
        } else {
            "XMPP_HIDDEN_DOMAIN"
        };
    let hidden = v.host_or(hidden_var, "hidden.meet.jitsi")?;
    let Some(password) = v.raw("JIGASI_TRANSCRIBER_PASSWORD").map(str::to_string) else {
        bail!(
            "JIGASI_TRANSCRIBER_PASSWORD is not set in .env: the transcriber could not log in as \
             {user}@{hidden}; run `jitsi-stack gen-passwords`"
        );
    };
    // Upstream prints `<PUBLIC_URL>/transcripts` from the raw variable (an
    // unset PUBLIC_URL gives `/transcripts`); a trailing `/` is dropped here
    // rather than doubled.
    let public_url = v.raw("PUBLIC_URL").unwrap_or("");
    let base_url = format!(
        "{}/transcripts",
        public_url.strip_suffix('/').unwrap_or(public_url)
    );
    let remote_config = opt(v, "JIGASI_TRANSCRIBER_REMOTE_CONFIG_URL").map(|url| RemoteConfig {
        url,
        key_path: opt(v, "JIGASI_TRANSCRIBER_REMOTE_CONFIG_URL_KEY_PATH"),
        key_id: opt(v, "JIGASI_TRANSCRIBER_REMOTE_CONFIG_URL_KEY_ID"),
        audience: opt(v, "JIGASI_TRANSCRIBER_REMOTE_CONFIG_URL_AUD"),
    });
    let oci_websocket_url = match v.raw("JIGASI_TRANSCRIBER_OCI_REGION") {
        Some(r) => Some(format!(
            "wss://realtime.aiservice.{}.oci.oraclecloud.com",
            oci_region(r)?
        )),
        None => None,
    };
    Ok(Transcriber {
        user_id: format!("{user}@{hidden}"),
        password,
        translation: v.bool("JIGASI_TRANSCRIBER_ENABLE_TRANSLATION"),
        // Default on, as the image's `default "1"`.
        saving: (v.get("JIGASI_TRANSCRIBER_ENABLE_SAVING").is_none()
            || v.bool("JIGASI_TRANSCRIBER_ENABLE_SAVING"))
        .then(|| Saving {
            base_url,
            advertise_url: v.bool("JIGASI_TRANSCRIBER_ADVERTISE_URL"),
        }),
        send_txt: v.bool("JIGASI_TRANSCRIBER_SEND_TXT"),
        record_audio: v.bool("JIGASI_TRANSCRIBER_RECORD_AUDIO"),
        custom_service: opt(v, "JIGASI_TRANSCRIBER_CUSTOM_SERVICE"),
        translation_service: opt(v, "JIGASI_TRANSCRIBER_CUSTOM_TRANSLATION_SERVICE"),
        libretranslate_url: opt(v, "JIGASI_TRANSCRIBER_LIBRETRANSLATE_URL"),
        filter_silence: v.bool("JIGASI_TRANSCRIBER_FILTER_SILENCE"),
        remote_config,
        oci_websocket_url,
        oci_compartment: opt(v, "JIGASI_TRANSCRIBER_OCI_COMPARTMENT"),
        whisper_url: opt(v, "JIGASI_TRANSCRIBER_WHISPER_URL"),
        whisper_key_name: opt(v, "JIGASI_TRANSCRIBER_WHISPER_PRIVATE_KEY_NAME"),
        whisper_key: opt(v, "JIGASI_TRANSCRIBER_WHISPER_PRIVATE_KEY"),
        vosk_url: opt(v, "JIGASI_TRANSCRIBER_VOSK_URL"),
    })
}

/// Sentry in the container: the compose model sets SENTRY_DSN from
/// JIGASI_SENTRY_DSN, else passes an old-style SENTRY_DSN through.
fn sentry(v: &Values) -> bool {
    if v.raw("JIGASI_SENTRY_DSN").is_some() {
        sentry_on(v, "JIGASI_SENTRY_DSN")
    } else {
        sentry_on(v, "SENTRY_DSN")
    }
}

/// Renders one service's `sip-communicator.properties`: first without the
/// JIGASI_CONFIGURATION lines, to learn which keys the file sets, then with
/// them.
fn render_one(
    env: &Environment<'_>,
    ctx: &Value,
    mut j: Jigasi,
    raw: Option<&str>,
) -> Result<String> {
    let with = |j: &Jigasi| -> Result<String> {
        let ctx = minijinja::context! {
            j => Value::from_serialize(j),
            transcripts_dir => Value::from_safe_string(TRANSCRIPTS_DIR.to_string()),
            ..ctx.clone()
        };
        render_template(env, "jigasi/sip-communicator.properties.j2", &ctx)
    };
    let plain = with(&j)?;
    j.extra = extra_properties(raw, &keys_of(&plain))?;
    if j.extra.is_empty() {
        Ok(plain)
    } else {
        with(&j)
    }
}

/// Renders the files of the services running `modes` (the model's).
pub fn render(
    env: &Environment<'_>,
    stack: &Stack,
    modes: &[Mode],
    ctx: &Value,
    out: &mut Output,
) -> Result<()> {
    let sentry = sentry(&stack.values);
    for &mode in modes {
        let j = derive(stack, mode)?;
        let dir = format!("generated/{}", mode.service());
        out.add(
            format!("{dir}/sip-communicator.properties"),
            render_one(env, ctx, j, stack.values.raw("JIGASI_CONFIGURATION"))?,
        );
        let ctx = minijinja::context! { sentry => sentry, ..ctx.clone() };
        out.add(
            format!("{dir}/logging.properties"),
            render_template(env, "jigasi/logging.properties.j2", &ctx)?,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(b64(b""), "");
        assert_eq!(b64(b"f"), "Zg==");
        assert_eq!(b64(b"fo"), "Zm8=");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64("ü?>".as_bytes()), "w7w/Pg==");
    }

    #[test]
    fn xmpp_names_refuse_what_changes_a_jid() {
        assert_eq!(
            crate::render::jvm::xmpp_name("X", "jigasi").unwrap(),
            "jigasi"
        );
        assert!(crate::render::jvm::xmpp_name("X", "a.b_c-d+e").is_ok());
        for bad in ["", "a@b", "a/b", "a b", "a\"b", "ü", "a\nb", "a:b", "{{x}}"] {
            let err = crate::render::jvm::xmpp_name("JIGASI_XMPP_USER", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("JIGASI_XMPP_USER"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn sip_uris_need_one_user_and_a_host() {
        for ok in [
            "jitsi@sip.example.org",
            "sip:+4930123@sip.example.org",
            "a\"b;c=d{{x}}@10.0.0.1",
            "user@sip.example.org:5061",
        ] {
            assert!(sip_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "nodomain",
            "@sip.example.org",
            "a@b@sip.example.org",
            "a b@sip.example.org",
            "a@sip.example.org/x",
            "a@sip.example.org:0",
            "a@",
            "a\n@sip.example.org",
        ] {
            let err = sip_uri(bad).unwrap_err().to_string();
            assert!(err.contains("JIGASI_SIP_URI"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn trusted_domains_print_as_upstream_and_refuse_quotes() {
        let v = Values::from_pairs([("JIGASI_TRUSTED_DOMAINS", " a.example.org, ,*.b.org ")]);
        assert_eq!(
            trusted_domains(&v).unwrap().unwrap(),
            "[ \"a.example.org\",\"*.b.org\" ]"
        );
        assert!(trusted_domains(&Values::default()).unwrap().is_none());
        for bad in ["a\"b", "a\\b", "a]b", "a:1"] {
            let v = Values::from_pairs([("JIGASI_TRUSTED_DOMAINS", bad)]);
            let err = trusted_domains(&v).unwrap_err().to_string();
            assert!(err.contains("JIGASI_TRUSTED_DOMAINS"), "{bad}: {err}");
        }
    }

    #[test]
    fn extra_properties_accept_plain_lines_only() {
        let taken: BTreeSet<String> = ["org.jitsi.jigasi.STATS_ID".to_string()].into();
        let got = extra_properties(Some(" a.b=1 ,, c.d : x=y #z ,e/f-g_h= "), &taken).unwrap();
        assert_eq!(
            got,
            [
                Property {
                    key: "a.b".into(),
                    value: "1".into()
                },
                Property {
                    key: "c.d".into(),
                    value: "x=y #z".into()
                },
                Property {
                    key: "e/f-g_h".into(),
                    value: "".into()
                },
            ]
        );
        for bad in [
            "novalue",
            "#comment=1",
            "a b=c",
            "a=b\\nc",
            "=x",
            "a.b=1,a.b=2",
        ] {
            let err = extra_properties(Some(bad), &taken).unwrap_err().to_string();
            assert!(err.contains("JIGASI_CONFIGURATION"), "{bad}: {err}");
        }
        let err = extra_properties(Some("org.jitsi.jigasi.STATS_ID=x"), &taken)
            .unwrap_err()
            .to_string();
        assert!(err.contains("already set"), "{err}");
    }

    #[test]
    fn stats_id_is_the_service_name_unless_set() {
        let v = Values::default();
        assert_eq!(stats_id(&v, Mode::Sip), "jigasi");
        assert_eq!(stats_id(&v, Mode::Transcriber), "transcriber");
        let v = Values::from_pairs([("JIGASI_INSTANCE_ID", "gw1")]);
        assert_eq!(stats_id(&v, Mode::Sip), "gw1");
        let v = Values::from_pairs([("JIGASI_INSTANCE_ID", "gw1"), ("JIGASI_STATS_ID", "s")]);
        assert_eq!(stats_id(&v, Mode::Transcriber), "s");
    }

    #[test]
    fn public_url_domain_as_upstream() {
        let v = Values::from_pairs([("PUBLIC_URL", "https://meet.example.org:8443/")]);
        assert_eq!(v.public_url_domain(), "meet.example.org:8443");
        assert_eq!(Values::default().public_url_domain(), "localhost:8443");
    }

    #[test]
    fn oci_region_stays_one_label() {
        assert_eq!(oci_region("us-ashburn-1").unwrap(), "us-ashburn-1");
        assert!(oci_region("x.evil.example/").is_err());
    }
}
