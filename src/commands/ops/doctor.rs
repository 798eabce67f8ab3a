//! `jitsi-stack doctor`: a host preflight. Each finding is ok, warn or fail,
//! with the fix. `up` runs the same checks (ports in use only warn there,
//! since a running stack holds its own ports).

use super::ports::{published_ports, PortRule};
use crate::cli::DoctorArgs;
use crate::commands::init::{CONFIG_TREE, IMAGE_UID};
use crate::config::{Component, Stack};
use crate::schema::{self, kind::url_host_port};
use crate::{docker, Exit};
use anyhow::Result;
use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, TcpListener, ToSocketAddrs, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One check's verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub status: Status,
    pub check: &'static str,
    pub message: String,
    pub fix: Option<String>,
}

impl Finding {
    pub fn is_failure(&self) -> bool {
        self.status == Status::Fail
    }

    pub fn is_warning(&self) -> bool {
        self.status == Status::Warn
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        write!(f, "{s} {:<10} {}", self.check, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n     {:<10} fix: {fix}", "")?;
        }
        Ok(())
    }
}

fn ok(check: &'static str, message: impl Into<String>) -> Finding {
    Finding {
        status: Status::Ok,
        check,
        message: message.into(),
        fix: None,
    }
}

fn bad(
    status: Status,
    check: &'static str,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        status,
        check,
        message: message.into(),
        fix: Some(fix.into()),
    }
}

pub fn run(dir: &Path, args: DoctorArgs) -> Result<Exit> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let mut findings = vec![docker_check()];
    findings.extend(checks(&stack, Status::Fail));
    let failed = findings.iter().any(Finding::is_failure);
    if args.json {
        let doc = serde_json::json!({ "ok": !failed, "findings": findings });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for f in &findings {
            println!("{f}");
        }
        offer_env_chmod(&stack, &findings);
    }
    Ok(if failed { Exit::Invalid } else { Exit::Ok })
}

/// `.env` holds every password: warn when its group or others may read it.
fn env_mode_check(stack: &Stack) -> Option<Finding> {
    let mode = std::fs::metadata(&stack.env_path).ok()?.mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        bad(
            Status::Warn,
            "env-mode",
            format!(
                "{} holds the stack's passwords but is mode {mode:04o} (readable beyond its owner)",
                stack.env_path.display()
            ),
            format!("chmod 600 {}", stack.env_path.display()),
        )
    })
}

/// On a terminal, offers to run the chmod of the `env-mode` finding.
fn offer_env_chmod(stack: &Stack, findings: &[Finding]) {
    use std::io::{BufRead, IsTerminal, Write};
    use std::os::unix::fs::PermissionsExt;
    if !findings.iter().any(|f| f.check == "env-mode")
        || !std::io::stdin().is_terminal()
        || !std::io::stderr().is_terminal()
    {
        return;
    }
    eprint!("run `chmod 600 {}` now? [y/N] ", stack.env_path.display());
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err()
        || !matches!(answer.trim(), "y" | "Y" | "yes")
    {
        return;
    }
    match std::fs::set_permissions(&stack.env_path, std::fs::Permissions::from_mode(0o600)) {
        Ok(()) => eprintln!("{} is now mode 0600", stack.env_path.display()),
        Err(e) => eprintln!("chmod failed: {e}"),
    }
}

/// The checks `up` runs before starting anything: ports only warn.
pub fn preflight(stack: &Stack) -> Vec<Finding> {
    checks(stack, Status::Warn)
}

fn checks(stack: &Stack, port_in_use: Status) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(port_checks(stack, port_in_use));
    out.extend(tree_checks(stack));
    out.extend(env_mode_check(stack));
    out.push(image_check(stack));
    out.extend(letsencrypt_checks(stack));
    out.push(nat_check(stack));
    out.push(dns_check(stack));
    out.push(memory_check(stack));
    out
}

fn docker_check() -> Finding {
    let engine = docker::tool_version(&["docker", "--version"]);
    let compose = docker::tool_version(&["docker", "compose", "version"])
        .or_else(|| docker::tool_version(&["docker-compose", "version"]));
    match (engine, compose) {
        (Some(e), Some(c)) => ok("docker", format!("{e}; {c}")),
        (Some(e), None) => bad(
            Status::Fail,
            "docker",
            format!("{e}, but no Docker Compose"),
            "install the compose plugin (Debian/Ubuntu: apt-get install docker-compose-plugin)",
        ),
        (None, _) => bad(
            Status::Fail,
            "docker",
            "docker not found on PATH",
            "install Docker Engine: https://docs.docker.com/engine/install/",
        ),
    }
}

/// Binds each published port the way Docker will; a port a process holds is reported.
fn port_checks(stack: &Stack, in_use: Status) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut busy = Vec::new();
    for rule in published_ports(stack) {
        for port in rule.low..=rule.high {
            if !free(&rule, port) {
                busy.push(format!("{port}/{} ({})", rule.protocol, rule.service));
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
            "stop what holds them (`ss -lntup`), or change HTTP_PORT/HTTPS_PORT/JVB_PORT in .env; if it is this stack running, ignore this",
        ));
    }
    out
}

fn free(rule: &PortRule, port: u16) -> bool {
    let addr = (Ipv4Addr::UNSPECIFIED, port);
    match rule.protocol {
        "udp" => UdpSocket::bind(addr).is_ok(),
        _ => TcpListener::bind(addr).is_ok(),
    }
}

fn tree_checks(stack: &Stack) -> Vec<Finding> {
    let config = stack.config_dir();
    let mut missing = Vec::new();
    let mut not_writable = Vec::new();
    let mut dirs: Vec<String> = CONFIG_TREE.iter().map(|s| s.to_string()).collect();
    dirs.extend(crate::render::compose::config_dirs(stack));
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
        out.push(bad(
            Status::Fail,
            "storage",
            format!("missing under {shown}: {}", missing.join(", ")),
            format!(
                "run `jitsi-stack init {}` (it only adds what is missing)",
                stack.dir.display()
            ),
        ));
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

fn image_check(stack: &Stack) -> Finding {
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

fn letsencrypt_checks(stack: &Stack) -> Vec<Finding> {
    if !stack.values.bool("ENABLE_LETSENCRYPT") {
        return vec![];
    }
    let (http, https) = (
        stack.values.port("HTTP_PORT"),
        stack.values.port("HTTPS_PORT"),
    );
    if http == Some(80) && https == Some(443) {
        vec![ok("acme", "Let's Encrypt: HTTP_PORT=80, HTTPS_PORT=443")]
    } else {
        vec![bad(
            Status::Fail,
            "acme",
            "Let's Encrypt validates on port 80 and the certificate serves 443",
            "set HTTP_PORT=80 and HTTPS_PORT=443, and open both in the firewall",
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

fn nat_check(stack: &Stack) -> Finding {
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

fn dns_check(stack: &Stack) -> Finding {
    let url = stack.values.get_or("PUBLIC_URL", "https://localhost:8443");
    let Some((host, port, _)) = url_host_port(url) else {
        return bad(
            Status::Fail,
            "dns",
            format!("PUBLIC_URL {url:?} has no host"),
            "fix PUBLIC_URL in .env",
        );
    };
    match (host.as_str(), port.unwrap_or(443)).to_socket_addrs() {
        Ok(mut addrs) => match addrs.next() {
            Some(a) => ok("dns", format!("{host} resolves to {}", a.ip())),
            None => bad(
                Status::Warn,
                "dns",
                format!("{host} has no address"),
                "add an A/AAAA record for it",
            ),
        },
        Err(e) => bad(
            Status::Warn,
            "dns",
            format!("{host} does not resolve ({e})"),
            format!("add an A/AAAA record for {host} pointing at this host"),
        ),
    }
}

fn memory_check(stack: &Stack) -> Finding {
    let total_kb = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    });
    let jibri = if stack.has(Component::Jibri) {
        stack.instances("jibri").len() as u64
    } else {
        0
    };
    let bridges = stack.instances("jvb").len() as u64;
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
