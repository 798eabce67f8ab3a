//! Across real network boundaries: three network namespaces on one bridge
//! stand in for three hosts.
//! - `main` (10.77.0.1) runs the main host's rendered prosody (Debian's, live,
//!   with the image's account set-up: `prosodyctl shell user create`), its
//!   client port on that address only, and the nftables rules `ports`
//!   renders;
//! - `node` (10.77.0.2), a listed node, runs `doctor` in its bundle: resolve,
//!   connect, STARTTLS, TLS verified with the pinned CA, SASL login with the
//!   bundle's credentials; and the JVM's own TLS with the bundle's trust store;
//! - `other` (10.77.0.3) is not a node: the rules refuse it.
//!
//! The failures are asserted too: a wrong password, another CA, the
//! unlisted namespace. Every namespace is removed, also when a test fails.

use crate::harness::FakeDocker;
use crate::nodes::{create_account, env_of, main_with_bridge, start_main};
use crate::Run;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

const MAIN: &str = "10.77.0.1";
const NODE: &str = "10.77.0.2";
const OTHER: &str = "10.77.0.3";

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2's ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespaces of one test; deleted (with whatever still runs in them)
/// when dropped, also on a panic.
struct Net {
    main: String,
    node: String,
    other: String,
}

impl Net {
    fn new() -> Net {
        static N: AtomicU32 = AtomicU32::new(0);
        assert!(
            fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0),
            "the network namespace tests run as root (CI does)"
        );
        let id = format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let net = Net {
            main: format!("js-main-{id}"),
            node: format!("js-node-{id}"),
            other: format!("js-other-{id}"),
        };
        for ns in [&net.main, &net.node, &net.other] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // A switch in the main namespace; each host on its own cable.
        ip(&["-n", &net.main, "link", "add", "br0", "type", "bridge"]);
        ip(&[
            "-n",
            &net.main,
            "addr",
            "add",
            &format!("{MAIN}/24"),
            "dev",
            "br0",
        ]);
        ip(&["-n", &net.main, "link", "set", "br0", "up"]);
        for (ns, addr, port) in [(&net.node, NODE, "p-node"), (&net.other, OTHER, "p-other")] {
            ip(&[
                "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns",
                &net.main,
            ]);
            ip(&["-n", &net.main, "link", "set", port, "master", "br0", "up"]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
        }
        net
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.main, &self.node, &self.other] {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A fake `docker` that only says it is installed (`doctor` checks it).
fn fake_docker() -> FakeDocker {
    FakeDocker::with("")
}

/// `jitsi-stack ARGS` inside namespace `ns`.
fn js_in(ns: &str, docker: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        docker.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(assert_cmd::cargo::cargo_bin("jitsi-stack"))
        .args(args)
        .env("PATH", path)
        .env_remove("JITSI_STACK_DIR")
        .output()
        .unwrap()
}

/// `doctor --json` in `dir` inside `ns`: the exit status and the findings.
fn doctor(ns: &str, docker: &Path, dir: &Path) -> (i32, Vec<serde_json::Value>) {
    let out = js_in(
        ns,
        docker,
        &["--dir", dir.to_str().unwrap(), "doctor", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor in {ns}: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = v["findings"].as_array().unwrap().clone();
    // doctor's exit status says whether a finding failed.
    let failed = findings.iter().any(|f| f["status"] == "fail");
    let code = out.status.code().unwrap_or(-1);
    assert_eq!(
        (code, v["ok"].as_bool()),
        (i32::from(failed), Some(!failed)),
        "doctor in {ns}: exit {code}, ok {}, findings {findings:#?}",
        v["ok"]
    );
    (code, findings)
}

fn finding<'a>(findings: &'a [serde_json::Value], check: &str) -> &'a serde_json::Value {
    findings
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {findings:#?}"))
}

/// A copy of the bundle of `run`'s node b2, for one variant.
fn bundle_copy(run: &Run) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("jsb")
        .tempdir_in("/tmp")
        .unwrap();
    let out = Command::new("cp")
        .arg("-a")
        .arg(run.path().join("nodes/b2/."))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    dir
}

fn set_env(dir: &Path, key: &str, value: &str) {
    let path = dir.join(".env");
    let mut f = jitsi_stack::envfile::EnvFile::read(&path).unwrap();
    f.set(key, value).unwrap();
    f.write(&path).unwrap();
}

/// The JVM's TLS to prosody from `ns`, with the bundle's trust store given
/// the way the node's containers get it (JAVA_TOOL_OPTIONS), or without.
fn java_tls(ns: &str, truststore: Option<&Path>) -> Output {
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/XmppTlsCheck.java"
    );
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        ns,
        "java",
        src,
        MAIN,
        "5222",
        "auth.meet.jitsi",
    ]);
    c.env_remove("JAVA_TOOL_OPTIONS");
    if let Some(t) = truststore {
        let opts = jitsi_stack::stack::pki::java_tool_options().replace(
            jitsi_stack::stack::pki::TRUSTSTORE_TARGET,
            t.to_str().unwrap(),
        );
        c.env("JAVA_TOOL_OPTIONS", opts);
    }
    c.output()
        .expect("java (default-jdk-headless, .ci/install-deps)")
}

#[test]
fn a_node_logs_in_across_hosts_and_only_nodes_get_through() {
    let net = Net::new();
    let docker = fake_docker();
    let run = main_with_bridge(MAIN, NODE);
    let env = env_of(&run);
    let live = start_main(&run, MAIN, 5222, Some(&net.main));
    // The image's account set-up, for the service accounts and the node's.
    create_account(
        &live,
        "focus@auth.meet.jitsi",
        env.get("JICOFO_AUTH_PASSWORD").unwrap(),
    );
    create_account(
        &live,
        "jvb@auth.meet.jitsi",
        env.get("JVB_AUTH_PASSWORD").unwrap(),
    );
    let node_pw = env.get("JITSI_STACK_NODE_B2_PASSWORD").unwrap();
    create_account(&live, "node-b2@auth.meet.jitsi", node_pw);
    let bundle: PathBuf = run.path().join("nodes/b2");
    // The bundle may be read by the namespaced runs (root, but be explicit).
    let _ = fs::set_permissions(run.path(), fs::Permissions::from_mode(0o755));

    // Before any firewall rule, the port is open to everyone who reaches
    // the address: the unlisted host logs in with a copy of the bundle.
    let stolen = bundle_copy(&run);
    let (_, f) = doctor(&net.other, docker.dir(), stolen.path());
    assert_eq!(finding(&f, "xmpp")["status"], "ok", "{f:#?}");
    let (_, f) = doctor(&net.main, docker.dir(), run.path());
    assert_eq!(finding(&f, "firewall")["status"], "warn", "{f:#?}");
    assert!(finding(&f, "firewall")["message"]
        .as_str()
        .unwrap()
        .contains("open to everyone"));

    // The rules `ports` renders, checked and loaded in the main namespace.
    let out = js_in(
        &net.main,
        docker.dir(),
        &["--dir", run.path().to_str().unwrap(), "ports", "--nftables"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = run.path().join("xmpp.nft");
    fs::write(&rules, &out.stdout).unwrap();
    for args in [vec!["-c", "-f"], vec!["-f"]] {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &net.main, "nft"])
            .args(&args)
            .arg(&rules);
        let out = c.output().expect("nftables (.ci/install-deps)");
        assert!(
            out.status.success(),
            "nft {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Loading them again replaces the table (the file is idempotent).
    let out = Command::new("ip")
        .args(["netns", "exec", &net.main, "nft", "-f"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(out.status.success());

    // The main host: address, firewall, certificates, bundle.
    let (_, f) = doctor(&net.main, docker.dir(), run.path());
    for check in ["xmpp", "firewall", "certs", "bundles"] {
        assert_eq!(finding(&f, check)["status"], "ok", "{check}: {f:#?}");
    }

    // The node: logs in over TLS verified with the pinned CA.
    let (code, f) = doctor(&net.node, docker.dir(), &bundle);
    let x = finding(&f, "xmpp");
    assert_eq!(x["status"], "ok", "{f:#?}");
    let msg = x["message"].as_str().unwrap();
    assert!(
        msg.contains("node-b2@auth.meet.jitsi/")
            && msg.contains("pinned CA")
            && msg.contains("SCRAM-SHA-1"),
        "{msg}"
    );
    assert_eq!(finding(&f, "node")["status"], "ok", "{f:#?}");
    assert_eq!(
        finding(&f, "ports")["status"],
        "ok",
        "the media port is free: {f:#?}"
    );
    assert_eq!(code, 0, "{f:#?}");

    // The JVMs of the node's images, given the bundle's trust store the way
    // their containers get it, verify prosody; without it they refuse.
    let out = java_tls(&net.node, Some(&bundle.join("xmpp-ca.jks")));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("ok "),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = java_tls(&net.node, None);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stdout).contains("tls-failed"),
        "the JVM's own CAs must not accept prosody's certificate: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Fails with a wrong password.
    let wrong = bundle_copy(&run);
    set_env(
        wrong.path(),
        "JVB_AUTH_PASSWORD",
        "wrong-password-0123456789",
    );
    let (code, f) = doctor(&net.node, docker.dir(), wrong.path());
    let x = finding(&f, "xmpp");
    assert_eq!(x["status"], "fail");
    assert!(
        x["message"]
            .as_str()
            .unwrap()
            .contains("auth: the server refused the login (not-authorized)"),
        "{x}"
    );
    assert_eq!(code, 1);

    // Fails when the bundle pins another CA (a man in the middle's view).
    let foreign = bundle_copy(&run);
    let elsewhere = main_with_bridge(MAIN, NODE);
    for f in ["xmpp-ca.crt", "xmpp-ca.jks"] {
        fs::copy(
            elsewhere.path().join("nodes/b2").join(f),
            foreign.path().join(f),
        )
        .unwrap();
    }
    let (code, f) = doctor(&net.node, docker.dir(), foreign.path());
    let x = finding(&f, "xmpp");
    assert_eq!(x["status"], "fail");
    assert!(
        x["message"].as_str().unwrap().contains(
            "tls: the server's certificate is not accepted: its signature does not verify"
        ),
        "{x}"
    );
    assert_eq!(code, 1);

    // Fails from the unlisted namespace: the rules drop it before prosody.
    let (code, f) = doctor(&net.other, docker.dir(), stolen.path());
    let x = finding(&f, "xmpp");
    assert_eq!(x["status"], "fail", "{f:#?}");
    assert!(x["message"].as_str().unwrap().contains("connect:"), "{x}");
    assert_eq!(
        finding(&f, "node")["status"],
        "warn",
        "10.77.0.2 is not this host's"
    );
    assert_eq!(code, 1);
    // ... while the node still gets through.
    let (_, f) = doctor(&net.node, docker.dir(), &bundle);
    assert_eq!(finding(&f, "xmpp")["status"], "ok");

    // The ufw/firewalld form: DOCKER-USER rules matching the original
    // destination, as Docker's forward path would consult them (here, with
    // no Docker in the namespace, INPUT jumps to the chain instead).
    let in_main = |args: &[&str], stdin: Option<&Path>| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &net.main]).args(args);
        if let Some(f) = stdin {
            c.stdin(fs::File::open(f).unwrap());
        }
        let out = c.output().expect("iptables (.ci/install-deps)");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    in_main(&["nft", "delete", "table", "inet", "jitsi_stack"], None);
    let (_, f) = doctor(&net.other, docker.dir(), stolen.path());
    assert_eq!(finding(&f, "xmpp")["status"], "ok", "open again: {f:#?}");
    let out = js_in(
        &net.main,
        docker.dir(),
        &["--dir", run.path().to_str().unwrap(), "ports"],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = text.find("*filter\n").unwrap();
    let end = text[start..].find("COMMIT\n").unwrap() + start + "COMMIT\n".len();
    let after_rules = run.path().join("after.rules");
    fs::write(&after_rules, &text[start..end]).unwrap();
    in_main(
        &["iptables-restore", "--test", "--noflush"],
        Some(&after_rules),
    );
    in_main(&["iptables-restore", "--noflush"], Some(&after_rules));
    in_main(&["iptables", "-I", "INPUT", "-j", "DOCKER-USER"], None);
    let (_, f) = doctor(&net.main, docker.dir(), run.path());
    assert_eq!(finding(&f, "firewall")["status"], "ok", "{f:#?}");
    let (_, f) = doctor(&net.node, docker.dir(), &bundle);
    assert_eq!(finding(&f, "xmpp")["status"], "ok", "{f:#?}");
    let (code, f) = doctor(&net.other, docker.dir(), stolen.path());
    assert_eq!(finding(&f, "xmpp")["status"], "fail", "{f:#?}");
    assert_eq!(code, 1);

    // prosody logged the node's login (the same account, from the node's address).
    let log = fs::read_to_string(live.root.path().join("prosody.log")).unwrap_or_default();
    assert!(log.contains("node-b2"), "{log}");
    drop(live);
    drop(net);
}
