//! What `check` says about the nodes: their lines, their passwords, and the
//! settings of the main host they depend on; in a bundle, that it is one.
//! Each problem names the variable and line, what was expected, what was
//! found (never a secret) and the fix.

use super::instances::{jibri_instances, jvb_instances};
use super::nodes::{self, Node, NodeKind, Problem};
use crate::config::{Component, Stack};
use crate::schema;
use crate::schema::Level;
use std::collections::BTreeMap;

struct Out<'a> {
    stack: &'a Stack,
    list: Vec<Problem>,
}

impl Out<'_> {
    fn push(
        &mut self,
        level: Level,
        var: &str,
        message: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.list.push(Problem {
            level,
            var: var.to_string(),
            line: self.stack.file.entry(var).map(|e| e.line),
            message: message.into(),
            expected: Some(expected.into()),
            found: Some(found.into()),
            fix: fix.into(),
        });
    }
}

fn shown(stack: &Stack, name: &str) -> String {
    match stack.values.raw(name) {
        Some(v) => format!("{name}={v}"),
        None => format!("{name} unset"),
    }
}

/// Every problem with the nodes of `stack` (main host or bundle).
pub fn check(stack: &Stack) -> Vec<Problem> {
    let (all, problems) = nodes::parse_all(&stack.file);
    let mut out = Out {
        stack,
        list: problems,
    };
    if nodes::is_bundle(&stack.values) {
        bundle(&mut out, &all);
    } else {
        main(&mut out, &all);
    }
    out.list
}

fn bundle(out: &mut Out<'_>, all: &[Node]) {
    let v = &out.stack.values;
    let name = v.raw(nodes::THIS_NODE).unwrap_or_default().to_string();
    let Some(node) = all.iter().find(|n| n.name == name) else {
        out.push(
            Level::Error,
            nodes::THIS_NODE,
            "this bundle does not describe the node it names",
            format!("a {} line", nodes::var_name(&name)),
            "none",
            "copy the bundle again from the main host (`jitsi-stack render` writes nodes/NAME/)",
        );
        return;
    };
    let (_, pass) = node.kind.account_vars();
    if v.raw(pass).is_none() {
        out.push(
            Level::Error,
            pass,
            "the node's XMPP password is empty: it cannot log in to the main host",
            format!("{pass} set"),
            format!("{pass} empty"),
            "copy the bundle again from the main host",
        );
    }
    for var in ["XMPP_SERVER", nodes::MAIN_ADDRESS] {
        if v.raw(var).is_none() {
            out.push(
                Level::Error,
                var,
                "the bundle does not say where the main host is",
                format!("{var} set"),
                format!("{var} unset"),
                "copy the bundle again from the main host",
            );
        }
    }
    if node.kind == NodeKind::Jibri && v.bool("XMPP_TRUST_ALL_CERTS") {
        out.push(
            Level::Error,
            "XMPP_TRUST_ALL_CERTS",
            "a recorder on another host must verify the main host's certificate, or anyone on the way can take its login",
            "XMPP_TRUST_ALL_CERTS=false",
            shown(out.stack, "XMPP_TRUST_ALL_CERTS"),
            "copy the bundle again from the main host",
        );
    }
}

fn main(out: &mut Out<'_>, all: &[Node]) {
    let stack = out.stack;
    let v = &stack.values;
    // Passwords of nodes that are not listed.
    for e in stack.file.entries() {
        if let Some((name, true)) = nodes::classify(&e.key) {
            if !e.value.is_empty() && !all.iter().any(|n| n.name == name) {
                out.push(
                    Level::Warning,
                    &e.key,
                    format!("the password of a node {name} that is not listed"),
                    format!("a {} line, or no password", nodes::var_name(&name)),
                    "a password only",
                    format!(
                        "remove line {} of .env (`jitsi-stack node remove {name}` does)",
                        e.line
                    ),
                );
            }
        }
    }
    if all.is_empty() {
        return;
    }
    let first = all[0].var();
    match v.raw(nodes::MAIN_ADDRESS) {
        None => out.push(
            Level::Error,
            &first,
            "nodes are listed but the address they reach this host on is not set",
            format!("{} set to this host's address", nodes::MAIN_ADDRESS),
            format!("{} unset", nodes::MAIN_ADDRESS),
            format!(
                "set {}=IP in .env (or `jitsi-stack node add ... --main-address IP`)",
                nodes::MAIN_ADDRESS
            ),
        ),
        Some(a) => {
            if let Err(expected) = nodes::check_main_address(a) {
                out.push(
                    Level::Error,
                    nodes::MAIN_ADDRESS,
                    "prosody's XMPP port for the nodes is published on this address only",
                    expected,
                    format!("{}={a}", nodes::MAIN_ADDRESS),
                    format!(
                        "set {} to this host's address the nodes reach (`ip -brief address`)",
                        nodes::MAIN_ADDRESS
                    ),
                );
            }
            if let Some(n) = all.iter().find(|n| n.address.to_string() == a) {
                out.push(
                    Level::Error,
                    &n.var(),
                    format!("node {} has the main host's own address", n.name),
                    "the node's own address",
                    format!("address={a}"),
                    "give the node's address; a service on the main host needs no node",
                );
            }
        }
    }
    if !v.bool("PROSODY_C2S_REQUIRE_ENCRYPTION") {
        out.push(
            Level::Error,
            "PROSODY_C2S_REQUIRE_ENCRYPTION",
            "the nodes' logins would cross the network without TLS",
            "PROSODY_C2S_REQUIRE_ENCRYPTION unset or 1",
            shown(stack, "PROSODY_C2S_REQUIRE_ENCRYPTION"),
            "remove PROSODY_C2S_REQUIRE_ENCRYPTION from .env",
        );
    }
    let bridges: Vec<&Node> = all.iter().filter(|n| n.kind == NodeKind::Jvb).collect();
    if !bridges.is_empty() && v.bool("ENABLE_JVB_XMPP_SERVER") {
        out.push(
            Level::Error,
            "ENABLE_JVB_XMPP_SERVER",
            "bridge nodes log in to this host's prosody; a separate bridge XMPP server is not supported with them",
            "ENABLE_JVB_XMPP_SERVER=0",
            shown(stack, "ENABLE_JVB_XMPP_SERVER"),
            "remove ENABLE_JVB_XMPP_SERVER from .env",
        );
    }
    passwords(out, all);
    ids(out, all);
    // Two bridge nodes on one address would publish the same media port.
    let mut by_addr: BTreeMap<String, &Node> = BTreeMap::new();
    for n in &bridges {
        if let Some(other) = by_addr.insert(n.address.to_string(), n) {
            out.push(
                Level::Error,
                &n.var(),
                format!(
                    "bridge nodes {} and {} have the same address: both would publish UDP {}",
                    other.name,
                    n.name,
                    v.port("JVB_PORT").unwrap_or(10000)
                ),
                "one bridge node per host (instances=N runs several bridges there)",
                format!("address={} twice", n.address),
                format!(
                    "remove one and give the other instances={}",
                    other.instances + n.instances
                ),
            );
        }
    }
    for n in all {
        let (user_var, _) = n.kind.account_vars();
        for var in ["JVB_AUTH_USER", "JIBRI_XMPP_USER", "JIGASI_XMPP_USER"] {
            if v.get(var) == Some(n.account().as_str()) {
                out.push(
                    Level::Error,
                    var,
                    format!("the main host's account is node {}'s account", n.name),
                    format!("an account other than {}", n.account()),
                    shown(stack, var),
                    format!("set {var} to another name (its default is the service's name); {user_var} of node {} is {}", n.name, n.account()),
                );
            }
        }
    }
    if all.iter().any(|n| n.kind == NodeKind::Jibri) {
        if !stack.recording() {
            out.push(
                Level::Error,
                "ENABLE_RECORDING",
                "recorder nodes record nothing: recording is off, so prosody has no recorder account and jicofo offers no recording",
                "ENABLE_RECORDING=1",
                shown(stack, "ENABLE_RECORDING"),
                "set ENABLE_RECORDING=1",
            );
        }
        if v.raw("JIBRI_RECORDER_PASSWORD").is_none() {
            out.push(
                Level::Error,
                "JIBRI_RECORDER_PASSWORD",
                "recorder nodes need the recorder account Chrome joins meetings with",
                "JIBRI_RECORDER_PASSWORD set",
                "JIBRI_RECORDER_PASSWORD empty",
                "run `jitsi-stack gen-passwords`",
            );
        }
    }
    if all.iter().any(|n| n.kind == NodeKind::Jigasi) && !stack.has(Component::Jigasi) {
        for var in ["JIGASI_SIP_URI", "JIGASI_SIP_PASSWORD", "JIGASI_SIP_SERVER"] {
            if v.raw(var).is_none() {
                out.push(
                    Level::Error,
                    var,
                    "SIP gateway nodes register with the SIP account of this .env",
                    format!("{var} set"),
                    format!("{var} empty"),
                    format!("set {var} to your SIP account's value"),
                );
            }
        }
    }
    let visitor_nodes: Vec<&Node> = all
        .iter()
        .filter(|n| n.kind == NodeKind::Visitors)
        .collect();
    if let Some(n) = visitor_nodes.first() {
        if !v.bool("ENABLE_VISITORS") {
            out.push(
                Level::Error,
                &n.var(),
                "a visitor node is listed but visitors are off: it would run unused",
                "ENABLE_VISITORS=1 with visitor nodes",
                shown(stack, "ENABLE_VISITORS"),
                format!(
                    "set ENABLE_VISITORS=1, or `jitsi-stack node remove {}`",
                    n.name
                ),
            );
        }
    }
    for (i, n) in visitor_nodes.iter().enumerate() {
        if let Some(o) = visitor_nodes[..i].iter().find(|o| o.index == n.index) {
            out.push(
                Level::Error,
                &n.var(),
                format!(
                    "node {} has the index of node {} (v{}): indexes are given once, by `node add visitors`",
                    n.name,
                    o.name,
                    n.index.unwrap_or(0)
                ),
                "a distinct index=N per visitor node",
                format!("index={}", n.index.unwrap_or(0)),
                format!(
                    "`jitsi-stack node remove {}` and add it again with `jitsi-stack node add visitors {} --address {}`",
                    n.name, n.name, n.address
                ),
            );
        }
    }
    let regions: Vec<&Node> = all.iter().filter(|n| n.region.is_some()).collect();
    if let Some(n) = regions.iter().find(|n| n.kind == NodeKind::Jvb) {
        if !v.bool("ENABLE_OCTO") {
            out.push(
                Level::Warning,
                &n.var(),
                format!("node {} has a region, but bridges announce their region only with ENABLE_OCTO=1 (the relay block of jvb.conf)", n.name),
                "ENABLE_OCTO=1 with regions",
                shown(stack, "ENABLE_OCTO"),
                "set ENABLE_OCTO=1, or remove region= from the bridge nodes",
            );
        }
        let strategy = v.get_or("OCTO_BRIDGE_SELECTION_STRATEGY", "");
        if !strategy.contains("RegionBased") {
            out.push(
                Level::Warning,
                "OCTO_BRIDGE_SELECTION_STRATEGY",
                "bridge nodes have regions, but jicofo does not select bridges by region",
                "OCTO_BRIDGE_SELECTION_STRATEGY=RegionBasedBridgeSelectionStrategy (and JICOFO_OCTO_REGION, the main host's region)",
                shown(stack, "OCTO_BRIDGE_SELECTION_STRATEGY"),
                "set OCTO_BRIDGE_SELECTION_STRATEGY=RegionBasedBridgeSelectionStrategy and JICOFO_OCTO_REGION",
            );
        }
    }
}

fn passwords(out: &mut Out<'_>, all: &[Node]) {
    let stack = out.stack;
    // The schema's secrets, to refuse a node password that equals one.
    let mut seen: BTreeMap<String, String> = schema::VARS
        .iter()
        .filter(|v| v.is_secret() && v.deprecated.is_none())
        .filter_map(|v| Some((stack.values.raw(v.name)?.to_string(), v.name.to_string())))
        .collect();
    for n in all {
        let var = n.password_var();
        match stack.values.raw(&var) {
            None => out.push(
                Level::Error,
                &var,
                format!(
                    "node {} has no XMPP password: its account cannot be created",
                    n.name
                ),
                "a generated password",
                format!("{var} empty"),
                "run `jitsi-stack gen-passwords`",
            ),
            Some(pw) => {
                if let Some(weak) = crate::secrets::weakness(pw) {
                    out.push(
                        Level::Error,
                        &var,
                        format!("weak password: {}", weak.why),
                        format!(
                            "a random value of at least {} characters",
                            crate::secrets::MIN_LEN
                        ),
                        weak.found,
                        format!("empty {var} and run `jitsi-stack gen-passwords`"),
                    );
                }
                if let Some(other) = seen.insert(pw.to_string(), var.clone()) {
                    out.push(
                        Level::Error,
                        &var,
                        format!("same password as {other}"),
                        format!("a password different from {other}"),
                        format!("the value of {other} (not shown: secret)"),
                        format!("empty {var} and run `jitsi-stack gen-passwords`"),
                    );
                }
            }
        }
    }
}

/// The instance ids (brewery nicknames) this host's own services take, by
/// kind, each with its owner ("this host"): a node may use none of them.
pub fn taken_ids(stack: &Stack) -> BTreeMap<(NodeKind, String), String> {
    let mut taken: BTreeMap<(NodeKind, String), String> = BTreeMap::new();
    let nick = stack.values.raw("JVB_MUC_NICKNAME");
    for b in jvb_instances(stack) {
        let id = match nick {
            Some(n) if b.instance.index == 1 => n.to_string(),
            Some(n) => format!("{n}-{}", b.instance.index),
            None => b.instance_id.clone(),
        };
        taken.insert((NodeKind::Jvb, b.instance_id), "this host".into());
        taken.insert((NodeKind::Jvb, id), "this host".into());
    }
    if stack.has(Component::Jibri) {
        for r in jibri_instances(stack) {
            taken.insert((NodeKind::Jibri, r.instance_id), "this host".into());
        }
    }
    if stack.has(Component::Jigasi) {
        let id = stack
            .values
            .get_or("JIGASI_INSTANCE_ID", "jigasi")
            .to_string();
        taken.insert((NodeKind::Jigasi, id), "this host".into());
    }
    taken
}

/// Instance ids (and so brewery nicknames) are distinct across all hosts.
fn ids(out: &mut Out<'_>, all: &[Node]) {
    let stack = out.stack;
    let mut taken = taken_ids(stack);
    for n in all {
        for id in n.instance_ids() {
            if let Some(owner) = taken.insert((n.kind, id.clone()), format!("node {}", n.name)) {
                out.push(
                    Level::Error,
                    &n.var(),
                    format!("node {}'s {} id {id} is also one of {owner}'s: two {}s would join the brewery under one nickname", n.name, n.kind, n.kind),
                    "ids distinct across every host",
                    format!("{id} twice"),
                    format!("remove node {} and add it again under another name", n.name),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::stack_from_env as stack;

    fn vars(p: &[Problem]) -> Vec<(Level, String)> {
        p.iter().map(|p| (p.level, p.var.clone())).collect()
    }

    const OK: &str = "JITSI_STACK_MAIN_ADDRESS=192.0.2.1\n\
        JITSI_STACK_NODE_B2='jvb address=192.0.2.2'\n\
        JITSI_STACK_NODE_B2_PASSWORD=0123456789abcdef0123\n";

    #[test]
    fn a_node_with_its_password_and_the_main_address_is_clean() {
        assert_eq!(check(&stack(OK)), vec![]);
    }

    #[test]
    fn missing_main_address_and_password_are_errors_on_their_lines() {
        let p = check(&stack("JITSI_STACK_NODE_B2='jvb address=192.0.2.2'\n"));
        assert_eq!(
            vars(&p),
            [
                (Level::Error, "JITSI_STACK_NODE_B2".to_string()),
                (Level::Error, "JITSI_STACK_NODE_B2_PASSWORD".to_string())
            ]
        );
        assert_eq!(p[0].line, Some(1));
        assert!(p[0].fix.contains("JITSI_STACK_MAIN_ADDRESS"));
    }

    #[test]
    fn ids_clash_across_hosts() {
        // A node named jvb would join the brewery as the main host's bridge.
        let p = check(&stack(&format!(
            "{OK}JITSI_STACK_NODE_JVB='jvb address=192.0.2.3'\nJITSI_STACK_NODE_JVB_PASSWORD=fedcba98765432100123\n"
        )));
        assert_eq!(
            vars(&p),
            [(Level::Error, "JITSI_STACK_NODE_JVB".to_string())]
        );
        assert!(p[0].message.contains("this host"), "{}", p[0].message);
        // b2 with two bridges has b2-2; a node named b2-2 clashes with it.
        let p = check(&stack(
            "JITSI_STACK_MAIN_ADDRESS=192.0.2.1\n\
             JITSI_STACK_NODE_B2='jvb address=192.0.2.2 instances=2'\n\
             JITSI_STACK_NODE_B2_PASSWORD=0123456789abcdef0123\n\
             JITSI_STACK_NODE_B2_2='jvb address=192.0.2.3'\n\
             JITSI_STACK_NODE_B2_2_PASSWORD=fedcba98765432100123\n",
        ));
        assert_eq!(
            vars(&p),
            [(Level::Error, "JITSI_STACK_NODE_B2_2".to_string())]
        );
    }

    #[test]
    fn passwords_are_strong_and_distinct() {
        let p = check(&stack(&format!(
            "{OK}JVB_AUTH_PASSWORD=0123456789abcdef0123\nJITSI_STACK_NODE_R='jibri address=192.0.2.4'\nJITSI_STACK_NODE_R_PASSWORD=short\nENABLE_RECORDING=1\nJIBRI_RECORDER_PASSWORD=aaaaaaaaaaaaaaaaaaaa1\n"
        )));
        let got = vars(&p);
        assert!(
            got.contains(&(Level::Error, "JITSI_STACK_NODE_B2_PASSWORD".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&(Level::Error, "JITSI_STACK_NODE_R_PASSWORD".into())),
            "{got:?}"
        );
        let reuse = p
            .iter()
            .find(|p| p.message.contains("same password"))
            .unwrap();
        assert!(!reuse.found.as_deref().unwrap().contains("0123456789"));
    }

    #[test]
    fn main_host_settings_the_nodes_need() {
        let p = check(&stack(&format!(
            "{OK}PROSODY_C2S_REQUIRE_ENCRYPTION=0\nENABLE_JVB_XMPP_SERVER=1\n"
        )));
        assert_eq!(
            vars(&p),
            [
                (Level::Error, "PROSODY_C2S_REQUIRE_ENCRYPTION".to_string()),
                (Level::Error, "ENABLE_JVB_XMPP_SERVER".to_string())
            ]
        );
        let p = check(&stack(
            "JITSI_STACK_MAIN_ADDRESS=192.0.2.1\nJITSI_STACK_NODE_R='jibri address=192.0.2.4'\nJITSI_STACK_NODE_R_PASSWORD=0123456789abcdef0123\n",
        ));
        assert_eq!(vars(&p)[0], (Level::Error, "ENABLE_RECORDING".to_string()));
        let p = check(&stack(
            "JITSI_STACK_MAIN_ADDRESS=192.0.2.1\nJITSI_STACK_NODE_B='jvb address=192.0.2.2 region=eu'\nJITSI_STACK_NODE_B_PASSWORD=0123456789abcdef0123\n",
        ));
        assert_eq!(
            vars(&p),
            [
                (Level::Warning, "JITSI_STACK_NODE_B".to_string()),
                (Level::Warning, "OCTO_BRIDGE_SELECTION_STRATEGY".to_string())
            ]
        );
    }

    #[test]
    fn a_bundle_names_itself_and_verifies_certificates() {
        let p = check(&stack("JITSI_STACK_THIS_NODE=b2\n"));
        assert_eq!(
            vars(&p),
            [(Level::Error, "JITSI_STACK_THIS_NODE".to_string())]
        );
        let p = check(&stack(
            "JITSI_STACK_THIS_NODE=r\nJITSI_STACK_NODE_R='jibri address=192.0.2.4'\nJIBRI_XMPP_PASSWORD=0123456789abcdef0123\nXMPP_SERVER=192.0.2.1\nJITSI_STACK_MAIN_ADDRESS=192.0.2.1\n",
        ));
        // XMPP_TRUST_ALL_CERTS defaults to true: a recorder node must not.
        assert_eq!(
            vars(&p),
            [(Level::Error, "XMPP_TRUST_ALL_CERTS".to_string())]
        );
    }
}
