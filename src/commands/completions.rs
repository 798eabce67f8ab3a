//! `jitsi-stack completions SHELL` and `jitsi-stack man [--dir DIR]`, both
//! generated from the clap definitions that also make `--help`.

use crate::cli::{Cli, CompletionsArgs, CompletionsFor};
use crate::Exit;
use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;

const BIN: &str = "jitsi-stack";

pub fn run(dir: &Path, args: CompletionsArgs) -> Result<Exit> {
    let shell = match args.shell {
        CompletionsFor::Services => return services(dir),
        CompletionsFor::Bash => Shell::Bash,
        CompletionsFor::Zsh => Shell::Zsh,
        CompletionsFor::Fish => Shell::Fish,
        CompletionsFor::Elvish => Shell::Elvish,
        CompletionsFor::Powershell => Shell::PowerShell,
    };
    let script = script(shell);
    crate::out::stdout_bytes(script.as_bytes());
    Ok(Exit::Ok)
}

/// The completion script for `shell`: clap_complete's, and for bash, zsh
/// and fish a function of ours in front of it (the items after the first
/// of a list, the stack's service names).
pub fn script(shell: Shell) -> String {
    let mut cmd = without_hidden_values(Cli::command());
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
    let text = String::from_utf8(buf).expect("clap_complete writes UTF-8");
    match shell {
        Shell::Bash => bash_fixup(&text) + &bash_extras(&cmd),
        Shell::Zsh => zsh_extras(&text, &cmd),
        Shell::Fish => text + &fish_extras(&cmd),
        _ => text,
    }
}

/// `cmd` with every hidden possible value dropped, for the generators:
/// clap_complete's bash script offers a positional's hidden values (and
/// every script a hidden flag: the CLI has none, see the tests).
fn without_hidden_values(mut cmd: clap::Command) -> clap::Command {
    let hiding: Vec<(clap::Id, Vec<clap::builder::PossibleValue>)> = cmd
        .get_arguments()
        .filter(|a| a.get_possible_values().iter().any(|v| v.is_hide_set()))
        .map(|a| {
            let shown = a
                .get_possible_values()
                .into_iter()
                .filter(|v| !v.is_hide_set());
            (a.get_id().clone(), shown.collect())
        })
        .collect();
    for (id, shown) in hiding {
        cmd = cmd.mut_arg(id, |a| {
            a.value_parser(clap::builder::PossibleValuesParser::new(shown))
        });
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for sub in subs {
        cmd = cmd.mut_subcommand(sub, without_hidden_values);
    }
    cmd
}

/// `jitsi-stack completions services`: the service names of the stack in
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

/// The options of the service commands whose next word is their value (a
/// service name is not offered there); never empty, so it can be a `case`
/// pattern.
fn valued_options(cmd: &clap::Command) -> Vec<String> {
    let mut valued: Vec<String> = SERVICE_COMMANDS
        .iter()
        .filter_map(|name| cmd.find_subcommand(name))
        .flat_map(|sub| sub.get_arguments())
        .filter(|a| a.get_action().takes_values() && a.get_long().is_some())
        .map(|a| format!("--{}", a.get_long().unwrap_or_default()))
        .collect();
    valued.sort();
    valued.dedup();
    if valued.is_empty() {
        valued.push("--".to_string());
    }
    valued
}

/// The values of the top-level subcommands' positionals that take one
/// value of a fixed set (`proxy KIND`, `completions SHELL`): clap_complete's
/// fish script completes none of them. Lists are in [`lists`].
fn positional_values(cmd: &clap::Command) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for sub in cmd.get_subcommands() {
        for arg in sub.get_positionals() {
            if arg.get_value_delimiter().is_some() {
                continue;
            }
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            if !values.is_empty() {
                out.push((sub.get_name().to_string(), values));
            }
        }
    }
    out
}

/// The `case` arms that set `list` for bash and zsh: those for a
/// subcommand's list-valued flag (`"SUB FLAG")`) and those for its
/// list-valued positional (`SUB)`); `assign` writes the shell's value
/// (an array for zsh, a word list for bash) from the space-joined items.
fn list_cases(cmd: &clap::Command, assign: impl Fn(&str) -> String) -> (String, String) {
    let mut flags = String::new();
    let mut positionals = String::new();
    for (sub, flag, values) in lists(cmd) {
        let list = assign(&values.join(" "));
        match flag {
            Some(flag) => flags += &format!("        \"{sub} {flag}\") list={list} ;;\n"),
            None => positionals += &format!("            {sub}) list={list} ;;\n"),
        }
    }
    (flags, positionals)
}

/// zsh: clap_complete's `_jitsi-stack` becomes `_jitsi-stack_clap`, and a
/// `_jitsi-stack` of ours, defined before the script registers it, does
/// what clap's cannot (the items after the first of a list, the stack's
/// service names after `logs` and `restart`) and hands the rest to it.
fn zsh_extras(script: &str, cmd: &clap::Command) -> String {
    let (flags, positionals) = list_cases(cmd, |v| format!("({v})"));
    let valued = valued_options(cmd).join("|");
    let services = SERVICE_COMMANDS.join("|");
    let ours = format!(
        r#"
# Lists (`--with jibri,<TAB>`) and the stack's service names (`logs <TAB>`);
# everything else is clap's completion (_jitsi-stack_clap) above.
_jitsi-stack() {{
    local sub="" w i
    local -a dir list given
    for (( i = 2; i < CURRENT; i++ )); do
        w=$words[i]
        case $w in
            -C|--dir) (( i++ )); dir=(--dir "${{(Q)words[i]}}") ;;
            --dir=*) dir=(--dir "${{(Q)w#--dir=}}") ;;
            --color) (( i++ )) ;;
            -*) ;;
            *) [[ -z $sub ]] && sub=$w ;;
        esac
    done
    # The option whose value is being completed: the word before, or the
    # start of this one (`--with=jibri,<TAB>`).
    local prev=$words[CURRENT-1] flag=$words[CURRENT-1]
    [[ $PREFIX == --*=* ]] && flag=${{PREFIX%%=*}}
    case "$sub $flag" in
{flags}    esac
    if (( ! $#list )) && [[ $PREFIX != -* ]]; then
        case $sub in
{positionals}        esac
    fi
    if (( $#list )) && [[ $PREFIX == *,* ]]; then
        compset -P '--*='
        given=(${{(s:,:)PREFIX%,*}})
        compset -P '*,'
        compadd -- ${{list:|given}}
        return
    fi
    case $sub in
        {services})
            case $prev in
                {valued}) ;;
                *)
                    if [[ $PREFIX != -* ]]; then
                        compadd -- ${{(f)"$($words[1] $dir completions services 2>/dev/null)"}}
                        return
                    fi ;;
            esac ;;
    esac
    _jitsi-stack_clap "$@"
}}

"#
    );
    let script = script.replacen("_jitsi-stack() {", "_jitsi-stack_clap() {", 1);
    // The block at the end that calls or registers `_jitsi-stack`.
    let tail = "if [ \"$funcstack[1]\" = \"_jitsi-stack\" ]; then";
    match script.rfind(tail) {
        Some(at) => format!("{}{ours}{}", &script[..at], &script[at..]),
        None => panic!("clap_complete's zsh script no longer ends with {tail:?}"),
    }
}

/// fish: completions added to clap_complete's (fish merges every
/// `complete` that matches): the items of a list after the first, the
/// values of positionals, and the stack's service names.
fn fish_extras(cmd: &clap::Command) -> String {
    let using =
        |sub: &str| format!("complete -c {BIN} -n \"__fish_jitsi_stack_using_subcommand {sub}\"");
    let mut lines = String::new();
    for (sub, flag, values) in lists(cmd) {
        let values = values.join(" ");
        match flag {
            Some(flag) => {
                let long = flag.trim_start_matches('-');
                lines += &format!(
                    "{} -l {long} -r -f -a \"(__jitsi_stack_items {values})\"\n",
                    using(&sub)
                );
            }
            None => lines += &format!("{} -f -a \"(__jitsi_stack_items {values})\"\n", using(&sub)),
        }
    }
    for (sub, values) in positional_values(cmd) {
        lines += &format!("{} -f -a \"{}\"\n", using(&sub), values.join(" "));
    }
    lines += &format!(
        "{} -f -a \"(__jitsi_stack_services)\"\n",
        using(&SERVICE_COMMANDS.join(" "))
    );
    format!(
        r#"
# Lists (`--with jibri,<TAB>`), positionals' values (`proxy <TAB>`) and the
# stack's service names (`logs <TAB>`), which clap's completion above lacks.
function __jitsi_stack_items --description 'Complete every item of a comma-separated list'
    # The token may be `--with=jibri,`: fish puts back what precedes the `=`.
    set -l cur (string replace -r -- '^-[^=]*=' '' (commandline -ct))
    set -l head ''
    set -l given
    if string match -q -- '*,*' $cur
        set head (string replace -r -- '[^,]*$' '' $cur)
        set given (string split -- , $head)
    end
    for v in $argv
        contains -- $v $given; or echo $head$v
    end
end

function __jitsi_stack_services --description "Complete the stack's service names"
    set -l words (commandline -opc)
    set -l dir
    set -l i 2
    while test $i -le (count $words)
        switch $words[$i]
            case -C --dir
                set i (math $i + 1)
                set dir --dir $words[$i]
            case '--dir=*'
                set dir --dir (string replace -- --dir= '' $words[$i])
        end
        set i (math $i + 1)
    end
    $words[1] $dir completions services 2>/dev/null
end

{lines}"#
    )
}

/// What clap_complete's bash script cannot do, in a function that runs
/// before it: the items after the first of a list (`--with jibri,<TAB>`),
/// and the stack's service names after `logs` and `restart` (asked of
/// `jitsi-stack completions services`, with the command line's --dir).
fn bash_extras(cmd: &clap::Command) -> String {
    let (flags, positionals) = list_cases(cmd, |v| format!("\"{v}\""));
    let valued = valued_options(cmd).join("|");
    let services = SERVICE_COMMANDS.join("|");
    format!(
        r#"
# Lists (`--with jibri,<TAB>`) and the stack's service names (`logs <TAB>`);
# everything else is clap's completion above.
_jitsi__stack() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" flag="" sub="" dir="" list="" w i v
    (( COMP_CWORD > 0 )) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    # bash splits `--with=jibri,` into `--with`, `=` and `jibri,`.
    flag="$prev"
    [[ "$prev" == "=" ]] && (( COMP_CWORD > 1 )) && flag="${{COMP_WORDS[COMP_CWORD-2]}}"
    for (( i = 1; i < COMP_CWORD; i++ )); do
        w="${{COMP_WORDS[i]}}"
        case "$w" in
            -C|--dir|--color)
                (( i++ ))
                [[ "${{COMP_WORDS[i]}}" == "=" ]] && (( i++ ))
                [[ "$w" != --color ]] && dir="${{COMP_WORDS[i]}}" ;;
            --dir=*) dir="${{w#--dir=}}" ;;
            -*|=) ;;
            *) [[ -z "$sub" ]] && sub="$w" ;;
        esac
    done
    case "$sub $flag" in
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
                        COMPREPLY=( $(compgen -W "$("${{COMP_WORDS[0]}}" ${{dir:+--dir "$dir"}} completions services 2>/dev/null)" -- "$cur") )
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

    /// clap_complete lists hidden flags in every script: a hidden flag
    /// would show in completion (issue 18). Hidden values are dropped
    /// ([`without_hidden_values`]).
    #[test]
    fn no_argument_is_hidden() {
        fn hidden(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
            for a in cmd.get_arguments().filter(|a| a.is_hide_set()) {
                out.push(format!("{path} {}", a.get_id()));
            }
            for sub in cmd.get_subcommands() {
                hidden(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut found = Vec::new();
        hidden(&Cli::command(), BIN, &mut found);
        assert_eq!(found, Vec::<String>::new());
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
