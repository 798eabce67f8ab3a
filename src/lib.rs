//! jitsi-stack: set up and run a self-hosted Jitsi Meet stack on Docker.

pub mod cli;
pub mod commands;
pub mod config;
pub mod docker;
pub mod envfile;
pub mod exit;
pub mod fsutil;
pub mod lock;
pub mod reference;
pub mod render;
pub mod schema;
pub mod secrets;
pub mod validate;
pub mod yaml;

use anyhow::Result;
use clap::Parser;
use std::ffi::OsString;

pub use exit::Exit;

/// An error caused by how the tool was called (missing .env, bad flag
/// combination): exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses the command line and runs the command.
pub fn run<I, T>(args: I) -> Result<Exit>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            e.print()?;
            return Ok(if usage { Exit::Usage } else { Exit::Ok });
        }
    };
    commands::dispatch(cli)
}

/// The exit status for an error that reached `main`.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    if err.downcast_ref::<UsageError>().is_some() {
        return Exit::Usage;
    }
    if let Some(d) = err.downcast_ref::<docker::DockerError>() {
        return d.exit();
    }
    Exit::Invalid
}
