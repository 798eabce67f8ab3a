//! `migrate` from docker-jitsi-meet directories of six releases (the
//! fixtures in tests/fixtures/releases), `check` on their old .env files,
//! and `upgrade` / `rollback` of a stack an older jitsi-stack wrote, through
//! a fake `docker` first on PATH and a TLS stand-in for the running stack.

use crate::compose::{binds, merged_config};
use crate::harness::FakeDocker;
use crate::{init_stack, Run, Test};
use jitsi_stack::envfile::EnvFile;
use jitsi_stack::schema::{self, Secret, PINNED_IMAGE_VERSION};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn fixture(tag: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/releases")
        .join(tag)
}

/// What the fixture of each release must produce: the retired variables it
/// sets, each with the release upstream's tags name and, for a renamed one,
/// where its value goes (written down by hand from the tags, not from the
/// schema); the values carried to new names; the components found.
struct Expect {
    tag: &'static str,
    /// (variable, release, replacement or "" when dropped)
    retired: &'static [(&'static str, &'static str, &'static str)],
    /// Values the new .env must hold under their new names.
    carried: &'static [(&'static str, &'static str)],
    /// Names the new .env must not set.
    unset: &'static [&'static str],
    components: &'static [&'static str],
}

const WS: &str = "stable-11146";
const PRESET: &str = "JIBRI_RECORDING_VIDEO_ENCODE_PRESET";
const PRESET_REC: &str = "JIBRI_RECORDING_VIDEO_ENCODE_PRESET_RECORDING";
const PRESET_STREAM: &str = "JIBRI_RECORDING_VIDEO_ENCODE_PRESET_STREAMING";

const EXPECT: &[Expect] = &[
    Expect {
        tag: "stable-8252",
        retired: &[
            ("DOCKER_HOST_ADDRESS", "stable-8044", "JVB_ADVERTISE_IPS"),
            ("XMPP_RECORDER_DOMAIN", "stable-9823", "XMPP_HIDDEN_DOMAIN"),
            ("ENABLE_COLIBRI_WEBSOCKET", WS, ""),
            ("JVB_WS_DOMAIN", WS, ""),
            ("ENABLE_SCTP", WS, ""),
            ("CALLSTATS_ID", "stable-9220", ""),
            ("CALLSTATS_SECRET", "stable-9220", ""),
            ("CONFIG_EXTERNAL_CONNECT", "stable-9220", ""),
            ("ENABLE_LIPSYNC", "stable-9220", ""),
            ("START_BITRATE", "stable-9220", ""),
            ("TESTING_OCTO_PROBABILITY", "stable-9220", ""),
            ("DEPLOYMENTINFO_USERREGION", "stable-10008", ""),
            ("WHITEBOARD_ENABLED", "stable-9584", ""),
        ],
        carried: &[
            ("JVB_ADVERTISE_IPS", "203.0.113.7"),
            ("XMPP_HIDDEN_DOMAIN", "recorder.meet.jitsi"),
            (
                "ETHERPAD_DEFAULT_PAD_TEXT",
                "Welcome to the meeting pad!\n\n",
            ),
        ],
        unset: &[],
        components: &["jibri", "etherpad"],
    },
    Expect {
        tag: "stable-9111",
        retired: &[
            ("ENABLE_COLIBRI_WEBSOCKET", WS, ""),
            ("COLIBRI_WEBSOCKET_REGEX", WS, ""),
            ("DISABLE_COLIBRI_WEBSOCKET_JVB_LOOKUP", WS, ""),
            ("ENABLE_COLIBRI_WEBSOCKET_UNSAFE_REGEX", WS, ""),
            ("ENABLE_MULTI_STREAM", "stable-8138", ""),
            ("CALLSTATS_CUSTOM_SCRIPT_URL", "stable-9220", ""),
            ("TESTING_CAP_SCREENSHARE_BITRATE", "stable-9220", ""),
            ("VIDEOQUALITY_ENFORCE_PREFERRED_CODEC", "stable-9220", ""),
        ],
        carried: &[("JIGASI_SIP_URI", "meet@sip.example.org")],
        unset: &[],
        components: &["jigasi"],
    },
    Expect {
        tag: "stable-9584",
        retired: &[
            (PRESET, "stable-10073-1", PRESET_REC),
            (PRESET, "stable-10073-1", PRESET_STREAM),
            ("ENABLE_OCTO_SCTP", WS, ""),
            ("JVB_WS_TLS", WS, ""),
            ("JVB_WS_SERVER_ID", WS, ""),
            ("COLIBRI_WEBSOCKET_PORT", WS, ""),
            ("WHITEBOARD_ENABLED", "stable-9584", ""),
        ],
        carried: &[(PRESET_REC, "fast"), (PRESET_STREAM, "fast")],
        unset: &[],
        components: &["jibri", "whiteboard"],
    },
    Expect {
        tag: "stable-10008",
        retired: &[
            (PRESET, "stable-10073-1", PRESET_REC),
            (PRESET, "stable-10073-1", PRESET_STREAM),
            ("ENABLE_SCTP", WS, ""),
            ("ENABLE_COLIBRI_WEBSOCKET", WS, ""),
            ("TESTING_AV1_SUPPORT", "stable-9909", ""),
            ("DEPLOYMENTINFO_USERREGION", "stable-10008", ""),
        ],
        carried: &[(PRESET_REC, "veryfast"), (PRESET_STREAM, "veryfast")],
        unset: &[],
        components: &["jibri", "transcriber"],
    },
    Expect {
        tag: "stable-10431",
        retired: &[
            // JVB_ADVERTISE_IPS is set too: it keeps its own value.
            ("DOCKER_HOST_ADDRESS", "stable-8044", ""),
            ("ENABLE_COLIBRI_WEBSOCKET", WS, ""),
            ("ENABLE_SCTP", WS, ""),
            ("ENABLE_OCTO_SCTP", WS, ""),
            ("COLIBRI_WEBSOCKET_JVB_LOOKUP_NAME", WS, ""),
            ("JVB_WS_SERVER_ID", WS, ""),
            // Split in stable-10073-1; in stable-10431 it did nothing.
            (PRESET, "stable-10073-1", ""),
        ],
        carried: &[
            ("JVB_ADVERTISE_IPS", "203.0.113.12"),
            (PRESET_REC, "medium"),
        ],
        unset: &[PRESET_STREAM],
        components: &[],
    },
    Expect {
        tag: "stable-11031",
        retired: &[
            ("ENABLE_COLIBRI_WEBSOCKET", WS, ""),
            ("JVB_WS_TLS", WS, ""),
            ("ENABLE_SCTP", WS, ""),
            ("COLIBRI_WEBSOCKET_REGEX", WS, ""),
        ],
        carried: &[],
        unset: &[],
        components: &[],
    },
];

/// One entry of a tree: kind, permission bits, and the bytes (or link target).
#[derive(Debug, PartialEq, Eq, Clone)]
pub(crate) enum Node {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(PathBuf),
}

/// Every path under `root` with what it holds, symlinks not followed.
pub(crate) fn tree(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let p = root.join(&rel);
        let m = fs::symlink_metadata(&p).unwrap();
        let mode = m.mode() & 0o7777;
        let node = if m.file_type().is_symlink() {
            Node::Link(fs::read_link(&p).unwrap())
        } else if m.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(rel.join(e.unwrap().file_name()));
            }
            Node::Dir(mode)
        } else {
            Node::File(mode, fs::read(&p).unwrap())
        };
        out.insert(rel, node);
    }
    out
}

/// The paths where two trees differ, for a readable assertion.
pub(crate) fn tree_diff(a: &BTreeMap<PathBuf, Node>, b: &BTreeMap<PathBuf, Node>) -> Vec<String> {
    let mut out = vec![];
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("gone: {}", k.display())),
            Some(w) if w != v => out.push(format!("changed: {}", k.display())),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push(format!("new: {}", k.display()));
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// A docker-jitsi-meet directory built from a fixture: SRC with its .env and
/// the release's compose file names, CONFIG where the .env says (under a
/// fake HOME for `~/.jitsi-meet-cfg`). Modes as the old images left them.
struct Source {
    home: tempfile::TempDir,
    src: tempfile::TempDir,
}

impl Source {
    fn new(tag: &str) -> Source {
        let home = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        let fx = fixture(tag);
        for e in fs::read_dir(&fx).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".yml") {
                fs::copy(e.path(), src.path().join(&name)).unwrap();
            }
        }
        fs::copy(fx.join("env"), src.path().join(".env")).unwrap();
        let s = Source { home, src };
        let config = s.config();
        copy_dir(&fx.join("config"), &config);
        // The old prosody image: data 0750, account files 0640.
        let data = config.join("prosody/config/data");
        let mut stack = vec![data.clone()];
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                fs::set_permissions(&p, fs::Permissions::from_mode(0o750)).unwrap();
                for e in fs::read_dir(&p).unwrap() {
                    stack.push(e.unwrap().path());
                }
            } else {
                fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
            }
        }
        s
    }

    /// CONFIG as the fixture's .env names it, resolved.
    fn config(&self) -> PathBuf {
        let env = EnvFile::read(&self.src.path().join(".env")).unwrap();
        let raw = env.get("CONFIG").unwrap();
        match raw.strip_prefix("~/") {
            Some(rest) => self.home.path().join(rest),
            None => self.src.path().join(raw),
        }
    }

    fn env(&self) -> EnvFile {
        EnvFile::read(&self.src.path().join(".env")).unwrap()
    }

    fn migrate(&self, extra: &[&str], status: i32) -> Run {
        self.migrate_into(Test::new(), extra, status)
    }

    fn migrate_into(&self, t: Test, extra: &[&str], status: i32) -> Run {
        let mut args = vec![
            "migrate".to_string(),
            self.src.path().display().to_string(),
            ".".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        t.env("HOME", self.home.path().to_str().unwrap())
            .args(&args)
            .status(status)
            .run()
    }
}

pub(crate) fn env_of(run: &Run) -> EnvFile {
    EnvFile::read(&run.path().join(".env")).unwrap()
}

fn report(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
}

fn changes<'a>(report: &'a Value, subject: &str) -> Vec<&'a Value> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["subject"] == subject)
        .collect()
}

/// For each fixture: migrate, then check with 0 errors; passwords and every
/// other value unchanged; each retired variable named with its release and
/// its value where it belongs; the prosody account files where the rendered
/// compose file mounts prosody's data; SRC and the old files untouched.
#[test]
fn each_release_migrates_to_a_stack_that_checks_clean() {
    for exp in EXPECT {
        let s = Source::new(exp.tag);
        let src_before = tree(s.src.path());
        let config = s.config();
        let config_before = tree(&config);
        let in_place = exp.tag != "stable-11031";
        let extra: &[&str] = if in_place {
            &["--json"]
        } else {
            &["--json", "--copy"]
        };
        let run = s.migrate(extra, 0);
        let r = report(&run);
        let tag = exp.tag;
        for e in s.env().entries() {
            if schema::lookup(&e.key).is_some_and(|v| v.is_secret()) && !e.value.is_empty() {
                assert!(!run.stdout.contains(&e.value), "{tag}: {} printed", e.key);
            }
        }
        assert_eq!(r["source"]["release"], tag, "{tag}");
        assert_eq!(r["errors"], 0, "{tag}: {r:#}");

        // Every retired variable of the fixture is named, with its release.
        let src_env = s.env();
        for (name, release, to) in exp.retired {
            let found = changes(&r, name);
            let hit = found.iter().find(|c| {
                c["release"] == *release
                    && if to.is_empty() {
                        c["action"] == "removed"
                    } else {
                        c["action"] == "renamed" && c["to"] == *to
                    }
            });
            assert!(
                hit.is_some(),
                "{tag}: {name} ({release} -> {to:?}) not reported: {found:?}"
            );
        }
        // ... and nothing retired is left out of the report.
        for e in src_env.entries() {
            if schema::history::retirement_of(&e.key).is_some() {
                assert!(
                    !changes(&r, &e.key).is_empty(),
                    "{tag}: {} unreported",
                    e.key
                );
            }
        }

        let new = env_of(&run);
        for (name, _, _) in exp.retired {
            assert!(new.get(name).is_none(), "{tag}: {name} still set");
        }
        for (k, v) in exp.carried {
            assert_eq!(new.get(k), Some(*v), "{tag}: {k}");
        }
        for k in exp.unset {
            assert!(new.get(k).is_none(), "{tag}: {k} set");
        }
        // Passwords byte for byte, and every live value as it was.
        let mut secrets = 0;
        for e in src_env.entries() {
            let Some(var) = schema::lookup(&e.key) else {
                continue;
            };
            if var.deprecated.is_some() || e.value.is_empty() || e.key == "CONFIG" {
                continue;
            }
            if var.name == "JITSI_IMAGE_VERSION" || var.name == "COMPOSE_FILE" {
                continue;
            }
            assert_eq!(new.get(&e.key), Some(e.value.as_str()), "{tag}: {}", e.key);
            if var.secret == Secret::Generated {
                secrets += 1;
            }
        }
        assert!(secrets >= 5, "{tag}: only {secrets} passwords compared");
        assert_eq!(new.get("JITSI_STACK_RELEASE"), Some(PINNED_IMAGE_VERSION));
        assert_eq!(new.get("JITSI_IMAGE_VERSION"), Some(PINNED_IMAGE_VERSION));
        let with: Vec<&str> = new
            .get("JITSI_STACK_WITH")
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(with, exp.components, "{tag}");
        let mode = fs::metadata(run.path().join(".env")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{tag}");

        let checked = Test::again(run).args(["check"]).run();
        assert!(
            checked.stdout.contains(": 0 errors,"),
            "{tag}: {}{}",
            checked.stdout,
            checked.stderr
        );

        // Prosody's accounts where the rendered compose file mounts its data.
        let rendered = Test::again(checked).args(["render"]).run();
        let json = merged_config(&rendered);
        let (host, _, _) = binds(&json["services"]["prosody"])
            .into_iter()
            .find(|(_, target, _)| target == "/var/lib/prosody")
            .expect("prosody mounts /var/lib/prosody");
        let data_in_container = jitsi_stack::commands::migrate::PINNED_PROSODY_DATA;
        let host_data =
            Path::new(&host).join(data_in_container.strip_prefix("/var/lib/prosody/").unwrap());
        let old_data = fixture(tag).join("config/prosody/config/data");
        let mut accounts = 0;
        for (rel, node) in tree(&old_data) {
            if let Node::File(_, bytes) = node {
                let moved = host_data.join(&rel);
                assert_eq!(
                    fs::read(&moved).unwrap_or_else(|e| panic!("{tag}: {}: {e}", moved.display())),
                    bytes,
                    "{tag}: {}",
                    rel.display()
                );
                if rel.to_string_lossy().contains("/accounts/") {
                    accounts += 1;
                }
            }
        }
        assert!(accounts >= 2, "{tag}: {accounts} accounts");
        if jitsi_stack::fsutil::is_root() {
            let owner = fs::metadata(host_data.join("auth%2emeet%2ejitsi/accounts/focus.dat"))
                .unwrap()
                .uid();
            assert_eq!(owner, 1000, "{tag}: the accounts belong to the images' uid");
        }

        // Nothing in SRC changed; the old CONFIG files are all still there.
        assert_eq!(
            tree_diff(&src_before, &tree(s.src.path())),
            Vec::<String>::new(),
            "{tag}: SRC changed"
        );
        let config_after = tree(&config);
        for (rel, node) in &config_before {
            assert_eq!(
                config_after.get(rel),
                Some(node),
                "{tag}: CONFIG/{} changed",
                rel.display()
            );
        }
        let _ = rendered;
    }
}

#[test]
fn dry_run_reports_the_same_and_writes_nothing() {
    let s = Source::new("stable-9584");
    let src_before = tree(s.src.path());
    let config_before = tree(&s.config());
    let dry = s.migrate(&["--dry-run", "--json"], 0);
    assert_eq!(
        fs::read_dir(dry.path()).unwrap().count(),
        0,
        "dry run wrote into DIR"
    );
    assert_eq!(
        tree_diff(&config_before, &tree(&s.config())),
        Vec::<String>::new()
    );
    assert_eq!(
        tree_diff(&src_before, &tree(s.src.path())),
        Vec::<String>::new()
    );
    let dry = report(&dry);
    assert_eq!(dry["dry_run"], true);
    let text = s.migrate(&["--dry-run"], 0);
    assert!(text.stdout.contains("dry run: nothing was written"));
    assert!(
        text.stdout
            .contains("removed   ENABLE_OCTO_SCTP: removed in stable-11146"),
        "{}",
        text.stdout
    );
    assert!(!text
        .stdout
        .contains(&s.env().get("JVB_AUTH_PASSWORD").unwrap().to_string()));

    let real = report(&s.migrate(&["--json"], 0));
    let pick = |r: &Value| -> Vec<Value> {
        r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                ["renamed", "removed", "copied", "component"]
                    .contains(&c["action"].as_str().unwrap())
            })
            .map(|c| serde_json::json!([c["action"], c["subject"], c["to"], c["release"]]))
            .collect()
    };
    assert_eq!(pick(&dry), pick(&real));
}

#[test]
fn copy_keeps_modes_owners_and_never_follows_symlinks_out() {
    let s = Source::new("stable-10008");
    let config = s.config();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.txt"), "outside the tree\n").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        config.join("jibri/abs-link"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../../../../etc", config.join("jibri/recordings/escape")).unwrap();
    std::os::unix::fs::symlink("../transcripts", config.join("jibri/transcripts-link")).unwrap();
    fs::set_permissions(
        config.join("transcripts/room-2024-03-01.txt"),
        fs::Permissions::from_mode(0o604),
    )
    .unwrap();
    let root = jitsi_stack::fsutil::is_root();
    if root {
        std::os::unix::fs::lchown(
            config.join("prosody/config/certs/meet.jitsi.key"),
            Some(4321),
            Some(4322),
        )
        .unwrap();
    }
    let before = tree(&config);

    let run = s.migrate(&["--copy", "--json"], 0);
    let r = report(&run);
    assert_eq!(r["config_mode"], "copy");
    assert_eq!(env_of(&run).get("CONFIG"), Some("./config"));
    // The old CONFIG is not touched at all in copy mode.
    assert_eq!(tree_diff(&before, &tree(&config)), Vec::<String>::new());

    let copy = tree(&run.path().join("config"));
    for (rel, node) in &before {
        let name = rel.to_string_lossy();
        if name == "jibri/abs-link" || name == "jibri/recordings/escape" {
            assert!(!copy.contains_key(rel), "{name} copied");
            continue;
        }
        assert_eq!(copy.get(rel), Some(node), "{name}");
    }
    for skipped in ["jibri/abs-link", "jibri/recordings/escape"] {
        let c = changes(&r, skipped);
        assert!(
            c.iter().any(|c| c["action"] == "skipped"),
            "{skipped} not reported: {c:?}"
        );
    }
    if root {
        let m = fs::metadata(
            run.path()
                .join("config/prosody/config/certs/meet.jitsi.key"),
        )
        .unwrap();
        assert_eq!((m.uid(), m.gid()), (4321, 4322));
    }
    // The pinned release's layout inside the copy.
    assert!(run
        .path()
        .join("config/storage/prosody/data/auth%2emeet%2ejitsi/accounts/focus.dat")
        .is_file());
    assert!(run
        .path()
        .join("config/storage/transcripts/room-2024-03-01.txt")
        .is_file());
    Test::again(run).args(["check"]).run();
}

#[test]
fn config_inside_src_needs_copy_and_dir_must_be_new_and_outside() {
    let s = Source::new("stable-11031");
    let before = tree(s.src.path());
    let run = s.migrate(&[], 2);
    assert!(
        run.stderr.contains("is inside SRC") && run.stderr.contains("--copy"),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read_dir(run.path()).unwrap().count(), 0);

    // DIR inside SRC: refused, SRC untouched.
    let inside = Test::new()
        .env("HOME", s.home.path().to_str().unwrap())
        .args([
            "migrate",
            s.src.path().to_str().unwrap(),
            s.src.path().join("new").to_str().unwrap(),
        ])
        .status(2)
        .run();
    assert!(inside.stderr.contains("inside SRC"), "{}", inside.stderr);
    assert_eq!(
        tree_diff(&before, &tree(s.src.path())),
        Vec::<String>::new()
    );

    // A DIR that is a stack already: refused.
    let stack = init_stack(&[], &[]);
    let env_before = stack.read(".env");
    let again = s.migrate_into(Test::again(stack), &["--copy"], 2);
    assert!(again.stderr.contains("already a stack"), "{}", again.stderr);
    assert_eq!(again.read(".env"), env_before);
}

/// `check` on an old release's .env names every retired variable with the
/// release that removed or renamed it.
#[test]
fn check_names_every_removed_variable_with_its_release() {
    for exp in EXPECT {
        let text = fs::read_to_string(fixture(exp.tag).join("env")).unwrap();
        let run = Test::new()
            .env_file(&text)
            .args(["check", "--json"])
            .status_any()
            .run();
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        let findings = doc["findings"].as_array().unwrap();
        for (name, release, _) in exp.retired {
            let f = findings
                .iter()
                .find(|f| f["code"] == "deprecated" && f["variable"] == *name)
                .unwrap_or_else(|| panic!("{}: {name} not named", exp.tag));
            assert_eq!(f["release"], *release, "{}: {name}", exp.tag);
            let message = f["message"].as_str().unwrap();
            assert!(message.contains(release), "{}: {message}", exp.tag);
        }
        let text_run = Test::new()
            .env_file(&text)
            .args(["check"])
            .status_any()
            .run();
        if exp
            .retired
            .iter()
            .any(|(n, _, _)| *n == "ENABLE_COLIBRI_WEBSOCKET")
        {
            assert!(
                text_run.stderr.contains(
                    "ENABLE_COLIBRI_WEBSOCKET: removed in stable-11146 (colibri websockets are gone): delete this line"
                ),
                "{}",
                text_run.stderr
            );
        }
    }
}

// ---------------------------------------------------------------------------
// upgrade and rollback

/// What the fake docker of the upgrade tests does after the probes:
/// `FAKE_FAIL` makes the compose subcommand of that name (pull, up) exit 3,
/// `FAKE_SLEEP` makes `pull` take that long; `ps` answers a healthy core.
const UPGRADE: &str = r#"case "$*" in *" pull"*) [ -n "$FAKE_SLEEP" ] && sleep "$FAKE_SLEEP" ;; esac
if [ -n "$FAKE_FAIL" ]; then
  case " $* " in *" $FAKE_FAIL "*) echo "fake: $FAKE_FAIL failed" >&2; exit 3 ;; esac
fi
case "$*" in
  *" ps --all --format json"*) cat "$FAKE_DIR/ps.json" ;;
  *" exec -T jicofo curl "*) printf '\njitsi-stack-probe: HTTP 200\n' ;;
esac
"#;

/// The fake docker of the upgrade tests ([`UPGRADE`]).
pub(crate) fn upgrade_fake() -> FakeDocker {
    let fake = FakeDocker::with(UPGRADE);
    let ps: String = ["web", "prosody", "jicofo", "jvb"]
        .iter()
        .map(|s| format!("{{\"Service\":\"{s}\",\"State\":\"running\",\"Health\":\"healthy\"}}\n"))
        .collect();
    fs::write(fake.file("ps.json"), ps).unwrap();
    fake
}

/// A stack as a jitsi-stack pinned to stable-10431 would have left it: its
/// release recorded, variables of that release, rendered files of that
/// release, prosody's accounts in the old layout.
pub(crate) fn old_stack(https: u16, health: u16) -> Run {
    let public = format!("https://localhost:{https}");
    let run = init_stack(&[], &[]);
    let path = run.path().join(".env");
    let mut env = EnvFile::read(&path).unwrap();
    env.set_many(&[
        ("PUBLIC_URL", public.as_str()),
        ("HTTPS_PORT", &https.to_string()),
        ("JVB_COLIBRI_PORT", &health.to_string()),
        ("JITSI_STACK_RELEASE", "stable-10431"),
        ("JITSI_IMAGE_VERSION", "stable-10431"),
        ("ENABLE_COLIBRI_WEBSOCKET", "1"),
        ("ENABLE_SCTP", "1"),
        ("JVB_WS_SERVER_ID", "jvb"),
    ])
    .unwrap();
    fs::write(&path, env.render()).unwrap();
    fs::write(
        run.path().join("docker-compose.yml"),
        format!(
            "# {}\n# rendered for stable-10431 by an older jitsi-stack (test stand-in)\nservices: {{}}\n",
            jitsi_stack::render::GENERATED_NOTE
        ),
    )
    .unwrap();
    fs::create_dir_all(run.path().join("generated/web")).unwrap();
    fs::write(
        run.path().join("generated/web/config.js"),
        "// stable-10431 config (stand-in)\n",
    )
    .unwrap();
    let config = run.path().join("config");
    fs::remove_dir(config.join("storage/prosody")).unwrap();
    let old = config.join("prosody/config/data");
    copy_dir(
        &fixture("stable-10431").join("config/prosody/config/data"),
        &old,
    );
    fs::set_permissions(&old, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("prosody/config/data", config.join("data-link")).unwrap();
    fs::create_dir_all(config.join("jibri/recordings/r1")).unwrap();
    fs::write(config.join("jibri/recordings/r1/a.mp4"), "recording\n").unwrap();
    run
}

/// Everything of the stack directory but its backups.
pub(crate) fn stack_tree(run: &Run) -> BTreeMap<PathBuf, Node> {
    let mut t = tree(run.path());
    t.retain(|k, _| !k.starts_with("backups"));
    t
}

#[test]
fn upgrade_then_rollback_restores_the_stack_byte_for_byte() {
    let standin = StandIn::start();
    let fake = upgrade_fake();
    let stack = old_stack(standin.https, standin.health);
    let before = stack_tree(&stack);

    // Without --yes and without a terminal: refused, nothing changed.
    let refused = fake
        .attach(Test::again(stack))
        .args(["upgrade"])
        .status(2)
        .run();
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(
        tree_diff(&before, &stack_tree(&refused)),
        Vec::<String>::new()
    );

    // `check` and `render` refuse the old stack and point to upgrade.
    let checked = Test::again(refused).args(["check"]).status(1).run();
    assert!(
        checked.stderr.contains("jitsi-stack upgrade"),
        "{}",
        checked.stderr
    );

    let run = fake
        .attach(Test::again(checked))
        .args([
            "upgrade",
            "--yes",
            "--insecure",
            "--smoke-timeout",
            "5",
            "--timeout",
            "10",
        ])
        .run();
    for n in 1..=8 {
        assert!(
            run.stdout.contains(&format!("==> [{n}/8] ")),
            "step {n}: {}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("upgraded from stable-10431 to"),
        "{}",
        run.stdout
    );
    let env = env_of(&run);
    assert_eq!(env.get("JITSI_STACK_RELEASE"), Some(PINNED_IMAGE_VERSION));
    assert_eq!(env.get("JITSI_IMAGE_VERSION"), Some(PINNED_IMAGE_VERSION));
    for gone in [
        "ENABLE_COLIBRI_WEBSOCKET",
        "ENABLE_SCTP",
        "JVB_WS_SERVER_ID",
    ] {
        assert!(env.get(gone).is_none(), "{gone}");
    }
    assert!(run
        .path()
        .join("config/storage/prosody/data/auth%2emeet%2ejitsi/accounts/focus.dat")
        .is_file());
    let backups: Vec<PathBuf> = fs::read_dir(run.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(fs::metadata(&backups[0]).unwrap().mode() & 0o777, 0o600);
    assert!(run.stdout.contains("mode 0600"), "{}", run.stdout);
    let log = fake.log();
    let order: Vec<usize> = [
        " pull",
        " up -d --remove-orphans",
        " ps --all --format json",
        " exec -T jicofo curl",
    ]
    .iter()
    .map(|s| log.find(s).unwrap_or_else(|| panic!("no{s} in\n{log}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{log}");
    // Upgrading twice is a no-op.
    let again = fake
        .attach(Test::again(run))
        .args(["upgrade", "--yes"])
        .run();
    assert!(
        again.stdout.contains("nothing to upgrade"),
        "{}",
        again.stdout
    );

    let calls = fake.log().lines().count();
    let back = fake
        .attach(Test::again(again))
        .args(["rollback", "--yes"])
        .run();
    assert_eq!(
        tree_diff(&before, &stack_tree(&back)),
        Vec::<String>::new(),
        "rollback did not restore the stack"
    );
    assert_eq!(before, stack_tree(&back));
    let after: Vec<String> = fake.log().lines().skip(calls).map(String::from).collect();
    assert!(
        after.iter().any(|l| l.ends_with(" up -d --remove-orphans")),
        "restored stack not started: {after:?}"
    );
    drop(standin);
}

#[test]
fn upgrade_and_rollback_need_a_stack_and_a_backup() {
    let fake = upgrade_fake();
    for args in [&["upgrade", "--yes"][..], &["rollback", "--yes"]] {
        let run = fake.attach(Test::new()).args(args).status(2).run();
        assert!(
            run.stderr.contains("no .env in"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let stack = init_stack(&[], &[]);
    let run = fake
        .attach(Test::again(stack))
        .args(["upgrade", "--yes"])
        .run();
    assert!(run.stdout.contains("nothing to upgrade"), "{}", run.stdout);
    let run = fake
        .attach(Test::again(run))
        .args(["rollback", "--yes"])
        .status(2)
        .run();
    assert!(run.stderr.contains("no upgrade backup"), "{}", run.stderr);
    assert_eq!(fake.log(), "", "docker ran");
}

#[test]
fn a_failed_pull_or_up_leaves_the_stack_as_it_was() {
    for step in ["pull", "up"] {
        let fake = upgrade_fake();
        let stack = old_stack(crate::harness::free_port(), crate::harness::free_port());
        // With `up` failing, CONFIG lives outside the stack directory.
        let outside = tempfile::tempdir().unwrap();
        let config = outside.path().join("cfg");
        if step == "up" {
            fs::rename(stack.path().join("config"), &config).unwrap();
            let path = stack.path().join(".env");
            let mut env = EnvFile::read(&path).unwrap();
            env.set("CONFIG", config.to_str().unwrap()).unwrap();
            fs::write(&path, env.render()).unwrap();
        }
        let before = stack_tree(&stack);
        let outside_before = if step == "up" {
            Some(tree(&config))
        } else {
            None
        };
        let run = fake
            .attach(Test::again(stack))
            .env("FAKE_FAIL", step)
            .args(["upgrade", "--yes", "--timeout", "5"])
            .status(3)
            .run();
        assert!(
            run.stderr
                .contains("the stack was restored to stable-10431"),
            "{step}: {}",
            run.stderr
        );
        assert_eq!(
            tree_diff(&before, &stack_tree(&run)),
            Vec::<String>::new(),
            "{step}: the stack changed"
        );
        if let Some(t) = &outside_before {
            assert_eq!(
                tree_diff(t, &tree(&config)),
                Vec::<String>::new(),
                "CONFIG changed"
            );
            assert!(!config.join("storage/prosody/data").exists());
        }
        let log = fake.log();
        assert!(log.contains(&format!(" {step}")), "{step}: {log}");
        if step == "pull" {
            assert!(!log.contains(" up "), "up ran after a failed pull: {log}");
        }
        // The journal says what happened; a later rollback is still possible.
        let journal: Vec<PathBuf> = fs::read_dir(run.path().join("backups"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        let j: Value = serde_json::from_str(&fs::read_to_string(&journal[0]).unwrap()).unwrap();
        assert_eq!(j["state"], "restored", "{step}");
        assert!(
            j["failed_step"]
                .as_str()
                .unwrap()
                .contains("exited with status 3"),
            "{j}"
        );
    }
}

// ---------------------------------------------------------------------------
// A stand-in for the running stack's public side, for smoke: HTTPS with a
// throw-away certificate on `https` (the page, BOSH, the XMPP websocket),
// and the bridge's health on plain HTTP on `health`.

pub(crate) struct StandIn {
    pub(crate) https: u16,
    pub(crate) health: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

const PAGE: &str = "<html><head><script>var config = {};</script><script src=\"libs/app.bundle.min.js?v=1\"></script></head></html>";
const BOSH: &str = "<body xmlns='http://jabber.org/protocol/httpbind' sid='standin-1' wait='5' requests='2' ver='1.6'/>";

impl StandIn {
    pub(crate) fn start() -> StandIn {
        use std::net::TcpListener;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        crate::harness::self_signed("localhost", &key, &cert);
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let tls = TcpListener::bind("127.0.0.1:0").unwrap();
        let plain = TcpListener::bind("127.0.0.1:0").unwrap();
        let (https, health) = (
            tls.local_addr().unwrap().port(),
            plain.local_addr().unwrap().port(),
        );
        let mut threads = vec![];
        let s = stop.clone();
        threads.push(std::thread::spawn(move || {
            for conn in tls.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = conn else { continue };
                let config = config.clone();
                std::thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut stream = rustls::StreamOwned::new(conn, tcp);
                    answer(&mut stream);
                    stream.conn.send_close_notify();
                    let _ = std::io::Write::flush(&mut stream);
                });
            }
        }));
        let s = stop.clone();
        threads.push(std::thread::spawn(move || {
            for conn in plain.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut tcp) = conn else { continue };
                let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                answer(&mut tcp);
            }
        }));
        StandIn {
            https,
            health,
            stop,
            threads,
            _dir: dir,
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for port in [self.https, self.health] {
            let _ = std::net::TcpStream::connect(("127.0.0.1", port));
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Reads one request and answers it as the running stack would.
fn answer(stream: &mut (impl std::io::Read + std::io::Write)) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = std::io::Read::read_exact(stream, &mut body);
    let first = head.lines().next().unwrap_or("");
    let reply = if first.starts_with("GET /xmpp-websocket") {
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n"
            .to_string()
    } else {
        let (status, text) = if first.starts_with("POST /http-bind") {
            ("200 OK", BOSH)
        } else if first.starts_with("GET /about/health") {
            ("200 OK", "")
        } else if first.starts_with("GET / ") {
            ("200 OK", PAGE)
        } else {
            ("404 Not Found", "")
        };
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )
    };
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.flush();
}

/// Item 5 of issue 16: a CONFIG that does not exist (`~/.jitsi-meet-cfg`
/// resolved under sudo to root's home) is an error naming the path, with
/// the hint about `sudo` and `~`; nothing is written. `--no-data` says there
/// is nothing to carry over; with data it is refused too.
#[test]
fn a_config_that_does_not_exist_is_an_error_unless_no_data() {
    let s = Source::new("stable-10008");
    let config = s.config();
    fs::rename(&config, s.home.path().join("elsewhere")).unwrap();
    let run = s.migrate(&[], 2);
    assert!(
        run.stderr.contains(&config.display().to_string())
            && run.stderr.contains("does not exist")
            && run.stderr.contains("sudo")
            && run.stderr.contains("`~`")
            && run.stderr.contains("--no-data"),
        "{}",
        run.stderr
    );
    assert_eq!(fs::read_dir(run.path()).unwrap().count(), 0, "DIR written");
    let dry = s.migrate_into(Test::again(run), &["--dry-run"], 2);
    assert!(dry.stderr.contains("does not exist"), "{}", dry.stderr);
    let ok = s.migrate_into(Test::again(dry), &["--no-data"], 0);
    assert!(ok.exists(".env"), "{}", ok.stderr);
    // --no-data with data: refused.
    let s = Source::new("stable-10008");
    let run = s.migrate(&["--no-data"], 2);
    assert!(run.stderr.contains("holds data"), "{}", run.stderr);
    assert_eq!(fs::read_dir(run.path()).unwrap().count(), 0, "DIR written");
}

/// DIR's tree and .env (when DIR exists), CONFIG's tree, SRC's tree.
type WorldState = (
    Option<BTreeMap<PathBuf, Node>>,
    Option<BTreeMap<String, String>>,
    BTreeMap<PathBuf, Node>,
    BTreeMap<PathBuf, Node>,
);

/// One migrate world: HOME (with CONFIG), SRC, and DIR (`stack`, absent).
struct World {
    w: tempfile::TempDir,
}

impl World {
    fn copy_of(s: &Source) -> World {
        let shm = Path::new("/dev/shm");
        let w = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        for (from, to) in [(s.home.path(), "home"), (s.src.path(), "src")] {
            let st = std::process::Command::new("cp")
                .arg("-a")
                .arg(from)
                .arg(w.path().join(to))
                .status()
                .unwrap();
            assert!(st.success());
        }
        World { w }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.w.path().join(rel)
    }
    fn cmd(&self, prefix: &[String], extra: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(if prefix.is_empty() {
            crate::harness::bin().into_os_string()
        } else {
            prefix[0].clone().into()
        });
        if !prefix.is_empty() {
            c.args(&prefix[1..]).arg(crate::harness::bin());
        }
        c.arg("migrate")
            .arg(self.p("src"))
            .arg(self.p("stack"))
            .args(extra)
            .current_dir(self.w.path())
            .env("HOME", self.p("home"))
            .env_remove("JITSI_STACK_DIR")
            .env("JITSI_STACK_IO_THREADS", "1");
        c
    }
    /// What matters after a migrate: DIR's tree (its .env as a map without
    /// CONFIG, whose path differs per world), CONFIG's tree, SRC's tree.
    fn state(&self) -> WorldState {
        let stack = self.p("stack");
        let (t, env) = if stack.exists() {
            let mut t = tree(&stack);
            t.remove(Path::new(".env"));
            let mut m: BTreeMap<String, String> = EnvFile::read(&stack.join(".env"))
                .unwrap()
                .to_map()
                .into_iter()
                .collect();
            m.remove("CONFIG");
            (Some(t), Some(m))
        } else {
            (None, None)
        };
        (t, env, tree(&self.p("home")), tree(&self.p("src")))
    }
    /// Temp files, stages and set-aside copies anywhere in the world.
    fn leftovers(&self) -> Vec<String> {
        let mut out = vec![];
        for root in ["home", "stack", ""] {
            let r = self.p(root);
            if !r.exists() {
                continue;
            }
            for (rel, _) in tree(&r) {
                let name = rel
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if jitsi_stack::journal::temp_writer(&name).is_some()
                    || name.ends_with(".migrating")
                {
                    out.push(format!("{root}/{}", rel.display()));
                }
            }
        }
        out
    }
}

/// Passwords migrate generates differ per run: compare only the keys for
/// those, every other value exactly.
fn same_env(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>, src: &EnvFile) -> bool {
    a.keys().eq(b.keys())
        && a.iter().all(|(k, v)| {
            let generated = src.get(k).is_none_or(str::is_empty)
                && schema::lookup(k).is_some_and(|var| var.is_secret());
            generated || b.get(k) == Some(v)
        })
}

/// Item 5 of issue 16, with the issue's measurement: `migrate` (CONFIG in
/// place, and `--copy`) killed at every rename, mkdir, symlink, unlink,
/// rmdir and fsync. After each kill SRC is unchanged and DIR is absent or
/// complete; a rerun (when DIR is absent) then ends in exactly the state of
/// an uninterrupted run: DIR's tree, its .env, CONFIG's tree (content and
/// modes), and no temp file or stage anywhere.
#[test]
fn migrate_killed_at_every_rename_mkdir_unlink_and_fsync() {
    use crate::harness::KILL_CALLS as CALLS;
    let s = Source::new("stable-10008");
    let src_env = s.env();
    let mut table = vec![];
    for (mode, extra) in [("in place", &[][..]), ("--copy", &["--copy"][..])] {
        let reference = World::copy_of(&s);
        let src_before = tree(&reference.p("src"));
        let log = reference.p("strace.log");
        let out = reference
            .cmd(
                &[
                    "strace".into(),
                    "-f".into(),
                    "-qq".into(),
                    "-o".into(),
                    log.display().to_string(),
                    format!("-etrace={}", CALLS.join(",")),
                ],
                extra,
            )
            .output()
            .expect("strace (installed by .ci/install-deps)");
        assert!(out.status.success(), "{mode}: {out:?}");
        fs::remove_file(&log).ok();
        let expected = reference.state();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let traced = World::copy_of(&s);
        let log = traced
            .w
            .path()
            .parent()
            .unwrap()
            .join(format!("migrate-{}.log", std::process::id()));
        traced
            .cmd(
                &[
                    "strace".into(),
                    "-f".into(),
                    "-qq".into(),
                    "-o".into(),
                    log.display().to_string(),
                    format!("-etrace={}", CALLS.join(",")),
                ],
                extra,
            )
            .output()
            .unwrap();
        for line in fs::read_to_string(&log).unwrap().lines() {
            let mut it = line.split_whitespace();
            let _pid = it.next();
            if let Some(call) = it.next().and_then(|c| c.split_once('(')).map(|(n, _)| n) {
                if CALLS.contains(&call) {
                    *counts.entry(call.to_string()).or_insert(0) += 1;
                }
            }
        }
        fs::remove_file(&log).ok();
        let (mut kills, mut failures, mut complete) = (0, 0, 0);
        for (call, &n) in &counts {
            for k in 1..=n {
                let world = World::copy_of(&s);
                let at = format!("{mode}, killed at {call} #{k}");
                let out = world
                    .cmd(
                        &[
                            "strace".into(),
                            "-f".into(),
                            "-qq".into(),
                            "-o".into(),
                            "/dev/null".into(),
                            "-e".into(),
                            format!("inject={call}:signal=SIGKILL:when={k}"),
                        ],
                        extra,
                    )
                    .output()
                    .unwrap();
                use std::os::unix::process::ExitStatusExt;
                if out.status.signal() == Some(9) {
                    kills += 1;
                }
                let (dir, env, _config, src) = world.state();
                let mut bad = vec![];
                if !tree_diff(&src_before, &src).is_empty() {
                    bad.push("SRC changed".to_string());
                }
                match (&dir, &env) {
                    (Some(d), Some(e)) => {
                        complete += 1;
                        if !tree_diff(expected.0.as_ref().unwrap(), d).is_empty() {
                            bad.push(format!(
                                "DIR half made: {:?}",
                                tree_diff(expected.0.as_ref().unwrap(), d)
                            ));
                        }
                        if !same_env(expected.1.as_ref().unwrap(), e, &src_env) {
                            bad.push("DIR's .env differs".into());
                        }
                    }
                    _ => {
                        let again = world.cmd(&[], extra).output().unwrap();
                        if !again.status.success() {
                            bad.push(format!(
                                "rerun failed: {}",
                                String::from_utf8_lossy(&again.stderr)
                            ));
                        }
                    }
                }
                let (dir, env, config, _) = world.state();
                if dir
                    .as_ref()
                    .map(|d| tree_diff(expected.0.as_ref().unwrap(), d))
                    != Some(vec![])
                {
                    bad.push(format!(
                        "DIR after recovery: {:?}",
                        dir.as_ref()
                            .map(|d| tree_diff(expected.0.as_ref().unwrap(), d))
                    ));
                }
                if !env
                    .as_ref()
                    .is_some_and(|e| same_env(expected.1.as_ref().unwrap(), e, &src_env))
                {
                    bad.push("the .env after recovery differs".into());
                }
                let cd = tree_diff(&expected.2, &config);
                if !cd.is_empty() {
                    bad.push(format!("CONFIG after recovery: {cd:?}"));
                }
                if !world.leftovers().is_empty() {
                    bad.push(format!("left: {:?}", world.leftovers()));
                }
                if !bad.is_empty() {
                    failures += 1;
                    eprintln!("{at}: {}", bad.join("; "));
                }
            }
        }
        let points: usize = counts.values().sum();
        table.push(format!(
            "migrate {mode}: {points} kill points ({kills} killed, {complete} left DIR complete), {failures} failures"
        ));
        eprintln!("{}", table.last().unwrap());
        assert!(points > 20, "{mode}: {counts:?}");
    }
    assert!(
        table.iter().all(|l| l.ends_with(" 0 failures")),
        "{table:#?}"
    );
}
