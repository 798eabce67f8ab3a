//! The Kubernetes target: serialises the model of the deployment
//! ([`crate::stack::Model`]) to `kubernetes/`, a kustomization that
//! `kubectl kustomize kubernetes/` builds with no other input.
//!
//! Every config file is the one the compose target mounts, byte for byte,
//! at the same path, rendered from the same `.env` with only the
//! substitutions a cluster forces ([`cluster_stack`]):
//! - a compose network alias (`xmpp.meet.jitsi`, `etherpad.meet.jitsi`, ...)
//!   becomes the Service's cluster name (`xmpp.<ns>.svc.<cluster domain>`);
//! - nginx resolves with the cluster DNS (`JITSI_STACK_K8S_DNS`) instead of
//!   Docker's 127.0.0.11 (unless NGINX_RESOLVER is set);
//! - a bridge's local address is its pod's host name (`jvb-2-0`, in the
//!   pod's /etc/hosts) instead of its compose service name;
//! - with `nodeport` media, each advertised address gets the bridge's node
//!   port (`IP#PORT`, ice4j's static mapping).
//!
//! Files that hold a secret (a password inside jvb.conf, ...) go into a
//! Secret, from `kubernetes/secrets/` (mode 0600, listed in the
//! `.gitignore` render writes); so does every secret of the containers'
//! environment. No secret value is written anywhere else.
//! What the cluster cannot express the way compose does is refused with
//! the reason, never dropped ([`render`]).

pub mod lint;
pub mod objects;
pub mod visitors;

use crate::config::{Component, Stack};
use crate::render::{Output, GENERATED_DIR, GENERATED_NOTE};
use crate::schema;
use crate::stack::{
    Check, EnvValue, Exposure, Image, Kind, Model, Mount, NodeKind, Protocol, Service,
};
use anyhow::{bail, Context, Result};
use objects::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The directory the target writes, in the stack directory.
pub const DIR: &str = "kubernetes";
/// Under [`DIR`]: the Secret generators' inputs (0600, git-ignored).
pub const SECRETS_DIR: &str = "secrets";
/// Under [`DIR`]: the ConfigMap generators' inputs.
pub const CONFIG_DIR: &str = "config";
/// The Secret holding the containers' environment secrets.
pub const ENV_SECRET: &str = "jitsi-env";
/// Its generator's input, under [`DIR`].
pub const ENV_FILE: &str = "secrets/jitsi.env";
/// With `--secrets external`: the Secrets to provide, as an example.
pub const EXTERNAL_EXAMPLE: &str = "secrets.example.yaml";
/// Seconds a bridge or recorder gets to finish its conferences when its pod stops.
pub const GRACE_SECONDS: u32 = 3600;
/// The data directories under CONFIG that hold what the services write
/// (`storage/prosody`, `storage/jibri`): the claims of prosody and jibri.
const STORAGE_PREFIX: &str = "storage/";
/// The name of prosody's client Service (other pods connect to it).
pub const XMPP_SERVICE: &str = "xmpp";
/// The namespace object, applied before the kustomization (`up` does).
pub const NAMESPACE_FILE: &str = "namespace.yaml";
/// The label (and its value) on every object and pod of the stack.
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
pub const PART_OF: &str = "jitsi";
/// The Kubernetes versions the objects are validated for (the tests'
/// oldest and newest still-supported ones `kubernetes-validate` bundles).
pub const VALIDATED_VERSIONS: ((u32, u32), (u32, u32)) = ((1, 35), (1, 37));
/// The label every object's pods are selected by.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// Services that may reach prosody's ports.
pub const XMPP_CLIENTS: &[&str] = &["jicofo", "jvb", "jibri", "jigasi", "transcriber", "web"];

/// How the bridges' UDP media is exposed (`JITSI_STACK_K8S_MEDIA`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    HostPort,
    NodePort,
    LoadBalancer,
}

/// The Ingress controller web's Ingress is annotated for
/// (`JITSI_STACK_K8S_INGRESS_CONTROLLER`): each has its own names for the
/// timeouts that BOSH's long polls and the XMPP websocket need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngressController {
    /// ingress-nginx (kubernetes/ingress-nginx).
    Nginx,
    /// HAProxy Technologies' controller (haproxytech/kubernetes-ingress).
    Haproxy,
    /// Traefik's Kubernetes Ingress provider.
    Traefik,
    /// Contour (projectcontour.io), Envoy underneath.
    Contour,
}

/// How long an idle BOSH request or websocket may stay open at the
/// Ingress: an hour, as the compose target's nginx allows.
pub const INGRESS_TIMEOUT_S: u32 = 3600;

impl IngressController {
    pub fn name(self) -> &'static str {
        match self {
            IngressController::Nginx => "nginx",
            IngressController::Haproxy => "haproxy",
            IngressController::Traefik => "traefik",
            IngressController::Contour => "contour",
        }
    }

    /// The annotations of web's Ingress for this controller. Websockets:
    /// ingress-nginx, HAProxy and Traefik pass the Upgrade through on any
    /// route; Contour (Envoy) only on the routes it is told.
    pub fn annotations(self) -> Vec<(&'static str, String)> {
        let t = INGRESS_TIMEOUT_S;
        match self {
            // Seconds without a unit; the default is 60 s. A body size of 0
            // lifts the 1 MiB limit (uploads of the whiteboard, BOSH bodies).
            IngressController::Nginx => vec![
                (
                    "nginx.ingress.kubernetes.io/proxy-read-timeout",
                    t.to_string(),
                ),
                (
                    "nginx.ingress.kubernetes.io/proxy-send-timeout",
                    t.to_string(),
                ),
                ("nginx.ingress.kubernetes.io/proxy-body-size", "0".into()),
            ],
            // The server-side inactivity timeout (default 50 s) can be set
            // per Ingress; websockets are tunnels, whose timeout (default
            // 1 h) only the controller's ConfigMap sets.
            IngressController::Haproxy => {
                vec![("haproxy.org/timeout-server", format!("{t}s"))]
            }
            // Traefik's timeouts belong to its entry points (static
            // configuration), not to an Ingress: see docs/kubernetes.md.
            IngressController::Traefik => vec![],
            // Envoy's route timeout is 15 s by default, and it upgrades to
            // a websocket only on the routes listed.
            IngressController::Contour => vec![
                ("projectcontour.io/response-timeout", format!("{t}s")),
                (
                    "projectcontour.io/websocket-routes",
                    "/xmpp-websocket".into(),
                ),
            ],
        }
    }
}

/// Where the Secrets come from (`render --secrets`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Secrets {
    /// Generated by kustomize from kubernetes/secrets/ (written by render, 0600).
    #[default]
    Generated,
    /// Provided by the cluster (External Secrets, SOPS, Sealed Secrets):
    /// only their names and keys are written.
    External,
}

/// `.env`'s list of the bridge nodes that run in the cluster.
pub const CLUSTER_NODES_VAR: &str = "JITSI_STACK_K8S_CLUSTER_NODES";
/// The node label a region's bridges are placed by.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// Where one bridge runs and what it announces beyond what `.env` says for
/// every bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// hostport: the node (`kubernetes.io/hostname`) it is pinned to.
    pub node: Option<String>,
    /// Its JVB_ADVERTISE_IPS: its node's own address (hostport), or the
    /// cluster node's `advertise=`.
    pub advertise: Option<String>,
    /// Its group's region: the node selector and its JVB_OCTO_REGION.
    pub region: Option<String>,
}

/// JITSI_STACK_K8S_BRIDGE_NODES: `node[=address]`, in bridge order.
fn bridge_nodes(v: &crate::config::Values) -> Vec<(String, Option<String>)> {
    v.list("JITSI_STACK_K8S_BRIDGE_NODES")
        .into_iter()
        .map(|e| match e.split_once('=') {
            Some((n, a)) => (n.trim().to_string(), Some(a.trim().to_string())),
            None => (e, None),
        })
        .collect()
}

/// The Kubernetes settings of `.env`, read once.
#[derive(Clone, Debug)]
pub struct Settings {
    pub namespace: String,
    pub cluster_domain: String,
    pub dns: String,
    pub ingress_class: String,
    pub ingress_controller: IngressController,
    pub tls_secret: String,
    pub media: Media,
    pub nodeport_base: u16,
    pub storage_class: Option<String>,
    /// The sizes of prosody's data claim and of each recordings claim.
    pub prosody_storage: String,
    pub recordings_storage: String,
    /// hostport: the node of each main bridge, with its own address.
    pub bridge_nodes: Vec<(String, Option<String>)>,
    /// Bridge nodes of `.env` that run in the cluster (JITSI_STACK_K8S_CLUSTER_NODES).
    pub cluster_nodes: Vec<String>,
    /// Each bridge's placement, in bridge order: the main host's bridges,
    /// then the cluster nodes' bridges.
    pub placements: Vec<Placement>,
    pub secrets: Secrets,
}

impl Settings {
    pub fn read(stack: &Stack, secrets: Secrets) -> Result<Settings> {
        let v = &stack.values;
        let media = match v.get_or("JITSI_STACK_K8S_MEDIA", "hostport") {
            "hostport" => Media::HostPort,
            "nodeport" => Media::NodePort,
            "loadbalancer" => Media::LoadBalancer,
            other => bail!(
                "{}: JITSI_STACK_K8S_MEDIA: expected hostport, nodeport or loadbalancer, found {other:?}",
                stack.env_path.display()
            ),
        };
        let ingress_controller = match v.get_or("JITSI_STACK_K8S_INGRESS_CONTROLLER", "nginx") {
            "nginx" => IngressController::Nginx,
            "haproxy" => IngressController::Haproxy,
            "traefik" => IngressController::Traefik,
            "contour" => IngressController::Contour,
            other => bail!(
                "{}: JITSI_STACK_K8S_INGRESS_CONTROLLER: expected nginx, haproxy, traefik or contour, found {other:?}",
                stack.env_path.display()
            ),
        };
        Settings {
            namespace: v.get_or("JITSI_STACK_K8S_NAMESPACE", "jitsi").to_string(),
            cluster_domain: v
                .get_or("JITSI_STACK_K8S_CLUSTER_DOMAIN", "cluster.local")
                .to_string(),
            dns: v.get_or("JITSI_STACK_K8S_DNS", "10.96.0.10").to_string(),
            ingress_class: v
                .get_or("JITSI_STACK_K8S_INGRESS_CLASS", ingress_controller.name())
                .to_string(),
            ingress_controller,
            tls_secret: v
                .get_or("JITSI_STACK_K8S_TLS_SECRET", "jitsi-tls")
                .to_string(),
            media,
            nodeport_base: v.port("JITSI_STACK_K8S_NODEPORT_BASE").unwrap_or(30000),
            storage_class: v.get("JITSI_STACK_K8S_STORAGE_CLASS").map(String::from),
            prosody_storage: v
                .get_or("JITSI_STACK_K8S_PROSODY_STORAGE", "1Gi")
                .to_string(),
            recordings_storage: v
                .get_or("JITSI_STACK_K8S_RECORDINGS_STORAGE", "10Gi")
                .to_string(),
            bridge_nodes: bridge_nodes(v),
            cluster_nodes: v.list(CLUSTER_NODES_VAR),
            placements: vec![],
            secrets,
        }
        .with_placements(stack, media)
    }

    fn with_placements(mut self, stack: &Stack, media: Media) -> Result<Settings> {
        let main = stack.values.int("JVB_INSTANCES").unwrap_or(1).max(1) as usize;
        for i in 0..main {
            let pinned = self
                .bridge_nodes
                .get(i)
                .filter(|_| media == Media::HostPort);
            self.placements.push(Placement {
                node: pinned.map(|(n, _)| n.clone()),
                advertise: pinned.and_then(|(_, a)| a.clone()),
                region: None,
            });
        }
        let all = crate::stack::nodes::nodes(&stack.file);
        for name in &self.cluster_nodes {
            let Some(node) = all.iter().find(|n| &n.name == name) else {
                bail!(
                    "{}: {CLUSTER_NODES_VAR}: no node {name} (JITSI_STACK_NODE_* lines name the nodes)",
                    stack.env_path.display()
                );
            };
            let Some(region) = node.region.clone().filter(|_| node.kind == NodeKind::Jvb) else {
                bail!(
                    "{}: {CLUSTER_NODES_VAR}: node {name} must be a bridge node with region= to run in the cluster (its bridges are placed by topology.kubernetes.io/region)",
                    stack.env_path.display()
                );
            };
            for _ in 0..node.instances.max(1) {
                self.placements.push(Placement {
                    node: None,
                    advertise: (!node.advertise.is_empty()).then(|| node.advertise.join(",")),
                    region: Some(region.clone()),
                });
            }
        }
        Ok(self)
    }

    /// The cluster name of a Service of this stack.
    pub fn fqdn(&self, service: &str) -> String {
        format!("{service}.{}.svc.{}", self.namespace, self.cluster_domain)
    }
}

/// Prosody's client port, which the nodes outside the cluster reach.
pub const XMPP_PORT: u16 = 5222;
/// The LoadBalancer Service the nodes outside the cluster log in through.
pub const NODES_SERVICE: &str = "xmpp-nodes";

/// One address as a CIDR block of itself.
fn host_cidr(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("{v4}/32"),
        std::net::IpAddr::V6(v6) => format!("{v6}/128"),
    }
}

/// The main prosody (visitor prosodies are prosody-v0, ... with their own Services).
pub fn is_main_prosody(s: &Service) -> bool {
    s.kind == Kind::Prosody && s.name == "prosody"
}

/// The Kubernetes Service other pods reach a model service by.
pub fn service_name(s: &Service) -> &str {
    if is_main_prosody(s) {
        XMPP_SERVICE
    } else {
        &s.name
    }
}

/// Replaces `from` by `to` where it stands as a whole host name.
pub fn replace_host(text: &str, from: &str, to: &str) -> String {
    let is_host = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (pos, _) in text.match_indices(from) {
        if pos < last {
            continue;
        }
        let before = text[..pos].chars().next_back();
        let after = text[pos + from.len()..].chars().next();
        if before.is_some_and(is_host) || after.is_some_and(is_host) {
            continue;
        }
        out.push_str(&text[last..pos]);
        out.push_str(to);
        last = pos + from.len();
    }
    out.push_str(&text[last..]);
    out
}

/// The compose aliases of the model and the cluster names replacing them.
pub fn alias_substitutions(model: &Model, s: &Settings) -> Vec<(String, String)> {
    model
        .services
        .iter()
        .flat_map(|svc| {
            svc.aliases
                .iter()
                .map(move |a| (a.clone(), s.fqdn(service_name(svc))))
        })
        .collect()
}

/// The stack as the cluster sees it: `.env` with the documented
/// substitutions applied (see the module documentation).
pub fn cluster_stack(stack: &Stack, s: &Settings) -> Result<Stack> {
    let stack = &outside_stack(stack, s);
    let compose = Model::build(stack)?;
    let mut values = stack.values.clone();
    // The cluster nodes' bridges follow the main host's.
    if s.placements.len() > 1 || !s.cluster_nodes.is_empty() {
        values.set("JVB_INSTANCES", &s.placements.len().to_string());
    }
    let subs = alias_substitutions(&compose, s);
    for var in schema::VARS {
        let Some(value) = stack.values.get(var.name) else {
            continue;
        };
        let mut new = value.to_string();
        for (from, to) in &subs {
            new = replace_host(&new, from, to);
        }
        if new != value {
            values.set(var.name, &new);
        }
    }
    if stack.values.get("NGINX_RESOLVER").is_none() {
        values.set("NGINX_RESOLVER", &s.dns);
    }
    // The preStop hooks of the bridges and SIP gateways stop them through
    // their REST API's shutdown endpoint (graceful_stop).
    if stack.values.raw("SHUTDOWN_REST_ENABLED").is_none() {
        values.set("SHUTDOWN_REST_ENABLED", "1");
    }
    if s.media == Media::NodePort {
        let var = if stack.values.raw("JVB_ADVERTISE_IPS").is_some() {
            "JVB_ADVERTISE_IPS"
        } else {
            "DOCKER_HOST_ADDRESS"
        };
        let list: Vec<String> = stack
            .values
            .list(var)
            .into_iter()
            .map(|ip| {
                if ip.contains('#') {
                    ip
                } else {
                    format!("{ip}#{}", s.nodeport_base)
                }
            })
            .collect();
        if !list.is_empty() {
            values.set("JVB_ADVERTISE_IPS", &list.join(","));
        }
    }
    Ok(Stack {
        dir: stack.dir.clone(),
        env_path: stack.env_path.clone(),
        file: stack.file.clone(),
        values,
        components: stack.components.clone(),
        branding_files: stack.branding_files.clone(),
    })
}

/// The workload (`statefulset/prosody`, `deployment/jicofo`) a model
/// service runs as, for `kubectl rollout status`.
pub fn workload(s: &Service) -> String {
    let kind = if is_stateful(s.kind) {
        "statefulset"
    } else {
        "deployment"
    };
    format!("{kind}/{}", s.name)
}

/// The stack without the bridge nodes that run in the cluster: what is left
/// of the nodes stays outside (their bundles, prosody's port for them).
pub fn outside_stack(stack: &Stack, s: &Settings) -> Stack {
    let mut file = stack.file.clone();
    let mut values = stack.values.clone();
    for node in crate::stack::nodes::nodes(&stack.file)
        .iter()
        .filter(|n| s.cluster_nodes.contains(&n.name))
    {
        for var in [node.var(), node.password_var()] {
            file.remove(&var);
            values.set(&var, "");
        }
    }
    Stack {
        dir: stack.dir.clone(),
        env_path: stack.env_path.clone(),
        file,
        values,
        components: stack.components.clone(),
        branding_files: stack.branding_files.clone(),
    }
}

/// The cluster stack as bridge `index` (1-based) sees it, when its
/// placement sets its own address or region.
pub fn bridge_view(cluster: &Stack, s: &Settings, index: u32) -> Option<Stack> {
    let p = s.placements.get(index as usize - 1)?;
    if p.advertise.is_none() && p.region.is_none() {
        return None;
    }
    let mut values = cluster.values.clone();
    if let Some(a) = &p.advertise {
        let list: Vec<String> = a
            .split(',')
            .map(|ip| {
                if s.media == Media::NodePort && !ip.contains('#') {
                    format!("{ip}#{}", s.nodeport_base)
                } else {
                    ip.to_string()
                }
            })
            .collect();
        values.set("JVB_ADVERTISE_IPS", &list.join(","));
    }
    if let Some(r) = &p.region {
        values.set("JVB_OCTO_REGION", r);
    }
    Some(Stack {
        dir: cluster.dir.clone(),
        env_path: cluster.env_path.clone(),
        file: cluster.file.clone(),
        values,
        components: cluster.components.clone(),
        branding_files: cluster.branding_files.clone(),
    })
}

/// A bridge pod's host name: the StatefulSet's first (only) pod.
pub fn pod_name(service: &str) -> String {
    format!("{service}-0")
}

/// The bridge's local address in its jvb.conf: the pod's host name.
pub fn local_address_line(name: &str) -> String {
    format!("local-address = \"{name}\"")
}

/// The rendered config files as the cluster gets them: the compose
/// target's files of `cluster` with the bridges' local addresses replaced.
pub fn cluster_files(cluster: &Stack, s: &Settings, model: &Model) -> Result<Output> {
    let mut out = crate::render::render_model(cluster, model)?;
    visitors::cluster_files(&mut out, cluster, s);
    // A bridge with its own address or region: its files from its view.
    for b in &model.bridges {
        let Some(view) = bridge_view(cluster, s, b.instance.index) else {
            continue;
        };
        let own = crate::render::render_model(&view, &Model::build(&view)?)?;
        let dir = Path::new(GENERATED_DIR).join(&b.instance.name);
        for f in out.files.iter_mut().filter(|f| f.path.starts_with(&dir)) {
            if let Some(c) = own.get(&f.path.to_string_lossy()) {
                f.contents = c.to_string();
            }
        }
    }
    for b in &model.bridges {
        let path = format!("{GENERATED_DIR}/{}/jvb.conf", b.instance.name);
        if let Some(f) = out.files.iter_mut().find(|f| f.path == Path::new(&path)) {
            f.contents = f.contents.replace(
                &local_address_line(&b.instance.name),
                &local_address_line(&pod_name(&b.instance.name)),
            );
        }
    }
    Ok(out)
}

/// The generated files whose contents depend on a secret: rendered again
/// with every secret replaced, the files that differ.
fn secret_bearing(cluster: &Stack, s: &Settings, out: &Output) -> Result<BTreeSet<PathBuf>> {
    let mut values = cluster.values.clone();
    for (i, var) in schema::VARS.iter().filter(|v| v.is_secret()).enumerate() {
        values.set(var.name, &format!("k8sMASKED{i:03}q"));
    }
    let masked = Stack {
        dir: cluster.dir.clone(),
        env_path: cluster.env_path.clone(),
        file: cluster.file.clone(),
        values,
        components: cluster.components.clone(),
        branding_files: cluster.branding_files.clone(),
    };
    let other = cluster_files(&masked, s, &Model::build(&masked)?)?;
    Ok(out
        .files
        .iter()
        .filter(|f| other.get(&f.path.to_string_lossy()) != Some(f.contents.as_str()))
        .map(|f| f.path.clone())
        .collect())
}

fn kind_name(k: Kind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Turns a path or volume name into a DNS-1123 label.
pub fn label(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    out.chars().take(50).collect()
}

/// A Docker size (`16M`, `2gb`) as a Kubernetes quantity (`16Mi`, `2Gi`).
pub fn quantity(docker: &str) -> Result<String> {
    let lower = docker.trim().to_ascii_lowercase();
    let digits: String = lower.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = lower[digits.len()..].trim_end_matches('b');
    let n: u64 = digits
        .parse()
        .with_context(|| format!("size {docker:?}: expected a number with k, m or g"))?;
    let bytes = match unit {
        "" => n,
        "k" => n << 10,
        "m" => n << 20,
        "g" => n << 30,
        _ => bail!("size {docker:?}: unknown unit {unit:?} (expected k, m or g)"),
    };
    Ok(format_bytes(bytes))
}

fn format_bytes(bytes: u64) -> String {
    for (shift, unit) in [(30, "Gi"), (20, "Mi"), (10, "Ki")] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

fn quantity_bytes(q: &str) -> u64 {
    let (n, shift) = if let Some(n) = q.strip_suffix("Gi") {
        (n, 30)
    } else if let Some(n) = q.strip_suffix("Mi") {
        (n, 20)
    } else if let Some(n) = q.strip_suffix("Ki") {
        (n, 10)
    } else {
        (q, 0)
    };
    n.parse::<u64>().unwrap_or(0) << shift
}

fn image(img: &Image, stack: &Stack) -> String {
    match img {
        Image::Jitsi(name) => format!(
            "{}/{name}:{}",
            stack.values.get_or("JITSI_IMAGE_REPO", "ghcr.io/jitsi"),
            stack
                .values
                .get_or("JITSI_IMAGE_VERSION", schema::PINNED_IMAGE_VERSION)
        ),
        Image::Fixed(full) => full.to_string(),
    }
}

fn port_name(p: Protocol, port: u16) -> String {
    format!("{}-{port}", p.as_str())
}

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}

fn labels_of(s: &Service) -> Labels {
    Labels::from([
        ("app.kubernetes.io/name".into(), kind_name(s.kind)),
        (INSTANCE_LABEL.into(), s.name.clone()),
        (COMPONENT_LABEL.into(), kind_name(s.kind)),
    ])
}

fn selector_of(s: &Service) -> Selector {
    Selector {
        match_labels: Labels::from([(INSTANCE_LABEL.into(), s.name.clone())]),
    }
}

fn meta(name: &str, labels: Labels) -> Meta {
    Meta {
        name: name.to_string(),
        labels,
        annotations: BTreeMap::new(),
    }
}

fn is_stateful(k: Kind) -> bool {
    matches!(k, Kind::Prosody | Kind::Jvb | Kind::Jibri)
}

/// The media port of a bridge: its public UDP port.
fn is_media(s: &Service, p: &crate::stack::Port) -> bool {
    s.kind == Kind::Jvb && p.protocol == Protocol::Udp && p.is_public()
}

/// One YAML file of several documents, with the generated note.
struct Docs(Vec<String>);

impl Docs {
    fn push<T: Serialize>(&mut self, value: &T) -> Result<()> {
        self.0.push(crate::yaml::to_string(value)?);
        Ok(())
    }
    fn text(&self) -> String {
        let mut out = String::new();
        for line in GENERATED_NOTE.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&self.0.join("---\n"));
        out
    }
}

/// What one service contributes to the kustomization.
struct Emitted {
    file: String,
    config: Option<Generator>,
    secret: Option<Generator>,
    images: BTreeSet<String>,
}

/// Renders `kubernetes/` for `stack` in memory.
pub fn render(stack: &Stack, secrets: Secrets) -> Result<Output> {
    let s = Settings::read(stack, secrets)?;
    let cluster = cluster_stack(stack, &s)?;
    let model = visitors::cluster_model(Model::build(&cluster)?, &cluster, &s);
    if model.is_node() {
        bail!(
            "{}: JITSI_STACK_THIS_NODE is set: a node's bundle runs with Docker Compose; \
             render the Kubernetes target on the main host's stack",
            stack.env_path.display()
        );
    }
    visitors::refuse_remote(stack)?;
    for svc in &model.services {
        if svc.kind == Kind::Loki || svc.kind == Kind::Otel {
            bail!(
                "the log-analyser component reads Docker's log files ({}), which a cluster does not have: \
                 remove log-analyser from JITSI_STACK_WITH for the Kubernetes target, or use the cluster's own log collection",
                "/var/lib/docker/containers"
            );
        }
        if let Some(Mount::Host { source, target, .. }) =
            svc.mounts.iter().find(|m| matches!(m, Mount::Host { .. }))
        {
            bail!(
                "service {} mounts the host's {source} at {target}, which the Kubernetes target cannot express",
                svc.name
            );
        }
    }
    let files = cluster_files(&cluster, &s, &model)?;
    let secret_files = secret_bearing(&cluster, &s, &files)?;
    let mut out = Output::default();
    // The namespace is not a resource of the kustomization: `delete -k`
    // (`jitsi-stack down`) then leaves it, and prosody's and the recorders'
    // claims in it, as compose's `down` leaves CONFIG.
    let mut resources = vec![];
    let mut config_gens = Vec::new();
    let mut secret_gens = Vec::new();
    let mut images = BTreeSet::new();
    let mut env_secrets: BTreeSet<&'static str> = BTreeSet::new();

    let mut ns = Docs(vec![]);
    ns.push(&Object {
        api_version: "v1",
        kind: "Namespace",
        metadata: meta(&s.namespace, Labels::new()),
        body: Empty {},
    })?;
    out.add(format!("{DIR}/{NAMESPACE_FILE}"), ns.text());

    for svc in &model.services {
        env_secrets.extend(svc.secrets());
        // A bridge with its own address or region: its environment from its view.
        let own = match model.bridges.iter().find(|b| b.instance.name == svc.name) {
            Some(b) => match bridge_view(&cluster, &s, b.instance.index) {
                Some(view) => Model::build(&view)?
                    .services
                    .into_iter()
                    .find(|x| x.name == svc.name),
                None => None,
            },
            None => None,
        };
        let svc = own.as_ref().unwrap_or(svc);
        let e = emit_service(&cluster, &s, &model, svc, &files, &secret_files, &mut out)?;
        resources.push(e.file);
        config_gens.extend(e.config);
        secret_gens.extend(e.secret);
        images.extend(e.images);
    }
    let policies = network_policies(&model)?;
    if !policies.0.is_empty() {
        out.add(format!("{DIR}/network-policies.yaml"), policies.text());
        resources.push("network-policies.yaml".into());
    }

    // The environment's secrets, one key per `.env` variable.
    let mut env_text = String::new();
    for name in &env_secrets {
        let Some(value) = stack.values.raw(name) else {
            bail!(
                "{}: {name} is not set: run `jitsi-stack gen-passwords`, then render again",
                stack.env_path.display()
            );
        };
        if value.trim() != value || value.contains('\n') {
            bail!(
                "{}: {name}: the value starts or ends with white space, which kustomize's env files drop: \
                 run `jitsi-stack gen-passwords --force {name}` or remove the white space",
                stack.env_path.display()
            );
        }
        env_text.push_str(&format!("{name}={value}\n"));
    }
    match s.secrets {
        Secrets::Generated => {
            if !env_secrets.is_empty() {
                out.add(format!("{DIR}/{ENV_FILE}"), env_text);
                secret_gens.insert(
                    0,
                    Generator {
                        name: ENV_SECRET.into(),
                        files: vec![],
                        envs: vec![ENV_FILE.into()],
                        kind: None,
                    },
                );
            }
            out.add(
                format!("{DIR}/.gitignore"),
                format!("# {GENERATED_NOTE}\n# The Secrets' inputs: never commit them.\n/{SECRETS_DIR}/\n"),
            );
        }
        Secrets::External => {
            let mut ex = Docs(vec![]);
            let mut all = vec![(
                ENV_SECRET.to_string(),
                env_secrets
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>(),
            )];
            for g in &secret_gens {
                all.push((
                    g.name.clone(),
                    g.files
                        .iter()
                        .filter_map(|f| f.split_once('=').map(|(k, _)| k.to_string()))
                        .collect(),
                ));
            }
            for (name, keys) in all {
                if keys.is_empty() {
                    continue;
                }
                ex.push(&Object {
                    api_version: "v1",
                    kind: "Secret",
                    metadata: meta(&name, Labels::new()),
                    body: ExampleSecret {
                        kind: "Opaque",
                        string_data: keys.into_iter().map(|k| (k, String::new())).collect(),
                    },
                })?;
            }
            out.add(format!("{DIR}/{EXTERNAL_EXAMPLE}"), ex.text());
            secret_gens.clear();
            out.files
                .retain(|f| !f.path.starts_with(format!("{DIR}/{SECRETS_DIR}")));
        }
    }

    let k = Kustomization {
        api_version: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        namespace: s.namespace.clone(),
        labels: vec![KustomizeLabels {
            pairs: Labels::from([
                (PART_OF_LABEL.into(), PART_OF.into()),
                ("app.kubernetes.io/managed-by".into(), "jitsi-stack".into()),
            ]),
            include_selectors: false,
            include_templates: true,
        }],
        resources,
        images: images
            .iter()
            .filter_map(|i| {
                i.rsplit_once(':').map(|(name, tag)| KustomizeImage {
                    name: name.into(),
                    new_tag: tag.into(),
                })
            })
            .collect(),
        config_map_generator: config_gens,
        secret_generator: secret_gens,
    };
    out.add(
        format!("{DIR}/kustomization.yaml"),
        crate::yaml::to_string_with_comment(GENERATED_NOTE, &k)?,
    );
    let problems = lint::check(&relative_files(&out), &secret_values(stack));
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        bail!(
            "the Kubernetes render failed its own checks (nothing was written):\n{}\n\
             fix the settings named above in {}, or report the case if they come from jitsi-stack itself",
            list.join("\n"),
            stack.env_path.display()
        );
    }
    Ok(out)
}

/// The files of `out` under [`DIR`], by their path relative to it.
pub fn relative_files(out: &Output) -> BTreeMap<String, String> {
    out.files
        .iter()
        .filter_map(|f| {
            let rel = f.path.strip_prefix(DIR).ok()?;
            Some((rel.to_string_lossy().into_owned(), f.contents.clone()))
        })
        .collect()
}

/// The stack's secret values (of the schema's secret variables), which no
/// file outside `kubernetes/secrets/` may hold.
pub fn secret_values(stack: &Stack) -> Vec<String> {
    schema::VARS
        .iter()
        .filter(|v| v.is_secret())
        .filter_map(|v| stack.values.raw(v.name))
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExampleSecret {
    #[serde(rename = "type")]
    kind: &'static str,
    string_data: BTreeMap<String, String>,
}

#[allow(clippy::too_many_arguments)]
fn emit_service(
    stack: &Stack,
    s: &Settings,
    model: &Model,
    svc: &Service,
    files: &Output,
    secret_files: &BTreeSet<PathBuf>,
    out: &mut Output,
) -> Result<Emitted> {
    let labels = labels_of(svc);
    let stateful = is_stateful(svc.kind);
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    let mut claims = Vec::new();
    let mut config_keys = Vec::new();
    let mut secret_keys = Vec::new();
    let config_name = format!("{}-config", svc.name);
    let secret_name = format!("{}-files", svc.name);

    for m in &svc.mounts {
        match m {
            Mount::StackFile { path, .. } => {
                bail!(
                    "{} mounts {path}, which the render did not produce",
                    svc.name
                );
            }
            Mount::Config { id, target } => {
                let rel_path = crate::render::mounts::config_path(id);
                let rel = rel_path.as_str();
                let key = rel.rsplit('/').next().unwrap_or(rel).to_string();
                let Some(contents) = files.get(rel) else {
                    bail!(
                        "{} mounts {rel}, which the render did not produce",
                        svc.name
                    );
                };
                let secret = secret_files.contains(Path::new(rel));
                let (keys, dir, volume) = if secret {
                    (&mut secret_keys, SECRETS_DIR, "files")
                } else {
                    (&mut config_keys, CONFIG_DIR, "config")
                };
                let path = format!("{dir}/{}/{key}", svc.name);
                let entry = format!("{key}={path}");
                if !keys.contains(&entry) {
                    if keys
                        .iter()
                        .any(|k: &String| k.starts_with(&format!("{key}=")))
                    {
                        bail!("{}: two mounted files named {key}", svc.name);
                    }
                    keys.push(entry);
                    out.add(format!("{DIR}/{path}"), contents.to_string());
                }
                mounts.push(VolumeMount {
                    name: volume.into(),
                    mount_path: target.clone(),
                    sub_path: Some(key),
                    read_only: true,
                });
            }
            Mount::Data { dir, target, .. } => {
                let name = label(dir);
                // Accounts (prosody's /var/lib/prosody) and recordings
                // (jibri's /storage), the directories the images write
                // (their `check-writable`), outlive the pod. `/config` is
                // only read (copied to /run at boot), and nothing puts
                // files there in a cluster: scratch, as any Deployment's.
                if matches!(svc.kind, Kind::Prosody | Kind::Jibri)
                    && dir.starts_with(STORAGE_PREFIX)
                {
                    let size = if svc.kind == Kind::Jibri {
                        &s.recordings_storage
                    } else {
                        &s.prosody_storage
                    };
                    claims.push(ClaimTemplate {
                        metadata: meta(&name, Labels::new()),
                        spec: ClaimSpec {
                            access_modes: vec!["ReadWriteOnce"],
                            storage_class_name: s.storage_class.clone(),
                            resources: Resources {
                                requests: BTreeMap::from([("storage", size.clone())]),
                                limits: BTreeMap::new(),
                            },
                        },
                    });
                } else {
                    volumes.push(empty_dir(&name, None, None));
                }
                mounts.push(VolumeMount {
                    name,
                    mount_path: target.clone(),
                    sub_path: None,
                    read_only: false,
                });
            }
            Mount::Volume { name, target } => {
                let name = label(name);
                volumes.push(empty_dir(&name, None, None));
                mounts.push(VolumeMount {
                    name,
                    mount_path: target.clone(),
                    sub_path: None,
                    read_only: false,
                });
            }
            Mount::Host { .. } => unreachable!("refused in render"),
        }
    }
    if !config_keys.is_empty() {
        volumes.insert(
            0,
            Volume {
                name: "config".into(),
                config_map: Some(NamedSource {
                    name: config_name.clone(),
                }),
                secret: None,
                empty_dir: None,
            },
        );
    }
    if !secret_keys.is_empty() {
        volumes.insert(
            usize::from(!config_keys.is_empty()),
            Volume {
                name: "files".into(),
                config_map: None,
                secret: Some(SecretSource {
                    secret_name: secret_name.clone(),
                    default_mode: 0o440,
                }),
                empty_dir: None,
            },
        );
    }
    for t in &svc.tmpfs {
        let name = format!("tmpfs-{}", label(t.path));
        volumes.push(empty_dir(
            &name,
            Some("Memory"),
            Some(quantity(&format!("{}M", t.size_mib))?),
        ));
        mounts.push(VolumeMount {
            name,
            mount_path: t.path.to_string(),
            sub_path: None,
            read_only: false,
        });
    }
    let mut resources = Resources::default();
    if let Some(shm) = &svc.shm_size {
        let q = quantity(shm)?;
        // Chrome and ffmpeg on top of the shared memory they fill.
        let limit = format_bytes(quantity_bytes(&q) + (2 << 30));
        resources.requests.insert("memory", "1Gi".into());
        resources.limits.insert("memory", limit);
        volumes.push(empty_dir("dshm", Some("Memory"), Some(q)));
        mounts.push(VolumeMount {
            name: "dshm".into(),
            mount_path: "/dev/shm".into(),
            sub_path: None,
            read_only: false,
        });
    }

    let bridge = model.bridges.iter().find(|b| b.instance.name == svc.name);
    let mut ports = Vec::new();
    let mut service_ports = Vec::new();
    let mut media_ports = Vec::new();
    for p in &svc.ports {
        if p.container.0 != p.container.1 {
            // A range (jigasi's RTP, coturn's relay): not a Service port.
            continue;
        }
        let n = p.container.0;
        let name = port_name(p.protocol, n);
        if ports.iter().any(|c: &ContainerPort| c.name == name) {
            // One container port published twice in compose (prosody's
            // 5222 on the internal network and to the outside nodes).
            continue;
        }
        let media = is_media(svc, p);
        ports.push(ContainerPort {
            name: name.clone(),
            container_port: n,
            host_port: (media && s.media == Media::HostPort && !svc.host_network)
                .then_some(p.host.0),
            protocol: proto(p.protocol),
        });
        let sp = ServicePort {
            name,
            port: n,
            target_port: n,
            node_port: None,
            protocol: proto(p.protocol),
        };
        if media {
            media_ports.push(sp);
        } else if !svc.host_network {
            service_ports.push(sp);
        }
    }
    if svc.host_network {
        ports.clear();
    }

    let env = svc
        .env
        .iter()
        .map(|(k, v)| match v {
            EnvValue::Literal(value) => EnvVar {
                name: k.clone(),
                value: Some(value.clone()),
                value_from: None,
            },
            EnvValue::Secret(name) => EnvVar {
                name: k.clone(),
                value: None,
                value_from: Some(EnvSource {
                    secret_key_ref: KeyRef {
                        name: ENV_SECRET.into(),
                        key: name.to_string(),
                    },
                }),
            },
        })
        .collect();

    // The model's typed check as the kubelet runs it: a command in the
    // container (the image's health script), or the kubelet's own HTTP GET
    // or TCP connect; the startup probe allows the start period on top.
    let (startup, readiness, liveness) = match &svc.health {
        Some(h) => {
            let (exec, http_get, tcp_socket) = match &h.check {
                Check::Exec { argv } if argv.is_empty() => (None, None, None),
                Check::Exec { argv } => (
                    Some(Exec {
                        command: argv.clone(),
                    }),
                    None,
                    None,
                ),
                Check::Http { port, path } => (
                    None,
                    Some(HttpGet {
                        path: path.clone(),
                        port: *port,
                    }),
                    None,
                ),
                Check::Tcp { port } => (None, None, Some(TcpSocket { port: *port })),
            };
            if exec.is_none() && http_get.is_none() && tcp_socket.is_none() {
                (None, None, None)
            } else {
                let probe = |failures: u32| Probe {
                    exec: exec.clone(),
                    http_get: http_get.clone(),
                    tcp_socket: tcp_socket.clone(),
                    period_seconds: h.interval_s.max(1),
                    timeout_seconds: h.timeout_s.max(1),
                    failure_threshold: failures.max(1),
                };
                let start = h.start_period_s.div_ceil(h.interval_s.max(1)) + h.retries;
                (
                    Some(probe(start)),
                    Some(probe(h.retries)),
                    Some(probe(h.retries)),
                )
            }
        }
        None => (None, None, None),
    };

    let graceful = graceful_stop(svc.kind);

    let img = image(&svc.image, stack);
    let who = identity(svc.kind);
    let container = Container {
        name: kind_name(svc.kind),
        image: img.clone(),
        args: svc.command.clone(),
        ports,
        env,
        resources,
        volume_mounts: mounts,
        startup_probe: startup,
        readiness_probe: readiness,
        liveness_probe: liveness,
        lifecycle: graceful.clone().map(|command| Lifecycle {
            pre_stop: Handler {
                exec: Exec { command },
            },
        }),
        security_context: ContainerSecurity {
            run_as_non_root: true,
            read_only_root_filesystem: who.read_only_root,
            allow_privilege_escalation: false,
            capabilities: Capabilities {
                drop: vec!["ALL".into()],
                add: svc.cap_add.clone(),
            },
        },
    };
    let mut node_selector = Labels::new();
    if let Some(p) = bridge.and_then(|b| s.placements.get(b.instance.index as usize - 1)) {
        if let Some(node) = &p.node {
            node_selector.insert("kubernetes.io/hostname".into(), node.clone());
        }
        if let Some(region) = &p.region {
            node_selector.insert(REGION_LABEL.into(), region.clone());
        }
    }
    let pod = PodSpec {
        automount_service_account_token: false,
        enable_service_links: false,
        host_network: svc.host_network,
        dns_policy: svc.host_network.then_some("ClusterFirstWithHostNet"),
        termination_grace_period_seconds: graceful.map(|_| GRACE_SECONDS),
        node_selector,
        security_context: PodSecurity {
            run_as_user: who.uid,
            run_as_group: who.gid,
            fs_group: who.gid,
            seccomp_profile: Seccomp {
                kind: "RuntimeDefault",
            },
        },
        containers: vec![container],
        volumes,
    };
    let template = PodTemplate {
        metadata: TemplateMeta {
            labels: labels.clone(),
        },
        spec: pod,
    };

    let mut docs = Docs(vec![]);
    if stateful {
        docs.push(&Object {
            api_version: "apps/v1",
            kind: "StatefulSet",
            metadata: meta(&svc.name, labels.clone()),
            body: Spec {
                spec: StatefulSetSpec {
                    replicas: 1,
                    service_name: svc.name.clone(),
                    pod_management_policy: "Parallel",
                    selector: selector_of(svc),
                    template,
                    volume_claim_templates: claims,
                },
            },
        })?;
        // The headless Service that gives the pod its stable name.
        docs.push(&Object {
            api_version: "v1",
            kind: "Service",
            metadata: meta(&svc.name, labels.clone()),
            body: Spec {
                spec: ServiceSpec {
                    cluster_ip: Some("None"),
                    publish_not_ready_addresses: true,
                    selector: selector_of(svc).match_labels,
                    ports: service_ports.clone(),
                    ..ServiceSpec::default()
                },
            },
        })?;
    } else {
        docs.push(&Object {
            api_version: "apps/v1",
            kind: "Deployment",
            metadata: meta(&svc.name, labels.clone()),
            body: Spec {
                spec: DeploymentSpec {
                    replicas: 1,
                    selector: selector_of(svc),
                    strategy: Strategy {
                        // One jicofo, one web config at a time; the others
                        // have state in emptyDirs that a second pod would not share.
                        kind: "Recreate",
                    },
                    template,
                },
            },
        })?;
    }
    let client_service = if is_main_prosody(svc) {
        Some(XMPP_SERVICE.to_string())
    } else if !stateful && !svc.host_network && !service_ports.is_empty() {
        Some(svc.name.clone())
    } else {
        None
    };
    if let Some(name) = client_service {
        docs.push(&Object {
            api_version: "v1",
            kind: "Service",
            metadata: meta(&name, labels.clone()),
            body: Spec {
                spec: ServiceSpec {
                    selector: selector_of(svc).match_labels,
                    ports: service_ports.clone(),
                    ..ServiceSpec::default()
                },
            },
        })?;
    }
    if is_main_prosody(svc) && !model.nodes.is_empty() {
        // Prosody's client port for the nodes outside the cluster, and for
        // them only (their addresses, as compose publishes it to them).
        docs.push(&Object {
            api_version: "v1",
            kind: "Service",
            metadata: meta(NODES_SERVICE, labels.clone()),
            body: Spec {
                spec: ServiceSpec {
                    kind: Some("LoadBalancer"),
                    external_traffic_policy: Some("Local"),
                    load_balancer_source_ranges: model
                        .nodes
                        .iter()
                        .map(|n| host_cidr(n.address))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                    selector: selector_of(svc).match_labels,
                    ports: vec![ServicePort {
                        name: port_name(Protocol::Tcp, XMPP_PORT),
                        port: XMPP_PORT,
                        target_port: XMPP_PORT,
                        node_port: None,
                        protocol: "TCP",
                    }],
                    ..ServiceSpec::default()
                },
            },
        })?;
    }
    if let (Some(b), false) = (bridge, media_ports.is_empty()) {
        if s.media != Media::HostPort {
            let ports = media_ports
                .iter()
                .map(|p| ServicePort {
                    node_port: (s.media == Media::NodePort)
                        .then(|| s.nodeport_base + (b.instance.index as u16) - 1),
                    ..p.clone()
                })
                .collect();
            docs.push(&Object {
                api_version: "v1",
                kind: "Service",
                metadata: meta(&format!("{}-media", svc.name), labels.clone()),
                body: Spec {
                    spec: ServiceSpec {
                        kind: Some(match s.media {
                            Media::NodePort => "NodePort",
                            _ => "LoadBalancer",
                        }),
                        external_traffic_policy: Some("Local"),
                        selector: Labels::from([(
                            "statefulset.kubernetes.io/pod-name".into(),
                            pod_name(&svc.name),
                        )]),
                        ports,
                        ..ServiceSpec::default()
                    },
                },
            })?;
        }
    }
    if svc.kind == Kind::Jvb && model.bridges.first().map(|b| &b.instance.name) == Some(&svc.name) {
        // At most one bridge stopped at a time by a drain or an upgrade.
        docs.push(&Object {
            api_version: "policy/v1",
            kind: "PodDisruptionBudget",
            metadata: meta(
                "jvb",
                Labels::from([(COMPONENT_LABEL.into(), "jvb".into())]),
            ),
            body: Spec {
                spec: PdbSpec {
                    max_unavailable: 1,
                    selector: Selector {
                        match_labels: Labels::from([(COMPONENT_LABEL.into(), "jvb".into())]),
                    },
                },
            },
        })?;
    }
    if svc.kind == Kind::Web {
        docs.push(&ingress(stack, s, svc))?;
    }
    let file = format!("{}.yaml", svc.name);
    out.add(format!("{DIR}/{file}"), docs.text());
    Ok(Emitted {
        file,
        config: (!config_keys.is_empty()).then(|| Generator {
            name: config_name,
            files: config_keys,
            envs: vec![],
            kind: None,
        }),
        secret: (!secret_keys.is_empty()).then(|| Generator {
            name: secret_name,
            files: secret_keys,
            envs: vec![],
            kind: None,
        }),
        images: BTreeSet::from([img]),
    })
}

/// The preStop hook of a service that holds calls: the graceful-shutdown
/// script of its package, as the image's autoscaler sidecar runs it
/// (`GRACEFUL_SHUTDOWN_SCRIPT` of its `autoscaler-sidecar.config`). The
/// bridge's and the SIP gateway's scripts ask the service's REST API to
/// stop taking conferences (which [`cluster_stack`] enables), wait until
/// the last one ends, then give the process `-t` seconds before they kill
/// it. They need its pid (`-p`), which they would read from a pid file
/// that s6 does not write: pid 1, the container's init, stands for it, so
/// the last resort stops the container. Jibri's script waits for the
/// recording to finish through jibri's own API.
pub fn graceful_stop(kind: Kind) -> Option<Vec<String>> {
    let script = match kind {
        Kind::Jvb => "/usr/share/jitsi-videobridge/graceful_shutdown.sh",
        Kind::Jigasi | Kind::Transcriber => "/usr/share/jigasi/graceful_shutdown.sh",
        Kind::Jibri => return Some(vec!["/opt/jitsi/jibri/wait_graceful_shutdown.sh".into()]),
        _ => return None,
    };
    Some([script, "-p", "1", "-t", "25"].map(String::from).to_vec())
}

/// Who a pod runs as, and whether its root file system is read-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub read_only_root: bool,
}

/// uid and gid 1000 with a read-only root, as the compose target runs the
/// Jitsi images (their `USER s6`, uid 1000, with S6_READ_ONLY_ROOT=1 and
/// tmpfs `/run` and `/tmp`) and coturn; prometheus writes only its data
/// volume. The exceptions are images that write inside their own tree,
/// which compose leaves writable too (docs/kubernetes.md, "Every pod"):
/// etherpad (its `var/`, owned by its image's user 5001, group 0),
/// grafana (its log directory `/var/log/grafana`) and the whiteboard
/// (npm writes its logs under `$HOME`).
pub fn identity(kind: Kind) -> Identity {
    const JITSI: Identity = Identity {
        uid: 1000,
        gid: 1000,
        read_only_root: true,
    };
    match kind {
        Kind::Etherpad => Identity {
            uid: 5001,
            gid: 0,
            read_only_root: false,
        },
        Kind::Grafana | Kind::Whiteboard => Identity {
            read_only_root: false,
            ..JITSI
        },
        _ => JITSI,
    }
}

fn empty_dir(name: &str, medium: Option<&'static str>, size: Option<String>) -> Volume {
    Volume {
        name: name.to_string(),
        config_map: None,
        secret: None,
        empty_dir: Some(EmptyDir {
            medium,
            size_limit: size,
        }),
    }
}

fn ingress(stack: &Stack, s: &Settings, web: &Service) -> Object<Spec<IngressSpec>> {
    let domain = stack.values.public_url_domain();
    let host = domain
        .split('/')
        .next()
        .unwrap_or(&domain)
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_else(|| domain.split('/').next().unwrap_or(&domain).to_string());
    // The ingress speaks plain HTTP to nginx: the port HTTP_PORT publishes
    // in compose (the container's 8000), the model's first TCP port of web.
    let http = web
        .ports
        .iter()
        .find(|p| p.protocol == Protocol::Tcp)
        .map(|p| p.container.0)
        .unwrap_or(8000);
    let path = |p: &str| IngressPath {
        path: p.to_string(),
        path_type: "Prefix",
        backend: IngressBackend {
            service: BackendService {
                name: web.name.clone(),
                port: BackendPort { number: http },
            },
        },
    };
    let mut m = meta(&web.name, labels_of(web));
    for (k, v) in s.ingress_controller.annotations() {
        m.annotations.insert(k.into(), v);
    }
    Object {
        api_version: "networking.k8s.io/v1",
        kind: "Ingress",
        metadata: m,
        body: Spec {
            spec: IngressSpec {
                ingress_class_name: s.ingress_class.clone(),
                tls: vec![IngressTls {
                    hosts: vec![host.clone()],
                    secret_name: s.tls_secret.clone(),
                }],
                rules: vec![IngressRule {
                    host,
                    http: IngressHttp {
                        paths: vec![path("/xmpp-websocket"), path("/http-bind"), path("/")],
                    },
                }],
            },
        },
    }
}

/// Prosody's ports only from the XMPP clients of the stack.
fn network_policies(model: &Model) -> Result<Docs> {
    let mut docs = Docs(vec![]);
    let clients: Vec<String> = XMPP_CLIENTS.iter().map(|c| c.to_string()).collect();
    // With visitor nodes, main's s2s port is theirs only (visitors::main_s2s_rule).
    let s2s = visitors::main_s2s_port(model);
    for p in model.of_kind(Kind::Prosody).filter(|p| is_main_prosody(p)) {
        let mut ports: Vec<PolicyPort> = p
            .ports
            .iter()
            .filter(|x| x.protocol == Protocol::Tcp && x.exposure != Exposure::All)
            .map(|x| PolicyPort {
                protocol: "TCP",
                port: x.container.0,
                end_port: None,
            })
            .collect();
        // 5222 is published twice in compose when there are nodes.
        let mut seen = BTreeSet::new();
        ports.retain(|x| seen.insert(x.port) && Some(x.port) != s2s);
        docs.push(&Object {
            api_version: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: meta(&format!("{}-clients", p.name), labels_of(p)),
            body: Spec {
                spec: NetworkPolicySpec {
                    pod_selector: selector_of(p),
                    policy_types: vec!["Ingress"],
                    ingress: std::iter::once(PolicyRule {
                        from: vec![PolicyPeer {
                            pod_selector: Some(ExprSelector {
                                match_expressions: vec![Expr {
                                    key: COMPONENT_LABEL.into(),
                                    operator: "In",
                                    values: clients.clone(),
                                }],
                            }),
                            ip_block: None,
                        }],
                        ports,
                    })
                    .chain(visitors::main_s2s_rule(model))
                    .chain(
                        // The nodes outside the cluster: XMPP only, from their addresses.
                        (is_main_prosody(p) && !model.nodes.is_empty()).then(|| PolicyRule {
                            from: model
                                .nodes
                                .iter()
                                .map(|n| PolicyPeer {
                                    pod_selector: None,
                                    ip_block: Some(IpBlock {
                                        cidr: host_cidr(n.address),
                                    }),
                                })
                                .collect(),
                            ports: vec![PolicyPort {
                                protocol: "TCP",
                                port: XMPP_PORT,
                                end_port: None,
                            }],
                        }),
                    )
                    .collect(),
                },
            },
        })?;
    }
    for svc in model
        .services
        .iter()
        .filter(|s| s.kind != Kind::Prosody && !s.host_network)
    {
        docs.push(&inbound_policy(svc))?;
    }
    docs.0.extend(visitors::node_policies(model)?.0);
    Ok(docs)
}

/// Every other pod (prosody has its own above): any port from the pods of
/// the stack, and from anywhere only the ports compose publishes to
/// everyone (a bridge's media) and web's HTTP port, the Ingress backend
/// (the controller runs in a namespace of its own). So nothing outside the
/// stack reaches an internal port: a bridge's REST API (with the shutdown
/// endpoint the preStop hook uses), jicofo's, the metrics. Host-network
/// pods (coturn) are not subject to NetworkPolicies.
fn inbound_policy(svc: &Service) -> Object<Spec<NetworkPolicySpec>> {
    let web_http = (svc.kind == Kind::Web)
        .then(|| svc.ports.iter().find(|p| p.protocol == Protocol::Tcp))
        .flatten()
        .map(|p| p.container.0);
    let mut public: Vec<PolicyPort> = vec![];
    for p in &svc.ports {
        if p.exposure != Exposure::All && Some(p.container.0) != web_http {
            continue;
        }
        let port = PolicyPort {
            protocol: proto(p.protocol),
            port: p.container.0,
            end_port: (p.container.1 != p.container.0).then_some(p.container.1),
        };
        if !public
            .iter()
            .any(|x| x.port == port.port && x.protocol == port.protocol)
        {
            public.push(port);
        }
    }
    let stack = PolicyRule {
        from: vec![PolicyPeer {
            pod_selector: Some(ExprSelector {
                match_expressions: vec![Expr {
                    key: PART_OF_LABEL.into(),
                    operator: "In",
                    values: vec![PART_OF.into()],
                }],
            }),
            ip_block: None,
        }],
        ports: vec![],
    };
    let anyone = (!public.is_empty()).then_some(PolicyRule {
        from: vec![],
        ports: public,
    });
    Object {
        api_version: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(&format!("{}-inbound", svc.name), labels_of(svc)),
        body: Spec {
            spec: NetworkPolicySpec {
                pod_selector: selector_of(svc),
                policy_types: vec!["Ingress"],
                ingress: std::iter::once(stack).chain(anyone).collect(),
            },
        },
    }
}

/// The components the Kubernetes target can run.
pub fn supported(c: Component) -> bool {
    c != Component::LogAnalyser
}

/// Writes `out` (paths under [`DIR`]) into the stack directory: only the
/// files whose contents or mode differ; files of an earlier render that
/// this one no longer has are removed. The Secrets' inputs are 0600 in a
/// 0700 directory. Call it holding the stack lock.
pub fn write(dir: &Path, out: &Output) -> Result<usize> {
    use std::os::unix::fs::PermissionsExt;
    let root = dir.join(DIR);
    crate::fsutil::create_dir_all_mode(&root, 0o755)?;
    let mut wanted = BTreeSet::new();
    let mut written = 0;
    for f in &out.files {
        let path = dir.join(&f.path);
        wanted.insert(path.clone());
        let rel = f.path.strip_prefix(DIR).unwrap_or(&f.path);
        let secret = rel.starts_with(SECRETS_DIR);
        let mode = if secret { 0o600 } else { 0o644 };
        let parent = crate::fsutil::parent_dir(&path);
        crate::fsutil::create_dir_all_mode(&parent, if secret { 0o700 } else { 0o755 })?;
        if secret {
            std::fs::set_permissions(
                root.join(SECRETS_DIR),
                std::fs::Permissions::from_mode(0o700),
            )
            .with_context(|| format!("chmod {}", root.join(SECRETS_DIR).display()))?;
        }
        if let Ok(Some((bytes, meta))) = crate::fsutil::read_existing(&path) {
            if bytes == f.contents.as_bytes() && meta.permissions().mode() & 0o777 == mode {
                continue;
            }
        }
        crate::fsutil::atomic_write(&path, f.contents.as_bytes(), mode)
            .with_context(|| format!("writing {}", path.display()))?;
        written += 1;
    }
    // A stale file removed is a change too.
    written += remove_stale(&root, &wanted)?;
    Ok(written)
}

/// Removes the files under `dir` the render no longer makes; how many.
fn remove_stale(dir: &Path, wanted: &BTreeSet<PathBuf>) -> Result<usize> {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for e in entries {
        let e = e?;
        let path = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() {
            removed += remove_stale(&path, wanted)?;
            // Only now-empty directories the render made go.
            let _ = std::fs::remove_dir(&path);
        } else if !wanted.contains(&path) {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests;
