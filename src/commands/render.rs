//! `jitsi-stack render [--with LIST] [--diff]`.

use crate::bundle;
use crate::cli::{RenderArgs, Target};
use crate::config::Stack;
use crate::lock::{self, Wait};
use crate::stack::{pki, Model};
use crate::{render, validate, Exit, UsageError};
use anyhow::{bail, Result};
use std::path::Path;

/// A checked stack, its model and its render, as [`prepare`] leaves them.
pub struct Prepared {
    pub stack: Stack,
    /// Built once; the command goes on with it (`up` starts and waits for
    /// its services, the preflight checks it).
    pub model: Model,
    pub out: render::Output,
    /// Whether writing changed anything (a file in effect, `.env` or a
    /// node's bundle); `false` without `write`.
    pub changed: bool,
}

/// Loads, validates, builds the model once and renders; shared with `up`.
/// With `write`, makes the render the one in effect, records the compose
/// settings in `.env` and writes the nodes' bundles (the caller holds the
/// stack lock).
pub fn prepare(dir: &Path, with: &[String], write: bool) -> Result<Prepared> {
    let mut stack = load_checked(dir, with)?;
    let model = Model::build(&stack)?;
    let out = render::render_model(&stack, &model)?;
    // The nodes' bundles: rendered (all or nothing) before anything is written.
    if write && !model.nodes.is_empty() && !model.is_node() {
        pki::ensure(&stack)?;
    }
    let bundles = bundle::render(&stack, &model, pki::load_ca(&stack.config_dir()).as_deref())?;
    let mut changed = false;
    if write {
        changed = render::diff(&stack, &out).has_changes()
            || (!model.is_node() && !bundle::diff(&stack, &bundles).is_empty());
        render::write(&mut stack, &out)?;
        if !model.is_node() {
            for name in bundle::write(&stack, &bundles)? {
                crate::errln!(
                    "removed the bundle of node {name} ({}/{name}/)",
                    bundle::DIR
                );
            }
        }
    }
    Ok(Prepared {
        stack,
        model,
        out,
        changed,
    })
}

/// Loads the stack and validates it: warnings printed, errors refuse.
pub fn load_checked(dir: &Path, with: &[String]) -> Result<Stack> {
    let stack = Stack::load(dir, with)?;
    let report = validate::validate(&stack);
    for f in report
        .findings
        .iter()
        .filter(|f| f.level == validate::Level::Warning)
    {
        crate::errln!("{f}");
    }
    if report.errors() > 0 {
        for f in report
            .findings
            .iter()
            .filter(|f| f.level == validate::Level::Error)
        {
            crate::errln!("{f}");
        }
        bail!(
            "{} has {} error(s); fix them (see `jitsi-stack check`) and run again: nothing was written",
            stack.env_path.display(),
            report.errors()
        );
    }
    Ok(stack)
}

/// The target `render` writes: `--target`, else JITSI_STACK_TARGET.
pub fn target(dir: &Path, flag: Option<Target>) -> Result<Target> {
    if let Some(t) = flag {
        return Ok(t);
    }
    let stack = Stack::load(dir, &[] as &[String])?;
    Ok(match stack.values.get_or(TARGET_VAR, "compose") {
        "kubernetes" => Target::Kubernetes,
        _ => Target::Compose,
    })
}

/// `.env`'s choice of target.
pub const TARGET_VAR: &str = "JITSI_STACK_TARGET";

/// `render --target kubernetes`: writes kubernetes/ under the stack lock.
fn run_kubernetes(dir: &Path, args: &RenderArgs) -> Result<Exit> {
    if args.diff {
        return Err(UsageError(
            "--diff compares the compose render only; for the Kubernetes target run `render --target kubernetes` and `git diff kubernetes/`".into(),
        )
        .into());
    }
    crate::config::env_path(dir)?;
    let _lock = lock::acquire(dir, Wait::default())?;
    let stack = load_checked(dir, &args.with)?;
    let (out, written) = write_kubernetes(&stack, args.secrets)?;
    if written == 0 {
        crate::outln!(
            "nothing changed: the {} files in {}/{} already match .env",
            out.files.len(),
            stack.dir.display(),
            render::kubernetes::DIR
        );
        return Ok(Exit::Ok);
    }
    crate::outln!(
        "rendered {} files into {}/{} ({written} changed); build it with `kubectl kustomize {}/`",
        out.files.len(),
        stack.dir.display(),
        render::kubernetes::DIR,
        render::kubernetes::DIR
    );
    Ok(Exit::Ok)
}

/// Renders and writes `kubernetes/` (the caller holds the stack lock),
/// then the bundles of the nodes that stay outside the cluster; returns the
/// render and how many files changed.
pub fn write_kubernetes(
    stack: &Stack,
    secrets: render::kubernetes::Secrets,
) -> Result<(render::Output, usize)> {
    let out = render::kubernetes::render(stack, secrets)?;
    let settings = render::kubernetes::Settings::read(stack, secrets)?;
    let outside = render::kubernetes::outside_stack(stack, &settings);
    let model = Model::build(&outside)?;
    if !model.nodes.is_empty() {
        pki::ensure(&outside)?;
    }
    let bundles = bundle::render(
        &outside,
        &model,
        pki::load_ca(&outside.config_dir()).as_deref(),
    )?;
    let written = render::kubernetes::write(&stack.dir, &out)?;
    for name in bundle::write(&outside, &bundles)? {
        crate::errln!(
            "removed the bundle of node {name} ({}/{name}/)",
            bundle::DIR
        );
    }
    Ok((out, written))
}

/// What `render` would change in the nodes' bundles (secrets masked).
fn bundles_diff(stack: &Stack, model: &Model) -> Result<String> {
    let bundles = bundle::render(stack, model, pki::load_ca(&stack.config_dir()).as_deref())?;
    Ok(bundle::diff(stack, &bundles))
}

pub fn run(dir: &Path, args: RenderArgs) -> Result<Exit> {
    if target(dir, args.target)? == Target::Kubernetes {
        return run_kubernetes(dir, &args);
    }
    if args.diff {
        // Read-only: no lock. Like diff(1): 0 no change, 1 changes, 2 trouble.
        let Prepared {
            stack, model, out, ..
        } = prepare(dir, &args.with, false)
            .map_err(|e| anyhow::Error::new(UsageError(format!("{e:#}"))))?;
        let diff = render::diff(&stack, &out);
        let bundles = bundles_diff(&stack, &model)?;
        crate::out!("{}{bundles}", diff.text);
        return Ok(if diff.has_changes() || !bundles.is_empty() {
            Exit::Invalid
        } else {
            Exit::Ok
        });
    }
    crate::config::env_path(dir)?;
    let _lock = lock::acquire(dir, Wait::default())?;
    let Prepared {
        stack,
        model,
        out,
        changed,
    } = prepare(dir, &args.with, true)?;
    let components = if stack.components.is_empty() {
        "core only".to_string()
    } else {
        stack
            .components
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if changed {
        crate::outln!(
            "rendered {} files into {} (components: {components})",
            out.files.len(),
            stack.dir.display(),
        );
    } else {
        crate::outln!(
            "nothing changed: the {} files in {} already match .env (components: {components})",
            out.files.len(),
            stack.dir.display(),
        );
    }
    if !model.is_node() && !model.nodes.is_empty() {
        let dirs: Vec<String> = model
            .nodes
            .iter()
            .map(|n| format!("{}/{}/", bundle::DIR, n.name))
            .collect();
        crate::outln!(
            "node bundles: {} (copy each to its node and run `jitsi-stack up` there)",
            dirs.join(", ")
        );
    }
    Ok(Exit::Ok)
}
