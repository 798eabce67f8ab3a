//! The CONFIG directory on disk, as `init` and `migrate` find and make it:
//! the path a `.env` gives, resolved as Compose resolves it, and the tree
//! of directories the images write, handed to the images' uid.

use crate::fsutil;
use crate::layout::IMAGE_UID;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// CONFIG as Compose resolves it: `~` is the home directory, a relative path
/// is relative to the project directory (SRC).
pub fn expand_config(raw: &str, src_dir: &Path) -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    let p = if raw == "~" {
        home().unwrap_or_else(|| PathBuf::from(raw))
    } else if let Some(rest) = raw.strip_prefix("~/") {
        home()
            .map(|h| h.join(rest))
            .unwrap_or_else(|| PathBuf::from(raw))
    } else {
        PathBuf::from(raw)
    };
    let p = if p.is_absolute() { p } else { src_dir.join(p) };
    crate::config::normalize(&p)
}

/// Creates the CONFIG tree (directories 0755 whatever the umask); as
/// root, hands it to the images' uid. Below CONFIG no symlink is followed:
/// a linked directory is left as it is and reported. Returns how many
/// directories were new, and whether the user must still chown. Shared
/// by `init` and `migrate`.
pub fn make_tree<S: AsRef<str>>(config: &Path, tree: &[S]) -> Result<(usize, bool)> {
    fsutil::create_dir_all_mode(config, 0o755)?;
    let root = fsutil::is_root();
    let owner = root.then_some((IMAGE_UID, IMAGE_UID));
    let mut created = 0;
    for rel in tree {
        match fsutil::make_dir_under(config, Path::new(rel.as_ref()), 0o755, owner)? {
            fsutil::Made::Created => created += 1,
            fsutil::Made::Existed => {}
            fsutil::Made::Symlink(link) => crate::errln!(
                "note: {} is a symlink: left as it is (jitsi-stack never follows or chowns through links under CONFIG); \
                 its target must be a directory uid {IMAGE_UID} can write",
                link.display()
            ),
        }
    }
    if root {
        return Ok((created, false));
    }
    let owned = tree
        .iter()
        .all(|rel| owned_by_image_user(&config.join(rel.as_ref())));
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
    fn config_expansion() {
        let src = Path::new("/srv/djm");
        assert_eq!(expand_config("./cfg", src), PathBuf::from("/srv/djm/cfg"));
        assert_eq!(expand_config("/abs/cfg", src), PathBuf::from("/abs/cfg"));
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(
                expand_config("~/.jitsi-meet-cfg", src),
                PathBuf::from(home).join(".jitsi-meet-cfg")
            );
        }
    }
}
