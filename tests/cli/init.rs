//! `jitsi-stack init`: the .env it writes (read back by the real Compose v2),
//! the config tree, idempotence, and refusal of bad input without writing.

use crate::envfile::compose_read;
use crate::Test;
use jitsi_stack::envfile::EnvFile;
use jitsi_stack::layout::CONFIG_TREE;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
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

fn env_of(run: &crate::Run, rel: &str) -> EnvFile {
    EnvFile::read(&run.path().join(rel)).unwrap()
}

/// Nothing init printed cites a line of a file.
fn no_line_citations(stderr: &str) {
    assert!(
        !stderr.contains(".env:") && !stderr.contains("line "),
        "cites a line of a file that was not written: {stderr}"
    );
}

#[test]
fn ports_follow_the_public_url_and_check_agrees() {
    for (url, http, https, redirect) in [
        ("https://meet.school.example", "80", "443", Some("1")),
        ("https://meet.school.example:443", "80", "443", Some("1")),
        ("https://meet.school.example:8443", "8000", "8443", None),
        ("https://meet.school.example:8000", "8001", "8000", None),
    ] {
        let run = Test::new()
            .args(["init", "s", "--public-url", url, "--non-interactive"])
            .run();
        let env = env_of(&run, "s/.env");
        assert_eq!(env.get("HTTP_PORT"), Some(http), "{url}");
        assert_eq!(env.get("HTTPS_PORT"), Some(https), "{url}");
        assert_eq!(
            env.get("ENABLE_HTTP_REDIRECT").filter(|v| !v.is_empty()),
            redirect,
            "{url}"
        );
        // Every later command used to warn that the URL's port differs.
        let check = Test::again(run)
            .args(["--dir", "s", "check", "--json"])
            .run();
        let v: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
        let public_url: Vec<_> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "public-url" || f["rule"] == "http-ports")
            .collect();
        assert!(public_url.is_empty(), "{url}: {public_url:?}");
    }
}

#[test]
fn letsencrypt_needs_a_public_dns_name() {
    for url in [
        "https://localhost:8443",
        "https://203.0.113.7",
        "https://meet",
        "https://meet.local",
    ] {
        let run = Test::new()
            .args([
                "init",
                "s",
                "--public-url",
                url,
                "--letsencrypt-email",
                "ops@example.org",
                "--non-interactive",
            ])
            .status(2)
            .run();
        assert!(
            run.stderr.contains("Let's Encrypt needs a public DNS name"),
            "{url}: {}",
            run.stderr
        );
        assert!(!run.exists("s"), "{url}: wrote a stack");
    }
    // check refuses the same in a hand-written .env.
    let run = Test::new()
        .env_file(
            "PUBLIC_URL=https://localhost\nENABLE_LETSENCRYPT=1\nLETSENCRYPT_DOMAIN=localhost\nLETSENCRYPT_EMAIL=ops@example.org\n",
        )
        .args(["check"])
        .status(1)
        .run();
    assert!(
        run.stderr
            .contains("LETSENCRYPT_DOMAIN: Let's Encrypt cannot issue a certificate for localhost"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_url_exits_2_naming_the_flag_and_no_line() {
    for (url, needle) in [
        ("http://meet.example.org", "https://"),
        (
            "https://meet.example.org/jitsi",
            "\"/jitsi\" follows the host",
        ),
        ("https://meet.example.org/?room=a", "follows the host"),
        ("https://meet_school.example", "no _"),
    ] {
        let run = Test::new()
            .args(["init", "s", "--public-url", url, "--non-interactive"])
            .status(2)
            .run();
        assert!(
            run.stderr.contains(&format!("--public-url {url:?}")) && run.stderr.contains(needle),
            "{url}: {}",
            run.stderr
        );
        no_line_citations(&run.stderr);
        assert!(!run.exists("s"));
    }
}

#[test]
fn values_init_refuses_check_refuses_too() {
    for (line, needle) in [
        ("PUBLIC_URL=https://meet_school.example", "PUBLIC_URL"),
        ("PUBLIC_URL=https://meet.example.org/jitsi", "PUBLIC_URL"),
        ("TZ=Europe/Berlinn", "did you mean Europe/Berlin?"),
        ("XMPP_DOMAIN=meet_jitsi.example", "XMPP_DOMAIN"),
    ] {
        let run = Test::new()
            .env_file(&format!("{line}\n"))
            .args(["check"])
            .status(1)
            .run();
        assert!(run.stderr.contains(needle), "{line}: {}", run.stderr);
    }
    let run = Test::new()
        .env_file("PUBLIC_URL=https://meet.example.org/\nTZ=Europe/Berlin\n")
        .args(["check", "--json"])
        .status_any()
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let types: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "type")
        .collect();
    assert!(types.is_empty(), "{types:?}");
}

#[test]
fn jigasi_from_the_command_line() {
    let run = Test::new()
        .args([
            "init",
            "s",
            "--public-url",
            "https://meet.example.org",
            "--with",
            "jigasi",
            "--sip-uri",
            "sip:1234@sip.example.org",
            "--sip-server",
            "sip.example.org",
            "--sip-password-stdin",
            "--non-interactive",
        ])
        .stdin("provider-given-pw\n")
        .run();
    let env = env_of(&run, "s/.env");
    assert_eq!(env.get("JIGASI_SIP_URI"), Some("1234@sip.example.org"));
    assert_eq!(env.get("JIGASI_SIP_SERVER"), Some("sip.example.org"));
    assert_eq!(env.get("JIGASI_SIP_PASSWORD"), Some("provider-given-pw"));
    assert!(
        run.stdout.contains("wrote 1234@sip.example.org"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("provider-given-pw"),
        "password printed"
    );
    // The stack it wrote checks and renders.
    let run = Test::again(run).args(["--dir", "s", "render"]).run();
    let props = run.read("s/generated/jigasi/sip-communicator.properties");
    assert!(
        props.contains("ACCOUNT_UID=SIP\\:1234@sip.example.org"),
        "{props}"
    );
}

#[test]
fn jigasi_without_its_account_names_the_flags_not_the_variable() {
    let run = Test::new()
        .args([
            "init",
            "s",
            "--public-url",
            "https://meet.example.org",
            "--with",
            "jigasi",
            "--non-interactive",
        ])
        .status(2)
        .run();
    for flag in ["--sip-uri", "--sip-server", "--sip-password-stdin"] {
        assert!(run.stderr.contains(flag), "{flag}: {}", run.stderr);
    }
    assert!(!run.stderr.contains("JITSI_STACK_WITH"), "{}", run.stderr);
    no_line_citations(&run.stderr);
    assert!(!run.exists("s"));

    let run = Test::new()
        .args([
            "init",
            "s",
            "--sip-uri",
            "1234@sip.example.org",
            "--non-interactive",
        ])
        .status(2)
        .run();
    assert!(run.stderr.contains("add --with jigasi"), "{}", run.stderr);

    let run = Test::new()
        .args([
            "init",
            "s",
            "--with",
            "jigasi",
            "--sip-uri",
            "1234",
            "--sip-server",
            "sip.example.org",
            "--sip-password-stdin",
            "--non-interactive",
        ])
        .stdin("pw\n")
        .status(2)
        .run();
    assert!(
        run.stderr.contains("--sip-uri \"1234\"") && run.stderr.contains("no @domain"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_typo_in_with_gets_a_suggestion() {
    let run = Test::new()
        .args(["init", "s", "--with", "jibri,jigas", "--non-interactive"])
        .status(2)
        .run();
    assert!(
        run.stderr
            .contains("unknown component \"jigas\"; did you mean jigasi?"),
        "{}",
        run.stderr
    );
    // The same in a hand-edited .env.
    let run = Test::new()
        .env_file("JITSI_STACK_WITH=etherpd\n")
        .args(["render"])
        .status_any()
        .run();
    assert_ne!(run.status, 0);
    assert!(
        run.stderr.contains("did you mean etherpad?"),
        "{}",
        run.stderr
    );
}

/// Runs `jitsi-stack ARGS` under a pseudo-terminal with `input` typed.
fn on_terminal(dir: &Path, args: &str, input: &str) -> (bool, String) {
    let bin = assert_cmd::cargo::cargo_bin("jitsi-stack");
    let out = Command::new("script")
        .current_dir(dir)
        .args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            // One answer at a time, as a person types (a hidden password
            // prompt drops what arrived before it).
            for line in input.split_inclusive('\n') {
                std::thread::sleep(std::time::Duration::from_millis(300));
                stdin.write_all(line.as_bytes())?;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(stdin);
            child.wait_with_output()
        })
        .expect("util-linux `script` (bsdutils) is needed for the terminal test");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn prompts_ask_again_after_a_bad_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = on_terminal(
        dir.path(),
        "init st --with jigasi",
        "meet.example.com\nhttps://meet.example.com/x\nhttps://meet.example.com\nnot-an-email\nops@example.com\n1234\nsip:1234@sip.example.org\n\nsecret-sip-pw\n",
    );
    assert!(ok, "{out}");
    assert_eq!(out.matches("try again").count(), 4, "{out}");
    assert!(
        !out.contains("--public-url"),
        "names a flag never typed: {out}"
    );
    let file = EnvFile::read(&dir.path().join("st/.env")).unwrap();
    assert_eq!(file.get("PUBLIC_URL"), Some("https://meet.example.com"));
    assert_eq!(file.get("LETSENCRYPT_EMAIL"), Some("ops@example.com"));
    assert_eq!(file.get("JIGASI_SIP_URI"), Some("1234@sip.example.org"));
    assert_eq!(file.get("JIGASI_SIP_SERVER"), Some("sip.example.org"));
    assert_eq!(file.get("JIGASI_SIP_PASSWORD"), Some("secret-sip-pw"));
    assert!(
        !out.contains("secret-sip-pw"),
        "the password was echoed: {out}"
    );
}

#[test]
fn an_existing_env_with_an_error_exits_1_and_cites_its_own_lines() {
    // The file on disk is the user's: its lines are real, and the problem
    // is not a flag (exit 1, as `check`).
    let run = Test::new()
        .env_file("PUBLIC_URL=https://meet.example.org\nENABLE_AUTH=yes\n")
        .args(["init", ".", "--non-interactive"])
        .status(1)
        .run();
    assert!(
        run.stderr.contains("./.env:2: ENABLE_AUTH"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.read(".env"),
        "PUBLIC_URL=https://meet.example.org\nENABLE_AUTH=yes\n"
    );
}

#[test]
fn a_sip_prefix_is_treated_alike_by_check_and_render() {
    // What the README says: check warns and names the fix, render passes
    // the value on as the image would (ACCOUNT_UID=SIP:sip:...); init
    // writes it without the prefix.
    let run = crate::harness::init_stack(
        &[
            ("JIGASI_SIP_URI", "sip:1234@sip.example.org"),
            ("JIGASI_SIP_SERVER", "sip.example.org"),
            ("JIGASI_SIP_PASSWORD", "provider-given-pw"),
            ("JITSI_STACK_WITH", "jigasi"),
        ],
        &[],
    );
    let run = Test::again(run).args(["check"]).run();
    assert!(
        run.stderr
            .contains("JIGASI_SIP_URI: the image passes JIGASI_SIP_URI on as written")
            && run
                .stderr
                .contains("write JIGASI_SIP_URI=1234@sip.example.org"),
        "{}",
        run.stderr
    );
    let run = Test::again(run).args(["render"]).run();
    let props = run.read("generated/jigasi/sip-communicator.properties");
    assert!(
        props.contains("ACCOUNT_UID=SIP\\:sip\\:1234@sip.example.org"),
        "{props}"
    );
}

/// Every file under `dir` with its bytes (symlinks by target).
fn tree_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p.clone());
                out.push((p, vec![]));
            } else if meta.file_type().is_symlink() {
                out.push((
                    p.clone(),
                    fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                ));
            } else {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Item 6 of issue 16: `init` in a docker-jitsi-meet directory (each of
/// its signs alone) refuses with exit 2, writes nothing, and prints the
/// `jitsi-stack migrate SRC DIR` command.
#[test]
fn init_on_a_docker_jitsi_meet_install_refuses_and_names_migrate() {
    let upstream = std::env::var("JITSI_UPSTREAM_CHECKOUT")
        .unwrap_or_else(|_| "/tmp/djm-stable-11146-2".into());
    let compose = fs::read_to_string(Path::new(&upstream).join("docker-compose.yml"))
        .unwrap_or_else(|_| {
            "services:\n  web:\n    image: jitsi/web:${JITSI_IMAGE_VERSION:-stable-9584}\n".into()
        });
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "compose file",
            vec![
                ("docker-compose.yml", compose.clone()),
                (".env", "CONFIG=~/.jitsi-meet-cfg\n".into()),
            ],
        ),
        (
            "jibri overlay",
            vec![(
                "jibri.yml",
                "services:\n  jibri:\n    image: jitsi/jibri\n".into(),
            )],
        ),
        (
            "gen-passwords.sh",
            vec![("gen-passwords.sh", "#!/usr/bin/env bash\n".into())],
        ),
        (
            "old release",
            vec![(
                ".env",
                "JITSI_IMAGE_VERSION=stable-9584\nPUBLIC_URL=https://meet.example.org\n".into(),
            )],
        ),
        (
            "CONFIG with data",
            vec![
                (".env", "CONFIG=./cfg\n".into()),
                ("cfg/prosody/config/data/x", "account".into()),
            ],
        ),
    ];
    for (what, files) in cases {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("docker-jitsi-meet");
        for (name, text) in &files {
            let p = src.join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text).unwrap();
        }
        let before = tree_of(&src);
        let out = std::process::Command::new(crate::harness::bin())
            .args([
                "init",
                "--public-url",
                "https://meet.example.org",
                "--non-interactive",
            ])
            .current_dir(&src)
            .env_remove("JITSI_STACK_DIR")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains("docker-jitsi-meet install"),
            "{what}: {stderr}"
        );
        let real = src.canonicalize().unwrap();
        assert!(
            stderr.contains(&format!(
                "jitsi-stack migrate {} {}-stack",
                real.display(),
                real.display()
            )),
            "{what}: {stderr}"
        );
        assert!(stderr.contains("nothing was written"), "{what}: {stderr}");
        assert_eq!(tree_of(&src), before, "{what}: init wrote something");
    }
    // A stack jitsi-stack made is re-initialised as before, its CONFIG full.
    let run = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org",
            "--non-interactive",
        ])
        .run();
    fs::write(run.path().join("config/prosody/config/x"), "data").unwrap();
    Test::again(run)
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org",
            "--non-interactive",
        ])
        .run();
}

/// The findings of `check --json` in the stack of `run`.
fn check_findings(run: crate::Run) -> (crate::Run, Vec<serde_json::Value>) {
    let run = Test::again(run)
        .args(["check", "--json"])
        .status_any()
        .run();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let f = v["findings"].as_array().unwrap().clone();
    (run, f)
}

fn init_args(extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "init",
        ".",
        "--public-url",
        "https://meet.example.org",
        "--non-interactive",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn init_auth_sets_the_type_its_backend_and_guests() {
    for (extra, backend) in [
        (&["--auth", "internal", "--guests"][..], None),
        (
            &["--auth", "jwt", "--jwt-app-id", "myapp", "--guests"],
            Some(("JWT_APP_ID", "myapp")),
        ),
        (
            &["--auth", "ldap", "--ldap-url", "ldaps://ldap.example.org"],
            Some(("LDAP_URL", "ldaps://ldap.example.org")),
        ),
        (
            &[
                "--auth",
                "matrix",
                "--matrix-uvs-url",
                "https://uvs.example.org",
            ],
            Some(("MATRIX_UVS_URL", "https://uvs.example.org")),
        ),
    ] {
        let run = Test::new().args(init_args(extra)).run();
        let env = EnvFile::read(&run.path().join(".env")).unwrap();
        assert_eq!(env.get("ENABLE_AUTH"), Some("1"), "{extra:?}");
        assert_eq!(env.get("AUTH_TYPE"), Some(extra[1]), "{extra:?}");
        let guests = extra.contains(&"--guests");
        assert_eq!(env.get("ENABLE_GUESTS") == Some("1"), guests, "{extra:?}");
        if let Some((var, value)) = backend {
            assert_eq!(env.get(var), Some(value), "{extra:?}");
        }
        if extra[1] == "jwt" {
            let secret = env.get("JWT_APP_SECRET").unwrap().to_string();
            assert_eq!(secret.len(), 32);
            assert!(!run.stdout.contains(&secret), "secret printed");
            assert!(run.stdout.contains("JWT_APP_SECRET was generated"));
        }
        if extra[1] == "internal" {
            assert!(run.stdout.contains("user add NAME"), "{}", run.stdout);
        }
        // The result is a working auth set-up: no auth finding at all.
        let (_, findings) = check_findings(run);
        let auth: Vec<_> = findings
            .iter()
            .filter(|f| f["rule"].as_str().is_some_and(|r| r.starts_with("auth")))
            .collect();
        assert!(auth.is_empty(), "{extra:?}: {auth:?}");
    }
    // Refused, nothing written: a backend without its setting, a setting
    // without its backend, guests without auth.
    for (extra, says) in [
        (&["--auth", "jwt"][..], "give --jwt-app-id"),
        (&["--auth", "ldap"], "give --ldap-url"),
        (&["--auth", "matrix"], "give --matrix-uvs-url"),
        (&["--ldap-url", "ldaps://l.example.org"], "add --auth ldap"),
        (
            &["--auth", "internal", "--jwt-app-id", "x"],
            "add --auth jwt",
        ),
        (&["--auth", "ldap", "--ldap-url", "not a url"], "--ldap-url"),
        (&["--guests"], "--auth"),
        (&["--auth", "kerberos"], "kerberos"),
    ] {
        let run = Test::new().args(init_args(extra)).status(2).run();
        assert!(run.stderr.contains(says), "{extra:?}: {}", run.stderr);
        assert!(!run.path().join(".env").exists(), "{extra:?}");
    }
}

#[test]
fn init_advertise_sets_jvb_advertise_ips_checked() {
    let run = Test::new()
        .args(init_args(&[
            "--advertise",
            "203.0.113.9, 2001:db8::9#10000",
        ]))
        .run();
    let env = EnvFile::read(&run.path().join(".env")).unwrap();
    assert_eq!(
        env.get("JVB_ADVERTISE_IPS"),
        Some("203.0.113.9,2001:db8::9#10000")
    );
    for bad in [
        "0.0.0.0",
        "203.0.113.9,224.0.0.1",
        "meet.example.org",
        "1.2.3.4 x",
        "1.2.3.4#0",
    ] {
        let run = Test::new()
            .args(init_args(&["--advertise", bad]))
            .status(2)
            .run();
        assert!(run.stderr.contains("--advertise"), "{bad}: {}", run.stderr);
        assert!(
            run.stderr.contains("unicast") || run.stderr.contains("port"),
            "{bad}: {}",
            run.stderr
        );
        assert!(!run.path().join(".env").exists());
    }
}

#[test]
fn init_with_etherpad_and_whiteboard_takes_their_urls() {
    let run = Test::new()
        .args(init_args(&[
            "--with",
            "etherpad,whiteboard",
            "--etherpad-url",
            "https://meet.example.org/etherpad/p/",
            "--whiteboard-url",
            "https://meet.example.org",
        ]))
        .run();
    let env = EnvFile::read(&run.path().join(".env")).unwrap();
    assert_eq!(
        env.get("ETHERPAD_PUBLIC_URL"),
        Some("https://meet.example.org/etherpad/p/")
    );
    assert_eq!(
        env.get("WHITEBOARD_COLLAB_SERVER_PUBLIC_URL"),
        Some("https://meet.example.org")
    );
    assert!(!run.stdout.contains("to do"), "{}", run.stdout);
    let (_, findings) = check_findings(run);
    assert!(
        !findings.iter().any(|f| f["rule"] == "shared-document"),
        "{findings:?}"
    );
    // Without the flags and no terminal: what to set, for each.
    let run = Test::new()
        .args(init_args(&["--with", "etherpad,whiteboard"]))
        .run();
    for want in [
        "to do: the web client offers the etherpad only with ETHERPAD_PUBLIC_URL",
        "--etherpad-url URL (this site serves it at https://meet.example.org/etherpad/p/)",
        "to do: the web client offers the whiteboard only with WHITEBOARD_COLLAB_SERVER_PUBLIC_URL",
        "--whiteboard-url URL",
    ] {
        assert!(run.stdout.contains(want), "{want}: {}", run.stdout);
    }
    // A URL flag without its component, or not a URL: refused.
    for (extra, says) in [
        (
            &["--etherpad-url", "https://meet.example.org/etherpad/p/"][..],
            "add --with etherpad",
        ),
        (
            &["--with", "whiteboard", "--whiteboard-url", "nope"],
            "--whiteboard-url",
        ),
    ] {
        let run = Test::new().args(init_args(extra)).status(2).run();
        assert!(run.stderr.contains(says), "{extra:?}: {}", run.stderr);
    }
}

#[test]
fn init_asks_for_the_etherpad_and_whiteboard_urls_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // Empty answers take the offered URLs (the site's own paths).
    let (ok, out) = on_terminal(
        dir.path(),
        "init st --public-url https://meet.example.org:8443 --with etherpad,whiteboard",
        // Let's Encrypt's e-mail (none), then the two URLs.
        "\n\n\n",
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("URL users reach the etherpad on [https://meet.example.org:8443/etherpad/p/]"),
        "{out}"
    );
    let file = EnvFile::read(&dir.path().join("st/.env")).unwrap();
    assert_eq!(
        file.get("ETHERPAD_PUBLIC_URL"),
        Some("https://meet.example.org:8443/etherpad/p/")
    );
    assert_eq!(
        file.get("WHITEBOARD_COLLAB_SERVER_PUBLIC_URL"),
        Some("https://meet.example.org:8443")
    );
}

#[test]
fn init_asks_for_the_auth_backend_setting_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // A wrong answer is asked again; then the URL is written.
    let (ok, out) = on_terminal(
        dir.path(),
        "init st --public-url https://meet.example.org:8443 --auth ldap --guests",
        "\nnot a url\nldaps://ldap.example.org\n",
    );
    assert!(ok, "{out}");
    assert!(out.contains("LDAP_URL: the LDAP directory's URL"), "{out}");
    assert!(out.contains("try again"), "{out}");
    let file = EnvFile::read(&dir.path().join("st/.env")).unwrap();
    assert_eq!(file.get("LDAP_URL"), Some("ldaps://ldap.example.org"));
    assert_eq!(file.get("AUTH_TYPE"), Some("ldap"));
    assert_eq!(file.get("ENABLE_GUESTS"), Some("1"));
}
