//! Published simulation rooms (`[[streams.rooms]]`): each steps on the
//! blocking pool and publishes `feature_update` into its channel through
//! the hub's normal publish path, so history, recovery, backpressure and
//! every dialect apply, until shutdown.

use std::sync::Arc;

use bytes::Bytes;

use super::params;
use crate::state::AppState;

/// Starts every configured room.
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
                let data = Bytes::from(data.to_string());
                if let Err(e) = state
                    .hub
                    .publish(&room.channel, "feature_update", data, None)
                    .await
                {
                    tracing::warn!(channel = %room.channel, error = %e, "published simulation could not publish");
                }
                sequence += 1;
            }
        });
    }
}
