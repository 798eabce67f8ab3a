//! `jitsi-stack completions SHELL` and `jitsi-stack man [--dir DIR]`, both
//! generated from the clap definitions that also make `--help`.

use crate::cli::{Cli, CompletionsArgs};
use crate::Exit;
use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;

const BIN: &str = "jitsi-stack";

pub fn run(dir: &Path, args: CompletionsArgs) -> Result<Exit> {
    let Some(shell) = args.shell.filter(|_| !args.services) else {
        return services(dir);
    };
    let script = script(shell);
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
        bash_fixup(&text) + &bash_extras(&cmd)
    } else {
        text
    }
}

/// `jitsi-stack completions --services`: the service names of the stack in
/// `dir`, from the deployment model (what `logs` and `restart` take).
fn services(dir: &Path) -> Result<Exit> {
    let stack = crate::config::Stack::load(dir, &[] as &[&str])?;
    let model = crate::stack::Model::build(&stack)?;
    for service in &model.services {
        crate::outln!("{}", service.name);
    }
    Ok(Exit::Ok)
}

/// Subcommands whose positional argument is a service of the stack.
const SERVICE_COMMANDS: &[&str] = &["logs", "restart"];

/// The values of every comma-separated list with known values: (subcommand,
/// its flag or `None` for a positional, the values).
fn lists(cmd: &clap::Command) -> Vec<(String, Option<String>, Vec<String>)> {
    let mut out = Vec::new();
    for sub in cmd.get_subcommands() {
        for arg in sub.get_arguments() {
            if arg.get_value_delimiter() != Some(',') {
                continue;
            }
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            if !values.is_empty() {
                let flag = arg.get_long().map(|l| format!("--{l}"));
                out.push((sub.get_name().to_string(), flag, values));
            }
        }
    }
    out
}

/// What clap_complete's bash script cannot do, in a function that runs
/// before it: the items after the first of a list (`--with jibri,<TAB>`),
/// and the stack's service names after `logs` and `restart` (asked of
/// `jitsi-stack completions --services`, with the command line's --dir).
fn bash_extras(cmd: &clap::Command) -> String {
    let mut flags = String::new();
    let mut positionals = String::new();
    for (sub, flag, values) in lists(cmd) {
        let values = values.join(" ");
        match flag {
            Some(flag) => flags += &format!("        \"{sub} {flag}\") list=\"{values}\" ;;\n"),
            None => positionals += &format!("            {sub}) list=\"{values}\" ;;\n"),
        }
    }
    // Options of the service commands whose next word is their value.
    let mut valued: Vec<String> = SERVICE_COMMANDS
        .iter()
        .filter_map(|name| cmd.find_subcommand(name))
        .flat_map(|sub| sub.get_arguments())
        .filter(|a| a.get_action().takes_values() && a.get_long().is_some())
        .map(|a| format!("--{}", a.get_long().unwrap_or_default()))
        .collect();
    valued.sort();
    valued.dedup();
    let valued = if valued.is_empty() {
        "--".to_string()
    } else {
        valued.join("|")
    };
    let services = SERVICE_COMMANDS.join("|");
    format!(
        r#"
# Lists (`--with jibri,<TAB>`) and the stack's service names (`logs <TAB>`);
# everything else is clap's completion above.
_jitsi__stack() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" sub="" dir="" list="" w i v
    (( COMP_CWORD > 0 )) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    for (( i = 1; i < COMP_CWORD; i++ )); do
        w="${{COMP_WORDS[i]}}"
        case "$w" in
            -C|--dir) (( i++ )); dir="${{COMP_WORDS[i]}}" ;;
            --dir=*) dir="${{w#--dir=}}" ;;
            --color) (( i++ )) ;;
            -*) ;;
            *) [[ -z "$sub" ]] && sub="$w" ;;
        esac
    done
    case "$sub $prev" in
{flags}    esac
    if [[ -z "$list" && "$cur" != -* ]]; then
        case "$sub" in
{positionals}        esac
    fi
    if [[ -n "$list" && "$cur" == *,* ]]; then
        local head="${{cur%,*}}," tail="${{cur##*,}}"
        COMPREPLY=()
        for v in $list; do
            [[ ",$head" == *",$v,"* ]] && continue
            [[ "$v" == "$tail"* ]] && COMPREPLY+=("$head$v")
        done
        return 0
    fi
    case "$sub" in
        {services})
            case "$prev" in
                {valued}) ;;
                *)
                    if [[ "$cur" != -* ]]; then
                        COMPREPLY=( $(compgen -W "$("${{COMP_WORDS[0]}}" ${{dir:+--dir "$dir"}} completions --services 2>/dev/null)" -- "$cur") )
                        return 0
                    fi ;;
            esac ;;
    esac
    _jitsi__stack_clap "$@"
}}
"#
    )
}

/// clap_complete's bash script keys a hyphenated program name two ways:
/// the loop that walks the words sets `cmd="jitsi__stack__subcmd__up"`,
/// while the `case` that completes a subcommand's flags is labelled
/// `jitsi__subcmd__stack__subcmd__up)`, so nothing after a subcommand
/// completes. Rename the labels to the form the loop builds.
fn bash_fixup(script: &str) -> String {
    let wrong = BIN.replace('-', "__subcmd__");
    let right = BIN.replace('-', "__");
    script
        .replace(&format!("{wrong}__subcmd__"), &format!("{right}__subcmd__"))
        // Its entry point is wrapped by [`bash_extras`]'s `_jitsi__stack`.
        .replacen(&format!("_{right}() {{"), &format!("_{right}_clap() {{"), 1)
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
The checked thing is invalid or unhealthy: \fBcheck\fR found errors, \fBdoctor\fR or \fBsmoke\fR a failure, \fBup\fR or \fBrollback\fR a service that failed or was not healthy in time, \fBgen\-passwords\fR a set password that \fBcheck\fR rejects; \fBrender \-\-diff\fR: there are changes.
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
    fn every_list_is_a_top_level_subcommand_s() {
        // `bash_extras` follows lists of top-level subcommands only.
        fn nested(cmd: &clap::Command, depth: usize) -> Vec<String> {
            let mut out = Vec::new();
            for sub in cmd.get_subcommands() {
                if depth > 0
                    && sub
                        .get_arguments()
                        .any(|a| a.get_value_delimiter().is_some())
                {
                    out.push(sub.get_name().to_string());
                }
                out.extend(nested(sub, depth + 1));
            }
            out
        }
        assert_eq!(nested(&Cli::command(), 0), Vec::<String>::new());
        let lists = lists(&Cli::command());
        assert!(lists.iter().any(|(s, f, v)| s == "init"
            && f.as_deref() == Some("--with")
            && v.iter().any(|v| v == "jibri")));
        assert!(lists.iter().any(|(s, f, _)| s == "enable" && f.is_none()));
    }

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
