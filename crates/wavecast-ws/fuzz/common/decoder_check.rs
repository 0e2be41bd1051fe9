//! The checks of the `decoder` fuzz target, shared with the crate's
//! `tests/fuzz_corpus.rs` (which replays the corpus on stable Rust).
//!
//! Arbitrary bytes fed to the decoder, whole and at arbitrary
//! split points. Input layout: byte 0 = configuration (bit 0: deflate
//! negotiated, bit 1: client_no_context_takeover, bits 2..=5: the message
//! size limit, 64 B to 64 KiB), bytes 1–2 = seed of the split points, the
//! rest = the byte stream from the "client".
//!
//! Checked: no panic; every `feed` consumes at most its input and all of
//! it when it returns `Ok(None)`; the bytes buffered never exceed the
//! limit (+1 while inflating, +125 for a split control frame); control payloads ≤ 125 bytes; close codes
//! valid; errors are sticky; and the streaming property: feeding the
//! stream whole or in random pieces yields the same messages, and an error
//! in one iff an error in the other.

use wavecast_ws::{valid_close_code, Decoder, DeflateParams, Message, WsError};

fn decoder(config: u8) -> (Decoder, usize) {
    let limit = 64usize << ((config >> 2) % 11);
    let mut dec = Decoder::new(limit);
    if config & 1 != 0 {
        let params = DeflateParams {
            client_no_context_takeover: config & 2 != 0,
            ..DeflateParams::default()
        };
        dec = dec.with_deflate(&params);
    }
    (dec, limit)
}

fn check(msg: &Message) {
    match msg {
        Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= 125),
        Message::Close(Some((code, reason))) => {
            assert!(valid_close_code(*code));
            assert!(reason.len() <= 123);
        }
        _ => {}
    }
}

/// Decodes `stream` cut into pieces of the sizes `pieces` yields.
fn run(
    config: u8,
    stream: &[u8],
    mut pieces: impl Iterator<Item = usize>,
) -> (Vec<Message>, Option<WsError>) {
    let (mut dec, limit) = decoder(config);
    let mut buf = stream.to_vec();
    let mut msgs = Vec::new();
    let mut start = 0;
    while start < buf.len() {
        let end = (start + pieces.next().unwrap_or(buf.len())).min(buf.len());
        let mut at = start;
        loop {
            let (n, r) = dec.feed(&mut buf[at..end]);
            assert!(n <= end - at);
            at += n;
            // A data message's bytes (limit, +1 while inflating) plus at
            // most one split control frame (125 bytes, not counted in the
            // message limit).
            assert!(dec.buffered_len() <= limit + 1 + 125);
            match r {
                Ok(Some(m)) => {
                    check(&m);
                    msgs.push(m);
                }
                Ok(None) => {
                    assert_eq!(at, end);
                    break;
                }
                Err(e) => {
                    assert_eq!(dec.feed(&mut [0x81, 0x80]).1, Err(e), "sticky");
                    assert!(dec.is_idle());
                    return (msgs, Some(e));
                }
            }
        }
        start = end;
    }
    (msgs, None)
}

/// Runs every check on one fuzz input.
pub fn check_input(data: &[u8]) {
    let [config, s0, s1, stream @ ..] = data else {
        return;
    };
    let whole = run(*config, stream, std::iter::empty());
    let mut state = u32::from(u16::from_le_bytes([*s0, *s1])) | 1;
    let pieces = std::iter::from_fn(move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        Some(1 + ((state >> 16) % 64) as usize)
    });
    let split = run(*config, stream, pieces);
    assert_eq!(whole.0, split.0, "messages differ between whole and split");
    assert_eq!(
        whole.1.is_some(),
        split.1.is_some(),
        "{:?} vs {:?}",
        whole.1,
        split.1
    );
}
