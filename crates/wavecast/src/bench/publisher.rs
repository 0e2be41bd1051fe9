//! The bench publisher: HTTP POSTs at a fixed rate to one channel, with up
//! to `concurrency` requests in flight (each slot keeps its own keep-alive
//! connection), as a back end with several request threads would. Each
//! payload carries its *scheduled* send time, so a server that falls
//! behind shows up in the latency instead of being hidden (no coordinated
//! omission). The time a publication actually left after its scheduled
//! time is measured too (`lag`): with every slot busy, or a bench short of
//! CPU, publications leave late and the run is marked client-bound.
//!
//! With more than one slot, publications may reach the server out of
//! `seq` order; subscribers tolerate that (see `conn::Order`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use wavecast_client::HttpApi;

use super::payload::{make, now_micros};
use super::stats::{histogram, record, summary_ms};

/// Where and how to publish.
#[derive(Clone)]
pub struct Publisher {
    api: HttpApi,
    url: String,
    /// The body around the payload: `prefix + data + suffix`.
    prefix: String,
    suffix: String,
    size: usize,
}

/// What a publishing run did.
#[derive(Debug, Clone)]
pub struct PubReport {
    /// Publications the server accepted (2xx).
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// The last `seq` handed out.
    pub last_seq: u64,
    /// Sum of `delivered` in wavecast's replies.
    pub server_delivered: u64,
    pub seconds: f64,
    /// How late each publication left (µs after its scheduled time).
    pub lag_us: Histogram<u64>,
    /// How long each publish request took (µs).
    pub request_us: Histogram<u64>,
}

impl Default for PubReport {
    fn default() -> Self {
        PubReport {
            ok: 0,
            errors: 0,
            first_error: None,
            last_seq: 0,
            server_delivered: 0,
            seconds: 0.0,
            lag_us: histogram(),
            request_us: histogram(),
        }
    }
}

impl PubReport {
    fn add(&mut self, o: &PubReport) {
        self.ok += o.ok;
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&o.first_error);
        }
        self.server_delivered += o.server_delivered;
        let _ = self.lag_us.add(&o.lag_us);
        let _ = self.request_us.add(&o.request_us);
    }

    /// The p99 lag in ms (`None` before any publication).
    pub fn lag_p99_ms(&self) -> Option<f64> {
        (!self.lag_us.is_empty()).then(|| self.lag_us.value_at_quantile(0.99) as f64 / 1000.0)
    }

    /// `{published, publish_errors, first_publish_error, publish_seconds,
    /// publish_lag_ms, publish_request_ms, server_reported_delivered}`.
    pub fn json(&self, concurrency: usize) -> serde_json::Value {
        serde_json::json!({
            "published": self.ok,
            "publish_errors": self.errors,
            "first_publish_error": self.first_error,
            "publish_seconds": super::stats::round3(self.seconds),
            "pub_concurrency": concurrency,
            "publish_lag_ms": summary_ms(&self.lag_us),
            "publish_request_ms": summary_ms(&self.request_us),
            "server_reported_delivered": self.server_delivered,
        })
    }
}

impl Publisher {
    /// `url_template` and `body_template` may hold `{channel}`; the body
    /// template must hold `{data}` once.
    pub fn new(
        api: HttpApi,
        url_template: &str,
        body_template: &str,
        channel: &str,
        size: usize,
    ) -> Result<Publisher, String> {
        let body = body_template.replace("{channel}", channel);
        let (prefix, suffix) = body.split_once("{data}").ok_or_else(|| {
            format!("the publish body template {body_template:?} has no {{data}}")
        })?;
        Ok(Publisher {
            api,
            url: url_template.replace("{channel}", channel),
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
            size,
        })
    }

    fn body(&self, seq: u64, ts_us: u64) -> Bytes {
        let data = make(seq, ts_us, self.size);
        let mut b = String::with_capacity(self.prefix.len() + data.len() + self.suffix.len());
        b.push_str(&self.prefix);
        b.push_str(&data);
        b.push_str(&self.suffix);
        Bytes::from(b)
    }

    /// One publication; returns the server's `delivered` when it says.
    pub async fn publish(&self, seq: u64, ts_us: u64) -> Result<u64, String> {
        let reply = self
            .api
            .post(&self.url, self.body(seq, ts_us))
            .await
            .map_err(|e| e.to_string())?;
        Ok(super::payload::field_u64(&reply, b"\"delivered\":").unwrap_or(0))
    }

    /// A readiness probe (`seq` 0, not measured).
    pub async fn probe(&self) -> Result<(), String> {
        self.publish(0, now_micros()).await.map(|_| ())
    }

    /// Publishes `rate` per second for `duration`, numbering from
    /// `first_seq`, with up to `concurrency` requests in flight.
    /// `progress` counts accepted publications.
    pub async fn run(
        &self,
        rate: f64,
        duration: Duration,
        first_seq: u64,
        concurrency: usize,
        progress: Arc<AtomicU64>,
    ) -> PubReport {
        let mut r = PubReport {
            last_seq: first_seq.saturating_sub(1),
            ..Default::default()
        };
        if rate <= 0.0 {
            return r;
        }
        let n = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
        let plan = Arc::new(Plan {
            start: tokio::time::Instant::now(),
            wall_us: now_micros(),
            rate,
            n,
            first_seq,
            next: AtomicU64::new(0),
        });
        let slots: Vec<_> = (0..concurrency.clamp(1, n as usize))
            .map(|_| {
                let (me, plan, progress) = (self.clone(), plan.clone(), progress.clone());
                tokio::spawn(async move { me.slot(&plan, &progress).await })
            })
            .collect();
        for s in slots {
            match s.await {
                Ok(part) => r.add(&part),
                Err(e) => {
                    r.errors += 1;
                    r.first_error
                        .get_or_insert_with(|| format!("publisher task: {e}"));
                }
            }
        }
        r.last_seq = first_seq + n - 1;
        r.seconds = plan.start.elapsed().as_secs_f64();
        r
    }

    /// One slot: takes the next publication, waits for its time, sends
    /// it, and again until the plan is done.
    async fn slot(&self, plan: &Plan, progress: &AtomicU64) -> PubReport {
        let mut r = PubReport::default();
        loop {
            let i = plan.next.fetch_add(1, Ordering::Relaxed);
            if i >= plan.n {
                return r;
            }
            let offset = Duration::from_secs_f64(i as f64 / plan.rate);
            let due = plan.start + offset;
            tokio::time::sleep_until(due).await;
            let sent = tokio::time::Instant::now();
            record(&mut r.lag_us, sent.duration_since(due).as_micros() as u64);
            let ts = plan.wall_us + offset.as_micros() as u64;
            let outcome = self.publish(plan.first_seq + i, ts).await;
            record(&mut r.request_us, sent.elapsed().as_micros() as u64);
            match outcome {
                Ok(d) => {
                    r.ok += 1;
                    r.server_delivered += d;
                    progress.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    r.errors += 1;
                    if r.first_error.is_none() {
                        r.first_error = Some(e);
                    }
                }
            }
        }
    }
}

/// A run's schedule, shared by its slots.
struct Plan {
    start: tokio::time::Instant,
    /// The wall clock (µs) at `start`: scheduled times are carried as
    /// `wall_us + offset`.
    wall_us: u64,
    rate: f64,
    n: u64,
    first_seq: u64,
    /// The next publication to hand out.
    next: AtomicU64,
}
