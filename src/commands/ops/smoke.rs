//! `jitsi-stack smoke`: probe a running stack.

use crate::cli::SmokeArgs;
use crate::{Exit, UsageError};
use anyhow::Result;
use std::path::Path;

pub fn run(_dir: &Path, _args: SmokeArgs) -> Result<Exit> {
    Err(UsageError("smoke is not available in this build".into()).into())
}
