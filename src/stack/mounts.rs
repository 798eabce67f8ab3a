//! The delivery table: where each rendered file is mounted (read-only) in the
//! official image, so the image's boot script finds it as its template and
//! passes it through unchanged (`tpl /defaults/X > /run/.../X`, or a plain
//! copy). One row per file; the compose model mounts every row of a service.
//!
//! A rendered file is a config object named `<instance>/<file>` ([`Delivery::id`]);
//! several instances (`jvb-2`, `jibri-3`) each have their own.
//! Where an image concatenates several templates into one file, the whole
//! file is mounted on the first and [`EMPTY`] on the others.
//!
//! How a row becomes a mount: for every instance of the row's service (`jvb`,
//! `jvb-2`, ...) the model's service gets `Mount::Config { id, target }`;
//! each target decides where config objects live (the compose target:
//! under `generated/`, see `render::mounts`). Rows of one service must have
//! distinct targets (a target mounted twice is refused); the unit tests
//! below check that for every row anyone adds.

use serde::Serialize;

/// Rendered empty file mounted over templates whose content is already part
/// of a concatenated file.
pub const EMPTY: &str = "empty";

/// The rows of the visitor nodes' prosody (`prosody-v0`, `prosody-v1`, ...).
pub const VISITOR_ROWS: &str = "prosody-visitor";

/// One row of the delivery table: a rendered file and where its service mounts it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Delivery {
    /// Service kind (the compose service name of the first instance).
    pub service: &'static str,
    /// The config object's file name (or [`EMPTY`], shared by every service).
    pub file: &'static str,
    /// Absolute path inside the container.
    pub target: &'static str,
    /// Why this path, from the image's boot script.
    pub note: &'static str,
}

pub static MOUNTS: &[Delivery] = &[
    // --- web (render/web.rs) ---
    // Boot script web/rootfs/etc/s6-overlay/scripts/config: `tpl
    // /defaults/system-config.js > /run/web/config/config.js`, then
    // settings-config.js appended (then /config/custom-config.js, if any).
    Delivery {
        service: "web",
        file: "config.js",
        target: "/defaults/system-config.js",
        note: "whole config.js; the boot script tpl's it into /run/web/config/config.js",
    },
    Delivery {
        service: "web",
        file: EMPTY,
        target: "/defaults/settings-config.js",
        note: "appended to config.js by the boot script; its keys are already in config.js",
    },
    Delivery {
        service: "web",
        file: "nginx.conf",
        target: "/defaults/nginx.conf",
        note: "tpl -> /run/web/config/nginx/nginx.conf (nginx -c)",
    },
    Delivery {
        service: "web",
        file: "meet.conf",
        target: "/defaults/meet.conf",
        note: "tpl -> /run/web/config/nginx/meet.conf (custom-meet.conf appended)",
    },
    Delivery {
        service: "web",
        file: "ssl.conf",
        target: "/defaults/ssl.conf",
        note: "tpl -> /run/web/config/nginx/ssl.conf",
    },
    Delivery {
        service: "web",
        file: "default",
        target: "/defaults/default",
        note: "tpl -> /run/web/config/nginx/site-confs/default",
    },
    // --- end web ---

    // --- prosody (render/prosody.rs) ---
    Delivery {
        service: "prosody",
        file: "prosody.cfg.lua",
        target: "/defaults/prosody.cfg.lua",
        note: "scripts/config: tpl /defaults/prosody.cfg.lua > /run/prosody/config/prosody.cfg.lua",
    },
    Delivery {
        service: "prosody",
        file: "jitsi-meet.cfg.lua",
        target: "/defaults/conf.d/jitsi-meet.cfg.lua",
        note: "scripts/config (client mode): tpl /defaults/conf.d/jitsi-meet.cfg.lua > /run/prosody/config/conf.d/",
    },
    Delivery {
        service: "prosody",
        file: "saslauthd.conf",
        target: "/defaults/saslauthd.conf",
        note: "scripts/config (AUTH_TYPE=ldap): tpl /defaults/saslauthd.conf > /run/saslauthd.conf",
    },
    // Visitor nodes (PROSODY_MODE=visitors), one directory per node
    // (`generated/prosody-v0/`, ...): scripts/config picks
    // PROSODY_SITE_CFG=visitors.cfg.lua and tpl's it and prosody.cfg.lua.
    Delivery {
        service: VISITOR_ROWS,
        file: "prosody.cfg.lua",
        target: "/defaults/prosody.cfg.lua",
        note: "scripts/config: tpl /defaults/prosody.cfg.lua > /run/prosody/config/prosody.cfg.lua",
    },
    Delivery {
        service: VISITOR_ROWS,
        file: "visitors.cfg.lua",
        target: "/defaults/conf.d/visitors.cfg.lua",
        note: "scripts/config (visitors mode): tpl /defaults/conf.d/visitors.cfg.lua > /run/prosody/config/conf.d/",
    },

    // --- end prosody ---

    // --- jicofo, jvb (render/jvm/jicofo.rs, render/jvm/jvb.rs) ---
    // Boot scripts jicofo/rootfs/etc/s6-overlay/scripts/config and
    // jvb/.../scripts/config: `tpl /defaults/X > /run/<svc>/config/X`; the
    // services start with -Dconfig.file=/run/<svc>/config/<svc>.conf and
    // -Djava.util.logging.config.file=/run/<svc>/config/logging.properties.
    Delivery {
        service: "jicofo",
        file: "jicofo.conf",
        target: "/defaults/jicofo.conf",
        note: "tpl -> /run/jicofo/config/jicofo.conf (-Dconfig.file)",
    },
    Delivery {
        service: "jicofo",
        file: "logging.properties",
        target: "/defaults/logging.properties",
        note: "tpl -> /run/jicofo/config/logging.properties",
    },
    Delivery {
        service: "jvb",
        file: "jvb.conf",
        target: "/defaults/jvb.conf",
        note: "tpl -> /run/jvb/config/jvb.conf (-Dconfig.file); one per bridge",
    },
    Delivery {
        service: "jvb",
        file: "logging.properties",
        target: "/defaults/logging.properties",
        note: "tpl -> /run/jvb/config/logging.properties",
    },
    // --- end jicofo, jvb ---

    // --- jigasi, transcriber (render/jvm/jigasi.rs) ---
    // Boot script jigasi/rootfs/etc/s6-overlay/scripts/config, same image in
    // both services: `tpl /defaults/logging.properties >
    // /run/jigasi/config/logging.properties`; `tpl
    // /defaults/sip-communicator.properties > /run/jigasi/config/
    // sip-communicator.properties`, then `>>` xmpp-sip-communicator, then
    // sipserver- (JIGASI_MODE=sip) or transcriber-sip-communicator
    // (JIGASI_MODE=transcriber). The whole file goes on the first template;
    // the three appended ones are empty in both services.
    Delivery {
        service: "jigasi",
        file: "sip-communicator.properties",
        target: "/defaults/sip-communicator.properties",
        note: "whole file; tpl > /run/jigasi/config/sip-communicator.properties (--configdir)",
    },
    Delivery {
        service: "jigasi",
        file: EMPTY,
        target: "/defaults/xmpp-sip-communicator.properties",
        note: "appended by the boot script; its keys are already in sip-communicator.properties",
    },
    Delivery {
        service: "jigasi",
        file: EMPTY,
        target: "/defaults/sipserver-sip-communicator.properties",
        note: "appended in sip mode; its keys are already in sip-communicator.properties",
    },
    Delivery {
        service: "jigasi",
        file: EMPTY,
        target: "/defaults/transcriber-sip-communicator.properties",
        note: "appended in transcriber mode only; empty so no raw template is ever rendered",
    },
    Delivery {
        service: "jigasi",
        file: "logging.properties",
        target: "/defaults/logging.properties",
        note: "tpl -> /run/jigasi/config/logging.properties (-Djava.util.logging.config.file)",
    },
    Delivery {
        service: "transcriber",
        file: "sip-communicator.properties",
        target: "/defaults/sip-communicator.properties",
        note: "whole file; tpl > /run/jigasi/config/sip-communicator.properties (--configdir)",
    },
    Delivery {
        service: "transcriber",
        file: EMPTY,
        target: "/defaults/xmpp-sip-communicator.properties",
        note: "appended by the boot script; its keys are already in sip-communicator.properties",
    },
    Delivery {
        service: "transcriber",
        file: EMPTY,
        target: "/defaults/sipserver-sip-communicator.properties",
        note: "appended in sip mode only; empty so no raw template is ever rendered",
    },
    Delivery {
        service: "transcriber",
        file: EMPTY,
        target: "/defaults/transcriber-sip-communicator.properties",
        note: "appended in transcriber mode; its keys are already in sip-communicator.properties",
    },
    Delivery {
        service: "transcriber",
        file: "logging.properties",
        target: "/defaults/logging.properties",
        note: "tpl -> /run/jigasi/config/logging.properties (-Djava.util.logging.config.file)",
    },
    // --- end jigasi, transcriber ---

    // --- jibri (render/jvm/jibri.rs) ---
    // Boot script jibri/rootfs/etc/s6-overlay/scripts/config: `tpl
    // /defaults/X > /run/jibri/config/X` (/etc/jitsi/jibri links there);
    // jibri starts with -Dconfig.file=/etc/jitsi/jibri/jibri.conf and
    // -Djava.util.logging.config.file=/etc/jitsi/jibri/logging.properties.
    // One set per recorder (jibri, jibri-2, ...).
    Delivery {
        service: "jibri",
        file: "jibri.conf",
        target: "/defaults/jibri.conf",
        note: "tpl -> /run/jibri/config/jibri.conf (-Dconfig.file); includes xmpp.conf, custom-jibri.conf",
    },
    Delivery {
        service: "jibri",
        file: "xmpp.conf",
        target: "/defaults/xmpp.conf",
        note: "tpl -> /run/jibri/config/xmpp.conf, included by jibri.conf",
    },
    Delivery {
        service: "jibri",
        file: "logging.properties",
        target: "/defaults/logging.properties",
        note: "tpl -> /run/jibri/config/logging.properties",
    },
    Delivery {
        service: "jibri",
        file: "xorg-video-dummy.conf",
        target: "/defaults/xorg-video-dummy.conf",
        note: "tpl -> /run/jibri/config/xorg-video-dummy.conf (Xorg -config, scripts/xorg)",
    },

    // --- end jibri ---

    // --- turn (render/turn.rs) ---
    Delivery {
        service: "turn",
        file: "turnserver.conf",
        target: "/etc/coturn/turnserver.conf",
        note: "the official coturn image reads /etc/coturn/turnserver.conf",
    },

    // --- end turn ---
];

impl Delivery {
    /// The config object's id for one instance: `<instance>/<file>`, or
    /// [`EMPTY`].
    pub fn id(&self, instance: &str) -> String {
        if self.file == EMPTY {
            EMPTY.to_string()
        } else {
            format!("{instance}/{}", self.file)
        }
    }
}

/// The rows for a service kind.
pub fn for_service(service: &str) -> impl Iterator<Item = &'static Delivery> + '_ {
    MOUNTS.iter().filter(move |m| m.service == service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn rows_are_well_formed() {
        let mut seen = BTreeSet::new();
        for m in MOUNTS {
            assert!(m.target.starts_with('/'), "{m:?}: target must be absolute");
            assert!(
                !m.file.is_empty() && !m.file.starts_with('/') && !m.file.contains(".."),
                "{m:?}: file must be a plain relative path"
            );
            assert!(
                !m.target.contains(':') && !m.file.contains(':'),
                "{m:?}: ':' breaks the volume syntax"
            );
            assert!(
                seen.insert((m.service, m.target)),
                "{m:?}: target mounted twice"
            );
        }
    }

    #[test]
    fn config_ids() {
        let m = Delivery {
            service: "jvb",
            file: "jvb.conf",
            target: "/defaults/jvb.conf",
            note: "",
        };
        assert_eq!(m.id("jvb-2"), "jvb-2/jvb.conf");
        let e = Delivery { file: EMPTY, ..m };
        assert_eq!(e.id("jvb-2"), EMPTY);
    }
}
