//! `jitsi-stack init [DIR]`: a `.env` from the schema with fresh passwords and
//! the flags applied, plus the directory tree the images need. Never
//! overwrites a value that is already set.

use crate::cli::InitArgs;
use crate::commands::{config_tree, gen_passwords};
use crate::config::{parse_components, Component, Stack, BEHIND_PROXY_VAR, RELEASE_VAR, WITH_VAR};
use crate::envfile::EnvFile;
use crate::lock::{self, Wait};
use crate::schema::kind::{not_public_dns_name, url_host_port};
use crate::schema::{self, Kind};
use crate::stack::Model;
use crate::{fsutil, reference, validate, Exit, UsageError};
use anyhow::{Context, Result};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::layout::{CONFIG_TREE, IMAGE_UID};

pub fn run(global_dir: Option<&Path>, args: InitArgs) -> Result<Exit> {
    let dir = args
        .path
        .clone()
        .or_else(|| global_dir.map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    // A docker-jitsi-meet install is migrated, not adopted: nothing written.
    let evidence = docker_jitsi_meet_evidence(&dir, args.config_dir.as_deref());
    if !evidence.is_empty() {
        return Err(UsageError(refuse_install(&dir, &evidence)).into());
    }
    // The lock lives in the directory, so a new one is made first (mode
    // 0755 whatever the umask) and removed again if init then fails: bad
    // flags leave nothing behind. Everything below runs under the lock, so
    // two inits never both write a fresh set of passwords.
    let created = fsutil::create_dir_all_mode(&dir, 0o755)?;
    let result = lock::acquire(&dir, Wait::default().allow_system_dir(args.force))
        .and_then(|lock| run_locked(&dir, args).map(|exit| (exit, lock)));
    match result {
        Ok((exit, _lock)) => Ok(exit),
        Err(e) => {
            if let Some(inner) = created.last() {
                crate::lock::remove_if_only_lock(inner);
                for d in created.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
            }
            Err(e)
        }
    }
}

/// The compose files docker-jitsi-meet ships (jitsi-stack renders its own
/// `docker-compose.yml` only in a stack whose `.env` names its release).
const UPSTREAM_COMPOSE: &[&str] = &[
    crate::layout::CORE_COMPOSE_FILE,
    "jibri.yml",
    "jigasi.yml",
    "transcriber.yml",
    "etherpad.yml",
    "whiteboard.yml",
    "grafana.yml",
    "prometheus.yml",
    "log-analyser.yml",
];

/// Why `dir` looks like a docker-jitsi-meet install (empty: it does not):
/// its compose files, its `gen-passwords.sh`, a `.env` with an older
/// JITSI_IMAGE_VERSION, or a CONFIG that already holds data. A stack this
/// jitsi-stack made (its `.env` names [`RELEASE_VAR`]) is never one.
pub fn docker_jitsi_meet_evidence(dir: &Path, config_flag: Option<&Path>) -> Vec<String> {
    let env_path = dir.join(".env");
    let env = EnvFile::read(&env_path).ok();
    if env.as_ref().is_some_and(|f| f.is_set(RELEASE_VAR)) {
        return vec![];
    }
    let mut why = vec![];
    if dir.join("gen-passwords.sh").is_file() {
        why.push(format!(
            "{} (docker-jitsi-meet's password script)",
            dir.join("gen-passwords.sh").display()
        ));
    }
    for name in UPSTREAM_COMPOSE {
        let p = dir.join(name);
        if std::fs::read_to_string(&p)
            .is_ok_and(|t| t.contains("jitsi/") || t.contains("JITSI_IMAGE_VERSION"))
        {
            why.push(format!(
                "{} (a docker-jitsi-meet compose file)",
                p.display()
            ));
        }
    }
    if let Some(v) = env.as_ref().and_then(|f| f.get("JITSI_IMAGE_VERSION")) {
        if crate::schema::history::compare(v, schema::PINNED_IMAGE_VERSION)
            == Some(std::cmp::Ordering::Less)
        {
            why.push(format!(
                "{} has JITSI_IMAGE_VERSION={v}, older than {}",
                env_path.display(),
                schema::PINNED_IMAGE_VERSION
            ));
        }
    }
    let config = env
        .as_ref()
        .and_then(|f| f.get("CONFIG"))
        .filter(|c| !c.is_empty())
        .map(|c| config_tree::expand_config(c, dir))
        .or_else(|| config_flag.map(|c| dir.join(c)));
    // A system directory always holds data: that is not an install, and
    // `check` refuses it as CONFIG with its own message (unless --force).
    if let Some(c) = config.filter(|c| fsutil::system_dir(c).is_none()) {
        let data = std::fs::read_dir(&c).is_ok_and(|mut rd| rd.next().is_some());
        if data && c.is_dir() {
            why.push(format!("CONFIG {} already holds data", c.display()));
        }
    }
    why
}

fn refuse_install(dir: &Path, why: &[String]) -> String {
    let src = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let suggested = {
        let mut n = src.file_name().unwrap_or_default().to_os_string();
        n.push("-stack");
        src.with_file_name(n)
    };
    format!(
        "{} looks like a docker-jitsi-meet install, which init does not adopt:\n  {}\n\
         nothing was written. To turn it into a jitsi-stack stack (SRC is never modified), run:\n  \
         jitsi-stack migrate {} {}\n\
         (add --copy to copy CONFIG into the new stack instead of reusing it; \
         --dry-run shows every change first)",
        dir.display(),
        why.join("\n  "),
        src.display(),
        suggested.display()
    )
}

fn run_locked(dir: &Path, args: InitArgs) -> Result<Exit> {
    let dir = dir.to_path_buf();
    let env_path = dir.join(".env");
    let existed = env_path.exists();
    // --branding: checked before anything is written.
    if let Some(src) = &args.branding {
        crate::validate::branding::check_source(src)?;
        crate::validate::branding::check_target(&dir)?;
    }
    let mut file = if existed {
        EnvFile::read(&env_path)?
    } else {
        EnvFile::parse(&reference::env_example()).expect("generated env.example parses")
    };
    let interactive =
        !args.non_interactive && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let answers = Answers::collect(&args, &file, interactive)?;

    let mut wanted: Vec<(&str, String)> = vec![
        (
            "CONFIG",
            match &args.config_dir {
                Some(p) => p.display().to_string(),
                None => "./config".into(),
            },
        ),
        (
            "JITSI_IMAGE_VERSION",
            schema::PINNED_IMAGE_VERSION.to_string(),
        ),
        (RELEASE_VAR, schema::PINNED_IMAGE_VERSION.to_string()),
        ("TZ", "UTC".into()),
    ];
    if let Some(url) = &answers.public_url {
        wanted.push(("PUBLIC_URL", url.clone()));
    }
    // --force also accepts a system directory as CONFIG, as it does for DIR.
    if args.force {
        let config = match &args.config_dir {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => dir.join(p),
            None => dir.join(
                file.get("CONFIG")
                    .filter(|c| !c.is_empty())
                    .unwrap_or("./config"),
            ),
        };
        if fsutil::system_dir(&config).is_some() {
            wanted.push((validate::ALLOW_SYSTEM_CONFIG, "1".into()));
        }
    }
    // The ports follow the URL that will be in effect: one already in .env
    // is kept, so it decides.
    let url = file
        .get("PUBLIC_URL")
        .filter(|u| !u.is_empty())
        .map(String::from)
        .or_else(|| answers.public_url.clone());
    let web = WebPorts::for_url(url.as_deref(), args.behind_proxy, answers.email.is_some());
    wanted.push(("HTTP_PORT", web.http.to_string()));
    if let Some(https) = web.https {
        wanted.push(("HTTPS_PORT", https.to_string()));
    }
    if web.redirect {
        wanted.push(("ENABLE_HTTP_REDIRECT", "1".into()));
    }
    if args.behind_proxy {
        wanted.extend([
            (BEHIND_PROXY_VAR, "1".to_string()),
            ("DISABLE_HTTPS", "1".into()),
            ("ENABLE_HTTP_REDIRECT", "0".into()),
        ]);
    }
    if let Some(addr) = &answers.email {
        let host = url
            .as_deref()
            .and_then(url_host_port)
            .map(|(h, _, _)| h)
            .unwrap_or_default();
        wanted.extend([
            ("ENABLE_LETSENCRYPT", "1".to_string()),
            ("LETSENCRYPT_DOMAIN", host),
            ("LETSENCRYPT_EMAIL", addr.clone()),
            ("LETSENCRYPT_ACME_SERVER", "letsencrypt".into()),
        ]);
    }
    if !args.with.is_empty() {
        let list: Vec<&str> = answers.components.iter().map(|c| c.name()).collect();
        wanted.push((WITH_VAR, list.join(",")));
        // A component is useless unless the web client offers it.
        if answers.components.contains(&Component::Jibri) {
            wanted.push(("ENABLE_RECORDING", "1".into()));
        }
        if answers.components.contains(&Component::Transcriber) {
            wanted.push(("ENABLE_TRANSCRIPTIONS", "1".into()));
        }
    }
    if let Some(auth) = args.auth {
        wanted.extend([
            ("ENABLE_AUTH", "1".to_string()),
            ("AUTH_TYPE", auth.name().to_string()),
        ]);
        if args.guests {
            wanted.push(("ENABLE_GUESTS", "1".into()));
        }
        if let Some((var, value)) = &answers.auth_backend {
            wanted.push((var, value.clone()));
        }
        // The secret tokens are signed with: generated, never printed.
        if auth == crate::cli::AuthArg::Jwt && !file.is_set("JWT_APP_SECRET") {
            wanted.push(("JWT_APP_SECRET", crate::secrets::generate()));
        }
    }
    for (k, v) in [
        ("JVB_ADVERTISE_IPS", &answers.advertise),
        ("ETHERPAD_PUBLIC_URL", &answers.etherpad_url),
        (
            "WHITEBOARD_COLLAB_SERVER_PUBLIC_URL",
            &answers.whiteboard_url,
        ),
    ] {
        if let Some(v) = v {
            wanted.push((k, v.clone()));
        }
    }
    if let Some(n) = args.visitors {
        wanted.extend([
            ("ENABLE_VISITORS", "1".to_string()),
            (crate::stack::visitors::COUNT_VAR, n.to_string()),
        ]);
    }
    for (k, v) in [
        ("JIGASI_SIP_URI", &answers.sip_uri),
        ("JIGASI_SIP_SERVER", &answers.sip_server),
        ("JIGASI_SIP_PASSWORD", &answers.sip_password),
    ] {
        if let Some(v) = v {
            wanted.push((k, v.clone()));
        }
    }

    let mut added = vec![];
    let mut kept = vec![];
    for (k, v) in &wanted {
        let explicit = matches!(*k, WITH_VAR);
        if file.is_set(k) && !explicit {
            let have = file.get(k).unwrap_or("");
            if crate::schema::lookup(k).is_some_and(|var| var.is_secret()) {
                kept.push(format!("{k} (set; not replaced)"));
            } else if have == v {
                kept.push(k.to_string());
            } else {
                kept.push(format!("{k} (has {have:?}; not replaced by {v:?})"));
            }
            continue;
        }
        if file.get(k) != Some(v.as_str()) {
            file.set(k, v)?;
            added.push(k.to_string());
        }
    }
    // A value set twice in `wanted` (the redirect behind a proxy) counts once.
    added.dedup();
    let secrets = gen_passwords::fill(&mut file, &[], false)?;
    added.extend(secrets.filled.iter().map(|s| s.to_string()));
    // A rejected one is kept too; the validation below says why it fails.
    kept.extend(
        secrets
            .kept
            .iter()
            .chain(secrets.rejected.iter().map(|(s, _)| s))
            .map(|s| format!("{s} (password)")),
    );

    // Validate before anything touches the disk.
    let text = file.render();
    let values = crate::config::Values::from_file(&file);
    let components = parse_components(&[values.get_or(WITH_VAR, "")])?;
    let probe = Stack {
        dir: dir.clone(),
        env_path: env_path.clone(),
        file: EnvFile::parse(&text).expect("re-parses"),
        values,
        components,
        branding_files: crate::config::regular_files(&dir.join(crate::layout::BRANDING_DIR)),
    };
    let report = validate::validate(&probe);
    if report.errors() > 0 {
        return Err(refusal(report, existed, &added));
    }
    for note in &answers.notes {
        crate::outln!("note: {note}");
    }

    let written = if !added.is_empty() || !existed {
        file.write(&env_path)?
    } else {
        env_path.clone()
    };
    let config = probe.config_dir();
    // What the images write to, plus every directory the model mounts.
    let mut tree: Vec<String> = CONFIG_TREE.iter().map(|s| s.to_string()).collect();
    tree.extend(Model::build(&probe)?.config_dirs());
    tree.sort();
    tree.dedup();
    let (created, needs_chown) = config_tree::make_tree(&config, &tree)?;

    if !existed {
        crate::outln!("{}: created", env_path.display());
    } else if added.is_empty() {
        crate::outln!(
            "{}: unchanged (every value was already set)",
            env_path.display()
        );
    } else {
        crate::outln!(
            "{}: updated; previous file kept as {}",
            env_path.display(),
            fsutil::backup_path(&written).display()
        );
    }
    for k in &added {
        crate::outln!("  added {k}");
    }
    for k in &kept {
        crate::outln!("  kept  {k}");
    }
    crate::outln!(
        "{}: {} directories ({} new)",
        config.display(),
        tree.len(),
        created
    );
    if needs_chown {
        crate::outln!(
            "the containers run as uid {IMAGE_UID} and must be able to write there; run:\n  sudo chown -R {IMAGE_UID}:{IMAGE_UID} {}",
            config.display()
        );
    }
    if let Some(src) = &args.branding {
        let copied = crate::branding::install(src, &dir)?;
        crate::outln!(
            "{}: {} branding file(s) copied from {}",
            dir.join(crate::branding::DIR).display(),
            copied.len(),
            src.display()
        );
    }
    for t in &answers.todo {
        crate::outln!("to do: {t}");
    }
    if args.auth == Some(crate::cli::AuthArg::Jwt) && added.iter().any(|k| k == "JWT_APP_SECRET") {
        crate::outln!(
            "JWT_APP_SECRET was generated: your token issuer signs with it (it is in {}, not shown here)",
            env_path.display()
        );
    }
    if args.auth == Some(crate::cli::AuthArg::Internal) {
        crate::outln!(
            "then create the accounts: jitsi-stack --dir {} user add NAME",
            dir.display()
        );
    }
    crate::outln!("next: jitsi-stack --dir {} up", dir.display());
    Ok(Exit::Ok)
}

/// Why init writes nothing: the findings about the `.env` it would have
/// written. Lines are cited only for a file on disk, and only for values
/// init did not set itself; a finding about a value init set from a flag
/// or an answer is a usage error (exit 2), one about the existing file's
/// own content an invalid stack (exit 1).
fn refusal(report: validate::Report, existed: bool, added: &[String]) -> anyhow::Error {
    let mut ours = false;
    for mut f in report.findings {
        if f.level != validate::Level::Error {
            continue;
        }
        let set_by_init = f.variable.as_ref().is_some_and(|v| added.contains(v));
        ours |= set_by_init || !existed;
        if set_by_init || !existed {
            f.line = None;
            f.file = "the new .env".into();
            if let Some(flag) = f.variable.as_deref().and_then(flag_for) {
                f.fix = Some(format!("give {flag} another value"));
            }
        }
        crate::errln!("{f}");
    }
    let msg = "the resulting .env would be invalid; nothing was written";
    if ours {
        UsageError(msg.into()).into()
    } else {
        anyhow::anyhow!("{msg}")
    }
}

/// The flag (or prompt) a variable comes from in `init`.
fn flag_for(var: &str) -> Option<&'static str> {
    Some(match var {
        "PUBLIC_URL" | "HTTP_PORT" | "HTTPS_PORT" | "ENABLE_HTTP_REDIRECT" => "--public-url",
        "ENABLE_LETSENCRYPT" | "LETSENCRYPT_DOMAIN" | "LETSENCRYPT_EMAIL" => "--letsencrypt-email",
        "CONFIG" => "--config-dir",
        "JIGASI_SIP_URI" => "--sip-uri",
        "JIGASI_SIP_SERVER" => "--sip-server",
        "JIGASI_SIP_PASSWORD" => "--sip-password-stdin",
        "ENABLE_AUTH" | "AUTH_TYPE" => "--auth",
        "ENABLE_GUESTS" => "--guests",
        "JWT_APP_ID" => "--jwt-app-id",
        "LDAP_URL" => "--ldap-url",
        "MATRIX_UVS_URL" => "--matrix-uvs-url",
        "JVB_ADVERTISE_IPS" => "--advertise",
        "ETHERPAD_PUBLIC_URL" => "--etherpad-url",
        "WHITEBOARD_COLLAB_SERVER_PUBLIC_URL" => "--whiteboard-url",
        WITH_VAR => "--with",
        _ => return None,
    })
}

/// The web container's host ports for a public URL: the URL's port is the
/// HTTPS port; without one, 443 with HTTP on 80 redirecting to it (the
/// image's redirect goes to `https://host/`, which is 443). Behind a proxy
/// only HTTP_PORT is published (on 127.0.0.1) and the URL is the proxy's.
/// Let's Encrypt validates on port 80, so it gets HTTP_PORT=80 whatever
/// the HTTPS port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebPorts {
    pub http: u16,
    /// `None`: not published (behind a proxy).
    pub https: Option<u16>,
    pub redirect: bool,
}

impl WebPorts {
    pub fn for_url(url: Option<&str>, behind_proxy: bool, letsencrypt: bool) -> WebPorts {
        let port = url
            .and_then(url_host_port)
            .map(|(_, p, _)| p.unwrap_or(443));
        // HTTP on 8000 unless that is the URL's own port.
        let spare = if port == Some(8000) { 8001 } else { 8000 };
        if letsencrypt && !behind_proxy {
            let https = port.unwrap_or(443);
            return WebPorts {
                http: 80,
                https: Some(if https == 80 { 443 } else { https }),
                redirect: https == 443,
            };
        }
        match port {
            _ if behind_proxy => WebPorts {
                http: spare,
                https: None,
                redirect: false,
            },
            // No URL: the images' default https://localhost:8443.
            None => WebPorts {
                http: 8000,
                https: Some(8443),
                redirect: false,
            },
            Some(443) => WebPorts {
                http: 80,
                https: Some(443),
                redirect: true,
            },
            Some(p) => WebPorts {
                http: if p == 80 { 8000 } else { spare },
                https: Some(p),
                redirect: false,
            },
        }
    }
}

/// What the flags and the prompts gave, each value checked on its own, so
/// a bad one is refused naming the flag or asked again, before any file
/// is made.
#[derive(Debug, Default)]
struct Answers {
    public_url: Option<String>,
    email: Option<String>,
    components: std::collections::BTreeSet<Component>,
    sip_uri: Option<String>,
    sip_server: Option<String>,
    sip_password: Option<String>,
    /// `--auth`'s backend setting: (variable, value), such as LDAP_URL.
    auth_backend: Option<(&'static str, String)>,
    advertise: Option<String>,
    etherpad_url: Option<String>,
    whiteboard_url: Option<String>,
    /// Things done to a value, to tell the user.
    notes: Vec<String>,
    /// What is left to set by hand (non-interactive), to tell the user.
    todo: Vec<String>,
}

impl Answers {
    fn collect(args: &InitArgs, file: &EnvFile, interactive: bool) -> Result<Answers> {
        let mut a = Answers::default();
        let usage = |flag: &str, value: &str, why: String| -> anyhow::Error {
            UsageError(format!("{flag} {value:?}: {why}")).into()
        };
        if let Some(dir) = &args.config_dir {
            let shown = dir.display().to_string();
            if let Err(e) = Kind::HostDir.check(&shown) {
                return Err(usage("--config-dir", &shown, format!("expected {e}")));
            }
        }

        a.public_url = match &args.public_url {
            Some(url) => Some(check_public_url(url).map_err(|e| usage("--public-url", url, e))?),
            None if interactive && !file.is_set("PUBLIC_URL") => ask(
                "Public URL users will open, such as https://meet.example.org (empty: https://localhost:8443, this machine only)",
                |t| check_public_url(t).map(Some),
            )?,
            None => None,
        };
        let url = a
            .public_url
            .clone()
            .or_else(|| file.get("PUBLIC_URL").map(String::from));
        let host = url.as_deref().and_then(url_host_port).map(|(h, _, _)| h);

        let public_name = host
            .as_deref()
            .is_some_and(|h| not_public_dns_name(h).is_none());
        a.email = match &args.letsencrypt_email {
            Some(addr) => {
                check_email(addr).map_err(|e| usage("--letsencrypt-email", addr, e))?;
                let Some(host) = &host else {
                    return Err(UsageError(
                        "--letsencrypt-email needs --public-url (the certificate's domain)".into(),
                    )
                    .into());
                };
                if let Some(why) = not_public_dns_name(host) {
                    return Err(UsageError(format!(
                        "--letsencrypt-email: Let's Encrypt needs a public DNS name in --public-url, and {host} is not one ({why}); \
                         use the name users open (with an A/AAAA record pointing here), or leave out --letsencrypt-email for the image's self-signed certificate"
                    ))
                    .into());
                }
                Some(addr.clone())
            }
            // Only a public DNS name can get a certificate: no question otherwise.
            None if interactive
                && !args.behind_proxy
                && public_name
                && !file.is_set("LETSENCRYPT_EMAIL") =>
            {
                ask(
                    "E-mail for Let's Encrypt (empty: use a self-signed certificate)",
                    |t| check_email(t).map(|()| Some(t.to_string())),
                )?
            }
            None => None,
        };

        a.components = parse_components(&[file.get(WITH_VAR).unwrap_or("")])
            .with_context(|| format!("{WITH_VAR} in the existing .env"))?;
        a.components
            .extend(parse_components(&args.with).map_err(|e| UsageError(format!("--with: {e}")))?);
        a.collect_auth(args, file, interactive)?;
        if let Some(ips) = &args.advertise {
            a.advertise = Some(check_advertise(ips).map_err(|e| usage("--advertise", ips, e))?);
        }
        let site = url
            .clone()
            .unwrap_or_else(|| "https://localhost:8443".into());
        for (comp, flag, var, given, offered) in [
            (
                Component::Etherpad,
                "--etherpad-url",
                "ETHERPAD_PUBLIC_URL",
                &args.etherpad_url,
                format!("{site}/etherpad/p/"),
            ),
            (
                Component::Whiteboard,
                "--whiteboard-url",
                "WHITEBOARD_COLLAB_SERVER_PUBLIC_URL",
                &args.whiteboard_url,
                site.clone(),
            ),
        ] {
            let on = a.components.contains(&comp);
            if given.is_some() && !on {
                return Err(UsageError(format!(
                    "{flag} is the public URL of the {comp} component: add --with {comp}"
                ))
                .into());
            }
            let value = match given {
                Some(u) => Some(check_url(u).map_err(|e| usage(flag, u, e))?),
                None if on && !file.is_set(var) && interactive => Some(ask_required(
                    &format!("URL users reach the {comp} on [{offered}]"),
                    |t| {
                        if t.is_empty() {
                            Ok(offered.clone())
                        } else {
                            check_url(t)
                        }
                    },
                )?),
                None if on && !file.is_set(var) => {
                    a.todo.push(format!(
                        "the web client offers the {comp} only with {var}: set it in .env, or run init again with {flag} URL (this site serves it at {offered})"
                    ));
                    None
                }
                None => None,
            };
            match comp {
                Component::Etherpad => a.etherpad_url = value,
                _ => a.whiteboard_url = value,
            }
        }
        let jigasi = a.components.contains(&Component::Jigasi);
        let sip_flags =
            args.sip_uri.is_some() || args.sip_server.is_some() || args.sip_password_stdin;
        if sip_flags && !jigasi {
            return Err(UsageError(
                "--sip-uri, --sip-server and --sip-password-stdin set up the SIP gateway: add --with jigasi".into(),
            )
            .into());
        }
        if !jigasi {
            return Ok(a);
        }

        a.sip_uri = match &args.sip_uri {
            Some(uri) => {
                Some(check_sip_uri(uri, &mut a.notes).map_err(|e| usage("--sip-uri", uri, e))?)
            }
            None if interactive && !file.is_set("JIGASI_SIP_URI") => {
                let mut notes = Vec::new();
                let v = ask_required("SIP account jigasi registers, user@sip.example.org", |t| {
                    check_sip_uri(t, &mut notes)
                })?;
                a.notes.extend(notes);
                Some(v)
            }
            None => None,
        };
        a.sip_server = match &args.sip_server {
            Some(h) => Some(check_host(h).map_err(|e| usage("--sip-server", h, e))?),
            None if interactive && !file.is_set("JIGASI_SIP_SERVER") => {
                let guess = a
                    .sip_uri
                    .as_deref()
                    .and_then(|u| u.split_once('@'))
                    .map(|(_, h)| h.to_string());
                let question = match &guess {
                    Some(g) => format!("SIP server (registrar) [{g}]"),
                    None => "SIP server (registrar), such as sip.example.org".into(),
                };
                Some(ask_required(&question, |t| match (t, &guess) {
                    ("", Some(g)) => Ok(g.clone()),
                    _ => check_host(t),
                })?)
            }
            None => None,
        };
        a.sip_password = if args.sip_password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the SIP password from standard input")?;
            let pw = line.trim_end_matches(['\n', '\r']).to_string();
            if pw.is_empty() {
                return Err(UsageError(
                    "--sip-password-stdin: standard input held no password".into(),
                )
                .into());
            }
            Some(pw)
        } else if interactive && !file.is_set("JIGASI_SIP_PASSWORD") {
            loop {
                let pw = rpassword::prompt_password("SIP account's password: ")
                    .context("reading the SIP password")?;
                if !pw.is_empty() {
                    break Some(pw);
                }
                crate::errln!("  the SIP account needs its password; try again");
            }
        } else {
            None
        };

        let missing: Vec<&str> = [
            ("JIGASI_SIP_URI", a.sip_uri.is_some(), "--sip-uri USER@HOST"),
            (
                "JIGASI_SIP_SERVER",
                a.sip_server.is_some(),
                "--sip-server HOST",
            ),
            (
                "JIGASI_SIP_PASSWORD",
                a.sip_password.is_some(),
                "--sip-password-stdin (the password on standard input)",
            ),
        ]
        .into_iter()
        .filter(|(var, given, _)| !given && !file.is_set(var))
        .map(|(_, _, flag)| flag)
        .collect();
        if !missing.is_empty() {
            return Err(UsageError(format!(
                "--with jigasi needs your SIP account to register with: give {} (or run init on a terminal to be asked)",
                missing.join(", ")
            ))
            .into());
        }
        Ok(a)
    }
}

impl Answers {
    /// `--auth TYPE` and the one setting each backend needs (asked on a
    /// terminal, else its flag is required); a backend flag without its
    /// type is refused.
    fn collect_auth(&mut self, args: &InitArgs, file: &EnvFile, interactive: bool) -> Result<()> {
        use crate::cli::AuthArg;
        let backends: [(AuthArg, &str, &'static str, &Option<String>, &str); 3] = [
            (
                AuthArg::Jwt,
                "--jwt-app-id",
                "JWT_APP_ID",
                &args.jwt_app_id,
                "the token issuer's application id",
            ),
            (
                AuthArg::Ldap,
                "--ldap-url",
                "LDAP_URL",
                &args.ldap_url,
                "the LDAP directory's URL, such as ldaps://ldap.example.org",
            ),
            (
                AuthArg::Matrix,
                "--matrix-uvs-url",
                "MATRIX_UVS_URL",
                &args.matrix_uvs_url,
                "the Matrix user verification service's URL",
            ),
        ];
        for (ty, flag, var, given, what) in backends {
            if given.is_some() && args.auth != Some(ty) {
                return Err(UsageError(format!(
                    "{flag} sets {var}, which only --auth {} reads: add --auth {}",
                    ty.name(),
                    ty.name()
                ))
                .into());
            }
            if args.auth != Some(ty) {
                continue;
            }
            let check = |t: &str| -> Result<String, String> {
                let t = t.trim();
                let kind = crate::schema::lookup(var)
                    .map(|v| v.kind)
                    .unwrap_or(Kind::Text);
                if t.is_empty() {
                    return Err(format!("expected {what}"));
                }
                kind.check(t).map_err(|e| format!("expected {e}"))?;
                let scheme_ok = match ty {
                    AuthArg::Ldap => t.starts_with("ldap://") || t.starts_with("ldaps://"),
                    AuthArg::Matrix => Kind::Url.check(t).is_ok(),
                    _ => !t.chars().any(char::is_whitespace),
                };
                if !scheme_ok || t.chars().any(char::is_whitespace) {
                    return Err(format!("expected {what}"));
                }
                Ok(t.to_string())
            };
            let value = match given {
                Some(v) => Some(check(v).map_err(|e| {
                    anyhow::Error::new(UsageError(format!("{flag} {v:?}: {e}")))
                })?),
                None if file.is_set(var) => None,
                None if interactive => {
                    Some(ask_required(&format!("{var}: {what}"), check)?)
                }
                None => {
                    return Err(UsageError(format!(
                        "--auth {} needs {what}: give {flag} VALUE (or run init on a terminal to be asked); nothing was written",
                        ty.name()
                    ))
                    .into())
                }
            };
            self.auth_backend = value.map(|v| (var, v));
        }
        Ok(())
    }
}

/// JVB_ADVERTISE_IPS as `--advertise` gives it: unicast addresses, each
/// optionally `#PORT`, as the schema's type for the variable reads them.
fn check_advertise(list: &str) -> Result<String, String> {
    let list = list.trim();
    for entry in list.split(',') {
        crate::stack::nodes::check_advertise(entry.trim()).map_err(|e| {
            format!(
                "{:?} is not an address to advertise: expected {e}",
                entry.trim()
            )
        })?;
    }
    let list = list.split(',').map(str::trim).collect::<Vec<_>>().join(",");
    let kind = crate::schema::lookup("JVB_ADVERTISE_IPS")
        .map(|v| v.kind)
        .unwrap_or(Kind::IpList);
    kind.check(&list).map_err(|e| format!("expected {e}"))?;
    Ok(list)
}

/// A public URL of a component, such as ETHERPAD_PUBLIC_URL.
fn check_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    Kind::Url.check(url).map_err(|e| format!("expected {e}"))?;
    if !url.starts_with("https://") {
        return Err("expected an https:// URL (the site is served over https)".into());
    }
    Ok(url.to_string())
}

/// PUBLIC_URL as init writes it: an https URL of a host (and port), no
/// trailing slash.
fn check_public_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    Kind::SiteUrl
        .check(url)
        .map_err(|e| format!("expected {e}"))?;
    if !url.starts_with("https://") {
        return Err(
            "expected an https:// URL: browsers only allow camera and microphone on https pages (behind a TLS proxy too: give the proxy's https URL)".into(),
        );
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn check_email(addr: &str) -> Result<(), String> {
    Kind::Email.check(addr).map_err(|e| format!("expected {e}"))
}

fn check_host(host: &str) -> Result<String, String> {
    let host = host.trim();
    Kind::Host
        .check(host)
        .map_err(|e| format!("expected {e}"))?;
    Ok(host.to_string())
}

/// The SIP account as jigasi's renderer accepts it; a `sip:` prefix (as
/// providers often write it) is dropped, since the image adds its own.
fn check_sip_uri(uri: &str, notes: &mut Vec<String>) -> Result<String, String> {
    let uri = uri.trim();
    let bare = match uri.strip_prefix("sip:") {
        Some(b) => {
            notes.push(format!(
                "JIGASI_SIP_URI: wrote {b} (the image adds the sip: scheme itself)"
            ));
            b
        }
        None => uri,
    };
    crate::render::jvm::jigasi::sip_uri(bare).map_err(|e| format!("{e:#}"))
}

/// Asks until `check` accepts the answer; an empty answer is passed to
/// `check` too (which may make it `None`). End of input is an error.
fn ask<T>(
    question: &str,
    mut check: impl FnMut(&str) -> Result<Option<T>, String>,
) -> Result<Option<T>> {
    loop {
        crate::err!("{question}: ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            crate::errln!();
            return Err(UsageError("no answer (end of input); nothing was written".into()).into());
        }
        let t = line.trim();
        if t.is_empty() {
            return Ok(None);
        }
        match check(t) {
            Ok(v) => return Ok(v),
            Err(why) => crate::errln!("  {t:?}: {why}; try again (Ctrl-C to stop)"),
        }
    }
}

/// Like [`ask`] for a value that must be given.
fn ask_required(
    question: &str,
    mut check: impl FnMut(&str) -> Result<String, String>,
) -> Result<String> {
    loop {
        crate::err!("{question}: ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            crate::errln!();
            return Err(UsageError("no answer (end of input); nothing was written".into()).into());
        }
        let t = line.trim();
        match check(t) {
            Ok(v) => return Ok(v),
            Err(_) if t.is_empty() => {
                crate::errln!("  an answer is needed; try again (Ctrl-C to stop)")
            }
            Err(why) => crate::errln!("  {t:?}: {why}; try again (Ctrl-C to stop)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_ports_follow_the_public_url() {
        let p = |url: Option<&str>, proxy| WebPorts::for_url(url, proxy, false);
        let (http, https) = (|w: WebPorts| w.http, |w: WebPorts| w.https);
        let plain = p(Some("https://meet.school.example"), false);
        assert_eq!(
            (http(plain), https(plain), plain.redirect),
            (80, Some(443), true)
        );
        let explicit = p(Some("https://meet.example.org:443"), false);
        assert_eq!(explicit, plain);
        let odd = p(Some("https://meet.example.org:8443"), false);
        assert_eq!(
            (odd.http, odd.https, odd.redirect),
            (8000, Some(8443), false)
        );
        let clash = p(Some("https://meet.example.org:8000"), false);
        assert_eq!((clash.http, clash.https), (8001, Some(8000)));
        let none = p(None, false);
        assert_eq!((none.http, none.https), (8000, Some(8443)));
        let proxied = p(Some("https://meet.example.org"), true);
        assert_eq!(
            (proxied.http, proxied.https, proxied.redirect),
            (8000, None, false)
        );
        let le = WebPorts::for_url(Some("https://meet.example.org:8443"), false, true);
        assert_eq!((le.http, le.https, le.redirect), (80, Some(8443), false));
        let le = WebPorts::for_url(Some("https://meet.example.org"), false, true);
        assert_eq!((le.http, le.https, le.redirect), (80, Some(443), true));
    }

    #[test]
    fn public_urls_from_init_are_https_sites() {
        assert_eq!(
            check_public_url("https://meet.example.org/").unwrap(),
            "https://meet.example.org"
        );
        for bad in [
            "http://meet.example.org",
            "https://meet.example.org/room",
            "https://meet_school.example",
            "nope",
        ] {
            assert!(check_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sip_prefix_is_dropped_with_a_note() {
        let mut notes = vec![];
        assert_eq!(
            check_sip_uri("sip:1234@sip.example.org", &mut notes).unwrap(),
            "1234@sip.example.org"
        );
        assert_eq!(notes.len(), 1);
        assert!(check_sip_uri("1234", &mut notes).is_err());
    }

    #[test]
    fn tree_has_no_duplicates_or_absolute_paths() {
        let mut seen = std::collections::HashSet::new();
        for rel in CONFIG_TREE {
            assert!(!rel.starts_with('/') && !rel.contains(".."), "{rel}");
            assert!(seen.insert(rel), "{rel} twice");
        }
    }
}
