//! The journal guard: an unfinished operation (its journal in the stack
//! directory) is seen by every command that reads the stack; only the
//! recovery commands it names run.

use crate::harness::FakeDocker;
use crate::harness::{bin, free_port};
use crate::migrate::{old_stack, stack_tree, tree_diff, upgrade_fake, StandIn};
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
pub fn faked(fake: &FakeDocker, dir: &Path, args: &[&str]) -> Command {
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
    let fake = upgrade_fake();
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

#[test]
fn upgrade_keeps_a_healthy_stack_when_only_the_host_cannot_reach_public_url() {
    // The bridge's health answers (the stand-in), the containers are
    // healthy and jicofo answers inside the stack; PUBLIC_URL's port is closed.
    let standin = StandIn::start();
    let fake = upgrade_fake();
    let stack = old_stack(free_port(), standin.health);
    let run = fake
        .attach(Test::again(stack))
        .args(["upgrade", "--yes", "--smoke-timeout", "2", "--timeout", "5"])
        .run();
    assert!(
        run.stdout.contains("upgraded from stable-10431 to"),
        "{}",
        run.stdout
    );
    // The preview names the image version change; the next step works on
    // this self-signed (localhost) stack.
    assert!(
        run.stdout
            .contains("upgrade . from stable-10431 to stable-11146-2\n")
            && run
                .stdout
                .contains("  set       JITSI_IMAGE_VERSION -> stable-11146-2: was stable-10431"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("next: `jitsi-stack smoke --insecure` probes it as a browser would"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("try `jitsi-stack smoke --insecure` from another machine"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("warning: the upgrade is kept")
            && run.stderr.contains("web, bosh, websocket")
            && run.stderr.contains("hairpin NAT"),
        "{}",
        run.stderr
    );
    assert_eq!(
        crate::migrate::env_of(&run).get("JITSI_STACK_RELEASE"),
        Some(jitsi_stack::schema::PINNED_IMAGE_VERSION)
    );

    // A probe from inside the stack that fails is evidence: undone.
    let stack = old_stack(free_port(), standin.health);
    let before = stack_tree(&stack);
    let fake = upgrade_fake();
    let run = fake
        .attach(Test::again(stack))
        .env("FAKE_FAIL", "exec")
        .args(["upgrade", "--yes", "--smoke-timeout", "2", "--timeout", "5"])
        .status_any()
        .run();
    assert!(
        run.stderr.contains("the upgraded stack is broken: jicofo")
            && run
                .stderr
                .contains("the stack was restored to stable-10431"),
        "{}",
        run.stderr
    );
    assert_eq!(tree_diff(&before, &stack_tree(&run)), Vec::<String>::new());

    // --keep-on-failure keeps it, and says how to go back.
    let stack = old_stack(free_port(), standin.health);
    let fake = upgrade_fake();
    let run = fake
        .attach(Test::again(stack))
        .env("FAKE_FAIL", "exec")
        .args([
            "upgrade",
            "--yes",
            "--keep-on-failure",
            "--smoke-timeout",
            "2",
            "--timeout",
            "5",
        ])
        .status_any()
        .run();
    assert!(
        run.stderr.contains("kept as it is (--keep-on-failure)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        crate::migrate::env_of(&run).get("JITSI_STACK_RELEASE"),
        Some(jitsi_stack::schema::PINNED_IMAGE_VERSION)
    );
    assert!(!journal::path(run.path()).exists());
    drop(standin);
}

/// A stack with prosody accounts and a recording in CONFIG.
fn stack_with_data() -> crate::Run {
    let run = init_stack(&[], &[]);
    let data = run
        .path()
        .join("config/storage/prosody/data/meet%2ejitsi/accounts");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("moderator.dat"), "return { password = \"s\" };\n").unwrap();
    let rec = run.path().join("config/storage/jibri/recordings/r1");
    fs::create_dir_all(&rec).unwrap();
    fs::write(rec.join("a.mp4"), "recording\n").unwrap();
    run
}

fn tar_names(archive: &Path) -> Vec<String> {
    let f = fs::File::open(archive).unwrap();
    let mut t = tar::Archive::new(flate2::read::GzDecoder::new(f));
    t.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn backup_then_restore_brings_the_stack_back_and_refuses_a_damaged_archive() {
    use std::os::unix::fs::PermissionsExt;
    let run = stack_with_data();
    let before = stack_tree(&run);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("site.tar.gz");
    let run = Test::again(run)
        .args(["backup", "--to", file.to_str().unwrap()])
        .run();
    assert!(
        run.stdout.contains("verified, sha256 ")
            && run.stdout.contains("--with-recordings adds the recordings"),
        "{}",
        run.stdout
    );
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let names = tar_names(&file);
    assert_eq!(names[0], "backup.json");
    assert!(names.iter().any(|n| n == "stack/.env"), "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with("accounts/moderator.dat")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("recordings")), "{names:?}");
    // Nothing but the archive beside it.
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 1);

    // The default place, with recordings.
    let run = Test::again(run).args(["backup", "--with-recordings"]).run();
    let default = archives(run.path());
    assert_eq!(default.len(), 1, "{}", run.stdout);
    assert!(tar_names(&default[0])
        .iter()
        .any(|n| n.ends_with("recordings/r1/a.mp4")));

    // Changes since: an account lost, .env edited, a file added.
    let account = run
        .path()
        .join("config/storage/prosody/data/meet%2ejitsi/accounts/moderator.dat");
    fs::remove_file(&account).unwrap();
    fs::write(run.path().join(".env"), "PUBLIC_URL=https://x.example\n").unwrap();
    fs::write(run.path().join("config/web/extra.txt"), "new\n").unwrap();

    // Without --yes and no terminal: refused, unchanged.
    let run = Test::again(run)
        .args(["restore", file.to_str().unwrap()])
        .status(2)
        .run();
    assert!(!account.exists());
    assert!(
        run.stderr
            .contains("Changes made since are lost. Add --yes to confirm"),
        "{}",
        run.stderr
    );

    // A damaged archive is refused before anything changes.
    let bad = out.path().join("bad.tar.gz");
    let bytes = fs::read(&file).unwrap();
    fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let run = Test::again(run)
        .args(["restore", "--yes", bad.to_str().unwrap()])
        .status_any()
        .run();
    assert!(run.stderr.contains("is damaged"), "{}", run.stderr);
    assert!(!journal::path(run.path()).exists());
    assert!(!account.exists());

    let run = Test::again(run)
        .args(["restore", "--yes", file.to_str().unwrap()])
        .run();
    let mut after = stack_tree(&run);
    let mut want = before.clone();
    after.retain(|k, _| !k.starts_with("config/storage/jibri/recordings"));
    want.retain(|k, _| !k.starts_with("config/storage/jibri/recordings"));
    assert_eq!(tree_diff(&want, &after), Vec::<String>::new());
    // Recordings the archive left out are kept, not removed.
    assert!(run
        .path()
        .join("config/storage/jibri/recordings/r1/a.mp4")
        .is_file());
    // And the restored stack is a stack: check passes.
    Test::again(run).args(["check"]).run();
}

/// Medians of `backup` (a default stack, and one with 2,000 prosody
/// accounts) and of `upgrade`'s own time (a fake docker that answers at
/// once, no smoke): `cargo test --test cli -- --ignored --nocapture bench_backup_and_upgrade`.
#[test]
#[ignore = "benchmark, run by hand"]
fn bench_backup_and_upgrade() {
    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    }
    let fake = upgrade_fake();
    let time = |dir: &Path, args: &[&str]| {
        let t = std::time::Instant::now();
        let o = faked(&fake, dir, args).output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        t.elapsed().as_secs_f64()
    };
    let small = init_stack(&[], &[]);
    let big = init_stack(&[], &[]);
    let accounts = big
        .path()
        .join("config/storage/prosody/data/meet%2ejitsi/accounts");
    fs::create_dir_all(&accounts).unwrap();
    for i in 0..2000 {
        fs::write(
            accounts.join(format!("user{i}.dat")),
            format!(
                "return {{\n\t[\"password\"] = \"{:032x}\";\n}};\n",
                i * 7919
            ),
        )
        .unwrap();
    }
    for (name, run) in [("default", &small), ("2000 accounts", &big)] {
        let v: Vec<f64> = (0..7).map(|_| time(run.path(), &["backup"])).collect();
        eprintln!(
            "bench backup {name}: median {:.3} s {v:?}",
            median(v.clone())
        );
    }
    let mut up = vec![];
    for _ in 0..5 {
        let stack = old_stack(free_port(), free_port());
        up.push(time(stack.path(), UPGRADE));
    }
    eprintln!(
        "bench upgrade (fake docker, --no-smoke): median {:.3} s {up:?}",
        median(up.clone())
    );
}
