//! Test support: an in-process wavecast server on 127.0.0.1:0, and a TCP
//! proxy that a test can cut and restore to take a client offline without
//! touching the server. Every wait is bounded.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wavecast_client::{ClientEvent, ConnectionState, SubEvent};
use wavecast_server::{Config, Server};

/// The longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// A server with the defaults plus `toml`, in-memory history unless the
    /// TOML picks an engine.
    pub async fn start(toml: &str) -> TestServer {
        Self::start_with(toml, None).await
    }

    /// With `data_dir`, the embedded (persistent) engine under it.
    pub async fn start_with(toml: &str, data_dir: Option<&Path>) -> TestServer {
        let mut cfg = Config::from_toml_str(toml).expect("test config");
        match data_dir {
            Some(d) => {
                cfg.engine = wavecast_server::config::EngineKind::Embedded;
                cfg.data_dir = d.to_path_buf();
            }
            None => {
                if !toml.contains("engine") {
                    cfg.engine = wavecast_server::config::EngineKind::Memory;
                }
            }
        }
        cfg.port = 0;
        cfg.bind = [127, 0, 0, 1].into();
        let server = Server::bind(cfg).await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful shutdown (clients get 1001); waits until it is done.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(WAIT, h)
                .await
                .expect("server stops")
                .expect("join")
                .expect("run");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A TCP proxy on 127.0.0.1:0 to an upstream address that can be changed.
/// While cut, it closes every piped connection and every new one at once.
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    open: Arc<AtomicBool>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        let upstream = Arc::new(Mutex::new(upstream));
        let open = Arc::new(AtomicBool::new(true));
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (upstream, open, pipes) = (upstream.clone(), open.clone(), pipes.clone());
            tokio::spawn(async move {
                while let Ok((mut down, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue; // dropped: closed at once
                    }
                    let to = *upstream.lock().expect("lock");
                    let pipe = tokio::spawn(async move {
                        if let Ok(mut up) = TcpStream::connect(to).await {
                            let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                        }
                    });
                    pipes.lock().expect("lock").push(pipe);
                }
            })
        };
        Proxy {
            addr,
            upstream,
            open,
            pipes,
            accept,
        }
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for p in self.pipes.lock().expect("lock").drain(..) {
            p.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    pub fn set_upstream(&self, to: SocketAddr) {
        *self.upstream.lock().expect("lock") = to;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The next event of a subscription, within [`WAIT`].
pub async fn next_event<S: Stream<Item = SubEvent> + Unpin>(s: &mut S) -> SubEvent {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("no event within the wait")
        .expect("subscription ended")
}

/// Waits for a client event matching `pred`, within [`WAIT`].
pub async fn wait_event<S, F>(events: &mut S, mut pred: F) -> ClientEvent
where
    S: Stream<Item = ClientEvent> + Unpin,
    F: FnMut(&ClientEvent) -> bool,
{
    tokio::time::timeout(WAIT, async {
        loop {
            let ev = events.next().await.expect("events ended");
            if pred(&ev) {
                return ev;
            }
        }
    })
    .await
    .expect("event within the wait")
}

/// Waits until the client's state matches `pred`.
pub async fn wait_state(
    rx: &mut tokio::sync::watch::Receiver<ConnectionState>,
    pred: impl Fn(&ConnectionState) -> bool,
) -> ConnectionState {
    tokio::time::timeout(WAIT, async {
        loop {
            let s = rx.borrow_and_update().clone();
            if pred(&s) {
                return s;
            }
            rx.changed().await.expect("client gone");
        }
    })
    .await
    .expect("state within the wait")
}

/// A fresh temporary directory under the system temp dir.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "wavecast-client-{tag}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
