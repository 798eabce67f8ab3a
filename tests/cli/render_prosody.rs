//! render_prosody tests: prosody and coturn configs checked by luac5.4,
//! prosodyctl, a sandboxed Lua read-back and turnserver.

use crate::harness::{init_stack, Run, Test};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const READBACK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/prosody-readback.lua"
);

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run .ci/install-deps (apt-get install prosody lua5.4 coturn)");
}

fn render(extra: &[(&str, &str)], with: &[&str]) -> Run {
    let run = init_stack(extra, with);
    Test::again(run).args(["render"]).run()
}

fn render_fails(extra: &[(&str, &str)], with: &[&str]) -> String {
    let run = init_stack(extra, with);
    let r = Test::again(run).args(["render"]).status(1).run();
    r.stderr
}

fn unhex(h: &str) -> String {
    let bytes: Vec<u8> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// (section, key) -> values (one for scalars, the elements for tables).
pub type Options = BTreeMap<(String, String), Vec<String>>;

pub fn luac(path: &Path) {
    let out = Command::new(tool("luac5.4"))
        .arg("-p")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "luac5.4 -p {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn read_back(path: &Path) -> Options {
    let out = Command::new(tool("lua5.4"))
        .arg(READBACK)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "read-back of {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut opts = Options::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let vals = if f[3].is_empty() {
            vec![]
        } else {
            f[3].split(',').map(unhex).collect()
        };
        let prev = opts.insert((f[0].to_string(), f[1].to_string()), vals);
        assert!(
            prev.is_none() || f[1].starts_with("__"),
            "option {}/{} set twice in {}",
            f[0],
            f[1],
            path.display()
        );
    }
    opts
}

fn get<'a>(o: &'a Options, section: &str, key: &str) -> Option<&'a Vec<String>> {
    o.get(&(section.to_string(), key.to_string()))
}

fn one(o: &Options, section: &str, key: &str) -> String {
    let v = get(o, section, key).unwrap_or_else(|| panic!("{section}/{key} not set: {o:#?}"));
    assert_eq!(v.len(), 1, "{section}/{key}: {v:?}");
    v[0].clone()
}

/// Syntax, sandboxed read-back and (as nobody, from a short path) prosodyctl.
pub fn check_prosody(run: &Run) -> (Options, Options) {
    let dir = run.path().join("generated/prosody");
    let main = dir.join("prosody.cfg.lua");
    let site = dir.join("jitsi-meet.cfg.lua");
    luac(&main);
    luac(&site);
    prosodyctl_check(&main, &site);
    let m = read_back(&main);
    let s = read_back(&site);
    for f in [&main, &site] {
        assert!(!std::fs::read_to_string(f).unwrap().contains("{{"));
    }
    (m, s)
}

fn prosodyctl_check(main: &Path, site: &Path) {
    prosodyctl_check_site(main, "jitsi-meet.cfg.lua", site)
}

/// `prosodyctl check config` on `main` with `site` as `conf.d/<site_name>`.
pub fn prosodyctl_check_site(main: &Path, site_name: &str, site: &Path) {
    let tmp = tempfile::Builder::new()
        .prefix("pc")
        .tempdir_in("/tmp")
        .unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("conf.d")).unwrap();
    std::fs::copy(main, root.join("prosody.cfg.lua")).unwrap();
    std::fs::copy(site, root.join("conf.d").join(site_name)).unwrap();
    Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(root)
        .status()
        .unwrap();
    let cfg = root.join("prosody.cfg.lua");
    assert!(cfg.to_str().unwrap().len() < 60);
    let out = Command::new(tool("runuser"))
        .args(["-u", "nobody", "--"])
        .arg(tool("prosodyctl"))
        .arg("--config")
        .arg(&cfg)
        .args(["check", "config"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("All checks passed"),
        "prosodyctl check config: {text}"
    );
}

fn env_value(run: &Run, key: &str) -> String {
    let text = run.read(".env");
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with(&format!("{key}=")))
        .unwrap();
    line[key.len() + 1..].trim_matches('\'').to_string()
}

#[test]
fn defaults_are_anonymous_and_check_clean() {
    let run = render(&[], &[]);
    let (m, s) = check_prosody(&run);
    assert_eq!(one(&m, "global", "c2s_require_encryption"), "true");
    // What the image's boot steps rely on (see prosody_boot.rs): the admin
    // shell for register-setup, the data on the mounted volume, custom
    // plugins first.
    assert!(get(&m, "global", "modules_enabled")
        .unwrap()
        .contains(&"admin_shell".to_string()));
    assert_eq!(one(&m, "global", "data_path"), "/var/lib/prosody/data");
    assert_eq!(one(&m, "global", "pidfile"), "/run/prosody/prosody.pid");
    assert_eq!(
        get(&s, "global", "plugin_paths").unwrap(),
        &[
            "/prosody-plugins-custom",
            "/prosody-plugins/",
            "/prosody-plugins-contrib"
        ]
    );
    assert_eq!(get(&m, "global", "c2s_ports").unwrap(), &["5222"]);
    assert!(get(&m, "global", "external_services").is_none());
    assert_eq!(
        one(&s, "VirtualHost meet.jitsi", "authentication"),
        "jitsi-anonymous"
    );
    assert!(get(&s, "VirtualHost guest.meet.jitsi", "__section").is_none());
    let admins = get(&s, "global", "admins").unwrap();
    assert_eq!(
        admins[admins.len() - 2..],
        ["focus@auth.meet.jitsi", "jvb@auth.meet.jitsi"]
    );
    assert_eq!(
        one(&s, "Component focus.meet.jitsi", "target_address"),
        "focus@auth.meet.jitsi"
    );
    assert_eq!(
        one(&s, "VirtualHost meet.jitsi", "lobby_muc"),
        "lobby.meet.jitsi"
    );
    assert!(run
        .read("generated/prosody/saslauthd.conf")
        .contains("LDAP authentication is off"));
}

#[test]
fn auth_internal_with_guests_and_recording() {
    let run = render(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "internal"),
            ("ENABLE_GUESTS", "1"),
            ("ENABLE_RECORDING", "1"),
            ("ENABLE_TRANSCRIPTIONS", "1"),
        ],
        &[],
    );
    let (_, s) = check_prosody(&run);
    assert_eq!(
        one(&s, "VirtualHost meet.jitsi", "authentication"),
        "internal_hashed"
    );
    assert_eq!(
        one(&s, "VirtualHost guest.meet.jitsi", "authentication"),
        "jitsi-anonymous"
    );
    assert_eq!(
        one(&s, "VirtualHost hidden.meet.jitsi", "authentication"),
        "internal_hashed"
    );
    assert_eq!(
        get(&s, "Component muc.meet.jitsi", "muc_password_whitelist").unwrap(),
        &[
            "focus@auth.meet.jitsi",
            "recorder@hidden.meet.jitsi",
            "transcriber@hidden.meet.jitsi"
        ]
    );
}

const HOSTILE: &str = r#"x" .. os.getenv("HOME") .. "]] ${HOME} \ end ünï 😀 -- "#;

#[test]
fn auth_jwt_hostile_secret_reads_back_equal() {
    let long = "s".repeat(5000);
    let run = render(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "jwt"),
            ("JWT_APP_ID", "my_app"),
            ("JWT_APP_SECRET", &format!("'{HOSTILE}'")),
            ("JWT_ACCEPTED_ISSUERS", "'iss1, iss\"2 ,'"),
            (
                "JWT_ASAP_KEYSERVER",
                &format!("https://keys.example.org/{long}"),
            ),
        ],
        &[],
    );
    let (_, s) = check_prosody(&run);
    let vh = "VirtualHost meet.jitsi";
    assert_eq!(one(&s, vh, "authentication"), "token");
    assert_eq!(one(&s, vh, "app_id"), "my_app");
    assert_eq!(one(&s, vh, "app_secret"), HOSTILE);
    assert_eq!(one(&s, vh, "app_secret"), env_value(&run, "JWT_APP_SECRET"));
    assert_eq!(
        one(&s, vh, "asap_key_server"),
        format!("https://keys.example.org/{long}")
    );
    assert_eq!(
        get(&s, "global", "asap_accepted_issuers").unwrap(),
        &["iss1", "iss\"2"]
    );
    assert!(get(&s, "Component muc.meet.jitsi", "modules_enabled")
        .unwrap()
        .contains(&"token_verification".to_string()));
}

#[test]
fn auth_ldap_renders_saslauthd_and_refuses_newline_like_values() {
    let run = render(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "ldap"),
            ("LDAP_URL", "https://ldap.example.org"),
            ("LDAP_BASE", "'dc=example, dc=org'"),
            ("LDAP_BINDDN", "cn=admin"),
            ("LDAP_BINDPW", "'p\"w ${x} ]]'"),
        ],
        &[],
    );
    let (_, s) = check_prosody(&run);
    assert_eq!(one(&s, "VirtualHost meet.jitsi", "authentication"), "cyrus");
    let sasl = run.read("generated/prosody/saslauthd.conf");
    assert!(
        sasl.contains("\nldap_servers: https://ldap.example.org\n"),
        "{sasl}"
    );
    assert!(
        sasl.contains("\nldap_search_base: dc=example, dc=org\n"),
        "{sasl}"
    );
    assert!(sasl.contains("\nldap_bind_pw: p\"w ${x} ]]\n"), "{sasl}");
    let err = render_fails(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "ldap"),
            ("LDAP_URL", "https://l.example.org"),
            ("LDAP_BINDDN", "cn=a"),
            ("LDAP_BINDPW", "'{{ .Env.X }}'"),
        ],
        &[],
    );
    assert!(err.contains("LDAP_BINDPW") || err.contains("{{"), "{err}");
}

#[test]
fn auth_matrix() {
    let run = render(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "matrix"),
            ("MATRIX_UVS_URL", "https://uvs.example.org"),
            ("MATRIX_UVS_AUTH_TOKEN", &format!("'{HOSTILE}'")),
        ],
        &[],
    );
    let (_, s) = check_prosody(&run);
    let vh = "VirtualHost meet.jitsi";
    assert_eq!(one(&s, vh, "authentication"), "matrix_user_verification");
    assert_eq!(one(&s, vh, "uvs_base_url"), "https://uvs.example.org");
    assert_eq!(one(&s, vh, "uvs_auth_token"), HOSTILE);
}

#[test]
fn passthrough_lua_accepts_literals_and_refuses_code() {
    let run = render(
        &[
            ("XMPP_CONFIGURATION", "'a_num = 5, a_str = \"x y\"'"),
            ("GLOBAL_CONFIG", "'g = true'"),
        ],
        &[],
    );
    let (m, s) = check_prosody(&run);
    assert_eq!(one(&s, "VirtualHost meet.jitsi", "a_num"), "5");
    assert_eq!(one(&s, "VirtualHost meet.jitsi", "a_str"), "x y");
    assert_eq!(one(&m, "global", "g"), "true");
    for bad in [
        "'x = os.getenv(\"HOME\")'",
        "'x = \"a\" .. \"b\"'",
        "'os.exit(1)'",
    ] {
        let err = render_fails(&[("XMPP_MUC_CONFIGURATION", bad)], &[]);
        assert!(
            err.contains("XMPP_MUC_CONFIGURATION") && err.contains("assignment"),
            "{err}"
        );
    }
    let err = render_fails(&[("PROSODY_LOG_CONFIG", "x")], &[]);
    assert!(err.contains("PROSODY_LOG_CONFIG"), "{err}");
}

#[test]
fn template_delimiters_in_a_secret_are_escaped() {
    // lua_str spells braces as \123/\125: the image's Go renderer sees no `{{`.
    let run = render(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "jwt"),
            ("JWT_APP_ID", "a"),
            ("JWT_APP_SECRET", "'a{{ .Env.X }}b'"),
        ],
        &[],
    );
    let (_, s) = check_prosody(&run);
    assert_eq!(
        one(&s, "VirtualHost meet.jitsi", "app_secret"),
        "a{{ .Env.X }}b"
    );
}

#[test]
fn external_turn_as_upstream() {
    let run = render(
        &[
            // Comma lists, as the image reads them: every host with every transport.
            ("TURN_HOST", "turn1.example.org, turn2.example.org"),
            ("TURN_TRANSPORT", "udp,tcp"),
            ("TURN_PORT", "3479"),
            ("TURNS_HOST", "turns.example.org"),
            ("TURN_USERNAME", "'u\"ser'"),
            ("TURN_PASSWORD", &format!("'{HOSTILE}'")),
            ("STUN_HOST", "stun.example.org"),
        ],
        &[],
    );
    let (m, _) = check_prosody(&run);
    let services = get(&m, "global", "external_services").unwrap();
    assert_eq!(services.len(), 1 + 2 * 2 + 1, "{services:?}");
    assert!(services[0].contains("host=stun.example.org") && services[0].contains("type=stun"));
    assert!(
        services[1].contains("host=turn1.example.org;")
            && services[1].contains("port=3479")
            && services[1].contains("transport=udp")
    );
    assert!(
        services[2].contains("host=turn1.example.org;") && services[2].contains("transport=tcp")
    );
    assert!(
        services[3].contains("host=turn2.example.org;") && services[3].contains("transport=udp")
    );
    assert!(
        services[4].contains("host=turn2.example.org;") && services[4].contains("transport=tcp")
    );
    assert!(services[5].contains("type=turns") && services[5].contains("port=443"));
    assert!(
        services[1].contains(&format!("password={HOSTILE};")),
        "{}",
        services[1]
    );
    assert!(services[1].contains("username=u\"ser"));
    assert!(!run.exists("generated/turn/turnserver.conf"));
}

pub fn turnserver_parse(conf: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("turnserver.conf");
    std::fs::copy(conf, &copy).unwrap();
    let out = Command::new(tool("turnserver"))
        .arg("-c")
        .arg(&copy)
        .args([
            "--log-file=stdout",
            "--no-stdout-log",
            "--some-unknown-flag",
        ])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn bundled_turn_is_rendered_and_advertised() {
    let run = render(&[("TURN_CREDENTIALS", "Zk3secret-long-enough")], &["turn"]);
    let conf_path = run.path().join("generated/turn/turnserver.conf");
    let conf = run.read("generated/turn/turnserver.conf");
    let text = turnserver_parse(&conf_path);
    assert!(
        text.contains("Black listing: fe80::") && !text.contains("Bad configuration format"),
        "{text}"
    );
    // The checker does see a bad line.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.conf");
    std::fs::write(&bad, format!("{conf}bogus-option\n")).unwrap();
    assert!(turnserver_parse(&bad).contains("Bad configuration format: bogus-option"));
    let kv: BTreeMap<&str, &str> = conf
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    assert_eq!(kv["static-auth-secret"], "Zk3secret-long-enough");
    assert_eq!(kv["realm"], "meet.example.org");
    assert_eq!(kv["listening-port"], "3478");
    assert!(conf.lines().any(|l| l == "use-auth-secret"));
    assert!(
        conf.contains("denied-peer-ip=10.0.0.0-10.255.255.255")
            && conf.contains("denied-peer-ip=fc00::")
    );
    let (m, _) = check_prosody(&run);
    assert_eq!(
        one(&m, "global", "external_service_secret"),
        "Zk3secret-long-enough"
    );
    let services = get(&m, "global", "external_services").unwrap();
    assert_eq!(services.len(), 2, "{services:?}");
    assert!(services.iter().all(|s| s.contains("host=meet.example.org;")
        && s.contains("port=3478")
        && s.contains("secret=true")));

    let err = render_fails(
        &[("TURN_CREDENTIALS", "'x-long-enough no-auth'")],
        &["turn"],
    );
    assert!(err.contains("turnserver.conf"), "{err}");
    let err = render_fails(&[("TURN_CREDENTIALS", "")], &["turn"]);
    assert!(err.contains("TURN_CREDENTIALS"), "{err}");
}

/// Kills the prosody started by the live test when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bosh(port: u16, body: &str) -> String {
    use std::io::{Read, Write};
    use std::time::Duration;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /http-bind HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

use crate::harness::free_port;

fn b64(raw: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in raw.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// SASL PLAIN over BOSH; true on `<success`.
fn login(port: u16, domain: &str, user: &str, pass: &str) -> bool {
    sasl_plain_over_bosh(|body| bosh(port, body), domain, user, pass)
}

/// A real SASL PLAIN login as `user@domain` over BOSH (`/http-bind`):
/// opens a session, authenticates, and is true on `<success`, false on
/// `<failure`. `post` sends one BOSH body and returns the HTTP reply.
pub fn sasl_plain_over_bosh(
    post: impl Fn(&str) -> String,
    domain: &str,
    user: &str,
    pass: &str,
) -> bool {
    let open = post(&format!("<body content='text/xml; charset=utf-8' hold='1' rid='1000' to='{domain}' ver='1.6' wait='5' xml:lang='en' xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>"));
    let sid = open
        .split("sid='")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("no BOSH session for {domain}: {open}"));
    let auth = b64(format!("\0{user}\0{pass}").as_bytes());
    let reply = post(&format!("<body rid='1001' sid='{sid}' xmlns='http://jabber.org/protocol/httpbind'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{auth}</auth></body>"));
    assert!(
        reply.contains("<success") || reply.contains("<failure"),
        "{reply}"
    );
    reply.contains("<success")
}

/// The image's paths in a rendered prosody config, moved under `root` for a
/// prosody running outside the container: the rendered configuration
/// (/run/prosody/config), the data volume and the pid file.
pub fn remap_paths(text: &str, root: &str) -> String {
    text.replace("/run/prosody/config", root)
        .replace("/var/lib/prosody/data", &format!("{root}/data"))
        .replace("/run/prosody/prosody.pid", &format!("{root}/prosody.pid"))
}

/// A Debian prosody running the rendered config of `run` (paths remapped
/// into a temp dir, loopback ports), with focus and jvb registered with
/// the passwords from `.env`. Stopped when dropped.
pub struct LiveProsody {
    pub http: u16,
    pub focus_pw: String,
    pub jvb_pw: String,
    _guard: Running,
    _tmp: tempfile::TempDir,
}

pub fn start_live_prosody(run: &Run) -> LiveProsody {
    let tmp = tempfile::Builder::new()
        .prefix("lv")
        .tempdir_in("/tmp")
        .unwrap();
    let root = tmp.path().to_str().unwrap().to_string();
    let (c2s, http) = (free_port(), free_port());
    std::fs::create_dir_all(tmp.path().join("conf.d")).unwrap();
    std::fs::create_dir_all(tmp.path().join("certs")).unwrap();
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    for (src, dst) in [
        ("prosody.cfg.lua", "prosody.cfg.lua"),
        ("jitsi-meet.cfg.lua", "conf.d/jitsi-meet.cfg.lua"),
    ] {
        let text = remap_paths(&run.read(&format!("generated/prosody/{src}")), &root)
            .replace("\"posix\";", "")
            .replace("{ \"*\", \"::\" }", "{ \"127.0.0.1\" }")
            .replace("c2s_ports = { 5222 }", &format!("c2s_ports = {{ {c2s} }}"))
            .replace(
                "http_ports = { 5280 }",
                &format!("http_ports = {{ {http} }}"),
            );
        std::fs::write(tmp.path().join(dst), text).unwrap();
    }
    for d in ["meet.jitsi", "auth.meet.jitsi"] {
        crate::harness::self_signed(
            d,
            &tmp.path().join(format!("certs/{d}.key")),
            &tmp.path().join(format!("certs/{d}.crt")),
        );
    }
    assert!(Command::new("chown")
        .args(["-R", "nobody"])
        .arg(tmp.path())
        .status()
        .unwrap()
        .success());
    let cfg = format!("{root}/prosody.cfg.lua");
    let focus_pw = env_value(run, "JICOFO_AUTH_PASSWORD");
    let jvb_pw = env_value(run, "JVB_AUTH_PASSWORD");
    for (user, pw) in [("focus", &focus_pw), ("jvb", &jvb_pw)] {
        let out = Command::new(tool("runuser"))
            .args(["-u", "nobody", "--"])
            .arg(tool("prosodyctl"))
            .args(["--config", &cfg, "register", user, "auth.meet.jitsi", pw])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "register {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Started directly as nobody (not through runuser) so the drop guard
    // kills prosody itself.
    use std::os::unix::process::CommandExt;
    let child = Command::new(tool("prosody"))
        .args(["--config", &cfg, "-F"])
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Running(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "prosody did not open port {http}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    LiveProsody {
        http,
        focus_pw,
        jvb_pw,
        _guard,
        _tmp: tmp,
    }
}

#[test]
fn live_prosody_accepts_focus_and_jvb_logins() {
    let run = render(&[], &[]);
    let live = start_live_prosody(&run);
    assert!(login(live.http, "auth.meet.jitsi", "focus", &live.focus_pw));
    assert!(login(live.http, "auth.meet.jitsi", "jvb", &live.jvb_pw));
    assert!(!login(
        live.http,
        "auth.meet.jitsi",
        "jvb",
        "wrong-password"
    ));
}

/// Golden files for one fixed input (internal authentication with guests,
/// recording, transcription, the SIP gateway, an external TURN server next
/// to the bundled one), so a reviewer sees exactly what a change does to
/// the output. `JITSI_UPDATE_GOLDEN=1` rewrites them.
#[test]
fn fixed_input_matches_golden_files() {
    let run = init_stack(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "internal"),
            ("ENABLE_GUESTS", "1"),
            ("ENABLE_RECORDING", "1"),
            ("ENABLE_TRANSCRIPTIONS", "1"),
            ("JIGASI_SIP_URI", "user@sip.example.org"),
            ("JIGASI_SIP_PASSWORD", "golden-sip-password"),
            ("JIGASI_SIP_SERVER", "sip.example.org"),
            ("TURN_CREDENTIALS", "golden-turn-secret"),
            ("TURN_HOST", "turn.example.org"),
            ("TURN_TRANSPORT", "udp,tcp"),
            ("STUN_HOST", "stun.example.org"),
        ],
        &[],
    );
    let run = Test::again(run)
        .args(["render", "--with", "jibri,jigasi,transcriber,turn"])
        .run();
    check_prosody(&run);
    for f in ["prosody.cfg.lua", "jitsi-meet.cfg.lua", "saslauthd.conf"] {
        let got = run.read(&format!("generated/prosody/{f}"));
        crate::harness::golden("render_prosody/golden", f, &got);
    }
}

/// A LAN install: the bridge advertises a private address, which the
/// bundled coturn must relay to (`allowed-peer-ip`, which coturn applies
/// before its denied ranges) while every other private range stays denied.
#[test]
fn bundled_turn_allows_the_bridges_private_advertised_addresses() {
    let run = render(
        &[
            ("TURN_CREDENTIALS", "Zk3secret-long-enough"),
            (
                "JVB_ADVERTISE_IPS",
                "192.168.1.20,203.0.113.7#10000,fd00::20",
            ),
        ],
        &["turn"],
    );
    let conf = run.read("generated/turn/turnserver.conf");
    let allowed: Vec<&str> = conf
        .lines()
        .filter_map(|l| l.strip_prefix("allowed-peer-ip="))
        .collect();
    assert_eq!(allowed, ["192.168.1.20", "fd00::20"], "{conf}");
    assert!(conf.contains("denied-peer-ip=192.168.0.0-192.168.255.255"));
    let text = turnserver_parse(&run.path().join("generated/turn/turnserver.conf"));
    assert!(
        !text.contains("Bad configuration format") && text.contains("192.168.1.20"),
        "{text}"
    );
    // A public address needs no exception.
    let run = render(
        &[
            ("TURN_CREDENTIALS", "Zk3secret-long-enough"),
            ("JVB_ADVERTISE_IPS", "203.0.113.7"),
        ],
        &["turn"],
    );
    assert!(!run
        .read("generated/turn/turnserver.conf")
        .contains("allowed-peer-ip"));
}
