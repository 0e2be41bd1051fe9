//! Running streams: the feature ticker and the live simulation. Frames
//! are queued as publications of the stream's key, so backpressure and
//! per-stream accounting apply. A stream that ends by itself (completion,
//! divergence, connection gone) forgets itself, with its audit record;
//! one that is cancelled was forgotten by whoever cancelled it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::to_client::fields;
use wavecast_sim::Simulation;

use super::errors::stream_error_fields;
use super::params::{FeatureParams, SimulationParams};
use super::pool::{Job, Next, SimPool, Wakes};
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

    /// Queues a frame, leaving the writer's wake-up in `wakes`; false
    /// once the stream's queue entry is gone.
    fn push(&self, key: &Arc<str>, frame: Bytes, wakes: &mut Wakes) -> bool {
        let outbound = &self.conn.outbound;
        let out = outbound.push_publication_quiet(key, &frame, 0, Instant::now(), &self.policy);
        if out.queued || out.disconnected {
            wakes.defer(outbound.take_waker());
        }
        out.queued || out.dropped > 0 || outbound.is_subscribed(key)
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

/// Starts the stream on the simulation pool, due now.
pub fn spawn(pool: &SimPool, ctx: StreamCtx, plan: Plan) {
    let key: Arc<str> = Arc::from(queue_key(&ctx.stream_id).as_str());
    let job: Box<dyn Job> = match plan {
        Plan::Features(p) => {
            let Ok(sim) = Simulation::new(p.sim.clone()) else {
                return ctx.finished("error");
            };
            Box::new(FeatureJob {
                ctx,
                key,
                sim: serial(sim),
                p,
                sequence: 0,
                due: Instant::now(),
            })
        }
        Plan::Simulation(p) => {
            let Ok(sim) = Simulation::new(p.sim.clone()) else {
                return ctx.finished("error");
            };
            Box::new(SimulationJob {
                ctx,
                key,
                sim: serial(sim),
                p,
                step: 0,
                activated_since: 0,
                started: Instant::now(),
            })
        }
    };
    pool.submit(Instant::now(), job);
}

/// Steps every stream serially: parallelism comes from the pool running
/// several streams at once, and a row-parallel step would hand its rows to
/// rayon threads of normal priority.
fn serial(mut sim: Simulation) -> Simulation {
    sim.set_parallel_threshold(usize::MAX);
    sim
}

/// A `stream_features` stream: one tick per slice.
struct FeatureJob {
    ctx: StreamCtx,
    key: Arc<str>,
    sim: Simulation,
    p: FeatureParams,
    sequence: u64,
    /// The tick being run.
    due: Instant,
}

impl Job for FeatureJob {
    fn run(&mut self, wakes: &mut Wakes) -> Next {
        if self.ctx.cancelled() {
            return Next::Done;
        }
        self.sim.step_n(self.p.steps_per_update);
        if !self.sim.is_finite() {
            self.ctx
                .push_final(diverged(&self.ctx, self.sim.step_count()));
            self.ctx.finished("diverged");
            return Next::Done;
        }
        let frame = self.frame();
        if self.ctx.cancelled() {
            return Next::Done;
        }
        if !self.ctx.push(&self.key, frame, wakes) {
            self.ctx.finished("connection_gone");
            return Next::Done;
        }
        self.sequence += 1;
        self.due = next_tick(self.due, self.p.interval, Instant::now());
        Next::At(self.due)
    }
}

impl FeatureJob {
    fn frame(&self) -> Bytes {
        let features = self.sim.features();
        self.ctx.control(
            "feature_update",
            fields([
                ("stream_id", Value::from(self.ctx.stream_id.as_str())),
                ("sequence", Value::from(self.sequence)),
                ("step", Value::from(self.sim.step_count())),
                (
                    "features",
                    serde_json::to_value(&features).unwrap_or(Value::Null),
                ),
                ("timestamp", Value::from(now_rfc3339())),
            ]),
        )
    }
}

/// The tick after `due` on the grid `due + k·interval`. A tick less than
/// half an interval past at `now` still runs (late); ticks further past
/// are skipped, so a stream that fell behind does not burst to catch up.
pub fn next_tick(due: Instant, interval: Duration, now: Instant) -> Instant {
    let next = due + interval;
    if next + interval / 2 > now {
        return next;
    }
    let behind = now.duration_since(next).as_nanos();
    let period = interval.as_nanos().max(1);
    let skip = (behind / period + 1).min(u128::from(u32::MAX)) as u32;
    next + interval * skip
}

/// A `simulation_live` run: steps for up to [`SLICE`] per slice, then
/// yields to streams whose tick fell due meanwhile.
struct SimulationJob {
    ctx: StreamCtx,
    key: Arc<str>,
    sim: Simulation,
    p: SimulationParams,
    /// Steps taken.
    step: u64,
    activated_since: usize,
    started: Instant,
}

/// The longest a `simulation_live` slice runs before it yields.
const SLICE: Duration = Duration::from_millis(2);

impl Job for SimulationJob {
    fn run(&mut self, wakes: &mut Wakes) -> Next {
        let until = Instant::now() + SLICE;
        while self.step < self.p.steps {
            if self.ctx.cancelled() {
                return Next::Done;
            }
            self.sim.step();
            self.step += 1;
            self.activated_since += self.sim.growth_events().activated;
            if (self.step.is_multiple_of(self.p.update_every) || self.step == self.p.steps)
                && !self.state(wakes)
            {
                return Next::Done;
            }
            if Instant::now() >= until && self.step < self.p.steps {
                return Next::At(Instant::now());
            }
        }
        self.complete();
        Next::Done
    }
}

impl SimulationJob {
    /// Sends a `simulation_state`; false when the stream ended.
    fn state(&mut self, wakes: &mut Wakes) -> bool {
        let (ctx, step) = (&self.ctx, self.step);
        if !self.sim.is_finite() {
            ctx.push_final(diverged(ctx, step));
            ctx.finished("diverged");
            return false;
        }
        let frame = state_frame(ctx, &self.sim, &self.p, step, self.activated_since);
        self.activated_since = 0;
        if !ctx.push(&self.key, frame, wakes) {
            ctx.finished("connection_gone");
            return false;
        }
        true
    }

    fn complete(&self) {
        let ctx = &self.ctx;
        let frame = ctx.control(
            "simulation_complete",
            fields([
                ("stream_id", Value::from(ctx.stream_id.as_str())),
                ("steps", Value::from(self.p.steps)),
                (
                    "metrics",
                    serde_json::to_value(self.sim.features()).unwrap_or(Value::Null),
                ),
                (
                    "duration_ms",
                    Value::from(self.started.elapsed().as_millis() as u64),
                ),
                ("timestamp", Value::from(now_rfc3339())),
            ]),
        );
        ctx.push_final(frame);
        ctx.finished("complete");
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

#[cfg(test)]
mod tests {
    use super::next_tick;
    use std::time::{Duration, Instant};

    #[test]
    fn next_tick_keeps_the_grid_and_skips_missed_ticks() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // On time: the next tick.
        assert_eq!(next_tick(t0, ms(100), t0 + ms(3)), t0 + ms(100));
        // Less than half an interval late: it still runs, late.
        assert_eq!(next_tick(t0, ms(100), t0 + ms(140)), t0 + ms(100));
        // 250 ms late: ticks 100 and 200 are skipped, 300 is next.
        assert_eq!(next_tick(t0, ms(100), t0 + ms(250)), t0 + ms(300));
        // Half an interval late: skipped.
        assert_eq!(next_tick(t0, ms(100), t0 + ms(150)), t0 + ms(200));
    }
}
