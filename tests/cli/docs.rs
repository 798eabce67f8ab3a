//! The doc test: every command of every shell block (```` ```sh ````) of
//! README.md and docs/*.md runs against a sandbox, so a documented command
//! or flag that does not exist, or an example that no longer works, fails.
//!
//! Each page gets a sandbox: `HOME` (`~`) holding a stack made by `init`,
//! where every block starts (the pages show commands run in a stack),
//! a root standing in for `/srv`, `/etc` and `/usr/local` (absolute paths in
//! the commands are moved under it), the binary under test as `jitsi-stack`
//! first on PATH and a fake `docker` that reports every service of the
//! stack's compose files healthy. A block's `cd` holds for the rest of the
//! block. Every command must exit 0, unless [`EXPECTED`] gives another
//! status with the reason; lines that are not jitsi-stack commands are in
//! [`SKIPPED`] with the reason they are not run. Both tables must be used:
//! an entry no documented line matches fails the test too.

use crate::harness::{bin, FakeDocker};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Documented lines that are not run, by prefix, and why.
const SKIPPED: &[(&str, &str)] = &[
    (
        "cargo install --path .",
        "installs the binary this test runs (cargo built it already)",
    ),
    ("bash .ci/test", "the test suite itself"),
    ("bash .ci/run", "CI: fmt, clippy and the test suite itself"),
    ("bash bench/run.sh", "benchmarks (hyperfine), not a check"),
    (
        "scripts/layers",
        "development: counts imports across layers (tests/cli/layers.rs runs it)",
    ),
    (
        "scripts/release-history.py",
        "development: reads a docker-jitsi-meet mirror",
    ),
    (
        "scripts/fidelity-matrix",
        "development: needs the upstream mirror and upstream-check (.ci/fidelity runs it)",
    ),
    (
        "../shared/upstream-check/",
        "development: the sibling checker, not part of this repository",
    ),
    (
        "export JITSI_UPSTREAM_GIT=",
        "development: names the upstream mirror",
    ),
    (
        "cargo build --release",
        "development: the binary under test is built already",
    ),
    (
        "kubectl ",
        "needs a Kubernetes cluster (the kubernetes target's files are checked in tests/cli/kubernetes.rs)",
    ),
    (
        "nft -f",
        "loads firewall rules into the host's kernel (the rules file itself is written by the command before it)",
    ),
];

/// Documented commands that end with another status in the sandbox, by
/// page (empty: any) and the command (`=` exactly, else a substring), and why.
const EXPECTED: &[(&str, &str, i32, &str)] = &[
    (
        "",
        "jitsi-stack smoke",
        1,
        "probes the site over HTTPS and its bridges over HTTP: nothing serves them in the sandbox",
    ),
    (
        "",
        "jitsi-stack render --diff",
        1,
        "exit 1 means something would change (before the first render), as documented",
    ),
    (
        "docs/nodes.md",
        "=jitsi-stack up",
        1,
        "up's preflight refuses it: 10.0.0.1, the example's main address, is not an address of the test host",
    ),
    (
        "",
        "--dir /srv/jitsi-bridge-2 doctor",
        1,
        "logs in to the main host at 10.0.0.1 over the network",
    ),
];

/// The services a fake `ps` reports: every service of the compose files
/// given with `-f`.
const FAKE_DOCKER_BODY: &str = r#"files=""; prev=""
for a in "$@"; do [ "$prev" = "-f" ] && files="$files $a"; prev="$a"; done
case "$*" in
  *" ps --all --format json"*)
    for s in $(grep -hE '^  [a-z0-9-]+:$' $files 2>/dev/null | tr -d ' :' | sort -u); do
      printf '{"Service":"%s","State":"running","Health":"healthy","ExitCode":0}\n' "$s"
    done ;;
  *" logs "*) echo "log line from the fake" ;;
  *" exec -T prosody prosodyctl "*) cat > /dev/null ;;
  *" exec -T prosody ls "*) printf 'alice.dat\n' ;;
  *" exec -T jicofo curl "*) printf '\njitsi-stack-probe: HTTP 200\n' ;;
esac
"#;

/// One command of a shell block: where it is and what it says.
#[derive(Debug)]
struct Line {
    file: String,
    line: usize,
    text: String,
}

/// The shell blocks of `text`: for each, its commands (continuation lines
/// joined, comments dropped, `a && b` as two commands).
fn shell_blocks(file: &str, text: &str) -> Vec<Vec<Line>> {
    enum State {
        Outside,
        Shell(Vec<Line>),
        Other,
    }
    let mut blocks = vec![];
    let mut state = State::Outside;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(fence) = raw.strip_prefix("```") {
            state = match std::mem::replace(&mut state, State::Outside) {
                State::Shell(b) => {
                    blocks.push(b);
                    State::Outside
                }
                State::Other => State::Outside,
                State::Outside if matches!(fence.trim(), "sh" | "bash" | "shell") => {
                    State::Shell(vec![])
                }
                State::Outside => State::Other,
            };
            pending = None;
            continue;
        }
        let State::Shell(block) = &mut state else {
            continue;
        };
        let code = strip_comment(raw);
        let (start, mut joined) = pending.take().unwrap_or((n, String::new()));
        if let Some(head) = code.trim_end().strip_suffix('\\') {
            joined.push_str(head);
            pending = Some((start, joined));
            continue;
        }
        joined.push_str(&code);
        for part in joined.split(" && ") {
            let t = part.trim();
            if !t.is_empty() {
                block.push(Line {
                    file: file.into(),
                    line: start,
                    text: t.into(),
                });
            }
        }
    }
    blocks
}

/// `line` without its comment: a `#` outside quotes, at the start or after
/// white space.
fn strip_comment(line: &str) -> String {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return line[..i].into(),
            _ => {}
        }
        prev = c;
    }
    line.into()
}

/// The page's sandbox.
struct Sandbox {
    _dir: tempfile::TempDir,
    _docker: FakeDocker,
    home: PathBuf,
    /// The stack every block starts in.
    stack: PathBuf,
    root: PathBuf,
    path: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let root = dir.path().join("root");
        let tools = dir.path().join("bin");
        for d in [&home, &root, &tools] {
            fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(bin(), tools.join("jitsi-stack")).unwrap();
        let docker = FakeDocker::with(FAKE_DOCKER_BODY);
        // migrate's example source: the stable-9584 fixture, as its owner keeps it
        let src = home.join("docker-jitsi-meet-stable-9584");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/releases/stable-9584"),
            &src,
        );
        fs::copy(src.join("env"), src.join(".env")).unwrap();
        // its CONFIG (`~/.jitsi-meet-cfg` in that .env), with the fixture's data
        copy_dir(&src.join("config"), &home.join(".jitsi-meet-cfg"));
        let path = format!(
            "{}:{}:{}",
            tools.display(),
            docker.dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let sandbox = Sandbox {
            _dir: dir,
            _docker: docker,
            stack: home.join("stack"),
            home,
            root,
            path,
        };
        let out = sandbox.run(
            "jitsi-stack init stack --public-url https://meet.example.org --non-interactive",
            &sandbox.home,
        );
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        sandbox
    }

    /// The command as run here: `cargo run --release --` is the binary,
    /// `scp -r SRC HOST:DST` a copy, absolute paths under the root.
    fn rewrite(&self, cmd: &str) -> String {
        let mut c = cmd.replace("cargo run --release -- ", "jitsi-stack ");
        if let Some(rest) = c.strip_prefix("scp -r ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            if let [src, dst] = words[..] {
                let dst = dst.split_once(':').map_or(dst, |(_, p)| p);
                c = format!("cp -r {src} {dst}");
            }
        }
        let root = self.root.display().to_string();
        let mut out = String::new();
        let mut prev = ' ';
        let mut rest = c.as_str();
        while let Some(ch) = rest.chars().next() {
            let at_word = prev.is_whitespace() || matches!(prev, '>' | '<' | '=' | '\'' | '"');
            if at_word
                && ["/srv/", "/etc/", "/usr/local/"]
                    .iter()
                    .any(|p| rest.starts_with(p))
            {
                out.push_str(&root);
            }
            out.push(ch);
            prev = ch;
            rest = &rest[ch.len_utf8()..];
        }
        out
    }

    /// Runs `cmd` (already rewritten) in `cwd`: creates the files it reads
    /// with `<` (a password) and the directories it writes with `>`.
    fn run(&self, cmd: &str, cwd: &Path) -> std::process::Output {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        if let ["cp", "-r", _, dst] = words[..] {
            if let Some(p) = cwd.join(dst).parent() {
                fs::create_dir_all(p).unwrap();
            }
        }
        for w in words.windows(2) {
            match w[0] {
                "<" => {
                    let f = cwd.join(w[1]);
                    if !f.exists() {
                        fs::write(&f, "correct-horse-battery-staple-42\n").unwrap();
                    }
                }
                ">" => {
                    if let Some(p) = cwd.join(w[1]).parent() {
                        fs::create_dir_all(p).unwrap();
                    }
                }
                _ => {}
            }
        }
        Command::new("timeout")
            .arg("120")
            .args(["sh", "-c", cmd])
            .current_dir(cwd)
            .env_remove("JITSI_STACK_DIR")
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .env("SIP_PASSWORD", "sip-password-from-the-docs-7")
            .env("JITSI_STACK_POLL_MS", "20")
            .output()
            .unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// README.md, then docs/*.md in name order.
fn pages() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = vec!["README.md".to_string()];
    let mut docs: Vec<String> = fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|n| {
            let text = fs::read_to_string(root.join(&n)).unwrap();
            (n, text)
        })
        .collect()
}

#[test]
fn every_documented_command_runs() {
    let mut failures = vec![];
    let mut ran = 0;
    let mut skipped_used = vec![false; SKIPPED.len()];
    let mut expected_used = vec![false; EXPECTED.len()];
    for (file, text) in pages() {
        let sandbox = Sandbox::new();
        for block in shell_blocks(&file, &text) {
            let mut cwd = sandbox.stack.clone();
            for line in block {
                let where_ = format!("{}:{}: `{}`", line.file, line.line, line.text);
                if let Some(i) = SKIPPED.iter().position(|(p, _)| line.text.starts_with(p)) {
                    skipped_used[i] = true;
                    continue;
                }
                let cmd = sandbox.rewrite(&line.text);
                if let Some(dir) = cmd.strip_prefix("cd ") {
                    cwd = cwd.join(dir.trim());
                    if !cwd.is_dir() {
                        failures.push(format!("{where_}: no directory {}", cwd.display()));
                        break;
                    }
                    continue;
                }
                // jitsi-stack, and the steps that set up what the next one reads
                let is_ours = cmd.contains("jitsi-stack ")
                    || cmd.starts_with("cp -r ")
                    || (cmd.starts_with("echo ") && cmd.ends_with(">> .env"));
                if !is_ours {
                    failures.push(format!(
                        "{where_}: not a jitsi-stack command and not in SKIPPED (add it there with the reason)"
                    ));
                    continue;
                }
                let expected = EXPECTED.iter().position(|(page, p, _, _)| {
                    (page.is_empty() || *page == line.file)
                        && match p.strip_prefix('=') {
                            Some(exact) => line.text == exact,
                            None => line.text.contains(p),
                        }
                });
                let want = match expected {
                    Some(i) => {
                        expected_used[i] = true;
                        EXPECTED[i].2
                    }
                    None => 0,
                };
                let out = sandbox.run(&cmd, &cwd);
                ran += 1;
                let got = out.status.code().unwrap_or(-1);
                if got != want {
                    failures.push(format!(
                        "{where_}: exit {got}, expected {want}\n--- stdout\n{}--- stderr\n{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
        }
    }
    for (used, (p, why)) in skipped_used.iter().zip(SKIPPED) {
        if !used {
            failures.push(format!(
                "SKIPPED `{p}` ({why}) matches no documented line: remove it"
            ));
        }
    }
    for (used, (_, p, _, why)) in expected_used.iter().zip(EXPECTED) {
        if !used {
            failures.push(format!(
                "EXPECTED `{p}` ({why}) matches no documented line: remove it"
            ));
        }
    }
    eprintln!("doc test: {ran} documented commands run");
    assert!(ran >= 30, "only {ran} documented commands found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn shell_blocks_join_continuations_and_drop_comments() {
    let text = "x\n```sh\njitsi-stack a \\\n  --b 'c # d'   # comment\n# only\nx && y\n```\n```json\n{\"no\": 1}\n```\n```sh\nz\n```\n";
    let blocks = shell_blocks("f.md", text);
    let got: Vec<Vec<(usize, &str)>> = blocks
        .iter()
        .map(|b| b.iter().map(|l| (l.line, l.text.as_str())).collect())
        .collect();
    assert_eq!(
        got,
        vec![
            vec![(3, "jitsi-stack a   --b 'c # d'"), (6, "x"), (6, "y")],
            vec![(12, "z")]
        ]
    );
}

/// Every `jitsi-stack ...` the pages show outside shell blocks (synopses in
/// other blocks, inline code, headings; `up --force` counts as
/// `jitsi-stack up --force`), each with where it is: (text, "page:line").
fn shown_outside_shell_blocks(
    file: &str,
    text: &str,
    subcommands: &[String],
) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut block: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let at = format!("{file}:{}", i + 1);
        if let Some(fence) = line.strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None => Some(fence.trim().to_string()),
            };
            continue;
        }
        match block.as_deref() {
            Some("sh" | "bash" | "shell") => {}
            Some(_) => {
                if let Some(i) = line.find("jitsi-stack ") {
                    out.push((strip_comment(&line[i..]), at));
                }
            }
            None => {
                for (n, span) in line.split('`').enumerate() {
                    if n % 2 == 0 {
                        continue;
                    }
                    if let Some(i) = span.find("jitsi-stack ") {
                        out.push((span[i..].to_string(), at.clone()));
                    } else if span.contains("--")
                        && span
                            .split_whitespace()
                            .next()
                            .is_some_and(|w| subcommands.iter().any(|s| s == w))
                    {
                        out.push((format!("jitsi-stack {span}"), at.clone()));
                    }
                }
            }
        }
    }
    out
}

/// The (sub)command a shown command line runs, by its names
/// (`["node", "add"]`), and the long flags it shows; `None` when it names
/// no command (`jitsi-stack COMMAND --help`).
fn command_and_flags(root: &clap::Command, text: &str) -> Option<(Vec<String>, Vec<String>)> {
    let words: Vec<&str> = text.split_whitespace().skip(1).collect();
    let mut path = vec![];
    let mut cmd = root;
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if path.is_empty() && matches!(w, "-C" | "--dir" | "--color") {
            i += 2;
            continue;
        }
        if w.starts_with('-') || w.starts_with('[') {
            i += 1;
            continue;
        }
        match cmd.find_subcommand(w) {
            Some(sub) => {
                path.push(w.to_string());
                cmd = sub;
                i += 1;
            }
            None => break,
        }
    }
    if path.is_empty() {
        return None;
    }
    let mut flags = vec![];
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices("--") {
        let before = at.checked_sub(1).map(|b| bytes[b] as char);
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') {
            continue;
        }
        let name: String = text[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            flags.push(name);
        }
    }
    Some((path, flags))
}

/// The integration tests' functions (`fn ...` to the next one), by file.
fn test_functions() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli");
    let mut out = vec![];
    for e in fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".rs") || name == "docs.rs" {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        for body in text.split("\nfn ").skip(1) {
            out.push((name.clone(), body.to_string()));
        }
    }
    out
}

/// The other half of "every command and flag the docs show runs": the
/// flags in synopses, inline code and headings exist on the command they
/// are shown with, and each is run by this doc test (a shell block) or by
/// an integration test that names the command and passes the flag.
#[test]
fn every_documented_flag_exists_and_is_run_by_a_test() {
    use clap::CommandFactory;
    let mut root = jitsi_stack::cli::Cli::command();
    root.build();
    let subcommands: Vec<String> = root
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let functions = test_functions();
    let mut run_here: Vec<(Vec<String>, String)> = vec![];
    let mut shown: Vec<(String, String)> = vec![];
    for (file, text) in pages() {
        for block in shell_blocks(&file, &text) {
            for line in block {
                if let Some((path, flags)) = command_and_flags(&root, &line.text) {
                    run_here.extend(flags.into_iter().map(|f| (path.clone(), f)));
                }
            }
        }
        shown.extend(shown_outside_shell_blocks(&file, &text, &subcommands));
    }
    let mut failures = vec![];
    let mut checked = 0;
    for (text, at) in &shown {
        let Some((path, flags)) = command_and_flags(&root, text) else {
            continue;
        };
        let mut cmd = &root;
        for name in &path {
            cmd = cmd.find_subcommand(name).unwrap();
        }
        let last = path.last().unwrap();
        for flag in flags {
            checked += 1;
            let shown_as = format!("{at}: `{text}`: `jitsi-stack {} --{flag}`", path.join(" "));
            if !cmd
                .get_arguments()
                .any(|a| a.get_long() == Some(flag.as_str()))
            {
                failures.push(format!(
                    "{shown_as}: no such flag (see `jitsi-stack {} --help`)",
                    path.join(" ")
                ));
                continue;
            }
            if matches!(flag.as_str(), "help" | "version" | "dir" | "color") {
                continue;
            }
            let long = format!("--{flag}");
            let here = run_here.iter().any(|(p, f)| p == &path && f == &flag);
            let quoted = [format!("\"{long}\""), format!("\"{long}=")];
            let elsewhere = functions.iter().any(|(_, body)| {
                body.contains(&format!("\"{last}\"")) && quoted.iter().any(|q| body.contains(q))
            });
            if !here && !elsewhere {
                failures.push(format!(
                    "{shown_as}: no test runs it (show it in a ```sh block, or pass it in a test of tests/cli/ that names \"{last}\")"
                ));
            }
        }
    }
    eprintln!(
        "doc test: {checked} flags shown outside shell blocks, {} run in them",
        run_here.len()
    );
    assert!(checked >= 50, "only {checked} documented flags found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
