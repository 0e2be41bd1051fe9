//! The checks of the protocol crate's fuzz targets, shared with the crate's
//! `tests/fuzz_corpus.rs` (which replays the committed corpus on stable
//! Rust, so `.ci/run` keeps them tested without a fuzzer).
//!
//! Every check takes arbitrary bytes and must never panic except on a
//! broken property:
//! - [`client_message`]: the bytes as one text frame of the channel
//!   protocol. A frame that parses re-encodes (`to_json`) to a frame that
//!   parses to the same message, and `to_json` equals `to_value`; a refused
//!   frame has a stable code and a message.
//! - [`channel`]: the bytes as a channel name. `validate_channel` accepts
//!   exactly 1–255 bytes of the documented charset; the namespace is a
//!   prefix before a `:` (or `default`); a subscribe naming the channel is
//!   accepted iff the name is.
//! - [`dialects`]: byte 0 picks the dialect (bits 0–2) and the format
//!   (bit 3: MessagePack), the rest is the frame. Every dialect's decoder
//!   reads it without panicking; MessagePack that decodes re-encodes to the
//!   same value; `json::depth` agrees with the parsed value's depth; data
//!   that is valid JSON (within `MAX_DATA_DEPTH`) is served in every
//!   dialect as valid JSON.

#![allow(dead_code)]

use serde_json::{json, Value};
use wavecast_protocol::channel::{is_channel_byte, namespace_of, validate_channel};
use wavecast_protocol::dialect::Dialect;
use wavecast_protocol::to_server::{parse_client_message, parse_request, ParseError};
use wavecast_protocol::{json as rawjson, msgpack, Publication};

fn check_error(e: &ParseError) {
    assert!(!e.code.as_str().is_empty());
    assert!(!e.message.is_empty(), "{e:?}");
}

/// One text frame of the channel protocol.
pub fn client_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_client_message(text) {
        Ok(msg) => {
            let again = msg.to_json();
            let value: Value = serde_json::from_str(&again).expect("to_json is JSON");
            assert_eq!(value, msg.to_value(), "to_json and to_value differ");
            let reparsed = parse_client_message(&again)
                .unwrap_or_else(|e| panic!("{again} (from {text}) does not parse: {e:?}"));
            assert_eq!(reparsed, msg, "{text} -> {again}");
        }
        Err(e) => check_error(&e),
    }
}

/// One channel name.
pub fn channel(data: &[u8]) {
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    let valid = !name.is_empty() && name.len() <= 255 && name.bytes().all(is_channel_byte);
    let r = validate_channel(name);
    assert_eq!(r.is_ok(), valid, "{name:?}: {r:?}");
    if let Err(e) = &r {
        assert!(!e.to_string().is_empty());
    }
    let ns = namespace_of(name);
    assert!(!ns.is_empty());
    if ns != "default" || name.starts_with("default:") {
        assert!(name.starts_with(ns), "{name:?} -> {ns:?}");
        assert_eq!(name.as_bytes().get(ns.len()), Some(&b':'), "{name:?}");
        assert!(!ns.contains(':'));
    }
    let sub = json!({"type": "subscribe", "channel": name}).to_string();
    let parsed = parse_client_message(&sub);
    assert_eq!(parsed.is_ok(), valid, "{sub}: {parsed:?}");
}

/// Depth of arrays and objects in a parsed value (0 for a scalar).
fn value_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(value_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// One frame in the dialect and format named by byte 0.
pub fn dialects(data: &[u8]) {
    let Some((&config, frame)) = data.split_first() else {
        return;
    };
    let dialect = Dialect::ALL[usize::from(config & 7) % Dialect::ALL.len()];
    if config & 8 != 0 {
        if let Ok(v) = msgpack::decode(frame) {
            let again = msgpack::decode(&msgpack::encode(&v)).expect("re-encoded msgpack decodes");
            assert_eq!(again, v);
            read_value(dialect, v);
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(frame) else {
        return;
    };
    match dialect.parse_text(text) {
        Ok(env) => {
            assert_eq!(env.kind, env.kind.to_ascii_lowercase());
            if let Err(e) = parse_request(env) {
                check_error(&e);
            }
        }
        Err(e) => check_error(&e),
    }
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let depth = value_depth(&v);
        assert_eq!(rawjson::depth(frame), depth, "{text}");
        // The server refuses data nested deeper than this on every path.
        if depth <= rawjson::MAX_DATA_DEPTH {
            serve(dialect, frame, &v);
        }
    }
}

fn read_value(dialect: Dialect, v: Value) {
    match dialect.envelope(v) {
        Ok(env) => {
            if let Err(e) = parse_request(env) {
                check_error(&e);
            }
        }
        Err(e) => check_error(&e),
    }
}

/// Valid JSON `data` as a publication in `dialect`: the frame is JSON and
/// (in the native dialect) carries the data unchanged.
fn serve(dialect: Dialect, raw: &[u8], data: &Value) {
    let p = Publication {
        channel: "fuzz:c".into(),
        event: "publication".into(),
        data: bytes::Bytes::copy_from_slice(raw),
        offset: 7,
        ts_ms: 1_700_000_000_000,
    };
    let text = dialect.publication_text(&p);
    let frame: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{dialect:?} frame is not JSON ({e}): {text}"));
    assert_eq!(frame, dialect.publication(&p), "{dialect:?}");
    if dialect == Dialect::Wavecast {
        assert_eq!(&frame["data"], data, "{text}");
    }
}
