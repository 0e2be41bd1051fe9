//! [`Brokers`]: the broker a server runs with, chosen by configuration,
//! dispatching every call of the [`Broker`] interface.

use wavecast_protocol::Publication;

use super::api::{Broker, BrokerEvents, NodeInfo, Publish, Published};
use super::{local, redis};
use crate::history::{Retention, StoreError, StreamTop};

/// The broker a server runs with.
pub enum Brokers {
    Local(local::LocalBroker),
    Redis(redis::RedisBroker),
}

impl Broker for Brokers {
    async fn publish(
        &self,
        p: Publish<'_>,
        events: &dyn BrokerEvents,
    ) -> Result<Published, StoreError> {
        match self {
            Brokers::Local(b) => b.publish(p, events).await,
            Brokers::Redis(b) => b.publish(p, events).await,
        }
    }

    async fn top(&self, channel: &str, retention: &Retention) -> Result<StreamTop, StoreError> {
        match self {
            Brokers::Local(b) => b.top(channel, retention).await,
            Brokers::Redis(b) => b.top(channel, retention).await,
        }
    }

    async fn read(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
        max_bytes: usize,
        retention: &Retention,
    ) -> Result<Vec<Publication>, StoreError> {
        match self {
            Brokers::Local(b) => b.read(channel, since, limit, max_bytes, retention).await,
            Brokers::Redis(b) => b.read(channel, since, limit, max_bytes, retention).await,
        }
    }

    async fn latest(
        &self,
        channel: &str,
        retention: &Retention,
    ) -> Result<Option<Publication>, StoreError> {
        match self {
            Brokers::Local(b) => b.latest(channel, retention).await,
            Brokers::Redis(b) => b.latest(channel, retention).await,
        }
    }

    async fn subscribe(&self, channel: &str) -> Result<(), StoreError> {
        match self {
            Brokers::Local(b) => b.subscribe(channel).await,
            Brokers::Redis(b) => b.subscribe(channel).await,
        }
    }

    fn unsubscribe(&self, channel: &str, retention: Option<&Retention>) {
        match self {
            Brokers::Local(b) => b.unsubscribe(channel, retention),
            Brokers::Redis(b) => b.unsubscribe(channel, retention),
        }
    }

    async fn nodes(&self) -> Option<Result<Vec<NodeInfo>, StoreError>> {
        match self {
            Brokers::Local(b) => b.nodes().await,
            Brokers::Redis(b) => b.nodes().await,
        }
    }

    fn healthy(&self) -> bool {
        match self {
            Brokers::Local(b) => b.healthy(),
            Brokers::Redis(b) => b.healthy(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Brokers::Local(b) => b.name(),
            Brokers::Redis(b) => b.name(),
        }
    }
}
