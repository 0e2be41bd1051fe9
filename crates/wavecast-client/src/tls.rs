//! TLS for `wss://` and `https://` servers: the rustls client
//! configuration, trusting either the CA certificates of one PEM file
//! (`ca_file`, e.g. a private CA or a self-signed server certificate) or,
//! without one, the public web roots.
//!
//! Invariant: a CA file that cannot be read or holds no certificate is an
//! [`Error::InvalidConfig`] naming the file, reported before connecting.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::error::Error;

/// The client TLS configuration: trusts the certificates in `ca_file`, or
/// the public web roots without one.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |e: String| Error::InvalidConfig(format!("CA file {}: {e}", path.display()));
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| bad(format!("bad PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| bad(format!("unusable certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(bad("no PEM certificate found".into()));
            }
        }
        None => return Ok(web_roots()),
    }
    Ok(with_roots(roots))
}

/// The configuration trusting the public web roots.
pub fn web_roots() -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    with_roots(roots)
}

fn with_roots(roots: RootCertStore) -> Arc<ClientConfig> {
    #[allow(clippy::expect_used)]
    let builder = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        // Fails only for a provider without TLS 1.2 or 1.3; ring has both.
        .expect("the ring provider supports the default TLS versions");
    Arc::new(builder.with_root_certificates(roots).with_no_client_auth())
}
