//! The per-step feature vector streamed to clients: statistics of the
//! potential `v`, the active mask's size and fractal dimension, and energies.
//!
//! One SIMD pass over `v` (`crate::scan`) gives the sums, extremes,
//! gradient terms and the bit-packed active mask; the box counting then
//! works on the packed mask. The values are the same on every kernel.

use serde::Serialize;

use crate::fractal::box_counting_bits;
use crate::model::Model;
use crate::scan::scan;

/// Features of the current state. All sums are accumulated in `f64`.
///
/// - `potential_*`: statistics of `v` over all cells (`std` is the
///   population standard deviation).
/// - `active_nodes`: cells with `v > activation_threshold`;
///   `active_ratio = active_nodes / cells`.
/// - `fractal_dimension`, `fractal_r_squared`: box counting over the active
///   mask with power-of-two boxes (see [`crate::fractal`]); 0 and 0 when no
///   cell is active.
/// - `energy`: `Σ v²`.
/// - `gradient_energy`: `½ Σ [(v(x+1,y) − v(x,y))² + (v(x,y+1) − v(x,y))²]`
///   with forward differences; periodic grids include the wrap-around pairs,
///   zero-flux grids have no difference across the edge.
/// - `spatial_variance`: population variance of `v` over the grid
///   (`potential_std²`, kept as its own field for the feature stream).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Features {
    /// Steps taken so far.
    pub step: u64,
    /// Mean of `v`.
    pub potential_mean: f64,
    /// Population standard deviation of `v`.
    pub potential_std: f64,
    /// Minimum of `v`.
    pub potential_min: f64,
    /// Maximum of `v`.
    pub potential_max: f64,
    /// Cells in the active mask.
    pub active_nodes: usize,
    /// `active_nodes / cells`.
    pub active_ratio: f64,
    /// Box-counting dimension of the active mask.
    pub fractal_dimension: f64,
    /// R² of the box-counting fit.
    pub fractal_r_squared: f64,
    /// `Σ v²`.
    pub energy: f64,
    /// `½ Σ |∇v|²` by forward differences.
    pub gradient_energy: f64,
    /// Population variance of `v`.
    pub spatial_variance: f64,
}

impl Features {
    /// Computes the features of `model`'s current state.
    pub(crate) fn compute(model: &Model, threshold: f32, step: u64) -> Self {
        let (w, h) = (model.width(), model.height());
        let cells = w * h;
        let sc = scan(model.kernel(), model.v(), w, model.boundary(), threshold);
        let n = cells.max(1) as f64;
        let mean = sc.sum / n;
        let variance = (sc.sum_sq / n - mean * mean).max(0.0);
        let active_nodes = sc.mask.count();
        let fractal = box_counting_bits(&sc.mask);
        Self {
            step,
            potential_mean: mean,
            potential_std: variance.sqrt(),
            potential_min: if cells == 0 { 0.0 } else { f64::from(sc.min) },
            potential_max: if cells == 0 { 0.0 } else { f64::from(sc.max) },
            active_nodes,
            active_ratio: active_nodes as f64 / n,
            fractal_dimension: fractal.dimension,
            fractal_r_squared: fractal.r_squared,
            energy: sc.sum_sq,
            gradient_energy: 0.5 * sc.gradient,
            spatial_variance: variance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::after;
    use crate::config::{Boundary, SimConfig};
    use crate::fractal::box_counting_dimension;
    use crate::simd::Kernel;

    /// The textbook features: sequential `f64` sums over `bool` masks.
    fn reference(
        v: &[f32],
        w: usize,
        h: usize,
        b: Boundary,
        t: f32,
    ) -> (f64, f64, f64, f64, f64, usize, f64) {
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut grad = 0.0;
        for y in 0..h {
            for x in 0..w {
                let c = f64::from(v[y * w + x]);
                sum += c;
                sum_sq += c * c;
                min = min.min(c);
                max = max.max(c);
                if x + 1 < w || b == Boundary::Periodic {
                    grad += (f64::from(v[y * w + after(x, w, b)]) - c).powi(2);
                }
                if y + 1 < h || b == Boundary::Periodic {
                    grad += (f64::from(v[after(y, h, b) * w + x]) - c).powi(2);
                }
            }
        }
        let mask: Vec<bool> = v.iter().map(|&x| x > t).collect();
        let active = mask.iter().filter(|&&a| a).count();
        let dim = box_counting_dimension(&mask, w, h).dimension;
        (sum, sum_sq, min, max, 0.5 * grad, active, dim)
    }

    fn features_of(n: usize, b: Boundary, kernel: Kernel, seed: u64) -> (Features, Vec<f32>) {
        let mut sim = crate::Simulation::new(SimConfig {
            grid_size: n,
            boundary: b,
            seed,
            ..Default::default()
        })
        .unwrap();
        sim.set_kernel(kernel);
        sim.step_n(300);
        (sim.features(), sim.potential().to_vec())
    }

    #[test]
    fn every_kernel_gives_the_same_features_and_matches_the_reference() {
        for n in [8, 13, 16, 64, 100] {
            for b in [Boundary::Periodic, Boundary::Neumann] {
                let (want, v) = features_of(n, b, Kernel::Scalar, n as u64);
                let (sum, sum_sq, min, max, grad, active, dim) = reference(&v, n, n, b, 0.25);
                let close = |a: f64, r: f64| (a - r).abs() <= 1e-12 * r.abs().max(1.0);
                let cells = (n * n) as f64;
                assert!(close(want.potential_mean, sum / cells), "{n} {b:?}");
                assert!(close(want.energy, sum_sq), "{n} {b:?}");
                assert!(
                    close(want.gradient_energy, grad),
                    "{n} {b:?}: {} vs {grad}",
                    want.gradient_energy
                );
                assert_eq!((want.potential_min, want.potential_max), (min, max));
                assert_eq!(want.active_nodes, active);
                assert_eq!(want.fractal_dimension, dim);
                for kernel in Kernel::ALL {
                    assert_eq!(
                        features_of(n, b, kernel, n as u64).0,
                        want,
                        "{n} {b:?} {kernel:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn gradient_energy_of_a_step_edge() {
        // Column 0 is 1, the rest 0, on a 4×2 grid.
        let v = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        for kernel in Kernel::ALL {
            // Neumann: one unit jump per row → ½ · 2 = 1.
            let g = crate::scan::scan(kernel, &v, 4, Boundary::Neumann, 0.5).gradient;
            assert_eq!(0.5 * g, 1.0);
            // Periodic: also the wrap 3 → 0 per row → ½ · 4 = 2.
            let g = crate::scan::scan(kernel, &v, 4, Boundary::Periodic, 0.5).gradient;
            assert_eq!(0.5 * g, 2.0);
        }
    }
}
