//! The background task of a client. It owns the socket and the client's
//! memory of the world; the application's handles talk to it through
//! [`crate::command::Command`]s.
//!
//! Life cycle: connect (credentials in the URL, a header or an `auth`
//! message) → admitted → resubscribe every channel, recovering from the last
//! offset and epoch seen → flush the queue in order → serve. When the
//! connection is lost it waits a full-jitter exponential backoff and starts
//! again, unless the close code says retrying cannot help.
//!
//! Files, each adding its phase to [`Driver`] (this file only declares):
//! - `state`: the driver's memory and the types its phases share (a leaf);
//! - `lifecycle`: connect → serve → back off → reconnect, and the end;
//! - `connect`: one connection attempt, up to admission;
//! - `session`: one admitted connection, its timers and the paced queue;
//! - `commands`: the handles' commands, offline and online;
//! - `dispatch`: what each server frame does;
//! - `resubscribe`: subscribe requests and the recovery they report.

mod commands;
mod connect;
mod dispatch;
mod lifecycle;
mod resubscribe;
mod session;
mod state;

pub(crate) use state::Driver;
