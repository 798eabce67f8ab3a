//! `jitsi-stack completions SHELL` and the hidden `man`.

use crate::cli::{Cli, CompletionsArgs};
use crate::Exit;
use anyhow::Result;
use clap::CommandFactory;

pub fn run(args: CompletionsArgs) -> Result<Exit> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "jitsi-stack", &mut std::io::stdout());
    Ok(Exit::Ok)
}

pub fn man() -> Result<Exit> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
    Ok(Exit::Ok)
}
