//! `jitsi-stack enable|disable COMPONENT...`: edits the component list
//! (`JITSI_STACK_WITH`) in `.env` and renders, under the stack lock. The
//! line is changed in place (comments and order kept), the result checked
//! before it is written (atomically, previous file kept), and the render
//! runs under the same lock, so no other command sees the list half-done.

use crate::cli::ComponentsArgs;
use crate::config::{parse_components, Component, Stack, Values, WITH_VAR};
use crate::envfile::EnvFile;
use crate::lock::{self, Wait};
use crate::{validate, Exit};
use anyhow::{bail, Result};
use std::collections::BTreeSet;
use std::path::Path;

/// The web client's switch for a component's feature, which init sets with
/// it: the component is useless unless the client offers it.
fn switch(c: Component) -> Option<&'static str> {
    match c {
        Component::Jibri => Some("ENABLE_RECORDING"),
        Component::Transcriber => Some("ENABLE_TRANSCRIPTIONS"),
        _ => None,
    }
}

pub fn run(dir: &Path, args: ComponentsArgs, on: bool) -> Result<Exit> {
    let env_path = crate::config::env_path(dir)?;
    let asked = parse_components(&args.components)?;
    let _lock = lock::acquire(dir, Wait::default())?;
    let mut file = EnvFile::read(&env_path)?;
    if crate::stack::nodes::is_bundle(&Values::from_file(&file)) {
        return Err(crate::UsageError(
            "this is a node's bundle, rendered from the main host: enable or disable components there, then copy the bundle again".into(),
        )
        .into());
    }
    let before = parse_components(&[file.get(WITH_VAR).unwrap_or("")])
        .map_err(|e| anyhow::anyhow!("{}: {WITH_VAR}: {e:#}", env_path.display()))?;
    let after: BTreeSet<Component> = if on {
        before.union(&asked).copied().collect()
    } else {
        before.difference(&asked).copied().collect()
    };
    let changed: Vec<Component> = asked
        .iter()
        .copied()
        .filter(|c| before.contains(c) != on)
        .collect();
    let same: Vec<&str> = asked
        .iter()
        .filter(|c| before.contains(c) == on)
        .map(|c| c.name())
        .collect();
    if !same.is_empty() {
        crate::outln!(
            "{} already {}",
            same.join(", "),
            if on { "enabled" } else { "disabled" }
        );
    }
    if changed.is_empty() {
        return Ok(Exit::Ok);
    }
    let list: Vec<&str> = after.iter().map(|c| c.name()).collect();
    file.set(WITH_VAR, &list.join(","))?;
    let mut notes = vec![];
    for c in &changed {
        let Some(var) = switch(*c) else { continue };
        let values = Values::from_file(&file);
        if on && !file.is_set(var) {
            file.set(var, "1")?;
            notes.push(format!(
                "set {var}=1 (the web client offers {c} only with it)"
            ));
        } else if !on && values.bool(var) && !other_provider(&file, *c) {
            file.set(var, "0")?;
            notes.push(format!("set {var}=0 (nothing provides it any more)"));
        }
    }
    refuse_invalid(dir, &env_path, &file)?;
    file.write(&env_path)?;
    crate::outln!(
        "{} {}: {WITH_VAR}={} in {}",
        if on { "enabled" } else { "disabled" },
        changed
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", "),
        list.join(","),
        env_path.display()
    );
    for n in notes {
        crate::outln!("  {n}");
    }
    let super::render::Prepared { stack, out, .. } = super::render::prepare(dir, &[], true)?;
    crate::outln!(
        "rendered {} files into {}",
        out.files.len(),
        stack.dir.display()
    );
    crate::outln!(
        "next: jitsi-stack --dir {} up   ({})",
        dir.display(),
        if on {
            "starts the new services"
        } else {
            "stops and removes their containers; their data in CONFIG is kept"
        }
    );
    Ok(Exit::Ok)
}

/// Whether something other than component `c` still provides its feature:
/// recorder nodes record as the jibri component does.
fn other_provider(file: &EnvFile, c: Component) -> bool {
    use crate::stack::nodes::{nodes, NodeKind};
    c == Component::Jibri && nodes(file).iter().any(|n| n.kind == NodeKind::Jibri)
}

/// Validates `file` as the stack would be: an edit never leaves a broken
/// `.env`; nothing is written when it would.
fn refuse_invalid(dir: &Path, env_path: &Path, file: &EnvFile) -> Result<()> {
    let parsed = EnvFile::parse(&file.render()).expect("an edited .env re-parses");
    let values = Values::from_file(&parsed);
    let components = parse_components(&[values.get_or(WITH_VAR, "")])?;
    let stack = Stack {
        dir: dir.to_path_buf(),
        env_path: env_path.to_path_buf(),
        file: parsed,
        values,
        components,
        branding_files: crate::config::regular_files(&dir.join(crate::layout::BRANDING_DIR)),
    };
    let report = validate::validate(&stack);
    if report.errors() > 0 {
        for f in report
            .findings
            .iter()
            .filter(|f| f.level == validate::Level::Error)
        {
            crate::errln!("{f}");
        }
        bail!(
            "{} would have {} error(s); nothing was written",
            env_path.display(),
            report.errors()
        );
    }
    Ok(())
}
