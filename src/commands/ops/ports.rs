//! `jitsi-stack ports`: what the firewall must let in for the enabled
//! components, with ready-to-paste ufw and firewall-cmd lines.

use crate::cli::PortsArgs;
use crate::config::{Component, Stack, BEHIND_PROXY_VAR};
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
    /// The host address Docker binds: `0.0.0.0` (every interface) or
    /// `127.0.0.1` (this host only, no firewall rule needed).
    pub address: &'static str,
}

/// Every interface.
pub const ANY: &str = "0.0.0.0";
/// This host only.
pub const LOOPBACK: &str = "127.0.0.1";

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
            address: ANY,
        }
    }

    fn local(mut self) -> Self {
        self.address = LOOPBACK;
        self
    }

    pub fn is_public(&self) -> bool {
        self.address != LOOPBACK
    }

    pub fn range(&self) -> String {
        if self.low == self.high {
            self.low.to_string()
        } else {
            format!("{}-{}", self.low, self.high)
        }
    }
}

/// Every host port the stack binds, with its address: what `doctor`
/// checks is free. TURN uses the host's network directly.
pub fn host_ports(stack: &Stack) -> Vec<PortRule> {
    let v = &stack.values;
    let http = v.port("HTTP_PORT").unwrap_or(8000);
    let https = v.port("HTTPS_PORT").unwrap_or(8443);
    let mut out = if stack.behind_proxy() {
        vec![PortRule::new(
            "web",
            http,
            http,
            "tcp",
            "HTTP for the reverse proxy on this host",
        )
        .local()]
    } else {
        vec![
            PortRule::new("web", http, http, "tcp", "HTTP (redirect, Let's Encrypt)"),
            PortRule::new("web", https, https, "tcp", "HTTPS"),
        ]
    };
    let jicofo = v.port("JICOFO_REST_PORT").unwrap_or(8888);
    out.push(PortRule::new("jicofo", jicofo, jicofo, "tcp", "REST API (health)").local());
    for j in jvb_instances(stack) {
        out.push(PortRule::new(
            &j.instance.name,
            j.udp_port,
            j.udp_port,
            "udp",
            "media (videobridge)",
        ));
        out.push(
            PortRule::new(
                &j.instance.name,
                j.colibri_port,
                j.colibri_port,
                "tcp",
                "colibri REST (health)",
            )
            .local(),
        );
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
    if stack.has(Component::Monitoring) {
        out.push(PortRule::new("prometheus", 9090, 9090, "tcp", "Prometheus").local());
        out.push(PortRule::new("grafana", 3000, 3000, "tcp", "Grafana").local());
    }
    if stack.has(Component::LogAnalyser) {
        out.push(PortRule::new("loki", 3100, 3100, "tcp", "Loki").local());
    }
    out
}

/// Ports reachable from outside for the stack's components: what the
/// firewall must let in (loopback-only ones need no rule).
pub fn published_ports(stack: &Stack) -> Vec<PortRule> {
    host_ports(stack)
        .into_iter()
        .filter(PortRule::is_public)
        .collect()
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
    if stack.behind_proxy() {
        let http = stack.values.port("HTTP_PORT").unwrap_or(8000);
        println!(
            "# web is published on 127.0.0.1:{http} only, for the reverse proxy on this host \
             ({BEHIND_PROXY_VAR}=1): open the proxy's own ports (usually 80 and 443) instead"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Stack, Values};
    use crate::envfile::EnvFile;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    fn stack(pairs: &[(&str, &str)], components: &[Component]) -> Stack {
        Stack {
            dir: PathBuf::from("."),
            env_path: PathBuf::from(".env"),
            file: EnvFile::default(),
            values: Values::from_pairs(pairs.iter().copied()),
            components: components.iter().copied().collect::<BTreeSet<_>>(),
        }
    }

    /// `address:low-high/proto` of every `ports:` entry the compose writer emits.
    fn compose_ports(stack: &Stack) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for file in crate::render::compose::build(stack).values() {
            for svc in file.services.values() {
                for p in &svc.ports {
                    let (spec, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    let parts: Vec<&str> = spec.split(':').collect();
                    let (addr, host) = match parts.as_slice() {
                        [addr, host, _] => (*addr, *host),
                        [host, _] => (ANY, *host),
                        _ => panic!("{p}"),
                    };
                    let host = match host.split_once('-') {
                        Some((a, b)) if a == b => a.to_string(),
                        _ => host.to_string(),
                    };
                    out.insert(format!("{addr}:{host}/{proto}"));
                }
            }
        }
        out
    }

    fn ours(stack: &Stack) -> BTreeSet<String> {
        host_ports(stack)
            .iter()
            .filter(|r| r.service != "turn") // host network: no `ports:`
            .map(|r| format!("{}:{}/{}", r.address, r.range(), r.protocol))
            .collect()
    }

    #[test]
    fn the_port_list_is_what_compose_publishes() {
        let all = [
            Component::Jigasi,
            Component::Monitoring,
            Component::LogAnalyser,
            Component::Turn,
        ];
        for (pairs, comps) in [
            (vec![], vec![]),
            (
                vec![
                    ("HTTP_PORT", "80"),
                    ("HTTPS_PORT", "443"),
                    ("JVB_INSTANCES", "3"),
                ],
                all.to_vec(),
            ),
            (
                vec![("JITSI_STACK_BEHIND_PROXY", "1"), ("HTTP_PORT", "8081")],
                vec![],
            ),
        ] {
            let s = stack(&pairs, &comps);
            assert_eq!(ours(&s), compose_ports(&s), "{pairs:?} {comps:?}");
        }
    }

    #[test]
    fn behind_a_proxy_web_is_loopback_only_and_no_https_port() {
        let s = stack(
            &[("JITSI_STACK_BEHIND_PROXY", "1"), ("HTTPS_PORT", "443")],
            &[],
        );
        let web: Vec<_> = host_ports(&s)
            .into_iter()
            .filter(|r| r.service == "web")
            .collect();
        assert_eq!(web.len(), 1);
        assert_eq!((web[0].address, web[0].low), (LOOPBACK, 8000));
        assert!(published_ports(&s).iter().all(|r| r.service != "web"));
    }
}
