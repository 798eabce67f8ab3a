//! render_jvm tests: jicofo and videobridge configs, read back by Typesafe
//! Config and java.util.Properties (the libraries the services use).

use crate::harness::{init_stack, init_stack_raw, Run, Test};
use crate::jvm_check::{at, hocon, hocon_ok, properties, properties_ok, str_at};
use serde_json::{json, Value};
use std::path::PathBuf;

/// A stack from `init` with `extra` appended to `.env`, rendered with the
/// components `with` (given to `render`, not `init`, so `init` does not
/// refuse components whose settings `extra` supplies).
fn render(extra: &[(&str, &str)], with: &[&str]) -> Run {
    let mut args = vec!["render".to_string()];
    if !with.is_empty() {
        args.extend(["--with".to_string(), with.join(",")]);
    }
    Test::again(init_stack_raw(extra, &[])).args(args).run()
}

const SIP: &[(&str, &str)] = &[
    ("JIGASI_SIP_URI", "gw@sip.example.org"),
    ("JIGASI_SIP_PASSWORD", "sip-password-123"),
    ("JIGASI_SIP_SERVER", "sip.example.org"),
    ("ENABLE_TRANSCRIPTIONS", "1"),
];

fn env_value(run: &Run, name: &str) -> String {
    let text = run.read(".env");
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} not in .env"));
    line[name.len() + 1..].trim_matches('"').to_string()
}

fn jicofo(run: &Run) -> Value {
    let v = hocon_ok(&run.path().join("generated/jicofo/jicofo.conf"));
    at(&v, &["jicofo"]).clone()
}

fn jvb(run: &Run, instance: &str) -> Value {
    hocon_ok(&run.path().join(format!("generated/{instance}/jvb.conf")))
}

fn shard(v: &Value) -> &Value {
    at(
        v,
        &["videobridge", "apis", "xmpp-client", "configs", "shard0"],
    )
}

#[test]
fn defaults_read_back_as_the_image_would_render_them() {
    let run = render(&[], &[]);
    let j = jicofo(&run);
    let client = at(&j, &["xmpp", "client"]);
    assert_eq!(client["hostname"], "xmpp.meet.jitsi");
    assert_eq!(client["port"], 5222);
    assert_eq!(client["domain"], "auth.meet.jitsi");
    assert_eq!(client["xmpp-domain"], "meet.jitsi");
    assert_eq!(client["username"], "focus");
    assert_eq!(client["password"], env_value(&run, "JICOFO_AUTH_PASSWORD"));
    assert_eq!(client["conference-muc-jid"], "muc.meet.jitsi");
    assert_eq!(client["client-proxy"], "focus.meet.jitsi");
    assert_eq!(
        at(&j, &["bridge", "brewery-jid"]),
        "jvbbrewery@internal-muc.meet.jitsi"
    );
    // No authentication, recording or gateway unless asked for.
    for absent in ["authentication", "jibri", "jigasi", "transcription", "rest"] {
        assert!(j.get(absent).is_none(), "{absent}: {j:#}");
    }
    assert_eq!(at(&j, &["sctp", "enabled"]), true);
    assert_eq!(at(&j, &["octo", "enabled"]), false);
    assert_eq!(at(&j, &["conference", "max-ssrcs-per-user"]), 20);
    assert_eq!(at(&j, &["conference", "max-ssrc-groups-per-user"]), 20);
    assert_eq!(at(&j, &["xmpp", "trusted-domains"]), &json!([]));

    let b = jvb(&run, "jvb");
    let s = shard(&b);
    assert_eq!(s["HOSTNAME"], "xmpp.meet.jitsi");
    assert_eq!(s["PORT"], "5222");
    assert_eq!(s["DOMAIN"], "auth.meet.jitsi");
    assert_eq!(s["USERNAME"], "jvb");
    assert_eq!(s["PASSWORD"], env_value(&run, "JVB_AUTH_PASSWORD"));
    assert_eq!(s["MUC_JIDS"], "jvbbrewery@internal-muc.meet.jitsi");
    assert_eq!(s["MUC_NICKNAME"], "jvb");
    assert_eq!(at(&b, &["videobridge", "ice", "udp", "port"]), 10000);
    assert_eq!(
        at(&b, &["ice4j", "harvest", "mapping", "stun", "addresses"]),
        &json!(["meet-jit-si-turnrelay.jitsi.net:443"])
    );
    assert_eq!(
        at(&b, &["ice4j", "harvest", "mapping", "aws", "enabled"]),
        false
    );
    assert_eq!(
        at(&b, &["ice4j", "harvest", "mapping", "static-mappings"]),
        &json!([])
    );
    assert_eq!(at(&b, &["jmt", "bwe", "estimator", "engine"]), "GoogleCc2");
    // The pinned release has no colibri websockets and no public server.
    assert!(at(&b, &["videobridge"]).get("websockets").is_none());
    assert!(at(&b, &["videobridge", "http-servers"])
        .get("public")
        .is_none());
    assert_eq!(
        at(&b, &["videobridge", "http-servers", "private", "host"]),
        "0.0.0.0"
    );

    for svc in ["jicofo", "jvb"] {
        let p = properties_ok(
            &run.path()
                .join(format!("generated/{svc}/logging.properties")),
        );
        assert_eq!(p["handlers"], "java.util.logging.ConsoleHandler");
        assert_eq!(p[".level"], "INFO");
    }
    for f in [
        "generated/jicofo/jicofo.conf",
        "generated/jvb/jvb.conf",
        "generated/jvb/logging.properties",
    ] {
        assert!(!run.read(f).contains("{{"), "{f}");
    }
}

#[test]
fn auth_types_set_jicofo_authentication() {
    for (auth, kind) in [
        ("internal", "XMPP"),
        ("jwt", "JWT"),
        ("ldap", "XMPP"),
        ("matrix", "XMPP"),
    ] {
        let mut extra = vec![("ENABLE_AUTH", "1"), ("AUTH_TYPE", auth)];
        match auth {
            "jwt" => extra.extend([
                ("JWT_APP_ID", "app"),
                ("JWT_APP_SECRET", "s3cret-value-long"),
            ]),
            "ldap" => extra.push(("LDAP_URL", "ldaps://ldap.example.org")),
            "matrix" => extra.push(("MATRIX_UVS_URL", "https://uvs.example.org")),
            _ => {}
        }
        let run = render(&extra, &[]);
        let a = at(&jicofo(&run), &["authentication"]).clone();
        assert_eq!(a["enabled"], true, "{auth}");
        assert_eq!(a["type"], kind, "{auth}");
        assert_eq!(a["login-url"], "meet.jitsi", "{auth}");
        assert_eq!(a["enable-auto-login"], true, "{auth}");
        assert_eq!(a["authentication-lifetime"], "24 hours", "{auth}");
    }
    // JICOFO_ENABLE_AUTH overrides ENABLE_AUTH for jicofo only.
    let run = render(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "internal"),
            ("JICOFO_ENABLE_AUTH", "0"),
        ],
        &[],
    );
    assert!(jicofo(&run).get("authentication").is_none());
}

#[test]
fn recording_transcription_and_gateways_reach_jicofo() {
    let mut extra = SIP.to_vec();
    extra.extend([
        ("JIBRI_REQUEST_RETRIES", "3"),
        ("XMPP_RECORDER_DOMAIN", "recorder.meet.jitsi"),
    ]);
    let run = render(&extra, &["jibri", "jigasi", "transcriber"]);
    let j = jicofo(&run);
    assert_eq!(
        at(&j, &["jibri", "brewery-jid"]),
        "jibribrewery@internal-muc.meet.jitsi"
    );
    assert_eq!(at(&j, &["jibri", "num-retries"]), 3);
    assert_eq!(at(&j, &["jibri", "pending-timeout"]), "90 seconds");
    assert_eq!(
        at(&j, &["jigasi", "brewery-jid"]),
        "jigasibrewery@internal-muc.meet.jitsi"
    );
    // The old recorder domain stands in for the hidden domain, as in the
    // images' boot scripts; prosody and config.js agree.
    assert_eq!(
        at(&j, &["xmpp", "trusted-domains"]),
        &json!(["recorder.meet.jitsi"])
    );
    assert!(run
        .read("generated/prosody/jitsi-meet.cfg.lua")
        .contains("\"recorder.meet.jitsi\""));
}

#[test]
fn the_jibri_component_alone_turns_recording_on_everywhere() {
    // `render --with jibri` on a stack made without it: ENABLE_RECORDING unset.
    let run = Test::again(init_stack(&[], &[]))
        .args(["render", "--with", "jibri"])
        .run();
    assert!(!run.read(".env").contains("\nENABLE_RECORDING="));
    let j = jicofo(&run);
    assert_eq!(
        at(&j, &["jibri", "brewery-jid"]),
        "jibribrewery@internal-muc.meet.jitsi"
    );
    assert_eq!(
        at(&j, &["xmpp", "trusted-domains"]),
        &json!(["hidden.meet.jitsi"])
    );
    assert!(run
        .read("generated/prosody/jitsi-meet.cfg.lua")
        .contains("\"hidden.meet.jitsi\""));
}

#[test]
fn jicofo_settings_read_back() {
    let run = render(
        &[
            ("MAX_BRIDGE_PARTICIPANTS", "40"),
            ("BRIDGE_STRESS_THRESHOLD", "0.7"),
            ("BRIDGE_AVG_PARTICIPANT_STRESS", "0.02"),
            (
                "OCTO_BRIDGE_SELECTION_STRATEGY",
                "SplitBridgeSelectionStrategy",
            ),
            ("JICOFO_ENABLE_BRIDGE_HEALTH_CHECKS", "1"),
            ("JICOFO_HEALTH_CHECKS_USE_PRESENCE", "true"),
            ("JICOFO_ENABLE_ICE_FAILURE_DETECTION", "1"),
            ("JICOFO_ICE_FAILURE_INTERVAL", "90"),
            ("JICOFO_ENABLE_LOAD_REDISTRIBUTION", "1"),
            (
                "JICOFO_BRIDGE_REGION_GROUPS",
                r#"["us-east","us-west"],["eu-central"]"#,
            ),
            ("ENABLE_CODEC_VP8", "0"),
            ("ENABLE_CODEC_AV1", "1"),
            ("ENABLE_CODEC_OPUS_RED", "true"),
            ("ENABLE_VLA", "1"),
            ("ENABLE_AUTO_OWNER", "0"),
            ("JICOFO_CONF_INITIAL_PARTICIPANT_WAIT_TIMEOUT", "30 seconds"),
            (
                "JICOFO_CONF_SOURCE_SIGNALING_DELAYS",
                "{ 50 = 500, 100 = 1000 }",
            ),
            ("JICOFO_CONF_MAX_AUDIO_SENDERS", "5"),
            ("JICOFO_CONF_SSRC_REWRITING", "0"),
            ("MAX_SSRCS_PER_USER", "30"),
            ("ENABLE_SHARED_DOCUMENT_RANDOM_NAME", "1"),
            ("JICOFO_RESTART_REQUEST_MAX", "3"),
            ("JICOFO_OCTO_REGION", "eu-central"),
            ("ENABLE_OCTO", "1"),
            ("JICOFO_ENABLE_REST", "1"),
            ("JICOFO_TRUSTED_DOMAINS", "a.example, b.example"),
            (
                "JICOFO_TRANSLATION_URL_TEMPLATE",
                "wss://{{REGION}}.tr.example/r/{{MEETING_ID}}",
            ),
            ("JICOFO_TRANSLATION_CF_ACCESS_CLIENT_ID", "client-id"),
            (
                "JICOFO_TRANSLATION_CF_ACCESS_CLIENT_SECRET",
                "cf-secret-0123456789",
            ),
        ],
        &[],
    );
    let j = jicofo(&run);
    let b = at(&j, &["bridge"]);
    assert_eq!(b["max-bridge-participants"], 40);
    assert_eq!(b["stress-threshold"], "0.7");
    assert_eq!(b["average-participant-stress"], "0.02");
    assert_eq!(b["selection-strategy"], "SplitBridgeSelectionStrategy");
    assert_eq!(
        b["health-checks"],
        json!({"enabled": true, "use-presence": true})
    );
    assert_eq!(
        b["ice-failure-detection"],
        json!({"enabled": true, "interval": "90 seconds", "min-endpoints": 40, "threshold": "0.1"})
    );
    assert_eq!(b["load-redistribution"]["enabled"], true);
    assert_eq!(
        b["region-groups"],
        json!([["us-east", "us-west"], ["eu-central"]])
    );
    let c = at(&j, &["codec"]);
    assert_eq!(
        c["video"],
        json!({"vp8": {"enabled": false}, "av1": {"enabled": true}})
    );
    assert_eq!(c["audio"]["opus"]["red"]["enabled"], true);
    assert_eq!(
        c["rtp-extensions"]["video-layers-allocation"]["enabled"],
        true
    );
    let conf = at(&j, &["conference"]);
    assert_eq!(conf["enable-auto-owner"], false);
    assert_eq!(conf["initial-timeout"], "30 seconds");
    assert_eq!(
        conf["source-signaling-delays"],
        json!({"50": 500, "100": 1000})
    );
    assert_eq!(conf["max-audio-senders"], 5);
    assert_eq!(conf["use-ssrc-rewriting"], false);
    assert_eq!(conf["max-ssrcs-per-user"], 30);
    assert_eq!(conf["max-ssrc-groups-per-user"], 30);
    assert_eq!(conf["shared-document"]["use-random-name"], true);
    assert_eq!(
        conf["restart-request-rate-limits"],
        json!({"max-requests": 3, "interval": "60 seconds"})
    );
    assert_eq!(j["local-region"], "eu-central");
    assert_eq!(
        j["octo"],
        json!({"enabled": true, "sctp-datachannels": true})
    );
    assert_eq!(j["rest"]["host"], "0.0.0.0");
    assert_eq!(
        at(&j, &["xmpp", "trusted-domains"]),
        &json!(["a.example", "b.example"])
    );
    // jicofo's own template syntax survives the image's Go renderer escaped.
    let t = at(&j, &["transcription"]);
    assert_eq!(
        t["url-template"],
        "wss://{{REGION}}.tr.example/r/{{MEETING_ID}}"
    );
    assert_eq!(t["http-headers"]["CF-Access-Client-Id"], "client-id");
    assert_eq!(
        t["http-headers"]["CF-Access-Client-Secret"],
        "cf-secret-0123456789"
    );
    assert!(!run.read("generated/jicofo/jicofo.conf").contains("{{"));
}

#[test]
fn raw_hocon_passthroughs_are_refused_unless_they_parse() {
    for (var, value) in [
        (
            "JICOFO_BRIDGE_REGION_GROUPS",
            r#"["a"]] } jicofo { xmpp { client { password = "x"#,
        ),
        (
            "JICOFO_CONF_SOURCE_SIGNALING_DELAYS",
            "50 = 500 } evil = { x = 1",
        ),
    ] {
        let run = init_stack_raw(&[(var, value)], &[]);
        let run = Test::again(run).args(["render"]).status(1).run();
        assert!(run.stderr.contains(var), "{var}: {}", run.stderr);
        assert!(!run.exists("generated"), "{var}: something was written");
    }
}

#[test]
fn several_bridges_get_their_own_port_nickname_and_mappings() {
    let run = render(
        &[
            ("JVB_INSTANCES", "3"),
            ("JVB_ADVERTISE_IPS", "203.0.113.7,2001:db8::7#30000"),
        ],
        &[],
    );
    let files: Vec<PathBuf> = ["jvb", "jvb-2", "jvb-3"]
        .iter()
        .map(|b| run.path().join(format!("generated/{b}/jvb.conf")))
        .collect();
    let parsed: Vec<Value> = hocon(&files).into_iter().map(|r| r.unwrap()).collect();
    let password = env_value(&run, "JVB_AUTH_PASSWORD");
    for (n, (name, b)) in ["jvb", "jvb-2", "jvb-3"].iter().zip(&parsed).enumerate() {
        assert_eq!(
            at(b, &["videobridge", "ice", "udp", "port"]),
            10000 + n as u64
        );
        assert_eq!(shard(b)["MUC_NICKNAME"], *name);
        assert_eq!(shard(b)["PASSWORD"], password);
        assert_eq!(
            at(b, &["ice4j", "harvest", "mapping", "static-mappings"]),
            &json!([
                {"local-address": name, "public-address": "203.0.113.7", "name": "ip-0"},
                {"local-address": name, "public-address": "2001:db8::7",
                 "local-port": 10000 + n, "public-port": 30000 + n, "name": "ip-1"},
            ])
        );
    }
    // The compose file publishes exactly the port each bridge listens on.
    let compose = run.read("docker-compose.yml");
    for p in ["10000:10000/udp", "10001:10001/udp", "10002:10002/udp"] {
        assert!(compose.contains(p), "{p}");
    }
}

#[test]
fn jvb_settings_read_back() {
    let run = render(
        &[
            ("JVB_MUC_NICKNAME", "bridge-a"),
            ("JVB_INSTANCES", "2"),
            ("JVB_DISABLE_STUN", "1"),
            ("COLIBRI_REST_ENABLED", "true"),
            ("SHUTDOWN_REST_ENABLED", "true"),
            ("JVB_ADVERTISE_PRIVATE_CANDIDATES", "false"),
            ("JVB_CC_TRUST_BWE", "false"),
            ("ENABLE_VLA", "1"),
            ("BWE_ESTIMATOR_ENGINE", "GoogleCc"),
            ("DISABLE_AWS_HARVESTER", "false"),
            ("JVB_REQUIRE_VALID_ADDRESS", "1"),
            ("JVB_USE_USRSCTP", "true"),
            ("ENABLE_OCTO", "1"),
            ("JVB_OCTO_REGION", "us-east"),
            ("JVB_OCTO_RELAY_ID", "relay"),
            ("JVB_SENTRY_DSN", "https://key@sentry.example.org/1"),
        ],
        &[],
    );
    let parsed: Vec<Value> = hocon(&[
        run.path().join("generated/jvb/jvb.conf"),
        run.path().join("generated/jvb-2/jvb.conf"),
    ])
    .into_iter()
    .map(|r| r.unwrap())
    .collect();
    for (n, b) in parsed.iter().enumerate() {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{}", n + 1)
        };
        assert_eq!(shard(b)["MUC_NICKNAME"], format!("bridge-a{suffix}"));
        let vb = at(b, &["videobridge"]);
        assert_eq!(vb["apis"]["rest"]["enabled"], true);
        assert_eq!(vb["rest"]["shutdown"]["enabled"], true);
        assert_eq!(vb["ice"]["advertise-private-candidates"], false);
        assert_eq!(
            vb["cc"],
            json!({"trust-bwe": false, "use-vla-target-bitrate": true})
        );
        assert_eq!(vb["health"]["require-valid-address"], true);
        assert_eq!(vb["sctp"], json!({"enabled": true, "use-usrsctp": true}));
        assert_eq!(
            vb["relay"],
            json!({"enabled": true, "region": "us-east", "relay-id": format!("relay{suffix}")})
        );
        assert_eq!(
            str_at(b, &["jmt", "bwe", "estimator", "engine"]),
            "GoogleCc"
        );
        let m = at(b, &["ice4j", "harvest", "mapping"]);
        assert_eq!(m["stun"], json!({"enabled": false}));
        assert_eq!(m["aws"]["enabled"], true);
    }
    let p = properties_ok(&run.path().join("generated/jvb-2/logging.properties"));
    assert_eq!(
        p["handlers"],
        "java.util.logging.ConsoleHandler,io.sentry.jul.SentryHandler"
    );
    assert_eq!(p["io.sentry.jul.SentryHandler.level"], "WARNING");
}

#[test]
fn bridges_can_run_without_xmpp_or_on_their_own_server() {
    let run = render(&[("JVB_DISABLE_XMPP", "1")], &[]);
    assert!(at(&jvb(&run, "jvb"), &["videobridge", "apis"])
        .get("xmpp-client")
        .is_none());

    let run = render(&[("ENABLE_JVB_XMPP_SERVER", "1")], &[]);
    let s = shard(&jvb(&run, "jvb")).clone();
    assert_eq!(s["HOSTNAME"], "xmpp.jvb.meet.jitsi");
    assert_eq!(s["PORT"], "6222");
    assert_eq!(s["DOMAIN"], "auth.jvb.meet.jitsi");
    assert_eq!(s["MUC_JIDS"], "jvbbrewery@muc.jvb.meet.jitsi");
    let j = jicofo(&run);
    assert_eq!(
        at(&j, &["bridge", "brewery-jid"]),
        "jvbbrewery@muc.jvb.meet.jitsi"
    );
    let svc = at(&j, &["xmpp", "service"]);
    assert_eq!(svc["hostname"], "xmpp.jvb.meet.jitsi");
    assert_eq!(svc["port"], 6222);
    assert_eq!(svc["password"], env_value(&run, "JICOFO_AUTH_PASSWORD"));
}

/// Values an attacker or a careless paste could put in `.env`.
const HOSTILE: &[&str] = &[
    "pa\"ss\"word",
    "back\\slash\\",
    "x\"\n PASSWORD = \"evil",
    "${HOME} and ${?PATH}",
    "{{ .Env.JVB_AUTH_PASSWORD }}",
    "]] } include \"file:///etc/passwd\" {",
    "semi; colon # hash // slashes",
    "ünïcødé ✓ 😀 \u{2028}",
    "trailing space ",
];

#[test]
fn hostile_secrets_and_text_read_back_exactly() {
    let long = "Ab1\"{".repeat(1000);
    let mut cases: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    cases.push(long);
    for (i, value) in cases.iter().enumerate() {
        let nick = format!("nick {value}");
        let pairs: Vec<(&str, String)> = vec![
            ("JICOFO_AUTH_PASSWORD", format!("j{i}-{value}")),
            ("JVB_AUTH_PASSWORD", format!("v{i}-{value}")),
            ("JVB_MUC_NICKNAME", nick.clone()),
            (
                "JICOFO_TRANSLATION_CF_ACCESS_CLIENT_SECRET",
                format!("cf{i}-{value}"),
            ),
            (
                "JICOFO_TRANSLATION_URL_TEMPLATE",
                format!("wss://t.example/{value}"),
            ),
            ("JIBRI_PENDING_TIMEOUT", "2 minutes".to_string()),
        ];
        let extra: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let run = render(&extra, &[]);
        let files = [
            run.path().join("generated/jicofo/jicofo.conf"),
            run.path().join("generated/jvb/jvb.conf"),
        ];
        for f in &files {
            assert!(
                !std::fs::read_to_string(f).unwrap().contains("{{"),
                "{value:?}"
            );
        }
        let parsed: Vec<Value> = hocon(&files)
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{value:?}: {e}")))
            .collect();
        let j = at(&parsed[0], &["jicofo"]);
        assert_eq!(j["xmpp"]["client"]["password"], format!("j{i}-{value}"));
        assert_eq!(
            j["transcription"]["http-headers"]["CF-Access-Client-Secret"],
            format!("cf{i}-{value}")
        );
        assert_eq!(
            j["transcription"]["url-template"],
            format!("wss://t.example/{value}")
        );
        assert_eq!(shard(&parsed[1])["PASSWORD"], format!("v{i}-{value}"));
        assert_eq!(shard(&parsed[1])["MUC_NICKNAME"], nick);
        // One XMPP client, one shard: nothing was injected beside them.
        assert_eq!(j["xmpp"].as_object().unwrap().len(), 2, "{value:?}");
        assert_eq!(
            at(
                &parsed[1],
                &["videobridge", "apis", "xmpp-client", "configs"]
            )
            .as_object()
            .unwrap()
            .len(),
            1
        );
    }
}

#[test]
fn logging_properties_load_cleanly_everywhere() {
    let run = render(&[("JICOFO_SENTRY_DSN", "0"), ("JVB_INSTANCES", "2")], &[]);
    let files: Vec<PathBuf> = ["jicofo", "jvb", "jvb-2"]
        .iter()
        .map(|s| run.path().join(format!("generated/{s}/logging.properties")))
        .collect();
    for (f, p) in files.iter().zip(properties(&files)) {
        let p = p.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        // The compose default "0" means Sentry off.
        assert_eq!(
            p["handlers"],
            "java.util.logging.ConsoleHandler",
            "{}",
            f.display()
        );
        assert_eq!(
            p["java.util.logging.ConsoleHandler.formatter"],
            "org.jitsi.utils.logging2.JitsiLogFormatter"
        );
    }
}

#[test]
fn every_mount_row_points_at_a_rendered_file() {
    use jitsi_stack::render::mounts;
    let mut extra = SIP.to_vec();
    extra.extend([
        ("JVB_INSTANCES", "2"),
        ("JIBRI_INSTANCES", "2"),
        ("ENABLE_VISITORS", "1"),
        ("JITSI_STACK_VISITORS", "2"),
    ]);
    let run = render(&extra, &["jibri", "jigasi", "transcriber", "turn"]);
    let compose: String = [
        "docker-compose.yml",
        "jibri.yml",
        "jigasi.yml",
        "transcriber.yml",
        "turn.yml",
    ]
    .iter()
    .map(|f| run.read(f))
    .collect();
    for m in mounts::MOUNTS {
        let instances: Vec<String> = match m.service {
            "jvb" => vec!["jvb".into(), "jvb-2".into()],
            "jibri" => vec!["jibri".into(), "jibri-2".into()],
            mounts::VISITOR_ROWS => vec!["prosody-v0".into(), "prosody-v1".into()],
            s => vec![s.to_string()],
        };
        for inst in instances {
            let src = m.source(&inst);
            let rel = src.trim_start_matches("./");
            assert!(run.exists(rel), "{m:?}: {rel} is not rendered");
            assert!(
                compose.contains(&m.volume(&inst)),
                "{m:?}: not mounted for {inst}"
            );
        }
    }
}
