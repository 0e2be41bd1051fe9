//! What the application's handles ([`crate::Client`],
//! [`crate::Subscription`]) ask of the background driver, and the types
//! both sides share. A leaf: it imports neither the handles nor the driver,
//! so they do not import each other.
//!
//! Invariant: every command that carries a `reply` gets an answer, unless
//! the driver is gone (the handle then sees a closed channel and reports
//! [`Error::Closed`](crate::Error::Closed)).

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::error::Result;
use crate::event::{Position, SubEvent, Subscribed};

/// Options of a subscription.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubscribeOptions {
    /// Resume after this position (its offset is the last one seen).
    pub recover_from: Option<Position>,
    /// Resume after this offset in whatever epoch the channel has.
    pub since: Option<u64>,
    /// Send the latest publication first (without `recover_from`).
    pub snapshot: bool,
    /// Deliver only publications whose `data` fields (or `type`) equal
    /// these values.
    pub filter: Option<Map<String, Value>>,
}

/// What the driver answers to a subscribe: the registration key, the event
/// receiver, and the confirmation when it came while connected.
pub(crate) type SubscribeAnswer = Result<(u64, mpsc::Receiver<SubEvent>, Option<Subscribed>)>;

/// A request from a [`crate::Client`] or [`crate::Subscription`] handle.
pub(crate) enum Command {
    Subscribe {
        channel: String,
        options: SubscribeOptions,
        reply: oneshot::Sender<SubscribeAnswer>,
    },
    /// `key` tells the subscription that asked from a newer one to the
    /// same channel.
    Unsubscribe {
        channel: String,
        key: u64,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    /// An encoded client frame for the outgoing queue.
    Send {
        text: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Refresh {
        token: String,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}
