//! nodes tests: `node add|list|remove`, what `check` says about nodes, the
//! bundles `render` writes (self-contained, private, byte-identical, valid
//! for Compose v2 and the JVMs' parsers), the XMPP port the main host
//! publishes, and, against Debian's prosody running the main host's rendered
//! config, the accounts `up` creates and the brewery `smoke` reads.
//!
//! The live prosody here listens on the loopback; tests/cli/netns.rs runs it
//! across network namespaces.

use crate::harness::{free_port, init_stack, FakeDocker};
use crate::{Run, Test};
use jitsi_stack::envfile::EnvFile;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SIP: &[(&str, &str)] = &[
    ("JIGASI_SIP_URI", "jitsi@sip.example.org"),
    ("JIGASI_SIP_PASSWORD", "sip-password-long-enough"),
    ("JIGASI_SIP_SERVER", "sip.example.org"),
];

/// `node add` with `args` in the stack of `run`; must succeed.
pub fn add(run: Run, args: &[&str]) -> Run {
    let mut a = vec!["node", "add"];
    a.extend_from_slice(args);
    Test::again(run).args(a).run()
}

pub fn env_of(run: &Run) -> EnvFile {
    EnvFile::read(&run.path().join(".env")).unwrap()
}

/// A main host at `main` with a bridge node b2 at `node`, rendered.
pub fn main_with_bridge(main: &str, node: &str) -> Run {
    let run = init_stack(&[], &[]);
    let run = add(
        run,
        &[
            "jvb",
            "b2",
            "--address",
            node,
            "--advertise",
            "203.0.113.7#10000",
            "--main-address",
            main,
        ],
    );
    Test::again(run).args(["render"]).run()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir`, relative, with its bytes and mtime.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = fs::symlink_metadata(&p).unwrap();
            // Each file once, where it lives: the names that lead through
            // the render switch (`current`, `generated`, the compose links)
            // are links; the stack lock is no file of the stack's.
            if meta.file_type().is_symlink()
                || p.file_name()
                    .is_some_and(|n| n == jitsi_stack::lock::LOCK_FILE)
            {
                continue;
            }
            if meta.is_dir() {
                todo.push(p);
            } else {
                let m = fs::metadata(&p).unwrap().modified().unwrap();
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.push((rel, fs::read(&p).unwrap(), m));
            }
        }
    }
    out.sort();
    out
}

/// Every byte of every file under `dir`, as text (for "is this secret in
/// there anywhere").
fn all_text(dir: &Path) -> String {
    snapshot(dir)
        .into_iter()
        .map(|(_, b, _)| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

#[test]
fn add_list_remove_and_what_check_says() {
    let run = init_stack(&[], &[]);
    // Without the main host's address the node cannot be added.
    let run = Test::again(run)
        .args(["node", "add", "jvb", "b2", "--address", "10.9.0.2"])
        .status(2)
        .run();
    assert!(run.stderr.contains("--main-address"), "{}", run.stderr);
    let run = add(
        run,
        &[
            "jvb",
            "b2",
            "--address",
            "10.9.0.2",
            "--region",
            "eu-west",
            "--instances",
            "2",
            "--main-address",
            "10.9.0.1",
        ],
    );
    assert!(
        run.stdout.contains("node-b2@auth.meet.jitsi"),
        "{}",
        run.stdout
    );
    let env = env_of(&run);
    assert_eq!(
        env.get("JITSI_STACK_NODE_B2"),
        Some("jvb address=10.9.0.2 region=eu-west instances=2")
    );
    assert_eq!(env.get("JITSI_STACK_MAIN_ADDRESS"), Some("10.9.0.1"));
    let pw = env.get("JITSI_STACK_NODE_B2_PASSWORD").unwrap().to_string();
    assert_eq!(pw.len(), 32);
    assert_ne!(Some(pw.as_str()), env.get("JVB_AUTH_PASSWORD"));
    // The CA and prosody's certificates are made at once, the keys private.
    assert_eq!(mode(&run.path().join("config/xmpp-ca/ca.key")), 0o600);
    assert_eq!(
        mode(
            &run.path()
                .join("config/prosody/config/certs/auth.meet.jitsi.key")
        ),
        0o600
    );
    // Refused, with nothing written: a name taken, a bad name, a recorder
    // with a region, an address that is not one.
    let before = run.read(".env");
    let mut run = run;
    for (args, says) in [
        (vec!["jvb", "b2", "--address", "10.9.0.5"], "already listed"),
        (vec!["jvb", "B_2", "--address", "10.9.0.5"], "node name"),
        (
            vec!["jibri", "rec", "--address", "10.9.0.6", "--region", "eu"],
            "no region",
        ),
        (vec!["jvb", "b3", "--address", "not-an-ip"], "address"),
    ] {
        let mut a = vec!["node", "add"];
        a.extend(&args);
        run = Test::again(run).args(&a).status(2).run();
        assert!(run.stderr.contains(says), "{a:?}: {}", run.stderr);
        assert_eq!(run.read(".env"), before);
    }
    let run = Test::again(run).args(["node", "list", "--json"]).run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["main_address"], "10.9.0.1");
    let n = &v["nodes"][0];
    assert_eq!(n["name"], "b2");
    assert_eq!(n["kind"], "jvb");
    assert_eq!(n["instance_ids"], serde_json::json!(["b2", "b2-2"]));
    assert_eq!(n["account"], "node-b2@auth.meet.jitsi");
    let run = Test::again(run).args(["node", "list"]).run();
    assert!(run
        .stdout
        .lines()
        .any(|l| l.starts_with("b2 ") && l.contains("10.9.0.2") && l.contains("eu-west")));

    let run = Test::again(run)
        .args(["node", "remove", "nope"])
        .status(2)
        .run();
    assert!(run.stderr.contains("the nodes are: b2"), "{}", run.stderr);
    let run = Test::again(run).args(["node", "remove", "b2"]).run();
    let env = env_of(&run);
    assert!(env.get("JITSI_STACK_NODE_B2").is_none());
    assert!(env.get("JITSI_STACK_NODE_B2_PASSWORD").is_none());
    let run = Test::again(run).args(["node", "list", "--json"]).run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["nodes"], serde_json::json!([]));
}

#[test]
fn node_add_jibri_turns_recording_on_in_the_same_write() {
    let run = init_stack(&[("ENABLE_RECORDING", "0")], &[]);
    let lines = run.read(".env").lines().count();
    let run = add(
        run,
        &[
            "jibri",
            "rec",
            "--address",
            "10.9.0.6",
            "--main-address",
            "10.9.0.1",
        ],
    );
    assert!(
        run.stdout.contains("set ENABLE_RECORDING=1"),
        "{}",
        run.stdout
    );
    let env = env_of(&run);
    assert_eq!(env.get("ENABLE_RECORDING"), Some("1"));
    assert_eq!(
        env.get("JITSI_STACK_NODE_REC"),
        Some("jibri address=10.9.0.6")
    );
    // Edited in place: the node's line, its password and the main address
    // are the only new lines.
    assert_eq!(run.read(".env").lines().count(), lines + 3);
    // `check` is clean: no "recording is off", no "button without a recorder".
    let run = Test::again(run).args(["check", "--json"]).run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let about: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["variable"] == "ENABLE_RECORDING")
        .collect();
    assert!(about.is_empty(), "{about:?}");
    // With recording on already, nothing more is said.
    let run = add(run, &["jibri", "rec-b", "--address", "10.9.0.7"]);
    assert!(!run.stdout.contains("ENABLE_RECORDING"), "{}", run.stdout);
}

#[test]
fn a_taken_node_name_is_refused_with_a_free_one_and_nothing_written() {
    let run = init_stack(&[], &["jibri"]);
    let before = run.read(".env");
    // `jvb` is the main host's bridge's id, `jibri` its recorder's.
    let mut run = run;
    for (kind, name, owner, free) in [
        ("jvb", "jvb", "this host's jvb", "bridge-2"),
        ("jibri", "jibri", "this host's jibri", "recorder-2"),
    ] {
        run = Test::again(run)
            .args([
                "node",
                "add",
                kind,
                name,
                "--address",
                "10.9.0.2",
                "--main-address",
                "10.9.0.1",
            ])
            .status(2)
            .run();
        assert!(
            run.stderr.contains(&format!("node name {name} is taken")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(owner), "{}", run.stderr);
        assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "`jitsi-stack node add {kind} {free} --address 10.9.0.2"
            )),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("add it again"), "{}", run.stderr);
        assert_eq!(run.read(".env"), before);
    }
    // Another node's second instance takes NAME-2.
    let run = add(
        run,
        &[
            "jvb",
            "b",
            "--address",
            "10.9.0.3",
            "--instances",
            "2",
            "--main-address",
            "10.9.0.1",
        ],
    );
    let run = Test::again(run)
        .args(["node", "add", "jvb", "b-2", "--address", "10.9.0.4"])
        .status(2)
        .run();
    assert!(
        run.stderr.contains("which is node b's jvb"),
        "{}",
        run.stderr
    );
}

/// The `jitsi-stack node add` lines of docs/nodes.md in order, with the
/// settings of its plain blocks of `NAME=VALUE` lines (what the page says to
/// put in `.env`) applied where they come.
enum DocStep {
    Env(Vec<String>),
    NodeAdd(Vec<String>),
}

fn nodes_page_steps() -> Vec<DocStep> {
    let page =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/nodes.md")).unwrap();
    let mut steps = vec![];
    let mut lines = page.lines();
    while let Some(l) = lines.next() {
        let Some(lang) = l.strip_prefix("```") else {
            continue;
        };
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        if lang == "sh" {
            let joined = block.join("\n").replace("\\\n", " ");
            for cmd in joined.lines() {
                let cmd = cmd.split(" #").next().unwrap().trim();
                if let Some(rest) = cmd.strip_prefix("jitsi-stack node add ") {
                    steps.push(DocStep::NodeAdd(
                        rest.split_whitespace().map(String::from).collect(),
                    ));
                }
            }
        } else if lang.is_empty()
            && block.iter().all(|l| {
                l.split_once('=').is_some_and(|(k, _)| {
                    !k.is_empty() && k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                })
            })
            && !block.iter().any(|l| l.starts_with("JITSI_STACK_NODE_"))
        {
            steps.push(DocStep::Env(block.iter().map(|l| l.to_string()).collect()));
        }
    }
    steps
}

#[test]
fn the_docs_node_examples_pass_check_without_octo_warnings() {
    let steps = nodes_page_steps();
    let adds = steps
        .iter()
        .filter(|s| matches!(s, DocStep::NodeAdd(_)))
        .count();
    assert!(adds >= 2, "docs/nodes.md shows no `node add`");
    let mut run = init_stack(&[], &[]);
    for step in steps {
        match step {
            DocStep::Env(lines) => {
                let path = run.path().join(".env");
                let mut text = fs::read_to_string(&path).unwrap();
                for l in lines {
                    text.push_str(&l);
                    text.push('\n');
                }
                fs::write(&path, text).unwrap();
            }
            DocStep::NodeAdd(args) => {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                run = add(run, &a);
            }
        }
    }
    let run = Test::again(run).args(["check", "--json"]).run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let warnings: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "warning")
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    // The region example did set a region.
    assert!(env_of(&run)
        .get("JITSI_STACK_NODE_BRIDGE_3")
        .is_some_and(|l| l.contains("region=eu-west")));
}

#[test]
fn bundle_doctor_checks_dns_only_where_the_node_opens_public_url() {
    let fake = FakeDocker::new();
    let run = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://localhost:8443",
            "--non-interactive",
        ])
        .run();
    let run = add(
        run,
        &[
            "jvb",
            "b2",
            "--address",
            "10.9.0.2",
            "--main-address",
            "10.9.0.1",
        ],
    );
    let run = add(run, &["jibri", "rec", "--address", "10.9.0.3"]);
    let run = Test::again(run).args(["render"]).run();
    let run = fake
        .attach(Test::again(run))
        .args(["--dir", "nodes/b2", "doctor"])
        .status_any()
        .run();
    // The main host, 10.9.0.1, is not this machine: its XMPP fails.
    assert_eq!(crate::harness::doctor_exit(&run), 1, "{}", run.stdout);
    assert!(
        !run.stdout.lines().any(|l| l.contains(" dns ")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("localhost"), "{}", run.stdout);
    let run = fake
        .attach(Test::again(run))
        .args(["--dir", "nodes/rec", "doctor"])
        .status_any()
        .run();
    // The main host, 10.9.0.1, is not this machine: its XMPP fails.
    assert_eq!(crate::harness::doctor_exit(&run), 1, "{}", run.stdout);
    let dns: Vec<&str> = run.stdout.lines().filter(|l| l.contains(" dns ")).collect();
    assert_eq!(dns.len(), 1, "{}", run.stdout);
    assert!(
        dns[0].starts_with("warn dns") && dns[0].contains("localhost is the node itself"),
        "{}",
        run.stdout
    );
    // The main host still checks its own name.
    let run = fake
        .attach(Test::again(run))
        .args(["doctor"])
        .status_any()
        .run();
    // The main host, 10.9.0.1, is not this machine: its XMPP fails.
    assert_eq!(crate::harness::doctor_exit(&run), 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("dns        localhost resolves to"),
        "{}",
        run.stdout
    );
}

#[test]
fn check_locates_every_node_problem() {
    let run = init_stack(
        &[
            ("JITSI_STACK_NODE_B2", "'jvb address=10.9.0.2 colour=blue'"),
            ("JITSI_STACK_NODE_JVB", "'jvb address=10.9.0.3'"),
            ("JITSI_STACK_NODE_R", "'jibri address=10.9.0.4'"),
            ("JITSI_STACK_NODE_GONE_PASSWORD", "0123456789abcdef0123"),
        ],
        &[],
    );
    let r = Test::again(run).args(["check", "--json"]).status(1).run();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let find = |var: &str, says: &str| {
        findings
            .iter()
            .find(|f| f["variable"] == var && f["message"].as_str().unwrap().contains(says))
            .unwrap_or_else(|| panic!("no finding {var} {says:?} in {findings:#?}"))
    };
    let text = r.read(".env");
    let line_of = |key: &str| {
        text.lines()
            .position(|l| l.starts_with(&format!("{key}=")))
            .unwrap()
            + 1
    };
    let bad = find("JITSI_STACK_NODE_B2", "unknown key");
    assert_eq!(bad["code"], "node");
    assert_eq!(bad["level"], "error");
    assert_eq!(bad["line"], line_of("JITSI_STACK_NODE_B2"));
    assert!(bad["expected"].as_str().unwrap().contains("address=IP"));
    assert_eq!(bad["found"], "\"colour=blue\"");
    assert!(bad["fix"].as_str().unwrap().contains("edit line"));
    // The main host's address, the nodes' passwords, recording, the ids.
    find("JITSI_STACK_NODE_JVB", "not set");
    find("JITSI_STACK_NODE_JVB_PASSWORD", "no XMPP password");
    find("ENABLE_RECORDING", "recorder nodes");
    let stray = find("JITSI_STACK_NODE_GONE_PASSWORD", "not listed");
    assert_eq!(stray["level"], "warning");
    // Node variables are not "unknown variables".
    assert!(!findings.iter().any(|f| f["code"] == "unknown"));
    let r = Test::again(r).args(["check"]).status(1).run();
    let want = format!(
        "{}/.env:{}: JITSI_STACK_NODE_B2: node b2: unknown key \"colour\"",
        ".",
        line_of("JITSI_STACK_NODE_B2")
    );
    assert!(r.stderr.contains(&want[2..]), "{want}\n{}", r.stderr);
    // A node called jvb clashes with this host's bridge id.
    let run = init_stack(&[], &[]);
    let run = add(
        run,
        &[
            "jvb",
            "b2",
            "--address",
            "10.9.0.2",
            "--main-address",
            "10.9.0.1",
        ],
    );
    let r = Test::again(run)
        .args(["node", "add", "jvb", "jvb", "--address", "10.9.0.3"])
        .status(2)
        .run();
    assert!(
        r.stderr.contains("is taken") && r.stderr.contains("this host"),
        "{}",
        r.stderr
    );
}

#[test]
fn bundles_are_self_contained_private_and_byte_identical() {
    let run = init_stack(&[("ENABLE_RECORDING", "1"), SIP[0], SIP[1], SIP[2]], &[]);
    let run = add(
        run,
        &[
            "jvb",
            "b2",
            "--address",
            "10.9.0.2",
            "--advertise",
            "203.0.113.7#10000,2001:db8::7",
            "--main-address",
            "10.9.0.1",
        ],
    );
    let run = add(
        run,
        &["jibri", "rec", "--address", "10.9.0.3", "--instances", "2"],
    );
    let run = add(
        run,
        &["jigasi", "sip", "--address", "10.9.0.4", "--region", "eu"],
    );
    let run = Test::again(run).args(["render"]).run();
    assert!(
        run.stdout.contains("nodes/b2/, nodes/rec/, nodes/sip/"),
        "{}",
        run.stdout
    );
    let main = env_of(&run);
    let nodes = run.path().join("nodes");

    for (name, files) in [
        (
            "b2",
            vec!["generated/jvb/jvb.conf", "generated/jvb/logging.properties"],
        ),
        (
            "rec",
            vec!["generated/jibri/jibri.conf", "generated/jibri-2/xmpp.conf"],
        ),
        ("sip", vec!["generated/jigasi/sip-communicator.properties"]),
    ] {
        let b = nodes.join(name);
        assert_eq!(mode(&b.join(".env")), 0o600, "{name}");
        assert_eq!(mode(&b), 0o700, "{name}");
        for f in ["docker-compose.yml", "xmpp-ca.crt", "xmpp-ca.jks"]
            .iter()
            .chain(&files)
        {
            assert!(b.join(f).exists(), "{name}: {f} missing");
        }
        // Only the node's own secrets: no other account's password, no
        // other node's.
        let text = all_text(&b);
        for var in [
            "JICOFO_AUTH_PASSWORD",
            "JVB_AUTH_PASSWORD",
            "JIBRI_XMPP_PASSWORD",
            "JIGASI_XMPP_PASSWORD",
            "JIGASI_TRANSCRIBER_PASSWORD",
            "TURN_CREDENTIALS",
        ] {
            let secret = main.get(var).unwrap();
            assert!(
                !text.contains(secret),
                "{name}: the main host's {var} is in the bundle"
            );
        }
        for other in ["b2", "rec", "sip"].iter().filter(|o| **o != name) {
            let var = format!("JITSI_STACK_NODE_{}_PASSWORD", other.to_uppercase());
            assert!(
                !text.contains(main.get(&var).unwrap()),
                "{name} holds {var}"
            );
        }
        let own = main
            .get(&format!(
                "JITSI_STACK_NODE_{}_PASSWORD",
                name.to_uppercase()
            ))
            .unwrap();
        let env = fs::read_to_string(b.join(".env")).unwrap();
        assert!(env.contains(own));
        // The node's secret is in its .env (0600) and, as on the main host,
        // in the rendered configs the images read (generated/, 0700); the
        // compose file interpolates it from .env.
        for (rel, bytes, _) in snapshot(&b) {
            if String::from_utf8_lossy(&bytes).contains(own) {
                // renders/<id>/generated: what `generated` leads to.
                let in_generated = rel.starts_with("renders")
                    && rel.components().nth(2)
                        == Some(std::path::Component::Normal("generated".as_ref()));
                assert!(
                    rel == Path::new(".env") || in_generated,
                    "{name}: the password is in {}",
                    rel.display()
                );
            }
        }
        assert_eq!(mode(&b.join("renders")), 0o700, "{name}");
        // The CA the bundle pins is the main host's.
        assert_eq!(
            fs::read_to_string(b.join("xmpp-ca.crt")).unwrap(),
            run.read("config/xmpp-ca/ca.crt")
        );
    }
    // The bundles hold what the node's services read, from the same
    // renderers: bridge b2 logs in to the main host with its account and
    // verifies the certificate.
    let jvb = crate::jvm_check::hocon_ok(&nodes.join("b2/generated/jvb/jvb.conf"));
    let shard = &jvb["videobridge"]["apis"]["xmpp-client"]["configs"]["shard0"];
    assert_eq!(shard["HOSTNAME"], "10.9.0.1");
    assert_eq!(shard["USERNAME"], "node-b2");
    assert_eq!(
        shard["PASSWORD"],
        main.get("JITSI_STACK_NODE_B2_PASSWORD").unwrap()
    );
    assert_eq!(shard["MUC_NICKNAME"], "b2");
    assert_eq!(shard["DISABLE_CERTIFICATE_VERIFICATION"], false);
    let maps = jvb["ice4j"]["harvest"]["mapping"]["static-mappings"]
        .as_array()
        .unwrap();
    assert_eq!(maps[0]["public-address"], "203.0.113.7");
    assert_eq!(maps[0]["public-port"], 10000);
    assert_eq!(maps[1]["public-address"], "2001:db8::7");
    // The main host's own bridge still skips verification inside Compose.
    let own = crate::jvm_check::hocon_ok(&run.path().join("generated/jvb/jvb.conf"));
    assert_eq!(
        own["videobridge"]["apis"]["xmpp-client"]["configs"]["shard0"]
            ["DISABLE_CERTIFICATE_VERIFICATION"],
        true
    );
    let xmpp = crate::jvm_check::hocon_ok(&nodes.join("rec/generated/jibri-2/xmpp.conf"));
    let e = &xmpp["jibri"]["api"]["xmpp"]["environments"][0];
    assert_eq!(e["xmpp-server-hosts"][0], "10.9.0.1");
    assert_eq!(e["control-login"]["username"], "node-rec");
    assert_eq!(e["control-muc"]["nickname"], "rec-2");
    assert_eq!(e["trust-all-xmpp-certs"], false);
    let sip = crate::jvm_check::properties_ok(
        &nodes.join("sip/generated/jigasi/sip-communicator.properties"),
    );
    assert_eq!(
        sip["net.java.sip.communicator.service.gui.ALWAYS_TRUST_MODE_ENABLED"],
        "false"
    );
    assert_eq!(
        sip["net.java.sip.communicator.impl.protocol.jabber.acc-0.ALLOW_NON_SECURE"],
        "false"
    );
    assert_eq!(
        sip["net.java.sip.communicator.impl.protocol.jabber.acc-0.SERVER_ADDRESS"],
        "10.9.0.1"
    );
    assert_eq!(sip["org.jitsi.jigasi.LOCAL_REGION"], "eu");

    // Compose v2 reads each bundle as a project of its own.
    for name in ["b2", "rec", "sip"] {
        let b = Run {
            dir: tempfile::Builder::new().tempdir().unwrap(),
            stdout: String::new(),
            stderr: String::new(),
            status: 0,
        };
        copy_dir(&nodes.join(name), b.path());
        let json = crate::compose::merged_config(&b);
        let svc = match name {
            "b2" => "jvb",
            "rec" => "jibri-2",
            _ => "jigasi",
        };
        let s = &json["services"][svc];
        assert!(s.is_object(), "{name}: {json}");
        let env = &s["environment"];
        assert!(env["JAVA_TOOL_OPTIONS"]
            .as_str()
            .unwrap()
            .contains("-Djavax.net.ssl.trustStore=/etc/ssl/certs/jitsi-stack-xmpp-ca.jks"));
        assert_eq!(env["XMPP_SERVER"], "10.9.0.1");
        let binds = crate::compose::binds(s);
        assert!(binds
            .iter()
            .any(|(src, t, ro)| src.ends_with("/xmpp-ca.jks")
                && t == "/etc/ssl/certs/jitsi-stack-xmpp-ca.jks"
                && *ro));
        assert!(
            s.get("depends_on").is_none(),
            "{name}: prosody is on the main host"
        );
    }

    // Rendering again changes no byte and no mtime, on the main host and in
    // each bundle (where the node's `up` renders).
    let before = snapshot(&nodes);
    let run = Test::again(run).args(["render"]).run();
    assert_eq!(snapshot(&nodes), before);
    for name in ["b2", "rec", "sip"] {
        let dir = nodes.join(name);
        let r = Test::new()
            .args(["--dir", dir.to_str().unwrap(), "check", "--strict"])
            .run();
        assert!(
            r.stdout.contains("0 errors, 0 warnings"),
            "{name}: {}",
            r.stdout
        );
        let r = Test::new()
            .args(["--dir", dir.to_str().unwrap(), "render"])
            .run();
        assert!(r.stderr.is_empty(), "{name}: {}", r.stderr);
    }
    assert_eq!(snapshot(&nodes), before);
    let run = Test::again(run).args(["render", "--diff"]).run();
    assert_eq!(run.stdout, "");
}

fn copy_dir(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let t = to.join(p.file_name().unwrap());
        if p.is_dir() {
            fs::create_dir_all(&t).unwrap();
            copy_dir(&p, &t);
        } else {
            fs::copy(&p, &t).unwrap();
        }
    }
}

/// Kills the prosody it holds, and removes its files, when dropped.
pub struct LiveMain {
    pub root: tempfile::TempDir,
    pub cfg: PathBuf,
    child: Child,
}

impl Drop for LiveMain {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run .ci/install-deps");
}

/// `cmd` as uid nobody (setpriv execs, so the child's pid is the program's).
pub fn as_nobody(netns: Option<&str>, program: &str) -> Command {
    let mut c = match netns {
        Some(ns) => {
            let mut c = Command::new(tool("ip"));
            c.args(["netns", "exec", ns]).arg(tool("setpriv"));
            c
        }
        None => Command::new(tool("setpriv")),
    };
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(tool(program));
    c
}

/// The image's account set-up, as its register-setup script runs it:
/// `prosodyctl --config CFG shell user create USER@DOMAIN PASSWORD`.
pub fn create_account(live: &LiveMain, jid: &str, password: &str) {
    let out = as_nobody(None, "prosodyctl")
        .arg("--config")
        .arg(&live.cfg)
        .args(["shell", "user", "create", jid, password])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "prosodyctl shell user create {jid}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Debian's prosody running the main host's rendered config (paths under a
/// temp dir as the image's boot copies them to /run/prosody/config, with
/// the certificates of CONFIG/prosody/config/certs), its client port on
/// `bind:c2s`, optionally inside network namespace `netns`. mod_admin_shell
/// is loaded for `prosodyctl shell`, as the image's account set-up needs
/// (added here when the rendered config lacks it).
pub fn start_main(run: &Run, bind: &str, c2s: u16, netns: Option<&str>) -> LiveMain {
    let root = tempfile::Builder::new()
        .prefix("jsn")
        .tempdir_in("/tmp")
        .unwrap();
    let r = root.path().to_str().unwrap().to_string();
    for d in ["conf.d", "certs", "data"] {
        fs::create_dir_all(root.path().join(d)).unwrap();
    }
    let http = free_port();
    for (src, dst) in [
        ("prosody.cfg.lua", "prosody.cfg.lua"),
        ("jitsi-meet.cfg.lua", "conf.d/jitsi-meet.cfg.lua"),
    ] {
        let mut text = String::new();
        for line in run.read(&format!("generated/prosody/{src}")).lines() {
            let l = if line.starts_with("c2s_interfaces =") {
                format!("c2s_interfaces = {{ \"{bind}\" }}")
            } else if line.starts_with("http_interfaces =") {
                "http_interfaces = { \"127.0.0.1\" }".to_string()
            } else if line.starts_with("c2s_ports =") {
                format!("c2s_ports = {{ {c2s} }}")
            } else if line.starts_with("http_ports =") {
                format!("http_ports = {{ {http} }}")
            } else if line.trim() == "\"posix\";" {
                // Runs as nobody already; posix would try to daemonise.
                continue;
            } else if line.trim() == "\"http_health\";" && !text.contains("\"admin_shell\"") {
                "    \"http_health\";\n    \"admin_shell\";".to_string()
            } else {
                crate::render_prosody::remap_paths(line, &r)
            };
            text.push_str(&l);
            text.push('\n');
        }
        fs::write(root.path().join(dst), text).unwrap();
    }
    // As the image's boot script: /config/. is copied over /run/prosody/config.
    let certs = run.path().join("config/prosody/config/certs");
    for e in fs::read_dir(&certs).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, root.path().join("certs").join(p.file_name().unwrap())).unwrap();
    }
    assert!(Command::new("chown")
        .args(["-R", "nobody"])
        .arg(root.path())
        .status()
        .unwrap()
        .success());
    let cfg = root.path().join("prosody.cfg.lua");
    let log = fs::File::create(root.path().join("prosody.log")).unwrap();
    let child = as_nobody(netns, "prosody")
        .arg("--config")
        .arg(&cfg)
        .arg("-F")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let live = LiveMain { root, cfg, child };
    // Up once its admin shell answers (the client port is bound by then).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = as_nobody(None, "prosodyctl")
            .arg("--config")
            .arg(&live.cfg)
            .arg("shell")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(b"server:version()\n")?;
                c.wait_with_output()
            })
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("OK") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prosody did not start: {}",
            fs::read_to_string(live.root.path().join("prosody.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    live
}

/// A fake `docker` for `up` and `smoke` on the main host: containers are
/// healthy, and `compose exec -T prosody prosodyctl ... shell` runs the real
/// prosodyctl against the live prosody (stdin passed through).
pub fn fake_docker(live: Option<&LiveMain>, services: &[&str]) -> FakeDocker {
    let behaviour = format!(
        r#"case "$*" in
  *" ps --all --format json"*) cat "$FAKE_DIR/ps.json"; exit 0 ;;
  *" exec -T prosody prosodyctl --config /run/prosody/config/prosody.cfg.lua shell")
    exec {setpriv} --reuid=65534 --regid=65534 --clear-groups -- {prosodyctl} --config "{cfg}" shell ;;
esac"#,
        setpriv = tool("setpriv").display(),
        prosodyctl = tool("prosodyctl").display(),
        cfg = live
            .map(|l| l.cfg.display().to_string())
            .unwrap_or_default(),
    );
    let fake = FakeDocker::with(&behaviour);
    let ps: String = services
        .iter()
        .map(|s| format!("{{\"Service\":\"{s}\",\"State\":\"running\",\"Health\":\"healthy\"}}\n"))
        .collect();
    fs::write(fake.file("ps.json"), ps).unwrap();
    fake
}

fn login(
    port: u16,
    run: &Run,
    user: &str,
    password: &str,
) -> Result<jitsi_stack::xmpp::Session, jitsi_stack::xmpp::Error> {
    let ca = run.read("config/xmpp-ca/ca.crt");
    jitsi_stack::xmpp::login(&jitsi_stack::xmpp::Login {
        host: "127.0.0.1",
        port,
        domain: "auth.meet.jitsi",
        user,
        password,
        ca_pem: &ca,
        timeout: Duration::from_secs(5),
    })
}

/// `up` creates the nodes' accounts in the running prosody through the admin
/// shell (passwords on its stdin), keeps their passwords in step with .env
/// and deletes the account of a removed node; `smoke` lists who sits in the
/// brewery, by node, and fails for a node that is missing.
#[test]
fn up_creates_node_accounts_and_smoke_reads_the_brewery() {
    let run = main_with_bridge("127.0.0.1", "10.9.0.2");
    let run = add(run, &["jvb", "b3", "--address", "10.9.0.3"]);
    let run = Test::again(run).args(["render"]).run();
    let c2s = free_port();
    let live = start_main(&run, "127.0.0.1", c2s, None);
    let fake = fake_docker(Some(&live), &["web", "prosody", "jicofo", "jvb"]);
    let env = env_of(&run);
    let pw2 = env.get("JITSI_STACK_NODE_B2_PASSWORD").unwrap().to_string();
    let pw3 = env.get("JITSI_STACK_NODE_B3_PASSWORD").unwrap().to_string();
    // Before `up` the node cannot log in: its account does not exist.
    let e = login(c2s, &run, "node-b2", &pw2).err().unwrap();
    assert_eq!(e.step, jitsi_stack::xmpp::Step::Auth, "{e}");
    let run = Test::again(run)
        .path_prepend(fake.dir())
        .env("JITSI_STACK_POLL_MS", "20")
        .args(["up", "--timeout", "5"])
        .run();
    assert!(
        run.stdout
            .contains("node accounts ready: node-b2@auth.meet.jitsi, node-b3@auth.meet.jitsi"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    // Passwords travel on stdin only.
    let calls = fake.log();
    assert!(!calls.contains(&pw2) && !calls.contains(&pw3), "{calls}");
    let mut b2 = login(c2s, &run, "node-b2", &pw2).unwrap();
    assert_eq!(b2.mechanism, "SCRAM-SHA-1");
    assert!(b2.jid.starts_with("node-b2@auth.meet.jitsi/"), "{}", b2.jid);
    assert!(login(c2s, &run, "node-b2", "wrong-password-123").is_err());

    // b2 joins the brewery as its bridge would; b3 does not.
    b2.join("jvbbrewery@internal-muc.meet.jitsi", "b2").unwrap();
    let smoke = |run: Run| {
        let r = Test::again(run)
            .path_prepend(fake.dir())
            .args(["smoke", "--json", "--timeout", "2"])
            .status_any()
            .run();
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let p = v["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["check"] == "brewery-jvb")
            .unwrap_or_else(|| panic!("no brewery probe: {v:#}"))
            .clone();
        (r, p)
    };
    let (run, p) = smoke(run);
    assert_eq!(p["ok"], false, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("missing: node b3") && detail.contains("b2 (node b2)"),
        "{detail}"
    );
    let mut b3 = login(c2s, &run, "node-b3", &pw3).unwrap();
    b3.join("jvbbrewery@internal-muc.meet.jitsi", "b3").unwrap();
    let (run, p) = smoke(run);
    assert_eq!(p["ok"], true, "{p}");
    assert_eq!(p["detail"], "joined: b2 (node b2), b3 (node b3)", "{p}");
    b3.close();
    b2.close();

    // Removed: `up` deletes its account; the other keeps its login.
    let run = Test::again(run).args(["node", "remove", "b3"]).run();
    let run = Test::again(run)
        .path_prepend(fake.dir())
        .env("JITSI_STACK_POLL_MS", "20")
        .args(["up", "--timeout", "5"])
        .run();
    assert!(
        run.stdout
            .contains("deleted the accounts of removed nodes: node-b3@auth.meet.jitsi"),
        "{}",
        run.stdout
    );
    assert!(!run.path().join("nodes/b3").exists());
    let e = login(c2s, &run, "node-b3", &pw3).err().unwrap();
    assert_eq!(e.step, jitsi_stack::xmpp::Step::Auth);
    login(c2s, &run, "node-b2", &pw2).unwrap().close();
}

/// The same binary runs a bundle: `up` there starts the node's services
/// only, as their own Compose project, waits for them, and writes no file
/// of the bundle (only the data directories its services mount).
#[test]
fn up_in_a_bundle_runs_the_nodes_services_only() {
    let run = main_with_bridge("10.9.0.1", "10.9.0.2");
    let bundle = run.path().join("nodes/b2");
    let before = snapshot(&bundle);
    let fake = fake_docker(None, &["jvb"]);
    let up = Test::new()
        .path_prepend(fake.dir())
        .env("JITSI_STACK_POLL_MS", "20")
        .args(["--dir", bundle.to_str().unwrap(), "up", "--timeout", "5"])
        .run();
    assert!(
        up.stdout.contains("the node's services are up"),
        "{}",
        up.stdout
    );
    let calls = fake.log();
    let call = calls
        .lines()
        .find(|l| l.contains(" up -d "))
        .unwrap_or_else(|| panic!("no up: {calls}"));
    assert!(
        call.starts_with("docker compose --project-name jitsi-b2 ")
            && call.contains("/nodes/b2/docker-compose.yml")
            && !call.contains("jibri.yml"),
        "{call}"
    );
    // No exec into prosody: it runs on the main host.
    assert!(!calls.contains("exec"), "{calls}");
    assert_eq!(
        snapshot(&bundle)
            .into_iter()
            .filter(|(p, _, _)| !p.starts_with("config"))
            .collect::<Vec<_>>(),
        before
    );
    assert!(bundle.join("config/jvb").is_dir());
    // A bundle that holds data is not deleted when its node is removed.
    let run = Test::again(run).args(["node", "remove", "b2"]).run();
    let run = Test::again(run).args(["render"]).run();
    assert!(run.stderr.contains("holds data"), "{}", run.stderr);
    assert!(bundle.join(".env").exists());
}

/// prosody's client port is published only while there are nodes, on the
/// main host's address only; `ports` restricts it to the nodes' addresses.
#[test]
fn xmpp_is_published_only_with_nodes_on_the_main_address() {
    let prosody_ports = |run: &Run| {
        let json = crate::compose::merged_config(run);
        json["services"]["prosody"]["ports"].clone()
    };
    let run = Test::again(init_stack(&[], &[])).args(["render"]).run();
    assert!(prosody_ports(&run).is_null(), "{}", prosody_ports(&run));
    let run = add(
        run,
        &[
            "jvb",
            "b2",
            "--address",
            "10.9.0.2",
            "--main-address",
            "10.9.0.1",
        ],
    );
    let run = add(run, &["jvb", "b3", "--address", "10.9.0.3"]);
    let run = Test::again(run).args(["render"]).run();
    let p = prosody_ports(&run);
    assert_eq!(p.as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p[0]["host_ip"], "10.9.0.1");
    assert_eq!(p[0]["published"], "5222");
    assert_eq!(p[0]["target"], 5222);
    let r = Test::again(run).args(["ports", "--json"]).run();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let x = v["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == "prosody")
        .unwrap();
    assert_eq!(x["address"], "10.9.0.1");
    assert_eq!(x["sources"], serde_json::json!(["10.9.0.2", "10.9.0.3"]));
    let r = Test::again(r).args(["ports"]).run();
    // Not among the ports open to everyone.
    assert!(!r.stdout.contains("ufw allow 5222"), "{}", r.stdout);
    assert!(r.stdout.contains(
        "-A DOCKER-USER -p tcp -m conntrack --ctorigdst 10.9.0.1 --ctorigdstport 5222 -s 10.9.0.3 -j RETURN"
    ));
    let r = Test::again(r).args(["node", "remove", "b2"]).run();
    let r = Test::again(r).args(["node", "remove", "b3"]).run();
    let run = Test::again(r).args(["render"]).run();
    assert!(prosody_ports(&run).is_null());
    assert!(!run.path().join("nodes/b2").exists());
    let r = Test::again(run)
        .args(["ports", "--nftables"])
        .status(2)
        .run();
    assert!(r.stderr.contains("needs nodes"), "{}", r.stderr);
}

/// What a killed `node add` or `render` may leave in CONFIG: a prosody key
/// whose certificate was not renamed into place yet (the key goes first),
/// and staging directories and temp files of a dead writer, one holding a
/// CA key. The next command under the lock replaces the half pair with a
/// whole one and removes the dead writer's files, never a live one's.
#[test]
fn a_killed_node_adds_half_pair_and_temp_files_are_repaired_by_the_next_render() {
    let run = main_with_bridge("10.9.0.1", "10.9.0.2");
    let certs = run.path().join("config/prosody/config/certs");
    let (crt, key) = (certs.join("meet.jitsi.crt"), certs.join("meet.jitsi.key"));
    let old_key = fs::read(&key).unwrap();
    fs::remove_file(&crt).unwrap();
    let dead = 0x3fff_fff0u32;
    let config = run.path().join("config");
    let stage = config.join(format!(".xmpp-ca.tmp-{dead}-0"));
    fs::create_dir(&stage).unwrap();
    fs::write(stage.join("ca.key"), "-----BEGIN PRIVATE KEY-----").unwrap();
    let temp_key = certs.join(format!(".meet.jitsi.key.tmp-{dead}-1"));
    fs::write(&temp_key, "-----BEGIN PRIVATE KEY-----").unwrap();
    let live = certs.join(format!(".meet.jitsi.key.tmp-{}-1", std::process::id()));
    fs::write(&live, "a live writer's").unwrap();
    let run = Test::again(run).args(["render"]).run();
    assert!(crt.is_file(), "the half pair was not completed");
    assert_ne!(fs::read(&key).unwrap(), old_key, "the lone key was kept");
    assert_eq!(mode(&key), 0o600);
    let out = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(config.join("xmpp-ca/ca.crt"))
        .arg(&crt)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The new certificate is for the new key.
    let pubkey = |args: &[&str], p: &Path| {
        Command::new("openssl")
            .args(args)
            .arg(p)
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(
        pubkey(&["x509", "-noout", "-pubkey", "-in"], &crt),
        pubkey(&["pkey", "-pubout", "-in"], &key)
    );
    assert!(!stage.exists(), "a dead writer's CA stage survived");
    assert!(!temp_key.exists(), "a dead writer's temp key survived");
    assert!(live.exists(), "a live writer's temp file was removed");
    drop(run);
}

/// Each `node add` field is checked on its own (no key smuggled into the
/// node's line), node addresses are unicast, the main address is one
/// address of the host (never a wildcard), and `check` says so for a
/// hand-edited .env; `doctor` does not call a wildcard "an address of this host".
#[test]
fn node_fields_are_validated_one_by_one_and_addresses_are_unicast() {
    let run = init_stack(&[], &[]);
    let before = run.read(".env");
    let mut run = run;
    for args in [
        &[
            "jvb",
            "b2",
            "--address",
            "10.0.0.3 advertise=203.0.113.9",
            "--main-address",
            "10.9.0.1",
        ][..],
        &[
            "jvb",
            "b2",
            "--address",
            "10.0.0.3",
            "--region",
            "eu instances=5",
            "--main-address",
            "10.9.0.1",
        ],
        &[
            "jvb",
            "b2",
            "--address",
            "224.0.0.9",
            "--main-address",
            "10.9.0.1",
        ],
        &[
            "jvb",
            "b2",
            "--address",
            "255.255.255.255",
            "--main-address",
            "10.9.0.1",
        ],
        &[
            "jvb",
            "b2",
            "--address",
            "10.0.0.3",
            "--main-address",
            "0.0.0.0",
        ],
        &["jvb", "b2", "--address", "10.0.0.3", "--main-address", "::"],
    ] {
        let mut a = vec!["node", "add"];
        a.extend_from_slice(args);
        run = Test::again(run).args(a).status(2).run();
        assert!(run.stderr.contains("expected"), "{args:?}: {}", run.stderr);
        assert_eq!(run.read(".env"), before, "{args:?}");
    }
    let run = add(
        run,
        &[
            "jvb",
            "b2",
            "--address",
            "10.9.0.2",
            "--main-address",
            "10.9.0.1",
        ],
    );
    let env = run.path().join(".env");
    let text = fs::read_to_string(&env).unwrap();
    fs::write(
        &env,
        text.replace(
            "JITSI_STACK_MAIN_ADDRESS=10.9.0.1",
            "JITSI_STACK_MAIN_ADDRESS=0.0.0.0",
        ),
    )
    .unwrap();
    let r = Test::again(run).args(["check"]).status(1).run();
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("JITSI_STACK_MAIN_ADDRESS") && all.contains("not 0.0.0.0"),
        "{all}"
    );
}

/// The tree of a stack (see `journal_kill::tree`) with what every run
/// makes anew left out: the values of `random` in `.env` and `.env.bak`
/// (a node's generated password), and the PEM in the CA's and prosody's
/// keys and certificates (their names, modes and owners stay; [`pairs_verify`]
/// checks what they hold).
fn normalized(
    root: &Path,
    random: &std::collections::BTreeSet<String>,
) -> crate::journal_kill::Tree {
    let mut t = crate::journal_kill::tree(root);
    for (rel, node) in t.iter_mut() {
        let name = rel.to_string_lossy();
        let Some(rest) = node.strip_prefix("file ") else {
            continue;
        };
        let mut parts = rest.splitn(3, ' ');
        let (mode, owner, text) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let body =
            if name.starts_with("config/") && (name.ends_with(".key") || name.ends_with(".crt")) {
                "<pem>".to_string()
            } else if name == ".env" || name == ".env.bak" {
                text.lines()
                    .map(|l| match l.split_once('=') {
                        Some((k, _)) if random.contains(k.trim()) => format!("{k}=<random>"),
                        _ => l.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                continue;
            };
        *node = format!("file {mode} {owner} {body}");
    }
    t
}

/// Every certificate of prosody's the stack in `dir` has is whole: its key
/// is there and matches it, and it verifies against the nodes' CA.
fn pairs_verify(dir: &Path) -> Result<(), String> {
    let config = dir.join("config");
    let certs = config.join("prosody/config/certs");
    let pubkey = |args: &[&str], p: &Path| {
        Command::new("openssl")
            .args(args)
            .arg(p)
            .output()
            .unwrap()
            .stdout
    };
    for d in ["auth.meet.jitsi", "meet.jitsi"] {
        let (crt, key) = (
            certs.join(format!("{d}.crt")),
            certs.join(format!("{d}.key")),
        );
        if !crt.exists() || !key.exists() {
            return Err(format!(
                "{d}: certificate {} key {}",
                crt.exists(),
                key.exists()
            ));
        }
        let v = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(config.join("xmpp-ca/ca.crt"))
            .arg(&crt)
            .output()
            .unwrap();
        if !v.status.success() {
            return Err(format!("{d}: does not verify against the CA"));
        }
        if pubkey(&["x509", "-noout", "-pubkey", "-in"], &crt)
            != pubkey(&["pkey", "-pubout", "-in"], &key)
        {
            return Err(format!("{d}: the certificate is not for its key"));
        }
    }
    Ok(())
}

/// `node add` (of a bridge and of a visitor node, each the first node,
/// which makes the CA and prosody's certificates; of a recorder next to a
/// bridge, which turns recording on) and `node remove`, killed at every
/// rename, mkdir, symlink, unlink, rmdir and fsync and at every 4th write
/// (`JITSI_TEST_KILL_POINTS=all`; default: 36 spread over them). After
/// each kill the stack is as before, or as after, or every command
/// (check, status, doctor, up, render) reports the interrupted operation
/// with exit 1, naming the command that finishes it; then, one kill in
/// two, rerunning that command ends in the tree of an uninterrupted run
/// (`.env`, `.env.bak`, CONFIG, the live render: contents, modes, owners;
/// the generated password and PEM aside, and the pairs verify), the other,
/// `rollback` ends in exactly the tree before. No temp file survives.
#[test]
fn node_add_and_remove_killed_at_every_rename_mkdir_unlink_and_fsync() {
    use crate::journal_kill::{diff, kill_each_every, run, Scratch};
    use std::collections::BTreeSet;
    let fake = FakeDocker::new();
    let keep = tempfile::tempdir().unwrap();
    let base = keep.path().join("base");
    let made = init_stack(&[("JITSI_STACK_MAIN_ADDRESS", "10.9.0.1")], &[]);
    let made = Test::again(made).args(["render"]).run();
    let cp = |from: &Path, to: &Path| {
        assert!(Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap()
            .success());
    };
    cp(made.path(), &base);
    let jvb: &[&str] = &["node", "add", "jvb", "b2", "--address", "10.9.0.2"];
    let added = keep.path().join("added");
    cp(&base, &added);
    let o = run(&fake, &added, jvb);
    assert!(o.status.success(), "{o:?}");
    let ops: [(&str, &Path, &[&str]); 4] = [
        ("node-add-jvb", &base, jvb),
        (
            "node-add-visitors",
            &base,
            &["node", "add", "visitors", "v1", "--address", "10.9.0.5"],
        ),
        (
            "node-add-jibri",
            &added,
            &["node", "add", "jibri", "r1", "--address", "10.9.0.6"],
        ),
        ("node-remove", &added, &["node", "remove", "b2"]),
    ];
    for (tag, from, args) in ops {
        let finish = format!("`jitsi-stack {}` to finish it", args.join(" "));
        // Two uninterrupted runs: what is random in .env, and the end state.
        let scratch = Scratch::new(&format!("{tag}-prep"));
        let before = crate::journal_kill::tree(&scratch.reset(from));
        let mut ends = vec![];
        for _ in 0..2 {
            let w = scratch.reset(from);
            let o = run(&fake, &w, args);
            assert!(o.status.success(), "{tag}: {o:?}");
            ends.push(env_of_dir(&w));
        }
        let random: BTreeSet<String> = ends[0]
            .iter()
            .filter(|(k, v)| ends[1].get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        let w = scratch.reset(from);
        assert!(run(&fake, &w, args).status.success());
        let after = normalized(&w, &random);
        assert_ne!(
            after,
            normalized(&scratch.reset(from), &random),
            "{tag} changes nothing"
        );
        drop(scratch);
        let judge = |w: &Path, killed: bool, i: usize| -> Result<bool, String> {
            let now = normalized(w, &random);
            if !killed {
                return if now == after {
                    Ok(false)
                } else {
                    Err(format!("not killed, yet: {:?}", diff(&after, &now)))
                };
            }
            // The next command (it removes what the killed one left).
            let check = run(&fake, w, &["check"]);
            let now = normalized(w, &random);
            let journal = jitsi_stack::journal::path(w).exists();
            if !journal {
                if !check.status.success() {
                    return Err(format!(
                        "no journal, and check fails: {}",
                        String::from_utf8_lossy(&check.stderr)
                    ));
                }
                if crate::journal_kill::tree(w) == before || now == after {
                    return Ok(false);
                }
                return Err(format!(
                    "no journal, and neither the tree before nor after: {:?}",
                    diff(&after, &now)
                ));
            }
            for cmd in [
                &["check"][..],
                &["status"],
                &["doctor"],
                &["up"],
                &["render"],
            ] {
                let o = run(&fake, w, cmd);
                let err = String::from_utf8_lossy(&o.stderr);
                if o.status.code() != Some(1)
                    || !err.contains("was interrupted")
                    || !err.contains(&finish)
                    || !err.contains("`jitsi-stack rollback` to undo it")
                {
                    return Err(format!("{cmd:?} did not report it: {:?} {err}", o.status));
                }
            }
            if i % 2 == 1 {
                let o = run(&fake, w, &["rollback", "--yes", "--no-up"]);
                if !o.status.success() {
                    return Err(format!("rollback: {}", String::from_utf8_lossy(&o.stderr)));
                }
                let now = crate::journal_kill::tree(w);
                return if now == before {
                    Ok(true)
                } else {
                    Err(format!("after rollback: {:?}", diff(&before, &now)))
                };
            }
            let o = run(&fake, w, args);
            if !o.status.success() {
                return Err(format!("rerun: {}", String::from_utf8_lossy(&o.stderr)));
            }
            let now = normalized(w, &random);
            if now != after {
                return Err(format!("after the rerun: {:?}", diff(&after, &now)));
            }
            if tag != "node-remove" {
                pairs_verify(w)?;
            }
            Ok(true)
        };
        kill_each_every(tag, from, &fake, args, 4, judge);
    }
}

fn env_of_dir(dir: &Path) -> std::collections::BTreeMap<String, String> {
    EnvFile::read(&dir.join(".env"))
        .unwrap()
        .to_map()
        .into_iter()
        .collect()
}
