//! Brokers: where a publication gets its offset and how it reaches every
//! node's subscribers. One async interface ([`Broker`]) for every engine.
//!
//! - [`api`]: the interface ([`Broker`]), the delivery callback
//!   ([`BrokerEvents`]) and what crosses them ([`Publish`], [`Published`],
//!   [`Delivered`], [`NodeInfo`]);
//! - [`any`]: [`Brokers`], the broker a server runs with, chosen by
//!   configuration;
//! - [`local`]: [`local::LocalBroker`], this process alone, over a history
//!   store (memory or embedded);
//! - [`redis`]: [`redis::RedisBroker`], several nodes sharing Redis;
//! - [`idempotency`]: the local broker's recent publish outcomes by
//!   idempotency key, so that a retried publish is not published twice
//!   (the Redis broker keeps its keys in Redis).
//!
//! Every broker hands publications to one callback, [`BrokerEvents`], which
//! the hub implements (as centrifuge's `BrokerEventHandler`): the local
//! broker calls it under the channel's lock right after the append, so a
//! channel's publications arrive in offset order; the Redis broker calls it
//! from its pub/sub task. Brokers import neither the hub nor the session.

pub mod any;
pub mod api;
pub mod idempotency;
pub mod local;
pub mod redis;

pub use any::Brokers;
pub use api::{Broker, BrokerEvents, Claimed, Delivered, NodeInfo, Publish, Published};
