//! Authentication, authorization, origins and limits, over real sockets:
//! every credential branch, every limit tripping with its code.

use wavecast_testkit as common;

use std::time::{Duration, Instant};

use common::{Event, TestServer, WsClient};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use wavecast_protocol::time::now_millis;
use wavecast_server::auth::signature::sign;

const SECRET: &str = "jwt-test-secret";

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn now_s() -> u64 {
    now_millis() / 1000
}

fn hs256(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encode")
}

fn signed_with(alg: Algorithm, pem: &str, kid: Option<&str>, claims: Value) -> String {
    let pem = std::fs::read(fixture(pem)).expect("fixture");
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_ed_pem(&pem),
    }
    .expect("key");
    let mut h = Header::new(alg);
    h.kid = kid.map(String::from);
    encode(&h, &claims, &key).expect("encode")
}

fn b64(v: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

fn claims(sub: &str, ttl: i64) -> Value {
    json!({"sub": sub, "exp": now_s() as i64 + ttl})
}

fn jwt_config(extra: &str) -> String {
    format!("[auth]\nrequire_auth = true\njwt_secret = \"{SECRET}\"\njwt_audience = \"wavecast\"\n{extra}")
}

#[tokio::test]
async fn jwt_at_upgrade_valid_and_every_invalid_kind() {
    let srv = TestServer::start(&jwt_config("")).await;
    let good = hs256(json!({"sub":"alice","aud":"wavecast","exp": now_s() + 60}));
    // Valid, by query and by header.
    let mut c = WsClient::connect(&format!("{}?token={good}", srv.ws_url())).await;
    let hello = c.recv().await;
    assert_eq!(
        (hello["type"].clone(), hello["user_id"].clone()),
        (json!("connection_established"), json!("alice"))
    );
    let auth = format!("Bearer {good}");
    let mut c = WsClient::try_connect(&srv.ws_url(), &[("authorization", &auth)])
        .await
        .expect("header token");
    assert_eq!(c.recv().await["user_id"], "alice");

    let none_token = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(json!({"sub":"eve","aud":"wavecast","exp": now_s() + 60})
            .to_string()
            .as_bytes())
    );
    let cases = [
        (
            hs256(json!({"sub":"alice","aud":"wavecast","exp": now_s() - 60})),
            "token_expired",
        ),
        (
            hs256(json!({"sub":"alice","aud":"wavecast","exp": now_s() + 60, "nbf": now_s() + 60})),
            "token_expired",
        ),
        (
            hs256(json!({"sub":"alice","aud":"other","exp": now_s() + 60})),
            "invalid_credentials",
        ),
        (
            hs256(json!({"sub":"alice","aud":"wavecast"})),
            "invalid_credentials",
        ),
        (
            encode(
                &Header::new(Algorithm::HS256),
                &json!({"sub":"x","aud":"wavecast","exp": now_s() + 60}),
                &EncodingKey::from_secret(b"wrong"),
            )
            .expect("encode"),
            "invalid_credentials",
        ),
        (none_token, "invalid_credentials"),
        ("not.a.jwt".to_string(), "invalid_credentials"),
    ];
    for (token, code) in cases {
        let (status, body) = srv
            .upgrade_attempt(&format!("/ws?token={token}"), &[])
            .await;
        assert_eq!((status, body["code"].as_str()), (401, Some(code)), "{body}");
        assert_eq!(body["type"], "error");
    }
    assert!(
        srv.metric("wavecast_auth_attempts_total{result=\"token_expired\"}")
            .await
            >= 2.0
    );
}

#[tokio::test]
async fn asymmetric_keys_jwks_and_algorithm_confusion() {
    for (alg, private, public) in [
        (Algorithm::RS256, "rsa_private.pem", "rsa_public.pem"),
        (Algorithm::ES256, "ec_private.pem", "ec_public.pem"),
        (Algorithm::EdDSA, "ed_private.pem", "ed_public.pem"),
    ] {
        let srv = TestServer::start(&format!(
            "[auth]\nrequire_auth = true\njwt_public_key_file = \"{}\"",
            fixture(public)
        ))
        .await;
        let token = signed_with(alg, private, None, claims("bob", 60));
        let mut c = WsClient::connect(&format!("{}?token={token}", srv.ws_url())).await;
        assert_eq!(c.recv().await["user_id"], "bob", "{alg:?}");
        // Algorithm confusion: an HS256 token "signed" with the public key.
        let pem = std::fs::read(fixture(public)).expect("pem");
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &claims("mallory", 60),
            &EncodingKey::from_secret(&pem),
        )
        .expect("encode");
        let (status, body) = srv
            .upgrade_attempt(&format!("/ws?token={forged}"), &[])
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_credentials")),
            "{alg:?}"
        );
    }
    let srv = TestServer::start(&format!(
        "[auth]\nrequire_auth = true\njwks_file = \"{}\"",
        fixture("jwks.json")
    ))
    .await;
    let token = signed_with(
        Algorithm::RS256,
        "rsa_private.pem",
        Some("k1"),
        claims("carol", 60),
    );
    let mut c = WsClient::connect(&format!("{}?token={token}", srv.ws_url())).await;
    assert_eq!(c.recv().await["user_id"], "carol");
    let wrong_key = signed_with(
        Algorithm::ES256,
        "ec_private.pem",
        Some("k1"),
        claims("carol", 60),
    );
    assert_eq!(
        srv.upgrade_attempt(&format!("/ws?token={wrong_key}"), &[])
            .await
            .0,
        401
    );
}

fn hmac_config() -> String {
    "[auth]\nrequire_auth = true\napi_keys = [\"key-one\"]\nauth_timeout = \"500ms\"\n[auth.keys]\nmobile = \"mobile-secret\"\n".to_string()
}

async fn unauthenticated(srv: &TestServer) -> WsClient {
    WsClient::connect(&srv.ws_url()).await
}

#[tokio::test]
async fn signed_auth_messages_replay_stale_wrong() {
    let srv = TestServer::start(&hmac_config()).await;
    let ts = now_millis();
    let good = json!({"type":"auth","api_key":"key-one","timestamp": ts,"signature": sign("key-one", ts),"id":1});

    let mut c = unauthenticated(&srv).await;
    // Nothing but init/auth/ping before auth.
    let r = c.call(json!({"type":"subscribe","channel":"a"})).await;
    assert_eq!(r["code"], "auth_required");
    let r = c.call(good.clone()).await;
    assert_eq!(r["type"], "auth_success", "{r}");
    assert_eq!(
        (r["user_id"].clone(), r["id"].clone()),
        (json!("api_key:0"), json!(1))
    );
    assert_eq!(r["connection_id"].as_str().map(str::len), Some(36));
    assert_eq!(
        c.call(json!({"type":"subscribe","channel":"a"})).await["type"],
        "subscribe_success"
    );

    // The same signed message again is a replay.
    let mut d = unauthenticated(&srv).await;
    let r = d.call(good).await;
    assert_eq!(
        (r["type"].clone(), r["code"].clone()),
        (json!("auth_failed"), json!("replay"))
    );
    // A stale timestamp and a wrong signature.
    let old = ts - 6 * 60 * 1000;
    let r = d.call(json!({"type":"auth","api_key":"key-one","timestamp": old,"signature": sign("key-one", old)})).await;
    assert_eq!(r["code"], "stale_timestamp");
    let r = d
        .call(json!({"type":"auth","api_key":"key-one","timestamp": ts + 1,"signature": sign("other", ts + 1)}))
        .await;
    assert_eq!(r["code"], "invalid_signature");
    // Third failure closes with 4001.
    assert_eq!(d.expect_close().await, Some(4001));

    // key_id form: the secret never travels; a signature is required.
    let mut e = unauthenticated(&srv).await;
    let r = e.call(json!({"type":"auth","key_id":"mobile"})).await;
    assert_eq!(r["code"], "invalid_signature");
    let r = e
        .call(json!({"type":"auth","key_id":"mobile","timestamp": ts + 2,"signature": sign("mobile-secret", ts + 2)}))
        .await;
    assert_eq!(
        (r["type"].clone(), r["user_id"].clone()),
        (json!("auth_success"), json!("mobile"))
    );
    let r = WsClient::connect(&srv.ws_url())
        .await
        .call(json!({"type":"auth","api_key":"nope"}))
        .await;
    assert_eq!(r["code"], "invalid_credentials");
}

#[tokio::test]
async fn auth_timeout_closes_with_4001() {
    let srv = TestServer::start(&hmac_config()).await;
    let mut c = unauthenticated(&srv).await;
    let started = Instant::now();
    match c.next_event().await {
        Event::Close(code, reason) => {
            assert_eq!(code, Some(4001));
            assert_eq!(reason, "authentication timeout");
        }
        other => panic!("expected a close, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(450));
    // API key sent with the upgrade needs no auth message.
    let mut k = WsClient::try_connect(&srv.ws_url(), &[("x-api-key", "key-one")])
        .await
        .expect("x-api-key");
    assert_eq!(k.recv().await["type"], "connection_established");
    assert_eq!(srv.upgrade_attempt("/ws?api_key=wrong", &[]).await.0, 401);
}

#[tokio::test]
async fn origins_allowed_denied_and_lookalikes() {
    let srv = TestServer::start(
        "env = \"staging\"\n[origins]\nallowed = [\"https://*.example.com\", \"https://app.test\"]\nallow_missing = false",
    )
    .await;
    for ok in [
        "https://app.example.com",
        "https://a.b.example.com",
        "https://app.test",
    ] {
        let c = WsClient::try_connect(&srv.ws_url(), &[("origin", ok)]).await;
        assert!(c.is_ok(), "{ok} refused");
    }
    for bad in [
        "https://evil-example.com",
        "https://example.com.evil.net",
        "https://example.com",
        "http://app.example.com",
        "https://app.test.evil.net",
        "null",
    ] {
        let (status, body) = srv.upgrade_attempt("/ws", &[("origin", bad)]).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("origin_not_allowed")),
            "{bad}"
        );
    }
    assert_eq!(
        srv.upgrade_attempt("/ws", &[]).await.0,
        403,
        "missing Origin must be refused"
    );
    // CORS on the HTTP API follows the same list.
    let (s, _) = srv
        .request(
            "OPTIONS",
            "/api/publish",
            None,
            &[
                ("origin", "https://app.test"),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = srv
        .request(
            "OPTIONS",
            "/api/publish",
            None,
            &[
                ("origin", "https://evil.test"),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn message_rate_limit_then_4008() {
    let srv = TestServer::start(
        "[limits]\nmax_message_rate = 5\nmessage_burst = 5\nrate_limit_close_after = 10",
    )
    .await;
    let mut c = srv.client().await;
    for _ in 0..30 {
        c.send(json!({"type":"ping"})).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    let code = loop {
        match c.next_event().await {
            Event::Json(v) if v["type"] == "pong" => pongs += 1,
            Event::Json(v) if v["code"] == "rate_limited" => limited += 1,
            Event::Json(v) => panic!("unexpected {v}"),
            Event::Close(code, reason) => {
                assert_eq!(reason, "message rate exceeded");
                break code;
            }
            Event::End => panic!("no close frame"),
        }
    };
    assert_eq!(code, Some(4008));
    assert!((5..=6).contains(&pongs), "pongs {pongs}");
    assert!(limited >= 8, "limited {limited}");
    assert!(
        srv.metric("wavecast_limit_rejections_total{limit=\"message_rate\"}")
            .await
            >= 10.0
    );
}

#[tokio::test]
async fn per_user_limit_replaces_oldest_or_refuses() {
    let cfg =
        jwt_config("[limits]\nmax_connections_per_user = 2\nconnection_rate_per_user = 100\n");
    let srv = TestServer::start(&cfg).await;
    let token = hs256(json!({"sub":"dana","aud":"wavecast","exp": now_s() + 60}));
    let url = format!("{}?token={token}", srv.ws_url());
    let mut first = WsClient::connect(&url).await;
    first.recv().await;
    let mut second = WsClient::connect(&url).await;
    second.recv().await;
    let mut third = WsClient::connect(&url).await;
    third.recv().await;
    assert_eq!(first.expect_close().await, Some(4011));
    assert_eq!(third.call(json!({"type":"ping"})).await["type"], "pong");
    assert_eq!(second.call(json!({"type":"ping"})).await["type"], "pong");

    // Personal messages reach every connection of the user.
    let (s, v) = srv
        .post(
            "/api/send",
            json!({"user_id":"dana","type":"note","data":1}),
        )
        .await;
    assert_eq!((s, v["delivered"].clone()), (200, json!(2)));
    assert_eq!(second.recv().await["type"], "note");
    assert_eq!(third.recv().await["type"], "note");

    let refuse = TestServer::start(&jwt_config(
        "[limits]\nmax_connections_per_user = 1\non_user_limit = \"refuse\"\nconnection_rate_per_user = 100\n",
    ))
    .await;
    let url = format!("{}?token={token}", refuse.ws_url());
    let mut only = WsClient::connect(&url).await;
    only.recv().await;
    let (status, body) = refuse
        .upgrade_attempt(&format!("/ws?token={token}"), &[])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_connections"))
    );
}

#[tokio::test]
async fn connection_rate_and_process_limit() {
    let srv =
        TestServer::start("[limits]\nconnection_rate_per_ip = 3\nexempt_loopback = false\n").await;
    for _ in 0..3 {
        WsClient::connect(&srv.ws_url()).await;
    }
    let (status, body) = srv.upgrade_attempt("/ws", &[]).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));

    let srv = TestServer::start("[limits]\nmax_connections = 2\n").await;
    let mut a = srv.client().await;
    let _b = srv.client().await;
    let (status, body) = srv.upgrade_attempt("/ws", &[]).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("unavailable")));
    // A freed slot admits again.
    a.send(json!({"type":"close"})).await;
    assert_eq!(a.expect_close().await, Some(1000));
    drop(a);
    srv.wait_metric("wavecast_disconnects_total{reason=\"client_close\"}", 1.0)
        .await;
    let deadline = Instant::now() + common::WAIT;
    loop {
        if WsClient::try_connect(&srv.ws_url(), &[]).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        srv.metric("wavecast_limit_rejections_total{limit=\"max_connections\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn slowloris_handshake_is_cut() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = TestServer::start("[limits]\nhandshake_timeout = \"300ms\"").await;
    let mut s = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 256];
    // The server answers 408 and/or closes; either way the read ends.
    let _ = tokio::time::timeout(common::WAIT, s.read(&mut buf))
        .await
        .expect("server kept a half-sent request open");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn token_refresh_and_expiry() {
    let srv = TestServer::start(&jwt_config("refresh_before = \"2s\"")).await;
    let short = hs256(json!({"sub":"erin","aud":"wavecast","exp": now_s() + 3}));
    let mut c = WsClient::connect(&format!("{}?token={short}", srv.ws_url())).await;
    c.recv().await;
    let r = c.recv().await;
    assert_eq!(r["type"], "refresh_required");
    assert!(r["expires_at"].as_str().is_some_and(|s| s.ends_with('Z')));
    let fresh = hs256(json!({"sub":"erin","aud":"wavecast","exp": now_s() + 60}));
    let r = c
        .call(json!({"type":"refresh","token": fresh, "id": 9}))
        .await;
    assert_eq!(
        (r["type"].clone(), r["id"].clone()),
        (json!("refresh_success"), json!(9))
    );
    // Another user's token is refused.
    let other = hs256(json!({"sub":"frank","aud":"wavecast","exp": now_s() + 60}));
    assert_eq!(
        c.call(json!({"type":"refresh","token": other})).await["code"],
        "forbidden"
    );

    let mut lazy = WsClient::connect(&format!(
        "{}?token={}",
        srv.ws_url(),
        hs256(json!({"sub":"gus","aud":"wavecast","exp": now_s() + 2}))
    ))
    .await;
    let code = loop {
        match lazy.next_event().await {
            Event::Json(_) => continue,
            Event::Close(code, reason) => {
                assert_eq!(reason, "token expired");
                break code;
            }
            Event::End => panic!("no close"),
        }
    };
    assert_eq!(code, Some(4001));
    // The refreshed connection is still alive.
    assert_eq!(c.call(json!({"type":"ping"})).await["type"], "pong");
}

#[tokio::test]
async fn channel_permissions_from_namespace_rules_and_claims() {
    let srv = TestServer::start(&format!(
        "{}\n[namespaces.private]\nsubscribe = \"claim\"\n[namespaces.members]\nsubscribe = \"authenticated\"\npublish = \"authenticated\"\n",
        "[auth]\njwt_secret = \"jwt-test-secret\"\napi_keys = [\"k\"]"
    ))
    .await;
    // Anonymous (auth not required): public yes, members no.
    let mut anon = srv.client().await;
    assert_eq!(
        anon.call(json!({"type":"subscribe","channel":"news"}))
            .await["type"],
        "subscribe_success"
    );
    let r = anon
        .call(json!({"type":"subscribe","channel":"members:1"}))
        .await;
    assert_eq!(
        (r["type"].clone(), r["code"].clone()),
        (json!("subscribe_failed"), json!("forbidden"))
    );
    let r = anon
        .call(json!({"type":"subscribe","channel":"user:hana"}))
        .await;
    assert_eq!(r["code"], "forbidden");

    let scoped = hs256(
        json!({"sub":"hana","exp": now_s() + 60,"channels":["private:team-*"],"rooms":["members:1"]}),
    );
    let mut h = WsClient::connect(&format!("{}?token={scoped}", srv.ws_url())).await;
    h.recv().await;
    for (ch, ok) in [
        ("private:team-a", true),
        ("private:other", false),
        ("members:1", true),
        ("members:2", false),
        ("news", false),
        ("user:hana", true),
        ("user:ivan", false),
    ] {
        let r = h.call(json!({"type":"subscribe","channel": ch})).await;
        assert_eq!(r["type"] == "subscribe_success", ok, "{ch}: {r}");
    }
    // Events never reach a connection that may not see them.
    srv.publish("private:other", json!(1)).await;
    srv.publish("private:team-a", json!(2)).await;
    let m = h.recv().await;
    assert_eq!(
        (m["channel"].clone(), m["data"].clone()),
        (json!("private:team-a"), json!(2))
    );
    // Client publish: allowed in members for authenticated users only.
    // The publisher is subscribed, so it gets its own publication too; that
    // delivery is queued during the publish, before the reply.
    h.send(json!({"type":"publish","channel":"members:1","data":"hi"}))
        .await;
    let (first, second) = (h.recv().await, h.recv().await);
    assert_eq!(
        (first["type"].clone(), first["data"].clone()),
        (json!("publication"), json!("hi"))
    );
    assert_eq!(
        (second["type"].clone(), second["delivered"].clone()),
        (json!("publish_success"), json!(1))
    );
    let r = anon
        .call(json!({"type":"publish","channel":"members:1","data":"x"}))
        .await;
    assert_eq!(r["code"], "forbidden");
    // The server API may not put a user into another user's channel.
    let (s, _) = srv
        .post(
            "/api/ws/subscribe",
            json!({"connection_id": anon.connection_id, "rooms": ["user:hana"]}),
        )
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn connect_hook_allows_denies_and_fails_closed() {
    use axum::routing::post;
    let hook = axum::Router::new().route(
        "/check",
        post(|axum::Json(v): axum::Json<Value>| async move {
            assert!(v["remote_addr"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:")));
            match v["user_id"].as_str() {
                Some("alice") => axum::Json(json!({"allow": true, "channels": ["team:red"]})),
                _ => axum::Json(json!({"allow": false, "reason": "not on the list"})),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, hook).await });

    let srv = TestServer::start(&jwt_config(&format!(
        "connect_url = \"http://{hook_addr}/check\"\nconnect_timeout = \"2s\"\n"
    )))
    .await;
    let alice = hs256(json!({"sub":"alice","aud":"wavecast","exp": now_s() + 60}));
    let mut a = WsClient::connect(&format!("{}?token={alice}", srv.ws_url())).await;
    assert_eq!(a.recv().await["type"], "connection_established");
    let joined = a.recv().await;
    assert_eq!(
        (joined["channels"].clone(), joined["server_side"].clone()),
        (json!(["team:red"]), json!(true))
    );
    let bob = hs256(json!({"sub":"bob","aud":"wavecast","exp": now_s() + 60}));
    let (status, body) = srv.upgrade_attempt(&format!("/ws?token={bob}"), &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not on the list"))
    );

    // A dead hook fails closed by default, open when configured so.
    let dead = "connect_url = \"http://127.0.0.1:9/check\"\nconnect_timeout = \"500ms\"\n";
    let closed = TestServer::start(&jwt_config(dead)).await;
    let (status, body) = closed
        .upgrade_attempt(&format!("/ws?token={alice}"), &[])
        .await;
    assert_eq!((status, body["code"].as_str()), (503, Some("unavailable")));
    let open = TestServer::start(&jwt_config(&format!("{dead}connect_fail_open = true\n"))).await;
    let mut o = WsClient::connect(&format!("{}?token={alice}", open.ws_url())).await;
    assert_eq!(o.recv().await["type"], "connection_established");
}

#[tokio::test]
async fn review_hardening() {
    let srv = TestServer::start(&jwt_config(
        "api_keys = [\"shared\"]\n[auth.keys]\nmobile = \"s\"\n",
    ))
    .await;
    // aud is required once configured; a malformed channels claim is refused.
    let no_aud = hs256(json!({"sub":"a","exp": now_s() + 60}));
    assert_eq!(
        srv.upgrade_attempt(&format!("/ws?token={no_aud}"), &[])
            .await
            .0,
        401
    );
    let widened =
        hs256(json!({"sub":"a","aud":"wavecast","exp": now_s() + 60,"channels":"chat:*"}));
    let (s, v) = srv
        .upgrade_attempt(&format!("/ws?token={widened}"), &[])
        .await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_credentials")));
    // API-key clients are applications, not one user: no per-user limit.
    let mut keyed = Vec::new();
    for _ in 0..7 {
        let mut c = WsClient::try_connect(&srv.ws_url(), &[("x-api-key", "shared")])
            .await
            .expect("key");
        assert_eq!(c.recv().await["type"], "connection_established");
        keyed.push(c);
    }
    for c in &mut keyed {
        assert_eq!(c.call(json!({"type":"ping"})).await["type"], "pong");
    }
    // Unknown key ids look like wrong signatures.
    let mut c = WsClient::connect(&srv.ws_url()).await;
    let r = c
        .call(json!({"type":"auth","key_id":"nobody","timestamp": now_millis(),"signature":"00"}))
        .await;
    assert_eq!(r["code"], "invalid_signature");
    let r = c.call(json!({"type":"refresh","token": hs256(json!({"sub":"x","aud":"wavecast","exp": now_s() + 60}))})).await;
    assert_eq!(r["code"], "auth_required");
    // Nor can an admitted anonymous connection "refresh" into a user.
    let anon_srv = TestServer::start(&format!("[auth]\njwt_secret = \"{SECRET}\"")).await;
    let mut anon = anon_srv.client().await;
    let r = anon
        .call(json!({"type":"refresh","token": hs256(json!({"sub":"x","exp": now_s() + 60}))}))
        .await;
    assert_eq!(
        (r["type"].clone(), r["code"].clone()),
        (json!("auth_failed"), json!("auth_required"))
    );

    // Without a server key, the loopback API refuses cross-site and
    // rebinding requests.
    let open = TestServer::start("").await;
    let body = Some(r#"{"channel":"a","data":1}"#.to_string());
    let (s, _) = open
        .request(
            "POST",
            "/api/publish",
            body.clone(),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = open
        .request(
            "POST",
            "/api/publish",
            body.clone(),
            &[("host", "evil.example:8000")],
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = open
        .request(
            "POST",
            "/api/publish",
            body,
            &[("origin", "http://localhost:3000")],
        )
        .await;
    assert_eq!(s, 200);
}
