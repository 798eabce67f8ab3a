//! Atomic file writes: temp file in the same directory, fsync, rename, fsync dir.

use anyhow::{Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Replaces `path` with `contents` so a reader sees either the old file or the
/// new one, never a mix; the new file gets `mode`.
pub fn atomic_write(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let dir = parent_dir(path);
    let tmp = temp_sibling(path);
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        // The umask may have narrowed or the file may pre-exist: set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(contents)
            .with_context(|| format!("writing {}", tmp.display()))?;
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
/// swapped in (see `render::write`).
pub fn write_synced(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
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
    let dir = parent_dir(path);
    let tmp = temp_sibling(path);
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        std::io::copy(reader, &mut f).with_context(|| format!("writing {}", tmp.display()))?;
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

/// Like [`atomic_write`], but first keeps the current file as `NAME.bak`
/// (same mode as the new file, since it may hold the same secrets).
pub fn atomic_write_with_backup(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    if let Ok(old) = fs::read(path) {
        let bak = backup_path(path);
        atomic_write(&bak, &old, mode)?;
    }
    atomic_write(path, contents, mode)
}

pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}-{}", std::process::id(), unique()));
    path.with_file_name(name)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn parent_dir(path: &Path) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_mode_and_backup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        atomic_write_with_backup(&p, b"A=1\n", 0o600).unwrap();
        assert!(!backup_path(&p).exists());
        atomic_write_with_backup(&p, b"A=2\n", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "A=2\n");
        assert_eq!(fs::read_to_string(backup_path(&p)).unwrap(), "A=1\n");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
