//! Operating commands: thin, typed wrappers over Docker Compose for the
//! stack's project and file set, plus host checks and helpers.

mod doctor;
mod kube;
pub(crate) mod lifecycle;
mod nodes;
mod ports;
mod proxy;
mod site_checks;
pub(crate) mod smoke;
mod user;
mod visitors;
pub(crate) mod watch;

use crate::cli::Command;
use crate::Exit;
use anyhow::Result;
use std::path::Path;

pub use ports::{published_ports, PortRule};

pub fn run(dir: &Path, command: Command) -> Result<Exit> {
    // Every operating command works on an existing stack.
    crate::config::env_path(dir)?;
    match command {
        Command::Up(args) => lifecycle::up(dir, args),
        Command::Down(args) => lifecycle::down(dir, args),
        Command::Status(args) => lifecycle::status(dir, args),
        Command::Logs(args) => lifecycle::logs(dir, args),
        Command::Restart(args) => lifecycle::restart(dir, args),
        Command::Pull => lifecycle::pull(dir),
        Command::Doctor(args) => doctor::run(dir, args),
        Command::Ports(args) => ports::run(dir, args),
        Command::User(cmd) => {
            let _lock = crate::lock::acquire(dir, crate::lock::Wait::default())?;
            user::run(dir, cmd)
        }
        Command::Proxy(args) => proxy::run(dir, args),
        Command::Smoke(args) => smoke::run(dir, args),
        other => unreachable!("{other:?} is dispatched in commands::dispatch"),
    }
}
