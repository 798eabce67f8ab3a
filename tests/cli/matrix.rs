//! The render matrix: for every overlay, every AUTH_TYPE, Let's Encrypt on
//! and off, and several bridges and recorders, every file `render` writes is
//! read by the program that reads it in production — Docker Compose v2,
//! luac and prosodyctl, nginx, node, Typesafe Config, java.util.Properties,
//! coturn, Xorg — and no file goes unchecked.

use crate::harness::{init_stack, Run, Test};
use crate::jvm_check::{hocon, properties};
use std::path::{Path, PathBuf};

pub const SIP: &[(&str, &str)] = &[
    ("JIGASI_SIP_URI", "gateway@sip.example.org"),
    ("JIGASI_SIP_PASSWORD", "sip-password-0123"),
    ("JIGASI_SIP_SERVER", "sip.example.org"),
];

pub const ALL: &[&str] = &[
    "jibri",
    "jigasi",
    "transcriber",
    "etherpad",
    "whiteboard",
    "turn",
    "monitoring",
    "log-analyser",
];

/// `init` without components, `extra` appended to `.env`, then `render
/// --with` (init refuses jigasi before its SIP account is in `.env`).
pub fn render(extra: &[(&str, &str)], with: &[&str]) -> Run {
    let mut args = vec!["render".to_string()];
    if !with.is_empty() {
        args.extend(["--with".to_string(), with.join(",")]);
    }
    Test::again(init_stack(extra, &[])).args(args).run()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every string a consumer read: leaves of Compose's merged model (`$$`
/// unescaped), of config.js, of each HOCON tree, properties values and
/// prosody's options.
pub type Seen = Vec<String>;

fn json_strings(v: &serde_json::Value, out: &mut Seen) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

/// Runs every checker over the rendered stack; panics naming the file and
/// the checker on the first rejection, or on a file no checker claims.
/// Returns what the consumers read.
pub fn check_everything(run: &Run) -> Seen {
    let mut seen = Seen::new();
    let root = run.path();
    let generated = root.join("generated");
    let mut unchecked: Vec<PathBuf> = files_under(&generated);
    let mut claim = |p: &Path| unchecked.retain(|x| x != p);

    // Compose files: merged and validated by Docker Compose v2.
    let merged = crate::compose::merged_config(run);
    assert!(merged["services"]["web"].is_object());
    let mut compose_strings = vec![];
    json_strings(&merged, &mut compose_strings);
    seen.extend(compose_strings.into_iter().map(|s| s.replace("$$", "$")));

    // Prosody: luac, prosodyctl check config, sandboxed read-back.
    let (main, site) = crate::render_prosody::check_prosody(run);
    seen.extend(main.into_values().chain(site.into_values()).flatten());
    claim(&generated.join("prosody/prosody.cfg.lua"));
    claim(&generated.join("prosody/jitsi-meet.cfg.lua"));
    // saslauthd.conf: `name: value` lines (or only comments without LDAP).
    let sasl = generated.join("prosody/saslauthd.conf");
    for line in std::fs::read_to_string(&sasl).unwrap().lines() {
        assert!(
            line.starts_with('#')
                || line.split_once(": ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                }),
            "saslauthd.conf: {line:?}"
        );
    }
    claim(&sasl);

    // Web: nginx -t on the whole site, config.js evaluated by node.
    crate::render_web::assert_nginx_ok(run);
    let config = crate::render_web::config_of(run);
    assert!(config["hosts"]["domain"].is_string(), "{config:#}");
    json_strings(&config, &mut seen);
    for f in [
        "nginx.conf",
        "meet.conf",
        "ssl.conf",
        "default",
        "config.js",
    ] {
        claim(&generated.join("web").join(f));
    }

    // Branding: JSON parsed, custom-interface_config.js evaluated by node,
    // title.html decoded (tests/cli/branding.rs).
    for (p, strings) in crate::branding::read_back(run) {
        seen.extend(strings);
        claim(&p);
    }

    // coturn parses its whole file (an unknown option is reported).
    let turn = generated.join("turn/turnserver.conf");
    if turn.exists() {
        let out = crate::render_prosody::turnserver_parse(&turn);
        assert!(!out.contains("Bad configuration format"), "{out}");
        claim(&turn);
    }

    // Recorders' virtual screens: Xorg (dummy driver) takes the mode.
    for x in files_under(&generated)
        .into_iter()
        .filter(|p| p.ends_with("xorg-video-dummy.conf"))
    {
        let text = std::fs::read_to_string(&x).unwrap();
        let mode = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Modes \""))
            .and_then(|m| m.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{}: no Modes line", x.display()))
            .to_string();
        let log = crate::render_jibri::xorg_log(&x);
        assert!(
            log.contains(&format!("Virtual size is {mode} ")),
            "{}: Xorg did not take mode {mode}:\n{log}",
            x.display()
        );
        claim(&x);
    }

    // JVM services: HOCON through Typesafe Config, properties through
    // java.util.Properties, one JVM each.
    let all = files_under(&generated);
    let jvm_dir = |p: &Path| {
        let top = p
            .strip_prefix(&generated)
            .unwrap()
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        ["jicofo", "jvb", "jibri", "jigasi", "transcriber"]
            .iter()
            .any(|s| top == *s || top.starts_with(&format!("{s}-")))
    };
    let conf: Vec<PathBuf> = all
        .iter()
        .filter(|p| {
            jvm_dir(p)
                && p.extension().is_some_and(|e| e == "conf")
                && !p.ends_with("xorg-video-dummy.conf")
        })
        .cloned()
        .collect();
    let props: Vec<PathBuf> = all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "properties"))
        .cloned()
        .collect();
    assert!(conf.iter().any(|p| p.ends_with("jicofo/jicofo.conf")));
    for (p, r) in conf.iter().zip(hocon(&conf)) {
        let v = r.unwrap_or_else(|e| panic!("Typesafe Config rejects {}: {e}", p.display()));
        json_strings(&v, &mut seen);
        claim(p);
    }
    for (p, r) in props.iter().zip(properties(&props)) {
        let v = r.unwrap_or_else(|e| panic!("java.util.Properties: {}: {e}", p.display()));
        seen.extend(v.into_values());
        claim(p);
    }

    // Monitoring and log shipping: YAML.
    for p in &all {
        if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            let text = std::fs::read_to_string(p).unwrap();
            let v: serde_yaml::Value =
                serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(v.is_mapping(), "{}", p.display());
            claim(p);
        }
    }
    let empty = generated.join(jitsi_stack::render::mounts::EMPTY);
    assert_eq!(std::fs::read(&empty).unwrap(), b"");
    claim(&empty);

    for p in &all {
        let text = std::fs::read_to_string(p).unwrap();
        assert!(!text.contains("{{"), "{} contains '{{{{'", p.display());
    }
    assert!(
        unchecked.is_empty(),
        "rendered files no checker reads: {unchecked:#?}"
    );
    seen
}

#[test]
fn defaults() {
    check_everything(&render(&[], &[]));
}

#[test]
fn internal_auth_every_overlay_three_bridges_two_recorders() {
    let mut extra = SIP.to_vec();
    extra.extend([
        ("ENABLE_AUTH", "1"),
        ("AUTH_TYPE", "internal"),
        ("ENABLE_GUESTS", "1"),
        ("ENABLE_TRANSCRIPTIONS", "1"),
        ("JVB_INSTANCES", "3"),
        ("JIBRI_INSTANCES", "2"),
        ("JVB_ADVERTISE_IPS", "203.0.113.7,2001:db8::7#20000"),
        (
            "ETHERPAD_PUBLIC_URL",
            "https://meet.example.org:8443/etherpad/",
        ),
        (
            "WHITEBOARD_COLLAB_SERVER_PUBLIC_URL",
            "https://meet.example.org:8443/",
        ),
    ]);
    check_everything(&render(&extra, ALL));
}

#[test]
fn jwt_with_letsencrypt_and_a_recorder() {
    check_everything(&render(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "jwt"),
            ("JWT_APP_ID", "meet"),
            ("JWT_APP_SECRET", "jwt-secret-0123456789"),
            ("ENABLE_LETSENCRYPT", "1"),
            ("LETSENCRYPT_DOMAIN", "meet.example.org"),
            ("LETSENCRYPT_EMAIL", "ops@example.org"),
            ("LETSENCRYPT_ACME_SERVER", "letsencrypt"),
            ("HTTP_PORT", "80"),
            ("HTTPS_PORT", "443"),
            ("PUBLIC_URL", "https://meet.example.org"),
        ],
        &["jibri"],
    ));
}

#[test]
fn ldap_with_the_sip_gateway() {
    let mut extra = SIP.to_vec();
    extra.extend([
        ("ENABLE_AUTH", "1"),
        ("AUTH_TYPE", "ldap"),
        ("LDAP_URL", "ldaps://ldap.example.org"),
        ("LDAP_BASE", "ou=people,dc=example,dc=org"),
    ]);
    check_everything(&render(&extra, &["jigasi", "turn"]));
}

#[test]
fn matrix_with_the_transcriber_and_two_recorders() {
    check_everything(&render(
        &[
            ("ENABLE_AUTH", "1"),
            ("AUTH_TYPE", "matrix"),
            ("MATRIX_UVS_URL", "https://uvs.example.org"),
            ("ENABLE_TRANSCRIPTIONS", "1"),
            ("JIBRI_INSTANCES", "2"),
        ],
        &["transcriber", "jibri"],
    ));
}
