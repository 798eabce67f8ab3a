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
