//! A connection's subscriptions and their counters, in a small table that
//! costs one short vector for the common case of a few channels and turns
//! into a hash map past `SPILL_AT` entries (lookups happen per delivery).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Entries kept in the vector before the table becomes a hash map.
const SPILL_AT: usize = 16;

/// Per-subscription accounting, reported in the audit log.
#[derive(Debug, Clone, Copy)]
pub struct SubStats {
    pub since: Instant,
    /// Publications of this channel handed to the writer.
    pub sent: u64,
    /// Publications of this channel dropped by backpressure.
    pub dropped: u64,
    /// Drops not yet announced to the client.
    pub pending_dropped: u64,
    /// Offsets at or below this were covered when the subscription began
    /// (its reply's position, or its replay): a delivery of one of them
    /// arriving later (a broker's pub/sub message still in flight) is not
    /// queued again.
    pub floor: u64,
}

impl SubStats {
    fn new() -> SubStats {
        SubStats {
            since: Instant::now(),
            sent: 0,
            dropped: 0,
            pending_dropped: 0,
            floor: 0,
        }
    }
}

/// Channel → stats.
pub enum SubTable {
    Few(Vec<(Arc<str>, SubStats)>),
    Many(HashMap<Arc<str>, SubStats>),
}

impl Default for SubTable {
    fn default() -> Self {
        SubTable::Few(Vec::new())
    }
}

impl SubTable {
    pub fn len(&self) -> usize {
        match self {
            SubTable::Few(v) => v.len(),
            SubTable::Many(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, channel: &str) -> bool {
        match self {
            SubTable::Few(v) => v.iter().any(|(k, _)| &**k == channel),
            SubTable::Many(m) => m.contains_key(channel),
        }
    }

    /// Adds a subscription; false if it already existed.
    pub fn insert(&mut self, channel: Arc<str>) -> bool {
        if self.contains(&channel) {
            return false;
        }
        match self {
            SubTable::Few(v) if v.len() < SPILL_AT => {
                // Grow one entry at a time: most connections hold one or
                // two subscriptions for their whole life.
                v.reserve_exact(1);
                v.push((channel, SubStats::new()));
            }
            SubTable::Few(v) => {
                let mut m: HashMap<Arc<str>, SubStats> = v.drain(..).collect();
                m.insert(channel, SubStats::new());
                *self = SubTable::Many(m);
            }
            SubTable::Many(m) => {
                m.insert(channel, SubStats::new());
            }
        }
        true
    }

    pub fn get(&self, channel: &str) -> Option<&SubStats> {
        match self {
            SubTable::Few(v) => v.iter().find(|(k, _)| &**k == channel).map(|(_, s)| s),
            SubTable::Many(m) => m.get(channel),
        }
    }

    pub fn get_mut(&mut self, channel: &str) -> Option<&mut SubStats> {
        match self {
            SubTable::Few(v) => v.iter_mut().find(|(k, _)| &**k == channel).map(|(_, s)| s),
            SubTable::Many(m) => m.get_mut(channel),
        }
    }

    pub fn remove(&mut self, channel: &str) -> Option<SubStats> {
        match self {
            SubTable::Few(v) => {
                let i = v.iter().position(|(k, _)| &**k == channel)?;
                let (_, s) = v.swap_remove(i);
                if v.is_empty() {
                    // Give the allocation back: idle connections stay small.
                    *v = Vec::new();
                }
                Some(s)
            }
            SubTable::Many(m) => m.remove(channel),
        }
    }

    pub fn drain(&mut self) -> Vec<(Arc<str>, SubStats)> {
        match std::mem::take(self) {
            SubTable::Few(v) => v,
            SubTable::Many(m) => m.into_iter().collect(),
        }
    }

    pub fn keys(&self) -> Vec<Arc<str>> {
        match self {
            SubTable::Few(v) => v.iter().map(|(k, _)| k.clone()).collect(),
            SubTable::Many(m) => m.keys().cloned().collect(),
        }
    }

    pub fn iter_mut(&mut self) -> Box<dyn Iterator<Item = (&Arc<str>, &mut SubStats)> + '_> {
        match self {
            SubTable::Few(v) => Box::new(v.iter_mut().map(|(k, s)| (&*k, s))),
            SubTable::Many(m) => Box::new(m.iter_mut()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_into_a_map_and_keeps_every_entry() {
        let mut t = SubTable::default();
        for i in 0..40 {
            assert!(t.insert(Arc::from(format!("c{i}").as_str())));
        }
        assert!(!t.insert(Arc::from("c3")));
        assert!(matches!(t, SubTable::Many(_)));
        assert_eq!(t.len(), 40);
        t.get_mut("c7").unwrap().sent = 5;
        assert_eq!(t.remove("c7").unwrap().sent, 5);
        assert!(!t.contains("c7"));
        assert_eq!(t.drain().len(), 39);
        assert!(t.is_empty());
    }
}
