//! Configuration of the JVM services: jicofo and the videobridges (HOCON,
//! read by Typesafe Config), jigasi and the transcriber (Java properties),
//! jibri (HOCON). Each service has its own module; what they share lives here:
//! `logging.properties` (java.util.logging) and the Sentry switch.

pub mod jibri;
pub mod jicofo;
pub mod jigasi;
pub mod jvb;

use super::{render_template, Output};
use crate::config::{Stack, Values};
use crate::stack::{Kind, Model};
use anyhow::Result;
use minijinja::{Environment, Value};
use serde::Serialize;

/// Templates of every JVM service: (name under templates/, source).
pub fn templates() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    TEMPLATES
        .iter()
        .chain(jicofo::TEMPLATES)
        .chain(jvb::TEMPLATES)
        .chain(jigasi::TEMPLATES)
        .chain(jibri::TEMPLATES)
}

static TEMPLATES: &[(&str, &str)] = &[(
    "jvm/logging.properties.j2",
    include_str!("../../../templates/jvm/logging.properties.j2"),
)];

/// Renders the configs of the JVM services the model runs: jicofo, every
/// bridge, jigasi and the transcriber, every recorder.
pub fn render(
    env: &Environment<'_>,
    stack: &Stack,
    model: &Model,
    ctx: &Value,
    out: &mut Output,
) -> Result<()> {
    let has = |k: Kind| model.of_kind(k).next().is_some();
    if has(Kind::Jicofo) {
        jicofo::render(env, stack, ctx, out)?;
    }
    jvb::render(env, stack, &model.bridges, ctx, out)?;
    let modes: Vec<jigasi::Mode> = [
        (Kind::Jigasi, jigasi::Mode::Sip),
        (Kind::Transcriber, jigasi::Mode::Transcriber),
    ]
    .into_iter()
    .filter(|(k, _)| has(*k))
    .map(|(_, m)| m)
    .collect();
    jigasi::render(env, stack, &modes, ctx, out)?;
    jibri::render(env, stack, &model.recorders, ctx, out)?;
    Ok(())
}

/// A name that becomes the local part of an XMPP address (`name@domain`):
/// a service account or a brewery room. Letters, digits and `. _ - +` only:
/// `@`, `/`, quotes or white space would name another account or room.
pub fn xmpp_name(var: &str, value: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if !ok {
        anyhow::bail!(
            "{var}={value:?}: it becomes the name part of an XMPP address (name@domain), where only \
             letters, digits and . _ - + keep their meaning; choose a plain name such as the default"
        );
    }
    Ok(value.to_string())
}

/// What a service's `logging.properties` says.
#[derive(Debug, Clone, Serialize)]
pub struct Logging {
    /// The name Jitsi's log formatter prints (`JVB`, `Jicofo`, ...).
    pub program: &'static str,
    /// Send warnings to Sentry as well as to the console.
    pub sentry: bool,
}

/// Whether the Sentry DSN variable `var` turns Sentry on: set to something
/// other than the compose default `0` (which means off).
pub fn sentry_on(v: &Values, var: &str) -> bool {
    v.raw(var)
        .is_some_and(|dsn| !matches!(dsn.trim(), "" | "0" | "false"))
}

/// `logging.properties` for one JVM service: the console handler with
/// Jitsi's formatter, at INFO; Sentry's handler (WARNING and up) when on.
pub fn logging_properties(
    env: &Environment<'_>,
    ctx: &Value,
    program: &'static str,
    sentry: bool,
) -> Result<String> {
    let logging = Logging { program, sentry };
    let ctx = minijinja::context! { logging => Value::from_serialize(&logging), ..ctx.clone() };
    render_template(env, "jvm/logging.properties.j2", &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentry_is_off_for_the_compose_default() {
        let v = Values::from_pairs([("A", "0"), ("B", "https://key@sentry.example.org/1")]);
        assert!(!sentry_on(&v, "A"));
        assert!(sentry_on(&v, "B"));
        assert!(!sentry_on(&v, "UNSET"));
    }
}
