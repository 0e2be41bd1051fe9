//! The local broker: one process, history in a [`HistoryStore`] (memory or
//! embedded).
//!
//! A publish takes its channel's lock (a striped, short, synchronous
//! mutex), appends to history, which assigns the offset, and delivers
//! through [`BrokerEvents`] before releasing the lock: every subscriber
//! gets a channel's publications in offset order. Nothing that can wait
//! runs under the lock: with `fsync = "always"`, the publish waits for the
//! group commit that covers its write after releasing it. Reads that may
//! touch disk run on the blocking pool.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use wavecast_protocol::time::now_millis;
use wavecast_protocol::Publication;

use super::api::{Broker, BrokerEvents, Claimed, NodeInfo, Publish, Published};
use super::idempotency::IdempotencyCache;
use crate::history::{Append, HistoryStore, Retention, StoreError, StreamTop};

const STRIPES: usize = 256;

/// A single-node broker over a history store.
pub struct LocalBroker {
    store: Arc<dyn HistoryStore>,
    stripes: Box<[Mutex<()>]>,
    hasher: std::collections::hash_map::RandomState,
    idempotency: IdempotencyCache,
}

impl LocalBroker {
    pub fn new(store: Arc<dyn HistoryStore>) -> LocalBroker {
        LocalBroker {
            store,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: Default::default(),
            idempotency: IdempotencyCache::default(),
        }
    }

    /// The history store (for the periodic sweep and metrics).
    pub fn store(&self) -> &Arc<dyn HistoryStore> {
        &self.store
    }

    fn stripe(&self, channel: &str) -> &Mutex<()> {
        &self.stripes[(self.hasher.hash_one(channel) as usize) % STRIPES]
    }

    /// Runs a read on the blocking pool when the store may block.
    async fn off_worker<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn HistoryStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        if !self.store.may_block() {
            return f(&*self.store);
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|e| StoreError::Unavailable(format!("history read task failed: {e}")))?
    }

    /// The synchronous part of a publish, under the channel's lock; the
    /// direct writes it claimed are made by the caller, after the lock.
    fn append_and_deliver(
        &self,
        p: &Publish<'_>,
        events: &dyn BrokerEvents,
    ) -> Result<(Published, u64, Claimed), StoreError> {
        let _order = self.stripe(p.channel).lock();
        if let Some(key) = p.idempotency_key {
            if let Some(first) = self.idempotency.get(p.channel, key, Instant::now()) {
                return Ok((first, 0, Claimed::default()));
            }
        }
        let ts_ms = now_millis();
        if let (Some(key), Some(_)) = (p.idempotency_key, p.retention()) {
            // Stored before a restart, never acknowledged: not again.
            if let Some(offset) = self.store.idempotent(p.channel, key, ts_ms)? {
                let first = Published {
                    offset: Some(offset),
                    delivered: Some(0),
                    dropped: 0,
                    nodes: None,
                    duplicate: true,
                };
                self.idempotency.put(p.channel, key, first, Instant::now());
                return Ok((first, 0, Claimed::default()));
            }
        }
        let (offset, seq) = match p.retention() {
            Some(r) => {
                let append = Append {
                    channel: p.channel,
                    event: p.event,
                    data: &p.data,
                    ts_ms,
                    idempotency_key: p.idempotency_key,
                };
                self.store.append(append, &r)?
            }
            None => (0, 0),
        };
        let publication = Arc::new(Publication {
            channel: p.channel.to_string(),
            event: p.event.to_string(),
            data: p.data.clone(),
            offset,
            ts_ms,
        });
        let (d, claimed) = events.deliver_claiming(publication, Some(p.policy));
        let out = Published {
            offset: (offset > 0).then_some(offset),
            delivered: Some(d.delivered),
            dropped: d.dropped,
            nodes: None,
            duplicate: false,
        };
        if let Some(key) = p.idempotency_key {
            self.idempotency.put(p.channel, key, out, Instant::now());
        }
        Ok((out, seq, claimed))
    }
}

impl Broker for LocalBroker {
    async fn publish(
        &self,
        p: Publish<'_>,
        events: &dyn BrokerEvents,
    ) -> Result<Published, StoreError> {
        let (out, seq, claimed) = self.append_and_deliver(&p, events)?;
        // The channel's order lock is released: no lock is held across
        // these socket writes.
        events.write_claimed(claimed);
        if seq > 0 {
            if let Some(mut synced) = self.store.synced() {
                let store = &self.store;
                let durable = synced
                    .wait_for(|s| *s >= seq || !store.healthy())
                    .await
                    .map(|s| *s >= seq)
                    .map_err(|_| StoreError::Unavailable("the fsync thread stopped".into()))?;
                if !durable {
                    // The fsync failed: the publication was delivered but
                    // may not survive a crash; it is not acknowledged.
                    return Err(StoreError::Unavailable(crate::history::FSYNC_FAILED.into()));
                }
            }
        }
        Ok(out)
    }

    async fn top(&self, channel: &str, retention: &Retention) -> Result<StreamTop, StoreError> {
        let (channel, r) = (channel.to_string(), *retention);
        self.off_worker(move |s| s.top(&channel, &r, now_millis()))
            .await
    }

    async fn read(
        &self,
        channel: &str,
        since: u64,
        limit: usize,
        max_bytes: usize,
        retention: &Retention,
    ) -> Result<Vec<Publication>, StoreError> {
        let (channel, r) = (channel.to_string(), *retention);
        self.off_worker(move |s| s.read(&channel, since, limit, max_bytes, &r, now_millis()))
            .await
    }

    async fn latest(
        &self,
        channel: &str,
        retention: &Retention,
    ) -> Result<Option<Publication>, StoreError> {
        let (channel, r) = (channel.to_string(), *retention);
        self.off_worker(move |s| s.latest(&channel, &r, now_millis()))
            .await
    }

    async fn subscribe(&self, channel: &str) -> Result<(), StoreError> {
        self.store.retain(channel);
        Ok(())
    }

    fn unsubscribe(&self, channel: &str, retention: Option<&Retention>) {
        self.store.release(channel, retention, now_millis());
    }

    async fn nodes(&self) -> Option<Result<Vec<NodeInfo>, StoreError>> {
        None
    }

    fn healthy(&self) -> bool {
        self.store.healthy()
    }

    fn name(&self) -> &'static str {
        self.store.name()
    }
}
