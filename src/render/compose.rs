//! The Compose model: typed structs serialised to `docker-compose.yml` and one
//! overlay per component.

use super::Output;
use crate::config::Stack;
use anyhow::Result;

pub fn render(_stack: &Stack, _out: &mut Output) -> Result<()> {
    Ok(())
}
