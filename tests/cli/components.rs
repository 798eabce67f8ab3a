//! `jitsi-stack enable|disable COMPONENT...`: JITSI_STACK_WITH edited in
//! place under the lock, checked first, and the stack rendered again.

use crate::harness::init_stack;
use crate::Test;
use jitsi_stack::envfile::EnvFile;

#[test]
fn enable_and_disable_edit_the_component_list_in_place_and_render() {
    let run = init_stack(&[], &["etherpad"]);
    let before = run.read(".env");
    let run = Test::again(run).args(["enable", "jibri", "turn"]).run();
    assert!(
        run.stdout
            .contains("enabled jibri, turn: JITSI_STACK_WITH=jibri,etherpad,turn"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("set ENABLE_RECORDING=1"),
        "{}",
        run.stdout
    );
    let after = run.read(".env");
    // The same line changed in place; every comment and other line kept in
    // order (the render adds COMPOSE_FILE and COMPOSE_PROJECT_NAME, the
    // recording switch its line).
    let kept = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("COMPOSE_") && !l.starts_with("ENABLE_RECORDING="))
            .map(String::from)
            .collect()
    };
    let want: Vec<String> = kept(&before)
        .into_iter()
        .map(|l| {
            if l == "JITSI_STACK_WITH=etherpad" {
                "JITSI_STACK_WITH=jibri,etherpad,turn".to_string()
            } else {
                l
            }
        })
        .collect();
    assert_eq!(kept(&after), want);
    // Rendered: the overlays are there and compose lists them.
    assert!(run.path().join("jibri.yml").exists());
    assert!(run.path().join("turn.yml").exists());
    let env = EnvFile::read(&run.path().join(".env")).unwrap();
    assert!(env.get("COMPOSE_FILE").unwrap().contains("jibri.yml"));
    // Again: nothing to do, nothing written.
    let run = Test::again(run).args(["enable", "jibri"]).run();
    assert!(
        run.stdout.contains("jibri already enabled"),
        "{}",
        run.stdout
    );
    assert_eq!(run.read(".env"), after);
    // Off again: the list, the recording switch and the render follow.
    let run = Test::again(run).args(["disable", "jibri,etherpad"]).run();
    let env = EnvFile::read(&run.path().join(".env")).unwrap();
    assert_eq!(env.get("JITSI_STACK_WITH"), Some("turn"));
    assert_eq!(env.get("ENABLE_RECORDING"), Some("0"));
    assert!(!env.get("COMPOSE_FILE").unwrap().contains("jibri.yml"));
    assert!(
        run.stdout.contains("jitsi-stack --dir . up"),
        "{}",
        run.stdout
    );
    // An unknown component or one whose set-up is missing: refused, nothing written.
    let kept = run.read(".env");
    let run = Test::again(run).args(["enable", "jibrі"]).status(2).run();
    assert!(run.stderr.contains("unknown component"), "{}", run.stderr);
    let run = Test::again(run).args(["enable", "jigasi"]).status(1).run();
    assert!(
        run.stderr.contains("JIGASI_SIP_URI") && run.stderr.contains("nothing was written"),
        "{}",
        run.stderr
    );
    assert_eq!(run.read(".env"), kept);
}

#[test]
fn a_node_bundle_is_refused() {
    let run = init_stack(&[], &[]);
    let run = Test::again(run)
        .args([
            "node",
            "add",
            "jvb",
            "b2",
            "--address",
            "10.9.0.2",
            "--main-address",
            "10.9.0.1",
        ])
        .run();
    let run = Test::again(run).args(["render"]).run();
    let before = run.read("nodes/b2/.env");
    let run = Test::again(run)
        .args(["--dir", "nodes/b2", "enable", "jibri"])
        .status(2)
        .run();
    assert!(run.stderr.contains("node's bundle"), "{}", run.stderr);
    assert_eq!(run.read("nodes/b2/.env"), before);
}

#[test]
fn disable_jibri_keeps_recording_on_for_recorder_nodes() {
    let run = init_stack(&[], &["jibri"]);
    let run = Test::again(run)
        .args([
            "node",
            "add",
            "jibri",
            "rec",
            "--address",
            "10.9.0.3",
            "--main-address",
            "10.9.0.1",
        ])
        .run();
    let run = Test::again(run).args(["disable", "jibri"]).run();
    let env = EnvFile::read(&run.path().join(".env")).unwrap();
    assert_eq!(env.get("JITSI_STACK_WITH"), Some(""));
    assert_eq!(env.get("ENABLE_RECORDING"), Some("1"));
    assert!(!run.stdout.contains("ENABLE_RECORDING=0"), "{}", run.stdout);
}
