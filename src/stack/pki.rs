//! The certificates that let nodes verify the main host's prosody.
//!
//! The prosody image makes a self-signed certificate per XMPP domain at
//! every boot (into `/run`, a tmpfs) unless `/config/certs/<domain>.crt`
//! exists; nothing could pin such a certificate. With nodes, jitsi-stack
//! makes a small CA once (persistent, under CONFIG, never rotated unasked)
//! and issues prosody's certificates for the domains the nodes connect to
//! (XMPP_AUTH_DOMAIN for the service logins, XMPP_DOMAIN and the guest
//! domain for the gateways' conference logins) into
//! `CONFIG/prosody/config/certs/`, where the image's boot script finds them
//! and skips its own. Every bundle carries the CA's certificate (PEM, for
//! `doctor`) and the same certificate as a Java trust store (JKS, for the
//! bridges', recorders' and gateways' XMPP clients): the pin.
//!
//! Layout under CONFIG:
//! - `xmpp-ca/ca.crt`, `xmpp-ca/ca.key` (0600): the CA; its key never leaves
//!   the main host;
//! - `prosody/config/certs/<domain>.crt`, `.key` (0600): prosody's.

use crate::config::Stack;
use crate::tls::certificates;
use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// The CA's directory under CONFIG.
pub const CA_DIR: &str = "xmpp-ca";
/// prosody's certificates under CONFIG (the image copies `/config/.` to
/// `/run/prosody/config/`, where its config reads `certs/<domain>.crt`).
pub const CERTS_DIR: &str = "prosody/config/certs";
/// The CA certificate's file name in a bundle.
pub const BUNDLE_CA: &str = "xmpp-ca.crt";
/// The Java trust store's file name in a bundle.
pub const BUNDLE_TRUSTSTORE: &str = "xmpp-ca.jks";
/// Where the node containers see the trust store.
pub const TRUSTSTORE_TARGET: &str = "/etc/ssl/certs/jitsi-stack-xmpp-ca.jks";
/// The trust store's integrity password: not a secret (the store holds one
/// public certificate); Java needs one to check the store's digest.
pub const TRUSTSTORE_PASSWORD: &str = "changeit";
/// The CA's subject; constant, so later certificates can be issued from
/// the stored key alone.
const CA_NAME: &str = "jitsi-stack XMPP CA";
/// The CA is valid for 20 years, prosody's certificates for 10.
const CA_DAYS: i64 = 20 * 365;
const LEAF_DAYS: i64 = 10 * 365;

/// The JVM options that make a node's Java services trust the pinned CA
/// (only it) for TLS: read by every JVM at start, whatever its command line.
pub fn java_tool_options() -> String {
    format!(
        "-Djavax.net.ssl.trustStore={TRUSTSTORE_TARGET} -Djavax.net.ssl.trustStoreType=JKS -Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}"
    )
}

pub fn ca_cert_path(config: &Path) -> PathBuf {
    config.join(CA_DIR).join("ca.crt")
}

fn ca_key_path(config: &Path) -> PathBuf {
    config.join(CA_DIR).join("ca.key")
}

pub fn leaf_paths(config: &Path, domain: &str) -> (PathBuf, PathBuf) {
    let dir = config.join(CERTS_DIR);
    (
        dir.join(format!("{domain}.crt")),
        dir.join(format!("{domain}.key")),
    )
}

/// The XMPP domains nodes open TLS sessions for.
pub fn domains(stack: &Stack) -> Vec<String> {
    let v = &stack.values;
    let mut out = vec![
        v.text("XMPP_AUTH_DOMAIN", "auth.meet.jitsi"),
        v.text("XMPP_DOMAIN", "meet.jitsi"),
    ];
    if v.bool("ENABLE_AUTH") && v.bool("ENABLE_GUESTS") {
        out.push(v.text("XMPP_GUEST_DOMAIN", "guest.meet.jitsi"));
    }
    out.dedup();
    out
}

/// The CA certificate (PEM), if the CA exists.
pub fn load_ca(config: &Path) -> Option<String> {
    std::fs::read_to_string(ca_cert_path(config)).ok()
}

fn ca_params() -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(p)
}

fn validity(p: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    // A day back: a node whose clock is a little behind still accepts it.
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(days);
}

/// What [`ensure`] made.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Made {
    pub ca: bool,
    pub leaves: Vec<String>,
}

/// What [`make`] is to create: decided from the files before the first
/// change (and recorded in a journal), so a rerun after a kill replaces
/// exactly what this operation was making, half-written pairs included,
/// and never a file placed by hand.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// No CA yet: make it.
    pub ca: bool,
    /// Domains with no certificate yet (a key alone is half of a pair a
    /// killed run was writing, key first: it is replaced).
    pub leaves: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        !self.ca && self.leaves.is_empty()
    }
}

/// What is missing: the CA if neither of its files exists, a certificate
/// for every domain in [`domains`] that has none. Half a CA is an error
/// (the CA is only ever renamed into place whole, so it was broken by
/// hand), and so is a CA directory holding other files (they would be
/// replaced). A certificate without its key is left alone (placed by hand:
/// `doctor` reports it); a key without its certificate is ours, half done.
pub fn plan(stack: &Stack) -> Result<Plan> {
    let config = stack.config_dir();
    let (crt, key) = (ca_cert_path(&config), ca_key_path(&config));
    let ca = match (crt.exists(), key.exists()) {
        (true, true) => false,
        (false, false) => true,
        _ => bail!(
            "{} holds only half of the nodes' CA (ca.crt and ca.key go together): restore the missing file, or remove both to make a new CA (every node's bundle must then be copied again)",
            config.join(CA_DIR).display()
        ),
    };
    if ca {
        let dir = config.join(CA_DIR);
        if let Some(other) = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .next()
        {
            bail!(
                "{} holds {} but no CA: move it away, and the nodes' CA is made there",
                dir.display(),
                other.file_name().to_string_lossy()
            );
        }
    }
    let leaves = domains(stack)
        .into_iter()
        .filter(|d| {
            let (lcrt, _) = leaf_paths(&config, d);
            std::fs::symlink_metadata(lcrt).is_err()
        })
        .collect();
    Ok(Plan { ca, leaves })
}

/// The directories prosody's certificates go in, under CONFIG, outermost
/// first, with the mode each is made with.
pub const LEAF_DIRS: [(&str, u32); 3] = [
    ("prosody", 0o755),
    ("prosody/config", 0o755),
    (CERTS_DIR, 0o750),
];

/// Makes the CA if there is none, and a certificate for every domain in
/// [`domains`] that has none. Existing certificates are never replaced: one
/// placed there by hand stays (and `doctor` says whether the nodes can
/// verify it). As root, the files are given to the images' uid.
/// Call it under the stack lock.
pub fn ensure(stack: &Stack) -> Result<Made> {
    let p = plan(stack)?;
    make(stack, &p)
}

/// Carries out `plan` (idempotent: run again after a kill, it ends in the
/// same state): [`make_ca`], then [`make_leaves`] with the directories
/// missing now as its own. Temporary files killed writers left (CA keys
/// among them) are removed first. Call it under the stack lock.
pub fn make(stack: &Stack, plan: &Plan) -> Result<Made> {
    let config = stack.config_dir();
    remove_stale(&config);
    let mut made = Made::default();
    if plan.ca {
        made.ca = make_ca(&config)?;
    }
    if plan.leaves.is_empty() {
        return Ok(made);
    }
    let ours: Vec<PathBuf> = LEAF_DIRS
        .iter()
        .map(|(rel, _)| config.join(rel))
        .filter(|p| std::fs::symlink_metadata(p).is_err())
        .collect();
    made.leaves = make_leaves(&config, &plan.leaves, &ours)?;
    Ok(made)
}

/// Removes what killed writers left in CONFIG, its CA directory and
/// prosody's certificates (temp files and stages; CA keys among them).
pub fn remove_stale(config: &Path) {
    for d in [
        config.to_path_buf(),
        config.join(CA_DIR),
        config.join(CERTS_DIR),
    ] {
        crate::fsutil::remove_stale_temps(&d);
    }
}

/// Makes the nodes' CA in `CONFIG/xmpp-ca` unless both its files are
/// there (then `false`): built in a temporary directory beside it, fsynced
/// and renamed into place whole; an empty directory in its place (the plan
/// refuses any other) is replaced. Idempotent.
pub fn make_ca(config: &Path) -> Result<bool> {
    use crate::fsutil;
    let ca_dir = config.join(CA_DIR);
    let (crt, key) = (ca_cert_path(config), ca_key_path(config));
    if crt.exists() && key.exists() {
        return Ok(false);
    }
    let k = KeyPair::generate()?;
    let mut p = ca_params()?;
    validity(&mut p, CA_DAYS);
    let cert = p.self_signed(&k)?;
    // The CA stays the host admin's: prosody never reads it.
    fsutil::create_dir_all_mode(config, 0o755)?;
    let stage = fsutil::temp_sibling(&ca_dir);
    let staged = (|| -> Result<()> {
        fsutil::create_dir_mode(&stage, 0o700)?;
        fsutil::write_synced(&stage.join("ca.key"), k.serialize_pem().as_bytes(), 0o600)?;
        fsutil::write_synced(&stage.join("ca.crt"), cert.pem().as_bytes(), 0o644)?;
        fsutil::sync_dir(&stage);
        if ca_dir.exists() {
            // Empty (the plan refused any other): replaced.
            std::fs::remove_dir(&ca_dir)
                .with_context(|| format!("replacing {}", ca_dir.display()))?;
        }
        std::fs::rename(&stage, &ca_dir)
            .with_context(|| format!("renaming {} to {}", stage.display(), ca_dir.display()))?;
        fsutil::sync_dir(config);
        Ok(())
    })();
    if staged.is_err() {
        let _ = std::fs::remove_dir_all(&stage);
    }
    staged?;
    Ok(true)
}

/// Issues prosody's certificate for each of `domains` from the CA, into
/// [`CERTS_DIR`]: the key first, then the certificate, each written
/// atomically (a certificate is only ever there with its key); a pair
/// found whole (the certificate verifies, its key parses) is kept, half a
/// pair replaced. Of the [`LEAF_DIRS`], those in `ours` (the ones the
/// caller recorded absent before it began) are made or finished with
/// their mode and, as root, the images' uid; the others are only
/// entered, never chmodded or chowned. Returns the domains issued now.
pub fn make_leaves(config: &Path, domains: &[String], ours: &[PathBuf]) -> Result<Vec<String>> {
    use crate::fsutil;
    let key = ca_key_path(config);
    let pem =
        std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
    let ca_key =
        KeyPair::from_pem(&pem).with_context(|| format!("reading the CA key {}", key.display()))?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    let owner = images_owner();
    for (rel, mode) in LEAF_DIRS {
        let made = if ours.iter().any(|p| *p == config.join(rel)) {
            fsutil::make_own_dir_under(config, Path::new(rel), mode, owner)?
        } else {
            fsutil::make_dir_under(config, Path::new(rel), mode, None)?
        };
        if let fsutil::Made::Symlink(link) = made {
            bail!(
                "{} is a symlink: prosody's certificates are never written through one; make it a directory",
                link.display()
            );
        }
    }
    let ca_pem = load_ca(config).unwrap_or_default();
    let mut issued = vec![];
    for domain in domains {
        let (lcrt, lkey) = leaf_paths(config, domain);
        if complete_leaf(&ca_pem, &lcrt, &lkey, domain) {
            continue;
        }
        let k = KeyPair::generate()?;
        let mut p = CertificateParams::new(vec![domain.clone()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, domain.as_str());
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        validity(&mut p, LEAF_DAYS);
        let cert = p.signed_by(&k, &issuer)?;
        // The key first: a certificate is only ever there with its key.
        let perms = |mode| fsutil::Perms { mode, owner };
        fsutil::write_atomic(&lkey, k.serialize_pem().as_bytes(), perms(0o600))?;
        fsutil::write_atomic(&lcrt, cert.pem().as_bytes(), perms(0o644))?;
        issued.push(domain.clone());
    }
    Ok(issued)
}

/// Whether a planned pair is already whole: the certificate verifies for
/// `domain` against the CA and its key is there (a rerun keeps it).
fn complete_leaf(ca_pem: &str, crt: &Path, key: &Path, domain: &str) -> bool {
    let (Ok(c), Ok(k)) = (std::fs::read_to_string(crt), std::fs::read_to_string(key)) else {
        return false;
    };
    KeyPair::from_pem(&k).is_ok() && verify_leaf(ca_pem, &c, domain).is_ok()
}

/// prosody runs as the images' uid and must read its key: as root, its
/// files go to that uid.
fn images_owner() -> Option<(u32, u32)> {
    let uid = crate::layout::IMAGE_UID;
    crate::fsutil::is_root().then_some((uid, uid))
}

/// A Java KeyStore (JKS, version 2) holding `pem`'s certificates as trusted
/// entries, byte for byte the same for the same input (entry dates are
/// fixed): the format every JVM reads as `javax.net.ssl.trustStore`.
pub fn truststore(pem: &str) -> Result<Vec<u8>> {
    fn utf(out: &mut Vec<u8>, s: &str) {
        // Java's modified UTF-8 equals UTF-8 for the ASCII used here.
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let certs = certificates(pem)?;
    let mut out = Vec::new();
    out.extend_from_slice(&0xFEED_FEEDu32.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(certs.len() as u32).to_be_bytes());
    for (i, c) in certs.iter().enumerate() {
        // Tag 2: a trusted certificate entry.
        out.extend_from_slice(&2u32.to_be_bytes());
        utf(&mut out, &format!("jitsi-stack-xmpp-ca-{i}"));
        out.extend_from_slice(&0u64.to_be_bytes());
        utf(&mut out, "X.509");
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(c);
    }
    // The store's digest: SHA-1 over the password (UTF-16BE), the fixed
    // salt "Mighty Aphrodite" and everything before.
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    for u in TRUSTSTORE_PASSWORD.encode_utf16() {
        ctx.update(&u.to_be_bytes());
    }
    ctx.update(b"Mighty Aphrodite");
    ctx.update(&out);
    out.extend_from_slice(ctx.finish().as_ref());
    Ok(out)
}

/// Whether `leaf_pem` is valid for `domain` and issued by the CA `ca_pem`
/// (the check a node makes), as a sentence on failure.
pub fn verify_leaf(ca_pem: &str, leaf_pem: &str, domain: &str) -> Result<(), String> {
    use rustls::client::danger::ServerCertVerifier;
    let verifier = crate::tls::pinned_verifier(ca_pem).map_err(|e| format!("{e:#}"))?;
    let certs = certificates(leaf_pem).map_err(|e| format!("{e:#}"))?;
    let name = rustls_pki_types::ServerName::try_from(domain.to_string())
        .map_err(|e| format!("{domain}: {e}"))?;
    verifier
        .verify_server_cert(
            &certs[0],
            &certs[1..],
            &name,
            &[],
            rustls_pki_types::UnixTime::now(),
        )
        .map(|_| ())
        .map_err(|e| crate::tls::describe(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::stack_in;

    #[test]
    fn ca_and_leaves_are_made_once_and_verify() {
        let tmp = tempfile::tempdir().unwrap();
        let s = stack_in(tmp.path(), &[], &[]);
        let made = ensure(&s).unwrap();
        assert!(made.ca);
        assert_eq!(made.leaves, ["auth.meet.jitsi", "meet.jitsi"]);
        let config = s.config_dir();
        let ca = load_ca(&config).unwrap();
        let (crt, key) = leaf_paths(&config, "auth.meet.jitsi");
        let leaf = std::fs::read_to_string(&crt).unwrap();
        verify_leaf(&ca, &leaf, "auth.meet.jitsi").unwrap();
        // Not for another name.
        assert!(verify_leaf(&ca, &leaf, "meet.jitsi").is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&config.join("xmpp-ca/ca.key")), 0o600);
        // Nothing is replaced; a domain added later gets its certificate
        // from the same CA.
        assert_eq!(ensure(&s).unwrap(), Made::default());
        assert_eq!(load_ca(&config).unwrap(), ca);
        let s = stack_in(
            tmp.path(),
            &[("ENABLE_AUTH", "1"), ("ENABLE_GUESTS", "1")],
            &[],
        );
        let made = ensure(&s).unwrap();
        assert_eq!(made.leaves, ["guest.meet.jitsi"]);
        let (g, _) = leaf_paths(&config, "guest.meet.jitsi");
        verify_leaf(
            &ca,
            &std::fs::read_to_string(g).unwrap(),
            "guest.meet.jitsi",
        )
        .unwrap();
        // A certificate from another CA does not verify.
        let other = tempfile::tempdir().unwrap();
        ensure(&stack_in(other.path(), &[], &[])).unwrap();
        let foreign = load_ca(&stack_in(other.path(), &[], &[]).config_dir()).unwrap();
        assert!(verify_leaf(&foreign, &leaf, "auth.meet.jitsi").is_err());
    }

    #[test]
    fn half_a_ca_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let s = stack_in(tmp.path(), &[], &[]);
        ensure(&s).unwrap();
        std::fs::remove_file(s.config_dir().join("xmpp-ca/ca.key")).unwrap();
        let e = ensure(&s).unwrap_err().to_string();
        assert!(e.contains("half"), "{e}");
    }

    #[test]
    fn truststore_is_a_jks_and_deterministic() {
        let tmp = tempfile::tempdir().unwrap();
        let s = stack_in(tmp.path(), &[], &[]);
        ensure(&s).unwrap();
        let ca = load_ca(&s.config_dir()).unwrap();
        let a = truststore(&ca).unwrap();
        assert_eq!(a, truststore(&ca).unwrap());
        assert_eq!(&a[..8], &[0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]);
        let der = &certificates(&ca).unwrap()[0];
        assert!(a.windows(der.len()).any(|w| w == der.as_ref()));
        assert!(truststore("not pem").is_err());
    }
}
