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
//! The known files and what the values plan are `crate::branding`'s; the
//! checks are `validate::branding`'s.

use super::Output;
use crate::branding::{
    langs, planned, set, GEN_INTERFACE, GEN_JSON_DIR, GEN_TITLE, LANGUAGES, PACKAGE_LOGO_LINK,
    URL_PATH,
};
use crate::config::{Stack, Values};
use anyhow::Result;
use serde_json::{json, Map, Value as Json};
use std::fs;
use std::path::PathBuf;

/// PUBLIC_URL without a trailing slash (the image's default when unset).
fn public_url(v: &Values) -> String {
    v.get_or("PUBLIC_URL", "https://localhost:8443")
        .trim_end_matches('/')
        .to_string()
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
    let present = &crate::branding::present(&stack.branding_files);
    let planned = planned(v, present);
    let base = public_url(v);

    // The branding JSON (and its language bundles).
    // Not `planned.json`: a broken *_LANGS value fails the render here.
    let wants_json = crate::branding::JSON_VARS
        .iter()
        .any(|n| set(v, n).is_some());
    let json = if wants_json && !crate::branding::own_branding_url(v) {
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
        Some(t) if planned.title => {
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
    for k in present {
        if let Some(flag) = k.flag {
            lines.push(format!(
                "interfaceConfig.{flag} = true; // branding/{}",
                k.name
            ));
        }
    }
    debug_assert_eq!(lines.is_empty(), !planned.interface);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_leaves_no_delimiter() {
        let s = html_escape("a{{b}}<c>&\"'");
        assert!(!s.contains('{') && !s.contains('<') && !s.contains('"'));
    }
}
