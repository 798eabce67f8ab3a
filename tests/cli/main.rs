//! Integration tests: one binary, one module per area, driven through the
//! real `jitsi-stack` executable with the [`Test`] builder.

// Tests report what they ran on stderr; the binary itself never uses print!.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod harness;

mod basics;

mod check;

mod envfile;

mod init;
// enable|disable COMPONENT.
mod components;

mod compose;

mod render_web;

mod web_boot;

mod branding;

mod render_prosody;

mod prosody_boot;

mod visitors;

mod visitors_doctor;
mod visitors_live;
mod visitors_nodes;

mod jvm_check;

mod render_jvm;

mod render_jigasi;

mod render_jibri;

mod ops;
// The completion scripts in bash, zsh and fish.
mod completion;

mod matrix;

mod hostile;

mod ci;
mod migrate;
mod nodes;
mod pin_diff;
mod proxy;

mod crash;
mod netns;

mod concurrency;

mod journal;
// Issue 18's rough edges: one output convention, rollback's wait,
// gen-passwords' weak values, completion.
mod first_week;
mod layers;
// Issue 17: one model build and one render per command.
mod counts;

mod journal_kill;

mod safety;

mod docs;

#[allow(unused_imports)]
pub use harness::{init_stack, Run, Test};
mod kubernetes;
mod kubernetes_objects;
mod kubernetes_ops;
mod kubernetes_visitors;
