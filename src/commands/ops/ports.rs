//! `jitsi-stack ports`: what the firewall must let in for the enabled
//! components, with ready-to-paste ufw and firewall-cmd lines; with nodes,
//! the rules that let only them reach prosody's XMPP port (`firewall`).

use crate::cli::PortsArgs;
use crate::config::{Stack, BEHIND_PROXY_VAR};
use crate::firewall;
use crate::stack::{Exposure, Model};
use crate::Exit;
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

/// This host only.
pub const LOOPBACK: &str = "127.0.0.1";

/// One published port or range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortRule {
    pub service: String,
    pub low: u16,
    pub high: u16,
    pub protocol: &'static str,
    pub purpose: &'static str,
    /// Published on this address only (None: every interface;
    /// `127.0.0.1`: this host only, no firewall rule needed).
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

    /// Reachable beyond this host: needs a firewall rule.
    pub fn is_public(&self) -> bool {
        self.address.as_deref() != Some(LOOPBACK)
    }

    pub fn range(&self) -> String {
        if self.low == self.high {
            self.low.to_string()
        } else {
            format!("{}-{}", self.low, self.high)
        }
    }
}

/// Every host port the stack binds, with its address, from the model: what
/// `doctor` checks is free (TURN binds the host's network directly).
pub fn host_ports(model: &Model) -> Vec<PortRule> {
    model
        .services
        .iter()
        .flat_map(|s| s.ports.iter().map(move |p| (s, p)))
        .filter_map(|(s, p)| {
            let address = match p.exposure {
                Exposure::Internal => return None,
                Exposure::All => None,
                Exposure::Loopback => Some(LOOPBACK.to_string()),
                Exposure::Address(a) => Some(a.to_string()),
            };
            let mut r = PortRule::new(&s.name, p.host.0, p.host.1, p.protocol.as_str(), p.purpose);
            r.address = address;
            Some(r)
        })
        .collect()
}

/// Ports reachable from outside for the stack's components, from the model
/// (loopback-only ones such as colibri REST are left out: they need no
/// firewall rule).
pub fn published_ports(stack: &Stack) -> Result<Vec<PortRule>> {
    Ok(rules(&Model::build(stack)?))
}

/// The model's public ports as firewall rules.
pub fn rules(model: &Model) -> Vec<PortRule> {
    let restricted = firewall::all_rules(model);
    model
        .public_ports()
        .map(|(s, p)| {
            let mut r = PortRule::new(&s.name, p.host.0, p.host.1, p.protocol.as_str(), p.purpose);
            if let Exposure::Address(a) = p.exposure {
                r.address = Some(a.to_string());
                if let Some(x) = restricted
                    .iter()
                    .find(|x| x.address == a && x.port == p.host.0)
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
    let restricted = firewall::all_rules(&model);
    if args.nftables {
        if restricted.is_empty() {
            return Err(crate::UsageError(
                "no XMPP port is published for nodes: --nftables needs nodes (`jitsi-stack node add`) and JITSI_STACK_MAIN_ADDRESS".into(),
            )
            .into());
        }
        crate::out!("{}", firewall::nftables(&restricted));
        return Ok(Exit::Ok);
    }
    if args.json {
        let doc = serde_json::json!({
            "format_version": crate::commands::JSON_FORMAT_VERSION,
            "ports": rules,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(Exit::Ok);
    }
    crate::outln!("{:<12} {:<12} {:<6} purpose", "service", "port", "proto");
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
        crate::outln!(
            "{:<12} {:<12} {:<6} {purpose}",
            r.service,
            r.range(),
            r.protocol,
        );
    }
    if stack.behind_proxy() {
        let http = stack.values.port("HTTP_PORT").unwrap_or(8000);
        crate::outln!(
            "# web is published on 127.0.0.1:{http} only, for the reverse proxy on this host \
             ({BEHIND_PROXY_VAR}=1): open the proxy's own ports (usually 80 and 443) instead"
        );
    }
    // Open to everyone: the ports of the restricted XMPP rule are not.
    let open: Vec<&PortRule> = rules.iter().filter(|r| r.address.is_none()).collect();
    crate::outln!("\n# ufw");
    for r in &open {
        crate::outln!("ufw allow {}/{}", r.range().replace('-', ":"), r.protocol);
    }
    crate::outln!("\n# firewalld");
    for r in &open {
        crate::outln!(
            "firewall-cmd --permanent --add-port={}/{}",
            r.range(),
            r.protocol
        );
    }
    crate::outln!("firewall-cmd --reload");
    if !restricted.is_empty() {
        let at: Vec<String> = restricted
            .iter()
            .map(|x| format!("{}:{}", x.address, x.port))
            .collect();
        let who = if model.is_node() {
            "the main host"
        } else {
            "the nodes"
        };
        crate::outln!(
            "\n# Only {who} may reach {}. Docker publishes ports ahead of ufw's and",
            at.join(", ")
        );
        crate::outln!(
            "# firewalld's own rules, so these act where Docker's traffic passes. Pick one."
        );
        crate::outln!("\n# nftables: `jitsi-stack ports --nftables > /etc/nftables.d/jitsi-stack.nft`, then `nft -f` it");
        for line in firewall::nftables(&restricted).lines() {
            crate::outln!("{line}");
        }
        crate::outln!(
            "\n# ufw: append to /etc/ufw/after.rules (IPv6: after6.rules), then `ufw reload`"
        );
        crate::out!("{}", firewall::ufw(&restricted));
        crate::outln!("\n# firewalld");
        for line in firewall::firewalld(&restricted) {
            crate::outln!("{line}");
        }
        for x in restricted.iter().filter(|x| !x.unreachable.is_empty()) {
            crate::outln!(
                "\n# warning: node(s) {} have an address of the other IP family: they cannot reach {}:{}",
                x.unreachable.join(", "),
                x.address,
                x.port
            );
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::stack;
    use crate::config::Component;
    use std::collections::BTreeSet;

    /// `address:low-high/proto` of every `ports:` entry the compose writer emits.
    fn compose_ports(model: &Model) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for file in crate::render::compose::build(model, "no").unwrap().values() {
            for svc in file.services.values() {
                for p in &svc.ports {
                    let (spec, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    let parts: Vec<&str> = spec.split(':').collect();
                    let (addr, host) = match parts.as_slice() {
                        [addr, host, _] => (*addr, *host),
                        [host, _] => ("0.0.0.0", *host),
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

    fn ours(model: &Model) -> BTreeSet<String> {
        host_ports(model)
            .iter()
            .filter(|r| r.service != "turn") // host network: no `ports:`
            .map(|r| {
                format!(
                    "{}:{}/{}",
                    r.address.as_deref().unwrap_or("0.0.0.0"),
                    r.range(),
                    r.protocol
                )
            })
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
            let model = Model::build(&stack(&pairs, &comps)).unwrap();
            assert_eq!(ours(&model), compose_ports(&model), "{pairs:?} {comps:?}");
        }
    }

    #[test]
    fn behind_a_proxy_web_is_loopback_only_and_no_https_port() {
        let s = stack(
            &[("JITSI_STACK_BEHIND_PROXY", "1"), ("HTTPS_PORT", "443")],
            &[],
        );
        let model = Model::build(&s).unwrap();
        let web: Vec<_> = host_ports(&model)
            .into_iter()
            .filter(|r| r.service == "web")
            .collect();
        assert_eq!(web.len(), 1);
        assert_eq!(
            (web[0].address.as_deref(), web[0].low),
            (Some(LOOPBACK), 8000)
        );
        assert!(rules(&model).iter().all(|r| r.service != "web"));
    }
}
