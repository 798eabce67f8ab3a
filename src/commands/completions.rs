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
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    match dir {
        None => {
            let mut out = Vec::new();
            page(&cmd, &mut out)?;
            crate::out::stdout_bytes(&out);
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            write_pages(cmd, dir)
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

/// One page per command and subcommand, as `clap_mangen::generate_to`
/// names them, each with the sections [`page`] adds.
fn write_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        write_pages(sub, dir)?;
    }
    let mut out = Vec::new();
    page(&cmd, &mut out)?;
    std::fs::write(dir.join(clap_mangen::Man::new(cmd).get_filename()), out)
}

/// A man page: clap's sections (the `--help` text), then EXIT STATUS,
/// ENVIRONMENT and FILES, which `--help` does not carry, before VERSION.
fn page(cmd: &clap::Command, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    // The conditions of clap_mangen's own `render`.
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    if cmd.get_after_long_help().is_some() || cmd.get_after_help().is_some() {
        man.render_extra_section(w)?;
    }
    w.write_all(EXTRA_SECTIONS.as_bytes())?;
    man.render_version_section(w)?;
    Ok(())
}

/// roff text of the sections every page shares (docs/commands.md, "Exit
/// codes", says the same in Markdown).
const EXTRA_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success.
.TP
\fB1\fR
The checked thing is invalid or unhealthy: \fBcheck\fR found errors, \fBdoctor\fR or \fBsmoke\fR a failure, \fBup\fR a service that failed or was not healthy in time; \fBrender \-\-diff\fR: there are changes.
.TP
\fB2\fR
Usage error: a bad flag or flag value, a missing or unreadable \fI.env\fR, a system directory without \fB\-\-force\fR, a confirmation needed (\fB\-\-yes\fR).
.TP
\fB127\fR
Docker (or Compose, or kubectl) could not be started at all.
.TP
\fBother\fR
The exit status of docker compose or kubectl, passed through.
.SH ENVIRONMENT
.TP
\fBJITSI_STACK_DIR\fR
The stack directory when \fB\-\-dir\fR is not given (default: the current directory).
.TP
\fBNO_COLOR\fR, \fBTERM\fR
No colours when NO_COLOR is set or TERM is dumb; output that is not a terminal is never coloured.
.TP
\fBDOCKER_HOST\fR, \fBPATH\fR
Which Docker daemon to talk to, and where \fBdocker\fR, \fBdocker\-compose\fR and \fBkubectl\fR are found.
.TP
\fBHOME\fR
A home directory is refused as the stack directory or CONFIG unless \fB\-\-force\fR.
.PP
The stack's own settings (JITSI_STACK_TARGET, JITSI_STACK_WITH, CONFIG, ...) are read from \fI.env\fR, not from the environment: see \fBjitsi\-stack schema\fR.
.SH FILES
.TP
\fIDIR/.env\fR
The stack's settings and passwords (mode 0600); \fI.env.bak\fR holds the previous version.
.TP
\fIDIR/docker\-compose.yml\fR, \fIDIR/generated/\fR, \fIDIR/kubernetes/\fR, \fIDIR/nodes/NAME/\fR
Rendered from \fI.env\fR by \fBrender\fR and \fBup\fR; edits are replaced.
.TP
\fICONFIG/\fR
The containers' data (accounts, certificates, recordings), \fB./config\fR by default.
.TP
\fIDIR/branding/\fR
The site's own logos, texts and styles.
.TP
\fIDIR/backups/\fR
Archives written by \fBbackup\fR and \fBupgrade\fR, read by \fBrestore\fR and \fBrollback\fR.
"#;

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
