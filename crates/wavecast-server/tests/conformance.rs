//! WebSocket conformance against the `/echo` endpoint (`[conformance]
//! echo = true`), with raw frames written byte for byte over a real
//! socket: fragmentation split inside a UTF-8 sequence, invalid UTF-8 in a
//! continuation (1007, before the message ends), control frames inside a
//! fragmented message, close codes in and out of range, reserved bits
//! without an extension, oversize and fragmented control frames, and
//! compressed messages (permessage-deflate) echoed back.

use wavecast_testkit as common;

use common::raw::{Frame, RawEvent};
use common::{RawWs, TestServer};

const ECHO: &str =
    "[conformance]\necho = true\n[limits]\nmax_message_rate = 0\nmax_message_size = 1048576";

async fn echo_server() -> TestServer {
    TestServer::start(ECHO).await
}

/// The next frame, which must not be EOF.
async fn frame(c: &mut RawWs) -> Frame {
    match c.next().await {
        RawEvent::Frame(f) => f,
        RawEvent::Eof => panic!("the server closed the connection"),
    }
}

/// The server's close code, then EOF.
async fn closed_with(c: &mut RawWs) -> Option<u16> {
    let f = frame(c).await;
    assert_eq!(f.opcode, 8, "expected a close frame, got {f:?}");
    assert_eq!(
        c.next().await,
        RawEvent::Eof,
        "the server closes the socket"
    );
    f.close_code()
}

#[tokio::test]
async fn echo_is_off_by_default_and_echoes_text_and_binary() {
    let off = TestServer::start("").await;
    let (status, _) = off.upgrade_attempt("/echo", &[]).await;
    assert_eq!(status, 404, "/echo is served only when asked for");

    let srv = echo_server().await;
    let mut c = srv.raw("/echo").await;
    c.send_text("hello").await;
    let f = frame(&mut c).await;
    assert_eq!(
        (f.fin, f.opcode, f.payload.as_slice()),
        (true, 1, &b"hello"[..])
    );
    let blob: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    c.send_frame(true, 0, 2, &blob).await;
    let f = frame(&mut c).await;
    assert_eq!((f.opcode, f.payload.len()), (2, blob.len()));
    assert_eq!(f.payload, blob);
    // An empty message and a clean close.
    c.send_frame(true, 0, 1, b"").await;
    assert_eq!(frame(&mut c).await.payload, b"");
    c.send_frame(true, 0, 8, &1000u16.to_be_bytes()).await;
    assert_eq!(closed_with(&mut c).await, Some(1000));
}

#[tokio::test]
async fn fragmented_text_split_inside_a_utf8_sequence_is_one_message() {
    let srv = echo_server().await;
    let mut c = srv.raw("/echo").await;
    // "κόσμε" then a 4-byte emoji, cut inside both sequences.
    let text = "κόσμε 🎉!";
    let b = text.as_bytes();
    c.send_frame(false, 0, 1, &b[..1]).await; // half of κ
    c.send_frame(false, 0, 0, &b[1..5]).await;
    c.send_frame(false, 0, 0, &b[5..13]).await; // inside 🎉
    c.send_frame(false, 0, 0, &[]).await; // an empty continuation
    c.send_frame(true, 0, 0, &b[13..]).await;
    let f = frame(&mut c).await;
    assert_eq!((f.fin, f.opcode), (true, 1));
    assert_eq!(String::from_utf8(f.payload).unwrap(), text);

    // The same message with each frame cut into single-byte TCP writes.
    let mut wire = Vec::new();
    for (fin, op, part) in [(false, 1u8, &b[..3]), (true, 0, &b[3..])] {
        wire.extend(masked(fin, 0, op, part));
    }
    for byte in wire {
        c.send_bytes(&[byte]).await;
    }
    assert_eq!(frame(&mut c).await.payload, b);
}

#[tokio::test]
async fn invalid_utf8_in_a_continuation_closes_with_1007_at_once() {
    let srv = echo_server().await;
    let mut c = srv.raw("/echo").await;
    c.send_frame(false, 0, 1, "valid κ".as_bytes()).await;
    // 0xce starts a 2-byte sequence; 0x28 cannot continue it. The message
    // never ends: the server must fail fast, not wait for FIN.
    c.send_frame(false, 0, 0, &[0xce, 0x28, b'x']).await;
    assert_eq!(closed_with(&mut c).await, Some(1007));

    // Invalid UTF-8 in a single frame, and a sequence cut off by FIN.
    for bad in [
        &[0xff, 0x41][..],
        &[0x41, 0xe2, 0x82][..],
        &[0xed, 0xa0, 0x80][..],
    ] {
        let mut c = srv.raw("/echo").await;
        c.send_frame(true, 0, 1, bad).await;
        assert_eq!(closed_with(&mut c).await, Some(1007), "{bad:x?}");
    }
    // Binary messages are not UTF-8 checked.
    let mut c = srv.raw("/echo").await;
    c.send_frame(true, 0, 2, &[0xff, 0xfe]).await;
    assert_eq!(frame(&mut c).await.payload, [0xff, 0xfe]);
}

#[tokio::test]
async fn a_ping_inside_a_fragmented_message_is_answered_first() {
    let srv = echo_server().await;
    let mut c = srv.raw("/echo").await;
    c.send_frame(false, 0, 1, b"frag").await;
    c.send_frame(true, 0, 9, b"inside").await;
    let pong = frame(&mut c).await;
    assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"inside"[..]));
    c.send_frame(false, 0, 0, b"men").await;
    c.send_frame(true, 0, 10, b"unsolicited pong").await; // ignored
    c.send_frame(true, 0, 0, b"ted").await;
    let f = frame(&mut c).await;
    assert_eq!((f.opcode, f.payload.as_slice()), (1, &b"fragmented"[..]));

    // A data frame (not a continuation) inside the message is an error.
    c.send_frame(false, 0, 1, b"a").await;
    c.send_frame(true, 0, 1, b"b").await;
    assert_eq!(closed_with(&mut c).await, Some(1002));
    // And so is a continuation with no message in progress.
    let mut c = srv.raw("/echo").await;
    c.send_frame(true, 0, 0, b"orphan").await;
    assert_eq!(closed_with(&mut c).await, Some(1002));
}

#[tokio::test]
async fn close_codes_out_of_range_are_a_protocol_error() {
    let srv = echo_server().await;
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let mut c = srv.raw("/echo").await;
        c.send_frame(true, 0, 8, &code.to_be_bytes()).await;
        assert_eq!(closed_with(&mut c).await, Some(1002), "close code {code}");
    }
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999,
    ] {
        let mut c = srv.raw("/echo").await;
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        c.send_frame(true, 0, 8, &payload).await;
        assert_eq!(closed_with(&mut c).await, Some(code), "close code {code}");
    }
    // No payload: the reply has none either. One byte: an error. A reason
    // that is not UTF-8: 1007.
    let mut c = srv.raw("/echo").await;
    c.send_frame(true, 0, 8, b"").await;
    let f = frame(&mut c).await;
    assert_eq!((f.opcode, f.payload.len()), (8, 0));
    let mut c = srv.raw("/echo").await;
    c.send_frame(true, 0, 8, &[0x03]).await;
    assert_eq!(closed_with(&mut c).await, Some(1002));
    let mut c = srv.raw("/echo").await;
    c.send_frame(true, 0, 8, &[0x03, 0xe8, 0xff, 0xfe]).await;
    assert_eq!(closed_with(&mut c).await, Some(1007));
}

#[tokio::test]
async fn reserved_bits_without_an_extension_are_a_protocol_error() {
    let srv = echo_server().await;
    for (rsv, opcode) in [(4u8, 1u8), (2, 1), (1, 2), (7, 1), (4, 9)] {
        let mut c = srv.raw("/echo").await;
        c.send_frame(true, rsv, opcode, b"x").await;
        assert_eq!(
            closed_with(&mut c).await,
            Some(1002),
            "rsv {rsv:03b} on opcode {opcode}"
        );
    }
    // Reserved opcodes too.
    for opcode in [3u8, 7, 11, 15] {
        let mut c = srv.raw("/echo").await;
        c.send_frame(true, 0, opcode, b"x").await;
        assert_eq!(closed_with(&mut c).await, Some(1002), "opcode {opcode}");
    }
}

#[tokio::test]
async fn oversize_or_fragmented_control_frames_are_a_protocol_error() {
    let srv = echo_server().await;
    let mut c = srv.raw("/echo").await;
    let max = [b'p'; 125];
    c.send_frame(true, 0, 9, &max).await;
    let pong = frame(&mut c).await;
    assert_eq!((pong.opcode, pong.payload.len()), (10, 125));
    for (fin, opcode, len) in [
        (true, 9u8, 126usize),
        (true, 10, 126),
        (true, 8, 200),
        (false, 9, 4),
    ] {
        let mut c = srv.raw("/echo").await;
        let mut payload = vec![b'p'; len];
        if opcode == 8 {
            payload[..2].copy_from_slice(&1000u16.to_be_bytes());
        }
        c.send_frame(fin, 0, opcode, &payload).await;
        assert_eq!(
            closed_with(&mut c).await,
            Some(1002),
            "opcode {opcode}, {len} bytes, fin {fin}"
        );
    }
}

#[tokio::test]
async fn compressed_messages_are_echoed_compressed() {
    let srv = echo_server().await;
    let mut c = RawWs::connect(
        srv.addr,
        "/echo",
        &[(
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits",
        )],
    )
    .await;
    let ext = c.header("sec-websocket-extensions").unwrap_or_default();
    assert!(ext.starts_with("permessage-deflate"), "{}", c.head);
    let text = "compress me ".repeat(100);
    // A compressed message in two fragments: RSV1 on the first only.
    let z = deflate(text.as_bytes());
    let (a, b) = z.split_at(z.len() / 2);
    c.send_frame(false, 4, 1, a).await;
    c.send_frame(true, 0, 0, b).await;
    let f = frame(&mut c).await;
    assert_eq!((f.opcode, f.rsv), (1, 4), "compressed text back");
    assert_eq!(inflate(&f.payload), text.as_bytes());
    // RSV1 on a continuation is an error even with the extension.
    c.send_frame(false, 0, 1, b"a").await;
    c.send_frame(true, 4, 0, b"b").await;
    assert_eq!(closed_with(&mut c).await, Some(1002));
}

/// A masked client frame.
fn masked(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![
        (u8::from(fin) << 7) | (rsv << 4) | opcode,
        0x80 | payload.len() as u8,
    ];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Raw deflate with the RFC 7692 tail removed.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    wavecast_ws::compress_message(data, 15).to_vec()
}

/// Inflates a server message (appending the RFC 7692 tail).
pub fn inflate(data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut d = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
        .expect("valid deflate data");
    out
}
