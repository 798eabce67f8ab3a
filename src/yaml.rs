//! YAML output. serde_yaml is archived upstream: every YAML use goes through
//! this module so the crate can be swapped in one place.

use anyhow::Result;
use serde::Serialize;

/// Serialises `value` as a YAML document.
pub fn to_string<T: Serialize>(value: &T) -> Result<String> {
    Ok(serde_yaml::to_string(value)?)
}

/// A YAML document that starts with `comment` (each line as a `#` comment):
/// serde_yaml cannot emit comments, so the text is prepended.
pub fn to_string_with_comment<T: Serialize>(comment: &str, value: &T) -> Result<String> {
    let mut out = String::new();
    for line in comment.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&to_string(value)?);
    Ok(out)
}

/// Parses YAML into a generic value (tests and `render --diff` use it).
pub fn parse(text: &str) -> Result<serde_yaml::Value> {
    Ok(serde_yaml::from_str(text)?)
}

/// Parses every document of a YAML stream (`---`-separated) as JSON
/// values; empty documents are skipped.
pub fn documents(text: &str) -> Result<Vec<serde_json::Value>> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(doc)?;
        let json = serde_json::to_value(value)?;
        if !json.is_null() {
            out.push(json);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn comment_header_keeps_the_document() {
        let text = super::to_string_with_comment("a\nb", &vec!["x: y"]).unwrap();
        assert!(text.starts_with("# a\n# b\n"), "{text}");
        let back = super::parse(&text).unwrap();
        assert_eq!(back[0].as_str(), Some("x: y"));
    }
}
