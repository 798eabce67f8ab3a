//! The scripts `jitsi-stack completions bash|zsh|fish` print, loaded into
//! the real shell: every item of a list completes (`--with jibri,<TAB>`),
//! `logs` and `restart` complete the stack's service names, and what no
//! script may offer (the hidden `completions services`) is not offered.
//! A shell that is not installed fails the test (.ci/install-deps installs
//! them).

use crate::harness::init_stack;
use crate::Test;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shell's program, or a failure naming what installs it.
fn shell(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run .ci/install-deps (it installs bash, zsh and fish)");
}

/// PATH with the built jitsi-stack first: the scripts run it for the
/// service names, by the name the command line gives (`jitsi-stack`).
fn path_with_bin() -> std::ffi::OsString {
    let bin = assert_cmd::cargo::cargo_bin("jitsi-stack");
    let mut path = vec![bin.parent().unwrap().to_path_buf()];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(path).unwrap()
}

fn lines(out: std::process::Output, what: &str) -> Vec<String> {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// What bash completes for `line` (the last word, possibly empty, being
/// completed): COMP_WORDS as bash would split it, then the function the
/// script registers.
fn bash(script: &Path, cwd: &Path, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let prog = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\n_jitsi__stack jitsi-stack '{}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words[cword],
    );
    let out = Command::new(shell("bash"))
        .args(["--norc", "--noprofile", "-c", &prog])
        .current_dir(cwd)
        .env("PATH", path_with_bin())
        .env_remove("JITSI_STACK_DIR")
        .output()
        .unwrap();
    lines(out, line)
}

/// Runs an interactive zsh on a pseudo-terminal (zsh/zpty), with compinit
/// and the script loaded and `compadd` wrapped to print every match it
/// adds (with the part of the word compset moved to IPREFIX), types the
/// line and TAB, and prints the matches between two markers.
const ZSH_CAPTURE: &str = r#"
zmodload zsh/zpty || exit 3
script=$1 line=$2
# Reads the terminal until it shows $1 (written as \x3c\x3c...\x3e\x3e so
# that the echo of the command printing it does not match).
upto() {
  local chunk
  while [[ $out != *$1* ]]; do
    if (( SECONDS > 30 )); then
      print -ru2 -- "zsh did not show $1 in 30 s: $out"
      exit 4
    fi
    zpty -r -t z chunk && out+=$chunk || sleep 0.02
  done
}
zpty z zsh -f -i
zpty -w z "PROMPT=''; RPROMPT=''; unsetopt prompt_sp zle_bracketed_paste; stty cols 4000; autoload -Uz compinit; compinit -u -D"
zpty -w z "source ${(q)script}"
zpty -w z "bindkey '^I' complete-word; zstyle ':completion:*' menu no"
zpty -w z 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a __h; builtin compadd -A __h "$@"; local m; for m in $__h; do print -r -- "<<${IPREFIX}${m}>>"; done; builtin compadd "$@"; }'
zpty -w z "print '\x3c\x3cBEGIN\x3e\x3e'"
out=""
upto '<<BEGIN>>'
out=""
zpty -n -w z "$line"$'\t'
zpty -n -w z $'\C-u'"print '\x3c\x3cEND\x3e\x3e'"$'\n'
upto '<<END>>'
zpty -d z
print -r -- "$out"
"#;

/// What zsh completes for `line`, through compinit, the script's
/// `compdef` and a real TAB ([`ZSH_CAPTURE`]).
fn zsh(script: &Path, cwd: &Path, line: &str) -> Vec<String> {
    let capture = script.with_file_name("capture.zsh");
    fs::write(&capture, ZSH_CAPTURE).unwrap();
    let out = Command::new(shell("zsh"))
        .arg("-f")
        .arg(&capture)
        .arg(script)
        .arg(line)
        .current_dir(cwd)
        .env("PATH", path_with_bin())
        .env_remove("JITSI_STACK_DIR")
        .output()
        .unwrap();
    let text = lines(out, line).join("\n");
    let mut got = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("<<") {
        let Some(len) = rest[start + 2..].find(">>") else {
            break;
        };
        let item = &rest[start + 2..start + 2 + len];
        rest = &rest[start + 2 + len + 2..];
        if item == "END" {
            break;
        }
        if !item.contains('<') && !got.iter().any(|g| g == item) {
            got.push(item.to_string());
        }
    }
    got
}

/// What fish completes for `line`: `complete -C`, after sourcing the
/// script (the candidates without their descriptions).
fn fish(script: &Path, cwd: &Path, line: &str) -> Vec<String> {
    let out = Command::new(shell("fish"))
        .args(["--no-config", "-c"])
        .arg(format!(
            "source {}; complete -C {}",
            quote(&script.display().to_string()),
            quote(line)
        ))
        .current_dir(cwd)
        .env("PATH", path_with_bin())
        .env_remove("JITSI_STACK_DIR")
        .output()
        .unwrap();
    lines(out, line)
        .into_iter()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect()
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

type Complete = fn(&Path, &Path, &str) -> Vec<String>;

/// The same completions, asked of `shell_name`'s script.
fn completes_lists_services_and_no_hidden_value(shell_name: &str, complete: Complete) {
    shell(shell_name);
    let stack = init_stack(&[("JITSI_STACK_WITH", "jibri")], &[]);
    let run = Test::again(stack).args(["completions", shell_name]).run();
    let script = run.path().join(format!("jitsi-stack.{shell_name}"));
    fs::write(&script, &run.stdout).unwrap();
    let here = run.path();
    let got = |line: &str| {
        let mut items = complete(&script, here, line);
        items.sort();
        items
    };

    // The second and later items of every list, without the ones given,
    // after a flag (also as `--with=...`) and as a positional.
    for (line, prefix) in [
        ("jitsi-stack init --with jibri,", ""),
        ("jitsi-stack up --with jibri,", ""),
        ("jitsi-stack render --with jibri,", ""),
        ("jitsi-stack enable jibri,", ""),
        ("jitsi-stack disable jibri,", ""),
    ] {
        let items = got(line);
        for want in ["jibri,jigasi", "jibri,etherpad", "jibri,log-analyser"] {
            let want = format!("{prefix}{want}");
            assert!(
                items.contains(&want),
                "{shell_name}: {line:?}: {want} not in {items:?}"
            );
        }
        assert!(
            !items.iter().any(|i| i.ends_with("jibri,jibri")),
            "{shell_name}: {line:?}: {items:?}"
        );
    }
    assert_eq!(
        got("jitsi-stack init --with jibri,etherpad,ji"),
        ["jibri,etherpad,jigasi"],
        "{shell_name}"
    );
    // The first item too (clap's completion, or ours for a positional).
    for line in ["jitsi-stack init --with ", "jitsi-stack enable "] {
        let items = got(line);
        for want in ["jibri", "jigasi", "whiteboard"] {
            assert!(
                items.iter().any(|i| i == want),
                "{shell_name}: {line:?}: {want} not in {items:?}"
            );
        }
    }
    // `--with=jibri,`: bash splits it into `--with`, `=` and `jibri,` and
    // replaces only the last; zsh and fish complete the whole word.
    let (line, want) = if shell_name == "bash" {
        ("jitsi-stack up --with = jibri,", "jibri,jigasi")
    } else {
        ("jitsi-stack up --with=jibri,", "--with=jibri,jigasi")
    };
    let items = got(line);
    assert!(items.iter().any(|i| i == want), "{shell_name}: {items:?}");

    // The stack's services (jibri is on), here or in --dir.
    for line in [
        "jitsi-stack logs ",
        "jitsi-stack logs -f ",
        "jitsi-stack restart ",
    ] {
        let services = got(line);
        for s in ["web", "prosody", "jicofo", "jvb", "jibri"] {
            assert!(
                services.iter().any(|x| x == s),
                "{shell_name}: {line:?}: {s} not in {services:?}"
            );
        }
    }
    assert_eq!(
        got("jitsi-stack logs ji"),
        ["jibri", "jicofo"],
        "{shell_name}"
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let line = format!("jitsi-stack --dir {} restart pro", here.display());
    assert_eq!(
        complete(&script, elsewhere.path(), &line),
        ["prosody"],
        "{shell_name}"
    );
    // `--dir=DIR` (bash: `--dir`, `=`, `DIR`), and --color's value is no
    // subcommand.
    let line = if shell_name == "bash" {
        format!(
            "jitsi-stack --color never --dir = {} logs pro",
            here.display()
        )
    } else {
        format!(
            "jitsi-stack --color never --dir={} logs pro",
            here.display()
        )
    };
    assert_eq!(
        complete(&script, elsewhere.path(), &line),
        ["prosody"],
        "{shell_name}: {line}"
    );
    // Not in a stack: no service names (and no error).
    assert!(
        !complete(&script, elsewhere.path(), "jitsi-stack logs ").contains(&"web".to_string()),
        "{shell_name}"
    );
    // A flag's value is not a service; flags still complete.
    assert!(
        !got("jitsi-stack logs --tail ").contains(&"web".to_string()),
        "{shell_name}"
    );
    assert!(
        got("jitsi-stack logs --").contains(&"--follow".to_string()),
        "{shell_name}"
    );

    // The values of positionals.
    let proxies = got("jitsi-stack proxy ");
    for p in ["nginx", "apache", "haproxy", "caddy"] {
        assert!(proxies.iter().any(|x| x == p), "{shell_name}: {proxies:?}");
    }
    // The hidden value the scripts ask service names with is neither a
    // shell nor a flag that completes.
    let shells = got("jitsi-stack completions ");
    for s in ["bash", "zsh", "fish"] {
        assert!(shells.iter().any(|x| x == s), "{shell_name}: {shells:?}");
    }
    assert!(
        !shells.iter().any(|x| x.contains("services")),
        "{shell_name}: {shells:?}"
    );
    let flags = got("jitsi-stack completions --");
    assert!(
        flags.contains(&"--help".to_string()) && !flags.iter().any(|f| f.contains("services")),
        "{shell_name}: {flags:?}"
    );

    // What the scripts ask for, run as they run it.
    let asked = Test::again(run).args(["completions", "services"]).run();
    let names: Vec<&str> = asked.stdout.lines().collect();
    assert!(
        names.contains(&"jibri") && names.contains(&"web"),
        "{names:?}"
    );
}

#[test]
fn bash_completes_every_item_of_a_list_and_the_stacks_services() {
    completes_lists_services_and_no_hidden_value("bash", bash);
}

#[test]
fn zsh_completes_every_item_of_a_list_and_the_stacks_services() {
    completes_lists_services_and_no_hidden_value("zsh", zsh);
}

#[test]
fn fish_completes_every_item_of_a_list_and_the_stacks_services() {
    completes_lists_services_and_no_hidden_value("fish", fish);
}

/// Before: every script listed the hidden `--services` flag.
#[test]
fn no_completion_script_offers_a_hidden_argument() {
    for shell_name in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = Test::new().args(["completions", shell_name]).run();
        assert!(!run.stdout.contains("--services"), "{shell_name}");
    }
}
