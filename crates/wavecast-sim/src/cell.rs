//! The arithmetic of one cell: the coefficients, the 5-point Laplacian, the
//! explicit-Euler update with its flush of tiny values, and the neighbour
//! indices at the edges. This is the reference: every kernel performs these
//! IEEE operations in this order, so every path gives these bits.

use crate::config::{Boundary, SimConfig};

/// After each step, values with `|x| < FLUSH_TO_ZERO` become exactly 0.
///
/// Far from the pattern `v` decays geometrically; unchecked it sinks into
/// the `f32` subnormal range, where x86 arithmetic is 10–100× slower (and
/// `u·v²` goes subnormal already for `v < 1e-19`). At 1e-15 every product
/// the step forms stays normal; such values mean nothing on the model's
/// O(0.1–1) scale. Written as an `f64` literal cast to `f32`, like the
/// NumPy reference does, so both round the same way.
pub const FLUSH_TO_ZERO: f32 = 1e-15_f64 as f32;

/// Flushes `|x| < FLUSH_TO_ZERO` to 0 (branch-free after vectorisation).
#[inline(always)]
pub(crate) fn flush(x: f32) -> f32 {
    if x.abs() < FLUSH_TO_ZERO {
        0.0
    } else {
        x
    }
}

/// The per-step constants, pre-multiplied by `dt`, in the field precision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Coeffs {
    /// `dt * Du`
    pub dt_du: f32,
    /// `dt * Dv`
    pub dt_dv: f32,
    /// `dt`
    pub dt: f32,
    /// `dt * F`
    pub dt_f: f32,
    /// `dt * (F + k)`
    pub dt_fk: f32,
}

impl Coeffs {
    pub(crate) fn new(config: &SimConfig) -> Self {
        Self {
            dt_du: (config.dt * config.du) as f32,
            dt_dv: (config.dt * config.dv) as f32,
            dt: config.dt as f32,
            dt_f: (config.dt * config.feed) as f32,
            dt_fk: (config.dt * (config.feed + config.kill)) as f32,
        }
    }
}

/// The 5-point Laplacian with h = 1, summed in a fixed order.
#[inline(always)]
pub(crate) fn laplacian(center: f32, left: f32, right: f32, up: f32, down: f32) -> f32 {
    (up + down) + (left + right) - 4.0 * center
}

/// One explicit-Euler update of a cell given its Laplacians, flushed (see
/// [`FLUSH_TO_ZERO`]).
#[inline(always)]
pub(crate) fn react(c: &Coeffs, u: f32, v: f32, lap_u: f32, lap_v: f32) -> (f32, f32) {
    let uvv = u * v * v;
    (
        flush(u + c.dt_du * lap_u - c.dt * uvv + c.dt_f * (1.0 - u)),
        flush(v + c.dt_dv * lap_v + c.dt * uvv - c.dt_fk * v),
    )
}

/// Index of the neighbour before `i` along an axis of length `n`.
#[inline(always)]
pub(crate) fn before(i: usize, n: usize, boundary: Boundary) -> usize {
    match (i, boundary) {
        (0, Boundary::Periodic) => n - 1,
        (0, Boundary::Neumann) => 0,
        _ => i - 1,
    }
}

/// Index of the neighbour after `i` along an axis of length `n`.
#[inline(always)]
pub(crate) fn after(i: usize, n: usize, boundary: Boundary) -> usize {
    if i + 1 < n {
        i + 1
    } else {
        match boundary {
            Boundary::Periodic => 0,
            Boundary::Neumann => n - 1,
        }
    }
}
