//! The streaming decoder for client → server frames (server role).
//!
//! The caller reads from the socket into any buffer (a per-thread scratch
//! buffer is the intended use), then calls [`Decoder::feed`] until the
//! buffer is used up. The decoder keeps everything it needs between calls,
//! so the caller never keeps leftover bytes:
//! - an incomplete frame header, in a 14-byte array inside the struct;
//! - the current frame's mask key (rotated to the next byte's position)
//!   and the count of payload bytes still to come;
//! - the payload of an incomplete message (`Partial`), allocated only
//!   while a message spans several frames or reads, dropped when it ends;
//! - a control frame split across reads (at most 125 bytes, boxed);
//! - the inflate state (about 47 KiB), only while a compressed message is
//!   in progress (client_no_context_takeover) or for the connection's life
//!   (context takeover: avoid it for idle-heavy servers, which is why
//!   [`crate::DeflateConfig`] asks for client_no_context_takeover by
//!   default).
//!
//! Invariants: an idle decoder owns no heap memory unless deflate context
//! takeover is in use; the payload buffered for a message never exceeds
//! `max_message_size` (sizes are checked on each frame header, before any
//! payload is buffered); after an error every call returns that error;
//! after a close frame the rest of the stream is discarded.

use bytes::Bytes;

use crate::assemble::Partial;
use crate::close::parse_close;
use crate::error::WsError;
use crate::frame::{parse_header, Header, Opcode, Parsed, MAX_CLIENT_HEADER, MAX_CONTROL_PAYLOAD};
use crate::inflate::Inflater;
use crate::mask::apply_mask;
use crate::message::Message;
use crate::negotiate::DeflateParams;

/// The default `max_message_size`: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;

/// What [`Decoder::feed`] returns: the bytes consumed from the input, and
/// a complete message, nothing yet, or the error to close with.
pub type Feed = (usize, Result<Option<Message>, WsError>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Payload,
    Closed,
    Failed(WsError),
}

/// What one step of the state machine achieved.
enum Step {
    NeedInput,
    Continue,
    Done(Message),
}

/// A control frame's payload split across reads.
struct ControlBuf {
    len: u8,
    data: [u8; MAX_CONTROL_PAYLOAD],
}

/// Per-connection decoder state. See the module docs for the contract.
pub struct Decoder {
    head: [u8; MAX_CLIENT_HEADER],
    head_len: u8,
    phase: Phase,
    opcode: Opcode,
    fin: bool,
    /// 0 when permessage-deflate is off; else client window bits, with
    /// [`NO_TAKEOVER`] set for client_no_context_takeover.
    deflate: u8,
    mask: [u8; 4],
    remaining: u64,
    max_message_size: usize,
    message: Option<Box<Partial>>,
    control: Option<Box<ControlBuf>>,
    inflater: Option<Box<Inflater>>,
}

const NO_TAKEOVER: u8 = 0x80;

impl Decoder {
    /// A decoder refusing messages over `max_message_size` bytes (1009).
    pub fn new(max_message_size: usize) -> Decoder {
        Decoder {
            head: [0; MAX_CLIENT_HEADER],
            head_len: 0,
            phase: Phase::Header,
            opcode: Opcode::Continuation,
            fin: false,
            deflate: 0,
            mask: [0; 4],
            remaining: 0,
            max_message_size,
            message: None,
            control: None,
            inflater: None,
        }
    }

    /// Enables permessage-deflate with the negotiated parameters: RSV1 on a
    /// message's first frame then means the message is compressed.
    pub fn with_deflate(mut self, params: &DeflateParams) -> Decoder {
        self.deflate = params.client_max_window_bits.clamp(8, 15);
        if params.client_no_context_takeover {
            self.deflate |= NO_TAKEOVER;
        }
        self
    }

    /// Consumes bytes received from the client.
    ///
    /// Returns `(consumed, result)`. Unmasks `input` in place. Stops right
    /// after the first complete message (`Ok(Some)`): call again with
    /// `&mut input[consumed..]` for the rest. `Ok(None)` means every byte
    /// was consumed and kept as needed: the caller keeps nothing. `Err`
    /// means the connection is bad: send a close with
    /// [`WsError::close_code`] and drop the connection. After a
    /// [`Message::Close`], further input is consumed and ignored.
    pub fn feed(&mut self, input: &mut [u8]) -> Feed {
        let mut pos = 0;
        loop {
            let step = match self.phase {
                Phase::Failed(e) => return (input.len(), Err(e)),
                Phase::Closed => return (input.len(), Ok(None)),
                Phase::Header => self.step_header(input, &mut pos),
                Phase::Payload => self.step_payload(input, &mut pos),
            };
            match step {
                Ok(Step::Continue) => {}
                Ok(Step::NeedInput) => return (pos, Ok(None)),
                Ok(Step::Done(msg)) => return (pos, Ok(Some(msg))),
                Err(e) => {
                    self.fail(e);
                    return (pos, Err(e));
                }
            }
        }
    }

    /// Payload bytes held for an incomplete message (at most
    /// `max_message_size`, + 1 while inflating) and a control frame split
    /// across reads (at most 125, not counted in the message limit).
    pub fn buffered_len(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.len())
            + self.control.as_ref().map_or(0, |c| usize::from(c.len))
    }

    /// True when the decoder owns no heap memory: no message in progress,
    /// no split control frame, no inflate state.
    pub fn is_idle(&self) -> bool {
        self.message.is_none() && self.control.is_none() && self.inflater.is_none()
    }

    /// True once a close frame was received.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    fn fail(&mut self, e: WsError) {
        self.phase = Phase::Failed(e);
        self.message = None;
        self.control = None;
        self.inflater = None;
    }

    fn step_header(&mut self, input: &[u8], pos: &mut usize) -> Result<Step, WsError> {
        let rest = input.get(*pos..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(Step::NeedInput);
        }
        let have = usize::from(self.head_len);
        let take = (MAX_CLIENT_HEADER - have).min(rest.len());
        let parsed = if have == 0 {
            parse_header(rest)?
        } else {
            self.head[have..have + take].copy_from_slice(&rest[..take]);
            parse_header(&self.head[..have + take])?
        };
        match parsed {
            Parsed::Complete(header, len) => {
                self.head_len = 0;
                *pos += len - have;
                self.begin_frame(header, input.len() - *pos)?;
                Ok(Step::Continue)
            }
            Parsed::Incomplete => {
                // Fewer than 14 bytes in all: keep them in `head`.
                if have == 0 {
                    self.head[..take].copy_from_slice(&rest[..take]);
                }
                self.head_len = (have + take) as u8;
                *pos += take;
                Ok(Step::NeedInput)
            }
        }
    }

    /// Checks a complete header against the connection's state; `avail` is
    /// how many bytes of input follow it in the current call.
    fn begin_frame(&mut self, h: Header, avail: usize) -> Result<(), WsError> {
        let max = self.max_message_size as u64;
        match h.opcode {
            Opcode::Close | Opcode::Ping | Opcode::Pong => {
                if h.rsv1 {
                    return Err(WsError::ReservedBits);
                }
                if h.len > avail as u64 {
                    self.control = Some(Box::new(ControlBuf {
                        len: 0,
                        data: [0; MAX_CONTROL_PAYLOAD],
                    }));
                }
            }
            Opcode::Text | Opcode::Binary => {
                if self.message.is_some() {
                    return Err(WsError::ExpectedContinuation);
                }
                if h.rsv1 && self.deflate == 0 {
                    return Err(WsError::ReservedBits);
                }
                if h.len > max {
                    return Err(WsError::MessageTooBig);
                }
                let whole = h.fin && !h.rsv1 && h.len <= avail as u64;
                if !whole {
                    self.message = Some(Partial::new(h.opcode == Opcode::Text, h.rsv1, h.len));
                }
            }
            Opcode::Continuation => {
                let msg = self
                    .message
                    .as_mut()
                    .ok_or(WsError::UnexpectedContinuation)?;
                if h.rsv1 {
                    return Err(WsError::ReservedBits);
                }
                let total = msg.wire_len.saturating_add(h.len);
                if total > max {
                    return Err(WsError::MessageTooBig);
                }
                msg.wire_len = total;
            }
        }
        self.opcode = h.opcode;
        self.fin = h.fin;
        self.mask = h.mask;
        self.remaining = h.len;
        self.phase = Phase::Payload;
        Ok(())
    }

    fn step_payload(&mut self, input: &mut [u8], pos: &mut usize) -> Result<Step, WsError> {
        let avail = input.len().saturating_sub(*pos);
        let n = usize::try_from(self.remaining).map_or(avail, |r| r.min(avail));
        if n == 0 && self.remaining > 0 {
            return Ok(Step::NeedInput);
        }
        let chunk = &mut input[*pos..*pos + n];
        self.mask = apply_mask(chunk, self.mask);
        *pos += n;
        self.remaining -= n as u64;
        let done = self.remaining == 0;
        if done {
            self.phase = Phase::Header;
        }
        if self.opcode.is_control() {
            self.control_chunk(chunk, done)
        } else {
            self.data_chunk(chunk, done)
        }
    }

    fn control_chunk(&mut self, chunk: &[u8], done: bool) -> Result<Step, WsError> {
        let Some(buf) = self.control.as_mut() else {
            // The whole payload was in this call's input.
            return self.finish_control(chunk).map(Step::Done);
        };
        let at = usize::from(buf.len);
        let end = (at + chunk.len()).min(MAX_CONTROL_PAYLOAD);
        buf.data[at..end].copy_from_slice(&chunk[..end - at]);
        buf.len = end as u8;
        if !done {
            return Ok(Step::Continue);
        }
        match self.control.take() {
            Some(buf) => self
                .finish_control(&buf.data[..usize::from(buf.len)])
                .map(Step::Done),
            None => Ok(Step::Continue),
        }
    }

    fn finish_control(&mut self, payload: &[u8]) -> Result<Message, WsError> {
        Ok(match self.opcode {
            Opcode::Ping => Message::Ping(Bytes::copy_from_slice(payload)),
            Opcode::Pong => Message::Pong(Bytes::copy_from_slice(payload)),
            _ => {
                let close = parse_close(payload)?;
                self.phase = Phase::Closed;
                self.message = None;
                self.inflater = None;
                Message::Close(close)
            }
        })
    }

    fn data_chunk(&mut self, chunk: &[u8], done: bool) -> Result<Step, WsError> {
        let limit = self.max_message_size;
        let Some(msg) = self.message.as_mut() else {
            // A single-frame, uncompressed message whose payload was all in
            // this call's input (checked in `begin_frame`).
            return whole_message(self.opcode, chunk).map(Step::Done);
        };
        let inflater = if msg.compressed {
            let bits = self.deflate & !NO_TAKEOVER;
            Some(&mut **self.inflater.get_or_insert_with(|| Inflater::new(bits)))
        } else {
            None
        };
        msg.push(chunk, inflater, limit)?;
        if !(done && self.fin) {
            return Ok(Step::Continue);
        }
        let Some(msg) = self.message.take() else {
            return Ok(Step::Continue);
        };
        let compressed = msg.compressed;
        let result = (*msg).finish(self.inflater.as_deref_mut(), limit);
        if compressed {
            self.end_compressed_message();
        }
        result.map(Step::Done)
    }

    fn end_compressed_message(&mut self) {
        if self.deflate & NO_TAKEOVER != 0 {
            self.inflater = None;
        } else if let Some(inflater) = self.inflater.as_mut() {
            inflater.next_message();
        }
    }
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

/// A single-frame uncompressed message straight from the input.
fn whole_message(opcode: Opcode, payload: &[u8]) -> Result<Message, WsError> {
    if opcode == Opcode::Text {
        let text = std::str::from_utf8(payload).map_err(|_| WsError::InvalidUtf8)?;
        Ok(Message::Text(text.to_owned()))
    } else {
        Ok(Message::Binary(Bytes::copy_from_slice(payload)))
    }
}
