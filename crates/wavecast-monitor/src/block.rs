//! Hour blocks: the sixty 1-minute rollups of one metric in one hour, their
//! storage key and their compact binary encoding.
//!
//! Minute `m` of hour `h` covers timestamps `[h·3600000 + m·60000,
//! h·3600000 + (m+1)·60000)` ms; hours count from the Unix epoch (`u32`).
//!
//! **Key**: the metric name's bytes, a `0x00` byte, the hour as a
//! big-endian `u32` (so one metric's blocks sort by time, and a prefix scan
//! on `name 0x00` lists them).
//!
//! **Value**, little-endian throughout:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format: 1 compact, 2 exact |
//! | 4 | hour (`u32`, the same as in the key) |
//! | 8 | bitmap (`u64`): bit `m` set when minute `m` has points; bits 60–63 zero |
//! | … | the present minutes, in order |
//!
//! *Compact* (format 1), chosen whenever every field below fits an `f32`:
//! an `f64` base (the first minute's exact mean) after the bitmap, then per
//! minute: the count (LEB128), for every minute but the first an `f32`
//! `Δmean` (this mean minus the previous minute's *decoded* mean), and when
//! the count is above 1, three `f32`: `min − mean`, `max − mean` (from the
//! decoded mean) and the population stddev. A minute with one point takes 5
//! bytes, a fuller one 17. Decoded values are within `2⁻²⁴` relative of the
//! difference they were stored as (mean: of the minute-to-minute change;
//! min and max: of their distance to the mean; stddev: of itself); counts
//! are exact, and `min ≤ mean ≤ max` holds after decoding.
//!
//! *Exact* (format 2), the fallback: per minute the count (LEB128), an
//! `f64` mean, and when the count is above 1, `f64` min, max and m2.
//!
//! A metric written every second fills a compact block in
//! 1 + 4 + 8 + 8 + 60·13 + 59·4 = 1,037 bytes: 168 blocks (7 days) make
//! 174,216 bytes, plus keys.

use crate::rollup::Rollup;
use crate::window::{HOUR_MS, MINUTE_MS};
use crate::MonitorError;

/// Minutes in an hour block.
pub const MINUTES: usize = 60;

const FORMAT_COMPACT: u8 = 1;
const FORMAT_EXACT: u8 = 2;
const HEADER: usize = 13;

/// The hour (since the Unix epoch) holding `timestamp_ms`, `None` before
/// 1970 or past the `u32` range.
pub fn hour_of(timestamp_ms: i64) -> Option<u32> {
    u32::try_from(timestamp_ms.checked_div(HOUR_MS)?)
        .ok()
        .filter(|_| timestamp_ms >= 0)
}

/// The storage key of `metric`'s block for `hour`.
pub fn block_key(metric: &str, hour: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(metric.len() + 5);
    key.extend_from_slice(metric.as_bytes());
    key.push(0);
    key.extend_from_slice(&hour.to_be_bytes());
    key
}

/// The metric and hour of a block key.
///
/// # Errors
/// [`MonitorError::CorruptBlock`] when the key is not `name 0x00 hour`
/// with a valid metric name.
pub fn parse_block_key(key: &[u8]) -> Result<(&str, u32), MonitorError> {
    let corrupt = |reason| MonitorError::CorruptBlock { reason };
    let split = key.len().checked_sub(5).ok_or(corrupt("key too short"))?;
    let (name, rest) = key.split_at(split);
    let hour: [u8; 4] = rest[1..].try_into().map_err(|_| corrupt("key too short"))?;
    if rest[0] != 0 {
        return Err(corrupt("key has no separator before the hour"));
    }
    let name = std::str::from_utf8(name).map_err(|_| corrupt("key name is not UTF-8"))?;
    crate::name::validate_name(name).map_err(|_| corrupt("key name is not a metric name"))?;
    Ok((name, u32::from_be_bytes(hour)))
}

/// The 1-minute rollups of one metric in one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct HourBlock {
    hour: u32,
    slots: [Option<Rollup>; MINUTES],
}

impl HourBlock {
    /// An empty block.
    pub fn new(hour: u32) -> Self {
        HourBlock {
            hour,
            slots: [None; MINUTES],
        }
    }

    /// The hour since the Unix epoch.
    pub fn hour(&self) -> u32 {
        self.hour
    }

    /// The first millisecond of the hour.
    pub fn start_ms(&self) -> i64 {
        i64::from(self.hour) * HOUR_MS
    }

    /// The first millisecond after the hour.
    pub fn end_ms(&self) -> i64 {
        self.start_ms() + HOUR_MS
    }

    /// Whether no minute has points.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Adds a point to its minute; `false` (and nothing changes) when the
    /// timestamp is outside this hour.
    pub fn record(&mut self, timestamp_ms: i64, value: f64) -> bool {
        let offset = timestamp_ms - self.start_ms();
        if !(0..HOUR_MS).contains(&offset) {
            return false;
        }
        let slot = &mut self.slots[(offset / MINUTE_MS) as usize];
        match slot {
            Some(r) => r.push(value),
            None => *slot = Some(Rollup::of(value)),
        }
        true
    }

    /// The present minutes as `(minute start in ms, rollup)`, in order.
    pub fn minutes(&self) -> impl Iterator<Item = (i64, &Rollup)> + '_ {
        let start = self.start_ms();
        self.slots
            .iter()
            .enumerate()
            .filter_map(move |(m, r)| Some((start + m as i64 * MINUTE_MS, r.as_ref()?)))
    }

    /// Copies every present minute of `other` (same hour) over this block's
    /// minutes; minutes `other` lacks are kept.
    pub fn overlay(&mut self, other: &HourBlock) {
        for (mine, theirs) in self.slots.iter_mut().zip(&other.slots) {
            if theirs.is_some() {
                *mine = *theirs;
            }
        }
    }

    /// The rollup of minute `m` (0–59).
    pub fn minute(&self, m: usize) -> Option<&Rollup> {
        self.slots.get(m)?.as_ref()
    }

    fn bitmap(&self) -> u64 {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_some())
            .fold(0, |bits, (m, _)| bits | 1 << m)
    }

    /// The binary encoding (compact when it fits, exact otherwise).
    pub fn encode(&self) -> Vec<u8> {
        encode_compact(self).unwrap_or_else(|| encode_exact(self))
    }

    /// Decodes a block.
    ///
    /// # Errors
    /// [`MonitorError::CorruptBlock`] when the bytes are not a valid
    /// encoding (truncated, trailing bytes, unknown format, minute bits past
    /// 59, a zero count, non-finite values, or `min ≤ mean ≤ max` broken).
    pub fn decode(bytes: &[u8]) -> Result<HourBlock, MonitorError> {
        let mut r = Reader { bytes, pos: 0 };
        let format = r.u8()?;
        let hour = u32::from_le_bytes(r.array()?);
        let bitmap = u64::from_le_bytes(r.array()?);
        if bitmap >> MINUTES != 0 {
            return Err(MonitorError::CorruptBlock {
                reason: "minute bit past 59",
            });
        }
        let mut block = HourBlock::new(hour);
        match format {
            FORMAT_COMPACT => decode_compact(&mut r, bitmap, &mut block)?,
            FORMAT_EXACT => decode_exact(&mut r, bitmap, &mut block)?,
            _ => {
                return Err(MonitorError::CorruptBlock {
                    reason: "unknown format",
                })
            }
        }
        if r.pos != bytes.len() {
            return Err(MonitorError::CorruptBlock {
                reason: "trailing bytes",
            });
        }
        Ok(block)
    }
}

fn header(block: &HourBlock, format: u8, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.push(format);
    out.extend_from_slice(&block.hour.to_le_bytes());
    out.extend_from_slice(&block.bitmap().to_le_bytes());
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `x` as an `f32`, or `None` when it overflows.
fn narrow(x: f64) -> Option<f32> {
    let y = x as f32;
    y.is_finite().then_some(y)
}

fn encode_compact(block: &HourBlock) -> Option<Vec<u8>> {
    let mut out = header(block, FORMAT_COMPACT, HEADER + 8 + MINUTES * 17);
    let mut previous: Option<f64> = None;
    for (_, r) in block.minutes() {
        let mean = match previous {
            None => {
                out.extend_from_slice(&r.mean.to_le_bytes());
                put_varint(&mut out, r.count);
                r.mean
            }
            Some(prev) => {
                put_varint(&mut out, r.count);
                let delta = narrow(r.mean - prev)?;
                out.extend_from_slice(&delta.to_le_bytes());
                prev + f64::from(delta)
            }
        };
        previous = Some(mean);
        if r.count > 1 {
            for x in [r.min - mean, r.max - mean, r.stddev()] {
                out.extend_from_slice(&narrow(x)?.to_le_bytes());
            }
        }
    }
    Some(out)
}

fn encode_exact(block: &HourBlock) -> Vec<u8> {
    let mut out = header(block, FORMAT_EXACT, HEADER + MINUTES * 33);
    for (_, r) in block.minutes() {
        put_varint(&mut out, r.count);
        out.extend_from_slice(&r.mean.to_le_bytes());
        if r.count > 1 {
            for x in [r.min, r.max, r.m2] {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], MonitorError> {
        let end = self.pos + N;
        let chunk = self
            .bytes
            .get(self.pos..end)
            .ok_or(MonitorError::CorruptBlock {
                reason: "truncated",
            })?;
        self.pos = end;
        chunk.try_into().map_err(|_| MonitorError::CorruptBlock {
            reason: "truncated",
        })
    }

    fn u8(&mut self) -> Result<u8, MonitorError> {
        Ok(self.array::<1>()?[0])
    }

    fn f32(&mut self) -> Result<f64, MonitorError> {
        finite(f64::from(f32::from_le_bytes(self.array()?)))
    }

    fn f64(&mut self) -> Result<f64, MonitorError> {
        finite(f64::from_le_bytes(self.array()?))
    }

    fn count(&mut self) -> Result<u64, MonitorError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return if value == 0 {
                    Err(MonitorError::CorruptBlock {
                        reason: "zero count",
                    })
                } else {
                    Ok(value)
                };
            }
        }
        Err(MonitorError::CorruptBlock {
            reason: "count varint too long",
        })
    }
}

fn finite(x: f64) -> Result<f64, MonitorError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(MonitorError::CorruptBlock {
            reason: "non-finite value",
        })
    }
}

fn present(bitmap: u64) -> impl Iterator<Item = usize> {
    (0..MINUTES).filter(move |m| bitmap >> m & 1 == 1)
}

fn checked(r: Rollup) -> Result<Rollup, MonitorError> {
    if r.min <= r.mean && r.mean <= r.max && r.m2 >= 0.0 && r.m2.is_finite() {
        Ok(r)
    } else {
        Err(MonitorError::CorruptBlock {
            reason: "min <= mean <= max or m2 >= 0 broken",
        })
    }
}

fn decode_compact(
    r: &mut Reader<'_>,
    bitmap: u64,
    block: &mut HourBlock,
) -> Result<(), MonitorError> {
    let mut previous: Option<f64> = None;
    if bitmap != 0 {
        previous = Some(r.f64()?);
    }
    let mut first = true;
    for m in present(bitmap) {
        let count = r.count()?;
        let prev = previous.unwrap_or(0.0);
        let mean = if first {
            prev
        } else {
            finite(prev + r.f32()?)?
        };
        first = false;
        previous = Some(mean);
        let rollup = if count > 1 {
            let (dmin, dmax, sd) = (r.f32()?, r.f32()?, r.f32()?);
            Rollup {
                count,
                min: finite(mean + dmin)?,
                max: finite(mean + dmax)?,
                mean,
                m2: count as f64 * sd * sd,
            }
        } else {
            Rollup::of(mean)
        };
        block.slots[m] = Some(checked(rollup)?);
    }
    Ok(())
}

fn decode_exact(
    r: &mut Reader<'_>,
    bitmap: u64,
    block: &mut HourBlock,
) -> Result<(), MonitorError> {
    for m in present(bitmap) {
        let count = r.count()?;
        let mean = r.f64()?;
        let rollup = if count > 1 {
            let (min, max, m2) = (r.f64()?, r.f64()?, r.f64()?);
            Rollup {
                count,
                min,
                max,
                mean,
                m2,
            }
        } else {
            Rollup::of(mean)
        };
        block.slots[m] = Some(checked(rollup)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(hour: u32, per_minute: i64, value: impl Fn(i64) -> f64) -> HourBlock {
        let mut b = HourBlock::new(hour);
        let step = MINUTE_MS / per_minute;
        for i in 0..60 * per_minute {
            let t = b.start_ms() + i * step;
            assert!(b.record(t, value(i)));
        }
        b
    }

    #[test]
    fn keys_round_trip_and_sort_by_hour() {
        let k = block_key("betanet.latency_ms", 480_000);
        assert_eq!(
            parse_block_key(&k).ok(),
            Some(("betanet.latency_ms", 480_000))
        );
        assert!(block_key("a", 1) < block_key("a", 256));
        assert!(parse_block_key(b"a\x01\0\0\0\x01").is_err());
        assert!(parse_block_key(b"\0\0\0").is_err());
        assert!(parse_block_key(b"a b\0\0\0\0\x01").is_err());
        assert_eq!(hour_of(HOUR_MS * 5 + 1), Some(5));
        assert_eq!(hour_of(-1), None);
    }

    #[test]
    fn a_full_second_by_second_block_is_1037_bytes() {
        let b = filled(480_000, 60, |i| 50.0 + ((i * 7919) % 1000) as f64 / 997.0);
        let bytes = b.encode();
        assert_eq!(bytes.len(), 1_037);
        assert_eq!(bytes[0], FORMAT_COMPACT);
        let back = HourBlock::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        for ((t1, a), (t2, d)) in b.minutes().zip(back.minutes()) {
            assert_eq!((t1, a.count), (t2, d.count));
            let spread = (a.max - a.min).max(f64::MIN_POSITIVE);
            for (x, y) in [(a.mean, d.mean), (a.min, d.min), (a.max, d.max)] {
                assert!((x - y).abs() <= spread * 1e-6, "{x} vs {y}");
            }
            assert!((a.stddev() - d.stddev()).abs() <= a.stddev() * 1e-6);
            assert!(d.min <= d.mean && d.mean <= d.max);
        }
    }

    #[test]
    fn large_offsets_keep_precision_and_huge_jumps_fall_back_to_exact() {
        let b = filled(10, 60, |i| 1e9 + (i % 7) as f64 * 0.01);
        let back = HourBlock::decode(&b.encode()).unwrap_or_else(|e| panic!("{e}"));
        for ((_, a), (_, d)) in b.minutes().zip(back.minutes()) {
            assert!((a.mean - d.mean).abs() < 1e-6 && (a.min - d.min).abs() < 1e-8);
        }
        let mut wild = HourBlock::new(3);
        wild.record(wild.start_ms(), 1e-3);
        wild.record(wild.start_ms() + MINUTE_MS, 1e60);
        wild.record(wild.start_ms() + MINUTE_MS + 1, -1e60);
        let bytes = wild.encode();
        assert_eq!(bytes[0], FORMAT_EXACT);
        assert_eq!(HourBlock::decode(&bytes).ok(), Some(wild));
    }

    #[test]
    fn single_point_minutes_take_five_bytes_and_empty_blocks_the_header() {
        let mut b = HourBlock::new(7);
        assert_eq!(b.encode().len(), HEADER);
        assert!(b.is_empty());
        b.record(b.start_ms() + 5 * MINUTE_MS, 42.0);
        b.record(b.start_ms() + 9 * MINUTE_MS, 43.5);
        assert!(!b.record(b.end_ms(), 1.0));
        let bytes = b.encode();
        assert_eq!(bytes.len(), HEADER + 8 + 1 + 5);
        assert_eq!(HourBlock::decode(&bytes).ok(), Some(b));
    }

    #[test]
    fn corrupt_bytes_are_refused_not_panicked_on() {
        let b = filled(1, 2, |i| i as f64);
        let bytes = b.encode();
        for cut in 0..bytes.len() {
            assert!(HourBlock::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(HourBlock::decode(&extra).is_err());
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(HourBlock::decode(&bad).is_err());
        let mut bits = bytes.clone();
        bits[12] = 0x80;
        assert!(HourBlock::decode(&bits).is_err());
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2_000 {
            let mut noisy = bytes.clone();
            let i = rng.usize(..noisy.len());
            noisy[i] = rng.u8(..);
            let _ = HourBlock::decode(&noisy);
        }
    }
}
