//! `.ci/install-deps` leaves the host as it found it: run against a scratch
//! root (JITSI_DEPS_ROOT) with a fake `apt-get` that "installs" packages
//! the way Debian's do: it enables their services and would start them
//! unless policy-rc.d forbids it.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

const FAKE_APT: &str = r#"#!/bin/sh
# Fake apt-get: `update` does nothing; `install` enables nginx as its
# postinst would, and records whether policy-rc.d would let it start.
[ "$1" = update ] && exit 0
r="$JITSI_DEPS_ROOT"
mkdir -p "$r/etc/systemd/system/multi-user.target.wants" "$r/etc/rc2.d" \
         "$r/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants"
ln -sf /lib/systemd/system/nginx.service "$r/etc/systemd/system/multi-user.target.wants/nginx.service"
ln -sf ../init.d/nginx "$r/etc/rc2.d/S01nginx"
: > "$r/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/nginx.service"
if [ -x "$r/usr/sbin/policy-rc.d" ] && ! "$r/usr/sbin/policy-rc.d" nginx start; then
  echo blocked > "$r/start"
else
  echo started > "$r/start"
fi
echo "$*" > "$r/installed"
"#;

fn run_install_deps(root: &Path) -> std::process::Output {
    let bin = root.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::write(bin.join("apt-get"), FAKE_APT).unwrap();
    fs::set_permissions(bin.join("apt-get"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut path = vec![bin];
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/install-deps");
    Command::new("bash")
        .arg(script)
        .env("JITSI_DEPS_ROOT", root)
        .env("PATH", std::env::join_paths(path).unwrap())
        .output()
        .unwrap()
}

/// Every file and link under `root` (but the fake's own bin), sorted.
/// Directories are left out: installed packages own theirs.
fn tree(root: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(root)
        .args([
            "-path",
            &format!("{}/bin", root.display()),
            "-prune",
            "-o",
            "!",
            "-type",
            "d",
            "-print",
        ])
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.ends_with("/start") && !l.ends_with("/installed"))
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn install_deps_removes_its_policy_rc_d_and_the_services_it_enabled() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("usr/sbin")).unwrap();
    // A service enabled before: it stays.
    fs::create_dir_all(r.join("etc/systemd/system/multi-user.target.wants")).unwrap();
    symlink(
        "/lib/systemd/system/ssh.service",
        r.join("etc/systemd/system/multi-user.target.wants/ssh.service"),
    )
    .unwrap();
    let before = tree(r);
    let out = run_install_deps(r);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fs::read_to_string(r.join("installed"))
        .unwrap()
        .contains("libtypesafe-config-java"));
    assert_eq!(
        fs::read_to_string(r.join("start")).unwrap(),
        "blocked\n",
        "services were allowed to start"
    );
    assert!(
        !r.join("usr/sbin/policy-rc.d").exists(),
        "policy-rc.d left behind"
    );
    assert_eq!(tree(r), before, "the host is not as it was");
}

#[test]
fn install_deps_keeps_a_policy_rc_d_that_was_there() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("usr/sbin")).unwrap();
    let mine = "#!/bin/sh\n# the admin's own\nexit 101\n";
    fs::write(r.join("usr/sbin/policy-rc.d"), mine).unwrap();
    fs::set_permissions(
        r.join("usr/sbin/policy-rc.d"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let out = run_install_deps(r);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(r.join("usr/sbin/policy-rc.d")).unwrap(),
        mine
    );
    assert!(!r.join("etc/rc2.d/S01nginx").exists());
}

#[test]
fn install_deps_cleans_up_when_apt_fails() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("usr/sbin")).unwrap();
    let bin = r.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let out = {
        // An apt-get that enables the service, then fails.
        let failing = FAKE_APT.replace("echo \"$*\" > \"$r/installed\"", "exit 100");
        fs::write(bin.join("apt-get"), &failing).unwrap();
        fs::set_permissions(bin.join("apt-get"), fs::Permissions::from_mode(0o755)).unwrap();
        let mut path = vec![bin.clone()];
        path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
        Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/install-deps"))
            .env("JITSI_DEPS_ROOT", r)
            .env("PATH", std::env::join_paths(path).unwrap())
            .output()
            .unwrap()
    };
    assert!(!out.status.success());
    assert!(
        !r.join("usr/sbin/policy-rc.d").exists(),
        "policy-rc.d left after a failure"
    );
    assert!(!r
        .join("etc/systemd/system/multi-user.target.wants/nginx.service")
        .exists());
}
