//! Secrets: generation from the operating system's CSPRNG, and the list of
//! known weak or published default passwords that `check` refuses.

use rand::rngs::OsRng;
use rand::RngCore;

/// Bytes of entropy per generated password (printed as twice as many hex digits).
pub const SECRET_BYTES: usize = 16;

/// A fresh password: 16 bytes from the OS CSPRNG as 32 lower-case hex digits.
pub fn generate() -> String {
    let mut buf = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A second secret derived from `secret` for `purpose` (HMAC-SHA-256,
/// hex, as long as [`generate`]'s): stable for the same inputs, different
/// from `secret`, and `secret` cannot be recovered from it.
pub fn derive(secret: &str, purpose: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, purpose.as_bytes());
    hex::encode(&tag.as_ref()[..SECRET_BYTES])
}

/// Shortest password `check` accepts without complaint.
pub const MIN_LEN: usize = 12;

/// Passwords shipped in old docker-jitsi-meet releases and examples, and other
/// well-known weak values (compared case-insensitively); a stack using one is
/// open to anyone who read the examples.
const WEAK: &[&str] = &[
    // The default passwords of releases before stable-4384 (passw0rd for
    // every account, s3cr37 for the jicofo component), still refused by the
    // prosody image at boot.
    "passw0rd",
    "s3cr37",
    // Example values from upstream's env.example and docs.
    "my_jitsi_app_secret",
    "my_jitsi_app_id",
    "ldapuserpassw0rd",
    "replaceme",
    "password",
    "secret",
    "changeme",
    "change-me",
    "changeit",
    "admin",
    "jitsi",
    "jvbpass",
    "focuspass",
    "jibripass",
    "recorderpass",
    "jigasipass",
    "123456",
    "12345678",
    "qwerty",
    "letmein",
    "test",
    "default",
];

/// Why a password is weak; never contains the password itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weakness {
    /// A published or well-known value (not merely short).
    pub known: bool,
    pub why: String,
    /// A description of the value that does not reveal it.
    pub found: String,
}

/// Why `value` is too weak to use as a password, if it is.
pub fn weakness(value: &str) -> Option<Weakness> {
    let len = value.chars().count();
    let lower = value.to_ascii_lowercase();
    if WEAK.contains(&lower.as_str()) {
        return Some(Weakness {
            known: true,
            why: "a well-known default or example password".into(),
            found: format!("a published {len}-character value (not shown: secret)"),
        });
    }
    if len < MIN_LEN {
        return Some(Weakness {
            known: false,
            why: format!("only {len} characters long"),
            found: secret_length(len),
        });
    }
    None
}

/// "a 12-character value (not shown: secret)", "an 11-character ...".
pub fn secret_length(len: usize) -> String {
    format!("{} {len}-character value (not shown: secret)", article(len))
}

/// The indefinite article for a number as it is read aloud: "an" before
/// eight, eleven, eighteen, eighty... (8, 11, 18, 80-89, 800-899, 11000...).
pub fn article(n: usize) -> &'static str {
    let digits = n.to_string();
    let vowel = digits.starts_with('8')
        || (digits.len() % 3 == 2 && (digits.starts_with("11") || digits.starts_with("18")));
    if vowel {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_follow_the_spoken_number() {
        for n in [8, 11, 18, 80, 83, 800, 8000, 11_000, 18_500] {
            assert_eq!(article(n), "an", "{n}");
        }
        for n in [1, 7, 10, 12, 16, 32, 100, 110, 1100, 180] {
            assert_eq!(article(n), "a", "{n}");
        }
        assert_eq!(
            secret_length(11),
            "an 11-character value (not shown: secret)"
        );
    }

    #[test]
    fn generated_are_hex_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert!(weakness(&a).is_none());
    }

    #[test]
    fn weak_ones_are_named() {
        let w = weakness("passw0rd").unwrap();
        assert!(w.known);
        assert!(!w.why.contains("passw0rd") && !w.found.contains("passw0rd"));
        assert!(weakness("S3CR37").unwrap().known);
        assert!(weakness("LdapUserPassw0rd").unwrap().known);
        let w = weakness("short").unwrap();
        assert!(!w.known && w.why.contains('5'), "{w:?}");
    }
}
