//! `jitsi-stack render [--with LIST] [--diff]`.

use crate::cli::RenderArgs;
use crate::config::{Stack, RELEASE_VAR, WITH_VAR};
use crate::{render, validate, Exit};
use anyhow::{bail, Result};
use std::path::Path;

/// Loads, validates and renders; shared with `up`. Returns the stack and
/// whether anything changed on disk.
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
        // Files first: .env then never names compose files that do not exist.
        render::write(&stack, &out)?;
        record_compose_settings(&mut stack)?;
    }
    Ok((stack, out))
}

/// Records the release, the component set and Compose file list in .env, so
/// later commands and plain `docker compose` use the same files (and a newer
/// jitsi-stack knows the release to upgrade from). Writes `.env`
/// only when one of them changed (it holds the secrets: no needless rewrite).
fn record_compose_settings(stack: &mut Stack) -> Result<()> {
    let with: Vec<&str> = stack.components.iter().map(|c| c.name()).collect();
    let wanted = [
        (RELEASE_VAR, crate::schema::PINNED_IMAGE_VERSION.to_string()),
        (WITH_VAR, with.join(",")),
        ("COMPOSE_FILE", stack.compose_files().join(":")),
        ("COMPOSE_PROJECT_NAME", stack.project_name()),
    ];
    let mut changed = false;
    for (k, v) in wanted {
        if stack.file.get(k) != Some(v.as_str()) {
            stack.file.set(k, &v)?;
            stack.values.set(k, &v);
            changed = true;
        }
    }
    if changed {
        stack.file.write(&stack.env_path)?;
    }
    Ok(())
}

pub fn run(dir: &Path, args: RenderArgs) -> Result<Exit> {
    if args.diff {
        let (stack, out) = prepare(dir, &args.with, false)?;
        let diff = render::diff(&stack, &out);
        print!("{diff}");
        return Ok(Exit::Ok);
    }
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
