//! `jitsi-stack init [DIR]`: a `.env` from the schema with fresh passwords and
//! the flags applied, plus the directory tree the images need. Never
//! overwrites a value that is already set.

use crate::cli::InitArgs;
use crate::config::{parse_components, Stack, WITH_VAR};
use crate::envfile::EnvFile;
use crate::lock::{self, Wait};
use crate::schema::{self, kind::url_host_port};
use crate::{commands::gen_passwords, fsutil, reference, validate, Exit, UsageError};
use anyhow::{bail, Result};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Directories under CONFIG that the images mount and write to, relative to
/// CONFIG: the `${CONFIG}/...` volumes of the pinned release's compose files
/// (docker-compose.yml: web, storage/web, storage/transcripts,
/// tmp/web-load-test, prosody/*, storage/prosody, custom-ca, jicofo, jvb;
/// jibri.yml: jibri, storage/jibri; jigasi.yml: jigasi; transcriber.yml:
/// transcriber). The images run read-only as uid 1000 and do not create them.
pub const CONFIG_TREE: &[&str] = &[
    "web",
    "storage/web",
    "storage/prosody",
    "storage/jibri",
    "storage/transcripts",
    "tmp/web-load-test",
    "prosody/config",
    "prosody/prosody-plugins-custom",
    "custom-ca",
    "jicofo",
    "jvb",
    "jibri",
    "jigasi",
    "transcriber",
];

/// The uid:gid the images run as.
pub const IMAGE_UID: u32 = 1000;

pub fn run(global_dir: Option<&Path>, args: InitArgs) -> Result<Exit> {
    let dir = args
        .path
        .clone()
        .or_else(|| global_dir.map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    // The lock lives in the directory, so a new one is made first (mode
    // 0755 whatever the umask) and removed again if init then fails: bad
    // flags leave nothing behind. Everything below runs under the lock, so
    // two inits never both write a fresh set of passwords.
    let created = fsutil::create_dir_all_mode(&dir, 0o755)?;
    let result = lock::acquire(&dir, Wait::default().allow_system_dir(args.force))
        .and_then(|lock| run_locked(&dir, args).map(|exit| (exit, lock)));
    match result {
        Ok((exit, _lock)) => Ok(exit),
        Err(e) => {
            if let Some(inner) = created.last() {
                fsutil::remove_if_only_lock(inner);
                for d in created.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
            }
            Err(e)
        }
    }
}

fn run_locked(dir: &Path, args: InitArgs) -> Result<Exit> {
    let dir = dir.to_path_buf();
    let env_path = dir.join(".env");
    let existed = env_path.exists();
    let mut file = if existed {
        EnvFile::read(&env_path)?
    } else {
        EnvFile::parse(&reference::env_example()).expect("generated env.example parses")
    };

    let interactive =
        !args.non_interactive && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut public_url = args.public_url.clone();
    let mut email = args.letsencrypt_email.clone();
    if interactive && public_url.is_none() && !file.is_set("PUBLIC_URL") {
        public_url = prompt("Public URL users will open (e.g. https://meet.example.org)")?;
    }
    if interactive && email.is_none() && !file.is_set("LETSENCRYPT_EMAIL") {
        email = prompt("E-mail for Let's Encrypt (empty: use a self-signed certificate)")?;
    }

    let mut wanted: Vec<(&str, String)> = vec![
        (
            "CONFIG",
            match &args.config_dir {
                Some(p) => p.display().to_string(),
                None => "./config".into(),
            },
        ),
        (
            "JITSI_IMAGE_VERSION",
            schema::PINNED_IMAGE_VERSION.to_string(),
        ),
        ("HTTP_PORT", "8000".into()),
        ("HTTPS_PORT", "8443".into()),
        ("TZ", "UTC".into()),
    ];
    if let Some(url) = &public_url {
        schema::lookup("PUBLIC_URL")
            .expect("PUBLIC_URL in schema")
            .kind
            .check(url)
            .map_err(|e| UsageError(format!("--public-url {url:?}: expected {e}")))?;
        wanted.push(("PUBLIC_URL", url.trim_end_matches('/').to_string()));
        if let Some((_, Some(port), _)) = url_host_port(url) {
            if email.is_none() {
                wanted.retain(|(k, _)| *k != "HTTPS_PORT");
                wanted.push(("HTTPS_PORT", port.to_string()));
            }
        }
    }
    if let Some(addr) = &email {
        schema::lookup("LETSENCRYPT_EMAIL")
            .expect("in schema")
            .kind
            .check(addr)
            .map_err(|e| UsageError(format!("--letsencrypt-email {addr:?}: expected {e}")))?;
        let url = public_url
            .clone()
            .or_else(|| file.get("PUBLIC_URL").map(String::from))
            .ok_or_else(|| {
                UsageError(
                    "--letsencrypt-email needs --public-url (the certificate's domain)".into(),
                )
            })?;
        let (host, _, _) = url_host_port(&url)
            .ok_or_else(|| UsageError(format!("cannot take a domain from PUBLIC_URL {url:?}")))?;
        wanted.retain(|(k, _)| !matches!(*k, "HTTP_PORT" | "HTTPS_PORT"));
        wanted.extend([
            ("ENABLE_LETSENCRYPT", "1".to_string()),
            ("LETSENCRYPT_DOMAIN", host),
            ("LETSENCRYPT_EMAIL", addr.clone()),
            ("LETSENCRYPT_ACME_SERVER", "letsencrypt".into()),
            ("HTTP_PORT", "80".into()),
            ("HTTPS_PORT", "443".into()),
        ]);
    }
    if !args.with.is_empty() {
        let mut comps = parse_components(&[file.get(WITH_VAR).unwrap_or("")])?;
        comps.extend(parse_components(&args.with).map_err(|e| UsageError(format!("--with: {e}")))?);
        let list: Vec<&str> = comps.iter().map(|c| c.name()).collect();
        wanted.push((WITH_VAR, list.join(",")));
        // A component is useless unless the web client offers it.
        if comps.contains(&crate::config::Component::Jibri) {
            wanted.push(("ENABLE_RECORDING", "1".into()));
        }
        if comps.contains(&crate::config::Component::Transcriber) {
            wanted.push(("ENABLE_TRANSCRIPTIONS", "1".into()));
        }
    }

    let mut added = vec![];
    let mut kept = vec![];
    for (k, v) in &wanted {
        let explicit = matches!(*k, WITH_VAR);
        if file.is_set(k) && !explicit {
            let have = file.get(k).unwrap_or("");
            if have == v {
                kept.push(k.to_string());
            } else {
                kept.push(format!("{k} (has {have:?}; not replaced by {v:?})"));
            }
            continue;
        }
        if file.get(k) != Some(v.as_str()) {
            file.set(k, v)?;
            added.push(k.to_string());
        }
    }
    let secrets = gen_passwords::fill(&mut file, &[], false)?;
    added.extend(secrets.filled.iter().map(|s| s.to_string()));
    kept.extend(secrets.kept.iter().map(|s| format!("{s} (password)")));

    // Validate before anything touches the disk.
    let text = file.render();
    let values = crate::config::Values::from_file(&file);
    let components = parse_components(&[values.get_or(WITH_VAR, "")])?;
    let probe = Stack {
        dir: dir.clone(),
        env_path: env_path.clone(),
        file: EnvFile::parse(&text).expect("re-parses"),
        values,
        components,
    };
    let report = validate::validate(&probe);
    if report.errors() > 0 {
        for f in &report.findings {
            eprintln!("{f}");
        }
        bail!("the resulting .env would be invalid; nothing was written");
    }

    let written = if !added.is_empty() || !existed {
        file.write(&env_path)?
    } else {
        env_path.clone()
    };
    let config = tidy(&probe.config_dir());
    let (created, needs_chown) = make_tree(&config)?;

    if !existed {
        println!("{}: created", env_path.display());
    } else if added.is_empty() {
        println!(
            "{}: unchanged (every value was already set)",
            env_path.display()
        );
    } else {
        println!(
            "{}: updated; previous file kept as {}",
            env_path.display(),
            fsutil::backup_path(&written).display()
        );
    }
    for k in &added {
        println!("  added {k}");
    }
    for k in &kept {
        println!("  kept  {k}");
    }
    println!(
        "{}: {} directories ({} new)",
        config.display(),
        CONFIG_TREE.len(),
        created
    );
    if needs_chown {
        println!(
            "the containers run as uid {IMAGE_UID} and must be able to write there; run:\n  sudo chown -R {IMAGE_UID}:{IMAGE_UID} {}",
            config.display()
        );
    }
    println!("next: jitsi-stack --dir {} up", dir.display());
    Ok(Exit::Ok)
}

/// `demo/./config` -> `demo/config`: drops `.` components for display and use.
fn tidy(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn prompt(question: &str) -> Result<Option<String>> {
    eprint!("{question}: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let t = line.trim();
    Ok((!t.is_empty()).then(|| t.to_string()))
}

/// Creates the CONFIG tree (directories 0755 whatever the umask); as
/// root, hands it to the images' uid. Below CONFIG no symlink is followed:
/// a linked directory is left as it is and reported. Returns how many
/// directories were new, and whether the user must still chown.
fn make_tree(config: &Path) -> Result<(usize, bool)> {
    fsutil::create_dir_all_mode(config, 0o755)?;
    let root = fsutil::is_root();
    let owner = root.then_some((IMAGE_UID, IMAGE_UID));
    let mut created = 0;
    for rel in CONFIG_TREE {
        match fsutil::make_dir_under(config, Path::new(rel), 0o755, owner)? {
            fsutil::Made::Created => created += 1,
            fsutil::Made::Existed => {}
            fsutil::Made::Symlink(link) => eprintln!(
                "note: {} is a symlink: left as it is (jitsi-stack never follows or chowns through links under CONFIG); \
                 its target must be a directory uid {IMAGE_UID} can write",
                link.display()
            ),
        }
    }
    if root {
        return Ok((created, false));
    }
    let owned = CONFIG_TREE
        .iter()
        .all(|rel| owned_by_image_user(&config.join(rel)));
    Ok((created, !owned))
}

fn owned_by_image_user(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p)
        .map(|m| m.uid() == IMAGE_UID)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_drops_dot_components() {
        assert_eq!(
            tidy(Path::new("demo/./config")),
            PathBuf::from("demo/config")
        );
        assert_eq!(tidy(Path::new("./config")), PathBuf::from("config"));
        assert_eq!(tidy(Path::new("/abs/./x")), PathBuf::from("/abs/x"));
    }

    #[test]
    fn tree_has_no_duplicates_or_absolute_paths() {
        let mut seen = std::collections::HashSet::new();
        for rel in CONFIG_TREE {
            assert!(!rel.starts_with('/') && !rel.contains(".."), "{rel}");
            assert!(seen.insert(rel), "{rel} twice");
        }
    }
}
