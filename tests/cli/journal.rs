//! The journal guard: an unfinished operation (its journal in the stack
//! directory) is seen by every command that reads the stack; only the
//! recovery commands it names run.

use crate::harness::{bin, free_port};
use crate::migrate::{old_stack, stack_tree, tree_diff, Fake};
use crate::{init_stack, Test};
use jitsi_stack::journal::{self, Journal, Operation, Step};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Writes the journal of an interrupted operation (its writer gone).
pub fn interrupted(dir: &std::path::Path, recovery: &[(&str, &str)]) {
    let op = Operation {
        command: "upgrade".into(),
        title: "an upgrade from stable-10431 to stable-11146-2".into(),
        recovery: recovery
            .iter()
            .map(|(c, d)| (c.to_string(), d.to_string()))
            .collect(),
    };
    let steps = vec![
        Step::new("backing up", "nothing"),
        Step::new("writing the new .env", "restore .env from the archive"),
    ];
    let mut j = Journal::begin(dir, op, steps, serde_json::Value::Null).unwrap();
    j.done(0).unwrap();
    let path = journal::path(dir);
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    v["pid"] = 0x3fff_fff0u32.into(); // above pid_max: gone
    fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn every_command_that_reads_the_stack_reports_an_interrupted_operation() {
    let run = init_stack(&[], &[]);
    interrupted(
        run.path(),
        &[("upgrade", "finish it"), ("rollback", "undo it")],
    );
    let want = "an upgrade from stable-10431 to stable-11146-2 was interrupted at step 2 \
                (writing the new .env): run `jitsi-stack upgrade` to finish it, or \
                `jitsi-stack rollback` to undo it";
    let mut run = run;
    for args in [
        &["check"][..],
        &["status"],
        &["doctor"],
        &["up"],
        &["render"],
        &["ports"],
        &["gen-passwords"],
        &["down"],
        &["logs"],
        &["pull"],
        &["smoke"],
        &["proxy", "nginx"],
        &["node", "list"],
        &["user", "list"],
    ] {
        let t = Test::again(run).args(args).status(1).run();
        assert!(t.stderr.contains(want), "{args:?}: {}", t.stderr);
        run = t;
    }
    // Commands that never read a stack still run.
    let run = Test::again(run).args(["schema"]).run();
    assert!(journal::path(run.path()).is_file());
}

/// `jitsi-stack ARGS` in `dir` with the fake docker first on PATH.
pub fn faked(fake: &Fake, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    let path = format!(
        "{}:{}",
        fake.dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    c.args(args)
        .current_dir(dir)
        .env_remove("JITSI_STACK_DIR")
        .env("PATH", path)
        .env("FAKE_LOG", fake.dir().join("log"))
        .env("FAKE_PS", fake.dir().join("ps.json"))
        .env("JITSI_STACK_POLL_MS", "20")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("backups"))
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

const UPGRADE: &[&str] = &["upgrade", "--yes", "--no-smoke", "--timeout", "5"];

#[test]
fn two_upgrades_at_once_exactly_one_upgrades_and_rollback_restores_the_old_stack() {
    let fake = Fake::new();
    let stack = old_stack(free_port(), free_port());
    let before = stack_tree(&stack);
    // Each waits in `pull` (the fake sleeps), so the two overlap.
    let spawn = || {
        faked(&fake, stack.path(), UPGRADE)
            .env("FAKE_SLEEP", "1")
            .env("JITSI_STACK_LOCK_TIMEOUT", "60")
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    for o in &outs {
        assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    }
    let upgraded = outs
        .iter()
        .filter(|o| text(&o.stdout).contains("upgraded from stable-10431 to"))
        .count();
    let nothing = outs
        .iter()
        .filter(|o| text(&o.stdout).contains("nothing to upgrade"))
        .count();
    assert_eq!((upgraded, nothing), (1, 1), "{outs:?}");
    assert_eq!(fake.log().matches(" pull").count(), 1, "{}", fake.log());
    assert_eq!(archives(stack.path()).len(), 1);
    assert!(!journal::path(stack.path()).exists());

    let back = faked(&fake, stack.path(), &["rollback", "--yes"])
        .output()
        .unwrap();
    assert!(back.status.success(), "{}", text(&back.stderr));
    assert!(
        text(&back.stdout).contains("RELEASE=stable-10431 again"),
        "{}",
        text(&back.stdout)
    );
    assert_eq!(
        tree_diff(&before, &stack_tree(&stack)),
        Vec::<String>::new()
    );
}
