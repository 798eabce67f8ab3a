//! web_boot tests: the web image's boot replayed on a rendered stack, then
//! its nginx serving the result.
//!
//! The container is laid out as the pinned image and the rendered compose
//! file lay it out, inside the cached Debian trixie root of
//! `.ci/trixie-nginx` (nginx-extras 1.26, the image's nginx build and
//! modules), in a private mount and network namespace:
//! - the image's own files: `/defaults/ffdhe2048.txt` and
//!   `/defaults/interface_config.js` (its Dockerfile moves the package's file
//!   there), the jitsi-meet package tree under `/usr/share/jitsi-meet` (a
//!   stand-in [`PACKAGE`]: every file `index.html` pulls in through SSI), and
//!   the `.well-known` link into `/run/web`;
//! - every volume of the web service exactly as `docker compose config`
//!   merges them (sources, targets, read-only flags): `/config`, `/storage`,
//!   the rendered files over `/defaults/...`, branding files;
//! - tmpfs on `/run` and `/tmp`, the container user (uid 1000, the image's
//!   `s6` user; `init` gives the data directories to it), and Docker's DNS
//!   at 127.0.0.11 (dnsmasq answering the compose network's names with
//!   127.0.0.1, where none of those services listens).
//!
//! Then [`BOOT_SCRIPT`] replays, as that user, what the image's
//! `/etc/s6-overlay/scripts/config` does with those files: the directories
//! it makes, `cp -r /config/. /run/web/config`, the certificate step, each
//! `tpl /defaults/X > /run/web/config/...` (on a file without template
//! actions tpl prints it unchanged; the replay refuses a file that has one),
//! the appended custom-meet.conf, settings-config.js and custom-config.js,
//! and the copied interface_config.js. nginx is then checked (`nginx -t`)
//! and started with `nginx -c /run/web/config/nginx/nginx.conf`, as the
//! image's nginx service does, and the requests are made with curl.

use crate::compose::{binds, merged_config};
use crate::Run;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cached root (see `.ci/trixie-nginx`).
pub fn trixie_root() -> PathBuf {
    let root = std::env::var_os("JITSI_TRIXIE_NGINX_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/jitsi-stack-tests/trixie-nginx"));
    assert!(
        root.join("usr/sbin/nginx").exists(),
        "{} has no nginx: the web boot-flow tests need Debian trixie's nginx-extras there; run `bash .ci/trixie-nginx` (part of .ci/install-deps)",
        root.display()
    );
    root
}

/// uid and gid of the image's `s6` user, which runs the boot script and nginx.
pub const CONTAINER_UID: u32 = 1000;

/// Files of the jitsi-meet package (jitsi-meet-web) the tests need: the
/// targets of `index.html`'s server-side includes, each with a marker the
/// served page must show, plus a few files nginx's locations name. The SSI
/// list is that of jitsi-meet's index.html (head.html, base.html, the
/// inlined /config.js, connection_optimization.html, /interface_config.js,
/// /logging_config.js, title.html, plugin.head.html, the three static/
/// additions, body.html).
pub const PACKAGE: &[(&str, &str)] = &[
    ("head.html", "<!-- package head.html -->\n"),
    ("base.html", "<!-- package base.html -->\n"),
    ("title.html", "<title>package title.html</title>\n"),
    ("plugin.head.html", "<!-- package plugin.head.html -->\n"),
    ("body.html", "<!-- package body.html -->\n"),
    (
        "connection_optimization/connection_optimization.html",
        "<!-- package connection_optimization.html -->\n",
    ),
    ("logging_config.js", "var loggingConfig = {};\n"),
    (
        "static/welcomePageAdditionalContent.html",
        "<!-- package welcomePageAdditionalContent.html -->\n",
    ),
    (
        "static/welcomePageAdditionalCard.html",
        "<!-- package welcomePageAdditionalCard.html -->\n",
    ),
    (
        "static/settingsToolbarAdditionalContent.html",
        "<!-- package settingsToolbarAdditionalContent.html -->\n",
    ),
    ("static/404.html", "package 404\n"),
    ("libs/external_api.min.js", "var JitsiMeetExternalAPI;\n"),
    (
        "images/watermark.svg",
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
    ),
    ("images/favicon.ico", "package favicon\n"),
    ("images/welcome-background.png", "package background\n"),
    (
        "images/logo-deep-linking.png",
        "package deep-linking logo\n",
    ),
];

/// The stand-in index.html: the package's SSI directives, in its order.
pub const INDEX_HTML: &str = r#"<html>
  <head>
    <!--#include virtual="head.html" -->
    <!--#include virtual="base.html" -->
    <script><!--#include virtual="/config.js" --></script>
    <!--#include virtual="connection_optimization/connection_optimization.html" -->
    <script><!--#include virtual="/interface_config.js" --></script>
    <script><!--#include virtual="/logging_config.js" --></script>
    <!--#include virtual="title.html" -->
    <!--#include virtual="plugin.head.html" -->
    <!--#include virtual="static/welcomePageAdditionalContent.html" -->
    <!--#include virtual="static/welcomePageAdditionalCard.html" -->
    <!--#include virtual="static/settingsToolbarAdditionalContent.html" -->
  </head>
  <body>
    <!--#include virtual="body.html" -->
    <div id="react"></div>
  </body>
</html>
"#;

/// The package's interface_config.js stand-in (the image keeps it as
/// /defaults/interface_config.js).
pub const INTERFACE_CONFIG: &str = "var interfaceConfig = { APP_NAME: 'Jitsi Meet' };\n";

/// The replay of the image's boot script (see the module comment). Runs as
/// the container user inside the root, with the container's environment.
pub const BOOT_SCRIPT: &str = r#"set -eu
mkdir -p /run/web/tmp /run/web/config/keys /run/web/config/nginx/site-confs
cp -r /config/. /run/web/config
if [[ ${DISABLE_HTTPS:-0} -ne 1 ]]; then
    [ -w /storage ] || { echo "/storage is not writable by $(id -u)" >&2; exit 1; }
    mkdir -p /storage/keys
    if [[ ${ENABLE_LETSENCRYPT:-0} -eq 1 ]]; then
        # acme.sh needs the CA: the test puts a certificate where its
        # --install-cert step writes it.
        for f in fullchain.pem key.pem; do
            [ -f "/storage/acme-certs/$LETSENCRYPT_DOMAIN/$f" ] \
                || { echo "no /storage/acme-certs/$LETSENCRYPT_DOMAIN/$f" >&2; exit 1; }
        done
    elif [[ -f /config/keys/cert.crt && -f /config/keys/cert.key ]]; then
        cp /config/keys/cert.crt /config/keys/cert.key /storage/keys/
    elif [[ ! -f /storage/keys/cert.crt || ! -f /storage/keys/cert.key ]]; then
        openssl req -new -x509 -days 3650 -nodes -out /storage/keys/cert.crt \
            -keyout /storage/keys/cert.key -subj "/CN=*" 2>/dev/null
    fi
fi
tpl() {
    if grep -q '{{' "$1"; then
        echo "$1 holds a template action: the image's tpl would rewrite it" >&2
        exit 1
    fi
    cat "$1"
}
c=/run/web/config
tpl /defaults/nginx.conf > $c/nginx/nginx.conf
tpl /defaults/meet.conf > $c/nginx/meet.conf
if [[ -f $c/nginx/custom-meet.conf ]]; then cat $c/nginx/custom-meet.conf >> $c/nginx/meet.conf; fi
tpl /defaults/ssl.conf > $c/nginx/ssl.conf
tpl /defaults/default > $c/nginx/site-confs/default
tpl /defaults/system-config.js > $c/config.js
tpl /defaults/settings-config.js >> $c/config.js
if [[ -f $c/custom-config.js ]]; then cat $c/custom-config.js >> $c/config.js; fi
cp /defaults/interface_config.js $c/interface_config.js
if [[ -f $c/custom-interface_config.js ]]; then cat $c/custom-interface_config.js >> $c/interface_config.js; fi
"#;

/// Runs in the new mount, network and pid namespaces as root: lays the
/// container out, boots it, checks and serves.
const RUNNER: &str = r#"set -u
R=$JT_ROOT; C=$JT_DIR; O=$C/out
ip link set lo up
mount -t proc proc "$R/proc"
mount -t tmpfs -o size=16M,mode=1750,uid=1000,gid=1000 tmpfs "$R/run"
mount -t tmpfs -o size=16M,mode=1777 tmpfs "$R/tmp"
mount --bind "$C/image/defaults" "$R/defaults"
mount --bind "$C/image/share" "$R/usr/share/jitsi-meet"
mount --bind "$C/hosts" "$R/etc/hosts"
mount --bind "$C/resolv.conf" "$R/etc/resolv.conf"
# Docker's DNS on the compose network: 127.0.0.11 answers the services'
# names (here all with 127.0.0.1, where nothing of them listens).
dns_args=(--keep-in-foreground --no-resolv --no-hosts --bind-interfaces
          --listen-address=127.0.0.11 --pid-file= --user=dnsmasq)
# A name may carry its own address (name=127.0.0.2) for a stand-in.
for n in $JT_NAMES; do
    a=127.0.0.1
    case $n in *=*) a=${n#*=}; n=${n%%=*};; esac
    # --local: an AAAA query gets an empty answer (as from Docker's DNS),
    # not REFUSED, which nginx's resolver takes as a failure.
    dns_args+=("--address=/$n/$a" "--local=/$n/")
done
# Stand-in upstreams (host programs in this network namespace), when given.
if [ -f "$C/standins.py" ]; then
    python3 "$C/standins.py" "$C/standins.ready" > "$O/standins.log" 2>&1 &
    for i in $(seq 1 50); do [ -e "$C/standins.ready" ] && break; sleep 0.1; done
fi
chroot "$R" dnsmasq "${dns_args[@]}" 2> "$O/dnsmasq.err" &
dns=$!
trap 'kill $dns 2>/dev/null' EXIT
for i in $(seq 1 50); do
    chroot "$R" getent hosts xmpp.meet.jitsi >/dev/null 2>&1 && break
    sleep 0.1
done
while IFS=$'\t' read -r src dst ro; do
    if [ ! -e "$R$dst" ]; then
        if [ -d "$src" ]; then mkdir -p "$R$dst"; else mkdir -p "$(dirname "$R$dst")"; : > "$R$dst"; fi
    fi
    mount --bind "$src" "$R$dst" || { echo "cannot mount $src on $dst" > "$O/layout.err"; exit 0; }
    if [ "$ro" = 1 ]; then mount -o remount,bind,ro "$R$dst"; fi
done < "$C/volumes.tsv"
cp "$C/boot.sh" "$R/tmp/boot.sh"
as_user() { chroot --userspec=1000:1000 "$R" "$@"; }
# The container's stdout and stderr belong to its user (nginx reopens them
# as /dev/stdout and /dev/stderr).
for f in boot.out boot.err nginx-t.out nginx-t.err access.log error.log; do
    : > "$O/$f"; chown 1000:1000 "$O/$f"
done
as_user /bin/bash /tmp/boot.sh >> "$O/boot.out" 2>> "$O/boot.err"; echo $? > "$O/boot.rc"
[ "$(cat "$O/boot.rc")" = 0 ] || exit 0
cp -r "$R/run/web/config" "$O/run-config"
as_user nginx -t -q -c /run/web/config/nginx/nginx.conf > "$O/nginx-t.out" 2> "$O/nginx-t.err"; echo $? > "$O/nginx-t.rc"
[ "$(cat "$O/nginx-t.rc")" = 0 ] || exit 0
[ -s "$C/requests.tsv" ] || exit 0
# chroot execs nginx: $! is nginx's master process.
chroot --userspec=1000:1000 "$R" nginx -c /run/web/config/nginx/nginx.conf >> "$O/access.log" 2>> "$O/error.log" &
pid=$!
for i in $(seq 1 100); do
    curl -s -o /dev/null http://127.0.0.1:8000/ && break
    sleep 0.1
done
n=0
while IFS=$'\t' read -r -a req; do
    n=$((n + 1))
    curl -sS -k --max-time 5 -D "$O/r$n.h" -o "$O/r$n.b" "${req[@]}" 2> "$O/r$n.err"
    echo $? > "$O/r$n.rc"
done < "$C/requests.tsv"
kill "$pid"; wait "$pid" 2>/dev/null
exit 0
"#;

/// One answer: curl's exit status, the status line and headers, the body.
#[derive(Debug)]
pub struct Response {
    pub curl_rc: i32,
    pub status: u16,
    pub headers: String,
    pub body: String,
    /// The body as served, byte for byte.
    pub bytes: Vec<u8>,
    /// curl's complaint, shown (through Debug) when an assertion fails.
    #[allow(dead_code)]
    pub error: String,
}

impl Response {
    /// A header's value (the last of that name), case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .next_back()
    }
}

/// What a boot produced.
#[derive(Debug)]
pub struct Booted {
    pub boot_rc: i32,
    pub boot_err: String,
    pub nginx_t_rc: i32,
    pub nginx_t_err: String,
    /// /run/web/config after the boot script (relative path -> text).
    pub run_config: BTreeMap<String, String>,
    pub responses: Vec<Response>,
    pub access_log: String,
    /// nginx's error log, shown (through Debug) when an assertion fails.
    #[allow(dead_code)]
    pub error_log: String,
}

impl Booted {
    /// Asserts the boot script and `nginx -t` succeeded.
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.boot_rc, 0, "boot replay failed:\n{}", self.boot_err);
        assert_eq!(
            self.nginx_t_rc, 0,
            "trixie's nginx -t rejected the booted site:\n{}",
            self.nginx_t_err
        );
        self
    }
}

fn read(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn read_rc(p: &Path) -> i32 {
    read(p).trim().parse().unwrap_or(-1)
}

fn write(p: &Path, text: &[u8]) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// The names the compose network gives (service aliases), which Docker's
/// DNS answers; here dnsmasq on the same address does.
const NETWORK_NAMES: &[&str] = &[
    "xmpp.meet.jitsi",
    "etherpad.meet.jitsi",
    "whiteboard.meet.jitsi",
    "rtcstats-server.meet.jitsi",
    "rtc-visualizer.meet.jitsi",
    "jvb.meet.jitsi",
];

/// Boots the web container of `run` (rendered) and makes `requests`: each
/// is a list of curl arguments (URL included), answered in order.
pub fn boot(run: &Run, requests: &[&[&str]]) -> Booted {
    boot_with(run, requests, &[], None)
}

/// [`boot`] with more names on the compose network, each answered with its
/// own address (`("prosody-v0", "127.0.0.2")`), and a Python program that
/// serves stand-in upstreams on those addresses (it gets a path to create
/// once it listens).
pub fn boot_with(
    run: &Run,
    requests: &[&[&str]],
    names: &[(&str, &str)],
    standins: Option<&str>,
) -> Booted {
    let root = trixie_root();
    let json = merged_config(run);
    let web = &json["services"]["web"];
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path();
    fs::create_dir_all(c.join("out")).unwrap();

    // The image's own files.
    write(
        &c.join("image/defaults/ffdhe2048.txt"),
        &fs::read(crate::render_web::ffdhe2048()).unwrap(),
    );
    write(
        &c.join("image/defaults/interface_config.js"),
        INTERFACE_CONFIG.as_bytes(),
    );
    let share = c.join("image/share");
    write(&share.join("index.html"), INDEX_HTML.as_bytes());
    for (rel, text) in PACKAGE {
        write(&share.join(rel), text.as_bytes());
    }
    std::os::unix::fs::symlink("/run/web/.well-known", share.join(".well-known")).unwrap();

    // Compose's volumes, parents before children.
    let mut vols = binds(web);
    vols.sort_by_key(|(_, t, _)| t.matches('/').count());
    let tsv: String = vols
        .iter()
        .map(|(s, t, ro)| format!("{s}\t{t}\t{}\n", u8::from(*ro)))
        .collect();
    write(&c.join("volumes.tsv"), tsv.as_bytes());
    // The data directories belong to the container user (as `init` leaves
    // them for uid 1000); the test's stack was made by root.
    for (src, target, _) in &vols {
        if target == "/storage" || target == "/config" {
            chown_r(Path::new(src));
        }
    }
    write(&c.join("hosts"), b"127.0.0.1 localhost\n");
    write(&c.join("resolv.conf"), b"nameserver 127.0.0.11\n");
    write(&c.join("boot.sh"), BOOT_SCRIPT.as_bytes());
    let reqs: String = requests.iter().map(|r| r.join("\t") + "\n").collect();
    write(&c.join("requests.tsv"), reqs.as_bytes());

    // The container's environment, as compose gives it.
    let mut cmd = Command::new("unshare");
    // A pid namespace too: when the runner (its first process) exits, the
    // kernel ends every process left in it, so no nginx or dnsmasq outlives
    // a test, whatever happens inside.
    cmd.args(["--mount", "--net", "--pid", "--fork", "bash", "-c", RUNNER])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("JT_ROOT", &root)
        .env("JT_DIR", c)
        .env(
            "JT_NAMES",
            NETWORK_NAMES
                .iter()
                .map(|n| n.to_string())
                .chain(names.iter().map(|(n, a)| format!("{n}={a}")))
                .collect::<Vec<_>>()
                .join(" "),
        );
    if let Some(py) = standins {
        write(&c.join("standins.py"), py.as_bytes());
    }
    if let Some(env) = web["environment"].as_object() {
        for (k, v) in env {
            if let Some(v) = v.as_str() {
                cmd.env(k, v.replace("$$", "$"));
            }
        }
    }
    let out = cmd
        .output()
        .expect("running unshare (the tests run as root)");
    let o = c.join("out");
    assert!(
        out.status.success() && !o.join("layout.err").exists(),
        "laying out the web container failed: {}{}{}",
        read(&o.join("layout.err")),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut run_config = BTreeMap::new();
    collect(
        &o.join("run-config"),
        &o.join("run-config"),
        &mut run_config,
    );
    let responses = (1..=requests.len())
        .map(|n| {
            let headers = read(&o.join(format!("r{n}.h")));
            let status = headers
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            Response {
                curl_rc: read_rc(&o.join(format!("r{n}.rc"))),
                status,
                headers,
                body: read(&o.join(format!("r{n}.b"))),
                bytes: fs::read(o.join(format!("r{n}.b"))).unwrap_or_default(),
                error: read(&o.join(format!("r{n}.err"))),
            }
        })
        .collect();
    Booted {
        boot_rc: read_rc(&o.join("boot.rc")),
        boot_err: read(&o.join("boot.err")),
        nginx_t_rc: read_rc(&o.join("nginx-t.rc")),
        nginx_t_err: read(&o.join("nginx-t.err")),
        run_config,
        responses,
        access_log: read(&o.join("access.log")),
        error_log: read(&o.join("error.log")),
    }
}

fn chown_r(p: &Path) {
    let st = Command::new("chown")
        .arg("-R")
        .arg(format!("{CONTAINER_UID}:{CONTAINER_UID}"))
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success(), "chown {}", p.display());
}

fn collect(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(base, &p, out);
        } else {
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            out.insert(rel, read(&p));
        }
    }
}

/// Renders a stack made by `init` plus `extra`, with components `with`.
pub fn rendered(extra: &[(&str, &str)], with: &[&str]) -> Run {
    let run = crate::harness::init_stack_raw(extra, with);
    crate::Test::again(run).args(["render"]).run()
}

/// The stack's CONFIG directory (init's default `./config`).
pub fn config_dir(run: &Run) -> PathBuf {
    run.path().join("config")
}

/// Evaluates a served config.js (SSI already done by nginx) with node.
fn eval_served(text: &str) -> serde_json::Value {
    let f = tempfile::NamedTempFile::new().unwrap();
    fs::write(f.path(), text).unwrap();
    crate::render_web::eval_configs(&[(f.path().to_path_buf(), None)]).remove(0)
}

#[test]
fn boot_replay_serves_the_site_and_resolves_every_include() {
    let run = rendered(&[], &[]);
    // The operator's own additions, which the boot script appends.
    let cfg = config_dir(&run).join("web");
    write(
        &cfg.join("nginx/custom-meet.conf"),
        b"location = /custom-probe { return 200 \"custom-meet ok\"; }\n",
    );
    write(&cfg.join("custom-config.js"), b"config.customProbe = 42;\n");
    write(
        &cfg.join("custom-interface_config.js"),
        b"interfaceConfig.CUSTOM_PROBE = true;\n",
    );
    let b = boot(
        &run,
        &[
            &["http://127.0.0.1:8000/"],
            &["https://127.0.0.1:8443/"],
            &["https://127.0.0.1:8443/acme/config.js"],
            &["https://127.0.0.1:8443/config.js"],
            &["https://127.0.0.1:8443/custom-probe"],
            &["https://127.0.0.1:8443/static/no-such-file.html"],
            &["https://127.0.0.1:8443/some-room"],
            &["https://127.0.0.1:8443/external_api.js"],
            &["https://127.0.0.1:8443/interface_config.js"],
            &[
                "-e",
                "https://meet.example.org/other?jwt=REFERRERSECRET",
                "https://127.0.0.1:8443/a-room?jwt=SECRETTOKEN123&x=1",
            ],
            &["https://127.0.0.1:8443/http-bind"],
        ],
    );
    b.assert_ok();
    let r = &b.responses;
    // index.html with every include resolved by nginx's SSI.
    for (i, resp) in r[..2].iter().enumerate() {
        assert_eq!(resp.status, 200, "request {i}: {resp:?}");
        for (file, text) in PACKAGE.iter().filter(|(f, _)| f.ends_with(".html")) {
            if file.starts_with("static/404") {
                continue;
            }
            assert!(
                resp.body.contains(text.trim()),
                "{file} not included:\n{}",
                resp.body
            );
        }
        assert!(
            !resp.body.contains("<!--#"),
            "unresolved SSI:\n{}",
            resp.body
        );
        assert!(
            !resp.body.contains("an error occurred while processing"),
            "{}",
            resp.body
        );
        assert!(resp.body.contains("config.customProbe = 42;"));
        assert!(resp.body.contains("CUSTOM_PROBE"));
    }
    // HSTS on the HTTPS server only, and on errors too (`always`).
    assert_eq!(
        r[1].header("Strict-Transport-Security").as_deref(),
        Some("max-age=63072000")
    );
    assert!(r[0].header("Strict-Transport-Security").is_none());
    // The tenant: nginx's SSI fills in the tenant, the same file evaluates
    // to the tenant's MUC and BOSH paths.
    let tenant = eval_served(&r[2].body);
    assert_eq!(tenant["hosts"]["muc"], "muc.acme.meet.jitsi");
    assert_eq!(
        tenant["bosh"],
        "https://meet.example.org:8443/acme/http-bind"
    );
    let top = eval_served(&r[3].body);
    assert_eq!(top["hosts"]["muc"], "muc.meet.jitsi");
    assert_eq!(top["customProbe"], 42);
    assert_eq!(top["testing"]["enableCodecSelectionAPI"], true);
    assert_eq!(r[4].body, "custom-meet ok");
    assert_eq!(r[5].status, 404);
    assert!(r[5].body.contains("package 404"), "{r:?}", r = r[5]);
    assert_eq!(r[6].status, 200, "a room serves the app");
    assert!(r[6].body.contains("<div id=\"react\">"));
    assert!(r[7].body.contains("JitsiMeetExternalAPI"));
    assert!(r[8].body.contains("APP_NAME") && r[8].body.contains("CUSTOM_PROBE"));
    // Tokens never reach the access log, in the request or the referrer.
    assert_eq!(r[9].status, 200);
    assert!(!b.access_log.contains("SECRETTOKEN123"), "{}", b.access_log);
    assert!(!b.access_log.contains("REFERRERSECRET"), "{}", b.access_log);
    assert!(
        b.access_log.contains("/a-room?[params_redacted]"),
        "{}",
        b.access_log
    );
    assert!(b
        .access_log
        .contains("https://meet.example.org/other?[params_redacted]"));
    // BOSH is proxied to prosody (nothing listens here: a gateway error,
    // not a 404), and the error carries HSTS too (`always`).
    assert_eq!(r[10].status, 502);
    assert_eq!(
        r[10].header("Strict-Transport-Security").as_deref(),
        Some("max-age=63072000"),
        "HSTS must be sent on errors too"
    );
    // What the boot left in /run/web/config is what was rendered, plus the
    // appended parts.
    let meet = &b.run_config["nginx/meet.conf"];
    assert!(meet.starts_with(&run.read("generated/web/meet.conf")));
    assert!(meet.ends_with("location = /custom-probe { return 200 \"custom-meet ok\"; }\n"));
    assert_eq!(
        b.run_config["config.js"],
        run.read("generated/web/config.js") + "config.customProbe = 42;\n"
    );
}

#[test]
fn boot_replay_fails_on_a_broken_site_and_a_template_action() {
    // The replay is not a formality: a broken meet.conf fails nginx -t in
    // the booted layout, and a mounted file with `{{` stops the boot.
    let run = rendered(&[], &[]);
    write(
        &config_dir(&run).join("web/nginx/custom-meet.conf"),
        b"this_is_not_a_directive on;\n",
    );
    let b = boot(&run, &[]);
    assert_eq!(b.boot_rc, 0, "{}", b.boot_err);
    assert_ne!(b.nginx_t_rc, 0);
    assert!(
        b.nginx_t_err.contains("this_is_not_a_directive"),
        "{}",
        b.nginx_t_err
    );

    let run = rendered(&[], &[]);
    let p = run.path().join("generated/web/config.js");
    let text = fs::read_to_string(&p).unwrap() + "// {{ .Env.X }}\n";
    fs::write(&p, text).unwrap();
    let b = boot(&run, &[]);
    assert_ne!(b.boot_rc, 0);
    assert!(b.boot_err.contains("template action"), "{}", b.boot_err);
}

#[test]
fn boot_replay_lets_encrypt_redirect_and_no_https() {
    // Let's Encrypt with the HTTP redirect: the certificate acme.sh installs
    // under /storage/acme-certs/DOMAIN is the one served.
    let run = rendered(
        &[
            ("ENABLE_LETSENCRYPT", "1"),
            ("LETSENCRYPT_DOMAIN", "meet.example.org"),
            ("LETSENCRYPT_EMAIL", "admin@example.org"),
            ("HTTP_PORT", "80"),
            ("HTTPS_PORT", "443"),
            ("PUBLIC_URL", "https://meet.example.org"),
            ("ENABLE_HTTP_REDIRECT", "1"),
        ],
        &[],
    );
    let (crt, key) = crate::render_web::stub_cert();
    let le = config_dir(&run).join("storage/web/acme-certs/meet.example.org");
    write(&le.join("fullchain.pem"), &fs::read(crt).unwrap());
    write(&le.join("key.pem"), &fs::read(key).unwrap());
    let b = boot(
        &run,
        &[
            &["http://127.0.0.1:8000/some-room?x=1"],
            &["https://127.0.0.1:8443/"],
        ],
    );
    b.assert_ok();
    assert_eq!(b.responses[0].status, 301);
    assert_eq!(
        b.responses[0].header("Location").as_deref(),
        Some("https://127.0.0.1/some-room?x=1")
    );
    assert_eq!(b.responses[1].status, 200);
    assert!(b.run_config["nginx/ssl.conf"]
        .contains("ssl_certificate /storage/acme-certs/meet.example.org/fullchain.pem;"));

    // DISABLE_HTTPS: no certificate step, no TLS server, HTTP serves the app.
    let run = rendered(&[("DISABLE_HTTPS", "1")], &[]);
    let b = boot(
        &run,
        &[&["http://127.0.0.1:8000/"], &["https://127.0.0.1:8443/"]],
    );
    b.assert_ok();
    assert_eq!(b.responses[0].status, 200);
    assert!(b.responses[0].body.contains("<!-- package body.html -->"));
    assert_ne!(b.responses[1].curl_rc, 0, "nothing may listen on 8443");
    assert!(!config_dir(&run).join("storage/web/keys/cert.crt").exists());
}

#[test]
fn boot_replay_keeps_the_self_signed_certificate_across_restarts() {
    // First boot: the image generates a certificate into the storage volume;
    // the second boot uses the persisted one.
    let run = rendered(&[], &[]);
    let b = boot(&run, &[&["https://127.0.0.1:8443/"]]);
    b.assert_ok();
    assert_eq!(b.responses[0].status, 200);
    let crt = config_dir(&run).join("storage/web/keys/cert.crt");
    let first = fs::read(&crt).expect("the boot stored its certificate in CONFIG/storage/web");
    let b = boot(&run, &[&["https://127.0.0.1:8443/"]]);
    b.assert_ok();
    assert_eq!(fs::read(&crt).unwrap(), first);
}

#[test]
fn boot_replay_etherpad_whiteboard_and_load_test_routes() {
    let run = rendered(
        &[
            ("ETHERPAD_URL_BASE", "http://etherpad.meet.jitsi:9001"),
            (
                "WHITEBOARD_COLLAB_SERVER_URL_BASE",
                "http://whiteboard.meet.jitsi",
            ),
            ("ENABLE_LOAD_TEST_CLIENT", "1"),
            ("RTCSTATS_ENABLED", "1"),
            ("ENABLE_JAAS_COMPONENTS", "1"),
        ],
        &["etherpad", "whiteboard"],
    );
    let b = boot(
        &run,
        &[
            &["https://127.0.0.1:8443/etherpad/p/x"],
            &["https://127.0.0.1:8443/socket.io/"],
            &["https://127.0.0.1:8443/rtcstats-ws/"],
            &["https://127.0.0.1:8443/_api/room-info"],
        ],
    );
    b.assert_ok();
    // Proxied to the compose network's services (which do not run here).
    for (i, r) in b.responses.iter().enumerate() {
        assert_eq!(r.status, 502, "request {i}: {r:?}");
    }
}
