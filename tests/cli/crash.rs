//! Crash and failure tests: `render` and `gen-passwords` are killed
//! (SIGKILL from `strace -e inject=SYSCALL:signal=SIGKILL:when=N`) at every
//! write, fsync, rename, symlink, mkdir and unlink they make, and at a
//! sample of their opens and chmods; or get EIO from a system call. After
//! each: `check` passes, the compose files and generated configs in effect
//! are one complete render (the old or the new one, compared byte for byte
//! and as Compose v2's merged model), Compose accepts them, every mounted
//! file exists, and the next run cleans up and finishes the job.

use crate::envfile::compose_bin;
use crate::harness::{bin, run_injected};
use crate::{init_stack, Test};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// System calls a kill is injected into. Every invocation of the first
/// group is hit; of the second, every `SAMPLE`th (they are many, and mostly
/// reads), so every kind is covered.
const EVERY: &[&str] = &[
    "write",
    "fsync",
    "fdatasync",
    "rename",
    "renameat",
    "renameat2",
    "symlink",
    "symlinkat",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "rmdir",
    "ftruncate",
    "fchown",
];
const SAMPLED: &[&str] = &["openat", "fchmod"];
const SAMPLE: usize = 3;
/// The calls that change names (for the slower old-layout test).
const STRUCTURE: &[&str] = &[
    "rename",
    "renameat",
    "renameat2",
    "symlink",
    "symlinkat",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "rmdir",
];

/// What is in effect in a stack directory: Compose's merged model (paths
/// made relative to the directory) and every file under `generated/`.
#[derive(Clone, Debug, PartialEq)]
struct Effect {
    config: Value,
    generated: BTreeMap<PathBuf, Vec<u8>>,
}

fn compose_config(dir: &Path) -> Result<Value, String> {
    let out = Command::new(compose_bin())
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .args(["config", "--format", "json"])
        .output()
        .expect("running Compose v2");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() || !stderr.trim().is_empty() {
        return Err(format!("compose config failed: {stderr}"));
    }
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace(&dir.display().to_string(), "@STACK@");
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

fn files_under(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(rd) = fs::read_dir(root.join(rel)) else {
        return;
    };
    for e in rd {
        let r = rel.join(e.unwrap().file_name());
        let p = root.join(&r);
        if fs::metadata(&p).map(|m| m.is_dir()).unwrap_or(false) {
            files_under(root, &r, out);
        } else {
            out.insert(r, fs::read(&p).unwrap_or_default());
        }
    }
}

/// The effect in `dir`, after checking that every bind-mounted rendered
/// file exists (CONFIG directories are made by `init` and `up`).
fn effect(dir: &Path) -> Result<Effect, String> {
    let config = compose_config(dir)?;
    for (name, svc) in config["services"].as_object().unwrap() {
        for v in svc["volumes"].as_array().into_iter().flatten() {
            let src = v["source"].as_str().unwrap_or("");
            if v["type"] == "bind" && src.starts_with("@STACK@/generated/") {
                let p = dir.join(src.trim_start_matches("@STACK@/"));
                if !p.is_file() {
                    return Err(format!("{name} mounts {src}, which does not exist"));
                }
            }
        }
    }
    let mut generated = BTreeMap::new();
    files_under(dir, Path::new("generated"), &mut generated);
    Ok(Effect { config, generated })
}

/// A directory for one killed run: on tmpfs when there is one. A kill's
/// effect on the names in a directory is the same on any file system; the
/// fsyncs would only make the hundreds of runs wait on the disk.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

fn check_ok(dir: &Path) -> Result<(), String> {
    let out = Command::new(bin())
        .arg("check")
        .current_dir(dir)
        .env_remove("JITSI_STACK_DIR")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "check failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// System-call counts of one uninterrupted run of `args` in a copy of `base`.
fn syscall_counts(base: &Path, args: &[&str]) -> BTreeMap<String, usize> {
    let work = scratch();
    copy_dir(base, work.path());
    let log = work.path().join("strace.log");
    let names: Vec<&str> = EVERY.iter().chain(SAMPLED).copied().collect();
    let st = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .arg(format!("-etrace={}", names.join(",")))
        .arg(bin())
        .args(args)
        .current_dir(work.path())
        .env("JITSI_STACK_IO_THREADS", "1")
        .output()
        .expect("strace (installed by .ci/install-deps)");
    assert!(st.status.success(), "{:?}", st);
    let mut counts = BTreeMap::new();
    for line in fs::read_to_string(&log).unwrap().lines() {
        // "PID name(args..." (not "<... name resumed>")
        let mut it = line.split_whitespace();
        let _pid = it.next();
        if let Some(call) = it.next().and_then(|c| c.split_once('(')).map(|(n, _)| n) {
            if names.contains(&call) {
                *counts.entry(call.to_string()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Temporary files and half-built renders anywhere in the stack directory.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in [dir.to_path_buf(), dir.join("renders")] {
        for e in fs::read_dir(&d).into_iter().flatten() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if jitsi_stack::fsutil::is_temp_name(&name) || name.starts_with(".new-") {
                out.push(format!("{}/{name}", d.display()));
            }
        }
    }
    out
}

fn renders(dir: &Path) -> usize {
    fs::read_dir(dir.join("renders"))
        .map(|rd| {
            rd.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .count()
        })
        .unwrap_or(0)
}

/// Kill points: every invocation of the calls in `every`, every
/// `SAMPLE`th of the others (and their last one).
fn kill_points(counts: &BTreeMap<String, usize>, every: &[&str]) -> Vec<(String, usize)> {
    let mut points = Vec::new();
    for (call, &n) in counts {
        let step = if every.contains(&call.as_str()) {
            1
        } else {
            SAMPLE
        };
        let mut k = 1;
        while k <= n {
            points.push((call.clone(), k));
            k += step;
        }
        if !points.iter().any(|(c, i)| c == call && *i == n) {
            points.push((call.clone(), n));
        }
    }
    points
}

/// A stack with two renders already (so a new render also prunes one).
fn rendered_base() -> crate::Run {
    let run = init_stack(&[("DEFAULT_LANGUAGE", "de")], &[]);
    let run = Test::again(run).args(["render"]).run();
    let env = run.path().join(".env");
    let text = fs::read_to_string(&env).unwrap();
    fs::write(&env, format!("{text}DEFAULT_LANGUAGE=fr\n")).unwrap();
    Test::again(run).args(["render"]).run()
}

/// The change the crashing render makes: values that touch the core
/// compose file and the configs (a second bridge, another port), and a new
/// overlay from `--with` (so COMPOSE_FILE grows).
fn change(dir: &Path) {
    let env = dir.join(".env");
    let text = fs::read_to_string(&env).unwrap();
    fs::write(&env, format!("{text}JVB_INSTANCES=2\nHTTPS_PORT=9443\n")).unwrap();
}

const RENDER: &[&str] = &["render", "--with", "jibri"];

struct Outcome {
    kills: usize,
    old: usize,
    new: usize,
    kinds: BTreeMap<String, usize>,
}

/// Kills `args` at every kill point in a fresh copy of `base` and checks
/// each state; `old`/`new` are the two complete renders allowed.
fn kill_everywhere(
    base: &Path,
    args: &[&str],
    every: &[&str],
    old: &Effect,
    new: &Effect,
) -> Outcome {
    let counts = syscall_counts(base, args);
    for must in ["write", "fsync", "rename"] {
        assert!(
            counts.get(must).copied().unwrap_or(0) > 0,
            "no {must} in {counts:?}"
        );
    }
    let mut outcome = Outcome {
        kills: 0,
        old: 0,
        new: 0,
        kinds: BTreeMap::new(),
    };
    for (call, n) in kill_points(&counts, every) {
        let work = scratch();
        copy_dir(base, work.path());
        let out = run_injected(
            work.path(),
            &format!("{call}:signal=SIGKILL:when={n}"),
            args,
        );
        let at = format!("killed at {call} #{n}");
        if out.status.signal() == Some(9) {
            outcome.kills += 1;
            *outcome.kinds.entry(call.clone()).or_insert(0) += 1;
        } else {
            assert!(out.status.success(), "{at}: {:?}", out);
        }
        check_ok(work.path()).unwrap_or_else(|e| panic!("{at}: {e}"));
        let now = effect(work.path()).unwrap_or_else(|e| panic!("{at}: {e}"));
        if now == *old {
            outcome.old += 1;
        } else if now == *new {
            outcome.new += 1;
        } else {
            panic!(
                "{at}: the files in effect are neither the old nor the new render\n{}",
                describe_mismatch(&now, old, new)
            );
        }
        // The next run cleans up and completes the change.
        let again = Command::new(bin())
            .args(args)
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(again.status.success(), "{at}: rerun {:?}", again);
        assert_eq!(
            effect(work.path()).unwrap_or_else(|e| panic!("{at}, rerun: {e}")),
            *new,
            "{at}: the rerun did not finish the change"
        );
        assert!(
            leftovers(work.path()).is_empty(),
            "{at}: left {:?}",
            leftovers(work.path())
        );
        assert_eq!(renders(work.path()), 1, "{at}: old renders kept");
    }
    outcome
}

fn describe_mismatch(now: &Effect, old: &Effect, new: &Effect) -> String {
    let gen = |e: &Effect| e.generated.keys().cloned().collect::<Vec<_>>();
    format!(
        "config = old: {}, = new: {}\ngenerated now {:?}\nold {:?}\nnew {:?}",
        now.config == old.config,
        now.config == new.config,
        gen(now),
        gen(old),
        gen(new)
    )
}

fn expected_after(base: &Path, args: &[&str]) -> Effect {
    let work = scratch();
    copy_dir(base, work.path());
    let out = Command::new(bin())
        .args(args)
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    effect(work.path()).unwrap()
}

#[test]
fn render_killed_at_every_write_fsync_and_rename() {
    let start = Instant::now();
    let run = rendered_base();
    change(run.path());
    let old = effect(run.path()).unwrap();
    let new = expected_after(run.path(), RENDER);
    assert_ne!(old, new);
    assert!(new
        .generated
        .contains_key(Path::new("generated/jvb-2/jvb.conf")));
    let o = kill_everywhere(run.path(), RENDER, EVERY, &old, &new);
    eprintln!(
        "render: {} kills ({:?}); old render in effect after {}, new after {}; {:.1} s",
        o.kills,
        o.kinds,
        o.old,
        o.new,
        start.elapsed().as_secs_f64()
    );
    assert!(o.old > 0 && o.new > 0, "both sides of the switch were hit");
    for must in ["write", "fsync", "rename", "symlink", "unlink"] {
        assert!(
            o.kinds.keys().any(|k| k.starts_with(must)),
            "no kill at {must}: {:?}",
            o.kinds
        );
    }
}

/// A stack laid out the old way: real compose files and a real
/// `generated/` directory (what earlier versions wrote).
fn legacy_base() -> crate::Run {
    let run = init_stack(&[], &[]);
    let run = Test::again(run).args(["render"]).run();
    let dir = run.path();
    let live = fs::canonicalize(dir.join("current")).unwrap();
    for name in ["docker-compose.yml", "generated", "current"] {
        fs::remove_file(dir.join(name)).unwrap();
    }
    fs::copy(
        live.join("docker-compose.yml"),
        dir.join("docker-compose.yml"),
    )
    .unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(live.join("generated"))
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
    fs::remove_dir_all(dir.join("renders")).unwrap();
    run
}

#[test]
fn old_layout_is_adopted_without_a_gap_even_when_killed() {
    let start = Instant::now();
    let run = legacy_base();
    assert!(fs::symlink_metadata(run.path().join("generated"))
        .unwrap()
        .is_dir());
    change(run.path());
    let old = effect(run.path()).unwrap();
    let new = expected_after(run.path(), RENDER);
    // Every step that changes a name; a sample of the writes and flushes
    // (the same code as above, plus copying the old files).
    let o = kill_everywhere(run.path(), RENDER, STRUCTURE, &old, &new);
    eprintln!(
        "adopting the old layout: {} kills ({:?}); old after {}, new after {}; {:.1} s",
        o.kills,
        o.kinds,
        o.old,
        o.new,
        start.elapsed().as_secs_f64()
    );
    assert!(o.old > 0 && o.new > 0);
    // A finished render: links through `current`, no real generated/.
    let dir = scratch();
    copy_dir(run.path(), dir.path());
    let out = Command::new(bin())
        .arg("render")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    for name in ["docker-compose.yml", "generated", "current"] {
        assert!(fs::symlink_metadata(dir.path().join(name))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

#[test]
fn gen_passwords_killed_at_every_write_fsync_and_rename() {
    let start = Instant::now();
    let run = rendered_base();
    let dir = run.path();
    // Compose interpolates the passwords into its model; the rendered
    // files must not change at all.
    let generated_before = effect(dir).unwrap().generated;
    let env_before = fs::read(dir.join(".env")).unwrap();
    let bak_before = fs::read(dir.join(".env.bak")).unwrap();
    let args = [
        "gen-passwords",
        "--force",
        "--only",
        "JVB_AUTH_PASSWORD",
        "JICOFO_AUTH_PASSWORD",
    ];
    let counts = syscall_counts(dir, &args);
    let mut kills = 0;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut secrets_left = 0;
    let (mut old, mut new) = (0, 0);
    for (call, n) in kill_points(&counts, EVERY) {
        let work = scratch();
        copy_dir(dir, work.path());
        let out = run_injected(
            work.path(),
            &format!("{call}:signal=SIGKILL:when={n}"),
            &args,
        );
        let at = format!("gen-passwords killed at {call} #{n}");
        if out.status.signal() == Some(9) {
            kills += 1;
            *kinds.entry(call.clone()).or_insert(0) += 1;
        }
        secrets_left += leftovers(work.path()).len();
        // The next command (even a read-only one) removes what the kill left.
        check_ok(work.path()).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert!(
            leftovers(work.path()).is_empty(),
            "{at}: check left {:?}",
            leftovers(work.path())
        );
        let env = fs::read(work.path().join(".env")).unwrap();
        let bak = fs::read(work.path().join(".env.bak")).unwrap();
        if env == env_before {
            old += 1;
            assert_eq!(bak, bak_before, "{at}: .env.bak changed before .env");
        } else {
            new += 1;
            let file =
                jitsi_stack::envfile::EnvFile::parse(&String::from_utf8(env).unwrap()).unwrap();
            let before = jitsi_stack::envfile::EnvFile::parse(
                &String::from_utf8(env_before.clone()).unwrap(),
            )
            .unwrap();
            for k in ["JVB_AUTH_PASSWORD", "JICOFO_AUTH_PASSWORD"] {
                assert_ne!(file.get(k), before.get(k), "{at}: {k} half-rotated");
                assert_eq!(file.get(k).unwrap().len(), 32, "{at}");
            }
            assert!(
                bak == env_before || bak == bak_before,
                "{at}: .env.bak is neither the previous .env nor the old backup"
            );
        }
        // gen-passwords renders nothing: the render in effect is untouched.
        let now = effect(work.path()).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(now.generated, generated_before, "{at}");
        // And the next locking command runs as usual.
        let again = Command::new(bin())
            .arg("gen-passwords")
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(again.status.success(), "{at}");
        assert!(
            leftovers(work.path()).is_empty(),
            "{at}: {:?}",
            leftovers(work.path())
        );
    }
    eprintln!(
        "gen-passwords: {kills} kills ({kinds:?}); old .env after {old}, new after {new}; \
         {secrets_left} temporary files with secrets left by kills, all removed by the next command; {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(old > 0 && new > 0);
    assert!(secrets_left > 0, "no kill left a temporary file to clean");
}

#[test]
fn a_failing_system_call_never_removes_the_last_good_render() {
    let run = rendered_base();
    change(run.path());
    let old = effect(run.path()).unwrap();
    let new = expected_after(run.path(), RENDER);
    let counts = syscall_counts(run.path(), RENDER);
    let (mut failed, mut runs) = (0, 0);
    for call in ["fsync", "rename", "symlink", "mkdir", "write"] {
        let n = counts.get(call).copied().unwrap_or(0);
        for k in 1..=n {
            let work = scratch();
            copy_dir(run.path(), work.path());
            let out = run_injected(work.path(), &format!("{call}:error=EIO:when={k}"), RENDER);
            let at = format!("EIO at {call} #{k}");
            runs += 1;
            let now = effect(work.path()).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert!(now == old || now == new, "{at}: a mix of renders");
            if !out.status.success() {
                failed += 1;
                check_ok(work.path()).unwrap_or_else(|e| panic!("{at}: {e}"));
                assert!(
                    leftovers(work.path()).is_empty(),
                    "{at}: a failed render left {:?}",
                    leftovers(work.path())
                );
            }
        }
    }
    eprintln!(
        "EIO: {runs} runs, {failed} of them failed; the old or the new render in effect after each"
    );
    assert!(failed > 10, "only {failed} runs failed");
}

/// The issue's disk-full case, on a real full file system: a tmpfs in a
/// private mount namespace (root only; it vanishes with the namespace).
#[test]
#[ignore = "needs root"]
fn a_full_disk_never_overwrites_the_backup() {
    crate::harness::needs_root("for a private tmpfs");
    let run = init_stack(&[], &[]);
    let dir = run.path();
    // A .env with every secret empty, and no backup yet.
    let text = fs::read_to_string(dir.join(".env")).unwrap();
    let blank: String = text
        .lines()
        .map(|l| match l.split_once('=') {
            Some((k, _))
                if jitsi_stack::schema::lookup(k)
                    .is_some_and(|v| v.secret == jitsi_stack::schema::Secret::Generated) =>
            {
                format!("{k}=\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("blank.env"), &blank).unwrap();
    let script = r#"
set -eu
mnt="$OUT/mnt"; mkdir -p "$mnt"
mount -t tmpfs -o size=1m tmpfs "$mnt"
cp "$OUT/blank.env" "$mnt/.env"; chmod 600 "$mnt/.env"
touch "$mnt/.jitsi-stack.lock"; printf '%0100d' 0 > "$mnt/.jitsi-stack.lock"
# Fill the file system, then free exactly the pages of one new .env.
dd if=/dev/zero of="$mnt/fill" bs=4096 2>/dev/null || true
size=$(stat -c %s "$mnt/.env"); pages=$(( (size + 400 + 4095) / 4096 ))
truncate -s "-$(( pages * 4096 ))" "$mnt/fill"
set +e
"$BIN" --dir "$mnt" gen-passwords > "$OUT/stdout" 2> "$OUT/stderr"
echo $? > "$OUT/status"
cp "$mnt/.env" "$OUT/env.after"
[ -e "$mnt/.env.bak" ] && cp "$mnt/.env.bak" "$OUT/bak.after"
ls -a "$mnt" > "$OUT/ls"
umount "$mnt"
"#;
    let st = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("OUT", out.path())
        .env("BIN", bin())
        .status()
        .unwrap();
    assert!(st.success());
    let read = |n: &str| fs::read_to_string(out.path().join(n)).unwrap_or_default();
    let status: i32 = read("status").trim().parse().unwrap();
    let after = read("env.after");
    let bak = out.path().join("bak.after");
    if status == 0 {
        // Written, and the backup holds what was there before.
        assert_ne!(after, blank);
        assert_eq!(fs::read_to_string(&bak).unwrap(), blank);
    } else {
        // Not written: the backup was not touched either (there was none).
        assert_eq!(after, blank, "{}", read("stderr"));
        assert!(!bak.exists(), ".env.bak written although .env was not");
    }
    assert!(
        !read("ls").contains(".tmp-"),
        "a temporary file survived: {}",
        read("ls")
    );
}
