//! `up`, `down`, `status`, `logs`, `restart`, `pull`: the stack's project
//! and file set handed to Docker Compose.

use crate::cli::{DownArgs, LogsArgs, RestartArgs, StatusArgs, UpArgs};
use crate::commands::init::IMAGE_UID;
use crate::commands::render::prepare;
use crate::config::Stack;
use crate::docker::{Compose, Flavor};
use crate::render::{self, Output};
use crate::{Exit, UsageError};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// `up -d` arguments: orphans of components that were removed go away too.
const UP: &[&str] = &["up", "-d", "--remove-orphans"];

pub fn up(dir: &Path, args: UpArgs) -> Result<Exit> {
    // Held until `up` returns: no other command changes the stack while it
    // renders, starts and waits (a dry run changes nothing and takes none).
    let _lock = if args.dry_run {
        None
    } else {
        Some(crate::lock::acquire(dir, crate::lock::Wait::default())?)
    };
    let (stack, out) = prepare(dir, &args.with, !args.dry_run)?;
    let expected = expected_services(&out)?;
    if args.dry_run {
        let compose = Compose::detect(&stack)
            .unwrap_or_else(|_| Compose::with_flavor(&stack, Flavor::Plugin));
        println!(
            "dry run: would render {} files into {} and run:",
            out.files.len(),
            stack.dir.display()
        );
        println!("  {}", compose.display(UP));
        if !args.no_wait {
            println!(
                "  {}  (until every service is healthy, at most {} s)",
                compose.display(&["ps", "--all", "--format", "json"]),
                args.timeout
            );
        }
        return Ok(Exit::Ok);
    }
    let preflight = super::doctor::preflight(&stack);
    for f in preflight.iter().filter(|f| f.is_warning()) {
        eprintln!("{f}");
    }
    let failures: Vec<_> = preflight.iter().filter(|f| f.is_failure()).collect();
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("{f}");
        }
        anyhow::bail!(
            "preflight found {} problem(s); fix them (see `jitsi-stack doctor`) and run again",
            failures.len()
        );
    }
    make_instance_dirs(&stack)?;
    let compose = Compose::detect(&stack)?;
    compose.run(UP)?;
    if args.no_wait {
        println!(
            "started; not waiting for health (--no-wait). `jitsi-stack status` shows progress."
        );
        return Ok(Exit::Ok);
    }
    let deadline = Duration::from_secs(args.timeout);
    match wait_healthy(&compose, &expected, deadline)? {
        None => {
            let url = stack.values.get_or("PUBLIC_URL", "https://localhost:8443");
            println!("\nJitsi Meet is up: {url}");
            println!("next: `jitsi-stack smoke` to probe it, `jitsi-stack ports` for the firewall, `jitsi-stack logs -f` to watch.");
            Ok(Exit::Ok)
        }
        Some(failing) => {
            eprintln!(
                "\nerror: not healthy after {} s: {}",
                args.timeout,
                failing.join(", ")
            );
            for svc in &failing {
                eprintln!("--- last log lines of {svc}:");
                match compose.output(&["logs", "--no-color", "--tail", "20", svc]) {
                    Ok(text) => eprint!("{text}"),
                    Err(e) => eprintln!("(could not read logs: {e})"),
                }
            }
            eprintln!("fix: `jitsi-stack doctor`, then `jitsi-stack logs SERVICE`; `jitsi-stack up --timeout N` to wait longer");
            Ok(Exit::Invalid)
        }
    }
}

/// Service names of every rendered compose file.
fn expected_services(out: &Output) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for f in &out.files {
        if f.path.starts_with(render::GENERATED_DIR)
            || f.path.extension().is_none_or(|e| e != "yml")
        {
            continue;
        }
        let doc = crate::yaml::parse(&f.contents)
            .with_context(|| format!("reading back {}", f.path.display()))?;
        if let Some(map) = doc.get("services").and_then(|s| s.as_mapping()) {
            names.extend(map.keys().filter_map(|k| k.as_str()).map(String::from));
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Directories of second and later instances (`jvb-2`, `storage/jibri-2`):
/// `init` made the first ones; Docker would create these owned by root.
fn make_instance_dirs(stack: &Stack) -> Result<()> {
    let config = stack.config_dir();
    let owner = crate::fsutil::is_root().then_some((IMAGE_UID, IMAGE_UID));
    crate::fsutil::create_dir_all_mode(&config, 0o755)?;
    for rel in render::compose::config_dirs(stack) {
        // Only new directories are handed over, and never through a symlink.
        if std::fs::symlink_metadata(config.join(&rel)).is_err() {
            crate::fsutil::make_dir_under(&config, Path::new(&rel), 0o755, owner)?;
        }
    }
    Ok(())
}

/// One container as `docker compose ps --format json` reports it.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ServiceState {
    pub service: String,
    pub state: String,
    pub health: String,
}

impl ServiceState {
    fn ready(&self) -> bool {
        self.state == "running" && (self.health.is_empty() || self.health == "healthy")
    }

    fn label(&self) -> String {
        if self.health.is_empty() {
            self.state.clone()
        } else {
            format!("{} ({})", self.state, self.health)
        }
    }
}

/// Parses `ps --format json`: Compose prints a JSON array (older v2) or one
/// object per line (newer).
pub fn parse_ps(text: &str) -> Result<Vec<ServiceState>> {
    let t = text.trim();
    let values: Vec<serde_json::Value> = if t.starts_with('[') {
        serde_json::from_str(t).context("parsing `docker compose ps --format json`")?
    } else {
        t.lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .context("parsing `docker compose ps --format json`")?
    };
    let field = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
    };
    Ok(values
        .iter()
        .map(|v| ServiceState {
            service: field(v, "Service"),
            state: field(v, "State").to_ascii_lowercase(),
            health: field(v, "Health").to_ascii_lowercase(),
        })
        .collect())
}

/// Polls until every expected service runs and is healthy; returns the
/// services still failing at the deadline, or `None` on success.
fn wait_healthy(
    compose: &Compose,
    expected: &[String],
    limit: Duration,
) -> Result<Option<Vec<String>>> {
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut last_line = String::new();
    loop {
        let states = parse_ps(&compose.output(&["ps", "--all", "--format", "json"])?)?;
        let by_name: BTreeMap<&str, &ServiceState> =
            states.iter().map(|s| (s.service.as_str(), s)).collect();
        let mut waiting = Vec::new();
        let mut parts = Vec::new();
        for name in expected {
            match by_name.get(name.as_str()) {
                Some(s) if s.ready() => parts.push(format!("{name}: ok")),
                Some(s) => {
                    parts.push(format!("{name}: {}", s.label()));
                    waiting.push(name.clone());
                }
                None => {
                    parts.push(format!("{name}: missing"));
                    waiting.push(name.clone());
                }
            }
        }
        let elapsed = start.elapsed().as_secs();
        let line = parts.join("  ");
        if tty {
            eprint!("\r\x1b[K[{elapsed:>3}s] {line}");
            let _ = std::io::stderr().flush();
        } else if line != last_line {
            eprintln!("[{elapsed:>3}s] {line}");
        }
        last_line = line;
        if waiting.is_empty() {
            if tty {
                eprintln!();
            }
            return Ok(None);
        }
        if start.elapsed() >= limit {
            if tty {
                eprintln!();
            }
            return Ok(Some(waiting));
        }
        std::thread::sleep(
            poll_interval()
                .min(limit.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(10)),
        );
    }
}

/// Two seconds; tests shorten it with JITSI_STACK_POLL_MS.
fn poll_interval() -> Duration {
    std::env::var("JITSI_STACK_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(2))
}

fn load(dir: &Path) -> Result<(Stack, Compose)> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let compose = Compose::detect(&stack)?;
    Ok((stack, compose))
}

pub fn down(dir: &Path, args: DownArgs) -> Result<Exit> {
    if args.volumes && !args.yes {
        return Err(UsageError(
            "--volumes deletes the stack's named volumes (monitoring and log data); add --yes to confirm".into(),
        )
        .into());
    }
    let (_, compose) = load(dir)?;
    let mut a = vec!["down", "--remove-orphans"];
    if args.volumes {
        a.push("--volumes");
    }
    compose.run(&a)?;
    Ok(Exit::Ok)
}

pub fn status(dir: &Path, args: StatusArgs) -> Result<Exit> {
    let (_, compose) = load(dir)?;
    if args.json {
        let states = parse_ps(&compose.output(&["ps", "--all", "--format", "json"])?)?;
        println!("{}", serde_json::to_string_pretty(&states)?);
    } else {
        compose.run(&["ps", "--all"])?;
    }
    Ok(Exit::Ok)
}

pub fn logs(dir: &Path, args: LogsArgs) -> Result<Exit> {
    let (_, compose) = load(dir)?;
    let tail = args.tail.map(|n| n.to_string());
    let mut a = vec!["logs"];
    if args.follow {
        a.push("--follow");
    }
    if let Some(t) = &tail {
        a.extend(["--tail", t]);
    }
    if let Some(s) = &args.service {
        a.push(s);
    }
    compose.run(&a)?;
    Ok(Exit::Ok)
}

pub fn restart(dir: &Path, args: RestartArgs) -> Result<Exit> {
    let (_, compose) = load(dir)?;
    let mut a = vec!["restart"];
    if let Some(s) = &args.service {
        a.push(s);
    }
    compose.run(&a)?;
    Ok(Exit::Ok)
}

pub fn pull(dir: &Path) -> Result<Exit> {
    let (_, compose) = load(dir)?;
    compose.run(&["pull"])?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_json_both_forms() {
        let lines = "{\"Service\":\"web\",\"State\":\"running\",\"Health\":\"healthy\"}\n{\"Service\":\"jvb\",\"State\":\"running\",\"Health\":\"starting\"}\n";
        let array = "[{\"Service\":\"web\",\"State\":\"running\",\"Health\":\"healthy\"},{\"Service\":\"jvb\",\"State\":\"running\",\"Health\":\"starting\"}]";
        let a = parse_ps(lines).unwrap();
        assert_eq!(a, parse_ps(array).unwrap());
        assert!(a[0].ready());
        assert!(!a[1].ready());
        assert!(parse_ps("").unwrap().is_empty());
    }
}
