//! The real parsers of the JVM services' config files, for the render tests:
//! Typesafe Config for HOCON (jicofo.conf, jvb.conf, jibri.conf, xmpp.conf)
//! and java.util.Properties (sip-communicator.properties, logging.properties).
//! One JVM reads every file of a call (a JVM start costs about a second);
//! the checker (tests/support/ConfigCheck.java) is compiled once per test run.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const SOURCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/ConfigCheck.java"
);
const TYPESAFE_JAR: &str = "/usr/share/java/typesafe-config.jar";

fn classes() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        assert!(
            Path::new(TYPESAFE_JAR).exists(),
            "{TYPESAFE_JAR} is missing: run .ci/install-deps (apt-get install libtypesafe-config-java)"
        );
        let dir = tempfile::Builder::new()
            .prefix("jvm-check")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let out = Command::new("javac")
            .args(["-encoding", "UTF-8", "-cp", TYPESAFE_JAR, "-d"])
            .arg(dir.path())
            .arg(SOURCE)
            .output()
            .expect("javac is needed for the JVM config checks (.ci/install-deps)");
        assert!(
            out.status.success(),
            "javac ConfigCheck.java: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

/// Runs the checker in `mode` over `files`: per file, the parsed value or the
/// parser's error.
fn run(mode: &str, files: &[PathBuf]) -> Vec<Result<Value, String>> {
    let cp = format!("{}:{TYPESAFE_JAR}", classes().display());
    let out = Command::new("java")
        .args(["-cp", &cp, "ConfigCheck", mode])
        .args(files)
        .output()
        .expect("java is needed for the JVM config checks");
    assert!(
        out.status.success(),
        "ConfigCheck: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("checker output is UTF-8");
    let results: Vec<Result<Value, String>> = text
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if v["ok"] == true {
                Ok(v["value"].clone())
            } else {
                Err(format!("{}: {}", v["file"], v["error"]))
            }
        })
        .collect();
    assert_eq!(results.len(), files.len(), "one result per file: {text}");
    results
}

/// Each file parsed and resolved by Typesafe Config, as JSON.
pub fn hocon(files: &[PathBuf]) -> Vec<Result<Value, String>> {
    run("hocon", files)
}

/// Each file loaded by java.util.Properties (duplicate keys and lines
/// without a separator are errors).
pub fn properties(files: &[PathBuf]) -> Vec<Result<BTreeMap<String, String>, String>> {
    run("properties", files)
        .into_iter()
        .map(|r| {
            r.map(|v| {
                v.as_object()
                    .expect("properties are an object")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
        })
        .collect()
}

/// One HOCON file that must parse.
pub fn hocon_ok(file: &Path) -> Value {
    hocon(&[file.to_path_buf()])
        .remove(0)
        .unwrap_or_else(|e| panic!("Typesafe Config rejects {}: {e}", file.display()))
}

/// One properties file that must load cleanly.
pub fn properties_ok(file: &Path) -> BTreeMap<String, String> {
    properties(&[file.to_path_buf()])
        .remove(0)
        .unwrap_or_else(|e| panic!("java.util.Properties: {}: {e}", file.display()))
}

/// The value at a HOCON path given as its keys (keys may contain dots).
pub fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        cur = cur.get(key).unwrap_or_else(|| {
            panic!(
                "no {} in {}",
                path[..=i].join(" / "),
                serde_json::to_string_pretty(v).unwrap()
            )
        });
    }
    cur
}

/// The string at `path` (numbers and booleans as HOCON would print them).
pub fn str_at(v: &Value, path: &[&str]) -> String {
    match at(v, path) {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn checker_reads_values_and_reports_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.conf");
    std::fs::write(
        &good,
        "a { b = \"x\\\"y\\u007b\" }\nn = 5\nlist = [\"p\", \"q\"]\ninclude \"missing.conf\"\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "a { b = \"unterminated\n").unwrap();
    let r = hocon(&[good.clone(), bad]);
    let v = r[0].as_ref().unwrap();
    assert_eq!(str_at(v, &["a", "b"]), "x\"y{");
    assert_eq!(at(v, &["n"]), 5);
    assert_eq!(at(v, &["list"]), &serde_json::json!(["p", "q"]));
    assert!(r[1].is_err());

    let props = dir.path().join("p.properties");
    std::fs::write(&props, "# c\na=1\nb\\=c : d\\u00e9 \\\n  more\n").unwrap();
    let dup = dir.path().join("dup.properties");
    std::fs::write(&dup, "a=1\na=2\n").unwrap();
    let nosep = dir.path().join("nosep.properties");
    std::fs::write(&nosep, "a=1\njustakey\n").unwrap();
    let r = properties(&[props, dup, nosep]);
    let p = r[0].as_ref().unwrap();
    assert_eq!(p["a"], "1");
    assert_eq!(p["b=c"], "dé more");
    assert!(r[1].as_ref().unwrap_err().contains("twice"), "{:?}", r[1]);
    assert!(r[2].as_ref().unwrap_err().contains("line 2"), "{:?}", r[2]);
}
