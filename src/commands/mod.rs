//! One module per subcommand, each with a `run`.

/// Version of every command's `--json` layout (`format_version`), bumped
/// only on an incompatible change of that command's output.
pub const JSON_FORMAT_VERSION: u32 = 1;

pub mod check;
pub mod completions;
pub mod components;
pub mod config_tree;
pub mod gen_passwords;
pub mod init;
pub mod migrate;
pub mod node;
pub mod ops;
pub mod render;
pub mod report;
pub mod schema;
pub mod upgrade;

use crate::cli::{Cli, Command};
use crate::Exit;
use anyhow::Result;
use std::path::PathBuf;

pub fn dispatch(cli: Cli) -> Result<Exit> {
    let dir = cli.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let _held = guard(&dir, &cli.command, &cli.command_name)?;
    match cli.command {
        Command::Init(args) => init::run(cli.dir.as_deref(), *args),
        Command::GenPasswords(args) => gen_passwords::run(&dir, args),
        Command::Check(args) => check::run(&dir, args),
        Command::Schema(args) => schema::run(args),
        Command::Render(args) => render::run(&dir, args),
        Command::Enable(args) => components::run(&dir, args, true),
        Command::Disable(args) => components::run(&dir, args, false),
        Command::Migrate(args) => migrate::run(cli.dir.as_deref(), args),
        Command::Upgrade(args) => upgrade::run(&dir, args),
        Command::Rollback(args) => upgrade::rollback(&dir, args),
        Command::Backup(args) => upgrade::backup_command(&dir, args),
        Command::Restore(args) => upgrade::restore_command(&dir, args),
        Command::Node(cmd) => node::run(&dir, cmd),
        Command::Completions(args) => completions::run(&dir, args),
        Command::Man => completions::man(cli.dir_on_command_line.then_some(dir.as_path())),
        other => ops::run(&dir, other),
    }
}

/// The one place every command meets an unfinished operation: with a
/// journal in the stack directory (see [`crate::journal`]) only the
/// commands it names as its recovery run; every other command that reads
/// the stack says what was interrupted and how to finish or undo it, and
/// exits 1. Commands that never read a stack (schema, completions, man) run.
/// The journal is read under the lock: an operation in progress is waited
/// for (and then the lock is kept for the command), not reported.
fn guard(
    dir: &std::path::Path,
    command: &Command,
    name: &str,
) -> Result<Option<crate::lock::StackLock>> {
    if matches!(
        command,
        Command::Schema(_) | Command::Completions(_) | Command::Man
    ) {
        return Ok(None);
    }
    // What a killed jitsi-stack left (temp files, possibly holding secrets)
    // goes now, whichever command runs next: when the lock is free (then no
    // writer is working here), without waiting for it.
    let free = if dir.join(crate::lock::LOCK_FILE).exists() {
        crate::lock::acquire(
            dir,
            crate::lock::Wait::default().timeout(std::time::Duration::ZERO),
        )
        .ok()
    } else {
        None
    };
    match crate::journal::pending(dir)? {
        Some(j) if !j.allows(name) => {
            // Read again under the lock: one in progress ends first.
            let held = match free {
                Some(l) => l,
                None => crate::lock::acquire(dir, crate::lock::Wait::default())?,
            };
            match crate::journal::pending(dir)? {
                Some(j) if !j.allows(name) => anyhow::bail!("{}", j.interrupted()),
                _ => Ok(Some(held)),
            }
        }
        _ => Ok(None),
    }
}
