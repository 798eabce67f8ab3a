//! `scripts/layers`: the leaves import nothing above them and the core
//! compose file's name is spelled once in src/ (issue 17's layering).

use std::path::Path;
use std::process::Command;

fn layers(root: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/layers");
    let out = Command::new("python3")
        .arg(script)
        .arg("--strict")
        .env("LAYERS_ROOT", root)
        .output()
        .expect("running python3 scripts/layers");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn leaves_import_nothing_above_them() {
    let (ok, text) = layers(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(ok, "{text}");
    assert!(
        text.contains("docker-compose.yml spelled in src/ (code): 1"),
        "{text}"
    );
}

/// The check can fail: a copy of src/ where a leaf names the renderer and a
/// second file spells the compose file's name.
#[test]
fn an_upward_import_from_a_leaf_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let copy = tmp.path().join("src");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let color = copy.join("color.rs");
    let text = std::fs::read_to_string(&color).unwrap();
    // Before the first `use` (the unit tests at the end are not counted).
    let at = text.find("\nuse ").unwrap();
    let added = "\npub fn up() -> &'static str {\n    crate::render::GENERATED_DIR\n}\n\
                 pub const SECOND: &str = \"docker-compose.yml\";\n";
    std::fs::write(&color, format!("{}{added}{}", &text[..at], &text[at..])).unwrap();
    let (ok, text) = layers(tmp.path());
    assert!(!ok, "{text}");
    assert!(
        text.contains("leaf color.rs imports render/mod.rs"),
        "{text}"
    );
    assert!(text.contains("spelled more than once"), "{text}");
}
