//! Validation of a stack's `.env` against the schema: per-variable types,
//! unknown and deprecated names, weak and reused secrets, cross-variable rules.

use crate::config::{Stack, WITH_VAR};
use crate::envfile::Entry;
use crate::schema::{self, rules, Secret};
use serde::Serialize;
use std::collections::HashMap;

pub use crate::schema::rules::Level;

/// One problem found.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub level: Level,
    /// Stable identifier of the check (`type`, `unknown`, a rule id, ...).
    pub code: String,
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
                format!("a {}-character secret", entry.value.chars().count())
            } else {
                format!("{:?}", entry.value)
            };
            let f = out.push(
                Level::Error,
                "type",
                Some(entry),
                Some(var.name),
                format!("invalid {}", var.kind.name()),
            );
            f.expected = Some(expected);
            f.found = Some(found);
            f.fix = Some(format!("edit line {} of .env", entry.line));
        }
        if var.is_secret() {
            if let Some(why) = crate::secrets::weakness(&entry.value) {
                let level = if var.secret == Secret::Generated {
                    Level::Error
                } else {
                    Level::Warning
                };
                let f = out.push(
                    level,
                    "weak-secret",
                    Some(entry),
                    Some(var.name),
                    format!("weak password: {why}"),
                );
                f.fix = Some(if var.secret == Secret::Generated {
                    format!("empty it and run `jitsi-stack gen-passwords`, or `jitsi-stack gen-passwords --force --only {}`", var.name)
                } else {
                    "use a long random value".into()
                });
            }
        }
    }

    // Internal passwords must be distinct: a shared password lets one service
    // log in as another.
    let mut by_value: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for var in schema::generated_secrets() {
        if let Some(e) = stack.file.entry(var.name) {
            if !e.value.is_empty() {
                by_value.entry(e.value.as_str()).or_default().push(e);
            }
        }
    }
    let mut reused: Vec<_> = by_value.into_values().filter(|es| es.len() > 1).collect();
    reused.sort_by_key(|es| es[0].line);
    for group in reused {
        let names: Vec<&str> = group.iter().map(|e| e.key.as_str()).collect();
        for e in &group[1..] {
            let f = out.push(
                Level::Error,
                "reused-secret",
                Some(e),
                Some(&e.key),
                format!("same password as {}", names[0]),
            );
            f.fix = Some(format!(
                "give each account its own password: `jitsi-stack gen-passwords --force --only {}`",
                e.key
            ));
        }
    }

    for var in schema::generated_secrets() {
        if stack.values.raw(var.name).is_none() && needed(var, stack) {
            let f = out.push(
                Level::Error,
                "missing-secret",
                stack.file.entry(var.name),
                Some(var.name),
                "empty: the containers refuse to start without it".into(),
            );
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
        f.fix = Some(v.fix);
    }

    findings.sort_by_key(|f| (f.line.unwrap_or(usize::MAX), std::cmp::Reverse(f.level)));
    Report { file, findings }
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

/// Variables read by Compose or the shell rather than the images.
fn is_foreign(name: &str) -> bool {
    name.starts_with("COMPOSE_")
        || name.starts_with("DOCKER_") && name != "DOCKER_HOST_ADDRESS"
        || name == WITH_VAR
}
