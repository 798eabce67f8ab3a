//! Operating commands (up, down, status, logs, ...): being implemented.

use crate::cli::Command;
use crate::{Exit, UsageError};
use anyhow::Result;
use std::path::Path;

pub fn run(_dir: &Path, command: Command) -> Result<Exit> {
    Err(UsageError(format!("{command:?} is not available in this build")).into())
}
