//! `jitsi-stack upgrade` and `jitsi-stack rollback`: move a stack written
//! for an older release to the pinned one, and back.
//!
//! `upgrade` backs up first (`.env`, the stack's files and CONFIG's data in
//! one archive, 0600, free space checked), then carries the variables and
//! the data layout across the releases in between, checks, renders, pulls,
//! starts and probes the stack through the existing commands. A step that
//! fails restores the backup, so the stack is as it was before. `rollback`
//! restores the same backup later, with the previous release.

use crate::cli::{BackupArgs, Command, RestoreArgs, RollbackArgs, UpArgs, UpgradeArgs};
use crate::commands::migrate::{self, Window};
use crate::commands::{gen_passwords, ops, render};
use crate::config::{Stack, Values, RELEASE_VAR};
use crate::docker::Compose;
use crate::envfile::EnvFile;
use crate::journal::{Journal, Operation, Staged, Step};
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
pub struct Meta {
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

/// What an upgrade's entry in the stack journal ([`crate::journal`]) holds:
/// enough to finish it or undo it after a kill.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct UpgradeData {
    from: String,
    to: String,
    /// The archive of the stack as it was (absolute); written by step 1.
    archive: PathBuf,
    /// Where step 3 puts data (absolute), recorded before it starts, so an
    /// undo removes them even when they hold what no archive holds (recordings).
    #[serde(default)]
    created: Vec<PathBuf>,
}

/// A rollback's or a restore's entry in the stack journal.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RestoreData {
    archive: PathBuf,
    /// Where the archive's `stack/` and `config/` go.
    stack_dir: PathBuf,
    config_dir: PathBuf,
}

/// The upgrade's steps, as the journal and the output name them.
const STEPS: [(&str, &str); 8] = [
    ("backup", ".env, the stack's files and CONFIG's data"),
    ("variables", "the new .env"),
    ("data", "the release's CONFIG layout"),
    ("check", ".env against the schema"),
    ("render", "compose files and every service's config"),
    ("pull", "the images"),
    ("up", "start and wait until healthy"),
    ("smoke", "probe the running stack"),
];

fn upgrade_steps() -> Vec<Step> {
    STEPS
        .iter()
        .enumerate()
        .map(|(n, (name, what))| {
            let undo = if n == 0 {
                "remove the unfinished archive"
            } else {
                "restore the stack from the archive of step 1"
            };
            Step::new(format!("{name}: {what}"), undo)
        })
        .collect()
}

fn upgrade_operation(from: &str) -> Operation {
    Operation {
        command: "upgrade".into(),
        title: format!("an upgrade from {from} to {PINNED_IMAGE_VERSION}"),
        recovery: vec![
            ("upgrade".into(), "finish it".into()),
            ("rollback".into(), "undo it".into()),
        ],
    }
}

/// Takes the stack lock and clears what killed writers left (temp files,
/// stages) in the stack directory and its backups.
fn lock_stack(dir: &Path) -> Result<crate::lock::StackLock> {
    let lock = crate::lock::acquire(dir, crate::lock::Wait::default())?;
    crate::journal::remove_stale(dir);
    crate::journal::remove_stale(&dir.join(BACKUP_DIR));
    Ok(lock)
}

pub fn run(dir: &Path, args: UpgradeArgs) -> Result<Exit> {
    let env_path = crate::config::env_path(dir)?;
    // Everything that decides is read under the lock: a second upgrade
    // waits here, then finds the stack upgraded.
    let _lock = lock_stack(dir)?;
    let (mut j, data) = match crate::journal::pending(dir)? {
        Some(mut j) if j.operation.command == "upgrade" => {
            let data: UpgradeData = serde_json::from_value(j.data.clone()).with_context(|| {
                format!(
                    "{}: not an upgrade's plan",
                    crate::journal::path(dir).display()
                )
            })?;
            crate::outln!("{}; finishing it", j.interrupted_short());
            confirm(
                args.yes,
                &format!(
                    "Finish {} (the stack is restored from its backup, then upgraded)?",
                    j.operation.title
                ),
            )?;
            if j.next_step().is_none() {
                return finished(dir, j, &data);
            }
            if j.steps[0].done {
                crate::outln!(
                    "==> restoring {} first (the stack as it was before)",
                    data.archive.display()
                );
                let meta = meta_for(&data.archive, dir)?;
                let n = restore(&data.archive, &meta)?;
                crate::outln!("  restored {n} paths");
                for s in j.steps.iter_mut().skip(1) {
                    s.done = false;
                }
                j.save()?;
            }
            (j, data)
        }
        Some(j) => bail!("{}", j.interrupted()),
        None => {
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
            preview(dir, &file, &from)?;
            confirm(
                args.yes,
                &format!("Back up, then upgrade this stack to {PINNED_IMAGE_VERSION}?"),
            )?;
            let name = format!(
                "upgrade-{}-{from}-to-{PINNED_IMAGE_VERSION}.tar.gz",
                timestamp()
            );
            let stack = Stack::load(dir, &[] as &[&str])?;
            let config = crate::config::normalize(&stack.config_dir());
            let config = config.canonicalize().unwrap_or(config);
            let created = migrate::pending_moves(&config, &stack.values)
                .iter()
                .map(|m| config.join(m.to))
                .collect();
            let data = UpgradeData {
                from: from.clone(),
                to: PINNED_IMAGE_VERSION.into(),
                archive: dir.canonicalize()?.join(BACKUP_DIR).join(name),
                created,
            };
            let j = Journal::begin(
                dir,
                upgrade_operation(&from),
                upgrade_steps(),
                serde_json::to_value(&data)?,
            )?;
            (j, data)
        }
    };
    let from = data.from.clone();
    let archive = data.archive.clone();
    let step = |n: usize| {
        let (name, what) = STEPS[n];
        let what = if n == 1 {
            format!("{from} -> {PINNED_IMAGE_VERSION}")
        } else if n == 5 {
            format!("the {PINNED_IMAGE_VERSION} images")
        } else {
            what.to_string()
        };
        crate::outln!("==> [{}/{}] {name}: {what}", n + 1, STEPS.len());
    };
    let config = crate::config::normalize(&Stack::load(dir, &[] as &[&str])?.config_dir());

    if !j.steps[0].done {
        step(0);
        let mut meta = write_backup(dir, &config, &archive, &from, false, &data.created)?;
        meta.state = "upgrading".into();
        write_journal(&journal_path(&archive), &meta)?;
        j.done(0)?;
    }
    let mut meta = meta_for(&archive, dir)?;

    let mut touched = false;
    let mut warnings = Vec::new();
    let result = (|| -> Result<()> {
        step(1);
        let plan = {
            let file = EnvFile::read(&env_path)?;
            migrate::plan_retired(&file, Window::After { from: &from })
        };
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
        let ours = release_settings(&file, &from);
        if ours.iter().any(|(k, _)| *k == "JITSI_IMAGE_VERSION") {
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
        j.done(1)?;

        step(2);
        let values = Values::from_file(&file);
        let owner = crate::fsutil::is_root()
            .then_some((crate::layout::IMAGE_UID, crate::layout::IMAGE_UID));
        for m in migrate::pending_moves(&config, &values) {
            let (src, dst) = (config.join(m.from), config.join(m.to));
            match crate::journal::stage_tree(&src, &dst, owner)? {
                Staged::Moved { files, bytes } => crate::outln!(
                    "  copied    {} -> {}: {} ({} files, {}; staged, verified)",
                    m.from,
                    m.to,
                    m.what,
                    files,
                    migrate::human_bytes(bytes)
                ),
                Staged::AlreadyThere => {
                    crate::outln!("  kept      {}: already a copy of {}", m.to, m.from)
                }
            }
        }
        let mut made = Vec::new();
        for c in migrate::tree_changes(&config, false, &mut made)? {
            crate::outln!("{c}");
        }
        j.done(2)?;

        step(3);
        let stack = Stack::load(dir, &[] as &[&str])?;
        let report = validate::validate(&stack);
        for f in &report.findings {
            crate::errln!("{f}");
        }
        if report.errors() > 0 {
            bail!("{} error(s) in the upgraded .env", report.errors());
        }
        j.done(3)?;

        step(4);
        let out = render::prepare(dir, &[], true)?.out;
        crate::outln!("  rendered {} files", out.files.len());
        j.done(4)?;

        step(5);
        expect_ok(ops::run(dir, Command::Pull)?, "pull")?;
        j.done(5)?;

        step(6);
        touched = true;
        let up = UpArgs {
            with: vec![],
            dry_run: false,
            no_wait: false,
            timeout: args.timeout,
            force: false,
        };
        expect_ok(ops::run(dir, Command::Up(up))?, "up")?;
        j.done(6)?;

        step(7);
        if args.no_smoke {
            crate::outln!("  skipped (--no-smoke)");
        } else {
            warnings = smoke(dir, &args)?;
        }
        j.done(7)?;
        Ok(())
    })();

    match result {
        Ok(()) => {
            for w in &warnings {
                crate::errln!("warning: {w}");
            }
            finished(dir, j, &data)
        }
        Err(e) if touched && args.keep_on_failure => {
            meta.state = "failed".into();
            meta.failed_step = Some(format!("{e:#}"));
            write_journal(&journal_path(&archive), &meta)?;
            j.finish()?;
            crate::errln!("error: {e:#}");
            Err(e.context(format!(
                "upgrade to {PINNED_IMAGE_VERSION} failed; kept as it is (--keep-on-failure): \
                 `jitsi-stack rollback` restores {from} from {}",
                archive.display()
            )))
        }
        Err(e) => {
            crate::errln!("error: {e:#}");
            crate::errln!(
                "==> restoring the stack from {} (as it was before the upgrade)",
                archive.display()
            );
            let restored = restore(&archive, &meta)
                .with_context(|| format!("restoring {} failed too", archive.display()))?;
            meta.state = "restored".into();
            meta.failed_step = Some(format!("{e:#}"));
            write_journal(&journal_path(&archive), &meta)?;
            j.finish()?;
            crate::outln!("  restored {restored} paths; {RELEASE_VAR}={from} again");
            if touched {
                // Said when it fails; the upgrade's error follows either way.
                start_restored(dir, args.timeout);
            }
            Err(e.context(format!(
                "upgrade to {PINNED_IMAGE_VERSION} failed; the stack was restored to {from} from {}",
                archive.display()
            )))
        }
    }
}

/// Reads an archive's metadata for a restore into the stack `dir` (which
/// may have moved since the backup): its `stack/` goes to `dir`, and its
/// CONFIG too when it lay inside the stack directory.
fn meta_for(archive: &Path, dir: &Path) -> Result<Meta> {
    let mut meta = read_meta(archive)?;
    let stack = dir.canonicalize()?;
    let old = meta.stack_dir.clone();
    let moved = |p: &Path| match p.strip_prefix(&old) {
        Ok(rel) => stack.join(rel),
        Err(_) => p.to_path_buf(),
    };
    meta.config_dir = moved(&meta.config_dir);
    meta.created = meta.created.iter().map(|p| moved(p)).collect();
    meta.stack_dir = stack;
    Ok(meta)
}

/// The last word of an upgrade whose steps are all done.
fn finished(dir: &Path, j: Journal, data: &UpgradeData) -> Result<Exit> {
    let mut meta = read_meta(&data.archive)?;
    meta.state = "done".into();
    write_journal(&journal_path(&data.archive), &meta)?;
    j.finish()?;
    crate::outln!(
        "\nupgraded from {} to {PINNED_IMAGE_VERSION}; the backup stays in {}: `jitsi-stack rollback` restores it",
        data.from,
        data.archive.display()
    );
    if let Ok(stack) = Stack::load(dir, &[] as &[&str]) {
        crate::outln!(
            "next: `{}` probes it as a browser would",
            stack.smoke_command()
        );
    }
    Ok(Exit::Ok)
}

/// The release variables an upgrade sets: the stack's own, and
/// `JITSI_IMAGE_VERSION` when it pins the release upgraded from.
fn release_settings(file: &EnvFile, from: &str) -> Vec<(&'static str, &'static str)> {
    let mut ours = vec![(RELEASE_VAR, PINNED_IMAGE_VERSION)];
    if file.get("JITSI_IMAGE_VERSION") == Some(from) {
        ours.push(("JITSI_IMAGE_VERSION", PINNED_IMAGE_VERSION));
    }
    ours
}

/// The plan, shown before anything changes.
fn preview(dir: &Path, file: &EnvFile, from: &str) -> Result<()> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let config = crate::config::normalize(&stack.config_dir());
    let plan = migrate::plan_retired(file, Window::After { from });
    let moves = migrate::pending_moves(&config, &stack.values);
    crate::outln!(
        "upgrade {} from {from} to {PINNED_IMAGE_VERSION}",
        dir.display()
    );
    for c in &plan.changes {
        crate::outln!("{c}");
    }
    for (k, v) in release_settings(file, from) {
        crate::outln!("  set       {k} -> {v}: was {from}");
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
    for n in migrate::release_notes(Some(from)) {
        crate::outln!("{n}");
    }
    Ok(())
}

/// Step 8: the probes, judged. A probe from inside the stack (a service's
/// health endpoint, `docker compose exec`) that fails, or a container that
/// exited, restarts or is unhealthy, is evidence that the new stack is
/// broken (an error: the upgrade is undone). When only the probes from this
/// host to PUBLIC_URL fail, the stack is kept: they are returned as warnings.
fn smoke(dir: &Path, args: &UpgradeArgs) -> Result<Vec<String>> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let probes = ops::smoke::probe_stack(
        &stack,
        std::time::Duration::from_secs(args.smoke_timeout),
        args.insecure,
    )?;
    let mut broken = Vec::new();
    let mut host = Vec::new();
    for p in &probes {
        crate::outln!(
            "  {} {:<10} {} ({})",
            if p.ok { "ok  " } else { "FAIL" },
            p.check,
            p.url,
            p.detail
        );
        if !p.ok {
            if ops::smoke::from_host(p) {
                host.push(p.check.clone());
            } else {
                broken.push(format!("{} ({})", p.check, p.detail));
            }
        }
    }
    let states = Compose::detect(&stack)
        .map_err(anyhow::Error::from)
        .and_then(|c| Ok(c.output(&["ps", "--all", "--format", "json"])?))
        .and_then(|text| ops::watch::parse_ps(&text));
    match states {
        Ok(states) => {
            for s in states {
                let bad = s.state == "exited" && s.exit_code != 0
                    || s.state == "restarting"
                    || s.state == "dead"
                    || s.health == "unhealthy";
                if bad {
                    broken.push(format!("{} is {} ({})", s.service, s.state, s.status));
                }
            }
        }
        Err(e) => crate::errln!("warning: could not read the containers' state: {e:#}"),
    }
    if !broken.is_empty() {
        bail!("the upgraded stack is broken: {}", broken.join("; "));
    }
    if host.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![format!(
        "the upgrade is kept: every container is running and the probes from inside the stack pass, \
         but {} from this host to PUBLIC_URL failed; that is often split DNS or a router without \
         hairpin NAT rather than the stack (try `{}` from another machine)",
        host.join(", "),
        stack.smoke_command()
    )])
}

pub fn rollback(dir: &Path, args: RollbackArgs) -> Result<Exit> {
    let _lock = lock_stack(dir)?;
    match crate::journal::pending(dir)? {
        Some(j) if j.operation.command == "upgrade" => {
            let data: UpgradeData = serde_json::from_value(j.data.clone())?;
            if !j.steps[0].done {
                crate::outln!(
                    "{}: it had changed nothing yet (its backup was not complete); the stack is as it was",
                    j.interrupted_short()
                );
                j.finish()?;
                return Ok(Exit::Ok);
            }
            confirm(
                args.yes,
                &format!(
                    "Undo {} (restore {})?",
                    j.operation.title,
                    data.archive.display()
                ),
            )?;
            let mut meta = meta_for(&data.archive, dir)?;
            let n = restore(&data.archive, &meta)?;
            meta.state = "restored".into();
            write_journal(&journal_path(&data.archive), &meta)?;
            j.finish()?;
            Ok(rolled_back(dir, &args, n, &data.archive, &meta))
        }
        Some(j) if j.operation.command.starts_with("node ") => {
            confirm(args.yes, &format!("Undo {}?", j.operation.title))?;
            crate::commands::node::undo(j)
        }
        Some(j) if j.operation.command == "rollback" => {
            let data: RestoreData = serde_json::from_value(j.data.clone())?;
            crate::outln!("{}; finishing it", j.interrupted_short());
            let mut meta = meta_for(&data.archive, dir)?;
            meta.stack_dir = data.stack_dir.clone();
            meta.config_dir = data.config_dir.clone();
            let n = restore(&data.archive, &meta)?;
            meta.state = "restored".into();
            let _ = write_journal(&journal_path(&data.archive), &meta);
            j.finish()?;
            Ok(rolled_back(dir, &args, n, &data.archive, &meta))
        }
        Some(j) => bail!("{}", j.interrupted()),
        None => {
            crate::config::env_path(dir)?;
            let (archive, mut meta) = match &args.from {
                Some(a) => {
                    let meta = match read_journal(&journal_path(a)) {
                        Ok(j) => j,
                        Err(_) => read_meta(a)?,
                    };
                    (a.canonicalize().unwrap_or_else(|_| a.clone()), meta)
                }
                None => latest(dir)?,
            };
            let target = meta_for(&archive, dir)?;
            meta.stack_dir = target.stack_dir;
            meta.config_dir = target.config_dir;
            meta.created = target.created;
            crate::outln!(
                "rollback {}: restore {} (taken {} before upgrading {} -> {})",
                dir.display(),
                archive.display(),
                meta.created_at,
                meta.from,
                meta.to
            );
            confirm(
                args.yes,
                &format!(
                    "Restore the stack as it was on {} ({})? Changes made since are lost.",
                    meta.created_at, meta.from
                ),
            )?;
            verify_archive(&archive)?;
            let data = RestoreData {
                archive: archive.clone(),
                stack_dir: meta.stack_dir.clone(),
                config_dir: meta.config_dir.clone(),
            };
            let j = Journal::begin(
                dir,
                Operation {
                    command: "rollback".into(),
                    title: format!("a rollback to {} from {}", meta.from, archive.display()),
                    recovery: vec![("rollback".into(), "finish it".into())],
                },
                vec![Step::new(
                    "restoring the archive's files",
                    "none: the rollback is finished by restoring again",
                )],
                serde_json::to_value(&data)?,
            )?;
            let n = restore(&archive, &meta)?;
            let mut m = meta.clone();
            m.state = "restored".into();
            let _ = write_journal(&journal_path(&archive), &m);
            j.finish()?;
            Ok(rolled_back(dir, &args, n, &archive, &meta))
        }
    }
}

/// Says what was restored and starts it (unless --no-up): `Exit::Invalid`
/// when the started stack is not healthy.
fn rolled_back(dir: &Path, args: &RollbackArgs, n: usize, archive: &Path, meta: &Meta) -> Exit {
    crate::outln!(
        "  restored {n} paths from {}; {RELEASE_VAR}={} again",
        archive.display(),
        meta.from
    );
    let healthy = args.no_up || start_restored(dir, args.timeout);
    crate::outln!(
        "note: this jitsi-stack writes {PINNED_IMAGE_VERSION} files and will not render a {} stack; `jitsi-stack upgrade` moves it again",
        meta.from
    );
    if healthy {
        Exit::Ok
    } else {
        Exit::Invalid
    }
}

/// `jitsi-stack backup [--to FILE] [--with-recordings]`.
pub fn backup_command(dir: &Path, args: BackupArgs) -> Result<Exit> {
    let env_path = crate::config::env_path(dir)?;
    let _lock = lock_stack(dir)?;
    let file = EnvFile::read(&env_path)?;
    let (release, _) = stack_release(&file);
    let config = crate::config::normalize(&Stack::load(dir, &[] as &[&str])?.config_dir());
    let path = match &args.to {
        Some(p) => {
            if p.is_dir() {
                bail!(
                    "{} is a directory; --to names the archive file to write",
                    p.display()
                );
            }
            std::path::absolute(p)?
        }
        None => dir
            .canonicalize()?
            .join(BACKUP_DIR)
            .join(format!("backup-{}-{release}.tar.gz", timestamp())),
    };
    if let Some(parent) = path.parent() {
        crate::fsutil::remove_stale_temps_of(&path);
        crate::journal::remove_stale(parent);
    }
    write_backup(dir, &config, &path, &release, args.with_recordings, &[])?;
    crate::outln!(
        "restore it with: jitsi-stack -C {} restore {}",
        dir.display(),
        path.display()
    );
    Ok(Exit::Ok)
}

/// `jitsi-stack restore FILE`: the stack as the archive holds it, journaled.
pub fn restore_command(dir: &Path, args: RestoreArgs) -> Result<Exit> {
    if !dir.is_dir() {
        return Err(UsageError(format!("{} is not a directory", dir.display())).into());
    }
    let _lock = lock_stack(dir)?;
    let (j, data) = match crate::journal::pending(dir)? {
        Some(j) if j.operation.command == "restore" => {
            let data: RestoreData = serde_json::from_value(j.data.clone())?;
            crate::outln!("{}; finishing it", j.interrupted_short());
            (j, data)
        }
        Some(j) => bail!("{}", j.interrupted()),
        None => {
            let archive = std::path::absolute(&args.file)?;
            let listing = verify_archive(&archive)?;
            let meta = meta_for(&archive, dir)?;
            let (stack_dir, config_dir) = (meta.stack_dir.clone(), meta.config_dir.clone());
            let free = free_space(&stack_dir)?;
            enough_space(&stack_dir, listing.bytes, listing.entries, free)
                .map_err(|e| anyhow!("{e}").context("restore"))?;
            crate::outln!(
                "restore {} into {} (CONFIG {}): {} entries, {} of data, taken {} at {}",
                archive.display(),
                stack_dir.display(),
                config_dir.display(),
                listing.entries,
                migrate::human_bytes(listing.bytes),
                meta.created_at,
                meta.from
            );
            confirm(
                args.yes,
                "Replace the stack's files and CONFIG with the archive's? Changes made since are lost.",
            )?;
            let data = RestoreData {
                archive: archive.clone(),
                stack_dir,
                config_dir,
            };
            let j = Journal::begin(
                dir,
                Operation {
                    command: "restore".into(),
                    title: format!("a restore of {}", archive.display()),
                    recovery: vec![(format!("restore {}", archive.display()), "finish it".into())],
                },
                vec![Step::new(
                    "restoring the archive's files",
                    "none: the restore is finished by restoring again",
                )],
                serde_json::to_value(&data)?,
            )?;
            (j, data)
        }
    };
    let mut meta = meta_for(&data.archive, dir)?;
    meta.stack_dir = data.stack_dir.clone();
    meta.config_dir = data.config_dir.clone();
    let n = restore(&data.archive, &meta)?;
    j.finish()?;
    crate::outln!(
        "  restored {n} paths from {}; run `jitsi-stack up` to start it",
        data.archive.display()
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
/// directly (this jitsi-stack renders only for its pinned release), and
/// waits, as `up` and `upgrade` do, until its containers run and are
/// healthy. False when it could not start or did not become healthy (said).
fn start_restored(dir: &Path, timeout: u64) -> bool {
    crate::outln!("==> starting the restored stack");
    let started = Stack::load(dir, &[] as &[&str])
        .and_then(|s| Ok(Compose::detect(&s)?))
        .and_then(|c| c.run(UP).map(|()| c).map_err(Into::into));
    let compose = match started {
        Ok(c) => c,
        Err(e) => {
            crate::errln!(
                "error: could not start the restored stack: {e:#}; run `docker compose up -d` in {}",
                dir.display()
            );
            return false;
        }
    };
    let limit = std::time::Duration::from_secs(timeout);
    match ops::lifecycle::wait_for_containers(&compose, limit) {
        Ok(Ok(())) => {
            crate::outln!(
                "  started with its previous files; every container is running and healthy"
            );
            true
        }
        Ok(Err(why)) => {
            crate::errln!("error: the restored stack is not healthy: {why}");
            crate::errln!(
                "fix: `jitsi-stack logs SERVICE` shows why; the files are restored, so `docker compose up -d` in {} starts it again (`jitsi-stack rollback --timeout N` waits longer)",
                dir.display()
            );
            false
        }
        Err(e) => {
            crate::errln!("error: could not read the restored stack's containers: {e:#}");
            false
        }
    }
}

// ---------------------------------------------------------------------------
// What is archived.

/// CONFIG paths left out of the archive: derived scratch (tmp/) and
/// recordings, which an upgrade never changes and which can be huge.
fn excluded(rel: &Path, with_recordings: bool) -> bool {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [first, ..] if first == "tmp" => true,
        [j, r, ..] if j.starts_with("jibri") && r == "recordings" => !with_recordings,
        [s, j, r, ..] if s == "storage" && j.starts_with("jibri") && r == "recordings" => {
            !with_recordings
        }
        _ => false,
    }
}

/// Every path to archive: the stack directory (without backups/ and, when it
/// lies inside, CONFIG), then CONFIG; symlinks are not followed.
fn items(dir: &Path, config: &Path, with_recordings: bool) -> Result<(Vec<Item>, Vec<String>)> {
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
            || rel == Path::new(crate::journal::JOURNAL_FILE)
            || rel == Path::new(crate::journal::OUTSIDE_FILE)
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
            if excluded(rel, with_recordings) {
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

// ---------------------------------------------------------------------------
// Backup.

/// A writer that hashes what passes through it (SHA-256).
struct Hashing<W: Write> {
    inner: W,
    digest: ring::digest::Context,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What [`verify_archive`] found.
pub struct Listing {
    /// Entries, the metadata entry included.
    pub entries: usize,
    /// Bytes of file contents.
    pub bytes: u64,
    /// `(name, size)` of every entry after the metadata, in order.
    pub names: Vec<(String, u64)>,
    /// SHA-256 of the archive file, hex.
    pub sha256: String,
}

/// Reads an archive through (gzip's CRC and every tar header checked):
/// its listing and checksum. A damaged archive is an error.
pub fn verify_archive(archive: &Path) -> Result<Listing> {
    let context = || {
        format!(
            "{} is damaged or not a jitsi-stack backup",
            archive.display()
        )
    };
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    {
        let mut f =
            fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf)?;
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
        }
    }
    let f = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut listing = Listing {
        entries: 0,
        bytes: 0,
        names: vec![],
        sha256: String::new(),
    };
    for (i, entry) in tar.entries().with_context(context)?.enumerate() {
        let mut entry = entry.with_context(context)?;
        let name = entry.path().with_context(context)?.display().to_string();
        if i == 0 && name != META_ENTRY {
            bail!(
                "{} is not a jitsi-stack backup (no {META_ENTRY} first)",
                archive.display()
            );
        }
        let size = entry.header().size().with_context(context)?;
        // Reading each entry through makes the decoder check the stream.
        std::io::copy(&mut entry, &mut std::io::sink()).with_context(context)?;
        listing.entries += 1;
        listing.bytes += size;
        if i > 0 {
            listing.names.push((name, size));
        }
    }
    // The gzip trailer (CRC-32 and length) is checked at the end of the stream.
    let mut rest = tar.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).with_context(context)?;
    if listing.entries == 0 {
        bail!("{} is empty", archive.display());
    }
    listing.sha256 = hex::encode(digest.finish().as_ref());
    Ok(listing)
}

/// Writes the archive of the stack to `path` (0600): free space checked
/// first, written to a temp file beside it, fsynced, read back and verified
/// (listing against what was archived, checksum against what was written),
/// then renamed into place. Returns its metadata.
fn write_backup(
    dir: &Path,
    config: &Path,
    path: &Path,
    from: &str,
    with_recordings: bool,
    created: &[PathBuf],
) -> Result<Meta> {
    let (items, left_out) = items(dir, config, with_recordings)?;
    let bytes: u64 = items
        .iter()
        .filter(|i| i.meta.is_file())
        .map(|i| i.meta.len())
        .sum();
    let files = items.iter().filter(|i| i.meta.is_file()).count();
    let parent = crate::fsutil::parent_dir(path);
    let made = crate::fsutil::create_dir_all_mode(&parent, 0o700)
        .with_context(|| format!("creating {}", parent.display()))?;
    if parent.file_name().is_some_and(|n| n == BACKUP_DIR) || !made.is_empty() {
        fs::set_permissions(&parent, fs::Permissions::from_mode(0o700))?;
    }
    // An archive is at most its contents plus headers; refuse before writing.
    enough_space(&parent, bytes, items.len(), free_space(&parent)?)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let meta = Meta {
        format_version: 1,
        archive: name,
        created_at: timestamp(),
        from: from.to_string(),
        to: PINNED_IMAGE_VERSION.to_string(),
        stack_dir: dir.canonicalize()?,
        config_dir: config
            .canonicalize()
            .unwrap_or_else(|_| config.to_path_buf()),
        state: "backed-up".into(),
        failed_step: None,
        created: created.to_vec(),
    };
    let tmp = crate::fsutil::temp_sibling(path);
    // A temp file outside the places every command cleans (the stack
    // directory and its backups/) is recorded first, so a kill leaves
    // nothing the next command does not remove.
    let stack_dir = dir.canonicalize()?;
    let outside = fs::canonicalize(&parent).map_or(true, |p| p != stack_dir.join(BACKUP_DIR));
    if outside {
        crate::journal::note_outside(&stack_dir, &tmp)?;
    }
    let written = (|| -> Result<String> {
        let out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(BACKUP_MODE)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        out.set_permissions(fs::Permissions::from_mode(BACKUP_MODE))?;
        let hashing = Hashing {
            inner: out,
            digest: ring::digest::Context::new(&ring::digest::SHA256),
        };
        let gz = flate2::write::GzEncoder::new(hashing, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Complete);
        let head = serde_json::to_vec_pretty(&meta)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(head.len() as u64);
        header.set_mode(BACKUP_MODE);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append_data(&mut header, META_ENTRY, head.as_slice())?;
        for item in &items {
            tar.append_path_with_name(&item.abs, &item.name)
                .with_context(|| format!("archiving {}", item.abs.display()))?;
        }
        let gz = tar.into_inner()?;
        let mut hashing = gz.finish()?;
        hashing.flush()?;
        hashing.inner.sync_all()?;
        let sum = hex::encode(hashing.digest.finish().as_ref());
        // Read back: what is on disk is what was written, and holds every path.
        let listing = verify_archive(&tmp)?;
        if listing.sha256 != sum {
            bail!(
                "{} reads back with another checksum than was written",
                tmp.display()
            );
        }
        let want: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        let got: Vec<String> = listing
            .names
            .iter()
            .map(|(n, _)| n.trim_end_matches('/').to_string())
            .collect();
        if got.len() != want.len() || got.iter().zip(&want).any(|(g, w)| g != w) {
            bail!(
                "{} lists {} entries, {} were archived",
                tmp.display(),
                got.len(),
                want.len()
            );
        }
        fs::rename(&tmp, path)?;
        crate::fsutil::sync_dir(&parent);
        Ok(sum)
    })();
    let sum = match written {
        Ok(sum) => sum,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            if outside {
                let _ = crate::journal::forget_outside(&stack_dir, &tmp);
            }
            return Err(e.context("writing the backup (nothing was changed)"));
        }
    };
    if outside {
        crate::journal::forget_outside(&stack_dir, &tmp)?;
    }
    let size = fs::metadata(path)?.len();
    crate::outln!(
        "  {} ({}, {} files, {} of data; mode 0600; verified, sha256 {sum})",
        path.display(),
        migrate::human_bytes(size),
        files,
        migrate::human_bytes(bytes)
    );
    if !left_out.is_empty() {
        let why = if with_recordings {
            "scratch"
        } else {
            "scratch and recordings; --with-recordings adds the recordings"
        };
        crate::outln!("  not archived ({why}): {}", left_out.join(", "));
    }
    Ok(meta)
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

fn write_journal(path: &Path, j: &Meta) -> Result<()> {
    crate::fsutil::atomic_write(path, &serde_json::to_vec_pretty(j)?, BACKUP_MODE)
}

fn read_journal(path: &Path) -> Result<Meta> {
    let text = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The metadata an archive carries at its head.
fn read_meta(archive: &Path) -> Result<Meta> {
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
fn latest(dir: &Path) -> Result<(PathBuf, Meta)> {
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
/// root the owner), then removes every path of the stack directory and
/// CONFIG the archive does not hold (what was made since, temp files of a
/// killed writer included), leaving what a backup never holds (backups/,
/// the lock, the journal, scratch, recordings). Idempotent: running it
/// again after a kill ends in the same state. Returns how many paths it restored.
fn restore(archive: &Path, journal: &Meta) -> Result<usize> {
    let f = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let root = crate::fsutil::is_root();
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
                let time = header
                    .mtime()
                    .ok()
                    .map(|t| std::time::UNIX_EPOCH + std::time::Duration::from_secs(t));
                crate::fsutil::atomic_write_from(&dest, &mut entry, mode)?;
                if let Some(time) = time {
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
                if fs::read_link(&dest).ok().as_deref() != Some(target.as_path()) {
                    if fs::symlink_metadata(&dest).is_ok() {
                        fs::remove_file(&dest)?;
                    }
                    std::os::unix::fs::symlink(&target, &dest)
                        .with_context(|| format!("creating {}", dest.display()))?;
                }
                if root {
                    std::os::unix::fs::lchown(&dest, Some(uid), Some(gid))?;
                }
            }
            other => bail!("{}: unexpected entry type {other:?}", name.display()),
        }
        restored += 1;
    }
    // What the upgrade made (recorded before it made it), then whatever
    // else the archive does not hold, deepest first.
    for p in &journal.created {
        if archived.contains(p) || fs::symlink_metadata(p).is_err() {
            continue;
        }
        let inside = p.starts_with(&journal.stack_dir) || p.starts_with(&journal.config_dir);
        if inside {
            fs::remove_dir_all(p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let (present, _) = items(&journal.stack_dir, &journal.config_dir, false)?;
    for item in present.iter().rev() {
        if archived.contains(&item.abs) {
            continue;
        }
        let gone = if item.meta.is_dir() {
            fs::remove_dir(&item.abs)
        } else {
            fs::remove_file(&item.abs)
        };
        if let Err(e) = gone {
            crate::errln!(
                "warning: left {} (not in the backup): {e}",
                item.abs.display()
            );
        }
    }
    for (d, mode, uid, gid) in dirs.into_iter().rev() {
        fs::set_permissions(&d, fs::Permissions::from_mode(mode))?;
        if root {
            std::os::unix::fs::lchown(&d, Some(uid), Some(gid))?;
        }
        crate::fsutil::sync_dir(&d);
    }
    crate::fsutil::sync_dir(&journal.stack_dir);
    Ok(restored)
}

/// Where an archive entry goes back to; refuses any name that would leave
/// the stack directory or CONFIG.
fn destination(name: &Path, journal: &Meta) -> Result<PathBuf> {
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
            assert!(excluded(Path::new(p), false), "{p}");
        }
        for p in [
            "storage/prosody/data/x",
            "jibri/finalize.sh",
            "web/keys/cert.key",
        ] {
            assert!(!excluded(Path::new(p), false), "{p}");
        }
        assert!(!excluded(Path::new("jibri/recordings/a.mp4"), true));
        assert!(excluded(Path::new("tmp/x"), true));
    }

    #[test]
    fn hostile_entry_names_are_refused() {
        let j = Meta {
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
