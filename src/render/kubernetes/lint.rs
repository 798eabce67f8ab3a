//! The project's own checks of `kubernetes/`, for what the API schemas
//! (and so `kubernetes-validate --strict`) do not catch: names that are not
//! DNS-1123, port names, selectors that select nothing, references to
//! ConfigMaps, Secrets, keys, subPaths, volumes and claims that do not
//! exist, ports out of range, two pods on one node's hostPort, and a secret
//! value outside `kubernetes/secrets/`.
//!
//! It reads the files as written (the kustomization, its resources and
//! generators), so it checks a copy on disk as well as a render in memory:
//! `render --target kubernetes` refuses to write output it rejects, and
//! `check` runs it over an existing `kubernetes/`.

use super::{EXTERNAL_EXAMPLE, SECRETS_DIR};
pub use crate::schema::kind::{is_dns_label, is_dns_subdomain};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The length of the `-<hash>` suffix kustomize appends to generated names.
const HASH_SUFFIX: usize = 11;

/// The label the StatefulSet controller puts on each pod.
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// One problem the checks found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Which check: `name`, `port-name`, `selector`, `reference`, `port`,
    /// `host-port`, `quantity`, `enum` or `secret`.
    pub check: &'static str,
    /// The file under `kubernetes/`.
    pub file: String,
    /// `Kind/name` of the object, when the problem is in one.
    pub object: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kubernetes/{}", self.file)?;
        if !self.object.is_empty() {
            write!(f, ": {}", self.object)?;
        }
        write!(f, ": {} [{}]", self.message, self.check)
    }
}

/// An IANA service name, as a port name must be: at most 15 lower-case
/// letters, digits and `-`, at least one letter, no `-` at either end, no `--`.
pub fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// A label value: at most 63 characters of letters, digits, `-`, `_`, `.`,
/// starting and ending with a letter or digit (or empty).
fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric())
}

/// Reads `dir/kubernetes/` into the map [`check`] takes.
pub fn read_dir(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let root = dir.join(super::DIR);
    let mut files = BTreeMap::new();
    let mut todo = vec![root.clone()];
    while let Some(d) = todo.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| anyhow::anyhow!("reading {}: {e}", d.display()))?;
        for e in entries {
            let path = e?.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path.strip_prefix(&root)?.to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
                files.insert(rel, text);
            }
        }
    }
    Ok(files)
}

/// A pod template of a workload, as the checks see it.
struct Pod<'a> {
    file: &'a str,
    object: String,
    /// The labels of its pods (a StatefulSet's also carry their pod name).
    labels: Vec<BTreeMap<String, String>>,
    spec: &'a Value,
}

fn str_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn subset(sel: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The keys a generator's `files:` entry gives (`key=path` or `path`).
fn file_key(entry: &str) -> (&str, &str) {
    match entry.split_once('=') {
        Some((k, p)) => (k, p),
        None => (entry.rsplit('/').next().unwrap_or(entry), entry),
    }
}

/// Runs every check over the files of `kubernetes/` (paths relative to
/// it). `secrets`: the stack's secret values; none may appear in a file
/// outside `secrets/`.
pub fn check(files: &BTreeMap<String, String>, secrets: &[String]) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |check: &'static str, file: &str, object: &str, message: String| {
        out.push(Problem {
            check,
            file: file.to_string(),
            object: object.to_string(),
            message,
        });
    };

    // No secret value outside secrets/.
    for (rel, text) in files {
        if Path::new(rel).starts_with(SECRETS_DIR) {
            continue;
        }
        for s in secrets.iter().filter(|s| s.len() >= 8) {
            if text.contains(s.as_str()) {
                problem(
                    "secret",
                    rel,
                    "",
                    "holds a secret value of .env; secrets belong only in kubernetes/secrets/ (or the cluster's own Secrets)".into(),
                );
                break;
            }
        }
    }

    let Some(kust_text) = files.get("kustomization.yaml") else {
        problem(
            "reference",
            "kustomization.yaml",
            "",
            "missing: `kubectl kustomize` needs it".into(),
        );
        return out;
    };
    let kust = match crate::yaml::documents(kust_text) {
        Ok(d) if !d.is_empty() => d.into_iter().next().unwrap_or_default(),
        Ok(_) | Err(_) => {
            problem(
                "reference",
                "kustomization.yaml",
                "",
                "not a YAML document".into(),
            );
            return out;
        }
    };
    if let Some(ns) = kust["namespace"].as_str() {
        if !is_dns_label(ns) {
            problem(
                "name",
                "kustomization.yaml",
                "",
                format!("namespace {ns:?} is not a DNS-1123 label (a-z, 0-9, '-', at most 63)"),
            );
        }
    }

    // What the generators make: name -> keys.
    let mut config_maps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut secret_objs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (field, into) in [
        ("configMapGenerator", &mut config_maps),
        ("secretGenerator", &mut secret_objs),
    ] {
        for g in arr(&kust[field]) {
            let name = g["name"].as_str().unwrap_or("").to_string();
            if !(is_dns_subdomain(&name) && name.len() + HASH_SUFFIX <= 253) {
                problem(
                    "name",
                    "kustomization.yaml",
                    &format!("{field}/{name}"),
                    format!("{name:?} is not a DNS-1123 subdomain (with kustomize's hash suffix)"),
                );
            }
            let keys = into.entry(name.clone()).or_default();
            for f in arr(&g["files"]).iter().filter_map(Value::as_str) {
                let (key, path) = file_key(f);
                keys.insert(key.to_string());
                if !files.contains_key(path) {
                    problem(
                        "reference",
                        "kustomization.yaml",
                        &format!("{field}/{name}"),
                        format!("file {path} does not exist"),
                    );
                }
            }
            for e in arr(&g["envs"]).iter().filter_map(Value::as_str) {
                match files.get(e) {
                    Some(text) => keys.extend(
                        text.lines()
                            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                            .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string())),
                    ),
                    None => problem(
                        "reference",
                        "kustomization.yaml",
                        &format!("{field}/{name}"),
                        format!("env file {e} does not exist"),
                    ),
                }
            }
        }
    }

    // The objects of every resource (and, with external secrets, the
    // Secrets the cluster is to provide).
    let mut objects: Vec<(&str, Value)> = Vec::new();
    let mut sources: Vec<&str> = arr(&kust["resources"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if files.contains_key(EXTERNAL_EXAMPLE) {
        sources.push(EXTERNAL_EXAMPLE);
    }
    for rel in sources {
        let Some((rel, text)) = files.get_key_value(rel) else {
            problem(
                "reference",
                "kustomization.yaml",
                "",
                format!("resource {rel} does not exist"),
            );
            continue;
        };
        match crate::yaml::documents(text) {
            Ok(docs) => objects.extend(docs.into_iter().map(|d| (rel.as_str(), d))),
            Err(e) => problem("reference", rel, "", format!("not YAML: {e}")),
        }
    }
    for (rel, o) in &objects {
        let kind = o["kind"].as_str().unwrap_or("");
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        if *rel == EXTERNAL_EXAMPLE && kind == "Secret" {
            secret_objs.insert(
                name.to_string(),
                o["stringData"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default(),
            );
        }
    }

    let id = |o: &Value| {
        format!(
            "{}/{}",
            o["kind"].as_str().unwrap_or("?"),
            o["metadata"]["name"].as_str().unwrap_or("?")
        )
    };

    // Names and labels.
    for (rel, o) in &objects {
        let kind = o["kind"].as_str().unwrap_or("");
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        // Services and namespaces are labels; so are workloads, whose
        // names become pods' host names.
        let label = matches!(kind, "Service" | "Namespace" | "StatefulSet" | "Deployment");
        let ok = if kind == "Service" {
            is_dns_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase())
        } else if label {
            is_dns_label(name)
        } else {
            is_dns_subdomain(name)
        };
        if !ok {
            problem(
                "name",
                rel,
                &id(o),
                format!(
                    "name {name:?} is not a DNS-1123 {} (a-z, 0-9, '-'{}, at most {})",
                    if label { "label" } else { "subdomain" },
                    if label { "" } else { ", '.'" },
                    if label { 63 } else { 253 }
                ),
            );
        }
        for (where_, labels) in [
            ("metadata.labels", &o["metadata"]["labels"]),
            (
                "template labels",
                &o["spec"]["template"]["metadata"]["labels"],
            ),
        ] {
            for (k, v) in str_map(labels) {
                if !is_label_value(&v) {
                    problem(
                        "name",
                        rel,
                        &id(o),
                        format!("{where_}: {k}={v:?} is not a valid label value (at most 63 characters)"),
                    );
                }
            }
        }
        for c in arr(&o["spec"]["template"]["spec"]["containers"]) {
            let cn = c["name"].as_str().unwrap_or("");
            if !is_dns_label(cn) {
                problem(
                    "name",
                    rel,
                    &id(o),
                    format!("container name {cn:?} is not a DNS-1123 label"),
                );
            }
        }
        for v in arr(&o["spec"]["template"]["spec"]["volumes"])
            .iter()
            .chain(arr(&o["spec"]["volumeClaimTemplates"]))
        {
            let vn = v["name"]
                .as_str()
                .or(v["metadata"]["name"].as_str())
                .unwrap_or("");
            if !is_dns_label(vn) {
                problem(
                    "name",
                    rel,
                    &id(o),
                    format!("volume name {vn:?} is not a DNS-1123 label"),
                );
            }
        }
    }

    // The workloads' pods.
    let mut pods: Vec<Pod> = Vec::new();
    for (rel, o) in &objects {
        let kind = o["kind"].as_str().unwrap_or("");
        if kind != "Deployment" && kind != "StatefulSet" {
            continue;
        }
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        let base = str_map(&o["spec"]["template"]["metadata"]["labels"]);
        let replicas = o["spec"]["replicas"].as_u64().unwrap_or(1).max(1);
        let labels = if kind == "StatefulSet" {
            (0..replicas)
                .map(|i| {
                    let mut l = base.clone();
                    l.insert(POD_NAME_LABEL.into(), format!("{name}-{i}"));
                    l
                })
                .collect()
        } else {
            vec![base.clone()]
        };
        let sel = str_map(&o["spec"]["selector"]["matchLabels"]);
        if sel.is_empty() || !subset(&sel, &base) {
            problem(
                "selector",
                rel,
                &id(o),
                format!(
                    "spec.selector {sel:?} is not a subset of the pod template's labels {base:?}"
                ),
            );
        }
        pods.push(Pod {
            file: rel,
            object: id(o),
            labels,
            spec: &o["spec"]["template"]["spec"],
        });
    }
    let selects = |sel: &BTreeMap<String, String>| -> Vec<&Pod> {
        pods.iter()
            .filter(|p| p.labels.iter().any(|l| subset(sel, l)))
            .collect()
    };

    // Services, PDBs, NetworkPolicies select pods; Ingresses name Services.
    let mut services: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut node_ports: BTreeMap<u64, String> = BTreeMap::new();
    for (rel, o) in &objects {
        let kind = o["kind"].as_str().unwrap_or("");
        let spec = &o["spec"];
        match kind {
            "Service" => {
                let sel = str_map(&spec["selector"]);
                let selected = selects(&sel);
                if sel.is_empty() || selected.is_empty() {
                    problem(
                        "selector",
                        rel,
                        &id(o),
                        format!("spec.selector {sel:?} selects no pod of the stack"),
                    );
                }
                let mut nums = Vec::new();
                for p in arr(&spec["ports"]) {
                    let pn = p["name"].as_str().unwrap_or("");
                    if !is_port_name(pn) {
                        problem("port-name", rel, &id(o), port_name_message(pn));
                    }
                    let port = p["port"].as_u64().unwrap_or(0);
                    nums.push(port);
                    if !(1..=65535).contains(&port) {
                        problem(
                            "port",
                            rel,
                            &id(o),
                            format!("port {port} is outside 1-65535"),
                        );
                    }
                    if let Some(t) = p["targetPort"].as_u64() {
                        if !(1..=65535).contains(&t) {
                            problem(
                                "port",
                                rel,
                                &id(o),
                                format!("targetPort {t} is outside 1-65535"),
                            );
                        } else if !selected.is_empty()
                            && !selected.iter().any(|pod| {
                                arr(&pod.spec["containers"]).iter().any(|c| {
                                    arr(&c["ports"])
                                        .iter()
                                        .any(|cp| cp["containerPort"].as_u64() == Some(t))
                                })
                            })
                        {
                            problem(
                                "reference",
                                rel,
                                &id(o),
                                format!(
                                    "targetPort {t} is no container port of the pods it selects"
                                ),
                            );
                        }
                    }
                    if let Some(np) = p["nodePort"].as_u64() {
                        if !(30000..=32767).contains(&np) {
                            problem(
                                "port",
                                rel,
                                &id(o),
                                format!("nodePort {np} is outside the node port range 30000-32767"),
                            );
                        }
                        if let Some(other) = node_ports.insert(np, id(o)) {
                            problem(
                                "port",
                                rel,
                                &id(o),
                                format!("nodePort {np} is also used by {other}"),
                            );
                        }
                    }
                }
                services.insert(o["metadata"]["name"].as_str().unwrap_or("").into(), nums);
            }
            "PodDisruptionBudget" => {
                let sel = str_map(&spec["selector"]["matchLabels"]);
                if sel.is_empty() || selects(&sel).is_empty() {
                    problem(
                        "selector",
                        rel,
                        &id(o),
                        format!("spec.selector {sel:?} selects no pod of the stack"),
                    );
                }
            }
            "NetworkPolicy" => {
                let sel = str_map(&spec["podSelector"]["matchLabels"]);
                if sel.is_empty() || selects(&sel).is_empty() {
                    problem(
                        "selector",
                        rel,
                        &id(o),
                        format!("spec.podSelector {sel:?} selects no pod of the stack"),
                    );
                }
            }
            _ => {}
        }
    }
    for (rel, o) in &objects {
        match o["kind"].as_str().unwrap_or("") {
            "Ingress" => {
                for r in arr(&o["spec"]["rules"]) {
                    for p in arr(&r["http"]["paths"]) {
                        let svc = &p["backend"]["service"];
                        let n = svc["name"].as_str().unwrap_or("");
                        let port = svc["port"]["number"].as_u64();
                        match services.get(n) {
                            None => problem(
                                "reference",
                                rel,
                                &id(o),
                                format!("backend Service {n:?} does not exist"),
                            ),
                            Some(ports) if port.is_some_and(|x| !ports.contains(&x)) => problem(
                                "reference",
                                rel,
                                &id(o),
                                format!("backend Service {n:?} has no port {}", port.unwrap_or(0)),
                            ),
                            Some(_) => {}
                        }
                    }
                }
            }
            "StatefulSet" => {
                let sn = o["spec"]["serviceName"].as_str().unwrap_or("");
                if !services.contains_key(sn) {
                    problem(
                        "reference",
                        rel,
                        &id(o),
                        format!("serviceName {sn:?}: no such Service"),
                    );
                }
            }
            _ => {}
        }
    }

    // Quantities and enumerations: the schemas type them as strings.
    for (rel, o) in &objects {
        values_of(o, &mut |path, value| {
            let last = path.rsplit('.').next().unwrap_or("");
            let quantity = path.contains(".resources.") || last == "sizeLimit";
            if quantity {
                let ok = value
                    .as_str()
                    .map(|s| crate::schema::kind::parse_quantity(s).is_some())
                    .unwrap_or_else(|| value.as_u64().is_some_and(|n| n > 0));
                if !ok {
                    problem(
                        "quantity",
                        rel,
                        &id(o),
                        format!(
                            "{path}: {value} is not a Kubernetes quantity (such as 512Mi or 10Gi)"
                        ),
                    );
                }
            }
            let allowed: &[&str] = match last {
                "protocol" => &["TCP", "UDP", "SCTP"],
                "type" if path == "spec.type" && o["kind"] == "Service" => {
                    &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
                }
                "externalTrafficPolicy" | "internalTrafficPolicy" => &["Cluster", "Local"],
                "pathType" => &["Exact", "Prefix", "ImplementationSpecific"],
                "podManagementPolicy" => &["OrderedReady", "Parallel"],
                "type" if path == "spec.strategy.type" => &["Recreate", "RollingUpdate"],
                "medium" => &["", "Memory", "HugePages"],
                "dnsPolicy" => &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
                "operator" if path.contains("matchExpressions") => {
                    &["In", "NotIn", "Exists", "DoesNotExist"]
                }
                _ => return,
            };
            let is_access_mode = path.contains("accessModes");
            if !is_access_mode && !value.as_str().is_some_and(|s| allowed.contains(&s)) {
                problem(
                    "enum",
                    rel,
                    &id(o),
                    format!("{path}: {value} is not one of {}", allowed.join(", ")),
                );
            }
        });
        for m in arr(&o["spec"]["volumeClaimTemplates"])
            .iter()
            .flat_map(|c| arr(&c["spec"]["accessModes"]))
        {
            let ok = m.as_str().is_some_and(|s| {
                [
                    "ReadWriteOnce",
                    "ReadOnlyMany",
                    "ReadWriteMany",
                    "ReadWriteOncePod",
                ]
                .contains(&s)
            });
            if !ok {
                problem(
                    "enum",
                    rel,
                    &id(o),
                    format!("accessModes: {m} is not ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod"),
                );
            }
        }
    }

    // Each pod: its ports, volumes, mounts and references.
    // (port, protocol) -> (the node it is pinned to, the object) of each user.
    type Users = Vec<(Option<String>, String)>;
    let mut host_ports: BTreeMap<(u64, String), Users> = BTreeMap::new();
    for pod in &pods {
        let spec = pod.spec;
        let claims: BTreeSet<String> = objects
            .iter()
            .find(|(_, o)| id(o) == pod.object)
            .map(|(_, o)| {
                arr(&o["spec"]["volumeClaimTemplates"])
                    .iter()
                    .filter_map(|c| c["metadata"]["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut volumes: BTreeMap<String, Option<(&str, String)>> = BTreeMap::new();
        for v in arr(&spec["volumes"]) {
            let vn = v["name"].as_str().unwrap_or("").to_string();
            let source = if let Some(cm) = v["configMap"]["name"].as_str() {
                if !config_maps.contains_key(cm) {
                    problem(
                        "reference",
                        pod.file,
                        &pod.object,
                        format!("volume {vn}: ConfigMap {cm:?} does not exist"),
                    );
                }
                Some(("ConfigMap", cm.to_string()))
            } else if let Some(sn) = v["secret"]["secretName"].as_str() {
                if !secret_objs.contains_key(sn) {
                    problem(
                        "reference",
                        pod.file,
                        &pod.object,
                        format!("volume {vn}: Secret {sn:?} does not exist"),
                    );
                }
                Some(("Secret", sn.to_string()))
            } else if let Some(cn) = v["persistentVolumeClaim"]["claimName"].as_str() {
                if !claims.contains(cn) {
                    problem(
                        "reference",
                        pod.file,
                        &pod.object,
                        format!("volume {vn}: claim {cn:?} does not exist"),
                    );
                }
                None
            } else {
                None
            };
            if volumes.insert(vn.clone(), source).is_some() {
                problem(
                    "reference",
                    pod.file,
                    &pod.object,
                    format!("two volumes named {vn}"),
                );
            }
        }
        let node = str_map(&spec["nodeSelector"])
            .get("kubernetes.io/hostname")
            .cloned();
        for c in arr(&spec["containers"]) {
            let mut names = BTreeSet::new();
            for p in arr(&c["ports"]) {
                let pn = p["name"].as_str().unwrap_or("");
                if !is_port_name(pn) {
                    problem("port-name", pod.file, &pod.object, port_name_message(pn));
                }
                if !names.insert(pn.to_string()) {
                    problem(
                        "port-name",
                        pod.file,
                        &pod.object,
                        format!("two ports named {pn}"),
                    );
                }
                let proto = p["protocol"].as_str().unwrap_or("TCP").to_string();
                for field in ["containerPort", "hostPort"] {
                    if let Some(n) = p[field].as_i64() {
                        if !(1..=65535).contains(&n) {
                            problem(
                                "port",
                                pod.file,
                                &pod.object,
                                format!("{field} {n} is outside 1-65535"),
                            );
                        }
                    }
                }
                if let Some(h) = p["hostPort"].as_u64() {
                    host_ports
                        .entry((h, proto))
                        .or_default()
                        .push((node.clone(), pod.object.clone()));
                }
            }
            for m in arr(&c["volumeMounts"]) {
                let vn = m["name"].as_str().unwrap_or("");
                let source = match volumes.get(vn) {
                    Some(s) => s.clone(),
                    None if claims.contains(vn) => None,
                    None => {
                        problem(
                            "reference",
                            pod.file,
                            &pod.object,
                            format!(
                                "volumeMount {}: volume {vn:?} does not exist",
                                m["mountPath"].as_str().unwrap_or("")
                            ),
                        );
                        continue;
                    }
                };
                if let (Some(sub), Some((kind, obj))) = (m["subPath"].as_str(), source) {
                    let keys = if kind == "ConfigMap" {
                        config_maps.get(&obj)
                    } else {
                        secret_objs.get(&obj)
                    };
                    if keys.is_some_and(|k| !k.contains(sub)) {
                        problem(
                            "reference",
                            pod.file,
                            &pod.object,
                            format!(
                                "volumeMount {}: subPath {sub:?} is no key of {kind} {obj:?}",
                                m["mountPath"].as_str().unwrap_or("")
                            ),
                        );
                    }
                }
            }
            // A probe's port: in range, and one the container declares
            // (a host-network pod declares none).
            for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                for handler in ["httpGet", "tcpSocket"] {
                    let port = &c[probe][handler]["port"];
                    if port.is_null() {
                        continue;
                    }
                    let declared = arr(&c["ports"]).iter().any(|p| {
                        p["containerPort"] == *port || (port.is_string() && p["name"] == *port)
                    });
                    if let Some(n) = port.as_i64().filter(|n| !(1..=65535).contains(n)) {
                        problem(
                            "port",
                            pod.file,
                            &pod.object,
                            format!("{probe}.{handler}.port {n} is outside 1-65535"),
                        );
                    } else if !declared && spec["hostNetwork"] != true {
                        problem(
                            "reference",
                            pod.file,
                            &pod.object,
                            format!("{probe}.{handler}.port {port} is no port of the container"),
                        );
                    }
                }
            }
            for e in arr(&c["env"]) {
                for (field, kind, known) in [
                    ("secretKeyRef", "Secret", &secret_objs),
                    ("configMapKeyRef", "ConfigMap", &config_maps),
                ] {
                    let r = &e["valueFrom"][field];
                    let Some(n) = r["name"].as_str() else {
                        continue;
                    };
                    let key = r["key"].as_str().unwrap_or("");
                    let var = e["name"].as_str().unwrap_or("");
                    match known.get(n) {
                        None => problem(
                            "reference",
                            pod.file,
                            &pod.object,
                            format!("env {var}: {kind} {n:?} does not exist"),
                        ),
                        Some(keys) if !keys.contains(key) => problem(
                            "reference",
                            pod.file,
                            &pod.object,
                            format!("env {var}: {key:?} is no key of {kind} {n:?}"),
                        ),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    // One hostPort per node: a pod pinned nowhere may land on any node.
    for ((port, proto), users) in &host_ports {
        for (i, (na, a)) in users.iter().enumerate() {
            for (nb, b) in &users[i + 1..] {
                if na.is_none() || nb.is_none() || na == nb {
                    let file = pods.iter().find(|p| &p.object == b).map_or("", |p| p.file);
                    problem(
                        "host-port",
                        file,
                        b,
                        format!(
                            "hostPort {port}/{proto} is also used by {a}{}: two pods cannot hold one node's port",
                            match na {
                                Some(n) => format!(" on node {n}"),
                                None => " (on any node)".into(),
                            }
                        ),
                    );
                }
            }
        }
    }
    // A problem met on several paths (an Ingress's three rules) once.
    out.dedup();
    out
}

/// Calls `f` with the dotted path (array indices left out) and value of
/// every scalar under `v`.
fn values_of(v: &Value, f: &mut dyn FnMut(&str, &Value)) {
    fn walk(v: &Value, path: &mut String, f: &mut dyn FnMut(&str, &Value)) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    walk(x, path, f);
                    path.truncate(len);
                }
            }
            Value::Array(a) => {
                for x in a {
                    walk(x, path, f);
                }
            }
            scalar => f(path, scalar),
        }
    }
    walk(v, &mut String::new(), f);
}

fn port_name_message(name: &str) -> String {
    format!(
        "port name {name:?} is not an IANA service name (at most 15 of a-z, 0-9, '-', with a letter, no '-' at either end or twice)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_forms() {
        assert!(is_dns_label("jvb-2-0"));
        assert!(!is_dns_label("Jvb"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(!is_dns_label("-a"));
        assert!(is_dns_subdomain("prosody-config.x"));
        assert!(!is_dns_subdomain(&"a.".repeat(127)));
        assert!(is_port_name("udp-10000"));
        assert!(!is_port_name("udp-100000000000"));
        assert!(!is_port_name("10000"));
        assert!(!is_port_name("udp--1"));
        assert!(!is_port_name("UDP-1"));
    }
}
