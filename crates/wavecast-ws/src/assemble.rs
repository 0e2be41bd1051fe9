//! A data message being assembled: it spans several frames or several
//! reads. Holds the payload so far (inflated if the message is compressed),
//! the UTF-8 state of a text message, and the size accounting.
//!
//! Invariants: the buffer never holds more than the limit (plus one byte
//! while inflating, see [`crate::inflate`]) and its capacity never exceeds
//! the larger of the limit-capped declared length and what it holds;
//! text is validated as it arrives, so invalid UTF-8 fails at the first
//! piece that makes it impossible.

use bytes::Bytes;

use crate::error::WsError;
use crate::inflate::{Inflater, DEFLATE_TAIL};
use crate::message::Message;
use crate::utf8::Utf8Validator;

/// A text or binary message whose frames are still arriving.
pub(crate) struct Partial {
    buf: Vec<u8>,
    /// Sum of the payload lengths declared by the message's frame headers.
    pub(crate) wire_len: u64,
    utf8: Utf8Validator,
    text: bool,
    pub(crate) compressed: bool,
}

impl Partial {
    pub(crate) fn new(text: bool, compressed: bool, first_len: u64) -> Box<Partial> {
        Box::new(Partial {
            buf: Vec::new(),
            wire_len: first_len,
            utf8: Utf8Validator::default(),
            text,
            compressed,
        })
    }

    /// The payload bytes held so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Appends an unmasked piece of payload.
    pub(crate) fn push(
        &mut self,
        chunk: &[u8],
        inflater: Option<&mut Inflater>,
        limit: usize,
    ) -> Result<(), WsError> {
        let start = self.buf.len();
        match (self.compressed, inflater) {
            (true, Some(inflater)) => inflater.inflate(chunk, &mut self.buf, limit, false)?,
            (true, None) => return Err(WsError::BadCompressedData),
            (false, _) => {
                let declared = usize::try_from(self.wire_len).unwrap_or(usize::MAX);
                reserve_capped(&mut self.buf, chunk.len(), declared.min(limit));
                self.buf.extend_from_slice(chunk);
            }
        }
        self.check_text(start)
    }

    /// Completes the message after its last frame.
    pub(crate) fn finish(
        mut self,
        inflater: Option<&mut Inflater>,
        limit: usize,
    ) -> Result<Message, WsError> {
        if let Some(inflater) = inflater.filter(|_| self.compressed) {
            let start = self.buf.len();
            inflater.inflate(&DEFLATE_TAIL, &mut self.buf, limit, true)?;
            self.check_text(start)?;
        }
        let Partial {
            buf, utf8, text, ..
        } = self;
        if !text {
            return Ok(Message::Binary(Bytes::from(buf)));
        }
        if !utf8.is_complete() {
            return Err(WsError::InvalidUtf8);
        }
        String::from_utf8(buf)
            .map(Message::Text)
            .map_err(|_| WsError::InvalidUtf8)
    }

    fn check_text(&mut self, from: usize) -> Result<(), WsError> {
        if self.text {
            let fresh = self.buf.get(from..).unwrap_or_default();
            self.utf8.feed(fresh).map_err(|_| WsError::InvalidUtf8)?;
        }
        Ok(())
    }
}

/// Makes room for `extra` more bytes: doubles, but never past `cap` unless
/// the bytes themselves need it.
fn reserve_capped(buf: &mut Vec<u8>, extra: usize, cap: usize) {
    let need = buf.len() + extra;
    if need <= buf.capacity() {
        return;
    }
    let target = buf
        .capacity()
        .saturating_mul(2)
        .max(need)
        .min(cap.max(need));
    buf.reserve_exact(target - buf.len());
}
