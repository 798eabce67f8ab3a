//! Firewall rules that let only the nodes reach the main host's XMPP port
//! (and, with visitor nodes, its s2s port; on a visitor node, only the main
//! host reach that node's c2s, s2s and HTTP ports), for nftables, ufw and
//! firewalld.
//!
//! Docker publishes a port by rewriting its destination before the host's
//! input rules see the packet (nat prerouting, then the forward chain), so
//! `ufw allow/deny` and firewalld's zone rules do not apply to it. The rules
//! here act where they do:
//! - nftables: a filter chain on the prerouting hook at priority -150, before
//!   Docker's destination rewrite (-100), matching the published address and
//!   port (and the same works for a prosody that is not in Docker);
//! - ufw and firewalld: Docker's own DOCKER-USER chain, matching the
//!   connection's original destination (`--ctorigdst`, `--ctorigdstport`).

use crate::stack::nodes::NodeKind;
use crate::stack::{visitors, Model, Node, Role};
use std::net::IpAddr;

/// The nftables table the rules live in (`doctor` looks for it).
pub const NFT_TABLE: &str = "jitsi_stack";

/// Who may reach the XMPP port, from where.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct XmppRule {
    pub address: IpAddr,
    pub port: u16,
    /// Who the allowed addresses are.
    pub peer: Peer,
    /// The peers' addresses of the rule address's family, with names.
    pub allowed: Vec<(String, IpAddr)>,
    /// Nodes whose address is of the other family (they cannot reach it).
    pub unreachable: Vec<String>,
}

/// Whom a rule lets in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Peer {
    /// The stack's nodes (on the main host).
    Nodes,
    /// The main host (on a visitor node).
    MainHost,
}

/// The rule for the model's published XMPP port, if there is one (the
/// main host with bridge, recorder or gateway nodes).
pub fn xmpp_rule(model: &Model) -> Option<XmppRule> {
    let x = model.xmpp.as_ref()?;
    if model.is_node() {
        return None;
    }
    let nodes: Vec<&Node> = model
        .nodes
        .iter()
        .filter(|n| n.kind != NodeKind::Visitors)
        .collect();
    if nodes.is_empty() {
        return None;
    }
    Some(rule_for(x.address, x.port, Peer::Nodes, &named(&nodes)))
}

fn named(nodes: &[&Node]) -> Vec<(String, IpAddr)> {
    nodes.iter().map(|n| (n.name.clone(), n.address)).collect()
}

fn rule_for(address: IpAddr, port: u16, peer: Peer, peers: &[(String, IpAddr)]) -> XmppRule {
    let same = |a: &IpAddr| a.is_ipv4() == address.is_ipv4();
    let mut allowed: Vec<(String, IpAddr)> =
        peers.iter().filter(|(_, a)| same(a)).cloned().collect();
    allowed.sort_by_key(|(_, a)| *a);
    allowed.dedup_by_key(|(_, a)| *a);
    XmppRule {
        address,
        port,
        peer,
        allowed,
        unreachable: peers
            .iter()
            .filter(|(_, a)| !same(a))
            .map(|(n, _)| n.clone())
            .collect(),
    }
}

/// The rules for visitor nodes, whose s2s trust rests on their network
/// position (so these ports are never public, and `doctor` fails when no
/// rule restricts them): on the main host, its s2s port for the visitor
/// nodes only; on a visitor node, its c2s, s2s and HTTP ports for the main
/// host only.
pub fn visitor_rules(model: &Model) -> Vec<XmppRule> {
    let Some(x) = model.xmpp.as_ref() else {
        return vec![];
    };
    match &model.role {
        Role::Main => {
            let nodes: Vec<&Node> = model
                .nodes
                .iter()
                .filter(|n| n.kind == NodeKind::Visitors)
                .collect();
            if nodes.is_empty() {
                return vec![];
            }
            vec![rule_for(
                x.address,
                visitors::S2S_PORT,
                Peer::Nodes,
                &named(&nodes),
            )]
        }
        Role::Node(n) if n.kind == NodeKind::Visitors => {
            let main = [("main host".to_string(), x.address)];
            [visitors::C2S_PORT, visitors::S2S_PORT, visitors::HTTP_PORT]
                .into_iter()
                .map(|p| rule_for(n.address, p, Peer::MainHost, &main))
                .collect()
        }
        Role::Node(_) => vec![],
    }
}

/// Every restricted port of the model: [`xmpp_rule`], then [`visitor_rules`].
pub fn all_rules(model: &Model) -> Vec<XmppRule> {
    xmpp_rule(model)
        .into_iter()
        .chain(visitor_rules(model))
        .collect()
}

fn family(a: IpAddr) -> &'static str {
    if a.is_ipv4() {
        "ip"
    } else {
        "ip6"
    }
}

/// An `nft -f` ruleset (replaces the table each time it is loaded).
pub fn nftables(rules: &[XmppRule]) -> String {
    let mut s = String::new();
    s.push_str("#!/usr/sbin/nft -f\n");
    s.push_str(
        "# jitsi-stack: only the nodes may reach prosody's XMPP port (regenerate with `jitsi-stack ports --nftables`).\n",
    );
    // Declaring the table first makes the delete succeed on a first load.
    s.push_str(&format!(
        "table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n"
    ));
    s.push_str(&format!("table inet {NFT_TABLE} {{\n"));
    s.push_str("  chain xmpp_nodes {\n");
    s.push_str(
        "    # Before Docker rewrites the destination of published ports (priority -100).\n",
    );
    s.push_str("    type filter hook prerouting priority -150; policy accept;\n");
    for r in rules {
        let fam = family(r.address);
        for (name, a) in &r.allowed {
            let who = match r.peer {
                Peer::Nodes => format!("node {name}"),
                Peer::MainHost => "main host".to_string(),
            };
            s.push_str(&format!(
                "    {fam} daddr {} tcp dport {} {fam} saddr {a} accept comment \"{who}\"\n",
                r.address, r.port
            ));
        }
        s.push_str(&format!(
            "    {fam} daddr {} tcp dport {} drop comment \"not a node\"\n",
            r.address, r.port
        ));
    }
    s.push_str("  }\n}\n");
    s
}

/// The DOCKER-USER rules (iptables syntax, without the command).
fn docker_user(r: &XmppRule) -> Vec<String> {
    let m = format!(
        "-p tcp -m conntrack --ctorigdst {} --ctorigdstport {}",
        r.address, r.port
    );
    let mut out: Vec<String> = r
        .allowed
        .iter()
        .map(|(_, a)| format!("{m} -s {a} -j RETURN"))
        .collect();
    out.push(format!("{m} -j DROP"));
    out
}

/// Lines for /etc/ufw/after.rules (or after6.rules), then `ufw reload`.
pub fn ufw(rules: &[XmppRule]) -> String {
    let mut s = String::from("*filter\n:DOCKER-USER - [0:0]\n");
    for rule in rules.iter().flat_map(docker_user) {
        s.push_str(&format!("-A DOCKER-USER {rule}\n"));
    }
    s.push_str("COMMIT\n");
    s
}

/// firewall-cmd commands (direct rules in DOCKER-USER), then a reload.
pub fn firewalld(rules: &[XmppRule]) -> Vec<String> {
    let mut out: Vec<String> = rules
        .iter()
        .flat_map(|r| {
            let fam = if r.address.is_ipv4() { "ipv4" } else { "ipv6" };
            docker_user(r).into_iter().map(move |rule| (fam, rule))
        })
        .enumerate()
        .map(|(i, (fam, rule))| {
            format!(
                "firewall-cmd --permanent --direct --add-rule {fam} filter DOCKER-USER {i} {rule}"
            )
        })
        .collect();
    out.push("firewall-cmd --reload".into());
    out
}

/// Whether `listing` (`nft list table inet jitsi_stack`) restricts the port
/// to exactly the allowed addresses.
pub fn nft_applied(r: &XmppRule, listing: &str) -> bool {
    let drop = format!("daddr {} tcp dport {} drop", r.address, r.port);
    listing.contains(&drop)
        && r.allowed.iter().all(|(_, a)| {
            listing.contains(&format!(
                "daddr {} tcp dport {} {} saddr {a} accept",
                r.address,
                r.port,
                family(r.address)
            ))
        })
}

/// Whether `listing` (`iptables -S DOCKER-USER`) drops the port for others.
pub fn docker_user_applied(r: &XmppRule, listing: &str) -> bool {
    listing
        .lines()
        .any(|l| l.contains(&format!("--ctorigdstport {} ", r.port)) && l.contains("-j DROP"))
        && r.allowed.iter().all(|(_, a)| {
            listing.contains(&format!("-s {a}/")) || listing.contains(&format!("-s {a} "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> XmppRule {
        XmppRule {
            address: "198.51.100.10".parse().unwrap(),
            port: 5222,
            peer: Peer::Nodes,
            allowed: vec![
                ("b2".into(), "203.0.113.2".parse().unwrap()),
                ("r1".into(), "203.0.113.3".parse().unwrap()),
            ],
            unreachable: vec![],
        }
    }

    #[test]
    fn nftables_accepts_the_nodes_then_drops() {
        let t = nftables(&[rule()]);
        let b2 = t
            .find("ip daddr 198.51.100.10 tcp dport 5222 ip saddr 203.0.113.2 accept")
            .unwrap();
        let drop = t
            .find("ip daddr 198.51.100.10 tcp dport 5222 drop")
            .unwrap();
        assert!(b2 < drop);
        assert!(t.contains("hook prerouting priority -150"));
        // What `nft list table` prints for it is recognised.
        let listing = "table inet jitsi_stack {\n\tchain xmpp_nodes {\n\t\ttype filter hook prerouting priority -150; policy accept;\n\t\tip daddr 198.51.100.10 tcp dport 5222 ip saddr 203.0.113.2 accept comment \"node b2\"\n\t\tip daddr 198.51.100.10 tcp dport 5222 ip saddr 203.0.113.3 accept comment \"node r1\"\n\t\tip daddr 198.51.100.10 tcp dport 5222 drop comment \"not a node\"\n\t}\n}\n";
        assert!(nft_applied(&rule(), listing));
        let mut more = rule();
        more.allowed
            .push(("b3".into(), "203.0.113.4".parse().unwrap()));
        assert!(!nft_applied(&more, listing), "a node's address is missing");
    }

    #[test]
    fn docker_user_rules_match_the_original_destination() {
        let u = ufw(&[rule()]);
        assert!(u.starts_with("*filter\n:DOCKER-USER - [0:0]\n"));
        assert!(u.contains("-A DOCKER-USER -p tcp -m conntrack --ctorigdst 198.51.100.10 --ctorigdstport 5222 -s 203.0.113.2 -j RETURN\n"));
        assert!(u.ends_with("-j DROP\nCOMMIT\n"));
        let f = firewalld(&[rule()]);
        assert_eq!(f.len(), 4);
        assert!(f[2].contains("DOCKER-USER 2 ") && f[2].ends_with("-j DROP"));
        let listing = "-N DOCKER-USER\n-A DOCKER-USER -d 198.51.100.10/32 -p tcp -m conntrack --ctorigdst 198.51.100.10 --ctorigdstport 5222 -s 203.0.113.2/32 -j RETURN\n-A DOCKER-USER -s 203.0.113.3/32 -p tcp -m conntrack --ctorigdstport 5222 -j RETURN\n-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 5222 -j DROP\n";
        assert!(docker_user_applied(&rule(), listing));
        assert!(!docker_user_applied(&rule(), "-N DOCKER-USER\n"));
    }
}
