//! `jitsi-stack schema`: the variable reference or env.example.

use crate::cli::{SchemaArgs, SchemaFormat};
use crate::{reference, Exit};
use anyhow::Result;
use std::io::Write;

pub fn run(args: SchemaArgs) -> Result<Exit> {
    let text = match args.format {
        SchemaFormat::Markdown => reference::markdown(),
        SchemaFormat::Json => reference::json(),
        SchemaFormat::EnvExample => reference::env_example(),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(Exit::Ok)
}
