//! TLS in tests: a self-signed certificate for `localhost` and
//! `127.0.0.1`, made with rcgen and written as PEM files, and `wss://`
//! connections that trust exactly the given certificates and report the
//! certificate the server presented.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_websockets::{ClientBuilder, Connector, MaybeTlsStream, WebSocketStream};

/// A self-signed certificate and its key, written to `NAME.crt` and
/// `NAME.key`.
pub struct TestCert {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl TestCert {
    /// Makes a new certificate (a new key each time) in `dir`.
    pub fn generate(dir: &Path, name: &str) -> TestCert {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("rcgen");
        let c = TestCert {
            cert_file: dir.join(format!("{name}.crt")),
            key_file: dir.join(format!("{name}.key")),
            cert_pem: made.cert.pem(),
            key_pem: made.signing_key.serialize_pem(),
            der: made.cert.der().clone(),
        };
        c.write_to(&c.cert_file, &c.key_file);
        c
    }

    /// Writes this pair over `cert_file` and `key_file` (each replaced at
    /// once, by a rename).
    pub fn write_to(&self, cert_file: &Path, key_file: &Path) {
        for (path, text) in [(key_file, &self.key_pem), (cert_file, &self.cert_pem)] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).expect("write PEM");
            std::fs::rename(&tmp, path).expect("rename PEM");
        }
    }

    /// `[tls]` for a test server using this pair.
    pub fn toml(&self, reload_interval: &str) -> String {
        format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\nreload_interval = {reload_interval:?}\n",
            self.cert_file.display().to_string(),
            self.key_file.display().to_string()
        )
    }
}

/// A client configuration trusting exactly `certs`.
pub fn client_config(certs: &[&TestCert]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c.der.clone()).expect("root");
    }
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A `wss://` WebSocket on `addr` + `path`, trusting `certs`.
pub type Wss = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `wss://localhost:PORT{path}` trusting `certs`; returns the socket
/// and the certificate the server presented.
pub async fn wss_connect(
    addr: SocketAddr,
    path: &str,
    certs: &[&TestCert],
) -> Result<(Wss, CertificateDer<'static>), String> {
    let connector = Connector::Rustls(TlsConnector::from(client_config(certs)));
    let uri = format!("wss://localhost:{}{path}", addr.port());
    let (ws, _) = ClientBuilder::new()
        .uri(&uri)
        .map_err(|e| e.to_string())?
        .connector(&connector)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let presented = match ws.get_ref() {
        MaybeTlsStream::Rustls(s) => s
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first().cloned())
            .ok_or("no peer certificate")?,
        _ => return Err("not a TLS stream".into()),
    };
    Ok((ws, presented))
}

/// One HTTP/1.1 request over TLS to `localhost:PORT`, trusting `certs`;
/// the status and body (the connection closes after the answer).
pub async fn https_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    certs: &[&TestCert],
) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost")
        .map_err(|e| e.to_string())?;
    let mut tls = TlsConnector::from(client_config(certs))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    // A peer that closes without close_notify still gave us the answer.
    let _ = tls.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}
