//! The stack directory's layout: the names of the files and directories
//! jitsi-stack keeps in it, and who owns them. Constants only, so every
//! layer may name a file without depending on the code that writes it.

/// Directories under CONFIG that the images mount and write to, relative to
/// CONFIG: the `${CONFIG}/...` volumes of the pinned release's compose files
/// (docker-compose.yml: web, storage/web, storage/transcripts,
/// tmp/web-load-test, prosody/*, storage/prosody, jicofo, jvb;
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
    "jicofo",
    "jvb",
    "jibri",
    "jigasi",
    "transcriber",
];

/// The uid:gid the images run as.
pub const IMAGE_UID: u32 = 1000;
