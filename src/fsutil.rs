//! File-system primitives for a stack directory: reads that refuse what is
//! not a regular file, atomic replacement that keeps a file's owner and
//! mode, directories made with exact modes whatever the umask, and
//! ownership changes that never follow a symlink.

use crate::UsageError;
use anyhow::{bail, Context, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Mode and owner a written file gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    pub mode: u32,
    /// uid and gid to hand the file to; `None`: whoever runs the command.
    pub owner: Option<(u32, u32)>,
}

impl Perms {
    /// A new file with `mode`, owned by the caller.
    pub fn new(mode: u32) -> Perms {
        Perms { mode, owner: None }
    }

    /// What a file holding secrets keeps across a rewrite: its owner, group
    /// and mode, except that others lose any access (the user and group
    /// bits are the admin's choice; `check` warns about the group bits).
    pub fn keep_secret(meta: &fs::Metadata) -> Perms {
        Perms {
            mode: meta.mode() & 0o770,
            owner: Some((meta.uid(), meta.gid())),
        }
    }
}

/// The file type, in words, of a non-regular file.
fn kind_of(ft: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Reads a regular file (through symlinks, as Compose does). Anything else
/// is refused at once, without blocking: a FIFO is opened non-blocking and
/// never read. Every failure is a usage error (exit 2), naming the file and
/// what to do.
pub fn read_regular(path: &Path) -> Result<Vec<u8>> {
    let unreadable = |e: std::io::Error| -> anyhow::Error {
        let hint = match e.kind() {
            ErrorKind::PermissionDenied => {
                let owner = fs::metadata(path)
                    .map(|m| format!(" (owner uid {}, mode {:04o})", m.uid(), m.mode() & 0o7777))
                    .unwrap_or_default();
                format!(
                    "permission denied{owner}; run as the file's owner (or root), or fix its mode"
                )
            }
            ErrorKind::NotFound => "it does not exist".to_string(),
            _ => e.to_string(),
        };
        UsageError(format!("cannot read {}: {hint}", path.display())).into()
    };
    // stat first: opening a device can have effects of its own.
    let meta = fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC).bits() as i32)
        .open(path)
        .map_err(unreadable)?;
    // The name may have been swapped since the stat.
    let meta = f.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut buf).map_err(unreadable)?;
    Ok(buf)
}

fn not_regular(path: &Path, ft: fs::FileType) -> anyhow::Error {
    UsageError(format!(
        "{} is {}, not a regular file: jitsi-stack reads and writes it only as a regular file \
         (a symlink to one is fine); replace it with a file",
        path.display(),
        kind_of(ft)
    ))
    .into()
}

/// Where writing `path` must go: `path` itself, or, when it is a symlink,
/// the file it points to (written through, so the link stays a link).
pub fn write_target(path: &Path) -> Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::canonicalize(path).map_err(|e| {
                let link = fs::read_link(path).unwrap_or_default();
                UsageError(format!(
                    "{} is a symlink to {}, which cannot be resolved ({e}): create the file it points to, or replace the link with a file",
                    path.display(),
                    link.display()
                ))
            })?;
            let meta = fs::metadata(&target)?;
            if !meta.is_file() {
                return Err(not_regular(&target, meta.file_type()));
            }
            Ok(target)
        }
        Ok(m) if !m.is_file() => Err(not_regular(path, m.file_type())),
        _ => Ok(path.to_path_buf()),
    }
}

/// The current bytes and metadata of the regular file at `path`, or `None`
/// when there is no file.
pub fn read_existing(path: &Path) -> Result<Option<(Vec<u8>, fs::Metadata)>> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        Ok(m) if !m.is_file() => Err(not_regular(path, m.file_type())),
        Ok(m) => Ok(Some((read_regular(path)?, m))),
    }
}

/// Replaces `path` with `contents` so a reader sees either the old file or
/// the new one, never a mix; the new file gets `mode` (exactly, whatever
/// the umask) and is owned by the caller.
pub fn atomic_write(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    write_atomic(path, contents, Perms::new(mode))
}

/// Like [`atomic_write`] with owner and mode given. The temporary file is
/// created 0600 without following a symlink, handed to the owner and given
/// its mode before any byte is written, flushed, renamed over `path`, and
/// removed on every error path. `path` itself is replaced, never followed.
pub fn write_atomic(path: &Path, contents: &[u8], perms: Perms) -> Result<()> {
    write_atomic_with(path, perms, |f| f.write_all(contents))
}

/// [`write_atomic`] with the contents written by `fill` into the temporary
/// file (a stream, say, so a large file is never held in memory).
fn write_atomic_with(
    path: &Path,
    perms: Perms,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = parent_dir(path);
    let tmp = temp_sibling(path);
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags((OFlags::NOFOLLOW | OFlags::CLOEXEC).bits() as i32)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        if let Some((uid, gid)) = perms.owner {
            let meta = f.metadata()?;
            if (meta.uid(), meta.gid()) != (uid, gid) {
                if let Err(e) = std::os::unix::fs::fchown(&f, Some(uid), Some(gid)) {
                    crate::errln!(
                        "note: {} could not keep its owner {uid}:{gid} ({e}); it is now owned by uid {}",
                        path.display(),
                        meta.uid()
                    );
                }
            }
        }
        // After the chown, which may clear set-id bits.
        f.set_permissions(fs::Permissions::from_mode(perms.mode))
            .with_context(|| format!("setting the mode of {}", tmp.display()))?;
        fill(&mut f).with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(&dir);
    Ok(())
}

/// Writes a new file with `mode` and flushes it to disk, without the
/// temp-file dance: for files in a directory nobody reads until it is
/// switched in (see `render::live`). Never follows a symlink.
pub fn write_synced(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags((OFlags::NOFOLLOW | OFlags::CLOEXEC).bits() as i32)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", path.display()))
}

/// Like [`atomic_write`], with the contents streamed from `reader`, so a
/// large file (restored from a backup archive) is never held in memory.
pub fn atomic_write_from(path: &Path, reader: &mut dyn std::io::Read, mode: u32) -> Result<()> {
    write_atomic_with(path, Perms::new(mode), |f| {
        std::io::copy(reader, f).map(|_| ())
    })
}

/// Copies the file `src` to `dst`, which must not exist yet, with `mode`,
/// streaming, and flushes it; returns the bytes copied. For trees copied into
/// a place nobody uses yet (`migrate --copy`, data moved to a new layout).
pub fn copy_file_synced(src: &Path, dst: &Path, mode: u32) -> Result<u64> {
    let mut from = File::open(src).with_context(|| format!("reading {}", src.display()))?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(dst)
        .with_context(|| format!("creating {}", dst.display()))?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    let n = std::io::copy(&mut from, &mut f)
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", dst.display()))?;
    Ok(n)
}

/// Makes `link` a symlink to `target`, atomically replacing whatever file
/// or symlink is there (a temporary link renamed over it).
pub fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    let tmp = temp_sibling(link);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("creating the symlink {}", tmp.display()))?;
    fs::rename(&tmp, link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!(
            "switching {} to {}",
            link.display(),
            target.display()
        ))
    })
}

/// Swaps two names in `dir` in one step (`renameat2(RENAME_EXCHANGE)`).
/// Returns false when the file system cannot (the caller falls back).
pub fn exchange(dir: &Path, a: &str, b: &str) -> Result<bool> {
    let d = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    match rustix::fs::renameat_with(&d, a, &d, b, rustix::fs::RenameFlags::EXCHANGE) {
        Ok(()) => Ok(true),
        Err(Errno::INVAL) | Err(Errno::NOSYS) | Err(Errno::NOTSUP) => Ok(false),
        Err(e) => Err(std::io::Error::from(e))
            .with_context(|| format!("exchanging {a} and {b} in {}", dir.display())),
    }
}

pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

/// `.NAME.tmp-PID-N` beside `path`: hidden, unique in this process, and
/// recognisable by [`is_temp_name`] so the next command can remove it.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}-{}", std::process::id(), unique()));
    path.with_file_name(name)
}

/// Whether `name` is one of [`temp_sibling`]'s names.
pub fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some((_, tail)) = rest.rsplit_once(".tmp-") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    tail.split_once('-')
        .is_some_and(|(pid, n)| digits(pid) && digits(n))
}

/// The pid of the process that made the temporary file `name` (one of
/// [`temp_sibling`]'s names), if it is one.
pub fn temp_writer_pid(name: &str) -> Option<u32> {
    if !is_temp_name(name) {
        return None;
    }
    let (_, tail) = name.rsplit_once(".tmp-")?;
    tail.split_once('-')?.0.parse().ok()
}

/// Whether the process `pid` still runs (this one included). A pid the
/// kernel cannot have (0, or above `pid_max`) is gone.
pub fn pid_alive(pid: u32) -> bool {
    pid != 0
        && (pid == std::process::id()
            || i32::try_from(pid).is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists()))
}

/// Whether the process that named a [`temp_sibling`] `name` still runs
/// (another one than this): its temporary file is live, not stale, even
/// when a second jitsi-stack is cleaning up (a writer outside the lock).
pub fn temp_writer_alive(name: &str) -> bool {
    let pid = name
        .rsplit_once(".tmp-")
        .and_then(|(_, tail)| tail.split('-').next())
        .and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) => pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists(),
        None => false,
    }
}

/// Removes temporary files and links a killed jitsi-stack left in `dir`
/// (they may hold a full set of secrets): only those whose writer's pid is
/// gone. Call it holding the stack lock. Returns how many.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_temp_name(name) || temp_writer_alive(name) {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if fs::remove_dir_all(e.path()).is_ok() {
                n += 1;
            }
        } else if fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

/// Removes temporary siblings of `file` and of its backup (`.NAME.tmp-*`,
/// `.NAME.bak.tmp-*`) from its directory, and nothing else there: for a
/// `.env` that links to a file outside the stack directory.
pub fn remove_stale_temps_of(file: &Path) -> usize {
    let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
        return 0;
    };
    let prefixes = [format!(".{name}.tmp-"), format!(".{name}.bak.tmp-")];
    let dir = parent_dir(file);
    let Ok(rd) = fs::read_dir(&dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.filter_map(|e| e.ok()) {
        let entry = e.file_name();
        let Some(entry) = entry.to_str() else {
            continue;
        };
        let ours = is_temp_name(entry)
            && !temp_writer_alive(entry)
            && prefixes.iter().any(|p| entry.starts_with(p.as_str()));
        if ours && e.file_type().is_ok_and(|t| !t.is_dir()) && fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a rename durable; best effort, since not every filesystem allows it.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Creates `path` and any missing parents, each with exactly `mode`
/// (whatever the umask). Returns the directories it created, outermost
/// first (a caller that fails may remove them again).
pub fn create_dir_all_mode(path: &Path, mode: u32) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut p = path;
    loop {
        match fs::symlink_metadata(p) {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                missing.push(p.to_path_buf());
                match p.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => p = parent,
                    _ => break,
                }
            }
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", p.display())),
        }
    }
    let mut created = Vec::new();
    for d in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(mode).create(&d) {
            Ok(()) => {
                let f = open_dir_nofollow(&d)?;
                f.set_permissions(fs::Permissions::from_mode(mode))
                    .with_context(|| format!("setting the mode of {}", d.display()))?;
                created.push(d);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", d.display())),
        }
    }
    if !fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false) {
        bail!("{} exists and is not a directory", path.display());
    }
    Ok(created)
}

/// Creates one directory with exactly `mode`; true when it was new.
pub fn create_dir_mode(path: &Path, mode: u32) -> Result<bool> {
    match fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {
            let f = open_dir_nofollow(path)?;
            f.set_permissions(fs::Permissions::from_mode(mode))
                .with_context(|| format!("setting the mode of {}", path.display()))?;
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

fn open_dir_nofollow(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC).bits() as i32)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// What [`make_dir_under`] found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Made {
    Created,
    Existed,
    /// This path, at or above the directory, is a symlink: nothing was
    /// created, changed or owned through it.
    Symlink(PathBuf),
}

/// Makes `root/rel` (each missing directory with exactly `mode`) and, with
/// `owner`, hands the last one to that uid:gid. `root` is taken as given;
/// below it no symlink is ever followed: every step is opened relative to
/// its parent with `O_NOFOLLOW`, and the chown is an `fchown` of the
/// directory opened that way, so it cannot land outside the tree.
pub fn make_dir_under(
    root: &Path,
    rel: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<Made> {
    dir_under(root, rel, mode, owner, false)
}

/// Like [`make_dir_under`], but the last directory gets exactly `mode`
/// (and with `owner`, that owner) whether it was made now or before: for
/// a directory an operation owns (it recorded it absent), which a rerun
/// after a kill between its mkdir and its chmod must finish.
pub fn make_own_dir_under(
    root: &Path,
    rel: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<Made> {
    dir_under(root, rel, mode, owner, true)
}

fn dir_under(
    root: &Path,
    rel: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
    exact: bool,
) -> Result<Made> {
    let mut cur: rustix::fd::OwnedFd = File::open(root)
        .with_context(|| format!("opening {}", root.display()))?
        .into();
    let mut here = root.to_path_buf();
    let mut created = false;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    for c in rel.components() {
        let Component::Normal(name) = c else {
            bail!(
                "{}: only plain names below {}",
                rel.display(),
                root.display()
            );
        };
        here.push(name);
        let next = match rustix::fs::openat(&cur, name, flags, Mode::empty()) {
            Ok(fd) => {
                created = false;
                fd
            }
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(mode)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => {
                        return Err(std::io::Error::from(e))
                            .with_context(|| format!("creating {}", here.display()))
                    }
                }
                let fd = rustix::fs::openat(&cur, name, flags, Mode::empty())
                    .map_err(std::io::Error::from)
                    .with_context(|| format!("opening {}", here.display()))?;
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
                    .map_err(std::io::Error::from)
                    .with_context(|| format!("setting the mode of {}", here.display()))?;
                created = true;
                fd
            }
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                let st = rustix::fs::statat(&cur, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(std::io::Error::from)
                    .with_context(|| format!("inspecting {}", here.display()))?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                    return Ok(Made::Symlink(here));
                }
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("{} exists and is not a directory", here.display()));
            }
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("opening {}", here.display()))
            }
        };
        cur = next;
    }
    if exact && !created {
        rustix::fs::fchmod(&cur, Mode::from_raw_mode(mode))
            .map_err(std::io::Error::from)
            .with_context(|| format!("setting the mode of {}", here.display()))?;
    }
    if let Some((uid, gid)) = owner {
        rustix::fs::fchown(
            &cur,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .map_err(std::io::Error::from)
        .with_context(|| format!("chown {uid}:{gid} {}", here.display()))?;
    }
    Ok(if created {
        Made::Created
    } else {
        Made::Existed
    })
}

/// Whether this process runs as root (and may hand files to other users).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Directories a stack must never be written into unless asked with
/// `--force`: the root, the system's own trees and the home directory
/// itself. Returns why, when `dir` is one.
pub fn system_dir(dir: &Path) -> Option<String> {
    const SYSTEM: &[&str] = &[
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/lib64",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/lib",
        "/usr/sbin",
        "/usr/share",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/tmp",
    ];
    const NEVER_UNDER: &[&str] = &["/proc", "/sys", "/dev", "/boot"];
    let abs = resolve(dir);
    let s = abs.to_string_lossy();
    if SYSTEM.iter().any(|d| *d == s) {
        return Some(format!("{} is a system directory", abs.display()));
    }
    // /dev/shm is an ordinary tmpfs for files (benchmarks use it).
    let shm = abs.starts_with("/dev/shm") && abs != Path::new("/dev/shm");
    if let Some(top) = NEVER_UNDER.iter().find(|d| abs.starts_with(d) && !shm) {
        return Some(format!("{} is inside {top}", abs.display()));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        if resolve(Path::new(&home)) == abs {
            return Some(format!("{} is your home directory itself", abs.display()));
        }
    }
    None
}

/// `path` made absolute with symlinks resolved as far as it exists.
fn resolve(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = fs::canonicalize(existing) {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return normalize(&out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(p), Some(n)) => {
                rest.push(n.to_os_string());
                existing = p;
            }
            _ => return normalize(&abs),
        }
    }
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_mode_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        atomic_write(&p, b"A=1\n", 0o600).unwrap();
        atomic_write(&p, b"A=2\n", 0o640).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "A=2\n");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_failed_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a directory fails after the temp file exists.
        let p = dir.path().join("target");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("x"), "keep").unwrap();
        assert!(atomic_write(&p, b"secret", 0o600).is_err());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["target"]);
    }

    #[test]
    fn temp_names_are_recognised() {
        let t = temp_sibling(Path::new("/x/.env"));
        let name = t.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("..env.tmp-"), "{name}");
        assert!(is_temp_name(name));
        for other in [
            ".env",
            ".env.bak",
            "..env.tmp-",
            ".a.tmp-1",
            ".a.tmp-x-1",
            "a.tmp-1-2",
        ] {
            assert!(!is_temp_name(other), "{other}");
        }
    }

    #[test]
    fn only_temps_of_dead_writers_are_stale() {
        let d = tempfile::tempdir().unwrap();
        let dead = 0x3fff_fff0u32; // above any pid_max
        let me = std::process::id();
        for name in [
            format!("..env.tmp-{dead}-0"),
            "..env.tmp-1-2".to_string(), // init: always alive
            "keep".to_string(),
        ] {
            fs::write(d.path().join(name), "secret").unwrap();
        }
        assert_eq!(temp_writer_pid(&format!("..env.tmp-{me}-7")), Some(me));
        assert!(pid_alive(me) && !pid_alive(dead));
        assert_eq!(remove_stale_temps(d.path()), 1);
        assert!(!d.path().join(format!("..env.tmp-{dead}-0")).exists());
        assert!(d.path().join("..env.tmp-1-2").exists());
        let env = d.path().join(".env");
        fs::write(d.path().join(format!("..env.tmp-{dead}-1")), "x").unwrap();
        assert_eq!(remove_stale_temps_of(&env), 1);
        assert_eq!(remove_stale_temps_of(&env), 0);
    }

    #[test]
    fn system_dirs() {
        assert!(system_dir(Path::new("/")).is_some());
        assert!(system_dir(Path::new("/etc")).is_some());
        assert!(system_dir(Path::new("/etc/../usr")).is_some());
        assert!(system_dir(Path::new("/proc/self")).is_some());
        assert!(system_dir(Path::new("/dev/shm")).is_some());
        assert!(system_dir(Path::new("/dev/shm/bench/stack")).is_none());
        assert!(system_dir(Path::new("/srv/jitsi")).is_none());
        let d = tempfile::tempdir().unwrap();
        assert!(system_dir(&d.path().join("stack")).is_none());
    }

    #[test]
    fn dirs_get_exact_modes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/c");
        let made = create_dir_all_mode(&p, 0o750).unwrap();
        assert_eq!(made.len(), 3);
        for m in &made {
            assert_eq!(fs::metadata(m).unwrap().mode() & 0o7777, 0o750);
        }
        assert!(create_dir_all_mode(&p, 0o750).unwrap().is_empty());
    }

    #[test]
    fn make_dir_under_never_follows_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("config");
        let outside = d.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("jvb")).unwrap();
        let m = make_dir_under(&root, Path::new("jvb/sub"), 0o755, None).unwrap();
        assert_eq!(m, Made::Symlink(root.join("jvb")));
        assert!(!outside.join("sub").exists());
        assert_eq!(
            make_dir_under(&root, Path::new("storage/web"), 0o755, None).unwrap(),
            Made::Created
        );
        assert_eq!(
            make_dir_under(&root, Path::new("storage/web"), 0o755, None).unwrap(),
            Made::Existed
        );
    }
}
