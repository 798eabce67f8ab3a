//! Data flows down once (issue 17): `up` and `render` build the deployment
//! model once and render once, and `render` takes the lines that hold a
//! secret from that render. The counts come from the debug build's
//! counters (`JITSI_STACK_DEBUG_COUNTS=1`, see `src/counts.rs`).

use crate::harness::{init_stack, FakeDocker};
use crate::{Run, Test};
use std::fs;

fn counts(run: &Run) -> &str {
    run.stderr
        .lines()
        .find(|l| l.starts_with("debug counts: "))
        .unwrap_or_else(|| panic!("no counts in stderr:\n{}", run.stderr))
}

/// The secret-bearing lines the render in effect recorded, by file.
fn recorded_masks(run: &Run) -> serde_json::Value {
    let text = fs::read_to_string(run.path().join("current/.secret-lines.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["files"].clone()
}

#[test]
fn up_builds_the_model_once_and_renders_once() {
    let fake = FakeDocker::new();
    fake.ps(&[
        ("web", "running", "healthy"),
        ("prosody", "running", "healthy"),
        ("jicofo", "running", "healthy"),
        ("jvb", "running", "healthy"),
        ("jibri", "running", "healthy"),
    ]);
    let stack = init_stack(&[], &["jibri"]);
    let run = fake
        .attach(Test::again(stack))
        .env("JITSI_STACK_DEBUG_COUNTS", "1")
        .args(["up", "--timeout", "5"])
        .run();
    // The render, the preflight, the wait and the summary share one model;
    // the first `up` writes the render, with its secret lines.
    assert_eq!(counts(&run), "debug counts: model builds 1, renders 1");
    assert!(run.stdout.contains("Jitsi Meet is up"), "{}", run.stdout);
    let masks = recorded_masks(&run);
    assert!(
        masks["generated/jibri/xmpp.conf"]["lines"]
            .as_object()
            .is_some_and(|l| !l.is_empty()),
        "{masks}"
    );
}

#[test]
fn render_renders_once_and_takes_its_secret_lines_from_that_render() {
    let stack = init_stack(&[], &["jibri", "turn"]);
    let run = Test::again(stack)
        .env("JITSI_STACK_DEBUG_COUNTS", "1")
        .args(["render"])
        .run();
    assert!(run.stdout.contains("rendered"), "{}", run.stdout);
    assert_eq!(counts(&run), "debug counts: model builds 1, renders 1");
    // The recorded lines are the ones holding a password in the files.
    let masks = recorded_masks(&run);
    let env = fs::read_to_string(run.path().join(".env")).unwrap();
    let password = env
        .lines()
        .find_map(|l| l.strip_prefix("JVB_AUTH_PASSWORD="))
        .unwrap()
        .to_string();
    let jvb = run.read("generated/jvb/jvb.conf");
    let with_password: Vec<usize> = jvb
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(&password))
        .map(|(i, _)| i)
        .collect();
    assert!(!with_password.is_empty());
    let lines = masks["generated/jvb/jvb.conf"]["lines"]
        .as_object()
        .unwrap();
    for i in &with_password {
        assert!(lines.contains_key(&i.to_string()), "{i}: {masks}");
    }

    // A diff after new passwords: once, and every changed secret masked.
    let run = Test::again(run).args(["gen-passwords", "--force"]).run();
    let run = Test::again(run)
        .env("JITSI_STACK_DEBUG_COUNTS", "1")
        .args(["render", "--diff"])
        .status(1)
        .run();
    assert_eq!(counts(&run), "debug counts: model builds 1, renders 1");
    assert!(run.stdout.contains("<secret changed>"), "{}", run.stdout);
    assert!(!run.stdout.contains(&password), "{}", run.stdout);
}
