//! The checks `doctor` runs whatever the target (this host's Docker or a
//! cluster): the mode of `.env` and whether the site's name resolves.

use crate::commands::report::{bad, ok, CheckResult, Status};
use crate::config::Stack;
use crate::schema::kind::url_host_port;
use std::net::ToSocketAddrs;
use std::os::unix::fs::MetadataExt;

/// `.env` holds every password: warn when its group or others may read it.
pub fn env_mode_check(stack: &Stack) -> Option<CheckResult> {
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

/// PUBLIC_URL's host resolves (and to which address).
pub fn dns_check(stack: &Stack) -> CheckResult {
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
