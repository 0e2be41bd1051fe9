//! The agent relay: a client's `user_message` or `agent_request` on the
//! channel protocol becomes a conversation with an agent — the built-in
//! demo, or an upstream HTTP service whose NDJSON or SSE answer is
//! relayed event by event (`agent_started`, `agent_thinking`,
//! `tool_executing`, `partial_result`, `agent_completed`) with the
//! request's `correlation_id`. docs/agents.md is the user's view.
//!
//! One concept per file, top down:
//! - [`extension`]: the channel protocol's per-connection extension that
//!   takes the agent messages and starts, limits and cancels
//!   conversations;
//! - [`relay`]: one conversation as a task, its time limits and its end;
//! - [`outbox`]: its frames, to the client and the user's channel;
//! - [`source`]: its events, from the demo or the upstream;
//! - [`upstream`]: the HTTP call, retries and status codes;
//! - [`demo`]: the demo agent;
//! - [`framing`]: NDJSON and SSE bodies cut into events;
//! - [`event`], [`request`], [`failure`]: the messages and errors;
//! - [`runs`], [`service`]: the run counts, limits and shared client.
//!
//! The relay plugs into the channel protocol only through
//! [`crate::channels::ChannelExtension`], and publishes into the user's
//! channel only through [`crate::hub::Hub::publish`].

pub mod demo;
pub mod event;
pub mod extension;
pub mod failure;
pub mod framing;
pub mod outbox;
pub mod relay;
pub mod request;
pub mod runs;
pub mod service;
pub mod source;
pub mod upstream;

pub use extension::AgentExtension;
pub use service::AgentService;
