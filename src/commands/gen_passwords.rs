//! `jitsi-stack gen-passwords`: fill empty internal secrets; keep set ones
//! unless `--force`.

use crate::cli::GenPasswordsArgs;
use crate::envfile::EnvFile;
use crate::lock::{self, Wait};
use crate::schema::{self, Secret};
use crate::{secrets, Exit, UsageError};
use anyhow::Result;
use std::path::Path;

/// What happened to each secret.
#[derive(Debug, Default)]
pub struct Outcome {
    pub filled: Vec<&'static str>,
    pub kept: Vec<&'static str>,
    /// Kept values that `check` rejects, each with why: `gen-passwords`
    /// never calls them fine (replacing them needs `--force`).
    pub rejected: Vec<(&'static str, String)>,
}

/// Why `check` rejects the set value of the generated secret `name`, by the
/// same rules (the schema's secret rule; a value shared with a secret on an
/// earlier line).
fn rejection(file: &EnvFile, name: &str) -> Option<String> {
    let entry = file.entry(name)?;
    if let Some(weak) = secrets::weakness(&entry.value) {
        return Some(weak.why);
    }
    schema::VARS
        .iter()
        .filter(|v| v.is_secret() && v.deprecated.is_none() && v.name != name)
        .filter_map(|v| file.entry(v.name))
        .find(|e| e.line < entry.line && e.value == entry.value)
        .map(|e| format!("the same password as {} (line {})", e.key, e.line))
}

/// Fills secrets in `file`. `only` limits the set; `force` replaces set values.
pub fn fill(file: &mut EnvFile, only: &[String], force: bool) -> Result<Outcome> {
    for name in only {
        match schema::lookup(name) {
            Some(v) if v.secret == Secret::Generated => {}
            _ => {
                let names: Vec<_> = schema::generated_secrets().map(|v| v.name).collect();
                return Err(UsageError(format!(
                    "--only {name}: not a generated secret; expected one of {}",
                    names.join(", ")
                ))
                .into());
            }
        }
    }
    let mut out = Outcome::default();
    let mut taken: Vec<String> = file.entries().map(|e| e.value.clone()).collect();
    let mut new: Vec<(&'static str, String)> = Vec::new();
    for var in schema::generated_secrets() {
        if !only.is_empty() && !only.iter().any(|n| n == var.name) {
            continue;
        }
        if file.is_set(var.name) && !force {
            match rejection(file, var.name) {
                Some(why) => out.rejected.push((var.name, why)),
                None => out.kept.push(var.name),
            }
            continue;
        }
        let value = loop {
            let v = secrets::generate();
            if !taken.contains(&v) {
                break v;
            }
        };
        taken.push(value.clone());
        new.push((var.name, value));
        out.filled.push(var.name);
    }
    // One re-read of the file for all of them (a large .env costs ~1 ms each).
    let pairs: Vec<(&str, &str)> = new.iter().map(|(k, v)| (*k, v.as_str())).collect();
    file.set_many(&pairs)?;
    Ok(out)
}

pub fn run(dir: &Path, args: GenPasswordsArgs) -> Result<Exit> {
    let path = crate::config::env_path(dir)?;
    // Read, fill and write under the stack lock: a concurrent command's
    // write is never lost, and never undoes this one.
    let _lock = lock::acquire(dir, Wait::default())?;
    let mut file = EnvFile::read(&path)?;
    let outcome = fill(&mut file, &args.only, args.force)?;
    // Nodes without a password get one (an existing one is never replaced:
    // the node's bundle holds it).
    let nodes = if args.only.is_empty() {
        crate::stack::nodes::fill_passwords(&mut file)?
    } else {
        vec![]
    };
    let written = if outcome.filled.is_empty() && nodes.is_empty() {
        path.clone()
    } else {
        file.write(&path)?
    };
    for name in outcome
        .filled
        .iter()
        .copied()
        .chain(nodes.iter().map(String::as_str))
    {
        crate::outln!("generated {name}");
    }
    for name in &outcome.kept {
        crate::outln!("kept      {name} (already set; --force to replace)");
    }
    for (name, why) in &outcome.rejected {
        crate::errln!(
            "error: {name} is set but `check` rejects it: {why}\n  fix:      replace it with `jitsi-stack gen-passwords --force --only {name}` (then `jitsi-stack up`)"
        );
    }
    if args.force && !outcome.filled.is_empty() {
        crate::errln!(
            "note: replaced {}. If this stack has already run, its containers and prosody's \
             account store still hold the old passwords, so the services cannot log in until \
             you run `jitsi-stack up`: it re-renders the configs and Docker Compose recreates \
             every container whose password changed; the prosody image registers the service \
             accounts (focus, jvb, jibri, recorder, jigasi, transcriber) again with the values \
             from .env when it starts. Restart-only (`jitsi-stack restart`) is not enough: it \
             keeps the old environment. The previous .env is in {}.",
            outcome.filled.join(", "),
            crate::fsutil::backup_path(&written).display()
        );
    }
    Ok(if outcome.rejected.is_empty() {
        Exit::Ok
    } else {
        Exit::Invalid
    })
}
