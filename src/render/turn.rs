//! Rendering of coturn's `turnserver.conf` for `--with turn`: the bundled
//! TURN server that prosody's `external_services` point clients at.
//!
//! Relay ports: 49152-49252 unless `TURN_RELAY_MIN_PORT`/`TURN_RELAY_MAX_PORT`
//! are set in `.env` (101 ports, each relayed session uses one or two).

use super::{prosody, render_template, Output};
use crate::config::{Component, Stack};
use crate::escape;
use anyhow::{bail, Result};
use minijinja::{Environment, Value};
use serde::Serialize;
use std::net::IpAddr;

/// Templates this module renders: (name under templates/, source).
pub static TEMPLATES: &[(&str, &str)] = &[(
    "turn/turnserver.conf.j2",
    include_str!("../../templates/turn/turnserver.conf.j2"),
)];

pub const RELAY_MIN_PORT: u16 = 49152;
pub const RELAY_MAX_PORT: u16 = 49252;

/// Peers the relay must never reach: private, loopback, link-local,
/// CGNAT, multicast and reserved ranges (v4 and v6).
pub const DENIED_PEERS: &[&str] = &[
    "0.0.0.0-0.255.255.255",
    "10.0.0.0-10.255.255.255",
    "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255",
    "169.254.0.0-169.254.255.255",
    "172.16.0.0-172.31.255.255",
    "192.0.0.0-192.0.0.255",
    "192.168.0.0-192.168.255.255",
    "198.18.0.0-198.19.255.255",
    "224.0.0.0-255.255.255.255",
    "::1",
    "::ffff:0.0.0.0-::ffff:255.255.255.255",
    "64:ff9b::-64:ff9b::ffff:ffff",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
];

#[derive(Debug, Serialize)]
pub struct Turn {
    pub listening_port: u16,
    pub tls_listening_port: u16,
    pub min_port: u16,
    pub max_port: u16,
    pub realm: String,
    pub secret: String,
    pub cert: Option<String>,
    pub pkey: Option<String>,
    pub denied: &'static [&'static str],
    /// The bridges' advertised addresses inside a denied range (a LAN
    /// install): the relay must reach those, and only those, of the ranges.
    pub allowed: Vec<String>,
}

/// Whether `ip` falls in one of [`DENIED_PEERS`].
fn is_denied(ip: IpAddr) -> bool {
    DENIED_PEERS.iter().any(|range| {
        let (low, high) = range.split_once('-').unwrap_or((range, range));
        match (low.parse::<IpAddr>(), high.parse::<IpAddr>()) {
            (Ok(IpAddr::V4(l)), Ok(IpAddr::V4(h))) => {
                matches!(ip, IpAddr::V4(v) if l <= v && v <= h)
            }
            (Ok(IpAddr::V6(l)), Ok(IpAddr::V6(h))) => {
                matches!(ip, IpAddr::V6(v) if l <= v && v <= h)
            }
            _ => false,
        }
    })
}

/// The addresses the bridges advertise (this host's JVB_ADVERTISE_IPS, or
/// its old name DOCKER_HOST_ADDRESS, and every bridge node's `advertise=`)
/// that the denied ranges would keep the relay from.
fn allowed_peers(stack: &Stack) -> Vec<String> {
    let v = &stack.values;
    let var = if v.raw("JVB_ADVERTISE_IPS").is_some() {
        "JVB_ADVERTISE_IPS"
    } else {
        "DOCKER_HOST_ADDRESS"
    };
    let mut entries = v.list(var);
    for node in crate::stack::nodes::nodes(&stack.file) {
        entries.extend(node.advertise.iter().cloned());
    }
    let mut out: Vec<String> = Vec::new();
    for entry in entries {
        let ip = entry.split_once('#').map_or(entry.as_str(), |(ip, _)| ip);
        match ip.trim().parse::<IpAddr>() {
            Ok(ip) if is_denied(ip) && !out.contains(&ip.to_string()) => out.push(ip.to_string()),
            _ => {}
        }
    }
    out
}

pub fn derive(stack: &Stack) -> Result<Turn> {
    let v = &stack.values;
    let Some(secret) = v.get("TURN_CREDENTIALS") else {
        bail!("--with turn needs TURN_CREDENTIALS in .env: run `jitsi-stack gen-passwords`");
    };
    let relay = |name: &str, default: u16| -> Result<u16> {
        match v.raw(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p >= 1024)
                .ok_or_else(|| anyhow::anyhow!("{name}={raw:?}: expected a port 1024-65535")),
        }
    };
    let min_port = relay("TURN_RELAY_MIN_PORT", RELAY_MIN_PORT)?;
    let max_port = relay("TURN_RELAY_MAX_PORT", RELAY_MAX_PORT)?;
    if min_port > max_port {
        bail!("TURN_RELAY_MIN_PORT ({min_port}) is above TURN_RELAY_MAX_PORT ({max_port})");
    }
    // Checked here so the error names the variable; the template's filter
    // would refuse the same values without knowing where they came from.
    let plain = |var: &str, value: &str| -> Result<()> {
        escape::coturn_value(value).map(|_| ()).map_err(|e| {
            anyhow::anyhow!(
                "{var}: {e}; use a plain token{}",
                if var == "TURN_CREDENTIALS" {
                    " (`jitsi-stack gen-passwords --force --only TURN_CREDENTIALS` makes one)"
                } else {
                    ""
                }
            )
        })
    };
    plain("TURN_CREDENTIALS", secret)?;
    for var in ["TURN_TLS_CERT", "TURN_TLS_KEY"] {
        if let Some(path) = v.raw(var) {
            plain(var, path)?;
        }
    }
    Ok(Turn {
        listening_port: prosody::TURN_PORT,
        tls_listening_port: prosody::TURNS_PORT,
        min_port,
        max_port,
        realm: prosody::public_host(v),
        secret: secret.to_string(),
        cert: v.raw("TURN_TLS_CERT").map(str::to_string),
        pkey: v.raw("TURN_TLS_KEY").map(str::to_string),
        denied: DENIED_PEERS,
        allowed: allowed_peers(stack),
    })
}

pub fn render(env: &Environment<'_>, stack: &Stack, ctx: &Value, out: &mut Output) -> Result<()> {
    if !stack.has(Component::Turn) {
        return Ok(());
    }
    let turn = derive(stack)?;
    if turn.cert.is_some() != turn.pkey.is_some() {
        bail!("TURN_TLS_CERT and TURN_TLS_KEY must be set together");
    }
    let ctx = minijinja::context! { turn => Value::from_serialize(&turn), ..ctx.clone() };
    let text = render_template(env, "turn/turnserver.conf.j2", &ctx).map_err(|e| {
        anyhow::anyhow!("{e:#}\n(TURN_CREDENTIALS and the public host must be single words without spaces, '#' or braces)")
    })?;
    out.add("generated/turn/turnserver.conf", text);
    Ok(())
}
