//! render_jibri tests: recorder configs, read back by Typesafe Config and
//! java.util.Properties; the jibri overlay checked by Compose v2.

use crate::harness::{init_stack, Run, Test};
use crate::jvm_check::{at, hocon, properties, str_at};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The four files every recorder gets, in `generated/<instance>/`.
const FILES: &[&str] = &[
    "jibri.conf",
    "xmpp.conf",
    "logging.properties",
    "xorg-video-dummy.conf",
];

/// `extra` (raw values, encoded here) appended to a fresh stack's `.env`.
fn stack(extra: &[(&str, &str)]) -> Run {
    crate::harness::init_stack_raw(extra, &[])
}

/// Renders with the jibri component.
fn render(extra: &[(&str, &str)]) -> Run {
    Test::again(stack(extra))
        .args(["render", "--with", "jibri"])
        .run()
}

/// Render must fail naming `var`, and write nothing.
fn assert_refused(extra: &[(&str, &str)], var: &str) {
    let run = Test::again(stack(extra))
        .args(["render", "--with", "jibri"])
        .status(1)
        .run();
    assert!(run.stderr.contains(var), "{extra:?}: {}", run.stderr);
    assert!(!run.exists("generated"), "{extra:?}: something was written");
}

fn env_value(run: &Run, name: &str) -> String {
    let f = jitsi_stack::envfile::EnvFile::read(&run.path().join(".env")).unwrap();
    f.get(name)
        .unwrap_or_else(|| panic!("{name} not in .env"))
        .to_string()
}

fn file(run: &Run, instance: &str, name: &str) -> PathBuf {
    run.path().join(format!("generated/{instance}/{name}"))
}

/// `jibri.conf` of each instance, parsed with its includes (xmpp.conf).
fn jibri_confs(run: &Run, instances: &[&str]) -> Vec<Value> {
    let files: Vec<PathBuf> = instances
        .iter()
        .map(|i| file(run, i, "jibri.conf"))
        .collect();
    hocon(&files)
        .into_iter()
        .map(|r| at(&r.unwrap_or_else(|e| panic!("{e}")), &["jibri"]).clone())
        .collect()
}

/// The single XMPP environment of a parsed `jibri` object.
fn environment(j: &Value) -> &Value {
    let envs = at(j, &["api", "xmpp", "environments"]).as_array().unwrap();
    assert_eq!(envs.len(), 1, "{envs:#?}");
    &envs[0]
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn defaults_read_back_as_the_image_would_render_them() {
    let run = render(&[]);
    let files: Vec<PathBuf> = ["jibri.conf", "xmpp.conf"]
        .iter()
        .map(|f| file(&run, "jibri", f))
        .collect();
    let parsed: Vec<Value> = hocon(&files)
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let j = at(&parsed[0], &["jibri"]);
    // xmpp.conf on its own says the same as through jibri.conf's include.
    assert_eq!(
        at(&parsed[1], &["jibri", "api", "xmpp"]),
        at(j, &["api", "xmpp"])
    );

    assert_eq!(j["id"], "jibri");
    assert_eq!(j["single-use-mode"], false);
    assert_eq!(at(j, &["api", "http", "external-api-port"]), 2222);
    assert_eq!(at(j, &["api", "http", "internal-api-port"]), 3333);
    assert_eq!(
        at(j, &["recording"]),
        &json!({"recordings-directory": "/storage/recordings"})
    );
    let ff = at(j, &["ffmpeg"]);
    assert_eq!(ff["resolution"], "1280x720");
    assert_eq!(ff["audio-source"], "pulse");
    assert_eq!(ff["audio-device"], "default");
    assert_eq!(ff["framerate"], 30);
    assert_eq!(ff["queue-size"], 4096);
    assert_eq!(ff["streaming-max-bitrate"], "2976k");
    assert_eq!(ff["video-encode-preset-streaming"], "veryfast");
    assert_eq!(ff["video-encode-preset-recording"], "ultrafast");
    assert_eq!(ff["h264-constant-rate-factor"], 25);
    // Unset in .env: no webhook, StatsD as jibri ships it, and the image's
    // Chrome flags (jibri's defaults plus --no-sandbox: no SYS_ADMIN).
    assert!(j.get("webhook").is_none(), "{j:#}");
    assert_eq!(
        at(j, &["chrome", "flags"]),
        &json!([
            "--use-fake-ui-for-media-stream",
            "--start-maximized",
            "--kiosk",
            "--enabled",
            "--autoplay-policy=no-user-gesture-required",
            "--no-sandbox"
        ])
    );
    assert_eq!(
        at(j, &["stats"]),
        &json!({"prometheus": {"enabled": false}})
    );

    let e = environment(j);
    assert_eq!(e["name"], "-0");
    assert_eq!(e["xmpp-server-hosts"], json!(["xmpp.meet.jitsi"]));
    assert_eq!(e["xmpp-domain"], "meet.jitsi");
    assert_eq!(e["base-url"], "https://meet.example.org:8443");
    assert_eq!(
        e["control-muc"],
        json!({"domain": "internal-muc.meet.jitsi", "room-name": "jibribrewery", "nickname": "jibri"})
    );
    let login = &e["control-login"];
    assert_eq!(login["domain"], "auth.meet.jitsi");
    assert_eq!(login["port"], 5222);
    assert_eq!(login["username"], "jibri");
    assert_eq!(login["password"], env_value(&run, "JIBRI_XMPP_PASSWORD"));
    let call = &e["call-login"];
    assert_eq!(call["domain"], "hidden.meet.jitsi");
    assert_eq!(call["username"], "recorder");
    assert_eq!(call["password"], env_value(&run, "JIBRI_RECORDER_PASSWORD"));
    assert_ne!(login["password"], call["password"]);
    assert_eq!(e["strip-from-room-domain"], "muc.");
    assert_eq!(e["usage-timeout"], "0 minutes");
    assert_eq!(e["trust-all-xmpp-certs"], true);

    let props = properties(&[file(&run, "jibri", "logging.properties")])
        .remove(0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        props["handlers"],
        "java.util.logging.FileHandler,java.util.logging.ConsoleHandler"
    );
    assert_eq!(
        props["java.util.logging.FileHandler.pattern"],
        "/storage/logs/log.%g.txt"
    );
    assert_eq!(
        props["org.jitsi.jibri.capture.ffmpeg.util.FfmpegFileHandler.pattern"],
        "/storage/logs/ffmpeg.%g.txt"
    );
    assert_eq!(
        props["org.jitsi.utils.logging2.JitsiLogFormatter.programname"],
        "Jibri"
    );

    let xorg = fs::read_to_string(file(&run, "jibri", "xorg-video-dummy.conf")).unwrap();
    assert!(xorg.starts_with("# Generated by jitsi-stack"), "{xorg}");
    for line in [
        "  HorizSync 5.0 - 1000.0\n",
        "  VertRefresh 5.0 - 200.0\n",
        "  Modeline \"1280x720\" 63.75 1280 1328 1360 1440 720 723 728 741 +HSync -VSync\n",
        "    Modes \"1280x720\"\n",
        "  Driver \"dummy\"\n",
    ] {
        assert!(xorg.contains(line), "{line:?} not in\n{xorg}");
    }
    for f in FILES {
        let text = fs::read_to_string(file(&run, "jibri", f)).unwrap();
        assert!(text.starts_with("# Generated by jitsi-stack"), "{f}");
        assert!(!text.contains("{{"), "{f}");
    }
}

#[test]
fn settings_reach_jibri_conf() {
    let run = render(&[
        ("JIBRI_XMPP_USER", "rec-control"),
        ("JIBRI_RECORDER_USER", "rec.browser"),
        ("JIBRI_BREWERY_MUC", "recorders"),
        ("XMPP_DOMAIN", "example.internal"),
        ("XMPP_AUTH_DOMAIN", "auth.example.internal"),
        ("XMPP_INTERNAL_MUC_DOMAIN", "internal.example.internal"),
        ("XMPP_HIDDEN_DOMAIN", "hidden.example.internal"),
        ("XMPP_RECORDER_DOMAIN", "ignored.example.internal"),
        ("XMPP_MUC_DOMAIN", "conference.example.internal"),
        ("XMPP_SERVER", "prosody.example.internal"),
        ("XMPP_PORT", "5333"),
        ("XMPP_TRUST_ALL_CERTS", "false"),
        ("JIBRI_USAGE_TIMEOUT", "90"),
        ("JIBRI_SINGLE_USE_MODE", "1"),
        ("JIBRI_HTTP_API_EXTERNAL_PORT", "2223"),
        ("JIBRI_HTTP_API_INTERNAL_PORT", "3334"),
        ("JIBRI_RECORDING_DIR", "/config/recordings"),
        (
            "JIBRI_FINALIZE_RECORDING_SCRIPT_PATH",
            "/config/finalize.sh",
        ),
        (
            "JIBRI_WEBHOOK_SUBSCRIBERS",
            " https://a.example.org/hook,,https://b.example.org ",
        ),
        ("AUTOSCALER_URL", "https://autoscaler.example.org"),
        (
            "CHROMIUM_FLAGS",
            " --kiosk , ,--user-agent=Jibri Rec,--lang=de ",
        ),
        ("IGNORE_CERTIFICATE_ERRORS", "1"),
        ("ENABLE_STATS_D", "true"),
        ("JIBRI_STATSD_HOST", "statsd.example.internal"),
        ("JIBRI_STATSD_PORT", "9125"),
        ("JIBRI_ENABLE_PROMETHEUS", "1"),
        ("JIBRI_RECORDING_RESOLUTION", "1920x1080"),
        ("JIBRI_RECORDING_FRAMERATE", "25"),
        ("JIBRI_RECORDING_QUEUE_SIZE", "8192"),
        ("JIBRI_RECORDING_STREAMING_MAX_BITRATE", "6M"),
        ("JIBRI_RECORDING_VIDEO_ENCODE_PRESET_STREAMING", "fast"),
        ("JIBRI_RECORDING_VIDEO_ENCODE_PRESET_RECORDING", "medium"),
        ("JIBRI_RECORDING_CONSTANT_RATE_FACTOR", "18"),
        ("JIBRI_XORG_HORIZ_SYNC", "30-160"),
        ("JIBRI_XORG_VERT_REFRESH", "50 - 75"),
    ]);
    let j = &jibri_confs(&run, &["jibri"])[0];
    // The image would print `single-use-mode = 1`, which jibri rejects.
    assert_eq!(j["single-use-mode"], true);
    assert_eq!(at(j, &["api", "http", "external-api-port"]), 2223);
    assert_eq!(at(j, &["api", "http", "internal-api-port"]), 3334);
    assert_eq!(
        at(j, &["recording"]),
        &json!({"recordings-directory": "/config/recordings", "finalize-script": "/config/finalize.sh"})
    );
    // An explicit list wins over the autoscaler's default hook.
    assert_eq!(
        at(j, &["webhook", "subscribers"]),
        &json!(["https://a.example.org/hook", "https://b.example.org"])
    );
    // CHROMIUM_FLAGS wins over IGNORE_CERTIFICATE_ERRORS; entries trimmed;
    // --no-sandbox always last, as the image does.
    assert_eq!(
        at(j, &["chrome", "flags"]),
        &json!([
            "--kiosk",
            "--user-agent=Jibri Rec",
            "--lang=de",
            "--no-sandbox"
        ])
    );
    assert_eq!(
        at(j, &["stats"]),
        &json!({"enable-stats-d": true, "host": "statsd.example.internal", "port": 9125, "prometheus": {"enabled": true}})
    );
    let ff = at(j, &["ffmpeg"]);
    assert_eq!(ff["resolution"], "1920x1080");
    assert_eq!(ff["framerate"], 25);
    assert_eq!(ff["queue-size"], 8192);
    assert_eq!(ff["streaming-max-bitrate"], "6M");
    assert_eq!(ff["video-encode-preset-streaming"], "fast");
    assert_eq!(ff["video-encode-preset-recording"], "medium");
    assert_eq!(ff["h264-constant-rate-factor"], 18);

    let e = environment(j);
    assert_eq!(e["xmpp-server-hosts"], json!(["prosody.example.internal"]));
    assert_eq!(e["xmpp-domain"], "example.internal");
    assert_eq!(
        e["control-muc"],
        json!({"domain": "internal.example.internal", "room-name": "recorders", "nickname": "jibri"})
    );
    assert_eq!(e["control-login"]["domain"], "auth.example.internal");
    assert_eq!(e["control-login"]["port"], 5333);
    assert_eq!(e["control-login"]["username"], "rec-control");
    // XMPP_HIDDEN_DOMAIN wins over the old XMPP_RECORDER_DOMAIN.
    assert_eq!(e["call-login"]["domain"], "hidden.example.internal");
    assert_eq!(e["call-login"]["username"], "rec.browser");
    // Unset JIBRI_STRIP_DOMAIN_JID follows the MUC domain's first label.
    assert_eq!(e["strip-from-room-domain"], "conference.");
    // Minutes, as a duration Typesafe Config reads (a bare 90 would be 90 ms).
    assert_eq!(e["usage-timeout"], "90 minutes");
    assert_eq!(e["trust-all-xmpp-certs"], false);

    let xorg = fs::read_to_string(file(&run, "jibri", "xorg-video-dummy.conf")).unwrap();
    assert!(xorg.contains("  HorizSync 30 - 160\n"), "{xorg}");
    assert!(xorg.contains("  VertRefresh 50 - 75\n"), "{xorg}");
    assert!(
        xorg.contains(
            "  Modeline \"1920x1080\" 138.50 1920 1968 2000 2080 1080 1083 1088 1111 +HSync -VSync\n"
        ),
        "{xorg}"
    );
}

#[test]
fn image_defaults_for_old_names_certificates_and_the_autoscaler() {
    let run = render(&[
        ("XMPP_RECORDER_DOMAIN", "recorder.example.internal"),
        ("JIBRI_STRIP_DOMAIN_JID", "rooms"),
        ("IGNORE_CERTIFICATE_ERRORS", "true"),
        ("AUTOSCALER_URL", "https://autoscaler.example.org"),
        ("AUTOSCALER_SIDECAR_PORT", "6001"),
        ("ENABLE_STATS_D", "0"),
        ("CHROMIUM_FLAGS", " , "),
    ]);
    let j = &jibri_confs(&run, &["jibri"])[0];
    let e = environment(j);
    // The image copies XMPP_RECORDER_DOMAIN into an unset XMPP_HIDDEN_DOMAIN.
    assert_eq!(e["call-login"]["domain"], "recorder.example.internal");
    assert_eq!(e["strip-from-room-domain"], "rooms.");
    assert_eq!(
        at(j, &["webhook", "subscribers"]),
        &json!(["http://localhost:6001/hook"])
    );
    // CHROMIUM_FLAGS without entries counts as unset.
    assert_eq!(
        at(j, &["chrome", "flags"]),
        &json!([
            "--use-fake-ui-for-media-stream",
            "--start-maximized",
            "--kiosk",
            "--enabled",
            "--autoplay-policy=no-user-gesture-required",
            "--no-sandbox",
            "--ignore-certificate-errors"
        ])
    );
    assert_eq!(at(j, &["stats", "enable-stats-d"]), false);
    assert_eq!(at(j, &["stats", "host"]), "localhost");
    assert_eq!(at(j, &["stats", "port"]), 8125);
}

fn source_of(binds: &[(String, String, bool)], target: &str) -> String {
    binds
        .iter()
        .find(|(_, t, _)| t == target)
        .unwrap_or_else(|| panic!("{target} not mounted: {binds:?}"))
        .0
        .clone()
}

#[test]
fn three_recorders_get_their_own_id_nickname_and_directories() {
    let run = render(&[("JIBRI_INSTANCES", "3")]);
    let names = ["jibri", "jibri-2", "jibri-3"];
    let confs = jibri_confs(&run, &names);
    let ids: Vec<&Value> = confs.iter().map(|j| &j["id"]).collect();
    assert_eq!(ids, [&json!("jibri"), &json!("jibri-2"), &json!("jibri-3")]);
    for (j, name) in confs.iter().zip(names) {
        let e = environment(j);
        assert_eq!(e["control-muc"]["nickname"], name);
        // The same accounts for every recorder.
        assert_eq!(e["control-login"], environment(&confs[0])["control-login"]);
        assert_eq!(e["call-login"], environment(&confs[0])["call-login"]);
        assert_eq!(
            at(j, &["recording", "recordings-directory"]),
            "/storage/recordings"
        );
    }

    // Each recorder's /storage (recordings, logs) and /config are its own
    // directories, and its /defaults files its own rendered set.
    let model = crate::compose::merged_config(&run);
    let root = fs::canonicalize(run.path()).unwrap();
    let mut storages = BTreeSet::new();
    for name in names {
        let b = crate::compose::binds(&model["services"][name]);
        let storage = source_of(&b, "/storage");
        assert_eq!(
            Path::new(&storage),
            root.join(format!("config/storage/{name}"))
        );
        storages.insert(storage);
        assert_eq!(
            Path::new(&source_of(&b, "/config")),
            root.join(format!("config/{name}"))
        );
        for f in FILES {
            let target = format!("/defaults/{f}");
            let (src, _, ro) = b.iter().find(|(_, t, _)| *t == target).unwrap().clone();
            assert_eq!(Path::new(&src), root.join(format!("generated/{name}/{f}")));
            assert!(ro, "{name}: {target} must be read-only");
            assert!(Path::new(&src).exists(), "{src}");
        }
        assert_eq!(
            model["services"][name]["environment"]["JIBRI_INSTANCE_ID"],
            name
        );
    }
    assert_eq!(storages.len(), 3);

    // A set JIBRI_INSTANCE_ID is numbered per recorder.
    let run = render(&[("JIBRI_INSTANCES", "3"), ("JIBRI_INSTANCE_ID", "rec")]);
    let confs = jibri_confs(&run, &names);
    let nicks: Vec<String> = confs
        .iter()
        .map(|j| str_at(environment(j), &["control-muc", "nickname"]))
        .collect();
    assert_eq!(nicks, ["rec", "rec-2", "rec-3"]);
    let ids: Vec<String> = confs.iter().map(|j| str_at(j, &["id"])).collect();
    assert_eq!(ids, nicks);
}

/// Values an attacker or a careless paste could put in `.env`.
const HOSTILE: &[&str] = &[
    "pa\"ss\"word",
    "back\\slash\\",
    "x\"\n PASSWORD = \"evil",
    "${HOME} and ${?PATH}",
    "{{ .Env.JIBRI_XMPP_PASSWORD }}",
    "]] } include \"file:///etc/passwd\" {",
    "semi; colon # hash // slashes = key: value",
    "ünïcødé ✓ 😀 \u{2028}",
    "trailing space ",
    "tab\tand\rreturn",
];

#[test]
fn hostile_values_read_back_exactly() {
    let mut cases: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    cases.push("Ab1\"{}\\".repeat(720));
    let mut runs = vec![];
    let mut expected = vec![];
    for (i, value) in cases.iter().enumerate() {
        let control = format!("Xpw{i}-long-enough-{value}");
        let call = format!("Rpw{i}-long-enough-{value}");
        let id = format!("id {value}");
        let finalize = format!("/config/{value}");
        let dir = format!("/storage/{value}");
        let flags = format!("--a={value}, ,--b");
        // A list entry cannot hold white space (`check` refuses it).
        let compact: String = value.split_whitespace().collect();
        let hooks = format!("https://hook.example.org/{compact},https://second.example.org");
        let run = render(&[
            ("JIBRI_XMPP_PASSWORD", control.as_str()),
            ("JIBRI_RECORDER_PASSWORD", call.as_str()),
            ("JIBRI_INSTANCE_ID", id.as_str()),
            ("JIBRI_STRIP_DOMAIN_JID", value.as_str()),
            ("JIBRI_FINALIZE_RECORDING_SCRIPT_PATH", finalize.as_str()),
            ("JIBRI_RECORDING_DIR", dir.as_str()),
            ("CHROMIUM_FLAGS", flags.as_str()),
            ("JIBRI_WEBHOOK_SUBSCRIBERS", hooks.as_str()),
        ]);
        for f in FILES {
            let text = fs::read_to_string(file(&run, "jibri", f)).unwrap();
            assert!(!text.contains("{{"), "{f}: {value:?}");
        }
        let flag_list: Vec<String> = flags
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(String::from)
            .chain(["--no-sandbox".to_string()])
            .collect();
        expected.push((control, call, id, finalize, dir, flag_list, compact));
        runs.push(run);
    }
    let files: Vec<PathBuf> = runs
        .iter()
        .map(|r| file(r, "jibri", "jibri.conf"))
        .collect();
    for ((parsed, exp), value) in hocon(&files).into_iter().zip(&expected).zip(&cases) {
        let parsed = parsed.unwrap_or_else(|e| panic!("{value:?}: {e}"));
        let (control, call, id, finalize, dir, flags, compact) = exp;
        // Nothing injected at the top or inside the jibri block.
        assert_eq!(keys(&parsed), set(&["jibri"]), "{value:?}");
        let j = at(&parsed, &["jibri"]);
        assert_eq!(
            keys(j),
            set(&[
                "id",
                "single-use-mode",
                "api",
                "recording",
                "webhook",
                "ffmpeg",
                "chrome",
                "stats"
            ]),
            "{value:?}"
        );
        assert_eq!(&j["id"], id.as_str());
        assert_eq!(at(j, &["recording", "finalize-script"]), finalize.as_str());
        assert_eq!(at(j, &["recording", "recordings-directory"]), dir.as_str());
        assert_eq!(at(j, &["chrome", "flags"]), &json!(flags));
        assert_eq!(
            at(j, &["webhook", "subscribers"]),
            &json!([
                format!("https://hook.example.org/{compact}"),
                "https://second.example.org"
            ])
        );
        let e = environment(j);
        assert_eq!(
            keys(e),
            set(&[
                "name",
                "xmpp-server-hosts",
                "xmpp-domain",
                "base-url",
                "control-muc",
                "control-login",
                "call-login",
                "strip-from-room-domain",
                "usage-timeout",
                "trust-all-xmpp-certs"
            ]),
            "{value:?}"
        );
        assert_eq!(&e["control-login"]["password"], control.as_str());
        assert_eq!(keys(&e["control-login"]).len(), 4, "{value:?}");
        assert_eq!(&e["call-login"]["password"], call.as_str());
        assert_eq!(keys(&e["call-login"]).len(), 3, "{value:?}");
        assert_eq!(&e["control-muc"]["nickname"], id.as_str());
        assert_eq!(&e["strip-from-room-domain"], format!("{value}.").as_str());
        assert_eq!(e["usage-timeout"], "0 minutes");
    }
}

#[test]
fn unsafe_values_are_refused_and_nothing_is_written() {
    for (var, value) in [
        // Names that become the local part of an XMPP address.
        ("JIBRI_XMPP_USER", "jibri@evil.example.org"),
        ("JIBRI_RECORDER_USER", "recorder/other"),
        ("JIBRI_BREWERY_MUC", "room\" x"),
        // Printed where no quoting exists (ffmpeg arguments, Xorg).
        ("JIBRI_RECORDING_RESOLUTION", "1280x720\nEndSection"),
        ("JIBRI_RECORDING_RESOLUTION", "big"),
        ("JIBRI_RECORDING_STREAMING_MAX_BITRATE", "2976k -f null"),
        ("JIBRI_XORG_HORIZ_SYNC", "5.0 - 1000.0\nEndSection"),
        ("JIBRI_XORG_VERT_REFRESH", "60 Hz"),
        // A list entry with white space inside.
        ("JIBRI_WEBHOOK_SUBSCRIBERS", "https://a.example.org/x y"),
    ] {
        assert_refused(&[(var, value)], var);
    }
    // No display mode within the monitor ranges.
    assert_refused(
        &[
            ("JIBRI_RECORDING_RESOLUTION", "1920x1080"),
            ("JIBRI_XORG_HORIZ_SYNC", "200-300"),
        ],
        "JIBRI_XORG_HORIZ_SYNC",
    );
}

#[test]
fn a_missing_password_is_refused() {
    let run = init_stack(&[], &[]);
    let path = run.path().join(".env");
    let text = fs::read_to_string(&path).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("JIBRI_RECORDER_PASSWORD="))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&path, kept).unwrap();
    let run = Test::again(run)
        .args(["render", "--with", "jibri"])
        .status(1)
        .run();
    assert!(
        run.stderr.contains("JIBRI_RECORDER_PASSWORD"),
        "{}",
        run.stderr
    );
    assert!(!run.exists("generated"));
}

#[test]
fn mount_rows_cover_every_jibri_file() {
    use jitsi_stack::render::mounts;
    let rows: Vec<_> = mounts::for_service("jibri").collect();
    let target = |f: &str| rows.iter().find(|m| m.file == f).map(|m| m.target);
    for f in FILES {
        assert_eq!(target(f), Some(format!("/defaults/{f}").as_str()), "{f}");
    }
    assert_eq!(rows.len(), FILES.len());
    let run = render(&[("JIBRI_INSTANCES", "2")]);
    let overlay = run.read("jibri.yml");
    for inst in ["jibri", "jibri-2"] {
        for m in &rows {
            let rel = m.source(inst);
            assert!(
                run.exists(rel.trim_start_matches("./")),
                "{m:?}: {rel} is not rendered"
            );
            assert!(
                overlay.contains(&m.volume(inst)),
                "{m:?}: not mounted for {inst}"
            );
        }
    }
}

/// Golden files for one fixed input, so a reviewer sees exactly what a
/// change does to the output. `JITSI_UPDATE_GOLDEN=1` rewrites them.
#[test]
fn fixed_input_matches_golden_files() {
    let run = render(&[
        ("JIBRI_XMPP_PASSWORD", "golden-control-password"),
        ("JIBRI_RECORDER_PASSWORD", "golden-recorder-password"),
        (
            "JIBRI_FINALIZE_RECORDING_SCRIPT_PATH",
            "/config/finalize.sh",
        ),
        (
            "JIBRI_WEBHOOK_SUBSCRIBERS",
            "https://hooks.example.org/jibri",
        ),
        ("IGNORE_CERTIFICATE_ERRORS", "1"),
    ]);
    for f in FILES {
        let got = run.read(&format!("generated/jibri/{f}"));
        crate::harness::golden("render_jibri/golden", f, &got);
    }
}

/// Starts Debian's Xorg with the dummy driver on `conf` (the file jibri's
/// X server reads), waits until it has chosen its screen mode, stops it and
/// returns its log. Runs are serialised, each on a fresh display number.
pub fn xorg_log(conf: &Path) -> String {
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;
    static LOCK: Mutex<()> = Mutex::new(());
    static DISPLAY: AtomicU32 = AtomicU32::new(0);
    let xorg = Path::new("/usr/lib/xorg/Xorg");
    assert!(
        xorg.exists(),
        "Xorg is missing: run .ci/install-deps (apt-get install xserver-xorg-core xserver-xorg-video-dummy)"
    );
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // A free display number: no lock file, or one whose X server is gone (a
    // lock left by a crash is removed, so they can never run out).
    let lock = |n: u32| format!("/tmp/.X{n}-lock");
    let socket = |n: u32| format!("/tmp/.X11-unix/X{n}");
    let alive = |n: u32| {
        std::fs::read_to_string(lock(n))
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
    };
    let display = (0..400)
        .map(|_| 90 + DISPLAY.fetch_add(1, Ordering::SeqCst) % 400)
        .find(|&n| {
            if !Path::new(&lock(n)).exists() && !Path::new(&socket(n)).exists() {
                return true;
            }
            if alive(n) {
                return false;
            }
            let _ = std::fs::remove_file(lock(n));
            let _ = std::fs::remove_file(socket(n));
            !Path::new(&lock(n)).exists() && !Path::new(&socket(n)).exists()
        })
        .expect("a free X display number between :90 and :489");
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("xorg.log");
    let mut child = Command::new(xorg)
        .arg(format!(":{display}"))
        .arg("-config")
        .arg(conf)
        .arg("-logfile")
        .arg(&log)
        .args(["-nolisten", "tcp", "-noreset", "-novtswitch", "-sharevts"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting Xorg");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let exited = child.try_wait().unwrap().is_some();
        if text.contains("using initial mode") || exited || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // SIGTERM lets Xorg remove its lock file and socket; a kill after the
    // grace period leaves them, so they are removed here either way.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let grace = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < grace {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(lock(display));
    let _ = std::fs::remove_file(socket(display));
    text
}

#[test]
fn xorg_runs_the_screen_at_the_recording_resolution() {
    for res in ["1280x720", "1920x1080", "640x360"] {
        let run = render(&[("JIBRI_RECORDING_RESOLUTION", res)]);
        let log = xorg_log(&file(&run, "jibri", "xorg-video-dummy.conf"));
        assert!(
            log.contains(&format!("Virtual size is {res} ")),
            "{res}: Xorg did not take the rendered mode:\n{log}"
        );
        assert!(
            log.contains(&format!("using initial mode {res} ")),
            "{res}:\n{log}"
        );
        assert!(!log.contains("(EE) no screens found"), "{log}");
    }
}
