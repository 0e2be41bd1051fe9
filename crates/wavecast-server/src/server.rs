//! Running a server: bind the listener, serve HTTP and WebSocket upgrades,
//! and shut down gracefully: stop accepting, flush every queue, close every
//! client with 1001, and return within `shutdown_timeout`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use wavecast_protocol::CloseCode;

use crate::config::Config;
use crate::state::AppState;

/// A bound, not yet running server.
pub struct Server {
    state: Arc<AppState>,
    listener: TcpListener,
}

impl Server {
    /// Binds `config.bind:config.port` (port 0 picks a free port).
    pub async fn bind(config: Config) -> std::io::Result<Server> {
        let state = AppState::new(config)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.0))?;
        let addr = SocketAddr::new(state.config.bind, state.config.port);
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        *state.advertise.lock() = if state.config.advertise_address.is_empty() {
            bound.to_string()
        } else {
            state.config.advertise_address.clone()
        };
        Ok(Server { state, listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` completes (or [`AppState::shutdown`] is
    /// cancelled), then shuts down gracefully.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state;
        let app = crate::http::router(state.clone());
        crate::streams::spawn_rooms(&state);
        let watcher = {
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
        };
        let http_conns = TaskTracker::new();
        let handshake_timeout = state.config.limits.handshake_timeout;
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
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            let token = state.shutdown.clone();
            http_conns.spawn(async move {
                let service =
                    hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                        req.extensions_mut().insert(ConnectInfo(remote));
                        app.clone().oneshot(req)
                    });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(handshake_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = token.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                    }
                }
            });
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
        Ok(())
    }
}
