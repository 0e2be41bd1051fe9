//! The MFN simulation streams: `/ws/stream_features`, `/ws/simulation_live`
//! and `/ws/heartbeat`. Their protocol is INIT → AUTH → SUBSCRIBE →
//! STREAM → END: the server says nothing before the client's `init`; a
//! `subscribe` {stream_type, stream_id, params} starts a computation whose
//! frames go through the connection's normal outbound queue (so the
//! namespace `stream`'s backpressure and the audit log apply), and
//! `unsubscribe` {stream_id} or a disconnect stops it at once.
//!
//! Computation runs off the async workers: each feature tick and each
//! simulation run executes on the blocking pool (and rayon for large
//! grids), checking a cancel flag between steps.

pub mod params;
mod run;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value};
use wavecast_protocol::client::RequestId;
use wavecast_protocol::server::{encode_control, error_fields, fields};
use wavecast_protocol::ErrorCode;

use crate::session::Connection;
use crate::state::AppState;

/// Which endpoint a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `/ws`, `/api/ws/connect`: the channel protocol.
    Channels,
    /// `/ws/stream_features`.
    Features,
    /// `/ws/simulation_live`.
    Simulation,
    /// `/ws/heartbeat`: auth and heartbeat only.
    Heartbeat,
}

impl Mode {
    /// Whether this is one of the MFN stream endpoints.
    pub fn is_stream(self) -> bool {
        self != Mode::Channels
    }

    fn stream_type(self) -> &'static str {
        match self {
            Mode::Features => "stream_features",
            Mode::Simulation => "simulation_live",
            _ => "",
        }
    }
}

/// The channel-like key under which a stream's frames are queued.
pub fn queue_key(stream_id: &str) -> String {
    format!("stream:{stream_id}")
}

/// A running stream's cancel flag.
pub struct StreamHandle {
    pub cancel: Arc<AtomicBool>,
}

/// The streams of one connection.
#[derive(Default)]
pub struct ConnStreams {
    running: Mutex<HashMap<String, StreamHandle>>,
}

impl ConnStreams {
    /// Stops every stream (on disconnect).
    pub fn cancel_all(&self) {
        for (_, h) in self.running.lock().drain() {
            h.cancel.store(true, Ordering::Release);
        }
    }

    pub fn count(&self) -> usize {
        self.running.lock().len()
    }

    /// Forgets a stream that ended by itself.
    pub fn finished(&self, id: &str) {
        self.running.lock().remove(id);
    }

    fn remove(&self, id: &str) -> Option<StreamHandle> {
        self.running.lock().remove(id)
    }
}

/// Streams running in this process, for the per-server limit.
#[derive(Default)]
pub struct StreamCounter(Arc<AtomicUsize>);

/// Holds one slot of the per-server limit.
pub struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl StreamCounter {
    fn try_take(&self, max: usize) -> Option<StreamSlot> {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            if cur >= max {
                return None;
            }
            match self
                .0
                .compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(StreamSlot(self.0.clone())),
                Err(now) => cur = now,
            }
        }
    }

    pub fn running(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

fn failed(
    code: ErrorCode,
    message: &str,
    stream_id: Option<&str>,
    id: Option<&RequestId>,
) -> bytes::Bytes {
    let mut f = error_fields(code, message);
    if let Some(s) = stream_id {
        f.insert("stream_id".into(), Value::from(s));
    }
    encode_control("subscribe_failed", f, id)
}

/// Handles `subscribe` on a stream endpoint: `obj` is the message without
/// `type` and `id`.
pub fn subscribe(
    state: &AppState,
    conn: &Arc<Connection>,
    mode: Mode,
    mut obj: Map<String, Value>,
    id: Option<&RequestId>,
) {
    if mode == Mode::Heartbeat {
        conn.outbound.push_control(failed(
            ErrorCode::Forbidden,
            "/ws/heartbeat carries no streams; use /ws/stream_features or /ws/simulation_live",
            None,
            id,
        ));
        return;
    }
    let stream_id = match obj.remove("stream_id") {
        Some(Value::String(s)) if params::valid_stream_id(&s) => s,
        _ => {
            conn.outbound.push_control(failed(
                ErrorCode::InvalidField,
                "stream_id: 1-64 letters, digits and _ - . : are required",
                None,
                id,
            ));
            return;
        }
    };
    let sid = Some(stream_id.as_str());
    match obj.remove("stream_type") {
        Some(Value::String(t)) if t == mode.stream_type() => {}
        other => {
            let got = other
                .map(|v| v.to_string())
                .unwrap_or_else(|| "nothing".into());
            conn.outbound.push_control(failed(
                ErrorCode::InvalidField,
                &format!(
                    "stream_type: this endpoint serves {:?}, got {got}",
                    mode.stream_type()
                ),
                sid,
                id,
            ));
            return;
        }
    }
    let raw = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            conn.outbound.push_control(failed(
                ErrorCode::InvalidField,
                "params: must be an object",
                sid,
                id,
            ));
            return;
        }
    };
    let cfg = &state.config.streams;
    let parsed = match mode {
        Mode::Features => params::features(raw, cfg.max_grid_size).map(run::Plan::Features),
        _ => params::simulation(raw, cfg.max_grid_size, cfg.max_steps).map(run::Plan::Simulation),
    };
    let plan = match parsed {
        Ok(p) => p,
        Err(message) => {
            conn.outbound
                .push_control(failed(ErrorCode::InvalidField, &message, sid, id));
            return;
        }
    };
    // Limits: per connection, then per process.
    if conn.streams.count() >= cfg.max_per_connection {
        state.metrics.limit_rejections("streams_per_connection");
        conn.outbound.push_control(failed(
            ErrorCode::TooManyStreams,
            &format!(
                "this connection already runs {} streams",
                cfg.max_per_connection
            ),
            sid,
            id,
        ));
        return;
    }
    if conn.streams.running.lock().contains_key(&stream_id) {
        conn.outbound.push_control(failed(
            ErrorCode::InvalidField,
            "stream_id: a stream with this id is already running",
            sid,
            id,
        ));
        return;
    }
    let Some(slot) = state.stream_counter.try_take(cfg.max_running) else {
        state.metrics.limit_rejections("streams_per_server");
        conn.outbound.push_control(failed(
            ErrorCode::TooManyStreams,
            &format!(
                "the server already runs {} streams; retry later",
                cfg.max_running
            ),
            sid,
            id,
        ));
        return;
    };
    let key = queue_key(&stream_id);
    conn.outbound.add_sub(key.as_str().into());
    let cancel = Arc::new(AtomicBool::new(false));
    conn.streams.running.lock().insert(
        stream_id.clone(),
        StreamHandle {
            cancel: cancel.clone(),
        },
    );
    conn.outbound.push_control(encode_control(
        "subscribe_success",
        fields([
            ("stream_id", Value::from(stream_id.as_str())),
            ("stream_type", Value::from(mode.stream_type())),
            ("params", plan.echo()),
        ]),
        id,
    ));
    run::spawn(state, conn.clone(), stream_id, plan, cancel, slot);
}

/// Handles `unsubscribe` {stream_id} on a stream endpoint.
pub fn unsubscribe(conn: &Connection, mut obj: Map<String, Value>, id: Option<&RequestId>) {
    let stream_id = match obj.remove("stream_id") {
        Some(Value::String(s)) => s,
        _ => {
            conn.outbound.push_control(encode_control(
                "unsubscribe_failed",
                error_fields(ErrorCode::InvalidField, "stream_id is required"),
                id,
            ));
            return;
        }
    };
    match conn.streams.remove(&stream_id) {
        Some(h) => {
            h.cancel.store(true, Ordering::Release);
            if let Some(stats) = conn.outbound.remove_sub(&queue_key(&stream_id)) {
                crate::audit::subscription_ended(
                    conn,
                    &queue_key(&stream_id),
                    &stats,
                    "unsubscribe",
                );
            }
            conn.outbound.push_control(encode_control(
                "unsubscribe_success",
                fields([("stream_id", Value::from(stream_id))]),
                id,
            ));
        }
        None => conn.outbound.push_control(encode_control(
            "unsubscribe_failed",
            error_fields(
                ErrorCode::NotSubscribed,
                &format!("no running stream {stream_id:?}"),
            ),
            id,
        )),
    }
}

/// Starts the configured published simulations: each steps on the
/// blocking pool and publishes `feature_update` into its channel through
/// the normal publish path, until shutdown.
pub fn spawn_rooms(state: &Arc<AppState>) {
    for room in state.config.streams.rooms.clone() {
        let sim_cfg = match params::features(room.params.clone(), usize::MAX) {
            Ok(p) => p.sim,
            Err(e) => {
                tracing::error!(channel = %room.channel, error = %e, "published simulation not started");
                continue;
            }
        };
        let weak = Arc::downgrade(state);
        tokio::spawn(async move {
            let Ok(mut sim) = wavecast_sim::Simulation::new(sim_cfg) else {
                return;
            };
            let mut ticker = tokio::time::interval(room.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut sequence = 0u64;
            loop {
                ticker.tick().await;
                let Some(state) = weak.upgrade() else { return };
                if state.shutdown.is_cancelled() {
                    return;
                }
                let stepped = tokio::task::spawn_blocking(move || {
                    sim.step();
                    let f = sim.features();
                    (sim, f)
                })
                .await;
                let Ok((s, features)) = stepped else { return };
                sim = s;
                let data = serde_json::json!({
                    "sequence": sequence,
                    "step": sim.step_count(),
                    "features": features,
                });
                if let Err(e) = state
                    .hub
                    .publish_async(&room.channel, "feature_update", &data.to_string())
                    .await
                {
                    tracing::warn!(channel = %room.channel, error = %e, "published simulation could not publish");
                }
                sequence += 1;
            }
        });
    }
}
