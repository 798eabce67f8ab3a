//! `jitsi-stack render [--with LIST] [--diff]`.

use crate::cli::RenderArgs;
use crate::config::Stack;
use crate::lock::{self, Wait};
use crate::{render, validate, Exit, UsageError};
use anyhow::{bail, Result};
use std::path::Path;

/// Loads, validates and renders; shared with `up`. With `write`, makes the
/// render the one in effect and records the compose settings in `.env`
/// (the caller holds the stack lock).
pub fn prepare(dir: &Path, with: &[String], write: bool) -> Result<(Stack, render::Output)> {
    let mut stack = Stack::load(dir, with)?;
    let report = validate::validate(&stack);
    for f in report
        .findings
        .iter()
        .filter(|f| f.level == validate::Level::Warning)
    {
        eprintln!("{f}");
    }
    if report.errors() > 0 {
        for f in report
            .findings
            .iter()
            .filter(|f| f.level == validate::Level::Error)
        {
            eprintln!("{f}");
        }
        bail!(
            "{} has {} error(s); fix them (see `jitsi-stack check`) and run again: nothing was written",
            stack.env_path.display(),
            report.errors()
        );
    }
    let out = render::render_all(&stack)?;
    if write {
        render::write(&mut stack, &out)?;
    }
    Ok((stack, out))
}

pub fn run(dir: &Path, args: RenderArgs) -> Result<Exit> {
    if args.diff {
        // Read-only: no lock. Like diff(1): 0 no change, 1 changes, 2 trouble.
        let (stack, out) = prepare(dir, &args.with, false)
            .map_err(|e| anyhow::Error::new(UsageError(format!("{e:#}"))))?;
        let diff = render::diff(&stack, &out);
        print!("{}", diff.text);
        return Ok(if diff.has_changes() {
            Exit::Invalid
        } else {
            Exit::Ok
        });
    }
    crate::config::env_path(dir)?;
    let _lock = lock::acquire(dir, Wait::default())?;
    let (stack, out) = prepare(dir, &args.with, true)?;
    println!(
        "rendered {} files into {} (components: {})",
        out.files.len(),
        stack.dir.display(),
        if stack.components.is_empty() {
            "core only".to_string()
        } else {
            stack
                .components
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    Ok(Exit::Ok)
}
