//! Rendering of the web service (nginx + Jitsi Meet front end): config.js
//! and the nginx files the web image's boot script
//! (`/etc/s6-overlay/scripts/config`) would template from `/defaults`.
//! `interface_config.js` is not rendered: no variable feeds it; the image
//! copies the package's own and appends `CONFIG/web/custom-interface_config.js`.
//!
//! Every decision (websocket on? which certificate?) is made
//! here; the templates only print. Values bound for nginx are checked first
//! so a refusal names the variable.

use super::{escape, render_template, Output};
use crate::config::{Component, Stack, Values};
use crate::schema::kind;
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
/// Where the etherpad and whiteboard overlays put those services.
pub const ETHERPAD_URL_BASE: &str = "http://etherpad.meet.jitsi:9001";
pub const WHITEBOARD_URL_BASE: &str = "http://whiteboard.meet.jitsi:3000";

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
    let (hosts, config) = config_js(stack)?;
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
    let letsencrypt = https && v.bool("ENABLE_LETSENCRYPT");
    let (cert, cert_key) = if letsencrypt {
        let domain = v.get("LETSENCRYPT_DOMAIN").context(
            "ENABLE_LETSENCRYPT=1 needs LETSENCRYPT_DOMAIN (the public host name of the certificate)",
        )?;
        let domain = token("LETSENCRYPT_DOMAIN", domain)?;
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
    let etherpad = match v.get("ETHERPAD_URL_BASE") {
        Some(u) => Some(url_base("ETHERPAD_URL_BASE", u)?),
        None if stack.has(Component::Etherpad) => Some(ETHERPAD_URL_BASE.to_string()),
        None => None,
    };
    let whiteboard = match v.get("WHITEBOARD_COLLAB_SERVER_URL_BASE") {
        Some(u) => Some(url_base("WHITEBOARD_COLLAB_SERVER_URL_BASE", u)?),
        None if stack.has(Component::Whiteboard) => Some(WHITEBOARD_URL_BASE.to_string()),
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

/// The public origin (`host[:port]`) from PUBLIC_URL.
fn public_host(v: &Values) -> String {
    let url = v.get_or("PUBLIC_URL", "https://localhost:8443");
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// Computes config.js: the tenant-dependent host part and every other key.
fn config_js(stack: &Stack) -> Result<(Hosts, Json)> {
    let v = &stack.values;
    let mut c = Map::new();
    let domain = v.get_or("XMPP_DOMAIN", "meet.jitsi").to_string();
    let muc = v.get_or("XMPP_MUC_DOMAIN", "muc.meet.jitsi").to_string();
    let subdomains = bool_or(v, "ENABLE_SUBDOMAINS", true);
    let host = public_host(v);
    let public_url = v
        .get_or("PUBLIC_URL", "https://localhost:8443")
        .trim_end_matches('/')
        .to_string();
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

    let auth = v.bool("ENABLE_AUTH");
    if auth {
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

    // Video.
    let res = int(v, "RESOLUTION", 720)?;
    let res_min = int(v, "RESOLUTION_MIN", 180)?;
    let width = int(v, "RESOLUTION_WIDTH", 1280)?;
    let width_min = int(v, "RESOLUTION_WIDTH_MIN", 320)?;
    set(&mut c, "resolution", json!(res));
    set(
        &mut c,
        "constraints.video.height",
        json!({"ideal": res, "max": res, "min": res_min}),
    );
    set(
        &mut c,
        "constraints.video.width",
        json!({"ideal": width, "max": width, "min": width_min}),
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
    // The image sets a fixed frame rate only when automatic is off.
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
    if let Some(codec) = text(v, "VIDEOQUALITY_PREFERRED_CODEC") {
        set(&mut c, "videoQuality.preferredCodec", json!(codec));
    }
    for (var, key) in [
        ("CODEC_ORDER_JVB", "videoQuality.codecPreferenceOrder"),
        (
            "CODEC_ORDER_JVB_MOBILE",
            "videoQuality.mobileCodecPreferenceOrder",
        ),
        ("CODEC_ORDER_P2P", "p2p.codecPreferenceOrder"),
        ("CODEC_ORDER_P2P_MOBILE", "p2p.mobileCodecPreferenceOrder"),
    ] {
        if let Some(raw) = v.raw(var) {
            set(&mut c, key, json!(js_string_list(raw)));
        }
    }
    for codec in ["AV1", "H264", "VP8", "VP9"] {
        for (level, key) in [
            ("LOW", "low"),
            ("STANDARD", "standard"),
            ("HIGH", "high"),
            ("FULL", "fullHd"),
            ("ULTRA", "ultraHd"),
            ("SS_HIGH", "ssHigh"),
        ] {
            let var = format!("VIDEOQUALITY_BITRATE_{codec}_{level}");
            if let Some(raw) = v.raw(&var) {
                let n: i64 = raw
                    .trim()
                    .parse()
                    .with_context(|| format!("{var}: expected a bitrate in bps, found {raw:?}"))?;
                set(
                    &mut c,
                    &format!("videoQuality.{}.{key}", codec.to_ascii_lowercase()),
                    json!(n),
                );
            }
        }
    }
    set(
        &mut c,
        "videoQuality.enableAdaptiveMode",
        json!(bool_or(v, "ENABLE_ADAPTIVE_MODE", true)),
    );

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
        "disableAGC",
        json!(!bool_or(v, "ENABLE_AUTOMATIC_GAIN_CONTROL", true)),
    );
    set(
        &mut c,
        "disableAP",
        json!(!bool_or(v, "ENABLE_AUDIO_PROCESSING", true)),
    );
    set(
        &mut c,
        "audioQuality.stereo",
        json!(v.bool("ENABLE_STEREO")),
    );
    if let Some(b) = text(v, "AUDIO_QUALITY_OPUS_BITRATE") {
        set(&mut c, "audioQuality.opusMaxAverageBitrate", json!(b));
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

    // Peer to peer.
    set(&mut c, "p2p.enabled", json!(bool_or(v, "ENABLE_P2P", true)));
    if let Some(codec) = text(v, "P2P_PREFERRED_CODEC") {
        set(&mut c, "p2p.preferredCodec", json!(codec));
    }
    if let Some(stun) = list(v, "P2P_STUN_SERVERS") {
        let servers: Vec<Json> = stun.iter().map(|u| json!({ "urls": u })).collect();
        set(&mut c, "p2p.stunServers", Json::Array(servers));
    }

    set(
        &mut c,
        "hideAddRoomButton",
        json!(!bool_or(v, "ENABLE_BREAKOUT_ROOMS", true)),
    );

    // Etherpad and whiteboard.
    if let Some(url) = text(v, "ETHERPAD_PUBLIC_URL") {
        set(&mut c, "etherpad_base", json!(url));
    } else if v.get("ETHERPAD_URL_BASE").is_some() || stack.has(Component::Etherpad) {
        set(
            &mut c,
            "etherpad_base",
            json!(format!("{public_url}/etherpad/p/")),
        );
    }
    let whiteboard = v.get("WHITEBOARD_COLLAB_SERVER_PUBLIC_URL").is_some()
        || v.get("WHITEBOARD_COLLAB_SERVER_URL_BASE").is_some()
        || stack.has(Component::Whiteboard);
    if whiteboard {
        set(&mut c, "whiteboard.enabled", json!(true));
        set(
            &mut c,
            "whiteboard.collabServerBaseUrl",
            json!(v
                .get("WHITEBOARD_COLLAB_SERVER_PUBLIC_URL")
                .unwrap_or(&public_url)),
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
                json!(v.get_or(var, default)),
            );
        }
        if let Some(key) = text(v, "DROPBOX_APPKEY") {
            set(&mut c, "dropbox.appKey", json!(key));
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
        ("GOOGLE_API_APP_CLIENT_ID", "googleApiApplicationClientID"),
        (
            "MICROSOFT_API_APP_CLIENT_ID",
            "microsoftApiApplicationClientID",
        ),
        ("INVITE_SERVICE_URL", "inviteServiceUrl"),
        ("DEFAULT_LANGUAGE", "defaultLanguage"),
        ("TOKEN_AUTH_URL", "tokenAuthUrl"),
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
    set(
        &mut c,
        "enableCalendarIntegration",
        json!(v.bool("ENABLE_CALENDAR")),
    );

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
    if let Some(l) = list(v, "HIDE_PREMEETING_BUTTONS") {
        set(&mut c, "hiddenPremeetingButtons", json!(l));
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
        let digits = match v.get("ROOM_PASSWORD_DIGITS") {
            Some(s) => match s.trim().parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) => json!(false),
            },
            None => json!(false),
        };
        set(&mut c, "roomPasswordNumberOfDigits", digits);
    }

    // Advanced.
    // Written only when off, as the image does (on is the app's default).
    if !bool_or(v, "ENABLE_REMB", true) {
        set(&mut c, "enableRemb", json!(false));
    }
    if !bool_or(v, "ENABLE_TCC", true) {
        set(&mut c, "enableTcc", json!(false));
    }

    // Transcription.
    set(&mut c, "transcription.enabled", json!(transcription));
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

    if let Some(u) = text(v, "DYNAMIC_BRANDING_URL") {
        set(&mut c, "dynamicBrandingUrl", json!(u));
    } else if let Some(u) = text(v, "BRANDING_DATA_URL") {
        set(&mut c, "brandingDataUrl", json!(u));
    }

    // Deployment information.
    for (var, key) in [
        ("DEPLOYMENTINFO_ENVIRONMENT", "deploymentInfo.environment"),
        ("DEPLOYMENTINFO_ENVIRONMENT_TYPE", "deploymentInfo.envType"),
        ("DEPLOYMENTINFO_REGION", "deploymentInfo.region"),
        ("DEPLOYMENTINFO_SHARD", "deploymentInfo.shard"),
    ] {
        if let Some(t) = text(v, var) {
            set(&mut c, key, json!(t));
        }
    }

    // Toolbar and moderation.
    if let Some(l) = list(v, "TOOLBAR_BUTTONS") {
        set(&mut c, "toolbarButtons", json!(l));
    }
    set(
        &mut c,
        "disableDeepLinking",
        json!(v.bool("DISABLE_DEEP_LINKING")),
    );
    set(&mut c, "disablePolls", json!(v.bool("DISABLE_POLLS")));
    set(
        &mut c,
        "disableReactions",
        json!(v.bool("DISABLE_REACTIONS")),
    );
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
    {
        for (var, key) in [
            ("E2EPING_NUM_REQUESTS", "numRequests"),
            ("E2EPING_MAX_CONFERENCE_SIZE", "maxConferenceSize"),
            ("E2EPING_MAX_MESSAGE_PER_SECOND", "maxMessagePerSecond"),
        ] {
            if let Some(raw) = v.get(var) {
                let n: i64 = raw
                    .trim()
                    .parse()
                    .with_context(|| format!("{var}: expected a whole number, found {raw:?}"))?;
                set(&mut c, &format!("e2eping.{key}"), json!(n));
            }
        }
    }
    if v.bool("RTCSTATS_ENABLED") {
        set(&mut c, "analytics.rtcstatsEnabled", json!(true));
        set(
            &mut c,
            "analytics.rtcstatsStoreLogs",
            json!(v.bool("RTCSTATS_STORE_LOGS")),
        );
        set(
            &mut c,
            "analytics.rtcstatsSendSdp",
            json!(v.bool("RTCSTATS_SEND_SDP")),
        );
        set(
            &mut c,
            "analytics.rtcstatsEndpoint",
            json!(format!("wss://{host}/rtcstats-ws/")),
        );
        set(
            &mut c,
            "analytics.rtcstatsPollInterval",
            json!(int(v, "RTCSTATS_POLL_INTERVAL", 10000)?),
        );
    }
    Ok((hosts, Json::Object(c)))
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
