//! How one connection's frames are encoded on the wire: its [`Format`]
//! (dialect and encoding), and the complete WebSocket frames built from a
//! message. Outbound queues hold finished frames (header included), so a
//! publication's frame is built once per format in use and the same bytes
//! go to every subscriber of that format ([`FrameCache`]).

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value};
use wavecast_protocol::to_client::{encode_control, encode_dropped, encode_error};
use wavecast_protocol::to_server::RequestId;
use wavecast_protocol::{ErrorCode, Publication};

/// The number of distinct formats (the size of a [`FrameCache`]).
pub const FORMATS: usize = 1;

/// A connection's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Format {
    index: u8,
}

impl Format {
    /// The native protocol in JSON text frames.
    pub const NATIVE: Format = Format { index: 0 };

    /// A small dense number, for per-format caches.
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// A control frame of type `kind`.
    pub fn control(self, kind: &str, fields: Map<String, Value>, id: Option<&RequestId>) -> Bytes {
        text_frame(&encode_control(kind, fields, id))
    }

    /// An `error` frame.
    pub fn error(self, code: ErrorCode, message: &str, id: Option<&RequestId>) -> Bytes {
        text_frame(&encode_error(code, message, id))
    }

    /// The `dropped` notice for `count` publications of `channel`.
    pub fn dropped(self, channel: &str, count: u64) -> Bytes {
        text_frame(&encode_dropped(channel, count))
    }

    /// A publication's frame.
    pub fn publication(self, p: &Publication) -> Bytes {
        text_frame(p.json_text().as_bytes())
    }

    /// A frame whose JSON text is already built (history pages).
    pub fn raw_json(self, json: &[u8]) -> Bytes {
        text_frame(json)
    }
}

/// A publication's frames, built lazily once per format.
pub struct FrameCache<'a> {
    publication: &'a Publication,
    frames: [Option<Bytes>; FORMATS],
}

impl<'a> FrameCache<'a> {
    pub fn new(publication: &'a Publication) -> FrameCache<'a> {
        FrameCache {
            publication,
            frames: Default::default(),
        }
    }

    /// The frame for `format`, built on first use.
    pub fn get(&mut self, format: Format) -> &Bytes {
        let p = self.publication;
        self.frames[format.index()].get_or_insert_with(|| format.publication(p))
    }
}

/// A final, unmasked WebSocket text frame around `payload`.
pub fn text_frame(payload: &[u8]) -> Bytes {
    frame(0x1, payload)
}

/// A final, unmasked WebSocket frame of `opcode` (RFC 6455 §5.2).
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let len = payload.len();
    let mut b = BytesMut::with_capacity(len + 10);
    b.put_u8(0x80 | opcode);
    if len < 126 {
        b.put_u8(len as u8);
    } else if len <= u16::MAX as usize {
        b.put_u8(126);
        b.put_u16(len as u16);
    } else {
        b.put_u8(127);
        b.put_u64(len as u64);
    }
    b.put_slice(payload);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths() {
        assert_eq!(&frame(1, b"hi")[..], b"\x81\x02hi");
        let f = frame(1, &[b'x'; 200]);
        assert_eq!(&f[..4], &[0x81, 126, 0, 200]);
        let f = frame(2, &vec![0u8; 70_000]);
        assert_eq!(&f[..2], &[0x82, 127]);
        assert_eq!(u64::from_be_bytes(f[2..10].try_into().unwrap()), 70_000);
    }
}
