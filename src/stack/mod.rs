//! One model of the deployment, built once from the checked `.env`
//! ([`crate::config::Stack`]) and independent of any target: which services
//! run on this host and their instances, ports (published on all interfaces,
//! on one address, on the loopback only, or internal), mounts (rendered
//! files, persistent data, named volumes), health endpoints, start
//! dependencies, environment and secrets, and images.
//!
//! Emitters serialise it (`render::compose` writes the compose files);
//! commands read it (doctor, ports, smoke, up, init, status). No command
//! re-derives topology, and no emitter is asked for facts about the stack.
//!
//! A stack is either the main host (web, prosody, jicofo, its own bridges
//! and components, and the list of [`nodes::Node`]s), or one node's bundle
//! (only that node's services, which reach the main host's prosody over
//! the network): [`Role`].

pub mod checks;
pub mod chrome;
pub mod instances;
pub mod mounts;
pub mod nodes;
pub mod pki;
mod services;
pub mod visitors;

use crate::config::{Component, Stack};
use std::collections::BTreeMap;
use std::net::IpAddr;

pub use instances::{jibri_instances, jvb_instances, JibriInstance, JvbInstance};
pub use nodes::{Node, NodeKind};

/// The user-defined network every (non host-network) service joins.
pub const NETWORK: &str = "meet.jitsi";

/// Which host a stack is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The main host: everything but the nodes' services.
    Main,
    /// A node's bundle (`JITSI_STACK_THIS_NODE`).
    Node(Node),
}

/// How XMPP clients on other hosts reach the main host's prosody.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmppAccess {
    /// The main host's address: prosody's client port is published there only.
    pub address: IpAddr,
    /// The name (or address) the nodes connect to.
    pub host: String,
    pub port: u16,
    /// The domain the nodes log in to (and prosody's certificate is for).
    pub domain: String,
}

/// The deployment on this host.
#[derive(Clone, Debug)]
pub struct Model {
    pub role: Role,
    /// On the main host, every node; in a bundle, the node itself.
    pub nodes: Vec<Node>,
    /// Where the nodes' XMPP clients connect: set on the main host when it
    /// has nodes (and JITSI_STACK_MAIN_ADDRESS), and in every bundle.
    pub xmpp: Option<XmppAccess>,
    /// In start order of the files: the core services, then each enabled
    /// component's, in component order.
    pub services: Vec<Service>,
    /// The bridges among the services (`jvb`, `jvb-2`, ...).
    pub bridges: Vec<JvbInstance>,
    /// The recorders among the services (`jibri`, `jibri-2`, ...).
    pub recorders: Vec<JibriInstance>,
}

/// What a service of the model runs (several services may run one kind:
/// `jvb`, `jvb-2`). Not the optional components the user enables
/// (`config::Component`, one overlay each) nor who reads a variable
/// (`schema::Reader`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Web,
    Prosody,
    Jicofo,
    Jvb,
    Jibri,
    Jigasi,
    Transcriber,
    Etherpad,
    Whiteboard,
    Turn,
    Prometheus,
    Grafana,
    Loki,
    Otel,
}

/// The image a service runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// One of the official Jitsi images (`web`, `jvb`, ...): repository and
    /// tag come from JITSI_IMAGE_REPO / JITSI_IMAGE_VERSION, pinned by default.
    Jitsi(&'static str),
    /// A third-party image, pinned here (`coturn/coturn:4.6.3`).
    Fixed(&'static str),
}

/// One container (a Compose service).
#[derive(Clone, Debug)]
pub struct Service {
    /// Unique name on this host: `web`, `jvb`, `jvb-2`, ...
    pub name: String,
    pub kind: Kind,
    /// The optional component that brings it in; None: the core.
    pub component: Option<Component>,
    /// The stable id of an instance (bridges, recorders, gateways).
    pub instance_id: Option<String>,
    pub image: Image,
    pub user: Option<String>,
    pub read_only: bool,
    pub tmpfs: Vec<Tmpfs>,
    pub shm_size: Option<String>,
    pub cap_add: Vec<String>,
    pub command: Vec<String>,
    /// Runs in the host's network namespace (no published ports, no network).
    pub host_network: bool,
    pub ports: Vec<Port>,
    pub mounts: Vec<Mount>,
    pub labels: BTreeMap<String, String>,
    /// The container environment.
    pub env: BTreeMap<String, EnvValue>,
    /// The container's own health check.
    pub health: Option<Healthcheck>,
    /// The endpoint a probe from the host (smoke) asks.
    pub probe: Option<Probe>,
    /// Services that must be healthy before this one starts.
    pub depends_on: Vec<String>,
    /// Other names the service answers to on [`NETWORK`].
    pub aliases: Vec<String>,
}

/// A value of the container environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    /// A plain value, exactly as the container must see it.
    Literal(String),
    /// The secret of that `.env` variable: emitters reference it, never copy it.
    Secret(&'static str),
}

/// A tmpfs mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tmpfs {
    pub path: &'static str,
    /// Size in MiB.
    pub size_mib: u32,
    pub mode: u32,
    /// Some(true): exec, Some(false): noexec, None: the runtime's default.
    pub exec: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// Who can reach a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposure {
    /// Published on every interface of the host.
    All,
    /// Published on one address of the host only.
    Address(IpAddr),
    /// Published on the host's loopback only (127.0.0.1).
    Loopback,
    /// Reachable from the other containers only.
    Internal,
}

/// A port (or a range of ports) of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// On the host (for [`Exposure::Internal`]: the same as `container`).
    pub host: (u16, u16),
    pub container: (u16, u16),
    pub protocol: Protocol,
    pub exposure: Exposure,
    pub purpose: &'static str,
}

impl Port {
    /// Published beyond the host's loopback: needs a firewall rule.
    pub fn is_public(&self) -> bool {
        matches!(self.exposure, Exposure::All | Exposure::Address(_))
    }
}

/// Something mounted into a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mount {
    /// A rendered config object, read-only. `id` names it: `<instance>/<file>`
    /// (the rows of [`mounts`]), [`mounts::EMPTY`], or a directory of them
    /// (`web/branding`). Each target decides where config objects live
    /// ([`Model::configs`] lists them).
    Config { id: String, target: String },
    /// A file the operator keeps in the stack directory (`branding/<name>`,
    /// relative to it), mounted as it is, read-only.
    StackFile { path: String, target: String },
    /// A persistent directory under CONFIG (`dir` relative to it). `shared`:
    /// other containers mount it too (a target relabelling it for SELinux
    /// must label it shared).
    Data {
        dir: String,
        target: String,
        read_only: bool,
        shared: bool,
    },
    /// A named volume.
    Volume { name: String, target: String },
    /// A path of the host itself.
    Host {
        source: String,
        target: String,
        read_only: bool,
    },
}

/// What a container health check runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// A program in the container (exit 0: healthy).
    Exec { argv: Vec<String> },
    /// An HTTP GET of the container's own port (status < 400: healthy).
    Http { port: u16, path: String },
    /// A TCP connection to the container's own port.
    Tcp { port: u16 },
}

/// A container health check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Healthcheck {
    pub check: Check,
    pub interval_s: u32,
    pub timeout_s: u32,
    pub retries: u32,
    pub start_period_s: u32,
}

/// A health endpoint a probe on the host asks (HTTP 200: healthy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Reachable from the host, on a loopback port.
    Http { url: String },
    /// Reachable only inside the container (`docker compose exec`).
    InContainer { url: String },
}

impl Model {
    /// Builds the model of the stack's host. A node's line that cannot be
    /// read is an error naming it (`check` reports it in full).
    pub fn build(stack: &Stack) -> anyhow::Result<Model> {
        crate::counts::model_built();
        let (all, problems) = nodes::parse_all(&stack.file);
        if let Some(p) = problems.first() {
            anyhow::bail!(
                "{}{}: {}: {}; run `jitsi-stack check` for the fix",
                stack.env_path.display(),
                p.line.map(|l| format!(":{l}")).unwrap_or_default(),
                p.var,
                p.message
            );
        }
        let v = &stack.values;
        let role = match v.raw(nodes::THIS_NODE) {
            None => Role::Main,
            Some(name) => match all.iter().find(|n| n.name == name) {
                Some(n) => Role::Node(n.clone()),
                None => anyhow::bail!(
                    "{}: {}={name}, but the bundle has no {} line: copy the bundle again from the main host",
                    stack.env_path.display(),
                    nodes::THIS_NODE,
                    nodes::var_name(name)
                ),
            },
        };
        let port = v.port("XMPP_PORT").unwrap_or(5222);
        let domain = v.text("XMPP_AUTH_DOMAIN", "auth.meet.jitsi");
        let address: Option<IpAddr> = v.raw(nodes::MAIN_ADDRESS).and_then(|a| a.parse().ok());
        let model = match &role {
            Role::Main => {
                let bridges = jvb_instances(stack);
                let recorders = if stack.has(Component::Jibri) {
                    jibri_instances(stack)
                } else {
                    vec![]
                };
                let xmpp = address
                    .filter(|_| !all.is_empty())
                    .map(|address| XmppAccess {
                        address,
                        host: v
                            .raw(nodes::MAIN_HOST)
                            .map(String::from)
                            .unwrap_or_else(|| address.to_string()),
                        port,
                        domain,
                    });
                let mut services = services::build(stack, &bridges, &recorders);
                if let Some(x) = &xmpp {
                    // c2s for the bridges, recorders and gateways; s2s for
                    // the visitor nodes.
                    if all.iter().any(|n| n.kind != NodeKind::Visitors) {
                        services::publish_xmpp(&mut services, x);
                    }
                    if all.iter().any(|n| n.kind == NodeKind::Visitors) {
                        services::publish_s2s(&mut services, x.address);
                    }
                }
                Model {
                    role,
                    nodes: all,
                    xmpp,
                    services,
                    bridges,
                    recorders,
                }
            }
            Role::Node(node) => {
                let bridges = match node.kind {
                    NodeKind::Jvb => jvb_instances(stack),
                    _ => vec![],
                };
                let recorders = match node.kind {
                    NodeKind::Jibri => jibri_instances(stack),
                    _ => vec![],
                };
                let xmpp = address.map(|address| XmppAccess {
                    address,
                    host: v.text("XMPP_SERVER", &address.to_string()),
                    port,
                    domain,
                });
                Model {
                    services: services::node(stack, node.kind, &bridges, &recorders),
                    role: role.clone(),
                    nodes: vec![node.clone()],
                    xmpp,
                    bridges,
                    recorders,
                }
            }
        };
        Ok(model)
    }

    /// This stack is a node's bundle.
    pub fn is_node(&self) -> bool {
        matches!(self.role, Role::Node(_))
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The services of one kind, in order (`jvb`, `jvb-2`, ...).
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Service> {
        self.services.iter().filter(move |s| s.kind == kind)
    }

    /// Every service name, in model order.
    pub fn service_names(&self) -> Vec<String> {
        self.services.iter().map(|s| s.name.clone()).collect()
    }

    /// Ports reachable from outside the host, with their service, in order.
    pub fn public_ports(&self) -> impl Iterator<Item = (&Service, &Port)> {
        self.services
            .iter()
            .flat_map(|s| s.ports.iter().map(move |p| (s, p)))
            .filter(|(_, p)| p.is_public())
    }

    /// The config objects the services mount ([`Mount::Config`] ids), sorted:
    /// what a renderer must produce for this model.
    pub fn configs(&self) -> std::collections::BTreeSet<&str> {
        self.services
            .iter()
            .flat_map(|s| &s.mounts)
            .filter_map(|m| match m {
                Mount::Config { id, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Directories under CONFIG that the services mount (relative to
    /// CONFIG), sorted, so `init`/`up` can create them with the right owner
    /// before Docker would create them as root.
    pub fn config_dirs(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .services
            .iter()
            .flat_map(|s| &s.mounts)
            .filter_map(|m| match m {
                Mount::Data { dir, .. } => Some(dir.clone()),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl Service {
    /// The `.env` secrets this service's container receives.
    pub fn secrets(&self) -> Vec<&'static str> {
        self.env
            .values()
            .filter_map(|v| match v {
                EnvValue::Secret(name) => Some(*name),
                EnvValue::Literal(_) => None,
            })
            .collect()
    }

    /// Named volumes the service mounts.
    pub fn volumes(&self) -> impl Iterator<Item = &str> {
        self.mounts.iter().filter_map(|m| match m {
            Mount::Volume { name, .. } => Some(name.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
pub(crate) use services::tests::{with_rows, SYNTHETIC as SYNTHETIC_ROWS};

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    pub(crate) use crate::config::testing::stack;

    #[test]
    fn single_instances_use_the_tree_init_creates() {
        let m = Model::build(&stack(&[], Component::ALL)).unwrap();
        for d in m.config_dirs() {
            assert!(
                crate::layout::CONFIG_TREE.contains(&d.as_str()),
                "{d} is mounted but `init` does not create it"
            );
        }
    }

    #[test]
    fn config_dirs_cover_instances() {
        let m = Model::build(&stack(&[("JVB_INSTANCES", "2")], &[Component::Jibri])).unwrap();
        let dirs = m.config_dirs();
        for d in [
            "jvb",
            "jvb-2",
            "jibri",
            "storage/jibri",
            "web",
            "prosody/config",
        ] {
            assert!(dirs.iter().any(|x| x == d), "{d} missing from {dirs:?}");
        }
    }

    #[test]
    fn public_ports_in_service_order() {
        let m = Model::build(&stack(
            &[("JVB_INSTANCES", "2")],
            &[Component::Jigasi, Component::Turn],
        ))
        .unwrap();
        let got: Vec<(String, String)> = m
            .public_ports()
            .map(|(s, p)| {
                (
                    s.name.clone(),
                    format!("{}-{}/{}", p.host.0, p.host.1, p.protocol.as_str()),
                )
            })
            .collect();
        let want = [
            ("web", "8000-8000/tcp"),
            ("web", "8443-8443/tcp"),
            ("jvb", "10000-10000/udp"),
            ("jvb-2", "10001-10001/udp"),
            ("jigasi", "20000-20050/udp"),
            ("turn", "3478-3478/udp"),
            ("turn", "3478-3478/tcp"),
            ("turn", "49152-49252/udp"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
        // Loopback-only and internal ports are not public.
        let jvb = m.service("jvb").unwrap();
        assert!(jvb
            .ports
            .iter()
            .any(|p| p.exposure == Exposure::Loopback && p.container == (8080, 8080)));
    }

    /// A port's label says what is really served there: nginx serves the
    /// whole site on the HTTP port unless it redirects, and coturn listens
    /// for TLS on 5349 only with a certificate (`no-tls` otherwise).
    #[test]
    fn port_labels_follow_what_the_port_serves() {
        let purpose = |pairs: &[(&str, &str)], service: &str, port: u16| {
            let m = Model::build(&stack(pairs, &[Component::Turn])).unwrap();
            m.service(service)
                .unwrap()
                .ports
                .iter()
                .find(|p| p.container.0 == port)
                .map(|p| p.purpose)
        };
        let plain = purpose(&[], "web", 8000).unwrap();
        assert!(plain.contains("whole site unencrypted"), "{plain}");
        let redirect = purpose(&[("ENABLE_HTTP_REDIRECT", "1")], "web", 8000).unwrap();
        assert!(redirect.contains("redirect to HTTPS"), "{redirect}");
        let le = [("ENABLE_HTTP_REDIRECT", "1"), ("ENABLE_LETSENCRYPT", "1")];
        assert!(purpose(&le, "web", 8000).unwrap().contains("Let's Encrypt"));
        assert_eq!(purpose(&[], "turn", 5349), None);
        let tls = [("TURN_TLS_CERT", "/c.pem"), ("TURN_TLS_KEY", "/k.pem")];
        assert_eq!(purpose(&tls, "turn", 5349), Some("TURN over TLS"));
    }

    #[test]
    fn secrets_are_named_not_copied() {
        let m = Model::build(&stack(&[("JVB_AUTH_PASSWORD", "s3cret")], &[])).unwrap();
        let jvb = m.service("jvb").unwrap();
        assert_eq!(jvb.secrets(), ["JVB_AUTH_PASSWORD"]);
        assert!(!jvb
            .env
            .values()
            .any(|v| *v == EnvValue::Literal("s3cret".into())));
    }

    #[test]
    fn probes_follow_the_published_ports() {
        let m = Model::build(&stack(&[("JVB_INSTANCES", "2")], &[])).unwrap();
        assert_eq!(
            m.service("jvb-2").unwrap().probe,
            Some(Probe::Http {
                url: "http://127.0.0.1:8081/about/health".into()
            })
        );
        assert!(matches!(
            m.service("jicofo").unwrap().probe,
            Some(Probe::InContainer { .. })
        ));
        let m = Model::build(&stack(
            &[("JICOFO_ENABLE_REST", "1"), ("JICOFO_REST_PORT", "8899")],
            &[],
        ))
        .unwrap();
        assert_eq!(
            m.service("jicofo").unwrap().probe,
            Some(Probe::Http {
                url: "http://127.0.0.1:8899/about/health".into()
            })
        );
    }
}
