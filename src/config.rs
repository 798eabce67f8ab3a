//! The checked configuration: the stack directory, its `.env`, the effective
//! value of every schema variable, and the enabled components. Commands get
//! this value, never raw strings from the environment.

use crate::envfile::EnvFile;
use crate::schema::{self, kind};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// The variable where jitsi-stack records the enabled optional components.
pub const WITH_VAR: &str = "JITSI_STACK_WITH";

/// The variable where jitsi-stack records the release the stack's files were
/// written for (`init`, `migrate`, `render`), so a newer jitsi-stack knows
/// to `upgrade` it first.
pub const RELEASE_VAR: &str = "JITSI_STACK_RELEASE";
/// jitsi-stack's own switch for running behind a reverse proxy on the host.
pub const BEHIND_PROXY_VAR: &str = "JITSI_STACK_BEHIND_PROXY";
pub use crate::layout::CORE_COMPOSE_FILE;

/// An optional component the user enables (`--with`, `JITSI_STACK_WITH`):
/// one Compose overlay file, and the services of the kinds it adds
/// (`stack::Kind`; `monitoring` adds prometheus and grafana).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    Jibri,
    Jigasi,
    Transcriber,
    Etherpad,
    Whiteboard,
    Turn,
    Monitoring,
    LogAnalyser,
}

impl Component {
    pub const ALL: &'static [Component] = &[
        Component::Jibri,
        Component::Jigasi,
        Component::Transcriber,
        Component::Etherpad,
        Component::Whiteboard,
        Component::Turn,
        Component::Monitoring,
        Component::LogAnalyser,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Component::Jibri => "jibri",
            Component::Jigasi => "jigasi",
            Component::Transcriber => "transcriber",
            Component::Etherpad => "etherpad",
            Component::Whiteboard => "whiteboard",
            Component::Turn => "turn",
            Component::Monitoring => "monitoring",
            Component::LogAnalyser => "log-analyser",
        }
    }

    /// Other names accepted for a component.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Component::Monitoring => &["prometheus", "grafana"],
            Component::LogAnalyser => &["log-analyzer", "loki"],
            Component::Turn => &["coturn"],
            _ => &[],
        }
    }

    pub fn parse(s: &str) -> Option<Component> {
        let s = s.trim().to_ascii_lowercase();
        Component::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s || c.aliases().contains(&s.as_str()))
    }

    /// The Compose overlay file name for this component.
    pub fn compose_file(self) -> String {
        format!("{}.yml", self.name())
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a `--with` list (or the recorded value); unknown names are an error
/// that lists the known ones.
pub fn parse_components<S: AsRef<str>>(items: &[S]) -> Result<BTreeSet<Component>> {
    let mut out = BTreeSet::new();
    for item in items {
        for part in item.as_ref().split(',') {
            if part.trim().is_empty() {
                continue;
            }
            match Component::parse(part) {
                Some(c) => {
                    out.insert(c);
                }
                None => bail!("{}", unknown_component(part)),
            }
        }
    }
    Ok(out)
}

/// "unknown component ...: expected one of ...", with a did-you-mean.
fn unknown_component(part: &str) -> String {
    let part = part.trim();
    let known: Vec<&str> = Component::ALL.iter().map(|c| c.name()).collect();
    let names = Component::ALL
        .iter()
        .flat_map(|c| std::iter::once(c.name()).chain(c.aliases().iter().copied()));
    let guess = crate::schema::closest(part, names)
        .and_then(Component::parse)
        .map(|c| format!("; did you mean {c}?"))
        .unwrap_or_default();
    format!(
        "unknown component {part:?}{guess} (expected one of {})",
        known.join(", ")
    )
}

/// The `--with` value parser: one component per item (the flag splits on
/// commas), case-insensitive, with a did-you-mean; its possible values feed
/// shell completion.
pub fn component_parser() -> ComponentParser {
    ComponentParser
}

#[derive(Clone, Copy, Debug)]
pub struct ComponentParser;

impl clap::builder::TypedValueParser for ComponentParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let text = value.to_string_lossy();
        if text.trim().is_empty() {
            return Ok(String::new());
        }
        match Component::parse(&text) {
            Some(c) => Ok(c.name().to_string()),
            None => {
                let flag = arg
                    .and_then(|a| a.get_long())
                    .map(|l| format!("--{l}: "))
                    .unwrap_or_default();
                let mut cmd = cmd.clone();
                Err(clap::Error::raw(
                    clap::error::ErrorKind::InvalidValue,
                    format!("{flag}{}", unknown_component(&text)),
                )
                .format(&mut cmd))
            }
        }
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(Component::ALL.iter().map(|c| {
            clap::builder::PossibleValue::new(c.name()).aliases(c.aliases().iter().copied())
        })))
    }
}

/// A parser that takes any text but offers the generated secrets' names to
/// shell completion (`gen-passwords --only`); the command checks the names.
pub fn secret_name_parser() -> SecretNameParser {
    SecretNameParser
}

#[derive(Clone, Copy, Debug)]
pub struct SecretNameParser;

impl clap::builder::TypedValueParser for SecretNameParser {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        Ok(value.to_string_lossy().into_owned())
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            schema::generated_secrets().map(|v| clap::builder::PossibleValue::new(v.name)),
        ))
    }
}

/// Effective values: what is set (non-empty) in `.env`, else the schema default.
#[derive(Clone, Debug, Default)]
pub struct Values {
    set: HashMap<String, String>,
}

impl Values {
    pub fn from_file(file: &EnvFile) -> Values {
        // The last assignment wins, as in Compose, even when it is empty.
        let mut set: HashMap<String, String> = file
            .entries()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        set.retain(|_, v| !v.is_empty());
        Values { set }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Values
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Values {
            set: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .filter(|(_, v): &(String, String)| !v.is_empty())
                .collect(),
        }
    }

    /// Every variable set, with its value, in name order.
    pub fn entries(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self
            .set
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        out.sort();
        out
    }

    /// The value set in `.env`, if non-empty.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.set.get(name).map(String::as_str)
    }

    /// The value set in `.env`, else the schema default.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw(name)
            .or_else(|| schema::lookup(name).and_then(|v| v.default))
    }

    pub fn get_or<'a>(&'a self, name: &str, fallback: &'a str) -> &'a str {
        self.get(name).unwrap_or(fallback)
    }

    /// A boolean variable's effective value (unset and invalid read as false;
    /// `check` reports invalid ones).
    pub fn bool(&self, name: &str) -> bool {
        self.get(name).and_then(kind::parse_bool).unwrap_or(false)
    }

    pub fn port(&self, name: &str) -> Option<u16> {
        self.get(name).and_then(kind::parse_port)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    /// Comma-separated list, entries trimmed, empty ones dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The effective value, else `fallback`, owned.
    pub fn text(&self, name: &str, fallback: &str) -> String {
        self.get_or(name, fallback).to_string()
    }

    /// A port, else `fallback` when unset; an invalid value is an error
    /// naming the variable.
    pub fn port_or(&self, name: &str, fallback: u16) -> Result<u16> {
        match self.get(name) {
            None => Ok(fallback),
            Some(raw) => self
                .port(name)
                .ok_or_else(|| anyhow::anyhow!("{name}={raw:?}: expected a port number (1-65535)")),
        }
    }

    /// A host name or address, else `fallback`; anything else is an error.
    pub fn host_or(&self, name: &str, fallback: &str) -> Result<String> {
        let value = self.text(name, fallback);
        if kind::Kind::Host.check(&value).is_err() {
            bail!("{name}={value:?}: expected a host name such as {fallback}");
        }
        Ok(value)
    }

    /// A whole number, else `fallback`; anything else is an error.
    pub fn int_or(&self, name: &str, fallback: i64) -> Result<i64> {
        match self.get(name) {
            None => Ok(fallback),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{name}={raw:?}: expected a whole number")),
        }
    }

    /// PUBLIC_URL without `https://` and a trailing `/`, as the images
    /// derive their public domain (host and port).
    pub fn public_url_domain(&self) -> String {
        let url = self.get_or("PUBLIC_URL", "https://localhost:8443");
        let url = url.strip_prefix("https://").unwrap_or(url);
        url.strip_suffix('/').unwrap_or(url).to_string()
    }

    pub fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.set.remove(name);
        } else {
            self.set.insert(name.to_string(), value.to_string());
        }
    }

    pub fn iter_set(&self) -> impl Iterator<Item = (&str, &str)> {
        self.set.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Where the web container's HTTPS certificate comes from
/// ([`Stack::site_certificate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteCert {
    /// The web container serves no HTTPS: DISABLE_HTTPS=1, or behind a
    /// reverse proxy, which serves it.
    NoHttps,
    /// ENABLE_LETSENCRYPT=1: Let's Encrypt's, issued at boot.
    LetsEncrypt,
    /// A certificate in CONFIG the image serves: the admin's own
    /// (CONFIG/web/keys) or the one an earlier boot kept
    /// (CONFIG/storage/web/keys). `self_issued`: its issuer is itself
    /// (`None`: not a readable certificate).
    File {
        path: PathBuf,
        own: bool,
        self_issued: Option<bool>,
    },
    /// No certificate yet: the image generates a self-signed one
    /// (`openssl req -x509`, CN=*) at its first boot. `keys`: where the
    /// admin's own would go, CONFIG/web/keys.
    Generated { keys: PathBuf },
}

impl SiteCert {
    /// The certificate for these values and the CONFIG directory `config`
    /// ([`Stack::site_certificate`]).
    pub fn read(values: &Values, config: &Path) -> SiteCert {
        if values.bool(BEHIND_PROXY_VAR) || values.bool("DISABLE_HTTPS") {
            return SiteCert::NoHttps;
        }
        if values.bool("ENABLE_LETSENCRYPT") {
            return SiteCert::LetsEncrypt;
        }
        // CONFIG/web is the web container's /config, CONFIG/storage/web
        // its /storage.
        for (dir, own) in [("web/keys", true), ("storage/web/keys", false)] {
            let cert = config.join(dir).join("cert.crt");
            if cert.is_file() && config.join(dir).join("cert.key").is_file() {
                let self_issued = std::fs::read_to_string(&cert)
                    .ok()
                    .and_then(|pem| crate::tls::certificates(&pem).ok())
                    .and_then(|certs| crate::tls::self_issued(&certs[0]));
                return SiteCert::File {
                    path: cert,
                    own,
                    self_issued,
                };
            }
        }
        SiteCert::Generated {
            keys: config.join("web/keys"),
        }
    }

    /// No certificate authority vouches for it.
    pub fn self_signed(&self) -> bool {
        matches!(
            self,
            SiteCert::Generated { .. }
                | SiteCert::File {
                    self_issued: Some(true),
                    ..
                }
        )
    }
}

/// A loaded stack: where it lives, its `.env`, values and components.
#[derive(Debug)]
pub struct Stack {
    pub dir: PathBuf,
    pub env_path: PathBuf,
    pub file: EnvFile,
    pub values: Values,
    pub components: BTreeSet<Component>,
    /// The regular files in `branding/` (names), read with the `.env`: the
    /// model decides the web service's branding mounts from them without
    /// touching the disk (see `crate::branding`).
    pub branding_files: BTreeSet<String>,
}

/// The names of the regular files (not links) directly in `dir`; none when
/// it cannot be read.
pub fn regular_files(dir: &Path) -> BTreeSet<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    rd.flatten()
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// `DIR/.env`, which every command but `init` needs: without it the tool
/// was called in the wrong place, a usage error (exit 2).
pub fn env_path(dir: &Path) -> Result<PathBuf> {
    let path = dir.join(".env");
    if path.exists() {
        Ok(path)
    } else {
        Err(crate::UsageError(format!(
            "no .env in {}: run `jitsi-stack init {}` first, or pass --dir",
            dir.display(),
            dir.display()
        ))
        .into())
    }
}

impl Stack {
    /// Loads `DIR/.env`, adding `with` to the recorded components.
    pub fn load<S: AsRef<str>>(dir: &Path, with: &[S]) -> Result<Stack> {
        let env_path = env_path(dir)?;
        let file = EnvFile::read(&env_path)?;
        let values = Values::from_file(&file);
        let mut components = parse_components(&[values.get_or(WITH_VAR, "")])
            .with_context(|| format!("{}: {WITH_VAR}", env_path.display()))?;
        components.extend(parse_components(with)?);
        Ok(Stack {
            dir: dir.to_path_buf(),
            env_path,
            file,
            values,
            components,
            branding_files: regular_files(&dir.join(crate::layout::BRANDING_DIR)),
        })
    }

    pub fn has(&self, c: Component) -> bool {
        self.components.contains(&c)
    }

    /// Behind a reverse proxy on this host: the web container is published
    /// on 127.0.0.1:HTTP_PORT only and the proxy serves HTTPS.
    pub fn behind_proxy(&self) -> bool {
        self.values.bool(BEHIND_PROXY_VAR)
    }

    /// The certificate the web container serves, as the web image's boot
    /// (stable-11146-2, web/rootfs/etc/s6-overlay/scripts/config, with
    /// defaults/ssl.conf and defaults/default) picks it: none with
    /// DISABLE_HTTPS=1 or behind a proxy; Let's Encrypt's with
    /// ENABLE_LETSENCRYPT=1; else `/config/keys/cert.crt` with `cert.key`
    /// (CONFIG/web/keys, copied in at every boot), else the pair an earlier
    /// boot left in `/storage/keys` (CONFIG/storage/web/keys), else one it
    /// generates, self-signed, at its first boot.
    pub fn site_certificate(&self) -> SiteCert {
        SiteCert::read(&self.values, &self.config_dir())
    }

    /// The site has a self-signed certificate ([`Self::site_certificate`]):
    /// the one the web image generates, or a self-issued one in CONFIG.
    /// Browsers, jibri's Chrome and `smoke` without `--insecure` refuse it.
    pub fn self_signed(&self) -> bool {
        self.site_certificate().self_signed()
    }

    /// The command that probes this stack as a browser would: with
    /// `--insecure` on a self-signed site, where the plain one fails.
    pub fn smoke_command(&self) -> &'static str {
        if self.self_signed() {
            "jitsi-stack smoke --insecure"
        } else {
            "jitsi-stack smoke"
        }
    }

    /// Recording is offered: ENABLE_RECORDING, or the jibri component (which
    /// is there to record or stream). Prosody, jicofo and the web config all
    /// decide with this, so they cannot disagree.
    pub fn recording(&self) -> bool {
        self.values.bool("ENABLE_RECORDING") || self.has(Component::Jibri)
    }

    /// Transcription is offered: ENABLE_TRANSCRIPTIONS, or the transcriber.
    pub fn transcriptions(&self) -> bool {
        self.values.bool("ENABLE_TRANSCRIPTIONS") || self.has(Component::Transcriber)
    }

    /// CONFIG, resolved against the stack directory when relative.
    pub fn config_dir(&self) -> PathBuf {
        let raw = self.values.get_or("CONFIG", "./config");
        let expanded = match raw.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(rest))
                .unwrap_or_else(|| PathBuf::from(raw)),
            None => PathBuf::from(raw),
        };
        if expanded.is_absolute() {
            normalize(&expanded)
        } else {
            normalize(&self.dir.join(expanded))
        }
    }

    /// Where rendered (derived) files go; never holds persistent data.
    pub fn generated_dir(&self) -> PathBuf {
        self.dir.join("generated")
    }

    /// The Compose project name.
    pub fn project_name(&self) -> String {
        if let Some(name) = self.values.raw("COMPOSE_PROJECT_NAME") {
            return name.to_string();
        }
        let base = self
            .dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "jitsi".into());
        sanitize_project_name(&base)
    }

    /// Compose files in `-f` order: the core, then overlays in component order.
    pub fn compose_files(&self) -> Vec<String> {
        let mut files = vec![CORE_COMPOSE_FILE.to_string()];
        files.extend(self.components.iter().map(|c| c.compose_file()));
        files
    }
}

/// One instance of a service that can run several times (`JVB_INSTANCES`,
/// `JIBRI_INSTANCES`). Instance 1 keeps the plain name (`jvb`), instance n
/// is `jvb-n`; its rendered files live in `generated/<name>/`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Instance {
    /// 1-based.
    pub index: u32,
    /// Compose service name and `generated/` subdirectory.
    pub name: String,
}

impl Stack {
    /// The instances of `base` ("jvb" or "jibri"), from `<BASE>_INSTANCES`.
    pub fn instances(&self, base: &str) -> Vec<Instance> {
        let var = format!("{}_INSTANCES", base.to_ascii_uppercase());
        let n = self.values.int(&var).unwrap_or(1).clamp(1, 32) as u32;
        (1..=n)
            .map(|index| Instance {
                index,
                name: if index == 1 {
                    base.to_string()
                } else {
                    format!("{base}-{index}")
                },
            })
            .collect()
    }
}

/// `./demo/./config` -> `demo/config`: drops `.` components, for messages
/// and the commands they suggest (`..` is kept: it may cross a symlink).
pub fn normalize(p: &Path) -> PathBuf {
    let out: PathBuf = p
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// Compose project names: lower-case letters, digits, `-` and `_`, starting
/// with a letter or digit.
pub fn sanitize_project_name(raw: &str) -> String {
    let s: String = raw
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let s = s.trim_start_matches(['-', '_']).to_string();
    if s.is_empty() {
        "jitsi".into()
    } else {
        s
    }
}

/// Stacks for unit tests, made in memory (nothing read from disk): the one
/// place every module's tests take them from.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A stack in `.` with the variables `pairs` and `components`.
    pub(crate) fn stack(pairs: &[(&str, &str)], components: &[Component]) -> Stack {
        stack_in(Path::new("."), pairs, components)
    }

    /// [`stack`] in `dir` (its `.env` there, not read).
    pub(crate) fn stack_in(dir: &Path, pairs: &[(&str, &str)], components: &[Component]) -> Stack {
        Stack {
            dir: dir.to_path_buf(),
            env_path: dir.join(".env"),
            file: EnvFile::default(),
            values: Values::from_pairs(pairs.iter().copied()),
            components: components.iter().copied().collect(),
            branding_files: Default::default(),
        }
    }

    /// A stack in `.` whose `.env` says `text`; its components from
    /// `JITSI_STACK_WITH`.
    pub(crate) fn stack_from_env(text: &str) -> Stack {
        let file = EnvFile::parse(text).unwrap();
        let values = Values::from_file(&file);
        let components = parse_components(&[values.get_or("JITSI_STACK_WITH", "")]).unwrap();
        Stack {
            file,
            values,
            components,
            ..stack(&[], &[])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_parse_and_reject() {
        let c = parse_components(&["jibri,jigasi", "turn"]).unwrap();
        assert_eq!(
            c.into_iter().collect::<Vec<_>>(),
            vec![Component::Jibri, Component::Jigasi, Component::Turn]
        );
        let e = parse_components(&["jibry"]).unwrap_err().to_string();
        assert!(e.contains("jibry") && e.contains("jibri"), "{e}");
    }

    #[test]
    fn last_assignment_wins_even_when_empty() {
        let file = EnvFile::parse("TZ=Europe/Paris\nTZ=\n").unwrap();
        assert_eq!(Values::from_file(&file).raw("TZ"), None);
    }

    #[test]
    fn values_fall_back_to_schema_defaults() {
        let v = Values::from_pairs([("HTTP_PORT", "8000"), ("XMPP_DOMAIN", "")]);
        assert_eq!(v.port("HTTP_PORT"), Some(8000));
        assert_eq!(v.get("XMPP_DOMAIN"), Some("meet.jitsi"));
        assert_eq!(v.raw("XMPP_DOMAIN"), None);
    }

    #[test]
    fn instance_names() {
        let stack = Stack {
            dir: PathBuf::from("."),
            env_path: PathBuf::from(".env"),
            file: EnvFile::default(),
            values: Values::from_pairs([("JVB_INSTANCES", "3")]),
            components: BTreeSet::new(),
            branding_files: Default::default(),
        };
        let names: Vec<_> = stack.instances("jvb").into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["jvb", "jvb-2", "jvb-3"]);
        assert_eq!(stack.instances("jibri").len(), 1);
    }

    #[test]
    fn paths_lose_dot_components() {
        assert_eq!(
            normalize(Path::new("demo/./config")),
            PathBuf::from("demo/config")
        );
        assert_eq!(normalize(Path::new("././config")), PathBuf::from("config"));
        assert_eq!(normalize(Path::new("/abs/./x")), PathBuf::from("/abs/x"));
        assert_eq!(normalize(Path::new("./.")), PathBuf::from("."));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }

    #[test]
    fn project_names() {
        assert_eq!(sanitize_project_name("My Stack.1"), "mystack1");
        assert_eq!(sanitize_project_name("__"), "jitsi");
    }
}
