//! The MFN simulation streams, an application endpoint on the session core:
//! `/ws/stream_features`, `/ws/simulation_live` and `/ws/heartbeat`.
//! Their protocol is INIT → AUTH → SUBSCRIBE → STREAM → END: the server
//! says nothing before the client's `init`; a `subscribe` {stream_type,
//! stream_id, params} starts a computation whose frames go through the
//! connection's normal outbound queue (so the namespace `stream`'s
//! backpressure applies), and `unsubscribe` {stream_id} or a disconnect
//! stops it at once.
//!
//! - `errors`: the error fields of stream replies (help points to mfn.md).
//! - [`params`]: validation of stream parameters.
//! - `run`: the computations (feature ticker, live simulation) as jobs.
//! - [`pool`]: the simulation threads (lower priority, earliest deadline
//!   first) that run them.
//! - [`rooms`]: simulations published into channels through the hub.
//!
//! Computation runs off the async workers, on the simulation pool: a
//! feature stream's job runs one tick per slice, a live simulation a few
//! milliseconds of steps, checking a cancel flag between steps. The pool's
//! threads run at a lower priority, so simulations cannot starve fan-out.

mod errors;
pub mod handler;
pub mod params;
pub mod pool;
pub mod rooms;
mod run;
pub mod slots;

pub use handler::{StreamEndpoint, StreamsHandler};
pub use slots::{queue_key, ConnStreams, StreamCounter, StreamSlot};
