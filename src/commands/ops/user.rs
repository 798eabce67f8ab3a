//! `jitsi-stack user add|del|list|passwd` for internal authentication,
//! through prosodyctl in the running prosody container. Passwords travel on
//! prosodyctl's stdin, never on a command line.

use crate::cli::{UserArgs, UserCommand};
use crate::config::Stack;
use crate::docker::Compose;
use crate::{Exit, UsageError};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, IsTerminal};
use std::path::Path;

/// Where the pinned prosody image's boot script renders its config.
pub const PROSODY_CONFIG: &str = "/run/prosody/config/prosody.cfg.lua";
/// Prosody's data directory in the rendered config.
pub const PROSODY_DATA: &str = "/run/prosody/config/data";

pub fn run(dir: &Path, cmd: UserCommand) -> Result<Exit> {
    let stack = Stack::load(dir, &[] as &[&str])?;
    let auth = stack.values.get_or("AUTH_TYPE", "internal");
    if !stack.values.bool("ENABLE_AUTH") || auth != "internal" {
        return Err(UsageError(format!(
            "user accounts are for internal authentication; this stack has ENABLE_AUTH={} and AUTH_TYPE={auth}. \
             Set ENABLE_AUTH=1 and AUTH_TYPE=internal in .env, run `jitsi-stack up`, then try again",
            if stack.values.bool("ENABLE_AUTH") { "1" } else { "0" }
        ))
        .into());
    }
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
        let mut v: Vec<String> = [
            "exec",
            "-T",
            "prosody",
            "prosodyctl",
            "--config",
            PROSODY_CONFIG,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    match cmd {
        UserCommand::Add(args) => {
            let jid = jid(&args.name, &domain)?;
            let pw = password(&args)?;
            let argv = prosodyctl(&["adduser", &jid]);
            compose.with_stdin(&refs(&argv), &format!("{pw}\n{pw}\n"))?;
            println!("added {jid}");
        }
        UserCommand::Passwd(args) => {
            let jid = jid(&args.name, &domain)?;
            let pw = password(&args)?;
            let argv = prosodyctl(&["passwd", &jid]);
            compose.with_stdin(&refs(&argv), &format!("{pw}\n{pw}\n"))?;
            println!("changed the password of {jid}");
        }
        UserCommand::Del(args) => {
            let jid = jid(&args.name, &domain)?;
            let argv = prosodyctl(&["deluser", &jid]);
            compose.run(&refs(&argv))?;
            println!("deleted {jid}");
        }
        UserCommand::List => {
            let path = format!("{PROSODY_DATA}/{}/accounts", encode_node(&domain));
            let out = compose.output(&["exec", "-T", "prosody", "ls", "-1", &path])?;
            for name in out.lines().filter_map(|l| l.trim().strip_suffix(".dat")) {
                println!("{}@{domain}", decode_node(name));
            }
        }
    }
    Ok(Exit::Ok)
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `name@domain`, refusing what is not a plain XMPP local part.
fn jid(name: &str, domain: &str) -> Result<String> {
    if name.is_empty()
        || name.len() > 1023
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "@/\"&'<>:".contains(c))
    {
        return Err(UsageError(format!(
            "user name {name:?}: expected the part before @ (no spaces, @, /, quotes, &, <, >, :)"
        ))
        .into());
    }
    Ok(format!("{}@{domain}", name.to_lowercase()))
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

fn decode_node(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
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
        assert!(jid("a b", "meet.jitsi").is_err());
        assert!(jid("a@b", "meet.jitsi").is_err());
    }
}
