//! Help, version, completions, and a first init/check/render round.

use crate::Test;

#[test]
fn help_lists_the_commands() {
    let run = Test::new().args(["--help"]).run();
    for cmd in ["init", "gen-passwords", "check", "render", "up", "doctor"] {
        assert!(run.stdout.contains(cmd), "{cmd} missing from --help");
    }
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let run = Test::new().args(["check", "--bogus"]).status(2).run();
    assert!(run.stderr.contains("--bogus"));
}

#[test]
fn completions_for_bash() {
    let run = Test::new().args(["completions", "bash"]).run();
    assert!(run.stdout.contains("jitsi-stack"));
    assert!(run.stdout.contains("gen-passwords"));
}

#[test]
fn init_then_check_is_valid() {
    let run = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org:8443",
            "--non-interactive",
        ])
        .run();
    let env = run.read(".env");
    assert!(env.contains("PUBLIC_URL=https://meet.example.org:8443\n"));
    let run = Test::again(run).args(["check"]).run();
    assert!(run.stdout.contains("valid"), "{}", run.stdout);
}

/// A reader that closes the pipe early (`check | head -0`, or stderr
/// closed too) ends the command quietly with its own status: no panic
/// (exit 101), no "Broken pipe" message.
#[test]
fn closed_pipes_end_quietly() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    // An invalid .env: check reports on stderr and exits 1.
    std::fs::write(
        dir.path().join(".env"),
        "PUBLIC_URL=not a url\nHTTP_PORT=x\n",
    )
    .unwrap();
    for args in [&["schema"][..], &["check"][..], &["ports"][..]] {
        // Both ends of each pipe are dropped before the child writes.
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("jitsi-stack"))
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        let code = status.code().expect("exited, not killed");
        assert!(code != 101, "{args:?}: panicked on a closed pipe (101)");
        let expected = if args[0] == "schema" { 0 } else { code };
        assert_eq!(code, expected, "{args:?}");
        assert!(code <= 2, "{args:?}: exit {code}");
    }
}

#[test]
fn render_says_nothing_changed_when_nothing_did() {
    let run = crate::harness::init_stack(&[], &[]);
    let run = Test::again(run).args(["render"]).run();
    assert!(run.stdout.starts_with("rendered "), "{}", run.stdout);
    let run = Test::again(run).args(["render"]).run();
    assert!(
        run.stdout.starts_with("nothing changed: the ") && !run.stdout.contains("rendered"),
        "{}",
        run.stdout
    );
    let env = run.path().join(".env");
    let text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(&env, format!("{text}TZ=Europe/Paris\n")).unwrap();
    let run = Test::again(run).args(["render"]).run();
    assert!(run.stdout.starts_with("rendered "), "{}", run.stdout);
}
