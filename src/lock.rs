//! The stack lock: one advisory lock (`flock`) per stack directory, held for
//! the whole command by everything that reads and writes the stack (init,
//! gen-passwords, render, up, user, and later migrate, upgrade, node), so
//! two of them never interleave their reads and writes.
//!
//! ```no_run
//! # fn f(dir: &std::path::Path) -> anyhow::Result<()> {
//! use jitsi_stack::lock::{self, Wait};
//! let _lock = lock::acquire(dir, Wait::default())?; // released when dropped
//! # Ok(()) }
//! ```
//!
//! Read-only commands (check, status, ports, doctor, schema, render --diff)
//! do not take it. Within one process the lock is shared: a command that
//! runs another under its lock (`upgrade` runs `up`) gets a second guard
//! instead of waiting for itself; the lock is released with the last guard.

use crate::{fsutil, UsageError};
use anyhow::{Context, Result};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// The lock file, in the stack directory (mode 0600, empty: taking the lock
/// writes nothing, so an unchanged stack stays unchanged).
pub const LOCK_FILE: &str = ".jitsi-stack.lock";

/// How long a second command waits, in seconds, unless this variable says
/// otherwise (`0`: fail at once).
pub const TIMEOUT_VAR: &str = "JITSI_STACK_LOCK_TIMEOUT";

/// Default wait for the lock.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How to wait for the lock.
#[derive(Clone, Debug)]
pub struct Wait {
    timeout: Duration,
    allow_system_dir: bool,
}

impl Default for Wait {
    /// [`DEFAULT_TIMEOUT`], or `JITSI_STACK_LOCK_TIMEOUT` seconds.
    fn default() -> Wait {
        let timeout = std::env::var(TIMEOUT_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_TIMEOUT);
        Wait {
            timeout,
            allow_system_dir: false,
        }
    }
}

impl Wait {
    pub fn timeout(mut self, t: Duration) -> Wait {
        self.timeout = t;
        self
    }

    /// Allow `/`, `/etc`, `$HOME` ... as the stack directory (`init --force`).
    /// Without it such a directory is refused unless a jitsi-stack already
    /// made it a stack (its lock file exists).
    pub fn allow_system_dir(mut self, yes: bool) -> Wait {
        self.allow_system_dir = yes;
        self
    }
}

/// A held stack lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StackLock {
    /// Shared by every guard of this stack in this process: the lock is
    /// released when the last one is dropped (the file is closed).
    _file: Arc<File>,
    path: PathBuf,
}

/// Locks this process holds, by the lock file's (device, inode): a command
/// that runs another one under its lock (`upgrade` runs `up`) gets a second
/// guard of the same lock instead of waiting for itself.
fn held() -> &'static Held {
    static HELD: OnceLock<Held> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(HashMap::new()))
}

type Held = Mutex<HashMap<(u64, u64), Weak<File>>>;

fn key(file: &File) -> Option<(u64, u64)> {
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

impl StackLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the lock of the stack in `dir` (which must exist), waiting up to
/// the timeout with one message on stderr. Then removes temporary files a
/// killed jitsi-stack left there.
pub fn acquire(dir: &Path, wait: Wait) -> Result<StackLock> {
    let path = dir.join(LOCK_FILE);
    if !wait.allow_system_dir && std::fs::symlink_metadata(&path).is_err() {
        if let Some(why) = fsutil::system_dir(dir) {
            return Err(UsageError(format!(
                "{why}: refusing to use it as a stack directory; pick a directory of its own \
                 (e.g. /srv/jitsi), or run `jitsi-stack init --force {}` if you really mean it",
                dir.display()
            ))
            .into());
        }
    }
    let dirfd = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let start = Instant::now();
    let mut told = false;
    loop {
        let file = open_lock_file(&dirfd, &path)?;
        let mut registry = held().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shared) = key(&file)
            .and_then(|k| registry.get(&k))
            .and_then(Weak::upgrade)
        {
            return Ok(StackLock {
                _file: shared,
                path,
            });
        }
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                // A file unlinked while we waited locks nothing: start again.
                if !still_named(&dirfd, &file) {
                    continue;
                }
                let file = Arc::new(file);
                if let Some(k) = key(&file) {
                    registry.retain(|_, w| w.strong_count() > 0);
                    registry.insert(k, Arc::downgrade(&file));
                }
                drop(registry);
                fsutil::remove_stale_temps(dir);
                // Backup archives being written (a full copy of the secrets).
                fsutil::remove_stale_temps(&dir.join("backups"));
                // Stages and set-aside copies of killed data moves, too.
                crate::journal::remove_stale(dir);
                crate::journal::remove_stale(&dir.join("backups"));
                // And those a killed `backup --to FILE` left outside.
                crate::journal::remove_stale_outside(dir);
                let env = dir.join(".env");
                if std::fs::symlink_metadata(&env).is_ok_and(|m| m.file_type().is_symlink()) {
                    if let Ok(target) = std::fs::canonicalize(&env) {
                        fsutil::remove_stale_temps_of(&target);
                    }
                }
                return Ok(StackLock { _file: file, path });
            }
            Err(Errno::WOULDBLOCK) | Err(Errno::INTR) => drop(registry),
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("locking {}", path.display()))
            }
        }
        let holder = holder(&file);
        if start.elapsed() >= wait.timeout {
            anyhow::bail!(
                "another jitsi-stack{holder} is still working on {} after {} s of waiting; \
                 run this again when it has finished (set {TIMEOUT_VAR}=SECONDS to wait longer)",
                dir.display(),
                format!("{:.1}", wait.timeout.as_secs_f64()).trim_end_matches(".0")
            );
        }
        if !told {
            crate::errln!("waiting for another jitsi-stack on this stack{holder}...");
            told = true;
        }
        std::thread::sleep(
            Duration::from_millis(20).min(wait.timeout.saturating_sub(start.elapsed())),
        );
    }
}

/// Opens (creating 0600 if missing) the lock file without following a
/// symlink and without blocking on a FIFO; read-only when that is all we
/// may (a lock file owned by another user: `flock` works on either).
fn open_lock_file(dirfd: &File, path: &Path) -> Result<File> {
    let base = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let symlink = || {
        UsageError(format!(
            "{} is a symlink: refusing to lock through it; remove it (jitsi-stack makes its own)",
            path.display()
        ))
    };
    // Not allowed to create or open it: the stack is not ours to change
    // (a usage error, exit 2, like an unreadable .env).
    let denied = |e: Errno| -> anyhow::Error {
        if matches!(e, Errno::ACCESS | Errno::PERM | Errno::ROFS) {
            UsageError(format!(
                "cannot lock {}: {}; run as the stack's owner (or root)",
                path.display(),
                std::io::Error::from(e)
            ))
            .into()
        } else {
            anyhow::Error::new(std::io::Error::from(e))
                .context(format!("opening {}", path.display()))
        }
    };
    let fd = match rustix::fs::openat(
        dirfd,
        LOCK_FILE,
        base | OFlags::RDWR | OFlags::CREATE | OFlags::EXCL,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(fd) => {
            let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600));
            // As root in a user's stack: the lock file is the user's, as
            // the rest of the directory.
            if fsutil::is_root() {
                if let Ok(st) = rustix::fs::fstat(dirfd) {
                    let _ = rustix::fs::fchown(
                        &fd,
                        Some(rustix::fs::Uid::from_raw(st.st_uid)),
                        Some(rustix::fs::Gid::from_raw(st.st_gid)),
                    );
                }
            }
            fd
        }
        Err(Errno::EXIST) => {
            match rustix::fs::openat(dirfd, LOCK_FILE, base | OFlags::RDWR, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::ACCESS) | Err(Errno::ROFS) => {
                    match rustix::fs::openat(dirfd, LOCK_FILE, base | OFlags::RDONLY, Mode::empty())
                    {
                        Ok(fd) => fd,
                        Err(Errno::LOOP) => return Err(symlink().into()),
                        Err(e) => return Err(denied(e)),
                    }
                }
                Err(Errno::LOOP) => return Err(symlink().into()),
                Err(e) => return Err(denied(e)),
            }
        }
        Err(Errno::LOOP) => return Err(symlink().into()),
        Err(e) => return Err(denied(e)),
    };
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(UsageError(format!(
            "{} is not a regular file: remove it (jitsi-stack makes its own lock file)",
            path.display()
        ))
        .into());
    }
    Ok(file)
}

fn still_named(dirfd: &File, file: &File) -> bool {
    let (Ok(named), Ok(ours)) = (
        rustix::fs::statat(dirfd, LOCK_FILE, rustix::fs::AtFlags::SYMLINK_NOFOLLOW),
        file.metadata(),
    ) else {
        return false;
    };
    named.st_dev == ours.dev() && named.st_ino == ours.ino()
}

/// " (pid N: jitsi-stack up)": who holds the lock on `file`, from the
/// kernel's table of locks (`/proc/locks`) and the holder's command line.
fn holder(file: &File) -> String {
    let Ok(meta) = file.metadata() else {
        return String::new();
    };
    let dev = meta.dev();
    let want = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        meta.ino()
    );
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return String::new();
    };
    for line in locks.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 12345 fe:00:4711 0 EOF"
        if f.len() >= 6 && f[1] == "FLOCK" && f[5] == want {
            let pid = f[4];
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    let args: Vec<String> = b
                        .split(|c| *c == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).chars().take(60).collect())
                        .collect();
                    let mut args = args.into_iter();
                    let prog = args
                        .next()
                        .map(|p| p.rsplit('/').next().unwrap_or(&p).to_string())
                        .unwrap_or_default();
                    std::iter::once(prog)
                        .chain(args)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            return if cmd.is_empty() {
                format!(" (pid {pid})")
            } else {
                format!(" (pid {pid}: {cmd})")
            };
        }
    }
    String::new()
}

/// Removes the stack lock file from `dir` when it is all `dir` holds (a
/// directory `init` made and then failed in), so the directory can go too.
pub fn remove_if_only_lock(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    if names.len() == 1 && names[0] == LOCK_FILE {
        let _ = std::fs::remove_file(dir.join(LOCK_FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether another open file description could take the lock now.
    fn free(dir: &Path) -> bool {
        // The probe's own lock goes when `f` is closed at the end.
        let f = File::open(dir.join(LOCK_FILE)).unwrap();
        rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive).is_ok()
    }

    #[test]
    fn nested_guards_share_the_lock_until_the_last_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let first = acquire(d.path(), Wait::default()).unwrap();
        let mode = std::fs::metadata(first.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!free(d.path()));
        // A command run under another's lock does not wait for itself.
        let inner = acquire(d.path(), Wait::default().timeout(Duration::ZERO)).unwrap();
        drop(first);
        assert!(!free(d.path()), "released while a guard is alive");
        drop(inner);
        assert!(free(d.path()));
        let again = acquire(d.path(), Wait::default().timeout(Duration::ZERO)).unwrap();
        assert!(!free(d.path()));
        drop(again);
    }

    #[test]
    fn symlinked_lock_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        std::os::unix::fs::symlink(&target, d.path().join(LOCK_FILE)).unwrap();
        let err = acquire(d.path(), Wait::default()).unwrap_err().to_string();
        assert!(err.contains("symlink"), "{err}");
    }
}
