//! Each dialect's shapes, from the seed documents' own examples.

use serde_json::{json, Value};

use super::Dialect;
use crate::to_client::{error_fields, fields};
use crate::to_server::RequestId;
use crate::{ErrorCode, Publication};

fn publication(channel: &str, event: &str, data: Value, offset: u64) -> Publication {
    Publication {
        channel: channel.into(),
        event: event.into(),
        data: bytes::Bytes::from(data.to_string()),
        offset,
        ts_ms: 1_761_129_000_000,
    }
}

#[test]
fn every_dialect_accepts_any_case_and_native_fields() {
    for d in Dialect::ALL {
        let env = d
            .parse_text(r#"{"type":"SUBSCRIBE","rooms":["nodes"],"correlation_id":"c"}"#)
            .unwrap();
        assert_eq!(env.kind, "subscribe", "{d}");
        assert_eq!(env.fields["rooms"], json!(["nodes"]));
        assert_eq!(env.id.unwrap().value, json!("c"));
    }
}

#[test]
fn netra_payloads_and_errors() {
    // Netra's provider sends {type, payload: {content, correlation_id}}.
    let env = Dialect::Netra
        .parse_text(r#"{"type":"user_message","payload":{"content":"hi","correlation_id":"k1"},"timestamp":1640995200}"#)
        .unwrap();
    assert_eq!(env.kind, "user_message");
    assert_eq!(env.fields["content"], "hi");
    assert_eq!(env.id.unwrap().value, json!("k1"));
    let id = RequestId {
        key: "correlation_id",
        value: json!("k1"),
    };
    let e = Dialect::Netra.control(
        "error",
        error_fields(ErrorCode::RateLimited, "slow down"),
        Some(&id),
        false,
    );
    assert_eq!(e["type"], "error");
    assert_eq!(e["payload"]["code"], "rate_limited");
    assert_eq!(e["payload"]["error"], "slow down");
    assert_eq!(e["payload"]["recoverable"], true);
    assert!(e["payload"]["help"].is_string());
    assert!(e["payload"]["timestamp"].is_u64(), "{e}");
    assert!(e["timestamp"].is_u64());
    assert_eq!(e["correlation_id"], "k1");
    let hello = Dialect::Netra.control(
        "connection_established",
        fields([("connection_id", json!("x"))]),
        None,
        false,
    );
    assert_eq!(hello["payload"]["connection_id"], "x");
}

#[test]
fn fog_rooms_envelopes_and_priority() {
    // A monitoring publisher's envelope comes out as the seed shows it.
    let alert = publication(
        "alerts",
        "alert",
        json!({"type":"alert","data":{"type":"threshold_exceeded","metric":"cpu_usage","value":95.0,"threshold":90.0,"severity":"critical"},"priority":"critical","timestamp":"2025-10-22T10:30:00Z"}),
        7,
    );
    let v = Dialect::Fog.publication(&alert);
    assert_eq!(v["type"], "alert");
    assert_eq!(v["room"], "alerts");
    assert_eq!(v["priority"], "critical");
    assert_eq!(v["data"]["type"], "threshold_exceeded");
    assert_eq!(v["timestamp"], "2025-10-22T10:30:00Z");
    assert_eq!(v["offset"], 7);
    // Plain data gets the seed's envelope around it.
    let plain = publication(
        "nodes",
        "node_status_update",
        json!({"betanet":{"active_nodes":5}}),
        0,
    );
    let v = Dialect::Fog.publication(&plain);
    assert_eq!(
        (v["type"].clone(), v["room"].clone()),
        (json!("node_status_update"), json!("nodes"))
    );
    assert_eq!(v["data"]["betanet"]["active_nodes"], 5);
    assert!(v.get("offset").is_none());
    assert_eq!(Dialect::Fog.keepalive_kind(), "ping");
}

#[test]
fn native_dialects_keep_the_native_text() {
    let p = publication("tokens", "token_created", json!({"token_id":123}), 2);
    for d in [Dialect::Wavecast, Dialect::NeuroGraph, Dialect::Mfn] {
        assert_eq!(d.publication_text(&p), p.json_text());
        let v: Value = serde_json::from_str(&d.publication_text(&p)).unwrap();
        assert_eq!(v, d.publication(&p));
    }
    let pong =
        Dialect::NeuroGraph.control_text("pong", fields([("timestamp", json!("t"))]), None, false);
    assert_eq!(pong, r#"{"type":"pong","timestamp":"t"}"#);
}

#[test]
fn mfn_answers_in_the_clients_case() {
    let text = Dialect::Mfn.control_text(
        "subscribe_success",
        fields([("stream_id", json!("s"))]),
        None,
        true,
    );
    assert!(text.starts_with(r#"{"type":"SUBSCRIBE_SUCCESS""#), "{text}");
    let text = Dialect::Mfn.control_text("subscribe_success", fields([]), None, false);
    assert_eq!(text, r#"{"type":"subscribe_success"}"#);
}

#[test]
fn json_and_value_agree_for_every_dialect() {
    let p = publication("c", "e", json!({"a":[1,{"b":null}]}), 9);
    for d in Dialect::ALL {
        let text: Value = serde_json::from_str(&d.publication_text(&p)).unwrap();
        assert_eq!(text, d.publication(&p), "{d}");
        let f = || fields([("x", json!(1))]);
        let text: Value = serde_json::from_str(&d.control_text("k", f(), None, false)).unwrap();
        let mut value = d.control("k", f(), None, false);
        if d == Dialect::Netra {
            // Both carry the time of encoding.
            value["timestamp"] = text["timestamp"].clone();
        }
        assert_eq!(text, value, "{d}");
    }
}

#[test]
fn names() {
    for d in Dialect::ALL {
        assert_eq!(d.as_str().parse::<Dialect>().unwrap(), d);
    }
    assert_eq!("wavecast.v1".parse::<Dialect>().unwrap(), Dialect::Wavecast);
    assert!("soap".parse::<Dialect>().is_err());
}
