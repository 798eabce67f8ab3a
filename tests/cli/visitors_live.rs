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

use crate::harness::{init_stack, FakeDocker, Test};
use crate::prosody_boot::{Container, Stack};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

const STANDINS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/visitors-plugins"
);
const CFG: &str = "/run/prosody/config/prosody.cfg.lua";
/// The test's XMPP client (tests/support/xmpp-client.lua says what it does).
const CLIENT: &str = include_str!("../support/xmpp-client.lua");

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

impl Dns {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The harness's fake `docker`, forwarding `compose exec -T SERVICE ...`
/// into that service's container (as `docker compose exec` does).
fn fake_docker(services: &[(&str, &Container)]) -> FakeDocker {
    let mut cases = String::new();
    for (svc, c) in services {
        let prefix: Vec<String> = c
            .exec_prefix()
            .iter()
            .map(|w| {
                assert!(!w.contains('\''));
                format!("'{w}'")
            })
            .collect();
        cases.push_str(&format!(
            "      {svc}) shift 3; exec {} \"$@\" ;;\n",
            prefix.join(" ")
        ));
    }
    FakeDocker::with(&format!(
        r#"while [ $# -gt 0 ]; do
  if [ "$1" = exec ] && [ "$2" = -T ]; then
    case "$3" in
{cases}    esac
  fi
  shift
done
echo "fake docker: only 'compose exec -T SERVICE' is forwarded" >&2
exit 1"#
    ))
}

/// The test's XMPP client running in container `c` with `args` (its
/// actions); what it prints is collected as it comes.
struct Client {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Client {
    fn start(c: &Container, args: &[&str]) -> Client {
        use std::io::{BufRead, Write};
        let prefix = c.exec_prefix();
        let mut child = Command::new(&prefix[0])
            .args(&prefix[1..])
            .args(["lua5.4", "-"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(CLIENT.as_bytes())
            .unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut o = out.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        Client { child, out }
    }

    /// Waits up to `secs` for a line containing `needle`; the output so far.
    fn wait_for(&self, needle: &str, secs: u64) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.out.lock().unwrap().clone();
            if text.contains(needle) {
                return Ok(text);
            }
            if text.contains("fail ") || Instant::now() > deadline {
                return Err(text);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `jitsi-stack doctor` of the stack with `fake` first on PATH: its stdout.
fn doctor(run: &crate::harness::Run, fake: &FakeDocker) -> String {
    let out = Command::new(crate::harness::bin())
        .current_dir(run.path())
        .env("PATH", fake.path_var())
        .env_remove("JITSI_STACK_DIR")
        .arg("doctor")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines of doctor's output from `check` on (the finding and its fix).
fn findings(out: &str, check: &str) -> Vec<String> {
    let lines: Vec<&str> = out.lines().collect();
    let mut found = vec![];
    for (i, l) in lines.iter().enumerate() {
        if l.len() > 5 && l[5..].starts_with(&format!("{check:<10} ")) {
            let mut f = l.to_string();
            if let Some(next) = lines
                .get(i + 1)
                .filter(|n| n.trim_start().starts_with("fix:"))
            {
                f.push('\n');
                f.push_str(next);
            }
            found.push(f);
        }
    }
    found
}

#[test]
#[ignore = "needs root"]
fn main_and_two_nodes_link_over_s2s_with_tls() {
    crate::harness::needs_root("network namespaces and chroot into the trixie root");
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
    let mut dns = [
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

    // doctor, through the fake docker forwarding `compose exec` into the
    // three containers: every link, TLS and jicofo's focus login to each
    // node's client port pass.
    let fake = fake_docker(&[("prosody", &cm), ("prosody-v0", &c0), ("prosody-v1", &c1)]);
    let out = doctor(&run, &fake);
    eprintln!("doctor, all up:\n{out}");
    for node in ["v0", "v1"] {
        let line = |check: &str, needle: &str| {
            findings(&out, check)
                .into_iter()
                .find(|f| f.contains(needle))
                .unwrap_or_else(|| panic!("no {check} finding with {needle}:\n{out}"))
        };
        let f = line("s2s", &format!("main prosody -> muc.{node}.meet.jitsi"));
        assert!(
            f.starts_with("ok ") && f.contains("service-unavailable"),
            "{f}"
        );
        let f = line("s2s", &format!("{node}.meet.jitsi -> muc.meet.jitsi"));
        assert!(
            f.starts_with("ok ") && f.contains("via xmpp.meet.jitsi:5269"),
            "{f}"
        );
        let f = line("s2s-tls", &format!("muc.{node}.meet.jitsi"));
        assert!(
            f.starts_with("ok ") && f.contains("all encrypted (TLSv1.3)"),
            "{f}"
        );
        let f = line("focus", &format!("prosody-{node}:5222"));
        assert!(
            f.starts_with("ok ") && f.contains("focus@auth.meet.jitsi logged in"),
            "{f}"
        );
    }
    // A room on muc.v0: focus creates it (the node's admin, over its
    // client port), a main-domain participant joins it over s2s, an
    // anonymous viewer on v0 joins as a visitor (the fmuc stand-in), sees
    // that participant's presence and chat, and cannot create a room.
    let focus_pw = crate::nodes::env_of(&run)
        .get("JICOFO_AUTH_PASSWORD")
        .unwrap()
        .to_string();
    let room = "room1@muc.v0.meet.jitsi";
    let focus = Client::start(
        &c0,
        &[
            "login",
            "127.0.0.1",
            "5222",
            "auth.meet.jitsi",
            "plain",
            "focus",
            &focus_pw,
            "join",
            &format!("{room}/focus"),
            "hold",
            "90",
        ],
    );
    let text = focus
        .wait_for(&format!("joined {room}/focus"), 30)
        .unwrap_or_else(|t| panic!("focus: {t}\n{}", c0.log_tail()));
    assert!(text.contains("role=moderator"), "{text}");
    let viewer = Client::start(
        &c0,
        &[
            "login",
            "127.0.0.1",
            "5222",
            "v0.meet.jitsi",
            "anonymous",
            "join",
            &format!("{room}/viewer"),
            "await-presence",
            &format!("{room}/alice"),
            "await-message",
            &format!("{room}/alice"),
            "hello viewers",
            "join",
            "other@muc.v0.meet.jitsi/viewer",
        ],
    );
    let text = viewer
        .wait_for(&format!("joined {room}/viewer"), 30)
        .unwrap_or_else(|t| panic!("viewer: {t}\n{}", c0.log_tail()));
    assert!(text.contains("role=visitor"), "{text}");
    let alice = Client::start(
        &cm,
        &[
            "login",
            "127.0.0.1",
            "5222",
            "meet.jitsi",
            "anonymous",
            "join",
            &format!("{room}/alice"),
            "say",
            room,
            "hello viewers",
            "hold",
            "5",
        ],
    );
    let text = alice
        .wait_for(&format!("joined {room}/alice"), 30)
        .unwrap_or_else(|t| {
            panic!(
                "alice: {t}\nmain:\n{}\nnode:\n{}",
                cm.log_tail(),
                c0.log_tail()
            )
        });
    assert!(
        text.contains("role=participant") && text.contains("@meet.jitsi/"),
        "{text}"
    );
    let text = viewer
        .wait_for("done", 30)
        .unwrap_or_else(|t| panic!("viewer: {t}\n{}", c0.log_tail()));
    eprintln!("viewer on v0:\n{text}");
    for want in [
        format!("presence {room}/alice"),
        format!("message {room}/alice hello viewers"),
        "join-error other@muc.v0.meet.jitsi/viewer not-allowed".to_string(),
    ] {
        assert!(text.contains(&want), "{want}: {text}");
    }
    drop((focus, viewer, alice));

    // A route to the wrong node: main's name for prosody-v0 resolves to
    // v1, which does not serve muc.v0.
    dns[0].stop();
    dns[0] = Dns::start(
        &cm,
        &[("prosody-v0", "10.77.1.2"), ("prosody-v1", "10.77.1.2")],
    );
    shell(&cm, &["s2s", "closeall", "muc.v0.meet.jitsi"]);
    let out = doctor(&run, &fake);
    eprintln!("doctor, prosody-v0 resolving to v1:\n{out}");
    let s2s = findings(&out, "s2s").join("\n");
    assert!(
        s2s.contains("FAIL s2s        main prosody -> muc.v0.meet.jitsi: the prosody at prosody-v0:5269 does not serve muc.v0.meet.jitsi"),
        "{out}"
    );
    dns[0].stop();
    dns[0] = Dns::start(
        &cm,
        &[("prosody-v0", "10.77.0.2"), ("prosody-v1", "10.77.1.2")],
    );
    shell(&cm, &["s2s", "closeall", "muc.v0.meet.jitsi"]);

    // A focus password the node does not have: the login fails by name.
    let env = run.path().join(".env");
    let saved = std::fs::read_to_string(&env).unwrap();
    let changed: String = saved
        .lines()
        .map(|l| {
            if l.starts_with("JICOFO_AUTH_PASSWORD=") {
                "JICOFO_AUTH_PASSWORD=not-the-nodes-password-1234".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&env, changed + "\n").unwrap();
    let out = doctor(&run, &fake);
    std::fs::write(&env, &saved).unwrap();
    let f = findings(&out, "focus").join("\n");
    assert!(
        f.contains("FAIL focus      jicofo cannot log in to prosody-v0:5222 as focus@auth.meet.jitsi: auth: not-authorized")
            && f.contains("another password than JICOFO_AUTH_PASSWORD"),
        "{out}"
    );

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
    // doctor says the same, with the cause and the fix.
    shell(&cm, &["s2s", "closeall", "muc.v0.meet.jitsi"]);
    shell(&cm, &["s2s", "closeall", "muc.v1.meet.jitsi"]);
    let out = doctor(&run, &fake);
    eprintln!("doctor, v0's 5269 refused, v1's dropped:\n{out}");
    let s2s = findings(&out, "s2s").join("\n");
    assert!(
        s2s.contains(
            "FAIL s2s        main prosody -> muc.v0.meet.jitsi: nothing listens at prosody-v0:5269"
        ) && s2s.contains("prosody-v0 is down, or main's route names a port it does not listen on"),
        "{out}"
    );
    assert!(
        s2s.contains("FAIL s2s        main prosody -> muc.v1.meet.jitsi: no answer from prosody-v1:5269 within 10 s"),
        "{out}"
    );
}
