//! Rendering of the web service (nginx + Jitsi Meet front end): config.js
//! and the nginx files the web image's boot script
//! (`/etc/s6-overlay/scripts/config`) would template from `/defaults`.
//! `interface_config.js` is not rendered: no variable feeds it; the image
//! copies the package's own and appends `CONFIG/web/custom-interface_config.js`.
//!
//! Every decision (websocket on? which certificate?) is made
//! here; the templates only print. Values bound for nginx are checked first
//! so a refusal names the variable.

use super::{render_template, Output};
use crate::config::{Stack, Values};
use crate::escape;
use crate::schema::kind;
use crate::stack::visitors;
use anyhow::{bail, Context, Result};
use minijinja::{Environment, Value};
use serde::Serialize;
use serde_json::{json, Map, Value as Json};

/// Templates this module renders: (name under templates/, source).
pub static TEMPLATES: &[(&str, &str)] = &[
    (
        "web/config.js.j2",
        include_str!("../../templates/web/config.js.j2"),
    ),
    (
        "web/nginx.conf.j2",
        include_str!("../../templates/web/nginx.conf.j2"),
    ),
    (
        "web/meet.conf.j2",
        include_str!("../../templates/web/meet.conf.j2"),
    ),
    (
        "web/ssl.conf.j2",
        include_str!("../../templates/web/ssl.conf.j2"),
    ),
    (
        "web/default.j2",
        include_str!("../../templates/web/default.j2"),
    ),
];

/// Ports nginx listens on inside the (rootless) web container.
pub const HTTP_LISTEN: u16 = 8000;
pub const HTTPS_LISTEN: u16 = 8443;
/// Docker's embedded DNS: what the image's boot script finds in the
/// container's resolv.conf on a user-defined network.
pub const DOCKER_RESOLVER: &str = "127.0.0.11";

/// Decisions for the nginx files.
#[derive(Debug, Serialize)]
struct Nginx {
    worker_processes: i64,
    worker_connections: i64,
    keepalive_timeout: i64,
    resolvers: Vec<String>,
    ipv6: bool,
    https: bool,
    http_redirect: bool,
    hsts: bool,
    cert: String,
    cert_key: String,
    xmpp_domain: String,
    bosh_base: String,
    /// Visitor nodes: (`v<N>`, the node's `http://prosody-vN:5280`); a
    /// viewer's BOSH and websocket carry `?vnode=v<N>` (nginx.conf's map).
    vnodes: Vec<(String, String)>,
    xmpp_websocket: bool,
    subdomains: bool,
    cors_origin: String,
    csp: Option<String>,
    shard: Option<String>,
    jaas: bool,
    load_test: bool,
    etherpad: Option<String>,
    whiteboard: Option<String>,
    rtcstats: Option<Rtcstats>,
    http_port: u16,
    https_port: u16,
}

#[derive(Debug, Serialize)]
struct Rtcstats {
    url_base: String,
    visualizer_url_base: String,
    visualizer_path: String,
}

/// Decisions for config.js that depend on the SSI-provided tenant.
#[derive(Debug, Serialize)]
struct Hosts {
    subdomains: bool,
    domain: String,
    muc: String,
    muc_prefix: String,
    /// `https://host[:port]` without a trailing slash, or `None` for a
    /// relative BOSH URL.
    bosh_origin: Option<String>,
    /// `wss://host[:port]` when XMPP websockets are on.
    websocket_origin: Option<String>,
}

pub fn render(env: &Environment<'_>, stack: &Stack, ctx: &Value, out: &mut Output) -> Result<()> {
    let nginx = nginx_decisions(stack)?;
    let branding_url = super::branding::render(stack, out)?;
    let (hosts, config) = config_js(stack, branding_url)?;
    let ctx = minijinja::context! {
        nginx => Value::from_serialize(&nginx),
        hosts => Value::from_serialize(&hosts),
        config => Value::from_serialize(&config),
        ..ctx.clone()
    };
    for (template, file) in [
        ("web/config.js.j2", "config.js"),
        ("web/nginx.conf.j2", "nginx.conf"),
        ("web/meet.conf.j2", "meet.conf"),
        ("web/ssl.conf.j2", "ssl.conf"),
        ("web/default.j2", "default"),
    ] {
        let text = render_template(env, template, &ctx)?;
        out.add(format!("{}/web/{file}", super::GENERATED_DIR), text);
    }
    if out
        .get(&format!(
            "{}/{}",
            super::GENERATED_DIR,
            super::mounts::EMPTY
        ))
        .is_none()
    {
        out.add(
            format!("{}/{}", super::GENERATED_DIR, super::mounts::EMPTY),
            String::new(),
        );
    }
    Ok(())
}

/// Checks a value bound for an nginx token, naming the variable on refusal.
fn token(var: &str, value: &str) -> Result<String> {
    escape::nginx_token(value)
        .map_err(|e| anyhow::anyhow!("{var}: {e}; nginx cannot represent it: change {var} in .env"))
}

fn quoted(var: &str, value: &str) -> Result<String> {
    escape::nginx_str(value)
        .map(|_| value.to_string())
        .map_err(|e| anyhow::anyhow!("{var}: {e}; change {var} in .env"))
}

/// A proxy target: `scheme://host[:port][/path]` without query or spaces.
fn url_base(var: &str, value: &str) -> Result<String> {
    let v = value.trim_end_matches('/');
    if !(v.starts_with("http://") || v.starts_with("https://")) {
        bail!("{var}: {value:?} is not an http(s):// URL; change {var} in .env");
    }
    token(var, v)
}

fn nginx_decisions(stack: &Stack) -> Result<Nginx> {
    let v = &stack.values;
    let https = !v.bool("DISABLE_HTTPS");
    // ssl.conf names the Let's Encrypt certificate whenever
    // ENABLE_LETSENCRYPT is on, as the image's does (with DISABLE_HTTPS=1
    // the file is rendered but no server includes it).
    let (cert, cert_key) = if v.bool("ENABLE_LETSENCRYPT") {
        let domain = match v.get("LETSENCRYPT_DOMAIN") {
            Some(d) => token("LETSENCRYPT_DOMAIN", d)?,
            None if https => bail!(
                "ENABLE_LETSENCRYPT=1 needs LETSENCRYPT_DOMAIN (the public host name of the certificate)"
            ),
            None => String::new(),
        };
        (
            format!("/storage/acme-certs/{domain}/fullchain.pem"),
            format!("/storage/acme-certs/{domain}/key.pem"),
        )
    } else {
        (
            "/storage/keys/cert.crt".to_string(),
            "/storage/keys/cert.key".to_string(),
        )
    };
    let resolvers = match v.get("NGINX_RESOLVER") {
        Some(r) => r
            .split_whitespace()
            .map(|x| token("NGINX_RESOLVER", x))
            .collect::<Result<Vec<_>>>()?,
        None => vec![DOCKER_RESOLVER.to_string()],
    };
    // The etherpad and whiteboard routes exist when their internal URLs are
    // set, as in the image (the overlays alone do not set them).
    let etherpad = match v.raw("ETHERPAD_URL_BASE").filter(|u| !u.is_empty()) {
        Some(u) => Some(url_base("ETHERPAD_URL_BASE", u)?),
        None => None,
    };
    let whiteboard = match v
        .raw("WHITEBOARD_COLLAB_SERVER_URL_BASE")
        .filter(|u| !u.is_empty())
    {
        Some(u) => Some(url_base("WHITEBOARD_COLLAB_SERVER_URL_BASE", u)?),
        None => None,
    };
    let rtcstats = if v.bool("RTCSTATS_ENABLED") {
        Some(Rtcstats {
            url_base: url_base(
                "RTCSTATS_URL_BASE",
                v.get_or(
                    "RTCSTATS_URL_BASE",
                    "http://rtcstats-server.meet.jitsi:3000",
                ),
            )?,
            visualizer_url_base: url_base(
                "RTC_VISUALIZER_URL_BASE",
                v.get_or(
                    "RTC_VISUALIZER_URL_BASE",
                    "http://rtc-visualizer.meet.jitsi:8087",
                ),
            )?,
            visualizer_path: token(
                "RTC_VISUALIZER_PATH",
                v.get_or("RTC_VISUALIZER_PATH", "rtc-visualizer")
                    .trim_matches('/'),
            )?,
        })
    } else {
        None
    };
    Ok(Nginx {
        worker_processes: v.int("NGINX_WORKER_PROCESSES").unwrap_or(4),
        worker_connections: v.int("NGINX_WORKER_CONNECTIONS").unwrap_or(768),
        keepalive_timeout: v.int("NGINX_KEEPALIVE_TIMEOUT").unwrap_or(65),
        resolvers,
        ipv6: bool_or(v, "ENABLE_IPV6", true),
        https,
        http_redirect: https && v.bool("ENABLE_HTTP_REDIRECT"),
        hsts: bool_or(v, "ENABLE_HSTS", true),
        cert,
        cert_key,
        xmpp_domain: token("XMPP_DOMAIN", v.get_or("XMPP_DOMAIN", "meet.jitsi"))?,
        bosh_base: url_base(
            "XMPP_BOSH_URL_BASE",
            v.get_or("XMPP_BOSH_URL_BASE", "http://xmpp.meet.jitsi:5280"),
        )?,
        vnodes: if visitors::enabled(v) {
            visitors::nodes_of(v)
                .into_iter()
                .map(|n| {
                    let base = n.http_base();
                    (n.vnode, base)
                })
                .collect()
        } else {
            vec![]
        },
        xmpp_websocket: bool_or(v, "ENABLE_XMPP_WEBSOCKET", true),
        subdomains: bool_or(v, "ENABLE_SUBDOMAINS", true),
        cors_origin: quoted(
            "CORS_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN",
            v.get_or("CORS_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN", "*"),
        )?,
        csp: v
            .get("CSP_HEADER")
            .map(|c| quoted("CSP_HEADER", c))
            .transpose()?,
        shard: v
            .get("DEPLOYMENTINFO_SHARD")
            .map(|c| quoted("DEPLOYMENTINFO_SHARD", c))
            .transpose()?,
        jaas: v.bool("ENABLE_JAAS_COMPONENTS"),
        load_test: v.bool("ENABLE_LOAD_TEST_CLIENT"),
        etherpad,
        whiteboard,
        rtcstats,
        http_port: HTTP_LISTEN,
        https_port: HTTPS_LISTEN,
    })
}

/// A boolean with the image's default when unset (the schema may lack it).
fn bool_or(v: &Values, name: &str, default: bool) -> bool {
    match v.get(name) {
        None => default,
        Some(s) => crate::schema::kind::parse_bool(s).unwrap_or(default),
    }
}

fn text(v: &Values, name: &str) -> Option<String> {
    v.get(name).map(str::to_string)
}

/// A list the images paste as a JS array: comma separated, entries trimmed
/// and empty ones dropped (the image keeps the spaces).
fn list(v: &Values, name: &str) -> Option<Vec<String>> {
    v.get(name).map(|_| v.list(name))
}

/// TRANSLATION_LANGUAGES style values: see [`kind::parse_js_list`].
fn js_string_list(raw: &str) -> Vec<String> {
    kind::parse_js_list(raw)
}

fn int(v: &Values, name: &str, default: i64) -> Result<i64> {
    match v.get(name) {
        None => Ok(default),
        Some(s) => s
            .trim()
            .parse()
            .with_context(|| format!("{name}: expected a whole number, found {s:?}")),
    }
}

/// Inserts `value` at a dotted path, creating objects on the way.
fn set(root: &mut Map<String, Json>, path: &str, value: Json) {
    let mut parts = path.split('.').peekable();
    let mut cur = root;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_string(), value);
            return;
        }
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| Json::Object(Map::new()));
        if !entry.is_object() {
            *entry = Json::Object(Map::new());
        }
        cur = entry.as_object_mut().expect("object");
    }
}

/// PUBLIC_URL as the image reads it (unset: `https://localhost:8443`).
fn public_url(v: &Values) -> &str {
    v.get_or("PUBLIC_URL", "https://localhost:8443")
}

/// What the image calls PUBLIC_URL_DOMAIN: PUBLIC_URL without its leading
/// `https://` and one trailing `/`; a path stays (`meet.example.org/jitsi`).
fn public_url_domain(v: &Values) -> String {
    let url = public_url(v);
    let rest = url.strip_prefix("https://").unwrap_or(url);
    rest.strip_suffix('/').unwrap_or(rest).to_string()
}

/// The image's `toBool` of a variable (the web templates use it on URLs to
/// ask "is it set"): quotes removed, then a Go boolean (`1`, `t`, `true`,
/// `0`, `f`, `false`, any case of those), else true when anything is left.
fn tpl_bool(v: &Values, name: &str) -> bool {
    let Some(raw) = v.raw(name) else {
        return false;
    };
    let s: String = raw.chars().filter(|c| *c != '"' && *c != '\'').collect();
    match s.as_str() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
        "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
        other => !other.is_empty(),
    }
}

/// A variable set to a non-empty value (the templates' `{{ if .Env.X }}`).
fn nonempty(v: &Values, name: &str) -> bool {
    v.raw(name).is_some_and(|s| !s.is_empty())
}

/// The bridge codec orders of the image's settings-config.js (its defaults
/// when unset). The image reads CODEC_ORDER_JVB[_MOBILE] for the peer-to-peer
/// orders too: CODEC_ORDER_P2P[_MOBILE] are not read (see the schema).
const CODEC_ORDER_DEFAULT: &str = "['AV1', 'VP9', 'VP8', 'H264']";
const CODEC_ORDER_MOBILE_DEFAULT: &str = "['VP8', 'VP9', 'H264', 'AV1']";

/// Computes config.js: the tenant-dependent host part and every other key,
/// key for key what the image's system-config.js and settings-config.js
/// produce (same conditions, same defaults).
fn config_js(stack: &Stack, branding_url: Option<String>) -> Result<(Hosts, Json)> {
    let v = &stack.values;
    let mut c = Map::new();
    let domain = v.get_or("XMPP_DOMAIN", "meet.jitsi").to_string();
    let muc = v.get_or("XMPP_MUC_DOMAIN", "muc.meet.jitsi").to_string();
    let subdomains = bool_or(v, "ENABLE_SUBDOMAINS", true);
    let host = public_url_domain(v);
    let public_url = public_url(v).to_string();

    // --- system-config.js ---
    let hosts = Hosts {
        subdomains,
        muc_prefix: muc.split('.').next().unwrap_or(&muc).to_string(),
        domain: domain.clone(),
        muc,
        bosh_origin: if v.bool("BOSH_RELATIVE") {
            None
        } else {
            Some(format!("https://{host}"))
        },
        websocket_origin: bool_or(v, "ENABLE_XMPP_WEBSOCKET", true)
            .then(|| format!("wss://{host}")),
    };
    if v.bool("ENABLE_AUTH") {
        if v.bool("ENABLE_GUESTS") {
            set(
                &mut c,
                "hosts.anonymousdomain",
                json!(v.get_or("XMPP_GUEST_DOMAIN", "guest.meet.jitsi")),
            );
        }
        if bool_or(v, "ENABLE_AUTH_DOMAIN", true) {
            set(&mut c, "hosts.authdomain", json!(domain));
        }
    }
    set(
        &mut c,
        "bridgeChannel.preferSctp",
        json!(bool_or(v, "JVB_PREFER_SCTP", true)),
    );

    // --- settings-config.js: video ---
    let res = int(v, "RESOLUTION", 720)?;
    set(&mut c, "resolution", json!(res));
    set(
        &mut c,
        "constraints.video.height",
        json!({"ideal": res, "max": res, "min": int(v, "RESOLUTION_MIN", 180)?}),
    );
    let width = int(v, "RESOLUTION_WIDTH", 1280)?;
    set(
        &mut c,
        "constraints.video.width",
        json!({"ideal": width, "max": width, "min": int(v, "RESOLUTION_WIDTH_MIN", 320)?}),
    );
    if !bool_or(v, "ENABLE_SIMULCAST", true) {
        set(&mut c, "disableSimulcast", json!(true));
    }
    set(
        &mut c,
        "startVideoMuted",
        json!(int(v, "START_VIDEO_MUTED", 10)?),
    );
    set(
        &mut c,
        "startWithVideoMuted",
        json!(v.bool("START_WITH_VIDEO_MUTED")),
    );
    set(
        &mut c,
        "flags",
        json!({
            "sourceNameSignaling": true,
            "sendMultipleVideoStreams": true,
            "receiveMultipleVideoStreams": true,
        }),
    );
    // A fixed screen-sharing frame rate only when automatic is off.
    if !bool_or(v, "DESKTOP_SHARING_FRAMERATE_AUTO", true) {
        set(
            &mut c,
            "desktopSharingFrameRate",
            json!({
                "min": int(v, "DESKTOP_SHARING_FRAMERATE_MIN", 5)?,
                "max": int(v, "DESKTOP_SHARING_FRAMERATE_MAX", 5)?,
            }),
        );
    }

    // Audio.
    set(
        &mut c,
        "enableNoAudioDetection",
        json!(bool_or(v, "ENABLE_NO_AUDIO_DETECTION", true)),
    );
    set(
        &mut c,
        "enableTalkWhileMuted",
        json!(v.bool("ENABLE_TALK_WHILE_MUTED")),
    );
    set(
        &mut c,
        "disableAP",
        json!(!bool_or(v, "ENABLE_AUDIO_PROCESSING", true)),
    );
    set(
        &mut c,
        "disableAGC",
        json!(!bool_or(v, "ENABLE_AUTOMATIC_GAIN_CONTROL", true)),
    );
    set(
        &mut c,
        "audioQuality.stereo",
        json!(v.bool("ENABLE_STEREO")),
    );
    if nonempty(v, "AUDIO_QUALITY_OPUS_BITRATE") {
        // A string, as the image writes it.
        set(
            &mut c,
            "audioQuality.opusMaxAverageBitrate",
            json!(v.get_or("AUDIO_QUALITY_OPUS_BITRATE", "")),
        );
    }
    set(&mut c, "startAudioOnly", json!(v.bool("START_AUDIO_ONLY")));
    set(
        &mut c,
        "startAudioMuted",
        json!(int(v, "START_AUDIO_MUTED", 10)?),
    );
    set(
        &mut c,
        "startWithAudioMuted",
        json!(v.bool("START_WITH_AUDIO_MUTED")),
    );
    set(&mut c, "startSilent", json!(v.bool("START_SILENT")));
    set(&mut c, "enableOpusRed", json!(v.bool("ENABLE_OPUS_RED")));
    set(
        &mut c,
        "disableAudioLevels",
        json!(v.bool("DISABLE_AUDIO_LEVELS")),
    );
    set(
        &mut c,
        "enableNoisyMicDetection",
        json!(bool_or(v, "ENABLE_NOISY_MIC_DETECTION", true)),
    );

    // Peer to peer: the image takes both orders from the bridge variables.
    let codec_order = js_string_list(nonempty_or(v, "CODEC_ORDER_JVB", CODEC_ORDER_DEFAULT));
    let codec_order_mobile = js_string_list(nonempty_or(
        v,
        "CODEC_ORDER_JVB_MOBILE",
        CODEC_ORDER_MOBILE_DEFAULT,
    ));
    set(&mut c, "p2p.enabled", json!(bool_or(v, "ENABLE_P2P", true)));
    set(&mut c, "p2p.codecPreferenceOrder", json!(codec_order));
    set(
        &mut c,
        "p2p.mobileCodecPreferenceOrder",
        json!(codec_order_mobile),
    );
    if nonempty(v, "P2P_STUN_SERVERS") {
        // host:port entries; the image prefixes each with `stun:`.
        let servers: Vec<Json> = v
            .list("P2P_STUN_SERVERS")
            .iter()
            .map(|u| json!({ "urls": format!("stun:{u}") }))
            .collect();
        set(&mut c, "p2p.stunServers", Json::Array(servers));
    }

    set(
        &mut c,
        "hideAddRoomButton",
        json!(!bool_or(v, "ENABLE_BREAKOUT_ROOMS", true)),
    );

    // Etherpad: offered when its public URL or the proxied one is set.
    if nonempty(v, "ETHERPAD_PUBLIC_URL") {
        set(
            &mut c,
            "etherpad_base",
            json!(v.get_or("ETHERPAD_PUBLIC_URL", "")),
        );
    } else if nonempty(v, "ETHERPAD_URL_BASE") {
        set(
            &mut c,
            "etherpad_base",
            json!(format!("{public_url}/etherpad/p/")),
        );
    }

    // Recording and streaming.
    let recording = stack.recording();
    let transcription = stack.transcriptions();
    if recording || transcription {
        set(
            &mut c,
            "hiddenDomain",
            json!(crate::render::prosody::hidden_domain(v)),
        );
    }
    if recording {
        let service = match v.get("ENABLE_SERVICE_RECORDING") {
            Some(s) => crate::schema::kind::parse_bool(s).unwrap_or(recording),
            None => recording,
        };
        set(&mut c, "recordingService.enabled", json!(service));
        set(
            &mut c,
            "recordingService.sharingEnabled",
            json!(v.bool("ENABLE_FILE_RECORDING_SHARING")),
        );
        set(
            &mut c,
            "liveStreaming.enabled",
            json!(v.bool("ENABLE_LIVESTREAMING")),
        );
        for (var, key, default) in [
            (
                "ENABLE_LIVESTREAMING_DATA_PRIVACY_LINK",
                "dataPrivacyLink",
                "https://policies.google.com/privacy",
            ),
            (
                "ENABLE_LIVESTREAMING_HELP_LINK",
                "helpLink",
                "https://jitsi.org/live",
            ),
            (
                "ENABLE_LIVESTREAMING_TERMS_LINK",
                "termsLink",
                "https://www.youtube.com/t/terms",
            ),
            (
                "ENABLE_LIVESTREAMING_VALIDATOR_REGEXP_STRING",
                "validatorRegExpString",
                "^(?:[a-zA-Z0-9]{4}(?:-(?!$)|$)){4}",
            ),
        ] {
            set(
                &mut c,
                &format!("liveStreaming.{key}"),
                json!(nonempty_or(v, var, default)),
            );
        }
        if nonempty(v, "DROPBOX_APPKEY") {
            set(
                &mut c,
                "dropbox.appKey",
                json!(v.get_or("DROPBOX_APPKEY", "")),
            );
            if let Some(uri) = text(v, "DROPBOX_REDIRECT_URI") {
                set(&mut c, "dropbox.redirectURI", json!(uri));
            }
        }
    }
    set(
        &mut c,
        "localRecording.disable",
        json!(v.bool("DISABLE_LOCAL_RECORDING")),
    );
    set(
        &mut c,
        "localRecording.notifyAllParticipants",
        json!(v.bool("ENABLE_LOCAL_RECORDING_NOTIFY_ALL_PARTICIPANT")),
    );
    set(
        &mut c,
        "localRecording.disableSelfRecording",
        json!(v.bool("ENABLE_LOCAL_RECORDING_SELF_START")),
    );

    // Analytics.
    set(&mut c, "analytics", json!({}));
    if v.bool("RTCSTATS_ENABLED") {
        set(&mut c, "analytics.rtcstatsEnabled", json!(true));
        set(
            &mut c,
            "analytics.rtcstatsStoreLogs",
            json!(v.bool("RTCSTATS_STORE_LOGS")),
        );
        set(
            &mut c,
            "analytics.rtcstatsEndpoint",
            json!(format!("wss://{host}/rtcstats-ws")),
        );
        set(
            &mut c,
            "analytics.rtcstatsPollInterval",
            json!(int(v, "RTCSTATS_POLL_INTERVAL", 10000)?),
        );
        set(
            &mut c,
            "analytics.rtcstatsSendSdp",
            json!(v.bool("RTCSTATS_SEND_SDP")),
        );
    }
    for (var, key) in [
        ("AMPLITUDE_ID", "analytics.amplitudeAPPKey"),
        ("GOOGLE_ANALYTICS_ID", "analytics.googleAnalyticsTrackingId"),
        ("MATOMO_ENDPOINT", "analytics.matomoEndpoint"),
        ("MATOMO_SITE_ID", "analytics.matomoSiteID"),
    ] {
        if let Some(t) = text(v, var) {
            set(&mut c, key, json!(t));
        }
    }
    if let Some(l) = list(v, "ANALYTICS_SCRIPT_URLS") {
        set(&mut c, "analytics.scriptURLs", json!(l));
    }
    if let Some(l) = list(v, "ANALYTICS_WHITELISTED_EVENTS") {
        set(&mut c, "analytics.whiteListedEvents", json!(l));
    }

    // Dial in/out.
    if v.bool("ENABLE_JAAS_COMPONENTS") {
        set(
            &mut c,
            "dialInConfCodeUrl",
            json!("https://conference-mapper.jitsi.net/v1/access"),
        );
        set(
            &mut c,
            "dialInNumbersUrl",
            json!("https://conference-mapper.jitsi.net/v1/access/dids"),
        );
    } else {
        for (var, key) in [
            ("CONFCODE_URL", "dialInConfCodeUrl"),
            ("DIALIN_NUMBERS_URL", "dialInNumbersUrl"),
        ] {
            if let Some(t) = text(v, var) {
                set(&mut c, key, json!(t));
            }
        }
    }
    for (var, key) in [
        ("DIALOUT_AUTH_URL", "dialOutAuthUrl"),
        ("DIALOUT_CODES_URL", "dialOutCodesUrl"),
    ] {
        if let Some(t) = text(v, var) {
            set(&mut c, key, json!(t));
        }
    }

    // Calendar and invitations.
    set(
        &mut c,
        "enableCalendarIntegration",
        json!(v.bool("ENABLE_CALENDAR")),
    );
    for (var, key) in [
        ("GOOGLE_API_APP_CLIENT_ID", "googleApiApplicationClientID"),
        (
            "MICROSOFT_API_APP_CLIENT_ID",
            "microsoftApiApplicationClientID",
        ),
        ("INVITE_SERVICE_URL", "inviteServiceUrl"),
    ] {
        if let Some(t) = text(v, var) {
            set(&mut c, key, json!(t));
        }
    }
    if let Some(t) = text(v, "PEOPLE_SEARCH_URL") {
        set(&mut c, "peopleSearchUrl", json!(t));
        set(
            &mut c,
            "peopleSearchQueryTypes",
            json!(["user", "conferenceRooms"]),
        );
    }

    // Pre-join, welcome and close pages.
    set(
        &mut c,
        "prejoinConfig.enabled",
        json!(bool_or(v, "ENABLE_PREJOIN_PAGE", true)),
    );
    set(
        &mut c,
        "prejoinConfig.hideDisplayName",
        json!(v.bool("HIDE_PREJOIN_DISPLAY_NAME")),
    );
    if let Some(l) = list(v, "HIDE_PREJOIN_EXTRA_BUTTONS") {
        set(&mut c, "prejoinConfig.hideExtraJoinButtons", json!(l));
    }
    set(
        &mut c,
        "welcomePage.disabled",
        json!(!bool_or(v, "ENABLE_WELCOME_PAGE", true)),
    );
    set(
        &mut c,
        "enableClosePage",
        json!(v.bool("ENABLE_CLOSE_PAGE")),
    );
    if let Some(t) = text(v, "DEFAULT_LANGUAGE") {
        set(&mut c, "defaultLanguage", json!(t));
    }
    set(
        &mut c,
        "requireDisplayName",
        json!(v.bool("ENABLE_REQUIRE_DISPLAY_NAME")),
    );
    if let Some(raw) = v.get("CHROME_EXTENSION_BANNER_JSON") {
        let banner: Json = serde_json::from_str(raw).with_context(|| {
            format!(
                "CHROME_EXTENSION_BANNER_JSON: not valid JSON ({raw:?}); it must be a JSON object"
            )
        })?;
        set(&mut c, "chromeExtensionBanner", banner);
    }
    set(&mut c, "disableProfile", json!(v.bool("DISABLE_PROFILE")));
    if v.bool("ENABLE_JAAS_COMPONENTS") {
        set(&mut c, "roomPasswordNumberOfDigits", json!(10));
    } else {
        // The image pastes the value: a number, or false for any text.
        let raw = v.get_or("ROOM_PASSWORD_DIGITS", "false").trim();
        let digits = match raw.parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => json!(raw == "true"),
        };
        set(&mut c, "roomPasswordNumberOfDigits", digits);
    }

    // Advanced: written only when off (on is the app's default).
    if !bool_or(v, "ENABLE_REMB", true) {
        set(&mut c, "enableRemb", json!(false));
    }
    if !bool_or(v, "ENABLE_TCC", true) {
        set(&mut c, "enableTcc", json!(false));
    }

    // Transcription: closed captions are off when transcriptions are.
    set(&mut c, "transcription.enabled", json!(transcription));
    set(
        &mut c,
        "transcription.disableClosedCaptions",
        json!(!transcription),
    );
    set(
        &mut c,
        "transcription.translationLanguages",
        json!(js_string_list(v.get_or("TRANSLATION_LANGUAGES", "[]"))),
    );
    set(
        &mut c,
        "transcription.translationLanguagesHead",
        json!(js_string_list(
            v.get_or("TRANSLATION_LANGUAGES_HEAD", "['en']")
        )),
    );
    set(
        &mut c,
        "transcription.useAppLanguage",
        json!(bool_or(v, "USE_APP_LANGUAGE", true)),
    );
    set(
        &mut c,
        "transcription.preferredLanguage",
        json!(v.get_or("PREFERRED_LANGUAGE", "en-US")),
    );
    set(
        &mut c,
        "transcription.disableStartForAll",
        json!(v.bool("DISABLE_START_FOR_ALL")),
    );
    set(
        &mut c,
        "transcription.autoCaptionOnRecord",
        json!(v.bool("AUTO_CAPTION_ON_RECORD")),
    );
    set(
        &mut c,
        "audioTranslation.enabled",
        json!(v.bool("ENABLE_AUDIO_TRANSLATION")),
    );

    // Dynamic branding: the user's URL, else jitsi-stack's own branding
    // JSON when the BRANDING_* variables ask for one (render/branding.rs).
    if let Some(u) = text(v, "DYNAMIC_BRANDING_URL") {
        set(&mut c, "dynamicBrandingUrl", json!(u));
    } else if let Some(u) = text(v, "BRANDING_DATA_URL") {
        set(&mut c, "brandingDataUrl", json!(u));
    } else if let Some(u) = branding_url {
        set(&mut c, "dynamicBrandingUrl", json!(u));
    }
    if let Some(t) = text(v, "TOKEN_AUTH_URL") {
        set(&mut c, "tokenAuthUrl", json!(t));
    }

    // Deployment information.
    set(&mut c, "deploymentInfo", json!({}));
    for (var, key) in [
        ("DEPLOYMENTINFO_ENVIRONMENT", "deploymentInfo.environment"),
        ("DEPLOYMENTINFO_SHARD", "deploymentInfo.shard"),
        ("DEPLOYMENTINFO_ENVIRONMENT_TYPE", "deploymentInfo.envType"),
        ("DEPLOYMENTINFO_REGION", "deploymentInfo.region"),
    ] {
        if let Some(t) = text(v, var) {
            set(&mut c, key, json!(t));
        }
    }
    set(
        &mut c,
        "disableDeepLinking",
        json!(v.bool("DISABLE_DEEP_LINKING")),
    );
    if let Some(codec) = text(v, "P2P_PREFERRED_CODEC") {
        set(&mut c, "p2p.preferredCodec", json!(codec));
    }

    // Video quality through the bridge.
    set(
        &mut c,
        "videoQuality.codecPreferenceOrder",
        json!(js_string_list(nonempty_or(
            v,
            "CODEC_ORDER_JVB",
            CODEC_ORDER_DEFAULT
        ))),
    );
    set(
        &mut c,
        "videoQuality.mobileCodecPreferenceOrder",
        json!(js_string_list(nonempty_or(
            v,
            "CODEC_ORDER_JVB_MOBILE",
            CODEC_ORDER_MOBILE_DEFAULT
        ))),
    );
    set(
        &mut c,
        "videoQuality.enableAdaptiveMode",
        json!(bool_or(v, "ENABLE_ADAPTIVE_MODE", true)),
    );
    if let Some(codec) = text(v, "VIDEOQUALITY_PREFERRED_CODEC") {
        set(&mut c, "videoQuality.preferredCodec", json!(codec));
    }
    for codec in ["AV1", "H264", "VP8", "VP9"] {
        let lower = codec.to_ascii_lowercase();
        set(&mut c, &format!("videoQuality.{lower}"), json!({}));
        for (level, key) in [
            ("LOW", "low"),
            ("STANDARD", "standard"),
            ("HIGH", "high"),
            ("FULL", "fullHd"),
            ("ULTRA", "ultraHd"),
            ("SS_HIGH", "ssHigh"),
        ] {
            let var = format!("VIDEOQUALITY_BITRATE_{codec}_{level}");
            if let Some(raw) = v.raw(&var).filter(|s| !s.is_empty()) {
                let n: i64 = raw
                    .trim()
                    .parse()
                    .with_context(|| format!("{var}: expected a bitrate in bps, found {raw:?}"))?;
                set(&mut c, &format!("videoQuality.{lower}.{key}"), json!(n));
            }
        }
    }

    // Toolbar, reactions, polls, remote video menu.
    set(
        &mut c,
        "disableReactions",
        json!(v.bool("DISABLE_REACTIONS")),
    );
    set(&mut c, "disablePolls", json!(v.bool("DISABLE_POLLS")));
    if let Some(l) = list(v, "TOOLBAR_BUTTONS") {
        set(&mut c, "toolbarButtons", json!(l));
    }
    if let Some(l) = list(v, "HIDE_PREMEETING_BUTTONS") {
        set(&mut c, "hiddenPremeetingButtons", json!(l));
    }
    set(
        &mut c,
        "remoteVideoMenu.disabled",
        json!(v.bool("DISABLE_REMOTE_VIDEO_MENU")),
    );
    set(
        &mut c,
        "remoteVideoMenu.disableKick",
        json!(v.bool("DISABLE_KICKOUT")),
    );
    set(
        &mut c,
        "remoteVideoMenu.disableGrantModerator",
        json!(v.bool("DISABLE_GRANT_MODERATOR")),
    );
    set(
        &mut c,
        "remoteVideoMenu.disablePrivateChat",
        json!(v.bool("DISABLE_PRIVATE_CHAT")),
    );
    set(&mut c, "e2eping.enabled", json!(v.bool("ENABLE_E2EPING")));
    for (var, key) in [
        ("E2EPING_NUM_REQUESTS", "numRequests"),
        ("E2EPING_MAX_CONFERENCE_SIZE", "maxConferenceSize"),
        ("E2EPING_MAX_MESSAGE_PER_SECOND", "maxMessagePerSecond"),
    ] {
        if let Some(raw) = v.raw(var).filter(|s| !s.is_empty()) {
            let n: i64 = raw
                .trim()
                .parse()
                .with_context(|| format!("{var}: expected a whole number, found {raw:?}"))?;
            set(&mut c, &format!("e2eping.{key}"), json!(n));
        }
    }

    set(
        &mut c,
        "virtualBackground.enableV2",
        json!(bool_or(v, "ENABLE_VIRTUAL_BACKGROUND_V2", true)),
    );

    // Whiteboard: on when either of its URLs is set (the image's toBool of
    // the URL); the overlay alone does not turn it on, as in the image.
    set(
        &mut c,
        "whiteboard.enabled",
        json!(
            tpl_bool(v, "WHITEBOARD_COLLAB_SERVER_PUBLIC_URL")
                || tpl_bool(v, "WHITEBOARD_COLLAB_SERVER_URL_BASE")
        ),
    );
    if nonempty(v, "WHITEBOARD_COLLAB_SERVER_PUBLIC_URL") {
        set(
            &mut c,
            "whiteboard.collabServerBaseUrl",
            json!(v.get_or("WHITEBOARD_COLLAB_SERVER_PUBLIC_URL", "")),
        );
    } else if nonempty(v, "WHITEBOARD_COLLAB_SERVER_URL_BASE") {
        set(&mut c, "whiteboard.collabServerBaseUrl", json!(public_url));
    }

    set(&mut c, "testing.enableCodecSelectionAPI", json!(true));
    Ok((hosts, Json::Object(c)))
}

/// The value when set and not empty, else `default` (the templates'
/// `.Env.X | default "..."`: an empty value counts as unset).
fn nonempty_or<'a>(v: &'a Values, name: &str, default: &'a str) -> &'a str {
    match v.get(name) {
        Some(s) if !s.is_empty() => s,
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_lists_accept_both_forms() {
        assert_eq!(js_string_list("['en', 'de']"), ["en", "de"]);
        assert_eq!(js_string_list("[]"), Vec::<String>::new());
        assert_eq!(js_string_list("en,de"), ["en", "de"]);
    }

    #[test]
    fn nested_set() {
        let mut m = Map::new();
        set(&mut m, "a.b.c", json!(1));
        set(&mut m, "a.d", json!(2));
        assert_eq!(Json::Object(m), json!({"a": {"b": {"c": 1}, "d": 2}}));
    }

    #[test]
    fn nginx_refusal_names_the_variable() {
        let e = token("XMPP_DOMAIN", "x; return 301 https://evil").unwrap_err();
        assert!(format!("{e:#}").contains("XMPP_DOMAIN"));
        let e = quoted("CSP_HEADER", "a$b").unwrap_err();
        assert!(format!("{e:#}").contains("CSP_HEADER"));
    }
}
