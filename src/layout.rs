//! The stack directory's layout: the names of the files and directories
//! jitsi-stack keeps in it, and who owns them. Constants only, so every
//! layer may name a file without depending on the code that writes it.
//!
//! ```text
//! .env                    the settings (COMPOSE_FILE lists the compose files)
//! docker-compose.yml      -> current/docker-compose.yml, one overlay per component
//! generated/              -> current/generated: the rendered service configs
//! current                 -> renders/<id>: the render in effect (the one switch)
//! renders/<id>/           one complete render
//! nodes/<name>/           the bundle of each node host
//! CONFIG/...              the images' data (CONFIG_TREE), owned by IMAGE_UID
//! ```

/// The core compose file; each component adds an overlay.
pub const CORE_COMPOSE_FILE: &str = "docker-compose.yml";
/// The directory of the rendered service configs (a link into the render in
/// effect).
pub const GENERATED_DIR: &str = "generated";
/// The directory holding one directory per render.
pub const RENDERS_DIR: &str = "renders";
/// The symlink naming the render in effect.
pub const CURRENT: &str = "current";
/// Which lines of a render's files hold secrets (line numbers only), for
/// `render --diff`; mode 0600, never mounted.
pub const SECRET_LINES: &str = ".secret-lines.json";
/// The operator's branding files (`branding/watermark.svg`, ...), mounted
/// as they are.
pub const BRANDING_DIR: &str = "branding";
/// The directory of the node bundles, one directory per node.
pub const NODES_DIR: &str = "nodes";

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
