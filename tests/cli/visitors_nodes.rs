//! visitor nodes on other hosts (`node add visitors NAME --address IP`):
//! the bundle holds the node's own focus password and never the main
//! host's, main's jicofo.conf gets one password per node, the ports are
//! restricted to each other in `ports` (nftables, ufw, firewalld), `doctor`
//! fails while they are public, and indexes are never reused.

use crate::harness::{init_stack, FakeDocker, Run, Test};
use crate::nodes::{add, env_of};
use std::path::Path;

const MAIN: &str = "127.0.0.1";
const NODE: &str = "10.9.0.20";

fn with_node() -> Run {
    let run = init_stack(
        &[("ENABLE_VISITORS", "1"), ("JITSI_STACK_VISITORS", "1")],
        &[],
    );
    let run = add(
        run,
        &[
            "visitors",
            "vis-a",
            "--address",
            NODE,
            "--main-address",
            MAIN,
        ],
    );
    Test::again(run).args(["render"]).run()
}

/// Every file under `dir`, with its text (lossy).
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            out.extend(files(&p));
        } else if meta.is_file() {
            let b = std::fs::read(&p).unwrap();
            out.push((
                p.display().to_string(),
                String::from_utf8_lossy(&b).into_owned(),
            ));
        }
    }
    out
}

#[test]
fn node_add_visitors_writes_a_bundle_with_its_own_focus_password() {
    let run = with_node();
    let env = env_of(&run);
    assert_eq!(
        env.get("JITSI_STACK_NODE_VIS_A"),
        Some(format!("visitors address={NODE} index=1").as_str())
    );
    assert_eq!(env.get("JITSI_STACK_VISITOR_NEXT"), Some("2"));
    let node_pw = env
        .get("JITSI_STACK_NODE_VIS_A_PASSWORD")
        .unwrap()
        .to_string();
    let main_focus = env.get("JICOFO_AUTH_PASSWORD").unwrap().to_string();
    assert_ne!(node_pw, main_focus);

    // The bundle: the node's prosody in visitors mode, index 1, its own
    // focus password; no secret of the main host anywhere in it.
    let bundle = run.path().join("nodes/vis-a");
    let run = Test::again(run)
        .args(["--dir", "nodes/vis-a", "check"])
        .run();
    let benv = jitsi_env(&bundle);
    assert_eq!(benv.get("JICOFO_AUTH_PASSWORD"), Some(node_pw.as_str()));
    let jvb = benv.get("JVB_AUTH_PASSWORD").unwrap();
    assert!(jvb != node_pw && jvb.len() >= 32, "{jvb}");
    let secrets: Vec<(String, String)> = env
        .entries()
        .filter(|e| {
            e.key.ends_with("_PASSWORD")
                && e.key != "JITSI_STACK_NODE_VIS_A_PASSWORD"
                && !e.value.is_empty()
        })
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    assert!(secrets.iter().any(|(k, _)| k == "JICOFO_AUTH_PASSWORD"));
    for (path, text) in files(&bundle) {
        for (k, secret) in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{path} holds the main host's {k}"
            );
        }
    }
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(bundle.join("docker-compose.yml")).unwrap())
            .unwrap();
    let node = &compose["services"]["prosody-v1"];
    assert_eq!(
        node["environment"]["PROSODY_MODE"].as_str(),
        Some("visitors")
    );
    assert_eq!(
        node["environment"]["PROSODY_VISITOR_INDEX"].as_str(),
        Some("1")
    );
    assert_eq!(node["environment"]["XMPP_SERVER"].as_str(), Some(MAIN));
    let ports = serde_yaml::to_string(&node["ports"]).unwrap();
    for p in [5222, 5269, 5280] {
        assert!(ports.contains(&format!("{NODE}:{p}:{p}")), "{ports}");
    }
    assert_eq!(
        compose["services"].as_mapping().unwrap().len(),
        1,
        "{compose:?}"
    );
    let site =
        std::fs::read_to_string(bundle.join("generated/prosody-v1/visitors.cfg.lua")).unwrap();
    assert!(site.contains("VirtualHost \"v1.meet.jitsi\""), "{site}");
    assert!(site.contains(&format!("\"tcp://{MAIN}:5269\"")), "{site}");
    crate::render_prosody::luac(&bundle.join("generated/prosody-v1/visitors.cfg.lua"));

    // The main host: jicofo logs in to the node with the node's password,
    // main's own node v0 keeps the main focus password; s2s and vnode
    // routes to the node's address; 5269 published on the main address.
    let run = Test::again(run).args(["ports"]).run();
    let jicofo = run.read("generated/jicofo/jicofo.conf");
    let v1 = &jicofo[jicofo.find("      v1 {").expect(&jicofo)..];
    assert!(v1.contains(&format!("hostname = \"{NODE}\"")), "{v1}");
    assert!(v1.contains(&format!("password = \"{node_pw}\"")), "{v1}");
    let v0 = &jicofo[jicofo.find("      v0 {").unwrap()..jicofo.find("      v1 {").unwrap()];
    assert!(v0.contains(&format!("password = \"{main_focus}\"")), "{v0}");
    let main = run.read("generated/prosody/prosody.cfg.lua");
    assert!(
        main.contains(&format!("[\"muc.v1.meet.jitsi\"] = \"tcp://{NODE}:5269\";")),
        "{main}"
    );
    assert!(run
        .read("generated/web/nginx.conf")
        .contains(&format!("v1 http://{NODE}:5280;")));
    let mc: serde_yaml::Value = serde_yaml::from_str(&run.read("docker-compose.yml")).unwrap();
    let pp = serde_yaml::to_string(&mc["services"]["prosody"]["ports"]).unwrap();
    assert!(pp.contains(&format!("{MAIN}:5269:5269")), "{pp}");
    assert!(
        !pp.contains(":5222:"),
        "no bridge node: c2s is not published: {pp}"
    );
    assert!(
        run.stdout.contains(&format!("5269         tcp    XMPP server-to-server for the visitor nodes, on {MAIN} from {NODE} only")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!(
        "-A DOCKER-USER -p tcp -m conntrack --ctorigdst {MAIN} --ctorigdstport 5269 -s {NODE} -j RETURN"
    )), "{}", run.stdout);
    assert!(run.stdout.contains(&format!(
        "firewall-cmd --permanent --direct --add-rule ipv4 filter DOCKER-USER 1 -p tcp -m conntrack --ctorigdst {MAIN} --ctorigdstport 5269 -j DROP"
    )), "{}", run.stdout);
    let run = Test::again(run).args(["ports", "--nftables"]).run();
    assert!(
        run.stdout.contains(&format!(
            "ip daddr {MAIN} tcp dport 5269 ip saddr {NODE} accept comment \"node vis-a\""
        )),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains(&format!("ip daddr {MAIN} tcp dport 5269 drop")));

    // The node: its three ports for the main host only.
    let run = Test::again(run)
        .args(["--dir", "nodes/vis-a", "ports", "--nftables"])
        .run();
    for p in [5222, 5269, 5280] {
        assert!(
            run.stdout.contains(&format!(
                "ip daddr {NODE} tcp dport {p} ip saddr {MAIN} accept comment \"main host\""
            )),
            "{}",
            run.stdout
        );
        assert!(run
            .stdout
            .contains(&format!("ip daddr {NODE} tcp dport {p} drop")));
    }
    let run = Test::again(run)
        .args(["--dir", "nodes/vis-a", "ports"])
        .run();
    assert!(run.stdout.contains(&format!(
        "-A DOCKER-USER -p tcp -m conntrack --ctorigdst {NODE} --ctorigdstport 5280 -s {MAIN} -j RETURN"
    )), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("firewall-cmd --permanent --direct --add-rule ipv4 filter DOCKER-USER 5 "),
        "{}",
        run.stdout
    );
}

fn jitsi_env(dir: &Path) -> jitsi_stack::envfile::EnvFile {
    jitsi_stack::envfile::EnvFile::read(&dir.join(".env")).unwrap()
}

#[test]
fn doctor_fails_while_visitor_ports_are_public_and_indexes_are_not_reused() {
    let run = with_node();
    let fake = FakeDocker::new();
    // Nothing restricts the node's ports: doctor fails, naming each.
    let r = fake
        .attach(Test::again(run).args(["--dir", "nodes/vis-a", "doctor"]))
        .status(1)
        .run();
    for p in [5222, 5269, 5280] {
        assert!(
            r.stdout
                .contains(&format!("FAIL firewall   {NODE}:{p} (visitors")),
            "{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("s2s trust rests on that"), "{}", r.stdout);
    assert!(
        r.stdout.contains(" s2s "),
        "the main host's s2s port is probed: {}",
        r.stdout
    );
    // With the rules `ports --nftables` prints loaded, they pass.
    let rules = Test::again(r)
        .args(["--dir", "nodes/vis-a", "ports", "--nftables"])
        .run();
    fake.program(
        "nft",
        &format!("#!/bin/sh\ncat <<'EOF'\n{}EOF\n", rules.stdout),
    );
    let r = fake
        .attach(Test::again(rules).args(["--dir", "nodes/vis-a", "doctor"]))
        .status_any()
        .run();
    crate::harness::doctor_exit(&r);
    for p in [5222, 5269, 5280] {
        assert!(
            r.stdout.contains(&format!(
                "ok   firewall   {NODE}:{p} is restricted to the main host ({MAIN})"
            )),
            "{}",
            r.stdout
        );
    }
    // The main host: its s2s port public is a failure too.
    let fake = FakeDocker::new();
    let r = fake.attach(Test::again(r).args(["doctor"])).status(1).run();
    assert!(
        r.stdout
            .contains(&format!("FAIL firewall   {MAIN}:5269 (visitors")),
        "{}",
        r.stdout
    );

    // Indexes are never reused: a removed node's index is not given again,
    // neither to the next remote node nor to a node of this host.
    let r = Test::again(r).args(["node", "remove", "vis-a"]).run();
    let r = add(r, &["visitors", "vis-b", "--address", "10.9.0.21"]);
    assert_eq!(
        env_of(&r).get("JITSI_STACK_NODE_VIS_B"),
        Some("visitors address=10.9.0.21 index=2")
    );
    let path = r.path().join(".env");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("JITSI_STACK_VISITORS=1", "JITSI_STACK_VISITORS=2");
    std::fs::write(&path, text).unwrap();
    let r = Test::again(r).args(["render"]).run();
    let env = env_of(&r);
    assert_eq!(env.get("JITSI_STACK_VISITOR_INDEXES"), Some("0,3"));
    assert_eq!(env.get("JITSI_STACK_VISITOR_NEXT"), Some("4"));
    let jicofo = r.read("generated/jicofo/jicofo.conf");
    for (v, host) in [
        ("v0", "prosody-v0"),
        ("v2", "10.9.0.21"),
        ("v3", "prosody-v3"),
    ] {
        let at = jicofo.find(&format!("      {v} {{")).expect(&jicofo);
        assert!(
            jicofo[at..].contains(&format!("hostname = \"{host}\"")),
            "{jicofo}"
        );
    }
    assert!(!jicofo.contains("v1.meet.jitsi"), "{jicofo}");
    assert!(r.exists("nodes/vis-b/.env") && !r.exists("nodes/vis-a/.env"));
}
