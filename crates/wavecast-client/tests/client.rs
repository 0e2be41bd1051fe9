//! The client against real in-process servers over real sockets: every
//! credential form, streams and callbacks, reconnecting through a server
//! restart with zero loss, failed recovery, the offline queue, heartbeats,
//! token refresh, close codes and state changes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{next_event, temp_dir, wait_event, wait_state, Proxy, TestServer, WAIT};
use futures_util::StreamExt;
use serde_json::{json, Value};
use wavecast_client::auth::{mint_token, TokenClaims};
use wavecast_client::protocol::to_server::{ClientMessage, ClientRequest, RequestId};
use wavecast_client::{
    Client, ClientConfig, ClientEvent, ConnectionState, Credentials, Error, HttpApi, Overflow,
    Recovery, SubEvent, SubscribeOptions, Via,
};

const SECRET: &str = "client-test-secret";

fn auth_toml() -> String {
    format!(
        "[auth]\nrequire_auth = true\napi_keys = [\"key-one\"]\njwt_secret = \"{SECRET}\"\n[auth.keys]\nmobile = \"mobile-secret\"\n"
    )
}

fn fast(cfg: ClientConfig) -> ClientConfig {
    cfg.backoff(Duration::from_millis(20), Duration::from_millis(200), None)
        .connect_timeout(WAIT)
}

fn token(sub: &str, ttl: u64) -> String {
    mint_token(
        SECRET,
        &TokenClaims {
            sub: Some(sub.into()),
            channels: vec![],
            ttl: Duration::from_secs(ttl),
        },
    )
    .expect("token")
}

fn publication(ev: SubEvent) -> wavecast_client::Publication {
    match ev {
        SubEvent::Publication(p) => p,
        other => panic!("expected a publication, got {other:?}"),
    }
}

fn subscribed(ev: SubEvent) -> wavecast_client::Subscribed {
    match ev {
        SubEvent::Subscribed(s) => s,
        other => panic!("expected subscribed, got {other:?}"),
    }
}

/// Every credential form, with the user id it authenticates as.
fn credential_cases() -> Vec<(Credentials, &'static str)> {
    vec![
        (
            Credentials::ApiKey {
                key: "key-one".into(),
                via: Via::Header,
            },
            "api_key:0",
        ),
        (
            Credentials::ApiKey {
                key: "key-one".into(),
                via: Via::Query,
            },
            "api_key:0",
        ),
        (
            Credentials::ApiKey {
                key: "key-one".into(),
                via: Via::Message,
            },
            "api_key:0",
        ),
        (
            Credentials::SignedApiKey {
                key: "key-one".into(),
            },
            "api_key:0",
        ),
        (
            Credentials::KeyId {
                key_id: "mobile".into(),
                secret: "mobile-secret".into(),
            },
            "mobile",
        ),
        (
            Credentials::Token {
                token: token("alice", 600),
                via: Via::Query,
            },
            "alice",
        ),
        (
            Credentials::Token {
                token: token("bob", 600),
                via: Via::Header,
            },
            "bob",
        ),
        (
            Credentials::Token {
                token: token("carol", 600),
                via: Via::Message,
            },
            "carol",
        ),
    ]
}

#[tokio::test]
async fn connects_with_every_credential_form() {
    let srv = TestServer::start(&auth_toml()).await;
    let cases = credential_cases();
    for (creds, user) in cases {
        let client = Client::start(fast(
            ClientConfig::new(&srv.http()).credentials(creds.clone()),
        ))
        .expect("start");
        let mut events = Box::pin(client.events());
        client.wait_connected(WAIT).await.unwrap_or_else(|e| {
            panic!("{creds:?}: {e}");
        });
        // The welcome frame may have been sent before `events()` subscribed;
        // check the user through a subscription to the personal channel.
        let sub = client
            .subscribe(&format!("user:{user}"))
            .await
            .unwrap_or_else(|e| panic!("{creds:?}: {e}"));
        assert!(sub.confirmed().is_some());
        client.close().await.expect("close");
        let closed = wait_event(&mut events, |e| {
            matches!(e, ClientEvent::State(ConnectionState::Closed(_)))
        })
        .await;
        assert_eq!(closed, ClientEvent::State(ConnectionState::Closed(None)));
    }

    // Refused credentials end the client with a typed error, no retries.
    let bad_header = Client::connect(fast(ClientConfig::new(&srv.http()).api_key("nope"))).await;
    assert_eq!(bad_header.unwrap_err(), Error::Refused { status: 401 });
    let bad_sig = Client::connect(fast(ClientConfig::new(&srv.http()).credentials(
        Credentials::KeyId {
            key_id: "mobile".into(),
            secret: "wrong".into(),
        },
    )))
    .await;
    match bad_sig {
        Err(Error::AuthFailed(e)) => assert_eq!(e.code, "invalid_signature"),
        other => panic!("expected auth_failed, got {other:?}"),
    }
}

#[tokio::test]
async fn subscription_stream_and_callback_see_every_publication_in_order() {
    let srv = TestServer::start("").await;
    let api = HttpApi::new(&srv.http(), None);
    let client = Client::connect(fast(ClientConfig::new(&srv.http())))
        .await
        .expect("connect");
    let mut news = client.subscribe("news").await.expect("subscribe");
    let confirmed = news
        .confirmed()
        .cloned()
        .expect("confirmed while connected");
    assert_eq!(confirmed.recovery, Recovery::NotRequested);
    let start = confirmed
        .position
        .expect("the default namespace keeps history");

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _cb = client
        .subscribe_callback("chat:1", SubscribeOptions::default(), move |ev| {
            let _ = tx.send(ev);
        })
        .await
        .expect("callback subscribe");
    assert!(matches!(
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("cb")
            .expect("ev"),
        SubEvent::Subscribed(_)
    ));

    for i in 0..5 {
        api.publish("news", None, &json!({"n": i}))
            .await
            .expect("publish");
        api.publish("chat:1", Some("said"), &json!({"n": i}))
            .await
            .expect("publish");
    }
    for i in 0..5u64 {
        let p = publication(next_event(&mut news).await);
        assert_eq!(p.data["n"], i);
        assert_eq!(p.offset, Some(start.offset + i + 1));
        let c = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("callback event")
            .expect("open");
        let c = publication(c);
        assert_eq!((c.event.as_str(), c.data["n"].as_u64()), ("said", Some(i)));
    }

    // Subscribing twice is refused locally; unsubscribing ends the stream.
    assert!(matches!(
        client.subscribe("news").await,
        Err(Error::AlreadySubscribed(_))
    ));
    news.unsubscribe().await.expect("unsubscribe");
    let mut again = client.subscribe("news").await.expect("subscribe again");
    api.publish("news", None, &json!("x"))
        .await
        .expect("publish");
    assert_eq!(publication(next_event(&mut again).await).data, json!("x"));

    // A refused subscription is a typed error.
    match client.subscribe("user:someone-else").await {
        Err(Error::SubscribeFailed { error, .. }) => assert_eq!(error.code, "forbidden"),
        other => panic!("expected subscribe_failed, got {other:?}"),
    }
}

#[tokio::test]
async fn reconnects_through_a_server_restart_with_zero_loss() {
    let data = temp_dir("restart");
    let srv = TestServer::start_with("", Some(&data)).await;
    let proxy = Proxy::start(srv.addr).await;
    let client = Client::connect(fast(ClientConfig::new(&proxy.http())))
        .await
        .expect("connect");
    let mut states = client.watch_state();
    let mut feed = client.subscribe("feed").await.expect("subscribe");
    let api1 = HttpApi::new(&srv.http(), None);
    let mut next = 0u64;
    for _ in 0..5 {
        api1.publish("feed", None, &json!({"seq": next}))
            .await
            .expect("publish");
        next += 1;
    }
    let mut seen = Vec::new();
    let mut offsets = Vec::new();
    for _ in 0..5 {
        let p = publication(next_event(&mut feed).await);
        seen.push(p.data["seq"].as_u64().expect("seq"));
        offsets.push(p.offset.expect("offset"));
    }

    // The server restarts; the client stays offline (the proxy is cut)
    // while publications go on, so only recovery can bring them.
    proxy.cut();
    srv.stop_and_wait().await;
    wait_state(&mut states, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    let srv2 = TestServer::start_with("", Some(&data)).await;
    let api2 = HttpApi::new(&srv2.http(), None);
    for _ in 0..7 {
        api2.publish("feed", None, &json!({"seq": next}))
            .await
            .expect("publish while the client is offline");
        next += 1;
    }
    proxy.set_upstream(srv2.addr);
    proxy.restore();

    let resub = subscribed(next_event(&mut feed).await);
    assert!(resub.resubscribed);
    assert!(
        matches!(resub.recovery, Recovery::Recovered { .. }),
        "{resub:?}"
    );
    // And live publications after the reconnect.
    for _ in 0..3 {
        api2.publish("feed", None, &json!({"seq": next}))
            .await
            .expect("publish");
        next += 1;
    }
    while (seen.len() as u64) < next {
        let p = publication(next_event(&mut feed).await);
        seen.push(p.data["seq"].as_u64().expect("seq"));
        offsets.push(p.offset.expect("offset"));
    }
    assert_eq!(seen, (0..next).collect::<Vec<_>>(), "no gap, no duplicate");
    assert!(
        offsets.windows(2).all(|w| w[1] == w[0] + 1),
        "offsets continue across the restart: {offsets:?}"
    );
    client.close().await.expect("close");
    srv2.stop_and_wait().await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn failed_recovery_is_reported() {
    // Three publications of history: ten while offline cannot be recovered.
    let srv = TestServer::start("[namespaces.default]\nhistory_size = 3\n").await;
    let proxy = Proxy::start(srv.addr).await;
    let api = HttpApi::new(&srv.http(), None);
    let client = Client::connect(fast(ClientConfig::new(&proxy.http())))
        .await
        .expect("connect");
    let mut events = Box::pin(client.events());
    let mut states = client.watch_state();
    let mut feed = client.subscribe("short").await.expect("subscribe");
    api.publish("short", None, &json!(1))
        .await
        .expect("publish");
    let first = publication(next_event(&mut feed).await);
    proxy.cut();
    wait_state(&mut states, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    for i in 0..10 {
        api.publish("short", None, &json!(i))
            .await
            .expect("publish");
    }
    proxy.restore();
    let resub = subscribed(next_event(&mut feed).await);
    match &resub.recovery {
        Recovery::Failed { from } => assert_eq!(from.offset, first.offset.expect("offset")),
        other => panic!("expected a failed recovery, got {other:?}"),
    }
    let ev = wait_event(&mut events, |e| {
        matches!(e, ClientEvent::RecoveryFailed { .. })
    })
    .await;
    assert!(matches!(ev, ClientEvent::RecoveryFailed { channel, .. } if channel == "short"));
    // Live deliveries continue from the new position.
    api.publish("short", None, &json!("live"))
        .await
        .expect("publish");
    assert_eq!(publication(next_event(&mut feed).await).data, json!("live"));
}

#[tokio::test]
async fn offline_queue_is_bounded_and_flushed_in_order() {
    let srv = TestServer::start("[namespaces.default]\npublish = \"public\"\n").await;
    let proxy = Proxy::start(srv.addr).await;
    let reader = Client::connect(fast(ClientConfig::new(&srv.http())))
        .await
        .expect("reader");
    let mut q = reader.subscribe("q").await.expect("subscribe");

    let writer = Client::connect(fast(
        ClientConfig::new(&proxy.http()).queue(3, Overflow::DropOldest),
    ))
    .await
    .expect("writer");
    let mut states = writer.watch_state();
    proxy.cut();
    wait_state(&mut states, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    for i in 0..5 {
        writer
            .publish("q", None, json!({"i": i}))
            .await
            .expect("queued");
    }
    proxy.restore();
    for want in 2..5 {
        let p = publication(next_event(&mut q).await);
        assert_eq!(p.data["i"], want, "the oldest two were dropped");
    }

    // Policy "error" refuses instead.
    let strict = Client::connect(fast(
        ClientConfig::new(&proxy.http()).queue(2, Overflow::Error),
    ))
    .await
    .expect("strict");
    let mut states = strict.watch_state();
    proxy.cut();
    wait_state(&mut states, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    strict.publish("q", None, json!("a")).await.expect("1st");
    strict.publish("q", None, json!("b")).await.expect("2nd");
    assert_eq!(
        strict.publish("q", None, json!("c")).await,
        Err(Error::QueueFull)
    );
    proxy.restore();
    assert_eq!(publication(next_event(&mut q).await).data, json!("a"));
    assert_eq!(publication(next_event(&mut q).await).data, json!("b"));
}

#[tokio::test]
async fn heartbeats_keep_an_idle_connection_alive() {
    let srv =
        TestServer::start("heartbeat_interval = \"100ms\"\nheartbeat_timeout = \"300ms\"\n").await;
    let client = Client::connect(fast(ClientConfig::new(&srv.http())))
        .await
        .expect("connect");
    let id = match client.state() {
        ConnectionState::Connected { connection_id } => connection_id,
        s => panic!("{s:?}"),
    };
    let mut events = Box::pin(client.events());
    // Well past the server's heartbeat timeout: the same connection lives
    // on because the client answers every heartbeat.
    let quiet = tokio::time::timeout(Duration::from_millis(1000), async {
        wait_event(&mut events, |e| {
            matches!(e, ClientEvent::Disconnected { .. })
        })
        .await
    })
    .await;
    assert!(quiet.is_err(), "disconnected: {quiet:?}");
    assert_eq!(
        client.state(),
        ConnectionState::Connected { connection_id: id }
    );
}

#[tokio::test]
async fn silent_server_is_detected_and_replaced() {
    let srv = TestServer::start("").await;
    // A black hole that accepts and never answers: the handshake times out,
    // then the client moves on to the real server.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy = Proxy::start(hole.local_addr().expect("addr")).await;
    let client = Client::start(
        fast(ClientConfig::new(&proxy.http())).connect_timeout(Duration::from_millis(300)),
    )
    .expect("start");
    let mut states = client.watch_state();
    wait_state(&mut states, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    proxy.set_upstream(srv.addr);
    client.wait_connected(WAIT).await.expect("connected");
    drop(hole);
}

#[tokio::test]
async fn token_is_refreshed_through_the_provider() {
    let srv = TestServer::start(&format!(
        "[auth]\njwt_secret = \"{SECRET}\"\nrefresh_before = \"30s\"\n"
    ))
    .await;
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let provider: wavecast_client::TokenProvider = {
        let calls = calls.clone();
        Arc::new(move || {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async { Ok(token("dana", 600)) })
        })
    };
    // Lives 5 s, less than refresh_before: refresh_required comes at once.
    let client = Client::start(fast(
        ClientConfig::new(&srv.http())
            .token(token("dana", 5))
            .token_provider(provider),
    ))
    .expect("start");
    let mut events = Box::pin(client.events());
    client.wait_connected(WAIT).await.expect("connected");
    wait_event(&mut events, |e| matches!(e, ClientEvent::Refreshed)).await;
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn server_disconnect_ends_the_client_and_states_are_observable() {
    let srv = TestServer::start("").await;
    let proxy = Proxy::start(srv.addr).await;
    let client = Client::start(fast(ClientConfig::new(&proxy.http()))).expect("start");
    let mut events = Box::pin(client.events());
    let mut seen = Vec::new();
    let first_id = loop {
        match wait_event(&mut events, |e| matches!(e, ClientEvent::State(_))).await {
            ClientEvent::State(ConnectionState::Connected { connection_id }) => {
                break connection_id
            }
            ClientEvent::State(s) => seen.push(s),
            _ => unreachable!(),
        }
    };
    proxy.cut();
    let s = wait_event(&mut events, |e| {
        matches!(e, ClientEvent::State(ConnectionState::Reconnecting { .. }))
    })
    .await;
    assert!(matches!(
        s,
        ClientEvent::State(ConnectionState::Reconnecting { attempt: 1, .. })
    ));
    proxy.restore();
    let second_id = match wait_event(&mut events, |e| {
        matches!(e, ClientEvent::State(ConnectionState::Connected { .. }))
    })
    .await
    {
        ClientEvent::State(ConnectionState::Connected { connection_id }) => connection_id,
        _ => unreachable!(),
    };
    assert_ne!(first_id, second_id);

    // POST /api/disconnect closes with 4009: the client does not come back.
    let api = HttpApi::new(&srv.http(), None);
    let url = format!("{}/api/disconnect", srv.http());
    api.post(
        &url,
        bytes::Bytes::from(json!({"connection_id": second_id}).to_string()),
    )
    .await
    .expect("disconnect");
    let closed = wait_event(&mut events, |e| {
        matches!(e, ClientEvent::State(ConnectionState::Closed(_)))
    })
    .await;
    match closed {
        ClientEvent::State(ConnectionState::Closed(Some(Error::ServerClosed { code, .. }))) => {
            assert_eq!(code, 4009)
        }
        other => panic!("{other:?}"),
    }
    assert!(client.subscribe("x").await.is_err());
}

/// A scripted fake server checks what the client does with
/// `recovery_required`, which the real server does not send yet.
#[tokio::test]
async fn recovery_required_resubscribes_from_the_last_offset() {
    use futures_util::SinkExt;
    use tokio_websockets::Message;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let (_req, mut ws) = tokio_websockets::ServerBuilder::new()
            .accept(tcp)
            .await
            .expect("handshake");
        let send = |v: Value| Message::text(v.to_string());
        ws.send(send(json!({"type":"connection_established","connection_id":"c1","heartbeat_interval_ms":30000})))
            .await
            .expect("send");
        let read = |m: Option<Result<Message, tokio_websockets::Error>>| -> Value {
            let m = m.expect("frame").expect("ok");
            serde_json::from_str(m.as_text().expect("text")).expect("json")
        };
        let sub = read(ws.next().await);
        assert_eq!(sub["type"], "subscribe");
        ws.send(send(json!({"type":"subscribe_success","channels":["a"],"offset":10,"epoch":"E","id":sub["id"]})))
            .await
            .expect("send");
        for o in [11, 12] {
            ws.send(send(
                json!({"type":"publication","channel":"a","data":o,"offset":o,"timestamp":"t"}),
            ))
            .await
            .expect("send");
        }
        ws.send(send(
            json!({"type":"recovery_required","channels":["a"],"reason":"node moved"}),
        ))
        .await
        .expect("send");
        let resub = read(ws.next().await);
        assert_eq!(resub["type"], "subscribe");
        assert_eq!(resub["recover"], json!({"offset": 12, "epoch": "E"}));
        ws.send(send(json!({"type":"subscribe_success","channels":["a"],"offset":13,"epoch":"E","recovered":true,"id":resub["id"]})))
            .await
            .expect("send");
        // A replayed duplicate (12) is dropped by the client; 13 passes.
        for o in [12, 13] {
            ws.send(send(
                json!({"type":"publication","channel":"a","data":o,"offset":o,"timestamp":"t"}),
            ))
            .await
            .expect("send");
        }
        // Keep the socket open until the client closes it.
        while let Some(Ok(_)) = ws.next().await {}
    });
    let client = Client::connect(fast(ClientConfig::new(&format!("http://{addr}"))))
        .await
        .expect("connect");
    let mut a = client.subscribe("a").await.expect("subscribe");
    assert_eq!(publication(next_event(&mut a).await).offset, Some(11));
    assert_eq!(publication(next_event(&mut a).await).offset, Some(12));
    let resub = subscribed(next_event(&mut a).await);
    assert!(resub.resubscribed);
    assert!(matches!(resub.recovery, Recovery::Recovered { ref from } if from.offset == 12));
    assert_eq!(publication(next_event(&mut a).await).offset, Some(13));
    client.close().await.expect("close");
    tokio::time::timeout(WAIT, server)
        .await
        .expect("fake server ends")
        .expect("fake server ok");
}

#[tokio::test]
async fn subscribe_options_reach_the_server() {
    let srv = TestServer::start("").await;
    let api = HttpApi::new(&srv.http(), None);
    for i in 1..=3 {
        api.publish("opts:since", None, &json!(i))
            .await
            .expect("publish");
        api.publish("opts:snap", None, &json!(i))
            .await
            .expect("publish");
    }
    let client = Client::connect(fast(ClientConfig::new(&srv.http())))
        .await
        .expect("connect");

    // `since`: everything after offset 1, whatever the epoch.
    let since = SubscribeOptions {
        since: Some(1),
        ..SubscribeOptions::default()
    };
    let mut feed = client
        .subscribe_with("opts:since", since)
        .await
        .expect("since");
    let recovery = feed.confirmed().map(|s| s.recovery.clone());
    assert!(
        matches!(recovery, Some(Recovery::Recovered { .. })),
        "{recovery:?}"
    );
    for want in [2, 3] {
        let p = publication(next_event(&mut feed).await);
        assert_eq!((p.data, p.offset), (json!(want), Some(want)));
    }

    // `snapshot`: the latest publication first.
    let snapshot = SubscribeOptions {
        snapshot: true,
        ..SubscribeOptions::default()
    };
    let mut snap = client
        .subscribe_with("opts:snap", snapshot)
        .await
        .expect("snapshot");
    assert_eq!(publication(next_event(&mut snap).await).data, json!(3));

    // `filter`: only matching publications are delivered.
    let mut filter = serde_json::Map::new();
    filter.insert("user".into(), json!("bob"));
    let only_bob = SubscribeOptions {
        filter: Some(filter),
        ..SubscribeOptions::default()
    };
    let mut bob = client
        .subscribe_with("opts:filter", only_bob)
        .await
        .expect("filter");
    for user in ["ann", "bob"] {
        api.publish("opts:filter", None, &json!({"user": user}))
            .await
            .expect("publish");
    }
    assert_eq!(publication(next_event(&mut bob).await).data["user"], "bob");
}

#[tokio::test]
async fn server_errors_carry_their_typed_code() {
    let srv = TestServer::start("").await;
    let client = Client::connect(fast(ClientConfig::new(&srv.http())))
        .await
        .expect("connect");
    let mut events = Box::pin(client.events());
    // Clients may not publish into the default namespace.
    client
        .publish("news", Some("headline"), json!({"t": 1}))
        .await
        .expect("queued");
    let ev = wait_event(&mut events, |e| matches!(e, ClientEvent::ServerError(_))).await;
    let ClientEvent::ServerError(e) = ev else {
        unreachable!()
    };
    assert_eq!(e.code, wavecast_client::ErrorCode::Forbidden);
    assert_eq!(e.code, "forbidden");
    assert!(e.recoverable);
    assert_eq!(e.help, wavecast_client::ErrorCode::Forbidden.help());
    assert!(e.message.contains("news"), "{}", e.message);

    // A typed request with a bad channel: refused with its own code.
    let bad = ClientMessage::new(ClientRequest::History {
        channel: "not a channel".into(),
        since: None,
        limit: Some(1),
    })
    .with_id(RequestId::id("h"));
    client.send_message(&bad).await.expect("queued");
    let ev = wait_event(&mut events, |e| matches!(e, ClientEvent::ServerError(_))).await;
    let ClientEvent::ServerError(e) = ev else {
        unreachable!()
    };
    assert_eq!(e.code, wavecast_client::ErrorCode::InvalidChannel);
    client.close().await.expect("close");
}

#[tokio::test]
async fn msgpack_connections_carry_the_same_messages() {
    let srv = TestServer::start(&format!(
        "heartbeat_interval = \"100ms\"\nheartbeat_timeout = \"300ms\"\n{}",
        auth_toml()
    ))
    .await;
    let api = HttpApi::new(&srv.http(), None);
    // The credential goes in an auth message, so the first client frame is
    // MessagePack too.
    let cfg = ClientConfig::new(&srv.http())
        .credentials(Credentials::ApiKey {
            key: "key-one".into(),
            via: Via::Message,
        })
        .msgpack(true);
    let client = Client::connect(fast(cfg)).await.expect("connect");
    let id = match client.state() {
        ConnectionState::Connected { connection_id } => connection_id,
        s => panic!("{s:?}"),
    };
    let mut events = Box::pin(client.events());
    let mut sub = client.subscribe("mp").await.expect("subscribe");
    let data = json!({"text": "κόσμε", "n": [1, 2.5, null, true], "nested": {"a": {}}});
    for _ in 0..3 {
        api.publish("mp", Some("update"), &data)
            .await
            .expect("publish");
    }
    for _ in 0..3 {
        let p = publication(next_event(&mut sub).await);
        assert_eq!((p.event.as_str(), &p.data), ("update", &data));
    }
    // The frames were MessagePack: built in that format, three times.
    assert_eq!(
        srv.metric("wavecast_publication_frames_encoded_total{format=\"wavecast.msgpack\"}")
            .await,
        3.0
    );
    // Heartbeats are answered (in MessagePack): the same connection lives
    // well past the server's heartbeat timeout.
    let quiet = tokio::time::timeout(Duration::from_millis(1000), async {
        wait_event(&mut events, |e| {
            matches!(e, ClientEvent::Disconnected { .. })
        })
        .await
    })
    .await;
    assert!(quiet.is_err(), "disconnected: {quiet:?}");
    assert_eq!(
        client.state(),
        ConnectionState::Connected { connection_id: id }
    );
    api.publish("mp", None, &json!(4)).await.expect("publish");
    assert_eq!(publication(next_event(&mut sub).await).data, json!(4));
}
