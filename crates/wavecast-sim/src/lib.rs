//! wavecast-sim: the simulation engine behind wavecast's simulation and
//! feature streams. Pure computation: no I/O, no networking, no clock.
//!
//! # Model
//!
//! A Gray–Scott reaction–diffusion system on an N×N grid (spacing h = 1),
//! which forms Turing patterns (spots, stripes, labyrinths):
//!
//! ```text
//! ∂u/∂t = Du ∇²u − u v² + F (1 − u)
//! ∂v/∂t = Dv ∇²v + u v² − (F + k) v
//! ```
//!
//! `u` is the substrate, `v` the activator. **The reported "potential" is
//! `v`.** Space uses the 5-point Laplacian
//! `∇²f(x,y) ≈ f(x−1,y) + f(x+1,y) + f(x,y−1) + f(x,y+1) − 4 f(x,y)`,
//! time explicit (forward) Euler with step `dt`; fields are `f32`.
//!
//! | parameter | field | default |
//! |---|---|---|
//! | Du, Dv | `du`, `dv` | 0.16, 0.08 |
//! | F (feed), k (kill) | `feed`, `kill` | 0.035, 0.065 (self-replicating spots) |
//! | dt | `dt` | 1.0 |
//! | boundary | `boundary` | periodic (or zero-flux Neumann) |
//!
//! Stability (checked by [`SimConfig::validate`], refused with a
//! [`SimError`] naming the bound):
//! - `dt · max(Du, Dv) <= h²/4 = 0.25`, the explicit diffusion bound;
//! - `dt · (8 Du + F) <= 2` and `dt · (8 Dv + F + k) <= 2`, linear stability
//!   of the checkerboard mode around the rest state `u = 1, v = 0`;
//! - `0 < dt <= 1`, so the explicit `u·v²` step cannot overshoot `u` for
//!   `v <= 1`.
//!
//! These are linear conditions; the nonlinear term is not bounded a priori.
//! Extreme but accepted sets (`Dv` tiny next to `Du`, F or k near 0) can
//! still diverge: [`Simulation::is_finite`] tells.
//!
//! After each step values with `|x| < 1e-15` are flushed to 0
//! ([`model::FLUSH_TO_ZERO`]), keeping `f32` out of the slow subnormal range.
//!
//! Initial state: `u = 1, v = 0`, a centred square of side `max(4, N/8)`
//! with `u = 0.5, v = 0.25`, plus uniform noise of amplitude 0.02 from
//! SplitMix64(`seed`). A seed gives bit-identical fields, serial or parallel.
//!
//! # Growth and features
//!
//! A cell is *active* when `v > activation_threshold` (default 0.25). The
//! growth events of a step ([`GrowthEvents`]) are the cells it newly
//! activated: an exact count, the count of deactivated and active cells,
//! and a bounded list of `[x, y]`. [`Features`] adds statistics of `v`,
//! the active count and ratio, the box-counting fractal dimension of the
//! active mask with its R², and energies. Frames for streaming come from
//! [`Simulation::quantize_u8`] (one byte per cell plus the scale).
//!
//! # Modules
//!
//! - [`config`] — [`SimConfig`], [`Boundary`], validation.
//! - [`error`] — [`SimError`].
//! - [`model`] — the grid and the step; `cell` — the per-cell arithmetic.
//! - `stencil` — the row kernel over SIMD lanes; `simd` — the lanes and
//!   their run-time choice ([`Kernel`]); `blocking` — temporal blocking;
//!   `aligned` — field storage on cache-line boundaries.
//! - [`simulation`] — the [`Simulation`] driver.
//! - [`growth`] — [`GrowthEvents`].
//! - [`features`] — [`Features`].
//! - [`fractal`] — [`box_counting_dimension`].
//! - [`quantize`] — [`QuantizedField`].
//! - [`rng`] — the SplitMix64 generator.

mod aligned;
mod blocking;
mod cell;
pub mod config;
pub mod error;
pub mod features;
pub mod fractal;
pub mod growth;
pub mod model;
pub mod quantize;
pub mod rng;
mod scan;
mod simd;
pub mod simulation;
mod stencil;

pub use config::{Boundary, SimConfig};
pub use error::SimError;
pub use features::Features;
pub use fractal::{box_counting_dimension, box_counting_dimension_with_sizes, BoxCount};
pub use growth::GrowthEvents;
pub use quantize::QuantizedField;
pub use simd::Kernel;
pub use simulation::{Simulation, DEFAULT_PARALLEL_THRESHOLD};
