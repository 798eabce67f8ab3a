//! `jitsi-stack doctor`: a host preflight. Each finding is ok, warn or fail,
//! with the fix. `up` runs the same checks (ports in use only warn there,
//! since a running stack holds its own ports).

use super::ports::{host_ports, PortRule};
use super::site_checks::{dns_check, env_mode_check};
use crate::cli::DoctorArgs;
use crate::commands::report::{bad, ok, CheckResult, Status};
use crate::config::Stack;
use crate::layout::{CONFIG_TREE, IMAGE_UID};
use crate::schema::{self, kind::url_host_port};
use crate::stack::{Kind, Model};
use crate::{docker, Exit};
use anyhow::Result;
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub fn run(dir: &Path, args: DoctorArgs) -> Result<Exit> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let findings = if super::kube::is_target(dir)? {
        // A cluster: kubectl and what it sees instead of this host's Docker.
        super::kube::doctor(&stack)
    } else {
        let mut findings = docker_findings();
        let model = Model::build(&stack);
        findings.extend(checks(&stack, model.as_ref(), Status::Fail));
        // Across hosts (doctor only: a node's `up` does not wait for the main host).
        if let Ok(model) = &model {
            findings.extend(super::nodes::doctor(&stack, model));
            if !model.is_node() {
                findings.extend(super::visitors::main_checks(&stack, model));
            }
        }
        findings
    };
    let failed = findings.iter().any(CheckResult::is_failure);
    if args.json {
        let doc = serde_json::json!({
            "format_version": crate::commands::JSON_FORMAT_VERSION,
            "ok": !failed,
            "findings": findings,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let paint = crate::color::stdout();
        for f in &findings {
            crate::outln!("{}", f.render(paint));
        }
        offer_env_chmod(&stack, &findings);
    }
    Ok(if failed { Exit::Invalid } else { Exit::Ok })
}

/// On a terminal, offers to run the chmod of the `env-mode` finding.
fn offer_env_chmod(stack: &Stack, findings: &[CheckResult]) {
    use std::io::{BufRead, IsTerminal, Write};
    use std::os::unix::fs::PermissionsExt;
    if !findings.iter().any(|f| f.check == "env-mode")
        || !std::io::stdin().is_terminal()
        || !std::io::stderr().is_terminal()
    {
        return;
    }
    crate::err!("run `chmod 600 {}` now? [y/N] ", stack.env_path.display());
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err()
        || !matches!(answer.trim(), "y" | "Y" | "yes")
    {
        return;
    }
    match std::fs::set_permissions(&stack.env_path, std::fs::Permissions::from_mode(0o600)) {
        Ok(()) => crate::errln!("{} is now mode 0600", stack.env_path.display()),
        Err(e) => crate::errln!("chmod failed: {e}"),
    }
}

/// The checks `up` runs before starting anything: doctor's checks of this
/// host (ports in use only warn: a running stack holds its own ports), and
/// the addresses it publishes on for the nodes. `model` is `up`'s own.
pub fn preflight(stack: &Stack, model: &Model) -> Vec<CheckResult> {
    let mut out = checks(stack, Ok(model), Status::Warn);
    out.extend(super::nodes::preflight(model));
    out
}

/// This host's checks on `model` (or the `env` failure that kept it from
/// being built).
fn checks(
    stack: &Stack,
    model: Result<&Model, &anyhow::Error>,
    port_in_use: Status,
) -> Vec<CheckResult> {
    let model = match model {
        Ok(m) => m,
        Err(e) => {
            return vec![bad(
                Status::Fail,
                "env",
                format!("{e:#}"),
                "fix .env (`jitsi-stack check` shows how)",
            )]
        }
    };
    let mut out = Vec::new();
    out.extend(port_checks(model, port_in_use));
    out.extend(proxy_check(stack));
    out.extend(tree_checks(stack, model));
    out.extend(env_mode_check(stack));
    out.push(image_check(stack));
    out.extend(letsencrypt_checks(stack));
    out.push(nat_check(stack));
    out.extend(node_dns_check(stack, model));
    out.push(memory_check(model));
    out
}

/// Docker itself: the daemon answers this user, and Docker Compose is v2
/// or later and really reports errors. `up` runs these first.
pub fn docker_findings() -> Vec<CheckResult> {
    vec![daemon_finding(), compose_check(docker::find_compose())]
}

/// Whether the daemon answers this user (`docker info`).
pub fn daemon_finding() -> CheckResult {
    daemon_check(docker::daemon())
}

/// Where the client talks to the daemon: the address in its complaint,
/// else DOCKER_HOST, else the default socket.
fn endpoint(detail: &str) -> String {
    detail
        .split_whitespace()
        .find(|w| w.starts_with("unix://") || w.starts_with("tcp://") || w.starts_with("ssh://"))
        .map(|w| w.trim_end_matches(['.', ':', ',']).to_string())
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

fn daemon_check(daemon: docker::Daemon) -> CheckResult {
    use docker::{Daemon, DaemonProblem};
    let (problem, detail) = match daemon {
        Daemon::Up { version } => {
            return ok(
                "daemon",
                format!("Docker daemon {version} answers at {}", endpoint("")),
            )
        }
        Daemon::Down { problem, detail } => (problem, detail),
    };
    let at = endpoint(&detail);
    let rootless = at.contains("/run/user/");
    match problem {
        DaemonProblem::NoClient => bad(
            Status::Fail,
            "daemon",
            "the Docker daemon cannot be asked: `docker` is not on PATH",
            "install Docker Engine: https://docs.docker.com/engine/install/",
        ),
        DaemonProblem::NotRunning => bad(
            Status::Fail,
            "daemon",
            format!("the Docker daemon is not running (nothing answers at {at}): {detail}"),
            if rootless {
                "start it: `systemctl --user start docker` (rootless Docker; `systemctl --user enable docker` starts it at login)".to_string()
            } else {
                "start the service: `sudo systemctl start docker` (and `sudo systemctl enable docker` so it starts at boot); for rootless Docker: `systemctl --user start docker`".to_string()
            },
        ),
        DaemonProblem::PermissionDenied => bad(
            Status::Fail,
            "daemon",
            format!("the Docker daemon runs, but uid {} may not use its socket {at}: {detail}", current_uid()),
            "add this user to the docker group: `sudo usermod -aG docker $USER`, then log out and in again \
             (membership is as powerful as root); or use rootless Docker (`dockerd-rootless-setuptool.sh install`, \
             then `export DOCKER_HOST=unix:///run/user/$(id -u)/docker.sock`)",
        ),
        DaemonProblem::Other => bad(
            Status::Fail,
            "daemon",
            format!("the Docker daemon does not answer at {at}: {detail}"),
            "see `docker info`; check DOCKER_HOST and `docker context ls`, and the daemon's log (`journalctl -u docker`)",
        ),
    }
}

fn compose_check(found: Result<docker::ComposeInfo, docker::DockerError>) -> CheckResult {
    match found {
        Ok(info) => ok(
            "compose",
            format!(
                "`{}` {} ({}); reports errors",
                info.flavor.command(),
                info.version,
                info.program
            ),
        ),
        Err(docker::DockerError::Unusable { found, fix }) => bad(
            Status::Fail,
            "compose",
            format!("no usable Docker Compose: {found}"),
            fix,
        ),
        Err(_) => bad(
            Status::Fail,
            "compose",
            "no Docker Compose: neither `docker compose` nor `docker-compose` runs",
            docker::INSTALL.to_string(),
        ),
    }
}

fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// Binds each published port the way Docker will; a port a process holds is reported.
fn port_checks(model: &Model, in_use: Status) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let mut busy = Vec::new();
    for rule in host_ports(model) {
        // An address that is not this host's cannot be bound at all: that
        // is not a port in use (the `xmpp` check reports the address).
        if let Some(ip) = rule
            .address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
        {
            if !super::nodes::is_local(ip) {
                continue;
            }
        }
        for port in rule.low..=rule.high {
            if !free(&rule, port) {
                let at = match &rule.address {
                    Some(a) => format!("{a}:"),
                    None => String::new(),
                };
                busy.push(format!("{at}{port}/{} ({})", rule.protocol, rule.service));
            }
        }
    }
    if busy.is_empty() {
        out.push(ok("ports", "every published port is free"));
    } else {
        out.push(bad(
            in_use,
            "ports",
            format!("in use: {}", busy.join(", ")),
            "stop what holds them (`ss -lntup`), or change the port's variable in .env (HTTP_PORT, HTTPS_PORT, JVB_PORT, JVB_COLIBRI_PORT, JICOFO_REST_PORT); if it is this stack running, ignore this",
        ));
    }
    out
}

/// Binds the port on the address Docker will bind it on.
fn free(rule: &PortRule, port: u16) -> bool {
    let ip: IpAddr = rule
        .address
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let addr = (ip, port);
    match rule.protocol {
        "udp" => UdpSocket::bind(addr).is_ok(),
        _ => TcpListener::bind(addr).is_ok(),
    }
}

/// Behind a proxy: the web container answers on loopback only, and the
/// proxy should be listening on the public URL's port.
fn proxy_check(stack: &Stack) -> Option<CheckResult> {
    if !stack.behind_proxy() {
        return None;
    }
    let http = stack.values.port("HTTP_PORT").unwrap_or(8000);
    let url = stack.values.get_or("PUBLIC_URL", "https://localhost:8443");
    let public = url_host_port(url).and_then(|(_, p, _)| p).unwrap_or(443);
    let listening = std::net::TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, public).into(),
        std::time::Duration::from_millis(300),
    )
    .is_ok();
    Some(if listening {
        ok(
            "proxy",
            format!("behind a reverse proxy: web on 127.0.0.1:{http}; something listens on port {public} for {url}"),
        )
    } else {
        bad(
            Status::Warn,
            "proxy",
            format!("behind a reverse proxy (web on 127.0.0.1:{http}), but nothing listens on port {public} of this host for {url}"),
            "set up the proxy: `jitsi-stack proxy nginx` (or apache, haproxy, caddy) prints its configuration",
        )
    })
}

fn tree_checks(stack: &Stack, model: &Model) -> Vec<CheckResult> {
    let config = stack.config_dir();
    let mut missing = Vec::new();
    let mut not_writable = Vec::new();
    // A node's bundle needs only what its services mount (`up` makes them).
    let mut dirs: Vec<String> = if model.is_node() {
        vec![]
    } else {
        CONFIG_TREE.iter().map(|s| s.to_string()).collect()
    };
    dirs.extend(model.config_dirs());
    dirs.sort();
    dirs.dedup();
    for rel in &dirs {
        let p = config.join(rel);
        match std::fs::metadata(&p) {
            Err(_) => missing.push(rel.clone()),
            Ok(m) => {
                let writable =
                    m.uid() == IMAGE_UID && m.mode() & 0o200 != 0 || m.mode() & 0o002 != 0;
                if !writable {
                    not_writable.push(rel.clone());
                }
            }
        }
    }
    let shown = config.display();
    let mut out = Vec::new();
    if !missing.is_empty() {
        out.push(if model.is_node() {
            bad(
                Status::Warn,
                "storage",
                format!("missing under {shown}: {}", missing.join(", ")),
                "`jitsi-stack up` creates them",
            )
        } else {
            bad(
                Status::Fail,
                "storage",
                format!("missing under {shown}: {}", missing.join(", ")),
                format!(
                    "run `jitsi-stack init {}` (it only adds what is missing)",
                    stack.dir.display()
                ),
            )
        });
    }
    if !not_writable.is_empty() {
        out.push(bad(
            Status::Fail,
            "storage",
            format!(
                "not writable by uid {IMAGE_UID} (the containers' user): {}",
                not_writable.join(", ")
            ),
            format!("sudo chown -R {IMAGE_UID}:{IMAGE_UID} {shown}"),
        ));
    }
    if out.is_empty() {
        out.push(ok(
            "storage",
            format!("{shown}: present and writable by uid {IMAGE_UID}"),
        ));
    }
    out
}

fn image_check(stack: &Stack) -> CheckResult {
    let tag = stack
        .values
        .get_or("JITSI_IMAGE_VERSION", schema::PINNED_IMAGE_VERSION);
    if matches!(tag, "latest" | "unstable" | "stable") {
        bad(
            Status::Fail,
            "image",
            format!(
                "JITSI_IMAGE_VERSION={tag} moves under you: an unattended pull changes the stack"
            ),
            format!(
                "pin a release: JITSI_IMAGE_VERSION={}",
                schema::PINNED_IMAGE_VERSION
            ),
        )
    } else if tag != schema::PINNED_IMAGE_VERSION {
        bad(
            Status::Warn,
            "image",
            format!(
                "JITSI_IMAGE_VERSION={tag}: jitsi-stack is tested with {}",
                schema::PINNED_IMAGE_VERSION
            ),
            format!(
                "use JITSI_IMAGE_VERSION={} unless you know the differences",
                schema::PINNED_IMAGE_VERSION
            ),
        )
    } else {
        ok("image", format!("pinned to {tag}"))
    }
}

fn letsencrypt_checks(stack: &Stack) -> Vec<CheckResult> {
    if !stack.values.bool("ENABLE_LETSENCRYPT") {
        return vec![];
    }
    let (http, https) = (
        stack.values.port("HTTP_PORT"),
        stack.values.port("HTTPS_PORT"),
    );
    let url = stack.values.get_or("PUBLIC_URL", "https://localhost:8443");
    let public = url_host_port(url)
        .map(|(_, p, _)| p.unwrap_or(443))
        .unwrap_or(443);
    if http == Some(80) && https == Some(public) {
        vec![ok(
            "acme",
            format!("Let's Encrypt: HTTP_PORT=80, HTTPS_PORT={public}"),
        )]
    } else {
        vec![bad(
            Status::Fail,
            "acme",
            format!("Let's Encrypt validates on port 80 and the certificate serves {public} (the port of PUBLIC_URL)"),
            format!("set HTTP_PORT=80 and HTTPS_PORT={public}, and open both in the firewall"),
        )]
    }
}

/// The host's outbound address, found without sending anything (a UDP
/// "connect" only picks a route).
fn outbound_ip() -> Option<IpAddr> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

fn nat_check(stack: &Stack) -> CheckResult {
    if let Some(ips) = stack.values.raw("JVB_ADVERTISE_IPS") {
        return ok("nat", format!("bridges advertise {ips}"));
    }
    match outbound_ip() {
        Some(ip) if is_private(ip) => bad(
            Status::Warn,
            "nat",
            format!("this host's address {ip} is private and JVB_ADVERTISE_IPS is unset: calls with three or more people will have no media from outside"),
            format!("set JVB_ADVERTISE_IPS=<public IP>,{ip} in .env (find the public IP with your provider or `curl -4 ifconfig.me`), and forward UDP {} to this host", stack.values.port("JVB_PORT").unwrap_or(10000)),
        ),
        Some(ip) => ok("nat", format!("public address {ip}; the bridge discovers it")),
        None => bad(
            Status::Warn,
            "nat",
            "could not determine this host's address",
            "set JVB_ADVERTISE_IPS to the address clients reach this host on",
        ),
    }
}

/// The DNS check for this host's role. Bridges and SIP gateways on a node
/// never open PUBLIC_URL: no check. A recorder node's Chrome opens it from
/// the node, so its name must resolve there to the main host, and
/// `localhost` (or a loopback address) would be the node itself.
fn node_dns_check(stack: &Stack, model: &Model) -> Option<CheckResult> {
    let node = match &model.role {
        crate::stack::Role::Main => return Some(dns_check(stack)),
        crate::stack::Role::Node(node) => node,
    };
    if node.kind != crate::stack::nodes::NodeKind::Jibri {
        return None;
    }
    let url = stack.values.get_or("PUBLIC_URL", "https://localhost:8443");
    let host = url_host_port(url).map(|(h, _, _)| h).unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return Some(bad(
            Status::Warn,
            "dns",
            format!(
                "PUBLIC_URL is {url}: on this node {host} is the node itself, so the recorder's Chrome cannot reach the meeting"
            ),
            "set PUBLIC_URL on the main host to the name users open, run `jitsi-stack render` there and copy this bundle again",
        ));
    }
    let mut f = dns_check(stack);
    if f.status != Status::Ok {
        f.fix = f.fix.map(|_| {
            format!("add an A/AAAA record for {host} pointing at the main host (the recorder's Chrome opens PUBLIC_URL from this node)")
        });
    }
    Some(f)
}

fn memory_check(model: &Model) -> CheckResult {
    let total_kb = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    });
    let jibri = model.of_kind(Kind::Jibri).count() as u64;
    let bridges = model.of_kind(Kind::Jvb).count() as u64;
    // Rough needs: jicofo 1 GB, each bridge 1 GB, each recorder 2 GB
    // (Chrome plus its 2 GB shared memory), 1 GB for the rest.
    let need_gb = 2 + bridges + 2 * jibri;
    match total_kb {
        Some(kb) if kb / 1024 / 1024 + 1 >= need_gb => ok(
            "memory",
            format!("{} GB total; about {need_gb} GB needed", kb / 1024 / 1024),
        ),
        Some(kb) => bad(
            Status::Warn,
            "memory",
            format!(
                "{} GB total; the Java services and recorders need about {need_gb} GB",
                kb / 1024 / 1024
            ),
            "add memory, or fewer JVB_INSTANCES/JIBRI_INSTANCES",
        ),
        None => bad(
            Status::Warn,
            "memory",
            "could not read /proc/meminfo",
            "check memory by hand",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["203.0.113.7", "8.8.8.8", "2001:db8::1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
