//! TLS trust: the certificates of a PEM text, and a verifier pinned to a CA
//! (the stack's own CA, which nodes and doctor trust instead of the system's).

use std::sync::Arc;

/// The DER certificates of a PEM text.
pub fn certificates(pem: &str) -> anyhow::Result<Vec<rustls_pki_types::CertificateDer<'static>>> {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("not a PEM certificate: {e:?}"))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in the PEM text");
    }
    Ok(certs)
}

/// Whether an X.509 certificate (DER) names itself as its issuer (the
/// issuer and subject names are the same bytes), as one made by `openssl
/// req -x509` does: no certificate authority vouches for it. `None` when
/// the bytes are not a certificate.
pub fn self_issued(der: &[u8]) -> Option<bool> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version
    // OPTIONAL, serialNumber, signature, issuer, validity, subject, ... }, ... }
    let (0x30, certificate, _) = der_tlv(der)? else {
        return None;
    };
    let (0x30, mut rest, _) = der_tlv(certificate)? else {
        return None;
    };
    let mut fields = Vec::new();
    while let Some((tag, body, next)) = der_tlv(rest) {
        fields.push((tag, body));
        rest = next;
    }
    let start = usize::from(fields.first()?.0 == 0xa0);
    match fields.get(start..start + 5)? {
        [(0x02, _), (0x30, _), (0x30, issuer), (0x30, _), (0x30, subject)] => {
            Some(issuer == subject)
        }
        _ => None,
    }
}

/// The first DER element of `der`: (tag, contents, what follows).
fn der_tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A certificate verifier that accepts only chains to `ca_pem`'s
/// certificates (with the usual name, date and usage checks).
pub fn pinned_verifier(ca_pem: &str) -> anyhow::Result<Arc<rustls::client::WebPkiServerVerifier>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certificates(ca_pem)? {
        roots
            .add(c)
            .map_err(|e| anyhow::anyhow!("the pinned CA certificate is not usable: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| anyhow::anyhow!("building the certificate verifier: {e}"))
}

/// A TLS failure in plain words: what is wrong with the certificate or the
/// handshake, without the library's type names (`Other(OtherError(...))`).
pub fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => certificate_problem(c),
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".into(),
        rustls::Error::AlertReceived(a) => {
            format!(
                "the server ended the TLS handshake (alert: {})",
                words(&format!("{a:?}"))
            )
        }
        rustls::Error::PeerIncompatible(p) => format!(
            "the server's TLS is incompatible with this client: {}",
            words(&format!("{p:?}"))
        ),
        rustls::Error::InvalidMessage(m) => format!(
            "the server did not speak TLS as expected ({}); is it a TLS port?",
            words(&format!("{m:?}"))
        ),
        other => words(&other.to_string()),
    }
}

fn certificate_problem(c: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    let what = match c {
        C::BadEncoding => "it is not a well-formed certificate".to_string(),
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "it is not valid yet (check the clocks)".into()
        }
        C::Revoked => "it has been revoked".into(),
        C::UnknownIssuer => "it is not issued by a trusted CA".into(),
        C::BadSignature => "its signature does not verify".into(),
        C::NotValidForName => "it is not issued for this name".into(),
        C::NotValidForNameContext { expected, presented } => format!(
            "it is issued for {} but this is {}",
            if presented.is_empty() {
                "no name".to_string()
            } else {
                presented.join(", ")
            },
            expected.to_str()
        ),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "it is not meant for a TLS server".into()
        }
        C::Other(o) => match format!("{o:?}") {
            s if s.contains("CaUsedAsEndEntity") => {
                "it is a CA certificate, used as the server's own; the server needs a certificate issued by the CA".into()
            }
            s if s.contains("EndEntityUsedAsCa") => {
                "its issuer is not a CA certificate (a server certificate was used as the CA)".into()
            }
            s if s.contains("CertNotValidForName") => "it is not issued for this name".into(),
            s if s.contains("UnsupportedSignatureAlgorithm") => {
                "it is signed with an algorithm this client does not accept".into()
            }
            s => words(&s),
        },
        other => words(&format!("{other:?}")),
    };
    format!("the server's certificate is not accepted: {what}")
}

/// `SomeRustName(Inner(CamelCase))` as lower-case words: the last resort for
/// a variant without its own sentence.
fn words(debug: &str) -> String {
    let inner = debug
        .rsplit('(')
        .next()
        .unwrap_or(debug)
        .trim_end_matches(')');
    let mut out = String::new();
    for (i, c) in inner.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with(' ') {
                out.push(' ');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_read_as_words_not_type_names() {
        // webpki's error as rustls wraps it (its Debug is the variant name).
        #[derive(Debug)]
        struct CaUsedAsEndEntity;
        impl std::fmt::Display for CaUsedAsEndEntity {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{self:?}")
            }
        }
        impl std::error::Error for CaUsedAsEndEntity {}
        let other = rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
            rustls::OtherError(std::sync::Arc::new(CaUsedAsEndEntity)),
        ));
        assert!(other.to_string().contains("OtherError(CaUsedAsEndEntity)"));
        let shown = describe(&other);
        assert!(shown.contains("CA certificate"), "{shown}");
        for internal in ["Other", "OtherError", "CaUsedAsEndEntity", "("] {
            assert!(!shown.contains(internal), "{shown}");
        }
        let unknown = describe(&rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(
            unknown,
            "the server's certificate is not accepted: it is not issued by a trusted CA"
        );
        assert_eq!(
            words("Other(OtherError(MaximumPathDepthExceeded))"),
            "maximum path depth exceeded"
        );
    }

    #[test]
    fn self_issued_tells_a_self_signed_certificate_from_a_ca_issued_one() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&key).unwrap();
        assert_eq!(self_issued(ca_cert.der()), Some(true));
        let issuer = rcgen::Issuer::new(ca, &key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["meet.example.org".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        assert_eq!(self_issued(leaf.der()), Some(false));
        assert_eq!(self_issued(b"not a certificate"), None);
        assert_eq!(self_issued(&leaf.der()[..40]), None);
    }
}
