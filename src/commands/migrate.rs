//! `jitsi-stack migrate SRC [DIR]`: a jitsi-stack stack from a
//! docker-jitsi-meet directory. Values are carried over (secrets exactly),
//! retired variables renamed or dropped as the release history says, the
//! components read from `COMPOSE_FILE` or from what their overlays left in
//! CONFIG, CONFIG reused in place or copied, and its data moved to where the
//! pinned release's compose files mount it. Nothing in SRC is ever written.
//!
//! Also the pieces `upgrade` shares: [`plan_retired`], [`LAYOUT_MOVES`] with
//! [`move_data`] and [`copy_tree`].

use crate::cli::MigrateArgs;
use crate::commands::config_tree::{self, expand_config};
use crate::commands::gen_passwords;
use crate::config::{
    parse_components, sanitize_project_name, Component, Stack, Values, RELEASE_VAR, WITH_VAR,
};
use crate::envfile::EnvFile;
use crate::schema::history::{self, Fate};
use crate::schema::{self, PINNED_IMAGE_VERSION};
use crate::validate::{self, Finding, Level};
use crate::{reference, Exit, UsageError};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component as PathPart, Path, PathBuf};

/// Version of the `--json` report layout.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// Where the pinned prosody image keeps its data (`data_path` in its
/// prosody.cfg.lua, stable-11146-2), under the `/var/lib/prosody` mount of
/// `${CONFIG}/storage/prosody`.
pub const PINNED_PROSODY_DATA: &str = "/var/lib/prosody/data";

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A value carried over unchanged.
    Kept,
    /// A retired variable's value carried over to its replacement.
    Renamed,
    /// A retired variable dropped.
    Removed,
    /// A value jitsi-stack sets (CONFIG, the release, the project name).
    Set,
    /// A new password for an account SRC did not have.
    Generated,
    /// A name no pinned image reads, kept as it was.
    Unknown,
    /// An optional component enabled.
    Component,
    /// Data copied (CONFIG itself, or into the pinned release's layout).
    Copied,
    /// A directory of the pinned release's CONFIG tree created.
    Created,
    /// Something not carried over, and why.
    Skipped,
    /// Files handed to the images' uid.
    Owner,
    /// Something the operator should know or do.
    Note,
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    pub action: Action,
    /// The variable, component or path it concerns.
    pub subject: String,
    /// The new name, the value (never a secret's) or the destination.
    pub to: Option<String>,
    /// The docker-jitsi-meet release that made it necessary.
    pub release: Option<String>,
    pub detail: String,
}

impl Change {
    pub fn new(action: Action, subject: impl Into<String>, detail: impl Into<String>) -> Change {
        Change {
            action,
            subject: subject.into(),
            to: None,
            release: None,
            detail: detail.into(),
        }
    }

    pub fn to(mut self, to: impl Into<String>) -> Change {
        self.to = Some(to.into());
        self
    }

    pub fn release(mut self, r: Option<&str>) -> Change {
        self.release = r.map(String::from);
        self
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let action = serde_json::to_value(self.action)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        write!(f, "  {action:<9} {}", self.subject)?;
        if let Some(to) = &self.to {
            write!(f, " -> {to}")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Variables.

/// What to do with the retired variables of a `.env`.
#[derive(Debug, Default)]
pub struct RetiredPlan {
    /// Assignments for the replacements.
    pub set: Vec<(String, String)>,
    /// Retired names to delete.
    pub remove: Vec<String>,
    pub changes: Vec<Change>,
}

/// Which retirements to apply.
#[derive(Clone, Copy, Debug)]
pub enum Window<'a> {
    /// Every one (a docker-jitsi-meet `.env`); `source` is the release it
    /// ran, when known, to tell values that still had an effect there.
    All { source: Option<&'a str> },
    /// Those after `from` up to the pinned release (`upgrade`).
    After { from: &'a str },
}

/// Carries each retired variable set in `file` over to its replacement, or
/// drops it, reporting the release and the reason for each. A value only
/// moves to a replacement that is not set already and whose type it fits,
/// and only if it still had an effect in the source release.
pub fn plan_retired(file: &EnvFile, window: Window<'_>) -> RetiredPlan {
    let mut plan = RetiredPlan::default();
    let mut seen = BTreeSet::new();
    for entry in file.entries() {
        if !seen.insert(entry.key.clone()) {
            continue;
        }
        let Some(var) = schema::lookup(&entry.key) else {
            continue;
        };
        let Some(r) = history::retirement(var) else {
            continue;
        };
        let source = match window {
            Window::All { source } => source,
            Window::After { from } => {
                if !r
                    .when
                    .is_some_and(|w| w.between(from, PINNED_IMAGE_VERSION))
                {
                    // Not crossed by this upgrade: `check` still names it.
                    continue;
                }
                Some(from)
            }
        };
        let value = file.get(&entry.key).unwrap_or("").to_string();
        plan.remove.push(entry.key.clone());
        let release = r.when.map(|w| w.release());
        if value.is_empty() {
            plan.changes.push(
                Change::new(Action::Removed, var.name, format!("empty; {}", r.summary()))
                    .release(release),
            );
            continue;
        }
        let effective = had_effect(var.name, source);
        match r.fate {
            Fate::Renamed if effective => {
                for new in &r.replacements {
                    let target = schema::lookup(new).expect("replacements are schema rows");
                    let change = if file.is_set(new) {
                        Change::new(
                            Action::Removed,
                            var.name,
                            format!("{}; {new} is set already and keeps its value", r.summary()),
                        )
                    } else if let Err(expected) = target.kind.check(&value) {
                        Change::new(
                            Action::Removed,
                            var.name,
                            format!(
                                "{}; its value is not {expected}, as {new} needs: set {new} yourself",
                                r.summary()
                            ),
                        )
                    } else {
                        plan.set.push((new.to_string(), value.clone()));
                        Change::new(Action::Renamed, var.name, r.summary()).to(*new)
                    };
                    plan.changes.push(change.release(release));
                }
            }
            Fate::Renamed | Fate::Removed => {
                let why = if effective {
                    r.summary()
                } else {
                    format!(
                        "{}; it had no effect in {} already",
                        r.summary(),
                        source.unwrap_or("the source release")
                    )
                };
                plan.changes
                    .push(Change::new(Action::Removed, var.name, why).release(release));
            }
            Fate::Unread | Fate::SetByCompose => {
                plan.changes.push(
                    Change::new(
                        Action::Removed,
                        var.name,
                        format!("{}; it had no effect", r.summary()),
                    )
                    .release(release),
                );
            }
        }
    }
    plan
}

/// Whether `name` still did something in `source`: not removed by then, and
/// not a name only the compose files set.
fn had_effect(name: &str, source: Option<&str>) -> bool {
    match (history::facts(name), source) {
        (Some(f), _) if f.compose_only => false,
        (Some(f), Some(src)) => f
            .removed
            .is_none_or(|r| history::compare(src, r) == Some(Ordering::Less)),
        (Some(_), None) => true,
        // Gone before the first release the history covers.
        (None, Some(src)) => {
            history::compare(src, history::first_release()) == Some(Ordering::Less)
        }
        (None, None) => true,
    }
}

// ---------------------------------------------------------------------------
// Data layout.

/// Persistent data a release moved within CONFIG. The pinned images copy
/// some of it themselves on their first run (prosody's accounts, the Let's
/// Encrypt files); moving it on the host puts it where the compose files
/// mount it, owned by the images' uid, before anything starts.
pub struct Move {
    /// The release that moved it.
    pub release: &'static str,
    /// Relative to CONFIG, in the older layout.
    pub from: &'static str,
    /// Relative to CONFIG, in the new layout.
    pub to: &'static str,
    pub what: &'static str,
}

/// stable-11146: the images run as uid 1000 on a read-only root, and keep
/// their writable data under `${CONFIG}/storage` (compose files of
/// stable-11031 vs stable-11146; prosody's data_path /config/data ->
/// /var/lib/prosody/data, the web image's one-time copy of acme.sh and
/// acme-certs, jibri's recordings in /storage/recordings).
pub const LAYOUT_MOVES: &[Move] = &[
    Move {
        release: "stable-11146",
        from: "prosody/config/data",
        to: "storage/prosody/data",
        what:
            "prosody accounts and rosters (the pinned prosody's data_path, /var/lib/prosody/data)",
    },
    Move {
        release: "stable-11146",
        from: "transcripts",
        to: "storage/transcripts",
        what: "transcripts",
    },
    Move {
        release: "stable-11146",
        from: "jibri/recordings",
        to: "storage/jibri/recordings",
        what: "recordings (JIBRI_RECORDING_DIR unset: /storage/recordings now)",
    },
    Move {
        release: "stable-11146",
        from: "web/acme.sh",
        to: "storage/web/acme.sh",
        what: "the Let's Encrypt account",
    },
    Move {
        release: "stable-11146",
        from: "web/acme-certs",
        to: "storage/web/acme-certs",
        what: "Let's Encrypt certificates",
    },
];

/// What a release changed besides variables and data, reported when a
/// migration or upgrade crosses it (facts from its compose files and boot
/// scripts).
pub const RELEASE_NOTES: &[(&str, &str)] = &[
    (
        "stable-11146",
        "the images come from ghcr.io/jitsi (JITSI_IMAGE_REPO) instead of Docker Hub's jitsi/",
    ),
    (
        "stable-11146",
        "the containers run as uid 1000 on a read-only root; what they write lives under CONFIG/storage",
    ),
    (
        "stable-11146",
        "the web container listens on 8000 and 8443 inside; HTTP_PORT and HTTPS_PORT stay the host's ports",
    ),
    (
        "stable-11146",
        "prosody renders its configuration to /run/prosody/config and keeps its data in CONFIG/storage/prosody/data",
    ),
];

/// The notes of the releases after `from` (all of them when it is unknown).
pub fn release_notes(from: Option<&str>) -> Vec<Change> {
    RELEASE_NOTES
        .iter()
        .filter(|(r, _)| {
            from.is_none_or(|f| history::compare(r, f) == Some(Ordering::Greater))
                && history::compare(r, PINNED_IMAGE_VERSION) != Some(Ordering::Greater)
        })
        .map(|(r, note)| Change::new(Action::Note, *r, *note).release(Some(r)))
        .collect()
}

/// The moves that apply to `config`: old location present, new one absent
/// or empty; `values` decide the ones a variable redirects.
pub fn pending_moves(config: &Path, values: &Values) -> Vec<&'static Move> {
    LAYOUT_MOVES
        .iter()
        .filter(|m| !(m.from == "jibri/recordings" && values.raw("JIBRI_RECORDING_DIR").is_some()))
        .filter(|m| is_real_dir(&config.join(m.from)) && is_empty_or_absent(&config.join(m.to)))
        .collect()
}

fn is_real_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

fn is_empty_or_absent(p: &Path) -> bool {
    match fs::read_dir(p) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => fs::symlink_metadata(p).is_err(),
    }
}

/// Copies each pending move's data (the old copy stays, for going back).
/// Returns the report lines and the directories it created.
pub fn move_data(
    config: &Path,
    moves: &[&Move],
    dry_run: bool,
) -> Result<(Vec<Change>, Vec<PathBuf>)> {
    let mut changes = Vec::new();
    let mut created = Vec::new();
    for m in moves {
        let (from, to) = (config.join(m.from), config.join(m.to));
        let stats = if dry_run {
            measure_tree(&from)?
        } else {
            if to.exists() {
                // An empty directory: replaced by the copy.
                fs::remove_dir(&to).with_context(|| format!("replacing {}", to.display()))?;
            }
            if let Some(parent) = to.parent() {
                created.extend(create_dirs(parent)?);
            }
            let stats = copy_tree(&from, &to, crate::fsutil::is_root())?;
            created.push(to.clone());
            if crate::fsutil::is_root() {
                chown_tree(&to)?;
            }
            stats
        };
        changes.push(
            Change::new(
                Action::Copied,
                m.from,
                format!("{}, {}", m.what, stats.summary()),
            )
            .to(m.to)
            .release(Some(m.release)),
        );
        for (p, why) in &stats.skipped {
            changes.push(Change::new(
                Action::Skipped,
                p.display().to_string(),
                why.clone(),
            ));
        }
    }
    Ok((changes, created))
}

/// Creates `dir` and its missing parents; returns the ones it created,
/// outermost first.
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut p = dir;
    while fs::symlink_metadata(p).is_err() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent,
            _ => break,
        }
    }
    missing.reverse();
    for d in &missing {
        fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
    }
    Ok(missing)
}

/// What a tree copy did.
#[derive(Debug, Default)]
pub struct CopyStats {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    pub bytes: u64,
    /// Paths (relative to the source) not copied, and why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl CopyStats {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} file{}, {}",
            self.files,
            if self.files == 1 { "" } else { "s" },
            human_bytes(self.bytes)
        );
        if self.links > 0 {
            s.push_str(&format!(", {} symlinks", self.links));
        }
        s
    }
}

/// `1536` -> `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Copies the tree `src` to `dst` (which must not exist): files with their
/// mode and modification time, and as root their owner; symlinks are never
/// followed, and copied only when they point inside the tree; anything else
/// (sockets, devices) is skipped and reported.
pub fn copy_tree(src: &Path, dst: &Path, keep_owner: bool) -> Result<CopyStats> {
    let mut stats = CopyStats::default();
    let meta = fs::symlink_metadata(src).with_context(|| format!("reading {}", src.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", src.display());
    }
    copy_dir(src, dst, Path::new(""), &meta, keep_owner, &mut stats)?;
    Ok(stats)
}

fn copy_dir(
    root: &Path,
    dst_root: &Path,
    rel: &Path,
    meta: &fs::Metadata,
    keep_owner: bool,
    stats: &mut CopyStats,
) -> Result<()> {
    let src = root.join(rel);
    let dst = dst_root.join(rel);
    fs::create_dir(&dst).with_context(|| format!("creating {}", dst.display()))?;
    // Writable while filling; the source's mode once full.
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o700))?;
    stats.dirs += 1;
    let mut entries: Vec<_> = fs::read_dir(&src)
        .with_context(|| format!("reading {}", src.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", src.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let child_rel = rel.join(entry.file_name());
        let child_src = root.join(&child_rel);
        let child_dst = dst_root.join(&child_rel);
        let m = fs::symlink_metadata(&child_src)
            .with_context(|| format!("reading {}", child_src.display()))?;
        let ft = m.file_type();
        if ft.is_dir() {
            copy_dir(root, dst_root, &child_rel, &m, keep_owner, stats)?;
        } else if ft.is_file() {
            stats.bytes +=
                crate::fsutil::copy_file_synced(&child_src, &child_dst, m.mode() & 0o7777)?;
            let f = fs::File::options()
                .write(true)
                .open(&child_dst)
                .with_context(|| format!("opening {}", child_dst.display()))?;
            if let Ok(t) = m.modified() {
                let _ = f.set_modified(t);
            }
            if keep_owner {
                lchown(&child_dst, m.uid(), m.gid())?;
            }
            stats.files += 1;
        } else if ft.is_symlink() {
            let target = fs::read_link(&child_src)?;
            match link_inside(&child_rel, &target) {
                Ok(()) => {
                    std::os::unix::fs::symlink(&target, &child_dst)
                        .with_context(|| format!("creating {}", child_dst.display()))?;
                    if keep_owner {
                        lchown(&child_dst, m.uid(), m.gid())?;
                    }
                    stats.links += 1;
                }
                Err(why) => stats.skipped.push((child_rel.clone(), why)),
            }
        } else {
            stats.skipped.push((
                child_rel.clone(),
                "not a file, directory or symlink (a socket, FIFO or device): not copied".into(),
            ));
        }
    }
    fs::set_permissions(&dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .with_context(|| format!("setting the mode of {}", dst.display()))?;
    if keep_owner {
        lchown(&dst, meta.uid(), meta.gid())?;
    }
    crate::fsutil::sync_dir(&dst);
    Ok(())
}

/// Whether a symlink at `rel` (relative to the tree's root) pointing to
/// `target` stays inside the tree, without following anything.
fn link_inside(rel: &Path, target: &Path) -> Result<(), String> {
    if target.is_absolute() {
        return Err(format!(
            "a symlink to the absolute path {}: not followed, not copied",
            target.display()
        ));
    }
    let mut depth: Vec<&std::ffi::OsStr> = rel
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| match c {
                    PathPart::Normal(n) => Some(n),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for c in target.components() {
        match c {
            PathPart::ParentDir if depth.pop().is_none() => {
                return Err(format!(
                    "a symlink to {}, outside the tree: not followed, not copied",
                    target.display()
                ));
            }
            PathPart::ParentDir => {}
            PathPart::Normal(n) => depth.push(n),
            _ => {}
        }
    }
    Ok(())
}

fn lchown(p: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .with_context(|| format!("chown {uid}:{gid} {}", p.display()))
}

/// Hands a tree to the images' uid without following symlinks.
pub fn chown_tree(root: &Path) -> Result<u64> {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p)?;
        lchown(&p, crate::layout::IMAGE_UID, crate::layout::IMAGE_UID)?;
        n += 1;
        if m.is_dir() {
            for e in fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
    }
    Ok(n)
}

/// What [`copy_tree`] would copy, without copying.
fn measure_tree(root: &Path) -> Result<CopyStats> {
    let mut stats = CopyStats::default();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let p = root.join(&rel);
        let m = fs::symlink_metadata(&p).with_context(|| format!("reading {}", p.display()))?;
        let ft = m.file_type();
        if ft.is_dir() {
            stats.dirs += 1;
            for e in fs::read_dir(&p).with_context(|| format!("reading {}", p.display()))? {
                stack.push(rel.join(e?.file_name()));
            }
        } else if ft.is_file() {
            stats.files += 1;
            stats.bytes += m.len();
        } else if ft.is_symlink() {
            match link_inside(&rel, &fs::read_link(&p)?) {
                Ok(()) => stats.links += 1,
                Err(why) => stats.skipped.push((rel, why)),
            }
        } else {
            stats
                .skipped
                .push((rel, "not a file, directory or symlink: not copied".into()));
        }
    }
    stats.skipped.sort();
    Ok(stats)
}

// ---------------------------------------------------------------------------
// The command.

/// Where things come from and go.
#[derive(Debug, Serialize)]
pub struct Place {
    pub dir: String,
    pub env: String,
    /// CONFIG as the `.env` writes it.
    pub config: String,
    /// CONFIG resolved (`~` expanded, relative to the directory).
    pub config_dir: String,
    pub release: Option<String>,
}

/// Everything `migrate` did (or, with `--dry-run`, would do).
#[derive(Debug, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub dry_run: bool,
    pub source: Place,
    /// How the source release was found: flag, env, compose file, or unknown.
    pub source_release_from: &'static str,
    pub target: Place,
    /// `in-place` or `copy`.
    pub config_mode: &'static str,
    pub components: Vec<Component>,
    pub changes: Vec<Change>,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
}

pub fn run(global_dir: Option<&Path>, args: MigrateArgs) -> Result<Exit> {
    let src_dir = args.src.canonicalize().map_err(|e| {
        UsageError(format!(
            "SRC {}: {e}; give the docker-jitsi-meet directory that holds its .env",
            args.src.display()
        ))
    })?;
    let src_env = src_dir.join(".env");
    if !src_env.is_file() {
        return Err(UsageError(format!(
            "no .env in {}: SRC is the docker-jitsi-meet directory you run `docker compose` in",
            src_dir.display()
        ))
        .into());
    }
    let dir = args
        .path
        .clone()
        .or_else(|| global_dir.map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let dir_abs = absolute(&dir)?;
    if dir_abs.starts_with(&src_dir) {
        return Err(UsageError(format!(
            "DIR {} is inside SRC {}, which migrate never modifies: give a new directory for the stack",
            dir.display(),
            src_dir.display()
        ))
        .into());
    }
    let env_path = dir.join(".env");
    if env_path.exists() {
        return Err(UsageError(format!(
            "{} exists: DIR is already a stack; give a new or empty directory",
            env_path.display()
        ))
        .into());
    }
    // DIR is built in a stage beside it and renamed into place at the end:
    // it is absent or complete, never half made.
    let Some(dir_parent) = dir_abs.parent().map(Path::to_path_buf) else {
        return Err(UsageError(format!(
            "DIR {}: give a directory of its own",
            dir.display()
        ))
        .into());
    };
    if let Some(why) = crate::fsutil::system_dir(&dir_abs) {
        return Err(UsageError(format!(
            "{why}: refusing to make it a stack directory; pick a directory of its own (e.g. /srv/jitsi)"
        ))
        .into());
    }
    if !is_empty_or_absent(&dir_abs) {
        return Err(UsageError(format!(
            "{} exists and is not empty: DIR must be new or empty (migrate builds it beside and renames it into place)",
            dir.display()
        ))
        .into());
    }

    let src = EnvFile::read(&src_env)?;
    let (source_release, release_from) = source_release(&args, &src, &src_dir)?;
    let raw_config = src.get("CONFIG").unwrap_or("").to_string();
    if raw_config.is_empty() {
        return Err(UsageError(format!(
            "{} has no CONFIG: it names the directory where the services keep their data",
            src_env.display()
        ))
        .into());
    }
    let old_config = expand_config(&raw_config, &src_dir);
    let old_config_real = old_config.canonicalize().ok();
    check_config_exists(&old_config, &raw_config, &src_env, args.no_data)?;
    if !args.copy {
        if let Some(real) = &old_config_real {
            if real.starts_with(&src_dir) {
                return Err(UsageError(format!(
                    "CONFIG {} is inside SRC, which migrate never modifies: add --copy to copy it into {}",
                    old_config.display(),
                    dir.join("config").display()
                ))
                .into());
            }
        }
    }
    let (new_config_value, new_config) = if args.copy {
        ("./config".to_string(), dir.join("config"))
    } else {
        let p = old_config_real.clone().unwrap_or(old_config.clone());
        (p.display().to_string(), p)
    };
    if args.copy {
        if let Some(real) = &old_config_real {
            if absolute(&new_config)?.starts_with(real) {
                return Err(UsageError(format!(
                    "DIR {} is inside CONFIG {}: a copy would contain itself; give a directory outside it",
                    dir.display(),
                    old_config.display()
                ))
                .into());
            }
        }
        if !is_empty_or_absent(&new_config) {
            return Err(UsageError(format!(
                "{} exists and is not empty: --copy needs it absent or empty",
                new_config.display()
            ))
            .into());
        }
    }

    let mut changes = Vec::new();

    // Variables: retired ones first (they decide what their replacements get).
    let retired = plan_retired(
        &src,
        Window::All {
            source: source_release.as_deref(),
        },
    );
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut kept_changes = Vec::new();
    let mut seen = BTreeSet::new();
    const OURS: &[&str] = &[
        "CONFIG",
        "COMPOSE_FILE",
        "COMPOSE_PROJECT_NAME",
        "JITSI_IMAGE_VERSION",
        RELEASE_VAR,
        WITH_VAR,
    ];
    for entry in src.entries() {
        if !seen.insert(entry.key.clone())
            || OURS.contains(&entry.key.as_str())
            || retired.remove.contains(&entry.key)
        {
            continue;
        }
        let value = src.get(&entry.key).unwrap_or("").to_string();
        if value.is_empty() {
            continue;
        }
        match schema::lookup(&entry.key) {
            Some(var) => {
                let detail = if var.is_secret() {
                    "secret, carried over exactly".to_string()
                } else {
                    String::new()
                };
                let mut c = Change::new(Action::Kept, var.name, detail);
                if !var.is_secret() {
                    c = c.to(value.clone());
                }
                kept_changes.push(c);
            }
            None if entry.key.starts_with("COMPOSE_") || entry.key.starts_with("DOCKER_") => {
                kept_changes.push(Change::new(
                    Action::Kept,
                    &entry.key,
                    "read by Docker Compose, kept",
                ));
            }
            None => {
                let hint = schema::suggest(&entry.key)
                    .map(|s| format!(" (did you mean {s}?)"))
                    .unwrap_or_default();
                kept_changes.push(Change::new(
                    Action::Unknown,
                    &entry.key,
                    format!("no pinned image reads it{hint}; kept as it was (`check` warns)"),
                ));
            }
        }
        pairs.push((entry.key.clone(), value));
    }
    pairs.extend(retired.set.iter().cloned());

    // Components.
    let mut components = BTreeSet::new();
    for (c, change) in detect_components(&src, &src_dir, &old_config) {
        match c {
            Some(c) => {
                components.insert(c);
                changes.push(change);
            }
            None => changes.push(change),
        }
    }
    for c in parse_components(&args.with).map_err(|e| UsageError(format!("--with: {e}")))? {
        if components.insert(c) {
            changes.push(Change::new(Action::Component, c.name(), "--with"));
        }
    }

    // jitsi-stack's own settings.
    let old_image = src.get("JITSI_IMAGE_VERSION").filter(|v| !v.is_empty());
    let project = src
        .get("COMPOSE_PROJECT_NAME")
        .filter(|v| !v.is_empty())
        .map(String::from)
        .unwrap_or_else(|| {
            sanitize_project_name(
                &src_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        });
    let with: Vec<&str> = components.iter().map(|c| c.name()).collect();
    let mut ours: Vec<(String, String, String)> = vec![
        (
            "CONFIG".into(),
            new_config_value.clone(),
            if args.copy {
                format!("was {raw_config}; copied into {}", new_config.display())
            } else if raw_config == new_config_value {
                "reused in place".into()
            } else {
                format!("was {raw_config}; reused in place")
            },
        ),
        (
            "JITSI_IMAGE_VERSION".into(),
            PINNED_IMAGE_VERSION.into(),
            match (old_image, source_release.as_deref()) {
                (Some(v), _) => format!("was {v}"),
                (None, Some(r)) => format!("was unset ({r}, the compose file's default)"),
                (None, None) => "was unset".into(),
            },
        ),
        (
            RELEASE_VAR.into(),
            PINNED_IMAGE_VERSION.into(),
            "the release this stack's files are written for".into(),
        ),
        (
            "COMPOSE_PROJECT_NAME".into(),
            project.clone(),
            "the Compose project SRC's containers run in, so `up` replaces them".into(),
        ),
    ];
    if !with.is_empty() {
        ours.push((
            WITH_VAR.into(),
            with.join(","),
            "the components found".into(),
        ));
    }

    let mut file = EnvFile::parse(&reference::env_example()).expect("generated env.example parses");
    for (k, v) in pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(ours.iter().map(|(k, v, _)| (k.as_str(), v.as_str())))
    {
        file.set(k, v).map_err(|e| {
            let shown = if schema::lookup(k).is_some_and(|v| v.is_secret()) {
                "(value not shown: secret)".to_string()
            } else {
                format!("{v:?}")
            };
            anyhow::anyhow!("{}: {k} {shown} {e}", src_env.display())
        })?;
    }
    let secrets = gen_passwords::fill(&mut file, &[], false)?;

    changes.extend(
        ours.iter()
            .map(|(k, v, why)| Change::new(Action::Set, k, why.clone()).to(v.clone())),
    );
    changes.extend(retired.changes);
    for name in &secrets.filled {
        let since = match (history::since(name), source_release.as_deref()) {
            (Some(history::When::In(r)), Some(src))
                if history::compare(r, src) == Some(Ordering::Greater) =>
            {
                format!(" (new in {r})")
            }
            _ => String::new(),
        };
        changes.push(Change::new(
            Action::Generated,
            *name,
            format!("empty or absent in SRC{since}: a fresh password"),
        ));
    }
    changes.extend(kept_changes);
    for override_file in [
        "docker-compose.override.yml",
        "docker-compose.override.yaml",
    ] {
        if src_dir.join(override_file).exists() {
            changes.push(Change::new(
                Action::Note,
                override_file,
                "not carried over: jitsi-stack renders its own compose files; put what it changes in .env, or in CONFIG's custom files",
            ));
        }
    }
    changes.extend(release_notes(source_release.as_deref()));
    if !old_config.exists() {
        changes.push(Change::new(
            Action::Note,
            old_config.display().to_string(),
            "CONFIG does not exist: no data to carry over",
        ));
    }

    // Validate before anything touches the disk.
    let text = file.render();
    let values = Values::from_file(&file);
    let probe = Stack {
        dir: dir.clone(),
        env_path: env_path.clone(),
        file: EnvFile::parse(&text).expect("re-parses"),
        values: values.clone(),
        components: components.clone(),
        branding_files: crate::config::regular_files(&dir.join(crate::layout::BRANDING_DIR)),
    };
    let check = validate::validate(&probe);

    // Data: what the copy and the layout moves will do.
    let data_root = if args.copy && old_config.exists() {
        old_config.clone()
    } else {
        new_config.clone()
    };
    let moves = pending_moves(&data_root, &values);

    let mut report = Report {
        format_version: JSON_FORMAT_VERSION,
        dry_run: args.dry_run,
        source: Place {
            dir: src_dir.display().to_string(),
            env: src_env.display().to_string(),
            config: raw_config.clone(),
            config_dir: old_config.display().to_string(),
            release: source_release.clone(),
        },
        source_release_from: release_from,
        target: Place {
            dir: dir.display().to_string(),
            env: env_path.display().to_string(),
            config: new_config_value.clone(),
            config_dir: new_config.display().to_string(),
            release: Some(PINNED_IMAGE_VERSION.into()),
        },
        config_mode: if args.copy { "copy" } else { "in-place" },
        components: components.iter().copied().collect(),
        changes,
        errors: check.errors(),
        warnings: check.warnings(),
        findings: check.findings.clone(),
    };

    if check.errors() > 0 {
        print_report(&report, args.json)?;
        bail!(
            "the migrated .env would have {} error(s) (above); nothing was written. Fix them in a copy of SRC and migrate that",
            check.errors()
        );
    }

    if args.dry_run {
        if args.copy && old_config.exists() {
            let stats = measure_tree(&old_config)?;
            report.changes.push(
                Change::new(
                    Action::Copied,
                    old_config.display().to_string(),
                    stats.summary(),
                )
                .to(new_config.display().to_string()),
            );
            for (p, why) in stats.skipped {
                report
                    .changes
                    .push(Change::new(Action::Skipped, p.display().to_string(), why));
            }
        }
        let (c, _) = move_data(&data_root, &moves, true)?;
        report.changes.extend(c);
        report
            .changes
            .extend(tree_changes(&new_config, true, &mut Vec::new())?);
        print_report(&report, args.json)?;
        if !args.json {
            crate::outln!("dry run: nothing was written");
        }
        return Ok(Exit::Ok);
    }

    // Killed runs' stages: their CONFIG changes undone, then removed.
    for note in clean_stale_stages(&dir_abs) {
        crate::errln!("note: {note}");
    }
    let stage = crate::fsutil::temp_sibling(&dir_abs);
    crate::fsutil::create_dir_all_mode(&dir_parent, 0o755)?;
    crate::fsutil::create_dir_mode(&stage, 0o755)?;
    let lock = crate::lock::acquire(&stage, crate::lock::Wait::default().allow_system_dir(true));
    let stage_config = stage.join("config");
    let work_config = if args.copy {
        stage_config.clone()
    } else {
        new_config.clone()
    };
    let mut journal = ConfigJournal::default();
    let result = lock.and_then(|_lock| {
        let mut out = Vec::new();
        if !args.copy {
            // Written and fsynced before the first change to CONFIG: what
            // this run will create there and the owners and modes it will
            // change, so a failure here, or the next run after a kill,
            // undoes exactly that.
            journal = ConfigJournal::plan(&work_config, &pending_moves(&work_config, &values));
            journal.save(&stage)?;
        }
        if args.copy && old_config.exists() {
            let stats = copy_tree(&old_config, &stage_config, crate::fsutil::is_root())?;
            out.push(
                Change::new(
                    Action::Copied,
                    old_config.display().to_string(),
                    stats.summary(),
                )
                .to(new_config.display().to_string()),
            );
            for (p, why) in stats.skipped {
                out.push(Change::new(Action::Skipped, p.display().to_string(), why));
            }
        }
        let moves = pending_moves(&work_config, &values);
        out.extend(move_data_staged(&work_config, &moves)?);
        out.extend(tree_changes(&work_config, false, &mut Vec::new())?);
        file.write(&stage.join(".env"))?;
        crate::fsutil::sync_dir(&stage);
        // CONFIG is complete: the journal goes, then DIR comes in whole.
        ConfigJournal::remove(&stage)?;
        fs::rename(&stage, &dir_abs)
            .with_context(|| format!("renaming {} to {}", stage.display(), dir_abs.display()))?;
        crate::fsutil::sync_dir(&dir_parent);
        Ok(out)
    });
    match result {
        Ok(c) => report.changes.extend(c),
        Err(e) => {
            // Leave nothing half made: CONFIG as it was, no stage.
            journal.undo();
            let _ = fs::remove_dir_all(&stage);
            return Err(e.context("migrate stopped; CONFIG is as it was and DIR was not made"));
        }
    }
    print_report(&report, args.json)?;
    if !args.json {
        let was_cwd =
            std::env::current_dir().is_err() || std::env::current_dir().is_ok_and(|c| c == dir_abs);
        if was_cwd || dir.is_relative() {
            crate::outln!("next: jitsi-stack --dir {} up", dir_abs.display());
        } else {
            crate::outln!("next: jitsi-stack --dir {} up", dir.display());
        }
        if was_cwd {
            crate::outln!(
                "(your shell's directory was replaced by the new stack: `cd {}` again)",
                dir_abs.display()
            );
        }
    }
    Ok(Exit::Ok)
}

/// A CONFIG that does not exist is an error (exit 2), unless `--no-data`
/// says SRC has nothing to carry over; `--no-data` with data is one too.
fn check_config_exists(config: &Path, raw: &str, src_env: &Path, no_data: bool) -> Result<()> {
    let exists = fs::symlink_metadata(config).is_ok();
    if !exists && !no_data {
        let home = std::env::var("HOME").unwrap_or_default();
        let tilde = if raw.starts_with('~') {
            format!(
                " `~` is this user's home ({home}): under sudo it is root's, not the home of the user who ran docker-jitsi-meet. Run migrate as that user, use `sudo -u USER`, or write CONFIG's absolute path in SRC's .env."
            )
        } else {
            String::new()
        };
        return Err(UsageError(format!(
            "CONFIG {} (CONFIG={raw} in {}) does not exist: the accounts, certificates and recordings are there.{tilde} If SRC really has no data to carry over, add --no-data; nothing was written",
            config.display(),
            src_env.display()
        ))
        .into());
    }
    if exists && no_data && !is_empty_or_absent(config) {
        return Err(UsageError(format!(
            "--no-data, but CONFIG {} (CONFIG={raw} in {}) holds data: drop --no-data to carry it over; nothing was written",
            config.display(),
            src_env.display()
        ))
        .into());
    }
    Ok(())
}

/// The journal of the changes a `migrate` reusing CONFIG in place makes to
/// it, kept in DIR's stage (so it exists exactly while DIR does not): the
/// paths it will create and the owners and modes of the directories it
/// will hand to the images' uid. Undone in reverse by a failure, or by the
/// next `migrate` into the same DIR when this one was killed.
#[derive(Debug, Default, Serialize, serde::Deserialize)]
struct ConfigJournal {
    config: PathBuf,
    /// Removed (whole trees), last first.
    created: Vec<PathBuf>,
    /// (path, uid, gid, mode) before; an empty directory replaced by a
    /// move comes back empty.
    owners: Vec<(PathBuf, u32, u32, u32)>,
    /// Where the data moves build their stages (a killed writer's are removed).
    stages_in: Vec<PathBuf>,
}

const STAGE_JOURNAL: &str = ".migrate-journal.json";

impl ConfigJournal {
    /// Everything the in-place run will touch in `config`: decided from
    /// the tree before the first change.
    fn plan(config: &Path, moves: &[&Move]) -> ConfigJournal {
        let mut j = ConfigJournal {
            config: config.to_path_buf(),
            ..Default::default()
        };
        let add_missing = |j: &mut ConfigJournal, p: &Path| {
            // The outermost missing component, so undo removes it all.
            let mut cur = config.to_path_buf();
            if fs::symlink_metadata(&cur).is_err() {
                if !j.created.contains(&cur) {
                    j.created.push(cur);
                }
                return;
            }
            for part in p.strip_prefix(config).unwrap_or(p).components() {
                cur.push(part);
                if fs::symlink_metadata(&cur).is_err() {
                    if !j.created.contains(&cur) {
                        j.created.push(cur);
                    }
                    return;
                }
            }
        };
        for m in moves {
            let to = config.join(m.to);
            add_missing(&mut j, &to);
            j.stages_in.push(crate::fsutil::parent_dir(&to));
        }
        for rel in crate::layout::CONFIG_TREE {
            add_missing(&mut j, &config.join(rel));
        }
        let mut existing: Vec<PathBuf> = vec![config.to_path_buf()];
        existing.extend(crate::layout::CONFIG_TREE.iter().map(|r| config.join(r)));
        existing.extend(moves.iter().map(|m| config.join(m.to)));
        for p in existing {
            if let Ok(meta) = fs::symlink_metadata(&p) {
                if meta.is_dir() {
                    j.owners
                        .push((p, meta.uid(), meta.gid(), meta.mode() & 0o7777));
                }
            }
        }
        j
    }

    fn save(&self, stage: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self)?;
        crate::fsutil::atomic_write(&stage.join(STAGE_JOURNAL), &text, 0o600)?;
        crate::fsutil::sync_dir(stage);
        Ok(())
    }

    fn load(stage: &Path) -> Option<ConfigJournal> {
        let text = fs::read(stage.join(STAGE_JOURNAL)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn remove(stage: &Path) -> Result<()> {
        match fs::remove_file(stage.join(STAGE_JOURNAL)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("removing migrate's journal"),
        }
        crate::fsutil::sync_dir(stage);
        Ok(())
    }

    /// Idempotent: what is already undone stays so.
    fn undo(&self) {
        for d in &self.stages_in {
            crate::journal::remove_stale(d);
        }
        for p in self.created.iter().rev() {
            match fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => {
                    let _ = fs::remove_dir_all(p);
                }
                Ok(_) => {
                    let _ = fs::remove_file(p);
                }
                Err(_) => {}
            }
        }
        for (p, uid, gid, mode) in &self.owners {
            if fs::symlink_metadata(p).is_err() {
                let _ = crate::fsutil::create_dir_mode(p, *mode);
            }
            if let Ok(m) = fs::symlink_metadata(p) {
                if m.is_dir() {
                    if (m.uid(), m.gid()) != (*uid, *gid) {
                        let _ = std::os::unix::fs::lchown(p, Some(*uid), Some(*gid));
                    }
                    let _ = fs::set_permissions(p, fs::Permissions::from_mode(*mode));
                }
            }
        }
        if let Some(dir) = self.config.parent() {
            crate::fsutil::sync_dir(dir);
        }
    }
}

/// Removes the stages that killed `migrate`s into `dir` left beside it
/// (their writer's pid gone), undoing first the changes their journal
/// lists in a CONFIG reused in place. Returns what it did.
fn clean_stale_stages(dir: &Path) -> Vec<String> {
    let mut notes = vec![];
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name().and_then(|n| n.to_str()))
    else {
        return notes;
    };
    let prefix = format!(".{name}.tmp-");
    let Ok(rd) = fs::read_dir(parent) else {
        return notes;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let entry = e.file_name();
        let Some(entry) = entry.to_str() else {
            continue;
        };
        let dead = entry.starts_with(&prefix)
            && crate::fsutil::temp_writer_pid(entry).is_some_and(|p| !crate::fsutil::pid_alive(p));
        if !dead || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if let Some(j) = ConfigJournal::load(&e.path()) {
            j.undo();
            notes.push(format!(
                "an interrupted migrate into {} had changed CONFIG {}: undone",
                dir.display(),
                j.config.display()
            ));
        }
        if fs::remove_dir_all(e.path()).is_ok() {
            notes.push(format!(
                "removed {}, left by an interrupted migrate",
                e.path().display()
            ));
        }
    }
    notes
}

/// Puts each pending move's data at its new place through the journal's
/// [`crate::journal::stage_tree`]: copied into a stage beside the target,
/// fsynced, compared by content with the source, handed to the images' uid
/// as root (parents made 0755, never root 0700), and renamed into place
/// whole: a target is either as it was or complete. The old copy stays,
/// for going back.
fn move_data_staged(config: &Path, moves: &[&Move]) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    let owner =
        crate::fsutil::is_root().then_some((crate::layout::IMAGE_UID, crate::layout::IMAGE_UID));
    for m in moves {
        let (from, to) = (config.join(m.from), config.join(m.to));
        let stats = measure_tree(&from)?;
        crate::journal::stage_tree(&from, &to, owner)?;
        changes.push(
            Change::new(
                Action::Copied,
                m.from,
                format!("{}, {}", m.what, stats.summary()),
            )
            .to(m.to)
            .release(Some(m.release)),
        );
        for (p, why) in &stats.skipped {
            changes.push(Change::new(
                Action::Skipped,
                p.display().to_string(),
                why.clone(),
            ));
        }
    }
    Ok(changes)
}

/// The CONFIG tree of the pinned release: created (or, dry, counted) and
/// handed to uid 1000 as init does it.
/// `created` gets the directories it made, for the caller's clean-up.
pub fn tree_changes(
    config: &Path,
    dry_run: bool,
    created: &mut Vec<PathBuf>,
) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    let missing: Vec<&str> = crate::layout::CONFIG_TREE
        .iter()
        .copied()
        .filter(|rel| fs::symlink_metadata(config.join(rel)).is_err())
        .collect();
    if !missing.is_empty() {
        out.push(Change::new(
            Action::Created,
            config.display().to_string(),
            format!("the pinned release's directories: {}", missing.join(", ")),
        ));
    }
    if dry_run {
        return Ok(out);
    }
    if fs::symlink_metadata(config).is_err() {
        created.push(config.to_path_buf());
    }
    for rel in &missing {
        // The outermost missing component of each, so a clean-up removes it all.
        let mut p = config.to_path_buf();
        for part in Path::new(rel).components() {
            p.push(part);
            if fs::symlink_metadata(&p).is_err() {
                created.push(p.clone());
                break;
            }
        }
    }
    let (_, needs_chown) = config_tree::make_tree(config, crate::layout::CONFIG_TREE)?;
    out.push(if needs_chown {
        Change::new(
            Action::Note,
            config.display().to_string(),
            format!(
                "the containers run as uid {uid} and must be able to write there; run: sudo chown -R {uid}:{uid} {}",
                config.display(),
                uid = crate::layout::IMAGE_UID
            ),
        )
    } else {
        Change::new(
            Action::Owner,
            config.display().to_string(),
            format!(
                "the pinned release's directories and the data moved into storage belong to uid {}",
                crate::layout::IMAGE_UID
            ),
        )
    });
    Ok(out)
}

fn print_report(report: &Report, json: bool) -> Result<()> {
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    crate::outln!(
        "migrate {} ({}) -> {} ({PINNED_IMAGE_VERSION}){}",
        report.source.dir,
        report
            .source
            .release
            .as_deref()
            .unwrap_or("release unknown"),
        report.target.dir,
        if report.dry_run { " [dry run]" } else { "" }
    );
    crate::outln!(
        "  CONFIG {} ({})",
        report.target.config_dir,
        report.config_mode
    );
    let (kept, rest): (Vec<&Change>, Vec<&Change>) = report
        .changes
        .iter()
        .partition(|c| c.action == Action::Kept);
    for c in rest {
        crate::outln!("{c}");
    }
    if !kept.is_empty() {
        let names: Vec<&str> = kept.iter().map(|c| c.subject.as_str()).collect();
        crate::outln!(
            "  kept      {} value(s) unchanged: {}",
            names.len(),
            names.join(", ")
        );
    }
    for f in &report.findings {
        let level = if f.level == Level::Error {
            "error"
        } else {
            "warning"
        };
        crate::outln!(
            "  check     {level}: {}: {}",
            f.variable.as_deref().unwrap_or("-"),
            f.message
        );
    }
    crate::outln!(
        "check: {} error(s), {} warning(s)",
        report.errors,
        report.warnings
    );
    Ok(())
}

/// The release SRC runs: `--from-release`, else its .env's
/// JITSI_IMAGE_VERSION, else the default tag in its docker-compose.yml.
fn source_release(
    args: &MigrateArgs,
    src: &EnvFile,
    src_dir: &Path,
) -> Result<(Option<String>, &'static str)> {
    let found = if let Some(r) = &args.from_release {
        Some((r.clone(), "flag"))
    } else if let Some(v) = src
        .get("JITSI_IMAGE_VERSION")
        .filter(|v| history::release_key(v).is_some())
    {
        Some((v.to_string(), "env"))
    } else {
        fs::read_to_string(src_dir.join(crate::layout::CORE_COMPOSE_FILE))
            .ok()
            .and_then(|t| compose_default_tag(&t))
            .map(|t| (t, "compose-file"))
    };
    let Some((release, from)) = found else {
        return Ok((None, "unknown"));
    };
    match history::compare(&release, PINNED_IMAGE_VERSION) {
        None => Err(UsageError(format!(
            "release {release:?} (from {from}): expected a stable tag such as stable-9584"
        ))
        .into()),
        Some(Ordering::Greater) => Err(UsageError(format!(
            "SRC runs {release}, newer than this jitsi-stack's {PINNED_IMAGE_VERSION}: use a newer jitsi-stack"
        ))
        .into()),
        _ => Ok((Some(release), from)),
    }
}

/// The tag in `${JITSI_IMAGE_VERSION:-stable-NNNN}`, as upstream's compose
/// files default it.
fn compose_default_tag(text: &str) -> Option<String> {
    const KEY: &str = "JITSI_IMAGE_VERSION:-";
    let start = text.find(KEY)? + KEY.len();
    let tag: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    history::release_key(&tag).map(|_| tag)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Ok(c);
    }
    // Not there yet: its nearest existing ancestor, canonicalised.
    let base = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    let mut existing = base.as_path();
    let mut rest = Vec::new();
    while existing.canonicalize().is_err() {
        rest.push(existing.file_name().map(PathBuf::from).unwrap_or_default());
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    let mut out = existing.canonicalize()?;
    for r in rest.iter().rev() {
        out.push(r);
    }
    Ok(out)
}

/// The components SRC ran: its COMPOSE_FILE, else the overlays present in
/// SRC that left a trace (their CONFIG directory, or the variables that turn
/// them on). `None` entries are notes about overlays not enabled.
fn detect_components(
    src: &EnvFile,
    src_dir: &Path,
    config: &Path,
) -> Vec<(Option<Component>, Change)> {
    let mut out = Vec::new();
    if let Some(list) = src.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
        let sep = src
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .unwrap_or(":");
        for f in list.split(sep) {
            let name = Path::new(f.trim())
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match overlay_component(&name) {
                Some(Some(c)) => out.push((
                    Some(c),
                    Change::new(
                        Action::Component,
                        c.name(),
                        format!("in COMPOSE_FILE ({f})"),
                    ),
                )),
                Some(None) => {}
                None => out.push((
                    None,
                    Change::new(
                        Action::Note,
                        f,
                        "in COMPOSE_FILE but not an overlay jitsi-stack renders: not carried over",
                    ),
                )),
            }
        }
        return out;
    }
    let mut entries: Vec<String> = fs::read_dir(src_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let mut done = BTreeSet::new();
    for f in entries {
        let stem = f.rsplit_once('.').map(|(s, _)| s).unwrap_or(&f).to_string();
        let Some(Some(c)) = overlay_component(&stem) else {
            continue;
        };
        if !done.insert(c) {
            continue;
        }
        let trace = match c {
            Component::Jibri | Component::Jigasi | Component::Transcriber => {
                let d = config.join(c.name());
                is_real_dir(&d).then(|| format!("{f} present and {} exists (it ran)", d.display()))
            }
            Component::Etherpad => src
                .is_set("ETHERPAD_URL_BASE")
                .then(|| format!("{f} present and ETHERPAD_URL_BASE set")),
            Component::Whiteboard => src
                .is_set("WHITEBOARD_COLLAB_SERVER_PUBLIC_URL")
                .then(|| format!("{f} present and WHITEBOARD_COLLAB_SERVER_PUBLIC_URL set")),
            _ => None,
        };
        out.push(match trace {
            Some(why) => (Some(c), Change::new(Action::Component, c.name(), why)),
            None => (
                None,
                Change::new(
                    Action::Note,
                    &f,
                    format!(
                        "present, but nothing shows it ran (no COMPOSE_FILE in .env): not enabled; add --with {} if it did",
                        c.name()
                    ),
                ),
            ),
        });
    }
    out
}

/// The component of an upstream overlay file stem: `Some(None)` for the core
/// file, `None` for a file jitsi-stack does not render.
fn overlay_component(stem: &str) -> Option<Option<Component>> {
    match stem {
        "docker-compose" | "compose" => Some(None),
        "grafana" | "prometheus" => Some(Some(Component::Monitoring)),
        other => Component::parse(other).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_tag() {
        let text =
            "services:\n  web:\n    image: jitsi/web:${JITSI_IMAGE_VERSION:-stable-9584-1}\n";
        assert_eq!(compose_default_tag(text).as_deref(), Some("stable-9584-1"));
        assert_eq!(compose_default_tag("image: jitsi/web:unstable"), None);
    }

    #[test]
    fn symlinks_inside_and_outside() {
        let rel = Path::new("a/b/link");
        assert!(link_inside(rel, Path::new("../c")).is_ok());
        assert!(link_inside(rel, Path::new("../../top")).is_ok());
        assert!(link_inside(rel, Path::new("../../../out")).is_err());
        assert!(link_inside(rel, Path::new("/etc/passwd")).is_err());
        assert!(link_inside(Path::new("link"), Path::new("..")).is_err());
    }

    #[test]
    fn retired_values_move_to_their_replacements() {
        let f = EnvFile::parse(
            "DOCKER_HOST_ADDRESS=203.0.113.7\n\
             JIBRI_RECORDING_VIDEO_ENCODE_PRESET=fast\n\
             ENABLE_COLIBRI_WEBSOCKET=1\n\
             XMPP_RECORDER_DOMAIN=recorder.meet.jitsi\n\
             XMPP_HIDDEN_DOMAIN=hidden.example\n\
             JVB_ENABLE_APIS=rest,colibri\n\
             PUBLIC_URL=https://meet.example.org\n",
        )
        .unwrap();
        let plan = plan_retired(
            &f,
            Window::All {
                source: Some("stable-9584"),
            },
        );
        let set: Vec<(&str, &str)> = plan
            .set
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            set,
            [
                ("JVB_ADVERTISE_IPS", "203.0.113.7"),
                ("JIBRI_RECORDING_VIDEO_ENCODE_PRESET_RECORDING", "fast"),
                ("JIBRI_RECORDING_VIDEO_ENCODE_PRESET_STREAMING", "fast"),
            ]
        );
        assert_eq!(
            plan.remove,
            [
                "DOCKER_HOST_ADDRESS",
                "JIBRI_RECORDING_VIDEO_ENCODE_PRESET",
                "ENABLE_COLIBRI_WEBSOCKET",
                "XMPP_RECORDER_DOMAIN",
                "JVB_ENABLE_APIS"
            ]
        );
        let ws = plan
            .changes
            .iter()
            .find(|c| c.subject == "ENABLE_COLIBRI_WEBSOCKET")
            .unwrap();
        assert_eq!(ws.release.as_deref(), Some("stable-11146"));
        let rec = plan
            .changes
            .iter()
            .find(|c| c.subject == "XMPP_RECORDER_DOMAIN")
            .unwrap();
        assert!(rec.detail.contains("keeps its value"), "{}", rec.detail);
        // A list of APIs is no boolean: dropped, with what to do.
        let apis: Vec<_> = plan
            .changes
            .iter()
            .filter(|c| c.subject == "JVB_ENABLE_APIS")
            .collect();
        assert!(apis.iter().all(|c| c.action == Action::Removed), "{apis:?}");

        // In a release that had dropped it already, the old preset did nothing.
        let plan = plan_retired(
            &f,
            Window::All {
                source: Some("stable-10431"),
            },
        );
        assert!(!plan
            .set
            .iter()
            .any(|(k, _)| k.starts_with("JIBRI_RECORDING_VIDEO_ENCODE_PRESET")));
        // An upgrade from stable-10431 only crosses stable-11146's removals.
        let plan = plan_retired(
            &f,
            Window::After {
                from: "stable-10431",
            },
        );
        assert_eq!(plan.remove, ["ENABLE_COLIBRI_WEBSOCKET"]);
    }

    #[test]
    fn notes_of_the_releases_crossed() {
        assert_eq!(
            release_notes(Some("stable-10431")).len(),
            RELEASE_NOTES.len()
        );
        assert_eq!(release_notes(None).len(), RELEASE_NOTES.len());
        assert!(release_notes(Some("stable-11146")).is_empty());
        assert!(release_notes(Some(PINNED_IMAGE_VERSION)).is_empty());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(10), "10 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }
}
