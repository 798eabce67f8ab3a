//! Visitor nodes (`JITSI_STACK_VISITORS`) on the Kubernetes target, held
//! against what the compose target derives for the same `.env` (`docker
//! compose config`): each node a StatefulSet of one pod with a Service of
//! its own name and compose's ports; main prosody's s2s targets, jicofo's
//! visitors targets, the nodes' way back to main and nginx's `?vnode=` map
//! name those Services (their cluster names, docs/kubernetes.md); the
//! NetworkPolicies let a node's s2s in from main prosody only, its client
//! port from jicofo only, its HTTP from web only, and main's s2s port from
//! the nodes only. `visitor_problems` says what is wrong; each requirement
//! is shown failing on a broken copy.

use crate::kubernetes::{
    check_configs, compose_config, config, documents, find, kustomize, render_both,
    versions_to_check, Config,
};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const NS: &str = "meet-prod";
const DOMAIN: &str = "k8s.example";

fn visitors_config() -> Config {
    config(
        "visitors-2-namespace",
        "",
        &[
            ("ENABLE_VISITORS", "1"),
            ("JITSI_STACK_VISITORS", "2"),
            ("JITSI_STACK_K8S_NAMESPACE", NS),
            ("JITSI_STACK_K8S_CLUSTER_DOMAIN", DOMAIN),
        ],
    )
}

fn fqdn(service: &str) -> String {
    format!("{service}.{NS}.svc.{DOMAIN}")
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn workload<'a>(docs: &'a [Value], name: &str) -> Option<&'a Value> {
    find(docs, "StatefulSet", name).or_else(|| find(docs, "Deployment", name))
}

fn env_of(w: &Value, name: &str) -> Option<String> {
    arr(&w["spec"]["template"]["spec"]["containers"][0]["env"])
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(String::from))
}

/// The file a workload mounts under `key` (its ConfigMap or file Secret).
fn mounted(docs: &[Value], name: &str, key: &str) -> Option<String> {
    let pod = &workload(docs, name)?["spec"]["template"]["spec"];
    for v in arr(&pod["volumes"]) {
        if let Some(cm) = v["configMap"]["name"].as_str() {
            if let Some(t) = find(docs, "ConfigMap", cm).and_then(|c| c["data"][key].as_str()) {
                return Some(t.to_string());
            }
        }
        if let Some(sn) = v["secret"]["secretName"].as_str() {
            if let Some(b) = find(docs, "Secret", sn).and_then(|s| s["data"][key].as_str()) {
                let text: String = b.split_whitespace().collect();
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap();
                return Some(String::from_utf8(raw).unwrap());
            }
        }
    }
    None
}

/// Does a label selector (matchLabels / matchExpressions) select `labels`?
fn selector_matches(sel: &Value, labels: &Value) -> bool {
    let by_labels = sel["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| &labels[k] == v));
    let by_exprs = arr(&sel["matchExpressions"]).iter().all(|e| {
        let key = e["key"].as_str().unwrap();
        let values = arr(&e["values"]);
        match e["operator"].as_str().unwrap() {
            "In" => values.contains(&labels[key]),
            "NotIn" => !values.contains(&labels[key]),
            "Exists" => !labels[key].is_null(),
            "DoesNotExist" => labels[key].is_null(),
            other => panic!("operator {other}"),
        }
    });
    by_labels && by_exprs
}

/// Who may reach `target`'s pods on which TCP port, by the NetworkPolicies:
/// (workload, port), `*` for anyone (an ipBlock, an empty `from`, or no
/// policy selecting the pods at all), port 0 for every port.
fn reachable(docs: &[Value], target: &str) -> BTreeSet<(String, u64)> {
    let labels = &workload(docs, target).unwrap()["spec"]["template"]["metadata"]["labels"];
    let workloads: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "StatefulSet" || d["kind"] == "Deployment")
        .collect();
    let mut out = BTreeSet::new();
    let mut selected = false;
    for p in docs.iter().filter(|d| d["kind"] == "NetworkPolicy") {
        if !selector_matches(&p["spec"]["podSelector"], labels) {
            continue;
        }
        selected = true;
        for rule in arr(&p["spec"]["ingress"]) {
            let ports: Vec<u64> = if arr(&rule["ports"]).is_empty() {
                vec![0]
            } else {
                arr(&rule["ports"])
                    .iter()
                    .map(|p| p["port"].as_u64().unwrap())
                    .collect()
            };
            let mut peers = vec![];
            if arr(&rule["from"]).is_empty() {
                peers.push("*".to_string());
            }
            for peer in arr(&rule["from"]) {
                if !peer["ipBlock"].is_null() || peer["podSelector"].is_null() {
                    peers.push("*".into());
                    continue;
                }
                for w in &workloads {
                    if selector_matches(
                        &peer["podSelector"],
                        &w["spec"]["template"]["metadata"]["labels"],
                    ) {
                        peers.push(w["metadata"]["name"].as_str().unwrap().to_string());
                    }
                }
            }
            for peer in peers {
                for &port in &ports {
                    out.insert((peer.clone(), port));
                }
            }
        }
    }
    if !selected {
        out.insert(("*".into(), 0));
    }
    out
}

/// Compose's `expose` ports of a service, as numbers.
fn exposed(svc: &Value) -> BTreeSet<u64> {
    arr(&svc["expose"])
        .iter()
        .map(|p| {
            p.as_str()
                .map_or_else(|| p.as_u64().unwrap(), |s| s.parse().unwrap())
        })
        .collect()
}

/// `host:port,...` of compose with each host a node, and its cluster name.
fn cluster_targets(compose_list: &str, nodes: &[String]) -> Result<String, String> {
    compose_list
        .split(',')
        .map(|t| {
            let (host, port) = t.rsplit_once(':').ok_or(format!("{t}: no port"))?;
            if !nodes.iter().any(|n| n == host) {
                return Err(format!("{t}: not a visitor node of compose"));
            }
            Ok(format!("{}:{port}", fqdn(host)))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|v| v.join(","))
}

/// What is wrong with the visitor nodes of the built objects `docs`,
/// against compose's model `compose` of the same stack.
fn visitor_problems(docs: &[Value], compose: &Value) -> Vec<String> {
    let mut p = vec![];
    let services = compose["services"].as_object().unwrap();
    let nodes: Vec<String> = services
        .keys()
        .filter(|k| {
            k.strip_prefix("prosody-v")
                .is_some_and(|i| i.parse::<u32>().is_ok())
        })
        .cloned()
        .collect();
    assert_eq!(nodes.len(), 2, "compose has the nodes {nodes:?}");
    let env = |name: &str, k: &str| -> String {
        services[name]["environment"][k]
            .as_str()
            .unwrap_or_else(|| panic!("compose: {name} has no {k}"))
            .to_string()
    };
    for n in &nodes {
        let Some(w) = find(docs, "StatefulSet", n) else {
            p.push(format!("{n}: no StatefulSet"));
            continue;
        };
        if w["spec"]["replicas"] != 1 {
            p.push(format!("{n}: {} replicas", w["spec"]["replicas"]));
        }
        let labels = &w["spec"]["template"]["metadata"]["labels"];
        let Some(svc) = find(docs, "Service", n) else {
            p.push(format!("{n}: no Service"));
            continue;
        };
        // The Service selects this node's pod and no other workload's.
        let selected: Vec<&str> = docs
            .iter()
            .filter(|d| d["kind"] == "StatefulSet" || d["kind"] == "Deployment")
            .filter(|d| {
                svc["spec"]["selector"].as_object().is_some_and(|m| {
                    m.iter()
                        .all(|(k, v)| &d["spec"]["template"]["metadata"]["labels"][k] == v)
                })
            })
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect();
        if selected != [n.as_str()] || labels.is_null() {
            p.push(format!("{n}: Service selects {selected:?}"));
        }
        let ports: BTreeSet<u64> = arr(&svc["spec"]["ports"])
            .iter()
            .map(|x| x["port"].as_u64().unwrap())
            .collect();
        if ports != exposed(&services[n.as_str()]) {
            p.push(format!(
                "{n}: Service ports {ports:?}, compose exposes {:?}",
                exposed(&services[n.as_str()])
            ));
        }
        // Its way back to main: the xmpp Service's cluster name, a port of it.
        if env_of(w, "XMPP_SERVER").as_deref() != Some(fqdn("xmpp").as_str()) {
            p.push(format!("{n}: XMPP_SERVER {:?}", env_of(w, "XMPP_SERVER")));
        }
        let back: Option<u64> = env_of(w, "XMPP_SERVER_S2S_PORT").and_then(|x| x.parse().ok());
        let xmpp_ports: Vec<u64> = find(docs, "Service", "xmpp")
            .map(|x| {
                arr(&x["spec"]["ports"])
                    .iter()
                    .map(|p| p["port"].as_u64().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        if back.is_none_or(|b| !xmpp_ports.contains(&b)) {
            p.push(format!(
                "xmpp: the nodes' XMPP_SERVER_S2S_PORT {back:?} is not a port of the Service ({xmpp_ports:?})"
            ));
        }
        // Who reaches the node: s2s from main prosody, c2s from jicofo, HTTP from web.
        let want: BTreeSet<(String, u64)> = [("prosody", 5269), ("jicofo", 5222), ("web", 5280)]
            .iter()
            .map(|(w, port)| (w.to_string(), *port))
            .collect();
        let got = reachable(docs, n);
        if got != want {
            p.push(format!("{n}: reachable by {got:?}, want {want:?}"));
        }
    }
    // Main prosody's and jicofo's lists name the nodes' Services.
    for (svc, var) in [
        ("prosody", "VISITORS_XMPP_SERVER"),
        ("jicofo", "VISITORS_XMPP_SERVER"),
    ] {
        let want = cluster_targets(&env(svc, var), &nodes);
        let got = workload(docs, svc).and_then(|w| env_of(w, var));
        if want.as_ref().ok() != got.as_ref() {
            p.push(format!("{svc}: {var} {got:?}, want {want:?}"));
        }
    }
    // Main's s2s port: the nodes only.
    let main_s2s: BTreeSet<String> = reachable(docs, "prosody")
        .into_iter()
        .filter(|(_, port)| *port == 5269 || *port == 0)
        .map(|(w, _)| w)
        .collect();
    if main_s2s != nodes.iter().cloned().collect() {
        p.push(format!("prosody: 5269 reachable by {main_s2s:?}"));
    }
    // The files: each node's domains routed to its Service's cluster name.
    let prosody_cfg = mounted(docs, "prosody", "prosody.cfg.lua").unwrap_or_default();
    let jicofo_conf = mounted(docs, "jicofo", "jicofo.conf").unwrap_or_default();
    let nginx_conf = mounted(docs, "web", "nginx.conf").unwrap_or_default();
    for n in &nodes {
        let i = env(n, "PROSODY_VISITOR_INDEX");
        let f = fqdn(n);
        for host in [format!("muc.v{i}.meet.jitsi"), format!("v{i}.meet.jitsi")] {
            let line = format!("[\"{host}\"] = \"tcp://{f}:5269\";");
            if !prosody_cfg.contains(&line) {
                p.push(format!("prosody: prosody.cfg.lua has no {line}"));
            }
        }
        if !jicofo_conf.contains(&format!("hostname = \"{f}\"")) {
            p.push(format!("jicofo: jicofo.conf does not log in to {f}"));
        }
        if !nginx_conf.contains(&format!("v{i} http://{f}:5280;")) {
            p.push(format!("web: nginx.conf does not route ?vnode=v{i} to {f}"));
        }
        for (who, text) in [
            ("prosody", &prosody_cfg),
            ("jicofo", &jicofo_conf),
            ("web", &nginx_conf),
        ] {
            for bare in [format!("//{n}:"), format!("\"{n}\"")] {
                if text.contains(&bare) {
                    p.push(format!(
                        "{who}: a file names {n} by its compose name ({bare})"
                    ));
                }
            }
        }
    }
    p
}

#[test]
fn kubernetes_visitor_nodes_build_validate_and_equal_compose() {
    // kubectl kustomize, kubernetes-validate --strict (oldest and newest
    // supported), the own checks, no secret outside secrets/, every
    // ConfigMap and file Secret byte-identical to compose's files but for
    // the documented substitutions, the environments compose's.
    check_configs(&[visitors_config()], &versions_to_check());
}

fn object<'a>(docs: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    docs.iter_mut()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn set_env(docs: &mut [Value], kind: &str, name: &str, var: &str, value: &str) {
    let c = &mut object(docs, kind, name)["spec"]["template"]["spec"]["containers"][0];
    for e in c["env"].as_array_mut().unwrap() {
        if e["name"] == var {
            e["value"] = json!(value);
        }
    }
}

/// Replaces `from` by `to` in the file `key` of every ConfigMap and Secret.
fn edit_file(docs: &mut [Value], key: &str, from: &str, to: &str) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut edited = false;
    for d in docs.iter_mut() {
        let kind = d["kind"].clone();
        let Some(data) = d.get_mut("data").and_then(|x| x.get_mut(key)) else {
            continue;
        };
        if let Some(text) = data.as_str().map(String::from) {
            if kind == "ConfigMap" {
                edited |= text.contains(from);
                *data = json!(text.replace(from, to));
            } else if kind == "Secret" {
                let raw: String = text.split_whitespace().collect();
                let plain = String::from_utf8(b64.decode(raw).unwrap()).unwrap();
                edited |= plain.contains(from);
                *data = json!(b64.encode(plain.replace(from, to)));
            }
        }
    }
    assert!(edited, "no file {key} holds {from:?}");
}

fn policy_rules<'a>(docs: &'a mut [Value], name: &str) -> &'a mut Vec<Value> {
    object(docs, "NetworkPolicy", name)["spec"]["ingress"]
        .as_array_mut()
        .unwrap()
}

type Break = fn(&mut Vec<Value>);

#[test]
fn kubernetes_visitor_nodes_are_wired_as_compose_derives_them() {
    let run = render_both(&visitors_config());
    let docs = documents(&kustomize(run.path()));
    let compose = compose_config(run.path());
    assert_eq!(visitor_problems(&docs, &compose), Vec::<String>::new());

    let breaks: Vec<(&str, Break)> = vec![
        ("prosody-v1: no StatefulSet", |d| {
            d.retain(|o| !(o["kind"] == "StatefulSet" && o["metadata"]["name"] == "prosody-v1"))
        }),
        ("prosody-v0: 2 replicas", |d| {
            object(d, "StatefulSet", "prosody-v0")["spec"]["replicas"] = json!(2)
        }),
        ("prosody-v1: no Service", |d| {
            d.retain(|o| !(o["kind"] == "Service" && o["metadata"]["name"] == "prosody-v1"))
        }),
        ("prosody-v0: Service selects", |d| {
            object(d, "Service", "prosody-v0")["spec"]["selector"] =
                json!({"app.kubernetes.io/instance": "prosody-v1"})
        }),
        ("prosody-v0: Service selects", |d| {
            object(d, "Service", "prosody-v0")["spec"]["selector"] =
                json!({"app.kubernetes.io/component": "prosody"})
        }),
        ("prosody-v0: Service ports", |d| {
            object(d, "Service", "prosody-v0")["spec"]["ports"]
                .as_array_mut()
                .unwrap()
                .retain(|p| p["port"] != 5269)
        }),
        ("prosody-v1: XMPP_SERVER", |d| {
            set_env(
                d,
                "StatefulSet",
                "prosody-v1",
                "XMPP_SERVER",
                "xmpp.meet.jitsi",
            )
        }),
        ("xmpp: the nodes' XMPP_SERVER_S2S_PORT", |d| {
            object(d, "Service", "xmpp")["spec"]["ports"]
                .as_array_mut()
                .unwrap()
                .retain(|p| p["port"] != 5269)
        }),
        ("prosody: VISITORS_XMPP_SERVER", |d| {
            set_env(
                d,
                "StatefulSet",
                "prosody",
                "VISITORS_XMPP_SERVER",
                "prosody-v0:5269,prosody-v1:5269",
            )
        }),
        ("jicofo: VISITORS_XMPP_SERVER", |d| {
            // The shipped release's mistake: jicofo on the s2s ports.
            let list = format!("{}:5269,{}:5269", fqdn("prosody-v0"), fqdn("prosody-v1"));
            set_env(d, "Deployment", "jicofo", "VISITORS_XMPP_SERVER", &list)
        }),
        ("prosody: prosody.cfg.lua has no", |d| {
            edit_file(
                d,
                "prosody.cfg.lua",
                &format!("tcp://{}:5269", fqdn("prosody-v1")),
                "tcp://prosody-v1:5269",
            )
        }),
        ("jicofo: jicofo.conf does not log in", |d| {
            edit_file(
                d,
                "jicofo.conf",
                &format!("hostname = \"{}\"", fqdn("prosody-v0")),
                "hostname = \"prosody-v0\"",
            )
        }),
        ("web: nginx.conf does not route ?vnode=v1", |d| {
            edit_file(
                d,
                "nginx.conf",
                &format!("http://{}:5280", fqdn("prosody-v1")),
                "http://prosody-v1:5280",
            )
        }),
        ("web: a file names prosody-v1 by its compose name", |d| {
            edit_file(
                d,
                "nginx.conf",
                "default http://",
                "default http://prosody-v1:5280; #",
            )
        }),
        ("prosody-v0: reachable by", |d| {
            // jvb let in as well.
            policy_rules(d, "prosody-v0-peers")[1]["from"][0]["podSelector"]["matchExpressions"][0]
                ["values"]
                .as_array_mut()
                .unwrap()
                .push(json!("jvb"))
        }),
        ("prosody-v1: reachable by", |d| {
            // web on the client port too.
            policy_rules(d, "prosody-v1-peers")[2]["ports"]
                .as_array_mut()
                .unwrap()
                .push(json!({"protocol": "TCP", "port": 5222}))
        }),
        ("prosody-v0: reachable by", |d| {
            policy_rules(d, "prosody-v0-peers")
                .push(json!({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}))
        }),
        ("prosody-v1: reachable by", |d| {
            d.retain(|o| o["metadata"]["name"] != "prosody-v1-peers")
        }),
        ("prosody: 5269 reachable by", |d| {
            // main's clients rule with the s2s port again.
            policy_rules(d, "prosody-clients")[0]["ports"]
                .as_array_mut()
                .unwrap()
                .push(json!({"protocol": "TCP", "port": 5269}))
        }),
        ("prosody: 5269 reachable by", |d| {
            policy_rules(d, "prosody-clients").remove(1);
        }),
    ];
    for (needle, break_it) in breaks {
        let mut copy = docs.clone();
        break_it(&mut copy);
        let problems = visitor_problems(&copy, &compose);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "a copy broken for {needle:?} gave:\n{}",
            problems.join("\n")
        );
    }
}

#[test]
fn kubernetes_refuses_visitor_nodes_on_other_hosts_and_writes_nothing() {
    // Main prosody's s2s port would have to be opened to the node from
    // outside the cluster, which the target does not do.
    let run = crate::harness::init_stack(
        &[
            ("ENABLE_VISITORS", "1"),
            ("JITSI_STACK_MAIN_ADDRESS", "198.51.100.1"),
        ],
        &[],
    );
    let run = crate::harness::Test::again(run)
        .args([
            "node",
            "add",
            "visitors",
            "far",
            "--address",
            "198.51.100.9",
        ])
        .run();
    let run = crate::harness::Test::again(run)
        .args(["render", "--target", "kubernetes"])
        .status(1)
        .run();
    assert!(
        run.stderr
            .contains("visitor node far runs on another host (198.51.100.9)")
            && run.stderr.contains("jitsi-stack node remove far"),
        "{}",
        run.stderr
    );
    assert!(!run.exists("kubernetes"));
}
