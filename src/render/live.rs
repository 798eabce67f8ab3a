//! The render in effect, and the one atomic switch that changes it.
//!
//! Every render is written complete into a directory of its own,
//! `renders/<id>/` (the compose files and `generated/`), flushed, and only
//! then made live by one `rename(2)`: a new symlink replaces `current`. The
//! names Compose and the containers use are stable symlinks through it:
//!
//! ```text
//! docker-compose.yml -> current/docker-compose.yml
//! jibri.yml          -> current/jibri.yml          (each overlay COMPOSE_FILE names)
//! generated          -> current/generated
//! current            -> renders/0007
//! ```
//!
//! Compose takes the project directory from the path of the first compose
//! file without resolving symlinks, so `./generated/...` and
//! `${CONFIG:-./config}` resolve in the stack directory exactly as before
//! (checked with Compose v2.40: `docker compose config` prints the same
//! model), and `./generated/x` reaches the live render through `current`.
//!
//! Every render holds every overlay file: the enabled ones, and an empty
//! overlay (`{}`) for each other component. The overlay *list* lives in
//! `.env` (COMPOSE_FILE, JITSI_STACK_WITH), which cannot switch together
//! with `current`; so it only ever grows before the switch (naming an
//! overlay that is empty in the old render changes nothing) and shrinks
//! after it (the new render has an empty file for a dropped one). At every
//! instant the files in effect are one complete render, old or new.
//!
//! A failure before the switch leaves the last good render in effect and
//! removes what was half-built; leftovers of a killed run (`renders/.new-*`,
//! renders other than the live one, temporary links) are removed by the
//! next render. An unchanged stack writes nothing.

use super::{Output, GENERATED_DIR, GENERATED_NOTE};
use crate::config::{Component, Stack, WITH_VAR};
use crate::fsutil;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

pub use crate::layout::{CORE_COMPOSE_FILE as CORE, CURRENT, RENDERS_DIR as RENDERS, SECRET_LINES};
/// Prefix of a render directory still being written.
const BUILDING: &str = ".new-";
const NOT_SWITCHED: &str =
    "the new render was not switched in: the previous one is still in effect";
/// Threads that write and flush a render (`JITSI_STACK_IO_THREADS`).
const IO_THREADS: usize = 8;

/// Where the files in effect are.
#[derive(Clone, Debug)]
pub struct Live {
    /// The directory holding them under their usual names
    /// (`renders/<id>` once switched, else the stack directory itself).
    pub root: PathBuf,
    /// The live render's id, when the stack uses the switch layout.
    pub id: Option<u64>,
}

impl Live {
    /// Bytes of the file `rel` in effect (an empty overlay reads as absent).
    pub fn read(&self, rel: &Path) -> Option<Vec<u8>> {
        let bytes = fs::read(self.root.join(rel)).ok()?;
        let is_overlay = Component::ALL
            .iter()
            .any(|c| Path::new(&c.compose_file()) == rel);
        if is_overlay && is_empty_overlay(&bytes) {
            return None;
        }
        Some(bytes)
    }

    /// Every regular file under `generated/`, relative to the root, sorted.
    pub fn generated_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk_files(&self.root, Path::new(GENERATED_DIR), &mut out);
        out.sort();
        out
    }
}

/// The render in effect for the stack in `dir`.
pub fn live(dir: &Path) -> Live {
    if let Some(id) = current_id(dir) {
        if is_our_link(dir, GENERATED_DIR) && is_our_link(dir, CORE) {
            return Live {
                root: dir.join(RENDERS).join(id_name(id)),
                id: Some(id),
            };
        }
    }
    Live {
        root: dir.to_path_buf(),
        id: None,
    }
}

fn id_name(id: u64) -> String {
    format!("{id:04}")
}

fn parse_id(name: &str) -> Option<u64> {
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// The id `current` points to, when it is a link to an existing render.
fn current_id(dir: &Path) -> Option<u64> {
    let target = fs::read_link(dir.join(CURRENT)).ok()?;
    let mut parts = target.components();
    let first = parts.next()?.as_os_str().to_str()?;
    let second = parts.next()?.as_os_str().to_str()?;
    if first != RENDERS || parts.next().is_some() {
        return None;
    }
    let id = parse_id(second)?;
    dir.join(RENDERS).join(second).is_dir().then_some(id)
}

/// `name` is a symlink to `current/name`.
fn is_our_link(dir: &Path, name: &str) -> bool {
    fs::read_link(dir.join(name)).is_ok_and(|t| t == Path::new(CURRENT).join(name))
}

/// An empty overlay: what a render holds for a component that is off.
pub fn empty_overlay(c: Component) -> String {
    format!(
        "# {GENERATED_NOTE}\n# {} is not enabled. This overlay is empty, so that a COMPOSE_FILE still naming it stays valid.\n{{}}\n",
        c.name()
    )
}

fn is_empty_overlay(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.starts_with(&format!("# {GENERATED_NOTE}\n")) && text.ends_with("\n{}\n")
}

fn has_our_header(path: &Path) -> bool {
    use std::io::Read;
    let want = format!("# {GENERATED_NOTE}\n");
    let mut buf = vec![0; want.len()];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok()
        && buf == want.as_bytes()
}

/// Every file of a render directory: the rendered ones plus an empty
/// overlay for each component that is off.
fn full_tree(out: &Output) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = out
        .files
        .iter()
        .map(|f| (f.path.clone(), f.contents.clone().into_bytes()))
        .collect();
    for c in Component::ALL {
        let name = PathBuf::from(c.compose_file());
        if !files.iter().any(|(p, _)| *p == name) {
            files.push((name, empty_overlay(*c).into_bytes()));
        }
    }
    files
}

/// The `.env` settings a render records so later commands and plain
/// `docker compose` use the same files: the release the files were written
/// for (a newer jitsi-stack then knows to `upgrade`), the component set,
/// COMPOSE_FILE and the project name; and the visitor nodes' indexes
/// (assigned once, never reused: `stack::visitors::Assignment`).
pub fn compose_settings(stack: &Stack) -> Vec<(&'static str, String)> {
    let with: Vec<&str> = stack.components.iter().map(|c| c.name()).collect();
    let mut out = vec![
        (
            crate::config::RELEASE_VAR,
            crate::schema::PINNED_IMAGE_VERSION.to_string(),
        ),
        (WITH_VAR, with.join(",")),
        ("COMPOSE_FILE", stack.compose_files().join(":")),
        ("COMPOSE_PROJECT_NAME", stack.project_name()),
    ];
    out.extend(crate::stack::visitors::settings(&stack.values));
    out
}

/// The entries of COMPOSE_FILE in `.env`, in order.
fn compose_file_list(stack: &Stack) -> Vec<String> {
    stack
        .file
        .get("COMPOSE_FILE")
        .unwrap_or("")
        .split(':')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn overlay_names() -> impl Iterator<Item = String> {
    Component::ALL.iter().map(|c| c.compose_file())
}

/// Makes `out` the render in effect and records the compose settings in
/// `.env` (see the module documentation for the order of steps and why
/// each intermediate state is a complete render). `secret_lines` is asked
/// for only when something is written.
pub fn install(
    stack: &mut Stack,
    out: &Output,
    secret_lines: impl FnOnce(&Stack) -> String,
) -> Result<()> {
    let dir = stack.dir.clone();
    let wanted: Vec<String> = stack.compose_files();
    let settings = compose_settings(stack);
    let listed = compose_file_list(stack);
    // Every overlay COMPOSE_FILE names now or will name: their links must
    // exist before `.env` names them.
    let mut links: Vec<String> = vec![CORE.to_string()];
    for name in overlay_names() {
        if wanted.contains(&name) || listed.contains(&name) {
            links.push(name);
        }
    }
    refuse_foreign(&dir, &links)?;
    remove_leftovers(&dir);

    let tree = full_tree(out);
    let now = live(&dir);
    let changed = now.id.is_none() || !same_tree(&now, &tree, out);
    if changed {
        let mut files = tree;
        files.push((
            PathBuf::from(SECRET_LINES),
            secret_lines(stack).into_bytes(),
        ));
        let id = build(&dir, &files).context(NOT_SWITCHED)?;
        let built = dir.join(RENDERS).join(id_name(id));
        let result = (|| -> Result<()> {
            adopt_legacy(&dir)?;
            ensure_links(&dir, &links)?;
            let original = stack.file.clone();
            let missing: Vec<&String> = wanted.iter().filter(|w| !listed.contains(w)).collect();
            if !missing.is_empty() {
                // Grow the list first: the old render has an empty file for each.
                let mut union = listed.clone();
                union.retain(|n| n != CORE);
                union.insert(0, CORE.to_string());
                for w in &wanted {
                    if !union.contains(w) {
                        union.push(w.clone());
                    }
                }
                let mut early = settings.clone();
                for (k, v) in &mut early {
                    if *k == "COMPOSE_FILE" {
                        *v = union.join(":");
                    }
                }
                apply_settings(stack, &early)?;
            }
            if let Err(e) = switch(&dir, id) {
                if !missing.is_empty() {
                    // Put the old list back (best effort: the old render
                    // holds every file it names, so either list works).
                    if original.write(&stack.env_path).is_ok() {
                        stack.file = original;
                        stack.values = crate::config::Values::from_file(&stack.file);
                    }
                }
                return Err(e);
            }
            Ok(())
        })();
        if let Err(e) = result {
            if current_id(&dir) != Some(id) {
                let _ = fs::remove_dir_all(&built);
            }
            return Err(e.context(NOT_SWITCHED));
        }
    } else {
        ensure_links(&dir, &links)?;
    }
    apply_settings(stack, &settings)?;
    remove_stale_links(&dir, &wanted);
    prune_renders(&dir);
    Ok(())
}

/// Refuses, before anything is written, a top-level name jitsi-stack did
/// not make (a user's own compose file is never replaced).
fn refuse_foreign(dir: &Path, wanted: &[String]) -> Result<()> {
    let mut names: Vec<&str> = wanted.iter().map(String::as_str).collect();
    names.push(GENERATED_DIR);
    names.push(CURRENT);
    names.push(RENDERS);
    for name in names {
        let p = dir.join(name);
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        let ft = meta.file_type();
        let ok = match name {
            CURRENT => ft.is_symlink(),
            RENDERS => ft.is_dir(),
            // The previous layout's real directory is adopted.
            GENERATED_DIR => ft.is_dir() || is_our_link(dir, name),
            _ => is_our_link(dir, name) || (ft.is_file() && has_our_header(&p)),
        };
        if !ok {
            bail!(
                "{} was not made by jitsi-stack (it renders {name} itself); move it out of the \
                 stack directory and run this again: nothing was written",
                p.display()
            );
        }
    }
    Ok(())
}

/// Whether the live render holds exactly `tree`: every file byte-identical
/// and nothing extra under `generated/`.
fn same_tree(now: &Live, tree: &[(PathBuf, Vec<u8>)], out: &Output) -> bool {
    let same = tree
        .iter()
        .all(|(rel, bytes)| fs::read(now.root.join(rel)).ok().as_deref() == Some(bytes));
    let rendered = out
        .files
        .iter()
        .filter(|f| f.path.starts_with(GENERATED_DIR))
        .count();
    same && now.generated_files().len() == rendered
}

/// Writes `files` into `renders/.new-<pid>/`, flushes every file and
/// directory, and renames it to `renders/<id>` with a fresh id. Nothing
/// refers to it yet, so plain writes suffice; on error it is removed.
fn build(dir: &Path, files: &[(PathBuf, Vec<u8>)]) -> Result<u64> {
    let renders = dir.join(RENDERS);
    // Readable by the containers' uid 1000 through the bind mounts (the
    // files are 0644); the 0700 directory keeps other host users out.
    fsutil::create_dir_mode(&renders, 0o700)?;
    let id = next_id(&renders);
    let staging = renders.join(format!("{BUILDING}{}", std::process::id()));
    if fs::symlink_metadata(&staging).is_ok() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("removing leftover {}", staging.display()))?;
    }
    let result = (|| -> Result<()> {
        fsutil::create_dir_mode(&staging, 0o755)?;
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        dirs.insert(staging.clone());
        for (rel, _) in files {
            let mut p = rel.parent();
            while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
                dirs.insert(staging.join(d));
                p = d.parent();
            }
        }
        for d in &dirs {
            fsutil::create_dir_mode(d, 0o755)?;
        }
        in_parallel(files, |(rel, bytes)| {
            let mode = if rel == Path::new(SECRET_LINES) {
                0o600
            } else {
                0o644
            };
            fsutil::write_synced(&staging.join(rel), bytes, mode)
        })?;
        let dirs: Vec<PathBuf> = dirs.into_iter().collect();
        in_parallel(&dirs, |d| {
            fsutil::sync_dir(d);
            Ok(())
        })?;
        let done = renders.join(id_name(id));
        fs::rename(&staging, &done)
            .with_context(|| format!("renaming {} to {}", staging.display(), done.display()))?;
        fsutil::sync_dir(&renders);
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    Ok(id)
}

/// One more than the largest id under `renders/` (ids never repeat).
fn next_id(renders: &Path) -> u64 {
    fs::read_dir(renders)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(parse_id))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
        + 1
}

/// The switch: `current` now names `renders/<id>`, in one rename.
fn switch(dir: &Path, id: u64) -> Result<()> {
    let target = Path::new(RENDERS).join(id_name(id));
    fsutil::replace_symlink(&target, &dir.join(CURRENT))?;
    fsutil::sync_dir(dir);
    Ok(())
}

/// Makes each name a link through `current` (only those that are not).
fn ensure_links(dir: &Path, names: &[String]) -> Result<()> {
    let mut changed = false;
    for name in names.iter().map(String::as_str).chain([GENERATED_DIR]) {
        if is_our_link(dir, name) {
            continue;
        }
        fsutil::replace_symlink(&Path::new(CURRENT).join(name), &dir.join(name))?;
        changed = true;
    }
    if changed {
        fsutil::sync_dir(dir);
    }
    Ok(())
}

/// A stack laid out the old way (a real `generated/` directory and real
/// compose files) moves to the switch layout without a moment where the
/// files in effect are incomplete: what is in effect is copied into a
/// render of its own and `current` set to it; then each top-level name in
/// turn becomes a link to an identical file (`generated/` by
/// `renameat2(RENAME_EXCHANGE)` with a link, so the name never goes missing).
fn adopt_legacy(dir: &Path) -> Result<()> {
    let gen = dir.join(GENERATED_DIR);
    let gen_is_dir = fs::symlink_metadata(&gen).is_ok_and(|m| m.is_dir());
    // Only files jitsi-stack wrote (its header); a user's own file stays.
    let ours = |n: &str| {
        let p = dir.join(n);
        fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) && has_our_header(&p)
    };
    let real_files: Vec<String> = std::iter::once(CORE.to_string())
        .chain(overlay_names())
        .filter(|n| ours(n))
        .collect();
    if !gen_is_dir && real_files.is_empty() {
        return Ok(());
    }
    let mut files = Vec::new();
    for name in std::iter::once(CORE.to_string()).chain(overlay_names()) {
        let in_effect = ours(&name) || is_our_link(dir, &name);
        match fs::read(dir.join(&name)) {
            Ok(bytes) if in_effect => files.push((PathBuf::from(&name), bytes)),
            _ if name != CORE => {
                let c = Component::ALL
                    .iter()
                    .find(|c| c.compose_file() == name)
                    .expect("an overlay name");
                files.push((PathBuf::from(&name), empty_overlay(*c).into_bytes()));
            }
            // No core file in effect: nothing to carry over but generated/.
            _ => {}
        }
    }
    let snapshot = Live {
        root: dir.to_path_buf(),
        id: None,
    };
    for rel in snapshot.generated_files() {
        let bytes = fs::read(dir.join(&rel))
            .with_context(|| format!("reading {}", dir.join(&rel).display()))?;
        files.push((rel, bytes));
    }
    let id = build(dir, &files)?;
    switch(dir, id)?;
    for name in &real_files {
        fsutil::replace_symlink(&Path::new(CURRENT).join(name), &dir.join(name))?;
    }
    if gen_is_dir {
        let link = fsutil::temp_sibling(&gen);
        std::os::unix::fs::symlink(Path::new(CURRENT).join(GENERATED_DIR), &link)
            .with_context(|| format!("creating {}", link.display()))?;
        let link_name = link
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if fsutil::exchange(dir, link_name, GENERATED_DIR)? {
            // `link` now names the old directory.
            fs::remove_dir_all(&link).with_context(|| format!("removing {}", link.display()))?;
        } else {
            // No RENAME_EXCHANGE on this file system: a short moment
            // without `generated`, between two renames.
            let aside = fsutil::temp_sibling(&gen);
            fs::rename(&gen, &aside).with_context(|| format!("moving {} aside", gen.display()))?;
            fs::rename(&link, &gen).with_context(|| format!("linking {}", gen.display()))?;
            let _ = fs::remove_dir_all(&aside);
        }
    }
    fsutil::sync_dir(dir);
    Ok(())
}

/// Writes the settings into `.env` if any differs (it holds the secrets:
/// no needless rewrite), and into the loaded stack.
fn apply_settings(stack: &mut Stack, settings: &[(&'static str, String)]) -> Result<()> {
    let pending: Vec<(&str, &str)> = settings
        .iter()
        .filter(|(k, v)| stack.file.get(k) != Some(v.as_str()))
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let mut file = stack.file.clone();
    file.set_many(&pending)?;
    file.write(&stack.env_path)?;
    for (k, v) in &pending {
        stack.values.set(k, v);
    }
    stack.file = file;
    Ok(())
}

/// Removes overlay links (and old-layout overlay files) of components the
/// render does not enable, now that COMPOSE_FILE no longer names them.
fn remove_stale_links(dir: &Path, wanted: &[String]) {
    let mut changed = false;
    for name in overlay_names().filter(|n| !wanted.contains(n)) {
        let p = dir.join(&name);
        let ours = is_our_link(dir, &name)
            || fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) && has_our_header(&p);
        if ours && fs::remove_file(&p).is_ok() {
            changed = true;
        }
    }
    if changed {
        fsutil::sync_dir(dir);
    }
}

/// Removes what killed or earlier runs left: half-built renders, the old
/// layout's `generated.new`/`generated.old`. Called holding the stack lock.
fn remove_leftovers(dir: &Path) {
    for old in ["generated.new", "generated.old"] {
        let p = dir.join(old);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            let _ = fs::remove_dir_all(&p);
        }
    }
    let renders = dir.join(RENDERS);
    if let Ok(rd) = fs::read_dir(&renders) {
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name();
            if name.to_str().is_some_and(|n| n.starts_with(BUILDING)) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Keeps only the live render. Containers created from an older one keep
/// their mounted files (a bind mount holds the file, not its name) and
/// reach the live render when they are next started, through the links;
/// so nothing older is needed, and tools that search the stack directory
/// never find stale copies.
fn prune_renders(dir: &Path) {
    let renders = dir.join(RENDERS);
    let Some(live) = current_id(dir) else { return };
    let Ok(rd) = fs::read_dir(&renders) else {
        return;
    };
    let mut ids: Vec<u64> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(parse_id))
        .filter(|id| *id != live)
        .collect();
    ids.sort_unstable();
    for id in ids {
        let _ = fs::remove_dir_all(renders.join(id_name(id)));
    }
}

/// Runs `f` on every item from up to [`IO_THREADS`] threads (or
/// `JITSI_STACK_IO_THREADS`); the first error wins. The flushes wait on
/// the disk, not the CPU: several threads let the file system commit them
/// together.
fn in_parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    let threads = std::env::var("JITSI_STACK_IO_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(IO_THREADS);
    if threads == 1 {
        return items.iter().try_for_each(f);
    }
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().try_for_each(&f)))
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("a render writer thread panicked"))
    })
}

/// Regular files under `root/rel`, following the links the layout uses.
fn walk_files(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(root.join(rel)) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let r = rel.join(e.file_name());
        match fs::metadata(root.join(&r)) {
            Ok(m) if m.is_dir() => walk_files(root, &r, out),
            Ok(m) if m.is_file() => out.push(r),
            _ => {}
        }
    }
}

/// Whether `err` is "no such file" (for callers probing the layout).
pub fn is_not_found(err: &std::io::Error) -> bool {
    err.kind() == ErrorKind::NotFound
}
