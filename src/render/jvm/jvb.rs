//! Rendering of each videobridge's configuration: `jvb.conf` (HOCON, read by
//! Typesafe Config) and `logging.properties`, one set per bridge
//! (`generated/jvb/`, `generated/jvb-2/`, ...).
//!
//! Follows the pinned image's template. In the pinned release the bridge
//! channel is SCTP only: no colibri websockets and no public HTTP server;
//! the private server (health, stats, COLIBRI REST) listens on port 8080 of
//! every container interface, published on the host's loopback.
//!
//! What the image derives at boot, and what is rendered instead:
//! - the container's own address (`LOCAL_ADDRESS`, the local side of each
//!   `JVB_ADVERTISE_IPS` mapping): the bridge's Compose service name. ice4j
//!   resolves `local-address` when it starts, and Docker's DNS answers with
//!   the container's address on the `meet.jitsi` network.
//! - the MUC nickname (`HOSTNAME`, the container id): `JVB_MUC_NICKNAME`, else
//!   the bridge's instance id, else its service name; distinct per bridge and
//!   stable across restarts.

use super::{logging_properties, sentry_on};
use crate::config::{Stack, Values};
use crate::render::{render_template, Output};
use crate::schema::kind;
use crate::stack::JvbInstance;
use anyhow::{bail, Result};
use minijinja::{Environment, Value};
use serde::Serialize;

/// Templates this module renders: (name under templates/, source).
pub static TEMPLATES: &[(&str, &str)] = &[(
    "jvb/jvb.conf.j2",
    include_str!("../../../templates/jvb/jvb.conf.j2"),
)];

/// Everything one bridge's `jvb.conf` says, decided here.
#[derive(Debug, Clone, Serialize)]
pub struct Jvb {
    pub udp_port: u16,
    pub advertise_private_candidates: bool,
    pub trust_bwe: bool,
    pub use_vla_target_bitrate: bool,
    pub bwe_engine: String,
    /// None with JVB_DISABLE_XMPP.
    pub shard: Option<Shard>,
    pub colibri_rest: bool,
    pub shutdown_rest: bool,
    pub use_usrsctp: bool,
    pub require_valid_address: bool,
    /// ENABLE_OCTO: (region, relay id).
    pub relay: Option<(String, String)>,
    /// STUN servers for discovering the public address; empty: STUN off.
    pub stun: Vec<String>,
    pub aws_harvester: bool,
    pub mappings: Vec<Mapping>,
}

/// The bridge's XMPP login and brewery room.
#[derive(Debug, Clone, Serialize)]
pub struct Shard {
    pub hostname: String,
    pub port: u16,
    pub domain: String,
    pub username: String,
    pub password: String,
    pub muc_jid: String,
    pub nickname: String,
    /// On a node: verify the main host's certificate (the JVM trusts its
    /// CA only); on the main host the Compose network is internal, and the
    /// image's self-signed certificate is not verified, as upstream.
    pub verify_certificate: bool,
}

/// An ice4j static mapping: the local address is announced as the public one.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Mapping {
    pub local_address: String,
    pub public_address: String,
    /// Both or neither: a NAT that forwards another public port.
    pub ports: Option<(u16, u16)>,
    pub name: String,
}

/// `<value>` for the first bridge, `<value>-<n>` for bridge n: one `.env`
/// value, distinct per bridge.
fn per_instance(value: &str, b: &JvbInstance) -> String {
    if b.instance.index == 1 {
        value.to_string()
    } else {
        format!("{value}-{}", b.instance.index)
    }
}

/// The static mappings of one bridge from `JVB_ADVERTISE_IPS` (or its old
/// name `DOCKER_HOST_ADDRESS`, which the image copies when the new one is
/// unset). An entry `IP#PORT` is a NAT forwarding public PORT to the
/// bridge's UDP port; bridge n announces PORT + n - 1.
pub fn mappings(v: &Values, b: &JvbInstance) -> Result<Vec<Mapping>> {
    let var = if v.raw("JVB_ADVERTISE_IPS").is_some() {
        "JVB_ADVERTISE_IPS"
    } else {
        "DOCKER_HOST_ADDRESS"
    };
    let mut out = Vec::new();
    for (i, entry) in v.list(var).iter().enumerate() {
        let (ip, port) = match entry.split_once('#') {
            Some((ip, port)) => (ip, Some(port)),
            None => (entry.as_str(), None),
        };
        if ip.parse::<std::net::IpAddr>().is_err() {
            bail!(
                "{var}: {entry:?} is not an IP address (expected IPv4 or IPv6, optionally #port)"
            );
        }
        let ports = match port {
            None => None,
            Some(p) => {
                let Some(p) = kind::parse_port(p) else {
                    bail!("{var}: {entry:?}: the part after # must be a port (1-65535)");
                };
                let public = u32::from(p) + b.instance.index - 1;
                let Ok(public) = u16::try_from(public) else {
                    bail!(
                        "{var}: {entry:?}: bridge {} would be announced on port {public}, \
                         which does not exist; lower the port",
                        b.instance.index
                    );
                };
                Some((b.udp_port, public))
            }
        };
        out.push(Mapping {
            local_address: b.instance.name.clone(),
            public_address: ip.to_string(),
            ports,
            name: format!("ip-{i}"),
        });
    }
    Ok(out)
}

/// Computes one bridge's `jvb.conf`.
pub fn derive(stack: &Stack, b: &JvbInstance) -> Result<Jvb> {
    let v = &stack.values;
    let Some(password) = v.get("JVB_AUTH_PASSWORD").map(String::from) else {
        bail!("JVB_AUTH_PASSWORD is not set in .env: run `jitsi-stack gen-passwords`");
    };
    let nickname = match v.raw("JVB_MUC_NICKNAME") {
        Some(n) => per_instance(n, b),
        None => b.instance_id.clone(),
    };
    let brewery = v.text("JVB_BREWERY_MUC", "jvbbrewery");
    let verify_certificate = crate::stack::nodes::is_bundle(v);
    let shard = (!v.bool("JVB_DISABLE_XMPP")).then(|| {
        if v.bool("ENABLE_JVB_XMPP_SERVER") {
            Shard {
                hostname: v.text("JVB_XMPP_SERVER", "xmpp.jvb.meet.jitsi"),
                port: v.port("JVB_XMPP_PORT").unwrap_or(6222),
                domain: v.text("JVB_XMPP_AUTH_DOMAIN", "auth.jvb.meet.jitsi"),
                username: v.text("JVB_AUTH_USER", "jvb"),
                password: password.clone(),
                muc_jid: format!(
                    "{brewery}@{}",
                    v.get_or("JVB_XMPP_INTERNAL_MUC_DOMAIN", "muc.jvb.meet.jitsi")
                ),
                nickname: nickname.clone(),
                verify_certificate,
            }
        } else {
            Shard {
                hostname: v.text("XMPP_SERVER", "xmpp.meet.jitsi"),
                port: v.port("XMPP_PORT").unwrap_or(5222),
                domain: v.text("XMPP_AUTH_DOMAIN", "auth.meet.jitsi"),
                username: v.text("JVB_AUTH_USER", "jvb"),
                password: password.clone(),
                muc_jid: format!(
                    "{brewery}@{}",
                    v.get_or("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")
                ),
                nickname: nickname.clone(),
                verify_certificate,
            }
        }
    });
    // A relay needs an id; the image leaves it empty without
    // JVB_OCTO_RELAY_ID or JVB_OCTO_BIND_ADDRESS, which the bridge rejects.
    let relay = v.bool("ENABLE_OCTO").then(|| {
        let id = v
            .raw("JVB_OCTO_RELAY_ID")
            .or_else(|| v.raw("JVB_OCTO_BIND_ADDRESS"))
            .map(|id| per_instance(id, b))
            .unwrap_or_else(|| b.instance.name.clone());
        (v.text("JVB_OCTO_REGION", "europe"), id)
    });
    let stun = if v.bool("JVB_DISABLE_STUN") {
        vec![]
    } else {
        v.list("JVB_STUN_SERVERS")
    };
    Ok(Jvb {
        udp_port: b.udp_port,
        advertise_private_candidates: v.bool("JVB_ADVERTISE_PRIVATE_CANDIDATES"),
        trust_bwe: v.bool("JVB_CC_TRUST_BWE"),
        use_vla_target_bitrate: v.bool("ENABLE_VLA"),
        bwe_engine: v.text("BWE_ESTIMATOR_ENGINE", "GoogleCc2"),
        shard,
        colibri_rest: v.bool("COLIBRI_REST_ENABLED"),
        shutdown_rest: v.bool("SHUTDOWN_REST_ENABLED"),
        use_usrsctp: v.bool("JVB_USE_USRSCTP"),
        require_valid_address: v.bool("JVB_REQUIRE_VALID_ADDRESS"),
        relay,
        stun,
        aws_harvester: !v.bool("DISABLE_AWS_HARVESTER"),
        mappings: mappings(v, b)?,
    })
}

/// Renders the files of `bridges` (the model's).
pub fn render(
    env: &Environment<'_>,
    stack: &Stack,
    bridges: &[JvbInstance],
    ctx: &Value,
    out: &mut Output,
) -> Result<()> {
    let sentry = sentry_on(&stack.values, "JVB_SENTRY_DSN");
    for b in bridges {
        let jvb = derive(stack, b)?;
        let ctx = minijinja::context! { jvb => Value::from_serialize(&jvb), ..ctx.clone() };
        let dir = format!("generated/{}", b.instance.name);
        out.add(
            format!("{dir}/jvb.conf"),
            render_template(env, "jvb/jvb.conf.j2", &ctx)?,
        );
        out.add(
            format!("{dir}/logging.properties"),
            logging_properties(env, &ctx, "JVB", sentry)?,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Instance;

    fn bridge(index: u32, udp_port: u16) -> JvbInstance {
        JvbInstance {
            instance: Instance {
                index,
                name: if index == 1 {
                    "jvb".into()
                } else {
                    format!("jvb-{index}")
                },
            },
            udp_port,
            colibri_port: 8080,
            instance_id: if index == 1 {
                "jvb".into()
            } else {
                format!("jvb-{index}")
            },
        }
    }

    #[test]
    fn advertised_addresses_map_the_service_name() {
        let v = Values::from_pairs([("JVB_ADVERTISE_IPS", "203.0.113.7, 2001:db8::7#20000")]);
        let m = mappings(&v, &bridge(2, 10001)).unwrap();
        assert_eq!(
            m,
            vec![
                Mapping {
                    local_address: "jvb-2".into(),
                    public_address: "203.0.113.7".into(),
                    ports: None,
                    name: "ip-0".into(),
                },
                Mapping {
                    local_address: "jvb-2".into(),
                    public_address: "2001:db8::7".into(),
                    ports: Some((10001, 20001)),
                    name: "ip-1".into(),
                },
            ]
        );
    }

    #[test]
    fn old_name_is_used_only_when_the_new_one_is_unset() {
        let v = Values::from_pairs([("DOCKER_HOST_ADDRESS", "198.51.100.1")]);
        assert_eq!(
            mappings(&v, &bridge(1, 10000)).unwrap()[0].public_address,
            "198.51.100.1"
        );
        let v = Values::from_pairs([
            ("DOCKER_HOST_ADDRESS", "198.51.100.1"),
            ("JVB_ADVERTISE_IPS", "203.0.113.7"),
        ]);
        let m = mappings(&v, &bridge(1, 10000)).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].public_address, "203.0.113.7");
    }

    #[test]
    fn bad_entries_and_overflowing_ports_are_refused() {
        for bad in ["not-an-ip", "203.0.113.7#0", "203.0.113.7#x"] {
            let v = Values::from_pairs([("JVB_ADVERTISE_IPS", bad)]);
            assert!(mappings(&v, &bridge(1, 10000)).is_err(), "{bad}");
        }
        let v = Values::from_pairs([("JVB_ADVERTISE_IPS", "203.0.113.7#65535")]);
        assert!(mappings(&v, &bridge(1, 10000)).is_ok());
        let err = mappings(&v, &bridge(2, 10001)).unwrap_err().to_string();
        assert!(err.contains("65536"), "{err}");
    }
}
