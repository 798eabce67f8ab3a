//! `render --diff`: what a render would change, as a unified diff of the
//! files in effect against the new render and of `.env`, never showing a
//! secret.
//!
//! Which lines of a rendered file hold a secret is read from that render
//! itself: the lines that hold a set secret's value as it is, base64, or as
//! any file language's escaping filter writes it (nothing is rendered a
//! second time). Each render stores that list for its own files
//! ([`super::live::SECRET_LINES`]), so the old side of a diff is masked
//! exactly too. Masked lines print as `<secret>` (`<secret changed>`
//! on the new side), keeping only their indentation.

use super::live::{self, Live};
use super::Output;
use crate::config::{Stack, Values};
use crate::schema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Secret-bearing lines of one file: 0-based line number -> bytes of
/// leading white space that may be shown.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileMask {
    /// Every line is masked (kept for the records of older renders, whose
    /// placeholder render did not line up with the real one).
    #[serde(default)]
    pub whole: bool,
    #[serde(default)]
    pub lines: BTreeMap<usize, usize>,
}

impl FileMask {
    fn get(&self, line: usize, text: &str) -> Option<usize> {
        if self.whole {
            return Some(indent(text));
        }
        self.lines.get(&line).copied()
    }
}

/// Secret-bearing lines of every file of a render, by path.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretLines {
    pub files: BTreeMap<String, FileMask>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

/// The set secrets of `stack` (name, value).
fn set_secrets(values: &Values) -> Vec<(&'static str, String)> {
    schema::VARS
        .iter()
        .filter(|v| v.is_secret())
        .filter_map(|v| values.raw(v.name).map(|val| (v.name, val.to_string())))
        .collect()
}

/// Finds the secret-bearing lines of `out` (rendered from `stack`), from
/// that render alone: a line bears a secret when it holds a set secret's
/// value in one of the forms the renderers write it in (raw, or through the
/// escaping filter of any file's language, or base64).
pub fn secret_lines(stack: &Stack, out: &Output) -> SecretLines {
    let forms: Vec<String> = set_secrets(&stack.values)
        .iter()
        .flat_map(|(_, v)| written_forms(v))
        .collect();
    let mut result = SecretLines::default();
    if forms.is_empty() {
        return result;
    }
    for f in &out.files {
        let mut mask = FileMask::default();
        for (i, l) in f.contents.split_inclusive('\n').enumerate() {
            if forms.iter().any(|form| l.contains(form.as_str())) {
                mask.lines.insert(i, indent(l));
            }
        }
        if !mask.lines.is_empty() {
            result
                .files
                .insert(f.path.to_string_lossy().into_owned(), mask);
        }
    }
    result
}

/// How a secret's value can appear in a rendered file: as it is or base64,
/// each also as every language's escaping filter writes it (without the
/// quotes, so the value inside a longer string is found too).
fn written_forms(value: &str) -> Vec<String> {
    use crate::escape;
    let unquote = |s: String| -> String {
        s.strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .map(str::to_string)
            .unwrap_or(s)
    };
    let mut forms = Vec::new();
    for base in [value.to_string(), base64(value.as_bytes())] {
        forms.push(unquote(escape::lua_str(&base)));
        forms.push(unquote(escape::hocon_str(&base)));
        forms.push(unquote(escape::js_str(&base)));
        forms.push(escape::properties_value(&base));
        forms.extend(escape::nginx_str(&base).ok().map(unquote));
        forms.extend(escape::coturn_value(&base).ok());
        forms.push(base);
    }
    forms.retain(|f| !f.is_empty());
    forms.sort();
    forms.dedup();
    forms
}

/// Whether `line` contains one of the secret values, raw or base64.
fn holds_value(line: &str, secrets: &[(&'static str, String)]) -> bool {
    secrets.iter().any(|(_, v)| {
        v.len() >= 4 && (line.contains(v.as_str()) || line.contains(&base64(v.as_bytes())))
    })
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What `render --diff` prints.
#[derive(Debug, Default)]
pub struct Diff {
    pub text: String,
}

impl Diff {
    /// Whether a real render would change anything (files or `.env`).
    pub fn has_changes(&self) -> bool {
        !self.text.is_empty()
    }
}

/// Compares the files in effect and `.env` with what rendering `out` would
/// leave, secrets masked.
pub fn diff(stack: &Stack, out: &Output) -> Diff {
    let now = live::live(&stack.dir);
    let old_masks = stored_masks(&now);
    let new_masks = secret_lines(stack, out);
    let secrets = set_secrets(&stack.values);
    let mut text = String::new();
    let empty = FileMask::default();
    let mut seen = BTreeSet::new();
    for f in &out.files {
        seen.insert(f.path.clone());
        let key = f.path.to_string_lossy().into_owned();
        let old = now
            .read(&f.path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        text.push_str(&unified(
            &key,
            &old,
            &f.contents,
            old_masks.files.get(&key).unwrap_or(&empty),
            new_masks.files.get(&key).unwrap_or(&empty),
            &secrets,
        ));
    }
    for c in crate::config::Component::ALL {
        let rel = Path::new(&c.compose_file()).to_path_buf();
        if !seen.contains(&rel) && now.read(&rel).is_some() {
            let _ = writeln!(text, "Only on disk, would be removed: {}", rel.display());
        }
    }
    for rel in now.generated_files() {
        if !seen.contains(&rel) {
            let _ = writeln!(text, "Only on disk, would be removed: {}", rel.display());
        }
    }
    text.push_str(&env_diff(stack));
    Diff { text }
}

/// The masks the live render stored when it was written.
fn stored_masks(now: &Live) -> SecretLines {
    if now.id.is_none() {
        return SecretLines::default();
    }
    std::fs::read(now.root.join(live::SECRET_LINES))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Names that hold a secret: the schema's, and unknown names that look
/// like one (`*PASSWORD*`, `*SECRET*`, `*TOKEN*`, `*_KEY`...).
pub fn is_secret_name(name: &str) -> bool {
    if let Some(v) = schema::lookup(name) {
        return v.is_secret();
    }
    let n = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "PRIVATE",
        "_KEY",
        "APIKEY",
        "PASS",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// The `.env` lines a real render would change (the compose settings).
fn env_diff(stack: &Stack) -> String {
    let mut new = stack.file.clone();
    let pending: Vec<(&str, String)> = live::compose_settings(stack)
        .into_iter()
        .filter(|(k, v)| stack.file.get(k) != Some(v.as_str()))
        .collect();
    let pairs: Vec<(&str, &str)> = pending.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if pairs.is_empty() || new.set_many(&pairs).is_err() {
        return String::new();
    }
    let to_mask = |f: &crate::envfile::EnvFile| FileMask {
        whole: false,
        lines: f
            .secret_line_mask(is_secret_name)
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s)
            .map(|(i, _)| (i, 0))
            .collect(),
    };
    let name = stack
        .env_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".env".into());
    unified(
        &name,
        &stack.file.render(),
        &new.render(),
        &to_mask(&stack.file),
        &to_mask(&new),
        &set_secrets(&stack.values),
    )
}

/// A unified diff of one file (empty when equal), masking the old side's
/// and the new side's secret lines, old lines that hold a current secret,
/// and old lines replaced by masked new ones.
fn unified(
    name: &str,
    old: &str,
    new: &str,
    old_mask: &FileMask,
    new_mask: &FileMask,
    secrets: &[(&'static str, String)],
) -> String {
    if old == new {
        return String::new();
    }
    let d = similar::TextDiff::from_lines(old, new);
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let masked_new = |i: usize| new_lines.get(i).and_then(|l| new_mask.get(i, l));
    let masked_old = |i: usize| {
        let l = old_lines.get(i).copied().unwrap_or("");
        old_mask
            .get(i, l)
            .or_else(|| holds_value(l, secrets).then(|| indent(l)))
    };
    let mut out = format!("--- a/{name}\n+++ b/{name}\n");
    for group in d.grouped_ops(3) {
        let (first, last) = (&group[0], &group[group.len() - 1]);
        let (o0, o1) = (first.old_range().start, last.old_range().end);
        let (n0, n1) = (first.new_range().start, last.new_range().end);
        let _ = writeln!(out, "@@ -{} +{} @@", range(o0, o1 - o0), range(n0, n1 - n0));
        for op in &group {
            // A replaced line whose new version holds a secret held one too.
            let pair_masked = op.new_range().any(|i| masked_new(i).is_some());
            for change in d.iter_changes(op) {
                let value = change.value();
                let (sign, mask, marker) = match change.tag() {
                    similar::ChangeTag::Equal => {
                        let i = change.new_index().unwrap_or(0);
                        let j = change.old_index().unwrap_or(0);
                        (' ', masked_new(i).or_else(|| masked_old(j)), "<secret>")
                    }
                    similar::ChangeTag::Delete => {
                        let j = change.old_index().unwrap_or(0);
                        let m = masked_old(j).or_else(|| pair_masked.then(|| indent(value)));
                        ('-', m, "<secret>")
                    }
                    similar::ChangeTag::Insert => {
                        let i = change.new_index().unwrap_or(0);
                        ('+', masked_new(i), "<secret changed>")
                    }
                };
                out.push(sign);
                match mask {
                    Some(keep) => {
                        let keep = keep.min(indent(value));
                        out.push_str(&value[..keep]);
                        out.push_str(marker);
                        out.push('\n');
                    }
                    None => {
                        out.push_str(value);
                        if !value.ends_with('\n') {
                            out.push_str("\n\\ No newline at end of file\n");
                        }
                    }
                }
            }
        }
    }
    out
}

fn range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        n => format!("{},{n}", start + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A placeholder for the `n`th secret: letters and digits only, so every
    /// file's escaping leaves it as is, and unlike any real value.
    fn placeholder(n: usize) -> String {
        format!("jsMASKED{n:03}x7q2")
    }

    /// The secret-bearing lines of `out` found as `render` found them before
    /// it took them from its own render: by rendering the stack again with every
    /// secret replaced by a placeholder (the lines that differ). The tests
    /// compare [`secret_lines`] with it.
    fn secret_lines_by_rerender(stack: &Stack, out: &Output) -> SecretLines {
        let secrets = set_secrets(&stack.values);
        let mut result = SecretLines::default();
        if secrets.is_empty() {
            return result;
        }
        let mut values = stack.values.clone();
        for (i, (name, _)) in secrets.iter().enumerate() {
            values.set(name, &placeholder(i));
        }
        let masked = Stack {
            dir: stack.dir.clone(),
            env_path: stack.env_path.clone(),
            file: stack.file.clone(),
            values,
            components: stack.components.clone(),
            branding_files: stack.branding_files.clone(),
        };
        let other = super::super::render_all(&masked).ok();
        for f in &out.files {
            let mut mask = FileMask::default();
            let lines: Vec<&str> = f.contents.split_inclusive('\n').collect();
            match other.as_ref().map(|o| o.get(&f.path.to_string_lossy())) {
                Some(Some(alt)) => {
                    let alt: Vec<&str> = alt.split_inclusive('\n').collect();
                    if alt.len() != lines.len() {
                        mask.whole = true;
                    } else {
                        for (i, (a, b)) in lines.iter().zip(&alt).enumerate() {
                            if a != b {
                                mask.lines.insert(i, indent(a).min(indent(b)));
                            }
                        }
                    }
                }
                // The file exists only with the real values, or the
                // placeholder render failed: mask what holds a value.
                _ => {
                    for (i, l) in lines.iter().enumerate() {
                        if holds_value(l, &secrets) {
                            mask.lines.insert(i, indent(l));
                        }
                    }
                }
            }
            if mask.whole || !mask.lines.is_empty() {
                result
                    .files
                    .insert(f.path.to_string_lossy().into_owned(), mask);
            }
        }
        result
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b"hunter2"), "aHVudGVyMg==");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn masked_lines_keep_only_their_indentation() {
        let mut old_mask = FileMask::default();
        old_mask.lines.insert(1, 4);
        let mut new_mask = FileMask::default();
        new_mask.lines.insert(1, 4);
        let d = unified(
            "f.conf",
            "a {\n    password = \"old-secret-value\"\n}\n",
            "a {\n    password = \"new-secret-value\"\n}\n",
            &old_mask,
            &new_mask,
            &[],
        );
        assert!(!d.contains("secret-value"), "{d}");
        assert!(
            d.contains("-    <secret>\n") && d.contains("+    <secret changed>\n"),
            "{d}"
        );
        // Without a stored mask, the replaced line is still masked.
        let d = unified(
            "f.conf",
            "x\npw=old-secret-value\n",
            "x\npw=new-secret-value\n",
            &FileMask::default(),
            &new_mask_at(1),
            &[],
        );
        assert!(!d.contains("secret-value"), "{d}");
    }

    fn new_mask_at(i: usize) -> FileMask {
        let mut m = FileMask::default();
        m.lines.insert(i, 0);
        m
    }

    #[test]
    fn secret_looking_names() {
        assert!(is_secret_name("JVB_AUTH_PASSWORD"));
        assert!(is_secret_name("MY_API_TOKEN"));
        assert!(!is_secret_name("PUBLIC_URL"));
        assert!(!is_secret_name("COMPOSE_FILE"));
    }

    /// Secrets as people set them: generated ones, and values with every
    /// character some file's language escapes.
    fn secret_sets() -> Vec<Vec<(&'static str, String)>> {
        let generated: Vec<(&'static str, String)> = schema::generated_secrets()
            .enumerate()
            .map(|(i, v)| (v.name, format!("k7Qw9Zp2Xv4Lm8Rt{i}")))
            .collect();
        let hostile = [
            "pa\"ss\\word{x}<y>1",
            "with space #hash",
            "dollar$and;semi",
            "unicode-é-ß-✓-long",
            "eq=colon:bang!",
            "it's 'quoted' `tick`",
        ];
        let odd: Vec<(&'static str, String)> = schema::VARS
            .iter()
            .filter(|v| v.is_secret())
            .enumerate()
            .map(|(i, v)| match v.name {
                // turnserver.conf has no quoting: a plain token is required.
                "TURN_CREDENTIALS" => (v.name, format!("tu\"rn\\cr;$=:é{i}")),
                _ => (v.name, format!("{}{i}", hostile[i % hostile.len()])),
            })
            .collect();
        vec![generated, odd]
    }

    /// The lines read from the render are the lines a second render with
    /// placeholders finds (for every overlay, several bridges and
    /// recorders, visitor nodes, LDAP, JWT, TURN and SIP), or more; and
    /// every line that holds a secret is among them.
    #[test]
    fn secret_lines_from_the_render_cover_those_of_a_second_render() {
        use crate::config::Component;
        type Config<'a> = (Vec<(&'a str, &'a str)>, &'a [Component]);
        let configs: Vec<Config> = vec![
            (vec![], &[]),
            (
                vec![("JVB_INSTANCES", "3"), ("JIBRI_INSTANCES", "2")],
                Component::ALL,
            ),
            (
                vec![
                    ("ENABLE_VISITORS", "1"),
                    (crate::stack::visitors::COUNT_VAR, "2"),
                ],
                &[],
            ),
            (
                vec![
                    ("ENABLE_AUTH", "1"),
                    ("AUTH_TYPE", "jwt"),
                    ("JWT_APP_ID", "app"),
                ],
                &[Component::Turn],
            ),
            (
                vec![
                    ("ENABLE_AUTH", "1"),
                    ("AUTH_TYPE", "ldap"),
                    ("LDAP_URL", "ldaps://ldap.example.org"),
                    ("LDAP_BASE", "dc=example,dc=org"),
                ],
                &[Component::Jigasi],
            ),
        ];
        let mut compared = 0;
        for secrets in secret_sets() {
            for (pairs, comps) in &configs {
                let mut all: Vec<(&str, &str)> =
                    secrets.iter().map(|(n, v)| (*n, v.as_str())).collect();
                all.extend([
                    ("PUBLIC_URL", "https://meet.example.org"),
                    ("JIGASI_SIP_URI", "jitsi@sip.example.org"),
                    ("JIGASI_SIP_SERVER", "sip.example.org"),
                ]);
                all.extend(pairs.iter().copied());
                let s = crate::config::testing::stack(&all, comps);
                let out = super::super::render_all(&s).unwrap();
                let got = secret_lines(&s, &out);
                let want = secret_lines_by_rerender(&s, &out);
                assert!(!want.files.is_empty(), "{pairs:?}: no secret line");
                for (path, mask) in &want.files {
                    assert!(
                        !mask.whole,
                        "{path}: the placeholder render does not line up"
                    );
                    let ours = got.files.get(path);
                    for (line, indent) in &mask.lines {
                        assert_eq!(
                            ours.and_then(|m| m.lines.get(line)),
                            Some(indent),
                            "{path}:{} is a secret line ({pairs:?}): {:?}",
                            line + 1,
                            out.get(path).unwrap().split_inclusive('\n').nth(*line)
                        );
                        compared += 1;
                    }
                }
                // No more than the re-render finds, but for lines that hold
                // a secret's value (a value also part of another setting).
                for (path, mask) in &got.files {
                    let text = out.get(path).unwrap();
                    let lines: Vec<&str> = text.split_inclusive('\n').collect();
                    for line in mask.lines.keys() {
                        if want
                            .files
                            .get(path)
                            .is_some_and(|m| m.lines.contains_key(line))
                        {
                            continue;
                        }
                        panic!(
                            "{path}:{} masked, not by the re-render: {:?}",
                            line + 1,
                            lines[*line]
                        );
                    }
                }
            }
        }
        assert!(compared > 0);
    }
}
