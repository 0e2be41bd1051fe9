//! Native TLS (`[tls]`): the certificate and key loaded from PEM files,
//! reloaded without a restart, and the socket type every connection uses
//! whether it speaks TLS or not.
//!
//! Invariants:
//! - the server starts only with a usable certificate: a missing or
//!   unreadable file, a file without a PEM certificate or key, or a key
//!   that does not match the certificate is a startup error naming the
//!   option and the path;
//! - a reload replaces the certificate only when the new pair loads; a bad
//!   pair is logged and counted, and the old certificate stays;
//! - the certificate is read at each handshake, so a reload affects only
//!   new connections: open ones keep their session and are never dropped.
//!
//! Reloads happen on SIGHUP ([`Tls::watch`]) and when either file's
//! modification time or size changes (polled every `tls.reload_interval`).

use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// What identifies one version of the files: modification time and size
/// of the certificate and of the key.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let one = |p: &Path| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    };
    [one(cert), one(key)]
}

/// Loads a certificate chain and its private key from PEM files. The
/// error names the option and the file.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<CertifiedKey>, String> {
    let cert_pem = std::fs::read(cert_file)
        .map_err(|e| format!("tls.cert_file {}: {e}", cert_file.display()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls.cert_file {}: bad PEM: {e}", cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "tls.cert_file {}: no PEM certificate (-----BEGIN CERTIFICATE-----) found",
            cert_file.display()
        ));
    }
    let key_pem =
        std::fs::read(key_file).map_err(|e| format!("tls.key_file {}: {e}", key_file.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        format!(
            "tls.key_file {}: no usable PEM private key: {e}",
            key_file.display()
        )
    })?;
    let certified = CertifiedKey::from_der(chain, key, &default_provider()).map_err(|e| {
        format!(
            "tls.cert_file {} and tls.key_file {} do not make a usable pair: {e}",
            cert_file.display(),
            key_file.display()
        )
    })?;
    Ok(Arc::new(certified))
}

/// The current certificate, swapped by reloads.
#[derive(Debug)]
struct Current {
    key: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.read().clone())
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The new certificate is in use.
    Replaced,
    /// The files did not change (only for change-driven reloads).
    Unchanged,
    /// The new files did not load; the old certificate stays.
    Failed(String),
}

/// The server's TLS side: the acceptor and the reloadable certificate.
pub struct Tls {
    acceptor: TlsAcceptor,
    current: Arc<Current>,
    cert_file: PathBuf,
    key_file: PathBuf,
    stamp: Mutex<Stamp>,
}

impl Tls {
    /// Loads the pair; the error is meant for the operator, as is.
    pub fn new(cert_file: &Path, key_file: &Path) -> Result<Tls, String> {
        let before = stamp(cert_file, key_file);
        let key = load(cert_file, key_file)?;
        let current = Arc::new(Current {
            key: RwLock::new(key),
        });
        let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            current,
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            stamp: Mutex::new(before),
        })
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reloads the files; with `only_if_changed`, only when their stamp
    /// changed since the last load.
    pub fn reload(&self, only_if_changed: bool) -> Reloaded {
        let now = stamp(&self.cert_file, &self.key_file);
        if only_if_changed && *self.stamp.lock() == now {
            return Reloaded::Unchanged;
        }
        // The stamp is recorded even for a failed load, so a bad file is
        // reported once, not at every poll.
        *self.stamp.lock() = now;
        match load(&self.cert_file, &self.key_file) {
            Ok(key) => {
                *self.current.key.write() = key;
                Reloaded::Replaced
            }
            Err(e) => Reloaded::Failed(e),
        }
    }

    /// Reloads on SIGHUP and when the files change, until `stop`;
    /// `report` hears every reload that did something.
    pub fn watch(
        self: &Arc<Self>,
        every: Duration,
        stop: CancellationToken,
        report: impl Fn(&Reloaded) + Send + 'static,
    ) {
        let tls = Arc::downgrade(self);
        // Listen before returning, so a SIGHUP from now on reloads (and
        // never kills the process).
        let mut hup = hangups();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let changed_only = tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => true,
                    Some(()) = next_hangup(&mut hup) => false,
                };
                let Some(tls) = tls.upgrade() else { return };
                let outcome = tls.reload(changed_only);
                if outcome != Reloaded::Unchanged {
                    report(&outcome);
                }
            }
        });
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangups() -> Hangups {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS reloads on file changes only");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangups() -> Hangups {
    None
}

/// The next SIGHUP; never resolves when there is no signal stream.
async fn next_hangup(h: &mut Hangups) -> Option<()> {
    #[cfg(unix)]
    if let Some(s) = h {
        return s.recv().await;
    }
    let _ = h;
    std::future::pending().await
}

/// A connection's socket: plain TCP or TLS over TCP.
pub enum Socket {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl crate::conn::outbound::DirectSocket for Socket {
    fn direct_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match self {
            Socket::Plain(s) => Some(s.as_raw_fd()),
            Socket::Tls(_) => None,
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Socket::Plain(s) => s.is_write_vectored(),
            Socket::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_flush(cx),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
