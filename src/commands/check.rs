//! `jitsi-stack check`: validate .env without changing it, print a report
//! (text or `--json`), exit 0 when valid, 1 when not, 2 without a .env.

use crate::cli::CheckArgs;
use crate::config::{parse_components, Stack, Values, WITH_VAR};
use crate::envfile::{self, EnvFile, ParseError};
use crate::schema;
use crate::validate::{self, Finding, Level, Report};
use crate::Exit;
use anyhow::Result;
use std::path::Path;

/// Version of the `--json` report layout; bumped only on incompatible changes.
pub const JSON_FORMAT_VERSION: u32 = 1;

pub fn run(dir: &Path, args: CheckArgs) -> Result<Exit> {
    let env_path = crate::config::env_path(dir)?;
    let mut report = load_and_validate(dir, &env_path)?;
    if args.strict {
        for f in &mut report.findings {
            f.level = Level::Error;
        }
    }
    let valid = report.is_valid(args.strict);
    if args.json {
        let doc = serde_json::json!({
            "format_version": JSON_FORMAT_VERSION,
            "image_version": schema::PINNED_IMAGE_VERSION,
            "file": report.file,
            "valid": valid,
            "strict": args.strict,
            "errors": report.errors(),
            "warnings": report.warnings(),
            "findings": report.findings,
            "notes": report.notes,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for f in &report.findings {
            crate::errln!("{f}");
        }
        // Diagnostics (the findings) on stderr, the result (the summary) on
        // stdout, whether the file is valid or not. The summary names each
        // file with findings (branding, kubernetes/), not only .env.
        let summary = summary(&report, args.strict);
        for note in &report.notes {
            crate::outln!("note: {note}");
        }
        crate::outln!("{summary}: {}", if valid { "valid" } else { "invalid" });
    }
    Ok(if valid { Exit::Ok } else { Exit::Invalid })
}

/// `FILE: N errors, M warnings` for `.env` and then for every other file
/// with findings, joined by `; `.
fn summary(report: &Report, strict: bool) -> String {
    let mut files: Vec<&str> = vec![report.file.as_str()];
    for f in &report.findings {
        if !files.contains(&f.file.as_str()) {
            files.push(&f.file);
        }
    }
    let parts: Vec<String> = files
        .iter()
        .map(|file| {
            let of = |level: Level| {
                report
                    .findings
                    .iter()
                    .filter(|f| f.file == *file && f.level == level)
                    .count()
            };
            let (e, w) = (of(Level::Error), of(Level::Warning));
            format!("{file}: {e} error{}, {w} warning{}", plural(e), plural(w))
        })
        .collect();
    format!(
        "{}{}",
        parts.join("; "),
        if strict {
            " (--strict: warnings count as errors)"
        } else {
            ""
        }
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Reads `.env` and validates it. A syntax error is a finding, not a failure;
/// an unknown component is reported by validation at its line rather than
/// aborting the load.
fn load_and_validate(dir: &Path, env_path: &Path) -> Result<Report> {
    let file_name = env_path.display().to_string();
    // Unreadable (permissions, a FIFO, a device): a usage error, exit 2.
    let bytes = crate::fsutil::read_regular(env_path)?;
    let mode = mode_finding(&file_name, env_path);
    let text = match envfile::decode(bytes) {
        Ok(text) => text,
        Err(e) => {
            return Ok(Report {
                file: file_name.clone(),
                findings: vec![syntax_finding(&file_name, "", &e)]
                    .into_iter()
                    .chain(mode)
                    .collect(),
                notes: vec![],
            })
        }
    };
    // Every broken line is reported, and the lines that parsed are still
    // validated: one run shows every problem. What validation says about a
    // variable whose line is broken is left out (it reads as unset there).
    let (file, errors) = EnvFile::parse_all(&text);
    let syntax: Vec<Finding> = errors
        .iter()
        .map(|e| syntax_finding(&file_name, &text, e))
        .collect();
    let values = Values::from_file(&file);
    let components = parse_components(&[values.get_or(WITH_VAR, "")]).unwrap_or_default();
    let stack = Stack {
        dir: dir.to_path_buf(),
        env_path: env_path.to_path_buf(),
        file,
        values,
        components,
        branding_files: crate::config::regular_files(&dir.join(crate::layout::BRANDING_DIR)),
    };
    let mut report = validate::validate(&stack);
    if !syntax.is_empty() {
        let broken: Vec<&str> = syntax
            .iter()
            .filter_map(|f| f.variable.as_deref())
            .collect();
        report
            .findings
            .retain(|f| f.variable.as_deref().is_none_or(|v| !broken.contains(&v)));
        let mut all = syntax;
        all.append(&mut report.findings);
        all.sort_by_key(|f| (f.line.unwrap_or(usize::MAX), std::cmp::Reverse(f.level)));
        report.findings = all;
    }
    report.findings.extend(mode);
    report.findings.extend(kubernetes_findings(&stack)?);
    Ok(report)
}

/// The project's own checks of a rendered `kubernetes/` (what the API
/// schemas miss: names, selectors, references, ports, secrets), when the
/// stack has one: a hand edit or a stale copy is caught before `apply`.
fn kubernetes_findings(stack: &Stack) -> Result<Vec<Finding>> {
    use crate::render::kubernetes::{self as k8s, lint};
    if !stack
        .dir
        .join(k8s::DIR)
        .join("kustomization.yaml")
        .is_file()
    {
        return Ok(vec![]);
    }
    let files = lint::read_dir(&stack.dir)?;
    Ok(lint::check(&files, &k8s::secret_values(stack))
        .into_iter()
        .map(|p| Finding {
            level: Level::Error,
            code: "kubernetes".into(),
            rule: Some(p.check.to_string()),
            release: None,
            file: format!("{}/{}", k8s::DIR, p.file),
            line: None,
            variable: None,
            message: if p.object.is_empty() {
                p.message.clone()
            } else {
                format!("{}: {}", p.object, p.message)
            },
            expected: None,
            found: None,
            fix: Some(
                "run `jitsi-stack render --target kubernetes` to write it again from .env (hand edits are lost)".into(),
            ),
        })
        .collect())
}

/// A warning when `.env` (it holds the stack's passwords) may be read or
/// changed by anyone but its owner. The mode is the file's, through a
/// symlink.
fn mode_finding(file: &str, env_path: &Path) -> Option<Finding> {
    use std::os::unix::fs::MetadataExt;
    let mode = std::fs::metadata(env_path).ok()?.mode() & 0o777;
    if mode & 0o077 == 0 {
        return None;
    }
    let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
        (true, true) => "its group and every other user",
        (true, false) => "its group",
        _ => "every other user",
    };
    Some(Finding {
        level: Level::Warning,
        code: "file-mode".into(),
        rule: None,
        release: None,
        file: file.to_string(),
        line: None,
        variable: None,
        message: format!("holds the stack's passwords, but {who} may read it"),
        expected: Some("mode 0600 (only the owner)".into()),
        found: Some(format!("mode {mode:04o}")),
        fix: Some(format!(
            "chmod 600 {file}  (`jitsi-stack doctor` offers the same)"
        )),
    })
}

/// A finding for a line Compose would misread. When the line assigns a
/// secret, the parser's message (which may quote the line) is not shown.
fn syntax_finding(file: &str, text: &str, e: &ParseError) -> Finding {
    let raw = text.lines().nth(e.line.saturating_sub(1)).unwrap_or("");
    let name: String = raw
        .trim_start_matches('\u{feff}')
        .trim_start()
        .trim_start_matches("export ")
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let var = schema::lookup(&name);
    let secret = var.is_some_and(|v| v.is_secret());
    // The variable is shown once, by the finding's own `: NAME` field.
    let message = if secret {
        "this line is not a valid NAME=VALUE assignment (value not shown: secret)".to_string()
    } else {
        e.message
            .strip_prefix(&format!("{name}: "))
            .filter(|_| !name.is_empty())
            .unwrap_or(&e.message)
            .to_string()
    };
    let found = if secret {
        format!("{name}=… (not shown: secret)")
    } else {
        let shown: String = raw.trim_end().chars().take(60).collect();
        if raw.trim_end().chars().count() > 60 {
            format!("{shown}…")
        } else {
            shown
        }
    };
    let unclosed = e.message.contains("never closed");
    if e.message.contains("not valid UTF-8") {
        return Finding {
            level: Level::Error,
            code: "syntax".into(),
            rule: None,
            release: None,
            file: file.to_string(),
            line: Some(e.line),
            variable: None,
            message: e.message.clone(),
            expected: Some("UTF-8 text, as Compose reads it".into()),
            found: None,
            fix: Some(format!(
                "re-save the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`; line {} is the first bad one",
                e.line
            )),
        };
    }
    Finding {
        level: Level::Error,
        code: "syntax".into(),
        rule: None,
        file: file.to_string(),
        line: Some(e.line),
        variable: (!name.is_empty()).then_some(name),
        message,
        expected: Some(if unclosed {
            "a closing quote on the same value".into()
        } else {
            "NAME=VALUE, a comment starting with #, or a blank line".into()
        }),
        found: Some(found),
        fix: Some(if unclosed {
            format!("close the quote on line {} (or remove it)", e.line)
        } else {
            format!(
                "edit line {} so it reads NAME=VALUE, or start it with # to make it a comment",
                e.line
            )
        }),
        release: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_on_secret_lines_do_not_quote_the_line() {
        let text = "JVB_AUTH_PASSWORD \"hunter2hunter2\n";
        let e = EnvFile::parse(text).unwrap_err();
        let f = syntax_finding(".env", text, &e);
        assert_eq!(f.line, Some(1));
        assert_eq!(f.variable.as_deref(), Some("JVB_AUTH_PASSWORD"));
        assert!(!f.message.contains("hunter2"), "{}", f.message);
    }
}
