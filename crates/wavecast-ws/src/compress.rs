//! The send side of permessage-deflate (RFC 7692 §7.2.1): compresses one
//! message on its own (no context takeover), so a publication is compressed
//! once and the same frame is shared by every subscriber that negotiated
//! the same `server_max_window_bits`.
//!
//! Invariants: the output is raw deflate ending in a sync flush with its
//! trailing `00 00 ff ff` removed (an empty message gives `00`); matches
//! never reach further back than 2^window_bits bytes (zlib's longest
//! distance is 2^w − 262, so window 8 is served by zlib's smallest, 9:
//! 250 < 256); compression never fails: should zlib ever report an error,
//! the message is sent as stored (uncompressed) deflate blocks instead.

use std::cell::RefCell;

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

use crate::frame::{frame_header, Opcode, MAX_SERVER_HEADER};

/// The compression level used by [`compress_message`] (zlib's 1..=9).
pub const DEFAULT_LEVEL: u32 = 6;

/// A reusable raw-deflate compressor. Its zlib-rs state is allocated once
/// (measured: about 370 KiB at window 15, 250 KiB at window 9) and reset
/// between messages, so keep one per thread, not one per connection.
pub struct Compressor {
    inner: Compress,
    window_bits: u8,
}

impl Compressor {
    /// A compressor for windows of at most 2^`window_bits` (clamped to
    /// 8..=15) at [`DEFAULT_LEVEL`].
    pub fn new(window_bits: u8) -> Compressor {
        Compressor::with_level(window_bits, DEFAULT_LEVEL)
    }

    /// Same, with a zlib level (0..=9; clamped).
    pub fn with_level(window_bits: u8, level: u32) -> Compressor {
        let window_bits = window_bits.clamp(8, 15);
        Compressor {
            inner: Compress::new_with_window_bits(
                Compression::new(level.min(9)),
                false,
                window_bits.max(9),
            ),
            window_bits,
        }
    }

    /// The window bits this compressor honours.
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// The compressed payload of a message (for a frame with RSV1 set).
    pub fn compress(&mut self, payload: &[u8]) -> Bytes {
        let mut out = Vec::new();
        self.deflate_into(payload, &mut out);
        Bytes::from(out)
    }

    /// A complete, unfragmented server frame (RSV1 set) carrying `payload`
    /// compressed: header and data in one buffer, to be shared.
    pub fn compress_frame(&mut self, opcode: Opcode, payload: &[u8]) -> Bytes {
        let mut out = vec![0u8; MAX_SERVER_HEADER];
        self.deflate_into(payload, &mut out);
        let (header, used) = frame_header(opcode, true, true, out.len() - MAX_SERVER_HEADER);
        let start = MAX_SERVER_HEADER - used;
        out[start..MAX_SERVER_HEADER].copy_from_slice(&header[..used]);
        Bytes::from(out).slice(start..)
    }

    /// Appends the RFC 7692 payload for `payload` to `out`.
    fn deflate_into(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        self.inner.reset();
        let start = out.len();
        out.reserve(payload.len() / 2 + 64);
        loop {
            let done_in = usize::try_from(self.inner.total_in()).unwrap_or(usize::MAX);
            let input = payload.get(done_in..).unwrap_or_default();
            if self
                .inner
                .compress_vec(input, out, FlushCompress::Sync)
                .is_err()
            {
                out.truncate(start);
                stored_blocks(payload, out);
                self.inner.reset();
                return;
            }
            let all_in = self.inner.total_in() == payload.len() as u64;
            if all_in && out.len() < out.capacity() {
                break;
            }
            out.reserve((out.len() - start).max(64));
        }
        if out.ends_with(&[0x00, 0x00, 0xff, 0xff]) {
            out.truncate(out.len() - 4);
        }
    }
}

/// `payload` as non-final stored deflate blocks, then the first byte of
/// the empty stored block whose `00 00 ff ff` the receiver appends.
fn stored_blocks(payload: &[u8], out: &mut Vec<u8>) {
    for block in payload.chunks(usize::from(u16::MAX)) {
        let len = block.len() as u16;
        out.push(0x00);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.push(0x00);
}

thread_local! {
    static CACHED: RefCell<Option<Compressor>> = const { RefCell::new(None) };
}

/// Compresses one message for a frame with RSV1 (no context takeover),
/// reusing a per-thread [`Compressor`] (one per thread, rebuilt when the
/// window bits change).
pub fn compress_message(payload: &[u8], window_bits: u8) -> Bytes {
    with_cached(window_bits, |c| c.compress(payload))
}

/// [`compress_message`] as a complete frame with RSV1 set.
pub fn encode_compressed_frame(opcode: Opcode, payload: &[u8], window_bits: u8) -> Bytes {
    with_cached(window_bits, |c| c.compress_frame(opcode, payload))
}

fn with_cached<T>(window_bits: u8, f: impl FnOnce(&mut Compressor) -> T) -> T {
    CACHED.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            let bits = window_bits.clamp(8, 15);
            let compressor = match slot.take() {
                Some(c) if c.window_bits == bits => slot.insert(c),
                _ => slot.insert(Compressor::new(bits)),
            };
            f(compressor)
        }
        Err(_) => f(&mut Compressor::new(window_bits)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{client_inflate, deflate_stats};

    #[test]
    fn round_trip_and_tail_stripped() {
        let json =
            br#"{"type":"data","channel":"sim.1","seq":42,"payload":{"x":[1,2,3,4,5,6,7,8]}}"#;
        let mut c = Compressor::new(15);
        for _ in 0..3 {
            let z = c.compress(json);
            assert!(!z.ends_with(&[0, 0, 0xff, 0xff]));
            assert!(z.len() < json.len());
            assert_eq!(client_inflate(&z, 15), json);
        }
        assert_eq!(&c.compress(b"")[..], &[0x00]);
        assert_eq!(client_inflate(&c.compress(b""), 15), b"");
    }

    #[test]
    fn no_context_between_messages() {
        // Each message must inflate on its own with a fresh inflater.
        let msg = b"abcabcabcabc the same text again and again and again";
        let a = compress_message(msg, 15);
        let b = compress_message(msg, 15);
        assert_eq!(a, b);
        assert_eq!(client_inflate(&b, 15), msg);
    }

    #[test]
    fn small_windows_respect_the_distance_limit() {
        // A 300-byte pattern repeated: a 512-byte window would find it, a
        // 256-byte inflater would refuse a distance of 300.
        let pattern: Vec<u8> = (0..300u32).map(|i| (i * 31 % 251) as u8).collect();
        let data: Vec<u8> = pattern.iter().cycle().take(3000).copied().collect();
        for bits in 8..=15 {
            let z = compress_message(&data, bits);
            assert!(client_inflate(&z, bits.max(9)) == data, "bits {bits}");
        }
        // The longest back-reference, read by a test-only deflate parser:
        // within 2^bits for every window, and beyond 256 at window 15 (so
        // the check can fail).
        for bits in 8..=15 {
            let (len, dist) = deflate_stats(&compress_message(&data, bits)).unwrap();
            assert_eq!(len, data.len());
            assert!(dist <= 1 << bits, "bits {bits}: distance {dist}");
        }
        assert!(deflate_stats(&compress_message(&data, 15)).unwrap().1 > 256);
    }

    #[test]
    fn frames_carry_rsv1_and_length() {
        let payload = vec![b'a'; 70_000];
        let frame = encode_compressed_frame(Opcode::Text, &payload, 15);
        assert_eq!(frame[0], 0xc1);
        let (len, at) = match frame[1] {
            126 => (usize::from(u16::from_be_bytes([frame[2], frame[3]])), 4),
            n => (usize::from(n), 2),
        };
        assert_eq!(len, frame.len() - at);
        assert_eq!(client_inflate(&frame[at..], 15), payload);
        let mut rng = fastrand::Rng::with_seed(7);
        let big: Vec<u8> = (0..200_000).map(|_| rng.u8(..)).collect();
        let frame = Compressor::with_level(15, 1).compress_frame(Opcode::Binary, &big);
        assert_eq!(&frame[..2], &[0xc2, 127]);
        assert!(client_inflate(&frame[10..], 15) == big);
    }

    #[test]
    fn stored_fallback_is_valid_deflate() {
        for len in [0usize, 1, 100, 65_535, 65_536, 140_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            stored_blocks(&payload, &mut out);
            assert_eq!(client_inflate(&out, 15), payload, "len {len}");
        }
    }
}
