//! wavecast-server: the real-time WebSocket streaming server as a library.
//!
//! - [`config`]: configuration (defaults, TOML, `WAVECAST_…` env).
//! - [`hub`]: channels → subscribers, and fan-out.
//! - [`session`]: one connection: outbound queue, driver, message handling.
//! - [`http`]: the HTTP routes, including the WebSocket upgrade.
//! - [`auth`]: credentials, permissions, origins, connect hook.
//! - [`limits`]: admission and rate limits.
//! - [`metrics`]: Prometheus metrics.
//! - [`audit`]: the audit log.
//! - [`server`]: binding, running and graceful shutdown.

pub mod audit;
pub mod auth;
pub mod config;
pub mod engine;
pub mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod server;
pub mod session;
pub mod state;
pub mod streams;

pub use config::Config;
pub use server::Server;
pub use wavecast_protocol as protocol;
