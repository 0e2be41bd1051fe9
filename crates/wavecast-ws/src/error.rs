//! The decoder's errors. Each one names the close code the server must send
//! before it closes the connection (RFC 6455 §7.4.1), and a short, stable,
//! valid UTF-8 reason that fits in a close frame.
//!
//! Invariant: every variant maps to exactly one of 1002, 1007 or 1009, and a
//! reason of at most 123 bytes.

use std::fmt;

/// Close codes the codec produces or checks (RFC 6455 §7.4.1).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Reserved: no status code was present (never sent on the wire).
    pub const NO_STATUS: u16 = 1005;
    /// Reserved: the connection dropped without a close frame (never sent).
    pub const ABNORMAL: u16 = 1006;
    /// Payload data inconsistent with the message type (invalid UTF-8).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// Message too big.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Unexpected server condition.
    pub const INTERNAL_ERROR: u16 = 1011;
}

/// Why the decoder refused the byte stream. After an error the decoder is
/// dead: send [`crate::encode_close`]`(e.close_code(), e.reason())`, then
/// close the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WsError {
    /// A client frame without the MASK bit (RFC 6455 §5.1).
    UnmaskedFrame,
    /// RSV1/2/3 set without a negotiated extension that defines it, or RSV1
    /// on a control frame or a continuation frame.
    ReservedBits,
    /// An opcode RFC 6455 reserves (3–7, 11–15).
    BadOpcode,
    /// A control frame without FIN.
    FragmentedControl,
    /// A control frame with a payload longer than 125 bytes.
    ControlTooLong,
    /// A continuation frame with no fragmented message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress.
    ExpectedContinuation,
    /// A 64-bit payload length with its most significant bit set.
    LengthMsbSet,
    /// A close frame with a 1-byte payload.
    BadCloseLength,
    /// A close frame with a code that may not be sent on the wire.
    BadCloseCode,
    /// A text message or a close reason that is not valid UTF-8.
    InvalidUtf8,
    /// A message (on the wire or once inflated) over `max_message_size`.
    MessageTooBig,
    /// A compressed message whose deflate data is corrupt.
    BadCompressedData,
}

impl WsError {
    /// The close code to send for this error.
    pub fn close_code(self) -> u16 {
        match self {
            WsError::InvalidUtf8 | WsError::BadCompressedData => close_code::INVALID_PAYLOAD,
            WsError::MessageTooBig => close_code::MESSAGE_TOO_BIG,
            _ => close_code::PROTOCOL_ERROR,
        }
    }

    /// A short reason for the close frame (ASCII, stable).
    pub fn reason(self) -> &'static str {
        match self {
            WsError::UnmaskedFrame => "client frame not masked",
            WsError::ReservedBits => "reserved bits set",
            WsError::BadOpcode => "reserved opcode",
            WsError::FragmentedControl => "fragmented control frame",
            WsError::ControlTooLong => "control frame payload over 125 bytes",
            WsError::UnexpectedContinuation => "continuation without a message",
            WsError::ExpectedContinuation => "new message inside a fragmented message",
            WsError::LengthMsbSet => "64-bit length with the high bit set",
            WsError::BadCloseLength => "close payload of 1 byte",
            WsError::BadCloseCode => "invalid close code",
            WsError::InvalidUtf8 => "invalid UTF-8",
            WsError::MessageTooBig => "message too big",
            WsError::BadCompressedData => "invalid compressed data",
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.close_code())
    }
}

impl std::error::Error for WsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons() {
        assert_eq!(WsError::UnmaskedFrame.close_code(), 1002);
        assert_eq!(WsError::InvalidUtf8.close_code(), 1007);
        assert_eq!(WsError::BadCompressedData.close_code(), 1007);
        assert_eq!(WsError::MessageTooBig.close_code(), 1009);
        assert!(WsError::ExpectedContinuation.reason().len() <= 123);
        assert_eq!(WsError::MessageTooBig.to_string(), "message too big (1009)");
    }
}
