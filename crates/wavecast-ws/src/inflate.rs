//! The receive side of permessage-deflate (RFC 7692 §7.2.2): inflates a
//! compressed message piece by piece into the message buffer, with a hard
//! cap on the output so a zip bomb is refused before it is inflated.
//!
//! Invariants: the output never grows past `limit + 1` bytes (one byte over
//! the limit is how "more output is pending" is detected); its capacity
//! never exceeds `limit + 1` either; corrupt data is an error, never a
//! panic. Memory (measured in `tests/memory.rs`): about 47 KiB per
//! inflater, state and window together, whatever the window bits (zlib-rs
//! allocates a full window); with client_no_context_takeover it exists only
//! while a compressed message is being received, with context takeover it
//! lives as long as the connection.

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::WsError;

/// The tail RFC 7692 §7.2.2 appends to a message's payload before inflating.
pub(crate) const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A raw-deflate decompressor for one connection (or one message).
pub(crate) struct Inflater {
    inner: Decompress,
    /// The peer closed its deflate stream (a BFINAL block): the rest of the
    /// message is ignored and the state is reset before the next one.
    ended: bool,
    window_bits: u8,
}

impl Inflater {
    /// A fresh inflater for an LZ77 window of up to 2^`window_bits` bytes
    /// (8 is raised to 9, the smallest zlib accepts: a 512-byte window
    /// decodes anything a 256-byte one produced).
    pub(crate) fn new(window_bits: u8) -> Box<Inflater> {
        let window_bits = window_bits.clamp(9, 15);
        Box::new(Inflater {
            inner: Decompress::new_with_window_bits(false, window_bits),
            ended: false,
            window_bits,
        })
    }

    /// Inflates `input`, appending to `out`. With `end_of_message`, flushes
    /// everything out (used with [`DEFLATE_TAIL`]).
    pub(crate) fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        end_of_message: bool,
    ) -> Result<(), WsError> {
        let flush = if end_of_message {
            FlushDecompress::Sync
        } else {
            FlushDecompress::None
        };
        while !self.ended {
            if out.len() > limit {
                return Err(WsError::MessageTooBig);
            }
            let start = out.len();
            let room = limit
                .saturating_add(1)
                .saturating_sub(start)
                .min(growth(start, input.len()));
            out.reserve_exact(room);
            out.resize(start + room, 0);
            let (in0, out0) = (self.inner.total_in(), self.inner.total_out());
            let status = self.inner.decompress(input, &mut out[start..], flush);
            let consumed = (self.inner.total_in() - in0) as usize;
            let produced = (self.inner.total_out() - out0) as usize;
            out.truncate(start + produced);
            input = input.get(consumed..).unwrap_or_default();
            match status {
                Err(_) => return Err(WsError::BadCompressedData),
                Ok(Status::StreamEnd) => self.ended = true,
                Ok(Status::Ok | Status::BufError) => {}
            }
            if produced < room && input.is_empty() {
                break;
            }
            if consumed == 0 && produced == 0 {
                return Err(WsError::BadCompressedData);
            }
        }
        if out.len() > limit {
            return Err(WsError::MessageTooBig);
        }
        Ok(())
    }

    /// Prepares for the next message when the state is kept between
    /// messages (context takeover): only a stream that ended needs a reset.
    pub(crate) fn next_message(&mut self) {
        if self.ended {
            self.inner = Decompress::new_with_window_bits(false, self.window_bits);
            self.ended = false;
        }
    }
}

/// How much output room to offer next: doubles the buffer, at least 512
/// bytes or 4× the compressed input.
fn growth(have: usize, input: usize) -> usize {
    have.max(512).max(input.saturating_mul(4))
}
