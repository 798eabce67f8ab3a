//! The process's standard output and error: every message goes through here.
//!
//! `println!` panics when its stream is a closed pipe (`jitsi-stack ports |
//! head`), which would stop an operation halfway, between two steps of a
//! transaction. These writers never fail: a write to a closed stream is
//! dropped and remembered, the command goes on to its end (or its rollback),
//! and `lib::main` then ends quietly with the command's own exit status.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `bytes` to standard output; a failure is remembered, never raised.
pub fn stdout_bytes(bytes: &[u8]) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out.write_all(bytes).and_then(|()| out.flush()).is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes `bytes` to standard error; a failure is remembered, never raised.
pub fn stderr_bytes(bytes: &[u8]) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut err = std::io::stderr().lock();
    if err.write_all(bytes).and_then(|()| err.flush()).is_err() {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Whether a write to standard output failed (a reader closed the pipe).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Whether a write to standard error failed.
pub fn stderr_closed() -> bool {
    STDERR_CLOSED.load(Ordering::Relaxed)
}

/// `print!` that never panics.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::out::stdout_bytes(format!($($arg)*).as_bytes()) };
}

/// `println!` that never panics.
#[macro_export]
macro_rules! outln {
    () => { $crate::out::stdout_bytes(b"\n") };
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        $crate::out::stdout_bytes(line.as_bytes())
    }};
}

/// `eprint!` that never panics.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::out::stderr_bytes(format!($($arg)*).as_bytes()) };
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! errln {
    () => { $crate::out::stderr_bytes(b"\n") };
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        $crate::out::stderr_bytes(line.as_bytes())
    }};
}

#[cfg(test)]
mod tests {
    #[test]
    fn macros_format_like_print() {
        // Only that they expand and format; the closed-pipe behaviour is
        // tested end to end (tests/cli) where a real pipe can be closed.
        let x = 3;
        crate::outln!("x = {x}");
        crate::errln!("{} {}", "a", x);
        crate::out!("");
        crate::err!("");
        assert!(!super::stdout_closed());
    }
}
