//! Test support for the client's tests: the shared kit (servers, proxy)
//! plus waits on the client's own event streams. Every wait is bounded.
#![allow(dead_code)]

use futures_util::{Stream, StreamExt};
use wavecast_client::{ClientEvent, ConnectionState, SubEvent};

#[allow(unused_imports)]
pub use wavecast_testkit::{temp_dir, Proxy, TestServer, WAIT};

/// The next event of a subscription, within [`WAIT`].
pub async fn next_event<S: Stream<Item = SubEvent> + Unpin>(s: &mut S) -> SubEvent {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("no event within the wait")
        .expect("subscription ended")
}

/// Waits for a client event matching `pred`, within [`WAIT`].
pub async fn wait_event<S, F>(events: &mut S, mut pred: F) -> ClientEvent
where
    S: Stream<Item = ClientEvent> + Unpin,
    F: FnMut(&ClientEvent) -> bool,
{
    tokio::time::timeout(WAIT, async {
        loop {
            let ev = events.next().await.expect("events ended");
            if pred(&ev) {
                return ev;
            }
        }
    })
    .await
    .expect("event within the wait")
}

/// Waits until the client's state matches `pred`.
pub async fn wait_state(
    rx: &mut tokio::sync::watch::Receiver<ConnectionState>,
    pred: impl Fn(&ConnectionState) -> bool,
) -> ConnectionState {
    tokio::time::timeout(WAIT, async {
        loop {
            let s = rx.borrow_and_update().clone();
            if pred(&s) {
                return s;
            }
            rx.changed().await.expect("client gone");
        }
    })
    .await
    .expect("state within the wait")
}
