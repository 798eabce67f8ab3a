//! Branding's checks: the `branding/` directory (unknown names with the
//! closest known one, files that are not what their name says: magic bytes,
//! SVG parsed as XML; images above 1 MiB, `{{` in HTML), the `BRANDING_*`
//! formats and clashes, and `init --branding`'s source and target.

use super::{Finding, Level};
use crate::branding::{
    langs, lookup, own_branding_url, set, FileKind, Known, DIR, FILES, JSON_VARS, LANGUAGES,
    LARGE_IMAGE,
};
use crate::config::Stack;
use crate::envfile::Entry;
use anyhow::{bail, Result};
use std::fs;
use std::path::{Path, PathBuf};

fn finding(
    level: Level,
    file: String,
    message: String,
    expected: &str,
    found: String,
    fix: String,
) -> Finding {
    Finding {
        level,
        code: "branding".into(),
        rule: None,
        release: None,
        file,
        line: None,
        variable: None,
        message,
        expected: Some(expected.to_string()),
        found: Some(found),
        fix: Some(fix),
    }
}

/// The known name closest to `name`, for "did you mean".
fn closest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    FILES
        .iter()
        .map(|k| {
            (
                crate::schema::edit_distance(&lower, &k.name.to_ascii_lowercase()),
                k.name,
            )
        })
        .filter(|(d, n)| *d <= (n.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Checks a branding directory (the stack's, or one `init --branding`
/// copies). `shown` is how findings name the directory.
pub fn check_dir(dir: &Path, shown: &str) -> Vec<Finding> {
    let mut out = vec![];
    let Ok(rd) = fs::read_dir(dir) else {
        if dir.exists() {
            out.push(finding(
                Level::Error,
                shown.to_string(),
                "cannot read the branding directory".into(),
                "a readable directory",
                "unreadable".into(),
                format!("check the permissions of {shown}"),
            ));
        }
        return out;
    };
    let mut names: Vec<(String, PathBuf)> = rd
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    names.sort();
    for (name, path) in names {
        let file = format!("{shown}/{name}");
        let Some(known) = lookup(&name) else {
            if name.starts_with('.') {
                out.push(finding(
                    Level::Warning,
                    file,
                    "hidden file: not mounted".into(),
                    "only the well-known branding files",
                    name,
                    "remove it".into(),
                ));
                continue;
            }
            let hint = match closest(&name) {
                Some(s) => format!("did you mean {s}? Rename it"),
                None => {
                    "remove it or rename it to one of the known names (see docs/branding.md)".into()
                }
            };
            out.push(finding(
                Level::Error,
                file,
                format!(
                    "{name:?} is not a branding file jitsi-stack knows; it would not be mounted"
                ),
                &format!(
                    "one of {}",
                    FILES.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                ),
                name,
                hint,
            ));
            continue;
        };
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                out.push(finding(
                    Level::Error,
                    file,
                    format!("cannot read it: {e}"),
                    "a readable file",
                    "unreadable".into(),
                    "check its permissions".into(),
                ));
                continue;
            }
        };
        if !meta.file_type().is_file() {
            let what = if meta.file_type().is_symlink() {
                "a symbolic link"
            } else if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            };
            out.push(finding(
                Level::Error,
                file,
                format!("{what}: Compose would mount whatever it points to"),
                "a regular file",
                what.into(),
                format!("replace it with a copy of the file itself (cp --dereference ... {shown}/{name})"),
            ));
            continue;
        }
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                out.push(finding(
                    Level::Error,
                    file,
                    format!("cannot read it: {e}"),
                    "a readable file",
                    "unreadable".into(),
                    "check its permissions (the web container reads it as uid 1000)".into(),
                ));
                continue;
            }
        };
        out.extend(check_content(known, &bytes, &file));
    }
    out
}

/// What a file must be, by its name.
fn check_content(known: &Known, bytes: &[u8], file: &str) -> Vec<Finding> {
    let mut out = vec![];
    let bad = |expected: &str, found: String| {
        finding(
            Level::Error,
            file.to_string(),
            format!("{} is not what its name says", known.name),
            expected,
            found,
            format!("save the image in the right format under {}", known.name),
        )
    };
    let head = |n: usize| -> String {
        bytes
            .iter()
            .take(n)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match known.kind {
        FileKind::Png => {
            if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
                out.push(bad(
                    "a PNG image (starts with 89 50 4e 47 0d 0a 1a 0a)",
                    format!("starts with {}", head(8)),
                ));
            }
        }
        FileKind::Ico => {
            if bytes.len() < 6
                || !bytes.starts_with(&[0, 0, 1, 0])
                || (bytes[4] == 0 && bytes[5] == 0)
            {
                out.push(bad(
                    "a Windows icon (starts with 00 00 01 00, at least one image)",
                    format!("starts with {}", head(6)),
                ));
            }
        }
        FileKind::Svg => match std::str::from_utf8(bytes) {
            Err(_) => out.push(bad(
                "an SVG image (UTF-8 XML)",
                "bytes that are not UTF-8".into(),
            )),
            Ok(text) => match roxmltree::Document::parse(text) {
                Err(e) => out.push(bad(
                    "an SVG image (well-formed XML)",
                    format!("XML error: {e}"),
                )),
                Ok(doc) => {
                    let root = doc.root_element().tag_name().name().to_string();
                    if root != "svg" {
                        out.push(bad(
                            "an SVG image (root element <svg>)",
                            format!("root element <{root}>"),
                        ));
                    }
                }
            },
        },
        FileKind::Html => match std::str::from_utf8(bytes) {
            Err(_) => out.push(finding(
                Level::Error,
                file.to_string(),
                "not UTF-8 text".into(),
                "an HTML fragment in UTF-8",
                "bytes that are not UTF-8".into(),
                "save it as UTF-8".into(),
            )),
            Ok(text) => {
                if let Some(pos) = text.find("{{") {
                    let line = text[..pos].matches('\n').count() + 1;
                    out.push(finding(
                        Level::Error,
                        format!("{file}:{line}"),
                        "contains '{{': the images' template renderer treats it as a template action, and jitsi-stack mounts no file with one".into(),
                        "HTML without '{{'",
                        format!("'{{{{' on line {line}"),
                        "write '&#123;&#123;' (or '{ {') instead".into(),
                    ));
                }
            }
        },
    }
    if known.kind != FileKind::Html && bytes.len() as u64 > LARGE_IMAGE {
        out.push(finding(
            Level::Warning,
            file.to_string(),
            format!("{} KiB: every visitor downloads it", bytes.len() / 1024),
            "an image of at most 1 MiB",
            format!("{} bytes", bytes.len()),
            "compress or scale it down".into(),
        ));
    }
    out
}

/// Everything `check` says about branding: the directory, the variables
/// that need a format of their own, and clashes.
pub fn check(stack: &Stack) -> Vec<Finding> {
    let mut out = check_dir(&stack.dir.join(DIR), &format!("./{DIR}"));
    let v = &stack.values;
    let env = stack.env_path.display().to_string();
    let var_finding = |level: Level, name: &str, message: String, expected: &str, fix: String| {
        let entry: Option<&Entry> = stack.file.entry(name);
        Finding {
            level,
            code: "branding".into(),
            rule: None,
            release: None,
            file: env.clone(),
            line: entry.map(|e| e.line),
            variable: Some(name.to_string()),
            message,
            expected: Some(expected.to_string()),
            found: v.raw(name).map(|s| format!("{name}={s}")),
            fix: Some(fix),
        }
    };
    for name in [
        "BRANDING_WELCOME_TITLE_LANGS",
        "BRANDING_WELCOME_SUBTITLE_LANGS",
    ] {
        match langs(v, name) {
            Err(e) => out.push(var_finding(
                Level::Error,
                name,
                format!("{e:#}"),
                "a JSON object of language code to text, such as {\"de\":\"Willkommen\",\"fr\":\"Bienvenue\"}",
                format!("correct {name} in .env"),
            )),
            Ok(list) => {
                for (lang, _) in list {
                    if !LANGUAGES.contains(&lang.as_str()) {
                        out.push(var_finding(
                            Level::Warning,
                            name,
                            format!("{lang:?} is not one of the web app's languages; it is used only if the app runs in it"),
                            &format!("one of {}", LANGUAGES.join(", ")),
                            format!("check the code {lang:?}"),
                        ));
                    }
                }
            }
        }
    }
    if let Some(c) = set(v, "BRANDING_BACKGROUND_COLOR") {
        if !css_colour(&c) {
            out.push(var_finding(
                Level::Error,
                "BRANDING_BACKGROUND_COLOR",
                "not a CSS colour".into(),
                "#rgb, #rrggbb(aa), rgb(...)/rgba(...)/hsl(...)/hsla(...) or a colour name",
                "write the colour as #1a2b3c".into(),
            ));
        }
    }
    if set(v, "BRANDING_PAGE_TITLE").is_some() && stack.dir.join(DIR).join("title.html").is_file() {
        out.push(var_finding(
            Level::Error,
            "BRANDING_PAGE_TITLE",
            format!("./{DIR}/title.html is given too; only one can be the page's title.html"),
            "BRANDING_PAGE_TITLE or branding/title.html",
            "remove one of them".into(),
        ));
    }
    if own_branding_url(v) {
        for name in JSON_VARS {
            if set(v, name).is_some() {
                out.push(var_finding(
                    Level::Warning,
                    name,
                    "ignored: DYNAMIC_BRANDING_URL or BRANDING_DATA_URL points the app at branding data of your own".into(),
                    "either the BRANDING_* variables or your own branding URL",
                    "put the setting in your own branding data, or unset your branding URL".into(),
                ));
            }
        }
    }
    let own = stack.config_dir().join("web/custom-interface_config.js");
    if let Ok(text) = fs::read_to_string(&own) {
        if text.contains("{{") {
            out.push(finding(
                Level::Error,
                own.display().to_string(),
                "contains '{{'; with branding it is included into generated/web/custom-interface_config.js, which may hold none".into(),
                "JavaScript without '{{'",
                "'{{'".into(),
                "write '{ {' instead".into(),
            ));
        }
    }
    out
}

fn css_colour(c: &str) -> bool {
    let c = c.trim();
    if let Some(hex) = c.strip_prefix('#') {
        return matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    for f in ["rgb(", "rgba(", "hsl(", "hsla("] {
        if let Some(args) = c.strip_prefix(f).and_then(|r| r.strip_suffix(')')) {
            return !args.is_empty()
                && args
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b" .,%/".contains(&b) || b"deg".contains(&b));
        }
    }
    !c.is_empty() && c.len() <= 32 && c.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Validates a prepared branding directory for `init --branding DIR`:
/// errors name the file; nothing is written.
pub fn check_source(src: &Path) -> Result<()> {
    if !src.is_dir() {
        bail!("--branding {}: not a directory", src.display());
    }
    let findings = check_dir(src, &src.display().to_string());
    for f in findings.iter().filter(|f| f.level == Level::Warning) {
        crate::errln!("{f}");
    }
    // Each finding prints as its own `error: ...` paragraph; the command's
    // error (printed once by main as `error: ...`) only sums them up.
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    for f in findings.iter().filter(|f| f.level == Level::Error) {
        crate::errln!("{f}");
    }
    if errors > 0 {
        bail!(
            "--branding {}: {} error{}; nothing was written",
            src.display(),
            errors,
            if errors == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Refuses before anything is written when the stack already has a
/// branding directory.
pub fn check_target(stack_dir: &Path) -> Result<()> {
    let target = stack_dir.join(DIR);
    if fs::symlink_metadata(&target).is_ok() {
        bail!(
            "{} exists already; --branding copies into a new directory only (merge by hand, then run `jitsi-stack check`): nothing was written",
            target.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_name_for_typos() {
        assert_eq!(closest("watermark.png"), Some("watermark.svg"));
        assert_eq!(closest("favicon.icon"), Some("favicon.ico"));
        assert_eq!(closest("Title.html"), Some("title.html"));
        assert_eq!(closest("plugin-head.html"), Some("plugin.head.html"));
        assert_eq!(closest("something-else.bin"), None);
    }

    #[test]
    fn colours() {
        for ok in [
            "#abc",
            "#a1b2c3",
            "#a1b2c3d4",
            "rgb(1, 2, 3)",
            "hsla(120deg, 50%, 50%, 0.5)",
            "navy",
        ] {
            assert!(css_colour(ok), "{ok}");
        }
        for bad in [
            "#abcde",
            "red; background: url(x)",
            "url(x)",
            "",
            "rgb(1,2,3); x",
        ] {
            assert!(!css_colour(bad), "{bad}");
        }
    }
}
