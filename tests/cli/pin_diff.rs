//! scripts/pin-diff, the maintainer's checklist for moving the pin, run on a
//! small repository with two tags laid out like docker-jitsi-meet: every kind
//! of change it must report is made once between the tags.

use std::fs;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

const COMPOSE_OLD: &str = "services:
    web:
        image: ${JITSI_IMAGE_REPO:-ghcr.io/jitsi}/web:${JITSI_IMAGE_VERSION:-rel-1}
        volumes:
            - ${CONFIG}/web:/config:Z
            - ${CONFIG}/tmp/web-crontabs:/var/spool/cron/crontabs:Z
        environment:
            - ENABLE_P2P
            - OLD_WEB_SETTING
networks:
    meet.jitsi:
";

const COMPOSE_NEW: &str = "services:
    web:
        image: ${JITSI_IMAGE_REPO:-ghcr.io/jitsi}/web:${JITSI_IMAGE_VERSION:-rel-2}
        volumes:
            - ${CONFIG}/web:/config:Z
        environment:
            - ENABLE_P2P
            - BRAND_NEW_SETTING
networks:
    meet.jitsi:
";

fn repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    git(p, &["init", "-q"]);
    write(p, "env.example", "PUBLIC_URL=https://x\n#ENABLE_P2P=1\n");
    write(p, "docker-compose.yml", COMPOSE_OLD);
    write(
        p,
        "etherpad.yml",
        "services:\n    etherpad:\n        image: etherpad/etherpad:1.0\n",
    );
    write(
        p,
        "web/Dockerfile",
        "ARG BASE_TAG=latest\nFROM base:${BASE_TAG}\n",
    );
    write(
        p,
        "web/rootfs/defaults/system-config.js",
        "p2p = {{ .Env.ENABLE_P2P }}; old = {{ .Env.OLD_WEB_SETTING }};\n",
    );
    write(
        p,
        "web/rootfs/etc/s6-overlay/scripts/config",
        "#!/bin/bash\nCFG_FILE=/run/x\n[ -z \"$WEB_DEFAULTED\" ] && export WEB_DEFAULTED=1\necho $CFG_FILE\n",
    );
    write(p, "web/rootfs/etc/s6-overlay/scripts/cron", "#!/bin/bash\n");
    git(p, &["add", "-A"]);
    git(p, &["commit", "-qm", "one"]);
    git(p, &["tag", "rel-1"]);
    write(
        p,
        "env.example",
        "PUBLIC_URL=https://x\n#ENABLE_P2P=1\n#BRAND_NEW_SETTING=0\n",
    );
    write(p, "docker-compose.yml", COMPOSE_NEW);
    write(
        p,
        "etherpad.yml",
        "services:\n    etherpad:\n        image: etherpad/etherpad:2.0\n",
    );
    write(
        p,
        "web/Dockerfile",
        "ARG BASE_TAG=trixie\nFROM base:${BASE_TAG}\n",
    );
    write(
        p,
        "web/rootfs/defaults/system-config.js",
        "p2p = {{ .Env.ENABLE_P2P }}; new = {{ .Env.BRAND_NEW_SETTING }};\n",
    );
    fs::remove_file(p.join("web/rootfs/etc/s6-overlay/scripts/cron")).unwrap();
    write(p, "web/rootfs/usr/local/bin/helper", "#!/bin/sh\n");
    git(p, &["add", "-A"]);
    git(p, &["commit", "-qm", "two"]);
    git(p, &["tag", "rel-2"]);
    d
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pin-diff")
}

/// A schema that knows the old release's variables only.
fn schema(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("schema.json");
    let vars: Vec<serde_json::Value> = ["PUBLIC_URL", "ENABLE_P2P", "OLD_WEB_SETTING"]
        .iter()
        .map(|n| serde_json::json!({"name": n, "services": ["web"]}))
        .collect();
    fs::write(&p, serde_json::json!({ "variables": vars }).to_string()).unwrap();
    p
}

#[test]
fn lists_every_kind_of_change_between_two_tags() {
    let r = repo();
    let schema = schema(r.path());
    let out = Command::new("python3")
        .arg(script())
        .args(["--checkout", r.path().to_str().unwrap(), "--from", "rel-1"])
        .args(["--schema", schema.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}{:?}", out.stderr);
    for want in [
        // image tags, Jitsi's and third-party
        "docker-compose.yml web: ${JITSI_IMAGE_REPO:-ghcr.io/jitsi}/web:${JITSI_IMAGE_VERSION:-rel-1} -> ${JITSI_IMAGE_REPO:-ghcr.io/jitsi}/web:${JITSI_IMAGE_VERSION:-rel-2}",
        "etherpad.yml etherpad: etherpad/etherpad:1.0 -> etherpad/etherpad:2.0",
        "web/Dockerfile: - ARG BASE_TAG=latest",
        "web/Dockerfile: + ARG BASE_TAG=trixie",
        // variables: env.example, compose environment, templates
        "added   BRAND_NEW_SETTING  (env.example)",
        "added   BRAND_NEW_SETTING  (docker-compose.yml: web environment)",
        "removed OLD_WEB_SETTING  (docker-compose.yml: web environment)",
        "added   BRAND_NEW_SETTING  (web image (templates and scripts))",
        "removed OLD_WEB_SETTING  (web image (templates and scripts))",
        // compose structure
        "- volumes: - ${CONFIG}/tmp/web-crontabs:/var/spool/cron/crontabs:Z",
        // files by kind
        "templates: M web/rootfs/defaults/system-config.js",
        "boot scripts: D web/rootfs/etc/s6-overlay/scripts/cron",
        "helper scripts: A web/rootfs/usr/local/bin/helper",
        "Dockerfiles: M web/Dockerfile",
        // the schema
        "not in the schema: BRAND_NEW_SETTING",
        "in the schema, no longer read by HEAD: OLD_WEB_SETTING",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // A name the boot script assigns itself is not a variable; one it only
    // defaults is (unchanged here, so not listed as added or removed).
    assert!(!text.contains("CFG_FILE"), "{text}");
    assert!(!text.contains("WEB_DEFAULTED"), "{text}");
}

#[test]
fn same_tag_reports_nothing_and_exits_zero() {
    let r = repo();
    let out = Command::new("python3")
        .arg(script())
        .args(["--checkout", r.path().to_str().unwrap()])
        .args(["--from", "rel-2", "--to", "rel-2", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["images"], serde_json::json!([]));
    assert_eq!(report["files"], serde_json::json!({}));
}

#[test]
fn an_unknown_tag_is_a_usage_error() {
    let r = repo();
    let out = Command::new("python3")
        .arg(script())
        .args(["--checkout", r.path().to_str().unwrap(), "--from", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'nope' is not a tag"));
}
