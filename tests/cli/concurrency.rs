//! Concurrent runs: the stack lock serialises every command that reads and
//! writes a stack, so no update is lost and the render in effect always
//! matches a `.env` that existed; read-only commands never wait for it.

use crate::harness::bin;
use crate::{init_stack, Test};
use jitsi_stack::envfile::EnvFile;
use jitsi_stack::lock::{self, Wait};
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("JITSI_STACK_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn env_of(dir: &Path) -> EnvFile {
    EnvFile::read(&dir.join(".env")).unwrap()
}

/// The value of `key = "..."` / `KEY=...` style settings in a rendered
/// file: the first quoted or bare token after `marker`.
fn after(text: &str, marker: &str) -> String {
    let i = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in:\n{text}"));
    text[i + marker.len()..]
        .trim_start_matches([' ', '=', ':', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

const ROTATED: [&str; 4] = [
    "JVB_AUTH_PASSWORD",
    "JICOFO_AUTH_PASSWORD",
    "JIBRI_XMPP_PASSWORD",
    "JIBRI_RECORDER_PASSWORD",
];

/// The password each rendered config holds for the four rotated secrets.
fn rendered_passwords(dir: &Path) -> Vec<(String, String)> {
    let read = |p: &str| fs::read_to_string(dir.join(p)).unwrap();
    let jvb = read("generated/jvb/jvb.conf");
    let jicofo = read("generated/jicofo/jicofo.conf");
    let jibri = read("generated/jibri/xmpp.conf");
    vec![
        ("JVB_AUTH_PASSWORD".into(), after(&jvb, "PASSWORD = ")),
        ("JICOFO_AUTH_PASSWORD".into(), after(&jicofo, "password = ")),
        (
            "JIBRI_XMPP_PASSWORD".into(),
            after(
                &jibri[jibri.find("control-login").unwrap()..],
                "password = ",
            ),
        ),
        (
            "JIBRI_RECORDER_PASSWORD".into(),
            after(&jibri[jibri.find("call-login").unwrap()..], "password = "),
        ),
    ]
}

#[test]
fn four_gen_passwords_and_a_render_at_once_lose_nothing() {
    let run = init_stack(&[], &["jibri"]);
    let run = Test::again(run).args(["render"]).run();
    let dir = run.path();
    let mut waited = 0;
    for round in 0..20 {
        let before = env_of(dir);
        let mut children: Vec<(String, std::process::Child)> = ROTATED
            .iter()
            .map(|name| {
                (
                    name.to_string(),
                    spawn(dir, &["gen-passwords", "--force", "--only", name]),
                )
            })
            .collect();
        children.insert(round % 5, ("render".into(), spawn(dir, &["render"])));
        let outs: Vec<(String, Output)> = children
            .into_iter()
            .map(|(n, c)| (n, c.wait_with_output().unwrap()))
            .collect();
        for (name, out) in &outs {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "round {round}, {name}: {stderr}");
            if name != "render" {
                assert!(
                    String::from_utf8_lossy(&out.stdout).contains(&format!("generated {name}")),
                    "round {round}: {name}"
                );
            }
            if stderr.contains("waiting for another jitsi-stack on this stack") {
                waited += 1;
            }
        }
        let after_env = env_of(dir);
        // Every rotation is kept: none undone by another command's write.
        for name in ROTATED {
            let (old, new) = (before.get(name).unwrap(), after_env.get(name).unwrap());
            assert_ne!(old, new, "round {round}: the rotation of {name} was lost");
            assert_eq!(new.len(), 32);
        }
        let check = Command::new(bin())
            .arg("check")
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(check.status.success(), "round {round}: {check:?}");
        // The configs in effect were rendered from one .env that existed:
        // each password is its value before or after this round, and the
        // render saw exactly the rotations that ran before it.
        for (name, value) in rendered_passwords(dir) {
            let (old, new) = (before.get(&name).unwrap(), after_env.get(&name).unwrap());
            assert!(
                value == old || value == new,
                "round {round}: {name} in the configs is neither its old nor its new value"
            );
        }
        // A render now brings the configs in line with .env.
        Command::new(bin())
            .arg("render")
            .current_dir(dir)
            .output()
            .unwrap();
        for (name, value) in rendered_passwords(dir) {
            assert_eq!(Some(value.as_str()), after_env.get(&name), "round {round}");
        }
    }
    assert!(waited > 0, "no command ever waited for the lock");
}

#[test]
fn two_inits_on_a_new_directory_make_one_set_of_passwords() {
    for round in 0..10 {
        let parent = tempfile::tempdir().unwrap();
        let args = [
            "init",
            "stack",
            "--public-url",
            "https://meet.example.org:8443",
            "--non-interactive",
        ];
        let a = spawn(parent.path(), &args);
        let b = spawn(parent.path(), &args);
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let created = outs
            .iter()
            .filter(|o| String::from_utf8_lossy(&o.stdout).contains(": created"))
            .count();
        for o in &outs {
            assert!(o.status.success(), "round {round}: {o:?}");
        }
        assert_eq!(created, 1, "round {round}: both inits said created");
        let loser = outs
            .iter()
            .find(|o| !String::from_utf8_lossy(&o.stdout).contains(": created"))
            .unwrap();
        assert!(
            String::from_utf8_lossy(&loser.stdout).contains("unchanged"),
            "round {round}: {}",
            String::from_utf8_lossy(&loser.stdout)
        );
        let dir = parent.path().join("stack");
        assert!(
            !dir.join(".env.bak").exists(),
            "round {round}: .env rewritten"
        );
        let check = Command::new(bin())
            .arg("check")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(check.status.success(), "round {round}");
    }
}

#[test]
fn a_second_command_waits_then_fails_after_the_timeout() {
    let run = init_stack(&[], &[]);
    let dir = run.path();
    let held = lock::acquire(dir, Wait::default()).unwrap();
    let start = Instant::now();
    let out = Command::new(bin())
        .arg("render")
        .current_dir(dir)
        .env("JITSI_STACK_LOCK_TIMEOUT", "0.5")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("waiting for another jitsi-stack on this stack"),
        "{stderr}"
    );
    assert!(stderr.contains("still working on"), "{stderr}");
    assert!(stderr.contains("JITSI_STACK_LOCK_TIMEOUT"), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(!dir.join("current").exists(), "rendered without the lock");
    // Read-only commands do not wait.
    for args in [
        &["check"][..],
        &["render", "--diff"],
        &["ports"],
        &["up", "--dry-run"],
    ] {
        let out = Command::new(bin())
            .args(args)
            .current_dir(dir)
            .env("JITSI_STACK_LOCK_TIMEOUT", "0")
            .output()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("another jitsi-stack"),
            "{args:?} waited: {out:?}"
        );
    }
    // With time to wait, it runs once the holder is done.
    let child = spawn(
        dir,
        &["gen-passwords", "--force", "--only", "JVB_AUTH_PASSWORD"],
    );
    std::thread::sleep(Duration::from_millis(400));
    let before = env_of(dir).get("JVB_AUTH_PASSWORD").unwrap().to_string();
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("waiting for another jitsi-stack"));
    assert_ne!(env_of(dir).get("JVB_AUTH_PASSWORD").unwrap(), before);
}

#[test]
fn lock_file_is_private_and_never_a_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let run = init_stack(&[], &[]);
    let dir = run.path();
    let lock = dir.join(lock::LOCK_FILE);
    let mode = fs::metadata(&lock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    fs::remove_file(&lock).unwrap();
    let victim = dir.join("victim");
    fs::write(&victim, "keep").unwrap();
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    let run = Test::again(run).args(["render"]).status(2).run();
    assert!(run.stderr.contains("symlink"), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
}

/// The measurement: rounds of 4 `node add`s, a `render` and a
/// `gen-passwords --only` at once. Every add succeeds and is kept, no
/// node's password or rotated password is lost, the nodes' CA and
/// certificates are whole pairs, and no temp file is left.
#[test]
fn four_node_adds_a_render_and_gen_passwords_at_once_lose_nothing() {
    const ROUNDS: usize = 20;
    let run = init_stack(&[("JITSI_STACK_MAIN_ADDRESS", "10.9.0.1")], &[]);
    let run = Test::again(run).args(["render"]).run();
    let dir = run.path();
    let mut added: Vec<String> = vec![];
    let mut node_passwords: std::collections::BTreeMap<String, String> = Default::default();
    let (mut failed, mut lost, mut passwords_lost, mut waited) = (0, 0, 0, 0);
    for round in 0..ROUNDS {
        let before = env_of(dir);
        let rotated = ["JVB_AUTH_PASSWORD", "JICOFO_AUTH_PASSWORD"][round % 2];
        let mut children: Vec<(String, std::process::Child)> = (0..4)
            .map(|i| {
                let name = format!("b{round}x{i}");
                let addr = format!("10.9.{}.{}", round + 1, i + 2);
                let c = spawn(dir, &["node", "add", "jvb", &name, "--address", &addr]);
                (name, c)
            })
            .collect();
        children.insert(round % 5, ("render".into(), spawn(dir, &["render"])));
        children.insert(
            (round * 3) % 6,
            (
                "gen-passwords".into(),
                spawn(dir, &["gen-passwords", "--force", "--only", rotated]),
            ),
        );
        for (name, child) in children {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            if stderr.contains("waiting for another jitsi-stack on this stack") {
                waited += 1;
            }
            assert!(
                !stderr.contains("half of the nodes' CA"),
                "round {round}, {name}: {stderr}"
            );
            if name.starts_with('b') {
                if out.status.success()
                    && String::from_utf8_lossy(&out.stdout).contains("added node")
                {
                    added.push(name);
                } else {
                    failed += 1;
                    eprintln!("round {round}, {name} failed: {stderr}");
                }
            } else {
                assert!(out.status.success(), "round {round}, {name}: {stderr}");
            }
        }
        let env = env_of(dir);
        let names: Vec<String> = Command::new(bin())
            .args(["node", "list"])
            .current_dir(dir)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap()
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        for n in &added {
            if !names.contains(n) {
                lost += 1;
                eprintln!("round {round}: node {n} was lost");
            }
        }
        // A node's password, once made, never changes (its bundle holds it).
        for (k, v) in env.to_map() {
            if k.starts_with("JITSI_STACK_NODE_") && k.ends_with("_PASSWORD") {
                if let Some(old) = node_passwords.insert(k, v.clone()) {
                    if old != v {
                        passwords_lost += 1;
                    }
                }
            }
        }
        if before.get(rotated) == env.get(rotated) {
            passwords_lost += 1;
            eprintln!("round {round}: the rotation of {rotated} was lost");
        }
        let check = Command::new(bin())
            .arg("check")
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(check.status.success(), "round {round}: {check:?}");
    }
    let config = dir.join("config");
    for (sub, files) in [
        ("xmpp-ca", vec!["ca.crt", "ca.key"]),
        (
            "prosody/config/certs",
            vec![
                "auth.meet.jitsi.crt",
                "auth.meet.jitsi.key",
                "meet.jitsi.crt",
                "meet.jitsi.key",
            ],
        ),
    ] {
        for f in files {
            assert!(config.join(sub).join(f).is_file(), "{sub}/{f} missing");
        }
        for e in fs::read_dir(config.join(sub)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !jitsi_stack::fsutil::is_temp_name(&name),
                "{sub}/{name} left"
            );
        }
    }
    let summary = format!(
        "{ROUNDS} rounds: {} nodes added, {lost} lost, {failed} adds failed, \
         {passwords_lost} passwords lost, {waited} commands waited for the lock",
        added.len()
    );
    eprintln!("{summary}");
    assert_eq!((lost, failed, passwords_lost), (0, 0, 0), "{summary}");
    assert_eq!(added.len(), 4 * ROUNDS, "{summary}");
    assert!(waited > 0, "no command ever waited for the lock");
}
