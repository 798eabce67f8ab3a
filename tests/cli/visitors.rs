//! visitors tests: `JITSI_STACK_VISITORS=N` renders visitor nodes whose
//! prosody files pass luac and prosodyctl, main prosody and jicofo get their
//! own ports for the same nodes, nginx routes `?vnode=`, and `check` refuses
//! the set-ups that cannot work.

use crate::harness::{init_stack, Run, Test};
use crate::render_prosody::{luac, prosodyctl_check_site, read_back};

const ON: &[(&str, &str)] = &[("ENABLE_VISITORS", "1"), ("JITSI_STACK_VISITORS", "2")];

fn rendered(extra: &[(&str, &str)]) -> Run {
    let mut all = ON.to_vec();
    all.extend_from_slice(extra);
    Test::again(init_stack(&all, &[])).args(["render"]).run()
}

#[test]
fn visitor_nodes_render_with_split_ports() {
    let run = rendered(&[]);
    let compose: serde_yaml::Value = serde_yaml::from_str(&run.read("docker-compose.yml")).unwrap();
    let svc = |name: &str| compose["services"][name].clone();
    for i in 0..2 {
        let node = svc(&format!("prosody-v{i}"));
        let env = &node["environment"];
        assert_eq!(env["PROSODY_MODE"].as_str(), Some("visitors"), "{node:?}");
        assert_eq!(
            env["PROSODY_VISITOR_INDEX"].as_str(),
            Some(i.to_string().as_str())
        );
        assert_eq!(env["XMPP_SERVER"].as_str(), Some("xmpp.meet.jitsi"));
        assert_eq!(env["XMPP_SERVER_S2S_PORT"].as_str(), Some("5269"));
        assert!(
            env["VISITORS_XMPP_SERVER"].is_null(),
            "a node never routes to nodes"
        );
        assert!(
            node["ports"].is_null(),
            "a node publishes no port: {node:?}"
        );
        let vols: Vec<String> = node["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert!(
            vols.contains(&format!("prosody-v{i}-data:/var/lib/prosody")),
            "{vols:?}"
        );
    }
    assert!(svc("prosody-v2").is_null());
    assert_eq!(
        svc("prosody")["environment"]["VISITORS_XMPP_SERVER"].as_str(),
        Some("prosody-v0:5269,prosody-v1:5269")
    );
    assert_eq!(
        svc("jicofo")["environment"]["VISITORS_XMPP_SERVER"].as_str(),
        Some("prosody-v0:5222,prosody-v1:5222")
    );

    // Main prosody: s2s to each node's s2s port, the visitors component.
    let main = run.path().join("generated/prosody/prosody.cfg.lua");
    let site = run.path().join("generated/prosody/jitsi-meet.cfg.lua");
    luac(&main);
    prosodyctl_check_site(&main, "jitsi-meet.cfg.lua", &site);
    let text = run.read("generated/prosody/prosody.cfg.lua");
    assert!(
        text.contains(r#"["muc.v1.meet.jitsi"] = "tcp://prosody-v1:5269";"#),
        "{text}"
    );
    assert!(text.contains("\"s2s_bidi\";"), "{text}");
    let s = read_back(&site);
    assert!(
        s.keys().any(|(sec, _)| sec.contains("visitors.meet.jitsi")),
        "no visitors component: {s:?}"
    );

    // Each node: its own two files, accepted by prosodyctl.
    for i in 0..2 {
        let dir = run.path().join(format!("generated/prosody-v{i}"));
        let (g, v) = (dir.join("prosody.cfg.lua"), dir.join("visitors.cfg.lua"));
        luac(&g);
        luac(&v);
        prosodyctl_check_site(&g, "visitors.cfg.lua", &v);
        let site = std::fs::read_to_string(&v).unwrap();
        assert!(
            site.contains(&format!("VirtualHost \"v{i}.meet.jitsi\"")),
            "{site}"
        );
        assert!(site.contains(&format!("Component \"muc.v{i}.meet.jitsi\" \"muc\"")));
        assert!(site.contains(r#""tcp://xmpp.meet.jitsi:5269""#), "{site}");
        assert!(!site.contains("{{"));
    }

    // jicofo logs in to each node's client port.
    let jicofo = run.read("generated/jicofo/jicofo.conf");
    for i in 0..2 {
        assert!(
            jicofo.contains(&format!("hostname = \"prosody-v{i}\"")),
            "{jicofo}"
        );
        assert!(jicofo.contains(&format!("conference-service = \"muc.v{i}.meet.jitsi\"")));
    }
    assert!(
        jicofo.contains("port = 5222") && !jicofo.contains("52220"),
        "{jicofo}"
    );
    assert!(jicofo.contains("topology-strategy = VisitorTopologyStrategy"));

    // nginx: the map and the variable in both proxies; nginx -t accepts it.
    let nginx = run.read("generated/web/nginx.conf");
    assert!(
        nginx.contains("map $arg_vnode $xmpp_bosh_base {"),
        "{nginx}"
    );
    assert!(nginx.contains("v1 http://prosody-v1:5280;"));
    let meet = run.read("generated/web/meet.conf");
    assert!(
        meet.contains("proxy_pass $xmpp_bosh_base/http-bind?"),
        "{meet}"
    );
    assert!(meet.contains("proxy_pass $xmpp_bosh_base/xmpp-websocket?"));
    crate::render_web::assert_nginx_ok(&run);
}

#[test]
fn without_visitors_nothing_changes() {
    let run = Test::again(init_stack(&[("JITSI_STACK_VISITORS", "0")], &[]))
        .args(["render"])
        .run();
    assert!(!run.path().join("generated/prosody-v0").exists());
    assert!(!run.read("generated/web/nginx.conf").contains("vnode"));
    assert!(!run
        .read("generated/jicofo/jicofo.conf")
        .contains("visitors"));
}

fn check_fails(extra: &[(&str, &str)], needle: &str) {
    let run = init_stack(extra, &[]);
    let r = Test::again(run).args(["check"]).status(1).run();
    assert!(
        r.stderr.contains(needle),
        "expected {needle:?} in:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("[rule visitors]"), "{}", r.stderr);
}

#[test]
fn check_refuses_visitors_that_cannot_work() {
    check_fails(&[("ENABLE_VISITORS", "1")], "there is no visitor node");
    check_fails(&[("JITSI_STACK_VISITORS", "1")], "visitors are off");
    let with = |k: &'static str, v: &'static str| {
        let mut all = ON.to_vec();
        all.push((k, v));
        all
    };
    check_fails(&with("VISITORS_XMPP_DOMAIN", "v.example.org"), "hard-code");
    check_fails(
        &with("PROSODY_VISITORS_MUC_PREFIX", "conference"),
        "conference.v<N>.meet.jitsi",
    );
    check_fails(
        &with("VISITORS_XMPP_SERVER", "prosody-v0:52220,prosody-v1:52221"),
        "names a port",
    );
    check_fails(
        &with("VISITORS_XMPP_SERVER", "prosody-v0"),
        "does not match the 2 visitor node(s)",
    );
    // The release's own form of the list (names, no ports) is accepted,
    // and check explains the threshold and the promotion default.
    let run = init_stack(&with("VISITORS_XMPP_SERVER", "prosody-v0,prosody-v1"), &[]);
    let r = Test::again(run).args(["check"]).run();
    assert!(r.stdout.contains("after 50 participants"), "{}", r.stdout);
    assert!(
        r.stdout.contains("promoted to participant automatically"),
        "{}",
        r.stdout
    );
}

#[test]
fn init_visitors_sets_both_variables() {
    let r = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org",
            "--non-interactive",
            "--visitors",
            "3",
        ])
        .run();
    let env = r.read(".env");
    assert!(env.lines().any(|l| l == "ENABLE_VISITORS=1"), "{env}");
    assert!(env.lines().any(|l| l == "JITSI_STACK_VISITORS=3"));
    let r = Test::again(r).args(["render"]).run();
    assert!(r
        .path()
        .join("generated/prosody-v2/visitors.cfg.lua")
        .exists());
}

/// Sets `key=value` in the stack's `.env` (appended when absent).
fn set_env(run: &Run, key: &str, value: &str) {
    let path = run.path().join(".env");
    let text = std::fs::read_to_string(&path).unwrap();
    let prefix = format!("{key}=");
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                found = true;
                format!("{key}={value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(format!("{key}={value}"));
    }
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
}

fn env_line(run: &Run, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    run.read(".env")
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(String::from))
}

/// The visitor services a render wrote, and jicofo's conference services.
fn rendered_nodes(run: &Run) -> (Vec<String>, String) {
    let compose: serde_yaml::Value = serde_yaml::from_str(&run.read("docker-compose.yml")).unwrap();
    let mut names: Vec<String> = compose["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| k.starts_with("prosody-v"))
        .map(String::from)
        .collect();
    names.sort();
    (names, run.read("generated/jicofo/jicofo.conf"))
}

#[test]
fn visitor_indexes_are_given_once_and_never_reused() {
    let run = Test::again(init_stack(
        &[("ENABLE_VISITORS", "1"), ("JITSI_STACK_VISITORS", "3")],
        &[],
    ))
    .args(["render"])
    .run();
    assert_eq!(
        env_line(&run, "JITSI_STACK_VISITOR_INDEXES").as_deref(),
        Some("0,1,2")
    );
    assert_eq!(
        env_line(&run, "JITSI_STACK_VISITOR_NEXT").as_deref(),
        Some("3")
    );
    let (names, _) = rendered_nodes(&run);
    assert_eq!(names, ["prosody-v0", "prosody-v1", "prosody-v2"]);

    // Fewer nodes: the one given last goes; the others keep their index.
    set_env(&run, "JITSI_STACK_VISITORS", "2");
    let run = Test::again(run).args(["render"]).run();
    assert_eq!(
        env_line(&run, "JITSI_STACK_VISITOR_INDEXES").as_deref(),
        Some("0,1")
    );
    assert_eq!(
        env_line(&run, "JITSI_STACK_VISITOR_NEXT").as_deref(),
        Some("3")
    );
    let (names, jicofo) = rendered_nodes(&run);
    assert_eq!(names, ["prosody-v0", "prosody-v1"]);
    assert!(!jicofo.contains("v2.meet.jitsi"), "{jicofo}");

    // More again: the new node gets a fresh index (3), never v2's, with
    // its own domain, volume and route, and the others do not move.
    set_env(&run, "JITSI_STACK_VISITORS", "3");
    let run = Test::again(run).args(["render"]).run();
    assert_eq!(
        env_line(&run, "JITSI_STACK_VISITOR_INDEXES").as_deref(),
        Some("0,1,3")
    );
    assert_eq!(
        env_line(&run, "JITSI_STACK_VISITOR_NEXT").as_deref(),
        Some("4")
    );
    let (names, jicofo) = rendered_nodes(&run);
    assert_eq!(names, ["prosody-v0", "prosody-v1", "prosody-v3"]);
    let compose: serde_yaml::Value = serde_yaml::from_str(&run.read("docker-compose.yml")).unwrap();
    let v3 = &compose["services"]["prosody-v3"];
    assert_eq!(
        v3["environment"]["PROSODY_VISITOR_INDEX"].as_str(),
        Some("3")
    );
    let vols = serde_yaml::to_string(&v3["volumes"]).unwrap();
    assert!(vols.contains("prosody-v3-data:/var/lib/prosody"), "{vols}");
    assert!(!jicofo.contains("v2.meet.jitsi"), "{jicofo}");
    assert!(
        jicofo.contains("conference-service = \"muc.v3.meet.jitsi\""),
        "{jicofo}"
    );
    assert!(
        jicofo.contains("xmpp-domain = \"v3.meet.jitsi\""),
        "{jicofo}"
    );
    assert_eq!(
        compose["services"]["prosody"]["environment"]["VISITORS_XMPP_SERVER"].as_str(),
        Some("prosody-v0:5269,prosody-v1:5269,prosody-v3:5269")
    );
    let main = run.read("generated/prosody/prosody.cfg.lua");
    assert!(
        main.contains(r#"["muc.v3.meet.jitsi"] = "tcp://prosody-v3:5269";"#),
        "{main}"
    );
    assert!(!main.contains("v2.meet.jitsi"), "{main}");
    assert!(run
        .read("generated/web/nginx.conf")
        .contains("v3 http://prosody-v3:5280;"));
    let site = run.read("generated/prosody-v3/visitors.cfg.lua");
    assert!(site.contains("VirtualHost \"v3.meet.jitsi\""), "{site}");
    assert!(!run.path().join("generated/prosody-v2").exists());

    // A damaged record is refused by check, naming the variable.
    set_env(&run, "JITSI_STACK_VISITOR_INDEXES", "0,1,1");
    let r = Test::again(run).args(["check"]).status(1).run();
    assert!(
        r.stderr.contains("JITSI_STACK_VISITOR_INDEXES"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("never change"), "{}", r.stderr);
}

/// Stand-in upstreams for the routing test: on port 5280 of each address,
/// an HTTP server answering every request with its own name, the path and
/// query it was asked for and the Host header (what prosody's BOSH and
/// websocket endpoints would receive).
const STANDINS: &str = r#"
import http.server, sys, threading
NODES = [("main", "127.0.0.1"), ("v0", "127.0.0.2"), ("v1", "127.0.0.3")]
def handler(name):
    class H(http.server.BaseHTTPRequestHandler):
        def answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            body = f"{name} {self.path} host={self.headers.get('Host')}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        do_GET = do_POST = answer
        def log_message(self, *a):
            pass
    return H
for name, addr in NODES:
    s = http.server.ThreadingHTTPServer((addr, 5280), handler(name))
    threading.Thread(target=s.serve_forever, daemon=True).start()
open(sys.argv[1], "w").close()
threading.Event().wait()
"#;

#[test]
fn trixie_nginx_routes_vnode_to_its_node() {
    let run = crate::web_boot::rendered(ON, &[]);
    let b = crate::web_boot::boot_with(
        &run,
        &[
            &["https://127.0.0.1:8443/http-bind"],
            &["https://127.0.0.1:8443/http-bind?vnode=v0"],
            &["https://127.0.0.1:8443/http-bind?vnode=v1", "-d", "<body/>"],
            &["https://127.0.0.1:8443/http-bind?vnode=v7"],
            &[
                "https://127.0.0.1:8443/xmpp-websocket?vnode=v1&room=r",
                "-H",
                "Connection: Upgrade",
                "-H",
                "Upgrade: websocket",
            ],
            &["https://127.0.0.1:8443/xmpp-websocket?room=r"],
            &["https://127.0.0.1:8443/tenant/http-bind?vnode=v0"],
        ],
        &[("prosody-v0", "127.0.0.2"), ("prosody-v1", "127.0.0.3")],
        Some(STANDINS),
    );
    b.assert_ok();
    let who: Vec<String> = b
        .responses
        .iter()
        .map(|r| {
            assert_eq!(
                r.status,
                200,
                "{}\n{}",
                r.body,
                b.error_log
                    .lines()
                    .filter(|l| !l.contains("[warn]"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            r.body.split(' ').next().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(
        who,
        ["main", "v0", "v1", "main", "v1", "main", "v0"],
        "{:?}",
        b.responses
    );
    // The query reaches the node unchanged, with the XMPP domain as Host.
    assert!(
        b.responses[1]
            .body
            .contains("/http-bind?prefix=&vnode=v0 host=meet.jitsi"),
        "{}",
        b.responses[1].body
    );
    assert!(b.responses[4]
        .body
        .contains("/xmpp-websocket?prefix=&vnode=v1&room=r"));
    assert!(
        b.responses[6].body.contains("prefix=tenant"),
        "{}",
        b.responses[6].body
    );
}

/// `prosodyctl check config` of Debian trixie's prosody 13 (the image's
/// prosody) on one rendered prosody directory: `prosody.cfg.lua` with the
/// directory's other `*.cfg.lua` as `conf.d/`, in a private tmpfs of the
/// root, as the root's prosody user.
fn prosody13_check(dir: &std::path::Path) -> (bool, String) {
    let root = crate::prosody_boot::trixie_root();
    let script = r#"set -eu
R=$1; S=$2
mount -t tmpfs -o size=4M tmpfs "$R/tmp"
mkdir -p "$R/tmp/p/conf.d"
cp "$S/prosody.cfg.lua" "$R/tmp/p/"
for f in "$S"/*.cfg.lua; do
    [ "$(basename "$f")" = prosody.cfg.lua ] || cp "$f" "$R/tmp/p/conf.d/"
done
chmod -R a+rX "$R/tmp/p"
chroot "$R" runuser -u prosody -- timeout 60 prosodyctl --config /tmp/p/prosody.cfg.lua check config
"#;
    let out = std::process::Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            script,
            "check",
        ])
        .arg(&root)
        .arg(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("All checks passed"),
        text,
    )
}

#[test]
fn prosody13_accepts_main_and_node_configs() {
    let run = rendered(&[]);
    for d in ["prosody", "prosody-v0", "prosody-v1"] {
        let dir = run.path().join("generated").join(d);
        let (ok, text) = prosody13_check(&dir);
        assert!(ok, "prosody 13 rejected {d}: {text}");
        let site = if d == "prosody" {
            "jitsi-meet"
        } else {
            "visitors"
        };
        assert!(text.contains(&format!("conf.d/{site}.cfg.lua")), "{text}");
    }
    // The check reads what it is given: a broken node file fails.
    let dir = run.path().join("generated/prosody-v1");
    let site = dir.join("visitors.cfg.lua");
    let text = std::fs::read_to_string(&site).unwrap();
    std::fs::write(
        &site,
        text.replace("muc_max_occupants =", "muc_max_occupants =="),
    )
    .unwrap();
    assert!(!prosody13_check(&dir).0);
}
