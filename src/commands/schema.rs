//! `jitsi-stack schema`: the variable reference or env.example.

use crate::cli::{SchemaArgs, SchemaFormat};
use crate::{reference, Exit};
use anyhow::Result;

pub fn run(args: SchemaArgs) -> Result<Exit> {
    let text = match args.format {
        SchemaFormat::Markdown => reference::markdown(),
        SchemaFormat::Json => reference::json(crate::commands::JSON_FORMAT_VERSION),
        SchemaFormat::EnvExample => reference::env_example(),
    };
    crate::out::stdout_bytes(text.as_bytes());
    Ok(Exit::Ok)
}
