//! `jitsi-stack ports`: what the firewall must let in for the enabled
//! components, with ready-to-paste ufw and firewall-cmd lines.

use crate::cli::PortsArgs;
use crate::config::{Component, Stack};
use crate::render::compose::jvb_instances;
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

/// Ports reachable from outside for the stack's components (loopback-only
/// ones such as colibri REST are left out: they need no firewall rule).
pub fn published_ports(stack: &Stack) -> Vec<PortRule> {
    let v = &stack.values;
    let mut out = vec![
        PortRule::new(
            "web",
            v.port("HTTP_PORT").unwrap_or(8000),
            v.port("HTTP_PORT").unwrap_or(8000),
            "tcp",
            "HTTP (redirect, Let's Encrypt)",
        ),
        PortRule::new(
            "web",
            v.port("HTTPS_PORT").unwrap_or(8443),
            v.port("HTTPS_PORT").unwrap_or(8443),
            "tcp",
            "HTTPS",
        ),
    ];
    for j in jvb_instances(stack) {
        out.push(PortRule::new(
            &j.instance.name,
            j.udp_port,
            j.udp_port,
            "udp",
            "media (videobridge)",
        ));
    }
    if stack.has(Component::Jigasi) {
        let lo = v.port("JIGASI_PORT_MIN").unwrap_or(20000);
        let hi = v.port("JIGASI_PORT_MAX").unwrap_or(20050);
        out.push(PortRule::new("jigasi", lo, hi, "udp", "SIP media (RTP)"));
    }
    if stack.has(Component::Turn) {
        out.push(PortRule::new("turn", 3478, 3478, "udp", "TURN/STUN"));
        out.push(PortRule::new("turn", 3478, 3478, "tcp", "TURN over TCP"));
        out.push(PortRule::new("turn", 5349, 5349, "tcp", "TURN over TLS"));
        let lo = v.port("TURN_RELAY_MIN_PORT").unwrap_or(49152);
        let hi = v.port("TURN_RELAY_MAX_PORT").unwrap_or(49252);
        out.push(PortRule::new("turn", lo, hi, "udp", "TURN relay"));
    }
    out
}

pub fn run(dir: &Path, args: PortsArgs) -> Result<Exit> {
    let stack = Stack::load(dir, &args.with)?;
    let rules = published_ports(&stack);
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
