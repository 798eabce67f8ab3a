//! `scripts/layers`: no file imports one of a higher layer, no files import
//! each other in a cycle, and the core compose file's name is spelled once
//! in src/ (issue 17's layering).

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
fn no_upward_import_and_no_import_cycle() {
    let (ok, text) = layers(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(ok, "{text}");
    assert!(
        text.contains("upward imports (a lower layer naming a higher one): 0\n"),
        "{text}"
    );
    assert!(text.contains("import cycles between files: 0 "), "{text}");
    assert!(
        text.contains("docker-compose.yml spelled in src/ (code): 1"),
        "{text}"
    );
}

/// A copy of src/ (in a temporary directory) for a broken variant.
fn copy_of_src() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(tmp.path().join("src"))
        .status()
        .unwrap();
    assert!(status.success());
    tmp
}

/// Puts `code` before the first `use` of `file` (the unit tests at the end
/// of a file are not counted).
fn add_code(root: &Path, file: &str, code: &str) {
    let path = root.join("src").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text.find("\nuse ").unwrap();
    std::fs::write(&path, format!("{}\n{code}\n{}", &text[..at], &text[at..])).unwrap();
}

/// The check can fail: the model naming a renderer (an upward import that
/// is not a leaf's), and two command files naming each other (a cycle).
#[test]
fn an_upward_import_or_a_cycle_is_reported() {
    let up = copy_of_src();
    add_code(
        up.path(),
        "stack/nodes.rs",
        "pub fn up() -> &'static str { crate::render::GENERATED_DIR }",
    );
    let (ok, text) = layers(up.path());
    assert!(!ok, "{text}");
    assert!(
        text.contains("upward imports (a lower layer naming a higher one): 1\n"),
        "{text}"
    );
    assert!(
        text.contains("stack stack/nodes.rs imports render/mod.rs"),
        "{text}"
    );

    let cycle = copy_of_src();
    add_code(
        cycle.path(),
        "commands/ops/watch.rs",
        "pub fn back() -> &'static [&'static str] { super::user::PROSODYCTL }",
    );
    let (ok, text) = layers(cycle.path());
    assert!(!ok, "{text}");
    assert!(text.contains("import cycles between files: 1 "), "{text}");
    assert!(
        text.contains("import cycle: commands/ops/user.rs -> commands/ops/watch.rs"),
        "{text}"
    );
}

/// The check can fail: a copy of src/ where a leaf names the renderer and a
/// second file spells the compose file's name.
#[test]
fn an_upward_import_from_a_leaf_is_reported() {
    let tmp = copy_of_src();
    add_code(
        tmp.path(),
        "color.rs",
        "pub fn up() -> &'static str {\n    crate::render::GENERATED_DIR\n}\n\
         pub const SECOND: &str = \"docker-compose.yml\";",
    );
    let (ok, text) = layers(tmp.path());
    assert!(!ok, "{text}");
    assert!(
        text.contains("leaf color.rs imports render/mod.rs"),
        "{text}"
    );
    assert!(text.contains("spelled more than once"), "{text}");
}
