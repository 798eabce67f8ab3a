//! Journaled transactions of persistent data (accounts, certificates, the
//! `.env`, CONFIG): one unfinished operation per stack, recorded before its
//! first change, so a killed command is finished or undone by the next one.
//!
//! The API, all of it (call everything that changes state under the stack
//! lock, after reading the state under it):
//!
//! - [`Journal::begin`]`(dir, Operation, steps, data)`: writes
//!   `DIR/.jitsi-stack.journal` (JSON, 0600) and fsyncs it and `DIR` before
//!   the caller changes anything; refuses when another journal is pending.
//! - [`pending`]`(dir)`: the unfinished journal, if any (the command
//!   dispatch's guard reads it for every command; a recovery command reads
//!   it to finish or undo).
//! - [`Journal::done`]`(n)` marks step `n` (0-based) done, [`Journal::save`]
//!   records changed `data`, [`Journal::finish`] removes the journal (the
//!   operation is over, either way). Each is durable when it returns.
//! - [`Journal::interrupted`]: the sentence every other command prints.
//! - [`stage_tree`]`(src, dst, owner)`: a data move: `src` copied into a
//!   stage beside `dst`, fsynced, verified by content against `src`, then
//!   renamed into place. Idempotent: a `dst` equal to `src` is done, any
//!   other `dst` (a partial copy included) is replaced.
//! - [`tree_difference`]`(a, b)`: the first difference of two trees by
//!   content, mode and link target (`None`: equal). Not owners.
//! - [`remove_stale`]`(dir)`: removes temp files, stages and set-aside
//!   copies in `dir` whose writer's pid is gone (never a live writer's).
//!
//! Steps must be idempotent: a recovery reruns the first step not marked
//! done, which may have been half done. "The target exists" is never proof
//! that a step is done; compare contents ([`tree_difference`]).

use crate::fsutil;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The journal file, in the stack directory.
pub const JOURNAL_FILE: &str = ".jitsi-stack.journal";
/// It may hold secrets (a planned `.env`): owner only.
const MODE: u32 = 0o600;
const FORMAT: u32 = 1;

/// What an operation is, for the messages about it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Operation {
    /// The command that started it (`upgrade`, `restore`, `node add` ...).
    pub command: String,
    /// A noun phrase: "an upgrade from stable-10431 to stable-11146-2".
    pub title: String,
    /// The commands that may run while it is unfinished, with what each
    /// does to it: `("upgrade", "finish it")`, `("rollback", "undo it")`.
    /// Every other command refuses (exit 1) and names these.
    pub recovery: Vec<(String, String)>,
}

/// One step: what it does and how it is undone (text for the reader; the
/// operation's code does both).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Step {
    pub does: String,
    pub undo: String,
    pub done: bool,
}

impl Step {
    pub fn new(does: impl Into<String>, undo: impl Into<String>) -> Step {
        Step {
            does: does.into(),
            undo: undo.into(),
            done: false,
        }
    }
}

/// An unfinished operation, as on disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    pub operation: Operation,
    /// The process that wrote it last.
    pub pid: u32,
    pub steps: Vec<Step>,
    /// Whatever the operation needs to finish or undo itself (its plan).
    pub data: serde_json::Value,
    #[serde(skip)]
    path: PathBuf,
}

/// The journal's path in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(JOURNAL_FILE)
}

/// The unfinished journal of `dir`, if there is one. An unreadable one is
/// an error (it must not be taken for "none").
pub fn pending(dir: &Path) -> Result<Option<Journal>> {
    let p = path(dir);
    let bytes = match fsutil::read_existing(&p)? {
        None => return Ok(None),
        Some((b, _)) => b,
    };
    let mut j: Journal = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a journal this jitsi-stack can read; it records an unfinished operation: \
             move it away only if you know the stack is complete",
            p.display()
        )
    })?;
    if j.format != FORMAT {
        bail!(
            "{}: journal format {} (this jitsi-stack reads {FORMAT}); finish the operation with the jitsi-stack that started it",
            p.display(),
            j.format
        );
    }
    j.path = p;
    Ok(Some(j))
}

impl Journal {
    /// Records a new operation in `dir` (durably) before its first change.
    pub fn begin(
        dir: &Path,
        operation: Operation,
        steps: Vec<Step>,
        data: serde_json::Value,
    ) -> Result<Journal> {
        if let Some(j) = pending(dir)? {
            bail!("{}", j.interrupted());
        }
        let mut j = Journal {
            format: FORMAT,
            operation,
            pid: std::process::id(),
            steps,
            data,
            path: path(dir),
        };
        j.save()?;
        Ok(j)
    }

    /// Writes the journal as it is now (atomically, fsynced with its directory).
    pub fn save(&mut self) -> Result<()> {
        self.pid = std::process::id();
        let text = serde_json::to_vec_pretty(self)?;
        fsutil::atomic_write(&self.path, &text, MODE)
            .with_context(|| format!("writing the journal {}", self.path.display()))
    }

    /// Marks step `n` done.
    pub fn done(&mut self, n: usize) -> Result<()> {
        let step = self
            .steps
            .get_mut(n)
            .ok_or_else(|| anyhow!("no step {n} in the journal"))?;
        step.done = true;
        self.save()
    }

    /// The first step not done (0-based), if any.
    pub fn next_step(&self) -> Option<usize> {
        self.steps.iter().position(|s| !s.done)
    }

    /// Removes the journal: the operation finished or was undone.
    pub fn finish(self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", self.path.display())),
        }
        fsutil::sync_dir(&fsutil::parent_dir(&self.path));
        Ok(())
    }

    /// Whether `command` (a subcommand's name as typed: `rollback`,
    /// `node add`) may run now: it is one of the recovery commands, or
    /// their first words (`restore FILE`, `node add jvb b2 --address IP`;
    /// the command itself then checks the rest).
    pub fn allows(&self, command: &str) -> bool {
        !command.is_empty()
            && self.operation.recovery.iter().any(|(c, _)| {
                c == command
                    || c.strip_prefix(command)
                        .is_some_and(|rest| rest.starts_with(' '))
            })
    }

    /// Whether the process that wrote the journal is still running (then the
    /// operation is in progress, not interrupted).
    pub fn writer_alive(&self) -> bool {
        self.pid != std::process::id() && pid_alive(self.pid)
    }

    /// "an upgrade from X to Y was interrupted at step 3 (...)", without
    /// the recovery commands (for the one that recovers).
    pub fn interrupted_short(&self) -> String {
        let at = match self.next_step() {
            Some(n) => format!(" at step {} ({})", n + 1, self.steps[n].does),
            None => " after its last step".to_string(),
        };
        format!("{} was interrupted{at}", self.operation.title)
    }

    /// "an upgrade from X to Y was interrupted at step 3 (...): run
    /// `jitsi-stack upgrade` to finish it, or `jitsi-stack rollback` to undo it".
    pub fn interrupted(&self) -> String {
        let at = match self.next_step() {
            Some(n) => format!(" at step {} ({})", n + 1, self.steps[n].does),
            None => " after its last step".to_string(),
        };
        let what = if self.writer_alive() {
            format!(
                "{} is in progress{at} (pid {})",
                self.operation.title, self.pid
            )
        } else {
            format!("{} was interrupted{at}", self.operation.title)
        };
        let cmds: Vec<String> = self
            .operation
            .recovery
            .iter()
            .map(|(c, does)| format!("`jitsi-stack {c}` to {does}"))
            .collect();
        let wait = if self.writer_alive() {
            "wait for it to end; if it was interrupted, run "
        } else {
            "run "
        };
        format!("{what}: {wait}{}", join_or(&cmds))
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => "nothing can finish it".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

/// Whether a process with this pid exists.
pub fn pid_alive(pid: u32) -> bool {
    pid != 0 && Path::new(&format!("/proc/{pid}")).exists()
}

// ---------------------------------------------------------------------------
// Staged data moves.

/// `.NAME.stage-PID` beside `dst`.
fn stage_path(dst: &Path, tag: &str) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(dst.file_name().unwrap_or_default());
    name.push(format!(".{tag}-{}", std::process::id()));
    dst.with_file_name(name)
}

/// What [`stage_tree`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Staged {
    /// `dst` already held exactly `src`.
    AlreadyThere,
    /// `src` was copied, verified and renamed into place.
    Moved { files: u64, bytes: u64 },
}

/// Puts a copy of the tree `src` at `dst` (`src` is left as it is): copied
/// into `.NAME.stage-PID` beside `dst` (files with their mode and time,
/// symlinks as links, never followed), every file and directory fsynced,
/// compared with `src` by content, then renamed into place. Missing parents
/// of `dst` are made 0755; with `owner` (as root) the parents made and the
/// whole copy are handed to that uid:gid (the images' uid 1000), else the
/// copy keeps the source's owners as far as the caller may.
pub fn stage_tree(src: &Path, dst: &Path, owner: Option<(u32, u32)>) -> Result<Staged> {
    let meta = fs::symlink_metadata(src).with_context(|| format!("reading {}", src.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", src.display());
    }
    if fs::symlink_metadata(dst).is_ok() && tree_difference(src, dst)?.is_none() {
        if let Some((uid, gid)) = owner {
            chown_tree(dst, uid, gid)?;
        }
        return Ok(Staged::AlreadyThere);
    }
    let parent = fsutil::parent_dir(dst);
    make_parents(&parent, owner)?;
    remove_stale(&parent);
    let stage = stage_path(dst, "stage");
    if fs::symlink_metadata(&stage).is_ok() {
        fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    }
    let mut stats = (0u64, 0u64);
    let copied = copy_dir(src, &stage, &meta, owner, &mut stats).and_then(|()| {
        match tree_difference(src, &stage)? {
            None => Ok(()),
            Some(d) => bail!(
                "the copy of {} in {} differs from it ({d}); nothing was moved",
                src.display(),
                stage.display()
            ),
        }
    });
    if let Err(e) = copied {
        let _ = fs::remove_dir_all(&stage);
        return Err(e);
    }
    match fs::symlink_metadata(dst) {
        Err(_) => {}
        Ok(m) if m.is_dir() => {
            // A partial or different copy: set aside, swapped, removed.
            let old = stage_path(dst, "old");
            fs::rename(dst, &old).with_context(|| format!("setting {} aside", dst.display()))?;
            fsutil::sync_dir(&parent);
            fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
        }
        Ok(_) => {
            fs::remove_file(dst).with_context(|| format!("replacing {}", dst.display()))?;
        }
    }
    fs::rename(&stage, dst)
        .with_context(|| format!("renaming {} to {}", stage.display(), dst.display()))?;
    fsutil::sync_dir(&parent);
    Ok(Staged::Moved {
        files: stats.0,
        bytes: stats.1,
    })
}

/// Makes `dir` and its missing parents 0755 (and with `owner`, theirs).
fn make_parents(dir: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    let made = fsutil::create_dir_all_mode(dir, 0o755)?;
    if let Some((uid, gid)) = owner {
        for d in &made {
            std::os::unix::fs::lchown(d, Some(uid), Some(gid))
                .with_context(|| format!("chown {uid}:{gid} {}", d.display()))?;
        }
    }
    Ok(())
}

fn copy_dir(
    src: &Path,
    dst: &Path,
    meta: &fs::Metadata,
    owner: Option<(u32, u32)>,
    stats: &mut (u64, u64),
) -> Result<()> {
    fs::create_dir(dst).with_context(|| format!("creating {}", dst.display()))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(0o700))?;
    let mut entries: Vec<_> = fs::read_dir(src)
        .with_context(|| format!("reading {}", src.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", src.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let (s, d) = (e.path(), dst.join(e.file_name()));
        let m = fs::symlink_metadata(&s).with_context(|| format!("reading {}", s.display()))?;
        let ft = m.file_type();
        if ft.is_dir() {
            copy_dir(&s, &d, &m, owner, stats)?;
        } else if ft.is_file() {
            stats.1 += fsutil::copy_file_synced(&s, &d, m.mode() & 0o7777)?;
            stats.0 += 1;
            if let Ok(t) = m.modified() {
                if let Ok(f) = fs::File::options().write(true).open(&d) {
                    let _ = f.set_modified(t);
                }
            }
            give(&d, &m, owner)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&s)?, &d)
                .with_context(|| format!("creating {}", d.display()))?;
            give(&d, &m, owner)?;
        }
        // Sockets, FIFOs and devices are not data: left out (and the
        // verification below ignores them too).
    }
    fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .with_context(|| format!("setting the mode of {}", dst.display()))?;
    give(dst, meta, owner)?;
    fsutil::sync_dir(dst);
    Ok(())
}

/// Owner of a copied path: `owner`, or as root the source's.
fn give(p: &Path, src: &fs::Metadata, owner: Option<(u32, u32)>) -> Result<()> {
    let (uid, gid) = match owner {
        Some(o) => o,
        None if fsutil::is_root() => (src.uid(), src.gid()),
        None => return Ok(()),
    };
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .with_context(|| format!("chown {uid}:{gid} {}", p.display()))
}

fn chown_tree(root: &Path, uid: u32, gid: u32) -> Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p)?;
        if (m.uid(), m.gid()) != (uid, gid) {
            std::os::unix::fs::lchown(&p, Some(uid), Some(gid))
                .with_context(|| format!("chown {uid}:{gid} {}", p.display()))?;
        }
        if m.is_dir() {
            for e in fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
    }
    Ok(())
}

/// The first difference between the trees `a` and `b` (names, types, file
/// contents, modes, symlink targets), or `None` when they are equal.
/// Sockets, FIFOs and devices are ignored; owners are not compared.
pub fn tree_difference(a: &Path, b: &Path) -> Result<Option<String>> {
    let (ma, mb) = (fs::symlink_metadata(a), fs::symlink_metadata(b));
    let (ma, mb) = match (ma, mb) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(_), Err(_)) => return Ok(None),
        (Ok(_), Err(_)) => return Ok(Some(format!("{} is missing", b.display()))),
        (Err(_), Ok(_)) => return Ok(Some(format!("{} is extra", b.display()))),
    };
    let (ta, tb) = (ma.file_type(), mb.file_type());
    if ta.is_dir() != tb.is_dir()
        || ta.is_file() != tb.is_file()
        || ta.is_symlink() != tb.is_symlink()
    {
        return Ok(Some(format!("{} is of another type", b.display())));
    }
    if !ta.is_symlink() && ma.mode() & 0o7777 != mb.mode() & 0o7777 {
        return Ok(Some(format!(
            "{} has mode {:o}, not {:o}",
            b.display(),
            mb.mode() & 0o7777,
            ma.mode() & 0o7777
        )));
    }
    if ta.is_symlink() {
        if fs::read_link(a)? != fs::read_link(b)? {
            return Ok(Some(format!("{} points elsewhere", b.display())));
        }
    } else if ta.is_file() {
        if ma.len() != mb.len() || !same_content(a, b)? {
            return Ok(Some(format!("{} has other contents", b.display())));
        }
    } else if ta.is_dir() {
        let names = |p: &Path| -> Result<std::collections::BTreeSet<std::ffi::OsString>> {
            let mut s = std::collections::BTreeSet::new();
            for e in fs::read_dir(p).with_context(|| format!("reading {}", p.display()))? {
                let e = e?;
                let ft = e.file_type()?;
                if ft.is_dir() || ft.is_file() || ft.is_symlink() {
                    s.insert(e.file_name());
                }
            }
            Ok(s)
        };
        let (na, nb) = (names(a)?, names(b)?);
        for n in na.union(&nb) {
            if let Some(d) = tree_difference(&a.join(n), &b.join(n))? {
                return Ok(Some(d));
            }
        }
    }
    Ok(None)
}

fn same_content(a: &Path, b: &Path) -> Result<bool> {
    use std::io::Read;
    let open = |p: &Path| fs::File::open(p).with_context(|| format!("reading {}", p.display()));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
    fn read_full(f: &mut fs::File, buf: &mut [u8]) -> Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------------------
// What a path was before an operation changed it.

/// A path as it was before an operation, recorded in its journal so an
/// undo puts it back exactly: contents, mode and owner (see [`put_back`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Before {
    pub path: PathBuf,
    pub was: Was,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Was {
    Absent,
    /// A regular file; `hex` is its contents (the journal is 0600: it may
    /// be a secret, such as `.env`).
    File {
        hex: String,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

impl Before {
    /// Records `path` as it is now (never following a symlink at it: a
    /// symlink there is refused, an operation does not change it).
    pub fn of(path: &Path) -> Result<Before> {
        let was = match fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Was::Absent,
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", path.display())),
            Ok(m) if m.is_dir() => Was::Dir {
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
            },
            Ok(m) if m.is_file() => Was::File {
                hex: hex::encode(fsutil::read_regular(path)?),
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
            },
            Ok(m) if m.file_type().is_symlink() => bail!(
                "{} is a symlink: jitsi-stack never writes through a link here; make it a directory or a file",
                path.display()
            ),
            Ok(_) => bail!(
                "{} is neither a file nor a directory: jitsi-stack does not change it; move it away",
                path.display()
            ),
        };
        Ok(Before {
            path: path.to_path_buf(),
            was,
        })
    }

    /// Whether the path was absent.
    pub fn absent(&self) -> bool {
        self.was == Was::Absent
    }
}

/// Puts every path of `list` back as it was (idempotent: run again after
/// a kill, it ends in the same state): deepest first, so what an
/// operation made inside a directory it made goes before the directory;
/// a file is rewritten atomically with its mode and (as root) owner, a
/// directory gets its mode and owner back, a path that was absent is
/// removed (a directory only when nothing but dead writers' temp files
/// is left in it: anything else is refused, not deleted).
pub fn put_back(list: &[Before]) -> Result<()> {
    let mut order: Vec<&Before> = list.iter().collect();
    order.sort_by_key(|b| std::cmp::Reverse(b.path.components().count()));
    let root = fsutil::is_root();
    for b in order {
        let now = fs::symlink_metadata(&b.path).ok();
        match &b.was {
            Was::Absent => match now {
                None => {}
                Some(m) if m.is_dir() => {
                    remove_stale(&b.path);
                    fsutil::remove_stale_temps(&b.path);
                    fs::remove_dir(&b.path).with_context(|| {
                        format!(
                            "removing {} (made by the operation; something else is in it now)",
                            b.path.display()
                        )
                    })?;
                    fsutil::sync_dir(&fsutil::parent_dir(&b.path));
                }
                Some(_) => {
                    fs::remove_file(&b.path)
                        .with_context(|| format!("removing {}", b.path.display()))?;
                    fsutil::sync_dir(&fsutil::parent_dir(&b.path));
                }
            },
            Was::File {
                hex: contents,
                mode,
                uid,
                gid,
            } => {
                let bytes = hex::decode(contents)
                    .with_context(|| format!("the journal's copy of {}", b.path.display()))?;
                let same = now.as_ref().is_some_and(|m| {
                    m.is_file()
                        && m.mode() & 0o7777 == *mode
                        && (!root || (m.uid(), m.gid()) == (*uid, *gid))
                        && fs::read(&b.path).is_ok_and(|c| c == bytes)
                });
                if !same {
                    if now.as_ref().is_some_and(|m| m.is_dir()) {
                        fs::remove_dir(&b.path)
                            .with_context(|| format!("removing {}", b.path.display()))?;
                    }
                    let owner = (root || *uid == rustix::process::getuid().as_raw())
                        .then_some((*uid, *gid));
                    fsutil::write_atomic(&b.path, &bytes, fsutil::Perms { mode: *mode, owner })?;
                }
            }
            Was::Dir { mode, uid, gid } => {
                if now.is_none() {
                    fsutil::create_dir_mode(&b.path, *mode)?;
                }
                let m = fs::symlink_metadata(&b.path)?;
                if !m.is_dir() {
                    bail!("{} is no longer a directory", b.path.display());
                }
                if root && (m.uid(), m.gid()) != (*uid, *gid) {
                    std::os::unix::fs::lchown(&b.path, Some(*uid), Some(*gid))
                        .with_context(|| format!("chown {uid}:{gid} {}", b.path.display()))?;
                }
                if m.mode() & 0o7777 != *mode || root {
                    // After the chown, which may clear set-id bits.
                    fs::set_permissions(&b.path, fs::Permissions::from_mode(*mode))
                        .with_context(|| format!("setting the mode of {}", b.path.display()))?;
                }
                remove_stale(&b.path);
                fsutil::remove_stale_temps(&b.path);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Clean-up of what killed writers left.

/// The writer's pid in one of our temporary names: `.X.tmp-PID-N` (atomic
/// writes), `.X.tmp-PID`, `.X.stage-PID`, `.X.old-PID` (data moves).
pub fn temp_writer(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    if fsutil::is_temp_name(name) {
        let (_, tail) = rest.rsplit_once(".tmp-")?;
        return tail.split_once('-')?.0.parse().ok();
    }
    for tag in [".tmp-", ".stage-", ".old-"] {
        if let Some((head, pid)) = rest.rsplit_once(tag) {
            if !head.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                return pid.parse().ok();
            }
        }
    }
    None
}

/// Temp files written outside the stack directory (`backup --to FILE`),
/// recorded here (in the stack directory, JSON, 0600) before they are
/// made, so the next command under the lock removes them when their
/// writer is gone, wherever they are.
pub const OUTSIDE_FILE: &str = ".jitsi-stack.outside";

fn outside_list(dir: &Path) -> Vec<PathBuf> {
    fs::read(dir.join(OUTSIDE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_outside_list(dir: &Path, list: &[PathBuf]) -> Result<()> {
    let p = dir.join(OUTSIDE_FILE);
    if list.is_empty() {
        match fs::remove_file(&p) {
            Ok(()) => fsutil::sync_dir(dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
        }
        return Ok(());
    }
    fsutil::atomic_write(&p, &serde_json::to_vec_pretty(list)?, MODE)
        .with_context(|| format!("writing {}", p.display()))
}

/// Records (durably) that this process is about to write the temp file
/// `temp` outside the stack directory `dir`. Call it under the lock.
pub fn note_outside(dir: &Path, temp: &Path) -> Result<()> {
    let mut list = outside_list(dir);
    if !list.iter().any(|p| p == temp) {
        list.push(temp.to_path_buf());
    }
    write_outside_list(dir, &list)
}

/// `temp` is gone (renamed into place or removed): no longer recorded.
pub fn forget_outside(dir: &Path, temp: &Path) -> Result<()> {
    let mut list = outside_list(dir);
    let n = list.len();
    list.retain(|p| p != temp);
    if list.len() == n && !list.is_empty() {
        return Ok(());
    }
    write_outside_list(dir, &list)
}

/// Removes the recorded temp files outside `dir` whose writer is gone
/// (never a live writer's) and forgets them; returns how many were
/// removed. Call it under the stack lock.
pub fn remove_stale_outside(dir: &Path) -> usize {
    let list = outside_list(dir);
    if list.is_empty() {
        return 0;
    }
    let mut keep = vec![];
    let mut n = 0;
    for p in list {
        let writer = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(fsutil::temp_writer_pid);
        match writer {
            Some(pid) if pid == std::process::id() || pid_alive(pid) => keep.push(p),
            // Only our temp names are ever recorded; anything else is dropped.
            None => {}
            Some(_) => match fs::symlink_metadata(&p) {
                Ok(m) if !m.is_dir() => {
                    if fs::remove_file(&p).is_ok() {
                        fsutil::sync_dir(&fsutil::parent_dir(&p));
                        n += 1;
                    } else {
                        keep.push(p);
                    }
                }
                _ => {}
            },
        }
    }
    let _ = write_outside_list(dir, &keep);
    n
}

/// Removes from `dir` (not below it) every temporary file, stage and
/// set-aside copy whose writer is gone; returns how many. Call it under
/// the stack lock.
pub fn remove_stale(dir: &Path) -> usize {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(temp_writer) else {
            continue;
        };
        if pid == std::process::id() || pid_alive(pid) {
            continue;
        }
        let p = e.path();
        let gone = match e.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&p),
            _ => fs::remove_file(&p),
        };
        if gone.is_ok() {
            n += 1;
        }
    }
    if n > 0 {
        fsutil::sync_dir(dir);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> Operation {
        Operation {
            command: "upgrade".into(),
            title: "an upgrade from stable-10431 to stable-11146-2".into(),
            recovery: vec![
                ("upgrade".into(), "finish it".into()),
                ("rollback".into(), "undo it".into()),
            ],
        }
    }

    fn steps() -> Vec<Step> {
        vec![
            Step::new("backing up", "remove the archive"),
            Step::new("writing .env", "restore .env from the archive"),
        ]
    }

    #[test]
    fn a_journal_is_durable_and_says_where_it_stopped() {
        let d = tempfile::tempdir().unwrap();
        assert!(pending(d.path()).unwrap().is_none());
        let mut j = Journal::begin(d.path(), op(), steps(), serde_json::json!({"k": 1})).unwrap();
        let m = fs::metadata(path(d.path())).unwrap();
        assert_eq!(m.mode() & 0o777, 0o600);
        j.done(0).unwrap();
        let back = pending(d.path()).unwrap().unwrap();
        assert_eq!(back.next_step(), Some(1));
        assert_eq!(back.data["k"], 1);
        assert!(back.allows("upgrade") && back.allows("rollback"));
        assert!(!back.allows("check") && !back.allows("render"));
        // Our own pid: not "in progress" by another process.
        assert_eq!(
            back.interrupted(),
            "an upgrade from stable-10431 to stable-11146-2 was interrupted at step 2 (writing .env): \
             run `jitsi-stack upgrade` to finish it, or `jitsi-stack rollback` to undo it"
        );
        // A second operation cannot begin over it.
        let e = Journal::begin(d.path(), op(), steps(), serde_json::Value::Null).unwrap_err();
        assert!(e.to_string().contains("was interrupted at step 2"), "{e}");
        back.finish().unwrap();
        assert!(pending(d.path()).unwrap().is_none());
    }

    #[test]
    fn a_live_writer_is_in_progress_not_interrupted() {
        let d = tempfile::tempdir().unwrap();
        let mut j = Journal::begin(d.path(), op(), steps(), serde_json::Value::Null).unwrap();
        j.pid = 1; // init: always alive
        fs::write(path(d.path()), serde_json::to_vec(&j).unwrap()).unwrap();
        let back = pending(d.path()).unwrap().unwrap();
        assert!(
            back.interrupted().contains("is in progress at step 1"),
            "{}",
            back.interrupted()
        );
    }

    #[test]
    fn an_unreadable_journal_is_an_error_not_none() {
        let d = tempfile::tempdir().unwrap();
        fs::write(path(d.path()), "{ half").unwrap();
        assert!(pending(d.path()).is_err());
    }

    fn sample_tree(root: &Path) {
        fs::create_dir_all(root.join("a/accounts")).unwrap();
        fs::write(root.join("a/accounts/focus.dat"), "return {};\n").unwrap();
        fs::write(root.join("top.txt"), vec![7u8; 200_000]).unwrap();
        fs::set_permissions(root.join("a"), fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("a/accounts", root.join("link")).unwrap();
    }

    #[test]
    fn stage_tree_copies_verifies_and_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let (src, dst) = (d.path().join("src"), d.path().join("x/y/dst"));
        sample_tree(&src);
        let first = stage_tree(&src, &dst, None).unwrap();
        assert_eq!(
            first,
            Staged::Moved {
                files: 2,
                bytes: 200_011
            }
        );
        assert_eq!(tree_difference(&src, &dst).unwrap(), None);
        assert_eq!(
            fs::metadata(d.path().join("x")).unwrap().mode() & 0o777,
            0o755
        );
        assert_eq!(stage_tree(&src, &dst, None).unwrap(), Staged::AlreadyThere);
        // A partial copy (a truncated account) is not "done": replaced.
        fs::write(dst.join("a/accounts/focus.dat"), "").unwrap();
        assert!(tree_difference(&src, &dst)
            .unwrap()
            .unwrap()
            .contains("focus.dat"));
        assert!(matches!(
            stage_tree(&src, &dst, None).unwrap(),
            Staged::Moved { .. }
        ));
        assert_eq!(tree_difference(&src, &dst).unwrap(), None);
        // An extra file in the target is a difference too.
        fs::write(dst.join("extra"), "x").unwrap();
        assert!(tree_difference(&src, &dst)
            .unwrap()
            .unwrap()
            .contains("extra"));
        stage_tree(&src, &dst, None).unwrap();
        assert_eq!(tree_difference(&src, &dst).unwrap(), None);
        // Nothing left beside it.
        let names: Vec<_> = fs::read_dir(d.path().join("x/y"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("dst")]);
    }

    #[test]
    #[ignore = "needs root"]
    fn stage_tree_hands_the_copy_to_the_owner() {
        assert!(
            fsutil::is_root(),
            "needs root to hand the copy to another owner: run as root (CI does)"
        );
        let d = tempfile::tempdir().unwrap();
        let (src, dst) = (d.path().join("src"), d.path().join("new/dst"));
        sample_tree(&src);
        stage_tree(&src, &dst, Some((1000, 1000))).unwrap();
        for p in [
            d.path().join("new"),
            dst.clone(),
            dst.join("a/accounts/focus.dat"),
        ] {
            let m = fs::symlink_metadata(&p).unwrap();
            assert_eq!((m.uid(), m.gid()), (1000, 1000), "{}", p.display());
        }
        assert_eq!(fs::metadata(dst.join("a")).unwrap().mode() & 0o777, 0o750);
    }

    #[test]
    fn recorded_temps_outside_go_when_their_writer_is_gone() {
        let d = tempfile::tempdir().unwrap();
        let (stack, out) = (d.path().join("stack"), d.path().join("out"));
        fs::create_dir_all(&stack).unwrap();
        fs::create_dir_all(&out).unwrap();
        let dead = out.join(format!(".site.tar.gz.tmp-{}-0", 0x3fff_fff0u32));
        let live = out.join(format!(".site.tar.gz.tmp-{}-1", std::process::id()));
        let other = out.join(".other.tmp-1-0");
        for p in [&dead, &live, &other] {
            fs::write(p, "every secret").unwrap();
            note_outside(&stack, p).unwrap();
        }
        // Not recorded: never touched.
        let stranger = out.join(format!(".x.tmp-{}-0", 0x3fff_fff1u32));
        fs::write(&stranger, "not ours").unwrap();
        assert_eq!(
            fs::metadata(stack.join(OUTSIDE_FILE)).unwrap().mode() & 0o777,
            0o600
        );
        assert_eq!(remove_stale_outside(&stack), 1);
        assert!(!dead.exists() && live.exists() && stranger.exists());
        // pid 1 is alive: kept and still recorded, like ours.
        assert!(other.exists());
        assert_eq!(outside_list(&stack), vec![live.clone(), other.clone()]);
        forget_outside(&stack, &live).unwrap();
        forget_outside(&stack, &other).unwrap();
        assert!(!stack.join(OUTSIDE_FILE).exists());
    }

    #[test]
    fn only_dead_writers_temps_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let dead = 0x3fff_fff0u32; // above pid_max
        let live = std::process::id();
        for name in [
            format!(".env.tmp-{dead}-0"),
            format!(".upgrade-1.tar.gz.tmp-{dead}"),
            format!(".data.stage-{dead}"),
            format!(".env.tmp-{live}-3"),
            ".x.stage-1".to_string(),
            "keep.txt".to_string(),
            ".hidden".to_string(),
        ] {
            fs::write(d.path().join(name), "secret").unwrap();
        }
        fs::create_dir(d.path().join(format!(".data.old-{dead}"))).unwrap();
        assert_eq!(remove_stale(d.path()), 4);
        let mut left: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                format!(".env.tmp-{live}-3"),
                ".hidden".into(),
                ".x.stage-1".into(),
                "keep.txt".into()
            ]
        );
    }
}
