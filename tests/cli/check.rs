//! `jitsi-stack check`: every kind of bad input, through the binary. Each case
//! asserts what the report says (line, variable, expected, found, fix) and
//! that `.env` is byte-identical afterwards.

use crate::{Run, Test};
use serde_json::Value;
use std::fs;

/// A valid minimal stack: lines 1-3.
const BASE: &str = "PUBLIC_URL=https://meet.example.org:8443\n\
                    JICOFO_AUTH_PASSWORD=0123456789abcdef0123456789abcdef\n\
                    JVB_AUTH_PASSWORD=fedcba9876543210fedcba9876543210\n";

/// Runs `check ARGS` on `env`, expecting `status`, and asserts `.env` is unchanged.
fn check(env: &str, args: &[&str], status: i32) -> Run {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    let run = Test::new().env_file(env).args(&all).status(status).run();
    assert_eq!(run.read(".env"), env, ".env changed by check");
    run
}

/// BASE plus `extra` lines (which start on line 4).
fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

fn json(env: &str, args: &[&str], status: i32) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = check(env, &all, status);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn findings(doc: &Value) -> &Vec<Value> {
    doc["findings"].as_array().expect("findings array")
}

/// The single finding with `code` (and `rule` for rule findings).
fn one<'a>(doc: &'a Value, code: &str, rule: Option<&str>) -> &'a Value {
    let matching: Vec<&Value> = findings(doc)
        .iter()
        .filter(|f| f["code"] == code && rule.is_none_or(|r| f["rule"] == r))
        .collect();
    assert_eq!(matching.len(), 1, "{code}/{rule:?} in {doc:#}");
    matching[0]
}

#[test]
fn valid_stack_exits_zero() {
    let run = check(BASE, &[], 0);
    assert!(
        run.stdout.contains("0 errors, 0 warnings: valid"),
        "{}",
        run.stdout
    );
}

#[test]
fn missing_env_is_a_usage_error() {
    let run = Test::new().args(["check"]).status(2).run();
    assert!(run.stderr.contains("no .env"), "{}", run.stderr);
    assert!(!run.exists(".env"));
}

#[test]
fn each_kind_of_type_error_names_line_variable_expected_found() {
    let cases: &[(&str, &str, &str)] = &[
        ("ENABLE_AUTH", "yes", "1, 0, true or false"),
        ("ENABLE_GUESTS", "TRUE", "lower case"),
        ("ENABLE_LETSENCRYPT", "true", "1 or 0"),
        ("JVB_PORT", "70000", "port number from 1 to 65535"),
        ("JIBRI_INSTANCES", "0", "whole number from 1 to 32"),
        ("JICOFO_ICE_FAILURE_THRESHOLD", "high", "decimal number"),
        (
            "ETHERPAD_PUBLIC_URL",
            "etherpad.example.org",
            "absolute URL",
        ),
        ("XMPP_DOMAIN", "meet jitsi", "host name or IP address"),
        ("LETSENCRYPT_EMAIL", "admin", "e-mail address"),
        (
            "JVB_ADVERTISE_IPS",
            "203.0.113.7, 10.0.0.1",
            "without spaces",
        ),
        (
            "JVB_ADVERTISE_IPS",
            "meet.example.org",
            "a host name is not allowed",
        ),
        (
            "AUTH_TYPE",
            "oauth",
            "one of: internal, jwt, ldap, matrix, hybrid_matrix_token",
        ),
        (
            "TOOLBAR_BUTTONS",
            "microphone,camera chat",
            "comma-separated list",
        ),
        ("JIBRI_RECORDING_DIR", "recordings", "absolute path"),
        (
            "JIBRI_PENDING_TIMEOUT",
            "90",
            "bare number means milliseconds",
        ),
        (
            "JITSI_STACK_WITH",
            "jibri,recorder",
            "jibri, jigasi, transcriber",
        ),
    ];
    for (var, value, expected) in cases {
        let env = with(&format!("{var}='{value}'\n"));
        let doc = json(&env, &[], 1);
        let f = findings(&doc)
            .iter()
            .find(|f| f["code"] == "type")
            .unwrap_or_else(|| panic!("{var}={value}: no type error in {doc:#}"));
        assert_eq!(f["level"], "error", "{var}");
        assert_eq!(f["line"], 4, "{var}");
        assert_eq!(f["variable"], *var);
        let exp = f["expected"].as_str().unwrap();
        assert!(
            exp.contains(expected),
            "{var}: expected {exp:?} to mention {expected:?}"
        );
        let found = f["found"].as_str().unwrap();
        assert!(found.contains(value), "{var}: found {found:?}");
        assert!(f["fix"].as_str().unwrap().contains("line 4"), "{var}: {f}");
    }
}

#[test]
fn type_error_text_report_and_boolean_suggestion() {
    let run = check(&with("ENABLE_AUTH=yes\n"), &[], 1);
    let err = &run.stderr;
    assert!(
        err.contains(".env:4: ENABLE_AUTH: not a valid boolean"),
        "{err}"
    );
    assert!(
        err.contains("expected: a boolean: 1, 0, true or false"),
        "{err}"
    );
    assert!(err.contains("found:    \"yes\""), "{err}");
    assert!(
        err.contains("fix:      write ENABLE_AUTH=true on line 4"),
        "{err}"
    );
    // The result goes to stdout, as for a valid file; the findings to stderr.
    assert!(
        run.stdout.contains("1 error, 0 warnings: invalid"),
        "{}",
        run.stdout
    );
    assert!(!err.contains("invalid"), "{err}");
}

#[test]
fn unknown_variable_warns_with_a_suggestion() {
    let doc = json(&with("PUBLC_URL=https://x.example.org\n"), &[], 0);
    let f = one(&doc, "unknown", None);
    assert_eq!(f["level"], "warning");
    assert_eq!(f["line"], 4);
    assert_eq!(f["variable"], "PUBLC_URL");
    assert_eq!(f["fix"], "did you mean PUBLIC_URL?");
}

#[test]
fn deprecated_variable_names_its_replacement() {
    let run = check(&with("DOCKER_HOST_ADDRESS=203.0.113.7\n"), &[], 0);
    assert!(
        run.stderr
            .contains("warning: ./.env:4: DOCKER_HOST_ADDRESS: deprecated"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("rename it to JVB_ADVERTISE_IPS"),
        "{}",
        run.stderr
    );
    let doc = json(
        &with("JICOFO_COMPONENT_SECRET=abcdefabcdefabcdef\n"),
        &[],
        0,
    );
    let f = one(&doc, "deprecated", None);
    assert_eq!(f["fix"], "delete line 4 of .env");
}

#[test]
fn weak_and_published_passwords_are_errors_without_echo() {
    let env = "PUBLIC_URL=https://meet.example.org:8443\n\
               JICOFO_AUTH_PASSWORD=0123456789abcdef0123456789abcdef\n\
               JVB_AUTH_PASSWORD=passw0rd\n\
               JWT_APP_SECRET=my_jitsi_app_secret\n";
    let run = check(env, &["--json"], 1);
    assert!(
        !run.stdout.contains("passw0rd"),
        "secret echoed: {}",
        run.stdout
    );
    assert!(!run.stdout.contains("my_jitsi_app_secret"), "secret echoed");
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let weak: Vec<&Value> = findings(&doc)
        .iter()
        .filter(|f| f["code"] == "weak-secret")
        .collect();
    assert_eq!(weak.len(), 2, "{doc:#}");
    assert_eq!(
        (weak[0]["line"].clone(), weak[0]["variable"].clone()),
        (3.into(), "JVB_AUTH_PASSWORD".into())
    );
    assert_eq!(weak[0]["level"], "error");
    assert!(weak[0]["message"].as_str().unwrap().contains("well-known"));
    assert!(weak[0]["fix"]
        .as_str()
        .unwrap()
        .contains("gen-passwords --force --only JVB_AUTH_PASSWORD"));
    assert_eq!(weak[1]["variable"], "JWT_APP_SECRET");
    assert_eq!(weak[1]["level"], "error");
    let text = check(env, &[], 1);
    assert!(!text.stderr.contains("passw0rd"), "{}", text.stderr);
}

#[test]
fn short_user_secret_is_a_warning_short_generated_one_an_error() {
    let doc = json(&with("LDAP_BINDPW=abc123\n"), &[], 0);
    let f = one(&doc, "weak-secret", None);
    assert_eq!(f["level"], "warning");
    assert!(f["message"].as_str().unwrap().contains("6 characters"));
    assert!(!f.to_string().contains("abc123"));
    let doc = json(&with("JIBRI_XMPP_PASSWORD=abc123\n"), &[], 1);
    assert_eq!(one(&doc, "weak-secret", None)["level"], "error");
}

#[test]
fn reused_password_is_an_error() {
    let env = with("JIBRI_XMPP_PASSWORD=0123456789abcdef0123456789abcdef\n");
    let doc = json(&env, &[], 1);
    let f = one(&doc, "reused-secret", None);
    assert_eq!(f["line"], 4);
    assert_eq!(f["variable"], "JIBRI_XMPP_PASSWORD");
    assert_eq!(
        f["message"],
        "same password as JICOFO_AUTH_PASSWORD (line 2)"
    );
    assert!(!f.to_string().contains("0123456789abcdef"));
}

#[test]
fn missing_core_password_is_an_error() {
    let env = "PUBLIC_URL=https://meet.example.org:8443\nJICOFO_AUTH_PASSWORD=0123456789abcdef0123456789abcdef\n";
    let doc = json(env, &[], 1);
    let f = one(&doc, "missing-secret", None);
    assert_eq!(f["variable"], "JVB_AUTH_PASSWORD");
    assert_eq!(f["fix"], "run `jitsi-stack gen-passwords`");
}

#[test]
fn duplicate_assignment_warns() {
    let doc = json(&with("JVB_PORT=10001\nJVB_PORT=10002\n"), &[], 0);
    let f = one(&doc, "duplicate", None);
    assert_eq!(f["line"], 5);
    assert!(f["message"].as_str().unwrap().contains("first on line 4"));
}

/// (extra .env lines, components, rule id, level, variable, line or null).
type RuleCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<u64>,
);

#[test]
fn each_rule_reports_its_variable_expected_and_found() {
    let cases: &[RuleCase] = &[
        ("PUBLIC_URL=http://meet.example.org:8443\n", "", "public-url", "error", "PUBLIC_URL", Some(4)),
        ("HTTP_PORT=8443\n", "", "http-ports", "error", "HTTPS_PORT", None),
        ("ENABLE_LETSENCRYPT=1\nHTTP_PORT=80\nHTTPS_PORT=443\nPUBLIC_URL=https://meet.example.org\nLETSENCRYPT_EMAIL=a@example.org\nLETSENCRYPT_ACME_SERVER=letsencrypt\n", "", "letsencrypt", "error", "LETSENCRYPT_DOMAIN", None),
        ("DISABLE_HTTPS=1\nENABLE_HTTP_REDIRECT=1\n", "", "disable-https", "error", "ENABLE_HTTP_REDIRECT", Some(5)),
        ("ENABLE_AUTH=1\nAUTH_TYPE=ldap\n", "", "auth-backend", "error", "LDAP_URL", None),
        ("ENABLE_GUESTS=1\n", "", "auth-unused", "warning", "ENABLE_GUESTS", Some(4)),
        ("JIGASI_XMPP_PASSWORD=00112233445566778899aabbccddeeff\nJIGASI_SIP_URI=nodomain\nJIGASI_SIP_PASSWORD=sip-secret-123\nJIGASI_SIP_SERVER=sip.example.org\n", "jigasi", "jigasi-sip", "error", "JIGASI_SIP_URI", Some(5)),
        ("JIGASI_PORT_MIN=30000\n", "", "jigasi-ports", "error", "JIGASI_PORT_MIN", Some(4)),
        ("ENABLE_RECORDING=1\n", "", "recording", "warning", "ENABLE_RECORDING", Some(4)),
        ("JIGASI_TRANSCRIBER_PASSWORD=00112233445566778899aabbccddeeff\n", "transcriber", "transcription", "error", "ENABLE_TRANSCRIPTIONS", None),
        ("TURN_HOST=turn.example.org\n", "", "turn", "error", "TURN_HOST", Some(4)),
        ("JVB_PORT=65535\nJVB_INSTANCES=3\n", "", "jvb-ports", "error", "JVB_PORT", Some(4)),
        ("XMPP_MUC_DOMAIN=meet.jitsi\n", "", "xmpp-domains", "error", "XMPP_MUC_DOMAIN", Some(4)),
        ("JITSI_IMAGE_VERSION=latest\n", "", "image-version", "warning", "JITSI_IMAGE_VERSION", Some(4)),
        ("", "etherpad", "shared-document", "warning", "ETHERPAD_PUBLIC_URL", None),
    ];
    for (extra, comps, rule, level, var, line) in cases {
        let mut env = with(extra);
        if !comps.is_empty() {
            env.push_str(&format!("JITSI_STACK_WITH={comps}\n"));
        }
        let status = if *level == "error" { 1 } else { 0 };
        let doc = json(&env, &[], status);
        let f = one(&doc, "rule", Some(rule));
        assert_eq!(f["level"], *level, "{rule}");
        assert_eq!(f["variable"], *var, "{rule}");
        assert_eq!(f["line"], line.map_or(Value::Null, Value::from), "{rule}");
        for key in ["message", "expected", "found", "fix"] {
            assert!(
                f[key].as_str().is_some_and(|s| !s.is_empty()),
                "{rule}: {key} empty in {f:#}"
            );
        }
    }
}

#[test]
fn rule_text_report_names_the_rule() {
    let run = check(&with("JVB_PORT=65535\nJVB_INSTANCES=3\n"), &[], 1);
    let err = &run.stderr;
    assert!(
        err.contains("error: ./.env:4: JVB_PORT: bridge 3 would listen on UDP port 65537"),
        "{err}"
    );
    assert!(err.contains("[rule jvb-ports]"), "{err}");
    assert!(err.contains("found:    JVB_PORT=65535"), "{err}");
    assert!(
        err.contains("fix:      lower JVB_PORT to at most 65533"),
        "{err}"
    );
}

#[test]
fn unclosed_quote_is_a_syntax_error() {
    let env = with("ETHERPAD_TITLE=\"My pad\nXMPP_DOMAIN=meet.jitsi\n");
    let doc = json(&env, &[], 1);
    let f = one(&doc, "syntax", None);
    assert_eq!(f["line"], 4);
    assert_eq!(f["variable"], "ETHERPAD_TITLE");
    assert!(
        f["message"].as_str().unwrap().contains("never closed"),
        "{f}"
    );
    assert!(f["fix"]
        .as_str()
        .unwrap()
        .contains("close the quote on line 4"));
}

#[test]
fn line_without_equals_is_a_syntax_error() {
    let run = check(&with("ENABLE_AUTH 1\n"), &[], 1);
    assert!(
        run.stderr.contains("error: ./.env:4: ENABLE_AUTH:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("expected '='"), "{}", run.stderr);
    assert!(run.stderr.contains("NAME=VALUE"), "{}", run.stderr);
}

#[test]
fn syntax_error_on_a_secret_line_hides_the_value() {
    let run = check(
        &with("JIBRI_XMPP_PASSWORD hunter2hunter2hunter2\n"),
        &["--json"],
        1,
    );
    assert!(!run.stdout.contains("hunter2"), "{}", run.stdout);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(one(&doc, "syntax", None)["variable"], "JIBRI_XMPP_PASSWORD");
}

#[test]
fn json_report_has_the_documented_shape() {
    let doc = json(&with("PUBLC_URL=x\nJVB_PORT=0\n"), &[], 1);
    let mut keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "errors",
            "file",
            "findings",
            "format_version",
            "image_version",
            "notes",
            "strict",
            "valid",
            "warnings"
        ]
    );
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["strict"], false);
    assert_eq!(doc["errors"], 1);
    assert_eq!(doc["warnings"], 1);
    assert_eq!(doc["file"], "./.env");
    for f in findings(&doc) {
        let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "code", "expected", "file", "fix", "found", "level", "line", "message", "release",
                "rule", "variable"
            ]
        );
    }
    // Sorted by line.
    assert_eq!(findings(&doc)[0]["line"], 4);
    assert_eq!(findings(&doc)[1]["line"], 5);
}

#[test]
fn strict_turns_warnings_into_errors() {
    let env = with("PUBLC_URL=x\n");
    let run = check(&env, &[], 0);
    assert!(
        run.stdout.contains("0 errors, 1 warning: valid"),
        "{}",
        run.stdout
    );
    let run = check(&env, &["--strict"], 1);
    assert!(
        run.stderr.contains("error: ./.env:4: PUBLC_URL"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("--strict"), "{}", run.stdout);
    let doc = json(&env, &["--strict"], 1);
    assert_eq!(doc["strict"], true);
    assert_eq!(doc["errors"], 1);
    assert_eq!(one(&doc, "unknown", None)["level"], "error");
}

#[test]
fn every_broken_line_is_reported_in_one_run() {
    // Two lines Compose would misread and one bad value: three errors, each
    // with its line, variable, expected, found and fix, in one run.
    let env = with("ENABLE_AUTH: 1\nJVB_PORT\nENABLE_GUESTS=yes\nTZ=UTC\n");
    let doc = json(&env, &[], 1);
    let errors: Vec<(u64, &str, &str)> = findings(&doc)
        .iter()
        .filter(|f| f["level"] == "error")
        .map(|f| {
            for key in ["message", "expected", "found", "fix"] {
                assert!(f[key].as_str().is_some_and(|s| !s.is_empty()), "{key}: {f}");
            }
            (
                f["line"].as_u64().unwrap(),
                f["variable"].as_str().unwrap(),
                f["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (4, "ENABLE_AUTH", "syntax"),
            (5, "JVB_PORT", "syntax"),
            (6, "ENABLE_GUESTS", "type")
        ],
        "{doc:#}"
    );
    let run = check(&env, &[], 1);
    // The variable is named once, by the finding, not again by the message.
    assert!(
        run.stderr
            .contains("error: ./.env:4: ENABLE_AUTH: found ':' after the name"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("ENABLE_AUTH: ENABLE_AUTH"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("found:    ENABLE_AUTH: 1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("./.env: 3 errors, 0 warnings: invalid"),
        "{}",
        run.stdout
    );
}

#[test]
fn enum_typos_get_a_did_you_mean_as_time_zones_do() {
    let doc = json(
        &with("ENABLE_AUTH=1\nAUTH_TYPE=interal\nTZ=Europe/Pari\n"),
        &[],
        1,
    );
    let auth = findings(&doc)
        .iter()
        .find(|f| f["variable"] == "AUTH_TYPE" && f["code"] == "type")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(auth["message"], "not one of the values it takes");
    assert!(
        auth["expected"]
            .as_str()
            .unwrap()
            .ends_with("(did you mean internal?)"),
        "{auth}"
    );
    assert_eq!(auth["fix"], "write AUTH_TYPE=internal on line 5 of .env");
    let tz = findings(&doc)
        .iter()
        .find(|f| f["variable"] == "TZ")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert!(
        tz["expected"]
            .as_str()
            .unwrap()
            .contains("did you mean Europe/Paris?"),
        "{tz}"
    );
    assert_eq!(tz["fix"], "write TZ=Europe/Paris on line 6 of .env");
}

#[test]
fn letsencrypt_fix_texts_speak_of_their_own_variable() {
    let doc = json(
        &with("ENABLE_LETSENCRYPT=1\nHTTP_PORT=80\nHTTPS_PORT=443\n"),
        &[],
        1,
    );
    let fix = |var: &str| {
        findings(&doc)
            .iter()
            .find(|f| f["variable"] == var && f["rule"] == "letsencrypt")
            .unwrap_or_else(|| panic!("{var} in {doc:#}"))["fix"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let domain = fix("LETSENCRYPT_DOMAIN");
    assert!(
        domain.contains("domain") && !domain.contains("e-mail"),
        "{domain}"
    );
    let email = fix("LETSENCRYPT_EMAIL");
    assert!(
        email.contains("e-mail") && !email.contains("domain"),
        "{email}"
    );
}

/// The certificate warning for jibri (issue 18, item 2) follows what the
/// web image serves (its boot script: Let's Encrypt, else CONFIG/web/keys,
/// else a self-signed one it generates), not the host name: a public name
/// with nothing in CONFIG warns, the admin's CA-issued certificate there
/// does not, a self-signed one there does, naming the file.
#[test]
fn jibri_certificate_warning_follows_what_the_web_image_serves() {
    let env = with(
        "JITSI_STACK_WITH=jibri\n\
         JIBRI_RECORDER_PASSWORD=00112233445566778899aabbccddeeff\n\
         JIBRI_XMPP_PASSWORD=ffeeddccbbaa99887766554433221100\n",
    );
    let jibri = |run: &Run| -> Vec<Value> {
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        findings(&doc)
            .iter()
            .filter(|f| f["rule"] == "jibri-url")
            .cloned()
            .collect()
    };
    let run = check(&env, &["--json"], 0);
    let found = jibri(&run);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["variable"], "IGNORE_CERTIFICATE_ERRORS");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("config/web/keys has no cert.crt and cert.key, so the web image generates a self-signed certificate")
            && message.contains("jibri's Chrome refuses it"),
        "{message}"
    );
    let text = check(&env, &[], 0);
    assert!(
        text.stderr
            .contains("warning: ./.env: IGNORE_CERTIFICATE_ERRORS: Let's Encrypt is off"),
        "{}",
        text.stderr
    );

    let (crt, key) = crate::harness::ca_issued("meet.example.org");
    let run = Test::new()
        .env_file(&env)
        .write("config/web/keys/cert.crt", &crt)
        .write("config/web/keys/cert.key", &key)
        .args(["check", "--json"])
        .run();
    assert_eq!(jibri(&run), Vec::<Value>::new());

    let made = tempfile::tempdir().unwrap();
    let (k, c) = (made.path().join("cert.key"), made.path().join("cert.crt"));
    crate::harness::self_signed("meet.example.org", &k, &c);
    let run = Test::new()
        .env_file(&env)
        .write("config/web/keys/cert.crt", &fs::read_to_string(c).unwrap())
        .write("config/web/keys/cert.key", &fs::read_to_string(k).unwrap())
        .args(["check", "--json"])
        .run();
    let found = jibri(&run);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("config/web/keys/cert.crt, is self-signed"),
        "{found:?}"
    );
}
