//! The delivery table: where each rendered file is mounted (read-only) in the
//! official image, so the image's boot script finds it as its template and
//! passes it through unchanged (`tpl /defaults/X > /run/.../X`, or a plain
//! copy). One row per file; the compose model mounts every row of a service.
//!
//! A rendered file lives at `generated/<compose-service>/<file>`; for several
//! instances (`jvb-2`, `jibri-3`) each instance has its own directory.
//! Where an image concatenates several templates into one file, the whole
//! file is mounted on the first and [`EMPTY`] on the others.

use serde::Serialize;

/// Rendered empty file mounted over templates whose content is already part
/// of a concatenated file.
pub const EMPTY: &str = "empty";

/// One mounted file.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Mount {
    /// Service kind (the compose service name of the first instance).
    pub service: &'static str,
    /// File under `generated/<service>/` (or [`EMPTY`] under `generated/`).
    pub file: &'static str,
    /// Absolute path inside the container.
    pub target: &'static str,
    /// Why this path, from the image's boot script.
    pub note: &'static str,
}

pub static MOUNTS: &[Mount] = &[
    // --- web (render/web.rs) ---

    // --- end web ---

    // --- prosody (render/prosody.rs) ---
    Mount {
        service: "prosody",
        file: "prosody.cfg.lua",
        target: "/defaults/prosody.cfg.lua",
        note: "scripts/config: tpl /defaults/prosody.cfg.lua > /run/prosody/config/prosody.cfg.lua",
    },
    Mount {
        service: "prosody",
        file: "jitsi-meet.cfg.lua",
        target: "/defaults/conf.d/jitsi-meet.cfg.lua",
        note: "scripts/config (client mode): tpl /defaults/conf.d/jitsi-meet.cfg.lua > /run/prosody/config/conf.d/",
    },
    Mount {
        service: "prosody",
        file: "saslauthd.conf",
        target: "/defaults/saslauthd.conf",
        note: "scripts/config (AUTH_TYPE=ldap): tpl /defaults/saslauthd.conf > /run/saslauthd.conf",
    },

    // --- end prosody ---

    // --- jicofo, jvb, jibri, jigasi, transcriber (render/jvm.rs) ---

    // --- end jvm ---

    // --- turn (render/turn.rs) ---
    Mount {
        service: "turn",
        file: "turnserver.conf",
        target: "/etc/coturn/turnserver.conf",
        note: "the official coturn image reads /etc/coturn/turnserver.conf",
    },

    // --- end turn ---
];

/// The rows for a service kind.
pub fn for_service(service: &str) -> impl Iterator<Item = &'static Mount> + '_ {
    MOUNTS.iter().filter(move |m| m.service == service)
}
