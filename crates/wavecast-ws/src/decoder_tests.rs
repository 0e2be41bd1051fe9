//! Unit tests of the decoder: every error with its close code, the three
//! length encodings, fragmentation with control frames inside, UTF-8 split
//! across fragments, the streaming property (any split of the input gives
//! the same messages), size limits, permessage-deflate, and a seeded
//! random property test.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

use crate::testutil::{client_deflate, client_frame, frame, LenForm};
use crate::{Decoder, DeflateParams, Message, WsError};

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONT: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xa;

/// Feeds `input` in pieces cut at `cuts` (sorted offsets), draining each
/// piece fully; returns the messages and the first error.
fn decode_cut(dec: &mut Decoder, input: &[u8], cuts: &[usize]) -> (Vec<Message>, Option<WsError>) {
    let mut buf = input.to_vec();
    let mut msgs = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        let piece = &mut buf[start..end];
        let mut off = 0;
        loop {
            let (n, r) = dec.feed(&mut piece[off..]);
            off += n;
            assert!(off <= piece.len());
            match r {
                Ok(Some(m)) => msgs.push(m),
                Ok(None) => {
                    assert_eq!(off, piece.len(), "Ok(None) must consume everything");
                    break;
                }
                Err(e) => return (msgs, Some(e)),
            }
        }
        start = end;
    }
    (msgs, None)
}

fn decode(dec: &mut Decoder, input: &[u8]) -> (Vec<Message>, Option<WsError>) {
    decode_cut(dec, input, &[])
}

fn decode_new(input: &[u8]) -> (Vec<Message>, Option<WsError>) {
    decode(&mut Decoder::new(1 << 20), input)
}

fn text(s: &str) -> Message {
    Message::Text(s.to_owned())
}

fn deflate_params(no_takeover: bool) -> DeflateParams {
    DeflateParams {
        client_no_context_takeover: no_takeover,
        ..DeflateParams::default()
    }
}

#[test]
fn decoder_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<Decoder>();
}

#[test]
fn no_limit_does_not_overflow() {
    let z = client_deflate(b"unlimited");
    let mut dec = Decoder::new(usize::MAX).with_deflate(&deflate_params(true));
    assert_eq!(
        decode(&mut dec, &frame(FIN | RSV1 | TEXT, &z)),
        (vec![text("unlimited")], None)
    );
    let mut dec = Decoder::new(usize::MAX);
    let input = [frame(BINARY, b"a"), frame(FIN | CONT, b"b")].concat();
    assert_eq!(
        decode(&mut dec, &input).0,
        vec![Message::Binary(Bytes::from_static(b"ab"))]
    );
}

#[test]
fn idle_decoder_is_small() {
    assert!(
        std::mem::size_of::<Decoder>() <= 64,
        "{}",
        std::mem::size_of::<Decoder>()
    );
    assert!(Decoder::default().is_idle());
}

#[test]
fn single_frames_in_all_length_forms() {
    for form in [LenForm::Minimal, LenForm::Sixteen, LenForm::SixtyFour] {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let f = client_frame(FIN | BINARY, &payload, [1, 2, 3, 4], form);
            let (msgs, err) = decode_new(&f);
            assert_eq!(err, None);
            assert_eq!(
                msgs,
                vec![Message::Binary(Bytes::from(payload))],
                "{form:?} {len}"
            );
        }
    }
    let (msgs, _) = decode_new(&client_frame(
        FIN | TEXT,
        "héllo".as_bytes(),
        [9, 8, 7, 6],
        LenForm::SixtyFour,
    ));
    assert_eq!(msgs, vec![text("héllo")]);
}

#[test]
fn control_frames() {
    let mut input = frame(FIN | PING, b"are you there");
    input.extend(frame(FIN | PONG, b""));
    input.extend(frame(FIN | CLOSE, b"\x03\xe8done"));
    let (msgs, err) = decode_new(&input);
    assert_eq!(err, None);
    assert_eq!(
        msgs,
        vec![
            Message::Ping(Bytes::from_static(b"are you there")),
            Message::Pong(Bytes::new()),
            Message::Close(Some((1000, "done".to_owned()))),
        ]
    );
    let (msgs, _) = decode_new(&frame(FIN | CLOSE, b""));
    assert_eq!(msgs, vec![Message::Close(None)]);
}

#[test]
fn frame_errors_and_their_close_codes() {
    let unmasked = vec![FIN | TEXT, 0x02, b'h', b'i'];
    let cases: Vec<(Vec<u8>, WsError, u16)> = vec![
        (unmasked, WsError::UnmaskedFrame, 1002),
        (frame(FIN | RSV1 | TEXT, b"x"), WsError::ReservedBits, 1002),
        (frame(FIN | 0x20 | TEXT, b"x"), WsError::ReservedBits, 1002),
        (
            frame(FIN | 0x10 | BINARY, b"x"),
            WsError::ReservedBits,
            1002,
        ),
        (frame(FIN | 0x3, b""), WsError::BadOpcode, 1002),
        (frame(FIN | 0xb, b""), WsError::BadOpcode, 1002),
        (frame(PING, b"x"), WsError::FragmentedControl, 1002),
        (
            frame(FIN | PING, &[0u8; 126]),
            WsError::ControlTooLong,
            1002,
        ),
        (
            client_frame(FIN | PONG, &[0u8; 126], [0; 4], LenForm::SixtyFour),
            WsError::ControlTooLong,
            1002,
        ),
        (
            frame(FIN | CONT, b"x"),
            WsError::UnexpectedContinuation,
            1002,
        ),
        (
            [frame(TEXT, b"a"), frame(FIN | TEXT, b"b")].concat(),
            WsError::ExpectedContinuation,
            1002,
        ),
        (
            [frame(BINARY, b"a"), frame(FIN | BINARY, b"b")].concat(),
            WsError::ExpectedContinuation,
            1002,
        ),
        (
            vec![FIN | BINARY, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
            WsError::LengthMsbSet,
            1002,
        ),
        (frame(FIN | TEXT, b"\xff"), WsError::InvalidUtf8, 1007),
        (frame(FIN | CLOSE, b"\x03"), WsError::BadCloseLength, 1002),
        (
            frame(FIN | CLOSE, b"\x03\xe8\xc3"),
            WsError::InvalidUtf8,
            1007,
        ),
    ];
    for (input, err, code) in cases {
        let (msgs, got) = decode_new(&input);
        assert_eq!(got, Some(err), "{input:02x?}");
        assert_eq!(err.close_code(), code);
        assert!(msgs.is_empty());
    }
}

#[test]
fn close_codes() {
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
    ] {
        let (_, err) = decode_new(&frame(FIN | CLOSE, &code.to_be_bytes()));
        assert_eq!(err, Some(WsError::BadCloseCode), "{code}");
    }
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
        4000, 4999,
    ] {
        let (msgs, err) = decode_new(&frame(FIN | CLOSE, &code.to_be_bytes()));
        assert_eq!(
            (msgs, err),
            (vec![Message::Close(Some((code, String::new())))], None)
        );
    }
}

#[test]
fn rsv1_rules_with_deflate() {
    let params = deflate_params(true);
    let z = client_deflate(b"hello");
    let cases = [
        [frame(TEXT, b"a"), frame(FIN | RSV1 | CONT, b"b")].concat(),
        frame(FIN | RSV1 | PING, b""),
    ];
    for input in cases {
        let mut dec = Decoder::new(1 << 20).with_deflate(&params);
        assert_eq!(decode(&mut dec, &input).1, Some(WsError::ReservedBits));
    }
    let mut dec = Decoder::new(1 << 20).with_deflate(&params);
    assert_eq!(
        decode(&mut dec, &frame(FIN | RSV1 | TEXT, &z)),
        (vec![text("hello")], None)
    );
    // Without negotiation the same frame is a protocol error.
    assert_eq!(
        decode_new(&frame(FIN | RSV1 | TEXT, &z)).1,
        Some(WsError::ReservedBits)
    );
}

#[test]
fn fragments_with_control_frames_inside() {
    let input = [
        frame(TEXT, b"Hel"),
        frame(FIN | PING, b"p1"),
        frame(CONT, b""),
        frame(FIN | PONG, b"p2"),
        frame(FIN | CONT, b"lo"),
        frame(FIN | BINARY, b"\x00\x01"),
    ]
    .concat();
    let (msgs, err) = decode_new(&input);
    assert_eq!(err, None);
    assert_eq!(
        msgs,
        vec![
            Message::Ping(Bytes::from_static(b"p1")),
            Message::Pong(Bytes::from_static(b"p2")),
            text("Hello"),
            Message::Binary(Bytes::from_static(b"\x00\x01")),
        ]
    );
}

#[test]
fn utf8_split_across_fragments() {
    // "€" = E2 82 AC split over three frames.
    let ok = [
        frame(TEXT, b"a\xe2"),
        frame(CONT, b"\x82"),
        frame(FIN | CONT, b"\xacz"),
    ]
    .concat();
    assert_eq!(decode_new(&ok), (vec![text("a€z")], None));
    // Truncated at the end of the message.
    let short = [frame(TEXT, b"a\xe2"), frame(FIN | CONT, b"\x82")].concat();
    assert_eq!(decode_new(&short).1, Some(WsError::InvalidUtf8));
    // Fails fast: the first fragment is already impossible (ED A0 is a
    // surrogate), so the error comes before the message's end arrives.
    let mut dec = Decoder::new(1 << 20);
    let (msgs, err) = decode(&mut dec, &frame(TEXT, b"ok\xed\xa0"));
    assert_eq!((msgs, err), (vec![], Some(WsError::InvalidUtf8)));
    // Same when the bad byte completes a sequence begun in an earlier frame.
    let mut dec = Decoder::new(1 << 20);
    let (_, err) = decode(
        &mut dec,
        &[frame(TEXT, b"\xf4"), frame(CONT, b"\x90")].concat(),
    );
    assert_eq!(err, Some(WsError::InvalidUtf8));
    // And within one frame split across reads, before the frame ends.
    let f = frame(FIN | TEXT, b"abc\xc0def");
    let mut dec = Decoder::new(1 << 20);
    let (_, err) = decode(&mut dec, &f[..6 + 4]);
    assert_eq!(err, Some(WsError::InvalidUtf8));
}

/// A mixed stream used by the split tests.
fn sample_stream() -> (Vec<u8>, Vec<Message>) {
    let big: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    let input = [
        frame(FIN | TEXT, "κόσμε".as_bytes()),
        frame(BINARY, &big[..130]),
        frame(FIN | PING, b"ping"),
        frame(FIN | CONT, &big[130..]),
        client_frame(
            FIN | TEXT,
            "€uro".as_bytes(),
            [0xff, 0, 0xaa, 0x55],
            LenForm::SixtyFour,
        ),
        frame(TEXT, b""),
        frame(FIN | CONT, "😀".as_bytes()),
        frame(FIN | CLOSE, b"\x0f\xa0bye"),
    ]
    .concat();
    let expected = vec![
        text("κόσμε"),
        Message::Ping(Bytes::from_static(b"ping")),
        Message::Binary(Bytes::from(big)),
        text("€uro"),
        text("😀"),
        Message::Close(Some((4000, "bye".to_owned()))),
    ];
    (input, expected)
}

#[test]
fn streaming_every_split_point_and_byte_by_byte() {
    let (input, expected) = sample_stream();
    for cut in 0..=input.len() {
        let mut dec = Decoder::new(1 << 20);
        assert_eq!(
            decode_cut(&mut dec, &input, &[cut]),
            (expected.clone(), None),
            "cut {cut}"
        );
    }
    for (a, b) in [(1, 2), (3, 17), (15, 16), (200, 330)] {
        let mut dec = Decoder::new(1 << 20);
        assert_eq!(decode_cut(&mut dec, &input, &[a, b]).0, expected);
    }
    let every: Vec<usize> = (1..input.len()).collect();
    let mut dec = Decoder::new(1 << 20);
    assert_eq!(decode_cut(&mut dec, &input, &every), (expected, None));
}

#[test]
fn feed_returns_after_each_message() {
    let input = [frame(FIN | TEXT, b"one"), frame(FIN | TEXT, b"two")].concat();
    let mut buf = input.clone();
    let mut dec = Decoder::new(1 << 20);
    let (n, r) = dec.feed(&mut buf);
    assert_eq!((n, r), (9, Ok(Some(text("one")))));
    let (n, r) = dec.feed(&mut buf[9..]);
    assert_eq!((n, r), (9, Ok(Some(text("two")))));
    assert_eq!(dec.feed(&mut []), (0, Ok(None)));
    assert!(dec.is_idle());
}

#[test]
fn idle_after_split_message_and_split_control() {
    let input = [
        frame(TEXT, b"abc"),
        frame(FIN | CONT, b"def"),
        frame(FIN | PING, b"12345"),
    ]
    .concat();
    let mut dec = Decoder::new(1 << 20);
    let (msgs, _) = decode_cut(&mut dec, &input, &[4, 12, 20]);
    assert_eq!(msgs.len(), 2);
    assert!(dec.is_idle());
    assert_eq!(dec.buffered_len(), 0);
}

#[test]
fn errors_are_sticky_and_close_ends_the_stream() {
    let mut dec = Decoder::new(1 << 20);
    assert_eq!(
        decode(&mut dec, &frame(FIN | 0x3, b"")).1,
        Some(WsError::BadOpcode)
    );
    assert_eq!(
        decode(&mut dec, &frame(FIN | TEXT, b"ok")).1,
        Some(WsError::BadOpcode)
    );
    assert!(dec.is_idle());
    let input = [
        frame(TEXT, b"part"),
        frame(FIN | CLOSE, b""),
        frame(FIN | TEXT, b"late"),
    ]
    .concat();
    let mut dec = Decoder::new(1 << 20);
    assert_eq!(decode(&mut dec, &input), (vec![Message::Close(None)], None));
    assert!(dec.is_closed() && dec.is_idle());
}

#[test]
fn too_big_single_frame_is_refused_on_its_header() {
    let f = frame(FIN | BINARY, &[0u8; 101]);
    let mut buf = f.clone();
    let mut dec = Decoder::new(100);
    let (n, r) = dec.feed(&mut buf);
    assert_eq!(r, Err(WsError::MessageTooBig));
    assert_eq!(WsError::MessageTooBig.close_code(), 1009);
    assert_eq!(n, 2 + 4, "the payload is not consumed");
    // A header claiming 2^62 bytes is refused without waiting for them.
    let mut huge = vec![FIN | BINARY, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(
        Decoder::new(1 << 20).feed(&mut huge).1,
        Err(WsError::MessageTooBig)
    );
    // Exactly at the limit is fine.
    assert_eq!(
        decode(&mut Decoder::new(100), &frame(FIN | BINARY, &[0u8; 100])).1,
        None
    );
}

#[test]
fn too_big_across_fragments_is_refused_before_buffering() {
    let chunk = vec![b'x'; 1000];
    let two = [frame(TEXT, &chunk), frame(CONT, &chunk)].concat();
    let mut third = frame(FIN | CONT, &chunk);
    let mut dec = Decoder::new(2500);
    let (msgs, err) = decode_cut(&mut dec, &two, &[700, 1400]);
    assert_eq!((msgs, err), (vec![], None));
    assert_eq!(dec.buffered_len(), 2000);
    let (n, r) = dec.feed(&mut third);
    assert_eq!(r, Err(WsError::MessageTooBig));
    assert_eq!(
        n, 8,
        "stopped right after the third header, payload not taken"
    );
    assert!(dec.is_idle(), "the partial message is freed");
}

#[test]
fn deflate_round_trip_single_and_fragmented() {
    let msg = r#"{"type":"subscribe","channels":["a.b","c.d","e.f"],"since":12345}"#.repeat(20);
    let z = client_deflate(msg.as_bytes());
    assert!(z.len() < msg.len() / 4);
    let whole = frame(FIN | RSV1 | TEXT, &z);
    let (a, b) = z.split_at(z.len() / 2);
    let frags = [
        frame(RSV1 | TEXT, a),
        frame(FIN | PING, b""),
        frame(FIN | CONT, b),
    ]
    .concat();
    for no_takeover in [true, false] {
        let params = deflate_params(no_takeover);
        let mut dec = Decoder::new(1 << 20).with_deflate(&params);
        assert_eq!(decode(&mut dec, &whole), (vec![text(&msg)], None));
        assert_eq!(
            dec.is_idle(),
            no_takeover,
            "inflate state kept only with takeover"
        );
        for cut in (0..frags.len()).step_by(7) {
            let mut dec = Decoder::new(1 << 20).with_deflate(&params);
            let (msgs, err) = decode_cut(&mut dec, &frags, &[cut]);
            assert_eq!(err, None);
            assert_eq!(msgs.last(), Some(&text(&msg)), "cut {cut}");
        }
    }
    // An uncompressed message on a deflate connection still works.
    let mut dec = Decoder::new(1 << 20).with_deflate(&deflate_params(true));
    assert_eq!(
        decode(&mut dec, &frame(FIN | BINARY, b"raw")).0,
        vec![Message::Binary(Bytes::from_static(b"raw"))]
    );
}

#[test]
fn deflate_with_context_takeover() {
    // The client keeps its compressor between messages: the second message
    // refers back into the first, so the server must keep its inflater.
    let mut c = Compress::new(Compression::default(), false);
    let msgs = [
        "the quick brown fox jumps over the lazy dog",
        "the quick brown fox jumps again",
        "x",
    ];
    let mut input = Vec::new();
    for m in msgs {
        let mut out = Vec::with_capacity(256);
        let at = c.total_out();
        c.compress_vec(m.as_bytes(), &mut out, FlushCompress::Sync)
            .unwrap();
        assert_eq!(c.total_out() - at, out.len() as u64);
        out.truncate(out.len() - 4);
        input.extend(frame(FIN | RSV1 | TEXT, &out));
    }
    let mut dec = Decoder::new(1 << 20).with_deflate(&deflate_params(false));
    let expected: Vec<Message> = msgs.iter().map(|m| text(m)).collect();
    assert_eq!(decode(&mut dec, &input), (expected, None));
}

#[test]
fn deflate_bomb_is_refused_before_it_is_inflated() {
    // 10 MB of zeros compress to ~10 KB.
    let bomb = client_deflate(&vec![0u8; 10 << 20]);
    assert!(bomb.len() < 20_000);
    let limit = 64 * 1024;
    let mut dec = Decoder::new(limit).with_deflate(&deflate_params(true));
    let mut buf = frame(FIN | RSV1 | BINARY, &bomb);
    let mut off = 0;
    let mut peak = 0;
    let err = loop {
        let end = (off + 512).min(buf.len());
        let (n, r) = dec.feed(&mut buf[off..end]);
        off += n;
        peak = peak.max(dec.buffered_len());
        match r {
            Err(e) => break e,
            Ok(_) if off == buf.len() => panic!("bomb accepted"),
            Ok(_) => {}
        }
    };
    assert_eq!(err, WsError::MessageTooBig);
    assert!(peak <= limit + 1, "peak {peak}");
    assert!(off < buf.len() / 2, "refused early: {off} of {}", buf.len());
    assert!(dec.is_idle());
}

#[test]
fn corrupt_deflate_data_is_1007() {
    let mut dec = Decoder::new(1 << 20).with_deflate(&deflate_params(true));
    // BTYPE = 11 (reserved) is invalid deflate.
    let (_, err) = decode(&mut dec, &frame(FIN | RSV1 | BINARY, &[0x07, 0x00]));
    assert_eq!(err, Some(WsError::BadCompressedData));
    assert_eq!(WsError::BadCompressedData.close_code(), 1007);
}

#[test]
fn compressed_invalid_utf8_is_1007() {
    let z = client_deflate(b"valid then \xed\xa0\x80 not");
    let mut dec = Decoder::new(1 << 20).with_deflate(&deflate_params(true));
    assert_eq!(
        decode(&mut dec, &frame(FIN | RSV1 | TEXT, &z)).1,
        Some(WsError::InvalidUtf8)
    );
}

/// One random valid message, its frames and the message it decodes to.
fn random_message(rng: &mut fastrand::Rng, deflate: bool) -> (Vec<u8>, Vec<Message>) {
    let masks = [rng.u8(..), rng.u8(..), rng.u8(..), rng.u8(..)];
    let form = match rng.u8(..3) {
        0 => LenForm::Minimal,
        1 => LenForm::Sixteen,
        _ => LenForm::SixtyFour,
    };
    let kind = rng.u8(..10);
    if kind < 2 {
        let payload: Vec<u8> = (0..rng.usize(..=125)).map(|_| rng.u8(..)).collect();
        let op = if kind == 0 { PING } else { PONG };
        let msg = if kind == 0 {
            Message::Ping(Bytes::from(payload.clone()))
        } else {
            Message::Pong(Bytes::from(payload.clone()))
        };
        return (client_frame(FIN | op, &payload, masks, form), vec![msg]);
    }
    let is_text = rng.bool();
    let len = if rng.u8(..8) == 0 {
        rng.usize(..70_000)
    } else {
        rng.usize(..300)
    };
    let (data, msg) = if is_text {
        let s: String = (0..len / 3)
            .map(|_| rng.choice(['a', 'é', '€', '😀', ' ', '{']).unwrap_or('a'))
            .collect();
        (s.clone().into_bytes(), Message::Text(s))
    } else {
        let b: Vec<u8> = (0..len).map(|_| rng.u8(..4)).collect();
        (b.clone(), Message::Binary(Bytes::from(b)))
    };
    let compressed = deflate && rng.bool();
    let wire = if compressed {
        client_deflate(&data)
    } else {
        data
    };
    let nfrags = rng.usize(1..=4).min(wire.len().max(1));
    let mut cuts: Vec<usize> = (1..nfrags).map(|_| rng.usize(..=wire.len())).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut controls = Vec::new();
    let mut start = 0;
    for (i, end) in cuts
        .iter()
        .copied()
        .chain(std::iter::once(wire.len()))
        .enumerate()
    {
        let op = if i == 0 {
            if is_text {
                TEXT
            } else {
                BINARY
            }
        } else {
            CONT
        };
        let fin = if end == wire.len() && i == nfrags - 1 {
            FIN
        } else {
            0
        };
        let rsv = if i == 0 && compressed { RSV1 } else { 0 };
        out.extend(client_frame(fin | rsv | op, &wire[start..end], masks, form));
        if fin == 0 && rng.u8(..3) == 0 {
            let p = vec![b'c'; rng.usize(..=125)];
            out.extend(client_frame(FIN | PING, &p, masks, LenForm::Minimal));
            controls.push(Message::Ping(Bytes::from(p)));
        }
        start = end;
    }
    controls.push(msg);
    (out, controls)
}

#[test]
fn random_sequences_at_random_splits() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_cafe);
    for round in 0..300 {
        let deflate = round % 2 == 0;
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..rng.usize(1..8) {
            let (bytes, msgs) = random_message(&mut rng, deflate);
            input.extend(bytes);
            expected.extend(msgs);
        }
        let mut cuts: Vec<usize> = (0..rng.usize(..12))
            .map(|_| rng.usize(..=input.len()))
            .collect();
        cuts.sort_unstable();
        let params = deflate_params(rng.bool());
        let mut dec = Decoder::new(1 << 20);
        if deflate {
            dec = dec.with_deflate(&params);
        }
        let got = decode_cut(&mut dec, &input, &cuts);
        assert!(
            got == (expected, None),
            "round {round} cuts {cuts:?}: {:?}",
            got.1
        );
    }
}
