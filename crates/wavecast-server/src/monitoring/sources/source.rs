//! [`Source`]: one publisher's source, picked by its `source` setting,
//! with the state it keeps between ticks.

use serde_json::Value;

use super::ctx::Ctx;
use super::{alerts, cluster, http, server, system, tasks};
use crate::config::{MonitorPublisher, MonitorSource};

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
