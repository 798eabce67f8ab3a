//! Nodes: other hosts that run bridges, recorders or SIP gateways for this
//! stack, and how `.env` records them.
//!
//! One line per node, plus its XMPP password (Compose's dotenv reads both as
//! plain variables; the images never see them):
//!
//! ```text
//! JITSI_STACK_NODE_BRIDGE_2='jvb address=10.0.0.2 advertise=203.0.113.7#10000 region=eu-west'
//! JITSI_STACK_NODE_BRIDGE_2_PASSWORD=3c1f...
//! ```
//!
//! The name `bridge-2` is the variable's suffix in lower case with `_` read
//! as `-`; names are lower-case letters, digits and single `-`, so the
//! mapping is one-to-one. The first word is what the node runs (`jvb`,
//! `jibri`, `jigasi`), then `key=value` words: `address` (required: the
//! address the main host sees the node's connections come from, for the
//! firewall), `advertise` (bridges: JVB_ADVERTISE_IPS of that node),
//! `region` (bridges and gateways) and `instances` (bridges and recorders:
//! how many run on that host, at most 32 as on the main host).
//!
//! Each node logs in to the main host's prosody with its own account,
//! `node-<name>` on XMPP_AUTH_DOMAIN, so removing a node revokes exactly its
//! login and a node's bundle holds no other host's password.

use crate::envfile::EnvFile;
use crate::schema::Level;
use std::fmt;
use std::net::IpAddr;

/// Prefix of a node's variable.
pub const PREFIX: &str = "JITSI_STACK_NODE_";
/// Suffix of a node's password variable.
pub const PASSWORD_SUFFIX: &str = "_PASSWORD";
/// In a bundle: the name of the node the bundle is.
pub const THIS_NODE: &str = "JITSI_STACK_THIS_NODE";
/// The main host's address the nodes reach.
pub const MAIN_ADDRESS: &str = "JITSI_STACK_MAIN_ADDRESS";
/// The name the nodes resolve to reach the main host.
pub const MAIN_HOST: &str = "JITSI_STACK_MAIN_HOST";
/// The local part of every node account.
pub const ACCOUNT_PREFIX: &str = "node-";
/// Instances of one service a host runs at most (as `JVB_INSTANCES`).
pub const MAX_INSTANCES: u32 = 32;
/// Longest node name.
pub const MAX_NAME: usize = 40;

/// What a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Jvb,
    Jibri,
    Jigasi,
    /// A visitor prosody (`index=N`): main prosody reaches it over s2s,
    /// jicofo logs in to it, nginx proxies its viewers (docs/visitors.md).
    Visitors,
}

impl NodeKind {
    pub const ALL: &'static [NodeKind] = &[
        NodeKind::Jvb,
        NodeKind::Jibri,
        NodeKind::Jigasi,
        NodeKind::Visitors,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Jvb => "jvb",
            NodeKind::Jibri => "jibri",
            NodeKind::Jigasi => "jigasi",
            NodeKind::Visitors => "visitors",
        }
    }

    pub fn parse(s: &str) -> Option<NodeKind> {
        NodeKind::ALL.iter().copied().find(|k| k.name() == s)
    }

    /// The variables of the image holding this service's XMPP account (a
    /// visitor node: the focus account jicofo logs in to it with).
    pub fn account_vars(self) -> (&'static str, &'static str) {
        match self {
            NodeKind::Visitors => ("JICOFO_AUTH_USER", "JICOFO_AUTH_PASSWORD"),
            NodeKind::Jvb => ("JVB_AUTH_USER", "JVB_AUTH_PASSWORD"),
            NodeKind::Jibri => ("JIBRI_XMPP_USER", "JIBRI_XMPP_PASSWORD"),
            NodeKind::Jigasi => ("JIGASI_XMPP_USER", "JIGASI_XMPP_PASSWORD"),
        }
    }

    /// The variable of the image holding the instance id.
    pub fn instance_id_var(self) -> &'static str {
        match self {
            NodeKind::Visitors => "PROSODY_VISITOR_INDEX",
            NodeKind::Jvb => "JVB_INSTANCE_ID",
            NodeKind::Jibri => "JIBRI_INSTANCE_ID",
            NodeKind::Jigasi => "JIGASI_INSTANCE_ID",
        }
    }

    /// The brewery room this service joins: (variable, default).
    pub fn brewery(self) -> (&'static str, &'static str) {
        match self {
            // A visitor node joins no brewery; its vN is its id.
            NodeKind::Visitors => ("", ""),
            NodeKind::Jvb => ("JVB_BREWERY_MUC", "jvbbrewery"),
            NodeKind::Jibri => ("JIBRI_BREWERY_MUC", "jibribrewery"),
            NodeKind::Jigasi => ("JIGASI_BREWERY_MUC", "jigasibrewery"),
        }
    }

    fn takes_advertise(self) -> bool {
        self == NodeKind::Jvb
    }

    fn takes_region(self) -> bool {
        matches!(self, NodeKind::Jvb | NodeKind::Jigasi)
    }

    fn max_instances(self) -> u32 {
        match self {
            NodeKind::Jigasi | NodeKind::Visitors => 1,
            _ => MAX_INSTANCES,
        }
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// The address the node's connections come from.
    pub address: IpAddr,
    /// JVB_ADVERTISE_IPS entries (`IP` or `IP#PORT`), bridges only.
    pub advertise: Vec<String>,
    pub region: Option<String>,
    pub instances: u32,
    /// Visitor nodes: the index (`vN`), given once by `node add` and
    /// never reused (docs/visitors.md).
    pub index: Option<u32>,
}

impl Node {
    /// The variable holding this node.
    pub fn var(&self) -> String {
        var_name(&self.name)
    }

    /// The variable holding this node's XMPP password.
    pub fn password_var(&self) -> String {
        format!("{}{PASSWORD_SUFFIX}", self.var())
    }

    /// The node's XMPP account (local part, on XMPP_AUTH_DOMAIN).
    pub fn account(&self) -> String {
        format!("{ACCOUNT_PREFIX}{}", self.name)
    }

    /// Instance ids (also brewery nicknames) of the node's services:
    /// the node's name, then `<name>-2`, ...; a visitor node's `vN`.
    pub fn instance_ids(&self) -> Vec<String> {
        if let Some(i) = self.index {
            return vec![format!("v{i}")];
        }
        (1..=self.instances)
            .map(|i| {
                if i == 1 {
                    self.name.clone()
                } else {
                    format!("{}-{i}", self.name)
                }
            })
            .collect()
    }

    /// The value of the node's variable (the inverse of [`parse_spec`]).
    pub fn spec(&self) -> String {
        let mut s = format!("{} address={}", self.kind, self.address);
        if !self.advertise.is_empty() {
            s.push_str(&format!(" advertise={}", self.advertise.join(",")));
        }
        if let Some(r) = &self.region {
            s.push_str(&format!(" region={r}"));
        }
        if self.instances != 1 {
            s.push_str(&format!(" instances={}", self.instances));
        }
        if let Some(i) = self.index {
            s.push_str(&format!(" index={i}"));
        }
        s
    }
}

/// Whether these values are a node's bundle.
pub fn is_bundle(v: &crate::config::Values) -> bool {
    v.raw(THIS_NODE).is_some()
}

/// `bridge-2` -> `JITSI_STACK_NODE_BRIDGE_2`.
pub fn var_name(name: &str) -> String {
    format!("{PREFIX}{}", name.to_ascii_uppercase().replace('-', "_"))
}

/// What a `JITSI_STACK_NODE_...` variable is: the node's line or its
/// password, with the node's name. None for other variables.
pub fn classify(key: &str) -> Option<(String, bool)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (rest, password) = match rest.strip_suffix(PASSWORD_SUFFIX) {
        Some(r) => (r, true),
        None => (rest, false),
    };
    Some((rest.to_ascii_lowercase().replace('_', "-"), password))
}

/// Checks a node name; the error says what is expected.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
        && !name.ends_with("-password")
        && name != "password";
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a node name: lower-case letters, digits and single '-', starting with a letter, at most {MAX_NAME} characters, not ending in -password (such as bridge-2)"
        ))
    }
}

/// Why a node's line cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    pub message: String,
    pub expected: String,
    pub found: String,
}

fn spec_error(message: impl Into<String>, expected: impl Into<String>, found: &str) -> SpecError {
    SpecError {
        message: message.into(),
        expected: expected.into(),
        found: format!("{found:?}"),
    }
}

/// Whether `ip` can be one host's own address: not a wildcard, loopback,
/// multicast or the IPv4 broadcast address.
pub fn is_unicast(ip: IpAddr) -> bool {
    let special = match ip {
        IpAddr::V4(v4) => v4.is_broadcast() || v4.octets()[0] == 0,
        IpAddr::V6(_) => false,
    };
    !ip.is_unspecified() && !ip.is_loopback() && !ip.is_multicast() && !special
}

/// Checks JITSI_STACK_MAIN_ADDRESS: one address (prosody's XMPP port is
/// published there only; a wildcard would publish it everywhere while the
/// firewall rules for that address match nothing). A loopback address is
/// one, for nodes on this same host.
pub fn check_main_address(value: &str) -> Result<IpAddr, String> {
    const EXPECTED: &str = "one IP address of this host that the nodes reach (such as 198.51.100.10), not 0.0.0.0, ::, a multicast or broadcast address";
    match value.parse::<IpAddr>() {
        Ok(ip) if is_unicast(ip) || ip.is_loopback() => Ok(ip),
        _ => Err(EXPECTED.into()),
    }
}

/// One field of a node given on its own (as `node add` takes them): a
/// single word with no `=`, so it cannot carry another key into the line.
fn single_word(field: &str, value: &str) -> Result<(), SpecError> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == '=' || c.is_control())
    {
        return Err(spec_error(
            format!("{field} is not one value"),
            format!("one {field} with no spaces or '='"),
            value,
        ));
    }
    Ok(())
}

/// A visitor node's index stays at or below this (indexes are never
/// reused, so they only grow; `visitors` gives them).
pub const MAX_VISITOR_INDEX: u32 = 9999;

/// A visitor node from its fields (`node add visitors`): the address on
/// its own, then the line read back by [`parse_spec`].
pub fn visitor_from_fields(name: &str, address: &str, index: u32) -> Result<Node, SpecError> {
    single_word("address", address)?;
    parse_spec(
        name,
        &format!("{} address={address} index={index}", NodeKind::Visitors),
    )
}

/// A node from its fields given one by one (`node add`): each field is
/// checked on its own, then the line is read back by [`parse_spec`].
pub fn node_from_fields(
    name: &str,
    kind: NodeKind,
    address: &str,
    advertise: Option<&str>,
    region: Option<&str>,
    instances: u32,
) -> Result<Node, SpecError> {
    single_word("address", address)?;
    let mut spec = format!("{kind} address={address}");
    if let Some(a) = advertise {
        single_word("advertise", a)?;
        spec.push_str(&format!(" advertise={a}"));
    }
    if let Some(r) = region {
        single_word("region", r)?;
        spec.push_str(&format!(" region={r}"));
    }
    if instances != 1 {
        spec.push_str(&format!(" instances={instances}"));
    }
    parse_spec(name, &spec)
}

/// A region name as jicofo and the bridges compare it.
fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks one JVB_ADVERTISE_IPS entry: `IP` or `IP#PORT`.
pub fn check_advertise(entry: &str) -> Result<(), String> {
    let (ip, port) = match entry.split_once('#') {
        Some((ip, p)) => (ip, Some(p)),
        None => (entry, None),
    };
    if !ip.parse::<IpAddr>().is_ok_and(is_unicast) {
        return Err(
            "a unicast IP address, optionally #port (203.0.113.7 or 203.0.113.7#10000)".into(),
        );
    }
    if let Some(p) = port {
        if crate::schema::kind::parse_port(p).is_none() {
            return Err("a port (1-65535) after #".into());
        }
    }
    Ok(())
}

/// Reads a node's line: `KIND address=IP [advertise=..] [region=..] [instances=N]`.
pub fn parse_spec(name: &str, value: &str) -> Result<Node, SpecError> {
    const FORM: &str =
        "KIND address=IP [advertise=IP[#PORT],...] [region=NAME] [instances=N], KIND one of jvb, jibri, jigasi; or visitors address=IP index=N";
    let mut words = value.split_whitespace();
    let kind_word = words.next().unwrap_or("");
    let Some(kind) = NodeKind::parse(kind_word) else {
        return Err(spec_error(
            "does not say what the node runs",
            FORM,
            kind_word,
        ));
    };
    let mut node = Node {
        name: name.to_string(),
        kind,
        address: IpAddr::from([0, 0, 0, 0]),
        advertise: vec![],
        region: None,
        instances: 1,
        index: None,
    };
    let mut address = None;
    let mut seen: Vec<&str> = vec![];
    for word in words {
        let Some((key, v)) = word.split_once('=') else {
            return Err(spec_error(format!("{word:?} is not key=value"), FORM, word));
        };
        if seen.contains(&key) {
            return Err(spec_error(format!("{key} is given twice"), FORM, word));
        }
        seen.push(key);
        match key {
            "address" => match v.parse::<IpAddr>() {
                Ok(ip) if is_unicast(ip) => address = Some(ip),
                _ => {
                    return Err(spec_error(
                        "address is not the node's IP address",
                        "address=IP, the address the main host sees the node's connections come from (not 0.0.0.0, ::, a loopback, multicast or broadcast address)",
                        v,
                    ))
                }
            },
            "advertise" if kind.takes_advertise() => {
                for entry in v.split(',') {
                    if let Err(e) = check_advertise(entry) {
                        return Err(spec_error(
                            format!("advertise entry {entry:?} is not usable"),
                            e,
                            v,
                        ));
                    }
                    node.advertise.push(entry.to_string());
                }
            }
            "region" if kind.takes_region() => {
                if !is_region(v) {
                    return Err(spec_error(
                        "region is not a region name",
                        "letters, digits, - _ . (such as eu-west)",
                        v,
                    ));
                }
                node.region = Some(v.to_string());
            }
            "instances" => {
                let max = kind.max_instances();
                match v.parse::<u32>() {
                    Ok(n) if (1..=max).contains(&n) => node.instances = n,
                    _ => {
                        return Err(spec_error(
                            "instances is out of range",
                            format!("a whole number from 1 to {max} for a {kind} node"),
                            v,
                        ))
                    }
                }
            }
            "index" if kind == NodeKind::Visitors => match v.parse::<u32>() {
                Ok(n) if n <= MAX_VISITOR_INDEX => node.index = Some(n),
                _ => {
                    return Err(spec_error(
                        "index is not a visitor node index",
                        format!(
                            "index=N, a whole number from 0 to {} given by `jitsi-stack node add visitors`",
                            MAX_VISITOR_INDEX
                        ),
                        v,
                    ))
                }
            },
            "advertise" | "region" | "index" => {
                return Err(spec_error(
                    format!("a {kind} node has no {key}"),
                    match kind {
                        _ if key == "index" => "index= for a visitor node only".to_string(),
                        NodeKind::Visitors => {
                            "address= and index= only for a visitor node".to_string()
                        }
                        NodeKind::Jibri => "no advertise= or region= for a recorder".to_string(),
                        _ => "no advertise= for a SIP gateway (it has no JVB_ADVERTISE_IPS)".to_string(),
                    },
                    word,
                ))
            }
            _ => return Err(spec_error(format!("unknown key {key:?}"), FORM, word)),
        }
    }
    if kind == NodeKind::Visitors && node.index.is_none() {
        return Err(spec_error(
            "a visitor node has no index",
            "index=N (given by `jitsi-stack node add visitors`)",
            value,
        ));
    }
    match address {
        Some(a) => node.address = a,
        None => {
            return Err(spec_error(
                "has no address",
                "address=IP, the address the main host sees the node's connections come from",
                value,
            ))
        }
    }
    Ok(node)
}

/// A problem with the nodes, located in `.env` (the validator adds the
/// file name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub level: Level,
    pub var: String,
    pub line: Option<usize>,
    pub message: String,
    pub expected: Option<String>,
    /// Never a secret's value.
    pub found: Option<String>,
    pub fix: String,
}

/// The nodes recorded in `file`, in `.env` order (the last line of a node
/// wins, as in Compose), with the problems that kept some out.
pub fn parse_all(file: &EnvFile) -> (Vec<Node>, Vec<Problem>) {
    let mut nodes: Vec<(usize, Node)> = vec![];
    let mut problems = vec![];
    for e in file.entries() {
        let Some((name, is_password)) = classify(&e.key) else {
            continue;
        };
        if is_password {
            continue;
        }
        // Only the last assignment counts.
        if file.entry(&e.key).map(|l| l.line) != Some(e.line) {
            continue;
        }
        if let Err(expected) = check_name(&name) {
            problems.push(Problem {
                level: Level::Error,
                var: e.key.clone(),
                line: Some(e.line),
                message: "the variable's suffix is not a node name".into(),
                expected: Some(expected),
                found: Some(format!("{name:?}")),
                fix: format!("rename it, or remove line {} of .env", e.line),
            });
            continue;
        }
        if e.value.is_empty() {
            continue;
        }
        match parse_spec(&name, &e.value) {
            Ok(n) => nodes.push((e.line, n)),
            Err(err) => problems.push(Problem {
                level: Level::Error,
                var: e.key.clone(),
                line: Some(e.line),
                message: format!("node {name}: {}", err.message),
                expected: Some(err.expected),
                found: Some(err.found),
                fix: format!(
                    "edit line {} of .env, or remove the node and add it again with `jitsi-stack node add`",
                    e.line
                ),
            }),
        }
    }
    nodes.sort_by_key(|(line, _)| *line);
    (nodes.into_iter().map(|(_, n)| n).collect(), problems)
}

/// The nodes of `file` that parse.
pub fn nodes(file: &EnvFile) -> Vec<Node> {
    parse_all(file).0
}

/// Gives every listed node without a password a fresh one (a value no
/// other variable of `file` has). Returns the variables set.
pub fn fill_passwords(file: &mut EnvFile) -> anyhow::Result<Vec<String>> {
    let mut taken: Vec<String> = file.entries().map(|e| e.value.clone()).collect();
    let mut new: Vec<(String, String)> = vec![];
    for n in nodes(file) {
        if file.is_set(&n.password_var()) {
            continue;
        }
        let value = loop {
            let v = crate::secrets::generate();
            if !taken.contains(&v) {
                break v;
            }
        };
        taken.push(value.clone());
        new.push((n.password_var(), value));
    }
    let pairs: Vec<(&str, &str)> = new.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    file.set_many(&pairs)?;
    Ok(new.into_iter().map(|(k, _)| k).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_variables_one_to_one() {
        assert_eq!(var_name("bridge-2"), "JITSI_STACK_NODE_BRIDGE_2");
        assert_eq!(
            classify("JITSI_STACK_NODE_BRIDGE_2"),
            Some(("bridge-2".into(), false))
        );
        assert_eq!(
            classify("JITSI_STACK_NODE_BRIDGE_2_PASSWORD"),
            Some(("bridge-2".into(), true))
        );
        assert_eq!(classify("JITSI_STACK_WITH"), None);
        for bad in [
            "",
            "Bridge",
            "2bridge",
            "a_b",
            "a--b",
            "a-",
            "x-password",
            "a b",
            &"a".repeat(41),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["b", "bridge-2", "eu-west-1"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn specs_round_trip() {
        let n = parse_spec(
            "b2",
            "jvb address=10.0.0.2 advertise=203.0.113.7#10000,2001:db8::7 region=eu-west instances=2",
        )
        .unwrap();
        assert_eq!(n.kind, NodeKind::Jvb);
        assert_eq!(n.address.to_string(), "10.0.0.2");
        assert_eq!(n.advertise, ["203.0.113.7#10000", "2001:db8::7"]);
        assert_eq!(n.region.as_deref(), Some("eu-west"));
        assert_eq!(n.instance_ids(), ["b2", "b2-2"]);
        assert_eq!(n.account(), "node-b2");
        assert_eq!(parse_spec("b2", &n.spec()).unwrap(), n);
        let r = parse_spec("rec", "jibri address=10.0.0.3").unwrap();
        assert_eq!(r.spec(), "jibri address=10.0.0.3");
    }

    #[test]
    fn bad_specs_say_what_was_expected() {
        for (spec, says) in [
            ("", "does not say"),
            ("bridge address=10.0.0.2", "does not say"),
            ("jvb", "has no address"),
            ("jvb address=nope", "address"),
            ("jvb address=127.0.0.1", "address"),
            ("jvb address=0.0.0.0", "address"),
            ("jvb address=::", "address"),
            ("jvb address=224.0.0.5", "address"),
            ("jvb address=ff02::1", "address"),
            ("jvb address=255.255.255.255", "address"),
            ("jvb address=10.0.0.2 advertise=239.1.1.1", "advertise"),
            ("jvb address=10.0.0.2 advertise=1.2.3", "advertise"),
            ("jvb address=10.0.0.2 advertise=203.0.113.7#0", "advertise"),
            ("jvb address=10.0.0.2 region=eu/west", "region"),
            ("jvb address=10.0.0.2 instances=33", "instances"),
            ("jigasi address=10.0.0.2 instances=2", "instances"),
            ("jibri address=10.0.0.2 region=eu", "no region"),
            (
                "jigasi address=10.0.0.2 advertise=203.0.113.7",
                "no advertise",
            ),
            ("jvb address=10.0.0.2 address=10.0.0.3", "twice"),
            ("jvb address=10.0.0.2 colour=blue", "unknown key"),
            ("jvb address=10.0.0.2 stray", "key=value"),
        ] {
            let e = parse_spec("n", spec).unwrap_err();
            assert!(e.message.contains(says), "{spec:?}: {e:?}");
            assert!(!e.expected.is_empty());
        }
    }

    #[test]
    fn each_field_is_one_value_and_the_main_address_is_unicast() {
        for (addr, region) in [
            ("10.0.0.3 advertise=203.0.113.9", None),
            ("10.0.0.3", Some("eu instances=5")),
            ("10.0.0.3", Some("eu\tx")),
            ("10.0.0.3", Some("a=b")),
        ] {
            let e = node_from_fields("n", NodeKind::Jvb, addr, None, region, 1).unwrap_err();
            assert!(
                e.message.contains("not one value"),
                "{addr:?} {region:?}: {e:?}"
            );
        }
        let n = node_from_fields(
            "n",
            NodeKind::Jvb,
            "10.0.0.3",
            Some("203.0.113.9"),
            Some("eu"),
            2,
        )
        .unwrap();
        assert_eq!(
            n.spec(),
            "jvb address=10.0.0.3 advertise=203.0.113.9 region=eu instances=2"
        );
        for bad in [
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            " 10.0.0.1",
            "x",
        ] {
            assert!(check_main_address(bad).is_err(), "{bad:?}");
        }
        assert!(check_main_address("198.51.100.10").is_ok());
        assert!(check_main_address("127.0.0.1").is_ok());
        assert!(check_main_address("2001:db8::1").is_ok());
    }

    #[test]
    fn the_last_line_of_a_node_wins_and_passwords_are_not_nodes() {
        let f = EnvFile::parse(
            "JITSI_STACK_NODE_B='jvb address=10.0.0.9'\n\
             JITSI_STACK_NODE_A='jibri address=10.0.0.3'\n\
             JITSI_STACK_NODE_B='jvb address=10.0.0.2'\n\
             JITSI_STACK_NODE_B_PASSWORD=abc\n\
             JITSI_STACK_NODE_BAD__NAME='jvb address=10.0.0.4'\n",
        )
        .unwrap();
        let (nodes, problems) = parse_all(&f);
        let got: Vec<(String, String)> = nodes
            .iter()
            .map(|n| (n.name.clone(), n.address.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), "10.0.0.3".to_string()),
                ("b".to_string(), "10.0.0.2".to_string())
            ]
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(5));
    }
}
