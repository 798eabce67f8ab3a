//! `proxy nginx|apache|haproxy|caddy`: each snippet is checked by the program
//! that reads it (Debian 12's nginx 1.22, Apache 2.4, HAProxy 2.6, Caddy 2.6,
//! from .ci/install-deps), then run: the real proxy on loopback with a
//! throw-away certificate, in front of a stand-in for the web container that
//! records every request reaching the stack's HTTP_PORT. A room page, a BOSH
//! poll and the XMPP websocket (a tenant's too) must arrive there with the
//! headers the web container needs, and a request for another host must not.
//!
//! What a test changes in a printed snippet is only what a host cannot
//! provide: the certificate paths (the user's to fill in) and the listen
//! address (loopback instead of every interface). Each change is asserted to
//! apply, so a snippet that no longer has the line fails here.

use crate::harness::{free_port, Run, Test};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HOST: &str = "meet.example.org";
/// RFC 6455's sample key and the accept value it implies (section 1.3):
/// the stand-in answers the upgrade only for this key, unchanged.
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- the stack

/// A stack made by `init --behind-proxy` for https://meet.example.org:PORT
/// (no port: 443) with its web container on 127.0.0.1:`http`, and what
/// `proxy KIND` prints for it (which must come without a warning).
fn snippet_for(public_port: Option<u16>, http: u16, kind: &str) -> (Run, String) {
    let url = match public_port {
        Some(p) => format!("https://{HOST}:{p}"),
        None => format!("https://{HOST}"),
    };
    let run = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            &url,
            "--behind-proxy",
            "--non-interactive",
        ])
        .run();
    let env = replaced(
        &run.read(".env"),
        "\nHTTP_PORT=8000\n",
        &format!("\nHTTP_PORT={http}\n"),
        ".env",
    );
    fs::write(run.path().join(".env"), env).unwrap();
    let run = Test::again(run).args(["proxy", kind]).run();
    assert_eq!(run.stderr, "", "a consistent stack gets no warning");
    let text = run.stdout.clone();
    // What every snippet is made of, before any program reads it.
    assert!(text.contains(&format!("127.0.0.1:{http}")), "{text}");
    assert!(text.contains(HOST), "{text}");
    if let Some(p) = public_port {
        assert!(text.contains(&format!("{HOST}:{p}")), "{text}");
    }
    (run, text)
}

fn replaced(text: &str, from: &str, to: &str, what: &str) -> String {
    assert!(
        text.contains(from),
        "{what} no longer contains {from:?}:\n{text}"
    );
    text.replace(from, to)
}

/// A port on 127.0.0.1 held by nothing else, distinct from `taken`.
fn other_free_port(taken: &[u16]) -> u16 {
    loop {
        let p = free_port();
        if !taken.contains(&p) {
            return p;
        }
    }
}

// ---------------------------------------------------------- the certificate

/// A throw-away CA and a certificate for meet.example.org signed by it (the
/// client trusts the CA, as a browser trusts a public one).
struct Tls {
    dir: tempfile::TempDir,
}

impl Tls {
    fn new() -> Tls {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
        let common = ["req", "-x509", "-nodes", "-days", "1"];
        openssl(
            Command::new("openssl")
                .args(common)
                .args(ec)
                .args(["-subj", "/CN=jitsi-stack test CA"])
                .arg("-keyout")
                .arg(d.join("ca.key"))
                .arg("-out")
                .arg(d.join("ca.pem")),
        );
        openssl(
            Command::new("openssl")
                .args(common)
                .args(ec)
                .args(["-subj", &format!("/CN={HOST}")])
                .args(["-addext", &format!("subjectAltName=DNS:{HOST}")])
                .args(["-addext", "basicConstraints=critical,CA:FALSE"])
                .arg("-CA")
                .arg(d.join("ca.pem"))
                .arg("-CAkey")
                .arg(d.join("ca.key"))
                .arg("-keyout")
                .arg(d.join("key.pem"))
                .arg("-out")
                .arg(d.join("cert.pem")),
        );
        // HAProxy wants certificate and key in one file.
        let both = fs::read_to_string(d.join("cert.pem")).unwrap()
            + &fs::read_to_string(d.join("key.pem")).unwrap();
        fs::write(d.join("both.pem"), both).unwrap();
        Tls { dir }
    }
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    fn cert(&self) -> String {
        self.dir.path().join("cert.pem").display().to_string()
    }
    fn key(&self) -> String {
        self.dir.path().join("key.pem").display().to_string()
    }
    fn both(&self) -> String {
        self.dir.path().join("both.pem").display().to_string()
    }
}

fn openssl(cmd: &mut Command) {
    let out = cmd.output().expect("openssl (bash .ci/install-deps)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------- the web container stand-in

/// One request as it reached the web container's port.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    /// All values of a header, joined as HTTP folds repeated fields.
    fn header(&self, name: &str) -> Option<String> {
        let v: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    }
}

/// A stand-in for the web container on 127.0.0.1:HTTP_PORT: it records each
/// request, answers `stand-in: METHOD TARGET` and the body it got (after
/// `hold=MS` milliseconds when the query says so), and
/// answers a websocket upgrade with 101, then echoes what comes through the
/// tunnel. Stopped when dropped; every connection times out by itself.
struct StandIn {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StandIn {
    fn start() -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(tcp, &s));
            }
        });
        StandIn {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The one request recorded for `target`.
    fn request(&self, target: &str) -> Seen {
        let all = self.seen();
        let hits: Vec<&Seen> = all.iter().filter(|s| s.target == target).collect();
        assert_eq!(
            hits.len(),
            1,
            "requests for {target} at the web container's port: {all:#?}"
        );
        hits[0].clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection: requests one after another (proxies keep connections to
/// their upstream open), until the peer closes or goes quiet.
fn serve(mut tcp: TcpStream, seen: &Mutex<Vec<Seen>>) {
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let mut buf = Vec::new();
    loop {
        let Some(req) = read_request(&mut tcp, &mut buf) else {
            return;
        };
        seen.lock().unwrap().push(req.clone());
        let upgrade = req
            .header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        if upgrade {
            if req.header("sec-websocket-key").as_deref() != Some(WS_KEY) {
                let _ = tcp.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return;
            }
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {WS_ACCEPT}\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n"
            );
            if tcp.write_all(head.as_bytes()).is_err() {
                return;
            }
            // The tunnel: echo until the client goes away.
            if !buf.is_empty() && tcp.write_all(&buf).is_err() {
                return;
            }
            let mut chunk = [0u8; 4096];
            while let Ok(n) = tcp.read(&mut chunk) {
                if n == 0 || tcp.write_all(&chunk[..n]).is_err() {
                    return;
                }
            }
            return;
        }
        // `hold=MS` in the query: answer that late, as prosody holds a BOSH poll.
        if let Some(ms) = req
            .target
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("hold="))
        {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
        }
        let mut body = format!("stand-in: {} {}\n", req.method, req.target).into_bytes();
        body.extend_from_slice(&req.body);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if tcp.write_all(head.as_bytes()).is_err() || tcp.write_all(&body).is_err() {
            return;
        }
        if req.version == "HTTP/1.0"
            || req
                .header("connection")
                .is_some_and(|c| c.to_ascii_lowercase().contains("close"))
        {
            return;
        }
    }
}

/// Reads one request (head, then a Content-Length or chunked body) from
/// `tcp`, keeping what follows it in `buf`. None at a clean end.
fn read_request(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Seen> {
    let end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        fill(tcp, buf)?;
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (
        first.next()?.to_string(),
        first.next()?.to_string(),
        first.next()?.to_string(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut seen = Seen {
        method,
        target,
        version,
        headers,
        body: Vec::new(),
    };
    if let Some(n) = seen.header("content-length") {
        let n: usize = n.parse().ok()?;
        while buf.len() < n {
            fill(tcp, buf)?;
        }
        seen.body = buf.drain(..n).collect();
    } else if seen
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                fill(tcp, buf)?;
            };
            let size = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                fill(tcp, buf)?;
            }
            seen.body.extend(buf.drain(..size));
            buf.drain(..2);
            if size == 0 {
                break;
            }
        }
    }
    Some(seen)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn fill(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match tcp.read(&mut chunk) {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

// ------------------------------------------------------------- the proxies

/// A proxy started by a test: one process (no workers left behind when it
/// is killed), its config, pid and logs in its own temp dir. Killed when
/// dropped.
struct Proxy {
    name: &'static str,
    child: Child,
    dir: tempfile::TempDir,
}

impl Proxy {
    fn spawn(name: &'static str, dir: tempfile::TempDir, cmd: &mut Command) -> Proxy {
        let log = fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} (bash .ci/install-deps): {e}"));
        Proxy { name, child, dir }
    }

    /// Everything the proxy logged, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for e in walk(self.dir.path()) {
            if e.extension().is_some_and(|x| x == "log") {
                out.push_str(&format!(
                    "--- {}\n{}",
                    e.display(),
                    fs::read_to_string(&e).unwrap_or_default()
                ));
            }
        }
        out
    }

    /// Waits (at most 10 s) until the proxy accepts connections on `port`.
    fn wait_listening(mut self, port: u16) -> Proxy {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "{} did not start listening on 127.0.0.1:{port} ({exited:?}):\n{}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Runs a config check that must pass; its output (callers look for warnings).
fn check_ok(what: &str, cmd: &mut Command, config: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} (bash .ci/install-deps): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} refused the snippet:\n{text}\n{config}"
    );
    text
}

// nginx ---------------------------------------------------------------------

/// The snippet inside the `http` block of a minimal nginx.conf (as Debian's
/// includes sites-enabled), with certificate, pid, logs and temp files in
/// `t`. `extra` goes before it (a test's catch-all server).
fn nginx_conf(t: &Path, site: &str, tls: &Tls, extra: &str) -> PathBuf {
    let site = replaced(
        site,
        "# ssl_certificate ...; ssl_certificate_key ...;",
        &format!(
            "ssl_certificate {}; ssl_certificate_key {};",
            tls.cert(),
            tls.key()
        ),
        "the nginx snippet",
    );
    let t_s = t.display();
    let conf = format!(
        "master_process off;\ndaemon off;\npid {t_s}/nginx.pid;\nerror_log {t_s}/error.log;\n\
         events {{}}\nhttp {{\n    access_log off;\n    client_body_temp_path {t_s}/body;\n    \
         proxy_temp_path {t_s}/proxy;\n{extra}{site}}}\n"
    );
    let path = t.join("nginx.conf");
    fs::write(&path, conf).unwrap();
    path
}

fn nginx_test(t: &Path, conf: &Path) -> String {
    let text = check_ok(
        "nginx -t",
        Command::new("nginx")
            .arg("-t")
            .arg("-p")
            .arg(format!("{}/", t.display()))
            .arg("-e")
            .arg(t.join("error.log"))
            .arg("-c")
            .arg(conf),
        &fs::read_to_string(conf).unwrap(),
    );
    assert!(
        !text.contains("[warn]") && !text.contains("[emerg]"),
        "nginx -t warns:\n{text}"
    );
    text
}

#[test]
fn nginx_t_accepts_the_snippet_with_no_warning() {
    let tls = Tls::new();
    for public in [None, Some(8443)] {
        let (_run, site) = snippet_for(public, 8000, "nginx");
        let t = tempfile::tempdir().unwrap();
        let conf = nginx_conf(t.path(), &site, &tls, "");
        nginx_test(t.path(), &conf);
        let port = public.unwrap_or(443);
        for line in [
            format!("listen {port} ssl http2;"),
            format!("server_name {HOST};"),
            "proxy_pass http://127.0.0.1:8000;".to_string(),
        ] {
            assert!(site.contains(&line), "{line}:\n{site}");
        }
        // On 443 the snippet also redirects plain HTTP on 80.
        assert_eq!(site.contains("listen 80;"), public.is_none(), "{site}");
    }
}

#[test]
fn nginx_in_front_of_the_stack_passes_pages_bosh_and_websockets() {
    let web = StandIn::start();
    let port = other_free_port(&[web.port]);
    let (_run, site) = snippet_for(Some(port), web.port, "nginx");
    let tls = Tls::new();
    let t = tempfile::tempdir().unwrap();
    let site = replaced(
        &site,
        &format!("listen {port} ssl http2;"),
        &format!("listen 127.0.0.1:{port} ssl http2;"),
        "the nginx snippet",
    );
    let site = replaced(
        &site,
        &format!("    listen [::]:{port} ssl http2;\n"),
        "",
        "the nginx snippet",
    );
    // Another site on the same port, the default one: only requests for the
    // snippet's server_name may reach the stack.
    let catch_all = format!(
        "server {{\n    listen 127.0.0.1:{port} ssl http2 default_server;\n    server_name _;\n    \
         ssl_certificate {}; ssl_certificate_key {};\n    return 421;\n}}\n",
        tls.cert(),
        tls.key()
    );
    let conf = nginx_conf(t.path(), &site, &tls, &catch_all);
    nginx_test(t.path(), &conf);
    let proxy = Proxy::spawn(
        "nginx",
        t,
        Command::new("nginx")
            .arg("-p")
            .arg(format!("{}/", conf.parent().unwrap().display()))
            .arg("-e")
            .arg(conf.parent().unwrap().join("error.log"))
            .arg("-c")
            .arg(&conf),
    )
    .wait_listening(port);
    exercise(&proxy, port, &tls, &web, "2");
}

// Apache --------------------------------------------------------------------

/// Debian's own Apache configuration, copied into a temp dir with its
/// variables (envvars) pointing there; the modules the snippet's first line
/// names are enabled with Debian's a2enmod, and the snippet is a site.
struct ApacheRoot {
    t: tempfile::TempDir,
}

impl ApacheRoot {
    /// `empty_ports_conf`: Debian's ports.conf (Listen 80, and 443 with
    /// mod_ssl) is emptied, so the snippet must say where it listens.
    /// `first_site` goes before the snippet.
    fn new(site: &str, tls: &Tls, empty_ports_conf: bool, first_site: &str) -> ApacheRoot {
        let root = ApacheRoot {
            t: tempfile::tempdir().unwrap(),
        };
        let t = root.t.path();
        let conf = root.conf();
        let out = Command::new("cp")
            .args(["-a", "/etc/apache2"])
            .arg(&conf)
            .output()
            .expect("cp");
        assert!(
            out.status.success() && conf.join("apache2.conf").exists(),
            "Debian's /etc/apache2 (bash .ci/install-deps): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for d in ["run", "lock", "log", "state"] {
            fs::create_dir_all(t.join(d)).unwrap();
        }
        // "# Apache 2.4 (a2enmod ssl proxy ...):" names the modules to enable.
        let first = site.lines().next().unwrap();
        let mods: Vec<&str> = first
            .split_once("a2enmod ")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(m, _)| m.split_whitespace().collect())
            .unwrap_or_else(|| panic!("the first line names no a2enmod: {first}"));
        let mut a2enmod = Command::new("a2enmod");
        root.env(&mut a2enmod);
        check_ok("a2enmod", a2enmod.arg("-q").args(&mods), site);
        let site = replaced(
            site,
            &format!("SSLCertificateFile /etc/ssl/certs/{HOST}.pem"),
            &format!("SSLCertificateFile {}", tls.cert()),
            "the Apache snippet",
        );
        let site = replaced(
            &site,
            &format!("SSLCertificateKeyFile /etc/ssl/private/{HOST}.key"),
            &format!("SSLCertificateKeyFile {}", tls.key()),
            "the Apache snippet",
        );
        if empty_ports_conf {
            fs::write(conf.join("ports.conf"), "").unwrap();
        }
        fs::write(conf.join("sites-enabled/000-first.conf"), first_site).unwrap();
        fs::write(conf.join("sites-enabled/jitsi.conf"), &site).unwrap();
        root
    }

    fn conf(&self) -> PathBuf {
        self.t.path().join("apache2")
    }

    fn env(&self, cmd: &mut Command) {
        let t = self.t.path();
        cmd.env("APACHE_CONFDIR", self.conf())
            .env("APACHE_STATE_DIRECTORY", t.join("state"))
            .env("APACHE_RUN_USER", "www-data")
            .env("APACHE_RUN_GROUP", "www-data")
            .env("APACHE_PID_FILE", t.join("run/apache2.pid"))
            .env("APACHE_RUN_DIR", t.join("run"))
            .env("APACHE_LOCK_DIR", t.join("lock"))
            .env("APACHE_LOG_DIR", t.join("log"))
            .env("LANG", "C");
    }

    fn apache2(&self) -> Command {
        let mut cmd = Command::new("apache2");
        self.env(&mut cmd);
        cmd.arg("-d")
            .arg(self.conf())
            .arg("-f")
            .arg(self.conf().join("apache2.conf"));
        cmd
    }

    /// `apache2 -t`: only the note that the host has no global ServerName
    /// (Debian's configuration, not the snippet) may come with "Syntax OK".
    fn test(&self, site: &str) {
        let text = check_ok("apache2 -t", self.apache2().arg("-t"), site);
        for line in text.lines() {
            assert!(
                line == "Syntax OK" || line.contains("AH00558"),
                "apache2 -t: {line}\n{text}"
            );
        }
    }

    /// `apache2 -S`: the virtual hosts as Apache parsed them, `*:PORT NAME`.
    fn vhosts(&self) -> Vec<String> {
        let out = self.apache2().arg("-S").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut found = Vec::new();
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                // "*:8443  meet.example.org (file:4)": the only one there.
                [addr, name, _] if addr.starts_with("*:") => found.push(format!("{addr} {name}")),
                // "port 8443 namevhost meet.example.org (file:4)"
                ["port", port, "namevhost", name, _] => found.push(format!("*:{port} {name}")),
                _ => {}
            }
        }
        found
    }
}

#[test]
fn apache2_t_accepts_the_snippet_in_debians_configuration() {
    let tls = Tls::new();
    for public in [None, Some(8443)] {
        let (_run, site) = snippet_for(public, 8000, "apache");
        // Debian's ports.conf as installed: Listen 80, and 443 with mod_ssl.
        let root = ApacheRoot::new(&site, &tls, false, "");
        root.test(&site);
        let vhosts = root.vhosts();
        let port = public.unwrap_or(443);
        assert!(
            vhosts.contains(&format!("*:{port} {HOST}")),
            "{vhosts:?}\n{site}"
        );
        // On 443 the snippet also redirects plain HTTP on 80; elsewhere it
        // brings its own Listen (ports.conf has only 80 and 443).
        assert_eq!(
            vhosts.contains(&format!("*:80 {HOST}")),
            public.is_none(),
            "{vhosts:?}"
        );
        assert_eq!(
            site.lines().any(|l| l == format!("Listen {port} https")),
            public.is_some(),
            "{site}"
        );
    }
}

#[test]
fn apache_in_front_of_the_stack_passes_pages_bosh_and_websockets() {
    let web = StandIn::start();
    let port = other_free_port(&[web.port]);
    let (_run, site) = snippet_for(Some(port), web.port, "apache");
    let tls = Tls::new();
    let site = replaced(
        &site,
        &format!("\nListen {port} https\n"),
        &format!("\nListen 127.0.0.1:{port} https\n"),
        "the Apache snippet",
    );
    // The first virtual host on a port is Apache's default for it.
    let first = format!(
        "<VirtualHost *:{port}>\n    ServerName catch-all.invalid\n    SSLEngine on\n    \
         SSLCertificateFile {}\n    SSLCertificateKeyFile {}\n    <Location />\n        \
         Require all denied\n    </Location>\n</VirtualHost>\n",
        tls.cert(),
        tls.key()
    );
    let root = ApacheRoot::new(&site, &tls, true, &first);
    root.test(&site);
    // -X: one process, nothing left behind when it is killed.
    let mut cmd = root.apache2();
    cmd.arg("-X");
    let proxy = Proxy::spawn("apache2", root.t, &mut cmd).wait_listening(port);
    exercise(&proxy, port, &tls, &web, "1.1");
}

// HAProxy -------------------------------------------------------------------

const DEBIAN_HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";

fn haproxy_site(site: &str, tls: &Tls) -> String {
    replaced(
        site,
        &format!("crt /etc/haproxy/certs/{HOST}.pem"),
        &format!("crt {}", tls.both()),
        "the HAProxy snippet",
    )
}

#[test]
fn haproxy_c_accepts_the_snippet_after_debians_haproxy_cfg_with_no_warning() {
    let tls = Tls::new();
    for public in [None, Some(8443)] {
        let (_run, site) = snippet_for(public, 8000, "haproxy");
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("jitsi.cfg");
        fs::write(&path, haproxy_site(&site, &tls)).unwrap();
        // -dW: a warning fails the check. The snippet goes after Debian's
        // file (global and defaults), as its first line says.
        check_ok(
            "haproxy -c",
            Command::new("haproxy")
                .args(["-dW", "-c", "-f", DEBIAN_HAPROXY_CFG, "-f"])
                .arg(&path),
            &site,
        );
        let port = public.unwrap_or(443);
        for line in [
            format!("bind :{port} ssl crt"),
            "server web 127.0.0.1:8000".to_string(),
            format!("acl jitsi hdr(host) -i {HOST} {HOST}:{port}"),
            "timeout tunnel".to_string(),
        ] {
            assert!(site.contains(&line), "{line}:\n{site}");
        }
        // On 443, port 80 redirects to HTTPS (as nginx's and Apache's do);
        // on another port, 80 is left alone.
        let redirect = "bind :80\n    acl jitsi hdr(host) -i meet.example.org meet.example.org:80\n    http-request redirect scheme https code 301 if jitsi\n";
        assert_eq!(site.contains(redirect), public.is_none(), "{site}");
    }
}

#[test]
fn haproxy_in_front_of_the_stack_passes_pages_bosh_and_websockets() {
    let web = StandIn::start();
    let port = other_free_port(&[web.port]);
    let (_run, site) = snippet_for(Some(port), web.port, "haproxy");
    let tls = Tls::new();
    let t = tempfile::tempdir().unwrap();
    let site = replaced(
        &haproxy_site(&site, &tls),
        &format!("bind :{port} ssl"),
        &format!("bind 127.0.0.1:{port} ssl"),
        "the HAProxy snippet",
    );
    // Debian's `defaults` as installed (the timeouts the snippet relies
    // on), but `timeout server` scaled from 50 s to 1 s: a BOSH poll held
    // longer must still come back, as the snippet's backend sets its own
    // (prosody holds a poll 60 s, longer than Debian's 50 s). A global of
    // the test's own: no daemon, chroot, user or stats socket on the host.
    let debian = fs::read_to_string(DEBIAN_HAPROXY_CFG).expect("haproxy (bash .ci/install-deps)");
    let defaults = &debian[debian
        .find("\ndefaults")
        .unwrap_or_else(|| panic!("no defaults in {DEBIAN_HAPROXY_CFG}"))..];
    let defaults = replaced(
        defaults,
        "timeout server  50000",
        "timeout server  1000",
        DEBIAN_HAPROXY_CFG,
    );
    let conf = format!("global\n    log stderr format short local0 notice\n{defaults}\n{site}");
    let path = t.path().join("haproxy.cfg");
    fs::write(&path, &conf).unwrap();
    check_ok(
        "haproxy -c",
        Command::new("haproxy").args(["-dW", "-c", "-f"]).arg(&path),
        &conf,
    );
    // -db: in the foreground, one process.
    let proxy = Proxy::spawn(
        "haproxy",
        t,
        Command::new("haproxy").args(["-db", "-f"]).arg(&path),
    )
    .wait_listening(port);
    exercise(&proxy, port, &tls, &web, "1.1");
    let (status, _, body) = curl(port, &tls, &[], "/http-bind?room=held&hold=2000");
    assert_eq!(
        (status, body.as_str()),
        (200, "stand-in: GET /http-bind?room=held&hold=2000\n"),
        "a poll held past the defaults' `timeout server`:\n{}",
        proxy.logs()
    );
}

// Caddy ---------------------------------------------------------------------

/// Caddy with its data, config and home in `t` (nothing in the user's).
fn caddy(t: &Path, args: &[&str], file: &Path) -> Command {
    let mut cmd = Command::new("caddy");
    cmd.args(args)
        .arg("--config")
        .arg(file)
        .args(["--adapter", "caddyfile"])
        .env("HOME", t)
        .env("XDG_DATA_HOME", t.join("data"))
        .env("XDG_CONFIG_HOME", t.join("config"));
    cmd
}

/// The JSON config `caddy adapt` makes of the Caddyfile (the same parse
/// `caddy run` uses), checked for the snippet's site: it listens on the
/// port, matches the host, and every path of that host (no path matcher:
/// /, /http-bind, /xmpp-websocket alike) goes to one reverse_proxy whose
/// upstream is the web container.
fn caddy_adapted(t: &Path, file: &Path, port: u16, http: u16) {
    let out = caddy(t, &["adapt"], file)
        .output()
        .expect("caddy (bash .ci/install-deps)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "caddy adapt: {err}");
    assert!(!err.contains("\"warn\""), "caddy adapt warns: {err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let servers = v["apps"]["http"]["servers"].as_object().unwrap();
    let ours: Vec<&serde_json::Value> = servers
        .values()
        .filter(|s| {
            s["listen"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().ends_with(&format!(":{port}")))
        })
        .collect();
    assert_eq!(ours.len(), 1, "one server listens on {port}: {v}");
    let routes = ours[0]["routes"].as_array().unwrap();
    let site: Vec<&serde_json::Value> = routes
        .iter()
        .filter(|r| r["match"][0]["host"] == serde_json::json!([HOST]))
        .collect();
    assert_eq!(site.len(), 1, "one route for {HOST}: {v}");
    let sub = &site[0]["handle"][0];
    assert_eq!(sub["handler"], "subroute", "{v}");
    let inner = sub["routes"].as_array().unwrap();
    assert_eq!(inner.len(), 1, "{v}");
    assert!(inner[0].get("match").is_none(), "a path matcher: {v}");
    let rp = &inner[0]["handle"][0];
    assert_eq!(rp["handler"], "reverse_proxy", "{v}");
    assert_eq!(
        rp["upstreams"],
        serde_json::json!([{ "dial": format!("127.0.0.1:{http}") }]),
        "{v}"
    );
}

#[test]
fn caddy_validates_and_adapts_the_snippet_to_one_proxy_route_for_the_host() {
    for public in [None, Some(8443)] {
        let (_run, site) = snippet_for(public, 8000, "caddy");
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("Caddyfile");
        fs::write(&path, &site).unwrap();
        let text = check_ok(
            "caddy validate",
            &mut caddy(t.path(), &["validate"], &path),
            &site,
        );
        assert!(text.contains("Valid configuration"), "{text}");
        assert!(!text.contains("\"warn\""), "caddy validate warns: {text}");
        // Caddy also redirects plain HTTP (on 80) by itself.
        assert!(
            text.contains("enabling automatic HTTP->HTTPS redirects"),
            "{text}"
        );
        caddy_adapted(t.path(), &path, public.unwrap_or(443), 8000);
    }
}

#[test]
fn caddy_in_front_of_the_stack_passes_pages_bosh_and_websockets() {
    let web = StandIn::start();
    let port = other_free_port(&[web.port]);
    let (_run, site) = snippet_for(Some(port), web.port, "caddy");
    let tls = Tls::new();
    let t = tempfile::tempdir().unwrap();
    // Loopback and the test's certificate instead of Let's Encrypt; no
    // admin endpoint (another test's Caddy would want the same port), no
    // listener on 80 for redirects.
    let site = replaced(
        &site,
        &format!("{HOST}:{port} {{\n"),
        &format!(
            "{HOST}:{port} {{\n\tbind 127.0.0.1\n\ttls {} {}\n",
            tls.cert(),
            tls.key()
        ),
        "the Caddy snippet",
    );
    let conf = format!("{{\n\tadmin off\n\tauto_https disable_redirects\n}}\n\n{site}");
    let path = t.path().join("Caddyfile");
    fs::write(&path, &conf).unwrap();
    caddy_adapted(t.path(), &path, port, web.port);
    let mut cmd = caddy(t.path(), &["run"], &path);
    let proxy = Proxy::spawn("caddy", t, &mut cmd).wait_listening(port);
    exercise(&proxy, port, &tls, &web, "2");
}

// ------------------------------------------------------------- the checks

/// What a browser does on a Jitsi page, through the proxy on `port`: it
/// loads a room, polls BOSH, opens the XMPP websocket (plain and a
/// tenant's); and a request for another host. Checks what reached the web
/// container. `h_version`: the HTTP version curl gets from the proxy.
fn exercise(proxy: &Proxy, port: u16, tls: &Tls, web: &StandIn, h_version: &str) {
    let logs = || proxy.logs();
    let public_host = format!("{HOST}:{port}");
    let check_forwarded = |seen: &Seen| {
        assert_eq!(
            seen.header("host").as_deref(),
            Some(public_host.as_str()),
            "{}: Host must be the public one, port included: {seen:#?}\n{}",
            proxy.name,
            logs()
        );
        let xff = seen.header("x-forwarded-for").unwrap_or_default();
        assert_eq!(
            xff.rsplit(',').next().map(str::trim),
            Some("127.0.0.1"),
            "{}: X-Forwarded-For must end with the client's address: {seen:#?}",
            proxy.name
        );
        assert_eq!(
            seen.header("x-forwarded-proto").as_deref(),
            Some("https"),
            "{}: X-Forwarded-Proto: {seen:#?}",
            proxy.name
        );
    };

    // A room page.
    let (status, version, body) = curl(port, tls, &[], "/SomeRoom");
    assert_eq!(
        (status, body.as_str()),
        (200, "stand-in: GET /SomeRoom\n"),
        "{}:\n{}",
        proxy.name,
        logs()
    );
    assert_eq!(version, h_version, "{}: HTTP version", proxy.name);
    let page = web.request("/SomeRoom");
    check_forwarded(&page);
    assert_eq!(page.header("upgrade"), None, "{page:#?}");

    // A BOSH poll: the XML body arrives whole, and so does the answer.
    let xml = "<body rid='1' xmlns='http://jabber.org/protocol/httpbind' to='meet.jitsi'/>";
    let (status, _, body) = curl(
        port,
        tls,
        &[
            "-H",
            "Content-Type: text/xml; charset=utf-8",
            "--data-binary",
            xml,
        ],
        "/http-bind?room=someroom",
    );
    assert_eq!(
        (status, body),
        (
            200,
            format!("stand-in: POST /http-bind?room=someroom\n{xml}")
        ),
        "{}:\n{}",
        proxy.name,
        logs()
    );
    let bosh = web.request("/http-bind?room=someroom");
    check_forwarded(&bosh);
    assert_eq!(bosh.method, "POST");
    assert_eq!(String::from_utf8_lossy(&bosh.body), xml);

    // The XMPP websocket, and a tenant's (config.js asks for
    // /TENANT/xmpp-websocket on https://HOST/TENANT/room).
    for path in [
        "/xmpp-websocket?room=someroom",
        "/sometenant/xmpp-websocket?room=someroom",
    ] {
        let (head, echoed) = websocket(port, tls, path);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "{}: {path}: no upgrade:\n{head}\nat the web container: {:#?}\n{}",
            proxy.name,
            web.seen(),
            logs()
        );
        assert!(
            head.to_ascii_lowercase().contains(&format!(
                "sec-websocket-accept: {}",
                WS_ACCEPT.to_ascii_lowercase()
            )),
            "{}: {head}",
            proxy.name
        );
        assert!(
            echoed,
            "{}: {path}: bytes did not come back through the tunnel",
            proxy.name
        );
        let ws = web.request(path);
        check_forwarded(&ws);
        assert_eq!(ws.version, "HTTP/1.1", "{}: {ws:#?}", proxy.name);
        assert!(
            ws.header("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket")),
            "{}: {ws:#?}",
            proxy.name
        );
        assert!(
            ws.header("connection")
                .is_some_and(|c| c.to_ascii_lowercase().contains("upgrade")),
            "{}: {ws:#?}",
            proxy.name
        );
        assert_eq!(
            ws.header("sec-websocket-version").as_deref(),
            Some("13"),
            "{ws:#?}"
        );
        assert_eq!(
            ws.header("sec-websocket-protocol").as_deref(),
            Some("xmpp"),
            "{ws:#?}"
        );
    }

    // Another host on the same address: not the stack's.
    let before = web.seen().len();
    let (status, _, body) = curl(
        port,
        tls,
        &["-H", &format!("Host: other.example.org:{port}")],
        "/OtherRoom",
    );
    assert!(
        !body.contains("stand-in"),
        "{}: another host got {status} {body:?}",
        proxy.name
    );
    assert_eq!(
        web.seen().len(),
        before,
        "{}: a request for another host reached the stack: {:#?}",
        proxy.name,
        web.seen()
    );
}

/// curl over HTTPS to meet.example.org:`port` resolved to 127.0.0.1,
/// trusting the test CA only: (status, HTTP version, body).
fn curl(port: u16, tls: &Tls, args: &[&str], path: &str) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-q", "-sS", "--noproxy", "*", "--max-time", "10"])
        .arg("--cacert")
        .arg(tls.ca())
        .args(["--resolve", &format!("{HOST}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_code} %{http_version}"])
        .args(args)
        .arg(format!("https://{HOST}:{port}{path}"))
        .output()
        .expect("curl (bash .ci/install-deps)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl {path}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, last) = text.rsplit_once('\n').unwrap();
    let (code, version) = last.split_once(' ').unwrap();
    (code.parse().unwrap(), version.to_string(), body.to_string())
}

/// A browser's websocket handshake over TLS (HTTP/1.1, as browsers open
/// websockets to nginx), then one masked frame through the tunnel:
/// (the response head, whether the frame came back unchanged).
fn websocket(port: u16, tls: &Tls, path: &str) -> (String, bool) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(tls.ca()).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from(HOST).unwrap())
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\
         Origin: https://{HOST}:{port}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return (String::from_utf8_lossy(&buf).into_owned(), false),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    if !head.starts_with("HTTP/1.1 101") {
        return (head, false);
    }
    let mut rest = buf[end + 4..].to_vec();
    // A masked text frame, as a browser sends: "<open/>".
    let payload =
        b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='meet.jitsi' version='1.0'/>";
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).unwrap();
    while rest.len() < frame.len() {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
        }
    }
    (head, rest == frame)
}
