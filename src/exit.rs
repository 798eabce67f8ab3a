//! Exit codes: a small documented set (see docs/commands.md, "Exit codes").

/// What the process reports to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok,
    /// The checked thing is invalid or unhealthy (`check`, `doctor`, `smoke`, `up` timeout).
    Invalid,
    /// Bad usage or an error before any check could run (unreadable file, bad flag).
    Usage,
    /// Docker could not be started at all.
    DockerMissing,
    /// Docker ran and exited with this status; passed through.
    Docker(i32),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Invalid => 1,
            Exit::Usage => 2,
            Exit::DockerMissing => 127,
            Exit::Docker(n) => u8::try_from(n.clamp(1, 255)).unwrap_or(1),
        }
    }
}

/// An error caused by how the tool was called (missing .env, bad flag
/// combination): exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
