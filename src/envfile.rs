//! The `.env` file: parse it the way Docker Compose v2 does, edit values while
//! keeping every other byte, and write it back atomically at mode 0600.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::Path;

/// File mode of a `.env`: it holds the stack's secrets.
pub const ENV_MODE: u32 = 0o600;

/// A parsed `.env`: the original text cut into chunks, each either one entry
/// (possibly spanning lines, for quoted values) or verbatim other text.
#[derive(Clone, Debug, Default)]
pub struct EnvFile {
    chunks: Vec<Chunk>,
}

#[derive(Clone, Debug)]
struct Chunk {
    raw: String,
    entry: Option<Entry>,
}

/// One `KEY=VALUE` assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// The value as Compose reads it: unquoted, unescaped, interpolated.
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
    /// Whether the line had an `export ` prefix.
    pub export: bool,
}

/// A line Compose would not read as we would expect.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl EnvFile {
    pub fn read(path: &Path) -> Result<EnvFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        EnvFile::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<EnvFile, ParseError> {
        Parser::new(text).run()
    }

    /// The file's bytes, with edits applied.
    pub fn render(&self) -> String {
        self.chunks.iter().map(|c| c.raw.as_str()).collect()
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        crate::fsutil::atomic_write_with_backup(path, self.render().as_bytes(), ENV_MODE)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.chunks.iter().filter_map(|c| c.entry.as_ref())
    }

    /// The last assignment of `key` (Compose keeps the last one).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries().filter(|e| e.key == key).last()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    /// Whether `key` is set to a non-empty value.
    pub fn is_set(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| !v.is_empty())
    }

    /// The map Compose would build from this file.
    pub fn to_map(&self) -> HashMap<String, String> {
        self.entries()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect()
    }

    /// Sets `key` so Compose reads exactly `value`. An existing assignment is
    /// rewritten in place (the last one, which is the one Compose uses); a new
    /// one goes after a commented-out `#KEY=` line if there is one, else at the end.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), EncodeError> {
        let encoded = encode_value(value)?;
        if let Some(idx) = self
            .chunks
            .iter()
            .rposition(|c| c.entry.as_ref().is_some_and(|e| e.key == key))
        {
            let chunk = &mut self.chunks[idx];
            let entry = chunk.entry.as_mut().expect("chunk has entry");
            let prefix = if entry.export { "export " } else { "" };
            let newline = if chunk.raw.ends_with('\n') { "\n" } else { "" };
            chunk.raw = format!("{prefix}{key}={encoded}{newline}");
            entry.value = value.to_string();
            return Ok(());
        }
        let line = self.line_count() + 1;
        let new = Chunk {
            raw: format!("{key}={encoded}\n"),
            entry: Some(Entry {
                key: key.to_string(),
                value: value.to_string(),
                line,
                export: false,
            }),
        };
        let commented = self.chunks.iter().position(|c| {
            c.entry.is_none() && {
                let t = c.raw.trim_start().trim_start_matches('#').trim_start();
                t.strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with('='))
            }
        });
        match commented {
            Some(i) => self.chunks.insert(i + 1, new),
            None => {
                if let Some(last) = self.chunks.last_mut() {
                    if !last.raw.ends_with('\n') {
                        last.raw.push('\n');
                    }
                }
                self.chunks.push(new);
            }
        }
        self.renumber();
        Ok(())
    }

    /// Appends verbatim text (comments, blank lines); must end with a newline.
    pub fn push_comment(&mut self, text: &str) {
        debug_assert!(text.is_empty() || text.ends_with('\n'));
        self.chunks.push(Chunk {
            raw: text.to_string(),
            entry: None,
        });
    }

    fn line_count(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.raw.matches('\n').count())
            .sum()
    }

    fn renumber(&mut self) {
        let mut line = 1;
        for c in &mut self.chunks {
            if let Some(e) = &mut c.entry {
                e.line = line;
            }
            line += c.raw.matches('\n').count();
        }
    }
}

/// A value that no quoting makes Compose read back unchanged.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("contains a NUL byte, which a .env file cannot hold")]
    Nul,
    #[error("contains a carriage return, which Compose drops from .env values")]
    CarriageReturn,
}

/// Chooses the quoting under which Compose v2 reads `value` back verbatim:
/// bare for plain words, single quotes (literal, no interpolation) when the
/// value has no `'` or newline, else double quotes with escapes.
pub fn encode_value(value: &str) -> Result<String, EncodeError> {
    if value.contains('\0') {
        return Err(EncodeError::Nul);
    }
    if value.contains('\r') {
        return Err(EncodeError::CarriageReturn);
    }
    let plain = value.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'_' | b'-' | b'.' | b'/' | b':' | b'@' | b'+' | b',' | b'%' | b'^' | b'~' | b'='
            )
    });
    if plain {
        return Ok(value.to_string());
    }
    if !value.contains('\'') && !value.contains('\n') {
        return Ok(format!("'{value}'"));
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    chunks: Vec<Chunk>,
    vars: HashMap<String, String>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            pos: 0,
            line: 1,
            chunks: Vec::new(),
            vars: HashMap::new(),
        }
    }

    fn run(mut self) -> Result<EnvFile, ParseError> {
        while self.pos < self.text.len() {
            let start = self.pos;
            let start_line = self.line;
            let rest = &self.text[self.pos..];
            let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
            let line = &rest[..line_end];
            let trimmed = line.trim_start();
            if trimmed.trim().is_empty() || trimmed.starts_with('#') {
                self.advance(line_end);
                self.chunks.push(Chunk {
                    raw: line.to_string(),
                    entry: None,
                });
                continue;
            }
            let entry = self.entry(start_line)?;
            self.vars.insert(entry.key.clone(), entry.value.clone());
            self.chunks.push(Chunk {
                raw: self.text[start..self.pos].to_string(),
                entry: Some(entry),
            });
        }
        Ok(EnvFile {
            chunks: self.chunks,
        })
    }

    fn advance(&mut self, n: usize) {
        self.line += self.text[self.pos..self.pos + n].matches('\n').count();
        self.pos += n;
    }

    fn err(&self, line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            message: message.into(),
        }
    }

    /// Parses one assignment starting at `self.pos`, consuming through its
    /// line end (or through the closing quote's line for multi-line values).
    fn entry(&mut self, line: usize) -> Result<Entry, ParseError> {
        let rest = &self.text[self.pos..];
        let lead = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        self.advance(lead);
        let mut export = false;
        if let Some(after) = self.text[self.pos..].strip_prefix("export ") {
            export = true;
            let skip = self.text[self.pos..].len() - after.trim_start_matches([' ', '\t']).len();
            self.advance(skip);
        }
        let rest = &self.text[self.pos..];
        let key_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
            .unwrap_or(rest.len());
        let key = rest[..key_len].to_string();
        if key.is_empty() {
            let shown: String = rest.lines().next().unwrap_or("").chars().take(40).collect();
            return Err(self.err(
                line,
                format!("expected NAME=VALUE, found {shown:?}; variable names are letters, digits and _"),
            ));
        }
        self.advance(key_len);
        let rest = &self.text[self.pos..];
        let after_key = rest.trim_start_matches([' ', '\t']);
        let ws = rest.len() - after_key.len();
        self.advance(ws);
        match self.text[self.pos..].chars().next() {
            Some('=') => self.advance(1),
            _ => {
                let shown: String = self.text[self.pos..]
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(40)
                    .collect();
                return Err(self.err(
                    line,
                    format!("{key}: expected '=' after the name, found {shown:?}; write {key}=VALUE (Compose would silently ignore or misread this line)"),
                ));
            }
        }
        let rest = &self.text[self.pos..];
        let v = rest.trim_start_matches([' ', '\t']);
        self.advance(rest.len() - v.len());
        let value = match self.text[self.pos..].chars().next() {
            Some('\'') => self.quoted(line, &key, '\'')?,
            Some('"') => self.quoted(line, &key, '"')?,
            _ => self.unquoted(),
        };
        self.finish_line(line, &key)?;
        Ok(Entry {
            key,
            value,
            line,
            export,
        })
    }

    fn unquoted(&mut self) -> String {
        let rest = &self.text[self.pos..];
        let end = rest.find('\n').unwrap_or(rest.len());
        let mut value = &rest[..end];
        // An inline comment starts at '#' preceded by white space.
        let bytes = value.as_bytes();
        for i in 1..bytes.len() {
            if bytes[i] == b'#' && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
                value = &value[..i];
                break;
            }
        }
        let value = value.trim_end_matches([' ', '\t', '\r']).to_string();
        self.advance(end);
        self.interpolate(&value)
    }

    fn quoted(&mut self, line: usize, key: &str, q: char) -> Result<String, ParseError> {
        self.advance(1);
        let rest = &self.text[self.pos..];
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == q {
                self.advance(i + 1);
                return Ok(if q == '"' {
                    self.interpolate_escaped(&out)
                } else {
                    out
                });
            }
            if c == '\\' && q == '"' {
                match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '$')) => out.push_str("$$"),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                }
                continue;
            }
            out.push(c);
        }
        Err(self.err(
            line,
            format!("{key}: the value opens a {q} quote that is never closed; add the closing {q}"),
        ))
    }

    /// After a closing quote only white space and a comment may follow.
    fn finish_line(&mut self, line: usize, key: &str) -> Result<(), ParseError> {
        let rest = &self.text[self.pos..];
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let tail = rest[..end].trim();
        if !tail.is_empty() && !tail.starts_with('#') {
            return Err(self.err(
                line,
                format!("{key}: unexpected text {tail:?} after the closing quote; quote the whole value"),
            ));
        }
        self.advance(end);
        Ok(())
    }

    fn interpolate_escaped(&self, s: &str) -> String {
        self.interpolate(s)
    }

    /// Expands `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}` from
    /// earlier entries; `$$` is a literal `$`.
    fn interpolate(&self, s: &str) -> String {
        if !s.contains('$') {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len());
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'$' {
                let next = s[i..].find('$').map_or(s.len(), |n| i + n);
                out.push_str(&s[i..next]);
                i = next;
                continue;
            }
            match b.get(i + 1) {
                Some(b'$') => {
                    out.push('$');
                    i += 2;
                }
                Some(b'{') => match s[i + 2..].find('}') {
                    Some(close) => {
                        let inner = &s[i + 2..i + 2 + close];
                        out.push_str(&self.expand(inner));
                        i += close + 3;
                    }
                    None => {
                        out.push_str(&s[i..]);
                        i = b.len();
                    }
                },
                Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                    let len = s[i + 1..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(s.len() - i - 1);
                    let name = &s[i + 1..i + 1 + len];
                    out.push_str(self.vars.get(name).map_or("", String::as_str));
                    i += 1 + len;
                }
                _ => {
                    out.push('$');
                    i += 1;
                }
            }
        }
        out
    }

    fn expand(&self, inner: &str) -> String {
        let lookup = |n: &str| self.vars.get(n).map(String::as_str);
        if let Some((name, default)) = inner.split_once(":-") {
            return match lookup(name) {
                Some(v) if !v.is_empty() => v.to_string(),
                _ => default.to_string(),
            };
        }
        if let Some((name, default)) = inner.split_once('-') {
            return lookup(name).unwrap_or(default).to_string();
        }
        if let Some((name, _msg)) = inner.split_once(":?") {
            return lookup(name).unwrap_or("").to_string();
        }
        lookup(inner).unwrap_or("").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_byte_identical() {
        let text = "# comment\n\nA=1\nexport B='two words' # note\nC=\"x\\ny\"\n  D = spaced  \nE=multi\"\n";
        let f = EnvFile::parse(text).unwrap();
        assert_eq!(f.render(), text);
        assert_eq!(f.get("A"), Some("1"));
        assert_eq!(f.get("B"), Some("two words"));
        assert_eq!(f.get("C"), Some("x\ny"));
        assert_eq!(f.get("D"), Some("spaced"));
        assert_eq!(f.entry("B").unwrap().line, 4);
    }

    #[test]
    fn inline_comments_and_hashes() {
        let f = EnvFile::parse("A=abc#def\nB=abc #def\nC='a #b'\n").unwrap();
        assert_eq!(f.get("A"), Some("abc#def"));
        assert_eq!(f.get("B"), Some("abc"));
        assert_eq!(f.get("C"), Some("a #b"));
    }

    #[test]
    fn interpolation() {
        let f = EnvFile::parse("A=x\nB=${A}y\nC=${MISSING:-def}\nD='${A}'\nE=$$A\n").unwrap();
        assert_eq!(f.get("B"), Some("xy"));
        assert_eq!(f.get("C"), Some("def"));
        assert_eq!(f.get("D"), Some("${A}"));
        assert_eq!(f.get("E"), Some("$A"));
    }

    #[test]
    fn set_keeps_other_bytes() {
        let text = "# head\nA=1 # keep?\n#B=2\nC=3";
        let mut f = EnvFile::parse(text).unwrap();
        f.set("A", "new value").unwrap();
        f.set("B", "b").unwrap();
        f.set("Z", "z").unwrap();
        assert_eq!(f.render(), "# head\nA='new value'\n#B=2\nB=b\nC=3\nZ=z\n");
        assert_eq!(f.entry("Z").unwrap().line, 6);
    }

    #[test]
    fn encoded_values_parse_back() {
        for v in [
            "plain",
            "",
            "two words",
            "has#hash",
            "it's",
            "quote\"d",
            "dollar$HOME",
            "${X}",
            "line\nbreak",
            "back\\slash",
            "ünïcødé ✓",
            "'both' \"quotes\" $ \\",
        ] {
            let enc = encode_value(v).unwrap();
            let f = EnvFile::parse(&format!("K={enc}\n")).unwrap();
            assert_eq!(f.get("K"), Some(v), "encoded as {enc}");
        }
        assert!(encode_value("a\rb").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let e = EnvFile::parse("A=1\nJUST_A_WORD\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = EnvFile::parse("A=1\nB=\"open\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("never closed"));
    }
}
