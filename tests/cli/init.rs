//! `jitsi-stack init`: the .env it writes (read back by the real Compose v2),
//! the config tree, idempotence, and refusal of bad input without writing.

use crate::envfile::compose_read;
use crate::Test;
use jitsi_stack::commands::init::CONFIG_TREE;
use jitsi_stack::envfile::EnvFile;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

const SECRETS: &[&str] = &[
    "JIBRI_RECORDER_PASSWORD",
    "JIBRI_XMPP_PASSWORD",
    "JICOFO_AUTH_PASSWORD",
    "TURN_CREDENTIALS",
    "JIGASI_TRANSCRIBER_PASSWORD",
    "JIGASI_XMPP_PASSWORD",
    "JVB_AUTH_PASSWORD",
];

fn is_root() -> bool {
    fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap()
}

fn assert_tree(config: &Path) {
    for rel in CONFIG_TREE {
        let p = config.join(rel);
        assert!(p.is_dir(), "{} missing", p.display());
        if is_root() {
            let m = fs::metadata(&p).unwrap();
            assert_eq!((m.uid(), m.gid()), (1000, 1000), "{} owner", p.display());
        }
    }
}

#[test]
fn creates_env_and_tree_that_compose_reads() {
    let run = Test::new()
        .args([
            "init",
            "demo",
            "--public-url",
            "https://meet.example.org",
            "--letsencrypt-email",
            "ops@example.org",
            "--non-interactive",
        ])
        .run();
    let path = run.path().join("demo/.env");
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let file = EnvFile::read(&path).unwrap();
    let keys: Vec<String> = file.to_map().into_keys().collect();
    let compose = compose_read(&path, &keys);
    assert_eq!(
        compose
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
        file.to_map()
    );
    assert_eq!(file.get("PUBLIC_URL"), Some("https://meet.example.org"));
    assert_eq!(file.get("LETSENCRYPT_DOMAIN"), Some("meet.example.org"));
    assert_eq!(file.get("LETSENCRYPT_EMAIL"), Some("ops@example.org"));
    assert_eq!(file.get("ENABLE_LETSENCRYPT"), Some("1"));
    assert_eq!(file.get("CONFIG"), Some("./config"));
    let mut pw: Vec<&str> = SECRETS.iter().map(|k| file.get(k).unwrap()).collect();
    assert!(pw
        .iter()
        .all(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())));
    pw.sort();
    pw.dedup();
    assert_eq!(pw.len(), SECRETS.len());

    assert_tree(&run.path().join("demo/config"));
    assert!(run.stdout.contains("demo/config:"), "{}", run.stdout);
    assert!(!run.stdout.contains("/./"), "{}", run.stdout);
    if !is_root() {
        assert!(
            run.stdout.contains("sudo chown -R 1000:1000"),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn second_run_keeps_every_value() {
    let args = [
        "init",
        ".",
        "--public-url",
        "https://meet.example.org",
        "--non-interactive",
    ];
    let first = Test::new().args(args).run();
    let before = first.read(".env");
    let second = Test::again(first)
        .args([
            "init",
            ".",
            "--public-url",
            "https://other.example.org",
            "--non-interactive",
        ])
        .run();
    assert_eq!(second.read(".env"), before, "no value may change");
    assert!(
        !second.exists(".env.bak"),
        "unchanged file is not rewritten"
    );
    assert!(second.stdout.contains("unchanged"), "{}", second.stdout);
    for k in SECRETS {
        assert!(
            second.stdout.contains(&format!("kept  {k}")),
            "{k}: {}",
            second.stdout
        );
    }
    assert!(
        second
            .stdout
            .contains("PUBLIC_URL (has \"https://meet.example.org\""),
        "{}",
        second.stdout
    );
    assert!(!second.stdout.contains("added"), "{}", second.stdout);
}

#[test]
fn rerun_adds_only_what_is_missing() {
    let run = Test::new()
        .env_file(
            "# mine\nPUBLIC_URL=https://meet.example.org\nJVB_AUTH_PASSWORD=handmade-password-1\n",
        )
        .args(["init", ".", "--non-interactive"])
        .run();
    let text = run.read(".env");
    assert!(text.starts_with(
        "# mine\nPUBLIC_URL=https://meet.example.org\nJVB_AUTH_PASSWORD=handmade-password-1\n"
    ));
    let file = EnvFile::parse(&text).unwrap();
    assert_eq!(file.get("JVB_AUTH_PASSWORD"), Some("handmade-password-1"));
    assert_eq!(file.get("JICOFO_AUTH_PASSWORD").unwrap().len(), 32);
    assert!(
        run.stdout.contains("kept  JVB_AUTH_PASSWORD"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("added JICOFO_AUTH_PASSWORD"),
        "{}",
        run.stdout
    );
    assert!(run.exists(".env.bak"));
}

#[test]
fn config_dir_flag_and_existing_config_are_respected() {
    let run = Test::new()
        .args([
            "init",
            "s",
            "--public-url",
            "https://meet.example.org",
            "--config-dir",
            "data/cfg",
            "--non-interactive",
        ])
        .run();
    assert_eq!(
        EnvFile::read(&run.path().join("s/.env"))
            .unwrap()
            .get("CONFIG"),
        Some("data/cfg")
    );
    assert_tree(&run.path().join("s/data/cfg"));
    assert!(!run.exists("s/config"));

    let abs = tempfile::tempdir().unwrap();
    let cfg = abs.path().join("jitsi-cfg");
    let run = Test::new()
        .env_file(&format!("CONFIG={}\n", cfg.display()))
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org",
            "--config-dir",
            "ignored",
            "--non-interactive",
        ])
        .run();
    assert_tree(&cfg);
    assert!(!run.exists("ignored"));
    assert!(run.stdout.contains("kept  CONFIG"), "{}", run.stdout);
}

#[test]
fn bad_flags_write_nothing() {
    for (flag, value, needle) in [
        ("--public-url", "not a url", "--public-url"),
        ("--letsencrypt-email", "nope", "--letsencrypt-email"),
        ("--with", "bogus", "unknown component"),
    ] {
        let mut args = vec!["init", "new", flag, value, "--non-interactive"];
        if flag == "--letsencrypt-email" {
            args.extend(["--public-url", "https://meet.example.org"]);
        }
        let run = Test::new().args(&args).status(2).run();
        assert!(run.stderr.contains(needle), "{flag}: {}", run.stderr);
        assert!(!run.exists("new"), "{flag}: directory created");

        let existing = "# hand written\nPUBLIC_URL=https://meet.example.org\n";
        let mut args = vec!["init", ".", flag, value, "--non-interactive"];
        if flag == "--letsencrypt-email" {
            args.extend(["--public-url", "https://meet.example.org"]);
        }
        let run = Test::new().env_file(existing).args(&args).status(2).run();
        assert_eq!(run.read(".env"), existing, "{flag}: .env touched");
        assert!(!run.exists(".env.bak") && !run.exists("config"), "{flag}");
    }
}

/// Under a pseudo-terminal (util-linux `script`), init asks for the URL and
/// e-mail; without one (the other tests) it never waits for input.
#[test]
fn prompts_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("jitsi-stack");
    let out = Command::new("script")
        .current_dir(dir.path())
        .args(["-qec", &format!("{} init st", bin.display()), "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"https://meet.example.com\nops@example.com\n")?;
            child.wait_with_output()
        })
        .expect("util-linux `script` (bsdutils) is needed for the terminal test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Public URL"), "{stdout}");
    let file = EnvFile::read(&dir.path().join("st/.env")).unwrap();
    assert_eq!(file.get("PUBLIC_URL"), Some("https://meet.example.com"));
    assert_eq!(file.get("LETSENCRYPT_EMAIL"), Some("ops@example.com"));
}

/// As a user other than root (here: `nobody` via setpriv when the tests run
/// as root), init cannot chown and prints the exact command instead.
#[test]
fn non_root_gets_the_chown_command() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("jitsi-stack");
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let out = cmd
        .current_dir(dir.path())
        .args([
            "init",
            "s",
            "--public-url",
            "https://meet.example.org",
            "--non-interactive",
        ])
        .output()
        .expect("setpriv (util-linux) is needed to run init as a non-root user");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("run:\n  sudo chown -R 1000:1000 s/config\nnext:"),
        "{stdout}"
    );
    for rel in CONFIG_TREE {
        assert!(dir.path().join("s/config").join(rel).is_dir(), "{rel}");
    }
}
