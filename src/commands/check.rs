//! `jitsi-stack check`: validate .env, print a report, exit 0/1.

use crate::cli::CheckArgs;
use crate::config::Stack;
use crate::validate::{self, Finding, Level, Report};
use crate::{Exit, UsageError};
use anyhow::Result;
use std::path::Path;

pub fn run(dir: &Path, args: CheckArgs) -> Result<Exit> {
    if !dir.join(".env").exists() {
        return Err(UsageError(format!(
            "no .env in {}: run `jitsi-stack init` first, or pass --dir",
            dir.display()
        ))
        .into());
    }
    let report = match Stack::load(dir, &[] as &[&str]) {
        Ok(stack) => validate::validate(&stack),
        Err(e) => Report {
            file: dir.join(".env").display().to_string(),
            findings: vec![Finding {
                level: Level::Error,
                code: "syntax".into(),
                file: dir.join(".env").display().to_string(),
                line: e
                    .chain()
                    .find_map(|c| c.downcast_ref::<crate::envfile::ParseError>())
                    .map(|p| p.line),
                variable: None,
                message: format!("{e:#}"),
                expected: None,
                found: None,
                fix: Some("edit that line so it reads NAME=VALUE".into()),
            }],
        },
    };
    let valid = report.is_valid(args.strict);
    if args.json {
        let doc = serde_json::json!({
            "valid": valid,
            "strict": args.strict,
            "errors": report.errors(),
            "warnings": report.warnings(),
            "file": report.file,
            "findings": report.findings,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for f in &report.findings {
            eprintln!("{f}");
        }
        if valid {
            println!(
                "{}: valid ({} warning{})",
                report.file,
                report.warnings(),
                if report.warnings() == 1 { "" } else { "s" }
            );
        } else {
            eprintln!(
                "{}: {} error(s), {} warning(s){}",
                report.file,
                report.errors(),
                report.warnings(),
                if args.strict {
                    " (--strict: warnings count as errors)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(if valid { Exit::Ok } else { Exit::Invalid })
}
