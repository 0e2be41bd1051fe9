//! The built-in data sources of the publishers. Each keeps what it needs
//! between ticks (previous counters, the last topology) and answers one
//! JSON object per tick, `None` when there is nothing to publish (the
//! topology did not change), or an error text (the publisher counts and
//! reports it; the other publishers are not affected).
//!
//! - `system`: this host's CPU, memory, disk, network, load ([`system`]).
//! - `cluster`, `topology`: the nodes of the deployment ([`cluster`]).
//! - `server`: wavecast's own metrics and the system part ([`server`]).
//! - `tasks`: running simulations and reported tasks ([`tasks`]).
//! - `alerts`: a summary of the alerts raised ([`alerts`]).
//! - `http`: a JSON document pulled from a URL ([`http`]).

pub mod alerts;
pub mod cluster;
pub mod http;
pub mod server;
pub mod system;
pub mod tasks;

use std::sync::Arc;

use serde_json::Value;

use super::Monitoring;
use crate::config::{MonitorPublisher, MonitorSource};
use crate::state::AppState;

/// What a source reads from.
pub struct Ctx<'a> {
    pub state: &'a Arc<AppState>,
    pub monitoring: &'a Monitoring,
}

/// One publisher's source with its state.
pub enum Source {
    System(system::SystemSource),
    Cluster(cluster::ClusterSource),
    Topology(cluster::TopologySource, String),
    Server(server::ServerSource),
    Tasks,
    Alerts,
    Http(http::HttpSource),
}

impl Source {
    pub fn new(p: &MonitorPublisher) -> Source {
        match p.source {
            MonitorSource::System => Source::System(system::SystemSource::new()),
            MonitorSource::Cluster => Source::Cluster(cluster::ClusterSource::default()),
            MonitorSource::Topology => {
                Source::Topology(cluster::TopologySource::default(), p.room.clone())
            }
            MonitorSource::Server => Source::Server(server::ServerSource::new()),
            MonitorSource::Tasks => Source::Tasks,
            MonitorSource::Alerts => Source::Alerts,
            MonitorSource::Http => Source::Http(http::HttpSource::new(&p.url, p.timeout)),
        }
    }

    /// This tick's document, `None` to publish nothing.
    pub async fn collect(&mut self, ctx: &Ctx<'_>) -> Result<Option<Value>, String> {
        match self {
            Source::System(s) => s.collect().await.map(Some),
            Source::Cluster(s) => s.collect(ctx).await.map(Some),
            Source::Topology(s, room) => s.collect(ctx, room).await,
            Source::Server(s) => s.collect(ctx).await.map(Some),
            Source::Tasks => Ok(Some(tasks::collect(ctx))),
            Source::Alerts => Ok(Some(alerts::collect(ctx))),
            Source::Http(s) => s.collect().await.map(Some),
        }
    }
}
