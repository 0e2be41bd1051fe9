//! Raw chunks: the raw points of one metric that one flush hands to
//! storage, so the raw hour — the 1m/5m/1h statistics, the anomaly
//! detector's trailing window and the latest value — survives a restart.
//!
//! Each flush writes, for every metric with points newer than its last
//! chunk, one new chunk holding exactly those points. A chunk is never
//! rewritten; it is deleted once its newest point is an hour old (at or
//! before `now − 1h`), like the points it holds.
//!
//! **Key**: the metric name's bytes, a `0x00` byte, the chunk's sequence
//! number as a big-endian `u64` (per metric, 0, 1, 2, … one per chunk
//! written, so a metric's chunks sort in writing order and a missing one
//! shows as a gap).
//!
//! **Value**:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format: 1 |
//! | 1 | flags: bit 0, the previous chunk's newest timestamp follows; bit 1, the series' `complete_after` follows; other bits zero |
//! | varint | `n`, the number of points (≥ 1) |
//! | zigzag varint | `t₀`, the first point's timestamp (ms since the epoch) |
//! | zigzag varint | if flag 0: `t₀ − p`, `p` the previous chunk's newest timestamp |
//! | zigzag varint | if flag 1: `t₀ − c`, `c` the raw series' `complete_after` when written |
//! | per point | the timestamp's increase over the previous point (varint, absent for the first point), then the value |
//!
//! A **value** is stored as `x = bits(value) XOR bits(previous value)`
//! (the first point's with 0): one control byte, 0 when `x = 0` (the same
//! value again), otherwise `1 + 8·lead + trail` where `lead` and `trail`
//! are the whole zero bytes at the top and bottom of `x`; then the
//! `8 − lead − trail` bytes in between, most significant first. A value
//! takes 1 to 9 bytes: 1 when it repeats, about 3 for small integers,
//! 8–9 for full-precision noise. Varints are LEB128; zigzag maps `d` to
//! `(d << 1) XOR (d >> 63)`; differences wrap (two's complement).
//!
//! Invariants: timestamps in a chunk are non-decreasing; every value is
//! finite with `|value| ≤ `[`crate::MAX_ABS_VALUE`]; decoding checks all
//! of it and never panics.

use crate::window::Point;
use crate::{MonitorError, MAX_ABS_VALUE};

const FORMAT: u8 = 1;
const HAS_PREV: u8 = 1;
const HAS_COMPLETE: u8 = 2;

/// The raw points of one metric written at one flush.
#[derive(Debug, Clone, PartialEq)]
pub struct RawChunk {
    /// The newest timestamp of the metric's previous chunk, if any.
    pub prev_last_ms: Option<i64>,
    /// The raw series' `complete_after` when the chunk was written: points
    /// at or before it may be missing (`None`: complete from the start).
    pub complete_after_ms: Option<i64>,
    /// The points, oldest first (at least one).
    pub points: Vec<Point>,
}

/// A raw chunk to put in storage: `key` → `value`, never overwritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawWrite {
    /// The metric.
    pub metric: String,
    /// The chunk's sequence number.
    pub seq: u64,
    /// [`raw_key`]`(metric, seq)`.
    pub key: Vec<u8>,
    /// [`RawChunk::encode`] of the chunk.
    pub value: Vec<u8>,
    /// Points in the chunk.
    pub points: usize,
    /// Number (in the metric's series) of the chunk's first point.
    pub(crate) first_point: u64,
    /// The chunk's `prev_last_ms`.
    pub(crate) prev_last_ms: Option<i64>,
}

fn corrupt(reason: &'static str) -> MonitorError {
    MonitorError::CorruptRawChunk { reason }
}

/// The storage key of `metric`'s raw chunk number `seq`.
pub fn raw_key(metric: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(metric.len() + 9);
    key.extend_from_slice(metric.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The metric and sequence number of a raw chunk key.
///
/// # Errors
/// [`MonitorError::CorruptRawChunk`] when the key is not `name 0x00 seq`
/// with a valid metric name.
pub fn parse_raw_key(key: &[u8]) -> Result<(&str, u64), MonitorError> {
    let split = key.len().checked_sub(9).ok_or(corrupt("key too short"))?;
    let (name, rest) = key.split_at(split);
    let (sep, seq) = rest.split_first().ok_or(corrupt("key too short"))?;
    let seq: [u8; 8] = seq.try_into().map_err(|_| corrupt("key too short"))?;
    if *sep != 0 {
        return Err(corrupt("key has no separator before the sequence number"));
    }
    let name = std::str::from_utf8(name).map_err(|_| corrupt("key name is not UTF-8"))?;
    crate::name::validate_name(name).map_err(|_| corrupt("key name is not a metric name"))?;
    Ok((name, u64::from_be_bytes(seq)))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

fn put_value(out: &mut Vec<u8>, x: u64) {
    if x == 0 {
        out.push(0);
        return;
    }
    let lead = x.leading_zeros() / 8;
    let trail = x.trailing_zeros() / 8;
    out.push((1 + 8 * lead + trail) as u8);
    let bytes = x.to_be_bytes();
    out.extend_from_slice(&bytes[lead as usize..(8 - trail) as usize]);
}

impl RawChunk {
    /// The binary encoding (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.points.len() * 11);
        let t0 = self.points.first().map_or(0, |p| p.timestamp_ms);
        let flags = u8::from(self.prev_last_ms.is_some()) * HAS_PREV
            + u8::from(self.complete_after_ms.is_some()) * HAS_COMPLETE;
        out.push(FORMAT);
        out.push(flags);
        put_varint(&mut out, self.points.len() as u64);
        put_varint(&mut out, zigzag(t0));
        for t in [self.prev_last_ms, self.complete_after_ms]
            .into_iter()
            .flatten()
        {
            put_varint(&mut out, zigzag(t0.wrapping_sub(t)));
        }
        let (mut prev_t, mut prev_bits) = (t0, 0u64);
        for (i, p) in self.points.iter().enumerate() {
            if i > 0 {
                put_varint(&mut out, p.timestamp_ms.wrapping_sub(prev_t) as u64);
            }
            put_value(&mut out, p.value.to_bits() ^ prev_bits);
            (prev_t, prev_bits) = (p.timestamp_ms, p.value.to_bits());
        }
        out
    }

    /// Decodes a chunk.
    ///
    /// # Errors
    /// [`MonitorError::CorruptRawChunk`] when the bytes are not a valid
    /// encoding (truncated, trailing bytes, unknown format or flags, no
    /// point, a timestamp past the `i64` range, a non-finite or
    /// out-of-range value, a malformed control byte or varint).
    pub fn decode(bytes: &[u8]) -> Result<RawChunk, MonitorError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.u8()? != FORMAT {
            return Err(corrupt("unknown format"));
        }
        let flags = r.u8()?;
        if flags & !(HAS_PREV | HAS_COMPLETE) != 0 {
            return Err(corrupt("unknown flags"));
        }
        let n = r.varint()?;
        if n == 0 {
            return Err(corrupt("no point"));
        }
        let t0 = unzigzag(r.varint()?);
        let mut relative = |flag: u8| -> Result<Option<i64>, MonitorError> {
            if flags & flag == 0 {
                return Ok(None);
            }
            Ok(Some(t0.wrapping_sub(unzigzag(r.varint()?))))
        };
        let prev_last_ms = relative(HAS_PREV)?;
        let complete_after_ms = relative(HAS_COMPLETE)?;
        // Every point takes at least one byte: bound the allocation.
        let cap = usize::try_from(n).unwrap_or(usize::MAX).min(bytes.len());
        let mut points = Vec::with_capacity(cap);
        let (mut t, mut bits) = (t0, 0u64);
        for i in 0..n {
            if i > 0 {
                let dt = i64::try_from(r.varint()?).map_err(|_| corrupt("time step too large"))?;
                t = t.checked_add(dt).ok_or(corrupt("timestamp overflows"))?;
            }
            bits ^= r.value()?;
            let value = f64::from_bits(bits);
            if !value.is_finite() || value.abs() > MAX_ABS_VALUE {
                return Err(corrupt("value not finite or out of range"));
            }
            points.push(Point {
                timestamp_ms: t,
                value,
            });
        }
        if r.pos != bytes.len() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(RawChunk {
            prev_last_ms,
            complete_after_ms,
            points,
        })
    }

    /// The newest timestamp (`None` for an empty chunk).
    pub fn last_ms(&self) -> Option<i64> {
        self.points.last().map(|p| p.timestamp_ms)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MonitorError> {
        let end = self.pos.checked_add(n).ok_or(corrupt("truncated"))?;
        let out = self.bytes.get(self.pos..end).ok_or(corrupt("truncated"))?;
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, MonitorError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, MonitorError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("varint too long"))
    }

    /// One XOR-ed value (see the module documentation).
    fn value(&mut self) -> Result<u64, MonitorError> {
        let c = self.u8()?;
        if c == 0 {
            return Ok(0);
        }
        let (lead, trail) = (u32::from(c - 1) / 8, u32::from(c - 1) % 8);
        if c > 64 || lead + trail > 7 {
            return Err(corrupt("bad value control byte"));
        }
        let middle = self.take((8 - lead - trail) as usize)?;
        let x = middle.iter().fold(0u64, |x, &b| x << 8 | u64::from(b));
        Ok(x << (8 * trail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(timestamp_ms: i64, value: f64) -> Point {
        Point {
            timestamp_ms,
            value,
        }
    }

    fn round_trip(c: &RawChunk) -> RawChunk {
        RawChunk::decode(&c.encode()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn keys_round_trip_and_sort_by_sequence() {
        let k = raw_key("betanet.latency_ms", 300);
        assert_eq!(parse_raw_key(&k).ok(), Some(("betanet.latency_ms", 300)));
        assert!(raw_key("a", 255) < raw_key("a", 256));
        assert!(parse_raw_key(b"a\x01\0\0\0\0\0\0\0\x01").is_err());
        assert!(parse_raw_key(b"\0\0\0\0\0\0\0\0\0").is_err());
        assert!(parse_raw_key(b"short").is_err());
    }

    #[test]
    fn chunks_round_trip_exactly() {
        let hard = [
            0.0,
            -0.0,
            1.0,
            1.0,
            25.5,
            -3e4,
            1e100,
            -1e100,
            f64::MIN_POSITIVE,
            5e-324,
            0.1 + 0.2,
        ];
        let points: Vec<Point> = hard
            .iter()
            .enumerate()
            .map(|(i, &v)| p(1_700_000_000_000 + (i as i64 / 2) * 1_000, v))
            .collect();
        for (prev, complete) in [
            (None, None),
            (Some(1_699_999_999_000), None),
            (None, Some(i64::MIN)),
            (Some(i64::MIN), Some(i64::MAX)),
            (Some(0), Some(1_800_000_000_000)),
        ] {
            let c = RawChunk {
                prev_last_ms: prev,
                complete_after_ms: complete,
                points: points.clone(),
            };
            let back = round_trip(&c);
            assert_eq!(back.prev_last_ms, prev);
            assert_eq!(back.complete_after_ms, complete);
            let bits = |c: &RawChunk| -> Vec<(i64, u64)> {
                c.points
                    .iter()
                    .map(|p| (p.timestamp_ms, p.value.to_bits()))
                    .collect()
            };
            assert_eq!(bits(&back), bits(&c));
        }
    }

    #[test]
    fn a_one_hertz_hour_of_noise_is_at_most_eleven_bytes_a_point() {
        let mut rng = fastrand::Rng::with_seed(1);
        let t0 = 1_700_000_000_000;
        let noisy: Vec<Point> = (0..3_600)
            .map(|i| p(t0 + i * 1_000, 25.0 + rng.f64() * 10.0))
            .collect();
        let chunk = RawChunk {
            prev_last_ms: Some(t0 - 1_000),
            complete_after_ms: None,
            points: noisy,
        };
        let bytes = chunk.encode().len();
        assert!(bytes <= 3_600 * 11, "{bytes}");
        assert_eq!(round_trip(&chunk), chunk);
        // A steady gauge costs 3 bytes a point (2 of time, 1 of value).
        let steady = RawChunk {
            points: (0..3_600).map(|i| p(t0 + i * 1_000, 8.0)).collect(),
            ..chunk
        };
        assert!(steady.encode().len() <= 3_600 * 3 + 20);
    }

    #[test]
    fn corrupt_bytes_are_refused_not_panicked_on() {
        let c = RawChunk {
            prev_last_ms: Some(10),
            complete_after_ms: Some(5),
            points: (0..20).map(|i| p(100 + i * 7, i as f64 * 1.5)).collect(),
        };
        let bytes = c.encode();
        for cut in 0..bytes.len() {
            assert!(RawChunk::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(RawChunk::decode(&extra).is_err());
        for (i, b) in [(0, 9), (1, 0x80)] {
            let mut bad = bytes.clone();
            bad[i] = b;
            assert!(RawChunk::decode(&bad).is_err());
        }
        // n = 0, a control byte past 64, a NaN.
        assert!(RawChunk::decode(&[1, 0, 0, 0]).is_err());
        assert!(RawChunk::decode(&[1, 0, 1, 0, 65]).is_err());
        let mut nan = vec![1, 0, 1, 0, 1];
        nan.extend_from_slice(&f64::NAN.to_bits().to_be_bytes());
        assert!(RawChunk::decode(&nan).is_err());
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..5_000 {
            let mut noisy = bytes.clone();
            let i = rng.usize(..noisy.len());
            noisy[i] = rng.u8(..);
            let _ = RawChunk::decode(&noisy);
        }
    }
}
