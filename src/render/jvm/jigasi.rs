//! Rendering of jigasi's configuration.

use crate::config::Stack;
use crate::render::Output;
use anyhow::Result;
use minijinja::{Environment, Value};

/// Templates this module renders: (name under templates/, source).
pub static TEMPLATES: &[(&str, &str)] = &[];

pub fn render(
    _env: &Environment<'_>,
    _stack: &Stack,
    _ctx: &Value,
    _out: &mut Output,
) -> Result<()> {
    Ok(())
}
