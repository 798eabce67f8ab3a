//! up/down/status/logs/restart/pull/user/doctor/ports/proxy through a fake
//! `docker` first on PATH that records its arguments and answers with canned
//! output.

use crate::harness::init_stack;
use crate::{Run, Test};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A fake docker (and optionally docker-compose) in its own directory.
struct Fake {
    dir: tempfile::TempDir,
}

const FAKE: &str = r#"#!/bin/sh
# Fake docker for jitsi-stack's tests: logs every call, answers from files.
printf '%s\n' "$(basename "$0") $*" >> "$FAKE_LOG"
case "$*" in
  "--version") echo "Docker version 28.2.2, build fake"; exit 0 ;;
  "compose version") [ -n "$FAKE_NO_PLUGIN" ] && exit 1; echo "Docker Compose version v2.40.3"; exit 0 ;;
  "version") echo "docker-compose version 1.29.2"; exit 0 ;;
esac
case "$*" in
  *" ps --all --format json"*) cat "$FAKE_PS" ;;
  *" logs "*) echo "log line from the fake" ;;
  *" exec -T prosody prosodyctl "*) cat > "$FAKE_STDIN" ;;
  *" exec -T prosody ls "*) printf 'alice.dat\nj%%2edoe.dat\n' ;;
esac
exit "${FAKE_EXIT:-0}"
"#;

impl Fake {
    fn new(with_compose_v1: bool) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let mut names = vec!["docker"];
        if with_compose_v1 {
            names.push("docker-compose");
        }
        for name in names {
            let p = dir.path().join(name);
            fs::write(&p, FAKE).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::write(dir.path().join("ps.json"), "").unwrap();
        Fake { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Healthy containers for `services`, in the JSON-lines form of newer Compose.
    fn ps(&self, states: &[(&str, &str, &str)]) {
        let text: String = states
            .iter()
            .map(|(s, st, h)| {
                format!("{{\"Service\":\"{s}\",\"State\":\"{st}\",\"Health\":\"{h}\"}}\n")
            })
            .collect();
        fs::write(self.file("ps.json"), text).unwrap();
    }

    fn log(&self) -> String {
        fs::read_to_string(self.file("log")).unwrap_or_default()
    }

    /// Wires a test to this fake.
    fn attach(&self, t: Test) -> Test {
        t.path_prepend(self.path())
            .env("FAKE_LOG", self.file("log").to_str().unwrap())
            .env("FAKE_PS", self.file("ps.json").to_str().unwrap())
            .env("FAKE_STDIN", self.file("stdin").to_str().unwrap())
            .env("JITSI_STACK_POLL_MS", "20")
    }
}

fn healthy_core() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("web", "running", "healthy"),
        ("prosody", "running", "healthy"),
        ("jicofo", "running", "healthy"),
        ("jvb", "running", "healthy"),
    ]
}

fn base_args(run: &Run) -> String {
    let d = run.path().canonicalize().unwrap();
    let d = d.to_str().unwrap();
    let project = jitsi_stack::config::sanitize_project_name(
        run.path()
            .canonicalize()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap(),
    );
    let _ = d;
    format!("--project-name {project} --project-directory .")
}

#[test]
fn up_runs_compose_with_files_in_order_and_waits() {
    let fake = Fake::new(false);
    let mut states = healthy_core();
    states.extend([("jibri", "running", "healthy"), ("etherpad", "running", "")]);
    fake.ps(&states);
    let stack = init_stack(&[], &["etherpad", "jibri"]);
    let run = fake
        .attach(Test::again(stack))
        .args(["up", "--timeout", "5"])
        .run();
    let log = fake.log();
    let up_line = log.lines().find(|l| l.contains(" up -d")).expect(&log);
    assert_eq!(
        up_line,
        format!(
            "docker compose {} -f ./docker-compose.yml -f ./jibri.yml -f ./etherpad.yml up -d --remove-orphans",
            base_args(&run)
        )
    );
    assert!(log.contains(" ps --all --format json"), "{log}");
    assert!(
        run.stdout.contains("https://meet.example.org:8443"),
        "{}",
        run.stdout
    );
    assert!(run.exists("generated/web/config.js"));
}

#[test]
fn up_timeout_names_the_failing_service_with_its_logs() {
    let fake = Fake::new(false);
    let mut states = healthy_core();
    states[3] = ("jvb", "running", "unhealthy");
    fake.ps(&states);
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["up", "--timeout", "1"])
        .status(1)
        .run();
    assert!(
        run.stderr.contains("not healthy after 1 s: jvb"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("log line from the fake"),
        "{}",
        run.stderr
    );
    assert!(
        fake.log().contains(" logs --no-color --tail 20 jvb"),
        "{}",
        fake.log()
    );
}

#[test]
fn up_dry_run_changes_nothing() {
    let fake = Fake::new(false);
    let stack = init_stack(&[], &["jibri"]);
    let before = stack.read(".env");
    let run = fake
        .attach(Test::again(stack))
        .args(["up", "--dry-run"])
        .run();
    assert!(
        run.stdout.contains("up -d --remove-orphans"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("-f ./jibri.yml"), "{}", run.stdout);
    assert!(!run.exists("generated"));
    assert!(!run.exists("docker-compose.yml"));
    assert_eq!(run.read(".env"), before);
    assert!(!fake.log().contains(" up "), "{}", fake.log());
}

#[test]
fn compose_v1_fallback() {
    let fake = Fake::new(true);
    fake.ps(&healthy_core());
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .env("FAKE_NO_PLUGIN", "1")
        .args(["up", "--timeout", "5"])
        .run();
    let log = fake.log();
    assert!(
        log.lines()
            .any(|l| l.starts_with("docker-compose --project-name")
                && l.ends_with("up -d --remove-orphans")),
        "{log}"
    );
    assert!(run.stdout.contains("is up"));
}

#[test]
fn docker_missing_is_exit_127_naming_both() {
    let stack = init_stack(&[], &[]);
    let empty = tempfile::tempdir().unwrap();
    let run = Test::again(stack)
        .env("PATH", empty.path().to_str().unwrap())
        .args(["pull"])
        .status(127)
        .run();
    assert!(
        run.stderr.contains("docker compose") && run.stderr.contains("docker-compose"),
        "{}",
        run.stderr
    );
}

#[test]
fn docker_exit_status_is_passed_through() {
    let fake = Fake::new(false);
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .env("FAKE_EXIT", "3")
        .args(["pull"])
        .status(3)
        .run();
    assert!(
        run.stderr.contains("exited with status 3"),
        "{}",
        run.stderr
    );
}

#[test]
fn pass_throughs_use_the_same_project_and_files() {
    let fake = Fake::new(false);
    let stack = init_stack(&[], &[]);
    let run = Test::again(stack).args(["render"]).run();
    let run = fake
        .attach(Test::again(run))
        .args(["logs", "-f", "--tail", "5", "web"])
        .run();
    let run = fake.attach(Test::again(run)).args(["restart", "jvb"]).run();
    let run = fake.attach(Test::again(run)).args(["pull"]).run();
    let run = fake.attach(Test::again(run)).args(["down"]).run();
    let base = base_args(&run);
    let log = fake.log();
    for tail in [
        "logs --follow --tail 5 web",
        "restart jvb",
        "pull",
        "down --remove-orphans",
    ] {
        let want = format!("docker compose {base} -f ./docker-compose.yml {tail}");
        assert!(log.lines().any(|l| l == want), "missing {want:?} in\n{log}");
    }
}

#[test]
fn down_volumes_needs_yes() {
    let fake = Fake::new(false);
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["down", "--volumes"])
        .status(2)
        .run();
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(!fake.log().contains(" down"));
    let run = fake
        .attach(Test::again(run))
        .args(["down", "--volumes", "--yes"])
        .run();
    let _ = run;
    assert!(
        fake.log().contains(" down --remove-orphans --volumes"),
        "{}",
        fake.log()
    );
}

#[test]
fn status_json_reads_both_ps_forms() {
    let fake = Fake::new(false);
    fake.ps(&healthy_core());
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["status", "--json"])
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    assert_eq!(v[3]["service"], "jvb");
    assert_eq!(v[3]["health"], "healthy");
    fs::write(
        fake.file("ps.json"),
        r#"[{"Service":"web","State":"running","Health":""}]"#,
    )
    .unwrap();
    let run = fake
        .attach(Test::again(run))
        .args(["status", "--json"])
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v[0]["state"], "running");
}

#[test]
fn user_add_passes_the_password_on_stdin_only() {
    let fake = Fake::new(false);
    let stack = init_stack(&[("ENABLE_AUTH", "1"), ("AUTH_TYPE", "internal")], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["user", "add", "Alice", "--password-stdin"])
        .stdin("correct horse battery\n")
        .run();
    assert!(
        run.stdout.contains("added alice@meet.jitsi"),
        "{}",
        run.stdout
    );
    let log = fake.log();
    assert!(
        log.contains(" exec -T prosody prosodyctl --config /run/prosody/config/prosody.cfg.lua adduser alice@meet.jitsi"),
        "{log}"
    );
    assert!(
        !log.contains("correct horse"),
        "password leaked into argv: {log}"
    );
    assert_eq!(
        fs::read_to_string(fake.file("stdin")).unwrap(),
        "correct horse battery\ncorrect horse battery\n"
    );
    let run = fake.attach(Test::again(run)).args(["user", "list"]).run();
    assert_eq!(run.stdout, "alice@meet.jitsi\nj.doe@meet.jitsi\n");
    let run = fake
        .attach(Test::again(run))
        .args(["user", "del", "alice"])
        .run();
    assert!(fake.log().contains("deluser alice@meet.jitsi"));
    let _ = run;
}

#[test]
fn user_needs_internal_auth() {
    let fake = Fake::new(false);
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["user", "list"])
        .status(2)
        .run();
    assert!(run.stderr.contains("AUTH_TYPE=internal"), "{}", run.stderr);
    assert!(!fake.log().contains("prosodyctl"));
}

#[test]
fn doctor_reports_a_port_the_test_holds() {
    let fake = Fake::new(false);
    let held = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let stack = init_stack(
        &[
            ("HTTPS_PORT", &port),
            ("PUBLIC_URL", &format!("https://localhost:{port}")),
        ],
        &[],
    );
    let run = fake
        .attach(Test::again(stack))
        .args(["doctor"])
        .status(1)
        .run();
    assert!(
        run.stdout.contains(&format!("in use: {port}/tcp (web)")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Docker version 28.2.2"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("pinned to stable-11146-2"),
        "{}",
        run.stdout
    );
    drop(held);
    let run = fake
        .attach(Test::again(run))
        .args(["doctor", "--json"])
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["ok"], true, "{}", run.stdout);
}

#[test]
fn ports_table_and_firewall_lines() {
    let stack = init_stack(
        &[
            ("JVB_INSTANCES", "2"),
            ("JIGASI_SIP_URI", "jitsi@sip.example.org"),
            ("JIGASI_SIP_PASSWORD", "sip-password-long-enough"),
            ("JIGASI_SIP_SERVER", "sip.example.org"),
        ],
        &[],
    );
    let run = Test::again(stack)
        .args(["ports", "--with", "jigasi,turn"])
        .run();
    for line in [
        "ufw allow 8443/tcp",
        "ufw allow 10000/udp",
        "ufw allow 10001/udp",
        "ufw allow 20000:20050/udp",
        "ufw allow 3478/udp",
        "firewall-cmd --permanent --add-port=20000-20050/udp",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "{line} missing:\n{}",
            run.stdout
        );
    }
}

#[test]
fn proxy_snippet_uses_the_stack_values() {
    let stack = init_stack(&[("HTTP_PORT", "8081")], &[]);
    let run = Test::again(stack).args(["proxy", "nginx"]).run();
    assert!(
        run.stdout.contains("server_name meet.example.org;"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("proxy_pass http://127.0.0.1:8081;"));
    assert!(run.stdout.contains("location /xmpp-websocket"));
}
