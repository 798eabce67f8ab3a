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

#[test]
fn up_passes_a_compose_failure_through() {
    let fake = Fake::new(false);
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .env("FAKE_EXIT", "5")
        .args(["up", "--timeout", "5"])
        .status(5)
        .run();
    assert!(
        run.stderr
            .contains("up -d --remove-orphans` exited with status 5"),
        "{}",
        run.stderr
    );
    assert!(!fake.log().contains(" ps "), "waited after a failed up");
}

#[test]
fn up_no_wait_does_not_poll() {
    let fake = Fake::new(false);
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["up", "--no-wait"])
        .run();
    let log = fake.log();
    let base = base_args(&run);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "docker compose version".to_string(),
            format!("docker compose {base} -f ./docker-compose.yml up -d --remove-orphans"),
        ],
        "{log}"
    );
    assert!(run.stdout.contains("--no-wait"), "{}", run.stdout);
}

#[test]
fn status_plain_and_json_argument_lists() {
    let fake = Fake::new(false);
    fake.ps(&healthy_core());
    let stack = init_stack(&[], &[]);
    let run = fake.attach(Test::again(stack)).args(["status"]).run();
    let run = fake.attach(Test::again(run)).args(["ps", "--json"]).run();
    let base = base_args(&run);
    let calls: Vec<String> = fake
        .log()
        .lines()
        .filter(|l| *l != "docker compose version")
        .map(String::from)
        .collect();
    assert_eq!(
        calls,
        [
            format!("docker compose {base} -f ./docker-compose.yml ps --all"),
            format!("docker compose {base} -f ./docker-compose.yml ps --all --format json"),
        ]
    );
}

#[test]
fn user_passwd_uses_stdin_and_refuses_a_bad_name() {
    let fake = Fake::new(false);
    let stack = init_stack(&[("ENABLE_AUTH", "1"), ("AUTH_TYPE", "internal")], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["user", "passwd", "bob", "--password-stdin"])
        .stdin("another long password\n")
        .run();
    assert!(
        run.stdout
            .contains("changed the password of bob@meet.jitsi"),
        "{}",
        run.stdout
    );
    let base = base_args(&run);
    assert!(
        fake.log().lines().any(|l| l
            == format!(
                "docker compose {base} -f ./docker-compose.yml exec -T prosody prosodyctl --config /run/prosody/config/prosody.cfg.lua passwd bob@meet.jitsi"
            )),
        "{}",
        fake.log()
    );
    assert!(!fake.log().contains("another long password"));
    assert_eq!(
        fs::read_to_string(fake.file("stdin")).unwrap(),
        "another long password\nanother long password\n"
    );
    let before = fake.log().len();
    let run = fake
        .attach(Test::again(run))
        .args(["user", "add", "bad name", "--password-stdin"])
        .stdin("another long password\n")
        .status(2)
        .run();
    assert!(run.stderr.contains("bad name"), "{}", run.stderr);
    assert!(
        !fake.log()[before..].contains("prosodyctl"),
        "prosodyctl ran for a refused name: {}",
        fake.log()
    );
}

#[test]
fn operating_commands_without_a_stack_are_usage_errors() {
    let fake = Fake::new(false);
    for args in [
        &["smoke"][..],
        &["up"],
        &["status"],
        &["down"],
        &["doctor"],
        &["logs"],
        &["ports"],
        &["proxy", "nginx"],
        &["user", "list"],
        &["render"],
        &["check"],
        &["gen-passwords"],
    ] {
        let run = fake.attach(Test::new()).args(args).status(2).run();
        assert!(
            run.stderr.contains("no .env in") && run.stderr.contains("jitsi-stack init"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert_eq!(fake.log(), "", "docker ran without a stack");
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = Test::new().args(["completions", shell]).run();
        for word in [
            "smoke",
            "insecure",
            "gen-passwords",
            "no-wait",
            "completions",
        ] {
            assert!(run.stdout.contains(word), "{shell}: {word} missing");
        }
    }
    let run = Test::new().args(["man"]).run();
    assert!(run.stdout.contains(".TH jitsi-stack 1"), "{}", run.stdout);
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(run.stdout.contains(section), "{section} missing");
    }
    for cmd in ["init", "up", "smoke", "doctor", "completions"] {
        assert!(
            run.stdout.contains(&format!("jitsi\\-stack\\-{cmd}(1)")),
            "{cmd} missing from the man page"
        );
    }
}

use crate::harness::free_port;

/// Two free consecutive ports (bridges 1 and 2 publish colibri on N, N+1).
fn free_port_pair() -> u16 {
    loop {
        let p = free_port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

/// Debian's nginx running the web container's rendered configuration.
/// Stopped when dropped (`master_process off`: one process, so killing it
/// leaves no worker behind).
struct WebServer {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A page shaped like the web image's index.html: config.js and
/// interface_config.js pulled in by SSI, then the app bundle.
const INDEX_HTML: &str = r#"<!DOCTYPE html>
<html>
  <head>
    <!--#include virtual="base.html" -->
    <script><!--#include virtual="/config.js" --></script>
    <script><!--#include virtual="/interface_config.js" --></script>
    <script src="libs/lib-jitsi-meet.min.js?v=139"></script>
    <script src="libs/app.bundle.min.js?v=139"></script>
    <!--#include virtual="title.html" -->
  </head>
  <body><div id="react"></div></body>
</html>
"#;

fn replaced(text: &str, from: &str, to: &str, file: &str) -> String {
    assert!(text.contains(from), "{file} no longer contains {from:?}");
    text.replace(from, to)
}

/// Starts nginx on the files `render` wrote to generated/web, as the web
/// container would, with only what a host cannot provide changed:
/// - container paths (/run/web/..., the web root, /storage/keys) move into
///   a temp dir; the web root holds [`INDEX_HTML`]; the certificate is a
///   throw-away self-signed one;
/// - the site listens on 127.0.0.1:`http`/`https` instead of 8000/8443
///   (what Compose publishes them as), IPv6 listens are dropped;
/// - prosody's host name (`xmpp.meet.jitsi:5280`) maps to the live
///   prosody on 127.0.0.1:`prosody`;
/// - the modules-enabled include (nginx-extras' modules, unused) is dropped
///   and logs go to files.
///
/// Jicofo and the bridges are JVM services not available here: `health`
/// lists stand-in servers in the same nginx that answer /about/health on
/// 127.0.0.1:port with the given status, as they do (200 healthy, 500 not).
fn start_web(run: &Run, http: u16, https: u16, prosody: u16, health: &[(u16, u16)]) -> WebServer {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let t_s = t.display().to_string();
    for d in [
        "run/web/config/nginx/site-confs",
        "run/web/config/nginx-custom",
        "run/web/tmp",
        "usr/share/jitsi-meet",
        "storage/keys",
    ] {
        fs::create_dir_all(t.join(d)).unwrap();
    }
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(t.join("storage/keys/cert.key"))
        .arg("-out")
        .arg(t.join("storage/keys/cert.crt"))
        .output()
        .expect("openssl is needed for the smoke test (bash .ci/install-deps)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let remap = |text: &str| -> String {
        text.replace("/run/web/", &format!("{t_s}/run/web/"))
            .replace(
                "/usr/share/jitsi-meet",
                &format!("{t_s}/usr/share/jitsi-meet"),
            )
            .replace("/storage/keys/", &format!("{t_s}/storage/keys/"))
    };
    let gen = run.path().join("generated/web");
    let read = |name: &str| fs::read_to_string(gen.join(name)).unwrap();
    let conf = t.join("run/web/config/nginx");

    let mut nginx = remap(&read("nginx.conf"));
    nginx = replaced(
        &nginx,
        "include /etc/nginx/modules-enabled/*.conf;",
        "",
        "nginx.conf",
    );
    nginx = replaced(
        &nginx,
        "access_log /dev/stdout jitsi_log;",
        "access_log off;",
        "nginx.conf",
    );
    nginx = replaced(
        &nginx,
        "pid /run/nginx.pid;",
        &format!("pid {t_s}/nginx.pid;"),
        "nginx.conf",
    );
    nginx = replaced(
        &nginx,
        "error_log /dev/stderr;",
        &format!("error_log {t_s}/error.log;"),
        "nginx.conf",
    );
    fs::write(
        conf.join("nginx.conf"),
        format!("master_process off;\n{nginx}"),
    )
    .unwrap();

    let mut site = String::new();
    for line in remap(&read("default")).lines() {
        if line.contains("listen [::]") {
            continue;
        }
        site.push_str(
            &line
                .replace("listen 8000 ", &format!("listen 127.0.0.1:{http} "))
                .replace("listen 8443 ", &format!("listen 127.0.0.1:{https} ")),
        );
        site.push('\n');
    }
    assert!(
        site.contains(&format!("listen 127.0.0.1:{https} ssl")),
        "{site}"
    );
    fs::write(conf.join("site-confs/default"), site).unwrap();
    fs::write(
        conf.join("ssl.conf"),
        remap(&read("ssl.conf")).replace(
            "/defaults/ffdhe2048.txt",
            &crate::render_web::ffdhe2048().display().to_string(),
        ),
    )
    .unwrap();
    let meet = replaced(
        &remap(&read("meet.conf")),
        "xmpp.meet.jitsi:5280",
        &format!("127.0.0.1:{prosody}"),
        "meet.conf",
    );
    fs::write(conf.join("meet.conf"), meet).unwrap();

    let standins: String = health
        .iter()
        .map(|(port, status)| {
            format!(
                "server {{ listen 127.0.0.1:{port}; location = /about/health {{ return {status} 'stand-in {status}'; }} }}\n"
            )
        })
        .collect();
    fs::write(conf.join("site-confs/health-standins"), standins).unwrap();

    fs::copy(gen.join("config.js"), t.join("run/web/config/config.js")).unwrap();
    fs::write(
        t.join("run/web/config/interface_config.js"),
        "var interfaceConfig = { APP_NAME: 'Jitsi Meet' };\n",
    )
    .unwrap();
    let root = t.join("usr/share/jitsi-meet");
    fs::write(root.join("index.html"), INDEX_HTML).unwrap();
    fs::write(root.join("base.html"), "<base href=\"/\" />\n").unwrap();
    fs::write(root.join("title.html"), "<title>Jitsi Meet</title>\n").unwrap();

    let log = fs::File::create(t.join("stderr.log")).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(format!("{t_s}/"))
        .arg("-e")
        .arg(t.join("error.log"))
        .arg("-c")
        .arg(conf.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("nginx is needed for the smoke test (bash .ci/install-deps)");
    let mut web = WebServer { child, dir };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut ports = vec![https];
    ports.extend(health.iter().map(|(p, _)| *p));
    for port in ports {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = web.child.try_wait().unwrap();
            assert!(
                exited.is_none() && std::time::Instant::now() < deadline,
                "nginx did not start ({exited:?}):\n{}\n{}",
                fs::read_to_string(web.dir.path().join("stderr.log")).unwrap_or_default(),
                fs::read_to_string(web.dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    web
}

fn smoke_json(run: Run, status: i32) -> (Run, serde_json::Value) {
    let run = Test::again(run)
        .args(["smoke", "--insecure", "--json", "--timeout", "5"])
        .status(status)
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    (run, v)
}

fn probe<'a>(v: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["check"] == check)
        .unwrap_or_else(|| panic!("no {check} probe in {v}"))
}

#[test]
fn smoke_against_real_nginx_and_prosody() {
    let (http, https, jicofo, colibri) = (free_port(), free_port(), free_port(), free_port_pair());
    let public = format!("https://localhost:{https}");
    let stack = init_stack(
        &[
            ("PUBLIC_URL", &public),
            ("HTTP_PORT", &http.to_string()),
            ("HTTPS_PORT", &https.to_string()),
            ("JICOFO_ENABLE_REST", "1"),
            ("JICOFO_REST_PORT", &jicofo.to_string()),
            ("JVB_INSTANCES", "2"),
            ("JVB_COLIBRI_PORT", &colibri.to_string()),
        ],
        &[],
    );
    let rendered = Test::again(stack).args(["render"]).run();
    let prosody = crate::render_prosody::start_live_prosody(&rendered);
    let healthy = [(jicofo, 200), (colibri, 200), (colibri + 1, 200)];
    let web = start_web(&rendered, http, https, prosody.http, &healthy);

    // TLS is verified by default: the throw-away certificate is refused,
    // with the way out named.
    let strict = Test::again(rendered)
        .args(["smoke", "--timeout", "5"])
        .status(1)
        .run();
    for check in ["web", "bosh", "websocket"] {
        assert!(
            strict
                .stdout
                .contains(&format!("FAIL {check:<10} {public}")),
            "{}",
            strict.stdout
        );
    }
    assert!(strict.stdout.contains("--insecure"), "{}", strict.stdout);
    assert!(
        strict
            .stderr
            .contains("smoke failed: web, bosh, websocket\n"),
        "{}",
        strict.stderr
    );

    let (run, v) = smoke_json(strict, 0);
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["failed"], serde_json::json!([]));
    let checks: Vec<&str> = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        ["web", "bosh", "websocket", "jicofo", "jvb", "jvb-2"]
    );
    assert_eq!(probe(&v, "web")["url"], format!("{public}/"));
    assert_eq!(
        probe(&v, "web")["detail"],
        "HTTP 200, the Jitsi Meet page with its config"
    );
    assert_eq!(
        probe(&v, "bosh")["detail"],
        "HTTP 200, BOSH session opened for meet.jitsi"
    );
    assert_eq!(
        probe(&v, "websocket")["detail"],
        "HTTP 101, websocket switched to xmpp"
    );
    assert_eq!(
        probe(&v, "jicofo")["url"],
        format!("http://127.0.0.1:{jicofo}/about/health")
    );
    assert_eq!(
        probe(&v, "jvb-2")["url"],
        format!("http://127.0.0.1:{}/about/health", colibri + 1)
    );

    // An unhealthy second bridge fails the run and is named.
    drop(web);
    let web = start_web(
        &run,
        http,
        https,
        prosody.http,
        &[(jicofo, 200), (colibri, 200), (colibri + 1, 500)],
    );
    let (run, v) = smoke_json(run, 1);
    assert_eq!(v["failed"], serde_json::json!(["jvb-2"]), "{v:#}");
    assert_eq!(
        probe(&v, "jvb-2")["detail"],
        "HTTP 500: unhealthy: stand-in 500"
    );
    assert!(
        run.stderr.contains("smoke failed: jvb-2\n"),
        "{}",
        run.stderr
    );

    // BOSH and the websocket really are prosody's: without it, nginx
    // answers 502 and both fail while the page still loads.
    drop(prosody);
    let (run, v) = smoke_json(run, 1);
    assert_eq!(
        v["failed"],
        serde_json::json!(["bosh", "websocket", "jvb-2"]),
        "{v:#}"
    );
    assert!(
        probe(&v, "bosh")["detail"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 502"),
        "{v:#}"
    );
    assert!(
        probe(&v, "websocket")["detail"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 502"),
        "{v:#}"
    );
    assert_eq!(probe(&v, "web")["ok"], true);
    drop(web);
    let _ = run;
}

#[test]
fn smoke_asks_jicofo_inside_its_container_when_rest_is_private() {
    // Without JICOFO_ENABLE_REST jicofo's REST API listens on the
    // container's loopback only: its published port answers nothing.
    let fake = Fake::new(false);
    let closed = free_port();
    let stack = init_stack(
        &[
            ("PUBLIC_URL", &format!("https://localhost:{closed}")),
            ("JVB_COLIBRI_PORT", &closed.to_string()),
        ],
        &[],
    );
    let run = fake
        .attach(Test::again(stack))
        .args(["smoke", "--json", "--timeout", "2"])
        .status(1)
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        v["failed"],
        serde_json::json!(["web", "bosh", "websocket", "jvb"]),
        "{v:#}"
    );
    assert_eq!(probe(&v, "jicofo")["detail"], "healthy");
    let base = base_args(&run);
    let want = format!(
        "docker compose {base} -f ./docker-compose.yml exec -T jicofo curl --silent --show-error --fail-with-body --max-time 2 http://127.0.0.1:8888/about/health"
    );
    assert!(
        fake.log().lines().any(|l| l == want),
        "missing {want:?} in\n{}",
        fake.log()
    );

    // curl's exit 22: jicofo answered an HTTP error status.
    let run = fake
        .attach(Test::again(run))
        .env("FAKE_EXIT", "22")
        .args(["smoke", "--json", "--timeout", "2"])
        .status(1)
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(probe(&v, "jicofo")["ok"], false);
    assert!(
        probe(&v, "jicofo")["detail"]
            .as_str()
            .unwrap()
            .starts_with("unhealthy"),
        "{v:#}"
    );
    assert!(run
        .stderr
        .contains("smoke failed: web, bosh, websocket, jicofo, jvb"));
}
