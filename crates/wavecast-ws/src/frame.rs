//! Frame headers (RFC 6455 §5.2): opcodes, the server's header encoding,
//! and the parsing of a client header from the bytes received so far.
//!
//! Invariants: a client header is at most [`MAX_CLIENT_HEADER`] (14) bytes;
//! `parse_header` looks only at the bytes it is given and says how many
//! more it needs, so the caller can keep an incomplete header in a fixed
//! array; it checks only what the header alone decides (reserved opcodes,
//! RSV2/RSV3, MASK, control-frame rules, the 64-bit length's high bit).
//! Non-minimal length encodings are accepted, for control frames too (a
//! control payload is refused only when its actual length exceeds 125).

use crate::error::WsError;

/// The longest client frame header: 2 + 8 (64-bit length) + 4 (mask key).
pub const MAX_CLIENT_HEADER: usize = 14;
/// The longest server frame header: 2 + 8 (server frames are not masked).
pub const MAX_SERVER_HEADER: usize = 10;
/// The largest control-frame payload.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// A continuation of a fragmented message.
    Continuation = 0x0,
    /// The first frame of a text message.
    Text = 0x1,
    /// The first frame of a binary message.
    Binary = 0x2,
    /// A close frame.
    Close = 0x8,
    /// A ping.
    Ping = 0x9,
    /// A pong.
    Pong = 0xa,
}

impl Opcode {
    /// The opcode for a 4-bit value, or `None` for a reserved one.
    pub fn from_u8(v: u8) -> Option<Opcode> {
        Some(match v {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xa => Opcode::Pong,
            _ => return None,
        })
    }

    /// True for close, ping and pong.
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A parsed client frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: Opcode,
    pub len: u64,
    pub mask: [u8; 4],
}

/// The outcome of [`parse_header`] on the bytes available so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// A full header of `usize` bytes.
    Complete(Header, usize),
}

/// Checks the first two header bytes (everything they alone decide).
pub(crate) fn check_first_two(b0: u8, b1: u8) -> Result<Opcode, WsError> {
    if b0 & 0x30 != 0 {
        return Err(WsError::ReservedBits);
    }
    let opcode = Opcode::from_u8(b0 & 0x0f).ok_or(WsError::BadOpcode)?;
    if b1 & 0x80 == 0 {
        return Err(WsError::UnmaskedFrame);
    }
    if opcode.is_control() && b0 & 0x80 == 0 {
        return Err(WsError::FragmentedControl);
    }
    Ok(opcode)
}

/// Parses a masked client header from the start of `buf`.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Parsed, WsError> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Ok(Parsed::Incomplete),
    };
    let opcode = check_first_two(b0, b1)?;
    let (len, at) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(Parsed::Incomplete),
        },
        127 => match buf.get(2..10).map(<[u8; 8]>::try_from) {
            Some(Ok(bytes)) => (u64::from_be_bytes(bytes), 10),
            _ => return Ok(Parsed::Incomplete),
        },
        short => (u64::from(short), 2),
    };
    if len >> 63 != 0 {
        return Err(WsError::LengthMsbSet);
    }
    if opcode.is_control() && len > MAX_CONTROL_PAYLOAD as u64 {
        return Err(WsError::ControlTooLong);
    }
    let mask = match buf.get(at..at + 4).map(<[u8; 4]>::try_from) {
        Some(Ok(mask)) => mask,
        _ => return Ok(Parsed::Incomplete),
    };
    let header = Header {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        opcode,
        len,
        mask,
    };
    Ok(Parsed::Complete(header, at + 4))
}

/// Builds a server (unmasked) frame header: returns the bytes and how many
/// of them are used (2, 4 or 10), using the shortest length encoding.
pub fn frame_header(opcode: Opcode, fin: bool, rsv1: bool, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; MAX_SERVER_HEADER];
    h[0] = (opcode as u8) | if fin { 0x80 } else { 0 } | if rsv1 { 0x40 } else { 0 };
    let used = if len < 126 {
        h[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (Header, usize) {
        match parse_header(buf) {
            Ok(Parsed::Complete(h, n)) => (h, n),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn three_length_encodings() {
        let (h, n) = complete(&[0x81, 0x85, 1, 2, 3, 4]);
        assert_eq!((h.len, n, h.fin, h.opcode), (5, 6, true, Opcode::Text));
        assert_eq!(h.mask, [1, 2, 3, 4]);
        let (h, n) = complete(&[0x02, 0xfe, 0x01, 0x00, 9, 9, 9, 9]);
        assert_eq!((h.len, n, h.fin, h.opcode), (256, 8, false, Opcode::Binary));
        let mut b = vec![0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0];
        b.extend_from_slice(&[5, 6, 7, 8]);
        let (h, n) = complete(&b);
        assert_eq!((h.len, n), (1 << 32, 14));
    }

    #[test]
    fn non_minimal_lengths_are_accepted() {
        let (h, _) = complete(&[0x81, 0xfe, 0x00, 0x05, 0, 0, 0, 0]);
        assert_eq!(h.len, 5);
        let (h, _) = complete(&[0x81, 0xff, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0]);
        assert_eq!(h.len, 5);
        let (h, _) = complete(&[0x89, 0xfe, 0x00, 0x7d, 0, 0, 0, 0]);
        assert_eq!((h.len, h.opcode), (125, Opcode::Ping));
    }

    #[test]
    fn incomplete_at_every_prefix() {
        let full = [0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for cut in 0..full.len() {
            assert_eq!(parse_header(&full[..cut]), Ok(Parsed::Incomplete), "{cut}");
        }
        assert!(matches!(parse_header(&full), Ok(Parsed::Complete(_, 14))));
    }

    #[test]
    fn header_errors() {
        let cases: &[(&[u8], WsError)] = &[
            (&[0x81, 0x05], WsError::UnmaskedFrame),
            (&[0xa1, 0x80], WsError::ReservedBits),
            (&[0x91, 0x80], WsError::ReservedBits),
            (&[0x83, 0x80], WsError::BadOpcode),
            (&[0x8b, 0x80], WsError::BadOpcode),
            (&[0x09, 0x80], WsError::FragmentedControl),
            (&[0x89, 0xfe, 0x00, 0x7e], WsError::ControlTooLong),
            (
                &[0x88, 0xff, 0, 0, 0, 0, 0, 0, 0, 126],
                WsError::ControlTooLong,
            ),
            (
                &[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0],
                WsError::LengthMsbSet,
            ),
        ];
        for (bytes, err) in cases {
            assert_eq!(parse_header(bytes), Err(*err), "{bytes:02x?}");
        }
    }

    #[test]
    fn server_headers() {
        assert_eq!(
            frame_header(Opcode::Text, true, false, 5),
            ([0x81, 5, 0, 0, 0, 0, 0, 0, 0, 0], 2)
        );
        let (h, n) = frame_header(Opcode::Binary, true, true, 125);
        assert_eq!((&h[..n], n), (&[0xc2, 125][..], 2));
        let (h, n) = frame_header(Opcode::Binary, false, false, 126);
        assert_eq!(&h[..n], &[0x02, 126, 0, 126]);
        let (h, n) = frame_header(Opcode::Text, true, false, 65535);
        assert_eq!(&h[..n], &[0x81, 126, 0xff, 0xff]);
        let (h, n) = frame_header(Opcode::Text, true, false, 65536);
        assert_eq!(&h[..n], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }
}
