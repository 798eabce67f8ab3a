//! Validation of a stack's `.env` against the schema: per-variable types,
//! unknown and deprecated names, weak and reused secrets, cross-variable rules.

use crate::config::{Component, Stack, WITH_VAR};
use crate::envfile::Entry;
use crate::schema::{self, rules, Secret};
use serde::Serialize;
use std::collections::HashMap;

pub use crate::schema::rules::Level;

/// One problem found.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub level: Level,
    /// Stable identifier of the check: `syntax`, `type`, `unknown`,
    /// `deprecated`, `duplicate`, `weak-secret`, `reused-secret`,
    /// `missing-secret` or `rule`.
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
}

/// The result of validating one `.env`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub file: String,
    pub findings: Vec<Finding>,
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
            if is_foreign(&entry.key) {
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
        if let Some(why) = var.deprecated {
            let f = out.push(
                Level::Warning,
                "deprecated",
                Some(entry),
                Some(var.name),
                format!("deprecated: {why}"),
            );
            f.fix = Some(match var.replaced_by {
                Some(new) => format!("rename it to {new}"),
                None => "remove it".into(),
            });
        }
        if entry.value.is_empty() {
            continue;
        }
        if let Err(expected) = var.kind.check(&entry.value) {
            let found = if var.is_secret() {
                format!(
                    "a {}-character value (not shown: secret)",
                    entry.value.chars().count()
                )
            } else {
                shown(&entry.value)
            };
            let f = out.push(
                Level::Error,
                "type",
                Some(entry),
                Some(var.name),
                format!("not a valid {}", var.kind.name()),
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

    for var in schema::generated_secrets() {
        if stack.values.raw(var.name).is_none() && needed(var, stack) {
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

    let input = rules::Input {
        values: &stack.values,
        components: &stack.components,
    };
    for v in rules::check(&input) {
        let entry = stack.file.entry(v.var);
        let f = out.push(v.level, "rule", entry, Some(v.var), v.message);
        f.rule = Some(v.rule.to_string());
        f.expected = v.expected;
        f.found = v.found;
        f.fix = Some(v.fix);
    }

    findings.sort_by_key(|f| (f.line.unwrap_or(usize::MAX), std::cmp::Reverse(f.level)));
    Report { file, findings }
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
            }),
        _ => None,
    };
    match suggestion {
        Some(s) => format!("write {}={s} on line {line} of .env", var.name),
        None => format!("edit line {line} of .env"),
    }
}

/// Whether a generated secret matters for the enabled components.
fn needed(var: &schema::Var, stack: &Stack) -> bool {
    use crate::config::Component;
    use schema::Service;
    var.services.iter().any(|s| match s {
        Service::Jibri => stack.has(Component::Jibri),
        Service::Jigasi => stack.has(Component::Jigasi),
        Service::Transcriber => stack.has(Component::Transcriber),
        Service::Turn => stack.has(Component::Turn),
        Service::Compose => {
            var.name == "GF_SECURITY_ADMIN_PASSWORD" && stack.has(Component::Monitoring)
        }
        Service::Prosody | Service::Jicofo | Service::Jvb | Service::Web => {
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
