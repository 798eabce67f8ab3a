//! What a new admin's first week tripped over (issue 18): one output
//! convention for every `--json` (docs/commands.md, "Output and `--json`"),
//! `rollback` waiting for health as `up` does, `gen-passwords` naming the
//! weak values `check` rejects (completion of lists and service names is
//! in completion.rs).

use crate::harness::{init_stack, FakeDocker};
use crate::Test;
use clap::CommandFactory;
use std::fs;

/// Every command path (`["node", "list"]`) whose command has a `--json` flag.
fn json_commands() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if cmd.get_arguments().any(|a| a.get_long() == Some("json")) {
            out.push(path.clone());
        }
        for sub in cmd.get_subcommands() {
            path.push(sub.get_name().to_string());
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(&jitsi_stack::cli::Cli::command(), &mut vec![], &mut out);
    out
}

#[test]
fn every_json_output_is_one_object_with_the_format_version() {
    let fake = FakeDocker::new();
    let stack = init_stack(&[], &[]);
    // A docker-jitsi-meet install for `migrate`, with no data to carry.
    fs::create_dir_all(stack.path().join("old")).unwrap();
    fs::write(
        stack.path().join("old/.env"),
        "CONFIG=./cfg\nJITSI_IMAGE_VERSION=stable-10431\nPUBLIC_URL=https://meet.example.org\n",
    )
    .unwrap();
    let mut runs: Vec<Vec<String>> = Vec::new();
    for path in json_commands() {
        let words: Vec<&str> = path.iter().map(String::as_str).collect();
        let extra: &[&str] = match words.as_slice() {
            ["migrate"] => &["--dry-run", "--no-data", "old", "new"],
            ["smoke"] => &["--timeout", "1"],
            ["check"] | ["status"] | ["doctor"] | ["ports"] | ["node", "list"] => &[],
            other => panic!("{other:?} has --json: add it to this test"),
        };
        let mut args: Vec<String> = path.clone();
        args.push("--json".into());
        args.extend(extra.iter().map(|s| s.to_string()));
        runs.push(args);
    }
    // The .env reference is the other machine-readable output.
    runs.push(vec!["schema".into(), "--format".into(), "json".into()]);
    assert!(runs.len() >= 8, "{runs:?}");
    let mut stack = Some(stack);
    for args in runs {
        let run = fake
            .attach(Test::again(stack.take().unwrap()))
            .args(&args)
            .status_any()
            .run();
        // smoke fails here (nothing listens): its report is still the
        // one object on stdout, and the verdict goes to stderr.
        assert!(
            matches!(run.status, 0 | 1),
            "{args:?}: exit {}\n{}",
            run.status,
            run.stderr
        );
        if args[0] == "doctor" {
            crate::harness::doctor_exit(&run);
        }
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not one JSON document ({e}):\n{}\n--- stderr\n{}",
                run.stdout, run.stderr
            )
        });
        assert_eq!(
            doc["format_version"],
            1,
            "{args:?}: no format_version 1 in {}",
            &run.stdout[..run.stdout.len().min(300)]
        );
        stack = Some(run);
    }
}

/// A stack with a backup archive to roll back to (`backup` writes the same
/// metadata `upgrade` does).
fn stack_with_backup(fake: &FakeDocker) -> (crate::Run, String) {
    let run = fake
        .attach(Test::again(init_stack(&[], &[])))
        .args(["backup"])
        .run();
    let archive = fs::read_dir(run.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    (run, archive.to_string_lossy().into_owned())
}

#[test]
fn rollback_waits_for_the_restored_stack_to_be_healthy() {
    // Healthy only at the third look: rollback waits for it, exit 0.
    let fake = FakeDocker::new();
    let (stack, archive) = stack_with_backup(&fake);
    fake.ps_call(1, &[("jvb", "running", "starting"), ("web", "running", "")]);
    fake.ps_call(2, &[("jvb", "running", "starting"), ("web", "running", "")]);
    fake.ps(&[("jvb", "running", "healthy"), ("web", "running", "")]);
    let run = fake
        .attach(Test::again(stack))
        .args(["rollback", "--yes", "--from", &archive, "--timeout", "20"])
        .run();
    assert!(fake.ps_calls() >= 3, "did not wait: {}", fake.log());
    assert!(run.stdout.contains("running and healthy"), "{}", run.stdout);

    // A container that exits: exit 1, naming it, the files restored.
    let fake = FakeDocker::new();
    let (stack, archive) = stack_with_backup(&fake);
    fake.ps_call(1, &[("jvb", "running", "starting")]);
    fake.ps(&[("jvb", "exited", "")]);
    let run = fake
        .attach(Test::again(stack))
        .args(["rollback", "--yes", "--from", &archive])
        .status(1)
        .run();
    assert!(
        run.stderr
            .contains("the restored stack is not healthy: jvb exited with status"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("restored "), "{}", run.stdout);

    // Still starting at the deadline: exit 1, naming what it waited for.
    let fake = FakeDocker::new();
    let (stack, archive) = stack_with_backup(&fake);
    fake.ps(&[("jvb", "running", "starting")]);
    let run = fake
        .attach(Test::again(stack))
        .args(["rollback", "--yes", "--from", &archive, "--timeout", "1"])
        .status(1)
        .run();
    assert!(
        run.stderr.contains("not healthy after 1 s: jvb"),
        "{}",
        run.stderr
    );
}

#[test]
fn gen_passwords_names_the_weak_and_reused_values_check_rejects() {
    let stack = init_stack(&[], &[]);
    let mut env = jitsi_stack::envfile::EnvFile::read(&stack.path().join(".env")).unwrap();
    let jvb = env.get("JVB_AUTH_PASSWORD").unwrap().to_string();
    env.set("JICOFO_AUTH_PASSWORD", "a").unwrap();
    env.set("JIGASI_XMPP_PASSWORD", &jvb).unwrap();
    env.write(&stack.path().join(".env")).unwrap();
    let before = fs::read(stack.path().join(".env")).unwrap();
    let check = Test::again(stack).args(["check"]).status(1).run();
    let run = Test::again(check).args(["gen-passwords"]).status(1).run();
    for (name, why) in [
        ("JICOFO_AUTH_PASSWORD", "only 1 characters long"),
        (
            "JIGASI_XMPP_PASSWORD",
            "the same password as JVB_AUTH_PASSWORD",
        ),
    ] {
        assert!(
            run.stderr.contains(&format!(
                "error: {name} is set but `check` rejects it: {why}"
            )),
            "{name}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains(&format!("gen-passwords --force --only {name}")),
            "{}",
            run.stderr
        );
        assert!(
            !run.stdout.contains(&format!("kept      {name}")),
            "{}",
            run.stdout
        );
    }
    // The first of two equal values is not the reused one; kept, as before.
    assert!(
        run.stdout.contains("kept      JVB_AUTH_PASSWORD"),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read(run.path().join(".env")).unwrap(), before);
    // Replaced as the fix says, check accepts the file and gen-passwords is quiet.
    let run = Test::again(run)
        .args([
            "gen-passwords",
            "--force",
            "--only",
            "JICOFO_AUTH_PASSWORD",
            "JIGASI_XMPP_PASSWORD",
        ])
        .run();
    let run = Test::again(run).args(["gen-passwords"]).run();
    assert!(!run.stderr.contains("error:"), "{}", run.stderr);
    Test::again(run).args(["check"]).run();
}

#[test]
fn migrate_takes_the_release_and_more_components_from_flags() {
    let t = Test::new().write(
        "old/.env",
        "CONFIG=./cfg\nPUBLIC_URL=https://meet.example.org\n",
    );
    let report = |run: &crate::Run| -> serde_json::Value {
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
    };
    // Neither .env nor a compose file names the release: unknown.
    let run = t
        .args(["migrate", "--dry-run", "--json", "--no-data", "old", "new"])
        .run();
    let doc = report(&run);
    assert_eq!(doc["source_release_from"], "unknown", "{doc}");
    assert_eq!(doc["components"], serde_json::json!([]));
    let run = Test::again(run)
        .args([
            "migrate",
            "--dry-run",
            "--json",
            "--no-data",
            "--from-release",
            "stable-10431",
            "--with",
            "jibri,etherpad",
            "old",
            "new",
        ])
        .run();
    let doc = report(&run);
    assert_eq!(doc["source"]["release"], "stable-10431", "{doc}");
    assert_eq!(doc["source_release_from"], "flag");
    assert_eq!(doc["components"], serde_json::json!(["jibri", "etherpad"]));
    assert!(!run.path().join("new").exists(), "a dry run wrote");
}
