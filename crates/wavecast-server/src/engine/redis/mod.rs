//! The redis engine: several wavecast nodes act as one server.
//!
//! - History lives in Redis: a hash `{prefix}:meta:{channel}` (epoch, last
//!   offset) and a stream `{prefix}:stream:{channel}` whose entry ids are
//!   `{offset}-1`, trimmed with MAXLEN and expired after the TTL.
//! - A publish is one Lua script: it takes the next offset, appends to the
//!   stream and PUBLISHes `"{offset} {frame}"` to `{prefix}:ch:{channel}`,
//!   atomically, so every node sees a channel's publications in offset
//!   order and no two nodes can hand out the same offset.
//! - Each node holds one pub/sub connection and subscribes to a channel
//!   only while it has local subscribers. When that connection drops, the
//!   node keeps serving its clients, reconnects with backoff, subscribes
//!   again, and reports [`RemoteEvent::Reconnected`] so the hub can tell
//!   the clients that may have missed data to recover.
//! - A node registry (`{prefix}:node:{id}` hashes with a TTL) lists the
//!   live nodes.

pub mod resp;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Mutex};

use resp::{Conn, RespError, Value};

use super::{new_epoch, EngineError, Retention, StoredPublication, StreamTop};

const PUBLISH_SCRIPT: &str = r#"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[7]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local off = redis.call('HINCRBY', KEYS[1], 'last', 1)
if tonumber(ARGV[5]) > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], off .. '-1', 'e', ARGV[2], 'd', ARGV[3], 't', ARGV[4])
  if tonumber(ARGV[6]) > 0 then
    redis.call('PEXPIRE', KEYS[2], ARGV[6])
  end
end
local n = redis.call('PUBLISH', ARGV[1], off .. ' ' .. ARGV[8] .. off .. ARGV[9])
return {off, n}
"#;

const TOP_SCRIPT: &str = r#"
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local last = redis.call('HGET', KEYS[1], 'last')
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local earliest = ''
if #first > 0 then earliest = first[1][1] end
return {epoch, last or '0', earliest}
"#;

/// What the pub/sub connection reports to the hub.
#[derive(Debug)]
pub enum RemoteEvent {
    /// A publication: its offset (0 without history) and encoded frame.
    Message {
        channel: String,
        offset: u64,
        frame: Bytes,
    },
    /// The pub/sub connection was re-established; messages of these
    /// channels may have been missed.
    Reconnected { channels: Vec<String> },
}

enum PubSubCmd {
    Subscribe(String, oneshot::Sender<Result<(), EngineError>>),
    Unsubscribe(String),
}

fn err(e: RespError) -> EngineError {
    EngineError(e.to_string())
}

/// A live node in the registry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeInfo {
    pub id: String,
    pub address: String,
    pub connections: u64,
    pub last_heartbeat_ms: u64,
}

/// A publication on its way into Redis, already encoded around its offset.
#[derive(Clone, Copy)]
pub struct RedisPublication<'a> {
    pub channel: &'a str,
    pub event: &'a str,
    pub data: &'a str,
    pub ts_ms: u64,
    pub retention: Option<&'a Retention>,
    /// The frame up to where the offset goes.
    pub head: &'a str,
    /// The frame after the offset.
    pub tail: &'a str,
}

/// The redis side of a node.
pub struct RedisBroker {
    url: String,
    prefix: String,
    pool: Vec<Mutex<Option<Conn>>>,
    next: AtomicUsize,
    pubsub: mpsc::UnboundedSender<PubSubCmd>,
}

const POOL: usize = 4;

impl RedisBroker {
    /// Starts the broker's pub/sub task; returns the broker and the stream
    /// of remote events for the hub. Must be called inside a runtime.
    pub fn start(url: &str, prefix: &str) -> (RedisBroker, mpsc::UnboundedReceiver<RemoteEvent>) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        tokio::spawn(pubsub_task(
            url.to_string(),
            prefix.to_string(),
            cmd_rx,
            ev_tx,
        ));
        (
            RedisBroker {
                url: url.to_string(),
                prefix: prefix.to_string(),
                pool: (0..POOL).map(|_| Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
                pubsub: cmd_tx,
            },
            ev_rx,
        )
    }

    fn key(&self, kind: &str, channel: &str) -> String {
        format!("{}:{kind}:{channel}", self.prefix)
    }

    /// Runs one command on a pooled connection, reconnecting once.
    async fn cmd(&self, args: &[&[u8]]) -> Result<Value, EngineError> {
        self.cmd_with(args, true).await
    }

    /// Like [`Self::cmd`]; with `retry` false a command that may have
    /// reached Redis is never sent twice (publishes are not idempotent).
    async fn cmd_with(&self, args: &[&[u8]], retry: bool) -> Result<Value, EngineError> {
        let slot = &self.pool[self.next.fetch_add(1, Ordering::Relaxed) % POOL];
        let mut guard = slot.lock().await;
        for attempt in 0..2 {
            if guard.is_none() {
                let c = tokio::time::timeout(Duration::from_secs(2), Conn::connect(&self.url))
                    .await
                    .map_err(|_| EngineError("redis connect timeout".into()))?
                    .map_err(err)?;
                *guard = Some(c);
            }
            let Some(conn) = guard.as_mut() else { continue };
            match tokio::time::timeout(Duration::from_secs(5), conn.cmd(args)).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(RespError::Server(e))) => return Err(EngineError(format!("redis: {e}"))),
                Ok(Err(e)) => {
                    *guard = None;
                    if attempt == 1 || !retry {
                        return Err(err(e));
                    }
                }
                Err(_) => {
                    *guard = None;
                    return Err(EngineError("redis command timeout".into()));
                }
            }
        }
        Err(EngineError("redis unavailable".into()))
    }

    /// Publishes an encoded frame `head + offset + tail` (or `head + tail`
    /// without history); returns the offset and the number of nodes that
    /// received it.
    pub async fn publish(
        &self,
        p: &RedisPublication<'_>,
    ) -> Result<(Option<u64>, i64), EngineError> {
        let RedisPublication {
            channel,
            event,
            data,
            ts_ms,
            retention,
            head,
            tail,
        } = *p;
        let ps = self.key("ch", channel);
        let Some(r) = retention else {
            let msg = format!("0 {head}{tail}");
            let n = self
                .cmd_with(&[b"PUBLISH", ps.as_bytes(), msg.as_bytes()], false)
                .await?
                .as_int()
                .unwrap_or(0);
            return Ok((None, n));
        };
        let (meta, stream) = (self.key("meta", channel), self.key("stream", channel));
        let (size, ttl, ts, epoch) = (
            r.size.to_string(),
            (r.ttl.as_millis() as u64).to_string(),
            ts_ms.to_string(),
            new_epoch(),
        );
        let reply = self
            .cmd_with(
                &[
                    b"EVAL",
                    PUBLISH_SCRIPT.as_bytes(),
                    b"2",
                    meta.as_bytes(),
                    stream.as_bytes(),
                    ps.as_bytes(),
                    event.as_bytes(),
                    data.as_bytes(),
                    ts.as_bytes(),
                    size.as_bytes(),
                    ttl.as_bytes(),
                    epoch.as_bytes(),
                    head.as_bytes(),
                    tail.as_bytes(),
                ],
                false,
            )
            .await?
            .into_array();
        let off = reply.first().and_then(Value::as_int).unwrap_or(0) as u64;
        let n = reply.get(1).and_then(Value::as_int).unwrap_or(0);
        Ok((Some(off), n))
    }

    pub async fn top(&self, channel: &str) -> Result<StreamTop, EngineError> {
        let (meta, stream) = (self.key("meta", channel), self.key("stream", channel));
        let epoch = new_epoch();
        let reply = self
            .cmd(&[
                b"EVAL",
                TOP_SCRIPT.as_bytes(),
                b"2",
                meta.as_bytes(),
                stream.as_bytes(),
                epoch.as_bytes(),
            ])
            .await?
            .into_array();
        let epoch = reply
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let last = reply.get(1).and_then(Value::as_int).unwrap_or(0) as u64;
        let earliest = reply
            .get(2)
            .and_then(Value::as_str)
            .and_then(|id| id.split('-').next())
            .and_then(|o| o.parse::<u64>().ok())
            .unwrap_or(last + 1);
        Ok(StreamTop {
            offset: last,
            epoch,
            earliest,
        })
    }

    fn entries(v: Value, r: &Retention, now_ms: u64) -> Vec<StoredPublication> {
        let mut out = Vec::new();
        for item in v.into_array() {
            let mut parts = item.into_array().into_iter();
            let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
                continue;
            };
            let offset = id
                .as_str()
                .and_then(|s| s.split('-').next())
                .and_then(|o| o.parse::<u64>().ok())
                .unwrap_or(0);
            let mut map: HashMap<String, String> = HashMap::new();
            let mut kv = fields.into_array().into_iter();
            while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
                if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                    map.insert(k.to_string(), v.to_string());
                }
            }
            let ts_ms = map.get("t").and_then(|t| t.parse().ok()).unwrap_or(0);
            if !r.keeps(ts_ms, now_ms) {
                continue;
            }
            out.push(StoredPublication {
                offset,
                event: map.remove("e").unwrap_or_default(),
                data: map.remove("d").unwrap_or_else(|| "null".into()),
                ts_ms,
            });
        }
        out
    }

    pub async fn read(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
        r: &Retention,
        now_ms: u64,
    ) -> Result<Vec<StoredPublication>, EngineError> {
        let stream = self.key("stream", channel);
        let start = format!("{}-0", since.saturating_add(1));
        let count = limit.min(1_000_000).to_string();
        let v = self
            .cmd(&[
                b"XRANGE",
                stream.as_bytes(),
                start.as_bytes(),
                b"+",
                b"COUNT",
                count.as_bytes(),
            ])
            .await?;
        Ok(Self::entries(v, r, now_ms))
    }

    pub async fn latest(
        &self,
        channel: &str,
        r: &Retention,
        now_ms: u64,
    ) -> Result<Option<StoredPublication>, EngineError> {
        let stream = self.key("stream", channel);
        let v = self
            .cmd(&[b"XREVRANGE", stream.as_bytes(), b"+", b"-", b"COUNT", b"1"])
            .await?;
        Ok(Self::entries(v, r, now_ms).pop())
    }

    /// Subscribes this node to a channel, returning once Redis confirmed.
    pub async fn subscribe(&self, channel: &str) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        self.pubsub
            .send(PubSubCmd::Subscribe(channel.to_string(), tx))
            .map_err(|_| EngineError("redis pub/sub task stopped".into()))?;
        match tokio::time::timeout(Duration::from_secs(5), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(EngineError("redis pub/sub task stopped".into())),
            Err(_) => Err(EngineError("redis subscribe timeout".into())),
        }
    }

    /// Unsubscribes this node from a channel.
    pub fn unsubscribe(&self, channel: &str) {
        let _ = self
            .pubsub
            .send(PubSubCmd::Unsubscribe(channel.to_string()));
    }

    /// Records this node in the registry for `ttl`.
    pub async fn heartbeat(&self, node: &NodeInfo, ttl: Duration) -> Result<(), EngineError> {
        let key = self.key("node", &node.id);
        let (conns, hb, ttl) = (
            node.connections.to_string(),
            node.last_heartbeat_ms.to_string(),
            (ttl.as_millis() as u64).to_string(),
        );
        self.cmd(&[
            b"HSET",
            key.as_bytes(),
            b"id",
            node.id.as_bytes(),
            b"address",
            node.address.as_bytes(),
            b"connections",
            conns.as_bytes(),
            b"last_heartbeat_ms",
            hb.as_bytes(),
        ])
        .await?;
        self.cmd(&[b"PEXPIRE", key.as_bytes(), ttl.as_bytes()])
            .await?;
        Ok(())
    }

    /// The live nodes.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, EngineError> {
        let pattern = format!("{}:node:*", self.prefix);
        let mut cursor = "0".to_string();
        let mut keys = Vec::new();
        loop {
            let v = self
                .cmd(&[
                    b"SCAN",
                    cursor.as_bytes(),
                    b"MATCH",
                    pattern.as_bytes(),
                    b"COUNT",
                    b"100",
                ])
                .await?
                .into_array();
            let mut it = v.into_iter();
            cursor = it
                .next()
                .and_then(|c| c.as_str().map(String::from))
                .unwrap_or_else(|| "0".into());
            for k in it.next().map(Value::into_array).unwrap_or_default() {
                if let Some(k) = k.as_str() {
                    keys.push(k.to_string());
                }
            }
            if cursor == "0" || keys.len() > 10_000 {
                break;
            }
        }
        let mut out = Vec::new();
        for k in keys {
            let v = self.cmd(&[b"HGETALL", k.as_bytes()]).await?.into_array();
            let mut m: HashMap<String, String> = HashMap::new();
            let mut it = v.into_iter();
            while let (Some(a), Some(b)) = (it.next(), it.next()) {
                if let (Some(a), Some(b)) = (a.as_str(), b.as_str()) {
                    m.insert(a.into(), b.into());
                }
            }
            out.push(NodeInfo {
                id: m.remove("id").unwrap_or_default(),
                address: m.remove("address").unwrap_or_default(),
                connections: m
                    .get("connections")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0),
                last_heartbeat_ms: m
                    .get("last_heartbeat_ms")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0),
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

/// Owns the pub/sub connection: (re)connects with backoff, (re)subscribes,
/// and forwards messages to the hub.
async fn pubsub_task(
    url: String,
    prefix: String,
    mut cmds: mpsc::UnboundedReceiver<PubSubCmd>,
    events: mpsc::UnboundedSender<RemoteEvent>,
) {
    let ch_prefix = format!("{prefix}:ch:");
    let mut wanted: HashSet<String> = HashSet::new();
    let mut waiting: HashMap<String, Vec<oneshot::Sender<Result<(), EngineError>>>> =
        HashMap::new();
    let mut connected_before = false;
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut conn = match Conn::connect(&url).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "redis pub/sub connect failed; retrying");
                for (_, acks) in waiting.drain() {
                    for a in acks {
                        let _ = a.send(Err(EngineError("redis unavailable".into())));
                    }
                }
                // Keep taking commands while waiting, so subscribers fail fast.
                let sleep =
                    backoff + Duration::from_millis(fastrand::u64(0..=backoff.as_millis() as u64));
                let deadline = tokio::time::Instant::now() + sleep;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => break,
                        cmd = cmds.recv() => match cmd {
                            None => return,
                            Some(PubSubCmd::Subscribe(ch, ack)) => {
                                wanted.insert(ch);
                                let _ = ack.send(Err(EngineError("redis unavailable".into())));
                            }
                            Some(PubSubCmd::Unsubscribe(ch)) => {
                                wanted.remove(&ch);
                            }
                        }
                    }
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        if connected_before {
            tracing::info!(channels = wanted.len(), "redis pub/sub reconnected");
            let _ = events.send(RemoteEvent::Reconnected {
                channels: wanted.iter().cloned().collect(),
            });
        }
        connected_before = true;
        let mut ok = true;
        for ch in &wanted {
            let full = format!("{ch_prefix}{ch}");
            if conn.send(&[b"SUBSCRIBE", full.as_bytes()]).await.is_err() {
                ok = false;
                break;
            }
        }
        while ok {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    None => return,
                    Some(PubSubCmd::Subscribe(ch, ack)) => {
                        let full = format!("{ch_prefix}{ch}");
                        if wanted.contains(&ch) && !waiting.contains_key(&ch) {
                            let _ = ack.send(Ok(()));
                            continue;
                        }
                        wanted.insert(ch.clone());
                        waiting.entry(ch).or_default().push(ack);
                        if conn.send(&[b"SUBSCRIBE", full.as_bytes()]).await.is_err() {
                            ok = false;
                        }
                    }
                    Some(PubSubCmd::Unsubscribe(ch)) => {
                        if wanted.remove(&ch) {
                            let full = format!("{ch_prefix}{ch}");
                            if conn.send(&[b"UNSUBSCRIBE", full.as_bytes()]).await.is_err() {
                                ok = false;
                            }
                        }
                    }
                },
                msg = conn.read() => match msg {
                    Err(e) => {
                        tracing::warn!(error = %e, "redis pub/sub connection lost");
                        ok = false;
                    }
                    Ok(v) => handle_push(v, &ch_prefix, &mut waiting, &events),
                },
            }
        }
        for (_, acks) in waiting.drain() {
            for a in acks {
                let _ = a.send(Err(EngineError("redis connection lost".into())));
            }
        }
    }
}

fn handle_push(
    v: Value,
    ch_prefix: &str,
    waiting: &mut HashMap<String, Vec<oneshot::Sender<Result<(), EngineError>>>>,
    events: &mpsc::UnboundedSender<RemoteEvent>,
) {
    let mut parts = v.into_array().into_iter();
    let kind = parts.next();
    let name = parts.next();
    let payload = parts.next();
    let channel = name
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|n| n.strip_prefix(ch_prefix))
        .map(String::from);
    let Some(channel) = channel else { return };
    match kind.as_ref().and_then(Value::as_str) {
        Some("subscribe") => {
            for ack in waiting.remove(&channel).unwrap_or_default() {
                let _ = ack.send(Ok(()));
            }
        }
        Some("message") => {
            let Some(Value::Bulk(body)) = payload else {
                return;
            };
            let Some(space) = body.iter().position(|b| *b == b' ') else {
                return;
            };
            let offset = std::str::from_utf8(&body[..space])
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            let frame = Bytes::from(body).slice(space + 1..);
            let _ = events.send(RemoteEvent::Message {
                channel,
                offset,
                frame,
            });
        }
        _ => {}
    }
}
