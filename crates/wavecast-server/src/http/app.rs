//! [`App`]: what every route can reach — the core state and the domain
//! parts' own state.

use std::sync::Arc;

use axum::extract::FromRef;

use super::assets::Assets;
use crate::agents::AgentService;
use crate::monitoring::Monitoring;
use crate::state::AppState;
use crate::streams::StreamCounter;

/// Drops the HTTP connection a request came on (a request extension):
/// for a stream whose reader stopped reading, which a response can no
/// longer end by itself.
#[derive(Clone, Default)]
pub struct ConnectionKill(pub tokio_util::sync::CancellationToken);

/// What every route can reach: the core state and the domain parts' own.
#[derive(Clone)]
pub struct App {
    pub core: Arc<AppState>,
    pub streams: Arc<StreamCounter>,
    pub agents: Arc<AgentService>,
    pub assets: Arc<Assets>,
    pub monitoring: Arc<Monitoring>,
}

impl FromRef<App> for Arc<AppState> {
    fn from_ref(app: &App) -> Arc<AppState> {
        app.core.clone()
    }
}

impl FromRef<App> for Arc<Assets> {
    fn from_ref(app: &App) -> Arc<Assets> {
        app.assets.clone()
    }
}

impl FromRef<App> for Arc<Monitoring> {
    fn from_ref(app: &App) -> Arc<Monitoring> {
        app.monitoring.clone()
    }
}
