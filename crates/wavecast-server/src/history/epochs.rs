//! Epochs: a log's identity. Two logs of a channel that may differ in what
//! an offset means never share an epoch.
//!
//! A log's epoch is derived from a *base* fixed when the log is created,
//! and from the store's *incarnation*:
//! - the base of a new log is a hash of the store instance, the channel
//!   and the store's *generation*, so a channel without a log can be told
//!   the epoch its first append will use, without creating state;
//! - the generation grows whenever a log that handed out offsets is
//!   dropped, so a re-created log never reuses an old epoch;
//! - the incarnation grows at an unclean start (the last run did not shut
//!   down cleanly, so the store may have lost a tail it handed out), which
//!   changes every channel's epoch at once.

use std::sync::atomic::{AtomicU64, Ordering};

/// FNV-1a over the parts (stable across builds and platforms).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64: spreads small counters over all 64 bits (0 stays 0).
fn mix(x: u64) -> u64 {
    if x == 0 {
        return 0;
    }
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The epoch state of one store.
#[derive(Debug)]
pub struct Epochs {
    instance: u64,
    generation: AtomicU64,
    incarnation: u64,
}

impl Epochs {
    pub fn new(instance: u64, generation: u64, incarnation: u64) -> Epochs {
        Epochs {
            instance,
            generation: AtomicU64::new(generation),
            incarnation,
        }
    }

    /// The base a log of `channel` created now gets.
    pub fn new_base(&self, channel: &str) -> u64 {
        let gen = self.generation.load(Ordering::Acquire);
        fnv(&[
            &self.instance.to_be_bytes(),
            channel.as_bytes(),
            &gen.to_be_bytes(),
        ])
    }

    /// The epoch string of a log with `base`.
    pub fn epoch(&self, base: u64) -> String {
        format!("{:016x}", base ^ mix(self.incarnation))
    }

    /// A log is being dropped; if it handed out offsets, later logs must
    /// not reuse its epoch. Returns the new generation.
    pub fn dropped(&self, had_offsets: bool) -> u64 {
        if had_offsets {
            self.generation.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.generation.load(Ordering::Acquire)
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_change_with_generation_and_incarnation() {
        let e = Epochs::new(7, 0, 0);
        let a = e.new_base("ch");
        assert_eq!(a, e.new_base("ch"), "deterministic");
        assert_ne!(a, e.new_base("other"));
        assert_eq!(e.dropped(false), 0);
        assert_eq!(a, e.new_base("ch"), "an empty log does not bump");
        e.dropped(true);
        assert_ne!(a, e.new_base("ch"));
        let same = Epochs::new(7, 0, 0);
        let next = Epochs::new(7, 0, 1);
        assert_ne!(same.epoch(a), next.epoch(a));
        assert_eq!(same.epoch(a).len(), 16);
    }
}
