//! Running streams: the feature ticker and the live simulation. Frames
//! are queued as publications of the stream's key, so backpressure and
//! per-stream accounting apply. A stream that ends by itself (completion,
//! divergence, connection gone) forgets itself, with its audit record;
//! one that is cancelled was forgotten by whoever cancelled it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::time::MissedTickBehavior;
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::to_client::fields;
use wavecast_sim::Simulation;

use super::errors::stream_error_fields;
use super::params::{FeatureParams, SimulationParams};
use super::slots::{queue_key, ConnStreams, StreamSlot};
use crate::config::NamespaceConfig;
use crate::conn::Connection;

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
fn diverged(ctx: &StreamCtx, step: u64) -> Bytes {
    let mut f = stream_error_fields(
        wavecast_protocol::ErrorCode::InvalidField,
        "params: the simulation diverged (non-finite values); choose parameters further from the stability bounds",
    );
    f.insert("stream_id".into(), Value::from(ctx.stream_id.as_str()));
    f.insert("step".into(), Value::from(step));
    ctx.control("stream_error", f)
}

/// What a running stream needs: where its frames go and when to stop.
pub struct StreamCtx {
    pub conn: Arc<Connection>,
    pub streams: Arc<ConnStreams>,
    /// The `stream` namespace (backpressure of stream frames).
    pub policy: NamespaceConfig,
    pub stream_id: String,
    pub cancel: Arc<AtomicBool>,
    /// Held for the stream's life (the per-server limit).
    pub _slot: StreamSlot,
}

impl StreamCtx {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    /// Queues a frame; false once the stream's queue entry is gone.
    fn push(&self, key: &Arc<str>, frame: Bytes) -> bool {
        let out = self
            .conn
            .outbound
            .push_publication(key, &frame, 0, Instant::now(), &self.policy);
        out.queued || out.dropped > 0 || self.conn.outbound.is_subscribed(key)
    }

    /// Queues a stream's last frame (`simulation_complete`,
    /// `stream_error`) as a control frame, which backpressure never drops.
    fn push_final(&self, frame: Bytes) {
        self.conn.outbound.push_control(frame);
    }

    /// The stream ended by itself.
    fn finished(&self, reason: &str) {
        self.streams.finished(&self.conn, &self.stream_id, reason);
    }

    fn control(&self, kind: &str, f: serde_json::Map<String, Value>) -> Bytes {
        self.conn.control_frame(kind, f, None)
    }
}

pub fn spawn(ctx: StreamCtx, plan: Plan) {
    match plan {
        Plan::Features(p) => {
            tokio::spawn(features(ctx, p));
        }
        Plan::Simulation(p) => {
            tokio::task::spawn_blocking(move || simulation(ctx, p));
        }
    }
}

async fn features(ctx: StreamCtx, p: FeatureParams) {
    let key: Arc<str> = Arc::from(queue_key(&ctx.stream_id).as_str());
    let Ok(mut sim) = Simulation::new(p.sim.clone()) else {
        return ctx.finished("error");
    };
    let mut ticker = tokio::time::interval(p.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sequence = 0u64;
    loop {
        ticker.tick().await;
        if ctx.cancelled() {
            return;
        }
        let n = p.steps_per_update;
        let stepped = tokio::task::spawn_blocking(move || {
            sim.step_n(n);
            let f = sim.features();
            (sim, f)
        })
        .await;
        let Ok((s, features)) = stepped else {
            return ctx.finished("error");
        };
        sim = s;
        if ctx.cancelled() {
            return;
        }
        if !sim.is_finite() {
            ctx.push_final(diverged(&ctx, sim.step_count()));
            return ctx.finished("diverged");
        }
        let frame = ctx.control(
            "feature_update",
            fields([
                ("stream_id", Value::from(ctx.stream_id.as_str())),
                ("sequence", Value::from(sequence)),
                ("step", Value::from(sim.step_count())),
                (
                    "features",
                    serde_json::to_value(&features).unwrap_or(Value::Null),
                ),
                ("timestamp", Value::from(now_rfc3339())),
            ]),
        );
        if !ctx.push(&key, frame) {
            return ctx.finished("connection_gone");
        }
        sequence += 1;
    }
}

/// One `simulation_state` frame.
fn state_frame(
    ctx: &StreamCtx,
    sim: &Simulation,
    p: &SimulationParams,
    step: u64,
    activated_since: usize,
) -> Bytes {
    let growth = sim.growth_events();
    let mut f = fields([
        ("stream_id", Value::from(ctx.stream_id.as_str())),
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
        f.insert("field".into(), field_json(sim));
    }
    ctx.control("simulation_state", f)
}

fn simulation(ctx: StreamCtx, p: SimulationParams) {
    let started = Instant::now();
    let key: Arc<str> = Arc::from(queue_key(&ctx.stream_id).as_str());
    let Ok(mut sim) = Simulation::new(p.sim.clone()) else {
        return ctx.finished("error");
    };
    let mut activated_since = 0usize;
    for step in 1..=p.steps {
        if ctx.cancelled() {
            return;
        }
        sim.step();
        activated_since += sim.growth_events().activated;
        if step % p.update_every == 0 || step == p.steps {
            if !sim.is_finite() {
                ctx.push_final(diverged(&ctx, step));
                return ctx.finished("diverged");
            }
            let frame = state_frame(&ctx, &sim, &p, step, activated_since);
            activated_since = 0;
            if !ctx.push(&key, frame) {
                return ctx.finished("connection_gone");
            }
        }
    }
    let frame = ctx.control(
        "simulation_complete",
        fields([
            ("stream_id", Value::from(ctx.stream_id.as_str())),
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
    );
    ctx.push_final(frame);
    ctx.finished("complete");
}
