//! A connection's subscriptions and their counters, in a small table:
//! one subscription inline (no allocation, and the lookup each delivery
//! makes reads no other cache line), a short vector for a few, and a hash
//! map past `SPILL_AT` entries.

use std::collections::HashMap;
use std::sync::Arc;

use crate::moment::Moment;

/// Entries kept in the vector before the table becomes a hash map.
const SPILL_AT: usize = 16;

/// Per-subscription accounting, reported in the audit log.
#[derive(Debug, Clone, Copy)]
pub struct SubStats {
    pub since: Moment,
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
            since: Moment::now(),
            sent: 0,
            dropped: 0,
            pending_dropped: 0,
            floor: 0,
        }
    }
}

/// Channel → stats: none, one entry inline (the common case: a lookup per
/// delivery then reads no other cache line), a short vector, or a hash
/// map past `SPILL_AT` entries.
#[derive(Default)]
pub enum SubTable {
    #[default]
    Empty,
    One(Arc<str>, SubStats),
    Few(Vec<(Arc<str>, SubStats)>),
    Many(HashMap<Arc<str>, SubStats>),
}

/// Whether `key` names `channel`. Deliveries pass the hub's own `Arc` of
/// the channel, which is the one stored here: the pointers then match and
/// the names are not read.
fn names(key: &Arc<str>, channel: &str) -> bool {
    (key.as_ptr() == channel.as_ptr() && key.len() == channel.len()) || **key == *channel
}

impl SubTable {
    pub fn len(&self) -> usize {
        match self {
            SubTable::Empty => 0,
            SubTable::One(..) => 1,
            SubTable::Few(v) => v.len(),
            SubTable::Many(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, channel: &str) -> bool {
        self.get(channel).is_some()
    }

    /// Adds a subscription; false if it already existed.
    pub fn insert(&mut self, channel: Arc<str>) -> bool {
        if self.contains(&channel) {
            return false;
        }
        match std::mem::take(self) {
            SubTable::Empty => *self = SubTable::One(channel, SubStats::new()),
            SubTable::One(k, s) => {
                *self = SubTable::Few(vec![(k, s), (channel, SubStats::new())]);
            }
            SubTable::Few(mut v) if v.len() < SPILL_AT => {
                // Grow one entry at a time: most connections hold one or
                // two subscriptions for their whole life.
                v.reserve_exact(1);
                v.push((channel, SubStats::new()));
                *self = SubTable::Few(v);
            }
            SubTable::Few(v) => {
                let mut m: HashMap<Arc<str>, SubStats> = v.into_iter().collect();
                m.insert(channel, SubStats::new());
                *self = SubTable::Many(m);
            }
            SubTable::Many(mut m) => {
                m.insert(channel, SubStats::new());
                *self = SubTable::Many(m);
            }
        }
        true
    }

    pub fn get(&self, channel: &str) -> Option<&SubStats> {
        match self {
            SubTable::Empty => None,
            SubTable::One(k, s) => names(k, channel).then_some(s),
            SubTable::Few(v) => v.iter().find(|(k, _)| names(k, channel)).map(|(_, s)| s),
            SubTable::Many(m) => m.get(channel),
        }
    }

    pub fn get_mut(&mut self, channel: &str) -> Option<&mut SubStats> {
        match self {
            SubTable::Empty => None,
            SubTable::One(k, s) => names(k, channel).then_some(s),
            SubTable::Few(v) => v
                .iter_mut()
                .find(|(k, _)| names(k, channel))
                .map(|(_, s)| s),
            SubTable::Many(m) => m.get_mut(channel),
        }
    }

    pub fn remove(&mut self, channel: &str) -> Option<SubStats> {
        match self {
            SubTable::Empty => None,
            SubTable::One(k, _) => {
                if !names(k, channel) {
                    return None;
                }
                match std::mem::take(self) {
                    SubTable::One(_, s) => Some(s),
                    _ => None,
                }
            }
            SubTable::Few(v) => {
                let i = v.iter().position(|(k, _)| names(k, channel))?;
                let (_, s) = v.swap_remove(i);
                if v.len() == 1 {
                    // Back inline: the vector's allocation is given back.
                    if let Some((k, last)) = v.pop() {
                        *self = SubTable::One(k, last);
                    }
                }
                Some(s)
            }
            SubTable::Many(m) => m.remove(channel),
        }
    }

    pub fn drain(&mut self) -> Vec<(Arc<str>, SubStats)> {
        match std::mem::take(self) {
            SubTable::Empty => Vec::new(),
            SubTable::One(k, s) => vec![(k, s)],
            SubTable::Few(v) => v,
            SubTable::Many(m) => m.into_iter().collect(),
        }
    }

    pub fn keys(&self) -> Vec<Arc<str>> {
        match self {
            SubTable::Empty => Vec::new(),
            SubTable::One(k, _) => vec![k.clone()],
            SubTable::Few(v) => v.iter().map(|(k, _)| k.clone()).collect(),
            SubTable::Many(m) => m.keys().cloned().collect(),
        }
    }

    pub fn iter_mut(&mut self) -> Box<dyn Iterator<Item = (&Arc<str>, &mut SubStats)> + '_> {
        match self {
            SubTable::Empty => Box::new(std::iter::empty()),
            SubTable::One(k, s) => Box::new(std::iter::once((&*k, s))),
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
        assert!(t.contains("c39"));
        assert_eq!(t.len(), 40);
        t.get_mut("c7").unwrap().sent = 5;
        assert_eq!(t.remove("c7").unwrap().sent, 5);
        assert!(!t.contains("c7"));
        assert_eq!(t.drain().len(), 39);
        assert!(t.is_empty());
    }

    #[test]
    fn one_entry_is_kept_inline_and_found_by_name_or_pointer() {
        let mut t = SubTable::default();
        let a: Arc<str> = Arc::from("alpha");
        assert!(t.insert(a.clone()));
        assert!(matches!(t, SubTable::One(..)));
        // The same Arc, and a different allocation of the same name.
        assert!(t.contains(&a));
        assert!(t.contains("alpha"));
        assert!(!t.contains("alph"));
        assert!(t.insert(Arc::from("beta")));
        assert!(matches!(t, SubTable::Few(_)));
        assert_eq!(t.len(), 2);
        t.get_mut("beta").unwrap().sent = 3;
        assert!(t.remove("alpha").is_some());
        // Back to one entry: inline again, its counters kept.
        assert!(matches!(t, SubTable::One(..)));
        assert_eq!(t.get("beta").unwrap().sent, 3);
        assert_eq!(t.keys(), vec![Arc::<str>::from("beta")]);
        assert_eq!(t.iter_mut().count(), 1);
        assert_eq!(t.remove("beta").unwrap().sent, 3);
        assert!(matches!(t, SubTable::Empty));
        assert!(t.remove("beta").is_none());
    }
}
