//! visitors_doctor: what `doctor` and `smoke` check of the visitor nodes
//! through the running services, against the harness's fake docker
//! answering as prosody 13's admin shell answered in the live test
//! (tests/cli/visitors_live.rs runs the same checks against real prosody):
//! the s2s ping from main to each node's MUC and back, `s2s:show()`'s TLS,
//! jicofo's focus login to each node's client port, and the `?vnode=` BOSH
//! and websocket through PUBLIC_URL; the pass and each failure's message.

use crate::harness::{doctor_exit, init_stack, FakeDocker, Run, Test};

/// Answers from files in the fake's directory, keyed by what was asked:
/// `ping.SERVICE.TO` for `prosodyctl shell xmpp ping FROM TO SECS` in
/// SERVICE, `s2s.SERVICE` for `shell s2s show`, `login.HOST` for the login
/// script (`lua5.4 - HOST PORT DOMAIN USER`, its stdin kept in
/// `stdin.login.HOST`); `KEY.rc` is the exit status (0). Anything else
/// answers as `docker compose exec` of a stopped service.
const ADMIN_SHELL: &str = r#"svc=""; prev=""
for a in "$@"; do [ "$prev" = "-T" ] && { svc="$a"; break; }; prev="$a"; done
key=""
case "$*" in
  *" exec -T "*" prosodyctl "*" shell xmpp ping "*) key="ping.$svc.$(printf '%s\n' "$*" | awk '{print $(NF-1)}')" ;;
  *" exec -T "*" prosodyctl "*" shell s2s show") key="s2s.$svc" ;;
  *" exec -T prosody lua5.4 - "*) h=$(printf '%s\n' "$*" | sed 's/.* lua5\.4 - \([^ ]*\) .*/\1/'); key="login.$h"; cat > "$FAKE_DIR/stdin.$key" ;;
  *) exit 0 ;;
esac
if [ -f "$FAKE_DIR/$key" ]; then
  cat "$FAKE_DIR/$key"
  exit "$(cat "$FAKE_DIR/$key.rc" 2>/dev/null || echo 0)"
fi
echo "service \"$svc\" is not running" >&2
exit 1
"#;

/// What prosody 13's admin shell printed in the live test.
const LINKED: &str = "Error: error<cancel:service-unavailable:>\n";
const REFUSED: &str = "Error: error<cancel:remote-server-not-found:Server-to-server connection failed: connection refused>\n";
const TIMEOUT: &str = "Error: error<cancel:remote-server-not-found:Server-to-server connection failed: connection timeout>\n";
const S2S_SHOW: &str = "Session ID           | Host                     | Dir  | Remote                   | IPv  | Security  | SASL       | Dialback     \n\
s2sout560ec5ee6dd0   | meet.jitsi               | <->  | muc.v0.meet.jitsi        | IPv4 | TLSv1.3   | Succeeded  | Not used     \n\
s2sout560ec5f56760   | meet.jitsi               | <->  | muc.v1.meet.jitsi        | IPv4 | TLSv1.3   | Succeeded  | Not used     \n\
s2sin560ec631e660    | muc.meet.jitsi           | <->  | v0.meet.jitsi            | IPv4 | TLSv1.3   | Succeeded  | Not used     \n\
s2sin560ec5c7ea00    | muc.meet.jitsi           | <->  | v1.meet.jitsi            | IPv4 | TLSv1.3   | Succeeded  | Not used     \n\
OK: 4 s2s connections shown\n";

fn answer(fake: &FakeDocker, key: &str, text: &str, rc: i32) {
    std::fs::write(fake.file(key), text).unwrap();
    std::fs::write(fake.file(&format!("{key}.rc")), rc.to_string()).unwrap();
}

/// Every link of two local nodes up, as in the live test.
fn all_up(fake: &FakeDocker) {
    for n in ["v0", "v1"] {
        answer(fake, &format!("ping.prosody.muc.{n}.meet.jitsi"), LINKED, 1);
        answer(fake, &format!("ping.prosody-{n}.muc.meet.jitsi"), LINKED, 1);
        answer(
            fake,
            &format!("login.prosody-{n}"),
            "jitsi-stack-login ok TLSv1.3\n",
            0,
        );
    }
    answer(fake, "s2s.prosody", S2S_SHOW, 0);
}

fn two_nodes() -> Run {
    let run = init_stack(
        &[("ENABLE_VISITORS", "1"), ("JITSI_STACK_VISITORS", "2")],
        &[],
    );
    Test::again(run).args(["render"]).run()
}

/// The finding lines of `check` (each with its fix line, if any).
fn lines(out: &str, check: &str) -> String {
    let all: Vec<&str> = out.lines().collect();
    let mut found = vec![];
    for (i, l) in all.iter().enumerate() {
        if l.len() > 5 && l[5..].starts_with(&format!("{check:<10} ")) {
            found.push(l.to_string());
            if let Some(n) = all
                .get(i + 1)
                .filter(|n| n.trim_start().starts_with("fix:"))
            {
                found.push(n.to_string());
            }
        }
    }
    found.join("\n")
}

fn doctor(run: Run, fake: &FakeDocker) -> Run {
    let r = fake
        .attach(Test::again(run).args(["doctor"]))
        .status_any()
        .run();
    doctor_exit(&r);
    r
}

#[test]
fn doctor_pings_each_visitor_node_over_s2s_and_logs_in_as_focus() {
    let run = two_nodes();
    let password = crate::nodes::env_of(&run)
        .get("JICOFO_AUTH_PASSWORD")
        .unwrap()
        .to_string();
    let fake = FakeDocker::with(ADMIN_SHELL);
    all_up(&fake);
    let r = doctor(run, &fake);
    let s2s = lines(&r.stdout, "s2s");
    for n in ["v0", "v1"] {
        assert!(s2s.contains(&format!("ok   s2s        main prosody -> muc.{n}.meet.jitsi (via prosody-{n}:5269): the ping crossed the link both ways (the MUC answered service-unavailable")), "{}", r.stdout);
        assert!(s2s.contains(&format!("ok   s2s        {n}.meet.jitsi -> muc.meet.jitsi (via xmpp.meet.jitsi:5269): the ping crossed the link both ways")), "{}", r.stdout);
        assert!(lines(&r.stdout, "s2s-tls").contains(&format!("ok   s2s-tls    s2s:show(): 2 session(s) with muc.{n}.meet.jitsi and {n}.meet.jitsi, all encrypted (TLSv1.3)")), "{}", r.stdout);
        assert!(
            lines(&r.stdout, "focus").contains(&format!(
                "ok   focus      focus@auth.meet.jitsi logged in to prosody-{n}:5222 over TLSv1.3"
            )),
            "{}",
            r.stdout
        );
    }
    assert!(!s2s.contains("FAIL") && !s2s.contains("warn"), "{s2s}");
    // What ran: the image's prosodyctl shell in each container, the login
    // script in main prosody's; the password only on the script's stdin.
    let calls = fake.calls();
    for want in [
        " exec -T prosody prosodyctl --config /run/prosody/config/prosody.cfg.lua shell xmpp ping meet.jitsi muc.v0.meet.jitsi 10",
        " exec -T prosody-v1 prosodyctl --config /run/prosody/config/prosody.cfg.lua shell xmpp ping v1.meet.jitsi muc.meet.jitsi 10",
        " exec -T prosody prosodyctl --config /run/prosody/config/prosody.cfg.lua shell s2s show",
        " exec -T prosody lua5.4 - prosody-v0 5222 auth.meet.jitsi focus",
    ] {
        assert!(calls.iter().any(|c| c.ends_with(want)), "{want}: {calls:#?}");
    }
    assert!(!fake.log().contains(&password));
    let stdin = std::fs::read_to_string(fake.file("stdin.login.prosody-v1")).unwrap();
    assert!(
        stdin.starts_with(&format!("local password = \"{password}\"\n"))
            && stdin.contains("mechanism='PLAIN'"),
        "{stdin}"
    );
}

#[test]
fn doctor_names_why_a_visitor_link_fails_and_the_fix() {
    let run = two_nodes();
    let fake = FakeDocker::with(ADMIN_SHELL);
    all_up(&fake);
    // v0's s2s port refuses (a wrong port), v1's drops (a firewall).
    answer(&fake, "ping.prosody.muc.v0.meet.jitsi", REFUSED, 1);
    answer(&fake, "ping.prosody.muc.v1.meet.jitsi", TIMEOUT, 1);
    // v0 reaches a prosody that does not serve main's MUC; v1 is stopped.
    answer(
        &fake,
        "ping.prosody-v0.muc.meet.jitsi",
        "Error: error<wait:remote-server-timeout:Server-to-server connection failed: host-unknown (This host does not serve muc.meet.jitsi)>\n",
        1,
    );
    std::fs::remove_file(fake.file("ping.prosody-v1.muc.meet.jitsi")).unwrap();
    // Focus: another password on v0, nothing listening on v1.
    answer(
        &fake,
        "login.prosody-v0",
        "jitsi-stack-login fail auth not-authorized\n",
        0,
    );
    answer(
        &fake,
        "login.prosody-v1",
        "jitsi-stack-login fail connect prosody-v1:5222: connection refused\n",
        0,
    );
    let r = doctor(run, &fake);
    assert_eq!(r.status, 1);
    let s2s = lines(&r.stdout, "s2s");
    for want in [
        "FAIL s2s        main prosody -> muc.v0.meet.jitsi: nothing listens at prosody-v0:5269 (Error: error<cancel:remote-server-not-found:Server-to-server connection failed: connection refused>): prosody-v0 is down, or main's route names a port it does not listen on",
        "fix: start it (`jitsi-stack up`; `jitsi-stack logs prosody-v0`); main's route and the node's port both come from .env",
        "FAIL s2s        main prosody -> muc.v1.meet.jitsi: no answer from prosody-v1:5269 within 10 s",
        "fix: check that prosody-v1 runs on the compose network (`jitsi-stack status`) and that no firewall rule on this host drops traffic between containers",
        "FAIL s2s        v0.meet.jitsi -> muc.meet.jitsi: the prosody at xmpp.meet.jitsi:5269 does not serve muc.meet.jitsi",
        "fix: XMPP_SERVER must name the main prosody",
        "warn s2s        the link from v1.meet.jitsi is not checked: prosody-v1's admin shell did not answer (service \"prosody-v1\" is not running)",
    ] {
        assert!(s2s.contains(want), "{want}\n{}", r.stdout);
    }
    // No link came up: s2s:show() is not asked.
    assert!(!fake.calls().iter().any(|c| c.ends_with("shell s2s show")));
    let focus = lines(&r.stdout, "focus");
    for want in [
        "FAIL focus      jicofo cannot log in to prosody-v0:5222 as focus@auth.meet.jitsi: auth: not-authorized",
        "another password than JICOFO_AUTH_PASSWORD",
        "FAIL focus      jicofo cannot log in to prosody-v1:5222 as focus@auth.meet.jitsi: connect: prosody-v1:5222: connection refused",
        "fix: start prosody-v1",
    ] {
        assert!(focus.contains(want), "{want}\n{}", r.stdout);
    }

    // No route at all (prosody asked DNS), a link without TLS, and the
    // admin shell of main prosody not answering.
    let fake = FakeDocker::with(ADMIN_SHELL);
    all_up(&fake);
    answer(
        &fake,
        "ping.prosody.muc.v1.meet.jitsi",
        "Error: error<cancel:remote-server-not-found:Server-to-server connection failed: unable to resolve service>\n",
        1,
    );
    answer(
        &fake,
        "s2s.prosody",
        &S2S_SHOW.replace(
            "| muc.v0.meet.jitsi        | IPv4 | TLSv1.3   |",
            "| muc.v0.meet.jitsi        | IPv4 | (none)    |",
        ),
        0,
    );
    let r = doctor(r, &fake);
    let s2s = lines(&r.stdout, "s2s");
    assert!(s2s.contains("FAIL s2s        main prosody -> muc.v1.meet.jitsi: main prosody has no route to muc.v1.meet.jitsi"), "{}", r.stdout);
    assert!(
        s2s.contains("fix: run `jitsi-stack render` and `jitsi-stack restart prosody`"),
        "{}",
        r.stdout
    );
    let tls = lines(&r.stdout, "s2s-tls");
    assert!(tls.contains("FAIL s2s-tls    s2s:show(): a session with node v0 is not encrypted: s2sout560ec5ee6dd0"), "{}", r.stdout);
    assert!(!tls.contains("v1"), "v1 has no link: {tls}");

    let fake = FakeDocker::with(ADMIN_SHELL);
    for n in ["v0", "v1"] {
        answer(
            &fake,
            &format!("ping.prosody.muc.{n}.meet.jitsi"),
            "Unable to connect to server - is it running? Is mod_admin_shell enabled?\n",
            1,
        );
    }
    let r = doctor(r, &fake);
    let s2s = lines(&r.stdout, "s2s");
    assert!(s2s.contains("warn s2s        the visitors link to muc.v0.meet.jitsi is not checked: main prosody's admin shell did not answer (Unable to connect to server"), "{}", r.stdout);
    assert!(lines(&r.stdout, "focus").contains("warn focus      jicofo's login to prosody-v0:5222 is not checked: lua5.4 did not run in the prosody container (exit 1: service \"prosody\" is not running)"), "{}", r.stdout);
}

#[test]
fn doctor_checks_a_remote_visitor_node_with_its_own_password_and_its_bundle_pings_back() {
    let run = init_stack(
        &[("ENABLE_VISITORS", "1"), ("JITSI_STACK_VISITORS", "1")],
        &[],
    );
    let run = crate::nodes::add(
        run,
        &[
            "visitors",
            "vis-a",
            "--address",
            "10.9.0.20",
            "--main-address",
            "127.0.0.1",
        ],
    );
    let run = Test::again(run).args(["render"]).run();
    let env = crate::nodes::env_of(&run);
    let own = env
        .get("JITSI_STACK_NODE_VIS_A_PASSWORD")
        .unwrap()
        .to_string();
    let main_pw = env.get("JICOFO_AUTH_PASSWORD").unwrap().to_string();
    let fake = FakeDocker::with(ADMIN_SHELL);
    all_up(&fake);
    answer(&fake, "ping.prosody.muc.v1.meet.jitsi", LINKED, 1);
    answer(
        &fake,
        "login.10.9.0.20",
        "jitsi-stack-login fail auth not-authorized\n",
        0,
    );
    let r = doctor(run, &fake);
    let s2s = lines(&r.stdout, "s2s");
    assert!(
        s2s.contains("ok   s2s        main prosody -> muc.v1.meet.jitsi (via 10.9.0.20:5269)"),
        "{}",
        r.stdout
    );
    assert!(s2s.contains("ok   s2s        v1.meet.jitsi -> muc.meet.jitsi is checked on node vis-a: run `jitsi-stack doctor` in its bundle there"), "{}", r.stdout);
    // jicofo logs in to the node with the node's own password.
    let stdin = std::fs::read_to_string(fake.file("stdin.login.10.9.0.20")).unwrap();
    assert!(
        stdin.starts_with(&format!("local password = \"{own}\"\n")),
        "{stdin}"
    );
    assert!(!stdin.contains(&main_pw));
    let focus = lines(&r.stdout, "focus");
    assert!(focus.contains("FAIL focus      jicofo cannot log in to 10.9.0.20:5222 as focus@auth.meet.jitsi: auth: not-authorized"), "{}", r.stdout);
    assert!(focus.contains("must have the password JITSI_STACK_NODE_VIS_A_PASSWORD: copy nodes/vis-a to vis-a again"), "{}", r.stdout);

    // In the node's bundle: its prosody pings main's MUC at the main host.
    let fake = FakeDocker::with(ADMIN_SHELL);
    answer(&fake, "ping.prosody-v1.muc.meet.jitsi", TIMEOUT, 1);
    let r = fake
        .attach(Test::again(r).args(["--dir", "nodes/vis-a", "doctor"]))
        .status(1)
        .run();
    assert!(fake.calls().iter().any(|c| c.ends_with(" exec -T prosody-v1 prosodyctl --config /run/prosody/config/prosody.cfg.lua shell xmpp ping v1.meet.jitsi muc.meet.jitsi 10")), "{:#?}", fake.calls());
    let s2s = lines(&r.stdout, "s2s");
    assert!(s2s.contains("FAIL s2s        v1.meet.jitsi -> muc.meet.jitsi: no answer from 127.0.0.1:5269 within 10 s"), "{}", r.stdout);
    assert!(s2s.contains("fix: on the main host load the rules `jitsi-stack ports --nftables` prints there (they let 10.9.0.20 in to 5269)"), "{}", r.stdout);
    answer(&fake, "ping.prosody-v1.muc.meet.jitsi", LINKED, 1);
    let r = fake
        .attach(Test::again(r).args(["--dir", "nodes/vis-a", "doctor"]))
        .status_any()
        .run();
    assert!(lines(&r.stdout, "s2s").contains("ok   s2s        v1.meet.jitsi -> muc.meet.jitsi (via 127.0.0.1:5269): the ping crossed the link both ways"), "{}", r.stdout);
}

/// A stand-in for PUBLIC_URL (the web container's nginx with a prosody
/// behind each route): `?vnode=v0`/`v1` reach a prosody serving
/// `v0.meet.jitsi`/`v1.meet.jitsi`, everything else one serving
/// `meet.jitsi`, as prosody answers BOSH (a session for a domain it serves,
/// `host-unknown` otherwise) and the websocket upgrade. The file `mode`
/// next to the script changes the routing: `unrouted` (every request to
/// main, an nginx without the vnode map), `v1-down` (502 for v1).
const PUBLIC: &str = r#"
import base64, hashlib, http.server, os, re, sys
from urllib.parse import urlparse, parse_qs
MODE = os.path.join(os.path.dirname(sys.argv[0]), "mode")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def serves(self):
        mode = open(MODE).read().strip() if os.path.exists(MODE) else "routed"
        v = parse_qs(urlparse(self.path).query).get("vnode", [""])[0]
        if mode == "unrouted" or v not in ("v0", "v1"):
            return "meet.jitsi"
        if mode == "v1-down" and v == "v1":
            return None
        return v + ".meet.jitsi"
    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        dom = self.serves()
        if dom is None:
            return self.reply(502, b"bad gateway")
        to = re.search(r"to='([^']*)'", body)
        ns = "xmlns='http://jabber.org/protocol/httpbind'"
        if "type='terminate'" in body:
            out = f"<body {ns} type='terminate'/>"
        elif to and to.group(1) == dom:
            out = f"<body {ns} sid='sid-{dom}' wait='5'/>"
        else:
            out = f"<body {ns} type='terminate' condition='host-unknown'/>"
        self.reply(200, out.encode())
    def do_GET(self):
        dom = self.serves()
        if dom is None:
            return self.reply(502, b"bad gateway")
        key = self.headers.get("Sec-WebSocket-Key")
        if not key:
            return self.reply(200, b"<script>var config = {};</script><script src='libs/app.bundle.min.js'></script>")
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", "xmpp")
        self.end_headers()
        self.close_connection = True
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
"#;

struct Public {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Public {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Public {
    fn start() -> Public {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("public.py");
        std::fs::write(&script, PUBLIC).unwrap();
        let port_file = dir.path().join("port");
        let child = std::process::Command::new("python3")
            .arg(&script)
            .arg(&port_file)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                break p;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the stand-in did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        Public { child, dir, port }
    }

    fn mode(&self, mode: &str) {
        std::fs::write(self.dir.path().join("mode"), mode).unwrap();
    }
}

/// `smoke --json`'s probes: check -> (ok, url, detail).
fn smoke(
    run: Run,
) -> (
    Run,
    std::collections::BTreeMap<String, (bool, String, String)>,
) {
    let fake = FakeDocker::new();
    let r = fake
        .attach(Test::again(run).args(["smoke", "--json", "--timeout", "5"]))
        .status_any()
        .run();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect(&r.stdout);
    let probes = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["check"].as_str().unwrap().to_string(),
                (
                    p["ok"].as_bool().unwrap(),
                    p["url"].as_str().unwrap().to_string(),
                    p["detail"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    (r, probes)
}

#[test]
fn smoke_opens_bosh_and_websocket_on_each_node_through_vnode() {
    let public = Public::start();
    let run = two_nodes();
    let env = run.path().join(".env");
    let text = std::fs::read_to_string(&env).unwrap().replace(
        "PUBLIC_URL=https://meet.example.org:8443",
        &format!("PUBLIC_URL=http://127.0.0.1:{}", public.port),
    );
    std::fs::write(&env, text).unwrap();
    let base = format!("http://127.0.0.1:{}", public.port);

    let (run, p) = smoke(run);
    for n in ["v0", "v1"] {
        let (ok, url, detail) = &p[&format!("bosh-{n}")];
        assert!(*ok, "{detail}");
        assert_eq!(url, &format!("{base}/http-bind?vnode={n}"));
        assert_eq!(
            detail,
            &format!(
                "HTTP 200, BOSH session opened for {n}.meet.jitsi: ?vnode={n} reached prosody-{n}"
            )
        );
        let (ok, url, detail) = &p[&format!("websocket-{n}")];
        assert!(*ok, "{detail}");
        assert_eq!(url, &format!("{base}/xmpp-websocket?vnode={n}"));
    }
    assert!(p["bosh"].0, "{:?}", p["bosh"]);

    // An nginx without the vnode map sends everything to main prosody.
    public.mode("unrouted");
    let (run, p) = smoke(run);
    let (ok, _, detail) = &p["bosh-v0"];
    assert!(!ok);
    assert!(
        detail.starts_with("?vnode=v0 did not reach prosody-v0 (prosody refused the session for v0.meet.jitsi (condition: host-unknown)")
            && detail.contains("run `jitsi-stack render` and `jitsi-stack restart web` (the map $arg_vnode of generated/web/nginx.conf)"),
        "{detail}"
    );
    // A node that is down: nginx answers 502 for its routes.
    public.mode("v1-down");
    let (r, p) = smoke(run);
    assert!(p["bosh-v0"].0 && p["websocket-v0"].0, "{p:?}");
    for check in ["bosh-v1", "websocket-v1"] {
        let (ok, _, detail) = &p[check];
        assert!(!ok);
        assert!(
            detail.starts_with("HTTP 502, expected ")
                && detail.ends_with("(?vnode=v1 goes to http://prosody-v1:5280: is it running? `jitsi-stack status`)"),
            "{detail}"
        );
    }
    assert!(r.stderr.contains("bosh-v1, websocket-v1"), "{}", r.stderr);
}
