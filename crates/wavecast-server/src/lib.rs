//! wavecast-server: the real-time WebSocket streaming server as a library.
//!
//! Layout, top down (a module imports only from modules below it):
//!
//! - [`server`]: binding, the accept loop, graceful shutdown.
//! - [`http`]: the routes: WebSocket upgrades (each path gets its endpoint
//!   handler), the server API, status, static assets.
//! - Endpoints, each a [`session::Handler`]:
//!   - [`channels`]: the channel protocol (`subscribe`, `publish`, …),
//!     with per-connection extensions for other message types:
//!     - [`agents`]: the agent relay (`user_message`, `agent_request`);
//!   - [`streams`]: the MFN simulation streams;
//!   - [`echo`]: the conformance echo endpoint.
//! - [`sse`]: the Server-Sent Events transport (`GET /api/sse`), beside
//!   the session: a read-only stream of one connection's deliveries.
//! - Domain parts beside the endpoints: [`monitoring`] (FOG publishers
//!   and the metrics aggregator), publishing through the hub.
//! - [`session`]: one task per connection: socket I/O, heartbeats, the
//!   messages every endpoint shares (`init`, `auth`, `ping`, `close`), the
//!   admission checks.
//! - [`state`]: what the session core and the endpoints share.
//! - [`hub`]: connections and channel subscribers on this node, and the one
//!   delivery path of every broker.
//! - [`broker`]: where publications get their offsets: local (over a
//!   [`history`] store) or Redis (several nodes).
//! - [`history`]: history stores (memory, embedded) and epochs.
//! - [`recovery`]: pure recovery planning for joining subscribers.
//! - [`conn`]: a connection's handle, wire format and bounded queue.
//! - [`auth`], [`limits`]: credentials, permissions, origins; rate limits.
//! - [`tls`]: native TLS: the reloadable certificate, the socket type.
//! - Leaves: [`config`], [`metrics`], [`audit`], [`ids`], [`load`] (the
//!   delivery rate that decides when writers coalesce), [`moment`]
//!   (8-byte instants for what each connection keeps), [`timer`] (the
//!   coarse timer wheel every session's heartbeat and auth deadlines
//!   share).
//!
//! A publication's path: `POST /api/publish` ([`http::api`]) →
//! [`hub::Hub::publish`] → the broker appends to history and calls
//! [`broker::BrokerEvents::deliver`] → [`hub::channels`] pushes one shared
//! frame per format into each subscriber's [`conn::outbound`] queue → the
//! subscriber's session ([`session::io`]) writes it to the socket, at once
//! on a quiet server, and at most once per `delivery.coalesce_window` per
//! connection while the server is busy ([`load`]).

pub mod agents;
pub mod audit;
pub mod auth;
pub mod broker;
pub mod channels;
pub mod config;
pub mod conn;
pub mod echo;
pub mod history;
pub mod http;
pub mod hub;
pub mod ids;
pub mod limits;
pub mod load;
pub mod metrics;
pub mod moment;
pub mod monitoring;
pub mod recovery;
pub mod server;
pub mod session;
pub mod sse;
pub mod state;
pub mod streams;
pub mod timer;
pub mod tls;

pub use config::Config;
pub use server::Server;
pub use wavecast_protocol as protocol;
