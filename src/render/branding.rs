//! Branding without rebuilding the web image: the stack's `branding/`
//! directory and the `BRANDING_*` variables.
//!
//! - Files: each well-known file present in `branding/` is mounted
//!   read-only at the path the pinned web image serves it from (the
//!   jitsi-meet-web package's tree under `/usr/share/jitsi-meet`, see
//!   [`FILES`]). The container's root is read-only, so a mount is the only
//!   way in; the files are not rendered (they reach the browser as they are).
//! - Variables, each where the pinned jitsi-meet reads it:
//!   - the dynamic-branding JSON (`config.dynamicBrandingUrl`, fetched by
//!     the app on every page): logo link and image, background colours,
//!     invite domain, and `labels` (per-language bundles of language
//!     strings, merged into the app's own: the welcome-page title and
//!     subtitle). Rendered into `generated/web/branding/`, served by the web
//!     container itself from [`SERVED_DIR`]; config.js points at it unless
//!     `DYNAMIC_BRANDING_URL` or `BRANDING_DATA_URL` is set.
//!   - `interface_config.js` (the app name, the provider name, the logo
//!     switch, and the switches that show the welcome-page additions):
//!     rendered as `custom-interface_config.js`, which the image's boot
//!     script appends to the package's file. It is mounted over
//!     `/config/custom-interface_config.js`; a file of the operator's own at
//!     `CONFIG/web/custom-interface_config.js` is included after ours (read
//!     at render time), so its lines still win.
//!   - `title.html` (the page's `<title>` and link-preview title), when no
//!     `branding/title.html` is given.
//!
//! `check` (through [`check`]) validates the directory: unknown names (with
//! the closest known one), files that are not what their name says (magic
//! bytes, SVG parsed as XML), images above 1 MiB (warning), `{{` in HTML.

use super::Output;
use crate::config::{Stack, Values};
use crate::envfile::Entry;
use crate::validate::{Finding, Level};
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value as Json};
use std::fs;
use std::path::{Path, PathBuf};

/// The branding directory, relative to the stack directory.
pub const DIR: &str = "branding";
/// Where the rendered branding JSON and language bundles are served from
/// inside the web container (a directory mount), and its URL path.
pub const SERVED_DIR: &str = "/usr/share/jitsi-meet/static/jitsi-stack";
pub const URL_PATH: &str = "static/jitsi-stack";
/// Rendered files, under `generated/`.
const GEN_JSON_DIR: &str = "web/branding";
const GEN_TITLE: &str = "web/title.html";
const GEN_INTERFACE: &str = "web/custom-interface_config.js";
/// Above this an image gets a warning (it is fetched by every visitor).
pub const LARGE_IMAGE: u64 = 1 << 20;
/// The package's own logo link (interface_config.js JITSI_WATERMARK_LINK),
/// kept when BRANDING_LOGO_LINK is unset.
pub const PACKAGE_LOGO_LINK: &str = "https://jitsi.org";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Svg,
    Ico,
    Png,
    Html,
}

/// A file jitsi-stack knows in `branding/`.
#[derive(Debug)]
pub struct Known {
    pub name: &'static str,
    pub kind: FileKind,
    /// Where the pinned image serves it from (all of them are mounted).
    pub targets: &'static [&'static str],
    /// Where it appears on the page (README table).
    pub shows: &'static str,
    /// interface_config.js switch that makes the app show it.
    pub flag: Option<&'static str>,
}

const SHARE: &str = "/usr/share/jitsi-meet";

/// The well-known files. Paths: the jitsi-meet-web package installs its
/// tree under /usr/share/jitsi-meet (images/, static/, the *.html and *.ico
/// files at the top); index.html pulls the HTML parts in by SSI
/// (head.html first in <head>, plugin.head.html after the app's scripts,
/// body.html at the top of <body>, static/welcomePage*.html and
/// static/settingsToolbarAdditionalContent.html as <template>s the welcome
/// page clones when its interface_config switch is on); the app shows
/// images/watermark.svg as the default logo, title.html links
/// images/favicon.ico, the welcome page's CSS uses
/// images/welcome-background.png, the mobile deep-linking page
/// images/logo-deep-linking.png.
pub static FILES: &[Known] = &[
    Known {
        name: "watermark.svg",
        kind: FileKind::Svg,
        targets: &["/usr/share/jitsi-meet/images/watermark.svg"],
        shows: "the logo: welcome page header and top left of every meeting",
        flag: None,
    },
    Known {
        name: "favicon.ico",
        kind: FileKind::Ico,
        targets: &[
            "/usr/share/jitsi-meet/images/favicon.ico",
            "/usr/share/jitsi-meet/favicon.ico",
        ],
        shows: "the browser tab's icon",
        flag: None,
    },
    Known {
        name: "welcome-background.png",
        kind: FileKind::Png,
        targets: &["/usr/share/jitsi-meet/images/welcome-background.png"],
        shows: "the welcome page's header background",
        flag: None,
    },
    Known {
        name: "logo-deep-linking.png",
        kind: FileKind::Png,
        targets: &["/usr/share/jitsi-meet/images/logo-deep-linking.png"],
        shows: "the logo of the \"open in the app\" page on phones",
        flag: None,
    },
    Known {
        name: "title.html",
        kind: FileKind::Html,
        targets: &["/usr/share/jitsi-meet/title.html"],
        shows: "<title>, link-preview meta tags and the icon link, in <head>",
        flag: None,
    },
    Known {
        name: "head.html",
        kind: FileKind::Html,
        targets: &["/usr/share/jitsi-meet/head.html"],
        shows: "the start of <head>, before Jitsi's CSS (CSS and meta tags)",
        flag: None,
    },
    Known {
        name: "plugin.head.html",
        kind: FileKind::Html,
        targets: &["/usr/share/jitsi-meet/plugin.head.html"],
        shows: "the end of <head>, after Jitsi's CSS and scripts (CSS overrides, scripts)",
        flag: None,
    },
    Known {
        name: "body.html",
        kind: FileKind::Html,
        targets: &["/usr/share/jitsi-meet/body.html"],
        shows: "the start of <body>, before the app",
        flag: None,
    },
    Known {
        name: "welcomePageAdditionalContent.html",
        kind: FileKind::Html,
        targets: &["/usr/share/jitsi-meet/static/welcomePageAdditionalContent.html"],
        shows: "welcome page, below the meeting form (a <template id=\"welcome-page-additional-content-template\">)",
        flag: Some("DISPLAY_WELCOME_PAGE_CONTENT"),
    },
    Known {
        name: "welcomePageAdditionalCard.html",
        kind: FileKind::Html,
        targets: &["/usr/share/jitsi-meet/static/welcomePageAdditionalCard.html"],
        shows: "welcome page, a card next to the recent meetings (a <template id=\"welcome-page-additional-card-template\">)",
        flag: Some("DISPLAY_WELCOME_PAGE_ADDITIONAL_CARD"),
    },
    Known {
        name: "settingsToolbarAdditionalContent.html",
        kind: FileKind::Html,
        targets: &["/usr/share/jitsi-meet/static/settingsToolbarAdditionalContent.html"],
        shows: "welcome page, next to the settings button (a <template id=\"settings-toolbar-additional-content-template\">)",
        flag: Some("DISPLAY_WELCOME_PAGE_TOOLBAR_ADDITIONAL_CONTENT"),
    },
];

/// UI language codes of the jitsi-meet web app (its lang/languages.json):
/// BRANDING_WELCOME_TITLE and _SUBTITLE give a language bundle to each.
pub const LANGUAGES: &[&str] = &[
    "af", "ar", "be", "bg", "bn", "ca", "cs", "da", "de", "dsb", "el", "en", "enGB", "eo", "es",
    "esUS", "et", "eu", "fa", "fi", "fr", "frCA", "gl", "he", "hi", "hr", "hsb", "hu", "hy", "id",
    "is", "it", "ja", "kab", "ko", "lt", "lv", "ml", "mn", "mr", "nb", "nl", "oc", "pl", "pt",
    "ptBR", "ro", "ru", "sc", "sk", "sl", "sq", "sr", "sv", "sw", "ta", "te", "th", "tr", "uk",
    "vi", "zhCN", "zhTW",
];

/// Variables that go into the branding JSON.
const JSON_VARS: &[&str] = &[
    "BRANDING_LOGO_LINK",
    "BRANDING_BACKGROUND_COLOR",
    "BRANDING_PREMEETING_BACKGROUND",
    "BRANDING_INVITE_DOMAIN",
    "BRANDING_WELCOME_TITLE",
    "BRANDING_WELCOME_TITLE_LANGS",
    "BRANDING_WELCOME_SUBTITLE",
    "BRANDING_WELCOME_SUBTITLE_LANGS",
];

pub fn lookup(name: &str) -> Option<&'static Known> {
    FILES.iter().find(|k| k.name == name)
}

/// The stack's branding directory.
pub fn dir(stack: &Stack) -> PathBuf {
    stack.dir.join(DIR)
}

/// The known files present (regular files), in [`FILES`] order.
pub fn present(stack: &Stack) -> Vec<&'static Known> {
    let dir = dir(stack);
    FILES
        .iter()
        .filter(|k| {
            fs::symlink_metadata(dir.join(k.name))
                .map(|m| m.file_type().is_file())
                .unwrap_or(false)
        })
        .collect()
}

fn set(v: &Values, name: &str) -> Option<String> {
    v.raw(name).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Whether the user points the app at branding data of their own.
fn own_branding_url(v: &Values) -> bool {
    set(v, "DYNAMIC_BRANDING_URL").is_some() || set(v, "BRANDING_DATA_URL").is_some()
}

/// PUBLIC_URL without a trailing slash (the image's default when unset).
fn public_url(v: &Values) -> String {
    v.get_or("PUBLIC_URL", "https://localhost:8443")
        .trim_end_matches('/')
        .to_string()
}

/// A per-language JSON object variable: language code -> text.
fn langs(v: &Values, name: &str) -> Result<Vec<(String, String)>> {
    let Some(raw) = set(v, name) else {
        return Ok(vec![]);
    };
    let map: Map<String, Json> = serde_json::from_str(&raw).with_context(|| {
        format!(
            "{name}: not a JSON object of language code to text, such as {{\"de\":\"Willkommen\"}}"
        )
    })?;
    let mut out = vec![];
    for (lang, text) in map {
        if !valid_lang(&lang) {
            bail!("{name}: {lang:?} is not a language code (such as de, ptBR, zhCN)");
        }
        let Json::String(text) = text else {
            bail!("{name}: the value for {lang:?} must be a string");
        };
        out.push((lang, text));
    }
    Ok(out)
}

fn valid_lang(code: &str) -> bool {
    let b = code.as_bytes();
    let lower = b.iter().take_while(|c| c.is_ascii_lowercase()).count();
    let rest = &b[lower..];
    (2..=3).contains(&lower)
        && (rest.is_empty() || (rest.len() == 2 && rest.iter().all(u8::is_ascii_uppercase)))
}

/// What the branding variables and files produce.
struct Plan {
    /// `generated/web/branding/` files (name, JSON text) and the branding
    /// JSON's URL, when the JSON is rendered.
    json: Option<(Vec<(String, String)>, String)>,
    title: Option<String>,
    interface: Option<String>,
}

fn plan(stack: &Stack) -> Result<Plan> {
    let v = &stack.values;
    let present = present(stack);
    let base = public_url(v);

    // The branding JSON (and its language bundles).
    let wants_json = JSON_VARS.iter().any(|n| set(v, n).is_some());
    let json = if wants_json && !own_branding_url(v) {
        let mut files = vec![];
        let mut data = Map::new();
        data.insert(
            "logoClickUrl".into(),
            json!(set(v, "BRANDING_LOGO_LINK").unwrap_or_else(|| PACKAGE_LOGO_LINK.into())),
        );
        // With branding data the app shows logoImageUrl, not its default:
        // point it at the logo the image serves (branding/watermark.svg or
        // the package's own).
        data.insert(
            "logoImageUrl".into(),
            json!(format!("{base}/images/watermark.svg")),
        );
        for (var, key) in [
            ("BRANDING_BACKGROUND_COLOR", "backgroundColor"),
            ("BRANDING_PREMEETING_BACKGROUND", "premeetingBackground"),
            ("BRANDING_INVITE_DOMAIN", "inviteDomain"),
        ] {
            if let Some(val) = set(v, var) {
                data.insert(key.into(), json!(val));
            }
        }
        let labels = label_bundles(v)?;
        if !labels.is_empty() {
            let mut map = Map::new();
            for (lang, bundle) in &labels {
                let text = escaped_json(bundle);
                let name = format!("lang-{}.json", short_hash(&text));
                map.insert(
                    lang.clone(),
                    json!(format!("{base}/{URL_PATH}/{name}?v={}", short_hash(&text))),
                );
                if !files.iter().any(|(n, _)| *n == name) {
                    files.push((name, text + "\n"));
                }
            }
            data.insert("labels".into(), Json::Object(map));
        }
        let text = escaped_json(&Json::Object(data));
        let url = format!("{base}/{URL_PATH}/branding.json?v={}", short_hash(&text));
        files.push(("branding.json".into(), text + "\n"));
        files.sort();
        Some((files, url))
    } else {
        None
    };

    // title.html from the variables, unless the directory has one.
    let title_text = set(v, "BRANDING_PAGE_TITLE").or_else(|| set(v, "BRANDING_APP_NAME"));
    let title = match title_text {
        Some(t) if !present.iter().any(|k| k.name == "title.html") => {
            let t = html_escape(&t);
            Some(format!(
                "<!-- {} -->\n<title>{t}</title>\n<meta property=\"og:title\" content=\"{t}\" />\n<meta itemprop=\"name\" content=\"{t}\" />\n<link rel=\"icon\" type=\"image/x-icon\" href=\"images/favicon.ico?v=1\" />\n",
                super::GENERATED_NOTE.replace("--", "- -")
            ))
        }
        _ => None,
    };

    // interface_config.js additions.
    let mut lines = vec![];
    for (var, key) in [
        ("BRANDING_APP_NAME", "APP_NAME"),
        ("BRANDING_PROVIDER_NAME", "PROVIDER_NAME"),
    ] {
        if let Some(val) = set(v, var) {
            lines.push(format!(
                "interfaceConfig.{key} = {};",
                crate::escape::js_str(&val)
            ));
        }
    }
    if set(v, "BRANDING_SHOW_LOGO").is_some() {
        lines.push(format!(
            "interfaceConfig.SHOW_JITSI_WATERMARK = {};",
            v.bool("BRANDING_SHOW_LOGO")
        ));
    }
    for k in &present {
        if let Some(flag) = k.flag {
            lines.push(format!(
                "interfaceConfig.{flag} = true; // branding/{}",
                k.name
            ));
        }
    }
    let interface = if lines.is_empty() {
        None
    } else {
        let mut text = format!(
            "// {}\n// Branding: appended by the web image's boot script to the package's\n// interface_config.js.\n{}\n",
            super::GENERATED_NOTE,
            lines.join("\n")
        );
        let own = operator_interface_config(stack);
        if let Ok(own_text) = fs::read_to_string(&own) {
            if !own_text.trim().is_empty() {
                text.push_str(&format!(
                    "\n// {} (included at render time; its settings win)\n{own_text}",
                    own.display()
                ));
                if !text.ends_with('\n') {
                    text.push('\n');
                }
            }
        }
        Some(text)
    };
    Ok(Plan {
        json,
        title,
        interface,
    })
}

/// The operator's own custom-interface_config.js in the `/config` volume.
fn operator_interface_config(stack: &Stack) -> PathBuf {
    stack.config_dir().join("web/custom-interface_config.js")
}

/// Language -> bundle (`{"welcomepage": {...}}`) for every language with
/// a title or subtitle.
fn label_bundles(v: &Values) -> Result<Vec<(String, Json)>> {
    let title = set(v, "BRANDING_WELCOME_TITLE");
    let subtitle = set(v, "BRANDING_WELCOME_SUBTITLE");
    let title_langs = langs(v, "BRANDING_WELCOME_TITLE_LANGS")?;
    let subtitle_langs = langs(v, "BRANDING_WELCOME_SUBTITLE_LANGS")?;
    let mut codes: Vec<String> = vec![];
    if title.is_some() || subtitle.is_some() {
        codes.extend(LANGUAGES.iter().map(|s| s.to_string()));
    }
    for (l, _) in title_langs.iter().chain(&subtitle_langs) {
        if !codes.contains(l) {
            codes.push(l.clone());
        }
    }
    codes.sort();
    let pick = |l: &str, langs: &[(String, String)], all: &Option<String>| {
        langs
            .iter()
            .find(|(c, _)| c == l)
            .map(|(_, t)| t.clone())
            .or_else(|| all.clone())
    };
    Ok(codes
        .into_iter()
        .map(|l| {
            let mut page = Map::new();
            if let Some(t) = pick(&l, &title_langs, &title) {
                page.insert("headerTitle".into(), json!(t));
            }
            if let Some(t) = pick(&l, &subtitle_langs, &subtitle) {
                page.insert("headerSubtitle".into(), json!(t));
            }
            (l, json!({ "welcomepage": page }))
        })
        .collect())
}

/// Pretty JSON with `{`, `}`, `<`, `>` inside strings escaped (no template
/// delimiter or SSI reaches a mounted file).
fn escaped_json(v: &Json) -> String {
    super::js_escape_json(&serde_json::to_string_pretty(v).expect("JSON"))
}

/// FNV-1a, 48 bits in hex: names a bundle by its content and busts caches
/// (nginx serves /static/ with a one-year expiry when `?v=` is present).
fn short_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", h >> 16)
}

/// Text for HTML element content and double-quoted attributes; `{` and `}`
/// too, so no template delimiter reaches the mounted file.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '{' => out.push_str("&#123;"),
            '}' => out.push_str("&#125;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the branding files into `out` and returns the URL config.js
/// sets as `dynamicBrandingUrl`, if any.
pub fn render(stack: &Stack, out: &mut Output) -> Result<Option<String>> {
    let p = plan(stack)?;
    let gen = super::GENERATED_DIR;
    if let Some(t) = p.title {
        out.add(format!("{gen}/{GEN_TITLE}"), t);
    }
    if let Some(t) = p.interface {
        out.add(format!("{gen}/{GEN_INTERFACE}"), t);
    }
    Ok(match p.json {
        Some((files, url)) => {
            for (name, text) in files {
                out.add(format!("{gen}/{GEN_JSON_DIR}/{name}"), text);
            }
            Some(url)
        }
        None => None,
    })
}

/// The web service's branding mounts (read-only):
/// each present file at each of its targets, and the rendered files.
pub fn mounts(stack: &Stack) -> Vec<crate::stack::Mount> {
    let file = |source: String, target: String| crate::stack::Mount::Rendered { source, target };
    let mut out = vec![];
    for k in present(stack) {
        for t in k.targets {
            out.push(file(format!("./{DIR}/{}", k.name), t.to_string()));
        }
    }
    if let Ok(p) = plan(stack) {
        if p.title.is_some() {
            out.push(file(
                format!("./generated/{GEN_TITLE}"),
                format!("{SHARE}/title.html"),
            ));
        }
        if p.json.is_some() {
            out.push(file(
                format!("./generated/{GEN_JSON_DIR}"),
                SERVED_DIR.to_string(),
            ));
        }
        if p.interface.is_some() {
            out.push(file(
                format!("./generated/{GEN_INTERFACE}"),
                "/config/custom-interface_config.js".to_string(),
            ));
        }
    }
    out
}

// ----------------------------------------------------------------- checks

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
    let mut out = check_dir(&dir(stack), &format!("./{DIR}"));
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
    if set(v, "BRANDING_PAGE_TITLE").is_some() && dir(stack).join("title.html").is_file() {
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
    let own = operator_interface_config(stack);
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

// ------------------------------------------------------------ init --branding

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

/// Copies the known files of `src` into `STACK/branding` (a new directory,
/// filled under a temporary name and renamed into place). Returns the names
/// copied.
pub fn install(src: &Path, stack_dir: &Path) -> Result<Vec<&'static str>> {
    let target = stack_dir.join(DIR);
    let tmp = stack_dir.join(format!(".{DIR}.new-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let result = (|| -> Result<Vec<&'static str>> {
        let mut copied = vec![];
        for k in FILES {
            let from = src.join(k.name);
            if fs::symlink_metadata(&from)
                .map(|m| m.is_file())
                .unwrap_or(false)
            {
                let bytes =
                    fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
                let to = tmp.join(k.name);
                fs::write(&to, &bytes).with_context(|| format!("writing {}", to.display()))?;
                fs::File::open(&to)?.sync_all()?;
                copied.push(k.name);
            }
        }
        fs::File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, &target)
            .with_context(|| format!("moving {} to {}", tmp.display(), target.display()))?;
        Ok(copied)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_have_distinct_targets_under_the_package_tree() {
        let mut seen = std::collections::BTreeSet::new();
        for k in FILES {
            for t in k.targets {
                assert!(t.starts_with(SHARE), "{t}");
                assert!(seen.insert(*t), "{t} twice");
                assert!(!t.contains(':'));
            }
        }
    }

    #[test]
    fn closest_name_for_typos() {
        assert_eq!(closest("watermark.png"), Some("watermark.svg"));
        assert_eq!(closest("favicon.icon"), Some("favicon.ico"));
        assert_eq!(closest("Title.html"), Some("title.html"));
        assert_eq!(closest("plugin-head.html"), Some("plugin.head.html"));
        assert_eq!(closest("something-else.bin"), None);
    }

    #[test]
    fn language_codes_and_colours() {
        for ok in ["de", "ptBR", "zhCN", "kab"] {
            assert!(valid_lang(ok), "{ok}");
        }
        for bad in ["d", "pt-BR", "DE", "deutsch", "ptbr"] {
            assert!(!valid_lang(bad), "{bad}");
        }
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

    #[test]
    fn html_escape_leaves_no_delimiter() {
        let s = html_escape("a{{b}}<c>&\"'");
        assert!(!s.contains('{') && !s.contains('<') && !s.contains('"'));
    }
}
