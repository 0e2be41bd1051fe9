//! Running a server: bind the listener, serve HTTP and WebSocket upgrades,
//! run the background chores (history sweep, published simulations,
//! monitoring publishers), and
//! shut down gracefully: stop accepting, flush every queue, close every
//! client with 1001, and return within `shutdown_timeout`.
//!
//! With `[tls]`, every accepted connection does its TLS handshake (within
//! `limits.handshake_timeout`) before HTTP; the port then speaks only TLS.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use wavecast_protocol::CloseCode;

use crate::config::Config;
use crate::http::app::ConnectionKill;
use crate::http::assets::Assets;
use crate::http::App;
use crate::state::AppState;
use crate::tls::{Reloaded, Socket, Tls};

/// How often idle history logs are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// A bound, not yet running server.
pub struct Server {
    app: App,
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
}

impl Server {
    /// Binds `config.bind:config.port` (port 0 picks a free port).
    pub async fn bind(config: Config) -> std::io::Result<Server> {
        let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
        let tls = if config.tls.enabled() {
            let c = &config.tls;
            Some(Arc::new(
                Tls::new(c.cert_file.as_ref(), c.key_file.as_ref()).map_err(invalid)?,
            ))
        } else {
            None
        };
        let state = AppState::new(config).map_err(|e| invalid(e.0))?;
        let addr = SocketAddr::new(state.config.bind, state.config.port);
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        *state.node.address.lock() = if state.config.advertise_address.is_empty() {
            bound.to_string()
        } else {
            state.config.advertise_address.clone()
        };
        let streams: Arc<crate::streams::StreamCounter> = Arc::default();
        let monitoring = Arc::new(crate::monitoring::Monitoring::new(&state, streams.clone()));
        let app = App {
            core: state,
            streams,
            agents: Arc::default(),
            assets: Arc::default(),
            monitoring,
        };
        Ok(Server { app, listener, tls })
    }

    /// Serves `assets` at `/` (the binary gives the dashboard).
    pub fn with_assets(mut self, assets: Assets) -> Server {
        self.app.assets = Arc::new(assets);
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The TLS side, when `[tls]` is on (reload it with [`Tls::reload`]).
    pub fn tls(&self) -> Option<Arc<Tls>> {
        self.tls.clone()
    }

    pub fn state(&self) -> Arc<AppState> {
        self.app.core.clone()
    }

    /// The simulation streams running in this process.
    pub fn streams(&self) -> Arc<crate::streams::StreamCounter> {
        self.app.streams.clone()
    }

    /// The monitoring subsystem (publishers, aggregator).
    pub fn monitoring(&self) -> Arc<crate::monitoring::Monitoring> {
        self.app.monitoring.clone()
    }

    /// The agent relay's shared part (running conversations).
    pub fn agents(&self) -> Arc<crate::agents::AgentService> {
        self.app.agents.clone()
    }

    /// Serves until `shutdown` completes (or [`AppState::shutdown`] is
    /// cancelled), then shuts down gracefully.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.app.core.clone();
        let router = crate::http::router(self.app.clone());
        crate::streams::rooms::spawn_rooms(&state);
        let monitoring = self.app.monitoring.clone();
        crate::monitoring::publisher::start(&monitoring, &state);
        spawn_sweeper(&state);
        let watcher = spawn_shutdown_watcher(&state, shutdown);
        if let Some(tls) = &self.tls {
            watch_tls(&state, tls);
        }
        let http_conns = TaskTracker::new();
        loop {
            let (stream, remote) = tokio::select! {
                _ = state.shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors or similar: back off briefly.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let tls = self.tls.clone();
            http_conns.spawn(serve_conn(
                state.clone(),
                router.clone(),
                tls,
                stream,
                remote,
            ));
        }
        drop(self.listener);
        let _ = watcher.await;
        let deadline = tokio::time::Instant::now() + state.config.shutdown_timeout;
        state.sessions.close();
        http_conns.close();
        let waited = tokio::time::timeout_at(deadline, async {
            state.sessions.wait().await;
            http_conns.wait().await;
        })
        .await;
        if waited.is_err() {
            tracing::warn!(
                remaining = state.hub.connection_count(),
                "shutdown_timeout reached with connections still closing"
            );
        }
        monitoring
            .stopped(crate::monitoring::publisher::STOP_BOUND)
            .await;
        Ok(())
    }
}

/// Reloads the certificate on SIGHUP and file changes, with a log line
/// and a metric for each reload.
fn watch_tls(state: &Arc<AppState>, tls: &Arc<Tls>) {
    let metrics = state.metrics.clone();
    let every = state.config.tls.reload_interval;
    tls.watch(
        every,
        state.shutdown.clone(),
        move |outcome| match outcome {
            Reloaded::Replaced => {
                tracing::info!("TLS certificate reloaded");
                metrics.tls_reloads("success");
            }
            Reloaded::Failed(e) => {
                tracing::error!(error = %e, "TLS certificate reload failed; keeping the old one");
                metrics.tls_reloads("failure");
            }
            Reloaded::Unchanged => {}
        },
    );
}

/// One accepted connection: the TLS handshake when TLS is on, then HTTP.
async fn serve_conn(
    state: Arc<AppState>,
    router: axum::Router,
    tls: Option<Arc<Tls>>,
    stream: TcpStream,
    remote: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    let socket = match tls {
        None => Socket::Plain(stream),
        Some(tls) => {
            let timeout = state.config.limits.handshake_timeout;
            match tokio::time::timeout(timeout, tls.acceptor().accept(stream)).await {
                Ok(Ok(s)) => Socket::Tls(Box::new(s)),
                Ok(Err(e)) => {
                    state.metrics.tls_handshake_failures_total.inc();
                    return tracing::debug!(error = %e, %remote, "TLS handshake failed");
                }
                Err(_) => {
                    state.metrics.tls_handshake_failures_total.inc();
                    return tracing::debug!(%remote, "TLS handshake timed out");
                }
            }
        }
    };
    serve_http(state, router, socket, remote).await;
}

/// One HTTP connection (until it upgrades or closes).
async fn serve_http(
    state: Arc<AppState>,
    router: axum::Router,
    stream: Socket,
    remote: SocketAddr,
) {
    let kill = ConnectionKill::default();
    let killed = kill.0.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        req.extensions_mut().insert(kill.clone());
        router.clone().oneshot(req)
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.limits.handshake_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        // A stream whose reader stopped reading: drop the connection.
        _ = killed.cancelled() => {}
        _ = state.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// Closes every connection with 1001 once `shutdown` completes.
fn spawn_shutdown_watcher(
    state: &Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown => {}
            _ = state.shutdown.cancelled() => {}
        }
        tracing::info!("shutting down: closing every connection with 1001");
        state.shutdown.cancel();
        state.hub.close_all(CloseCode::GoingAway);
    })
}

/// Drops idle history logs whose publications expired, until shutdown.
fn spawn_sweeper(state: &Arc<AppState>) {
    let weak = Arc::downgrade(state);
    record_store_gauges(state);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let Some(state) = weak.upgrade() else { return };
            if state.shutdown.is_cancelled() {
                return;
            }
            let hub = state.hub.clone();
            let gone = tokio::task::spawn_blocking(move || hub.sweep_history())
                .await
                .unwrap_or(0);
            record_store_gauges(&state);
            if gone > 0 {
                tracing::debug!(gone, "idle history logs dropped");
            }
        }
    });
}

/// The history store's gauges: logs held and the engine's memory.
fn record_store_gauges(state: &AppState) {
    let m = &state.metrics;
    m.history_channels.set(state.hub.history_channels() as i64);
    if let Some(store) = &state.embedded {
        let (memtables, cache) = store.engine_memory();
        m.history_memtable_bytes.set(memtables as i64);
        m.history_cache_bytes.set(cache as i64);
    }
}
