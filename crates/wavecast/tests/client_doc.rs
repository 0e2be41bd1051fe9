//! docs/client-rust.md, compiled and run: each module below holds one
//! ```rust block of the document, verbatim (a test checks that they stay
//! the same), and the tests run them against the real binary.

mod common;

mod subscribe {
    use futures_util::StreamExt;
    use serde_json::Value;
    use wavecast_client::{Client, ClientConfig, Error, SubEvent};

    /// The data of the first `n` publications of `news`.
    pub async fn follow_news(server: &str, n: usize) -> Result<Vec<Value>, Error> {
        let client = Client::connect(ClientConfig::new(server)).await?;
        let mut news = client.subscribe("news").await?;
        let mut seen = Vec::new();
        while let Some(event) = news.next().await {
            match event {
                SubEvent::Publication(p) => {
                    println!("{} #{:?} {}: {}", p.channel, p.offset, p.event, p.data);
                    seen.push(p.data);
                    if seen.len() == n {
                        break;
                    }
                }
                // Backpressure on the server dropped some for this client.
                SubEvent::Dropped { count } => eprintln!("missed {count} publications"),
                // After a reconnect the subscription is confirmed again.
                SubEvent::Subscribed(s) => println!("subscribed again: {:?}", s.recovery),
                SubEvent::Failed(e) => return Err(e),
                SubEvent::Unsubscribed { .. } => break,
            }
        }
        client.close().await?;
        Ok(seen)
    }
}

mod publish {
    use serde_json::json;
    use wavecast_client::{Error, HttpApi};

    /// Publishes a headline; returns its offset in the channel's history.
    pub async fn publish_headline(server: &str, key: Option<String>) -> Result<Option<u64>, Error> {
        let api = HttpApi::new(server, key);
        let published = api
            .publish("news", None, &json!({"headline": "hello"}))
            .await?;
        println!("{} subscribers got it", published.delivered);
        Ok(published.offset)
    }
}

mod resume {
    use futures_util::StreamExt;
    use wavecast_client::{
        Client, ClientConfig, Error, Position, Recovery, SubEvent, SubscribeOptions,
    };

    /// Handles what `orders` received after `saved`, up to the channel's
    /// current offset; returns the new position to save.
    pub async fn catch_up(server: &str, saved: Position) -> Result<Position, Error> {
        let client = Client::connect(ClientConfig::new(server)).await?;
        let options = SubscribeOptions {
            recover_from: Some(saved.clone()),
            ..Default::default()
        };
        let mut orders = client.subscribe_with("orders", options).await?;
        let confirmed = orders.confirmed().cloned().ok_or(Error::Closed)?;
        if let Recovery::Failed { from } = &confirmed.recovery {
            eprintln!(
                "publications after {} are gone: reload the orders",
                from.offset
            );
        }
        let top = confirmed.position.unwrap_or(saved.clone());
        let mut last = Position {
            offset: saved.offset,
            epoch: top.epoch.clone(),
        };
        while last.offset < top.offset {
            match orders.next().await {
                Some(SubEvent::Publication(p)) => {
                    println!("order {}: {}", p.offset.unwrap_or(0), p.data);
                    last.offset = p.offset.unwrap_or(last.offset);
                }
                Some(SubEvent::Failed(e)) => return Err(e),
                Some(_) => {}
                None => break,
            }
        }
        client.close().await?;
        Ok(last)
    }
}

mod tokens {
    use std::sync::Arc;
    use std::time::Duration;

    use futures_util::FutureExt;
    use wavecast_client::auth::{mint_token, TokenClaims};
    use wavecast_client::{Client, ClientConfig, Error, TokenProvider};

    /// Connects as `user` with short-lived tokens that the client renews.
    pub async fn connect_as(server: &str, secret: &str, user: &str) -> Result<Client, Error> {
        let (secret, user) = (secret.to_string(), user.to_string());
        let provider: TokenProvider = Arc::new(move || {
            let claims = TokenClaims {
                sub: Some(user.clone()),
                channels: vec!["news".into(), format!("user:{user}")],
                ttl: Duration::from_secs(300),
            };
            let token = mint_token(&secret, &claims).map_err(|e| e.to_string());
            async move { token }.boxed()
        });
        let first = provider().await.map_err(Error::InvalidConfig)?;
        Client::connect(
            ClientConfig::new(server)
                .token(first)
                .token_provider(provider),
        )
        .await
    }
}

mod events {
    use futures_util::StreamExt;
    use wavecast_client::{Client, ClientConfig, ClientEvent, ConnectionState, Error};

    /// Logs the connection's life; closes it once admitted.
    pub async fn watch(server: &str) -> Result<(), Error> {
        let (client, events) = Client::start_with_events(ClientConfig::new(server))?;
        let mut events = Box::pin(events);
        while let Some(event) = events.next().await {
            match event {
                ClientEvent::Connected { welcome } => {
                    println!("admitted as {}", welcome["user_id"]);
                    client.close().await?;
                }
                ClientEvent::Disconnected { code, reason } => println!("lost ({code:?}): {reason}"),
                ClientEvent::State(ConnectionState::Reconnecting { attempt, delay_ms }) => {
                    println!("attempt {attempt} in {delay_ms} ms")
                }
                ClientEvent::RecoveryFailed { channel, from } => {
                    println!("{channel}: publications after {} were missed", from.offset)
                }
                ClientEvent::ServerError(e) => println!("the server said {e}"),
                ClientEvent::State(ConnectionState::Closed(end)) => return end.map_or(Ok(()), Err),
                _ => {}
            }
        }
        Ok(())
    }
}

mod errors {
    use wavecast_client::{Client, ClientConfig, Error};

    /// Connects with an API key, or says in one sentence why not.
    pub async fn connect_or_explain(server: &str, key: &str) -> Result<Client, String> {
        let config = ClientConfig::new(server).api_key(key).reconnect(false);
        match Client::connect(config).await {
            Ok(client) => Ok(client),
            Err(Error::Refused { status: 401 | 403 }) => {
                Err("the server refused these credentials".into())
            }
            Err(Error::AuthFailed(e)) => Err(format!("authentication failed: {}", e.message)),
            Err(e) if e.is_transient() => Err(format!("try again later: {e}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

use std::time::Duration;

use serde_json::json;
use wavecast_client::{HttpApi, Position};

/// The ```rust blocks of the document, in order.
fn doc_blocks() -> Vec<String> {
    let doc = include_str!("../../../docs/client-rust.md");
    doc.split("```rust\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_document_and_this_file_hold_the_same_code() {
    let source = include_str!("client_doc.rs");
    let blocks = doc_blocks();
    assert_eq!(
        blocks.len(),
        6,
        "the document's examples changed: update this file"
    );
    for block in blocks {
        let indented: String = block
            .lines()
            .map(|l| {
                if l.is_empty() {
                    "\n".to_string()
                } else {
                    format!("    {l}\n")
                }
            })
            .collect();
        assert!(
            source.contains(&indented),
            "this example of docs/client-rust.md is not in client_doc.rs:\n{block}"
        );
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn subscribe_and_publish() {
    let srv = common::start(&[]);
    let url = srv.url();
    runtime().block_on(async {
        let follower = tokio::spawn({
            let url = url.clone();
            async move { subscribe::follow_news(&url, 2).await }
        });
        // Publish once the subscription is live.
        let api = HttpApi::new(&url, None);
        let deadline = tokio::time::Instant::now() + common::WAIT;
        loop {
            let stats = api
                .request("GET", &format!("{url}/api/ws/stats"), None)
                .await;
            let live = stats
                .ok()
                .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(&b).ok());
            if live.is_some_and(|v| v["rooms"]["news"] == 1) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no subscriber");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            publish::publish_headline(&url, None)
                .await
                .expect("publish"),
            Some(1)
        );
        assert_eq!(
            publish::publish_headline(&url, None)
                .await
                .expect("publish"),
            Some(2)
        );
        let seen = tokio::time::timeout(common::WAIT, follower)
            .await
            .expect("in time")
            .expect("task")
            .expect("follow");
        assert_eq!(
            seen,
            vec![json!({"headline": "hello"}), json!({"headline": "hello"})]
        );
    });
}

#[test]
fn resume_watch_and_errors() {
    let srv = common::start(&[]);
    let url = srv.url();
    runtime().block_on(async {
        let api = HttpApi::new(&url, None);
        for i in 1..=4 {
            api.publish("orders", None, &json!({"n": i}))
                .await
                .expect("publish");
        }
        let epoch = api.history("orders", None).await.expect("history")["epoch"]
            .as_str()
            .expect("epoch")
            .to_string();
        let saved = Position {
            offset: 1,
            epoch: epoch.clone(),
        };
        let now = tokio::time::timeout(common::WAIT, resume::catch_up(&url, saved))
            .await
            .expect("in time")
            .expect("catch up");
        assert_eq!(now, Position { offset: 4, epoch });
        tokio::time::timeout(common::WAIT, events::watch(&url))
            .await
            .expect("in time")
            .expect("watch");
    });
    let auth = common::start(&[
        ("WAVECAST_REQUIRE_AUTH", "true"),
        ("WAVECAST_API_KEYS", "right"),
        ("WAVECAST_JWT_SECRET", "doc-secret"),
    ]);
    let url = auth.url();
    runtime().block_on(async {
        let refused = errors::connect_or_explain(&url, "wrong")
            .await
            .expect_err("refused");
        assert_eq!(refused, "the server refused these credentials");
        let ok = errors::connect_or_explain(&url, "right")
            .await
            .expect("admitted");
        ok.close().await.expect("close");
        let client = tokens::connect_as(&url, "doc-secret", "dora")
            .await
            .expect("token");
        let mine = client.subscribe("user:dora").await;
        assert!(mine.is_ok(), "{mine:?}");
        let other = client.subscribe("elsewhere").await;
        assert!(
            matches!(other, Err(wavecast_client::Error::SubscribeFailed { .. })),
            "{other:?}"
        );
        client.close().await.expect("close");
    });
}
