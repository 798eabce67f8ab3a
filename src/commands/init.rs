//! `jitsi-stack init [DIR]`: a `.env` from the schema with fresh passwords and
//! the flags applied, plus the directory tree the images need. Never
//! overwrites a value that is already set.

use crate::cli::InitArgs;
use crate::config::{parse_components, Stack, WITH_VAR};
use crate::envfile::EnvFile;
use crate::schema::{self, kind::url_host_port};
use crate::{commands::gen_passwords, reference, validate, Exit, UsageError};
use anyhow::{bail, Context, Result};
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
    let env_path = dir.join(".env");
    let existed = env_path.exists();
    // --branding: checked before anything is written.
    if let Some(src) = &args.branding {
        crate::render::branding::check_source(src)?;
        crate::render::branding::check_target(&dir)?;
    }
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

    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if !added.is_empty() || !existed {
        file.write(&env_path)?;
    }
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
            crate::fsutil::backup_path(&env_path).display()
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
    if let Some(src) = &args.branding {
        let copied = crate::render::branding::install(src, &dir)?;
        println!(
            "{}: {} branding file(s) copied from {}",
            dir.join(crate::render::branding::DIR).display(),
            copied.len(),
            src.display()
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

/// Creates the CONFIG tree; as root, hands it to the images' uid. Returns
/// how many directories were new, and whether the user must still chown.
fn make_tree(config: &Path) -> Result<(usize, bool)> {
    let mut created = 0;
    for rel in CONFIG_TREE {
        let p = config.join(rel);
        if !p.exists() {
            std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
            created += 1;
        }
    }
    if is_root() {
        for rel in CONFIG_TREE {
            chown(&config.join(rel))?;
        }
        return Ok((created, false));
    }
    let owned = CONFIG_TREE
        .iter()
        .all(|rel| owned_by_image_user(&config.join(rel)));
    Ok((created, !owned))
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // The owner of a file we just created is our effective uid.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn owned_by_image_user(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p)
        .map(|m| m.uid() == IMAGE_UID)
        .unwrap_or(false)
}

fn chown(p: &Path) -> Result<()> {
    std::os::unix::fs::chown(p, Some(IMAGE_UID), Some(IMAGE_UID))
        .with_context(|| format!("chown {IMAGE_UID}:{IMAGE_UID} {}", p.display()))
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
