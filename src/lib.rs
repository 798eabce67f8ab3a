//! jitsi-stack: set up and run a self-hosted Jitsi Meet stack on Docker.

pub mod branding;
pub mod bundle;
pub mod cli;
pub mod color;
pub mod commands;
pub mod config;
pub mod counts;
pub mod docker;
pub mod envfile;
pub mod escape;
pub mod exit;
pub mod firewall;
pub mod fsutil;
pub mod journal;
pub mod layout;
pub mod lock;
pub mod out;
pub mod reference;
pub mod render;
pub mod schema;
pub mod secrets;
pub mod stack;
pub mod tls;
pub mod validate;
pub mod xmpp;
pub mod yaml;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, ValueEnum};
use std::ffi::OsString;

pub use exit::{Exit, UsageError};

/// The whole program: runs it, prints an error once as `error: ...`, and
/// returns the exit code. Output cut short by a closed pipe
/// (`jitsi-stack schema | head`) is not an error: it ends quietly with 0.
pub fn main<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    quiet_broken_pipe_panics();
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let result = std::panic::catch_unwind(move || run(args));
    if let Some(counts) = counts::report() {
        crate::errln!("{counts}");
    }
    match result {
        Ok(Ok(exit)) => exit.code(),
        Ok(Err(err)) if is_broken_pipe(&err) => Exit::Ok.code(),
        Ok(Err(err)) => {
            crate::errln!("{} {err:#}", color::stderr().fail("error:"));
            exit_for(&err).code()
        }
        Err(payload) if is_broken_pipe_panic(payload.as_ref()) => Exit::Ok.code(),
        Err(_) => 101,
    }
}

/// `println!` panics when stdout is a closed pipe; that panic's message is
/// not printed (every other panic is, by the default hook).
fn quiet_broken_pipe_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_broken_pipe_panic(info.payload()) {
            default(info);
        }
    }));
}

fn is_broken_pipe_panic(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    text.contains("failed printing to stdout") && text.contains("Broken pipe")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Parses the command line and runs the command.
pub fn run<I, T>(args: I) -> Result<Exit>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // clap prints help and its own errors before `--color` is parsed: tell
    // it the choice up front.
    let clap_color = match color_flag(&args) {
        Some(cli::ColorChoice::Always) => clap::ColorChoice::Always,
        Some(cli::ColorChoice::Never) => clap::ColorChoice::Never,
        _ => clap::ColorChoice::Auto,
    };
    let mut cmd = cli::Cli::command().color(clap_color);
    let parsed = cmd
        .try_get_matches_from_mut(&args)
        .and_then(|m| cli::Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (mut cli, matches) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let usage = e.use_stderr();
            e.print()?;
            return Ok(if usage { Exit::Usage } else { Exit::Ok });
        }
    };
    cli.dir_on_command_line =
        matches.value_source("dir") == Some(clap::parser::ValueSource::CommandLine);
    cli.command_name = command_name(&matches);
    color::init(cli.color);
    commands::dispatch(cli)
}

/// The subcommand's name as typed: `check`, `node add`.
fn command_name(matches: &clap::ArgMatches) -> String {
    let mut names = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        names.push(name);
        m = sub;
    }
    names.join(" ")
}

/// The `--color` value on the command line, if any (before `--`).
fn color_flag(args: &[OsString]) -> Option<cli::ColorChoice> {
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy());
    let mut found = None;
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let value = match a.strip_prefix("--color") {
            Some("") => it.next().map(|v| v.into_owned()),
            Some(rest) => rest.strip_prefix('=').map(String::from),
            None => continue,
        };
        found = value
            .and_then(|v| cli::ColorChoice::from_str(&v, true).ok())
            .or(found);
    }
    found
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
