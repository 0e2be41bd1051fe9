//! Recovery planning, with no I/O: what a joining subscriber is told and
//! sent, the same for every broker.
//!
//! A join cannot hold a lock while it reads history (Redis is remote, the
//! embedded store may touch disk), so the hub buffers the channel's live
//! publications for the joiner meanwhile ([`JoinBuffers`]). Once history is
//! read, [`merge`] gives the replay followed by the buffered publications
//! it did not cover, by offset, so the joiner sees every offset once and
//! in order. A buffer that may have missed publications (a broker
//! reconnect, a gap) is *poisoned*: that joiner is told to recover instead.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wavecast_protocol::to_server::StreamPosition;
use wavecast_protocol::Publication;

use crate::history::StreamTop;

/// What history to fetch for a joining subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    Nothing,
    /// The newest publication (a snapshot).
    Latest,
    /// Everything after this offset.
    Since(u64),
}

/// Decides recovery from the log's top and the client's position: the
/// `recovered` flag to report (when recovery was asked) and what to fetch.
/// `already` is set when the connection is subscribed already.
pub fn plan(
    top: &StreamTop,
    recover: Option<&StreamPosition>,
    snapshot: bool,
    already: bool,
) -> (Option<bool>, Fetch) {
    match recover {
        _ if already => (None, Fetch::Nothing),
        None if snapshot => (None, Fetch::Latest),
        None => (None, Fetch::Nothing),
        Some(p) => {
            let same_epoch = p.epoch.as_deref().is_none_or(|e| e == top.epoch);
            if !same_epoch || p.offset > top.offset || p.offset + 1 < top.earliest {
                (Some(false), Fetch::Nothing)
            } else {
                (Some(true), Fetch::Since(p.offset))
            }
        }
    }
}

/// Whether `rows` (read after offset `from`, with the top at `top`) are
/// exactly `from+1, from+2, …`: anything else (entries expired by TTL,
/// trimmed, or lost) means recovery cannot be exact.
pub fn contiguous(from: u64, top: u64, rows: &[Publication]) -> bool {
    if top > from && rows.first().map(|p| p.offset) != Some(from + 1) {
        return false;
    }
    rows.windows(2).all(|w| w[1].offset == w[0].offset + 1)
}

/// The publications a joiner gets after its reply: the replay, then the
/// buffered live publications past `seen` (the last offset the replay or
/// the reported top covers), in offset order, each offset once.
/// Publications without an offset (no history) are all kept, in order.
pub fn merge(
    replay: Vec<Arc<Publication>>,
    seen: u64,
    buffered: Vec<Arc<Publication>>,
) -> Vec<Arc<Publication>> {
    let mut last = replay.last().map_or(seen, |p| p.offset.max(seen));
    let mut out = replay;
    for p in buffered {
        if p.offset == 0 {
            out.push(p);
        } else if p.offset > last {
            last = p.offset;
            out.push(p);
        }
    }
    out
}

/// A joiner's buffer could have missed publications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poisoned;

/// Live publications buffered for the joiners of one channel.
#[derive(Default)]
pub struct JoinBuffers {
    pending: HashMap<u64, Vec<Arc<Publication>>>,
    poisoned: HashSet<u64>,
}

impl JoinBuffers {
    /// Starts buffering for joiner `key`.
    pub fn start(&mut self, key: u64) {
        self.pending.insert(key, Vec::new());
        self.poisoned.remove(&key);
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Buffers a live publication for every joiner.
    pub fn push(&mut self, p: &Arc<Publication>) {
        for buf in self.pending.values_mut() {
            buf.push(p.clone());
        }
    }

    /// Every current joiner may have missed publications.
    pub fn poison_all(&mut self) {
        self.poisoned.extend(self.pending.keys().copied());
    }

    /// Ends buffering for `key`: what was buffered, or [`Poisoned`].
    pub fn finish(&mut self, key: u64) -> Result<Vec<Arc<Publication>>, Poisoned> {
        let buf = self.pending.remove(&key).unwrap_or_default();
        if self.poisoned.remove(&key) {
            Err(Poisoned)
        } else {
            Ok(buf)
        }
    }

    /// Forgets `key` (its join failed).
    pub fn cancel(&mut self, key: u64) {
        self.pending.remove(&key);
        self.poisoned.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(offset: u64) -> Arc<Publication> {
        Arc::new(Publication {
            channel: "c".into(),
            event: "p".into(),
            data: bytes::Bytes::from_static(b"1"),
            offset,
            ts_ms: 0,
        })
    }

    fn offsets(v: &[Arc<Publication>]) -> Vec<u64> {
        v.iter().map(|p| p.offset).collect()
    }

    fn top(offset: u64, earliest: u64) -> StreamTop {
        StreamTop {
            offset,
            epoch: "e".into(),
            earliest,
        }
    }

    fn pos(offset: u64, epoch: Option<&str>) -> StreamPosition {
        StreamPosition {
            offset,
            epoch: epoch.map(String::from),
        }
    }

    #[test]
    fn plans() {
        let t = top(10, 5);
        assert_eq!(plan(&t, None, false, false), (None, Fetch::Nothing));
        assert_eq!(plan(&t, None, true, false), (None, Fetch::Latest));
        assert_eq!(
            plan(&t, Some(&pos(7, Some("e"))), false, false),
            (Some(true), Fetch::Since(7))
        );
        assert_eq!(
            plan(&t, Some(&pos(4, Some("e"))), false, false),
            (Some(true), Fetch::Since(4)),
            "offset+1 == earliest is still exact"
        );
        assert_eq!(
            plan(&t, Some(&pos(3, Some("e"))), false, false),
            (Some(false), Fetch::Nothing),
            "evicted"
        );
        assert_eq!(
            plan(&t, Some(&pos(7, Some("other"))), false, false),
            (Some(false), Fetch::Nothing),
            "another epoch"
        );
        assert_eq!(
            plan(&t, Some(&pos(11, None)), false, false),
            (Some(false), Fetch::Nothing),
            "from the future"
        );
        assert_eq!(
            plan(&t, Some(&pos(7, None)), false, true),
            (None, Fetch::Nothing),
            "already subscribed"
        );
    }

    #[test]
    fn recovery_needs_an_unbroken_run() {
        let rows = |o: &[u64]| o.iter().map(|&o| (*p(o)).clone()).collect::<Vec<_>>();
        assert!(contiguous(5, 8, &rows(&[6, 7, 8])));
        assert!(contiguous(8, 8, &rows(&[])));
        assert!(!contiguous(5, 8, &rows(&[7, 8])));
        assert!(!contiguous(5, 8, &rows(&[])));
        assert!(!contiguous(5, 9, &rows(&[6, 8, 9])));
    }

    #[test]
    fn merge_skips_what_the_replay_covered() {
        let got = merge(vec![p(4), p(5), p(6)], 3, vec![p(5), p(6), p(7), p(8)]);
        assert_eq!(offsets(&got), [4, 5, 6, 7, 8]);
        let got = merge(Vec::new(), 10, vec![p(9), p(10), p(11)]);
        assert_eq!(offsets(&got), [11], "the reported top covers up to 10");
        let got = merge(Vec::new(), 0, vec![p(0), p(0)]);
        assert_eq!(got.len(), 2, "no history: everything buffered is live");
    }

    #[test]
    fn buffers_and_poison() {
        let mut b = JoinBuffers::default();
        b.start(1);
        b.push(&p(1));
        b.start(2);
        b.push(&p(2));
        assert_eq!(offsets(&b.finish(1).unwrap()), [1, 2]);
        b.poison_all();
        b.push(&p(3));
        assert_eq!(b.finish(2), Err(Poisoned));
        assert!(b.is_empty());
        b.start(3);
        b.cancel(3);
        assert!(b.is_empty());
    }
}
