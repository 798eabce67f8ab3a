//! The docker runner: every external process jitsi-stack starts goes through
//! here, so tests can put a fake `docker` first on PATH, and so "could not
//! start docker" and "docker exited with N" stay distinct.

use crate::config::Stack;
use crate::schema;
use crate::Exit;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Why running docker failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// Neither `docker compose` nor `docker-compose` could be started.
    #[error("{0}")]
    NotFound(String),
    /// Docker ran and exited non-zero.
    #[error("`{command}` exited with status {status}")]
    Status { command: String, status: i32 },
    /// Docker started but talking to it failed (pipe, signal).
    #[error("running `{command}`: {message}")]
    Io { command: String, message: String },
}

impl DockerError {
    pub fn exit(&self) -> Exit {
        match self {
            DockerError::NotFound(_) => Exit::DockerMissing,
            DockerError::Status { status, .. } => Exit::Docker(*status),
            DockerError::Io { .. } => Exit::Invalid,
        }
    }
}

/// How Docker Compose is invoked on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// The `docker compose` v2 plugin.
    Plugin,
    /// The standalone `docker-compose` binary (v1 or v2).
    Standalone,
}

/// Docker Compose bound to one stack: project name, directory and files.
#[derive(Clone, Debug)]
pub struct Compose {
    pub flavor: Flavor,
    project: String,
    dir: String,
    files: Vec<String>,
}

const NOT_FOUND: &str = "neither `docker compose` (the Docker Compose v2 plugin) nor `docker-compose` could be run: \
install Docker Engine with the compose plugin (Debian/Ubuntu: `apt-get install docker-ce docker-compose-plugin`, \
see https://docs.docker.com/compose/install/), then run this again";

impl Compose {
    /// Finds Docker Compose: the v2 plugin first, then `docker-compose`.
    pub fn detect(stack: &Stack) -> Result<Compose, DockerError> {
        let flavor = if probe(&["docker", "compose", "version"]) {
            Flavor::Plugin
        } else if probe(&["docker-compose", "version"]) {
            Flavor::Standalone
        } else {
            return Err(DockerError::NotFound(NOT_FOUND.into()));
        };
        Ok(Compose::with_flavor(stack, flavor))
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
        let out = child.wait_with_output().map_err(|e| DockerError::Io {
            command: argv.join(" "),
            message: e.to_string(),
        })?;
        check(&argv, out.status.code())?;
        Ok(out)
    }
}

/// The first line a `--version`-style command prints, if it runs and exits 0.
pub fn tool_version(argv: &[&str]) -> Option<String> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let out = command(&argv).stderr(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}

/// The standard output of a host tool (`nft list ...`), if it runs and
/// exits 0; for checks that read the host's state and never change it.
pub fn tool_output(argv: &[&str]) -> Option<String> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let out = command(&argv)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A `docker ... version` probe: true when it runs and exits 0.
fn probe(argv: &[&str]) -> bool {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    command(&argv)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
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
    if e.kind() == std::io::ErrorKind::NotFound {
        DockerError::NotFound(format!("`{}` not found: {NOT_FOUND}", argv[0]))
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
    fn quoting() {
        assert_eq!(shell_quote("up"), "up");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
