//! The compose files, checked by the real Compose v2 binary (parse, merge,
//! schema, interpolation; any warning fails), with values read back from
//! `config --format json`; and the render pipeline's write/diff behaviour.

use crate::{init_stack, Run, Test};
use jitsi_stack::envfile::EnvFile;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const JIGASI_SIP: &[(&str, &str)] = &[
    ("JIGASI_SIP_URI", "jitsi@sip.example.org"),
    ("JIGASI_SIP_PASSWORD", "sip-password-long-enough"),
    ("JIGASI_SIP_SERVER", "sip.example.org"),
];

/// A value Compose would mangle if written raw: `$` interpolation, quotes.
const AWKWARD: &str = r#"x$HOME ${Y} "q" 'z' $$"#;

use crate::envfile::compose_bin;

/// Runs Compose in `dir` with a clean environment (shell variables would
/// override .env); fails on a non-zero exit or anything on stderr.
fn compose(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(compose_bin())
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .args(args)
        .output()
        .expect("running docker-compose");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "compose {args:?} in {}: exit {:?}\n{stderr}",
        dir.display(),
        out.status.code()
    );
    String::from_utf8(out.stdout).unwrap()
}

fn env_of(run: &Run) -> BTreeMap<String, String> {
    let f = EnvFile::read(&run.path().join(".env")).unwrap();
    f.entries()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect()
}

/// Renders, validates the merged files with `-f ... --env-file .env`, then
/// with plain `docker compose` (COMPOSE_FILE from .env) and returns the
/// merged model as JSON; both ways must agree.
fn render_and_check(run: Run) -> (Run, Value) {
    let run = Test::again(run).args(["render"]).run();
    let json = merged_config(&run);
    (run, json)
}

/// The rendered compose files of `run` validated and merged by Docker
/// Compose v2, both with explicit `-f` files and with plain `docker compose`
/// (COMPOSE_FILE from .env); both ways must agree. The merged model as JSON.
pub fn merged_config(run: &Run) -> Value {
    let env = env_of(run);
    let files: Vec<&str> = env["COMPOSE_FILE"].split(':').collect();
    let mut args: Vec<&str> = vec![];
    for f in &files {
        args.extend(["-f", f]);
    }
    args.extend(["--env-file", ".env", "config"]);
    let mut q = args.clone();
    q.push("-q");
    compose(run.path(), &q);
    args.extend(["--format", "json"]);
    let json: Value = serde_json::from_str(&compose(run.path(), &args)).unwrap();
    let plain: Value =
        serde_json::from_str(&compose(run.path(), &["config", "--format", "json"])).unwrap();
    assert_eq!(json, plain, "plain `docker compose config` differs from -f");
    assert_eq!(json["name"], env["COMPOSE_PROJECT_NAME"].as_str());
    json
}

/// A string as the container gets it: `config` prints values re-escaped
/// (`$` as `$$`) so its output stays valid Compose input.
fn unescaped(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .replace("$$", "$")
}

fn service<'a>(json: &'a Value, name: &str) -> &'a Value {
    let s = &json["services"][name];
    assert!(s.is_object(), "no service {name} in {}", json["services"]);
    s
}

fn ports(svc: &Value) -> Vec<String> {
    svc["ports"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    format!(
                        "{}:{}:{}/{}",
                        p["host_ip"].as_str().unwrap_or(""),
                        p["published"].as_str().unwrap_or(""),
                        p["target"],
                        p["protocol"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A service's volumes in Compose's merged model: (source, target,
/// read-only).
pub fn binds(svc: &Value) -> Vec<(String, String, bool)> {
    svc["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["source"].as_str().unwrap().to_string(),
                v["target"].as_str().unwrap().to_string(),
                v["read_only"] == true,
            )
        })
        .collect()
}

fn sources(svc: &Value) -> Vec<(String, String)> {
    binds(svc).into_iter().map(|(s, t, _)| (s, t)).collect()
}

fn image(json: &Value, name: &str) -> String {
    service(json, name)["image"].as_str().unwrap().to_string()
}

fn check_core(run: &Run, json: &Value) {
    let env = env_of(run);
    let pinned = jitsi_stack::schema::PINNED_IMAGE_VERSION;
    for s in ["web", "prosody", "jicofo", "jvb"] {
        assert_eq!(image(json, s), format!("ghcr.io/jitsi/{s}:{pinned}"));
        let svc = service(json, s);
        assert_eq!(svc["read_only"], true, "{s}");
        assert!(
            svc["healthcheck"]["test"].is_array(),
            "{s} has no healthcheck"
        );
        assert!(
            svc["networks"]["meet.jitsi"].is_object() || svc["networks"]["meet.jitsi"].is_null()
        );
    }
    let web = service(json, "web");
    let p = ports(web);
    assert!(
        p.contains(&format!(":{}:8000/tcp", env["HTTP_PORT"])),
        "{p:?}"
    );
    assert!(
        p.contains(&format!(":{}:8443/tcp", env["HTTPS_PORT"])),
        "{p:?}"
    );
    assert_eq!(web["depends_on"]["prosody"]["condition"], "service_healthy");
    assert_eq!(ports(service(json, "jicofo")), ["127.0.0.1:8888:8888/tcp"]);
    let aliases = &service(json, "prosody")["networks"]["meet.jitsi"]["aliases"];
    assert_eq!(aliases[0], "xmpp.meet.jitsi");
    // Secrets reach the containers from .env, never from the compose files.
    for (svc, var) in [
        ("prosody", "JICOFO_AUTH_PASSWORD"),
        ("jicofo", "JICOFO_AUTH_PASSWORD"),
        ("jvb", "JVB_AUTH_PASSWORD"),
    ] {
        assert!(!env[var].is_empty());
        assert_eq!(unescaped(&service(json, svc)["environment"][var]), env[var]);
    }
    let text = run.read("docker-compose.yml");
    assert!(text.starts_with("# Generated by jitsi-stack"));
    assert!(
        !text.contains(&env["JVB_AUTH_PASSWORD"]),
        "secret in docker-compose.yml"
    );
    // Persistent data under CONFIG, resolved by Compose like jitsi-stack does.
    let config = run.path().canonicalize().unwrap().join("config");
    let vols = sources(service(json, "prosody"));
    assert!(
        vols.contains(&(
            config.join("storage/prosody").display().to_string(),
            "/var/lib/prosody".into()
        )),
        "{vols:?}"
    );
    assert!(run.exists("generated/empty") && run.read("generated/empty").is_empty());
}

#[test]
fn core_only_with_awkward_values() {
    let run = init_stack(
        &[
            (
                "DEFAULT_LANGUAGE",
                &format!("'{}'", AWKWARD.replace('\'', "")),
            ),
            ("JITSI_IMAGE_VERSION", ""),
        ],
        &[],
    );
    let (run, json) = render_and_check(run);
    check_core(&run, &json);
    let want = AWKWARD.replace('\'', "");
    assert_eq!(
        unescaped(&service(&json, "web")["environment"]["DEFAULT_LANGUAGE"]),
        want
    );
    assert_eq!(
        ports(service(&json, "jvb")),
        [":10000:10000/udp", "127.0.0.1:8080:8080/tcp"]
    );
    let names: Vec<&String> = json["services"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["jicofo", "jvb", "prosody", "web"]);
}

#[test]
fn image_version_follows_env() {
    let run = init_stack(&[("JITSI_IMAGE_VERSION", "stable-9999")], &[]);
    let (_run, json) = render_and_check(run);
    assert_eq!(image(&json, "jvb"), "ghcr.io/jitsi/jvb:stable-9999");
}

#[test]
fn every_overlay_alone() {
    for c in jitsi_stack::config::Component::ALL {
        let extra: &[(&str, &str)] = match c.name() {
            "jigasi" => JIGASI_SIP,
            "transcriber" => &[("ENABLE_TRANSCRIPTIONS", "1")],
            _ => &[],
        };
        let mut run = init_stack(extra, &[]);
        let path = run.path().join(".env");
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, format!("{text}JITSI_STACK_WITH={}\n", c.name())).unwrap();
        let (r, json) = render_and_check(run);
        run = r;
        assert!(run.exists(&c.compose_file()), "{c}");
        let expected: &[&str] = match c.name() {
            "jibri" => &["jibri"],
            "jigasi" => &["jigasi"],
            "transcriber" => &["transcriber"],
            "etherpad" => &["etherpad"],
            "whiteboard" => &["whiteboard"],
            "turn" => &["turn"],
            "monitoring" => &["prometheus", "grafana"],
            _ => &["loki", "otel"],
        };
        for s in expected {
            service(&json, s);
        }
    }
}

#[test]
fn all_overlays() {
    let mut extra = JIGASI_SIP.to_vec();
    extra.push(("ENABLE_TRANSCRIPTIONS", "1"));
    extra.push((
        "JIBRI_RECORDER_PASSWORD",
        "rec-pass-with-$-and-\"quotes\"-x",
    ));
    let run = init_stack(&extra, &[]);
    let path = run.path().join(".env");
    let text = fs::read_to_string(&path).unwrap();
    let all: Vec<&str> = jitsi_stack::config::Component::ALL
        .iter()
        .map(|c| c.name())
        .collect();
    fs::write(&path, format!("{text}JITSI_STACK_WITH={}\n", all.join(","))).unwrap();
    let (run, json) = render_and_check(run);
    check_core(&run, &json);
    let env = env_of(&run);
    let jibri = service(&json, "jibri");
    assert_eq!(jibri["shm_size"], "2147483648");
    // As the release: a read-only root with tmpfs, no extra capability.
    assert!(jibri.get("cap_add").is_none(), "{jibri}");
    assert_eq!(jibri["read_only"], true);
    assert_eq!(jibri["tmpfs"][0], "/run:size=256M,mode=1750,exec");
    assert_eq!(
        jibri["depends_on"]["jicofo"]["condition"],
        "service_healthy"
    );
    assert_eq!(
        unescaped(&jibri["environment"]["JIBRI_RECORDER_PASSWORD"]),
        env["JIBRI_RECORDER_PASSWORD"]
    );
    assert_eq!(jibri["environment"]["DISPLAY"], ":0");
    let jigasi = service(&json, "jigasi");
    // Compose expands the range into one entry per port.
    let p = ports(jigasi);
    assert_eq!(p.len(), 51);
    assert_eq!(p[0], ":20000:20000/udp");
    assert_eq!(p[50], ":20050:20050/udp");
    assert_eq!(jigasi["environment"]["JIGASI_MODE"], "sip");
    assert_eq!(
        jigasi["environment"]["JIGASI_SIP_PASSWORD"],
        "sip-password-long-enough"
    );
    assert_eq!(
        service(&json, "transcriber")["environment"]["JIGASI_MODE"],
        "transcriber"
    );
    let turn = service(&json, "turn");
    assert_eq!(turn["network_mode"], "host");
    assert!(turn["image"]
        .as_str()
        .unwrap()
        .starts_with("coturn/coturn:4."));
    assert!(sources(turn)
        .iter()
        .any(|(s, t)| s.ends_with("/generated/turn/turnserver.conf")
            && t == "/etc/coturn/turnserver.conf"));
    assert_eq!(
        ports(service(&json, "grafana")),
        ["127.0.0.1:3000:3000/tcp"]
    );
    for f in [
        "generated/prometheus/prometheus.yml",
        "generated/otel/config.yaml",
    ] {
        let v = jitsi_stack::yaml::parse(&run.read(f)).unwrap();
        assert!(v.is_mapping(), "{f}");
    }
    for c in jitsi_stack::config::Component::ALL {
        let text = run.read(&c.compose_file());
        assert!(text.starts_with("# Generated by jitsi-stack"));
        assert!(!text.contains(&env["JIBRI_RECORDER_PASSWORD"]));
    }
}

#[test]
fn several_bridges_and_recorders() {
    let run = init_stack(
        &[
            ("JVB_INSTANCES", "3"),
            ("JIBRI_INSTANCES", "2"),
            ("JVB_PORT", "10100"),
            ("JVB_COLIBRI_PORT", "9080"),
        ],
        &["jibri"],
    );
    let (run, json) = render_and_check(run);
    let config = run.path().canonicalize().unwrap().join("config");
    for (n, name) in ["jvb", "jvb-2", "jvb-3"].iter().enumerate() {
        let s = service(&json, name);
        let udp = 10100 + n;
        assert_eq!(
            ports(s),
            [
                format!(":{udp}:{udp}/udp"),
                format!("127.0.0.1:{}:8080/tcp", 9080 + n)
            ]
        );
        assert_eq!(s["environment"]["JVB_PORT"], udp.to_string().as_str());
        assert_eq!(s["environment"]["JVB_INSTANCE_ID"], *name);
        assert!(sources(s).contains(&(config.join(name).display().to_string(), "/config".into())));
    }
    let mut recordings = vec![];
    for name in ["jibri", "jibri-2"] {
        let s = service(&json, name);
        assert_eq!(s["environment"]["JIBRI_INSTANCE_ID"], name);
        let rec = sources(s)
            .into_iter()
            .find(|(_, t)| t == "/storage")
            .unwrap()
            .0;
        assert_eq!(rec, config.join("storage").join(name).display().to_string());
        recordings.push(rec);
    }
    assert_ne!(recordings[0], recordings[1]);
}

#[test]
fn letsencrypt_on() {
    let run = init_stack(
        &[
            ("ENABLE_LETSENCRYPT", "1"),
            ("LETSENCRYPT_DOMAIN", "meet.example.org"),
            ("LETSENCRYPT_EMAIL", "admin@example.org"),
            ("HTTP_PORT", "80"),
            ("HTTPS_PORT", "443"),
            ("PUBLIC_URL", "https://meet.example.org"),
        ],
        &[],
    );
    let (run, json) = render_and_check(run);
    check_core(&run, &json);
    let web = service(&json, "web");
    assert_eq!(web["environment"]["ENABLE_LETSENCRYPT"], "1");
    assert_eq!(web["environment"]["LETSENCRYPT_DOMAIN"], "meet.example.org");
    assert_eq!(web["environment"]["LETSENCRYPT_EMAIL"], "admin@example.org");
    assert!(ports(web).contains(&":80:8000/tcp".to_string()));
}

/// Every file under `dir` with its bytes and mtime.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            // What is in effect, through the links; not the renders kept
            // behind them, nor the lock file (it names the last holder).
            let name = p.file_name().unwrap().to_string_lossy();
            if ["renders", "current", ".jitsi-stack.lock"].contains(&name.as_ref()) {
                continue;
            }
            let md = fs::metadata(&p).unwrap();
            if md.is_dir() {
                stack.push(p.clone());
            } else {
                out.insert(p.clone(), (fs::read(&p).unwrap(), md.modified().unwrap()));
            }
            out.entry(p).or_insert((vec![], md.modified().unwrap()));
        }
    }
    out
}

fn rendered(run: &Run) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (p, (bytes, _)) in snapshot(run.path()) {
        let rel = p.strip_prefix(run.path()).unwrap().to_path_buf();
        if rel.starts_with("config") {
            continue;
        }
        out.insert(rel, bytes);
    }
    out
}

fn without_env(mut files: BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    files.retain(|p, _| !p.to_string_lossy().starts_with(".env"));
    files
}

#[test]
fn deterministic_and_env_untouched_on_rerender() {
    let run = init_stack(&[("JVB_INSTANCES", "2")], &["jibri", "turn"]);
    let run = Test::again(run).args(["render"]).run();
    let first = rendered(&run);
    let env_mtime = fs::metadata(run.path().join(".env"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = Test::again(run).args(["render"]).run();
    assert_eq!(first, rendered(&run), "a second render changed bytes");
    assert_eq!(
        env_mtime,
        fs::metadata(run.path().join(".env"))
            .unwrap()
            .modified()
            .unwrap(),
        ".env rewritten although COMPOSE_FILE did not change"
    );
    // Nothing changed, so nothing was written: every mtime is kept.
    let jvb = run.path().join("generated/jvb-2/jvb.conf");
    let before = fs::metadata(&jvb).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = Test::again(run).args(["render"]).run();
    assert_eq!(before, fs::metadata(&jvb).unwrap().modified().unwrap());
    // One change rewrites the render, and stale files are removed.
    std::fs::write(run.path().join("generated/jvb/stray"), "x").unwrap();
    let run = Test::again(run).args(["render"]).run();
    assert!(
        !run.exists("generated/jvb/stray"),
        "a stray file survived a render"
    );
    let env = run.path().join(".env");
    let text = fs::read_to_string(&env).unwrap() + "JVB_MUC_NICKNAME=renamed\n";
    fs::write(&env, text).unwrap();
    let run = Test::again(run).args(["render"]).run();
    assert!(run
        .read("generated/jvb-2/jvb.conf")
        .contains("\"renamed-2\""));
}

#[test]
fn diff_shows_changes_and_writes_nothing() {
    let run = init_stack(&[], &[]);
    let run = Test::again(run).args(["render"]).run();
    let before = rendered(&run);
    let path = run.path().join(".env");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        format!("{text}HTTPS_PORT=9443\nJITSI_STACK_WITH=etherpad\n"),
    )
    .unwrap();
    let env_before = fs::read(&path).unwrap();
    // Like diff(1): 1 when something would change.
    let run = Test::again(run).args(["render", "--diff"]).status(1).run();
    assert!(
        run.stdout.contains("--- a/docker-compose.yml"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("-    - 8443:8443") && run.stdout.contains("+    - 9443:8443"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("+++ b/etherpad.yml"), "{}", run.stdout);
    assert_eq!(
        without_env(before),
        without_env(rendered(&run)),
        "--diff wrote files"
    );
    assert_eq!(fs::read(&path).unwrap(), env_before, "--diff changed .env");
    assert!(!run.exists("etherpad.yml"));
    // Nothing to show once rendered; a dropped component's overlay goes.
    let run = Test::again(run).args(["render"]).run();
    let run = Test::again(run).args(["render", "--diff"]).run();
    assert_eq!(run.stdout, "");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("JITSI_STACK_WITH=etherpad\n", "JITSI_STACK_WITH=\n");
    fs::write(&path, text).unwrap();
    let run = Test::again(run).args(["render", "--diff"]).status(1).run();
    assert!(
        run.stdout.contains("would be removed: etherpad.yml"),
        "{}",
        run.stdout
    );
    let run = Test::again(run).args(["render"]).run();
    assert!(!run.exists("etherpad.yml"));
    assert!(!env_of(&run)["COMPOSE_FILE"].contains("etherpad"));
}

#[test]
fn failed_render_keeps_previous_and_config_untouched() {
    let run = init_stack(&[], &["jibri"]);
    let run = Test::again(run).args(["render"]).run();
    fs::write(run.path().join("config/jvb/state"), "keep me").unwrap();
    let config_before = snapshot(&run.path().join("config"));
    let before = rendered(&run);
    let path = run.path().join(".env");
    let text = fs::read_to_string(&path).unwrap();
    // An invalid value: validation stops before anything is written.
    fs::write(&path, format!("{text}HTTPS_PORT=99999\n")).unwrap();
    let run = Test::again(run).args(["render"]).status(1).run();
    assert_eq!(without_env(before.clone()), without_env(rendered(&run)));
    // A write that fails half-way (EIO on the third fsync; tests/cli/crash.rs
    // fails every system call of a render in turn).
    fs::write(&path, format!("{text}HTTPS_PORT=9443\n")).unwrap();
    let out = crate::harness::run_injected(run.path(), "fsync:error=EIO:when=3", &["render"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("still in effect"), "{stderr}");
    assert_eq!(without_env(before.clone()), without_env(rendered(&run)));
    assert!(run.read("docker-compose.yml").contains("8443:8443"));
    assert!(!run.read("docker-compose.yml").contains("9443"));
    // A successful re-render with other values leaves CONFIG as it was.
    let run = Test::again(run).args(["render"]).run();
    assert!(run.read("docker-compose.yml").contains("9443:8443"));
    assert_eq!(config_before, snapshot(&run.path().join("config")));
}

/// Golden files: a reviewer sees exactly what a change does to the output.
/// `JITSI_UPDATE_GOLDEN=1 cargo test --test cli compose::golden` rewrites them.
#[test]
fn golden_files() {
    let run = init_stack(
        &[("JVB_INSTANCES", "2"), ("DEFAULT_LANGUAGE", "'de$x'")],
        &["jibri", "turn"],
    );
    let run = Test::again(run).args(["render"]).run();
    for f in ["docker-compose.yml", "jibri.yml", "turn.yml"] {
        crate::harness::golden("compose/golden", f, &run.read(f));
    }
}
