//! Visitor nodes (`JITSI_STACK_VISITORS`) on the Kubernetes target. Each
//! node is emitted like the main prosody ([`super::render`]): a StatefulSet
//! of one pod and a headless Service of its compose name (`prosody-v0`,
//! ...), with the compose target's files and environment. This module owns
//! what differs for them:
//! - the names main prosody (its `s2sout_override`), jicofo (its
//!   `xmpp.visitors.vN`) and web (nginx's `map $arg_vnode`) reach a node
//!   by: the Service's cluster name instead of the compose service name,
//!   which only Docker's DNS answers as a single label (prosody's and
//!   nginx's own resolvers do not apply a pod's search domains);
//! - the NetworkPolicies of who talks to whom: a node's s2s only from main
//!   prosody, its client port only from jicofo, its HTTP only from web;
//!   main prosody's s2s port only from the nodes.

use super::{
    is_main_prosody, labels_of, meta, replace_host, selector_of, Docs, Settings, COMPONENT_LABEL,
    INSTANCE_LABEL,
};
use crate::config::Stack;
use crate::render::Output;
use crate::stack::{visitors, EnvValue, Kind, Model, Service};
use anyhow::Result;

use super::objects::{
    Expr, ExprSelector, NetworkPolicySpec, Object, PolicyPeer, PolicyPort, PolicyRule, Spec,
};

/// Each node of this host's compose project: its compose service name and
/// its Service's cluster name.
pub fn host_substitutions(stack: &Stack, s: &Settings) -> Vec<(String, String)> {
    visitors::local_nodes(stack)
        .into_iter()
        .map(|n| {
            let fqdn = s.fqdn(&n.service);
            (n.service, fqdn)
        })
        .collect()
}

/// Visitor nodes on other hosts (`node add visitors`) would need main
/// prosody's s2s port opened to them from outside the cluster, which this
/// target does not do: refused with the reason, not rendered half-working.
pub fn refuse_remote(stack: &Stack) -> Result<()> {
    if let Some(r) = visitors::nodes(stack).into_iter().find_map(|n| n.remote) {
        anyhow::bail!(
            "{}: visitor node {} runs on another host ({}), and the Kubernetes target does not open \
             main prosody's s2s port to hosts outside the cluster: run the visitor nodes in the cluster \
             (JITSI_STACK_VISITORS=N) and `jitsi-stack node remove {}`, or use the compose target",
            stack.env_path.display(),
            r.name,
            r.address,
            r.name
        );
    }
    Ok(())
}

fn substitute(text: &str, subs: &[(String, String)]) -> String {
    subs.iter()
        .fold(text.to_string(), |t, (from, to)| replace_host(&t, from, to))
}

/// The rendered files with each node's host name replaced by its cluster name.
pub fn cluster_files(out: &mut Output, stack: &Stack, s: &Settings) {
    let subs = host_substitutions(stack, s);
    if subs.is_empty() {
        return;
    }
    for f in &mut out.files {
        f.contents = substitute(&f.contents, &subs);
    }
}

/// The model with each node's host name replaced by its cluster name in
/// the derived environment (main prosody's and jicofo's `VISITORS_XMPP_SERVER`).
pub fn cluster_model(mut model: Model, stack: &Stack, s: &Settings) -> Model {
    let subs = host_substitutions(stack, s);
    if subs.is_empty() {
        return model;
    }
    for svc in &mut model.services {
        for v in svc.env.values_mut() {
            if let EnvValue::Literal(x) = v {
                *x = substitute(x, &subs);
            }
        }
    }
    model
}

/// The visitor nodes of the cluster (every prosody but the main one).
fn nodes(model: &Model) -> Vec<&Service> {
    model
        .of_kind(Kind::Prosody)
        .filter(|p| !is_main_prosody(p))
        .collect()
}

/// Main prosody's port the nodes dial back (their `XMPP_SERVER_S2S_PORT`),
/// when there are nodes.
pub fn main_s2s_port(model: &Model) -> Option<u16> {
    nodes(model)
        .iter()
        .find_map(|n| match n.env.get("XMPP_SERVER_S2S_PORT") {
            Some(EnvValue::Literal(p)) => p.parse().ok(),
            _ => None,
        })
}

fn pods_where(key: &str, values: Vec<String>) -> PolicyPeer {
    PolicyPeer {
        pod_selector: Some(ExprSelector {
            match_expressions: vec![Expr {
                key: key.into(),
                operator: "In",
                values,
            }],
        }),
        ip_block: None,
    }
}

fn tcp(port: u16) -> Vec<PolicyPort> {
    vec![PolicyPort {
        protocol: "TCP",
        port,
        end_port: None,
    }]
}

/// Main prosody's rule for its s2s port: the nodes' pods only.
pub fn main_s2s_rule(model: &Model) -> Option<PolicyRule> {
    let port = main_s2s_port(model)?;
    Some(PolicyRule {
        from: vec![pods_where(
            INSTANCE_LABEL,
            nodes(model).iter().map(|n| n.name.clone()).collect(),
        )],
        ports: tcp(port),
    })
}

/// One NetworkPolicy per node: s2s from main prosody, the client port
/// from jicofo (focus logs in to each node), HTTP from web (the viewers'
/// BOSH and websocket through nginx's `?vnode=` map); nothing else.
pub(super) fn node_policies(model: &Model) -> Result<Docs> {
    let mut docs = Docs(vec![]);
    for n in nodes(model) {
        docs.push(&Object {
            api_version: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: meta(&format!("{}-peers", n.name), labels_of(n)),
            body: Spec {
                spec: NetworkPolicySpec {
                    pod_selector: selector_of(n),
                    policy_types: vec!["Ingress"],
                    ingress: vec![
                        PolicyRule {
                            from: vec![pods_where(INSTANCE_LABEL, vec!["prosody".into()])],
                            ports: tcp(visitors::S2S_PORT),
                        },
                        PolicyRule {
                            from: vec![pods_where(COMPONENT_LABEL, vec!["jicofo".into()])],
                            ports: tcp(visitors::C2S_PORT),
                        },
                        PolicyRule {
                            from: vec![pods_where(COMPONENT_LABEL, vec!["web".into()])],
                            ports: tcp(visitors::HTTP_PORT),
                        },
                    ],
                },
            },
        })?;
    }
    Ok(docs)
}
