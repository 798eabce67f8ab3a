//! The reports the checking commands share: a check's verdict ([`CheckResult`],
//! from `doctor`, `up`'s preflight and the node checks) and a probe's result
//! ([`Probe`], from `smoke` and the bridges' brewery check).

use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One check's verdict.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    pub status: Status,
    pub check: &'static str,
    pub message: String,
    pub fix: Option<String>,
}

impl CheckResult {
    pub fn is_failure(&self) -> bool {
        self.status == Status::Fail
    }

    pub fn is_warning(&self) -> bool {
        self.status == Status::Warn
    }
}

impl CheckResult {
    /// The finding as printed, its verdict coloured by `paint`.
    pub fn render(&self, paint: crate::color::Painter) -> String {
        let verdict = match self.status {
            Status::Ok => paint.ok("ok  "),
            Status::Warn => paint.warn("warn"),
            Status::Fail => paint.fail("FAIL"),
        };
        let mut s = format!("{verdict} {:<10} {}", self.check, self.message);
        if let Some(fix) = &self.fix {
            s.push_str(&format!("\n     {:<10} {} {fix}", "", paint.hint("fix:")));
        }
        s
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(crate::color::Painter::plain()))
    }
}

pub fn ok(check: &'static str, message: impl Into<String>) -> CheckResult {
    CheckResult {
        status: Status::Ok,
        check,
        message: message.into(),
        fix: None,
    }
}

pub fn bad(
    status: Status,
    check: &'static str,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> CheckResult {
    CheckResult {
        status,
        check,
        message: message.into(),
        fix: Some(fix.into()),
    }
}

/// One probe's result (an element of `probes` in the `--json` report).
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    pub check: String,
    pub url: String,
    pub ok: bool,
    pub detail: String,
    pub ms: u64,
}
