//! The Compose emitter: serialises the model of the deployment
//! ([`crate::stack::Model`]) to `docker-compose.yml` (the core services) and
//! one overlay per optional component. It decides nothing about the stack;
//! it only spells the model in Compose's syntax.
//!
//! Spelling (the docs/configuration.md documents it for users):
//! - Images are `${JITSI_IMAGE_REPO:-<default>}/<image>:${JITSI_IMAGE_VERSION:-<pinned>}`:
//!   pinned by default, overridable in `.env` without re-rendering.
//! - Persistent data is mounted from `${CONFIG:-./config}/...` (kept
//!   interpolated: Compose resolves it, relative to the stack directory, the
//!   same way jitsi-stack does). Rendered files come from `./generated/...`.
//! - Plain environment values are written literally with `$` doubled
//!   (Compose would otherwise interpolate them); secrets are written as
//!   `${NAME:?...}` so they live only in `.env` (mode 0600), never in the
//!   compose files.
//! - Ports are literal numbers.
//! - Compose's own choices, not the model's: every service restarts with
//!   RESTART_POLICY (`unless-stopped` when unset), data directories are
//!   relabelled for SELinux (`Z`, `z` when shared), config objects live under
//!   `./generated/` ([`super::mounts::config_source`]), health checks are
//!   `CMD` arrays (an HTTP check runs the image's curl).

use super::{mounts, Output, GENERATED_NOTE};
use crate::schema;
use crate::stack::{
    Check, EnvValue, Exposure, Image, Model, Mount, Port, Protocol, Service as Svc, Tmpfs,
};
use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::BTreeMap;

pub use crate::stack::NETWORK;

/// What a secret's interpolation says when `.env` lacks it.
const SECRET_HINT: &str = "is not set in .env: run jitsi-stack gen-passwords";

/// The core compose file.
pub use crate::config::CORE_COMPOSE_FILE as CORE_FILE;

/// One Compose file.
#[derive(Debug, Default, Serialize)]
pub struct ComposeFile {
    pub services: BTreeMap<String, ComposeService>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    /// Named volumes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Network>,
}

/// A top-level network or volume with default settings.
#[derive(Debug, Default, Serialize)]
pub struct Network {}

/// One service (only the keys this stack uses, in a readable order).
#[derive(Debug, Default, Serialize)]
pub struct ComposeService {
    pub image: String,
    pub restart: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkAttachment>,
}

#[derive(Debug, Serialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: String,
    pub timeout: String,
    pub retries: u32,
    pub start_period: String,
}

#[derive(Debug, Serialize)]
pub struct DependsOn {
    pub condition: &'static str,
}

#[derive(Debug, Default, Serialize)]
pub struct NetworkAttachment {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

const CONFIG_PREFIX: &str = "${CONFIG:-./config}";

/// `$` would start a Compose interpolation: a literal one is `$$`.
pub fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

fn secret_ref(name: &str) -> String {
    format!("${{{name}:?{name} {SECRET_HINT}}}")
}

fn image(img: &Image) -> String {
    match img {
        Image::Jitsi(name) => {
            let repo = schema::lookup("JITSI_IMAGE_REPO")
                .and_then(|v| v.default)
                .unwrap_or("jitsi");
            format!(
                "${{JITSI_IMAGE_REPO:-{repo}}}/{name}:${{JITSI_IMAGE_VERSION:-{}}}",
                schema::PINNED_IMAGE_VERSION
            )
        }
        Image::Fixed(full) => full.to_string(),
    }
}

fn tmpfs(t: &Tmpfs) -> String {
    let mut s = format!("{}:size={}M,mode={:o}", t.path, t.size_mib, t.mode);
    match t.exec {
        Some(true) => s.push_str(",exec"),
        Some(false) => s.push_str(",noexec"),
        None => {}
    }
    s
}

fn range(r: (u16, u16)) -> String {
    if r.0 == r.1 {
        r.0.to_string()
    } else {
        format!("{}-{}", r.0, r.1)
    }
}

/// The short syntax of a published port (None for an internal one).
fn port(p: &Port) -> Option<String> {
    let proto = match p.protocol {
        Protocol::Tcp => "",
        Protocol::Udp => "/udp",
    };
    let mapping = format!("{}:{}{proto}", range(p.host), range(p.container));
    match p.exposure {
        Exposure::All => Some(mapping),
        Exposure::Loopback => Some(format!("127.0.0.1:{mapping}")),
        Exposure::Address(std::net::IpAddr::V4(ip)) => Some(format!("{ip}:{mapping}")),
        Exposure::Address(std::net::IpAddr::V6(ip)) => Some(format!("[{ip}]:{mapping}")),
        Exposure::Internal => None,
    }
}

fn volume(m: &Mount) -> String {
    match m {
        Mount::Config { id, target } => format!("{}:{target}:ro", mounts::config_source(id)),
        Mount::StackFile { path, target } => format!("./{path}:{target}:ro"),
        Mount::Data {
            dir,
            target,
            read_only,
            shared,
        } => {
            // SELinux: relabel for this container only, or shared.
            let label = if *shared { "z" } else { "Z" };
            let ro = if *read_only { "ro," } else { "" };
            format!("{CONFIG_PREFIX}/{dir}:{target}:{ro}{label}")
        }
        Mount::Volume { name, target } => format!("{name}:{target}"),
        Mount::Host {
            source,
            target,
            read_only,
        } => {
            if *read_only {
                format!("{source}:{target}:ro")
            } else {
                format!("{source}:{target}")
            }
        }
    }
}

/// The health check's `test` array.
fn health_test(name: &str, c: &Check) -> Result<Vec<String>> {
    Ok(match c {
        Check::Exec { argv } => std::iter::once("CMD".to_string())
            .chain(argv.iter().cloned())
            .collect(),
        Check::Http { port, path } => ["CMD", "curl", "-fsS", "-o", "/dev/null"]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("http://127.0.0.1:{port}{path}")])
            .collect(),
        Check::Tcp { port } => {
            bail!("{name}: a TCP health check (port {port}) has no Compose spelling the images can run")
        }
    })
}

fn service(s: &Svc, restart: &str) -> Result<ComposeService> {
    let mut out = ComposeService {
        image: image(&s.image),
        restart: literal(restart),
        user: s.user.clone(),
        read_only: s.read_only,
        tmpfs: s.tmpfs.iter().map(tmpfs).collect(),
        shm_size: s.shm_size.clone(),
        cap_add: s.cap_add.clone(),
        command: s.command.clone(),
        labels: s.labels.clone(),
        ..ComposeService::default()
    };
    if s.host_network {
        // The host's own ports: nothing to publish, no network to join.
        out.network_mode = Some("host".into());
    } else {
        for p in &s.ports {
            match port(p) {
                Some(text) => out.ports.push(text),
                None => out.expose.push(range(p.container)),
            }
        }
        out.networks = BTreeMap::from([(
            NETWORK.to_string(),
            NetworkAttachment {
                aliases: s.aliases.iter().map(|a| literal(a)).collect(),
            },
        )]);
    }
    out.volumes = s.mounts.iter().map(volume).collect();
    out.environment = s
        .env
        .iter()
        .map(|(k, v)| {
            let text = match v {
                EnvValue::Literal(value) => literal(value),
                EnvValue::Secret(name) => secret_ref(name),
            };
            (k.clone(), text)
        })
        .collect();
    out.healthcheck = match &s.health {
        None => None,
        Some(h) => Some(Healthcheck {
            test: health_test(&s.name, &h.check)?,
            interval: format!("{}s", h.interval_s),
            timeout: format!("{}s", h.timeout_s),
            retries: h.retries,
            start_period: format!("{}s", h.start_period_s),
        }),
    };
    out.depends_on = s
        .depends_on
        .iter()
        .map(|n| {
            (
                n.clone(),
                DependsOn {
                    condition: "service_healthy",
                },
            )
        })
        .collect();
    Ok(out)
}

/// The file a service is written to.
fn file_of(s: &Svc) -> String {
    match s.component {
        None => CORE_FILE.to_string(),
        Some(c) => c.compose_file(),
    }
}

/// RESTART_POLICY's default (the images' compose files).
pub const DEFAULT_RESTART: &str = "unless-stopped";

/// Every compose file of the model, keyed by file name; every service
/// restarts with `restart` (RESTART_POLICY).
pub fn build(model: &Model, restart: &str) -> Result<BTreeMap<String, ComposeFile>> {
    let mut files: BTreeMap<String, ComposeFile> = BTreeMap::new();
    files.insert(CORE_FILE.to_string(), ComposeFile::default());
    for s in &model.services {
        let f = files.entry(file_of(s)).or_default();
        f.services.insert(s.name.clone(), service(s, restart)?);
        for v in s.volumes() {
            f.volumes.insert(v.to_string(), Network {});
        }
    }
    // The core file defines the network the overlays' services join.
    if let Some(core) = files.get_mut(CORE_FILE) {
        core.networks.insert(NETWORK.into(), Network {});
    }
    Ok(files)
}

fn with_note<T: Serialize>(value: &T) -> Result<String> {
    crate::yaml::to_string_with_comment(GENERATED_NOTE, value)
}

/// Renders the compose files (the config objects they mount are
/// rendered before, see `render::render_configs`).
pub fn render(model: &Model, restart: &str, out: &mut Output) -> Result<()> {
    for (name, file) in build(model, restart)? {
        out.add(name, with_note(&file)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::stack;
    use crate::config::{Component, Stack};

    fn files(s: &Stack) -> BTreeMap<String, ComposeFile> {
        build(&Model::build(s).unwrap(), DEFAULT_RESTART).unwrap()
    }

    #[test]
    fn literals_double_dollars() {
        assert_eq!(literal("a$b$$c"), "a$$b$$$$c");
    }

    #[test]
    fn secrets_are_interpolated_not_written() {
        let s = stack(
            &[("JVB_AUTH_PASSWORD", "s3cret"), ("LDAP_BINDPW", "pw")],
            &[],
        );
        let files = files(&s);
        let yaml = crate::yaml::to_string(&files[CORE_FILE]).unwrap();
        assert!(!yaml.contains("s3cret") && !yaml.contains(": pw"), "{yaml}");
        let env = &files[CORE_FILE].services["jvb"].environment;
        assert_eq!(
            env["JVB_AUTH_PASSWORD"],
            "${JVB_AUTH_PASSWORD:?JVB_AUTH_PASSWORD is not set in .env: run jitsi-stack gen-passwords}"
        );
    }

    #[test]
    fn prosody_healthcheck_has_its_port() {
        let env = &files(&stack(&[], &[]))[CORE_FILE].services["prosody"].environment;
        assert_eq!(env["PROSODY_HTTP_PORT"], "5280");
    }

    #[test]
    fn every_rendered_row_becomes_a_read_only_volume() {
        let s = stack(&[("JVB_INSTANCES", "2")], Component::ALL);
        let got = crate::stack::with_rows(crate::stack::SYNTHETIC_ROWS, || files(&s));
        let vols = |file: &str, svc: &str| got[file].services[svc].volumes.clone();
        assert!(vols(CORE_FILE, "jvb-2")
            .contains(&"./generated/jvb-2/jvb.conf:/defaults/jvb.conf:ro".to_string()));
        assert!(vols(CORE_FILE, "web").contains(&"./generated/empty:/defaults/b.js:ro".to_string()));
        assert_eq!(
            vols("turn.yml", "turn"),
            ["./generated/turn/turnserver.conf:/etc/coturn/turnserver.conf:ro"]
        );
    }

    #[test]
    fn ports_by_exposure() {
        let p = |exposure, protocol| Port {
            host: (5222, 5222),
            container: (5222, 5222),
            protocol,
            exposure,
            purpose: "",
        };
        let addr = |s: &str| Exposure::Address(s.parse().unwrap());
        assert_eq!(port(&p(Exposure::All, Protocol::Tcp)).unwrap(), "5222:5222");
        assert_eq!(
            port(&p(Exposure::Loopback, Protocol::Udp)).unwrap(),
            "127.0.0.1:5222:5222/udp"
        );
        assert_eq!(
            port(&p(addr("198.51.100.4"), Protocol::Tcp)).unwrap(),
            "198.51.100.4:5222:5222"
        );
        assert_eq!(
            port(&p(addr("2001:db8::4"), Protocol::Tcp)).unwrap(),
            "[2001:db8::4]:5222:5222"
        );
        assert_eq!(port(&p(Exposure::Internal, Protocol::Tcp)), None);
    }
}
