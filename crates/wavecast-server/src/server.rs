//! Running a server: bind the listener, serve HTTP and WebSocket upgrades,
//! and shut down gracefully: stop accepting, flush every queue, close every
//! client with 1001, and return within `shutdown_timeout`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
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
        let addr = SocketAddr::new(config.bind, config.port);
        let listener = TcpListener::bind(addr).await?;
        Ok(Server {
            state: AppState::new(config),
            listener,
        })
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
        let token = state.shutdown.clone();
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
        let deadline = state.config.shutdown_timeout;
        let serve = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { token.cancelled().await });
        let served = serve.await;
        let _ = watcher.await;
        state.sessions.close();
        if tokio::time::timeout(deadline, state.sessions.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = state.hub.connection_count(),
                "shutdown_timeout reached with connections still closing"
            );
        }
        served
    }
}
