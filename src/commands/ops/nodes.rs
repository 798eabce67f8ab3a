//! What the operating commands do about nodes, across hosts:
//! - `doctor` on the main host: the published XMPP address is this host's,
//!   the firewall lets only the nodes in, prosody's certificates chain to
//!   the CA the bundles pin, the bundles are current;
//! - `doctor` in a bundle: the main host resolves, its XMPP port answers,
//!   STARTTLS and a TLS handshake verifying the pinned CA succeed, the
//!   node's account logs in (SASL), the firewall's source address is this
//!   host's;
//! - `up` on the main host: each node's XMPP account is created in the
//!   running prosody (the admin shell's `user:create`, as the image's
//!   account set-up does), its password kept in step with `.env`, and the
//!   accounts of removed nodes deleted;
//! - `smoke` on the main host: who sits in the brewery rooms, by node.

use super::user::PROSODYCTL;
use crate::bundle;
use crate::commands::report::{bad, ok, CheckResult, Probe, Status};
use crate::config::Stack;
use crate::docker::Compose;
use crate::escape::lua_str;
use crate::firewall;
use crate::stack::nodes::{self, Node, NodeKind, ACCOUNT_PREFIX};
use crate::stack::{pki, Model, Role};
use crate::xmpp;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::net::{IpAddr, TcpListener};
use std::time::{Duration, Instant};

/// How long each cross-host step may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `ip` is an address of this host (it can be bound). A wildcard
/// (`0.0.0.0`, `::`) binds too but is every address, not one of them.
pub(super) fn is_local(ip: IpAddr) -> bool {
    !ip.is_unspecified() && TcpListener::bind((ip, 0)).is_ok()
}

/// What `up` checks of the nodes before starting anything: the addresses
/// this host publishes on are its own (Docker could not bind them otherwise).
pub fn preflight(model: &Model) -> Vec<CheckResult> {
    match &model.role {
        Role::Main if !model.nodes.is_empty() => xmpp_address(model),
        _ => vec![],
    }
}

/// The node-related findings of `doctor` for this host.
pub fn doctor(stack: &Stack, model: &Model) -> Vec<CheckResult> {
    match &model.role {
        Role::Main if !model.nodes.is_empty() => main_checks(stack, model),
        Role::Main => vec![],
        Role::Node(node) => node_checks(stack, model, node),
    }
}

/// Where prosody's XMPP port is published for the nodes: set, and an
/// address of this host.
fn xmpp_address(model: &Model) -> Vec<CheckResult> {
    let mut out = vec![];
    let rules = firewall::all_rules(model);
    let Some(rule) = rules.first() else {
        out.push(bad(
            Status::Fail,
            "xmpp",
            format!(
                "nodes are listed but {} is not set: XMPP is not published for them",
                nodes::MAIN_ADDRESS
            ),
            format!(
                "set {}=IP (this host's address the nodes reach) and run `jitsi-stack up`",
                nodes::MAIN_ADDRESS
            ),
        ));
        return out;
    };
    let at = format!("{}:{}", rule.address, rule.port);
    if is_local(rule.address) {
        out.push(ok(
            "xmpp",
            format!(
                "prosody's XMPP port is published on {at} for {} node(s), TLS required",
                model.nodes.len()
            ),
        ));
    } else {
        out.push(bad(
            Status::Fail,
            "xmpp",
            format!(
                "{} is not an address of this host: Docker cannot publish XMPP on it",
                rule.address
            ),
            format!(
                "set {} to this host's address the nodes reach (`ip -brief address`)",
                nodes::MAIN_ADDRESS
            ),
        ));
    }
    if !rule.unreachable.is_empty() {
        out.push(bad(
            Status::Warn,
            "xmpp",
            format!(
                "node(s) {} have an address of the other IP family than {}: they cannot reach it",
                rule.unreachable.join(", "),
                rule.address
            ),
            "give those nodes an address of the main address's family",
        ));
    }
    out
}

/// Whether each restricted port is restricted by a loaded firewall rule.
/// The XMPP client port open to all is a warning (TLS and each node's
/// login protect it); a visitor port is a failure: s2s trust between the
/// main host and the visitor nodes rests on who can reach those ports.
fn firewall_checks(model: &Model) -> Vec<CheckResult> {
    let mut out = vec![];
    let rules = firewall::all_rules(model);
    if rules.is_empty() {
        return out;
    }
    let visitor = firewall::visitor_rules(model);
    let nft = crate::docker::tool_output(&["nft", "list", "table", "inet", firewall::NFT_TABLE]);
    let ipt = crate::docker::tool_output(&["iptables", "-S", "DOCKER-USER"]);
    let who = if model.is_node() {
        "the main host"
    } else {
        "the nodes"
    };
    for rule in &rules {
        let at = format!("{}:{}", rule.address, rule.port);
        let applied = nft
            .as_deref()
            .is_some_and(|l| firewall::nft_applied(rule, l))
            || ipt
                .as_deref()
                .is_some_and(|l| firewall::docker_user_applied(rule, l));
        let sources: Vec<String> = rule.allowed.iter().map(|(_, a)| a.to_string()).collect();
        let fix = "apply the rules `jitsi-stack ports` prints (`jitsi-stack ports --nftables > /etc/nftables.d/jitsi-stack.nft && nft -f /etc/nftables.d/jitsi-stack.nft`)";
        if applied {
            out.push(ok(
                "firewall",
                format!("{at} is restricted to {who} ({})", sources.join(", ")),
            ));
        } else if visitor.contains(rule) {
            out.push(bad(
                Status::Fail,
                "firewall",
                format!("{at} (visitors: s2s, the nodes' client and HTTP ports) is public: no firewall rule restricts it to {who} ({}), and the visitor nodes' s2s trust rests on that", sources.join(", ")),
                fix,
            ));
        } else {
            out.push(bad(
                Status::Warn,
                "firewall",
                format!("{at} is open to everyone who reaches {}: no firewall rule restricts it to {who} ({})", rule.address, sources.join(", ")),
                fix,
            ));
        }
    }
    out
}

fn main_checks(stack: &Stack, model: &Model) -> Vec<CheckResult> {
    let mut out = xmpp_address(model);
    if firewall::all_rules(model).is_empty() {
        return out;
    }
    out.extend(firewall_checks(model));
    // prosody's certificates: issued by the CA the bundles pin.
    let config = stack.config_dir();
    match pki::load_ca(&config) {
        None => out.push(bad(
            Status::Fail,
            "certs",
            "the nodes' CA does not exist yet: the nodes cannot verify prosody",
            "run `jitsi-stack render` (it makes the CA and prosody's certificates)",
        )),
        Some(ca) => {
            let mut bad_domains = vec![];
            for d in pki::domains(stack) {
                let (crt, _) = pki::leaf_paths(&config, &d);
                let verdict = std::fs::read_to_string(&crt)
                    .map_err(|e| format!("{}: {e}", crt.display()))
                    .and_then(|pem| pki::verify_leaf(&ca, &pem, &d));
                if let Err(why) = verdict {
                    bad_domains.push(format!("{d} ({why})"));
                }
            }
            if bad_domains.is_empty() {
                out.push(ok(
                    "certs",
                    format!(
                        "prosody's certificates for {} are issued by the nodes' CA",
                        pki::domains(stack).join(", ")
                    ),
                ));
            } else {
                out.push(bad(
                    Status::Fail,
                    "certs",
                    format!("the nodes cannot verify prosody's certificate for {}", bad_domains.join("; ")),
                    format!(
                        "remove that certificate and its key from {} and run `jitsi-stack render` (it issues them from the nodes' CA)",
                        config.join(pki::CERTS_DIR).display()
                    ),
                ));
            }
            let stale: Vec<&str> = model
                .nodes
                .iter()
                .filter(|n| {
                    let dir = stack.dir.join(bundle::DIR).join(&n.name);
                    std::fs::read_to_string(dir.join(pki::BUNDLE_CA))
                        .ok()
                        .as_deref()
                        != Some(ca.as_str())
                })
                .map(|n| n.name.as_str())
                .collect();
            if stale.is_empty() {
                out.push(ok(
                    "bundles",
                    format!("{}/ holds a current bundle for every node", bundle::DIR),
                ));
            } else {
                out.push(bad(
                    Status::Warn,
                    "bundles",
                    format!("no current bundle for {}", stale.join(", ")),
                    "run `jitsi-stack render`, then copy each bundle to its node",
                ));
            }
        }
    }
    out
}

/// A visitor node's own checks (in its bundle): its ports restricted to
/// the main host, and the main host's s2s port reachable.
fn visitor_node_checks(model: &Model, out: &mut Vec<CheckResult>) {
    out.extend(firewall_checks(model));
    let Some(x) = &model.xmpp else {
        return;
    };
    let port = crate::stack::visitors::S2S_PORT;
    match xmpp::tcp_reachable(&x.host, port, TIMEOUT) {
        Ok(peer) => out.push(ok(
            "s2s",
            format!("the main host's s2s port {}:{port} answers ({peer})", x.host),
        )),
        Err(e) => out.push(bad(
            Status::Fail,
            "s2s",
            format!("{}:{port}: {e}: main prosody cannot be reached over s2s (its pings to this node's MUC end in remote-server-timeout or remote-server-not-found)", x.host),
            format!("start the main host (`jitsi-stack up` there publishes {}:{port}), and let this node through its firewall (`jitsi-stack ports` there)", x.address),
        )),
    }
}

fn node_checks(stack: &Stack, model: &Model, node: &Node) -> Vec<CheckResult> {
    let mut out = vec![];
    if is_local(node.address) {
        out.push(ok(
            "node",
            format!(
                "{} runs {} here; {} is this host's address",
                node.name, node.kind, node.address
            ),
        ));
    } else {
        out.push(bad(
            Status::Warn,
            "node",
            format!("{} is not an address of this host, but the main host's firewall lets only it in", node.address),
            format!("run this bundle on the node with address {}, or change the node's address on the main host (its {} line) and copy the bundle again", node.address, node.var()),
        ));
    }
    let Some(x) = &model.xmpp else {
        out.push(bad(
            Status::Fail,
            "xmpp",
            "the bundle does not say where the main host is",
            "copy the bundle again from the main host",
        ));
        return out;
    };
    if node.kind == NodeKind::Visitors {
        visitor_node_checks(model, &mut out);
        out.extend(super::visitors::node_checks(stack, model));
        return out;
    }
    let ca = match std::fs::read_to_string(stack.dir.join(pki::BUNDLE_CA)) {
        Ok(ca) => ca,
        Err(e) => {
            out.push(bad(
                Status::Fail,
                "tls",
                format!(
                    "{}: {e}: nothing to verify the main host's certificate with",
                    stack.dir.join(pki::BUNDLE_CA).display()
                ),
                "copy the bundle again from the main host",
            ));
            return out;
        }
    };
    match (
        std::fs::read(stack.dir.join(pki::BUNDLE_TRUSTSTORE)),
        pki::truststore(&ca),
    ) {
        (Ok(have), Ok(want)) if have == want => {}
        _ => out.push(bad(
            Status::Fail,
            "tls",
            format!(
                "{} does not hold the CA of {}: the services would not trust the main host",
                pki::BUNDLE_TRUSTSTORE,
                pki::BUNDLE_CA
            ),
            "copy the bundle again from the main host",
        )),
    }
    let (user_var, pass_var) = node.kind.account_vars();
    let user = stack.values.get_or(user_var, "").to_string();
    let password = stack.values.get_or(pass_var, "").to_string();
    let login = xmpp::Login {
        host: &x.host,
        port: x.port,
        domain: &x.domain,
        user: &user,
        password: &password,
        ca_pem: &ca,
        timeout: TIMEOUT,
    };
    let start = Instant::now();
    match xmpp::login(&login) {
        Ok(s) => {
            out.push(ok(
                "xmpp",
                format!(
                    "logged in to {}:{} ({}) as {} over {} verified with the pinned CA, {} ({} ms)",
                    x.host,
                    x.port,
                    s.peer.ip(),
                    s.jid,
                    s.tls_version,
                    s.mechanism,
                    start.elapsed().as_millis()
                ),
            ));
            s.close();
        }
        Err(e) => {
            let fix = match e.step {
                xmpp::Step::Resolve => format!("make {} resolve on this host (DNS or /etc/hosts), or set {} on the main host to an address", x.host, nodes::MAIN_HOST),
                xmpp::Step::Connect => format!("start the main host (`jitsi-stack up` there publishes {}:{}), and let {} through its firewall (`jitsi-stack ports` there)", x.address, x.port, node.address),
                xmpp::Step::Tls => "copy the bundle again from the main host (its CA may be new), and check that nothing between the hosts intercepts TLS".to_string(),
                xmpp::Step::Auth => format!("run `jitsi-stack up` on the main host (it creates {}), or copy the bundle again if its password changed", user),
                _ => "check the main host's prosody (`jitsi-stack logs prosody` there)".to_string(),
            };
            out.push(bad(
                Status::Fail,
                "xmpp",
                format!("{}:{}: {e}", x.host, x.port),
                fix,
            ));
        }
    }
    out
}

/// The admin-shell session that creates or updates `accounts`.
fn sync_script(accounts: &[(String, String)], domain: &str) -> String {
    let mut s = String::new();
    for (jid, pw) in accounts {
        let (j, p) = (lua_str(jid), lua_str(pw));
        // Create (an existing account says so), then set the password: the
        // account matches .env whether it existed or not.
        s.push_str(&format!("user:create({j}, {p})\nuser:password({j}, {p})\n"));
    }
    s.push_str(&format!("user:list({})\n", lua_str(domain)));
    s
}

/// The JIDs `user:list` printed, and the error lines of the session.
fn shell_results(text: &str) -> (Vec<String>, Vec<String>) {
    let mut listed = vec![];
    let mut errors = vec![];
    for raw in text.lines() {
        let mut line = raw.trim();
        while let Some(rest) = line.strip_prefix("prosody>") {
            line = rest.trim_start();
        }
        if let Some(r) = line.strip_prefix("| ") {
            let r = r.trim();
            if r.contains('@') && !r.contains(' ') {
                listed.push(r.to_string());
            }
        } else if let Some(r) = line.strip_prefix('!') {
            let r = r.trim();
            if !r.contains("User exists") {
                errors.push(r.to_string());
            }
        }
    }
    (listed, errors)
}

/// What [`sync_accounts`] did.
#[derive(Debug, Default)]
pub struct Synced {
    pub present: Vec<String>,
    pub deleted: Vec<String>,
}

/// Creates every node's account in the running prosody with the password
/// from `.env`, and deletes the `node-*` accounts of nodes no longer listed.
/// Passwords go on the admin shell's stdin, never on a command line.
pub fn sync_accounts(stack: &Stack, model: &Model, compose: &Compose) -> Result<Synced> {
    let domain = stack
        .values
        .get_or("XMPP_AUTH_DOMAIN", "auth.meet.jitsi")
        .to_string();
    let mut accounts = vec![];
    // A visitor node logs in nowhere on this host: it is reached over s2s,
    // and jicofo logs in to it.
    for n in model.nodes.iter().filter(|n| n.kind != NodeKind::Visitors) {
        let Some(pw) = stack.values.raw(&n.password_var()) else {
            bail!(
                "{}: {} is empty: run `jitsi-stack gen-passwords`",
                stack.env_path.display(),
                n.password_var()
            );
        };
        accounts.push((format!("{}@{domain}", n.account()), pw.to_string()));
    }
    let shell = [PROSODYCTL, &["shell"]].concat();
    let out = compose.with_stdin(&shell, &sync_script(&accounts, &domain))?;
    let (listed, errors) = shell_results(&String::from_utf8_lossy(&out.stdout));
    let missing: Vec<&str> = accounts
        .iter()
        .map(|(j, _)| j.as_str())
        .filter(|j| !listed.iter().any(|l| l == j))
        .collect();
    if !missing.is_empty() {
        bail!(
            "prosody did not create the node account(s) {}{}: see `jitsi-stack logs prosody`",
            missing.join(", "),
            if errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", errors.join("; "))
            }
        );
    }
    let stale: Vec<String> = listed
        .iter()
        .filter(|l| l.starts_with(ACCOUNT_PREFIX) && l.ends_with(&format!("@{domain}")))
        .filter(|l| !accounts.iter().any(|(j, _)| j == *l))
        .cloned()
        .collect();
    if !stale.is_empty() {
        let script: String = stale
            .iter()
            .map(|j| format!("user:delete({})\n", lua_str(j)))
            .collect();
        let out = compose.with_stdin(&shell, &script)?;
        let (_, errors) = shell_results(&String::from_utf8_lossy(&out.stdout));
        if !errors.is_empty() {
            bail!(
                "prosody did not delete {}: {}",
                stale.join(", "),
                errors.join("; ")
            );
        }
    }
    Ok(Synced {
        present: accounts.into_iter().map(|(j, _)| j).collect(),
        deleted: stale,
    })
}

/// After a successful `up` on the main host: the nodes' accounts. A stack
/// that never had nodes (no `nodes/` directory) is left alone.
pub fn after_up(stack: &Stack, model: &Model, compose: &Compose) -> Result<()> {
    if model.is_node() || (model.nodes.is_empty() && !stack.dir.join(bundle::DIR).is_dir()) {
        return Ok(());
    }
    let s = sync_accounts(stack, model, compose)?;
    if !s.present.is_empty() {
        crate::outln!("node accounts ready: {}", s.present.join(", "));
    }
    if !s.deleted.is_empty() {
        crate::outln!(
            "deleted the accounts of removed nodes: {}",
            s.deleted.join(", ")
        );
    }
    Ok(())
}

/// The brewery rooms of the listed node kinds, with who may sit there.
fn breweries(stack: &Stack, model: &Model) -> Vec<(NodeKind, String)> {
    let muc = stack
        .values
        .get_or("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi");
    let mut kinds: Vec<NodeKind> = model
        .nodes
        .iter()
        .map(|n| n.kind)
        .filter(|k| *k != NodeKind::Visitors)
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .into_iter()
        .map(|k| {
            let (var, default) = k.brewery();
            (k, format!("{}@{muc}", stack.values.get_or(var, default)))
        })
        .collect()
}

/// Raw Lua for the admin shell: one `jitsi-stack-occupant ROOM NICK JID`
/// line per occupant of each room (`jitsi-stack-room ROOM none` when the
/// room does not exist).
fn occupants_script(rooms: &[String]) -> String {
    let mut s = String::from(
        ">local function occ(room) local host = room:match(\"@(.+)$\"); local h = prosody.hosts[host]; local muc = h and h.modules.muc; local r = muc and muc.get_room_from_jid(room); if not r then print(\"jitsi-stack-room \" .. room .. \" none\"); return end; for nick, o in r:each_occupant() do print(\"jitsi-stack-occupant \" .. room .. \" \" .. nick .. \" \" .. tostring(o.bare_jid)) end end",
    );
    for r in rooms {
        s.push_str(&format!("; occ({})", lua_str(r)));
    }
    s.push('\n');
    s
}

/// (room, nickname, bare JID) of every occupant the shell printed.
fn parse_occupants(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let i = l.find("jitsi-stack-occupant ")?;
            let mut f = l[i..].split_whitespace().skip(1);
            let (room, occupant, jid) = (f.next()?, f.next()?, f.next()?);
            let nick = occupant
                .rsplit_once('/')
                .map(|(_, n)| n)
                .unwrap_or(occupant);
            Some((room.to_string(), nick.to_string(), jid.to_string()))
        })
        .collect()
}

/// `smoke` on the main host: one probe per brewery room the nodes join,
/// listing every occupant with its node, failing when a node is missing.
pub fn brewery_probes(stack: &Stack, model: &Model) -> Vec<Probe> {
    if model.is_node() || model.nodes.is_empty() {
        return vec![];
    }
    let rooms = breweries(stack, model);
    let start = Instant::now();
    let names: Vec<String> = rooms.iter().map(|(_, r)| r.clone()).collect();
    let result = Compose::detect(stack)
        .map_err(|e| e.to_string())
        .and_then(|c| {
            c.with_stdin(
                &[PROSODYCTL, &["shell"]].concat(),
                &occupants_script(&names),
            )
            .map_err(|e| e.to_string())
        });
    let ms = |s: Instant| u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX);
    let text = match result {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => {
            return rooms
                .iter()
                .map(|(k, room)| Probe {
                    check: format!("brewery-{k}"),
                    url: format!("xmpp:{room}"),
                    ok: false,
                    detail: format!("could not ask prosody who is in the room ({e}): is prosody running with mod_admin_shell? (`jitsi-stack status`)"),
                    ms: ms(start),
                })
                .collect()
        }
    };
    let occupants = parse_occupants(&text);
    let domain = stack.values.get_or("XMPP_AUTH_DOMAIN", "auth.meet.jitsi");
    let owner: BTreeMap<String, String> = model
        .nodes
        .iter()
        .map(|n| (format!("{}@{domain}", n.account()), n.name.clone()))
        .collect();
    rooms
        .iter()
        .map(|(kind, room)| {
            // Sorted by nickname: prosody keeps occupants in no fixed order.
            let mut here: Vec<&(String, String, String)> = occupants.iter().filter(|(r, _, _)| r == room).collect();
            here.sort();
            let joined: Vec<String> = here
                .iter()
                .filter(|(_, _, jid)| !jid.starts_with("focus@"))
                .map(|(_, nick, jid)| match owner.get(jid) {
                    Some(node) => format!("{nick} (node {node})"),
                    None => format!("{nick} ({jid}, this host)"),
                })
                .collect();
            let missing: Vec<String> = model
                .nodes
                .iter()
                .filter(|n| n.kind == *kind)
                .filter_map(|n| {
                    let jid = format!("{}@{domain}", n.account());
                    let count = here.iter().filter(|(_, _, j)| *j == jid).count() as u32;
                    let want = if n.kind == NodeKind::Jigasi { 1 } else { n.instances };
                    (count < want).then(|| format!("node {} ({count} of {want} joined as {jid})", n.name))
                })
                .collect();
            let listed = if joined.is_empty() { "nobody".to_string() } else { joined.join(", ") };
            Probe {
                check: format!("brewery-{kind}"),
                url: format!("xmpp:{room}"),
                ok: missing.is_empty(),
                detail: if missing.is_empty() {
                    format!("joined: {listed}")
                } else {
                    format!("missing: {}; joined: {listed}; on the missing node run `jitsi-stack doctor` and `jitsi-stack up`", missing.join(", "))
                },
                ms: ms(start),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_is_not_an_address_of_this_host() {
        assert!(!is_local("0.0.0.0".parse().unwrap()));
        assert!(!is_local("::".parse().unwrap()));
        assert!(is_local("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn the_sync_script_quotes_everything() {
        let s = sync_script(
            &[("node-a@auth.meet.jitsi".into(), "p\"w".into())],
            "auth.meet.jitsi",
        );
        assert_eq!(
            s,
            "user:create(\"node-a@auth.meet.jitsi\", \"p\\\"w\")\nuser:password(\"node-a@auth.meet.jitsi\", \"p\\\"w\")\nuser:list(\"auth.meet.jitsi\")\n"
        );
    }

    #[test]
    fn shell_output_of_prosody_0_12_is_read() {
        let text = "Welcome to the Prosody administration console.\nprosody> | OK: User created\nprosody> ! Error: User exists\nprosody> | OK: User password changed\nprosody> | node-a@auth.meet.jitsi\n| jvb@auth.meet.jitsi\n| OK: Showing all 2 users\nprosody> ! Error: No such user\n";
        let (listed, errors) = shell_results(text);
        assert_eq!(listed, ["node-a@auth.meet.jitsi", "jvb@auth.meet.jitsi"]);
        assert_eq!(errors, ["Error: No such user"]);
    }

    #[test]
    fn occupants_are_read_with_their_room() {
        let text = "prosody> | jitsi-stack-occupant jvbbrewery@internal-muc.meet.jitsi jvbbrewery@internal-muc.meet.jitsi/bridge-2 node-bridge-2@auth.meet.jitsi\n| jitsi-stack-room jibribrewery@internal-muc.meet.jitsi none\n| Result: nil\n";
        assert_eq!(
            parse_occupants(text),
            [(
                "jvbbrewery@internal-muc.meet.jitsi".to_string(),
                "bridge-2".to_string(),
                "node-bridge-2@auth.meet.jitsi".to_string()
            )]
        );
        let s = occupants_script(&["a@b".into()]);
        assert!(s.starts_with('>') && s.ends_with("; occ(\"a@b\")\n"));
    }
}
