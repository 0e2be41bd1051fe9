//! [`RedisBroker`]: the [`Broker`] interface over Redis — publishes by
//! script, history reads, node-level subscriptions and the registry.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock, Weak};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use wavecast_protocol::time::now_millis;
use wavecast_protocol::Publication;

use super::pipeline::Pipeline;
use super::pubsub::{self, EventsSlot, PubSubCmd};
use super::resp::Value;
use super::shared::{Inner, NodeSelf, COMMAND_TIMEOUT};
use super::{registry, scripts};
use crate::broker::api::{Broker, BrokerEvents, NodeInfo, Publish, Published};
use crate::config::RedisUrl;
use crate::history::{Retention, StoreError, StreamTop};

/// Pipelined command connections per node.
const PIPES: usize = 2;
/// How long an idempotency key is remembered in Redis.
const IDEMPOTENCY_TTL_MS: u64 = 600_000;

/// The redis side of a node.
pub struct RedisBroker {
    inner: Arc<Inner>,
    pubsub: mpsc::UnboundedSender<PubSubCmd>,
}

impl RedisBroker {
    /// Starts the broker's connections, pub/sub task and node heartbeat.
    /// Must be called inside a Tokio runtime.
    pub fn start(addr: RedisUrl, prefix: &str, node: NodeSelf) -> RedisBroker {
        let events: EventsSlot = Arc::new(OnceLock::new());
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        tokio::spawn(pubsub::run(
            addr.clone(),
            prefix.to_string(),
            cmd_rx,
            events.clone(),
        ));
        let inner = Arc::new(Inner {
            prefix: prefix.to_string(),
            pipes: (0..PIPES).map(|_| Pipeline::start(addr.clone())).collect(),
            next: AtomicUsize::new(0),
            events,
        });
        registry::spawn_heartbeat(Arc::downgrade(&inner), node);
        RedisBroker {
            inner,
            pubsub: cmd_tx,
        }
    }

    /// Connects the broker's deliveries to the hub.
    pub fn attach(&self, events: Weak<dyn BrokerEvents>) {
        let _ = self.inner.events.set(events);
    }

    fn idempotency_key(&self, p: &Publish<'_>) -> String {
        p.idempotency_key
            .map(|k| format!("{}:idem:{}:{k}", self.inner.prefix, p.channel))
            .unwrap_or_default()
    }

    async fn publish_script(&self, p: &Publish<'_>) -> Result<Value, StoreError> {
        let inner = &self.inner;
        let ps = inner.key("ch", p.channel);
        let idem = self.idempotency_key(p);
        let (ts, idem_ttl) = (now_millis().to_string(), IDEMPOTENCY_TTL_MS.to_string());
        let Some(r) = p.retention() else {
            return inner
                .eval(
                    p.channel,
                    &scripts::PUBLISH_LIVE,
                    &[idem.as_bytes()],
                    &[
                        ps.as_bytes(),
                        p.event.as_bytes(),
                        &p.data,
                        ts.as_bytes(),
                        idem_ttl.as_bytes(),
                    ],
                )
                .await;
        };
        let (meta, stream) = (inner.key("meta", p.channel), inner.key("stream", p.channel));
        let (size, ttl, epoch) = (
            r.size.to_string(),
            (r.ttl.as_millis() as u64).to_string(),
            crate::ids::new_epoch(),
        );
        inner
            .eval(
                p.channel,
                &scripts::PUBLISH,
                &[meta.as_bytes(), stream.as_bytes(), idem.as_bytes()],
                &[
                    ps.as_bytes(),
                    p.event.as_bytes(),
                    &p.data,
                    ts.as_bytes(),
                    size.as_bytes(),
                    ttl.as_bytes(),
                    epoch.as_bytes(),
                    idem_ttl.as_bytes(),
                ],
            )
            .await
    }

    fn entries(v: Value, channel: &str, r: &Retention, now_ms: u64) -> Vec<Publication> {
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
            let mut map: HashMap<String, Vec<u8>> = HashMap::new();
            let mut kv = fields.into_array().into_iter();
            while let (Some(Value::Bulk(k)), Some(Value::Bulk(v))) = (kv.next(), kv.next()) {
                map.insert(String::from_utf8_lossy(&k).into_owned(), v);
            }
            let text = |k: &str| map.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
            let ts_ms = text("t").and_then(|t| t.parse().ok()).unwrap_or(0);
            if !r.keeps(ts_ms, now_ms) {
                continue;
            }
            out.push(Publication {
                channel: channel.to_string(),
                event: text("e").unwrap_or_default(),
                data: Bytes::from(map.remove("d").unwrap_or_else(|| b"null".to_vec())),
                offset,
                ts_ms,
            });
        }
        out
    }
}

/// Reads `{offset, nodes}` or a repeated key's `{-1, "offset nodes"}`.
fn publish_reply(v: Value) -> Published {
    let reply = v.into_array();
    let first = reply.first().and_then(Value::as_int).unwrap_or(0);
    let (offset, nodes, duplicate) = if first < 0 {
        let prev = reply.get(1).and_then(Value::as_str).unwrap_or("0 0");
        let mut it = prev.split(' ').map(|x| x.parse::<i64>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0), true)
    } else {
        (
            first,
            reply.get(1).and_then(Value::as_int).unwrap_or(0),
            false,
        )
    };
    Published {
        offset: (offset > 0).then_some(offset as u64),
        delivered: None,
        dropped: 0,
        nodes: Some(nodes),
        duplicate,
    }
}

impl Broker for RedisBroker {
    async fn publish(
        &self,
        p: Publish<'_>,
        _events: &dyn BrokerEvents,
    ) -> Result<Published, StoreError> {
        Ok(publish_reply(self.publish_script(&p).await?))
    }

    async fn top(&self, channel: &str, _retention: &Retention) -> Result<StreamTop, StoreError> {
        let inner = &self.inner;
        let (meta, stream) = (inner.key("meta", channel), inner.key("stream", channel));
        let gen = format!("{}:gen", inner.prefix);
        let epoch = crate::ids::new_epoch();
        let reply = inner
            .eval(
                channel,
                &scripts::TOP,
                &[meta.as_bytes(), stream.as_bytes(), gen.as_bytes()],
                &[epoch.as_bytes()],
            )
            .await?
            .into_array();
        let text = |i: usize| reply.get(i).and_then(Value::as_str).unwrap_or("");
        let last = reply.get(1).and_then(Value::as_int).unwrap_or(0) as u64;
        let earliest = text(2)
            .split('-')
            .next()
            .and_then(|o| o.parse::<u64>().ok())
            .unwrap_or(last + 1);
        let generation = text(3);
        let epoch = match generation {
            "" | "0" => text(0).to_string(),
            g => format!("{}-g{g}", text(0)),
        };
        Ok(StreamTop {
            offset: last,
            epoch,
            earliest,
        })
    }

    async fn read(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
        max_bytes: usize,
        retention: &Retention,
    ) -> Result<Vec<Publication>, StoreError> {
        let stream = self.inner.key("stream", channel);
        let start = format!("{}-0", since.saturating_add(1));
        let count = limit.min(1_000_000).to_string();
        let v = self
            .inner
            .channel_cmd(
                channel,
                &[
                    b"XRANGE",
                    stream.as_bytes(),
                    start.as_bytes(),
                    b"+",
                    b"COUNT",
                    count.as_bytes(),
                ],
            )
            .await?;
        let mut rows = Self::entries(v, channel, retention, now_millis());
        let mut bytes = 0;
        let keep = rows
            .iter()
            .take_while(|p| {
                let first = bytes == 0;
                bytes += p.data.len() + 1;
                first || bytes <= max_bytes
            })
            .count();
        rows.truncate(keep);
        Ok(rows)
    }

    async fn latest(
        &self,
        channel: &str,
        retention: &Retention,
    ) -> Result<Option<Publication>, StoreError> {
        let stream = self.inner.key("stream", channel);
        let v = self
            .inner
            .channel_cmd(
                channel,
                &[b"XREVRANGE", stream.as_bytes(), b"+", b"-", b"COUNT", b"1"],
            )
            .await?;
        Ok(Self::entries(v, channel, retention, now_millis()).pop())
    }

    async fn subscribe(&self, channel: &str) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.pubsub
            .send(PubSubCmd::Subscribe(channel.to_string(), tx))
            .map_err(|_| StoreError::Unavailable("redis pub/sub task stopped".into()))?;
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(StoreError::Unavailable("redis pub/sub task stopped".into())),
            Err(_) => Err(StoreError::Timeout("redis subscribe".into())),
        }
    }

    fn unsubscribe(&self, channel: &str, _retention: Option<&Retention>) {
        let _ = self
            .pubsub
            .send(PubSubCmd::Unsubscribe(channel.to_string()));
    }

    async fn nodes(&self) -> Option<Result<Vec<NodeInfo>, StoreError>> {
        Some(registry::nodes(&self.inner).await)
    }

    fn healthy(&self) -> bool {
        // Every pipeline: a channel's publishes go through one of them
        // (by hash), so one still reconnecting fails those channels.
        self.inner.pipes.iter().all(Pipeline::is_up)
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
