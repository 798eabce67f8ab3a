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

/// Passwords shipped in old docker-jitsi-meet examples and other well-known
/// weak values; a stack using one is open to anyone who read the examples.
const WEAK: &[&str] = &[
    "passw0rd",
    "password",
    "s3cr37",
    "secret",
    "changeme",
    "change-me",
    "replaceme",
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

/// Why `value` is too weak to use as a password, if it is.
pub fn weakness(value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    if WEAK.contains(&lower.as_str()) {
        return Some(format!(
            "{value:?} is a well-known default or weak password"
        ));
    }
    if value.chars().count() < 12 {
        return Some(format!(
            "it is {} characters long; use at least 12",
            value.chars().count()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(weakness("passw0rd").is_some());
        assert!(weakness("S3CR37").is_some());
        assert!(weakness("short").unwrap().contains("12"));
    }
}
