//! wavecast-client: an async Rust client for wavecast servers.
//!
//! - Connects with an API key, an HMAC-signed `auth`, or a JWT (in the
//!   upgrade URL, a header, or an `auth` message) — [`Credentials`].
//! - Subscriptions are `Stream`s of [`SubEvent`]s ([`Client::subscribe`]),
//!   or callbacks ([`Client::subscribe_callback`]).
//! - Reconnects by itself with exponential backoff and full jitter
//!   ([`Backoff`]), then subscribes again recovering from the last offset and
//!   epoch it saw on each channel, so the application sees no gap; when the
//!   server cannot recover, the application is told ([`Recovery::Failed`],
//!   [`ClientEvent::RecoveryFailed`]). Duplicates (by offset) are dropped.
//! - Frames sent while offline wait in a bounded queue ([`Overflow`]) and
//!   are flushed in order, paced below the server's message rate.
//! - Answers heartbeats, detects a silent server, and refreshes tokens
//!   through a [`TokenProvider`].
//! - State changes are observable ([`ConnectionState`],
//!   [`Client::watch_state`], [`Client::events`]); errors are typed
//!   ([`Error`]).
//! - [`HttpApi`] publishes through the server API.
//! - Every frame is encoded and parsed by [`protocol`] (the
//!   `wavecast-protocol` crate the server uses too); server errors carry
//!   their stable [`ErrorCode`] ([`ServerError`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), wavecast_client::Error> {
//! use futures_util::StreamExt;
//! use wavecast_client::{Client, ClientConfig, SubEvent};
//!
//! let client = Client::connect(ClientConfig::new("http://127.0.0.1:8000").api_key("k")).await?;
//! let mut news = client.subscribe("news").await?;
//! while let Some(ev) = news.next().await {
//!     if let SubEvent::Publication(p) = ev {
//!         println!("{} {}", p.channel, p.data);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! Imports go downwards in this list; no file imports one above it.
//! - `client`: the handles ([`Client`], [`Subscription`],
//!   [`CallbackHandle`]); they send `command`s to the driver.
//! - `driver`: the background task that owns the socket, in phases:
//!   `lifecycle` (connect → serve → back off), `connect` (one attempt up to
//!   admission), `session` (one admitted connection), `commands`,
//!   `dispatch` (what each server frame does), `resubscribe` (recovery),
//!   on the shared `state`.
//! - `command`: the handles' requests to the driver and
//!   [`SubscribeOptions`], which both sides share.
//! - `pacing`: the one token bucket every outgoing frame goes through.
//! - [`http`]: the server API over HTTP ([`HttpApi`]).
//! - [`config`], [`backoff`], [`auth`] (signed `auth` messages, dev
//!   tokens), [`tls`] (`wss://`, `https://`, a CA file): how the client
//!   is set up.
//! - [`frame`]: the typed server frames (re-exported from [`protocol`]).
//! - [`event`], [`error`]: what the application is told.

pub mod auth;
pub mod backoff;
mod client;
mod command;
pub mod config;
mod driver;
pub mod error;
pub mod event;
pub mod frame;
pub mod http;
mod pacing;
pub mod tls;

pub use wavecast_protocol as protocol;
pub use wavecast_protocol::{AnyErrorCode, ErrorCode};

pub use backoff::Backoff;
pub use client::{CallbackHandle, Client, Subscription};
pub use command::SubscribeOptions;
pub use config::{ClientConfig, Credentials, Overflow, TokenProvider, Via};
pub use error::{Error, ServerError};
pub use event::{
    ClientEvent, ConnectionState, Position, Publication, Recovery, SubEvent, Subscribed,
};
pub use http::{HttpApi, Published};
