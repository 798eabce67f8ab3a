//! `jitsi-stack upgrade` and `jitsi-stack rollback`: move a stack written
//! for an older release to the pinned one, and back.
//!
//! `upgrade` backs up first (`.env`, the stack's files and CONFIG's data in
//! one archive, 0600, free space checked), then carries the variables and
//! the data layout across the releases in between, checks, renders, pulls,
//! starts and probes the stack through the existing commands. A step that
//! fails restores the backup, so the stack is as it was before. `rollback`
//! restores the same backup later, with the previous release.

use crate::cli::{Command, RollbackArgs, SmokeArgs, UpArgs, UpgradeArgs};
use crate::commands::migrate::{self, Window};
use crate::commands::{gen_passwords, init, ops, render};
use crate::config::{Stack, Values, RELEASE_VAR};
use crate::docker::Compose;
use crate::envfile::EnvFile;
use crate::schema::history;
use crate::schema::PINNED_IMAGE_VERSION;
use crate::{validate, Exit, UsageError};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component as PathPart, Path, PathBuf};

/// Where backups go, inside the stack directory.
pub const BACKUP_DIR: &str = "backups";
/// Mode of an archive and its journal: they hold every secret of the stack.
const BACKUP_MODE: u32 = 0o600;
/// Free space kept beyond the archive's size.
const SPACE_MARGIN: u64 = 16 << 20;
/// The metadata entry at the head of each archive.
const META_ENTRY: &str = "backup.json";

/// `up -d` for the restored stack: its own rendered files, as they were.
const UP: &[&str] = &["up", "-d", "--remove-orphans"];

/// What an archive holds and where it came from; also its journal (the
/// file next to it), which records what the upgrade then created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Journal {
    pub format_version: u32,
    /// File name of the archive in the backup directory.
    pub archive: String,
    pub created_at: String,
    pub from: String,
    pub to: String,
    /// Absolute paths at backup time.
    pub stack_dir: PathBuf,
    pub config_dir: PathBuf,
    /// `backed-up`, `upgrading`, `done`, `failed`, `restored`.
    pub state: String,
    /// The step that failed, if one did.
    pub failed_step: Option<String>,
    /// Paths the upgrade created (absent from the archive): rollback removes them.
    #[serde(default)]
    pub created: Vec<PathBuf>,
}

/// One archived path and where it goes back to.
struct Item {
    abs: PathBuf,
    /// `stack/REL` or `config/REL`.
    name: String,
    meta: fs::Metadata,
}

pub fn run(dir: &Path, args: UpgradeArgs) -> Result<Exit> {
    let env_path = crate::config::env_path(dir)?;
    let file = EnvFile::read(&env_path)?;
    let (from, from_var) = stack_release(&file);
    match history::compare(&from, PINNED_IMAGE_VERSION) {
        None => {
            return Err(UsageError(format!(
                "{from_var}={from}: not a release tag; upgrade moves stacks between stable releases"
            ))
            .into())
        }
        Some(Ordering::Greater) => bail!(
            "the stack is written for {from}, newer than this jitsi-stack's {PINNED_IMAGE_VERSION}: use a newer jitsi-stack"
        ),
        Some(Ordering::Equal) => {
            crate::outln!(
                "{}: already written for {PINNED_IMAGE_VERSION} ({from_var}); nothing to upgrade",
                env_path.display()
            );
            return Ok(Exit::Ok);
        }
        Some(Ordering::Less) => {}
    }

    // The plan, shown before anything changes.
    let stack = Stack::load(dir, &[] as &[&str])?;
    let config = crate::config::normalize(&stack.config_dir());
    let plan = migrate::plan_retired(&file, Window::After { from: &from });
    let moves = migrate::pending_moves(&config, &stack.values);
    crate::outln!(
        "upgrade {} from {from} to {PINNED_IMAGE_VERSION}",
        dir.display()
    );
    for c in &plan.changes {
        crate::outln!("{c}");
    }
    for m in &moves {
        crate::outln!(
            "  copied    {} -> {}: {} ({})",
            m.from,
            m.to,
            m.what,
            m.release
        );
    }
    for n in migrate::release_notes(Some(&from)) {
        crate::outln!("{n}");
    }
    confirm(
        args.yes,
        &format!("Back up, then upgrade this stack to {PINNED_IMAGE_VERSION}?"),
    )?;

    let _lock = crate::lock::acquire(dir, crate::lock::Wait::default())?;
    const STEPS: usize = 8;
    let step = |n: usize, name: &str, what: &str| crate::outln!("==> [{n}/{STEPS}] {name}: {what}");

    step(1, "backup", ".env, the stack's files and CONFIG's data");
    let before = snapshot(dir, &config)?;
    let (archive, mut journal) = backup(dir, &config, &from)?;
    let journal_path = journal_path(&archive);
    journal.state = "upgrading".into();
    write_journal(&journal_path, &journal)?;

    let mut touched = false;
    let result = (|| -> Result<()> {
        step(2, "variables", &format!("{from} -> {PINNED_IMAGE_VERSION}"));
        let mut file = EnvFile::read(&env_path)?;
        for k in &plan.remove {
            file.remove(k);
        }
        let pairs: Vec<(&str, &str)> = plan
            .set
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        file.set_many(&pairs)?;
        let mut ours = vec![(RELEASE_VAR, PINNED_IMAGE_VERSION)];
        if file.get("JITSI_IMAGE_VERSION") == Some(from.as_str()) {
            ours.push(("JITSI_IMAGE_VERSION", PINNED_IMAGE_VERSION));
            crate::outln!("  set       JITSI_IMAGE_VERSION -> {PINNED_IMAGE_VERSION}: was {from}");
        }
        file.set_many(&ours)?;
        for c in &plan.changes {
            crate::outln!("{c}");
        }
        for name in gen_passwords::fill(&mut file, &[], false)?.filled {
            crate::outln!("  generated {name}: a new account of {PINNED_IMAGE_VERSION}");
        }
        crate::outln!("  set       {RELEASE_VAR} -> {PINNED_IMAGE_VERSION}: was {from}");
        file.write(&env_path)?;

        step(3, "data", "the release's CONFIG layout");
        let values = Values::from_file(&file);
        let moves = migrate::pending_moves(&config, &values);
        let (changes, _) = migrate::move_data(&config, &moves, false)?;
        let mut made = Vec::new();
        let mut changes = changes;
        changes.extend(migrate::tree_changes(&config, false, &mut made)?);
        for c in &changes {
            crate::outln!("{c}");
        }

        step(4, "check", ".env against the schema");
        let stack = Stack::load(dir, &[] as &[&str])?;
        let report = validate::validate(&stack);
        for f in &report.findings {
            crate::errln!("{f}");
        }
        if report.errors() > 0 {
            bail!("{} error(s) in the upgraded .env", report.errors());
        }

        step(5, "render", "compose files and every service's config");
        let (_, out) = render::prepare(dir, &[], true)?;
        crate::outln!("  rendered {} files", out.files.len());

        step(6, "pull", &format!("the {PINNED_IMAGE_VERSION} images"));
        expect_ok(ops::run(dir, Command::Pull)?, "pull")?;

        step(7, "up", "start and wait until healthy");
        touched = true;
        let up = UpArgs {
            with: vec![],
            dry_run: false,
            no_wait: false,
            timeout: args.timeout,
            force: false,
        };
        expect_ok(ops::run(dir, Command::Up(up))?, "up")?;

        step(8, "smoke", "probe the running stack");
        let smoke = SmokeArgs {
            json: false,
            timeout: args.smoke_timeout,
            insecure: args.insecure,
        };
        expect_ok(ops::run(dir, Command::Smoke(smoke))?, "smoke")?;
        Ok(())
    })();

    journal.created = created_since(&before, dir, &config)?;
    match result {
        Ok(()) => {
            journal.state = "done".into();
            write_journal(&journal_path, &journal)?;
            crate::outln!(
                "\nupgraded from {from} to {PINNED_IMAGE_VERSION}; the backup stays in {}: `jitsi-stack rollback` restores it",
                archive.display()
            );
            Ok(Exit::Ok)
        }
        Err(e) => {
            journal.state = "failed".into();
            journal.failed_step = Some(format!("{e:#}"));
            write_journal(&journal_path, &journal)?;
            crate::errln!("error: {e:#}");
            crate::errln!(
                "==> restoring the stack from {} (as it was before the upgrade)",
                archive.display()
            );
            let restored = restore(&archive, &journal)
                .with_context(|| format!("restoring {} failed too", archive.display()))?;
            journal.state = "restored".into();
            write_journal(&journal_path, &journal)?;
            crate::outln!("  restored {restored} paths; {RELEASE_VAR}={from} again");
            if touched {
                start_restored(dir);
            }
            Err(e.context(format!(
                "upgrade to {PINNED_IMAGE_VERSION} failed; the stack was restored to {from} from {}",
                archive.display()
            )))
        }
    }
}

pub fn rollback(dir: &Path, args: RollbackArgs) -> Result<Exit> {
    crate::config::env_path(dir)?;
    let (archive, journal) = match &args.from {
        Some(a) => {
            let journal = match read_journal(&journal_path(a)) {
                Ok(j) => j,
                Err(_) => read_meta(a)?,
            };
            (a.clone(), journal)
        }
        None => latest(dir)?,
    };
    crate::outln!(
        "rollback {}: restore {} (taken {} before upgrading {} -> {})",
        dir.display(),
        archive.display(),
        journal.created_at,
        journal.from,
        journal.to
    );
    confirm(
        args.yes,
        &format!(
            "Restore the stack as it was on {} ({})? Changes made since are lost",
            journal.created_at, journal.from
        ),
    )?;
    let _lock = crate::lock::acquire(dir, crate::lock::Wait::default())?;
    let n = restore(&archive, &journal)?;
    let mut j = journal.clone();
    j.state = "restored".into();
    let _ = write_journal(&journal_path(&archive), &j);
    crate::outln!(
        "  restored {n} paths from {}; {RELEASE_VAR}={} again",
        archive.display(),
        journal.from
    );
    if !args.no_up {
        start_restored(dir);
    }
    crate::outln!(
        "note: this jitsi-stack writes {PINNED_IMAGE_VERSION} files and will not render a {} stack; `jitsi-stack upgrade` moves it again",
        journal.from
    );
    Ok(Exit::Ok)
}

/// The release a stack's files were written for, and where that was read.
pub fn stack_release(file: &EnvFile) -> (String, &'static str) {
    if let Some(v) = file.get(RELEASE_VAR).filter(|v| !v.is_empty()) {
        return (v.to_string(), RELEASE_VAR);
    }
    // Stacks from before JITSI_STACK_RELEASE: init pinned JITSI_IMAGE_VERSION.
    if let Some(v) = file
        .get("JITSI_IMAGE_VERSION")
        .filter(|v| history::release_key(v).is_some())
    {
        return (v.to_string(), "JITSI_IMAGE_VERSION");
    }
    (PINNED_IMAGE_VERSION.to_string(), "default")
}

fn expect_ok(exit: Exit, step: &str) -> Result<()> {
    match exit {
        Exit::Ok => Ok(()),
        other => Err(anyhow!(
            "step {step} did not succeed (exit status {})",
            other.code()
        )),
    }
}

fn confirm(yes: bool, question: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "{question} Add --yes to confirm (there is no terminal to ask on)"
        ))
        .into());
    }
    crate::err!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(UsageError("not confirmed; nothing was changed".into()).into())
    }
}

/// Starts the restored stack with its own rendered files, through Compose
/// directly: this jitsi-stack renders only for its pinned release.
fn start_restored(dir: &Path) {
    crate::outln!("==> starting the restored stack");
    let started = Stack::load(dir, &[] as &[&str])
        .and_then(|s| Ok(Compose::detect(&s)?))
        .and_then(|c| Ok(c.run(UP)?));
    match started {
        Ok(()) => crate::outln!("  started with its previous files"),
        Err(e) => crate::errln!(
            "warning: could not start the restored stack: {e:#}; run `docker compose up -d` in {}",
            dir.display()
        ),
    }
}

// ---------------------------------------------------------------------------
// What is archived.

/// CONFIG paths left out of the archive: derived scratch (tmp/) and
/// recordings, which an upgrade never changes and which can be huge.
fn excluded(rel: &Path) -> bool {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [first, ..] if first == "tmp" => true,
        [j, r, ..] if j.starts_with("jibri") && r == "recordings" => true,
        [s, j, r, ..] if s == "storage" && j.starts_with("jibri") && r == "recordings" => true,
        _ => false,
    }
}

/// Every path to archive: the stack directory (without backups/ and, when it
/// lies inside, CONFIG), then CONFIG; symlinks are not followed.
fn items(dir: &Path, config: &Path) -> Result<(Vec<Item>, Vec<String>)> {
    let dir = dir.canonicalize()?;
    let config_abs = config
        .canonicalize()
        .unwrap_or_else(|_| config.to_path_buf());
    let mut out = Vec::new();
    let mut left_out = Vec::new();
    walk(&dir, &mut |abs, rel, meta| {
        // The lock file is the running upgrade's own: restoring over it
        // would let a second command lock a new file while this one runs.
        if rel.starts_with(BACKUP_DIR)
            || rel == Path::new(crate::lock::LOCK_FILE)
            || abs.starts_with(&config_abs)
        {
            return false;
        }
        if !archivable(&meta) {
            left_out.push(format!(
                "{} (not a file, directory or symlink)",
                abs.display()
            ));
            return false;
        }
        out.push(Item {
            abs: abs.to_path_buf(),
            name: format!("stack/{}", rel.display()),
            meta,
        });
        true
    })?;
    if config_abs.is_dir() {
        walk(&config_abs, &mut |abs, rel, meta| {
            if excluded(rel) {
                left_out.push(rel.display().to_string());
                return false;
            }
            if !archivable(&meta) {
                left_out.push(format!(
                    "{} (not a file, directory or symlink)",
                    rel.display()
                ));
                return false;
            }
            out.push(Item {
                abs: abs.to_path_buf(),
                name: format!("config/{}", rel.display()),
                meta,
            });
            true
        })?;
    }
    Ok((out, left_out))
}

/// Sockets, FIFOs and devices are not data a backup can restore.
fn archivable(meta: &fs::Metadata) -> bool {
    let t = meta.file_type();
    t.is_dir() || t.is_file() || t.is_symlink()
}

/// Visits every path under `root` (not `root` itself) in sorted order,
/// without following symlinks; `visit` returns false to skip a directory's
/// contents.
fn walk(root: &Path, visit: &mut dyn FnMut(&Path, &Path, fs::Metadata) -> bool) -> Result<()> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = root.join(&rel);
        let mut names: Vec<_> = fs::read_dir(&abs)
            .with_context(|| format!("reading {}", abs.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names.into_iter().rev() {
            let child_rel = rel.join(&name);
            let child = root.join(&child_rel);
            let meta = fs::symlink_metadata(&child)
                .with_context(|| format!("reading {}", child.display()))?;
            let is_dir = meta.is_dir();
            if visit(&child, &child_rel, meta) && is_dir {
                stack.push(child_rel);
            }
        }
    }
    Ok(())
}

/// Every path in the stack directory and CONFIG now (backups aside).
fn snapshot(dir: &Path, config: &Path) -> Result<BTreeSet<PathBuf>> {
    let mut set = BTreeSet::new();
    let dir = dir.canonicalize()?;
    walk(&dir, &mut |abs, rel, _| {
        if rel.starts_with(BACKUP_DIR) || rel == Path::new(crate::lock::LOCK_FILE) {
            return false;
        }
        set.insert(abs.to_path_buf());
        true
    })?;
    if let Ok(c) = config.canonicalize() {
        set.insert(c.clone());
        walk(&c, &mut |abs, _, _| {
            set.insert(abs.to_path_buf());
            true
        })?;
    }
    Ok(set)
}

/// The paths present now that were not in `before`, outermost first.
fn created_since(before: &BTreeSet<PathBuf>, dir: &Path, config: &Path) -> Result<Vec<PathBuf>> {
    let now = snapshot(dir, config)?;
    Ok(now.difference(before).cloned().collect())
}

// ---------------------------------------------------------------------------
// Backup.

/// Writes the archive of the stack and returns its path and journal.
fn backup(dir: &Path, config: &Path, from: &str) -> Result<(PathBuf, Journal)> {
    let (items, left_out) = items(dir, config)?;
    let bytes: u64 = items
        .iter()
        .filter(|i| i.meta.is_file())
        .map(|i| i.meta.len())
        .sum();
    let files = items.iter().filter(|i| i.meta.is_file()).count();
    let backups = dir.join(BACKUP_DIR);
    fs::create_dir_all(&backups).with_context(|| format!("creating {}", backups.display()))?;
    fs::set_permissions(&backups, fs::Permissions::from_mode(0o700))?;
    // An archive is at most its contents plus headers; refuse before writing.
    enough_space(&backups, bytes, items.len(), free_space(&backups)?)?;
    let stamp = timestamp();
    let name = format!("upgrade-{stamp}-{from}-to-{PINNED_IMAGE_VERSION}.tar.gz");
    let path = backups.join(&name);
    let journal = Journal {
        format_version: 1,
        archive: name.clone(),
        created_at: stamp,
        from: from.to_string(),
        to: PINNED_IMAGE_VERSION.to_string(),
        stack_dir: dir.canonicalize()?,
        config_dir: config
            .canonicalize()
            .unwrap_or_else(|_| config.to_path_buf()),
        state: "backed-up".into(),
        failed_step: None,
        created: vec![],
    };
    let tmp = backups.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| -> Result<()> {
        let out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(BACKUP_MODE)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        out.set_permissions(fs::Permissions::from_mode(BACKUP_MODE))?;
        let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Complete);
        let meta = serde_json::to_vec_pretty(&journal)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(meta.len() as u64);
        header.set_mode(BACKUP_MODE);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append_data(&mut header, META_ENTRY, meta.as_slice())?;
        for item in &items {
            tar.append_path_with_name(&item.abs, &item.name)
                .with_context(|| format!("archiving {}", item.abs.display()))?;
        }
        let gz = tar.into_inner()?;
        let out = gz.finish()?;
        out.sync_all()?;
        fs::rename(&tmp, &path)?;
        crate::fsutil::sync_dir(&backups);
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e.context("writing the backup (nothing was changed)"));
    }
    let size = fs::metadata(&path)?.len();
    crate::outln!(
        "  {} ({}, {} files, {} of data; mode 0600)",
        path.display(),
        migrate::human_bytes(size),
        files,
        migrate::human_bytes(bytes)
    );
    if !left_out.is_empty() {
        crate::outln!(
            "  not archived (upgrade never changes them): {}",
            left_out.join(", ")
        );
    }
    Ok((path, journal))
}

/// Refuses a backup of `bytes` in `entries` entries when `free` cannot hold it.
fn enough_space(dir: &Path, bytes: u64, entries: usize, free: u64) -> Result<()> {
    let need = bytes + 1024 * entries as u64 + SPACE_MARGIN;
    if free < need {
        bail!(
            "not enough free space in {} for the backup: it needs about {} and {} are free; free some space and run again (nothing was changed)",
            dir.display(),
            migrate::human_bytes(need),
            migrate::human_bytes(free)
        );
    }
    Ok(())
}

/// Bytes available to an unprivileged writer on the file system of `dir`.
fn free_space(dir: &Path) -> Result<u64> {
    let s = rustix::fs::statvfs(dir).with_context(|| format!("statvfs {}", dir.display()))?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// UTC now as 20260101T120000Z (sortable; no separators a file name minds).
fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn journal_path(archive: &Path) -> PathBuf {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".tar.gz").unwrap_or(&name);
    archive.with_file_name(format!("{stem}.json"))
}

fn write_journal(path: &Path, j: &Journal) -> Result<()> {
    crate::fsutil::atomic_write(path, &serde_json::to_vec_pretty(j)?, BACKUP_MODE)
}

fn read_journal(path: &Path) -> Result<Journal> {
    let text = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The metadata an archive carries at its head.
fn read_meta(archive: &Path) -> Result<Journal> {
    let f = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut entry = tar
        .entries()?
        .next()
        .ok_or_else(|| anyhow!("{} is empty", archive.display()))??;
    if entry.path()?.as_os_str() != META_ENTRY {
        bail!(
            "{} is not a jitsi-stack backup (no {META_ENTRY} first)",
            archive.display()
        );
    }
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut text)?;
    Ok(serde_json::from_slice(&text)?)
}

/// The newest upgrade journal in the stack's backup directory.
fn latest(dir: &Path) -> Result<(PathBuf, Journal)> {
    let backups = dir.join(BACKUP_DIR);
    let mut journals: Vec<PathBuf> = fs::read_dir(&backups)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.starts_with("upgrade-") && n.ends_with(".json")
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    journals.sort();
    let path = journals.pop().ok_or_else(|| {
        UsageError(format!(
            "no upgrade backup in {}: rollback restores what `jitsi-stack upgrade` saved (or pass --from ARCHIVE)",
            backups.display()
        ))
    })?;
    let journal = read_journal(&path)?;
    Ok((backups.join(&journal.archive), journal))
}

// ---------------------------------------------------------------------------
// Restore.

/// Puts every archived path back as it was (contents, mode, time, and as
/// root the owner), then removes what the upgrade created. Returns how many
/// paths it restored.
fn restore(archive: &Path, journal: &Journal) -> Result<usize> {
    let f = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let root = init::is_root();
    let mut dirs: Vec<(PathBuf, u32, u32, u32)> = Vec::new();
    let mut restored = 0;
    let mut archived = BTreeSet::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        if name.as_os_str() == META_ENTRY {
            continue;
        }
        let dest = destination(&name, journal)
            .with_context(|| format!("{}: entry {}", archive.display(), name.display()))?;
        archived.insert(dest.clone());
        let header = entry.header().clone();
        let mode = header.mode()? & 0o7777;
        let (uid, gid) = (header.uid()? as u32, header.gid()? as u32);
        match header.entry_type() {
            tar::EntryType::Directory => {
                if fs::symlink_metadata(&dest).is_ok_and(|m| !m.is_dir()) {
                    fs::remove_file(&dest)?;
                }
                fs::create_dir_all(&dest)
                    .with_context(|| format!("creating {}", dest.display()))?;
                // Modes last: a read-only directory must still be filled.
                fs::set_permissions(&dest, fs::Permissions::from_mode(0o700))?;
                dirs.push((dest, mode, uid, gid));
            }
            tar::EntryType::Regular => {
                clear(&dest)?;
                crate::fsutil::atomic_write_from(&dest, &mut entry, mode)?;
                if let Ok(t) = header.mtime() {
                    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t);
                    if let Ok(f) = fs::File::options().write(true).open(&dest) {
                        let _ = f.set_modified(time);
                    }
                }
                if root {
                    std::os::unix::fs::lchown(&dest, Some(uid), Some(gid))?;
                }
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| anyhow!("{}: symlink without a target", name.display()))?
                    .into_owned();
                clear(&dest)?;
                if fs::symlink_metadata(&dest).is_ok() {
                    fs::remove_file(&dest)?;
                }
                std::os::unix::fs::symlink(&target, &dest)
                    .with_context(|| format!("creating {}", dest.display()))?;
                if root {
                    std::os::unix::fs::lchown(&dest, Some(uid), Some(gid))?;
                }
            }
            other => bail!("{}: unexpected entry type {other:?}", name.display()),
        }
        restored += 1;
    }
    // What the upgrade created and the archive does not hold, deepest first;
    // a directory someone filled since is left (and said).
    for p in journal.created.iter().rev() {
        if archived.contains(p) {
            continue;
        }
        let Ok(m) = fs::symlink_metadata(p) else {
            continue;
        };
        let gone = if m.is_dir() {
            fs::remove_dir(p)
        } else {
            fs::remove_file(p)
        };
        if let Err(e) = gone {
            crate::errln!(
                "warning: left {} (created by the upgrade): {e}",
                p.display()
            );
        }
    }
    for (d, mode, uid, gid) in dirs.into_iter().rev() {
        fs::set_permissions(&d, fs::Permissions::from_mode(mode))?;
        if root {
            std::os::unix::fs::lchown(&d, Some(uid), Some(gid))?;
        }
    }
    crate::fsutil::sync_dir(&journal.stack_dir);
    Ok(restored)
}

/// Where an archive entry goes back to; refuses any name that would leave
/// the stack directory or CONFIG.
fn destination(name: &Path, journal: &Journal) -> Result<PathBuf> {
    let mut parts = name.components();
    let base = match parts.next() {
        Some(PathPart::Normal(p)) if p == "stack" => &journal.stack_dir,
        Some(PathPart::Normal(p)) if p == "config" => &journal.config_dir,
        _ => bail!("not under stack/ or config/"),
    };
    let rest: PathBuf = parts.as_path().to_path_buf();
    if rest.as_os_str().is_empty() || rest.components().any(|c| !matches!(c, PathPart::Normal(_))) {
        bail!("a path that would leave the stack");
    }
    Ok(base.join(rest))
}

/// Makes room for a file or symlink: a directory the upgrade put in its
/// place goes (only if empty), a file or link is replaced by the caller.
fn clear(dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if let Ok(m) = fs::symlink_metadata(dest) {
        if m.is_dir() {
            fs::remove_dir(dest).with_context(|| {
                format!(
                    "{} is a directory now; a file belongs there",
                    dest.display()
                )
            })?;
        } else if m.file_type().is_symlink() {
            fs::remove_file(dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        assert_eq!(timestamp().len(), "20260101T120000Z".len());
    }

    #[test]
    fn recordings_and_tmp_stay_out() {
        for p in [
            "tmp/web-load-test/x",
            "jibri/recordings/room/a.mp4",
            "storage/jibri/recordings/r.mp4",
            "storage/jibri-2/recordings",
        ] {
            assert!(excluded(Path::new(p)), "{p}");
        }
        for p in [
            "storage/prosody/data/x",
            "jibri/finalize.sh",
            "web/keys/cert.key",
        ] {
            assert!(!excluded(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn hostile_entry_names_are_refused() {
        let j = Journal {
            format_version: 1,
            archive: "a.tar.gz".into(),
            created_at: "x".into(),
            from: "stable-10431".into(),
            to: PINNED_IMAGE_VERSION.into(),
            stack_dir: PathBuf::from("/srv/stack"),
            config_dir: PathBuf::from("/srv/cfg"),
            state: "done".into(),
            failed_step: None,
            created: vec![],
        };
        assert_eq!(
            destination(Path::new("config/prosody/x"), &j).unwrap(),
            PathBuf::from("/srv/cfg/prosody/x")
        );
        for bad in ["config/../etc/passwd", "other/x", "/etc/passwd", "stack"] {
            assert!(destination(Path::new(bad), &j).is_err(), "{bad}");
        }
    }

    #[test]
    fn too_little_space_is_refused_before_writing() {
        let dir = Path::new("/srv/stack/backups");
        assert!(enough_space(dir, 1 << 20, 10, 1 << 30).is_ok());
        let e = enough_space(dir, 1 << 30, 10, 1 << 29)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not enough free space") && e.contains("512.0 MiB are free"),
            "{e}"
        );
        assert!(free_space(Path::new("/")).unwrap() > 0);
    }

    #[test]
    fn journal_sits_next_to_its_archive() {
        assert_eq!(
            journal_path(Path::new("/s/backups/upgrade-1-a-to-b.tar.gz")),
            PathBuf::from("/s/backups/upgrade-1-a-to-b.json")
        );
    }
}
