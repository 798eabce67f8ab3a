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
