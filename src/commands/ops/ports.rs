//! `jitsi-stack ports`: what the firewall must let in for the enabled
//! components, with ready-to-paste ufw and firewall-cmd lines; with nodes,
//! the rules that let only them reach prosody's XMPP port (`firewall`).

use crate::cli::PortsArgs;
use crate::config::Stack;
use crate::firewall;
use crate::stack::{Exposure, Model};
use crate::Exit;
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

/// One published port or range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortRule {
    pub service: String,
    pub low: u16,
    pub high: u16,
    pub protocol: &'static str,
    pub purpose: &'static str,
    /// Published on this address only (None: every interface).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Reachable from these addresses only (the nodes); empty: from anywhere.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

impl PortRule {
    fn new(
        service: &str,
        low: u16,
        high: u16,
        protocol: &'static str,
        purpose: &'static str,
    ) -> Self {
        PortRule {
            service: service.into(),
            low,
            high,
            protocol,
            purpose,
            address: None,
            sources: vec![],
        }
    }

    pub fn range(&self) -> String {
        if self.low == self.high {
            self.low.to_string()
        } else {
            format!("{}-{}", self.low, self.high)
        }
    }
}

/// Ports reachable from outside for the stack's components, from the model
/// (loopback-only ones such as colibri REST are left out: they need no
/// firewall rule).
pub fn published_ports(stack: &Stack) -> Result<Vec<PortRule>> {
    Ok(rules(&Model::build(stack)?))
}

/// The model's public ports as firewall rules.
pub fn rules(model: &Model) -> Vec<PortRule> {
    let xmpp = firewall::xmpp_rule(model);
    model
        .public_ports()
        .map(|(s, p)| {
            let mut r = PortRule::new(&s.name, p.host.0, p.host.1, p.protocol.as_str(), p.purpose);
            if let Exposure::Address(a) = p.exposure {
                r.address = Some(a.to_string());
                if let Some(x) = xmpp
                    .as_ref()
                    .filter(|x| x.address == a && x.port == p.host.0)
                {
                    r.sources = x.allowed.iter().map(|(_, a)| a.to_string()).collect();
                }
            }
            r
        })
        .collect()
}

pub fn run(dir: &Path, args: PortsArgs) -> Result<Exit> {
    let stack = Stack::load(dir, &args.with)?;
    let model = Model::build(&stack)?;
    let rules = rules(&model);
    let xmpp = firewall::xmpp_rule(&model);
    if args.nftables {
        let Some(x) = &xmpp else {
            return Err(crate::UsageError(
                "no XMPP port is published for nodes: --nftables needs nodes (`jitsi-stack node add`) and JITSI_STACK_MAIN_ADDRESS".into(),
            )
            .into());
        };
        print!("{}", firewall::nftables(x));
        return Ok(Exit::Ok);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rules)?);
        return Ok(Exit::Ok);
    }
    println!("{:<12} {:<12} {:<6} purpose", "service", "port", "proto");
    for r in &rules {
        let purpose = if r.sources.is_empty() {
            r.purpose.to_string()
        } else {
            format!(
                "{}, on {} from {} only",
                r.purpose,
                r.address.as_deref().unwrap_or("?"),
                r.sources.join(", ")
            )
        };
        println!(
            "{:<12} {:<12} {:<6} {purpose}",
            r.service,
            r.range(),
            r.protocol,
        );
    }
    // Open to everyone: the ports of the restricted XMPP rule are not.
    let open: Vec<&PortRule> = rules.iter().filter(|r| r.address.is_none()).collect();
    println!("\n# ufw");
    for r in &open {
        println!("ufw allow {}/{}", r.range().replace('-', ":"), r.protocol);
    }
    println!("\n# firewalld");
    for r in &open {
        println!(
            "firewall-cmd --permanent --add-port={}/{}",
            r.range(),
            r.protocol
        );
    }
    println!("firewall-cmd --reload");
    if let Some(x) = &xmpp {
        let at = format!("{}:{}", x.address, x.port);
        println!(
            "\n# Only the nodes may reach XMPP on {at}. Docker publishes ports ahead of ufw's and"
        );
        println!("# firewalld's own rules, so these act where Docker's traffic passes. Pick one.");
        println!("\n# nftables: `jitsi-stack ports --nftables > /etc/nftables.d/jitsi-stack.nft`, then `nft -f` it");
        for line in firewall::nftables(x).lines() {
            println!("{line}");
        }
        println!("\n# ufw: append to /etc/ufw/after.rules (IPv6: after6.rules), then `ufw reload`");
        print!("{}", firewall::ufw(x));
        println!("\n# firewalld");
        for line in firewall::firewalld(x) {
            println!("{line}");
        }
        if !x.unreachable.is_empty() {
            println!(
                "\n# warning: node(s) {} have an address of the other IP family: they cannot reach {at}",
                x.unreachable.join(", ")
            );
        }
    }
    Ok(Exit::Ok)
}
