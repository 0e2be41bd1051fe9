//! Brokers: where a publication gets its offset and how it reaches every
//! node's subscribers. One async interface ([`Broker`]) for every engine:
//!
//! - [`local::LocalBroker`]: this process alone, over a history store
//!   (memory or embedded);
//! - [`redis::RedisBroker`]: several nodes sharing Redis.
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
pub use api::{Broker, BrokerEvents, Delivered, NodeInfo, Publish, Published};
