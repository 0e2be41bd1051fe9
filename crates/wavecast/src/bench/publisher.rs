//! The bench publisher: HTTP POSTs at a fixed rate, one channel, in order
//! (one request at a time on a keep-alive connection, so publications reach
//! the server in `seq` order). Each payload carries its *scheduled* send
//! time: when the publisher or the server falls behind, the delay shows up
//! in the latency instead of being hidden (no coordinated omission).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wavecast_client::HttpApi;

use super::payload::{make, now_micros};

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
#[derive(Debug, Clone, Default)]
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
    /// `first_seq`. `progress` counts accepted publications.
    pub async fn run(
        &self,
        rate: f64,
        duration: Duration,
        first_seq: u64,
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
        let start = tokio::time::Instant::now();
        let wall_us = now_micros();
        for i in 0..n {
            let offset = Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(start + offset).await;
            let seq = first_seq + i;
            let ts = wall_us + offset.as_micros() as u64;
            match self.publish(seq, ts).await {
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
            r.last_seq = seq;
        }
        r.seconds = start.elapsed().as_secs_f64();
        r
    }
}
