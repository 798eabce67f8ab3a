//! The compose target's spelling of the delivery table
//! ([`crate::stack::mounts`]): config object `<id>` is the file
//! `./generated/<id>`, mounted read-only.

pub use crate::stack::mounts::*;

use crate::layout::GENERATED_DIR;

/// Where the compose target keeps config object `id`, relative to the
/// stack directory (every target renders into the stack directory the
/// same way).
pub fn config_path(id: &str) -> String {
    format!("{GENERATED_DIR}/{id}")
}

/// The compose short-syntax source of config object `id`.
pub fn config_source(id: &str) -> String {
    format!("./{}", config_path(id))
}

impl Delivery {
    /// Host path, relative to the stack directory, for one instance.
    pub fn source(&self, instance: &str) -> String {
        config_source(&self.id(instance))
    }

    /// The Compose short-syntax volume (read-only) for one instance.
    pub fn volume(&self, instance: &str) -> String {
        format!("{}:{}:ro", self.source(instance), self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_syntax() {
        let m = Delivery {
            service: "jvb",
            file: "jvb.conf",
            target: "/defaults/jvb.conf",
            note: "",
        };
        assert_eq!(
            m.volume("jvb-2"),
            "./generated/jvb-2/jvb.conf:/defaults/jvb.conf:ro"
        );
        let e = Delivery { file: EMPTY, ..m };
        assert_eq!(e.volume("jvb-2"), "./generated/empty:/defaults/jvb.conf:ro");
    }
}
