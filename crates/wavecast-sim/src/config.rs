//! The simulation configuration: serde-deserializable with defaults, and its
//! validation (ranges, finiteness and the explicit scheme's stability bounds).

use serde::{Deserialize, Serialize};

use crate::error::{SimError, DIFFUSION_BOUND, REST_STATE_BOUND};

/// Smallest accepted `grid_size`.
pub const MIN_GRID_SIZE: usize = 8;
/// Largest accepted `grid_size` (2048² cells, 4 × 16 MiB of `f32` buffers).
pub const MAX_GRID_SIZE: usize = 2048;
/// Largest accepted `growth_event_limit`.
pub const MAX_GROWTH_EVENT_LIMIT: usize = 65_536;
/// Largest accepted diffusion coefficient.
pub const MAX_DIFFUSION: f64 = 100.0;
/// Largest accepted time step. The reaction `u·v²` is integrated explicitly
/// too: with `v <= 1`, `dt <= 1` keeps `dt·v² <= 1`, so its Euler step
/// cannot overshoot `u` below zero.
pub const MAX_DT: f64 = 1.0;

/// What the Laplacian sees beyond the grid's edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// The grid wraps around (a torus).
    #[default]
    Periodic,
    /// Zero flux: the ghost cell beyond an edge mirrors the edge cell, so
    /// nothing diffuses across it. Also accepted as `"zero_flux"`.
    #[serde(alias = "zero_flux")]
    Neumann,
}

/// Parameters of a run. Deserializes from JSON with every field optional
/// (missing fields take the defaults below) and unknown fields refused.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `grid_size` | 64 | N, the grid is N×N (`8..=2048`) |
/// | `du` | 0.16 | diffusion of `u` (alias `Du`) |
/// | `dv` | 0.08 | diffusion of `v` (alias `Dv`) |
/// | `feed` | 0.035 | feed rate F (alias `F`, `f`), in `[0, 1]` |
/// | `kill` | 0.065 | kill rate k (alias `k`), in `[0, 1]` |
/// | `dt` | 1.0 | Euler time step, in `(0, 1]` |
/// | `boundary` | `"periodic"` | `"periodic"` or `"neumann"` (`"zero_flux"`) |
/// | `seed` | 42 | seed of the initial perturbation |
/// | `activation_threshold` | 0.25 | a cell is active when `v >` this, in `[0, 1]` |
/// | `growth_event_limit` | 256 | most cells listed per step in [`GrowthEvents`](crate::GrowthEvents) |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Grid side N (the grid is N×N).
    pub grid_size: usize,
    /// Diffusion coefficient of `u`.
    #[serde(alias = "Du")]
    pub du: f64,
    /// Diffusion coefficient of `v`.
    #[serde(alias = "Dv")]
    pub dv: f64,
    /// Feed rate F.
    #[serde(alias = "F", alias = "f")]
    pub feed: f64,
    /// Kill rate k.
    #[serde(alias = "k")]
    pub kill: f64,
    /// Explicit-Euler time step.
    pub dt: f64,
    /// Boundary condition.
    pub boundary: Boundary,
    /// Seed of the initial perturbation.
    pub seed: u64,
    /// Activation threshold on the potential `v`.
    pub activation_threshold: f64,
    /// Most growth-event cells listed per step (the count is always exact).
    pub growth_event_limit: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            grid_size: 64,
            du: 0.16,
            dv: 0.08,
            feed: 0.035,
            kill: 0.065,
            dt: 1.0,
            boundary: Boundary::Periodic,
            seed: 42,
            activation_threshold: 0.25,
            growth_event_limit: 256,
        }
    }
}

fn finite(field: &'static str, value: f64) -> Result<(), SimError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(SimError::NotFinite { field, value })
    }
}

fn in_range(field: &'static str, value: f64, min: f64, max: f64) -> Result<(), SimError> {
    finite(field, value)?;
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SimError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

fn int_in_range(field: &'static str, value: usize, min: usize, max: usize) -> Result<(), SimError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SimError::IntOutOfRange {
            field,
            value: value as u64,
            min: min as u64,
            max: max as u64,
        })
    }
}

impl SimConfig {
    /// Checks ranges, finiteness and the stability bounds, field by field in
    /// declaration order; the first failure is returned.
    ///
    /// Stability (explicit Euler, 5-point Laplacian, h = 1), checked in
    /// this order:
    /// - diffusion: `dt * max(du, dv) <= h^2/4 = 0.25`;
    /// - rest state: `dt * (8 du + feed) <= 2` and
    ///   `dt * (8 dv + feed + kill) <= 2`, the linear stability of the
    ///   checkerboard mode around `u = 1, v = 0`, where every run starts.
    ///   Right at the diffusion bound any feed or kill breaks it.
    pub fn validate(&self) -> Result<(), SimError> {
        self.validate_grid()?;
        in_range("du", self.du, 0.0, MAX_DIFFUSION)?;
        in_range("dv", self.dv, 0.0, MAX_DIFFUSION)?;
        in_range("feed", self.feed, 0.0, 1.0)?;
        in_range("kill", self.kill, 0.0, 1.0)?;
        finite("dt", self.dt)?;
        if self.dt <= 0.0 {
            return Err(SimError::NotPositive {
                field: "dt",
                value: self.dt,
            });
        }
        in_range("dt", self.dt, 0.0, MAX_DT)?;
        in_range("activation_threshold", self.activation_threshold, 0.0, 1.0)?;
        int_in_range(
            "growth_event_limit",
            self.growth_event_limit,
            0,
            MAX_GROWTH_EVENT_LIMIT,
        )?;

        let max_diffusion = self.du.max(self.dv);
        let product = self.dt * max_diffusion;
        if product > DIFFUSION_BOUND {
            return Err(SimError::DiffusionUnstable {
                dt: self.dt,
                max_diffusion,
                product,
            });
        }
        let checks = [
            ("u", 8.0 * self.du + self.feed),
            ("v", 8.0 * self.dv + self.feed + self.kill),
        ];
        for (species, rate) in checks {
            let product = self.dt * rate;
            if product > REST_STATE_BOUND {
                return Err(SimError::RestStateUnstable {
                    species,
                    dt: self.dt,
                    rate,
                    product,
                });
            }
        }
        Ok(())
    }

    /// Only the checks that protect memory and indexing: `grid_size` and
    /// `growth_event_limit` ranges. Used by
    /// [`Simulation::new_unchecked`](crate::Simulation::new_unchecked).
    pub fn validate_grid(&self) -> Result<(), SimError> {
        int_in_range("grid_size", self.grid_size, MIN_GRID_SIZE, MAX_GRID_SIZE)?;
        int_in_range(
            "growth_event_limit",
            self.growth_event_limit,
            0,
            MAX_GROWTH_EVENT_LIMIT,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(SimConfig::default().validate(), Ok(()));
    }

    #[test]
    fn json_defaults_and_aliases() {
        let c: SimConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, SimConfig::default());
        let c: SimConfig =
            serde_json::from_str(r#"{"Du":0.2,"Dv":0.1,"F":0.05,"k":0.06,"boundary":"zero_flux"}"#)
                .unwrap();
        assert_eq!((c.du, c.dv, c.feed, c.kill), (0.2, 0.1, 0.05, 0.06));
        assert_eq!(c.boundary, Boundary::Neumann);
        let c: SimConfig = serde_json::from_str(r#"{"boundary":"neumann","seed":7}"#).unwrap();
        assert_eq!((c.boundary, c.seed), (Boundary::Neumann, 7));
    }

    #[test]
    fn unknown_fields_are_named() {
        let e = serde_json::from_str::<SimConfig>(r#"{"grid":64}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `grid`"), "{e}");
        let e = serde_json::from_str::<SimConfig>(r#"{"boundary":"open"}"#).unwrap_err();
        assert!(e.to_string().contains("open"), "{e}");
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(SimConfig, &str)> = vec![
            (
                SimConfig {
                    grid_size: 4,
                    ..Default::default()
                },
                "grid_size",
            ),
            (
                SimConfig {
                    grid_size: 4096,
                    ..Default::default()
                },
                "grid_size",
            ),
            (
                SimConfig {
                    du: f64::NAN,
                    ..Default::default()
                },
                "du",
            ),
            (
                SimConfig {
                    dv: -0.1,
                    ..Default::default()
                },
                "dv",
            ),
            (
                SimConfig {
                    feed: 1.5,
                    ..Default::default()
                },
                "feed",
            ),
            (
                SimConfig {
                    kill: f64::INFINITY,
                    ..Default::default()
                },
                "kill",
            ),
            (
                SimConfig {
                    dt: 0.0,
                    ..Default::default()
                },
                "dt",
            ),
            (
                SimConfig {
                    dt: -1.0,
                    ..Default::default()
                },
                "dt",
            ),
            (
                SimConfig {
                    activation_threshold: 2.0,
                    ..Default::default()
                },
                "activation_threshold",
            ),
            (
                SimConfig {
                    growth_event_limit: 1 << 20,
                    ..Default::default()
                },
                "growth_event_limit",
            ),
        ];
        for (config, field) in cases {
            let e = config.validate().unwrap_err();
            assert_eq!(e.field(), field, "{e}");
            assert!(e.to_string().starts_with(field), "{e}");
        }
    }

    #[test]
    fn diffusion_bound_is_named() {
        let c = SimConfig {
            du: 0.3,
            ..Default::default()
        };
        let e = c.validate().unwrap_err();
        assert!(matches!(e, SimError::DiffusionUnstable { .. }), "{e:?}");
        assert_eq!(e.field(), "dt");
        let msg = e.to_string();
        assert!(msg.contains("dt * max(Du, Dv) <= h^2/4 = 0.25"), "{msg}");
        // Exactly on the bound passes this check.
        let c = SimConfig {
            du: 0.25,
            dv: 0.25,
            feed: 0.0,
            kill: 0.0,
            ..Default::default()
        };
        assert_eq!(c.validate(), Ok(()));
        let c = SimConfig {
            du: 0.1,
            dv: 0.5,
            dt: 0.6,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(SimError::DiffusionUnstable { .. })
        ));
        let c = SimConfig {
            dt: 1.5,
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), "dt");
    }

    #[test]
    fn rest_state_bound_is_named() {
        // On the diffusion bound, any decay tips the checkerboard mode over.
        let c = SimConfig {
            du: 0.25,
            dv: 0.25,
            ..Default::default()
        };
        let e = c.validate().unwrap_err();
        assert!(
            matches!(e, SimError::RestStateUnstable { species: "u", .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("dt * (8*Du + F) <= 2"), "{e}");
        let c = SimConfig {
            du: 0.0,
            dv: 0.2,
            feed: 0.3,
            kill: 0.3,
            ..Default::default()
        };
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains("dt * (8*Dv + F + k) <= 2"), "{e}");
        let c = SimConfig {
            du: 0.25,
            dv: 0.25,
            feed: 0.0,
            kill: 0.0,
            ..Default::default()
        };
        assert_eq!(c.validate(), Ok(()));
    }
}
