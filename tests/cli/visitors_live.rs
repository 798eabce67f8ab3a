//! visitors_live: the main prosody and two visitor nodes of a rendered
//! stack, each booted as the prosody image boots (tests/cli/prosody_boot.rs)
//! with Debian trixie's prosody 13 in its own network namespace, joined by
//! veth links as the compose network joins the containers (main reaches
//! `prosody-v0`/`prosody-v1`, each node reaches `xmpp.meet.jitsi`).
//!
//! Jitsi's own prosody plugins are not in Debian. The test mounts minimal
//! stand-ins of its own from tests/support/visitors-plugins (README.md there
//! says what each stands in for) as /prosody-plugins-contrib; they are never
//! part of a rendered stack.

use crate::harness::{init_stack, Test};
use crate::prosody_boot::{Container, Stack};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

const STANDINS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/visitors-plugins"
);
const CFG: &str = "/run/prosody/config/prosody.cfg.lua";

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A veth link between two containers' network namespaces, created in
/// them directly (nothing appears in the host's namespace).
fn link(a: &Container, a_if: &str, a_ip: &str, b: &Container, b_if: &str, b_ip: &str) {
    let (pa, pb) = (a.pid().to_string(), b.pid().to_string());
    sh(&[
        "ip", "link", "add", a_if, "netns", &pa, "type", "veth", "peer", "name", b_if, "netns", &pb,
    ]);
    for (pid, ifname, ip) in [(&pa, a_if, a_ip), (&pb, b_if, b_ip)] {
        sh(&[
            "nsenter", "-t", pid, "-n", "ip", "addr", "add", ip, "dev", ifname,
        ]);
        sh(&[
            "nsenter", "-t", pid, "-n", "ip", "link", "set", ifname, "up",
        ]);
    }
}

/// `prosodyctl shell ARGS...` in container `c`, its output.
fn shell(c: &Container, args: &[&str]) -> String {
    let mut all = vec!["prosodyctl", "--config", CFG, "shell"];
    all.extend_from_slice(args);
    let out = c.exec(&all, "");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An XMPP ping from `from` (a local host) to `to` over s2s, retried for a
/// while (the first connection is made by the first ping).
fn ping(c: &Container, from: &str, to: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let out = shell(c, &["xmpp", "ping", from, to]);
        if out.contains("service-unavailable") || out.contains("pong") || Instant::now() > deadline
        {
            return out;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn node_stack(run: &Rc<crate::harness::Run>, service: &str) -> Stack {
    let mut s = Stack::of(run.clone(), service);
    let resolv = run.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.11\n").unwrap();
    s.bind("/etc/resolv.conf", resolv.to_str().unwrap(), true);
    s.bind("/prosody-plugins-contrib", STANDINS, true);
    s
}

/// Docker's DNS of the compose network (127.0.0.11) in a container's
/// network namespace: dnsmasq of the trixie web root (`.ci/trixie-nginx`)
/// answering `names` (name, address), AAAA with an empty answer.
struct Dns(std::process::Child);

impl Dns {
    fn start(c: &Container, names: &[(&str, &str)]) -> Dns {
        let root = crate::web_boot::trixie_root();
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &c.pid().to_string(), "-n", "chroot"])
            .arg(&root)
            .args([
                "dnsmasq",
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.11",
                "--pid-file=",
                "--user=dnsmasq",
            ]);
        for (n, a) in names {
            cmd.arg(format!("--address=/{n}/{a}"))
                .arg(format!("--local=/{n}/"));
        }
        let child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        Dns(child)
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn main_and_two_nodes_link_over_s2s_with_tls() {
    let run = Test::again(init_stack(
        &[("ENABLE_VISITORS", "1"), ("JITSI_STACK_VISITORS", "2")],
        &[],
    ))
    .args(["render"])
    .run();
    let run = Rc::new(run);
    let main = node_stack(&run, "prosody");
    let v0 = node_stack(&run, "prosody-v0");
    let v1 = node_stack(&run, "prosody-v1");
    let cm = main.boot().expect("main prosody");
    let c0 = v0.boot().expect("prosody-v0");
    let c1 = v1.boot().expect("prosody-v1");
    link(&cm, "m0", "10.77.0.1/30", &c0, "n0", "10.77.0.2/30");
    link(&cm, "m1", "10.77.1.1/30", &c1, "n1", "10.77.1.2/30");
    let _dns = [
        Dns::start(
            &cm,
            &[("prosody-v0", "10.77.0.2"), ("prosody-v1", "10.77.1.2")],
        ),
        Dns::start(&c0, &[("xmpp.meet.jitsi", "10.77.0.1")]),
        Dns::start(&c1, &[("xmpp.meet.jitsi", "10.77.1.1")]),
    ];

    // The image's account set-up on each: focus and jvb on every node.
    main.register_setup(&cm, true)
        .expect("register-setup on main");
    for (s, c) in [(&v0, &c0), (&v1, &c1)] {
        let accounts = s.register_setup(c, true).expect("register-setup on a node");
        let jids: Vec<&str> = accounts.iter().map(|a| a.0.as_str()).collect();
        assert!(jids.contains(&"focus@auth.meet.jitsi") && jids.contains(&"jvb@auth.meet.jitsi"));
        s.logins(c, &accounts, "on the node").unwrap();
    }

    // main -> each node's MUC, and each node -> main.
    for (to, c) in [("muc.v0.meet.jitsi", &c0), ("muc.v1.meet.jitsi", &c1)] {
        let out = ping(&cm, "meet.jitsi", to, 30);
        assert!(
            out.contains("service-unavailable") || out.contains("pong"),
            "main -> {to}: {out}\nmain:\n{}\nnode:\n{}",
            cm.log_text()
                .lines()
                .filter(|l| l.contains("s2s") || l.contains("error") || l.contains("warn"))
                .collect::<Vec<_>>()
                .join("\n"),
            c.log_text()
                .lines()
                .filter(|l| l.contains("s2s") || l.contains("error") || l.contains("warn"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let node = to.trim_start_matches("muc.");
        let out = ping(c, node, "muc.meet.jitsi", 30);
        assert!(
            out.contains("service-unavailable") || out.contains("pong"),
            "{node} -> muc.meet.jitsi: {out}\n{}",
            c.log_tail()
        );
    }
    // s2s:show(): one bidirectional TLS stream each way per node,
    // authenticated by certificate (SASL EXTERNAL), no dialback.
    let s2s = shell(&cm, &["s2s", "show"]);
    eprintln!("main s2s:show():\n{s2s}");
    for remote in [
        "muc.v0.meet.jitsi",
        "muc.v1.meet.jitsi",
        "v0.meet.jitsi",
        "v1.meet.jitsi",
    ] {
        let line = s2s
            .lines()
            .find(|l| l.split('|').nth(3).is_some_and(|r| r.trim() == remote))
            .unwrap_or_else(|| panic!("no s2s session with {remote}:\n{s2s}"));
        assert!(
            line.contains("<->") && line.contains("TLSv1.3") && line.contains("Succeeded"),
            "{line}"
        );
    }

    // The failures doctor names: nothing listening on the port main dials
    // (a wrong port: refused) and a firewall dropping it (a timeout).
    for (c, node, rule, want) in [
        (&c0, "v0", "reject with tcp reset", "Connection refused"),
        (&c1, "v1", "drop", "timeout"),
    ] {
        let pid = c.pid().to_string();
        let nft = format!(
            "add table inet t; add chain inet t in {{ type filter hook input priority 0; }}; add rule inet t in tcp dport 5269 {rule}"
        );
        sh(&["nsenter", "-t", &pid, "-n", "nft", &nft]);
        shell(&cm, &["s2s", "closeall", &format!("muc.{node}.meet.jitsi")]);
        shell(&cm, &["s2s", "closeall", &format!("{node}.meet.jitsi")]);
        let out = shell(
            &cm,
            &[
                "xmpp",
                "ping",
                "meet.jitsi",
                &format!("muc.{node}.meet.jitsi"),
                "15",
            ],
        );
        eprintln!("main -> muc.{node} with `{rule}` on its 5269: {out}");
        assert!(
            !out.contains("service-unavailable")
                && out.to_lowercase().contains(&want.to_lowercase()),
            "{out}"
        );
    }
}
