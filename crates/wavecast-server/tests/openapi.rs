//! The OpenAPI document: `docs/openapi.json` is the generated document of
//! the default configuration (this test fails when it is stale; run it
//! with `WAVECAST_BLESS=1` to rewrite it), the server serves it at
//! `/api/openapi.json`, every documented operation is routed, every error
//! answer is in the protocol's error shape, and real answers have the
//! documented fields.

use wavecast_testkit as common;

use std::path::PathBuf;

use common::TestServer;
use serde_json::{json, Value};
use wavecast_server::http::openapi_json;
use wavecast_server::Config;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn the_committed_document_is_up_to_date() {
    let generated = openapi_json(&Config::default());
    let path = committed_path();
    if std::env::var_os("WAVECAST_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: regenerate it with\n  WAVECAST_BLESS=1 cargo test -p wavecast-server --test openapi"
    );
    let doc: Value = serde_json::from_str(&generated).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
}

/// The schema a response refers to, resolved.
fn schema_of<'a>(doc: &'a Value, response: &'a Value) -> Option<&'a Value> {
    let content = response["content"].as_object()?.values().next()?;
    let r = content["schema"]["$ref"].as_str()?;
    let name = r.rsplit('/').next()?;
    doc["components"]["schemas"].get(name)
}

#[test]
fn every_error_answer_is_in_the_error_shape() {
    let doc: Value = serde_json::from_str(&openapi_json(&Config::default())).expect("JSON");
    let mut errors = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            for (status, response) in op["responses"].as_object().expect("responses") {
                let code: u16 = status.parse().expect("status");
                if code < 400 || (path == "/ready" && code == 503) {
                    continue;
                }
                errors += 1;
                let schema = schema_of(&doc, response)
                    .unwrap_or_else(|| panic!("{method} {path} {status}: no schema"));
                let props = &schema["properties"];
                for field in ["type", "code", "error", "recoverable", "help", "timestamp"] {
                    assert!(
                        props.get(field).is_some() || schema["allOf"].is_array(),
                        "{method} {path} {status}: no {field:?}"
                    );
                }
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status}: undescribed"
                );
            }
        }
    }
    assert!(errors > 40, "{errors} error answers documented");
    let codes = &doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"];
    assert!(codes
        .as_array()
        .is_some_and(|c| c.contains(&json!("invalid_channel"))));
}

/// A concrete request path for a documented one.
fn concrete(path: &str) -> String {
    path.replace("{channel}", "news")
        .replace("{file}", "nothing.txt")
}

#[tokio::test]
async fn the_server_serves_the_document_and_routes_every_operation() {
    let srv = TestServer::start("").await;
    let (status, served) = srv.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    let generated: Value = serde_json::from_str(&openapi_json(&srv.state.config)).expect("JSON");
    assert_eq!(served, generated);
    for (path, item) in served["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            let (status, body) = srv
                .request(
                    &method.to_uppercase(),
                    &concrete(path),
                    Some("{}".to_string()),
                    &[("content-type", "application/json")],
                )
                .await;
            let fallback = body["error"] == "no such route"
                || body["error"] == "this route does not take that method";
            assert!(
                !fallback || path == "/{file}",
                "{method} {path} is documented but not routed: {status} {body}"
            );
            let documented = &item[method]["responses"];
            assert!(
                documented.get(status.to_string()).is_some(),
                "{method} {path} answered {status}, which is not documented: {body}"
            );
        }
    }
}

/// Checks that `answer` has the fields of the schema of `path`'s `status`
/// answer: nothing undocumented, nothing required missing.
fn assert_matches(doc: &Value, method: &str, path: &str, status: u16, answer: &Value) {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    let schema = schema_of(doc, response)
        .unwrap_or_else(|| panic!("{method} {path} {status} is not documented"));
    let props = schema["properties"].as_object().expect("properties");
    let fields = answer.as_object().expect("an object answer");
    for k in fields.keys() {
        assert!(
            props.contains_key(k),
            "{method} {path} {status}: {k:?} is undocumented in {answer}"
        );
    }
    for r in schema["required"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap_or_default();
        assert!(
            fields.contains_key(r),
            "{method} {path} {status}: {r:?} missing from {answer}"
        );
    }
}

#[tokio::test]
async fn real_answers_have_the_documented_fields() {
    let srv = TestServer::start("").await;
    let doc: Value = serde_json::from_str(&openapi_json(&srv.state.config)).expect("JSON");
    let mut c = srv.client().await;
    c.call(json!({"type":"subscribe","channels":["news"]}))
        .await;
    let id = c.connection_id.clone();
    let posts = [
        (
            "/api/publish",
            json!({"channel":"news","data":{"a":1}}),
            200,
        ),
        ("/api/publish", json!({"channel":"a b","data":1}), 400),
        (
            "/api/broadcast",
            json!({"channels":["news","other"],"data":1}),
            200,
        ),
        ("/api/send", json!({"connection_id": id, "data":"hi"}), 200),
        (
            "/api/send",
            json!({"connection_id": "nope", "data":"hi"}),
            404,
        ),
        (
            "/api/ws/subscribe",
            json!({"connection_id": id, "rooms":["r1"]}),
            200,
        ),
        ("/api/ws/subscribe", json!({"rooms":["r1"]}), 200),
        (
            "/api/ws/unsubscribe",
            json!({"connection_id": id, "rooms":["r1"]}),
            200,
        ),
        ("/api/disconnect", json!({"connection_id": id}), 200),
    ];
    for (path, body, want) in posts {
        let (status, answer) = srv.post(path, body.clone()).await;
        assert_eq!(status, want, "{path} {body}: {answer}");
        assert_matches(&doc, "post", path, status, &answer);
    }
    let gets = [
        ("/api/history/news", "/api/history/{channel}"),
        ("/api/ws/stats", "/api/ws/stats"),
        ("/api/ws/streams", "/api/ws/streams"),
        ("/health", "/health"),
        ("/ready", "/ready"),
        ("/ws/config", "/ws/config"),
    ];
    for (path, documented) in gets {
        let (status, answer) = srv.get(path).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_matches(&doc, "get", documented, status, &answer);
    }
    let (_, page) = srv.get("/api/history/news").await;
    let schema = &doc["components"]["schemas"]["StoredPublication"]["properties"];
    for k in page["publications"][0]
        .as_object()
        .expect("a publication")
        .keys()
    {
        assert!(
            schema.get(k).is_some(),
            "publication field {k:?} undocumented"
        );
    }
}
