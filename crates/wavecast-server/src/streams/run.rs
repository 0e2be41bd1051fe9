//! Running streams: the feature ticker and the live simulation. Frames
//! are queued as publications of the stream's key, so backpressure and
//! per-stream accounting apply.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::time::MissedTickBehavior;
use wavecast_protocol::server::encode_control;
use wavecast_protocol::time::now_rfc3339;
use wavecast_sim::Simulation;

use super::params::{FeatureParams, SimulationParams};
use super::{queue_key, StreamSlot};
use crate::config::NamespaceConfig;
use crate::session::Connection;
use crate::state::AppState;

/// A validated stream, ready to run.
pub enum Plan {
    Features(FeatureParams),
    Simulation(SimulationParams),
}

impl Plan {
    /// The effective parameters, echoed in `subscribe_success`.
    pub fn echo(&self) -> Value {
        match self {
            Plan::Features(p) => json!({
                "grid_size": p.sim.grid_size,
                "update_interval_ms": p.interval.as_millis() as u64,
                "steps_per_update": p.steps_per_update,
                "model": p.sim,
            }),
            Plan::Simulation(p) => json!({
                "grid_size": p.sim.grid_size,
                "steps": p.steps,
                "update_every": p.update_every,
                "include_field": p.include_field,
                "model": p.sim,
            }),
        }
    }
}

/// The quantized potential field as compact JSON: u8 levels, base64.
pub fn field_json(sim: &Simulation) -> Value {
    let q = sim.quantize_u8();
    json!({
        "encoding": "u8-base64",
        "width": q.width,
        "height": q.height,
        "min": q.min,
        "max": q.max,
        "data": base64::engine::general_purpose::STANDARD.encode(&q.data),
    })
}

/// Sent (instead of more frames) when a run diverged: accepted parameters
/// near the stability bounds can still blow up the nonlinear term.
fn diverged(stream_id: &str, step: u64) -> Bytes {
    let mut f = wavecast_protocol::server::error_fields(
        wavecast_protocol::ErrorCode::InvalidField,
        "params: the simulation diverged (non-finite values); choose parameters further from the stability bounds",
    );
    f.insert("stream_id".into(), Value::from(stream_id));
    f.insert("step".into(), Value::from(step));
    encode_control("stream_error", f, None)
}

struct Sink {
    conn: Arc<Connection>,
    key: Arc<str>,
    policy: NamespaceConfig,
}

impl Sink {
    /// Queues a frame; false once the stream's queue entry is gone.
    fn push(&self, frame: Bytes) -> bool {
        let out =
            self.conn
                .outbound
                .push_publication(&self.key, &frame, Instant::now(), &self.policy);
        out.queued || out.dropped > 0
    }

    /// Queues a stream's last frame (`simulation_complete`,
    /// `stream_error`) as a control frame, which backpressure never drops.
    fn push_final(&self, frame: Bytes) {
        self.conn.outbound.push_control(frame);
    }
}

pub fn spawn(
    state: &AppState,
    conn: Arc<Connection>,
    stream_id: String,
    plan: Plan,
    cancel: Arc<AtomicBool>,
    slot: StreamSlot,
) {
    let key: Arc<str> = Arc::from(queue_key(&stream_id).as_str());
    let policy = state.config.namespace("stream").clone();
    let sink = Sink { conn, key, policy };
    match plan {
        Plan::Features(p) => {
            tokio::spawn(features(sink, stream_id, p, cancel, slot));
        }
        Plan::Simulation(p) => {
            tokio::task::spawn_blocking(move || simulation(sink, stream_id, p, cancel, slot));
        }
    }
}

async fn features(
    sink: Sink,
    stream_id: String,
    p: FeatureParams,
    cancel: Arc<AtomicBool>,
    slot: StreamSlot,
) {
    let _slot = slot;
    let Ok(mut sim) = Simulation::new(p.sim.clone()) else {
        return;
    };
    let mut ticker = tokio::time::interval(p.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sequence = 0u64;
    loop {
        ticker.tick().await;
        if cancel.load(Ordering::Acquire) {
            break;
        }
        let n = p.steps_per_update;
        let stepped = tokio::task::spawn_blocking(move || {
            sim.step_n(n);
            let f = sim.features();
            (sim, f)
        })
        .await;
        let Ok((s, features)) = stepped else { break };
        sim = s;
        if cancel.load(Ordering::Acquire) {
            break;
        }
        if !sim.is_finite() {
            sink.push_final(diverged(&stream_id, sim.step_count()));
            break;
        }
        let frame = encode_control(
            "feature_update",
            wavecast_protocol::server::fields([
                ("stream_id", Value::from(stream_id.as_str())),
                ("sequence", Value::from(sequence)),
                ("step", Value::from(sim.step_count())),
                (
                    "features",
                    serde_json::to_value(&features).unwrap_or(Value::Null),
                ),
                ("timestamp", Value::from(now_rfc3339())),
            ]),
            None,
        );
        if !sink.push(frame) && !sink.conn.outbound.is_subscribed(&sink.key) {
            break;
        }
        sequence += 1;
    }
    // Ended by itself (divergence, connection gone) or by unsubscribe.
    sink.conn.streams.finished(&stream_id);
}

fn simulation(
    sink: Sink,
    stream_id: String,
    p: SimulationParams,
    cancel: Arc<AtomicBool>,
    slot: StreamSlot,
) {
    let _slot = slot;
    let started = Instant::now();
    let Ok(mut sim) = Simulation::new(p.sim.clone()) else {
        return;
    };
    let mut activated_since = 0usize;
    for step in 1..=p.steps {
        if cancel.load(Ordering::Acquire) {
            return;
        }
        sim.step();
        activated_since += sim.growth_events().activated;
        if step % p.update_every == 0 || step == p.steps {
            if !sim.is_finite() {
                sink.push_final(diverged(&stream_id, step));
                sink.conn.streams.finished(&stream_id);
                return;
            }
            let growth = sim.growth_events();
            let mut f = wavecast_protocol::server::fields([
                ("stream_id", Value::from(stream_id.as_str())),
                ("step", Value::from(step)),
                ("total_steps", Value::from(p.steps)),
                (
                    "progress",
                    Value::from((step as f64 / p.steps as f64 * 1e4).round() / 1e4),
                ),
                (
                    "metrics",
                    serde_json::to_value(sim.features()).unwrap_or(Value::Null),
                ),
                (
                    "growth_events",
                    json!({
                        "step": growth.step,
                        "activated": growth.activated,
                        "deactivated": growth.deactivated,
                        "active": growth.active,
                        "activated_since_last_update": activated_since,
                        "cells": growth.cells,
                        "truncated": growth.truncated,
                    }),
                ),
                ("timestamp", Value::from(now_rfc3339())),
            ]);
            if p.include_field {
                f.insert("field".into(), field_json(&sim));
            }
            activated_since = 0;
            if !sink.push(encode_control("simulation_state", f, None))
                && !sink.conn.outbound.is_subscribed(&sink.key)
            {
                return;
            }
        }
    }
    let frame = encode_control(
        "simulation_complete",
        wavecast_protocol::server::fields([
            ("stream_id", Value::from(stream_id.as_str())),
            ("steps", Value::from(p.steps)),
            (
                "metrics",
                serde_json::to_value(sim.features()).unwrap_or(Value::Null),
            ),
            (
                "duration_ms",
                Value::from(started.elapsed().as_millis() as u64),
            ),
            ("timestamp", Value::from(now_rfc3339())),
        ]),
        None,
    );
    sink.push_final(frame);
    sink.conn.streams.finished(&stream_id);
}
