//! What `doctor` and `smoke` check of the visitor nodes, through the
//! running services (everything runs through the docker runner):
//! - `doctor` on the main host: an XMPP ping over s2s from main prosody to
//!   each node's MUC and from each node of this host to main's MUC, run in
//!   prosody's admin shell (`prosodyctl shell xmpp ping`, mod_admin_shell,
//!   as the image enables it); `s2s:show()` says each link is TLS; a focus
//!   login to each node's client port from main prosody's container, as
//!   jicofo logs in there;
//! - `doctor` in a visitor node's bundle: the ping from the node to main;
//! - `smoke`: BOSH and websocket through PUBLIC_URL with `?vnode=vN`.
//!
//! A ping addressed to a MUC host is answered by the MUC itself with
//! `service-unavailable` (a host does not answer pings for itself): that
//! error has crossed s2s both ways, so it means the link works.

use super::user::PROSODY_CONFIG;
use crate::commands::report::{bad, ok, CheckResult, Status};
use crate::config::Stack;
use crate::docker::Compose;
use crate::escape::lua_str;
use crate::stack::visitors::{self, VisitorNode};
use crate::stack::{EnvValue, Model};

/// The login script run in main prosody's container (see its header).
const LOGIN_LUA: &str = include_str!("c2s_login.lua");
/// How long prosody waits for a pong, in seconds.
const PING_SECS: &str = "10";

/// Why a ping did not come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// Nothing listens at the address the route names (a wrong port, or
    /// the peer's prosody is down).
    Refused,
    /// No answer: a firewall drops the connection, or there is no route.
    Timeout,
    /// The peer answered but does not serve that domain (the route points
    /// at another node or another service).
    HostUnknown,
    /// Prosody has no way to the domain (no s2s route: DNS was asked).
    NoRoute,
    /// The peer refused the stream (certificate or s2s authentication).
    Refusal,
    Other,
}

/// What a ping in the admin shell came to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ping {
    /// The answer crossed the link (a pong or the MUC's service-unavailable).
    Linked(String),
    Failed(Cause, String),
    /// The admin shell did not run (prosody down, no mod_admin_shell).
    NoShell(String),
}

/// The first meaningful line of what the admin shell printed.
fn said(text: &str) -> String {
    text.lines()
        .map(|l| {
            let mut l = l.trim();
            while let Some(r) = l.strip_prefix("prosody>") {
                l = r.trim_start();
            }
            l.trim_start_matches(['|', '!', ' ']).trim()
        })
        .find(|l| {
            !l.is_empty() && !l.starts_with("Session ") && !l.starts_with("Welcome to the Prosody")
        })
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

/// Reads `prosodyctl shell xmpp ping` (exit status `code`).
fn ping_verdict(code: Option<i32>, text: &str) -> Ping {
    let low = text.to_ascii_lowercase();
    let line = said(text);
    if low.contains("pong from") {
        return Ping::Linked(line);
    }
    if low.contains("service-unavailable") {
        return Ping::Linked(
            "the MUC answered service-unavailable, as a MUC host answers a ping".into(),
        );
    }
    if low.contains("unable to connect to server") || low.contains("mod_admin_shell") {
        return Ping::NoShell(line);
    }
    let cause = if low.contains("host-unknown") {
        Cause::HostUnknown
    } else if low.contains("connection refused") {
        Cause::Refused
    } else if low.contains("timeout") || low.contains("timed out") {
        Cause::Timeout
    } else if low.contains("remote-server-not-found") {
        Cause::NoRoute
    } else if low.contains("not-authorized")
        || low.contains("policy-violation")
        || low.contains("certificate")
    {
        Cause::Refusal
    } else if code != Some(0) && !low.contains("error") {
        // docker's own complaint (`service "prosody" is not running`).
        return Ping::NoShell(line);
    } else {
        Cause::Other
    };
    Ping::Failed(cause, line)
}

/// `prosodyctl shell ARGS` in `service`: what it printed, or docker's error.
fn shell(compose: &Compose, service: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec![
        "exec",
        "-T",
        service,
        "prosodyctl",
        "--config",
        PROSODY_CONFIG,
        "shell",
    ];
    all.extend_from_slice(args);
    match compose.capture(&all) {
        Ok(out) => (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (None, e.to_string()),
    }
}

/// Where main prosody's s2s route to `n` goes, as the user sees it.
fn where_s2s(n: &VisitorNode) -> String {
    n.s2s_target()
}

/// The finding for main's ping to node `n`'s MUC.
fn main_to_node(n: &VisitorNode, ping: Ping) -> CheckResult {
    let to = &n.muc;
    let at = where_s2s(n);
    let (why, fix) = match ping {
        Ping::Linked(line) => {
            return ok(
                "s2s",
                format!("main prosody -> {to} (via {at}): the ping crossed the link both ways ({line})"),
            )
        }
        Ping::NoShell(line) => {
            return bad(
                Status::Warn,
                "s2s",
                format!("the visitors link to {to} is not checked: main prosody's admin shell did not answer ({line})"),
                "start the stack (`jitsi-stack up`) and run `jitsi-stack doctor` again",
            )
        }
        Ping::Failed(cause, line) => match (cause, &n.remote) {
            (Cause::Refused, None) => (
                format!("nothing listens at {at} ({line}): {} is down, or main's route names a port it does not listen on", n.service),
                format!("start it (`jitsi-stack up`; `jitsi-stack logs {}`); main's route and the node's port both come from .env: run `jitsi-stack render` and `jitsi-stack up` rather than setting VISITORS_XMPP_PORT", n.service),
            ),
            (Cause::Refused, Some(r)) => (
                format!("nothing listens at {at} ({line}): node {}'s prosody is down, or does not publish its s2s port {} there", r.name, visitors::S2S_PORT),
                format!("on {} run `jitsi-stack up` in its bundle nodes/{} (it publishes {}:{}); if the bundle is old, copy it again", r.name, r.name, r.address, visitors::S2S_PORT),
            ),
            (Cause::Timeout, None) => (
                format!("no answer from {at} within {PING_SECS} s ({line}): nothing routes main prosody's connection to {}", n.service),
                format!("check that {} runs on the compose network (`jitsi-stack status`) and that no firewall rule on this host drops traffic between containers", n.service),
            ),
            (Cause::Timeout, Some(r)) => (
                format!("no answer from {at} within {PING_SECS} s ({line}): a firewall drops the connection or there is no route to {}", r.address),
                format!("on {} load the rules its bundle's `jitsi-stack ports --nftables` prints (they let this host in), and check the route from here (`ip route get {}`)", r.name, r.address),
            ),
            (Cause::HostUnknown, _) => (
                format!("the prosody at {at} does not serve {to} ({line}): main's route leads to another node or another service"),
                match &n.remote {
                    None => "run `jitsi-stack render` and `jitsi-stack up` (main's routes and each node's index come from the same .env)".to_string(),
                    Some(r) => format!("copy nodes/{} to {} again and run `jitsi-stack up` there: that node must be index {} ({})", r.name, r.name, n.index, n.domain),
                },
            ),
            (Cause::NoRoute, _) => (
                format!("main prosody has no route to {to} ({line}): it looked the domain up in DNS instead of dialling {at}"),
                "run `jitsi-stack render` and `jitsi-stack restart prosody` (the rendered prosody.cfg.lua routes each node's domains with s2sout_override)".to_string(),
            ),
            (Cause::Refusal, _) => (
                format!("{at} refused main prosody's stream ({line})"),
                "the link is trusted by network position (the image's certs_s2soutinjection): run `jitsi-stack render` and `jitsi-stack up` on both ends".to_string(),
            ),
            (Cause::Other, _) => (
                format!("the ping over {at} failed: {line}"),
                "see `jitsi-stack logs prosody` and the node's prosody log".to_string(),
            ),
        },
    };
    bad(
        Status::Fail,
        "s2s",
        format!("main prosody -> {to}: {why}"),
        fix,
    )
}

/// The finding for node `n`'s ping to main's MUC (`main_at`: main
/// prosody's s2s address as the node dials it).
fn node_to_main(n: &VisitorNode, main_muc: &str, main_at: &str, ping: Ping) -> CheckResult {
    let from = &n.domain;
    let (why, fix) = match ping {
        Ping::Linked(line) => {
            return ok(
                "s2s",
                format!("{from} -> {main_muc} (via {main_at}): the ping crossed the link both ways ({line})"),
            )
        }
        Ping::NoShell(line) => {
            return bad(
                Status::Warn,
                "s2s",
                format!("the link from {from} is not checked: {}'s admin shell did not answer ({line})", n.service),
                format!("start it (`jitsi-stack up`) and run `jitsi-stack doctor` again; see `jitsi-stack logs {}`", n.service),
            )
        }
        Ping::Failed(cause, line) => match cause {
            Cause::Refused => (
                format!("nothing listens at {main_at} ({line})"),
                match &n.remote {
                    None => "start main prosody (`jitsi-stack up`); the node dials XMPP_SERVER on PROSODY_S2S_PORT: leave XMPP_SERVER_S2S_PORT unset".to_string(),
                    Some(_) => format!("on the main host run `jitsi-stack up` (it publishes {main_at} for the visitor nodes)"),
                },
            ),
            Cause::Timeout => (
                format!("no answer from {main_at} within {PING_SECS} s ({line}): a firewall drops it or there is no route"),
                match &n.remote {
                    None => "check that prosody runs on the compose network (`jitsi-stack status`)".to_string(),
                    Some(r) => format!("on the main host load the rules `jitsi-stack ports --nftables` prints there (they let {} in to 5269)", r.address),
                },
            ),
            Cause::HostUnknown => (
                format!("the prosody at {main_at} does not serve {main_muc} ({line})"),
                "XMPP_SERVER must name the main prosody: run `jitsi-stack render` and `jitsi-stack up` (on a remote node: copy its bundle again)".to_string(),
            ),
            Cause::NoRoute => (
                format!("{} has no route to {main_muc} ({line})", n.service),
                "run `jitsi-stack render` and `jitsi-stack up` (the node's visitors.cfg.lua routes main's domains to XMPP_SERVER)".to_string(),
            ),
            Cause::Refusal => (
                format!("main prosody refused the node's stream ({line})"),
                "run `jitsi-stack render` and `jitsi-stack up` on both ends".to_string(),
            ),
            Cause::Other => (
                format!("the ping failed: {line}"),
                format!("see `jitsi-stack logs {}`", n.service),
            ),
        },
    };
    bad(
        Status::Fail,
        "s2s",
        format!("{from} -> {main_muc}: {why}"),
        fix,
    )
}

/// The s2s sessions `s2s:show()` lists with `remote`, and whether each is
/// encrypted: (line, TLS version or None).
fn sessions_with<'a>(table: &'a str, remote: &str) -> Vec<(&'a str, Option<&'a str>)> {
    table
        .lines()
        .filter(|l| l.split('|').any(|f| f.trim() == remote))
        .map(|l| {
            let tls = l
                .split('|')
                .flat_map(str::split_whitespace)
                .find(|w| w.starts_with("TLSv"));
            (l.trim(), tls)
        })
        .collect()
}

/// `s2s:show()` on main prosody: every session with a node is TLS.
fn tls_finding(table: &str, nodes: &[&VisitorNode]) -> Vec<CheckResult> {
    let mut out = vec![];
    for n in nodes {
        // Main's outgoing stream to the node's MUC and the node's
        // incoming one from its own domain (the reverse ping).
        let mut sessions = sessions_with(table, &n.muc);
        sessions.extend(sessions_with(table, &n.domain));
        if sessions.is_empty() {
            // The ping's finding says why there is no link.
            continue;
        }
        let plain: Vec<&str> = sessions
            .iter()
            .filter(|(_, t)| t.is_none())
            .map(|(l, _)| *l)
            .collect();
        if plain.is_empty() {
            let mut versions: Vec<&str> = sessions.iter().filter_map(|(_, t)| *t).collect();
            versions.sort();
            versions.dedup();
            out.push(ok(
                "s2s-tls",
                format!(
                    "s2s:show(): {} session(s) with {} and {}, all encrypted ({})",
                    sessions.len(),
                    n.muc,
                    n.domain,
                    versions.join(", ")
                ),
            ));
        } else {
            out.push(bad(
                Status::Fail,
                "s2s-tls",
                format!("s2s:show(): a session with node {} is not encrypted: {}", n.vnode, plain.join(" / ")),
                "keep the rendered s2s settings (s2s_require_encryption, the image's default); run `jitsi-stack render` and `jitsi-stack up`",
            ));
        }
    }
    out
}

/// The admin-shell input that runs the login script with `password`.
fn login_input(password: &str) -> String {
    format!("local password = {}\n{LOGIN_LUA}", lua_str(password))
}

/// Reads the login script's line.
fn login_finding(n: &VisitorNode, user: &str, code: Option<i32>, text: &str) -> CheckResult {
    let at = n.c2s_target();
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("jitsi-stack-login "));
    let pw_var = match &n.remote {
        Some(r) => r.password_var.as_str(),
        None => "JICOFO_AUTH_PASSWORD",
    };
    let Some(line) = line else {
        return bad(
            Status::Warn,
            "focus",
            format!("jicofo's login to {at} is not checked: lua5.4 did not run in the prosody container (exit {}: {})", code.map_or("none".into(), |c| c.to_string()), said(text)),
            "start the stack (`jitsi-stack up`) and run `jitsi-stack doctor` again",
        );
    };
    if let Some(tls) = line.strip_prefix("ok ") {
        return ok(
            "focus",
            format!("{user} logged in to {at} over {} from the prosody container, as jicofo does (certificate not verified, as jicofo's disable-certificate-verification)", tls.trim()),
        );
    }
    let rest = line.strip_prefix("fail ").unwrap_or(line);
    let (step, detail) = rest.split_once(' ').unwrap_or((rest, ""));
    let fix = match (step, &n.remote) {
        ("connect", None) => format!("start {} (`jitsi-stack up`; `jitsi-stack logs {}`)", n.service, n.service),
        ("connect", Some(r)) => format!("on {} run `jitsi-stack up` in its bundle (it publishes {}:{}) and load the rules its `jitsi-stack ports --nftables` prints (they let this host in)", r.name, r.address, visitors::C2S_PORT),
        ("auth", None) => format!("the node's focus account has another password than JICOFO_AUTH_PASSWORD (the image's register-setup never changes an existing one): `docker compose exec {} prosodyctl --config {PROSODY_CONFIG} shell user password {user}` with it, or remove the volume {}-data and `jitsi-stack up`", n.service, n.service),
        ("auth", Some(r)) => format!("the node's focus account must have the password {pw_var}: copy nodes/{} to {} again; if its volume holds an older account, there run `jitsi-stack down`, remove the volume {}-data and `jitsi-stack up`", r.name, r.name, n.service),
        ("stream", _) => format!("the prosody at {at} does not serve the focus domain: is it node {} ({})? run `jitsi-stack render` and `jitsi-stack up`", n.index, n.domain),
        _ => format!("see the node's prosody log (`jitsi-stack logs {}`)", n.service),
    };
    bad(
        Status::Fail,
        "focus",
        format!("jicofo cannot log in to {at} as {user}: {step}: {detail}"),
        fix,
    )
}

/// Where node `n` dials main prosody's s2s port: its container's
/// `XMPP_SERVER:XMPP_SERVER_S2S_PORT`, from the model.
fn main_address(model: &Model, n: &VisitorNode) -> String {
    let service = model.services.iter().find(|s| s.name == n.service);
    let get = |k: &str, default: &str| match service.and_then(|s| s.env.get(k)) {
        Some(EnvValue::Literal(x)) => x.clone(),
        _ => default.to_string(),
    };
    format!(
        "{}:{}",
        get("XMPP_SERVER", "xmpp.meet.jitsi"),
        get("XMPP_SERVER_S2S_PORT", "5269")
    )
}

/// `doctor`'s visitors checks on the main host.
pub fn main_checks(stack: &Stack, model: &Model) -> Vec<CheckResult> {
    let v = &stack.values;
    if !visitors::enabled(v) {
        return vec![];
    }
    let nodes = visitors::nodes(stack);
    let compose = match Compose::detect(stack) {
        Ok(c) => c,
        Err(e) => {
            return vec![bad(
                Status::Warn,
                "s2s",
                format!("the visitors links are not checked: {e}"),
                "install Docker Compose v2 (`jitsi-stack doctor` says how), start the stack and run doctor again",
            )]
        }
    };
    let domain = v.get_or("XMPP_DOMAIN", "meet.jitsi");
    let main_muc = v.get_or("XMPP_MUC_DOMAIN", "muc.meet.jitsi");
    let mut out = vec![];
    let mut linked = vec![];
    for n in &nodes {
        let (code, text) = shell(
            &compose,
            "prosody",
            &["xmpp", "ping", domain, &n.muc, PING_SECS],
        );
        let ping = ping_verdict(code, &text);
        if matches!(ping, Ping::Linked(_)) {
            linked.push(n);
        }
        out.push(main_to_node(n, ping));
        match &n.remote {
            None => {
                let (code, text) = shell(
                    &compose,
                    &n.service,
                    &["xmpp", "ping", &n.domain, main_muc, PING_SECS],
                );
                let main_at = main_address(model, n);
                out.push(node_to_main(n, main_muc, &main_at, ping_verdict(code, &text)));
            }
            Some(r) => out.push(ok(
                "s2s",
                format!(
                    "{} -> {main_muc} is checked on node {}: run `jitsi-stack doctor` in its bundle there (it pings from {} through `docker compose exec {} prosodyctl shell xmpp ping`)",
                    n.domain, r.name, n.domain, n.service
                ),
            )),
        }
    }
    if !linked.is_empty() {
        let (_, table) = shell(&compose, "prosody", &["s2s", "show"]);
        out.extend(tls_finding(&table, &linked));
    }
    let user = format!(
        "focus@{}",
        v.get_or("VISITORS_XMPP_AUTH_DOMAIN", "auth.meet.jitsi")
    );
    let (name, auth) = user.split_once('@').unwrap_or(("focus", "auth.meet.jitsi"));
    for n in &nodes {
        let password = match &n.remote {
            Some(r) => v.get_or(&r.password_var, ""),
            None => v.get_or("JICOFO_AUTH_PASSWORD", ""),
        };
        let host = n.host();
        let port = visitors::C2S_PORT.to_string();
        let result = compose.with_stdin_any(
            &[
                "exec", "-T", "prosody", "lua5.4", "-", &host, &port, auth, name,
            ],
            &login_input(password),
        );
        out.push(match result {
            Ok(o) => login_finding(
                n,
                &user,
                o.status.code(),
                &format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            ),
            Err(e) => login_finding(n, &user, None, &e.to_string()),
        });
    }
    out
}

/// `doctor` in a visitor node's bundle: its prosody's ping to main's MUC.
pub fn node_checks(stack: &Stack, model: &Model) -> Vec<CheckResult> {
    let v = &stack.values;
    let Some(n) = visitors::nodes(stack).into_iter().next() else {
        return vec![];
    };
    let main_muc = v.get_or("XMPP_MUC_DOMAIN", "muc.meet.jitsi");
    let main_at = main_address(model, &n);
    let compose = match Compose::detect(stack) {
        Ok(c) => c,
        Err(e) => {
            return vec![bad(
                Status::Warn,
                "s2s",
                format!("the link to the main host is not checked: {e}"),
                "install Docker Compose v2, start the node and run doctor again",
            )]
        }
    };
    let (code, text) = shell(
        &compose,
        &n.service,
        &["xmpp", "ping", &n.domain, main_muc, PING_SECS],
    );
    vec![node_to_main(
        &n,
        main_muc,
        &main_at,
        ping_verdict(code, &text),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts are prosody 13's (seen in the live test; the DNS one is
    /// mod_s2s's reason with net.connect's "unable to resolve service").
    #[test]
    fn pings_are_read_by_what_prosody_said() {
        let linked = ping_verdict(Some(1), "! Error: service-unavailable\n");
        assert!(matches!(linked, Ping::Linked(_)), "{linked:?}");
        assert!(matches!(
            ping_verdict(
                Some(0),
                "| pong from muc.v0.meet.jitsi on s2sout123 in 0.02s\n"
            ),
            Ping::Linked(_)
        ));
        for (text, want) in [
            (
                "Error: error<cancel:remote-server-not-found:Server-to-server connection failed: connection refused>",
                Cause::Refused,
            ),
            (
                "Error: error<wait:remote-server-timeout:IQ stanza timed out>",
                Cause::Timeout,
            ),
            (
                "Error: error<cancel:remote-server-not-found:Server-to-server connection failed: unable to resolve service>",
                Cause::NoRoute,
            ),
            (
                "Error: error<wait:remote-server-timeout:Server-to-server connection failed: host-unknown (This host does not serve muc.v0.meet.jitsi)>",
                Cause::HostUnknown,
            ),
        ] {
            assert_eq!(
                ping_verdict(Some(1), text),
                Ping::Failed(want, said(text)),
                "{text}"
            );
        }
        assert!(matches!(
            ping_verdict(
                Some(1),
                "Unable to connect to server - is it running? Is mod_admin_shell enabled?"
            ),
            Ping::NoShell(_)
        ));
        assert!(matches!(
            ping_verdict(Some(1), "service \"prosody\" is not running"),
            Ping::NoShell(_)
        ));
    }

    #[test]
    fn the_login_script_gets_the_password_as_a_lua_string() {
        let s = login_input("p\"w\n");
        assert!(s.starts_with("local password = \"p\\\"w\\n\"\n"), "{s}");
        assert!(s.contains("jitsi-stack-login ok"));
    }
}
