//! How often a process built the deployment model and rendered the config
//! files: debug and test builds only (a release build has no counters and
//! prints nothing). With `JITSI_STACK_DEBUG_COUNTS=1` the program prints
//! them to stderr as it ends, so a test can see that a command builds the
//! model once and renders once.

#[cfg(debug_assertions)]
use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable that asks for the counts.
pub const VAR: &str = "JITSI_STACK_DEBUG_COUNTS";

#[cfg(debug_assertions)]
static MODEL_BUILDS: AtomicUsize = AtomicUsize::new(0);
#[cfg(debug_assertions)]
static RENDERS: AtomicUsize = AtomicUsize::new(0);

/// One more build of the model ([`crate::stack::Model::build`]).
pub fn model_built() {
    #[cfg(debug_assertions)]
    MODEL_BUILDS.fetch_add(1, Ordering::Relaxed);
}

/// One more render of the config files ([`crate::render::render_configs`]).
pub fn rendered() {
    #[cfg(debug_assertions)]
    RENDERS.fetch_add(1, Ordering::Relaxed);
}

/// `debug counts: model builds N, renders N` when [`VAR`] is `1` (debug
/// builds only).
pub fn report() -> Option<String> {
    #[cfg(debug_assertions)]
    if std::env::var(VAR).as_deref() == Ok("1") {
        return Some(format!(
            "debug counts: model builds {}, renders {}",
            MODEL_BUILDS.load(Ordering::Relaxed),
            RENDERS.load(Ordering::Relaxed)
        ));
    }
    None
}
