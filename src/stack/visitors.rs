//! Visitor nodes on this host (`JITSI_STACK_VISITORS=N`): extra prosody
//! instances (`prosody-v0` ... `prosody-vN-1`, the prosody image in
//! `PROSODY_MODE=visitors`) joined to the main prosody over s2s, to which
//! jicofo sends the viewers of a very large meeting.
//!
//! Everything the images read from one shared `.env` is derived here per
//! service, because the release's templates take main prosody's s2s target
//! and jicofo's c2s target from the same `VISITORS_XMPP_SERVER` /
//! `VISITORS_XMPP_PORT` list (docker-jitsi-meet #2183): main prosody dials
//! each node's s2s port, jicofo each node's client port.

use crate::config::{Stack, Values};
use std::net::IpAddr;

/// The variable that asks for visitor nodes.
pub const COUNT_VAR: &str = "JITSI_STACK_VISITORS";
/// The record of the indexes this host's nodes were given, in the order
/// they were given (written by `render` under the stack lock).
pub const INDEXES_VAR: &str = "JITSI_STACK_VISITOR_INDEXES";
/// The first index never given to a node (written with [`INDEXES_VAR`]).
pub const NEXT_VAR: &str = "JITSI_STACK_VISITOR_NEXT";
/// Indexes stay at or below this (they are never reused, so they only grow).
pub use super::nodes::MAX_VISITOR_INDEX as MAX_INDEX;

/// The domain Jitsi's client and jicofo hard-code for visitor nodes
/// (`v<N>.meet.jitsi`).
pub const CLIENT_DOMAIN: &str = "meet.jitsi";

/// Ports inside every node's container (the image's defaults).
pub const C2S_PORT: u16 = 5222;
pub const S2S_PORT: u16 = 5269;
pub const HTTP_PORT: u16 = 5280;

/// One visitor node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisitorNode {
    /// `PROSODY_VISITOR_INDEX`: position in the s2s and jicofo lists, and
    /// the `vnode` the client asks for.
    pub index: u32,
    /// Compose service name and host name on the compose network.
    pub service: String,
    /// `v<N>.<VISITORS_XMPP_DOMAIN>`: the anonymous host viewers log in to.
    pub domain: String,
    /// `<prefix>.v<N>.<VISITORS_XMPP_DOMAIN>`: the node's MUC (fmuc).
    pub muc: String,
    /// `polls.v<N>.<VISITORS_XMPP_DOMAIN>`.
    pub polls: String,
    /// `v<N>`: the value of `?vnode=` the client sends.
    pub vnode: String,
    /// A node on another host (`node add visitors`); None: a service of
    /// this host's compose project.
    pub remote: Option<Remote>,
}

/// A visitor node on another host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    /// Its node name (`JITSI_STACK_NODE_<NAME>`).
    pub name: String,
    pub address: IpAddr,
    /// The variable holding its own focus password (jicofo's login to it;
    /// the node never holds the main host's).
    pub password_var: String,
}

impl VisitorNode {
    /// The host main prosody, jicofo and nginx reach the node at: its
    /// service name, or a remote node's address.
    pub fn host(&self) -> String {
        match &self.remote {
            Some(r) => r.address.to_string(),
            None => self.service.clone(),
        }
    }

    /// [`VisitorNode::host`] as the host part of `host:port` and URLs.
    fn host_port(&self, port: u16) -> String {
        match &self.remote {
            Some(r) if r.address.is_ipv6() => format!("[{}]:{port}", r.address),
            _ => format!("{}:{port}", self.host()),
        }
    }

    /// Where main prosody's s2s connections to this node go.
    pub fn s2s_target(&self) -> String {
        self.host_port(S2S_PORT)
    }

    /// Where jicofo logs in to this node.
    pub fn c2s_target(&self) -> String {
        self.host_port(C2S_PORT)
    }

    /// The base URL of the node's BOSH and websocket (nginx's `?vnode=`).
    pub fn http_base(&self) -> String {
        format!("http://{}", self.host_port(HTTP_PORT))
    }
}

/// The number of nodes on this host `.env` asks for.
pub fn count(v: &Values) -> u32 {
    v.int(COUNT_VAR).unwrap_or(0).clamp(0, 32) as u32
}

/// Which index each node of this host has: assigned once, never reused.
///
/// `.env` records the indexes given so far ([`INDEXES_VAR`], in the order
/// they were given) and the first index never given ([`NEXT_VAR`]). With
/// [`COUNT_VAR`] nodes asked for, the first that many recorded indexes
/// stay; more nodes get fresh indexes from `next` on; fewer drop the ones
/// given last. So lowering the count or raising it again never moves a
/// node to another index, domain (`vN.meet.jitsi`) or volume
/// (`prosody-vN-data`), and a dropped index is not given again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The indexes of this host's nodes, in the order they were given.
    pub local: Vec<u32>,
    /// The first index never given.
    pub next: u32,
}

/// The recorded indexes (entries that are not indexes are left out here;
/// `check` reports them).
pub fn recorded(v: &Values) -> Vec<u32> {
    let mut out: Vec<u32> = vec![];
    for e in v.list(INDEXES_VAR) {
        if let Ok(i) = e.parse::<u32>() {
            if i <= MAX_INDEX && !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

/// The assignment `.env` gives (computed the same way by every command,
/// so a command that does not write `.env` sees the nodes `render` writes).
pub fn assignment(v: &Values) -> Assignment {
    let taken: Vec<u32> = remote_nodes(v).iter().filter_map(|n| n.index).collect();
    let mut local: Vec<u32> = recorded(v)
        .into_iter()
        .filter(|i| !taken.contains(i))
        .collect();
    let recorded_next = v
        .int(NEXT_VAR)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
        .min(MAX_INDEX + 1);
    let mut next = local
        .iter()
        .chain(&taken)
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
        .max(recorded_next);
    let n = count(v) as usize;
    local.truncate(n);
    while local.len() < n && next <= MAX_INDEX {
        local.push(next);
        next += 1;
    }
    Assignment { local, next }
}

/// The `.env` settings that record the assignment (what `render` writes
/// under the lock); none for a stack that never had a node.
pub fn settings(v: &Values) -> Vec<(&'static str, String)> {
    let a = assignment(v);
    if a.next == 0 && v.raw(INDEXES_VAR).is_none() && v.raw(NEXT_VAR).is_none() {
        return vec![];
    }
    let list: Vec<String> = a.local.iter().map(u32::to_string).collect();
    vec![
        (INDEXES_VAR, list.join(",")),
        (NEXT_VAR, a.next.to_string()),
    ]
}

/// The visitor nodes on other hosts (`JITSI_STACK_NODE_<NAME>='visitors
/// address=IP index=N'`, written by `node add visitors`), in name order.
/// Lines that do not parse are left out here; `check` reports them.
pub fn remote_nodes(v: &Values) -> Vec<crate::stack::nodes::Node> {
    use crate::stack::nodes;
    v.entries()
        .into_iter()
        .filter_map(|(k, val)| match nodes::classify(k) {
            Some((name, false)) => nodes::parse_spec(&name, val).ok(),
            _ => None,
        })
        .filter(|n| n.kind == nodes::NodeKind::Visitors)
        .collect()
}

/// The visitor nodes: this host's, in the order their indexes were given
/// (see [`Assignment`]: an index is a node's for good), then those on
/// other hosts, by index.
pub fn nodes(stack: &Stack) -> Vec<VisitorNode> {
    nodes_of(&stack.values)
}

/// This host's visitor nodes only (its compose services).
pub fn local_nodes(stack: &Stack) -> Vec<VisitorNode> {
    nodes(stack)
        .into_iter()
        .filter(|n| n.remote.is_none())
        .collect()
}

pub fn nodes_of(v: &Values) -> Vec<VisitorNode> {
    let base = v.text("VISITORS_XMPP_DOMAIN", CLIENT_DOMAIN);
    let prefix = v.text("PROSODY_VISITORS_MUC_PREFIX", "muc");
    let make = |index: u32, remote: Option<Remote>| {
        let domain = format!("v{index}.{base}");
        VisitorNode {
            index,
            service: format!("prosody-v{index}"),
            muc: format!("{prefix}.{domain}"),
            polls: format!("polls.{domain}"),
            vnode: format!("v{index}"),
            domain,
            remote,
        }
    };
    let mut remote: Vec<VisitorNode> = remote_nodes(v)
        .into_iter()
        .filter_map(|n| {
            let index = n.index?;
            Some(make(
                index,
                Some(Remote {
                    password_var: n.password_var(),
                    name: n.name,
                    address: n.address,
                }),
            ))
        })
        .collect();
    remote.sort_by_key(|n| n.index);
    let mut out: Vec<VisitorNode> = assignment(v)
        .local
        .into_iter()
        .map(|i| make(i, None))
        .collect();
    out.extend(remote);
    out
}

/// Visitors are on: `ENABLE_VISITORS=1` and at least one node.
pub fn enabled(v: &Values) -> bool {
    v.bool("ENABLE_VISITORS") && !nodes_of(v).is_empty()
}

/// What `check` tells about a stack with visitors on: how viewers become
/// visitors and participants, with this stack's numbers.
pub fn explain(v: &Values) -> Vec<String> {
    if !enabled(v) {
        return vec![];
    }
    let per_node = v.text("VISITORS_MAX_VISITORS_PER_NODE", "250");
    let n = nodes_of(v).len();
    let threshold = match v.raw("VISITORS_MAX_PARTICIPANTS") {
        Some(x) => format!("after {x} participants (VISITORS_MAX_PARTICIPANTS)"),
        None => {
            "after 50 participants (jicofo's default; VISITORS_MAX_PARTICIPANTS changes it)".into()
        }
    };
    vec![
        format!("visitors: newcomers join as viewers {threshold}; {n} node(s) of at most {per_node} viewers each (VISITORS_MAX_VISITORS_PER_NODE)"),
        "visitors: a viewer who raises a hand is promoted to participant automatically (the visitors component's auto_allow_visitor_promotion, the release's default)".into(),
    ]
}

/// The values a service of the stack renders its files from when visitors
/// are on: `.env` with the derived per-service settings laid over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// Main prosody: `VISITORS_XMPP_SERVER` lists the nodes' s2s ports.
    MainProsody,
    /// Jicofo: `VISITORS_XMPP_SERVER` lists the nodes' client ports.
    Jicofo,
    /// One node's prosody.
    Node(u32),
}

/// The derived variables `reader` sees (set on its container too).
pub fn derived(v: &Values, reader: Reader) -> Vec<(&'static str, String)> {
    let nodes = nodes_of(v);
    if nodes.is_empty() || !v.bool("ENABLE_VISITORS") {
        return vec![];
    }
    let list = |f: fn(&VisitorNode) -> String| -> String {
        nodes.iter().map(f).collect::<Vec<_>>().join(",")
    };
    let mut out = vec![
        (
            "VISITORS_XMPP_DOMAIN",
            v.text("VISITORS_XMPP_DOMAIN", CLIENT_DOMAIN),
        ),
        (
            "PROSODY_VISITORS_MUC_PREFIX",
            v.text("PROSODY_VISITORS_MUC_PREFIX", "muc"),
        ),
    ];
    match reader {
        Reader::MainProsody => {
            out.push(("VISITORS_XMPP_SERVER", list(VisitorNode::s2s_target)));
        }
        Reader::Jicofo => {
            out.push(("VISITORS_XMPP_SERVER", list(VisitorNode::c2s_target)));
            out.push((
                "VISITORS_XMPP_AUTH_DOMAIN",
                v.text("VISITORS_XMPP_AUTH_DOMAIN", "auth.meet.jitsi"),
            ));
            out.push((
                "VISITORS_MAX_VISITORS_PER_NODE",
                v.text("VISITORS_MAX_VISITORS_PER_NODE", "250"),
            ));
        }
        Reader::Node(index) => {
            let auth = v.text("VISITORS_XMPP_AUTH_DOMAIN", "auth.meet.jitsi");
            out.extend([
                ("PROSODY_MODE", "visitors".to_string()),
                ("PROSODY_VISITOR_INDEX", index.to_string()),
                // The node's s2s back to the main prosody (its alias on
                // the compose network) and main's s2s port.
                ("XMPP_SERVER", v.text("XMPP_SERVER", "xmpp.meet.jitsi")),
                ("XMPP_SERVER_S2S_PORT", v.text("PROSODY_S2S_PORT", "5269")),
                // jicofo logs in to the node's auth host with the domain
                // it is given as VISITORS_XMPP_AUTH_DOMAIN.
                ("XMPP_AUTH_DOMAIN", auth.clone()),
                // The image's boot script does this in visitors mode.
                ("PROSODY_ADMINS", format!("focus@{auth}")),
                ("XMPP_PORT", C2S_PORT.to_string()),
                ("PROSODY_S2S_PORT", S2S_PORT.to_string()),
                ("PROSODY_HTTP_PORT", HTTP_PORT.to_string()),
                (
                    "VISITORS_MAX_VISITORS_PER_NODE",
                    v.text("VISITORS_MAX_VISITORS_PER_NODE", "250"),
                ),
            ]);
        }
    }
    out
}

/// `.env`'s values with `derived(reader)` laid over them.
pub fn values_for(v: &Values, reader: Reader) -> Values {
    let mut out = v.clone();
    for (name, value) in derived(v, reader) {
        out.set(name, &value);
    }
    if matches!(reader, Reader::Node(_)) {
        // A node routes only to the main prosody; the list of nodes is
        // main's and jicofo's, never the node's own s2sout_override.
        out.set("VISITORS_XMPP_SERVER", "");
        out.set("VISITORS_XMPP_PORT", "");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_prosody_and_jicofo_get_different_ports() {
        let v = Values::from_pairs([("ENABLE_VISITORS", "1"), (COUNT_VAR, "2")]);
        let get = |r| {
            derived(&v, r)
                .into_iter()
                .find(|(k, _)| *k == "VISITORS_XMPP_SERVER")
                .map(|(_, x)| x)
        };
        assert_eq!(
            get(Reader::MainProsody).as_deref(),
            Some("prosody-v0:5269,prosody-v1:5269")
        );
        assert_eq!(
            get(Reader::Jicofo).as_deref(),
            Some("prosody-v0:5222,prosody-v1:5222")
        );
        assert_eq!(get(Reader::Node(1)), None);
        let n = values_for(&v, Reader::Node(1));
        assert_eq!(n.get("PROSODY_VISITOR_INDEX"), Some("1"));
        assert_eq!(n.get("PROSODY_MODE"), Some("visitors"));
        assert_eq!(n.get("XMPP_SERVER_S2S_PORT"), Some("5269"));
    }

    #[test]
    fn no_nodes_or_visitors_off_derive_nothing() {
        let v = Values::from_pairs([("ENABLE_VISITORS", "1")]);
        assert!(nodes_of(&v).is_empty() && derived(&v, Reader::Jicofo).is_empty());
        let v = Values::from_pairs([(COUNT_VAR, "2")]);
        assert_eq!(nodes_of(&v).len(), 2);
        assert!(derived(&v, Reader::Jicofo).is_empty());
    }

    #[test]
    fn indexes_are_given_once_and_never_reused() {
        let a = |pairs: &[(&str, &str)]| assignment(&Values::from_pairs(pairs.iter().copied()));
        // A fresh stack: 0..N, next N.
        let got = a(&[(COUNT_VAR, "3")]);
        assert_eq!((got.local, got.next), (vec![0, 1, 2], 3));
        // Lowered: the index given last goes, next stays.
        let got = a(&[(COUNT_VAR, "2"), (INDEXES_VAR, "0,1,2"), (NEXT_VAR, "3")]);
        assert_eq!((got.local, got.next), (vec![0, 1], 3));
        // Raised again: a fresh index, not the dropped one.
        let got = a(&[(COUNT_VAR, "3"), (INDEXES_VAR, "0,1"), (NEXT_VAR, "3")]);
        assert_eq!((got.local, got.next), (vec![0, 1, 3], 4));
        // Order of giving is kept: lowering drops 3, not 0.
        let got = a(&[(COUNT_VAR, "2"), (INDEXES_VAR, "3,0,1"), (NEXT_VAR, "4")]);
        assert_eq!(got.local, vec![3, 0]);
        // A lost NEXT never goes below the record.
        let got = a(&[(COUNT_VAR, "3"), (INDEXES_VAR, "5")]);
        assert_eq!((got.local, got.next), (vec![5, 6, 7], 8));
        // Turned off: nothing runs, the counter stays.
        let got = a(&[(COUNT_VAR, "0"), (INDEXES_VAR, "0,1"), (NEXT_VAR, "2")]);
        assert_eq!((got.local, got.next), (vec![], 2));
        let v = Values::from_pairs([(COUNT_VAR, "0"), (INDEXES_VAR, "0,1"), (NEXT_VAR, "2")]);
        assert_eq!(
            settings(&v),
            vec![(INDEXES_VAR, String::new()), (NEXT_VAR, "2".to_string())]
        );
        assert!(settings(&Values::from_pairs([(COUNT_VAR, "0")])).is_empty());
    }

    #[test]
    fn names_follow_the_domain_and_prefix() {
        let v = Values::from_pairs([
            (COUNT_VAR, "1"),
            ("PROSODY_VISITORS_MUC_PREFIX", "conference"),
        ]);
        let n = &nodes_of(&v)[0];
        assert_eq!(n.domain, "v0.meet.jitsi");
        assert_eq!(n.muc, "conference.v0.meet.jitsi");
        assert_eq!(n.polls, "polls.v0.meet.jitsi");
        assert_eq!(n.service, "prosody-v0");
    }
}
