//! Hostile values in every free-text and secret variable of the schema at
//! once, with every component enabled: `render` either refuses a variable
//! with an error naming it (and writes nothing), or every rendered file still
//! parses in its real consumer and every value reaches the consumers intact
//! (never cut, never re-interpreted).

use crate::harness::{init_stack_raw, Test};
use crate::matrix::{check_everything, ALL};
use jitsi_stack::schema::{self, Kind, Secret};
use std::collections::BTreeMap;

/// Quotes, backslashes, new lines, substitutions of every language, Go
/// template delimiters, comment and separator characters, unicode.
const PAYLOAD: &str = "q\"s'b\\n\nr\r${HOME}$(id){{ .Env.X }}]]};#=:! <!--#echo--> ü😀\u{2028}end";

/// Variables the component set needs to be valid, kept plain: the gateway's
/// SIP account (a typed address) and the switch the transcriber needs.
const PLAIN: &[(&str, &str)] = &[
    ("JIGASI_SIP_URI", "gateway@sip.example.org"),
    ("JIGASI_SIP_SERVER", "sip.example.org"),
    ("ENABLE_TRANSCRIPTIONS", "1"),
];

/// The hostile value of `name`: its own name first, so a mangled copy in a
/// consumer's output can be traced back.
fn hostile(name: &str) -> String {
    format!("{name}:{PAYLOAD}")
}

/// The variables error lines (not warnings) blame: on each line, the first
/// whole candidate name followed by `:`, `=` or a space.
fn culprits<'a>(stderr: &str, candidates: &[&'a str]) -> Vec<&'a str> {
    let mut out = vec![];
    for line in stderr.lines().filter(|l| l.starts_with("error:")) {
        let first = candidates
            .iter()
            .filter_map(|var| {
                line.match_indices(var)
                    .find(|(at, _)| {
                        let before = line[..*at].chars().next_back();
                        let after = line[at + var.len()..].chars().next();
                        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                            && matches!(after, Some(':' | '=' | ' '))
                    })
                    .map(|(at, _)| (at, *var))
            })
            .min();
        if let Some((_, var)) = first {
            if !out.contains(&var) {
                out.push(var);
            }
        }
    }
    out
}

#[test]
fn every_text_and_secret_variable_is_escaped_or_refused() {
    let mut candidates: Vec<&'static str> = schema::VARS
        .iter()
        .filter(|v| v.deprecated.is_none() && v.replaced_by.is_none())
        .filter(|v| matches!(v.kind, Kind::Text) || v.secret != Secret::No)
        .map(|v| v.name)
        .filter(|n| !PLAIN.iter().any(|(p, _)| p == n))
        // `render` records the file set there itself.
        .filter(|n| *n != "COMPOSE_FILE")
        .collect();
    candidates.sort();
    let total = candidates.len();
    let mut refused: BTreeMap<&str, String> = BTreeMap::new();

    let run = loop {
        let values: Vec<(&str, String)> = candidates.iter().map(|n| (*n, hostile(n))).collect();
        let mut extra: Vec<(&str, &str)> = PLAIN.to_vec();
        extra.extend(values.iter().map(|(k, v)| (*k, v.as_str())));
        let stack = init_stack_raw(&extra, &[]);
        let attempt = Test::again(stack)
            .args(["render", "--with", &ALL.join(",")])
            .status_any()
            .run();
        if attempt.status == 0 {
            break attempt;
        }
        assert!(
            !attempt.exists("generated"),
            "a refused render wrote files:\n{}",
            attempt.stderr
        );
        let blamed = culprits(&attempt.stderr, &candidates);
        assert!(
            !blamed.is_empty(),
            "render failed without naming one of the hostile variables:\n{}",
            attempt.stderr
        );
        for c in blamed {
            let line = attempt
                .stderr
                .lines()
                .find(|l| l.starts_with("error:") && l.contains(c))
                .unwrap_or_default()
                .to_string();
            // Secrets are never echoed in an error.
            if schema::lookup(c).is_some_and(|v| v.secret != Secret::No) {
                assert!(
                    !line.contains(PAYLOAD.lines().next().unwrap()),
                    "{c}'s value echoed: {line}"
                );
            }
            refused.insert(c, line);
            candidates.retain(|n| *n != c);
        }
    };

    let seen = check_everything(&run);
    let env = run.read(".env");
    let mut reached = 0;
    for name in &candidates {
        let value = hostile(name);
        let marker = format!("{name}:");
        // Every consumer string that carries this variable carries all of it.
        for s in seen.iter().filter(|s| s.contains(&marker)) {
            assert!(
                s.contains(&value),
                "{name}: a consumer read a mangled value {s:?}, expected it to contain {value:?}"
            );
        }
        if seen.iter().any(|s| s.contains(&value)) {
            reached += 1;
        } else {
            // Not read by any consumer we can parse: it must not be in a
            // rendered file either (only then is nothing unchecked).
            assert!(env.contains(&marker), "{name} vanished from .env");
        }
    }
    eprintln!(
        "hostile values: {total} variables, {} accepted ({reached} read back by a consumer), {} refused by name",
        candidates.len(),
        refused.len()
    );
    for (var, why) in &refused {
        eprintln!("  refused {var}: {why}");
    }
    assert!(
        reached * 2 > total,
        "only {reached} of {total} hostile values reached a consumer: the test checks too little"
    );
}
