//! The Gray–Scott grid: the double-buffered `u`/`v` fields, their seeded
//! initial state, and the explicit-Euler step (serial or row-parallel, with
//! bit-identical results either way).
//!
//! The step reads only the current buffers and writes only the next ones, so
//! every row is a pure function of the previous state: splitting rows across
//! threads cannot change a single bit. Nothing is allocated per step; the
//! buffers are swapped.

use rayon::prelude::*;

use crate::config::{Boundary, SimConfig};
use crate::growth::{count_row, MaskCounts};
use crate::rng::SplitMix64;

/// Rows are handed to rayon in groups of at least this many cells, so a task
/// is worth its scheduling cost.
const PAR_MIN_CELLS_PER_TASK: usize = 8192;

/// Amplitude of the uniform noise of the initial state.
pub const INITIAL_NOISE: f64 = 0.02;

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

/// The three rows (above, this, below) of one field around a row.
struct Rows<'a> {
    up: &'a [f32],
    mid: &'a [f32],
    down: &'a [f32],
}

impl<'a> Rows<'a> {
    fn new(field: &'a [f32], width: usize, up: usize, y: usize, down: usize) -> Self {
        Self {
            up: &field[up * width..(up + 1) * width],
            mid: &field[y * width..(y + 1) * width],
            down: &field[down * width..(down + 1) * width],
        }
    }

    #[inline(always)]
    fn lap(&self, x: usize, left: usize, right: usize) -> f32 {
        laplacian(
            self.mid[x],
            self.mid[left],
            self.mid[right],
            self.up[x],
            self.down[x],
        )
    }
}

/// Computes output row `y` from the current fields. `width >= 3`.
///
/// With `avx` (detected at run time) the same code is compiled for 8-wide
/// AVX vectors instead of SSE2's 4: the same IEEE operations in the same
/// order per cell (Rust never fuses `a*b + c`), so the bits do not change.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn step_row(
    avx: bool,
    c: &Coeffs,
    boundary: Boundary,
    width: usize,
    height: usize,
    y: usize,
    u: &[f32],
    v: &[f32],
    u_out: &mut [f32],
    v_out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if avx {
        // SAFETY: `avx` is only true when `Model::new` saw the CPU support
        // AVX (`is_x86_feature_detected!("avx")`).
        unsafe { step_row_avx(c, boundary, width, height, y, u, v, u_out, v_out) };
        return;
    }
    let _ = avx;
    step_row_body(c, boundary, width, height, y, u, v, u_out, v_out);
}

/// [`step_row_body`] compiled with AVX enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[allow(clippy::too_many_arguments)]
fn step_row_avx(
    c: &Coeffs,
    boundary: Boundary,
    width: usize,
    height: usize,
    y: usize,
    u: &[f32],
    v: &[f32],
    u_out: &mut [f32],
    v_out: &mut [f32],
) {
    step_row_body(c, boundary, width, height, y, u, v, u_out, v_out);
}

/// The row kernel proper; inlined into both the baseline and the AVX copy.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn step_row_body(
    c: &Coeffs,
    boundary: Boundary,
    width: usize,
    height: usize,
    y: usize,
    u: &[f32],
    v: &[f32],
    u_out: &mut [f32],
    v_out: &mut [f32],
) {
    let (up, down) = (before(y, height, boundary), after(y, height, boundary));
    let ru = Rows::new(u, width, up, y, down);
    let rv = Rows::new(v, width, up, y, down);

    // Edge columns: the only place the boundary rule applies along x.
    for x in [0, width - 1] {
        let (l, r) = (before(x, width, boundary), after(x, width, boundary));
        let (un, vn) = react(c, ru.mid[x], rv.mid[x], ru.lap(x, l, r), rv.lap(x, l, r));
        u_out[x] = un;
        v_out[x] = vn;
    }

    // Interior columns: plain slices of equal length, no wrap, no modulo,
    // no bounds checks left for the optimiser; vectorises.
    let n = width - 2;
    let (ul, um, ur) = (&ru.mid[..n], &ru.mid[1..n + 1], &ru.mid[2..n + 2]);
    let (uu, ud) = (&ru.up[1..n + 1], &ru.down[1..n + 1]);
    let (vl, vm, vr) = (&rv.mid[..n], &rv.mid[1..n + 1], &rv.mid[2..n + 2]);
    let (vu, vd) = (&rv.up[1..n + 1], &rv.down[1..n + 1]);
    let uo = &mut u_out[1..n + 1];
    let vo = &mut v_out[1..n + 1];
    for i in 0..n {
        let lap_u = laplacian(um[i], ul[i], ur[i], uu[i], ud[i]);
        let lap_v = laplacian(vm[i], vl[i], vr[i], vu[i], vd[i]);
        let (un, vn) = react(c, um[i], vm[i], lap_u, lap_v);
        uo[i] = un;
        vo[i] = vn;
    }
}

/// Whether the CPU runs AVX (always false off x86-64).
fn detect_avx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The two chemical fields on an N×N grid, double-buffered.
#[derive(Debug, Clone)]
pub struct Model {
    /// Run the AVX copy of the row kernel (detected once, at creation).
    avx: bool,
    width: usize,
    height: usize,
    boundary: Boundary,
    coeffs: Coeffs,
    u: Vec<f32>,
    v: Vec<f32>,
    u_next: Vec<f32>,
    v_next: Vec<f32>,
}

impl Model {
    /// The seeded initial state: `u = 1, v = 0` everywhere except a centred
    /// square of side `max(4, N/8)` where `u = 0.5, v = 0.25`; then every cell
    /// gets uniform noise, `u -= 0.02 * r1`, `v += 0.02 * r2` with
    /// `r1, r2` in `[0, 1)` drawn in row-major order from SplitMix64(seed).
    ///
    /// The caller has validated at least `config.validate_grid()`.
    pub(crate) fn new(config: &SimConfig) -> Self {
        let n = config.grid_size;
        let cells = n * n;
        let mut u = vec![1.0f32; cells];
        let mut v = vec![0.0f32; cells];
        let side = (n / 8).max(4).min(n);
        let start = (n - side) / 2;
        for y in start..start + side {
            u[y * n + start..y * n + start + side].fill(0.5);
            v[y * n + start..y * n + start + side].fill(0.25);
        }
        let mut rng = SplitMix64::new(config.seed);
        for (uc, vc) in u.iter_mut().zip(v.iter_mut()) {
            *uc = (f64::from(*uc) - INITIAL_NOISE * rng.next_f64()) as f32;
            *vc = (f64::from(*vc) + INITIAL_NOISE * rng.next_f64()) as f32;
        }
        Self {
            width: n,
            height: n,
            boundary: config.boundary,
            avx: detect_avx(),
            coeffs: Coeffs::new(config),
            u_next: u.clone(),
            v_next: v.clone(),
            u,
            v,
        }
    }

    /// Grid width (cells per row).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Grid height (rows).
    pub fn height(&self) -> usize {
        self.height
    }

    /// The boundary rule.
    pub fn boundary(&self) -> Boundary {
        self.boundary
    }

    /// The substrate `u`, row-major.
    pub fn u(&self) -> &[f32] {
        &self.u
    }

    /// The activator / potential `v`, row-major.
    pub fn v(&self) -> &[f32] {
        &self.v
    }

    /// `v` as it was before the last step (equal to [`Model::v`] before the
    /// first step).
    pub fn previous_v(&self) -> &[f32] {
        &self.v_next
    }

    /// Advances one explicit-Euler step; rows in parallel when `parallel`.
    ///
    /// With `track = Some((threshold, row_activations))` it also counts the
    /// mask transitions of the step, row by row while each row is in cache,
    /// and stores each row's activations in `row_activations` (one entry
    /// per row); otherwise it returns zero counts.
    pub(crate) fn step(&mut self, parallel: bool, track: Option<(f32, &mut [u32])>) -> MaskCounts {
        let Self {
            avx,
            width,
            height,
            boundary,
            coeffs,
            u,
            v,
            u_next,
            v_next,
        } = self;
        let (w, h, b, c, avx) = (*width, *height, *boundary, &*coeffs, *avx);
        let (u, v) = (&u[..], &v[..]);
        let row =
            |y: usize, uo: &mut [f32], vo: &mut [f32]| step_row(avx, c, b, w, h, y, u, v, uo, vo);
        let min_rows = (PAR_MIN_CELLS_PER_TASK / w).max(1);
        let counts = match (parallel, track) {
            (true, Some((t, acts))) => u_next
                .par_chunks_mut(w)
                .zip(v_next.par_chunks_mut(w))
                .zip(acts.par_iter_mut())
                .enumerate()
                .with_min_len(min_rows)
                .map(|(y, ((uo, vo), act))| {
                    row(y, uo, vo);
                    let k = count_row(&v[y * w..(y + 1) * w], vo, t);
                    *act = k.activated as u32;
                    k
                })
                .reduce(MaskCounts::default, std::ops::Add::add),
            (true, None) => {
                u_next
                    .par_chunks_mut(w)
                    .zip(v_next.par_chunks_mut(w))
                    .enumerate()
                    .with_min_len(min_rows)
                    .for_each(|(y, (uo, vo))| row(y, uo, vo));
                MaskCounts::default()
            }
            (false, Some((t, acts))) => u_next
                .chunks_mut(w)
                .zip(v_next.chunks_mut(w))
                .zip(acts.iter_mut())
                .enumerate()
                .map(|(y, ((uo, vo), act))| {
                    row(y, uo, vo);
                    let k = count_row(&v[y * w..(y + 1) * w], vo, t);
                    *act = k.activated as u32;
                    k
                })
                .fold(MaskCounts::default(), std::ops::Add::add),
            (false, None) => {
                for (y, (uo, vo)) in u_next.chunks_mut(w).zip(v_next.chunks_mut(w)).enumerate() {
                    row(y, uo, vo);
                }
                MaskCounts::default()
            }
        };
        std::mem::swap(&mut self.u, &mut self.u_next);
        std::mem::swap(&mut self.v, &mut self.v_next);
        counts
    }

    /// True when every value of both fields is finite.
    pub fn is_finite(&self) -> bool {
        self.u.iter().chain(&self.v).all(|x| x.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook version: modulo / clamp indexing for every cell.
    fn reference_step(m: &Model) -> (Vec<f32>, Vec<f32>) {
        let (w, h, b) = (m.width, m.height, m.boundary);
        let mut un = vec![0.0; w * h];
        let mut vn = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let at = |f: &[f32], xx: usize, yy: usize| f[yy * w + xx];
                let (l, r) = (before(x, w, b), after(x, w, b));
                let (up, dn) = (before(y, h, b), after(y, h, b));
                let lu = laplacian(
                    at(&m.u, x, y),
                    at(&m.u, l, y),
                    at(&m.u, r, y),
                    at(&m.u, x, up),
                    at(&m.u, x, dn),
                );
                let lv = laplacian(
                    at(&m.v, x, y),
                    at(&m.v, l, y),
                    at(&m.v, r, y),
                    at(&m.v, x, up),
                    at(&m.v, x, dn),
                );
                let (a, c) = react(&m.coeffs, at(&m.u, x, y), at(&m.v, x, y), lu, lv);
                un[y * w + x] = a;
                vn[y * w + x] = c;
            }
        }
        (un, vn)
    }

    #[test]
    fn optimised_step_matches_reference_bit_for_bit() {
        // Both kernel copies (baseline and, where the CPU has it, AVX).
        for avx in [false, detect_avx()] {
            for boundary in [Boundary::Periodic, Boundary::Neumann] {
                for parallel in [false, true] {
                    let config = SimConfig {
                        grid_size: 40,
                        boundary,
                        ..Default::default()
                    };
                    let mut m = Model::new(&config);
                    m.avx = avx;
                    for _ in 0..50 {
                        let (ru, rv) = reference_step(&m);
                        m.step(parallel, None);
                        let what = format!("{boundary:?} parallel={parallel} avx={avx}");
                        assert_eq!(m.u, ru, "{what}");
                        assert_eq!(m.v, rv, "{what}");
                    }
                }
            }
        }
    }

    #[test]
    fn neighbours() {
        assert_eq!(before(0, 8, Boundary::Periodic), 7);
        assert_eq!(after(7, 8, Boundary::Periodic), 0);
        assert_eq!(before(0, 8, Boundary::Neumann), 0);
        assert_eq!(after(7, 8, Boundary::Neumann), 7);
        assert_eq!(
            (
                before(3, 8, Boundary::Neumann),
                after(3, 8, Boundary::Periodic)
            ),
            (2, 4)
        );
    }

    #[test]
    fn neumann_conserves_pure_diffusion() {
        // With no reaction (F = k = 0 and v = 0 the u equation is pure
        // diffusion) zero flux keeps the total of u.
        let config = SimConfig {
            grid_size: 16,
            feed: 0.0,
            kill: 0.0,
            boundary: Boundary::Neumann,
            ..Default::default()
        };
        let mut m = Model::new(&config);
        m.v.fill(0.0);
        let total = |m: &Model| m.u.iter().map(|&x| f64::from(x)).sum::<f64>();
        let before_sum = total(&m);
        for _ in 0..200 {
            m.step(false, None);
        }
        assert!(
            (total(&m) - before_sum).abs() < 1e-2,
            "{} vs {before_sum}",
            total(&m)
        );
    }
}
