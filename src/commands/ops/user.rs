//! `jitsi-stack user add|del|list|passwd` for internal authentication,
//! through prosodyctl in the running prosody container. Passwords travel on
//! prosodyctl's stdin, never on a command line.
//!
//! Prosody 13 (the pinned image's) runs `adduser`, `passwd` and `deluser`
//! through the running server's admin shell (mod_admin_shell), which asks
//! for the password twice on stdin. The address goes after `--` (its
//! argument parser stops there), and names are checked before anything runs.

use crate::cli::{UserArgs, UserCommand};
use crate::config::Stack;
use crate::docker::{Compose, DockerError};
use crate::{Exit, UsageError};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, IsTerminal};
use std::path::Path;

/// Where the pinned prosody image's boot script renders its config.
pub const PROSODY_CONFIG: &str = "/run/prosody/config/prosody.cfg.lua";

/// `docker compose` arguments that run prosodyctl in the prosody container
/// with the configuration the image renders (stdin passed through).
pub const PROSODYCTL: &[&str] = &[
    "exec",
    "-T",
    "prosody",
    "prosodyctl",
    "--config",
    PROSODY_CONFIG,
];
/// Prosody's data directory in the rendered config (`data_path`), on the
/// volume compose mounts from CONFIG/storage/prosody.
pub const PROSODY_DATA: &str = "/var/lib/prosody/data";

pub fn run(dir: &Path, cmd: UserCommand) -> Result<Exit> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    internal_auth(&stack)?;
    let domain = stack.values.get_or("XMPP_DOMAIN", "meet.jitsi").to_string();
    // A bad name is refused before anything runs.
    let name = match &cmd {
        UserCommand::Add(a) | UserCommand::Passwd(a) => Some(&a.name),
        UserCommand::Del(a) => Some(&a.name),
        UserCommand::List => None,
    };
    if let Some(name) = name {
        jid(name, &domain)?;
    }
    let compose = Compose::detect(&stack)?;
    let prosodyctl = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = PROSODYCTL.iter().map(|s| s.to_string()).collect();
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    match cmd {
        UserCommand::Add(args) => {
            let jid = jid(&args.name, &domain)?;
            let pw = password(&args)?;
            let argv = prosodyctl(&["adduser", "--", &jid]);
            in_prosody(&compose, &refs(&argv), &format!("{pw}\n{pw}\n"))?;
            crate::outln!("added {jid}");
        }
        UserCommand::Passwd(args) => {
            let jid = jid(&args.name, &domain)?;
            let pw = password(&args)?;
            let argv = prosodyctl(&["passwd", "--", &jid]);
            in_prosody(&compose, &refs(&argv), &format!("{pw}\n{pw}\n"))?;
            crate::outln!("changed the password of {jid}");
        }
        UserCommand::Del(args) => {
            let jid = jid(&args.name, &domain)?;
            let argv = prosodyctl(&["deluser", "--", &jid]);
            in_prosody(&compose, &refs(&argv), "")?;
            crate::outln!("deleted {jid}");
        }
        UserCommand::List => {
            let path = format!("{PROSODY_DATA}/{}/accounts", encode_node(&domain));
            let out = match compose.output(&["exec", "-T", "prosody", "ls", "-1", "--", &path]) {
                Ok(out) => out,
                // ls: 2 = the directory is missing (its own message is on
                // stderr): prosody creates it with the first account.
                Err(DockerError::Status { status: 2, .. }) => {
                    crate::errln!("no accounts on {domain} yet (prosody has no {path})");
                    return Ok(Exit::Ok);
                }
                Err(e) => return Err(e.into()),
            };
            for name in account_names(&out) {
                crate::outln!("{name}@{domain}");
            }
        }
    }
    Ok(Exit::Ok)
}

/// Runs prosodyctl in the container with `input` on its stdin. On failure
/// what prosodyctl said (such as `Error: User exists`) is shown, without
/// its password prompts, before Docker's exit status is reported.
fn in_prosody(compose: &Compose, argv: &[&str], input: &str) -> Result<()> {
    let out = compose.with_stdin_any(argv, input)?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines() {
        let line = line.replace("\u{1b}[08m", "").replace("\u{1b}[00m", "");
        let line = line
            .trim_start_matches("Enter new password: ")
            .trim_start_matches("Retype new password: ")
            .trim();
        if !line.is_empty() {
            crate::errln!("prosodyctl: {line}");
        }
    }
    Err(match out.status.code() {
        Some(status) => DockerError::Status {
            command: compose.display(argv),
            status,
        },
        None => DockerError::Io {
            command: compose.display(argv),
            message: "killed by a signal".into(),
        },
    }
    .into())
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The accounts are prosody's own only with internal authentication as
/// prosody sees it: `ENABLE_AUTH` on and `PROSODY_AUTH_TYPE` (else
/// `AUTH_TYPE`) `internal`. The error names only what must change.
fn internal_auth(stack: &Stack) -> Result<()> {
    let v = &stack.values;
    let enabled = v.bool("ENABLE_AUTH");
    let (var, auth) = match v.get("PROSODY_AUTH_TYPE") {
        Some(t) => ("PROSODY_AUTH_TYPE", t),
        None => ("AUTH_TYPE", v.get_or("AUTH_TYPE", "internal")),
    };
    let mut fix = vec![];
    if !enabled {
        fix.push("ENABLE_AUTH=1".to_string());
    }
    if auth != "internal" {
        fix.push(format!("{var}=internal"));
    }
    if fix.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "user accounts are for internal authentication; this stack has ENABLE_AUTH={} and {var}={auth}. \
         Set {} in .env, run `jitsi-stack up`, then try again",
        if enabled { "1" } else { "0" },
        fix.join(" and ")
    ))
    .into())
}

/// `name@domain` for a user name that is a plain XMPP local part (RFC 7622:
/// no `@ / " & ' : < >`, white space or control characters, at most 1023
/// bytes), lower-cased as prosody's nodeprep does. A leading `-` is refused
/// too, so a name can never be read as an option by any program.
fn jid(name: &str, domain: &str) -> Result<String> {
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name.starts_with('-') {
        Some("it starts with '-'")
    } else if name.len() > 1023 {
        Some("it is longer than 1023 bytes")
    } else if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "@/\"&'<>:".contains(c))
    {
        Some("it contains a space, control character, @, /, quote, &, <, > or :")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(UsageError(format!(
            "user name {name:?}: {why}; expected the part before @ of an XMPP address, \
             such as alice or j.doe"
        ))
        .into());
    }
    Ok(format!("{}@{domain}", name.to_lowercase()))
}

/// User names from `ls -1` of prosody's accounts directory: `NAME.dat`
/// files, NAME in prosody's file-name encoding. Other entries are skipped;
/// odd bytes never stop the listing.
fn account_names(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.strip_suffix(".dat"))
        .filter(|n| !n.is_empty())
        .map(decode_node)
        .collect()
}

/// The new password: prompted twice without echo on a terminal, else one
/// line of stdin (`--password-stdin`).
fn password(args: &UserArgs) -> Result<String> {
    let pw = if args.password_stdin || !std::io::stdin().is_terminal() {
        if !args.password_stdin {
            bail!("no terminal to prompt for the password: pass --password-stdin and pipe it in");
        }
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        let a = rpassword::prompt_password("New password: ")?;
        let b = rpassword::prompt_password("Repeat it: ")?;
        if a != b {
            bail!("the two passwords differ; nothing was changed");
        }
        a
    };
    if pw.is_empty() || pw.contains(['\n', '\r']) {
        return Err(UsageError("the password must be one non-empty line".into()).into());
    }
    Ok(pw)
}

/// Prosody's file-name encoding of a host: every character other than
/// letters, digits and `-`/`_` as `%xx` (lower-case hex).
fn encode_node(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// Undoes [`encode_node`] on bytes (`%xx` with two hex digits; anything
/// else is kept as it is), so no input can split a character.
fn decode_node(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_encoding_round_trips() {
        assert_eq!(encode_node("meet.jitsi"), "meet%2ejitsi");
        assert_eq!(decode_node("j%2edoe"), "j.doe");
        assert_eq!(decode_node("alice"), "alice");
    }

    #[test]
    fn jids() {
        assert_eq!(jid("Alice", "meet.jitsi").unwrap(), "alice@meet.jitsi");
        assert_eq!(
            jid("j.doe-2_x", "meet.jitsi").unwrap(),
            "j.doe-2_x@meet.jitsi"
        );
        assert_eq!(jid("ünï", "meet.jitsi").unwrap(), "ünï@meet.jitsi");
        for bad in [
            "", "a b", "a@b", "a/b", "a\"b", "a&b", "a'b", "a:b", "a<b", "a>b", "a\tb", "a\nb",
            "-", "--help", "-x", "\u{7f}",
        ] {
            assert!(jid(bad, "meet.jitsi").is_err(), "{bad:?} accepted");
        }
        assert!(jid(&"a".repeat(1023), "m").is_ok());
        assert!(jid(&"a".repeat(1024), "m").is_err());
    }

    #[test]
    fn odd_listings_never_panic() {
        // Lossy UTF-8 from `ls` (U+FFFD is 3 bytes) right after a '%'.
        let listing = "alice.dat\nj%2edoe.dat\n%\u{fffd}.dat\n%\u{fffd}x.dat\n%.dat\n%4.dat\n.dat\nREADME\n%e2%82%ac.dat\n";
        assert_eq!(
            account_names(listing),
            ["alice", "j.doe", "%\u{fffd}", "%\u{fffd}x", "%", "%4", "€"]
        );
    }
}
