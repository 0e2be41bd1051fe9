//! Parsing and validation of stream `params`. Stream-level options are
//! taken out first; the rest must be a valid [`SimConfig`]. Every error
//! names the offending field.

use std::time::Duration;

use serde_json::{Map, Value};
use wavecast_sim::SimConfig;

/// A valid stream id: 1-64 letters, digits and `_ - . :`.
pub fn valid_stream_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// `/ws/stream_features` parameters.
#[derive(Debug, Clone)]
pub struct FeatureParams {
    pub sim: SimConfig,
    /// Time between `feature_update` frames (10 ms to 10 s).
    pub interval: Duration,
    /// Simulation steps computed per update (1 to 1000, default 1).
    pub steps_per_update: u64,
}

/// `/ws/simulation_live` parameters.
#[derive(Debug, Clone)]
pub struct SimulationParams {
    pub sim: SimConfig,
    pub steps: u64,
    /// Send `simulation_state` every this many steps.
    pub update_every: u64,
    /// Include the quantized field in each state.
    pub include_field: bool,
}

fn take_u64(
    m: &mut Map<String, Value>,
    key: &str,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, String> {
    match m.remove(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(format!(
                "params.{key}: must be a whole number from {min} to {max}, got {n}"
            )),
        },
        Some(other) => Err(format!(
            "params.{key}: must be a whole number from {min} to {max}, got {other}"
        )),
    }
}

fn take_bool(m: &mut Map<String, Value>, key: &str) -> Result<bool, String> {
    match m.remove(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(other) => Err(format!("params.{key}: must be true or false, got {other}")),
    }
}

/// The model part: what is left of `params` after the stream options.
fn sim_config(m: Map<String, Value>, max_grid: usize) -> Result<SimConfig, String> {
    let de = Value::Object(m);
    let cfg: SimConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path.is_empty() || path == "." {
            format!("params: {inner}")
        } else {
            format!("params.{path}: {inner}")
        }
    })?;
    if cfg.grid_size > max_grid {
        return Err(format!(
            "params.grid_size: at most {max_grid} on this server, got {}",
            cfg.grid_size
        ));
    }
    cfg.validate()
        .map_err(|e| format!("params.{}: {e}", e.field()))?;
    Ok(cfg)
}

pub fn features(mut m: Map<String, Value>, max_grid: usize) -> Result<FeatureParams, String> {
    let interval = take_u64(&mut m, "update_interval_ms", 10, 10_000, 100)?;
    let steps_per_update = take_u64(&mut m, "steps_per_update", 1, 1000, 1)?;
    Ok(FeatureParams {
        sim: sim_config(m, max_grid)?,
        interval: Duration::from_millis(interval),
        steps_per_update,
    })
}

pub fn simulation(
    mut m: Map<String, Value>,
    max_grid: usize,
    max_steps: u64,
) -> Result<SimulationParams, String> {
    let steps = take_u64(&mut m, "steps", 1, max_steps, 1000)?;
    let update_every = take_u64(&mut m, "update_every", 1, max_steps, 10)?;
    let include_field = take_bool(&mut m, "include_field")?;
    Ok(SimulationParams {
        sim: sim_config(m, max_grid)?,
        steps,
        update_every,
        include_field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn errors_name_the_field() {
        let e = features(obj(json!({"update_interval_ms": 5})), 512).unwrap_err();
        assert!(e.starts_with("params.update_interval_ms"), "{e}");
        let e = features(obj(json!({"feed": "x"})), 512).unwrap_err();
        assert!(e.starts_with("params.feed"), "{e}");
        let e = features(obj(json!({"bogus": 1})), 512).unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let e = features(obj(json!({"grid_size": 1024})), 512).unwrap_err();
        assert!(e.starts_with("params.grid_size"), "{e}");
        let e = simulation(obj(json!({"dt": 10.0})), 512, 1000).unwrap_err();
        assert!(e.contains("dt"), "{e}");
        let p = simulation(
            obj(json!({"grid_size": 64, "steps": 20, "update_every": 5, "include_field": true})),
            512,
            1000,
        )
        .unwrap();
        assert_eq!((p.steps, p.update_every, p.include_field), (20, 5, true));
        assert!(valid_stream_id("features-123") && !valid_stream_id("a b"));
    }
}
