//! The redis broker: several wavecast nodes act as one server.
//!
//! - History lives in Redis: a hash `{prefix}:meta:{channel}` (epoch, last
//!   offset) and a stream `{prefix}:stream:{channel}` whose entry ids are
//!   `{offset}-1`, trimmed with MAXLEN and expired after the TTL.
//! - A publish is one Lua script (`scripts`): it takes the next offset,
//!   appends to the stream and PUBLISHes the publication to
//!   `{prefix}:ch:{channel}`, atomically, so every node sees a channel's
//!   publications in offset order and no two nodes hand out one offset.
//! - Commands go through pipelined connections (`pipeline`); each node
//!   holds one pub/sub connection (`pubsub`) and subscribes to a channel
//!   only while it has local subscribers.
//! - Epochs carry the generation, which grows when a Redis restart may
//!   have lost data, so clients are told instead of resuming across a gap.
//! - A node registry (`registry`) lists the live nodes.
//! - `rediss://` connects with TLS (`tls`), trusting `redis_ca_file`.

mod broker;
mod message;
mod pipeline;
mod pubsub;
mod registry;
pub mod resp;
mod scripts;
mod shared;
pub mod tls;

pub use broker::RedisBroker;
pub use shared::NodeSelf;
