//! Guard rails and safe file handling outside `.env` (issue 9): modes under
//! any umask, system directories, no chown through symlinks, Grafana's
//! password, masked `render --diff`, values check and render agree on, the
//! render layout.

use crate::envfile::compose_bin;
use crate::harness::bin;
use crate::{init_stack, Test};
use jitsi_stack::envfile::EnvFile;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn mode_of(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn sh(dir: &Path, script: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .env("BIN", bin())
        .env_remove("JITSI_STACK_DIR")
        .output()
        .unwrap()
}

#[test]
fn modes_are_exact_under_umask_000() {
    let parent = tempfile::tempdir().unwrap();
    let out = sh(
        parent.path(),
        "umask 000; \"$BIN\" init stack --public-url https://meet.example.org:8443 --non-interactive \
         && \"$BIN\" --dir stack render --with jibri",
    );
    assert!(out.status.success(), "{out:?}");
    let dir = parent.path().join("stack");
    assert_eq!(mode_of(&dir), 0o755);
    assert_eq!(mode_of(&dir.join(".env")), 0o600);
    assert_eq!(mode_of(&dir.join(".jitsi-stack.lock")), 0o600);
    assert_eq!(mode_of(&dir.join("config")), 0o755);
    for rel in jitsi_stack::layout::CONFIG_TREE {
        let p = dir.join("config").join(rel);
        assert_eq!(mode_of(&p), 0o755, "{}", p.display());
    }
    for d in ["config/storage", "config/prosody", "config/tmp"] {
        assert_eq!(mode_of(&dir.join(d)), 0o755, "{d}");
    }
    assert_eq!(mode_of(&dir.join("renders")), 0o700);
    let live = fs::canonicalize(dir.join("current")).unwrap();
    let mut stack = vec![live.clone()];
    while let Some(d) = stack.pop() {
        assert_eq!(mode_of(&d), 0o755, "{}", d.display());
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.ends_with(".secret-lines.json") {
                assert_eq!(mode_of(&p), 0o600);
            } else {
                assert_eq!(mode_of(&p), 0o644, "{}", p.display());
            }
        }
    }
}

#[test]
fn system_directories_are_refused_unless_forced() {
    let home = tempfile::tempdir().unwrap();
    let init = |extra: &[&str]| {
        let mut c = Command::new(bin());
        c.arg("init")
            .arg(home.path())
            .args([
                "--public-url",
                "https://meet.example.org:8443",
                "--non-interactive",
            ])
            .args(extra)
            .env("HOME", home.path());
        c.output().unwrap()
    };
    let out = init(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("home directory") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_dir(home.path()).unwrap().count(),
        0,
        "wrote into $HOME"
    );
    // `--dir` and the environment variable are guarded the same way.
    let out = Command::new(bin())
        .args(["--dir"])
        .arg(home.path())
        .args(["init", "--non-interactive"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = init(&["--force"]);
    assert!(out.status.success(), "{out:?}");
    assert!(home.path().join(".env").exists());
    // Once it is a stack (init --force made it one), the other commands run.
    let out = Command::new(bin())
        .arg("--dir")
        .arg(home.path())
        .arg("render")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // `/` itself: refused before anything is written (no .env there, and
    // init stops at the lock).
    let out = Command::new(bin())
        .args(["init", "/", "--non-interactive"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/ is a system directory"), "{stderr}");
    assert!(!Path::new("/.jitsi-stack.lock").exists() && !Path::new("/.env").exists());
}

#[test]
fn a_bad_flag_leaves_no_new_directory() {
    let parent = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args([
            "init",
            "new/stack",
            "--public-url",
            "not a url",
            "--non-interactive",
        ])
        .current_dir(parent.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(fs::read_dir(parent.path()).unwrap().count(), 0);
}

#[test]
#[ignore = "needs root"]
fn init_as_root_never_chowns_through_a_symlink() {
    crate::harness::needs_root("the chown happens only as root");
    let run = init_stack(&[], &[]);
    let config = run.path().join("config");
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("precious");
    fs::create_dir(&target).unwrap();
    let storage = outside.path().join("storage");
    fs::create_dir(&storage).unwrap();
    fs::remove_dir(config.join("jvb")).unwrap();
    std::os::unix::fs::symlink(&target, config.join("jvb")).unwrap();
    fs::remove_dir_all(config.join("storage")).unwrap();
    std::os::unix::fs::symlink(&storage, config.join("storage")).unwrap();
    let run = Test::again(run)
        .args(["init", ".", "--non-interactive"])
        .run();
    for p in [&target, &storage] {
        assert_eq!(
            fs::metadata(p).unwrap().uid(),
            0,
            "{} was chowned",
            p.display()
        );
    }
    assert_eq!(
        fs::read_dir(&storage).unwrap().count(),
        0,
        "created inside a link"
    );
    assert!(run.stderr.contains("is a symlink"), "{}", run.stderr);
    // Everything else is handed to the images' user.
    let m = fs::symlink_metadata(config.join("jicofo")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000));
}

#[test]
fn grafana_gets_a_generated_admin_password() {
    let run = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org:8443",
            "--non-interactive",
            "--with",
            "monitoring",
        ])
        .run();
    let env = EnvFile::read(&run.path().join(".env")).unwrap();
    let pw = env.get("GF_SECURITY_ADMIN_PASSWORD").unwrap().to_string();
    assert_eq!(pw.len(), 32);
    let run = Test::again(run).args(["check"]).run();
    assert!(
        !run.stderr.contains("GF_SECURITY_ADMIN_PASSWORD"),
        "{}",
        run.stderr
    );
    let run = Test::again(run).args(["render"]).run();
    let overlay = run.read("monitoring.yml");
    assert!(
        overlay.contains("GF_SECURITY_ADMIN_PASSWORD: '${GF_SECURITY_ADMIN_PASSWORD:?"),
        "{overlay}"
    );
    assert!(
        !overlay.contains(&pw),
        "the password is written into the overlay"
    );
    let out = Command::new(compose_bin())
        .current_dir(run.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .args(["config", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"],
        pw.as_str()
    );
    // Empty with monitoring on: an error that names gen-passwords.
    let path = run.path().join(".env");
    let text = fs::read_to_string(&path).unwrap().replace(
        &format!("GF_SECURITY_ADMIN_PASSWORD={pw}"),
        "GF_SECURITY_ADMIN_PASSWORD=",
    );
    fs::write(&path, text).unwrap();
    let run = Test::again(run).args(["check"]).status(1).run();
    assert!(
        run.stderr.contains("GF_SECURITY_ADMIN_PASSWORD") && run.stderr.contains("gen-passwords"),
        "{}",
        run.stderr
    );
}

/// Every secret value of `.env`, raw and base64 (jigasi's files hold them
/// base64-encoded).
fn secret_values(dir: &Path) -> Vec<String> {
    let env = EnvFile::read(&dir.join(".env")).unwrap();
    let mut out = Vec::new();
    for e in env.entries() {
        if jitsi_stack::schema::lookup(&e.key).is_some_and(|v| v.is_secret()) && e.value.len() >= 6
        {
            out.push(e.value.clone());
            let b64 = Command::new("base64")
                .arg("-w0")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(e.value.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            out.push(String::from_utf8(b64.stdout).unwrap());
        }
    }
    out
}

#[test]
fn render_diff_masks_every_secret_and_exits_like_diff() {
    let run = init_stack(
        &[
            ("JIGASI_SIP_URI", "gw@sip.example.org"),
            ("JIGASI_SIP_PASSWORD", "sip-secret-value-1"),
            ("JIGASI_SIP_SERVER", "sip.example.org"),
            ("JWT_APP_SECRET", "jwt-secret-value-1"),
            ("JITSI_STACK_WITH", "jibri,jigasi,turn"),
        ],
        &["jibri", "turn"],
    );
    let run = Test::again(run).args(["render"]).run();
    let run = Test::again(run).args(["render", "--diff"]).run();
    assert_eq!(run.stdout, "", "nothing to change");
    let old = secret_values(run.path());
    // Rotate every password, change the user's secrets, and add an
    // overlay (so .env's COMPOSE_FILE line changes too); put a secret right
    // next to that line, where the diff's context would show it.
    let run = Test::again(run).args(["gen-passwords", "--force"]).run();
    let path = run.path().join(".env");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("sip-secret-value-1", "sip-secret-value-2")
        .replace("JWT_APP_SECRET=jwt-secret-value-1\n", "")
        .replace(
            "\nCOMPOSE_FILE=",
            "\nJWT_APP_SECRET=jwt-secret-value-2\nCOMPOSE_FILE=",
        );
    fs::write(&path, text).unwrap();
    let new = secret_values(run.path());
    let run = Test::again(run)
        .args(["render", "--diff", "--with", "etherpad"])
        .status(1)
        .run();
    for s in old.iter().chain(&new) {
        assert!(
            !run.stdout.contains(s.as_str()),
            "a secret is shown:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("<secret changed>"), "{}", run.stdout);
    for f in [
        "generated/jvb/jvb.conf",
        "generated/jicofo/jicofo.conf",
        "generated/jibri/xmpp.conf",
        "generated/jigasi/sip-communicator.properties",
        "generated/turn/turnserver.conf",
        "generated/prosody/prosody.cfg.lua",
        "etherpad.yml",
        ".env",
    ] {
        assert!(
            run.stdout.contains(&format!("+++ b/{f}")),
            "{f}:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains(
            "+COMPOSE_FILE=docker-compose.yml:jibri.yml:jigasi.yml:etherpad.yml:turn.yml"
        ),
        "{}",
        run.stdout
    );
    // A real render makes exactly those changes; then there is nothing left.
    let run = Test::again(run)
        .args(["render", "--with", "etherpad"])
        .run();
    let run = Test::again(run).args(["render", "--diff"]).run();
    assert_eq!(run.stdout, "");
    // Trouble is 2, as for diff(1).
    let text = fs::read_to_string(&path).unwrap() + "HTTPS_PORT=99999\n";
    fs::write(&path, text).unwrap();
    Test::again(run).args(["render", "--diff"]).status(2).run();
}

#[test]
fn turn_credentials_check_and_render_agree() {
    let run = init_stack(
        &[("TURN_CREDENTIALS", "'two words secret value'")],
        &["turn"],
    );
    let run = Test::again(run).args(["check"]).status(1).run();
    assert!(
        run.stderr.contains("TURN_CREDENTIALS") && run.stderr.contains("turnserver.conf"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("two words"), "the secret is echoed");
    let run = Test::again(run).args(["render"]).status(1).run();
    assert!(run.stderr.contains("TURN_CREDENTIALS"));
    // Without the turn component nothing writes it into turnserver.conf.
    let path = run.path().join(".env");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("JITSI_STACK_WITH=turn", "JITSI_STACK_WITH=");
    fs::write(&path, text).unwrap();
    let run = Test::again(run).args(["check"]).run();
    Test::again(run).args(["render"]).run();
}

#[test]
fn the_render_in_effect_switches_in_one_step() {
    let run = init_stack(&[], &[]);
    let run = Test::again(run).args(["render"]).run();
    let dir = run.path();
    let link = |n: &str| fs::read_link(dir.join(n)).unwrap();
    assert_eq!(link("current"), Path::new("renders/0001"));
    assert_eq!(
        link("docker-compose.yml"),
        Path::new("current/docker-compose.yml")
    );
    assert_eq!(link("generated"), Path::new("current/generated"));
    // Unchanged: no new render, no write.
    let run = Test::again(run).args(["render"]).run();
    assert_eq!(
        fs::read_link(run.path().join("current")).unwrap(),
        Path::new("renders/0001")
    );
    // Each change is a new render, and the ones before it go (a container
    // made from one keeps its mounted files until it is recreated).
    let mut run = run;
    for lang in ["de", "fr", "it"] {
        let path = run.path().join(".env");
        let text = fs::read_to_string(&path).unwrap() + &format!("DEFAULT_LANGUAGE={lang}\n");
        fs::write(&path, text).unwrap();
        run = Test::again(run).args(["render"]).run();
    }
    let mut names: Vec<String> = fs::read_dir(run.path().join("renders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["0004"]);
    assert_eq!(
        fs::read_link(run.path().join("current")).unwrap(),
        Path::new("renders/0004")
    );
    // Compose sees the same project directory as before: mounts resolve in
    // the stack directory, through the links.
    let out = Command::new(compose_bin())
        .current_dir(run.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .args(["config", "--format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let vols = json["services"]["jvb"]["volumes"].as_array().unwrap();
    let root = fs::canonicalize(run.path()).unwrap();
    let sources: Vec<&str> = vols.iter().map(|v| v["source"].as_str().unwrap()).collect();
    assert!(
        sources.contains(&format!("{}/generated/jvb/jvb.conf", root.display()).as_str()),
        "{sources:?}"
    );
    assert!(sources.contains(&format!("{}/config/jvb", root.display()).as_str()));
    // And the model is the one the old layout (real files, no links) gives.
    let flat = tempfile::tempdir().unwrap();
    let st = Command::new("cp")
        .arg("-rL")
        .args(["docker-compose.yml", "generated", "config", ".env"])
        .arg(flat.path())
        .current_dir(run.path())
        .status()
        .unwrap();
    assert!(st.success());
    let model = |dir: &Path| {
        let out = Command::new(compose_bin())
            .current_dir(dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .args(["config", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let dir = fs::canonicalize(dir).unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .replace(&dir.display().to_string(), "@STACK@")
    };
    assert_eq!(model(run.path()), model(flat.path()));
}

#[test]
fn a_compose_file_jitsi_stack_did_not_write_is_never_replaced() {
    let run = init_stack(&[], &[]);
    let mine = "services:\n  mine:\n    image: busybox\n";
    fs::write(run.path().join("docker-compose.yml"), mine).unwrap();
    let run = Test::again(run).args(["render"]).status(1).run();
    assert!(
        run.stderr.contains("not made by jitsi-stack"),
        "{}",
        run.stderr
    );
    assert_eq!(run.read("docker-compose.yml"), mine);
    assert!(!run.exists("current") && !run.exists("renders"));
    let _ = PermissionsExt::mode(&fs::metadata(run.path()).unwrap().permissions());
}

/// CONFIG is guarded as the stack directory is: `check` refuses `/`,
/// `/etc`, `/usr`, `/var`, `/root` (and `$HOME` itself) as CONFIG, `init
/// --config-dir /etc` creates nothing there; `init --force` accepts one and
/// records that it did.
#[test]
fn a_system_directory_is_refused_as_config_unless_forced() {
    for dir in ["/", "/etc", "/usr", "/var", "/root"] {
        let run = Test::again(init_stack(&[("CONFIG", dir)], &[]))
            .args(["check"])
            .status(1)
            .run();
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(
            all.contains("CONFIG")
                && all.contains("is a system directory")
                && all.contains("--force"),
            "{dir}: {all}"
        );
    }
    let stack = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .arg("init")
        .arg(stack.path())
        .args(["--config-dir", "/etc", "--non-interactive"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("is a system directory"), "{stderr}");
    assert!(!stack.path().join(".env").exists(), "{stderr}");
    // $HOME itself as CONFIG: refused, then accepted with --force.
    let home = tempfile::tempdir().unwrap();
    let init = |extra: &[&str]| {
        Command::new(bin())
            .arg("init")
            .arg(stack.path())
            .arg("--config-dir")
            .arg(home.path())
            .arg("--non-interactive")
            .args(extra)
            .env("HOME", home.path())
            .output()
            .unwrap()
    };
    let out = init(&[]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(fs::read_dir(home.path()).unwrap().count(), 0);
    let out = init(&["--force"]);
    assert!(out.status.success(), "{out:?}");
    let env = fs::read_to_string(stack.path().join(".env")).unwrap();
    assert!(env.contains("JITSI_STACK_ALLOW_SYSTEM_CONFIG=1"), "{env}");
    let out = Command::new(bin())
        .arg("--dir")
        .arg(stack.path())
        .arg("check")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}
