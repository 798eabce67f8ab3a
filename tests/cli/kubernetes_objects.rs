//! What the objects of the Kubernetes render are, held against what the
//! compose target runs for the same `.env` (`docker compose config`):
//! web's Ingress for each supported Ingress controller; prosody as one
//! StatefulSet with its data in a claim and a headless Service; jicofo as
//! one `Recreate` Deployment; every pod's identity and security context;
//! compose's tmpfs mounts as memory emptyDirs of the same sizes; the probes
//! from the model's health checks; the images; the bridges' graceful stop
//! and disruption budget; jibri's shared memory. `shape_problems` says what
//! is wrong; the test shows each requirement failing on a broken copy.

use crate::harness::{init_stack, Test};
use crate::kubernetes::{
    compose_config, config, documents, find, kustomize, render_both, validate, versions_to_check,
};
use serde_json::{json, Value};

/// A size in bytes: compose's (`16M`, `2gb`, a plain number of bytes) or
/// a Kubernetes quantity (`16Mi`, `2Gi`).
fn bytes(size: &str) -> u64 {
    let s = size.trim().to_ascii_lowercase();
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = digits.parse().unwrap_or_else(|_| panic!("size {size:?}"));
    let shift = match s[digits.len()..].trim_end_matches(['b', 'i']) {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        other => panic!("size {size:?}: unit {other:?}"),
    };
    n << shift
}

/// Seconds of a compose duration (`10s`, `1m30s`).
fn seconds(d: &str) -> u64 {
    let (mut total, mut n) = (0, 0);
    for c in d.chars() {
        match c {
            '0'..='9' => n = n * 10 + u64::from(c.to_digit(10).unwrap()),
            'h' => (total, n) = (total + n * 3600, 0),
            'm' => (total, n) = (total + n * 60, 0),
            's' => (total, n) = (total + n, 0),
            _ => panic!("duration {d:?}"),
        }
    }
    total + n
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Every selector label is among the pod template's labels.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| &labels[k] == v))
}

/// The uid and gid each pod runs as, and the pods with a writable root
/// (docs/kubernetes.md, "Every pod": their images write inside their own
/// tree), by the container's name (the service's kind).
fn expected_identity(kind: &str) -> (u64, u64, bool) {
    match kind {
        "etherpad" => (5001, 0, false),
        "grafana" | "whiteboard" => (1000, 1000, false),
        _ => (1000, 1000, true),
    }
}

/// The graceful-stop command of the services that hold calls.
fn expected_pre_stop(kind: &str) -> Option<Value> {
    match kind {
        "jvb" => Some(json!([
            "/usr/share/jitsi-videobridge/graceful_shutdown.sh",
            "-p",
            "1",
            "-t",
            "25"
        ])),
        "jigasi" | "transcriber" => Some(json!([
            "/usr/share/jigasi/graceful_shutdown.sh",
            "-p",
            "1",
            "-t",
            "25"
        ])),
        "jibri" => Some(json!(["/opt/jitsi/jibri/wait_graceful_shutdown.sh"])),
        _ => None,
    }
}

/// The probe handler compose's health check `test` stands for: the
/// command after `CMD`, or the kubelet's GET for compose's `curl -f` of a
/// loopback URL.
fn expected_handler(test: &[Value]) -> Value {
    let argv: Vec<&str> = test.iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(argv[0], "CMD", "{argv:?}");
    if argv[1] == "curl" {
        let url = argv.last().unwrap();
        let rest = url
            .strip_prefix("http://127.0.0.1:")
            .expect("a loopback URL");
        let (port, path) = rest.split_once('/').unwrap();
        return json!({"httpGet": {"path": format!("/{path}"), "port": port.parse::<u64>().unwrap()}});
    }
    json!({"exec": {"command": argv[1..]}})
}

fn handler_of(probe: &Value) -> Value {
    let mut h = serde_json::Map::new();
    for k in ["exec", "httpGet", "tcpSocket"] {
        if !probe[k].is_null() {
            h.insert(k.into(), probe[k].clone());
        }
    }
    Value::Object(h)
}

/// Where compose mounts `service`'s directories under `${CONFIG}/storage/`
/// (what the image writes: prosody's accounts, jibri's recordings).
fn storage_targets(compose: &Value, service: &str) -> Vec<String> {
    let config = compose["services"]["prosody"]["volumes"][0]["source"]
        .as_str()
        .map(|s| s.rsplit_once("/prosody").unwrap().0.to_string())
        .unwrap();
    let mut out: Vec<String> = arr(&compose["services"][service]["volumes"])
        .iter()
        .filter(|v| {
            v["type"] == "bind"
                && v["source"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&format!("{config}/storage/")))
        })
        .map(|v| v["target"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// What is wrong with the built objects `docs`, given compose's merged
/// model `compose` of the same stack: one line per broken requirement.
fn shape_problems(docs: &[Value], compose: &Value) -> Vec<String> {
    let mut p = vec![];
    let workloads: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
        .collect();

    // prosody: one replica, its data directories as claims, a headless
    // Service named after the StatefulSet, and the `xmpp` Service.
    match find(docs, "StatefulSet", "prosody") {
        None => p.push("prosody: no StatefulSet".into()),
        Some(sts) => {
            if sts["spec"]["replicas"] != 1 {
                p.push(format!("prosody: {} replicas", sts["spec"]["replicas"]));
            }
            let claims: Vec<&Value> = arr(&sts["spec"]["volumeClaimTemplates"]).iter().collect();
            let c = &sts["spec"]["template"]["spec"]["containers"][0];
            let mut claimed: Vec<String> = arr(&c["volumeMounts"])
                .iter()
                .filter(|m| claims.iter().any(|cl| cl["metadata"]["name"] == m["name"]))
                .map(|m| m["mountPath"].as_str().unwrap().to_string())
                .collect();
            claimed.sort();
            // Where compose mounts prosody's data directory (accounts).
            let data = storage_targets(compose, "prosody");
            if claimed.is_empty() || claimed != data {
                p.push(format!(
                    "prosody: claims mounted at {claimed:?}, compose's data directory at {data:?}"
                ));
            }
            for cl in &claims {
                if cl["spec"]["accessModes"] != json!(["ReadWriteOnce"]) {
                    p.push(format!(
                        "prosody: claim access modes {}",
                        cl["spec"]["accessModes"]
                    ));
                }
            }
            if sts["spec"]["serviceName"] != "prosody" {
                p.push("prosody: serviceName is not its headless Service".into());
            }
        }
    }
    match find(docs, "Service", "prosody") {
        Some(svc) if svc["spec"]["clusterIP"] == "None" => {}
        _ => p.push("prosody: its Service is not headless".into()),
    }
    match find(docs, "Service", "xmpp") {
        Some(svc)
            if svc["spec"]["clusterIP"].is_null()
                && arr(&svc["spec"]["ports"]).iter().any(|x| x["port"] == 5222) =>
        {
            if !selects(
                &svc["spec"]["selector"],
                &find(docs, "StatefulSet", "prosody").unwrap()["spec"]["template"]["metadata"]
                    ["labels"],
            ) {
                p.push("xmpp: does not select prosody's pod".into());
            }
        }
        _ => p.push("xmpp: no client Service with port 5222".into()),
    }

    // prosody's ports only from the XMPP clients (no nodes outside here).
    match find(docs, "NetworkPolicy", "prosody-clients") {
        None => p.push("prosody-clients: no NetworkPolicy".into()),
        Some(np) => {
            let spec = &np["spec"];
            let want_from = json!([{"podSelector": {"matchExpressions": [{
                "key": "app.kubernetes.io/component",
                "operator": "In",
                "values": ["jicofo", "jvb", "jibri", "jigasi", "transcriber", "web"],
            }]}}]);
            let mut want_ports: Vec<u64> = arr(&compose["services"]["prosody"]["expose"])
                .iter()
                .map(|e| e.as_str().unwrap().parse().unwrap())
                .collect();
            want_ports.sort();
            let rules = arr(&spec["ingress"]);
            let mut ports: Vec<u64> = rules
                .first()
                .map(|r| {
                    arr(&r["ports"])
                        .iter()
                        .filter_map(|x| x["port"].as_u64())
                        .collect()
                })
                .unwrap_or_default();
            ports.sort();
            let prosody_labels = find(docs, "StatefulSet", "prosody")
                .map(|s| s["spec"]["template"]["metadata"]["labels"].clone())
                .unwrap_or_default();
            if spec["policyTypes"] != json!(["Ingress"])
                || !selects(&spec["podSelector"]["matchLabels"], &prosody_labels)
                || rules.len() != 1
                || rules[0]["from"] != want_from
                || ports != want_ports
            {
                p.push(format!(
                    "prosody-clients: {spec} is not: ports {want_ports:?} from {want_from} only"
                ));
            }
        }
    }

    // jicofo: one at a time.
    match find(docs, "Deployment", "jicofo") {
        None => p.push("jicofo: no Deployment".into()),
        Some(d) => {
            if d["spec"]["replicas"] != 1 {
                p.push(format!("jicofo: {} replicas", d["spec"]["replicas"]));
            }
            if d["spec"]["strategy"]["type"] != "Recreate" {
                p.push(format!("jicofo: strategy {}", d["spec"]["strategy"]));
            }
        }
    }

    for w in &workloads {
        let name = w["metadata"]["name"].as_str().unwrap();
        let svc = &compose["services"][name];
        let pod = &w["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        let kind = c["name"].as_str().unwrap();
        let volumes = arr(&pod["volumes"]);
        let volume_at = |path: &str| -> Option<&Value> {
            let m = arr(&c["volumeMounts"])
                .iter()
                .find(|m| m["mountPath"] == path)?;
            volumes.iter().find(|v| v["name"] == m["name"])
        };

        // Nothing outside the stack reaches an internal port: only what
        // compose publishes to everyone (and web's port, the Ingress's
        // backend) is open to anyone; prosody has its own policy above.
        if name != "prosody" && pod["hostNetwork"] != true {
            let labels = &w["spec"]["template"]["metadata"]["labels"];
            let policies: Vec<&Value> = docs
                .iter()
                .filter(|d| d["kind"] == "NetworkPolicy")
                .filter(|d| selects(&d["spec"]["podSelector"]["matchLabels"], labels))
                .collect();
            if policies.is_empty() {
                p.push(format!("{name}: no NetworkPolicy"));
            }
            let public: Vec<u64> = arr(&svc["ports"])
                .iter()
                .filter(|x| x["host_ip"].as_str().is_none_or(|h| h == "0.0.0.0"))
                .filter_map(|x| x["target"].as_u64())
                .chain((kind == "web").then_some(8000))
                .collect();
            let stack_only = json!([{"podSelector": {"matchExpressions": [{
                "key": "app.kubernetes.io/part-of", "operator": "In", "values": ["jitsi"]}]}}]);
            for rule in policies.iter().flat_map(|np| arr(&np["spec"]["ingress"])) {
                if rule["from"].is_null() {
                    if arr(&rule["ports"]).is_empty() {
                        p.push(format!("{name}: every port open to anyone"));
                    }
                    for port in arr(&rule["ports"]) {
                        let n = port["port"].as_u64().unwrap_or(0);
                        if !public.contains(&n) {
                            p.push(format!(
                                "{name}: port {n} open to anyone, compose does not publish it to everyone"
                            ));
                        }
                    }
                } else if rule["from"] != stack_only {
                    p.push(format!("{name}: a rule from {}", rule["from"]));
                }
            }
        }

        if c["image"] != svc["image"] {
            p.push(format!(
                "{name}: image {}, compose runs {}",
                c["image"], svc["image"]
            ));
        }

        // Identity and security context.
        let (uid, gid, read_only) = expected_identity(kind);
        let sc = &pod["securityContext"];
        if sc["runAsUser"] != uid || sc["runAsGroup"] != gid {
            p.push(format!(
                "{name}: runs as uid {} gid {}, expected {uid}:{gid}",
                sc["runAsUser"], sc["runAsGroup"]
            ));
        }
        if pod["automountServiceAccountToken"] != false {
            p.push(format!("{name}: the service-account token is mounted"));
        }
        let csc = &c["securityContext"];
        if csc["readOnlyRootFilesystem"] != read_only {
            p.push(format!(
                "{name}: readOnlyRootFilesystem {}, expected {read_only}",
                csc["readOnlyRootFilesystem"]
            ));
        }
        if svc["read_only"] == true && csc["readOnlyRootFilesystem"] != true {
            p.push(format!(
                "{name}: compose runs it read-only, the pod has a writable root"
            ));
        }
        if csc["allowPrivilegeEscalation"] != false || csc["runAsNonRoot"] != true {
            p.push(format!(
                "{name}: allowPrivilegeEscalation {} runAsNonRoot {}",
                csc["allowPrivilegeEscalation"], csc["runAsNonRoot"]
            ));
        }
        if csc["capabilities"]["drop"] != json!(["ALL"]) {
            p.push(format!("{name}: capabilities not all dropped"));
        }

        // Compose's tmpfs mounts: memory emptyDirs of the same size.
        for t in arr(&svc["tmpfs"]) {
            let t = t.as_str().unwrap();
            let (path, opts) = t.split_once(':').unwrap_or((t, ""));
            let size = opts
                .split(',')
                .find_map(|o| o.strip_prefix("size="))
                .unwrap_or_else(|| panic!("{name}: tmpfs {t} without a size"));
            let ok = volume_at(path).is_some_and(|v| {
                v["emptyDir"]["medium"] == "Memory"
                    && v["emptyDir"]["sizeLimit"]
                        .as_str()
                        .is_some_and(|q| bytes(q) == bytes(size))
            });
            if !ok {
                p.push(format!(
                    "{name}: tmpfs {path} (size {size}) is not a memory emptyDir of that size"
                ));
            }
        }
        // jibri's shared memory: compose's shm_size (2gb) as /dev/shm, and
        // a memory limit that holds it and Chrome.
        if kind == "jibri" {
            let shm = bytes(svc["shm_size"].as_str().unwrap_or("0"));
            let ok = volume_at("/dev/shm").is_some_and(|v| {
                v["emptyDir"]["medium"] == "Memory"
                    && v["emptyDir"]["sizeLimit"].as_str().map(bytes) == Some(shm)
            });
            if shm != 2 << 30 || !ok {
                p.push(format!(
                    "{name}: /dev/shm is not a 2Gi memory emptyDir (compose's shm_size {})",
                    svc["shm_size"]
                ));
            }
            let limit = c["resources"]["limits"]["memory"].as_str().map_or(0, bytes);
            if limit < shm + (1 << 30) {
                p.push(format!(
                    "{name}: memory limit {} does not hold /dev/shm and Chrome",
                    c["resources"]["limits"]["memory"]
                ));
            }
            let claims = arr(&w["spec"]["volumeClaimTemplates"]);
            let at: Vec<String> = arr(&c["volumeMounts"])
                .iter()
                .filter(|m| claims.iter().any(|cl| cl["metadata"]["name"] == m["name"]))
                .map(|m| m["mountPath"].as_str().unwrap().to_string())
                .collect();
            if claims.len() != 1
                || claims[0]["spec"]["accessModes"] != json!(["ReadWriteOnce"])
                || at != storage_targets(compose, name)
            {
                p.push(format!(
                    "{name}: not one ReadWriteOnce recordings claim at compose's storage directory"
                ));
            }
        }

        // Probes: compose's health check as the kubelet runs it.
        let hc = &svc["healthcheck"];
        let probes = ["startupProbe", "readinessProbe", "livenessProbe"];
        if hc.is_null() || hc["disable"] == true {
            if probes.iter().any(|k| !c[*k].is_null()) {
                p.push(format!("{name}: probes without a compose health check"));
            }
        } else {
            let want = expected_handler(arr(&hc["test"]));
            let interval = seconds(hc["interval"].as_str().unwrap());
            let timeout = seconds(hc["timeout"].as_str().unwrap());
            let retries = hc["retries"].as_u64().unwrap();
            let start = seconds(hc["start_period"].as_str().unwrap_or("0s"));
            for k in probes {
                let pr = &c[k];
                if handler_of(pr) != want
                    || pr["periodSeconds"] != interval
                    || pr["timeoutSeconds"] != timeout
                {
                    p.push(format!(
                        "{name}: {k} {pr} is not compose's health check {hc}"
                    ));
                }
            }
            for k in ["readinessProbe", "livenessProbe"] {
                if c[k]["failureThreshold"] != retries {
                    p.push(format!("{name}: {k} failureThreshold is not {retries}"));
                }
            }
            // The startup probe allows the start period, then the retries.
            let budget = c["startupProbe"]["failureThreshold"].as_u64().unwrap_or(0) * interval;
            if budget < start + retries * interval {
                p.push(format!(
                    "{name}: the startup probe allows {budget} s, less than the start period {start} s and {retries} retries"
                ));
            }
        }

        // The services that hold calls stop gracefully.
        match expected_pre_stop(kind) {
            Some(cmd) => {
                if c["lifecycle"]["preStop"]["exec"]["command"] != cmd {
                    p.push(format!(
                        "{name}: preStop {} is not the graceful stop {cmd}",
                        c["lifecycle"]["preStop"]
                    ));
                }
                if pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(0) < 3600 {
                    p.push(format!(
                        "{name}: terminationGracePeriodSeconds {} is shorter than an hour",
                        pod["terminationGracePeriodSeconds"]
                    ));
                }
            }
            None => {
                if !c["lifecycle"].is_null() {
                    p.push(format!("{name}: a preStop hook it has no use for"));
                }
            }
        }
        if kind == "jvb" {
            let labels = &w["spec"]["template"]["metadata"]["labels"];
            let budgets: Vec<&Value> = docs
                .iter()
                .filter(|d| d["kind"] == "PodDisruptionBudget")
                .filter(|d| selects(&d["spec"]["selector"]["matchLabels"], labels))
                .collect();
            if budgets.len() != 1 || budgets[0]["spec"]["maxUnavailable"] != 1 {
                p.push(format!(
                    "{name}: not in one PodDisruptionBudget with maxUnavailable 1"
                ));
            }
            if w["kind"] != "StatefulSet" || w["spec"]["podManagementPolicy"] != "Parallel" {
                p.push(format!("{name}: not a Parallel StatefulSet"));
            }
        }
    }
    p
}

/// Every component, two bridges and two recorders.
fn everything() -> crate::kubernetes::Config {
    let mut vars: Vec<(&str, &str)> = crate::matrix::SIP.to_vec();
    vars.extend_from_slice(&[
        ("ENABLE_RECORDING", "1"),
        ("ENABLE_TRANSCRIPTIONS", "1"),
        ("JVB_INSTANCES", "2"),
        ("JIBRI_INSTANCES", "2"),
    ]);
    config(
        "shapes",
        "jibri,jigasi,transcriber,etherpad,whiteboard,turn,monitoring",
        &vars,
    )
}

fn object<'a>(docs: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    docs.iter_mut()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn container<'a>(docs: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    &mut object(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]
}

fn volume<'a>(docs: &'a mut [Value], kind: &str, name: &str, volume: &str) -> &'a mut Value {
    let pod = &mut object(docs, kind, name)["spec"]["template"]["spec"];
    pod["volumes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|v| v["name"] == volume)
        .unwrap_or_else(|| panic!("{name}: no volume {volume}"))
}

type Break = fn(&mut Vec<Value>);

#[test]
fn kubernetes_objects_are_shaped_as_compose_runs_them() {
    let run = render_both(&everything());
    let docs = documents(&kustomize(run.path()));
    let compose = compose_config(run.path());
    assert_eq!(shape_problems(&docs, &compose), Vec::<String>::new());

    // Each requirement, broken in a copy, is reported.
    let breaks: &[(&str, Break)] = &[
        ("prosody: 2 replicas", |d| {
            object(d, "StatefulSet", "prosody")["spec"]["replicas"] = json!(2)
        }),
        ("prosody: claims mounted at", |d| {
            let c = container(d, "StatefulSet", "prosody");
            for m in c["volumeMounts"].as_array_mut().unwrap() {
                if m["mountPath"] == "/var/lib/prosody" {
                    m["mountPath"] = json!("/data");
                }
            }
        }),
        ("prosody: claim access modes", |d| {
            object(d, "StatefulSet", "prosody")["spec"]["volumeClaimTemplates"][0]["spec"]
                ["accessModes"] = json!(["ReadWriteMany"])
        }),
        ("prosody: its Service is not headless", |d| {
            object(d, "Service", "prosody")["spec"]
                .as_object_mut()
                .unwrap()
                .remove("clusterIP");
        }),
        ("xmpp: no client Service", |d| {
            object(d, "Service", "xmpp")["spec"]["ports"] = json!([{"port": 5280}])
        }),
        ("prosody-clients: ", |d| {
            object(d, "NetworkPolicy", "prosody-clients")["spec"]["ingress"][0]["from"][0]
                ["podSelector"]["matchExpressions"][0]["values"]
                .as_array_mut()
                .unwrap()
                .push(json!("etherpad"))
        }),
        ("prosody-clients: ", |d| {
            object(d, "NetworkPolicy", "prosody-clients")["spec"]["ingress"][0]["ports"]
                .as_array_mut()
                .unwrap()
                .pop();
        }),
        ("prosody-clients: ", |d| {
            object(d, "NetworkPolicy", "prosody-clients")["spec"]["ingress"]
                .as_array_mut()
                .unwrap()
                .push(json!({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}))
        }),
        ("prosody-clients: no NetworkPolicy", |d| {
            d.retain(|o| o["kind"] != "NetworkPolicy")
        }),
        ("jvb: port 8080 open to anyone", |d| {
            object(d, "NetworkPolicy", "jvb-inbound")["spec"]["ingress"][1]["ports"]
                .as_array_mut()
                .unwrap()
                .push(json!({"protocol": "TCP", "port": 8080}))
        }),
        ("jicofo: every port open to anyone", |d| {
            object(d, "NetworkPolicy", "jicofo-inbound")["spec"]["ingress"]
                .as_array_mut()
                .unwrap()
                .push(json!({}))
        }),
        ("jicofo: a rule from", |d| {
            object(d, "NetworkPolicy", "jicofo-inbound")["spec"]["ingress"][0]["from"] =
                json!([{"ipBlock": {"cidr": "0.0.0.0/0"}}])
        }),
        ("etherpad: no NetworkPolicy", |d| {
            d.retain(|o| o["metadata"]["name"] != "etherpad-inbound")
        }),
        ("jicofo: strategy", |d| {
            object(d, "Deployment", "jicofo")["spec"]["strategy"] = json!({"type": "RollingUpdate"})
        }),
        ("jicofo: 2 replicas", |d| {
            object(d, "Deployment", "jicofo")["spec"]["replicas"] = json!(2)
        }),
        ("web: image", |d| {
            let c = container(d, "Deployment", "web");
            c["image"] = json!(c["image"].as_str().unwrap().replace("stable-", "unstable-"));
        }),
        ("jvb: the service-account token is mounted", |d| {
            object(d, "StatefulSet", "jvb")["spec"]["template"]["spec"]
                ["automountServiceAccountToken"] = json!(true)
        }),
        ("jicofo: runs as uid 0", |d| {
            object(d, "Deployment", "jicofo")["spec"]["template"]["spec"]["securityContext"]
                ["runAsUser"] = json!(0)
        }),
        ("etherpad: runs as uid 1000", |d| {
            object(d, "Deployment", "etherpad")["spec"]["template"]["spec"]["securityContext"]
                ["runAsUser"] = json!(1000)
        }),
        ("prosody: compose runs it read-only", |d| {
            container(d, "StatefulSet", "prosody")["securityContext"]["readOnlyRootFilesystem"] =
                json!(false)
        }),
        ("prometheus: readOnlyRootFilesystem false", |d| {
            container(d, "Deployment", "prometheus")["securityContext"]["readOnlyRootFilesystem"] =
                json!(false)
        }),
        ("web: allowPrivilegeEscalation true", |d| {
            container(d, "Deployment", "web")["securityContext"]["allowPrivilegeEscalation"] =
                json!(true)
        }),
        ("jicofo: tmpfs /run (size 16M)", |d| {
            volume(d, "Deployment", "jicofo", "tmpfs-run")["emptyDir"]["sizeLimit"] = json!("32Mi")
        }),
        ("jibri: tmpfs /tmp (size 256M)", |d| {
            volume(d, "StatefulSet", "jibri", "tmpfs-tmp")["emptyDir"]
                .as_object_mut()
                .unwrap()
                .remove("medium");
        }),
        ("prosody: readinessProbe", |d| {
            container(d, "StatefulSet", "prosody")["readinessProbe"]["exec"]["command"] =
                json!(["true"])
        }),
        ("web: livenessProbe", |d| {
            container(d, "Deployment", "web")["livenessProbe"]["httpGet"]["port"] = json!(80)
        }),
        ("jvb: the startup probe allows", |d| {
            container(d, "StatefulSet", "jvb")["startupProbe"]["failureThreshold"] = json!(1)
        }),
        ("jicofo: readinessProbe failureThreshold", |d| {
            container(d, "Deployment", "jicofo")["readinessProbe"]["failureThreshold"] = json!(1)
        }),
        ("etherpad: probes without a compose health check", |d| {
            container(d, "Deployment", "etherpad")["livenessProbe"] =
                json!({"exec": {"command": ["true"]}})
        }),
        ("jvb-2: preStop", |d| {
            container(d, "StatefulSet", "jvb-2")
                .as_object_mut()
                .unwrap()
                .remove("lifecycle");
        }),
        ("jigasi: preStop", |d| {
            container(d, "Deployment", "jigasi")["lifecycle"]["preStop"]["exec"]["command"] =
                json!(["/usr/share/jigasi/graceful_shutdown.sh"])
        }),
        ("jvb: terminationGracePeriodSeconds", |d| {
            object(d, "StatefulSet", "jvb")["spec"]["template"]["spec"]
                ["terminationGracePeriodSeconds"] = json!(30)
        }),
        ("jvb-2: not in one PodDisruptionBudget", |d| {
            d.retain(|o| o["kind"] != "PodDisruptionBudget")
        }),
        ("jvb: not a Parallel StatefulSet", |d| {
            object(d, "StatefulSet", "jvb")["spec"]["podManagementPolicy"] = json!("OrderedReady")
        }),
        ("jibri-2: /dev/shm is not a 2Gi memory emptyDir", |d| {
            volume(d, "StatefulSet", "jibri-2", "dshm")["emptyDir"]["sizeLimit"] = json!("64Mi")
        }),
        ("jibri: memory limit", |d| {
            container(d, "StatefulSet", "jibri")["resources"]["limits"]["memory"] = json!("2Gi")
        }),
        ("jibri: not one ReadWriteOnce recordings claim", |d| {
            object(d, "StatefulSet", "jibri")["spec"]["volumeClaimTemplates"] = json!([])
        }),
    ];
    for (needle, break_it) in breaks {
        let mut copy = docs.clone();
        break_it(&mut copy);
        let problems = shape_problems(&copy, &compose);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "a copy broken for {needle:?} gave:\n{}",
            problems.join("\n")
        );
    }
}

/// web's Ingress for `controller` (unset: the default) and an Ingress
/// class of `class` (unset: the controller's name).
fn ingress_of(controller: Option<&str>, class: Option<&str>) -> Value {
    let mut vars = vec![];
    if let Some(c) = controller {
        vars.push(("JITSI_STACK_K8S_INGRESS_CONTROLLER", c));
    }
    if let Some(c) = class {
        vars.push(("JITSI_STACK_K8S_INGRESS_CLASS", c));
    }
    let run = init_stack(&vars, &[]);
    let run = Test::again(run).args(["check"]).run();
    let run = Test::again(run)
        .args(["render", "--target", "kubernetes"])
        .run();
    let yaml = kustomize(run.path());
    validate(&yaml, &versions_to_check()[1]).unwrap();
    let docs = documents(&yaml);
    find(&docs, "Ingress", "web")
        .expect("web's Ingress")
        .clone()
}

#[test]
fn kubernetes_ingress_carries_the_chosen_controllers_timeouts_and_websockets() {
    // The annotation names and values each controller documents for
    // long-lived requests (BOSH) and websockets.
    for (controller, want) in [
        (
            None,
            json!({
                "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
                "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
                "nginx.ingress.kubernetes.io/proxy-body-size": "0",
            }),
        ),
        (
            Some("haproxy"),
            json!({"haproxy.org/timeout-server": "3600s"}),
        ),
        (
            Some("contour"),
            json!({
                "projectcontour.io/response-timeout": "3600s",
                "projectcontour.io/websocket-routes": "/xmpp-websocket",
            }),
        ),
        (Some("traefik"), Value::Null),
    ] {
        let ing = ingress_of(controller, None);
        let name = controller.unwrap_or("nginx");
        assert_eq!(ing["metadata"]["annotations"], want, "{name}");
        assert_eq!(ing["spec"]["ingressClassName"], name, "{name}");
        assert_eq!(
            ing["spec"]["tls"],
            json!([{"hosts": ["meet.example.org"], "secretName": "jitsi-tls"}])
        );
        let paths = &ing["spec"]["rules"][0]["http"]["paths"];
        let backend = json!({"service": {"name": "web", "port": {"number": 8000}}});
        assert_eq!(
            paths,
            &json!([
                {"path": "/xmpp-websocket", "pathType": "Prefix", "backend": backend},
                {"path": "/http-bind", "pathType": "Prefix", "backend": backend},
                {"path": "/", "pathType": "Prefix", "backend": backend},
            ]),
            "{name}"
        );
        // Contour upgrades only the routes it is told: each is a rule's path.
        if let Some(routes) = want["projectcontour.io/websocket-routes"].as_str() {
            for r in routes.split(',') {
                assert!(arr(paths).iter().any(|p| p["path"] == r.trim()), "{r}");
            }
        }
    }
    // An explicit class wins over the controller's name.
    let ing = ingress_of(Some("haproxy"), Some("haproxy-internal"));
    assert_eq!(ing["spec"]["ingressClassName"], "haproxy-internal");
    assert_eq!(
        ing["metadata"]["annotations"],
        json!({"haproxy.org/timeout-server": "3600s"})
    );
    // web's port is the Ingress's backend, open to the controller's
    // namespace even where compose publishes it on loopback only.
    let run = init_stack(&[("JITSI_STACK_BEHIND_PROXY", "1")], &[]);
    let run = Test::again(run)
        .args(["render", "--target", "kubernetes"])
        .run();
    let docs = documents(&kustomize(run.path()));
    let np = find(&docs, "NetworkPolicy", "web-inbound").expect("web-inbound");
    let open: Vec<&Value> = arr(&np["spec"]["ingress"])
        .iter()
        .filter(|r| r["from"].is_null())
        .flat_map(|r| arr(&r["ports"]))
        .collect();
    assert_eq!(
        open,
        [&json!({"protocol": "TCP", "port": 8000})],
        "{}",
        np["spec"]
    );
    // A misspelt controller is refused by check, with the fix.
    let run = init_stack(&[("JITSI_STACK_K8S_INGRESS_CONTROLLER", "trafik")], &[]);
    let run = Test::again(run).args(["check"]).status(1).run();
    assert!(
        run.stderr.contains("JITSI_STACK_K8S_INGRESS_CONTROLLER")
            && run.stderr.contains("did you mean traefik?"),
        "{}",
        run.stderr
    );
}
