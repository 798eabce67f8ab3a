//! `jitsi-stack render [--with LIST] [--diff]`.

use crate::cli::RenderArgs;
use crate::config::{Stack, RELEASE_VAR, WITH_VAR};
use crate::stack::{bundle, pki, Model};
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
    let model = Model::build(&stack)?;
    let out = render::render_model(&stack, &model)?;
    // The nodes' bundles: rendered (all or nothing) before anything is written.
    if write && !model.nodes.is_empty() && !model.is_node() {
        pki::ensure(&stack)?;
    }
    let bundles = bundle::render(&stack, &model, pki::load_ca(&stack.config_dir()).as_deref())?;
    if write {
        // Files first: .env then never names compose files that do not exist.
        render::write(&stack, &out)?;
        if !model.is_node() {
            for name in bundle::write(&stack, &bundles)? {
                eprintln!(
                    "removed the bundle of node {name} ({}/{name}/)",
                    bundle::DIR
                );
            }
        }
        record_compose_settings(&mut stack)?;
    }
    Ok((stack, out))
}

/// What `render` would change in the nodes' bundles.
fn bundles_diff(stack: &Stack) -> Result<String> {
    let model = Model::build(stack)?;
    let bundles = bundle::render(stack, &model, pki::load_ca(&stack.config_dir()).as_deref())?;
    Ok(bundle::diff(stack, &bundles))
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
        print!("{}", bundles_diff(&stack)?);
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
    let model = Model::build(&stack)?;
    if !model.is_node() && !model.nodes.is_empty() {
        let dirs: Vec<String> = model
            .nodes
            .iter()
            .map(|n| format!("{}/{}/", bundle::DIR, n.name))
            .collect();
        println!(
            "node bundles: {} (copy each to its node and run `jitsi-stack up` there)",
            dirs.join(", ")
        );
    }
    Ok(Exit::Ok)
}
