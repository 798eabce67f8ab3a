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

/// `.ci/install-deps` installs the shells the completion tests load the
/// scripts into (tests/cli/completion.rs) when they are missing: run with
/// a PATH that has every program of this host's but zsh and fish.
#[test]
fn install_deps_installs_zsh_and_fish_when_missing() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("usr/sbin")).unwrap();
    let host = r.join("host-bin");
    fs::create_dir_all(&host).unwrap();
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap()) {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let n = name.to_string_lossy();
            if n == "zsh" || n == "fish" || n.starts_with("zsh5") {
                continue;
            }
            // The first one on PATH wins, as for the shell.
            let _ = symlink(e.path(), host.join(&name));
        }
    }
    let bin = r.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::write(bin.join("apt-get"), FAKE_APT).unwrap();
    fs::set_permissions(bin.join("apt-get"), fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/install-deps"))
        .env("JITSI_DEPS_ROOT", r)
        .env("PATH", std::env::join_paths([bin, host]).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = fs::read_to_string(r.join("installed")).unwrap();
    let packages: Vec<&str> = installed.split_whitespace().collect();
    assert!(
        packages.contains(&"zsh") && packages.contains(&"fish"),
        "{installed}"
    );
}

/// What is wrong with the `#[ignore]`d tests of `text` (file `name`): every
/// one is either root-only (`#[ignore = "needs root"]`, and its body fails
/// without root through `needs_root` or an `is_root()` assertion) or a
/// benchmark (a reason starting "benchmark", a name starting `bench_`, which
/// .ci/test skips).
fn ignore_problems(name: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = vec![];
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim();
        if !l.starts_with("#[ignore") {
            continue;
        }
        let at = format!("{name}:{}", i + 1);
        let reason = l
            .strip_prefix("#[ignore = \"")
            .and_then(|r| r.strip_suffix("\"]"));
        let Some((f, fn_line)) = lines[i + 1..]
            .iter()
            .enumerate()
            .find_map(|(j, l)| Some((l.trim().strip_prefix("fn ")?, i + 1 + j)))
        else {
            problems.push(format!("{at}: no test function after {l}"));
            continue;
        };
        let fname = f.split('(').next().unwrap_or(f);
        let body = lines[fn_line..(fn_line + 8).min(lines.len())].join("\n");
        match reason {
            Some("needs root") => {
                if fname.starts_with("bench_") {
                    problems.push(format!("{at}: {fname} is a benchmark marked needs root"));
                }
                if !body.contains("needs_root(") && !body.contains("is_root()") {
                    problems.push(format!(
                        "{at}: {fname} is marked needs root but does not fail without root (call harness::needs_root)"
                    ));
                }
            }
            Some(r) if r.starts_with("benchmark") => {
                if !fname.starts_with("bench_") {
                    problems.push(format!(
                        "{at}: benchmark {fname} must be named bench_* (.ci/test skips bench_)"
                    ));
                }
            }
            _ => problems.push(format!(
                "{at}: {fname}: {l}: an ignored test is either \"needs root\" or a \"benchmark ...\" named bench_*"
            )),
        }
    }
    problems
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn ci_runs_the_root_only_tests_and_skips_the_benchmarks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let (mut problems, mut root_only) = (vec![], 0);
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        root_only += text.matches("#[ignore = \"needs root\"]").count();
        let name = f.strip_prefix(root).unwrap().display().to_string();
        // This file spells the attributes in its own test data.
        if !name.ends_with("tests/cli/ci.rs") {
            problems.extend(ignore_problems(&name, &text));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(root_only >= 4, "{root_only} root-only tests");
    // CI runs as root: .ci/test runs the ignored tests, bar the benchmarks.
    let test = fs::read_to_string(root.join(".ci/test")).unwrap();
    let cargo: Vec<&str> = test
        .lines()
        .filter(|l| l.trim_start().starts_with("cargo test"))
        .collect();
    assert_eq!(cargo.len(), 1, "{test}");
    let words: Vec<&str> = cargo[0].split_whitespace().collect();
    let args = &words[words
        .iter()
        .position(|w| *w == "--")
        .expect("cargo test -- ...")..];
    assert!(args.contains(&"--include-ignored"), "{}", cargo[0]);
    assert!(
        args.windows(2).any(|w| w == ["--skip", "bench_"]),
        "{}",
        cargo[0]
    );
}

#[test]
fn an_ignored_test_that_is_neither_root_only_nor_a_benchmark_is_reported() {
    let ok = "#[test]\n#[ignore = \"needs root\"]\nfn a() {\n    crate::harness::needs_root(\"x\");\n}\n\
              #[test]\n#[ignore = \"benchmark, run by hand\"]\nfn bench_b() {}\n";
    assert_eq!(ignore_problems("t.rs", ok), Vec::<String>::new());
    let bad = [
        ("#[ignore]\nfn a() {}\n", "t.rs:1: a: #[ignore]"),
        (
            "#[ignore = \"slow\"]\nfn a() {}\n",
            "t.rs:1: a: #[ignore = \"slow\"]",
        ),
        (
            "#[ignore = \"needs root\"]\nfn a() {\n    let x = 1;\n}\n",
            "t.rs:1: a is marked needs root but does not fail without root",
        ),
        (
            "#[ignore = \"benchmark\"]\nfn timing() {}\n",
            "t.rs:1: benchmark timing must be named bench_*",
        ),
    ];
    for (text, want) in bad {
        let got = ignore_problems("t.rs", text);
        assert!(
            got.len() == 1 && got[0].starts_with(want),
            "{text:?}: {got:?}"
        );
    }
}
