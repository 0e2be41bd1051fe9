//! The minimal client tools behind `wavecast pub` (HTTP publish) and
//! `wavecast sub` (WebSocket subscribe, one JSON line per frame).

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio_websockets::{ClientBuilder, Message};

use crate::ClientOpts;

/// `http://h:p` → `ws://h:p/ws` (and `https` → `wss`).
pub fn ws_url(server: &str) -> String {
    let base = server.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_string()
    };
    if base.ends_with("/ws") {
        base
    } else {
        format!("{base}/ws")
    }
}

fn parse_data(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

pub async fn publish(
    opts: &ClientOpts,
    channel: &str,
    data: Option<String>,
    event: Option<String>,
) -> Result<(), String> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let url = format!("{}/api/publish", opts.server.trim_end_matches('/'));
    let send = |data: Value| {
        let mut body = json!({"channel": channel, "data": data});
        if let Some(e) = &event {
            body["type"] = json!(e);
        }
        let mut req = hyper::Request::post(&url).header("content-type", "application/json");
        if let Some(k) = &opts.http_key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let req = req.body(Full::new(Bytes::from(body.to_string())));
        let client = client.clone();
        let url = url.clone();
        async move {
            let req = req.map_err(|e| format!("bad request: {e}"))?;
            let resp = client
                .request(req)
                .await
                .map_err(|e| format!("cannot reach {url}: {e}"))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            let text = String::from_utf8_lossy(&body).to_string();
            if status.is_success() {
                println!("{text}");
                Ok(())
            } else {
                Err(format!("publish failed ({status}): {text}"))
            }
        }
    };
    match data {
        Some(d) => send(parse_data(&d)).await,
        None => {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
                if !line.trim().is_empty() {
                    send(parse_data(&line)).await?;
                }
            }
            Ok(())
        }
    }
}

pub async fn subscribe(
    opts: &ClientOpts,
    channels: &[String],
    count: Option<u64>,
) -> Result<(), String> {
    let mut url = ws_url(&opts.server);
    if let Some(t) = &opts.token {
        url = format!("{url}?token={t}");
    }
    let mut builder = ClientBuilder::new()
        .uri(&url)
        .map_err(|e| format!("bad server URL {url}: {e}"))?;
    if let Some(k) = &opts.api_key {
        let v = hyper::header::HeaderValue::from_str(k).map_err(|_| "bad --api-key".to_string())?;
        builder = builder
            .add_header(hyper::header::HeaderName::from_static("x-api-key"), v)
            .map_err(|e| e.to_string())?;
    }
    let (mut ws, _) = builder
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let sub = json!({"type": "subscribe", "channels": channels, "id": "sub"});
    ws.send(Message::text(sub.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    let mut seen = 0u64;
    while let Some(msg) = ws.next().await {
        let msg = msg.map_err(|e| format!("connection error: {e}"))?;
        if let Some(text) = msg.as_text() {
            println!("{text}");
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            match v["type"].as_str() {
                Some("subscribe_failed") => return Err(format!("subscribe failed: {text}")),
                Some("heartbeat") => {
                    let _ = ws.send(Message::text(r#"{"type":"pong"}"#)).await;
                }
                Some(t)
                    if v.get("channel").is_some() && t != "subscribe_success" && t != "dropped" =>
                {
                    seen += 1;
                    if count.is_some_and(|c| seen >= c) {
                        let _ = ws.close().await;
                        return Ok(());
                    }
                }
                _ => {}
            }
        } else if let Some((code, reason)) = msg.as_close() {
            return Err(format!(
                "server closed the connection: {} {reason}",
                u16::from(code)
            ));
        }
    }
    Ok(())
}
