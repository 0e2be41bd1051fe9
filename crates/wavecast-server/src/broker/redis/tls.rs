//! TLS to Redis (`rediss://`): the rustls connector, trusting the CA
//! certificates of `redis_ca_file` or, without one, the public web roots,
//! and the stream a connection reads and writes, plain or encrypted.
//!
//! Invariants: a CA file that cannot be read or holds no certificate is an
//! error naming the file (the server refuses to start with it); the server
//! name checked against Redis's certificate is the URL's host.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// The connector for `rediss://`: trusts `ca_file`'s certificates, or the
/// public web roots when it is empty.
pub fn connector(ca_file: &str) -> Result<TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    if ca_file.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else {
        let bad = |e: String| format!("redis_ca_file {ca_file}: {e}");
        let pem = std::fs::read(ca_file).map_err(|e| bad(e.to_string()))?;
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
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Opens TLS over `tcp`, checking the certificate against `host`.
pub async fn handshake(
    connector: &TlsConnector,
    host: &str,
    tcp: TcpStream,
) -> Result<RedisStream, String> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host:?} is not a server name for TLS: {e}"))?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {host}: {e}"))?;
    Ok(RedisStream::Tls(Box::new(tls)))
}

/// One connection's byte stream: plain TCP or TLS over it.
pub enum RedisStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for RedisStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RedisStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            RedisStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for RedisStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            RedisStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            RedisStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RedisStream::Plain(s) => Pin::new(s).poll_flush(cx),
            RedisStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RedisStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            RedisStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
