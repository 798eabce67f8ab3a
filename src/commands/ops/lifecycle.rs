//! `up`, `down`, `status`, `logs`, `restart`, `pull`: the stack's project
//! and file set handed to Docker Compose. `up` checks Docker first, then
//! watches what it started: one live line per service on a terminal, plain
//! timestamped lines otherwise, and it stops at the first container that
//! exited, restarts in a loop or stays unhealthy, with its last log lines.

use super::watch::{
    log_hints, parse_ps, planned_services, summary, watch, with_missing, Outcome, Planned,
};
use crate::cli::{DownArgs, LogsArgs, RestartArgs, StatusArgs, UpArgs};
use crate::commands::render::{prepare, Prepared};
use crate::config::Stack;
use crate::docker::{Compose, Flavor};
use crate::layout::IMAGE_UID;
use crate::stack::Model;
use crate::{Exit, UsageError};
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

/// `up -d` arguments: orphans of components that were removed go away too.
const UP: &[&str] = &["up", "-d", "--remove-orphans"];

/// `ps` arguments: every container of the project, stopped ones too.
const PS: &[&str] = &["ps", "--all", "--format", "json"];

/// How many log lines of a failing service are shown.
const LOG_LINES: &str = "20";

pub fn up(dir: &Path, args: UpArgs) -> Result<Exit> {
    if super::kube::is_target(dir)? {
        return super::kube::up(dir, args);
    }
    if args.dry_run {
        return dry_run(dir, &args);
    }
    // Docker first: without a daemon nothing below can work, and waiting
    // for containers that never start would take the whole --timeout.
    docker_ready()?;
    // Held until `up` returns: no other command changes the stack while it
    // renders, starts and waits (a dry run changes nothing and takes none).
    let _lock = crate::lock::acquire(dir, crate::lock::Wait::default())?;
    let Prepared { stack, model, .. } = prepare(dir, &args.with, true)?;
    let planned = planned_services(&model);
    let preflight = super::doctor::preflight(&stack, &model);
    let paint = crate::color::stderr();
    for f in preflight.iter().filter(|f| f.is_warning()) {
        crate::errln!("{}", f.render(paint));
    }
    let failures: Vec<_> = preflight.iter().filter(|f| f.is_failure()).collect();
    if !failures.is_empty() {
        for f in &failures {
            crate::errln!("{}", f.render(paint));
        }
        if args.force {
            crate::errln!(
                "{} preflight found {} problem(s); starting anyway (--force)",
                paint.warn("warning:"),
                failures.len()
            );
        } else {
            anyhow::bail!(
                "preflight found {} problem(s): nothing was started; fix them (`jitsi-stack doctor` shows the same checks) and run again, or `jitsi-stack up --force` to start anyway",
                failures.len()
            );
        }
    }
    make_instance_dirs(&stack, &model)?;
    let compose = Compose::detect(&stack)?;
    compose.run(UP)?;
    if args.no_wait {
        crate::outln!(
            "started; not waiting for health (--no-wait). `jitsi-stack status` shows progress."
        );
        if !model.is_node() && !model.nodes.is_empty() {
            crate::outln!("the nodes' XMPP accounts are created by an `up` that waits for prosody: run `jitsi-stack up` once it is healthy.");
        }
        return Ok(Exit::Ok);
    }
    let limit = Duration::from_secs(args.timeout);
    let outcome = watch(|| parse_ps(&compose.output(PS)?), &planned, limit)?;
    match outcome {
        Outcome::Healthy { after } => {
            // The nodes' XMPP accounts, now that prosody is healthy.
            super::nodes::after_up(&stack, &model, &compose)?;
            if model.is_node() {
                crate::outln!("\nthe node's services are up; on the main host, `jitsi-stack smoke` shows them in the brewery.");
            } else {
                summary(&stack, &planned, after);
            }
            Ok(Exit::Ok)
        }
        Outcome::Failed(failed) => {
            crate::errln!();
            for (name, why) in &failed {
                crate::errln!("{} {name} {why}", crate::color::fail("error:"));
            }
            show_logs(&compose, &stack, failed.iter().map(|(n, _)| n.as_str()));
            crate::errln!("fix the cause above, then run `jitsi-stack up` again (`jitsi-stack doctor` checks the host)");
            Ok(Exit::Invalid)
        }
        Outcome::TimedOut(waiting) => {
            crate::errln!(
                "\n{} not healthy after {} s: {}",
                crate::color::fail("error:"),
                args.timeout,
                waiting.join(", ")
            );
            show_logs(&compose, &stack, waiting.iter().map(String::as_str));
            crate::errln!("fix: `jitsi-stack doctor`, then `jitsi-stack logs SERVICE`; `jitsi-stack up --timeout N` to wait longer");
            Ok(Exit::Invalid)
        }
    }
}

fn dry_run(dir: &Path, args: &UpArgs) -> Result<Exit> {
    let Prepared { stack, out, .. } = prepare(dir, &args.with, false)?;
    let compose =
        Compose::detect(&stack).unwrap_or_else(|_| Compose::with_flavor(&stack, Flavor::Plugin));
    crate::outln!(
        "dry run: would render {} files into {} and run:",
        out.files.len(),
        stack.dir.display()
    );
    crate::outln!("  {}", compose.display(UP));
    if !args.no_wait {
        crate::outln!(
            "  {}  (until every service is healthy, at most {} s)",
            compose.display(PS),
            args.timeout
        );
    }
    Ok(Exit::Ok)
}

/// The daemon answers and Compose is usable, or why not (with the fix).
fn docker_ready() -> Result<()> {
    let daemon = super::doctor::daemon_finding();
    if daemon.is_failure() {
        crate::errln!("{}", daemon.render(crate::color::stderr()));
    }
    // A missing or refused Compose is its own error, with its exit status (127).
    crate::docker::find_compose()?;
    if daemon.is_failure() {
        anyhow::bail!(
            "Docker is not ready: the daemon does not answer; nothing was started (`jitsi-stack doctor` checks the host)"
        );
    }
    Ok(())
}

/// Directories of second and later instances (`jvb-2`, `storage/jibri-2`):
/// `init` made the first ones; Docker would create these owned by root.
fn make_instance_dirs(stack: &Stack, model: &Model) -> Result<()> {
    let config = stack.config_dir();
    let owner = crate::fsutil::is_root().then_some((IMAGE_UID, IMAGE_UID));
    crate::fsutil::create_dir_all_mode(&config, 0o755)?;
    for rel in model.config_dirs() {
        // Only new directories are handed over, and never through a symlink.
        if std::fs::symlink_metadata(config.join(&rel)).is_err() {
            crate::fsutil::make_dir_under(&config, Path::new(&rel), 0o755, owner)?;
        }
    }
    Ok(())
}

/// The last log lines of each service, with a hint where they match a
/// known cause.
fn show_logs<'a>(compose: &Compose, stack: &Stack, services: impl Iterator<Item = &'a str>) {
    for svc in services {
        crate::errln!("--- last log lines of {svc}:");
        match compose.output(&["logs", "--no-color", "--tail", LOG_LINES, svc]) {
            Ok(text) => {
                crate::err!("{text}");
                if !text.ends_with('\n') && !text.is_empty() {
                    crate::errln!();
                }
                for hint in log_hints(&text, stack) {
                    crate::errln!("{} {hint}", crate::color::hint("hint:"));
                }
            }
            Err(e) => crate::errln!("(could not read logs: {e})"),
        }
    }
}

/// Waits, as `up` does, for the containers Compose already made for the
/// project (a restored stack of another release: its own compose file, not
/// this release's model, says what it runs) until each one runs and is
/// healthy; `Err` says which failed or are still waiting after `limit`.
pub(crate) fn wait_for_containers(
    compose: &Compose,
    limit: Duration,
) -> Result<std::result::Result<(), String>> {
    let mut names: Vec<String> = parse_ps(&compose.output(PS)?)?
        .into_iter()
        .map(|s| s.service)
        .collect();
    names.sort();
    names.dedup();
    // Docker reports `unhealthy` only after a health check's start period,
    // so none is needed here.
    let planned: Vec<Planned> = names
        .into_iter()
        .map(|name| Planned {
            name,
            start_period: None,
        })
        .collect();
    Ok(
        match watch(|| parse_ps(&compose.output(PS)?), &planned, limit)? {
            Outcome::Healthy { .. } => Ok(()),
            Outcome::Failed(failed) => Err(failed
                .iter()
                .map(|(name, why)| format!("{name} {why}"))
                .collect::<Vec<_>>()
                .join("; ")),
            Outcome::TimedOut(waiting) => Err(format!(
                "not healthy after {} s: {}",
                limit.as_secs(),
                waiting.join(", ")
            )),
        },
    )
}

fn load(dir: &Path) -> Result<(Stack, Compose)> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let compose = Compose::detect(&stack)?;
    Ok((stack, compose))
}

pub fn down(dir: &Path, args: DownArgs) -> Result<Exit> {
    if super::kube::is_target(dir)? {
        return super::kube::down(dir, args);
    }
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
    if super::kube::is_target(dir)? {
        return super::kube::status(dir, args);
    }
    let (stack, compose) = load(dir)?;
    if args.json {
        let states = parse_ps(&compose.output(&["ps", "--all", "--format", "json"])?)?;
        let states = with_missing(states, &Model::build(&stack)?);
        let doc = serde_json::json!({
            "format_version": crate::commands::JSON_FORMAT_VERSION,
            "services": states,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        compose.run(&["ps", "--all"])?;
    }
    Ok(Exit::Ok)
}

pub fn logs(dir: &Path, args: LogsArgs) -> Result<Exit> {
    if super::kube::is_target(dir)? {
        return super::kube::logs(dir, args);
    }
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
    if super::kube::is_target(dir)? {
        return super::kube::restart(dir, args);
    }
    let (_, compose) = load(dir)?;
    let mut a = vec!["restart"];
    if let Some(s) = &args.service {
        a.push(s);
    }
    compose.run(&a)?;
    Ok(Exit::Ok)
}

pub fn pull(dir: &Path) -> Result<Exit> {
    if super::kube::is_target(dir)? {
        return super::kube::pull(dir);
    }
    let (_, compose) = load(dir)?;
    compose.run(&["pull"])?;
    Ok(Exit::Ok)
}
