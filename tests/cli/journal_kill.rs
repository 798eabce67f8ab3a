//! Kill tests of the journaled operations (issue 16): `upgrade`,
//! `rollback`, `backup` and `restore` are killed (SIGKILL, injected by
//! strace) at their rename, mkdir, symlink, unlink, rmdir and fsync calls
//! and at every Nth write. After each kill the stack is either as it was or
//! every command reports the interrupted operation; the documented recovery
//! then ends in exactly the state of an uninterrupted run (compared as a
//! tree: names, types, modes, owners, contents, link targets), and no temp
//! file survives the next command.
//!
//! `JITSI_TEST_KILL_POINTS=N` runs N kill points per operation, spread over
//! all of them (default 36); `all` runs every one.

use crate::harness::FakeDocker;
use crate::harness::{bin, free_port};
use crate::init_stack;
use crate::journal::faked;
use crate::migrate::{old_stack, upgrade_fake};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::KILL_CALLS as CALLS;
/// Every WRITE_EVERYth write is a kill point too.
const WRITE_EVERY: usize = 20;

/// A stack's state as compared: every path but backups/ and the lock.
pub(crate) type Tree = BTreeMap<PathBuf, String>;

pub(crate) fn tree(root: &Path) -> Tree {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let p = root.join(&rel);
        let m = fs::symlink_metadata(&p).unwrap();
        let head = format!("{:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid());
        let node = if m.file_type().is_symlink() {
            format!("link {}", fs::read_link(&p).unwrap().display())
        } else if m.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                let name = e.unwrap().file_name();
                let r = rel.join(&name);
                if r != Path::new("backups") && r != Path::new(".jitsi-stack.lock") {
                    stack.push(r);
                }
            }
            format!("dir {head}")
        } else {
            let bytes = fs::read(&p).unwrap();
            format!("file {head} {}", String::from_utf8_lossy(&bytes))
        };
        out.insert(rel, node);
    }
    out
}

pub(crate) fn diff(a: &Tree, b: &Tree) -> Vec<String> {
    let mut out = vec![];
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("gone: {}", k.display())),
            Some(w) if w != v => out.push(format!("changed: {}", k.display())),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push(format!("new: {}", k.display()));
    }
    out.truncate(12);
    out
}

/// Temp files, stages and set-aside copies anywhere under `root`.
pub(crate) fn temps(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = fs::read_dir(&p) else { continue };
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.')
                && (name.contains(".tmp-") || name.contains(".stage-") || name.contains(".old-"))
            {
                out.push(e.path());
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// A scratch directory at a fixed place on tmpfs, so every copy of the
/// stack has the same absolute path (rendered files name it).
pub(crate) struct Scratch {
    root: PathBuf,
}

impl Scratch {
    pub(crate) fn new(tag: &str) -> Scratch {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let root = base.join(format!("jitsi-kill-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        Scratch { root }
    }
    pub(crate) fn work(&self) -> PathBuf {
        self.root.join("stack")
    }
    /// `base` copied to the work path (modes, owners, links kept).
    pub(crate) fn reset(&self, base: &Path) -> PathBuf {
        let w = self.work();
        let _ = fs::remove_dir_all(&w);
        let st = Command::new("cp")
            .arg("-a")
            .arg(base)
            .arg(&w)
            .status()
            .unwrap();
        assert!(st.success());
        w
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn strace(fake: &FakeDocker, dir: &Path, extra: &[&str], args: &[&str]) -> Output {
    let c = faked(fake, dir, args);
    let prog = c.get_program().to_owned();
    let argv: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)> = c
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
        .collect();
    let mut s = Command::new("strace");
    s.args(["-f", "-qq"]).args(extra).arg(prog).args(argv);
    s.current_dir(dir).env("JITSI_STACK_IO_THREADS", "1");
    for (k, v) in envs {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    s.output().expect("strace (installed by .ci/install-deps)")
}

/// Kill points of a run of `args` in a copy of `base`: (call, n).
fn kill_points(
    scratch: &Scratch,
    base: &Path,
    fake: &FakeDocker,
    args: &[&str],
    write_every: usize,
) -> Vec<(String, usize)> {
    let w = scratch.reset(base);
    let log = scratch.root.join("strace.log");
    let names: Vec<&str> = CALLS.iter().copied().chain(["write"]).collect();
    let out = strace(
        fake,
        &w,
        &[
            "-o",
            log.to_str().unwrap(),
            &format!("-etrace={}", names.join(",")),
        ],
        args,
    );
    assert!(out.status.success(), "{:?}", out);
    // Counted per process and thread: strace counts each tracee's calls.
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in fs::read_to_string(&log).unwrap().lines() {
        let mut it = line.split_whitespace();
        let pid = it.next().unwrap_or("").to_string();
        if let Some(call) = it.next().and_then(|c| c.split_once('(')).map(|(n, _)| n) {
            if names.contains(&call) {
                *counts.entry((call.to_string(), pid)).or_insert(0) += 1;
            }
        }
    }
    let mut max: BTreeMap<String, usize> = BTreeMap::new();
    for ((call, _), n) in counts {
        let m = max.entry(call).or_insert(0);
        *m = (*m).max(n);
    }
    let mut points = vec![];
    for (call, n) in max {
        let step = if call == "write" { write_every } else { 1 };
        points.extend((1..=n).step_by(step).map(|k| (call.clone(), k)));
    }
    points
}

/// The points to run: all, or `JITSI_TEST_KILL_POINTS` spread evenly.
fn sample(points: Vec<(String, usize)>) -> Vec<(String, usize)> {
    let want = match std::env::var("JITSI_TEST_KILL_POINTS").as_deref() {
        Ok("all") => usize::MAX,
        Ok(n) => n.parse().unwrap_or(36),
        Err(_) => 36,
    };
    if points.len() <= want {
        return points;
    }
    (0..want)
        .map(|i| points[i * points.len() / want].clone())
        .collect()
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// What one operation's kill runs found.
#[derive(Default, Debug)]
struct Tally {
    points: usize,
    killed: usize,
    reported: usize,
    failures: Vec<String>,
}

impl Tally {
    fn report(&self, op: &str, total: usize) {
        eprintln!(
            "kill test {op}: {} kill points of {total} run, {} killed, {} left a journal every command reported, {} failures",
            self.points,
            self.killed,
            self.reported,
            self.failures.len()
        );
        assert!(
            self.failures.is_empty(),
            "{op}:\n{}",
            self.failures.join("\n")
        );
    }
}

/// Runs every kill point of `args` on a copy of `base`; after each kill,
/// `judge` checks the stack and recovers it (returns an error text on a
/// failure).
fn kill_each(
    tag: &str,
    base: &Path,
    fake: &FakeDocker,
    args: &[&str],
    judge: impl FnMut(&Path, bool, usize) -> Result<bool, String>,
) {
    kill_each_every(tag, base, fake, args, WRITE_EVERY, judge);
}

/// [`kill_each`] with every `write_every`th write a kill point.
pub(crate) fn kill_each_every(
    tag: &str,
    base: &Path,
    fake: &FakeDocker,
    args: &[&str],
    write_every: usize,
    mut judge: impl FnMut(&Path, bool, usize) -> Result<bool, String>,
) {
    let scratch = Scratch::new(tag);
    let all = kill_points(&scratch, base, fake, args, write_every);
    let total = all.len();
    let mut tally = Tally::default();
    for (i, (call, n)) in sample(all).into_iter().enumerate() {
        let w = scratch.reset(base);
        let out = strace(
            fake,
            &w,
            &[
                "-o",
                "/dev/null",
                &format!("-einject={call}:signal=SIGKILL:when={n}"),
            ],
            args,
        );
        tally.points += 1;
        // strace may end before every thread of its tracee has: wait until
        // the killed command's lock is free (it is gone then).
        let lock = w.join(".jitsi-stack.lock");
        if lock.exists() {
            let st = Command::new("flock")
                .arg("-w")
                .arg("10")
                .arg(&lock)
                .arg("true")
                .status()
                .unwrap();
            assert!(st.success(), "the killed command still holds the lock");
        }
        let killed = out.status.signal() == Some(9);
        if killed {
            tally.killed += 1;
        } else if !out.status.success() {
            tally.failures.push(format!(
                "{call} #{n}: not killed, and failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        match judge(&w, killed, i) {
            Ok(true) => tally.reported += 1,
            Ok(false) => {}
            Err(e) => tally
                .failures
                .push(format!("{tag} killed at {call} #{n}: {e}")),
        }
        let left = temps(&w);
        if !left.is_empty() {
            tally
                .failures
                .push(format!("{call} #{n}: temp files survived: {left:?}"));
        }
    }
    tally.report(tag, total);
}

pub(crate) fn run(fake: &FakeDocker, dir: &Path, args: &[&str]) -> Output {
    faked(fake, dir, args).output().unwrap()
}

/// After a kill: a journal is reported by `check` (exit 1, naming
/// `recovery`); returns whether there was one.
pub(crate) fn reported(fake: &FakeDocker, dir: &Path, recovery: &str) -> Result<bool, String> {
    let c = run(fake, dir, &["check"]);
    if !jitsi_stack::journal::path(dir).exists() {
        return Ok(false);
    }
    let err = String::from_utf8_lossy(&c.stderr);
    if c.status.code() != Some(1) || !err.contains("was interrupted") || !err.contains(recovery) {
        return Err(format!(
            "check did not report the journal: {:?} {err}",
            c.status
        ));
    }
    Ok(true)
}

const UPGRADE: &[&str] = &["upgrade", "--yes", "--no-smoke", "--timeout", "5"];
const ROLLBACK: &[&str] = &["rollback", "--yes", "--no-up"];

/// An old stack whose new secrets are set already, so an upgrade of it
/// always ends in the same files (nothing random).
fn deterministic_old_stack(
    fake: &FakeDocker,
    scratch: &Scratch,
) -> (tempfile::TempDir, Tree, Tree, Tree) {
    let stack = old_stack(free_port(), free_port());
    let keep = tempfile::tempdir().unwrap();
    let base = keep.path().join("old");
    let st = Command::new("cp")
        .arg("-a")
        .arg(stack.path())
        .arg(&base)
        .status()
        .unwrap();
    assert!(st.success());
    // One upgrade to learn the generated secrets; set them in the base.
    let w = scratch.reset(&base);
    let o = run(fake, &w, UPGRADE);
    ok(&o, "upgrade");
    let upgraded = jitsi_stack::envfile::EnvFile::read(&w.join(".env")).unwrap();
    let mut env = jitsi_stack::envfile::EnvFile::read(&base.join(".env")).unwrap();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        if let Some(name) = line.trim().strip_prefix("generated ") {
            let name = name.split(':').next().unwrap().trim();
            env.set(name, upgraded.get(name).unwrap()).unwrap();
        }
    }
    fs::write(base.join(".env"), env.render()).unwrap();
    let before = {
        let w = scratch.reset(&base);
        tree(&w)
    };
    let w = scratch.reset(&base);
    ok(&run(fake, &w, UPGRADE), "upgrade");
    let upgraded = tree(&w);
    // And the upgraded stack, as the base of the rollback test.
    let up = keep.path().join("upgraded");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&w)
        .arg(&up)
        .status()
        .unwrap();
    assert!(st.success());
    let w = scratch.reset(&base);
    ok(&run(fake, &w, UPGRADE), "upgrade");
    assert_eq!(
        diff(&upgraded, &tree(&w)),
        Vec::<String>::new(),
        "upgrade is not deterministic"
    );
    (keep, before, upgraded, Tree::new())
}

#[test]
fn upgrade_killed_anywhere_is_reported_and_recovered() {
    let fake = upgrade_fake();
    let scratch = Scratch::new("upgrade-prep");
    let (keep, before, upgraded, _) = deterministic_old_stack(&fake, &scratch);
    let base = keep.path().join("old");
    kill_each("upgrade", &base, &fake, UPGRADE, |w, killed, i| {
        if !killed {
            let now = tree(w);
            return if now == upgraded {
                Ok(false)
            } else {
                Err(format!("{:?}", diff(&upgraded, &now)))
            };
        }
        let journal = reported(&fake, w, "jitsi-stack upgrade` to finish it")?;
        let now = tree(w);
        // Half the kills are finished by upgrade, half undone by rollback.
        if journal && i % 2 == 1 {
            let o = run(&fake, w, ROLLBACK);
            if !o.status.success() {
                return Err(format!("rollback: {}", String::from_utf8_lossy(&o.stderr)));
            }
            let now = tree(w);
            return if now == before {
                Ok(true)
            } else {
                Err(format!("after rollback: {:?}", diff(&before, &now)))
            };
        }
        if !journal && now == upgraded {
            return Ok(false);
        }
        if !journal && now != before {
            return Err(format!(
                "no journal, and neither old nor new: {:?}",
                diff(&before, &now)
            ));
        }
        let o = run(&fake, w, UPGRADE);
        if !o.status.success() {
            return Err(format!(
                "upgrade again: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let now = tree(w);
        if now != upgraded {
            return Err(format!("after upgrade again: {:?}", diff(&upgraded, &now)));
        }
        Ok(journal)
    });
    drop(scratch);

    // rollback of the upgraded stack, killed.
    let base = keep.path().join("upgraded");
    kill_each("rollback", &base, &fake, ROLLBACK, |w, killed, _| {
        if !killed {
            let now = tree(w);
            return if now == before {
                Ok(false)
            } else {
                Err(format!("{:?}", diff(&before, &now)))
            };
        }
        let journal = reported(&fake, w, "jitsi-stack rollback` to finish it")?;
        let now = tree(w);
        if !journal && now == before {
            return Ok(false);
        }
        let o = run(&fake, w, ROLLBACK);
        if !o.status.success() {
            return Err(format!(
                "rollback again: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let now = tree(w);
        if now != before {
            return Err(format!("after rollback again: {:?}", diff(&before, &now)));
        }
        Ok(journal)
    });
}

#[test]
fn backup_and_restore_killed_anywhere_are_reported_and_recovered() {
    let fake = upgrade_fake();
    let stack = init_stack(&[], &[]);
    let data = stack
        .path()
        .join("config/storage/prosody/data/meet%2ejitsi/accounts");
    fs::create_dir_all(&data).unwrap();
    for i in 0..20 {
        fs::write(
            data.join(format!("user{i}.dat")),
            format!("return {{ password = \"p{i}\" }};\n"),
        )
        .unwrap();
    }
    let keep = tempfile::tempdir().unwrap();
    let base = keep.path().join("stack");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(stack.path())
        .arg(&base)
        .status()
        .unwrap()
        .success());
    let before = tree(&base);
    let archive = keep.path().join("site.tar.gz");
    let a = archive.to_str().unwrap().to_string();
    ok(&run(&fake, &base, &["backup", "--to", &a]), "backup");
    let listing = |p: &Path| -> Result<Vec<String>, String> {
        let f = fs::File::open(p).map_err(|e| e.to_string())?;
        let mut t = tar::Archive::new(flate2::read::GzDecoder::new(f));
        let mut v = vec![];
        for e in t.entries().map_err(|e| e.to_string())? {
            let e = e.map_err(|e| e.to_string())?;
            v.push(e.path().unwrap().display().to_string());
        }
        v.remove(0);
        Ok(v)
    };
    let want = listing(&archive).unwrap();

    // backup (to the default place), killed: the stack is unchanged, an
    // archive is absent or complete, and the next command leaves no temp.
    kill_each("backup", &base, &fake, &["backup"], |w, _, _| {
        if tree(w) != before {
            return Err(format!(
                "backup changed the stack: {:?}",
                diff(&before, &tree(w))
            ));
        }
        let o = run(&fake, w, &["check"]);
        if !o.status.success() {
            return Err(format!(
                "check after a killed backup: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        for e in fs::read_dir(w.join("backups")).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with(".tar.gz") && listing(&p)? != want {
                return Err(format!("{} is incomplete", p.display()));
            }
        }
        Ok(false)
    });

    // backup --to a file outside the stack directory, killed: the next
    // command (here `check`) removes the temp file (a copy of every
    // secret) wherever it is, and the record of it; FILE is absent or complete.
    let outside = |w: &Path| w.parent().unwrap().join("elsewhere");
    let scratch_out = Scratch::new("backup-to-prep");
    let to = outside(&scratch_out.work()).join("site.tar.gz");
    drop(scratch_out);
    let to_arg = to.to_str().unwrap().replace("backup-to-prep", "backup-to");
    let to = PathBuf::from(&to_arg);
    kill_each_every(
        "backup-to",
        &base,
        &fake,
        &["backup", "--to", &to_arg],
        2,
        |w, killed, _| {
            let out = outside(w);
            let left: Vec<String> = fs::read_dir(&out)
                .into_iter()
                .flatten()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".site.tar.gz.tmp-"))
                .collect();
            let o = run(&fake, w, &["check"]);
            if !o.status.success() {
                return Err(format!(
                    "check after a killed backup --to: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
            let after: Vec<String> = fs::read_dir(&out)
                .into_iter()
                .flatten()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".site.tar.gz.tmp-"))
                .collect();
            let record = w.join(jitsi_stack::journal::OUTSIDE_FILE).exists();
            let complete = !to.exists() || listing(&to)? == want;
            let _ = fs::remove_dir_all(&out);
            if !after.is_empty() || record {
                return Err(format!(
                    "after the next command: temp files {after:?} (before it {left:?}), record left: {record}"
                ));
            }
            if !complete {
                return Err(format!("{} is incomplete", to.display()));
            }
            if tree(w) != before {
                return Err(format!("the stack changed: {:?}", diff(&before, &tree(w))));
            }
            Ok(killed && !left.is_empty())
        },
    );

    // restore over a changed stack, killed.
    let changed = keep.path().join("changed");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(&base)
        .arg(&changed)
        .status()
        .unwrap()
        .success());
    for i in 0..10 {
        fs::remove_file(changed.join(format!(
            "config/storage/prosody/data/meet%2ejitsi/accounts/user{i}.dat"
        )))
        .unwrap();
    }
    fs::write(changed.join("config/web/extra.txt"), "new\n").unwrap();
    let env = changed.join(".env");
    let text = fs::read_to_string(&env).unwrap();
    fs::write(
        &env,
        text.replace("PUBLIC_URL=", "PUBLIC_URL=https://changed.example\n#"),
    )
    .unwrap();
    let changed_tree = tree(&changed);
    let restore: Vec<&str> = vec!["restore", "--yes", &a];
    kill_each("restore", &changed, &fake, &restore, |w, killed, _| {
        if !killed {
            let now = tree(w);
            return if now == before {
                Ok(false)
            } else {
                Err(format!("{:?}", diff(&before, &now)))
            };
        }
        let journal = reported(&fake, w, &format!("jitsi-stack restore {a}` to finish it"))?;
        let now = tree(w);
        if !journal && now == before {
            return Ok(false);
        }
        if !journal && now != changed_tree {
            return Err(format!(
                "no journal, and neither old nor new: {:?}",
                diff(&changed_tree, &now)
            ));
        }
        let o = run(&fake, w, &restore);
        if !o.status.success() {
            return Err(format!(
                "restore again: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let now = tree(w);
        if now != before {
            return Err(format!("after restore again: {:?}", diff(&before, &now)));
        }
        Ok(journal)
    });
    let _ = bin;
}

/// As root, an undo puts back the owner and mode of every directory the
/// operation touched. `upgrade` hands CONFIG's tree to uid 1000 (here it
/// finds dirs of other owners and modes), `rollback` gives each its own
/// back; a killed `node add` replaces an empty `xmpp-ca/` of another owner
/// with the CA and makes the certificates' directory for uid 1000 under a
/// `prosody/` it never chowns, and `rollback` ends in exactly the tree
/// before (owners and modes compared).
#[test]
#[ignore = "needs root"]
fn undo_restores_owners_and_modes_of_directories_it_touched() {
    use std::os::unix::fs::PermissionsExt;
    crate::harness::needs_root("chown to other owners");
    let fake = upgrade_fake();
    let set = |p: &Path, uid: u32, mode: u32| {
        std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    };
    let owner_mode = |p: &Path| {
        let m = fs::symlink_metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };

    // upgrade, then rollback.
    let stack = old_stack(free_port(), free_port());
    let scratch = Scratch::new("owners-upgrade");
    let w = scratch.reset(stack.path());
    let config = w.join("config");
    set(&config.join("web"), 0, 0o700);
    set(&config.join("prosody/config"), 1234, 0o750);
    set(&config.join("jvb"), 1000, 0o711);
    let before = tree(&w);
    ok(&run(&fake, &w, UPGRADE), "upgrade");
    assert_eq!(
        owner_mode(&config.join("web")).0,
        1000,
        "upgrade chowns CONFIG's tree"
    );
    assert_eq!(owner_mode(&config.join("prosody/config")).0, 1000);
    ok(&run(&fake, &w, ROLLBACK), "rollback");
    assert_eq!(owner_mode(&config.join("web")), (0, 0, 0o700));
    assert_eq!(
        owner_mode(&config.join("prosody/config")),
        (1234, 1234, 0o750)
    );
    assert_eq!(owner_mode(&config.join("jvb")), (1000, 1000, 0o711));
    assert_eq!(diff(&before, &tree(&w)), Vec::<String>::new());
    drop(scratch);

    // node add, killed once its certificates are there, then rollback.
    let stack = init_stack(&[("JITSI_STACK_MAIN_ADDRESS", "10.9.0.1")], &[]);
    let scratch = Scratch::new("owners-node");
    let w = scratch.reset(stack.path());
    let config = w.join("config");
    set(&config.join("prosody"), 0, 0o700);
    set(&config.join("prosody/config"), 1234, 0o750);
    fs::create_dir(config.join("xmpp-ca")).unwrap();
    set(&config.join("xmpp-ca"), 4321, 0o711);
    let base = scratch.root.join("base");
    let _ = fs::remove_dir_all(&base);
    assert!(Command::new("cp")
        .arg("-a")
        .arg(&w)
        .arg(&base)
        .status()
        .unwrap()
        .success());
    let before = tree(&w);
    let add: &[&str] = &["node", "add", "jvb", "b2", "--address", "10.9.0.2"];
    // Uninterrupted: prosody/ and prosody/config/ keep their owner and
    // mode, the certificates' directory it made is uid 1000's.
    ok(&run(&fake, &w, add), "node add");
    assert_eq!(owner_mode(&config.join("prosody")), (0, 0, 0o700));
    assert_eq!(
        owner_mode(&config.join("prosody/config")),
        (1234, 1234, 0o750)
    );
    assert_eq!(
        owner_mode(&config.join("prosody/config/certs")),
        (1000, 1000, 0o750)
    );
    assert_eq!(owner_mode(&config.join("xmpp-ca")), (0, 0, 0o700));
    // Killed at its journal's last write (all steps done, journal left).
    let w = scratch.reset(&base);
    let o = strace(
        &fake,
        &w,
        &["-o", "/dev/null", "-einject=unlink:signal=SIGKILL:when=1"],
        add,
    );
    assert_eq!(o.status.signal(), Some(9), "{o:?}");
    assert!(jitsi_stack::journal::path(&w).exists());
    assert_eq!(
        owner_mode(&config.join("prosody/config/certs")).0,
        1000,
        "killed before its certificates were made"
    );
    let r = run(&fake, &w, &["check"]);
    assert_eq!(r.status.code(), Some(1), "{r:?}");
    ok(&run(&fake, &w, ROLLBACK), "rollback of node add");
    assert_eq!(owner_mode(&config.join("xmpp-ca")), (4321, 4321, 0o711));
    assert_eq!(diff(&before, &tree(&w)), Vec::<String>::new());
}
