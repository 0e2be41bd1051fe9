//! The per-step feature vector streamed to clients: statistics of the
//! potential `v`, the active mask's size and fractal dimension, and energies.

use serde::Serialize;

use crate::config::Boundary;
use crate::fractal::box_counting_dimension;
use crate::model::{after, Model};

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
        let v = model.v();
        let cells = v.len();

        let mut sum = 0.0f64;
        let mut sum_sq = 0.0f64;
        let mut min = f64::INFINITY;
        let mut max = f64::NEG_INFINITY;
        let mut mask = Vec::with_capacity(cells);
        for &x in v {
            let x64 = f64::from(x);
            sum += x64;
            sum_sq += x64 * x64;
            min = min.min(x64);
            max = max.max(x64);
            mask.push(x > threshold);
        }
        let n = cells.max(1) as f64;
        let mean = sum / n;
        let variance = (sum_sq / n - mean * mean).max(0.0);
        let active_nodes = mask.iter().filter(|&&a| a).count();
        let fractal = box_counting_dimension(&mask, w, h);

        Self {
            step,
            potential_mean: mean,
            potential_std: variance.sqrt(),
            potential_min: if cells == 0 { 0.0 } else { min },
            potential_max: if cells == 0 { 0.0 } else { max },
            active_nodes,
            active_ratio: active_nodes as f64 / n,
            fractal_dimension: fractal.dimension,
            fractal_r_squared: fractal.r_squared,
            energy: sum_sq,
            gradient_energy: gradient_energy(v, w, h, model.boundary()),
            spatial_variance: variance,
        }
    }
}

/// `½ Σ` of squared forward differences along x and y.
fn gradient_energy(v: &[f32], w: usize, h: usize, boundary: Boundary) -> f64 {
    let wraps = boundary == Boundary::Periodic;
    let mut total = 0.0f64;
    for y in 0..h {
        let row = &v[y * w..(y + 1) * w];
        for pair in row.windows(2) {
            total += (f64::from(pair[1]) - f64::from(pair[0])).powi(2);
        }
        if wraps && w > 1 {
            total += (f64::from(row[0]) - f64::from(row[w - 1])).powi(2);
        }
        if y + 1 < h || wraps {
            let next_y = after(y, h, boundary);
            let next = &v[next_y * w..(next_y + 1) * w];
            for (a, b) in row.iter().zip(next) {
                total += (f64::from(*b) - f64::from(*a)).powi(2);
            }
        }
    }
    0.5 * total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_energy_of_a_step_edge() {
        // Column 0 is 1, the rest 0, on a 4×2 grid.
        let v = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        // Neumann: one unit jump per row → ½ · 2 = 1.
        assert_eq!(gradient_energy(&v, 4, 2, Boundary::Neumann), 1.0);
        // Periodic: also the wrap 3 → 0 per row → ½ · 4 = 2.
        assert_eq!(gradient_energy(&v, 4, 2, Boundary::Periodic), 2.0);
    }
}
