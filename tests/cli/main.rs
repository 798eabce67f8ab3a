//! Integration tests: one binary, one module per area, driven through the
//! real `jitsi-stack` executable with the [`Test`] builder.

mod harness;

mod basics;

pub use harness::{Run, Test};
