//! `jitsi-stack completions SHELL` and `jitsi-stack man [--dir DIR]`, both
//! generated from the clap definitions that also make `--help`.

use crate::cli::{Cli, CompletionsArgs};
use crate::Exit;
use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;

const BIN: &str = "jitsi-stack";

pub fn run(args: CompletionsArgs) -> Result<Exit> {
    let script = script(args.shell);
    crate::out::stdout_bytes(script.as_bytes());
    Ok(Exit::Ok)
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
    let text = String::from_utf8(buf).expect("clap_complete writes UTF-8");
    if shell == Shell::Bash {
        bash_fixup(&text)
    } else {
        text
    }
}

/// clap_complete's bash script keys a hyphenated program name two ways:
/// the loop that walks the words sets `cmd="jitsi__stack__subcmd__up"`,
/// while the `case` that completes a subcommand's flags is labelled
/// `jitsi__subcmd__stack__subcmd__up)`, so nothing after a subcommand
/// completes. Rename the labels to the form the loop builds.
fn bash_fixup(script: &str) -> String {
    let wrong = BIN.replace('-', "__subcmd__");
    let right = BIN.replace('-', "__");
    script.replace(&format!("{wrong}__subcmd__"), &format!("{right}__subcmd__"))
}

/// The man page of the whole command, on stdout; with `dir`, that page and
/// one per subcommand (`jitsi-stack-init.1`, `jitsi-stack-user-add.1`, ...)
/// written into `dir`, so every `jitsi-stack-*(1)` it names exists.
pub fn man(dir: Option<&Path>) -> Result<Exit> {
    // No `help` subcommand in the pages: it has no page of its own.
    let cmd = Cli::command().disable_help_subcommand(true);
    match dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            crate::out::stdout_bytes(&out);
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            let mut pages: Vec<String> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(BIN) && n.ends_with(".1"))
                .collect();
            pages.sort();
            crate::outln!(
                "{}: {} pages ({})",
                dir.display(),
                pages.len(),
                pages.join(", ")
            );
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_labels_match_the_loop() {
        let s = script(Shell::Bash);
        assert!(s.contains("cmd=\"jitsi__stack__subcmd__up\""), "loop form");
        assert!(
            s.contains("        jitsi__stack__subcmd__up)"),
            "case label form"
        );
        assert!(
            !s.contains("jitsi__subcmd__stack"),
            "no label in the other form"
        );
    }
}
