//! Validation of a stack's `.env` against the schema: per-variable types,
//! unknown and deprecated names, weak and reused secrets, cross-variable rules.

use crate::config::{Component, Stack, RELEASE_VAR, WITH_VAR};
use crate::envfile::Entry;
use crate::schema::history::{self, Fate};
use crate::schema::{self, Secret};
use crate::stack::nodes;
use serde::Serialize;
use std::collections::HashMap;

pub mod branding;
pub mod rules;

pub use crate::schema::Level;

/// One problem found.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub level: Level,
    /// Stable identifier of the check: `syntax`, `type`, `unknown`,
    /// `deprecated`, `duplicate`, `weak-secret`, `reused-secret`,
    /// `missing-secret`, `release` (the stack needs `upgrade`), `rule` or
    /// `node` (the nodes and their passwords).
    pub code: String,
    /// For `code: "rule"`, the rule's id (see `jitsi-stack schema`).
    pub rule: Option<String>,
    pub file: String,
    /// 1-based line in `.env`, when the variable is set there.
    pub line: Option<usize>,
    pub variable: Option<String>,
    pub message: String,
    pub expected: Option<String>,
    /// What was found; secrets are never echoed.
    pub found: Option<String>,
    pub fix: Option<String>,
    /// For `code: "deprecated"`, the release that removed or renamed the
    /// variable, from upstream's tags (see `jitsi-stack schema`).
    pub release: Option<String>,
}

/// The result of validating one `.env`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub file: String,
    pub findings: Vec<Finding>,
    /// Explanations that are not problems (how visitors are admitted).
    pub notes: Vec<String>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Warning)
            .count()
    }

    /// Valid when there is no error (and, with `strict`, no warning).
    pub fn is_valid(&self, strict: bool) -> bool {
        self.errors() == 0 && (!strict || self.warnings() == 0)
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(f, "{level}: {}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(var) = &self.variable {
            write!(f, ": {var}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(rule) = &self.rule {
            write!(f, " [rule {rule}]")?;
        }
        if let Some(e) = &self.expected {
            write!(f, "\n  expected: {e}")?;
        }
        if let Some(found) = &self.found {
            write!(f, "\n  found:    {found}")?;
        }
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix:      {fix}")?;
        }
        Ok(())
    }
}

struct Findings<'a> {
    file: &'a str,
    list: &'a mut Vec<Finding>,
}

impl Findings<'_> {
    fn push(
        &mut self,
        level: Level,
        code: &str,
        entry: Option<&Entry>,
        var: Option<&str>,
        message: String,
    ) -> &mut Finding {
        self.list.push(Finding {
            level,
            code: code.to_string(),
            rule: None,
            file: self.file.to_string(),
            line: entry.map(|e| e.line),
            variable: var.map(String::from),
            message,
            expected: None,
            found: None,
            fix: None,
            release: None,
        });
        self.list.last_mut().expect("just pushed")
    }
}

/// Validates a loaded stack.
pub fn validate(stack: &Stack) -> Report {
    let file = stack.env_path.display().to_string();
    let mut findings = Vec::new();
    let mut out = Findings {
        file: &file,
        list: &mut findings,
    };
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for entry in stack.file.entries() {
        if let Some(first) = seen.insert(&entry.key, entry.line) {
            let f = out.push(
                Level::Warning,
                "duplicate",
                Some(entry),
                Some(&entry.key),
                format!("set again (first on line {first}); Compose uses this last value"),
            );
            f.fix = Some("delete one of the two lines".into());
        }
        let Some(var) = schema::lookup(&entry.key) else {
            // Node lines and passwords are checked by `stack::checks` below.
            if is_foreign(&entry.key) || nodes::classify(&entry.key).is_some() {
                continue;
            }
            let f = out.push(
                Level::Warning,
                "unknown",
                Some(entry),
                Some(&entry.key),
                "not a variable the pinned Jitsi images read; it has no effect".into(),
            );
            f.fix = Some(match schema::suggest(&entry.key) {
                Some(s) => format!("did you mean {s}?"),
                None => "remove it, or check the spelling against `jitsi-stack schema`".into(),
            });
            continue;
        };
        if let Some(r) = history::retirement(var) {
            let new: Vec<&str> = r.replacements.clone();
            let message = match (r.fate, new.is_empty()) {
                (Fate::Removed, true) => format!("{}: delete this line", r.summary()),
                (Fate::Removed, false) => {
                    format!("{}: use {} instead", r.summary(), new.join(" and "))
                }
                (Fate::Renamed, _) => format!("deprecated: {}", r.summary()),
                (Fate::Unread | Fate::SetByCompose, _) => {
                    format!("deprecated: {}: it has no effect", r.summary())
                }
            };
            let f = out.push(
                Level::Warning,
                "deprecated",
                Some(entry),
                Some(var.name),
                message,
            );
            f.release = r.when.map(|w| w.release().to_string());
            f.fix = Some(match new.as_slice() {
                [] => format!("delete line {} of .env", entry.line),
                [one] => format!("rename it to {one}"),
                many => format!(
                    "replace it with {} (`jitsi-stack upgrade` or `migrate` does it)",
                    many.join(" and ")
                ),
            });
        }
        if entry.value.is_empty() {
            continue;
        }
        if let Err(expected) = var.kind.check(&entry.value) {
            let found = if var.is_secret() {
                crate::secrets::secret_length(entry.value.chars().count())
            } else {
                shown(&entry.value)
            };
            let f = out.push(
                Level::Error,
                "type",
                Some(entry),
                Some(var.name),
                match var.kind {
                    schema::Kind::Enum { .. } => "not one of the values it takes".to_string(),
                    schema::Kind::EnumList { .. } => {
                        "not a list of the values it takes".to_string()
                    }
                    _ => format!("not a valid {}", var.kind.name()),
                },
            );
            f.expected = Some(expected);
            f.found = Some(found);
            f.fix = Some(type_fix(var, &entry.value, entry.line));
        }
        if var.name == WITH_VAR {
            if let Err(e) = crate::config::parse_components(&[entry.value.as_str()]) {
                let f = out.push(
                    Level::Error,
                    "type",
                    Some(entry),
                    Some(var.name),
                    "names an unknown component".into(),
                );
                f.expected = Some(format!(
                    "comma-separated components: {}",
                    Component::ALL
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                f.found = Some(format!("{:?} ({e})", entry.value));
                f.fix = Some(format!("edit line {} of .env", entry.line));
            }
        }
        if var.is_secret() && var.deprecated.is_none() {
            if let Some(weak) = crate::secrets::weakness(&entry.value) {
                // A published value is always an error; a merely short one is
                // an error only for passwords we generate (a SIP provider or
                // LDAP admin may dictate a short one).
                let level = if weak.known || var.secret == Secret::Generated {
                    Level::Error
                } else {
                    Level::Warning
                };
                let f = out.push(
                    level,
                    "weak-secret",
                    Some(entry),
                    Some(var.name),
                    format!("weak password: {}", weak.why),
                );
                f.expected = Some(format!(
                    "a random value of at least {} characters",
                    crate::secrets::MIN_LEN
                ));
                f.found = Some(weak.found);
                f.fix = Some(if var.secret == Secret::Generated {
                    format!(
                        "run `jitsi-stack gen-passwords --force --only {}` (or empty it and run `jitsi-stack gen-passwords`)",
                        var.name
                    )
                } else {
                    format!(
                        "set {} to the real credential; never an example value",
                        var.name
                    )
                });
            }
        }
    }

    // Passwords must be distinct: a shared password lets one service log in
    // as another, and leaks every account when one leaks.
    let mut by_value: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for var in schema::VARS
        .iter()
        .filter(|v| v.is_secret() && v.deprecated.is_none())
    {
        if let Some(e) = stack.file.entry(var.name) {
            if !e.value.is_empty() {
                by_value.entry(e.value.as_str()).or_default().push(e);
            }
        }
    }
    let mut reused: Vec<_> = by_value.into_values().filter(|es| es.len() > 1).collect();
    for group in &mut reused {
        group.sort_by_key(|e| e.line);
    }
    reused.sort_by_key(|es| es[0].line);
    for group in reused {
        let names: Vec<&str> = group.iter().map(|e| e.key.as_str()).collect();
        for e in &group[1..] {
            let f = out.push(
                Level::Error,
                "reused-secret",
                Some(e),
                Some(&e.key),
                format!("same password as {} (line {})", names[0], group[0].line),
            );
            f.expected = Some(format!("a password different from {}", names[0]));
            f.found = Some(format!("the value of {} (not shown: secret)", names[0]));
            let generated = schema::lookup(&e.key).is_some_and(|v| v.secret == Secret::Generated);
            f.fix = Some(if generated {
                format!(
                    "give each account its own password: `jitsi-stack gen-passwords --force --only {}`",
                    e.key
                )
            } else {
                format!("set {} to its own credential", e.key)
            });
        }
    }

    // A bundle carries the node's secrets only (`stack::checks` checks them).
    let bundle = nodes::is_bundle(&stack.values);
    for var in schema::generated_secrets() {
        if !bundle && stack.values.raw(var.name).is_none() && needed(var, stack) {
            let f = out.push(
                Level::Error,
                "missing-secret",
                stack.file.entry(var.name),
                Some(var.name),
                "empty: the service using it cannot log in (the core containers refuse to start)"
                    .into(),
            );
            f.expected = Some("a generated password".into());
            f.found = Some(format!("{} empty", var.name));
            f.fix = Some("run `jitsi-stack gen-passwords`".into());
        }
    }

    if let Some(e) = stack.file.entry(RELEASE_VAR) {
        release_finding(&mut out, e);
    }

    // CONFIG gets the data directories, handed to the containers' uid:
    // never a directory of the system's own, unless `init --force` said so.
    if !stack.values.bool(ALLOW_SYSTEM_CONFIG) {
        let config = stack.config_dir();
        if let Some(why) = crate::fsutil::system_dir(&config) {
            let raw = stack.values.get_or("CONFIG", "./config").to_string();
            let f = out.push(
                Level::Error,
                "config-dir",
                stack.file.entry("CONFIG"),
                Some("CONFIG"),
                format!("{why}: the services' data directories would be created there and handed to uid 1000"),
            );
            f.expected = Some(
                "a directory of the stack's own, such as ./config or /srv/jitsi/config".into(),
            );
            f.found = Some(format!("CONFIG={raw}"));
            f.fix = Some(format!(
                "set CONFIG to a directory of its own; if you really mean it, `jitsi-stack init --force` sets {ALLOW_SYSTEM_CONFIG}=1"
            ));
        }
    }

    let site = stack.site_certificate();
    let input = rules::Input {
        values: &stack.values,
        components: &stack.components,
        site: &site,
    };
    // In a bundle only the rules about the node's own services apply; the
    // others judge the main host's settings, which the main host checked.
    // Recorder nodes are the recorders a recording button needs.
    let recorder_nodes = nodes::nodes(&stack.file)
        .iter()
        .any(|n| n.kind == nodes::NodeKind::Jibri);
    let rules = rules::check(&input)
        .into_iter()
        .filter(|v| !bundle || NODE_RULES.contains(&v.rule))
        .filter(|v| !(recorder_nodes && v.rule == "recording"));
    for v in rules {
        let entry = stack.file.entry(v.var);
        let f = out.push(v.level, "rule", entry, Some(v.var), v.message);
        f.rule = Some(v.rule.to_string());
        f.expected = v.expected;
        f.found = v.found;
        f.fix = Some(v.fix);
    }

    for p in crate::stack::checks::check(stack) {
        let f = out.push(p.level, "node", None, Some(&p.var), p.message);
        f.line = p.line;
        f.expected = p.expected;
        f.found = p.found;
        f.fix = Some(p.fix);
    }
    cluster_nodes(stack, &mut out);
    // The branding directory and the BRANDING_* formats.
    findings.extend(branding::check(stack));

    findings.sort_by_key(|f| (f.line.unwrap_or(usize::MAX), std::cmp::Reverse(f.level)));
    Report {
        file,
        findings,
        notes: crate::stack::visitors::explain(&stack.values),
    }
}

/// JITSI_STACK_K8S_CLUSTER_NODES names bridge nodes with a region: their
/// bridges run in the cluster, placed by it.
fn cluster_nodes(stack: &Stack, out: &mut Findings<'_>) {
    const VAR: &str = "JITSI_STACK_K8S_CLUSTER_NODES";
    let all = nodes::nodes(&stack.file);
    for name in stack.values.list(VAR) {
        let problem = match all.iter().find(|n| n.name == name) {
            None => Some(format!("names {name}, which is no node of this stack")),
            Some(n) if n.kind != nodes::NodeKind::Jvb => {
                Some(format!("names {name}, a {} node: only bridge nodes run in the cluster", n.kind))
            }
            Some(n) if n.region.is_none() => Some(format!(
                "names {name}, which has no region=: a cluster node's bridges are placed by their region (topology.kubernetes.io/region)"
            )),
            Some(_) => None,
        };
        if let Some(message) = problem {
            let f = out.push(
                Level::Error,
                "node",
                stack.file.entry(VAR),
                Some(VAR),
                message,
            );
            f.expected = Some(
                "names of bridge nodes (JITSI_STACK_NODE_* lines of kind jvb) with region=".into(),
            );
            f.found = Some(format!("{VAR}={}", stack.values.get_or(VAR, "")));
            f.fix = Some(format!(
                "add region=NAME to node {name}'s line (`jitsi-stack node add`), or remove {name} from {VAR}"
            ));
        }
    }
}

/// A stack written for another release than this jitsi-stack's cannot be
/// rendered as it is: its data layout and variables are that release's.
fn release_finding(out: &mut Findings<'_>, e: &Entry) {
    use std::cmp::Ordering;
    let pinned = schema::PINNED_IMAGE_VERSION;
    let (message, fix) = match history::compare(&e.value, pinned) {
        None | Some(Ordering::Equal) => return,
        Some(Ordering::Less) => (
            format!(
                "this stack was written for {}; this jitsi-stack writes files for {pinned}",
                e.value
            ),
            "run `jitsi-stack upgrade`: it backs up the stack, carries the variables and data across the releases in between, and renders (`jitsi-stack rollback` undoes it)".to_string(),
        ),
        Some(Ordering::Greater) => (
            format!(
                "this stack was written by a newer jitsi-stack, for {}; this one writes files for {pinned}",
                e.value
            ),
            format!("use a jitsi-stack pinned to {} or later", e.value),
        ),
    };
    let f = out.push(Level::Error, "release", Some(e), Some(RELEASE_VAR), message);
    f.expected = Some(pinned.to_string());
    f.found = Some(format!("{RELEASE_VAR}={}", e.value));
    f.fix = Some(fix);
}

/// The fix for a value of the wrong type, with a concrete suggestion where
/// the value is close to a valid one.
fn type_fix(var: &schema::Var, value: &str, line: usize) -> String {
    use crate::schema::Kind;
    let suggestion = match var.kind {
        Kind::Bool | Kind::Flag => crate::schema::kind::parse_bool(value)
            .or(match value.to_ascii_lowercase().as_str() {
                "yes" | "on" | "t" => Some(true),
                "no" | "off" | "f" => Some(false),
                _ => None,
            })
            .map(|b| match (var.kind, b) {
                (Kind::Flag, true) => "1",
                (Kind::Flag, false) => "0",
                (_, true) => "true",
                (_, false) => "false",
            })
            .map(String::from),
        _ => var.kind.suggest(value),
    };
    match suggestion {
        Some(s) => format!("write {}={s} on line {line} of .env", var.name),
        None => format!("edit line {line} of .env"),
    }
}

/// Whether a generated secret matters for the enabled components.
fn needed(var: &schema::Var, stack: &Stack) -> bool {
    use crate::config::Component;
    use schema::Reader;
    var.services.iter().any(|s| match s {
        Reader::Jibri => stack.has(Component::Jibri),
        Reader::Jigasi => stack.has(Component::Jigasi),
        Reader::Transcriber => stack.has(Component::Transcriber),
        Reader::Turn => stack.has(Component::Turn),
        Reader::Compose => {
            var.name == "GF_SECURITY_ADMIN_PASSWORD" && stack.has(Component::Monitoring)
        }
        Reader::Prosody | Reader::Jicofo | Reader::Jvb | Reader::Web => {
            // Secrets of optional components are also read by prosody; only the
            // core accounts are needed by the core alone.
            matches!(
                var.name,
                "JICOFO_AUTH_PASSWORD" | "JVB_AUTH_PASSWORD" | "JICOFO_COMPONENT_SECRET"
            )
        }
        _ => false,
    })
}

/// The rules that judge a node's own services (see `jitsi-stack schema`).
const NODE_RULES: &[&str] = &["jvb-ports", "jigasi-ports", "image-version"];

/// Set by `init --force`: CONFIG may be a system directory.
pub const ALLOW_SYSTEM_CONFIG: &str = "JITSI_STACK_ALLOW_SYSTEM_CONFIG";

/// Variables read by Compose or the Docker CLI rather than the images
/// (`COMPOSE_PROFILES`, `DOCKER_HOST`, ...); known ones are in the schema.
fn is_foreign(name: &str) -> bool {
    name.starts_with("COMPOSE_") || name.starts_with("DOCKER_")
}

/// A value as quoted in a message, shortened when it is long.
fn shown(value: &str) -> String {
    const MAX: usize = 80;
    let count = value.chars().count();
    if count <= MAX {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head:?}... ({count} characters)")
    }
}
