//! branding tests: the stack's branding/ directory and BRANDING_* variables,
//! rendered, mounted by Compose, booted and served by the web image's nginx
//! (see web_boot), and read back: every file byte for byte at its URL, the
//! branding JSON and its language bundles parsed, interface_config.js
//! evaluated.

use crate::web_boot::{boot, config_dir, rendered};
use crate::{Run, Test};
use serde_json::Value as Json;
use std::fs;
use std::path::Path;
use std::process::Command;

const SVG: &[u8] = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\" fill=\"#123456\"/></svg>\n";

fn png(tag: &str) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend_from_slice(format!("stand-in image data {tag}").as_bytes());
    b
}

fn ico() -> Vec<u8> {
    let mut b = vec![0, 0, 1, 0, 1, 0];
    b.extend_from_slice(&[
        16, 16, 0, 0, 1, 0, 32, 0, 4, 0, 0, 0, 22, 0, 0, 0, 1, 2, 3, 4,
    ]);
    b
}

/// Every well-known file, with content that identifies it.
fn all_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("watermark.svg", SVG.to_vec()),
        ("favicon.ico", ico()),
        ("welcome-background.png", png("background")),
        ("logo-deep-linking.png", png("deep-linking")),
        ("head.html", b"<style>/* branding head.html */ body { color: #111; }</style>\n".to_vec()),
        ("plugin.head.html", b"<style>/* branding plugin.head.html */</style>\n".to_vec()),
        ("body.html", b"<div>branding body.html</div>\n".to_vec()),
        (
            "welcomePageAdditionalContent.html",
            b"<template id=\"welcome-page-additional-content-template\">branding content</template>\n".to_vec(),
        ),
        (
            "welcomePageAdditionalCard.html",
            b"<template id=\"welcome-page-additional-card-template\">branding card</template>\n".to_vec(),
        ),
        (
            "settingsToolbarAdditionalContent.html",
            b"<template id=\"settings-toolbar-additional-content-template\">branding toolbar</template>\n".to_vec(),
        ),
    ]
}

fn write_branding(dir: &Path, files: &[(&str, Vec<u8>)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        fs::write(dir.join(name), bytes).unwrap();
    }
}

/// A stack with branding files written before `render`.
fn branded(extra: &[(&str, &str)], files: &[(&str, Vec<u8>)]) -> Run {
    let run = crate::harness::init_stack_raw(extra, &[]);
    write_branding(&run.path().join("branding"), files);
    Test::again(run).args(["render"]).run()
}

/// Runs `jitsi-stack check` in the stack, expecting exit `status`; stderr
/// (the findings) followed by stdout (the summary).
fn check_stack(run: &Run, status: i32) -> String {
    let out = assert_cmd::Command::cargo_bin("jitsi-stack")
        .unwrap()
        .current_dir(run.path())
        .env_remove("JITSI_STACK_DIR")
        .arg("check")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(status), "check: {stderr}");
    format!("{stderr}{}", String::from_utf8_lossy(&out.stdout))
}

/// Evaluates interface_config.js text with node and returns interfaceConfig.
fn eval_interface_config(text: &str) -> Json {
    let script = r#"
const vm = require('vm');
const src = require('fs').readFileSync(0, 'utf8');
const ctx = vm.createContext({});
new vm.Script(src).runInContext(ctx, { timeout: 2000 });
process.stdout.write(vm.runInContext('JSON.stringify(interfaceConfig)', ctx));
"#;
    let mut child = Command::new("node")
        .arg("-e")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rendered branding files of a stack, each read back by its consumer's
/// parser: the branding JSON and language bundles by serde_json, the
/// interface_config.js addition by node (on an empty interfaceConfig), and
/// title.html's texts with their HTML entities decoded. (path, strings).
pub fn read_back(run: &Run) -> Vec<(std::path::PathBuf, Vec<String>)> {
    let web = run.path().join("generated/web");
    let mut out = vec![];
    if let Ok(rd) = fs::read_dir(web.join("branding")) {
        for f in rd.flatten() {
            let v: Json = serde_json::from_str(&fs::read_to_string(f.path()).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.path().display()));
            let mut strings = vec![];
            collect(&v, &mut strings);
            out.push((f.path(), strings));
        }
    }
    let ic = web.join("custom-interface_config.js");
    if ic.exists() {
        let text = "var interfaceConfig = {};\n".to_string() + &fs::read_to_string(&ic).unwrap();
        let v = eval_interface_config(&text);
        let mut strings = vec![];
        collect(&v, &mut strings);
        out.push((ic, strings));
    }
    let title = web.join("title.html");
    if title.exists() {
        let text = fs::read_to_string(&title).unwrap();
        let t = text
            .split("<title>")
            .nth(1)
            .and_then(|r| r.split("</title>").next())
            .unwrap_or_else(|| panic!("{}: no <title>", title.display()));
        assert!(!t.contains('<'), "{}: markup in the title", title.display());
        let decoded = t
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#123;", "{")
            .replace("&#125;", "}")
            .replace("&amp;", "&");
        out.push((title, vec![decoded]));
    }
    out
}

fn collect(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::String(s) => out.push(s.clone()),
        Json::Array(a) => a.iter().for_each(|x| collect(x, out)),
        Json::Object(o) => o.values().for_each(|x| collect(x, out)),
        _ => {}
    }
}

/// The path part of an absolute URL on the stack's PUBLIC_URL.
fn path_of(url: &str) -> String {
    let rest = url
        .strip_prefix("https://meet.example.org:8443")
        .unwrap_or_else(|| panic!("{url}"));
    rest.to_string()
}

#[test]
fn every_branding_file_and_variable_is_mounted_served_and_read_back() {
    let app = "Schule \"Am See\" <Meet> {{ x }} & ü";
    let title = "Willkommen's \"Seite\" <b>";
    let vars: &[(&str, &str)] = &[
        ("BRANDING_APP_NAME", app),
        ("BRANDING_PAGE_TITLE", "Meet – Schule {{ .Env.X }} <tag>"),
        ("BRANDING_PROVIDER_NAME", "Schule am See e.V."),
        ("BRANDING_SHOW_LOGO", "0"),
        (
            "BRANDING_LOGO_LINK",
            "https://schule.example.org/?a=1&b='2'",
        ),
        ("BRANDING_BACKGROUND_COLOR", "#1a2b3c"),
        (
            "BRANDING_PREMEETING_BACKGROUND",
            "linear-gradient(#fff, #000)",
        ),
        ("BRANDING_INVITE_DOMAIN", "meet.schule.example.org"),
        ("BRANDING_WELCOME_TITLE", "Welcome {to} \"us\""),
        (
            "BRANDING_WELCOME_SUBTITLE",
            "Video meetings </script> for everyone",
        ),
        (
            "BRANDING_WELCOME_TITLE_LANGS",
            &format!("{{\"de\":{}}}", serde_json::to_string(title).unwrap()),
        ),
        (
            "BRANDING_WELCOME_SUBTITLE_LANGS",
            "{\"fr\":\"Réunions\",\"ptBR\":\"Reuniões\"}",
        ),
    ];
    let run = branded(vars, &all_files());
    let check = check_stack(&run, 0);
    assert!(!check.contains("branding"), "{}", check);

    // Compose v2 accepts the mounts; each known file is mounted read-only at
    // its path, the rendered ones too.
    let json = crate::compose::merged_config(&run);
    let vols = crate::compose::binds(&json["services"]["web"]);
    for k in jitsi_stack::branding::FILES {
        if k.name == "title.html" {
            continue;
        }
        for t in k.targets {
            let v = vols
                .iter()
                .find(|(_, target, _)| target == t)
                .unwrap_or_else(|| panic!("{} not mounted at {t}", k.name));
            assert!(v.0.ends_with(&format!("/branding/{}", k.name)), "{v:?}");
            assert!(v.2, "{t} must be read-only");
        }
    }
    for t in [
        "/usr/share/jitsi-meet/title.html",
        "/usr/share/jitsi-meet/static/jitsi-stack",
        "/config/custom-interface_config.js",
    ] {
        assert!(
            vols.iter().any(|(_, target, ro)| target == t && *ro),
            "{t} not mounted"
        );
    }

    // The branding JSON as rendered, and the URLs of its bundles.
    let gen = run.path().join("generated/web/branding");
    let data: Json =
        serde_json::from_str(&fs::read_to_string(gen.join("branding.json")).unwrap()).unwrap();
    let labels = data["labels"].as_object().unwrap().clone();
    let mut reqs: Vec<Vec<String>> = vec![];
    let mut push = |p: &str| {
        reqs.push(vec![format!("https://127.0.0.1:8443{p}")]);
        reqs.len() - 1
    };
    let files = all_files();
    let file_req: Vec<(usize, &str, Vec<u8>)> = jitsi_stack::branding::FILES
        .iter()
        .filter(|k| k.name != "title.html")
        .flat_map(|k| {
            let bytes = files.iter().find(|(n, _)| *n == k.name).unwrap().1.clone();
            k.targets.iter().map(move |t| {
                (
                    t.trim_start_matches("/usr/share/jitsi-meet"),
                    k.name,
                    bytes.clone(),
                )
            })
        })
        .map(|(p, name, bytes)| (push(p), name, bytes))
        .collect();
    let index = push("/");
    let config = push("/config.js");
    let iface = push("/interface_config.js");
    let cfg: Json = crate::render_web::config_of(&run);
    let branding_url = cfg["dynamicBrandingUrl"]
        .as_str()
        .expect("config.js points at the branding JSON")
        .to_string();
    let branding_req = push(&path_of(&branding_url));
    let label_reqs: Vec<(String, usize)> = labels
        .iter()
        .map(|(lang, url)| (lang.clone(), push(&path_of(url.as_str().unwrap()))))
        .collect();
    let req_refs: Vec<Vec<&str>> = reqs
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    let req_slices: Vec<&[&str]> = req_refs.iter().map(Vec::as_slice).collect();
    let b = boot(&run, &req_slices);
    b.assert_ok();
    let r = &b.responses;

    // Every file at every URL, byte for byte.
    for (i, name, bytes) in &file_req {
        assert_eq!(r[*i].status, 200, "{name}: {:?}", r[*i]);
        assert_eq!(&r[*i].bytes, bytes, "{name} served differs");
    }
    // The page: the HTML parts are included where the package puts them.
    let page = &r[index].body;
    for marker in [
        "branding head.html",
        "branding plugin.head.html",
        "branding body.html",
    ] {
        assert!(page.contains(marker), "{marker} missing:\n{page}");
    }
    assert!(
        page.find("branding head.html") < page.find("var config"),
        "head.html comes first"
    );
    assert!(page.find("branding plugin.head.html") > page.find("var interfaceConfig"));
    assert!(
        page.contains("<title>Meet – Schule &#123;&#123; .Env.X &#125;&#125; &lt;tag&gt;</title>"),
        "{page}"
    );
    assert!(!page.contains("package title.html"));
    for t in ["branding content", "branding card", "branding toolbar"] {
        assert!(page.contains(t), "{t}:\n{page}");
    }

    // config.js: the branding URL, as served.
    let served_cfg: Json = {
        let f = tempfile::NamedTempFile::new().unwrap();
        fs::write(f.path(), &r[config].body).unwrap();
        crate::render_web::eval_configs(&[(f.path().to_path_buf(), None)]).remove(0)
    };
    assert_eq!(served_cfg["dynamicBrandingUrl"], branding_url.as_str());

    // interface_config.js: the package's, then the branding settings.
    let ic = eval_interface_config(&r[iface].body);
    assert_eq!(ic["APP_NAME"], app);
    assert_eq!(ic["PROVIDER_NAME"], "Schule am See e.V.");
    assert_eq!(ic["SHOW_JITSI_WATERMARK"], false);
    for flag in [
        "DISPLAY_WELCOME_PAGE_CONTENT",
        "DISPLAY_WELCOME_PAGE_ADDITIONAL_CARD",
        "DISPLAY_WELCOME_PAGE_TOOLBAR_ADDITIONAL_CONTENT",
    ] {
        assert_eq!(ic[flag], true, "{flag}");
    }

    // The branding JSON, served, parses and gives back every value.
    let served: Json = serde_json::from_str(&r[branding_req].body).unwrap();
    assert_eq!(served, data);
    assert_eq!(
        served["logoClickUrl"],
        "https://schule.example.org/?a=1&b='2'"
    );
    assert_eq!(
        served["logoImageUrl"],
        "https://meet.example.org:8443/images/watermark.svg"
    );
    assert_eq!(served["backgroundColor"], "#1a2b3c");
    assert_eq!(
        served["premeetingBackground"],
        "linear-gradient(#fff, #000)"
    );
    assert_eq!(served["inviteDomain"], "meet.schule.example.org");
    // Language bundles: the per-language values win, the others get the
    // all-language ones.
    for (lang, i) in &label_reqs {
        assert_eq!(r[*i].status, 200, "{lang}");
        let bundle: Json = serde_json::from_str(&r[*i].body).unwrap();
        let page = &bundle["welcomepage"];
        let want_title = if lang == "de" {
            title
        } else {
            "Welcome {to} \"us\""
        };
        let want_sub = match lang.as_str() {
            "fr" => "Réunions",
            "ptBR" => "Reuniões",
            _ => "Video meetings </script> for everyone",
        };
        assert_eq!(page["headerTitle"], want_title, "{lang}");
        assert_eq!(page["headerSubtitle"], want_sub, "{lang}");
    }
    for lang in ["en", "de", "fr", "ptBR", "zhCN"] {
        assert!(labels.contains_key(lang), "no bundle for {lang}");
    }
    // No rendered branding file holds a template delimiter or SSI.
    for f in fs::read_dir(&gen).unwrap().flatten() {
        let text = fs::read_to_string(f.path()).unwrap();
        assert!(
            !text.contains("{{") && !text.contains("<!--#"),
            "{}",
            f.path().display()
        );
    }
}

#[test]
fn no_branding_changes_nothing_and_own_branding_urls_win() {
    // Without branding: no mount, no branding URL (the image's config.js).
    let run = rendered(&[], &[]);
    let cfg = crate::render_web::config_of(&run);
    assert!(cfg.get("dynamicBrandingUrl").is_none());
    let json = crate::compose::merged_config(&run);
    let vols = crate::compose::binds(&json["services"]["web"]);
    assert!(
        !vols.iter().any(|(s, t, _)| s.contains("branding")
            || t.contains("jitsi-stack")
            || t.starts_with("/usr/share/jitsi-meet/images")),
        "{vols:?}"
    );

    // The user's own branding URL wins; the JSON variables are ignored with
    // a warning, the interface_config ones still apply.
    let run = crate::harness::init_stack_raw(
        &[
            ("DYNAMIC_BRANDING_URL", "https://brand.example.org/b.json"),
            ("BRANDING_BACKGROUND_COLOR", "#000"),
            ("BRANDING_APP_NAME", "Own"),
        ],
        &[],
    );
    let check = check_stack(&run, 0);
    assert!(
        check.contains("BRANDING_BACKGROUND_COLOR") && check.contains("ignored"),
        "{}",
        check
    );
    let run = Test::again(run).args(["render"]).run();
    let cfg = crate::render_web::config_of(&run);
    assert_eq!(
        cfg["dynamicBrandingUrl"],
        "https://brand.example.org/b.json"
    );
    assert!(!run.exists("generated/web/branding"));
    assert!(run
        .read("generated/web/custom-interface_config.js")
        .contains("interfaceConfig.APP_NAME = \"Own\";"));
}

#[test]
fn operators_own_custom_interface_config_still_applies_after_branding() {
    let run = crate::harness::init_stack_raw(&[("BRANDING_APP_NAME", "Branded")], &[]);
    let own = config_dir(&run).join("web/custom-interface_config.js");
    fs::write(
        &own,
        "interfaceConfig.APP_NAME = 'Mine';\ninterfaceConfig.OWN_PROBE = 7;\n",
    )
    .unwrap();
    let run = Test::again(run).args(["render"]).run();
    let b = boot(&run, &[&["https://127.0.0.1:8443/interface_config.js"]]);
    b.assert_ok();
    let ic = eval_interface_config(&b.responses[0].body);
    assert_eq!(
        ic["APP_NAME"], "Mine",
        "the operator's file comes last and wins"
    );
    assert_eq!(ic["OWN_PROBE"], 7);
    assert_eq!(ic["makeJsonParserHappy"], serde_json::Value::Null);
}

/// Runs `check` and `render` on a stack whose branding/ holds `files` and
/// returns check's stderr; both must fail and render must write nothing.
fn refused(files: &[(&str, Vec<u8>)]) -> String {
    let run = crate::harness::init_stack_raw(&[], &[]);
    write_branding(&run.path().join("branding"), files);
    let check = check_stack(&run, 1);
    let render = Test::again(run).args(["render"]).status(1).run();
    assert!(
        !render.exists("generated"),
        "render wrote files: {}",
        render.stderr
    );
    assert!(!render.exists("docker-compose.yml"));
    check
}

#[test]
fn bad_branding_inputs_are_refused_naming_the_file_and_nothing_is_written() {
    let e = refused(&[("watermark.png", png("x"))]);
    assert!(
        e.contains("./branding/watermark.png") && e.contains("did you mean watermark.svg"),
        "{e}"
    );
    // The summary names the file with the error, not only .env.
    assert!(
        e.contains(
            "./.env: 0 errors, 0 warnings; ./branding/watermark.png: 1 error, 0 warnings: invalid"
        ),
        "{e}"
    );
    let e = refused(&[("plugin-head.html", b"<p>x</p>".to_vec())]);
    assert!(e.contains("did you mean plugin.head.html"), "{e}");
    let e = refused(&[("welcome-background.png", b"GIF89a not a png".to_vec())]);
    assert!(
        e.contains("./branding/welcome-background.png") && e.contains("PNG"),
        "{e}"
    );
    let e = refused(&[("favicon.ico", png("png-named-ico"))]);
    assert!(
        e.contains("./branding/favicon.ico") && e.contains("icon"),
        "{e}"
    );
    let e = refused(&[("watermark.svg", b"<svg><rect></svg>".to_vec())]);
    assert!(
        e.contains("./branding/watermark.svg") && e.contains("XML"),
        "{e}"
    );
    let e = refused(&[("watermark.svg", b"<html xmlns=\"x\"/>".to_vec())]);
    assert!(e.contains("root element <html>"), "{e}");
    let e = refused(&[(
        "body.html",
        b"<p>ok</p>\n<p>{{ .Env.SECRET }}</p>\n".to_vec(),
    )]);
    assert!(
        e.contains("./branding/body.html:2") && e.contains("'{{'"),
        "{e}"
    );

    // A symbolic link: refused (it would mount whatever it points to).
    let run = crate::harness::init_stack_raw(&[], &[]);
    let dir = run.path().join("branding");
    fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("body.html")).unwrap();
    let check = check_stack(&run, 1);
    assert!(
        check.contains("./branding/body.html") && check.contains("symbolic link"),
        "{}",
        check
    );

    // Bad variables: named with their line.
    let run = crate::harness::init_stack_raw(
        &[
            ("BRANDING_WELCOME_TITLE_LANGS", "{\"de\": 3}"),
            ("BRANDING_BACKGROUND_COLOR", "red; background: url(x)"),
        ],
        &[],
    );
    let check = check_stack(&run, 1);
    assert!(
        check.contains("BRANDING_WELCOME_TITLE_LANGS") && check.contains("must be a string"),
        "{}",
        check
    );
    assert!(
        check.contains("BRANDING_BACKGROUND_COLOR: not a CSS colour"),
        "{}",
        check
    );

    // A title.html file and BRANDING_PAGE_TITLE: one too many.
    let run = crate::harness::init_stack_raw(&[("BRANDING_PAGE_TITLE", "T")], &[]);
    write_branding(
        &run.path().join("branding"),
        &[("title.html", b"<title>x</title>".to_vec())],
    );
    let check = check_stack(&run, 1);
    assert!(
        check.contains("BRANDING_PAGE_TITLE") && check.contains("title.html"),
        "{}",
        check
    );
}

#[test]
fn large_images_and_hidden_files_are_warnings() {
    let mut big = png("big");
    big.resize((1 << 20) + 10, 0);
    let run = crate::harness::init_stack_raw(&[], &[]);
    write_branding(
        &run.path().join("branding"),
        &[
            ("welcome-background.png", big),
            (".DS_Store", b"x".to_vec()),
        ],
    );
    let check = check_stack(&run, 0);
    assert!(
        check.contains("warning: ./branding/welcome-background.png") && check.contains("1024 KiB"),
        "{}",
        check
    );
    assert!(check.contains("warning: ./branding/.DS_Store"), "{}", check);
    let run = Test::again(run).args(["render"]).run();
    assert!(run.read("docker-compose.yml").contains(
        "./branding/welcome-background.png:/usr/share/jitsi-meet/images/welcome-background.png:ro"
    ));
    assert!(!run.read("docker-compose.yml").contains("DS_Store"));
}

#[test]
fn init_branding_copies_a_prepared_directory_or_writes_nothing() {
    let src = tempfile::tempdir().unwrap();
    write_branding(src.path(), &all_files());
    let run = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org:8443",
            "--non-interactive",
            "--branding",
            src.path().to_str().unwrap(),
        ])
        .run();
    for (name, bytes) in all_files() {
        assert_eq!(
            fs::read(run.path().join("branding").join(name)).unwrap(),
            bytes,
            "{name}"
        );
    }
    assert!(
        run.stdout.contains("branding file(s) copied"),
        "{}",
        run.stdout
    );
    let run = Test::again(run).args(["render"]).run();
    assert!(run
        .read("docker-compose.yml")
        .contains("./branding/watermark.svg:/usr/share/jitsi-meet/images/watermark.svg:ro"));

    // A bad file: the error names it, and no .env, no branding/ appear.
    let bad = tempfile::tempdir().unwrap();
    write_branding(
        bad.path(),
        &[
            ("watermark.svg", b"not xml".to_vec()),
            ("logo.png", png("x")),
        ],
    );
    let run = Test::new()
        .args([
            "init",
            ".",
            "--public-url",
            "https://meet.example.org:8443",
            "--non-interactive",
            "--branding",
            bad.path().to_str().unwrap(),
        ])
        .status(1)
        .run();
    assert!(
        run.stderr.contains("watermark.svg") && run.stderr.contains("logo.png"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert!(!run.stderr.contains("error: error:"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "error: --branding {}: 2 errors; nothing was written",
            bad.path().display()
        )),
        "{}",
        run.stderr
    );
    assert!(!run.exists(".env") && !run.exists("branding") && !run.exists("config"));
}
