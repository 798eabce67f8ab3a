//! The stack's `branding/` directory: the files jitsi-stack knows there
//! (their names, kinds and where the pinned web image serves them), which of
//! them are present, what the `BRANDING_*` values plan (which rendered files
//! exist), and `init --branding`'s copy. The renderer (`render::branding`)
//! writes the files, `validate::branding` checks them; the model mounts them
//! from what [`planned`] says, with no file I/O of its own.

use crate::config::Values;
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value as Json};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The branding directory, relative to the stack directory.
pub const DIR: &str = crate::layout::BRANDING_DIR;
/// Where the rendered branding JSON and language bundles are served from
/// inside the web container (a directory mount), and its URL path.
pub const SERVED_DIR: &str = "/usr/share/jitsi-meet/static/jitsi-stack";
pub const URL_PATH: &str = "static/jitsi-stack";
/// Rendered config objects (ids: the web service's directory of them).
pub const GEN_JSON_DIR: &str = "web/branding";
pub const GEN_TITLE: &str = "web/title.html";
pub const GEN_INTERFACE: &str = "web/custom-interface_config.js";
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

pub const SHARE: &str = "/usr/share/jitsi-meet";

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
pub const JSON_VARS: &[&str] = &[
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

/// The known files among `files` (the regular files of `branding/`, see
/// `Stack::branding_files`), in [`FILES`] order.
pub fn present(files: &BTreeSet<String>) -> Vec<&'static Known> {
    FILES.iter().filter(|k| files.contains(k.name)).collect()
}

pub fn set(v: &Values, name: &str) -> Option<String> {
    v.raw(name).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Whether the user points the app at branding data of their own.
pub fn own_branding_url(v: &Values) -> bool {
    set(v, "DYNAMIC_BRANDING_URL").is_some() || set(v, "BRANDING_DATA_URL").is_some()
}

/// A per-language JSON object variable: language code -> text.
pub fn langs(v: &Values, name: &str) -> Result<Vec<(String, String)>> {
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

pub fn valid_lang(code: &str) -> bool {
    let b = code.as_bytes();
    let lower = b.iter().take_while(|c| c.is_ascii_lowercase()).count();
    let rest = &b[lower..];
    (2..=3).contains(&lower)
        && (rest.is_empty() || (rest.len() == 2 && rest.iter().all(u8::is_ascii_uppercase)))
}

/// Which rendered files the branding values and the present files plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Planned {
    /// The branding JSON and its language bundles (`generated/web/branding/`).
    pub json: bool,
    /// `title.html` from the variables.
    pub title: bool,
    /// `custom-interface_config.js` (interface_config.js additions).
    pub interface: bool,
}

/// What [`planned`] decides for `values` and the present files. The
/// renderer renders exactly these; the model mounts exactly these.
pub fn planned(v: &Values, present: &[&'static Known]) -> Planned {
    let json = JSON_VARS.iter().any(|n| set(v, n).is_some())
        && !own_branding_url(v)
        && langs(v, "BRANDING_WELCOME_TITLE_LANGS").is_ok()
        && langs(v, "BRANDING_WELCOME_SUBTITLE_LANGS").is_ok();
    let title = (set(v, "BRANDING_PAGE_TITLE").is_some() || set(v, "BRANDING_APP_NAME").is_some())
        && !present.iter().any(|k| k.name == "title.html");
    let interface = set(v, "BRANDING_APP_NAME").is_some()
        || set(v, "BRANDING_PROVIDER_NAME").is_some()
        || set(v, "BRANDING_SHOW_LOGO").is_some()
        || present.iter().any(|k| k.flag.is_some());
    Planned {
        json,
        title,
        interface,
    }
}

// ------------------------------------------------------------ init --branding

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
    fn language_codes() {
        for ok in ["de", "ptBR", "zhCN", "kab"] {
            assert!(valid_lang(ok), "{ok}");
        }
        for bad in ["d", "pt-BR", "DE", "deutsch", "ptbr"] {
            assert!(!valid_lang(bad), "{bad}");
        }
    }
}
