//! `jitsi-stack user add|del|list|passwd` for internal authentication:
//! `list` reads the accounts directory on prosody's volume (no container
//! needed); the others run prosodyctl in the running prosody container.
//! Passwords travel on prosodyctl's stdin, never on a command line.
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
    if let UserCommand::List = cmd {
        return list(&stack, &domain);
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
        UserCommand::List => unreachable!("listed above"),
    }
    Ok(Exit::Ok)
}

/// Prints `name@domain` for every account file on prosody's volume
/// (CONFIG/storage/prosody/data/DOMAIN/accounts/NAME.dat, both names in
/// prosody's file-name encoding), sorted; says so on stderr when there is
/// none, so that stdout stays one address a line.
fn list(stack: &Stack, domain: &str) -> Result<Exit> {
    let dir = accounts_dir(stack, domain);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        // Prosody creates the directory with the first account.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::errln!("no users in {domain} (no {})", dir.display());
            return Ok(Exit::Ok);
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "reading the accounts directory {}: run `jitsi-stack user list` as a user \
                 that may read CONFIG/storage/prosody (prosody's volume), such as root",
                dir.display()
            )))
        }
    };
    let mut files = vec![];
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        use std::os::unix::ffi::OsStrExt;
        files.push(String::from_utf8_lossy(entry.file_name().as_bytes()).into_owned());
    }
    let mut names = account_names(&files.join("\n"));
    names.sort();
    if names.is_empty() {
        crate::errln!("no users in {domain}");
    }
    for name in names {
        crate::outln!("{name}@{domain}");
    }
    Ok(Exit::Ok)
}

/// The host directory of prosody's account files for `domain`: the
/// compose file mounts CONFIG/storage/prosody at /var/lib/prosody.
fn accounts_dir(stack: &Stack, domain: &str) -> std::path::PathBuf {
    let rel = PROSODY_DATA
        .strip_prefix("/var/lib/prosody/")
        .expect("PROSODY_DATA is under /var/lib/prosody");
    stack
        .config_dir()
        .join("storage/prosody")
        .join(rel)
        .join(encode_node(domain))
        .join("accounts")
}

/// Runs prosodyctl in the container with `input` on its stdin. On failure
/// what prosodyctl said (such as `Error: User exists`) is shown, without
/// its password prompts, before Docker's exit status is reported.
fn in_prosody(compose: &Compose, argv: &[&str], input: &str) -> Result<()> {
    let out = compose.with_stdin_any(argv, input)?;
    if out.status.success() {
        return Ok(());
    }
    // `exec` fails the same way for a stopped container as for a prosodyctl
    // error; Compose's state tells them apart.
    if !prosody_running(compose) {
        bail!("prosody is not running: run `jitsi-stack up`, then try again");
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

/// Whether Compose reports the prosody container running. A `ps` that
/// fails or cannot be read counts as running, so that prosodyctl's own
/// error is shown instead.
fn prosody_running(compose: &Compose) -> bool {
    let Ok(text) = compose.output(&["ps", "--all", "--format", "json"]) else {
        return true;
    };
    let Ok(states) = super::watch::parse_ps(&text) else {
        return true;
    };
    states
        .iter()
        .any(|s| s.service == "prosody" && s.state == "running")
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

/// `name@domain` for a user name that prosody's nodeprep (RFC 3920's
/// stringprep profile, which prosody applies to every local part) accepts,
/// in the form nodeprep gives it (case-folded, NFKC). Refused on top of
/// nodeprep: a leading `-` (never read as an option by any program), `*`
/// and `%` (wildcards and prosody's file-name escapes, so that `%2e%2e` never
/// names a file), and the invisible characters nodeprep silently drops
/// (zero-width space and joiners, soft hyphen, variation selectors), so the
/// account is the name the admin typed.
fn jid(name: &str, domain: &str) -> Result<String> {
    let refuse = |why: String| -> Result<String> {
        Err(UsageError(format!(
            "user name {name:?}: {why}; expected the part before @ of an XMPP address \
             (letters, digits and . - _), such as alice or j.doe"
        ))
        .into())
    };
    if name.is_empty() {
        return refuse("it is empty".into());
    }
    if name.starts_with('-') {
        return refuse("it starts with '-'".into());
    }
    if name.len() > 1023 {
        return refuse("it is longer than 1023 bytes".into());
    }
    let named = |c: char| -> String {
        match c {
            ' ' => "a space".into(),
            c if c.is_control() || stringprep::tables::commonly_mapped_to_nothing(c) => {
                format!("the invisible character U+{:04X}", c as u32)
            }
            c if c.is_whitespace() => format!("the space character U+{:04X}", c as u32),
            c => format!("{c:?} (U+{:04X})", c as u32),
        }
    };
    if let Some(c) = name
        .chars()
        .find(|&c| "*%".contains(c) || stringprep::tables::commonly_mapped_to_nothing(c))
    {
        return refuse(format!("it contains {}", named(c)));
    }
    let prepped = match stringprep::nodeprep(name) {
        Ok(p) => p.into_owned(),
        Err(_) => {
            // Name the first character nodeprep refuses, checked one by one
            // (bidirectional rules concern the whole name).
            let bad = name.chars().find(|&c| {
                let mut b = [0u8; 4];
                stringprep::nodeprep(c.encode_utf8(&mut b)).is_err()
            });
            return refuse(match bad {
                Some(c) => format!(
                    "it contains {}, which prosody refuses in a name \
                     (space, control, @ / : \" & ' < > or unassigned)",
                    named(c)
                ),
                None => {
                    "it mixes right-to-left and left-to-right text, which prosody refuses".into()
                }
            });
        }
    };
    if prepped.is_empty() {
        return refuse("nothing is left of it after prosody's nodeprep".into());
    }
    Ok(format!("{prepped}@{domain}"))
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
    // The rule `check` applies to the stack's own secrets.
    if let Some(w) = crate::secrets::weakness(&pw) {
        return Err(UsageError(format!(
            "the password is {}: expected at least {} characters and not a well-known one \
             (the rule `check` applies to secrets); found {}. Nothing was changed",
            w.why,
            crate::secrets::MIN_LEN,
            w.found
        ))
        .into());
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
            "",
            "a b",
            "a@b",
            "a/b",
            "a\"b",
            "a&b",
            "a'b",
            "a:b",
            "a<b",
            "a>b",
            "a\tb",
            "a\nb",
            "-",
            "--help",
            "-x",
            "\u{7f}",
            "*",
            "a*",
            "%2e%2e",
            "..%2f",
            "a\u{200b}b",
            "\u{feff}x",
            "a\u{a0}b",
            "a\u{3000}b",
            "\u{e000}",
            "a\u{378}",
            "a\u{202e}b",
        ] {
            assert!(jid(bad, "meet.jitsi").is_err(), "{bad:?} accepted");
        }
        // Prosody's nodeprep: case folding and NFKC.
        assert_eq!(jid("ÅSA", "m").unwrap(), "åsa@m");
        assert_eq!(jid("\u{fb01}n", "m").unwrap(), "fin@m");
        let err = jid("a\u{200b}b", "m").unwrap_err().to_string();
        assert!(err.contains("invisible character U+200B"), "{err}");
        let err = jid("a b", "m").unwrap_err().to_string();
        assert!(err.contains("contains a space"), "{err}");
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
