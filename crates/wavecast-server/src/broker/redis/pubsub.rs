//! The node's pub/sub connection: subscribes to the channels that have
//! local subscribers, and delivers every message through the hub's
//! [`BrokerEvents`] callback.
//!
//! When the connection drops, the node keeps serving its clients,
//! reconnects with backoff, checks whether Redis restarted in a way that
//! may have lost data (then the generation grows, which changes every
//! epoch), subscribes again, and tells the hub that the subscribers of
//! every channel may have missed publications.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::resp::{Conn, RespError, Value};
use super::{message, scripts};
use crate::broker::api::BrokerEvents;
use crate::config::RedisUrl;
use crate::history::StoreError;

/// Where deliveries go: set once the hub exists.
pub type EventsSlot = Arc<OnceLock<Weak<dyn BrokerEvents>>>;

pub enum PubSubCmd {
    Subscribe(String, oneshot::Sender<Result<(), StoreError>>),
    Unsubscribe(String),
}

type Acks = HashMap<String, Vec<oneshot::Sender<Result<(), StoreError>>>>;

struct Task {
    addr: RedisUrl,
    prefix: String,
    events: EventsSlot,
    wanted: HashSet<String>,
    waiting: Acks,
}

/// Runs the pub/sub connection until every command sender is gone.
pub async fn run(
    addr: RedisUrl,
    prefix: String,
    mut cmds: mpsc::UnboundedReceiver<PubSubCmd>,
    events: EventsSlot,
) {
    let mut t = Task {
        addr,
        prefix,
        events,
        wanted: HashSet::new(),
        waiting: HashMap::new(),
    };
    let mut connected_before = false;
    let mut backoff = Duration::from_millis(100);
    loop {
        let conn = match t.connect().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(redis = %t.addr, error = %e, "redis pub/sub connect failed; retrying");
                t.fail_waiting("redis unavailable");
                if !t.refuse_while_down(&mut cmds, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        if connected_before {
            tracing::info!(channels = t.wanted.len(), "redis pub/sub reconnected");
            t.require_recovery_all("the node lost its redis connection");
        }
        connected_before = true;
        if !t.serve(conn, &mut cmds).await {
            return;
        }
        t.fail_waiting("redis connection lost");
    }
}

impl Task {
    fn ch_prefix(&self) -> String {
        format!("{}:ch:", self.prefix)
    }

    fn events(&self) -> Option<Arc<dyn BrokerEvents>> {
        self.events.get().and_then(Weak::upgrade)
    }

    /// Connects, checks the generation, and subscribes to every wanted
    /// channel.
    async fn connect(&self) -> Result<Conn, RespError> {
        let mut conn = Conn::connect(&self.addr).await?;
        check_generation(&mut conn, &self.prefix).await?;
        for ch in &self.wanted {
            let full = format!("{}{ch}", self.ch_prefix());
            conn.send(&[b"SUBSCRIBE", full.as_bytes()]).await?;
        }
        Ok(conn)
    }

    fn require_recovery_all(&self, reason: &str) {
        if let Some(ev) = self.events() {
            for ch in &self.wanted {
                ev.require_recovery(ch, reason);
            }
        }
    }

    fn fail_waiting(&mut self, why: &str) {
        for (_, acks) in self.waiting.drain() {
            for a in acks {
                let _ = a.send(Err(StoreError::Unavailable(why.into())));
            }
        }
    }

    /// Takes commands while disconnected, failing subscribes at once.
    async fn refuse_while_down(
        &mut self,
        cmds: &mut mpsc::UnboundedReceiver<PubSubCmd>,
        wait: Duration,
    ) -> bool {
        let jitter = Duration::from_millis(fastrand::u64(0..=wait.as_millis() as u64));
        let deadline = tokio::time::Instant::now() + wait + jitter;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return true,
                cmd = cmds.recv() => match cmd {
                    None => return false,
                    Some(PubSubCmd::Subscribe(ch, ack)) => {
                        self.wanted.insert(ch);
                        let _ = ack.send(Err(StoreError::Unavailable("redis unavailable".into())));
                    }
                    Some(PubSubCmd::Unsubscribe(ch)) => {
                        self.wanted.remove(&ch);
                    }
                },
            }
        }
    }

    /// Serves one connection until it fails (true) or the broker is gone.
    async fn serve(
        &mut self,
        mut conn: Conn,
        cmds: &mut mpsc::UnboundedReceiver<PubSubCmd>,
    ) -> bool {
        loop {
            let outcome = tokio::select! {
                cmd = cmds.recv() => match cmd {
                    None => return false,
                    Some(c) => self.command(&mut conn, c).await,
                },
                msg = conn.read() => msg.map(|v| self.push(v)),
            };
            if let Err(e) = outcome {
                tracing::warn!(redis = %self.addr, error = %e, "redis pub/sub connection lost");
                return true;
            }
        }
    }

    async fn command(&mut self, conn: &mut Conn, cmd: PubSubCmd) -> Result<(), RespError> {
        match cmd {
            PubSubCmd::Subscribe(ch, ack) => {
                if self.wanted.contains(&ch) && !self.waiting.contains_key(&ch) {
                    let _ = ack.send(Ok(()));
                    return Ok(());
                }
                let full = format!("{}{ch}", self.ch_prefix());
                self.wanted.insert(ch.clone());
                self.waiting.entry(ch).or_default().push(ack);
                conn.send(&[b"SUBSCRIBE", full.as_bytes()]).await
            }
            PubSubCmd::Unsubscribe(ch) => {
                if self.wanted.remove(&ch) {
                    let full = format!("{}{ch}", self.ch_prefix());
                    conn.send(&[b"UNSUBSCRIBE", full.as_bytes()]).await?;
                }
                Ok(())
            }
        }
    }

    /// Handles one pushed message.
    fn push(&mut self, v: Value) {
        let mut parts = v.into_array().into_iter();
        let (kind, name, payload) = (parts.next(), parts.next(), parts.next());
        let prefix = self.ch_prefix();
        let Some(channel) = name
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|n| n.strip_prefix(prefix.as_str()))
            .map(String::from)
        else {
            return;
        };
        match kind.as_ref().and_then(Value::as_str) {
            Some("subscribe") => {
                for ack in self.waiting.remove(&channel).unwrap_or_default() {
                    let _ = ack.send(Ok(()));
                }
            }
            Some("message") => {
                let Some(Value::Bulk(body)) = payload else {
                    return;
                };
                match message::decode(&channel, Bytes::from(body)) {
                    Some(p) => {
                        if let Some(ev) = self.events() {
                            ev.deliver(Arc::new(p), None);
                        }
                    }
                    None => tracing::warn!(channel, "malformed redis pub/sub message dropped"),
                }
            }
            _ => {}
        }
    }
}

/// Grows the generation when this Redis run may have lost data: it is a
/// new run (its run id changed) and its persistence is not an append-only
/// file synced on every write.
async fn check_generation(conn: &mut Conn, prefix: &str) -> Result<u64, RespError> {
    let info = conn.cmd(&[b"INFO", b"server"]).await?;
    let run_id = info
        .as_str()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("run_id:")))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    let aof = config_get(conn, b"appendonly").await;
    let fsync = config_get(conn, b"appendfsync").await;
    let safe = aof.as_deref() == Some("yes") && fsync.as_deref() == Some("always");
    let (gen, gen_run) = (format!("{prefix}:gen"), format!("{prefix}:gen_run"));
    let v = conn
        .cmd(&[
            b"EVAL",
            scripts::CHECK_GENERATION.body.as_bytes(),
            b"2",
            gen.as_bytes(),
            gen_run.as_bytes(),
            run_id.as_bytes(),
            if safe { b"1" } else { b"0" },
        ])
        .await?;
    Ok(v.as_int().unwrap_or(0) as u64)
}

/// `CONFIG GET key`, or `None` where CONFIG is not allowed.
async fn config_get(conn: &mut Conn, key: &[u8]) -> Option<String> {
    let v = conn.cmd(&[b"CONFIG", b"GET", key]).await.ok()?;
    v.into_array()
        .get(1)
        .and_then(|x| x.as_str().map(String::from))
}
