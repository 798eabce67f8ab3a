//! The docker runner: every external process jitsi-stack starts goes through
//! here, so tests can put a fake `docker` first on PATH.

use crate::Exit;

/// Why running docker failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// Neither `docker compose` nor `docker-compose` could be started.
    #[error("{0}")]
    NotFound(String),
    /// Docker ran and exited non-zero.
    #[error("`{command}` exited with status {status}")]
    Status { command: String, status: i32 },
}

impl DockerError {
    pub fn exit(&self) -> Exit {
        match self {
            DockerError::NotFound(_) => Exit::DockerMissing,
            DockerError::Status { status, .. } => Exit::Docker(*status),
        }
    }
}
