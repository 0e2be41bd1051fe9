//! The conformance echo endpoint (`[[endpoints]]` with `handler = "echo"`,
//! or `[conformance] echo = true` for `/echo`): every text and binary
//! message comes back as it was received, for WebSocket conformance
//! suites that check fragmentation, UTF-8 validation, close handling and
//! compression against the server's framing layer. It speaks no protocol
//! of its own: no greeting, no keepalive frame (protocol pings still go).

use bytes::Bytes;
use wavecast_protocol::to_server::Envelope;
use wavecast_ws::{Message, Opcode};

use crate::session::{Handler, Session};

/// The echo handler.
pub struct Echo;

impl Handler for Echo {
    async fn on_open(&mut self, _s: &mut Session) {}

    async fn on_message(&mut self, _s: &mut Session, _env: Envelope) {}

    fn on_binary(&mut self, _s: &mut Session, _data: Bytes) {}

    fn keepalive(&self, _s: &Session) -> Option<Bytes> {
        None
    }

    fn on_close(&mut self, _s: &Session, _reason: &'static str) {}

    fn on_raw(&mut self, s: &mut Session, m: &Message) -> bool {
        let frame = match m {
            Message::Text(t) => s.conn.format.raw_frame(Opcode::Text, t.as_bytes()),
            Message::Binary(b) => s.conn.format.raw_frame(Opcode::Binary, b),
            _ => return false,
        };
        s.conn.outbound.push_control(frame);
        true
    }
}
