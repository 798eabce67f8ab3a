//! The `.env` file: parse it the way Docker Compose v2 does, edit values while
//! keeping every other byte, and write it back atomically: a new file at
//! mode 0600, an existing one keeping its owner and mode (others lose
//! access), through a symlink to its target; `.env.bak` only once the new
//! file is in place.

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
    /// The file started with a UTF-8 byte order mark (kept on write;
    /// Compose skips one at the start of the file).
    bom: bool,
}

#[derive(Clone, Debug)]
struct Chunk {
    raw: String,
    entry: Option<Entry>,
    /// Byte range of the value's text (quotes included) within `raw`, so an
    /// edit keeps the `export`, the spacing and an inline comment.
    value_span: (usize, usize),
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
    /// Reads and parses `path`. A file that cannot be read (missing,
    /// permission denied, a FIFO or device) is a usage error (exit 2); text
    /// that is not UTF-8 or a line Compose would misread is an error naming
    /// the line (exit 1).
    pub fn read(path: &Path) -> Result<EnvFile> {
        let text = read_text(path)?;
        EnvFile::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses `.env` text; one leading byte order mark is skipped, as
    /// Compose does (and written back).
    pub fn parse(text: &str) -> Result<EnvFile, ParseError> {
        match Self::parse_all(text) {
            (file, errors) if errors.is_empty() => Ok(file),
            (_, mut errors) => Err(errors.remove(0)),
        }
    }

    /// Parses `.env` text and reports every line Compose would misread, not
    /// only the first: a broken line is skipped (its name is not assigned)
    /// and parsing goes on at the next line. The file holds the lines that
    /// parsed.
    pub fn parse_all(text: &str) -> (EnvFile, Vec<ParseError>) {
        let (bom, body) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut parser = Parser::new(body);
        parser.run();
        (
            EnvFile {
                chunks: parser.chunks,
                bom,
            },
            parser.errors,
        )
    }

    /// The file's bytes, with edits applied.
    pub fn render(&self) -> String {
        let mut out =
            String::with_capacity(self.chunks.iter().map(|c| c.raw.len()).sum::<usize>() + 3);
        if self.bom {
            out.push('\u{feff}');
        }
        out.extend(self.chunks.iter().map(|c| c.raw.as_str()));
        out
    }

    /// Writes the file atomically. A symlink is written through to its
    /// target (the link stays). An existing file keeps its owner, group and
    /// mode, minus any access for others; a new one is 0600. The previous
    /// contents go to `NAME.bak` (same owner and mode) only after the new
    /// file is in place, so a failed write never touches the backup.
    /// Returns the path of the file written.
    pub fn write(&self, path: &Path) -> Result<std::path::PathBuf> {
        use crate::fsutil::{self, Perms};
        let target = fsutil::write_target(path)?;
        let text = self.render();
        let previous = fsutil::read_existing(&target)?;
        let perms = previous
            .as_ref()
            .map(|(_, m)| Perms::keep_secret(m))
            .unwrap_or(Perms::new(ENV_MODE));
        fsutil::write_atomic(&target, text.as_bytes(), perms)?;
        if let Some((old, _)) = previous {
            if old != text.as_bytes() {
                fsutil::write_atomic(&fsutil::backup_path(&target), &old, perms)?;
            }
        }
        Ok(target)
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
    ///
    /// The file is parsed again afterwards, so later entries that interpolate
    /// `key` (`B=${A}x`) show what Compose will now read.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), EncodeError> {
        self.set_many(&[(key, value)])
    }

    /// Like [`EnvFile::set`] for several assignments, re-reading the file
    /// once: all of them take effect, or none (the file is left unchanged).
    pub fn set_many(&mut self, pairs: &[(&str, &str)]) -> Result<(), EncodeError> {
        let before = self.chunks.clone();
        let applied = pairs.iter().try_for_each(|(k, v)| self.set_raw(k, v));
        let reread = applied.and_then(|()| {
            EnvFile::parse(&self.render()).map_err(|e| EncodeError::Unreadable(e.to_string()))
        });
        match reread {
            Ok(f) if pairs.iter().all(|(k, v)| f.get(k) == Some(*v)) => {
                *self = f;
                Ok(())
            }
            other => {
                self.chunks = before;
                Err(match other {
                    Ok(_) => EncodeError::Unreadable("it would read back differently".into()),
                    Err(e) => e,
                })
            }
        }
    }

    fn set_raw(&mut self, key: &str, value: &str) -> Result<(), EncodeError> {
        let encoded = encode_value(value)?;
        if let Some(idx) = self
            .chunks
            .iter()
            .rposition(|c| c.entry.as_ref().is_some_and(|e| e.key == key))
        {
            let chunk = &mut self.chunks[idx];
            let (vs, ve) = chunk.value_span;
            let tail = &chunk.raw[ve..];
            // A comment glued to a closing quote would join a bare value.
            let gap = if tail.starts_with('#') { " " } else { "" };
            chunk.raw = format!("{}{encoded}{gap}{tail}", &chunk.raw[..vs]);
            let end = vs + encoded.len();
            chunk.value_span = (vs, end);
            chunk.entry.as_mut().expect("chunk has entry").value = value.to_string();
            self.renumber();
            return Ok(());
        }
        let line = self.line_count() + 1;
        let new = Chunk {
            raw: format!("{key}={encoded}\n"),
            value_span: (key.len() + 1, key.len() + 1 + encoded.len()),
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

    /// Deletes every assignment of `key` (with its line; other lines are
    /// kept byte for byte); true if there was one. Later entries that
    /// interpolate it read it as unset, as Compose would.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.chunks.len();
        self.chunks
            .retain(|c| c.entry.as_ref().is_none_or(|e| e.key != key));
        if self.chunks.len() == before {
            return false;
        }
        // Re-read so interpolations and line numbers follow.
        match EnvFile::parse(&self.render()) {
            Ok(f) => *self = f,
            Err(_) => self.renumber(),
        }
        true
    }

    /// For each line of [`EnvFile::render`]: whether it belongs to an
    /// assignment of a name `is_secret` accepts, or to a commented-out one
    /// (`#NAME=...`), so a diff can mask it.
    pub fn secret_line_mask(&self, is_secret: impl Fn(&str) -> bool) -> Vec<bool> {
        let mut out = Vec::new();
        for c in &self.chunks {
            let secret = match &c.entry {
                Some(e) => is_secret(&e.key),
                None => {
                    let t = c.raw.trim_start().trim_start_matches('#').trim_start();
                    let t = t
                        .strip_prefix("export")
                        .filter(|r| r.starts_with([' ', '\t']))
                        .map_or(t, str::trim_start);
                    let name: String = t
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
                        .collect();
                    !name.is_empty()
                        && t[name.len()..].trim_start().starts_with('=')
                        && is_secret(&name)
                }
            };
            let n = c.raw.split_inclusive('\n').count().max(1);
            out.extend(std::iter::repeat_n(secret, n));
        }
        out
    }

    /// Appends verbatim text (comments, blank lines); must end with a newline.
    pub fn push_comment(&mut self, text: &str) {
        debug_assert!(text.is_empty() || text.ends_with('\n'));
        self.chunks.push(Chunk {
            raw: text.to_string(),
            entry: None,
            value_span: (0, 0),
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

/// The text of a `.env` file: read as a regular file only (see
/// [`crate::fsutil::read_regular`]), and UTF-8, or an error naming the line
/// and column of the first byte that is not.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = crate::fsutil::read_regular(path)?;
    decode(bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// `bytes` as UTF-8, or where it is not.
pub fn decode(bytes: Vec<u8>) -> Result<String, ParseError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = bytes[..at]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&bytes[line_start..at]).chars().count() + 1;
        ParseError {
            line,
            message: format!(
                "not valid UTF-8 (byte 0x{:02x} at column {column}); Compose reads .env as UTF-8: save the file as UTF-8",
                bytes[at]
            ),
        }
    })
}

/// A value that no quoting makes Compose read back unchanged.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("contains a NUL byte, which a .env file cannot hold")]
    Nul,
    #[error("cannot be written so that Compose reads it back: {0}")]
    Unreadable(String),
}

/// Chooses the quoting under which Compose v2 reads `value` back verbatim:
/// bare for plain words, single quotes (literal, no interpolation) when the
/// value has no `'`, no line break and does not end in `\` (which would
/// escape the closing quote), else double quotes with escapes.
pub fn encode_value(value: &str) -> Result<String, EncodeError> {
    if value.contains('\0') {
        return Err(EncodeError::Nul);
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
    let single_ok = !value.contains(['\'', '\n', '\r']) && !value.ends_with('\\');
    if single_ok {
        return Ok(format!("'{value}'"));
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '$' => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// Compose v2 treats these as blanks around keys and values (never a newline).
fn is_blank(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\u{b}' | '\u{c}' | '\r' | '\u{85}' | '\u{a0}'
    )
}

/// Marks a `$` that came from an escape (`\$` in double quotes) so that
/// interpolation leaves it alone.
const LITERAL_DOLLAR: char = '\u{E000}';

/// How deep `${A:-${B:-...}}` may nest.
const MAX_NESTING: usize = 32;
/// The largest value interpolation may produce (bytes).
const MAX_EXPANDED: usize = 64 * 1024;

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    chunks: Vec<Chunk>,
    vars: HashMap<String, String>,
    errors: Vec<ParseError>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            pos: 0,
            line: 1,
            chunks: Vec::new(),
            vars: HashMap::new(),
            errors: Vec::new(),
        }
    }

    fn run(&mut self) {
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
                    value_span: (0, 0),
                });
                continue;
            }
            match self.entry(start_line) {
                Ok((entry, (vs, ve))) => {
                    self.vars.insert(entry.key.clone(), entry.value.clone());
                    self.chunks.push(Chunk {
                        raw: self.text[start..self.pos].to_string(),
                        entry: Some(entry),
                        value_span: (vs - start, ve - start),
                    });
                }
                Err(e) => {
                    // An unclosed quote swallows the rest of the file: one
                    // error for it, not one per line after it.
                    let swallowed = e.message.contains("never closed");
                    self.errors.push(e);
                    if swallowed {
                        break;
                    }
                    // Go on after the line the parser stopped in (a
                    // multi-line quoted value is skipped whole).
                    let at_line_start =
                        self.pos > start && self.text.as_bytes()[self.pos - 1] == b'\n';
                    if !at_line_start {
                        let rest = self.rest();
                        self.advance(rest.find('\n').map_or(rest.len(), |i| i + 1));
                    }
                }
            }
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn advance(&mut self, n: usize) {
        self.line += self.text[self.pos..self.pos + n].matches('\n').count();
        self.pos += n;
    }

    fn skip_blanks(&mut self) {
        let rest = self.rest();
        self.advance(rest.len() - rest.trim_start_matches(is_blank).len());
    }

    fn err(&self, line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            message: message.into(),
        }
    }

    fn shown_line(&self) -> String {
        let l = self.rest().lines().next().unwrap_or("");
        let mut s: String = l.chars().take(40).collect();
        if l.chars().count() > 40 {
            s.push('…');
        }
        s
    }

    /// Parses one assignment starting at `self.pos`, consuming through its
    /// line end (or through the closing quote's line for multi-line values).
    fn entry(&mut self, line: usize) -> Result<(Entry, (usize, usize)), ParseError> {
        self.skip_blanks();
        let mut export = false;
        if let Some(after) = self.rest().strip_prefix("export") {
            if after.starts_with(is_blank) {
                export = true;
                self.advance("export".len());
                self.skip_blanks();
            }
        }
        let rest = self.rest();
        // Compose accepts Unicode letters and digits, '_', '.' and '-' in names.
        let key_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-'))
            .unwrap_or(rest.len());
        let key = rest[..key_len].to_string();
        if key.is_empty() {
            return Err(self.err(
                line,
                format!(
                    "expected NAME=VALUE, found {:?}; names are letters, digits, '_', '.' and '-'",
                    self.shown_line()
                ),
            ));
        }
        self.advance(key_len);
        self.skip_blanks();
        match self.rest().chars().next() {
            Some('=') => self.advance(1),
            Some(':') => {
                return Err(self.err(
                    line,
                    format!("{key}: found ':' after the name; write {key}=VALUE (the NAME: VALUE form is a Compose extension other tools misread)"),
                ))
            }
            None | Some('\n') => {
                return Err(self.err(
                    line,
                    format!("{key}: line has no '='; write {key}=VALUE, or {key}= for an empty value (Compose would silently take {key} from the shell environment instead)"),
                ))
            }
            Some(_) => {
                return Err(self.err(
                    line,
                    format!(
                        "{key}: expected '=' after the name, found {:?}; write {key}=VALUE",
                        self.shown_line()
                    ),
                ))
            }
        }
        self.skip_blanks();
        let value_start = self.pos;
        let (value, value_end) = match self.rest().chars().next() {
            Some('\'') => self.quoted(line, &key, '\'')?,
            Some('"') => self.quoted(line, &key, '"')?,
            _ => self.unquoted(line, &key)?,
        };
        Ok((
            Entry {
                key,
                value,
                line,
                export,
            },
            (value_start, value_end),
        ))
    }

    /// An unquoted value runs to the end of the line; " #" starts a comment;
    /// no escapes; `$` interpolates.
    /// Returns the value and the absolute end of its text.
    fn unquoted(&mut self, line: usize, key: &str) -> Result<(String, usize), ParseError> {
        let rest = self.rest();
        let end = rest.find('\n').unwrap_or(rest.len());
        let mut value = &rest[..end];
        if let Some(i) = value.find(" #") {
            value = &value[..i];
        }
        let value = value.trim_end_matches(is_blank).to_string();
        let value_end = self.pos + value.len();
        self.advance((end + 1).min(rest.len()));
        Ok((self.interpolate(line, key, &value)?, value_end))
    }

    /// Returns the value and the absolute end of its text (after the closing quote).
    fn quoted(&mut self, line: usize, key: &str, q: char) -> Result<(String, usize), ParseError> {
        self.advance(1);
        let rest = self.rest();
        let mut body_end = None;
        let mut it = rest.char_indices();
        while let Some((i, c)) = it.next() {
            if c == '\\' {
                it.next();
            } else if c == q {
                body_end = Some(i);
                break;
            }
        }
        let Some(end) = body_end else {
            return Err(self.err(
                line,
                format!(
                    "{key}: the value opens a {q} quote that is never closed; add the closing {q}"
                ),
            ));
        };
        let body = &rest[..end];
        self.advance(end + 1);
        let value_end = self.pos;
        let value = if q == '\'' {
            body.replace("\\'", "'")
        } else {
            let unescaped =
                unescape_double(body).map_err(|m| self.err(line, format!("{key}: {m}")))?;
            self.interpolate(line, key, &unescaped)?
        };
        self.finish_line(line, key)?;
        Ok((value, value_end))
    }

    /// After a closing quote only blanks and a comment may follow (Compose
    /// silently drops anything else).
    fn finish_line(&mut self, line: usize, key: &str) -> Result<(), ParseError> {
        let rest = self.rest();
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let tail = rest[..end].trim_matches(|c| is_blank(c) || c == '\n');
        if !tail.is_empty() && !tail.starts_with('#') {
            return Err(self.err(
                line,
                format!("{key}: unexpected text {tail:?} after the closing quote (Compose would drop it); quote the whole value"),
            ));
        }
        self.advance(end);
        Ok(())
    }

    /// Expands `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
    /// `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?err}`, `${VAR?err}` from earlier
    /// entries; `$$` is a literal `$`. Unset names read as empty, as in Compose.
    fn interpolate(&self, line: usize, key: &str, s: &str) -> Result<String, ParseError> {
        self.interpolate_at(line, key, s, 0)
    }

    /// [`Parser::interpolate`] inside `depth` nested `${...}`: bounded in
    /// depth (a stack overflow otherwise) and in the size of the result
    /// (values built from doubling references grow exponentially).
    fn interpolate_at(
        &self,
        line: usize,
        key: &str,
        s: &str,
        depth: usize,
    ) -> Result<String, ParseError> {
        if !s.contains(['$', LITERAL_DOLLAR]) {
            return Ok(s.to_string());
        }
        if depth > MAX_NESTING {
            return Err(self.err(
                line,
                format!("{key}: substitutions nested more than {MAX_NESTING} deep (${{A:-${{B:-...}}}}); write the value out"),
            ));
        }
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            if out.len() > MAX_EXPANDED {
                return Err(self.too_large(line, key));
            }
            let c = s[i..].chars().next().expect("in bounds");
            if c == LITERAL_DOLLAR {
                out.push('$');
                i += c.len_utf8();
                continue;
            }
            if c != '$' {
                out.push(c);
                i += c.len_utf8();
                continue;
            }
            let after = &s[i + 1..];
            if after.starts_with('$') {
                out.push('$');
                i += 2;
            } else if let Some(inner_start) = after.strip_prefix('{') {
                let close = matching_brace(inner_start).ok_or_else(|| {
                    self.err(
                        line,
                        format!("{key}: '${{' without a closing '}}'; write $$ for a literal $"),
                    )
                })?;
                let inner = &inner_start[..close];
                out.push_str(&self.expand(line, key, inner, depth)?);
                i += 2 + close + 1;
            } else if after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                let len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                out.push_str(self.vars.get(&after[..len]).map_or("", String::as_str));
                i += 1 + len;
            } else {
                out.push('$');
                i += 1;
            }
        }
        if out.len() > MAX_EXPANDED {
            return Err(self.too_large(line, key));
        }
        Ok(out)
    }

    fn too_large(&self, line: usize, key: &str) -> ParseError {
        self.err(
            line,
            format!("{key}: the value grows past {} KiB as its ${{...}} references are expanded; write the value out or reference fewer variables", MAX_EXPANDED / 1024),
        )
    }

    fn expand(
        &self,
        line: usize,
        key: &str,
        inner: &str,
        depth: usize,
    ) -> Result<String, ParseError> {
        let name_len = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let (name, op) = inner.split_at(name_len);
        if name.is_empty() {
            return Err(self.err(line, format!("{key}: invalid substitution ${{{inner}}}")));
        }
        let val = self.vars.get(name).map(String::as_str);
        let nonempty = val.filter(|v| !v.is_empty());
        let (op, arg) = if let Some(a) = op.strip_prefix(":-") {
            (":-", a)
        } else if let Some(a) = op.strip_prefix(":+") {
            (":+", a)
        } else if let Some(a) = op.strip_prefix(":?") {
            (":?", a)
        } else if op.is_empty() {
            ("", "")
        } else {
            op.split_at(1)
        };
        let arg = || self.interpolate_at(line, key, arg, depth + 1);
        Ok(match op {
            "" => val.unwrap_or("").to_string(),
            ":-" => match nonempty {
                Some(v) => v.to_string(),
                None => arg()?,
            },
            "-" => match val {
                Some(v) => v.to_string(),
                None => arg()?,
            },
            ":+" => match nonempty {
                Some(_) => arg()?,
                None => String::new(),
            },
            "+" => match val {
                Some(_) => arg()?,
                None => String::new(),
            },
            ":?" | "?" => match if op == ":?" { nonempty } else { val } {
                Some(v) => v.to_string(),
                None => {
                    return Err(self.err(
                        line,
                        format!("{key}: required variable {name} is not set: {}", arg()?),
                    ))
                }
            },
            _ => return Err(self.err(line, format!("{key}: invalid substitution ${{{inner}}}"))),
        })
    }
}

/// Where the `}` closing a `${` sits in `s` (the text after `${`), allowing
/// nested `${...}` in defaults.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Escapes in double quotes as Compose v2 reads them: `\n \r \t \a \b \f \v`,
/// `\\`, `\"`, `\$` (a `$` that is not interpolated); any other `\X` stays as is.
fn unescape_double(body: &str) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == LITERAL_DOLLAR {
            return Err("contains U+E000, which jitsi-stack reserves".into());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('$') => out.push(LITERAL_DOLLAR),
            Some('0') => {
                return Err("the escape \\0 is read inconsistently by Compose; remove it".into())
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_drops_every_assignment_and_keeps_the_rest() {
        let mut f = EnvFile::parse("# c\nA=1\nB='x\ny'\nA=2\nC=3 # k\n").unwrap();
        assert!(f.remove("A"));
        assert!(!f.remove("A"));
        assert_eq!(f.render(), "# c\nB='x\ny'\nC=3 # k\n");
        assert_eq!(f.entry("C").unwrap().line, 4);
    }

    #[test]
    fn set_many_is_all_or_nothing() {
        let mut f = EnvFile::parse("# c\nA=1\nB=2 # keep\n").unwrap();
        f.set_many(&[("A", "x y"), ("C", "3")]).unwrap();
        assert_eq!(f.get("A"), Some("x y"));
        assert_eq!(f.get("C"), Some("3"));
        assert!(f.render().contains("B=2 # keep"));
        let before = f.render();
        assert!(f.set_many(&[("A", "ok"), ("B", "nul\0")]).is_err());
        assert_eq!(f.render(), before, "a failed batch changed the file");
    }

    #[test]
    fn remove_deletes_every_assignment_and_rereads() {
        let mut f = EnvFile::parse("# c\nA=1\nB=${A}x\nA=2\nC=3\n").unwrap();
        assert!(f.remove("A"));
        assert_eq!(f.render(), "# c\nB=${A}x\nC=3\n");
        assert_eq!(f.get("B"), Some("x"));
        assert_eq!(f.entry("C").unwrap().line, 3);
        assert!(!f.remove("A"));
    }

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
        assert_eq!(
            f.render(),
            "# head\nA='new value' # keep?\n#B=2\nB=b\nC=3\nZ=z\n"
        );
        assert_eq!(f.entry("Z").unwrap().line, 6);
    }

    #[test]
    fn set_keeps_export_spacing_and_comments() {
        let text = "export A = 'old'   # why\nB=\"multi\nline\"#c\nC=x\n";
        let mut f = EnvFile::parse(text).unwrap();
        f.set("A", "it's new").unwrap();
        f.set("B", "plain").unwrap();
        f.set("A", "again").unwrap();
        assert_eq!(f.render(), "export A = again   # why\nB=plain #c\nC=x\n");
        assert_eq!(f.entry("C").unwrap().line, 3);
        let back = EnvFile::parse(&f.render()).unwrap();
        assert_eq!(back.get("A"), Some("again"));
        assert_eq!(back.get("B"), Some("plain"));
    }

    #[test]
    fn set_updates_later_interpolations() {
        let mut f = EnvFile::parse("A=1\nB=${A}x\n").unwrap();
        f.set("A", "2").unwrap();
        assert_eq!(f.get("B"), Some("2x"));
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
            "ends with \\",
            "cr\rlf",
            "tab\there",
            " lead and trail ",
            "#not a comment",
            "a #b",
            "$$",
            "${X:-y}",
        ] {
            let enc = encode_value(v).unwrap();
            let f = EnvFile::parse(&format!("K={enc}\n")).unwrap();
            assert_eq!(f.get("K"), Some(v), "encoded as {enc}");
        }
        assert!(encode_value("a\0b").is_err());
    }

    #[test]
    fn byte_order_mark_is_skipped_and_kept() {
        let f = EnvFile::parse("\u{feff}A=1\nB=2\n").unwrap();
        assert_eq!(f.get("A"), Some("1"));
        assert_eq!(f.entry("B").unwrap().line, 2);
        assert_eq!(f.render(), "\u{feff}A=1\nB=2\n");
        // Compose refuses a second one, and one after the start.
        assert!(EnvFile::parse("\u{feff}\u{feff}A=1\n").is_err());
        assert_eq!(EnvFile::parse("A=1\n\u{feff}B=2\n").unwrap_err().line, 2);
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let e = decode(b"A=1\nB=ok\nC=caf\xe9\n".to_vec()).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("column 6") && e.message.contains("0xe9"),
            "{}",
            e.message
        );
        assert_eq!(decode("Ä=ö\n".as_bytes().to_vec()).unwrap(), "Ä=ö\n");
    }

    #[test]
    fn errors_name_the_line() {
        let e = EnvFile::parse("A=1\nJUST_A_WORD\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = EnvFile::parse("A=1\nB=\"open\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("never closed"));
    }

    /// Each case was checked against Docker Compose v2.40.3
    /// (`config --environment` with a clean environment).
    #[test]
    fn compose_v2_rules() {
        let text = concat!(
            "A=1\n",
            "E=abc#def\n",
            "F=abc #def\n",
            "C=a\t#x\n",
            "B= #x\n",
            "O='it\\'s'\n",
            "S1='a\\\\b'\n",
            "D2=\"a\\'b\"\n",
            "D3=\"a\\tb\"\n",
            "D4=\"a\\\\nb\"\n",
            "D5=\"\\\\$A\"\n",
            "Y=\"a\\$A\"\n",
            "Q=\"\\q\"\n",
            "U2=a$1b\n",
            "U3=a\\$A\n",
            "P1=${A:+alt}\n",
            "P2=${NOPE:+alt}\n",
            "P3=${NOPE:-${A}x}\n",
            "P4=${A}}\n",
            "EMPTY=\n",
            "R=${EMPTY-zz}\n",
            "T=${EMPTY:-zz}\n",
            "P7=\"quoted\"#c\n",
            "P9=a'b'c\n",
            "CR=abc\r\n",
            "export\tJ=1\n",
            "M=\"multi\nline\"\n",
            "SQ='l1\nl2'\n",
            "A-B.c=k\n",
        );
        let f = EnvFile::parse(text).unwrap();
        assert_eq!(f.render(), text);
        for (k, v) in [
            ("E", "abc#def"),
            ("F", "abc"),
            ("C", "a\t#x"),
            ("B", "#x"),
            ("O", "it's"),
            ("S1", "a\\\\b"),
            ("D2", "a\\'b"),
            ("D3", "a\tb"),
            ("D4", "a\\nb"),
            ("D5", "\\1"),
            ("Y", "a$A"),
            ("Q", "\\q"),
            ("U2", "a$1b"),
            ("U3", "a\\1"),
            ("P1", "alt"),
            ("P2", ""),
            ("P3", "1x"),
            ("P4", "1}"),
            ("R", ""),
            ("T", "zz"),
            ("P7", "quoted"),
            ("P9", "a'b'c"),
            ("CR", "abc"),
            ("J", "1"),
            ("M", "multi\nline"),
            ("SQ", "l1\nl2"),
            ("A-B.c", "k"),
        ] {
            assert_eq!(f.get(k), Some(v), "{k}");
        }
    }

    #[test]
    fn lines_compose_would_misread_are_errors() {
        for (text, line, needle) in [
            ("A=1\nB:2\n", 2, "':'"),
            ("A=1\n\nJUST_A_WORD\n", 3, "no '='"),
            ("A=\"x\" y\n", 1, "after the closing quote"),
            ("A='x\\'\n", 1, "never closed"),
            ("A=${B\n", 1, "closing"),
            ("A=${NOPE:?boom}\n", 1, "boom"),
            ("A=1\n  !x=2\n", 2, "expected NAME=VALUE"),
        ] {
            let e = EnvFile::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }
}
