//! The prosody image's boot flow (docker-jitsi-meet stable-11146-2) replayed
//! on the rendered files with the prosody the image runs: Debian trixie's
//! prosody 13 (13.0.1 when this was written; the test asserts major 13 and
//! prints the version), from the cached root `.ci/trixie-root` builds.
//!
//! The "container" is a mount and network namespace around that root
//! (tests/support/prosody13-container.sh): a fresh tmpfs on /run, the
//! prosody service's volumes from Docker Compose's own model of the rendered
//! stack (`docker compose config`) bind-mounted at their targets, only a
//! loopback interface, so the rendered config runs unchanged (its ports,
//! paths and interfaces) and is reachable from that namespace only. Every
//! command runs as the root's `prosody` user (the image's container user
//! is uid 1000) and is bounded in time; the namespace goes away when the
//! test's processes are stopped.
//!
//! Replayed from the image's scripts (`prosody/rootfs/etc/s6-overlay/scripts`):
//! - `config`: the write check of /var/lib/prosody, the data directory, the
//!   copy of /config into /run/prosody/config, the two templates rendered to
//!   /run/prosody/config (a plain copy: the rendered files hold no `{{`),
//!   `prosodyctl --config CFG cert generate` for the main and auth domains
//!   and the move of the certificates out of the data directory;
//! - `prosody`: `prosody --config /run/prosody/config/prosody.cfg.lua -F`;
//! - `register-setup`: wait for `curl --fail http://127.0.0.1:PORT/health`,
//!   then, with the container's environment (from the compose model) and the
//!   script's conditions and defaults, `prosodyctl --config CFG shell user
//!   create USER@DOMAIN PASSWORD` for focus, jvb, jibri, the recorder, the
//!   transcriber and jigasi, `shell roster subscribe_both focus@AUTH
//!   focus.DOMAIN` and `shell module reload client_proxy`.
//!
//! The Jitsi plugins of the image (jitsi-meet-prosody) are not in Debian:
//! prosody logs each as missing and goes on. Only mod_http_health has a
//! stand-in (tests/support/prosody13-plugins), since register-setup waits
//! for it. Logins are real SASL PLAIN over BOSH, sent with the root's curl
//! inside the namespace.

use crate::harness::{init_stack, FakeDocker, Run, Test};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const CONTAINER_SH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/prosody13-container.sh"
);
const PLUGINS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/prosody13-plugins"
);
/// Where the image's `config` script renders prosody's config.
const CFG: &str = "/run/prosody/config/prosody.cfg.lua";
/// How long one namespace may live, whatever happens to the test.
const CONTAINER_SECONDS: &str = "600";

/// The cached trixie root with prosody 13 (`bash .ci/trixie-root`).
pub fn trixie_root() -> PathBuf {
    let root = std::env::var_os("JITSI_TRIXIE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/jitsi-stack-tests/trixie"));
    assert!(
        root.join(".jitsi-stack-root").is_file() && root.join("usr/bin/prosodyctl").is_file(),
        "no Debian trixie root with prosody 13 at {}: run .ci/install-deps (it runs .ci/trixie-root)",
        root.display()
    );
    root
}

/// The prosody package version in the root; the test needs major 13.
fn prosody_version(root: &Path) -> String {
    let out = Command::new("chroot")
        .arg(root)
        .args(["dpkg-query", "-W", "-f", "${Version}", "prosody"])
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        v.starts_with("13."),
        "the image runs prosody 13; the root has {v:?}"
    );
    v
}

/// uid and gid of `prosody` in the root's /etc/passwd.
fn prosody_ids(root: &Path) -> (u32, u32) {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("prosody:"))
        .expect("a prosody user in the trixie root");
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

/// One running "container": the namespace holder and, once started, prosody.
pub struct Container {
    root: PathBuf,
    ids: (u32, u32),
    holder: Child,
    prosody: Option<Child>,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Container {
    /// New namespaces with `binds` (target, source, read-only) mounted.
    fn start(root: &Path, binds: &[(String, String, bool)]) -> Container {
        let tmp = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--net", "--propagation", "private", "--", "sh"])
            .arg(CONTAINER_SH)
            .arg(root)
            .arg(CONTAINER_SECONDS);
        for (target, source, ro) in binds {
            cmd.arg(format!("{target}={source}{}", if *ro { ":ro" } else { "" }));
        }
        let mut holder = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux)");
        let stdout = holder.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let ready = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        if ready.trim() != "ready" {
            let _ = holder.kill();
            let out = holder.wait_with_output().unwrap();
            panic!(
                "the container namespace did not come up: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Container {
            root: root.to_path_buf(),
            ids: prosody_ids(root),
            holder,
            prosody: None,
            log: tmp.path().join("prosody.log"),
            _tmp: tmp,
        }
    }

    /// `args` inside the container (as the prosody user unless `as_root`),
    /// with a clean environment, bounded to 60 seconds.
    fn command(&self, as_root: bool, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args([
            "60",
            "nsenter",
            "-t",
            &self.holder.id().to_string(),
            "-m",
            "-n",
        ]);
        c.args(self.chroot_args(as_root)).args(args);
        c
    }

    fn chroot_args(&self, as_root: bool) -> Vec<String> {
        let mut v = vec!["chroot".to_string()];
        if !as_root {
            v.push(format!("--userspec={}:{}", self.ids.0, self.ids.1));
        }
        v.push(self.root.display().to_string());
        v.extend(
            [
                "env",
                "-i",
                "HOME=/var/lib/prosody",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            ]
            .map(String::from),
        );
        v
    }

    pub fn exec(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(false, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn exec_root(&self, args: &[&str]) -> Output {
        self.command(true, args).output().unwrap()
    }

    /// `prosody --config CFG -F` as the image's `prosody` service runs it.
    /// nsenter, chroot and env all exec, so the child is prosody itself.
    fn start_prosody(&mut self) {
        let log = std::fs::File::create(&self.log).unwrap();
        let child = Command::new("nsenter")
            .args(["-t", &self.holder.id().to_string(), "-m", "-n"])
            .args(self.chroot_args(false))
            .args(["prosody", "--config", CFG, "-F"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.prosody = Some(child);
    }

    /// prosody's whole log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Stops prosody as `docker stop` does (SIGTERM, then SIGKILL after 10 s).
    fn stop_prosody(&mut self) {
        if let Some(mut p) = self.prosody.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &p.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while p.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// One POST to prosody's BOSH endpoint from inside the namespace.
    fn bosh(&self, port: &str, body: &str) -> String {
        let url = format!("http://127.0.0.1:{port}/http-bind");
        let out = self.exec(
            &[
                "curl",
                "--silent",
                "--max-time",
                "15",
                "-H",
                "Content-Type: text/xml; charset=utf-8",
                "--data-binary",
                "@-",
                &url,
            ],
            body,
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A real SASL PLAIN login over BOSH.
    pub fn login(&self, port: &str, jid: &str, password: &str) -> bool {
        let (user, domain) = jid.split_once('@').unwrap();
        crate::render_prosody::sasl_plain_over_bosh(
            |body| self.bosh(port, body),
            domain,
            user,
            password,
        )
    }

    /// The pid whose network namespace is the container's.
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// The nsenter/chroot prefix for `prosody`-user commands, for a fake
    /// `docker` that forwards `compose exec prosody ...` here.
    pub fn exec_prefix(&self) -> Vec<String> {
        let mut v: Vec<String> = ["timeout", "60", "nsenter", "-t"]
            .map(String::from)
            .to_vec();
        v.push(self.holder.id().to_string());
        v.extend(["-m", "-n"].map(String::from));
        v.extend(self.chroot_args(false));
        v
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(mut p) = self.prosody.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A rendered stack and what the compose file gives its prosody container.
pub struct Stack {
    pub run: std::rc::Rc<Run>,
    /// The compose service (`prosody`, or a visitor node `prosody-vN`).
    pub service: String,
    root: PathBuf,
    /// The container's environment (`docker compose config`).
    pub env: BTreeMap<String, String>,
    binds: Vec<(String, String, bool)>,
}

/// An account register-setup creates: (jid, password).
pub type Account = (String, String);

impl Stack {
    /// Renders the stack with the components `with` and reads the prosody
    /// service from Compose's model.
    pub fn new(run: Run, with: &[&str]) -> Stack {
        let root = trixie_root();
        let version = prosody_version(&root);
        eprintln!(
            "prosody boot flow: Debian trixie prosody {version} in {}",
            root.display()
        );
        let mut args = vec!["render".to_string()];
        if !with.is_empty() {
            args.extend(["--with".to_string(), with.join(",")]);
        }
        let run = Test::again(run).args(&args).run();
        Stack::of(std::rc::Rc::new(run), "prosody")
    }

    /// The container of `service` of an already rendered stack.
    pub fn of(run: std::rc::Rc<Run>, service: &str) -> Stack {
        let root = trixie_root();
        let model: Value = crate::compose::merged_config(&run);
        let svc = &model["services"][service];
        let env: BTreeMap<String, String> = svc["environment"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").replace("$$", "$")))
            .collect();
        // The volumes prosody's boot reads or writes. The other one
        // (CONFIG/custom-ca, for the base image's CA store) plays no part
        // in prosody's boot steps.
        let mut binds = vec![];
        for (source, target, ro) in crate::compose::binds(svc) {
            // A named volume (a visitor node's data): a directory of the test.
            let source = if source.starts_with('/') {
                source
            } else {
                let dir = run.path().join(format!("volume-{source}"));
                std::fs::create_dir_all(&dir).unwrap();
                dir.display().to_string()
            };
            let used = [
                "/config",
                "/defaults/",
                "/var/lib/prosody",
                "/prosody-plugins-custom",
            ]
            .iter()
            .any(|p| target == p.trim_end_matches('/') || target.starts_with(p));
            if used {
                binds.push((target, source, ro));
            } else {
                assert_eq!(
                    target, "/usr/local/share/ca-certificates",
                    "a prosody volume the boot-flow test does not know"
                );
            }
        }
        // A visitor node mounts nothing at /config: the image's VOLUME
        // gives it an empty anonymous volume, which this stands in for.
        if site_file(&env) == "visitors.cfg.lua" && !binds.iter().any(|b| b.0 == "/config") {
            let empty = run.path().join(format!("volume-{service}-config"));
            std::fs::create_dir_all(&empty).unwrap();
            binds.push(("/config".into(), empty.display().to_string(), false));
        }
        let targets: Vec<&str> = binds.iter().map(|b| b.0.as_str()).collect();
        let site = format!("/defaults/conf.d/{}", site_file(&env));
        for want in [
            "/var/lib/prosody",
            "/config",
            "/defaults/prosody.cfg.lua",
            site.as_str(),
        ] {
            assert!(
                targets.contains(&want),
                "prosody mounts no {want}: {targets:?}"
            );
        }
        binds.push(("/prosody-plugins".into(), PLUGINS.into(), true));
        // The container user owns the writable volumes (doctor checks uid
        // 1000 on a real host; here the root's prosody user).
        let ids = prosody_ids(&root);
        for (target, source, ro) in &binds {
            if !ro && Path::new(source).is_dir() && target != "/prosody-plugins" {
                let st = Command::new("chown")
                    .arg("-R")
                    .arg(format!("{}:{}", ids.0, ids.1))
                    .arg(source)
                    .status()
                    .unwrap();
                assert!(st.success());
            }
        }
        Stack {
            run,
            service: service.to_string(),
            root,
            env,
            binds,
        }
    }

    /// One more volume (target, source, read-only), such as /etc/hosts.
    pub fn bind(&mut self, target: &str, source: &str, ro: bool) {
        self.binds.push((target.into(), source.into(), ro));
    }

    fn visitors_mode(&self) -> bool {
        self.var("PROSODY_MODE", "client") == "visitors"
    }

    fn var(&self, name: &str, default: &str) -> String {
        match self.env.get(name) {
            Some(v) if !v.is_empty() => v.clone(),
            _ => default.to_string(),
        }
    }

    pub fn http_port(&self) -> String {
        self.var("PROSODY_HTTP_PORT", "5280")
    }

    /// A rendered, mounted file (to break it on purpose).
    pub fn edit(&self, file: &str, f: impl Fn(&str) -> String) {
        let path = self
            .run
            .path()
            .join("generated")
            .join(&self.service)
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let new = f(&text);
        assert_ne!(new, text, "the edit of {file} changed nothing");
        std::fs::write(&path, new).unwrap();
    }

    /// A new container: `config`, then prosody, then the wait for /health.
    pub fn boot(&self) -> Result<Container, String> {
        for (target, source, _) in &self.binds {
            if target.starts_with("/defaults/") {
                let text = std::fs::read_to_string(source).unwrap();
                assert!(
                    !text.contains("{{"),
                    "{source}: the image's tpl would render `{{{{`"
                );
            }
        }
        let mut c = Container::start(&self.root, &self.binds);
        // Stand-in for the image's s6 set-up: the container user may write /run/prosody.
        let ids = format!("{}:{}", c.ids.0, c.ids.1);
        let out = c.exec_root(&[
            "sh",
            "-c",
            "mkdir -p /run/prosody && chown \"$0\" /run/prosody",
            &ids,
        ]);
        assert!(out.status.success(), "{out:?}");
        // The config script's certificates: the main domain, or in
        // visitors mode the node's vN domain, and the auth domain.
        let domain = if self.visitors_mode() {
            format!(
                "v{}.{}",
                self.var("PROSODY_VISITOR_INDEX", "0"),
                self.var("VISITORS_XMPP_DOMAIN", "meet.jitsi")
            )
        } else {
            self.var("XMPP_DOMAIN", "meet.jitsi")
        };
        let auth = self.var("XMPP_AUTH_DOMAIN", "auth.meet.jitsi");
        let site = site_file(&self.env);
        let out = c.exec(
            &[
                "sh",
                "-c",
                CONFIG_STEPS,
                "config",
                CFG,
                site,
                &domain,
                &auth,
            ],
            "",
        );
        if !out.status.success() {
            return Err(format!(
                "config: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        c.start_prosody();
        let url = format!("http://127.0.0.1:{}/health", self.http_port());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let probe = c.exec(
                &["curl", "--fail", "--silent", "--output", "/dev/null", &url],
                "",
            );
            if probe.status.success() {
                return Ok(c);
            }
            if let Some(st) = c.prosody.as_mut().unwrap().try_wait().unwrap() {
                return Err(format!("prosody exited ({st}):\n{}", c.log_tail()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "prosody did not answer {url} in 30 s:\n{}",
                    c.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The accounts register-setup creates for this container environment,
    /// with its defaults and conditions (client mode).
    pub fn service_accounts(&self) -> Vec<Account> {
        let auth = self.var("XMPP_AUTH_DOMAIN", "auth.meet.jitsi");
        let hidden = self.var(
            "XMPP_HIDDEN_DOMAIN",
            &self.var("XMPP_RECORDER_DOMAIN", "hidden.meet.jitsi"),
        );
        let on = |name: &str| {
            let v = self.var(name, "");
            v.to_lowercase() == "true" || v == "1"
        };
        let set = |name: &str| !self.var(name, "").is_empty();
        let mut a = vec![
            (
                format!("focus@{auth}"),
                self.var("JICOFO_AUTH_PASSWORD", ""),
            ),
            (
                format!("{}@{auth}", self.var("JVB_AUTH_USER", "jvb")),
                self.var("JVB_AUTH_PASSWORD", ""),
            ),
        ];
        if set("JIBRI_XMPP_PASSWORD") {
            a.push((
                format!("{}@{auth}", self.var("JIBRI_XMPP_USER", "jibri")),
                self.var("JIBRI_XMPP_PASSWORD", ""),
            ));
        }
        // The recorder and transcriber in client mode only.
        let client = !self.visitors_mode();
        if client && on("ENABLE_RECORDING") && set("JIBRI_RECORDER_PASSWORD") {
            a.push((
                format!("{}@{hidden}", self.var("JIBRI_RECORDER_USER", "recorder")),
                self.var("JIBRI_RECORDER_PASSWORD", ""),
            ));
        }
        if client && on("ENABLE_TRANSCRIPTIONS") && set("JIGASI_TRANSCRIBER_PASSWORD") {
            a.push((
                format!(
                    "{}@{hidden}",
                    self.var("JIGASI_TRANSCRIBER_USER", "transcriber")
                ),
                self.var("JIGASI_TRANSCRIBER_PASSWORD", ""),
            ));
        }
        if set("JIGASI_XMPP_PASSWORD") {
            a.push((
                format!("{}@{auth}", self.var("JIGASI_XMPP_USER", "jigasi")),
                self.var("JIGASI_XMPP_PASSWORD", ""),
            ));
        }
        a
    }

    /// register-setup's prosodyctl commands, each checked (the script only
    /// logs failures; a failure here is what would stop every meeting).
    /// `first` is false on a restart: the accounts exist already.
    pub fn register_setup(&self, c: &Container, first: bool) -> Result<Vec<Account>, String> {
        let accounts = self.service_accounts();
        for (jid, pw) in &accounts {
            let out = c.exec(
                &[
                    "prosodyctl",
                    "--config",
                    CFG,
                    "shell",
                    "user",
                    "create",
                    jid,
                    pw,
                ],
                "",
            );
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let ok = if first {
                out.status.success() && text.contains(&format!("Created {jid}"))
            } else {
                text.contains("User exists")
            };
            if !ok {
                return Err(format!(
                    "shell user create {jid}: exit {:?}: {text}",
                    out.status.code()
                ));
            }
        }
        let domain = self.var("XMPP_DOMAIN", "meet.jitsi");
        let auth = self.var("XMPP_AUTH_DOMAIN", "auth.meet.jitsi");
        let focus = format!("focus@{auth}");
        let proxy = format!("focus.{domain}");
        let out = c.exec(
            &[
                "prosodyctl",
                "--config",
                CFG,
                "shell",
                "roster",
                "subscribe_both",
                &focus,
                &proxy,
            ],
            "",
        );
        // On a visitor node focus.DOMAIN is the main prosody's: the script
        // only logs the outcome, and so does this replay there.
        if !out.status.success() && !self.visitors_mode() {
            return Err(format!(
                "shell roster subscribe_both: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // The image then reloads mod_client_proxy (a Jitsi plugin, absent
        // here: prosody answers for 0 hosts); the script only logs the result.
        let out = c.exec(
            &[
                "prosodyctl",
                "--config",
                CFG,
                "shell",
                "module",
                "reload",
                "client_proxy",
            ],
            "",
        );
        assert!(
            out.status.success(),
            "shell module reload: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        Ok(accounts)
    }

    pub fn logins(&self, c: &Container, accounts: &[Account], when: &str) -> Result<(), String> {
        for (jid, pw) in accounts {
            if !c.login(&self.http_port(), jid, pw) {
                return Err(format!("login as {jid} {when} failed:\n{}", c.log_tail()));
            }
        }
        Ok(())
    }

    /// The whole flow: boot, register-setup, every service user logs in;
    /// a restart on the same volumes (fresh /run), every service user logs
    /// in again before register-setup runs, then register-setup again.
    pub fn boot_flow(&self) -> Result<Vec<Account>, String> {
        let mut c = self.boot()?;
        let accounts = self.register_setup(&c, true)?;
        self.logins(&c, &accounts, "after register-setup")?;
        c.stop_prosody();
        drop(c);
        let c = self.boot()?;
        self.logins(&c, &accounts, "after a restart (before register-setup)")?;
        self.register_setup(&c, false)?;
        self.logins(&c, &accounts, "after a restart")?;
        Ok(accounts)
    }
}

/// The site file the image's `config` script picks for PROSODY_MODE.
fn site_file(env: &BTreeMap<String, String>) -> &'static str {
    match env.get("PROSODY_MODE").map(String::as_str) {
        Some("visitors") => "visitors.cfg.lua",
        _ => "jitsi-meet.cfg.lua",
    }
}

/// The `config` script's steps that touch prosody's files, as the container
/// user. Arguments: the rendered config path, the site file, the domains
/// to make certificates for (main or node domain, auth domain).
/// Like the script, only the write checks stop it; other failures go on.
const CONFIG_STEPS: &str = r#"cfg="$1"; site="$2"; shift 2
probe=/var/lib/prosody/.write-probe.$$
{ touch "$probe" && rm -f "$probe"; } || exit 1
mkdir -p /var/lib/prosody/data
{ touch /var/lib/prosody/data/.probe && rm -f /var/lib/prosody/data/.probe; } || exit 1
mkdir -pm 750 /run/prosody/config/certs /run/prosody/config/conf.d
cp -r /config/. /run/prosody/config
if [ -z "$(ls /var/lib/prosody/data)" ] && [ -d /config/data ]; then
  cp -r /config/data/. /var/lib/prosody/data
fi
cp /defaults/prosody.cfg.lua "$cfg"
cp "/defaults/conf.d/$site" "/run/prosody/config/conf.d/$site"
for domain in "$@"; do
  if [ ! -f "/run/prosody/config/certs/$domain.crt" ]; then
    echo | prosodyctl --config "$cfg" cert generate "$domain" >/dev/null 2>&1
  fi
done
mv /var/lib/prosody/data/*.crt /var/lib/prosody/data/*.key /run/prosody/config/certs/ 2>/dev/null || true
rm -f /var/lib/prosody/data/*.cnf
"#;

/// Internal authentication with guests, recording, transcription, the SIP
/// gateway: every service account register-setup knows.
pub fn full_stack() -> Stack {
    let run = init_stack(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "internal"),
            ("ENABLE_GUESTS", "1"),
            ("ENABLE_RECORDING", "1"),
            ("ENABLE_TRANSCRIPTIONS", "1"),
            ("JIGASI_SIP_URI", "user@sip.example.org"),
            ("JIGASI_SIP_PASSWORD", "sip-password-123"),
            ("JIGASI_SIP_SERVER", "sip.example.org"),
        ],
        &[],
    );
    Stack::new(run, &["jibri", "jigasi", "transcriber"])
}

#[test]
fn boot_flow_creates_every_service_account_and_keeps_it_across_a_restart() {
    let stack = full_stack();
    let accounts = stack.boot_flow().unwrap_or_else(|e| panic!("{e}"));
    let jids: Vec<&str> = accounts.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        jids,
        [
            "focus@auth.meet.jitsi",
            "jvb@auth.meet.jitsi",
            "jibri@auth.meet.jitsi",
            "recorder@hidden.meet.jitsi",
            "transcriber@hidden.meet.jitsi",
            "jigasi@auth.meet.jitsi",
        ]
    );
    // On the volume compose mounts from CONFIG/storage/prosody.
    let data = stack.run.path().join("config/storage/prosody/data");
    for f in [
        "auth%2emeet%2ejitsi/accounts/focus.dat",
        "hidden%2emeet%2ejitsi/accounts/recorder.dat",
        "auth%2emeet%2ejitsi/roster/focus.dat",
    ] {
        assert!(data.join(f).is_file(), "{f} not under {}", data.display());
    }
}

#[test]
fn boot_flow_fails_without_admin_shell() {
    let stack = full_stack();
    stack.edit("prosody.cfg.lua", |t| {
        t.replace("    \"admin_shell\";\n", "")
    });
    let err = stack
        .boot_flow()
        .expect_err("the boot flow passed without admin_shell");
    assert!(
        err.starts_with("shell user create focus@auth.meet.jitsi")
            && err.contains("Is mod_admin_shell enabled?"),
        "{err}"
    );
}

/// The jibri component alone turns recording on (config.js, jicofo,
/// prosody's hidden domain): with ENABLE_RECORDING unset in `.env`, the
/// prosody container is still told, so the image's account set-up creates
/// the recorder account jibri joins meetings with.
#[test]
fn the_jibri_component_alone_gets_its_recorder_account() {
    let run = init_stack(&[], &[]);
    let stack = Stack::new(run, &["jibri"]);
    let accounts = stack.boot_flow().unwrap_or_else(|e| panic!("{e}"));
    let jids: Vec<&str> = accounts.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        jids,
        [
            "focus@auth.meet.jitsi",
            "jvb@auth.meet.jitsi",
            "jibri@auth.meet.jitsi",
            "recorder@hidden.meet.jitsi",
            // Its password is always generated and passed, as upstream.
            "jigasi@auth.meet.jitsi",
        ]
    );
}

#[test]
fn boot_flow_fails_with_the_data_under_run() {
    // The value jitsi-stack rendered before: a directory nothing creates on
    // the /run tmpfs, so prosody has no admin socket and no account is made.
    let stack = full_stack();
    stack.edit("prosody.cfg.lua", |t| {
        t.replace(
            "data_path = \"/var/lib/prosody/data\"",
            "data_path = \"/run/prosody/config/data\"",
        )
    });
    let err = stack
        .boot_flow()
        .expect_err("the boot flow passed with data_path under /run");
    assert!(
        err.starts_with("shell user create focus@auth.meet.jitsi")
            && err.contains("Unable to connect to server"),
        "{err}"
    );
    // A directory that does exist there: everything works until the
    // restart, which starts on an empty /run, and the accounts are gone.
    let stack = full_stack();
    stack.edit("prosody.cfg.lua", |t| {
        t.replace(
            "data_path = \"/var/lib/prosody/data\"",
            "data_path = \"/run/prosody\"",
        )
    });
    let err = stack
        .boot_flow()
        .expect_err("the boot flow passed with data_path under /run");
    assert!(
        err.starts_with(
            "login as focus@auth.meet.jitsi after a restart (before register-setup) failed"
        ),
        "{err}"
    );
}

/// A fake `docker` first on PATH that runs `compose ... exec -T prosody
/// CMD...` as CMD inside `c`, as the prosody user (what `docker compose
/// exec` does in the prosody container), and refuses anything else.
/// Returns the fake, (directory for PATH, log file).
fn fake_docker(c: &Container) -> (FakeDocker, PathBuf, PathBuf) {
    let prefix: Vec<String> = c
        .exec_prefix()
        .iter()
        .map(|w| {
            assert!(!w.contains('\''));
            format!("'{w}'")
        })
        .collect();
    let behaviour = format!(
        r#"while [ $# -gt 0 ]; do
  if [ "$1" = exec ] && [ "$2" = -T ] && [ "$3" = prosody ]; then
    shift 3
    exec {prefix} "$@"
  fi
  shift
done
echo "fake docker: only 'compose exec -T prosody' is forwarded" >&2
exit 1"#,
        prefix = prefix.join(" ")
    );
    let fake = FakeDocker::with(&behaviour);
    let (bin, log) = (fake.dir().to_path_buf(), fake.file("log"));
    (fake, bin, log)
}

/// `jitsi-stack ARGS` in the stack with `path` first on PATH.
fn jitsi(stack: &Stack, path: &Path, args: &[&str], stdin: &str) -> Output {
    let mut p = vec![path.to_path_buf()];
    p.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitsi-stack"))
        .current_dir(stack.run.path())
        .env("PATH", std::env::join_paths(p).unwrap())
        .env_remove("JITSI_STACK_DIR")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused command exits without reading its stdin.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The calls that reached the container, from the fake's log: what follows
/// `exec -T prosody`.
fn in_container(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once(" exec -T prosody ")
                .map(|(_, c)| c.to_string())
        })
        .collect()
}

#[test]
fn user_commands_reach_prosody_13_as_in_the_image() {
    let stack = full_stack();
    let port = stack.http_port();
    let c = stack.boot().unwrap_or_else(|e| panic!("{e}"));
    stack
        .register_setup(&c, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let (_fake, bin, log) = fake_docker(&c);

    // Refused before anything runs: not even `docker compose version`.
    for bad in [
        "--help", "-x", "a b", "a@b", "a/b", "a:b", "\"a", "<a>", "a&b", "'a",
    ] {
        let out = jitsi(
            &stack,
            &bin,
            &["user", "add", "--password-stdin", "--", bad],
            "pw\n",
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "user add {bad:?} was not refused"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("user name"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!log.exists(), "docker ran for a refused name");

    let first = "first password \" $x 1";
    let out = jitsi(
        &stack,
        &bin,
        &["user", "add", "Alice", "--password-stdin"],
        &format!("{first}\n"),
    );
    assert!(ok(&out, "user add").contains("added alice@meet.jitsi"));
    let cfg = format!("prosodyctl --config {CFG}");
    assert_eq!(
        in_container(&log),
        [format!("{cfg} adduser -- alice@meet.jitsi")]
    );
    assert!(!std::fs::read_to_string(&log)
        .unwrap()
        .contains("first password"));
    assert!(c.login(&port, "alice@meet.jitsi", first));

    // A second add is refused by prosody, and jitsi-stack says why.
    let out = jitsi(
        &stack,
        &bin,
        &["user", "add", "alice", "--password-stdin"],
        "other-password-9\n",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("prosodyctl: Error: User exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let second = "second-password-2";
    let out = jitsi(
        &stack,
        &bin,
        &["user", "passwd", "alice", "--password-stdin"],
        &format!("{second}\n"),
    );
    ok(&out, "user passwd");
    assert_eq!(
        in_container(&log).last().unwrap(),
        &format!("{cfg} passwd -- alice@meet.jitsi")
    );
    assert!(!c.login(&port, "alice@meet.jitsi", first));
    assert!(c.login(&port, "alice@meet.jitsi", second));

    // A file name that is not UTF-8 in the accounts directory (lossily
    // decoded, a '%' right before a multi-byte replacement character).
    let accounts = stack
        .run
        .path()
        .join("config/storage/prosody/data/meet%2ejitsi/accounts");
    {
        use std::os::unix::ffi::OsStrExt;
        let odd = accounts.join(std::ffi::OsStr::from_bytes(b"%\xffx.dat"));
        std::fs::write(odd, "return {};\n").unwrap();
    }
    // `user list` reads the volume from the host: no docker call.
    let calls = std::fs::read_to_string(&log).unwrap();
    let out = jitsi(&stack, &bin, &["user", "list"], "");
    let listed = ok(&out, "user list");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), calls);
    assert_eq!(listed, "%\u{fffd}x@meet.jitsi\nalice@meet.jitsi\n");

    // Accounts live on the mounted volume: after a restart alice still logs in.
    let out = jitsi(
        &stack,
        &bin,
        &["user", "add", "bob", "--password-stdin"],
        "bob-password-3\n",
    );
    ok(&out, "user add bob");
    let mut c = c;
    c.stop_prosody();
    drop(c);
    let c = stack.boot().unwrap_or_else(|e| panic!("{e}"));
    assert!(c.login(&port, "alice@meet.jitsi", second));
    assert!(c.login(&port, "bob@meet.jitsi", "bob-password-3"));
    let (_fake2, bin, log) = fake_docker(&c);
    let out = jitsi(&stack, &bin, &["user", "del", "bob"], "");
    assert!(ok(&out, "user del").contains("deleted bob@meet.jitsi"));
    assert_eq!(
        in_container(&log),
        [format!("{cfg} deluser -- bob@meet.jitsi")]
    );
    assert!(!c.login(&port, "bob@meet.jitsi", "bob-password-3"));
    let out = jitsi(&stack, &bin, &["user", "del", "bob"], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("prosodyctl: Error: No such user"));
}

#[test]
fn user_commands_name_only_the_setting_to_change() {
    for (extra, want, not) in [
        (
            &[][..],
            "Set ENABLE_AUTH=1 in .env",
            "AUTH_TYPE=internal in .env",
        ),
        (
            &[
                ("ENABLE_AUTH", "1"),
                ("AUTH_TYPE", "jwt"),
                ("JWT_APP_ID", "app"),
                ("JWT_APP_SECRET", "a-long-app-secret"),
            ][..],
            "Set AUTH_TYPE=internal in .env",
            "Set ENABLE_AUTH",
        ),
        (
            &[
                ("ENABLE_AUTH", "1"),
                ("PROSODY_AUTH_TYPE", "ldap"),
                ("LDAP_URL", "ldaps://ldap.example.org"),
            ][..],
            "PROSODY_AUTH_TYPE=ldap. Set PROSODY_AUTH_TYPE=internal in .env",
            "Set ENABLE_AUTH",
        ),
        (
            &[("AUTH_TYPE", "jwt")][..],
            "Set ENABLE_AUTH=1 and AUTH_TYPE=internal in .env",
            "PROSODY_AUTH_TYPE",
        ),
    ] {
        let run = Test::again(init_stack(extra, &[]))
            .args(["user", "list"])
            .status(2)
            .run();
        assert!(
            run.stderr.contains(want) && !run.stderr.contains(not),
            "{extra:?}: {}",
            run.stderr
        );
    }
}
