//! Escaping filters, one per target language. A value from `.env` reaches a
//! rendered file only through one of these; each returns a complete literal
//! (quotes included) and never emits `{{`, which the images' Go text/template
//! renderer would try to execute.

use std::fmt::Write;

/// Why a value cannot be written into a given language.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unrepresentable(pub String);

/// A Lua double-quoted string literal (Prosody configs).
pub fn lua_str(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Decimal escapes: Lua's only portable way to spell a byte.
            '{' => out.push_str("\\123"),
            '}' => out.push_str("\\125"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\{:03}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A HOCON quoted string (jicofo.conf, jvb.conf, jibri.conf). Quoted HOCON
/// strings follow JSON escaping and never substitute `${...}`.
pub fn hocon_str(value: &str) -> String {
    json_like(value, false)
}

/// A JavaScript/JSON string literal (config.js). `<` is escaped too so the
/// web image's nginx SSI (`<!--# ... -->` in config.js) cannot see a directive.
pub fn js_str(value: &str) -> String {
    json_like(value, true)
}

fn json_like(value: &str, escape_angle: bool) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '{' => out.push_str("\\u007b"),
            '}' => out.push_str("\\u007d"),
            '<' if escape_angle => out.push_str("\\u003c"),
            '>' if escape_angle => out.push_str("\\u003e"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `java.util.Properties` value. `Properties.load` reads ISO-8859-1, so
/// everything outside printable ASCII becomes `\uXXXX` (UTF-16 units).
pub fn properties_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, ch) in value.chars().enumerate() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            // Leading white space would be skipped by the parser.
            ' ' if i == 0 => out.push_str("\\ "),
            '{' => out.push_str("\\u007B"),
            '}' => out.push_str("\\u007D"),
            '#' | '!' | '=' | ':' => {
                out.push('\\');
                out.push(ch);
            }
            c if (' '..='~').contains(&c) => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04X}");
                }
            }
        }
    }
    out
}

/// An nginx double-quoted string. nginx has no escape for `$` (variable
/// interpolation) and a newline or brace would end the directive, so such
/// values are refused rather than altered.
pub fn nginx_str(value: &str) -> Result<String, Unrepresentable> {
    if let Some(c) = value
        .chars()
        .find(|c| matches!(c, '$' | '{' | '}' | '\n' | '\r') || c.is_control())
    {
        return Err(Unrepresentable(format!(
            "{c:?} cannot be written into an nginx config (nginx has no escape for it)"
        )));
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// A bare nginx token (host names, sizes, numbers): only characters that
/// cannot change the directive's meaning.
pub fn nginx_token(value: &str) -> Result<String, Unrepresentable> {
    if !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/' | '[' | ']' | '*')
        })
    {
        Ok(value.to_string())
    } else {
        Err(Unrepresentable(format!(
            "{value:?} is not a plain nginx token (letters, digits, . - _ : / [ ] *)"
        )))
    }
}

/// A coturn `turnserver.conf` value: the file has no quoting, so only values
/// without white space, `#` or control characters are accepted.
pub fn coturn_value(value: &str) -> Result<String, Unrepresentable> {
    if value.is_empty() {
        return Err(Unrepresentable(
            "an empty value cannot be written into turnserver.conf".into(),
        ));
    }
    // The message names the character, never the value: it may be a secret.
    if let Some(c) = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '#' | '{' | '}'))
    {
        return Err(Unrepresentable(format!(
            "{c:?} cannot be written into turnserver.conf (it has no quoting: no white space, #, braces or control characters)"
        )));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "x\" .. os.getenv(\"HOME\") .. \"",
        "x\"\n PASSWORD = \"evil",
        "{{ .Env.SECRET }}",
        "]]",
        "back\\slash",
        "tab\there",
        "ünïcødé ✓ 😀",
        "<!--# echo var=\"x\" -->",
        "\u{2028}",
    ];

    #[test]
    fn no_template_delimiters_survive() {
        for v in HOSTILE {
            for out in [lua_str(v), hocon_str(v), js_str(v), properties_value(v)] {
                assert!(!out.contains("{{"), "{out}");
                assert!(!out.contains('\n'), "{out}");
            }
        }
    }

    #[test]
    fn js_is_valid_json_and_reads_back() {
        for v in HOSTILE {
            let lit = js_str(v);
            let back: String = serde_json::from_str(&lit).unwrap();
            assert_eq!(&back, v);
            assert!(!lit.contains("<!--"));
        }
    }

    #[test]
    fn nginx_refuses_dollar_and_newline() {
        assert!(nginx_str("a$b").is_err());
        assert!(nginx_str("a\nb").is_err());
        assert_eq!(nginx_str("a \"b\"").unwrap(), "\"a \\\"b\\\"\"");
        assert!(nginx_token("x; return 301 https://elsewhere").is_err());
        assert_eq!(nginx_token("meet.example.org").unwrap(), "meet.example.org");
    }

    #[test]
    fn properties_escapes() {
        assert_eq!(properties_value(" a=b"), "\\ a\\=b");
        assert_eq!(properties_value("é"), "\\u00E9");
        assert_eq!(properties_value("😀"), "\\uD83D\\uDE00");
        assert_eq!(properties_value("x\nother.key=y"), "x\\nother.key\\=y");
    }

    #[test]
    fn coturn_refuses_injection() {
        assert!(coturn_value("x\nno-auth").is_err());
        assert!(coturn_value("secret value").is_err());
        assert_eq!(coturn_value("abc123").unwrap(), "abc123");
    }
}
