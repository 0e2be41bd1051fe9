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
//!
//! [`ctx::Ctx`] is what they read from; [`source::Source`] picks one.

pub mod alerts;
pub mod cluster;
pub mod ctx;
pub mod http;
pub mod server;
pub mod source;
pub mod system;
pub mod tasks;
