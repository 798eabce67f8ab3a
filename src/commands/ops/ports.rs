//! `jitsi-stack ports`: what the firewall must let in for the enabled
//! components, with ready-to-paste ufw and firewall-cmd lines.

use crate::cli::PortsArgs;
use crate::config::Stack;
use crate::stack::Model;
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
    model
        .public_ports()
        .map(|(s, p)| PortRule::new(&s.name, p.host.0, p.host.1, p.protocol.as_str(), p.purpose))
        .collect()
}

pub fn run(dir: &Path, args: PortsArgs) -> Result<Exit> {
    let stack = Stack::load(dir, &args.with)?;
    let rules = published_ports(&stack)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rules)?);
        return Ok(Exit::Ok);
    }
    println!("{:<12} {:<12} {:<6} purpose", "service", "port", "proto");
    for r in &rules {
        println!(
            "{:<12} {:<12} {:<6} {}",
            r.service,
            r.range(),
            r.protocol,
            r.purpose
        );
    }
    println!("\n# ufw");
    for r in &rules {
        println!("ufw allow {}/{}", r.range().replace('-', ":"), r.protocol);
    }
    println!("\n# firewalld");
    for r in &rules {
        println!(
            "firewall-cmd --permanent --add-port={}/{}",
            r.range(),
            r.protocol
        );
    }
    println!("firewall-cmd --reload");
    Ok(Exit::Ok)
}
