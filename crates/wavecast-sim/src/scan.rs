//! One pass over the potential `v` for the features: sum, sum of squares,
//! minimum, maximum, the gradient energy's squared differences, and the
//! active mask packed 64 cells to a word for the box counting.
//!
//! Invariant: the result is the same, bit for bit, on every [`Kernel`].
//! Sums run in eight `f64` lanes: cell `(x, y)` goes to lane `x % 8`, each
//! lane adds its cells in row-major order (`dx²` before `dy²`), and the
//! lanes are combined in one fixed tree at the end. Every kernel keeps this
//! order, whether a cell is taken in a block of eight or alone at a row's
//! end, so the lanes, and the sums, agree exactly.

use crate::config::Boundary;
use crate::fractal::BitMask;
use crate::simd::{Kernel, Scalar, Simd8};

/// The raw totals of one pass.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scan {
    /// `Σ v`.
    pub sum: f64,
    /// `Σ v²`.
    pub sum_sq: f64,
    /// `Σ` of the squared forward differences (not yet halved).
    pub gradient: f64,
    /// Smallest `v` (NaN skipped); `+∞` for no cells.
    pub min: f32,
    /// Largest `v` (NaN skipped); `−∞` for no cells.
    pub max: f32,
    /// Cells with `v > threshold`.
    pub mask: BitMask,
}

/// The per-lane running totals.
struct Lanes<S: Simd8> {
    sum: S::D,
    sum_sq: S::D,
    gradient: S::D,
    min: S::F,
    max: S::F,
}

/// The same totals as plain arrays, for cells taken one at a time.
struct Arrays {
    sum: [f64; 8],
    sum_sq: [f64; 8],
    gradient: [f64; 8],
    min: [f32; 8],
    max: [f32; 8],
}

impl<S: Simd8> Lanes<S> {
    #[inline(always)]
    fn new(s: S) -> Self {
        Self {
            sum: s.dzero(),
            sum_sq: s.dzero(),
            gradient: s.dzero(),
            min: s.splat(f32::INFINITY),
            max: s.splat(f32::NEG_INFINITY),
        }
    }

    #[inline(always)]
    fn to_arrays(&self, s: S) -> Arrays {
        Arrays {
            sum: s.dto_array(self.sum),
            sum_sq: s.dto_array(self.sum_sq),
            gradient: s.dto_array(self.gradient),
            min: s.to_array(self.min),
            max: s.to_array(self.max),
        }
    }

    /// Adds a block of eight cells `c` with their right neighbours `r`
    /// and, when there is a next row, the cells below `d`.
    #[inline(always)]
    fn add(&mut self, s: S, c: S::F, r: S::F, d: Option<S::F>) {
        let c64 = s.widen(c);
        self.sum = s.dadd(self.sum, c64);
        self.sum_sq = s.dadd(self.sum_sq, s.dmul(c64, c64));
        let dx = s.dsub(s.widen(r), c64);
        self.gradient = s.dadd(self.gradient, s.dmul(dx, dx));
        if let Some(d) = d {
            let dy = s.dsub(s.widen(d), c64);
            self.gradient = s.dadd(self.gradient, s.dmul(dy, dy));
        }
        self.min = s.min(c, self.min);
        self.max = s.max(c, self.max);
    }
}

impl Arrays {
    /// Adds one cell to lane `lane` (the same operations as a block lane).
    #[inline(always)]
    fn add(&mut self, lane: usize, c: f32, r: Option<f32>, d: Option<f32>) {
        let c64 = f64::from(c);
        self.sum[lane] += c64;
        self.sum_sq[lane] += c64 * c64;
        if let Some(r) = r {
            let dx = f64::from(r) - c64;
            self.gradient[lane] += dx * dx;
        }
        if let Some(d) = d {
            let dy = f64::from(d) - c64;
            self.gradient[lane] += dy * dy;
        }
        if c < self.min[lane] {
            self.min[lane] = c;
        }
        if c > self.max[lane] {
            self.max[lane] = c;
        }
    }
}

/// The fixed combination of eight lanes.
fn tree(x: [f64; 8]) -> f64 {
    ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]))
}

/// What the scan of a row needs to know.
struct RowCtx<'a> {
    threshold: f32,
    boundary: Boundary,
    /// The row below, if the gradient has a `dy` term for this row.
    next: Option<&'a [f32]>,
}

/// Adds the block of eight cells at `x` of `row`, with right neighbours
/// `right[..8]`, and sets their mask bits. A function, not a closure: a
/// closure is not inlined into a `target_feature` caller, so its
/// intrinsics would become calls.
#[inline(always)]
fn scan_block<S: Simd8>(
    s: S,
    (row, right): (&[f32], &[f32]),
    x: usize,
    ctx: &RowCtx,
    acc: &mut Lanes<S>,
    words: &mut [u64],
) {
    let (c, right) = (&row[x..x + 8], &right[..8]);
    // SAFETY: each slice holds eight `f32`.
    let (c, r) = unsafe { (s.load(c.as_ptr()), s.load(right.as_ptr())) };
    // A `match`, not `Option::map`: a closure would keep the load's
    // intrinsic out of the `target_feature` caller.
    #[allow(clippy::manual_map)]
    let d = match ctx.next {
        // SAFETY: as above.
        Some(n) => Some(unsafe { s.load(n[x..x + 8].as_ptr()) }),
        None => None,
    };
    acc.add(s, c, r, d);
    words[x / 64] |= u64::from(s.gt_bits(c, s.splat(ctx.threshold))) << (x % 64);
}

/// Scans one row; its mask bits go to `words`.
#[inline(always)]
fn scan_row<S: Simd8>(s: S, row: &[f32], ctx: &RowCtx, acc: &mut Lanes<S>, words: &mut [u64]) {
    let w = row.len();
    if w >= 8 && w.is_multiple_of(8) {
        // Whole blocks; the last one's right neighbours are a copy with
        // the ghost cell (Neumann: the edge itself, so dx = 0 adds +0).
        for x in (0..w - 8).step_by(8) {
            scan_block(s, (row, &row[x + 1..]), x, ctx, acc, words);
        }
        let mut last = [0.0; 8];
        last[..7].copy_from_slice(&row[w - 7..]);
        last[7] = row[crate::cell::after(w - 1, w, ctx.boundary)];
        scan_block(s, (row, &last), w - 8, ctx, acc, words);
        return;
    }
    // Blocks whose right neighbours lie inside the row, then the rest one
    // by one, each into its own lane, in order.
    let blocks = w.saturating_sub(1) / 8;
    for x in (0..8 * blocks).step_by(8) {
        scan_block(s, (row, &row[x + 1..]), x, ctx, acc, words);
    }
    let mut lanes = acc.to_arrays(s);
    for x in 8 * blocks..w {
        let right = match (x + 1 < w, ctx.boundary) {
            (true, _) => Some(row[x + 1]),
            (false, Boundary::Periodic) => Some(row[0]),
            (false, Boundary::Neumann) => None,
        };
        lanes.add(x % 8, row[x], right, ctx.next.map(|n| n[x]));
        words[x / 64] |= u64::from(row[x] > ctx.threshold) << (x % 64);
    }
    *acc = Lanes::from_arrays(s, &lanes);
}

impl<S: Simd8> Lanes<S> {
    #[inline(always)]
    fn from_arrays(s: S, a: &Arrays) -> Self {
        // SAFETY: the arrays hold eight `f32` each.
        let (min, max) = unsafe { (s.load(a.min.as_ptr()), s.load(a.max.as_ptr())) };
        Self {
            sum: s.dload(&a.sum),
            sum_sq: s.dload(&a.sum_sq),
            gradient: s.dload(&a.gradient),
            min,
            max,
        }
    }
}

/// Scans `v` (`width × height`, row-major) with `kernel`.
#[inline(always)]
fn scan_with<S: Simd8>(s: S, v: &[f32], width: usize, boundary: Boundary, threshold: f32) -> Scan {
    let height = v.len().checked_div(width).unwrap_or(0);
    let mut mask = BitMask::new(width, height);
    let mut acc = Lanes::new(s);
    for y in 0..height {
        let row = &v[y * width..(y + 1) * width];
        let next_y = match boundary {
            _ if y + 1 < height => Some(y + 1),
            Boundary::Periodic => Some(0),
            Boundary::Neumann => None,
        };
        let ctx = RowCtx {
            threshold,
            boundary,
            next: next_y.map(|n| &v[n * width..(n + 1) * width]),
        };
        scan_row(s, row, &ctx, &mut acc, mask.row_mut(y));
    }
    let a = acc.to_arrays(s);
    let fold = |x: [f32; 8], pick: fn(f32, f32) -> f32| x.into_iter().reduce(pick).unwrap_or(0.0);
    Scan {
        sum: tree(a.sum),
        sum_sq: tree(a.sum_sq),
        gradient: tree(a.gradient),
        min: fold(a.min, |x, m| if x < m { x } else { m }),
        max: fold(a.max, |x, m| if x > m { x } else { m }),
        mask,
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn scan_avx2(s: crate::simd::Avx2, v: &[f32], w: usize, b: Boundary, t: f32) -> Scan {
    scan_with(s, v, w, b, t)
}

/// Scans the potential `v` (`width × height`, row-major) for the features,
/// with `kernel` (one this CPU lacks falls back to the next slower one).
pub(crate) fn scan(
    kernel: Kernel,
    v: &[f32],
    width: usize,
    boundary: Boundary,
    threshold: f32,
) -> Scan {
    #[cfg(target_arch = "x86_64")]
    match kernel {
        // The scan's sums keep eight lanes: AVX-512 runs the AVX2 scan.
        Kernel::Avx2 | Kernel::Avx512 => {
            if let Some(s) = crate::simd::Avx2::new() {
                // SAFETY: the token proves the CPU runs AVX2 and POPCNT.
                return unsafe { scan_avx2(s, v, width, boundary, threshold) };
            }
            return scan_with(crate::simd::Sse2, v, width, boundary, threshold);
        }
        Kernel::Sse2 => return scan_with(crate::simd::Sse2, v, width, boundary, threshold),
        Kernel::Scalar => {}
    }
    let _ = kernel;
    scan_with(Scalar, v, width, boundary, threshold)
}
