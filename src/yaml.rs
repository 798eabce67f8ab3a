//! YAML output. serde_yaml is archived upstream: every YAML use goes through
//! this module so the crate can be swapped in one place.

use anyhow::Result;
use serde::Serialize;

/// Serialises `value` as a YAML document.
pub fn to_string<T: Serialize>(value: &T) -> Result<String> {
    Ok(serde_yaml::to_string(value)?)
}

/// Parses YAML into a generic value (tests and `render --diff` use it).
pub fn parse(text: &str) -> Result<serde_yaml::Value> {
    Ok(serde_yaml::from_str(text)?)
}
