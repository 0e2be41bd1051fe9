//! The Gray–Scott update of whole rows: both fields in one pass, a block of
//! [`Lanes::N`] cells at a time (8, or 16 with AVX-512; the two end blocks
//! read their ghost cells from small copies; rows narrower than two blocks
//! go cell by cell),
//! and optionally the active-mask transitions of each row (growth
//! tracking), counted in vector counters in the same pass.
//!
//! A sweep reads the rows of one time level from a [`Source`] and writes
//! the rows of the next to a [`Sink`], addressed by *unwrapped* global row
//! (periodic rows wrap inside the source), so the same code serves the plain
//! step (whole field to whole field) and the temporal blocks (band buffers).
//!
//! Invariant: every cell is computed by the same IEEE operations in the
//! same order as [`crate::cell::laplacian`] and [`crate::cell::react`], on
//! every kernel and in every vector position, so all paths give the same
//! bits as the scalar reference (and the NumPy reference).

use std::ops::Range;

use crate::cell::{laplacian, react, Coeffs, FLUSH_TO_ZERO};
use crate::config::Boundary;
use crate::growth::MaskCounts;
use crate::simd::{Kernel, Lanes, Scalar};

/// The most cells per vector block of any kernel (AVX-512: 16).
const MAX_LANES: usize = 16;

/// What a sweep needs besides the rows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub coeffs: Coeffs,
    pub boundary: Boundary,
    /// Grid height: rows of a level, for the zero-flux edges.
    pub height: usize,
    /// The activation threshold, for tracking.
    pub threshold: f32,
}

/// Rows of one time level of both fields, by unwrapped global row.
pub(crate) trait Source {
    /// The `(u, v)` rows at `g`.
    fn row(&self, g: isize) -> (&[f32], &[f32]);
}

/// Where a sweep writes the next level, by unwrapped global row.
pub(crate) trait Sink {
    /// The `(u, v)` rows to write at `g`.
    fn row_mut(&mut self, g: isize) -> (&mut [f32], &mut [f32]);
}

/// A whole field pair (`height` rows of `width`); rows wrap around.
pub(crate) struct Whole<'a> {
    pub u: &'a [f32],
    pub v: &'a [f32],
    pub width: usize,
    pub height: usize,
}

impl Source for Whole<'_> {
    #[inline(always)]
    fn row(&self, g: isize) -> (&[f32], &[f32]) {
        let h = self.height as isize;
        // Rows just past either edge wrap by one add; no division.
        let y = match g {
            _ if (0..h).contains(&g) => g,
            _ if (-h..0).contains(&g) => g + h,
            _ if (h..2 * h).contains(&g) => g - h,
            _ => g.rem_euclid(h),
        };
        let at = y as usize * self.width;
        (&self.u[at..at + self.width], &self.v[at..at + self.width])
    }
}

/// Consecutive rows starting at unwrapped row `first` (no wrapping).
pub(crate) struct Span<T> {
    pub u: T,
    pub v: T,
    pub width: usize,
    pub first: isize,
}

impl Span<&[f32]> {
    #[inline(always)]
    fn at(&self, g: isize) -> usize {
        (g - self.first) as usize * self.width
    }
}

impl Source for Span<&[f32]> {
    #[inline(always)]
    fn row(&self, g: isize) -> (&[f32], &[f32]) {
        let at = self.at(g);
        (&self.u[at..at + self.width], &self.v[at..at + self.width])
    }
}

impl Sink for Span<&mut [f32]> {
    #[inline(always)]
    fn row_mut(&mut self, g: isize) -> (&mut [f32], &mut [f32]) {
        let at = (g - self.first) as usize * self.width;
        (
            &mut self.u[at..at + self.width],
            &mut self.v[at..at + self.width],
        )
    }
}

/// The three rows (above, this, below) of one field around a row.
#[derive(Clone, Copy)]
struct Rows<'a> {
    up: &'a [f32],
    mid: &'a [f32],
    down: &'a [f32],
}

impl Rows<'_> {
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

/// The coefficients splatted onto lanes.
struct Splat<S: Lanes> {
    four: S::F,
    one: S::F,
    dt_du: S::F,
    dt_dv: S::F,
    dt: S::F,
    dt_f: S::F,
    dt_fk: S::F,
    tiny: S::F,
    threshold: S::F,
}

impl<S: Lanes> Splat<S> {
    #[inline(always)]
    fn new(s: S, p: &Params) -> Self {
        let c = &p.coeffs;
        Self {
            four: s.splat(4.0),
            one: s.splat(1.0),
            dt_du: s.splat(c.dt_du),
            dt_dv: s.splat(c.dt_dv),
            dt: s.splat(c.dt),
            dt_f: s.splat(c.dt_f),
            dt_fk: s.splat(c.dt_fk),
            tiny: s.splat(FLUSH_TO_ZERO),
            threshold: s.splat(p.threshold),
        }
    }
}

/// Where the `N` cells of a block and their neighbours are, in one field:
/// each pointer is to `N` `f32`. Inside a row `left` and `right` are the
/// middle row shifted by one; at the row's ends they point at a copy with
/// the boundary's ghost cell.
#[derive(Clone, Copy)]
struct Stencil {
    left: *const f32,
    centre: *const f32,
    right: *const f32,
    up: *const f32,
    down: *const f32,
}

impl Stencil {
    /// The block at `x` of `f`, with the given left and right neighbours.
    #[inline(always)]
    fn at(f: &Rows, x: usize, left: *const f32, right: *const f32) -> Self {
        Self {
            left,
            centre: f.mid[x..].as_ptr(),
            right,
            up: f.up[x..].as_ptr(),
            down: f.down[x..].as_ptr(),
        }
    }

    /// The block at `x` of `f`, inside the row (`1 <= x`, `x + N + 1 <= len`).
    #[inline(always)]
    fn inside(f: &Rows, x: usize) -> Self {
        Self::at(f, x, f.mid[x - 1..].as_ptr(), f.mid[x + 1..].as_ptr())
    }
}

/// Running mask counts of a row, per lane.
struct Tally<S: Lanes> {
    was: S::C,
    is: S::C,
    on: S::C,
}

impl<S: Lanes> Tally<S> {
    #[inline(always)]
    fn new(s: S) -> Self {
        Self {
            was: s.czero(),
            is: s.czero(),
            on: s.czero(),
        }
    }

    /// Adds the lanes of `keep` from masks before and after.
    #[inline(always)]
    fn add(&mut self, s: S, was: S::M, is: S::M, keep: S::M) {
        let (was, is) = (s.and(was, keep), s.and(is, keep));
        self.was = s.count(self.was, was);
        self.is = s.count(self.is, is);
        self.on = s.count(self.on, s.andnot(was, is));
    }

    #[inline(always)]
    fn counts(&self, s: S) -> MaskCounts {
        let (was, is, on) = (s.csum(self.was), s.csum(self.is), s.csum(self.on));
        MaskCounts {
            activated: on as usize,
            deactivated: (was + on - is) as usize,
            active: is as usize,
        }
    }
}

/// The centre and the Laplacian of a block of one field. No closures here
/// or in [`block`]: a closure is not inlined into the caller's
/// `target_feature` context, so its intrinsics would become calls.
///
/// # Safety
/// Every pointer of `f` is valid for reading `S::N` `f32`.
#[inline(always)]
unsafe fn lap_block<S: Lanes>(s: S, k: &Splat<S>, f: Stencil) -> (S::F, S::F) {
    // SAFETY: the caller guarantees the reads.
    unsafe {
        let c = s.load(f.centre);
        let (left, right) = (s.load(f.left), s.load(f.right));
        let (up, down) = (s.load(f.up), s.load(f.down));
        let sum = s.add(s.add(up, down), s.add(left, right));
        (c, s.sub(sum, s.mul(k.four, c)))
    }
}

/// Updates the `S::N` cells of a block and stores them at `uo`, `vo`;
/// returns the masks `v > threshold` before and after.
///
/// # Safety
/// The pointers of `u` and `v` are valid for reading `S::N` `f32`, `uo`
/// and `vo` for writing `S::N`.
#[inline(always)]
unsafe fn block<S: Lanes>(
    s: S,
    k: &Splat<S>,
    (u, v): (Stencil, Stencil),
    (uo, vo): (*mut f32, *mut f32),
) -> (S::M, S::M) {
    // SAFETY: the caller guarantees every read and write.
    unsafe {
        let (uc, lap_u) = lap_block(s, k, u);
        let (vc, lap_v) = lap_block(s, k, v);
        let uvv = s.mul(s.mul(uc, vc), vc);
        let dt_uvv = s.mul(k.dt, uvv);
        // u + dt·Du·∇²u − dt·u·v² + dt·F·(1 − u), left to right.
        let un = s.add(
            s.sub(s.add(uc, s.mul(k.dt_du, lap_u)), dt_uvv),
            s.mul(k.dt_f, s.sub(k.one, uc)),
        );
        // v + dt·Dv·∇²v + dt·u·v² − dt·(F + k)·v, left to right.
        let vn = s.sub(
            s.add(s.add(vc, s.mul(k.dt_dv, lap_v)), dt_uvv),
            s.mul(k.dt_fk, vc),
        );
        let vn = s.flush(vn, k.tiny);
        s.store(uo, s.flush(un, k.tiny));
        s.store(vo, vn);
        (s.gt(vc, k.threshold), s.gt(vn, k.threshold))
    }
}

/// Computes one cell in scalar code (narrow rows); returns bit 0: active
/// before, bit 1: active after.
#[inline(always)]
fn cell(p: &Params, (u, v): (Rows, Rows), x: usize, (uo, vo): (&mut [f32], &mut [f32])) -> u32 {
    let w = uo.len();
    let (l, r) = (
        crate::cell::before(x, w, p.boundary),
        crate::cell::after(x, w, p.boundary),
    );
    let (un, vn) = react(
        &p.coeffs,
        u.mid[x],
        v.mid[x],
        u.lap(x, l, r),
        v.lap(x, l, r),
    );
    uo[x] = un;
    vo[x] = vn;
    u32::from(v.mid[x] > p.threshold) | (u32::from(vn > p.threshold) << 1)
}

/// A row too short for blocks (`w < 16`), cell by cell.
#[inline(always)]
fn scalar_row(p: &Params, fields: (Rows, Rows), (uo, vo): (&mut [f32], &mut [f32])) -> MaskCounts {
    let mut counts = MaskCounts::default();
    for x in 0..uo.len() {
        let bits = cell(p, fields, x, (&mut *uo, &mut *vo));
        let (was, is) = (bits & 1 == 1, bits & 2 == 2);
        counts.activated += usize::from(is && !was);
        counts.deactivated += usize::from(was && !is);
        counts.active += usize::from(is);
    }
    counts
}

/// The ghost-cell copies for the first and the last block of `n` cells of
/// a row of one field: `[ghost, mid[0..n-1]]` and `[mid[w-n+1..w], ghost]`
/// (the first `n` entries of each; `n <= w`, `n <= MAX_LANES`).
#[inline(always)]
fn edge_copies(f: &Rows, boundary: Boundary, n: usize) -> ([f32; MAX_LANES], [f32; MAX_LANES]) {
    let w = f.mid.len();
    let mut first = [0.0; MAX_LANES];
    first[0] = f.mid[crate::cell::before(0, w, boundary)];
    first[1..n].copy_from_slice(&f.mid[..n - 1]);
    let mut last = [0.0; MAX_LANES];
    last[..n - 1].copy_from_slice(&f.mid[w - (n - 1)..]);
    last[n - 1] = f.mid[crate::cell::after(w - 1, w, boundary)];
    (first, last)
}

/// Computes one output row from the three input rows of each field, in
/// blocks of `N` cells; the blocks at the ends read the boundary's ghost
/// cells from small copies. The last block starts at `w - N` and may
/// overlap the one before: it writes the same values again and counts only
/// its new lanes.
#[inline(always)]
fn row<S: Lanes, const TRACK: bool>(
    s: S,
    p: &Params,
    k: &Splat<S>,
    (u, v): (Rows, Rows),
    (uo, vo): (&mut [f32], &mut [f32]),
) -> MaskCounts {
    let w = uo.len();
    for f in [u, v] {
        assert!(f.up.len() == w && f.mid.len() == w && f.down.len() == w);
    }
    assert!(vo.len() == w, "rows of one width");
    let n = S::N;
    const { assert!(S::N <= MAX_LANES, "the ghost copies hold MAX_LANES") };
    if w < 2 * n {
        return scalar_row(p, (u, v), (uo, vo));
    }
    let (u_first, u_last) = edge_copies(&u, p.boundary, n);
    let (v_first, v_last) = edge_copies(&v, p.boundary, n);
    let (po, pv) = (uo.as_mut_ptr(), vo.as_mut_ptr());
    let mut tally = Tally::new(s);
    let all = s.lanes_from(0);
    // SAFETY (all blocks): every block starts at 0 <= x <= w - n, so its
    // centre, up and down pointers read x..x + n of rows of length w
    // (asserted above), its outputs write x..x + n of uo and vo, and its
    // left and right pointers read either x - 1..x + n - 1 and
    // x + 1..x + n + 1 of the middle row (inside blocks,
    // 1 <= x <= w - n - 1) or the first n of a ghost copy (n <= MAX_LANES).
    let first = (
        Stencil::at(&u, 0, u_first.as_ptr(), u.mid[1..].as_ptr()),
        Stencil::at(&v, 0, v_first.as_ptr(), v.mid[1..].as_ptr()),
    );
    let (was, is) = unsafe { block(s, k, first, (po, pv)) };
    if TRACK {
        tally.add(s, was, is, all);
    }
    let end = w - n;
    let mut x = n;
    while x < end {
        // x + n + 1 <= end + n = w: the right neighbours are in the row.
        let fields = (Stencil::inside(&u, x), Stencil::inside(&v, x));
        let (was, is) = unsafe { block(s, k, fields, (po.add(x), pv.add(x))) };
        if TRACK {
            tally.add(s, was, is, all);
        }
        x += n;
    }
    let last = (
        Stencil::at(&u, end, u.mid[end - 1..].as_ptr(), u_last.as_ptr()),
        Stencil::at(&v, end, v.mid[end - 1..].as_ptr(), v_last.as_ptr()),
    );
    let (was, is) = unsafe { block(s, k, last, (po.add(end), pv.add(end))) };
    if TRACK {
        tally.add(s, was, is, s.lanes_from(x - end));
        return tally.counts(s);
    }
    MaskCounts::default()
}

/// Computes the rows `rows` (unwrapped) of the next level from `src` into
/// `dst`. With `acts`, counts the mask transitions and stores each row's
/// activations at `acts[g - rows.start]`.
#[inline(always)]
fn sweep<S: Lanes, const TRACK: bool>(
    s: S,
    p: &Params,
    src: &impl Source,
    dst: &mut impl Sink,
    rows: Range<isize>,
    acts: &mut [u32],
) -> MaskCounts {
    let k = Splat::new(s, p);
    let h = p.height as isize;
    let neumann = p.boundary == Boundary::Neumann;
    let mut total = MaskCounts::default();
    let start = rows.start;
    for g in rows {
        let up = if neumann && g == 0 { 0 } else { g - 1 };
        let down = if neumann && g == h - 1 { h - 1 } else { g + 1 };
        let ((uu, vu), (um, vm), (ud, vd)) = (src.row(up), src.row(g), src.row(down));
        let fields = (
            Rows {
                up: uu,
                mid: um,
                down: ud,
            },
            Rows {
                up: vu,
                mid: vm,
                down: vd,
            },
        );
        let counts = row::<S, TRACK>(s, p, &k, fields, dst.row_mut(g));
        if TRACK {
            if let Some(a) = acts.get_mut((g - start) as usize) {
                *a = counts.activated as u32;
            }
            total = total + counts;
        }
    }
    total
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn sweep_avx2<const TRACK: bool>(
    s: crate::simd::Avx2,
    p: &Params,
    src: &impl Source,
    dst: &mut impl Sink,
    rows: Range<isize>,
    acts: &mut [u32],
) -> MaskCounts {
    sweep::<_, TRACK>(s, p, src, dst, rows, acts)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sweep_avx512<const TRACK: bool>(
    s: crate::simd::Avx512,
    p: &Params,
    src: &impl Source,
    dst: &mut impl Sink,
    rows: Range<isize>,
    acts: &mut [u32],
) -> MaskCounts {
    sweep::<_, TRACK>(s, p, src, dst, rows, acts)
}

fn sweep_with<const TRACK: bool>(
    kernel: Kernel,
    p: &Params,
    src: &impl Source,
    dst: &mut impl Sink,
    rows: Range<isize>,
    acts: &mut [u32],
) -> MaskCounts {
    #[cfg(target_arch = "x86_64")]
    match kernel {
        Kernel::Avx512 => {
            // Rows narrower than two blocks of 16 would go cell by cell:
            // they take the AVX2 blocks of 8 instead.
            let wide = rows.start < rows.end && src.row(rows.start).0.len() >= 32;
            if let Some(s) = crate::simd::Avx512::new().filter(|_| wide) {
                // SAFETY: the token proves the CPU runs AVX-512F.
                return unsafe { sweep_avx512::<TRACK>(s, p, src, dst, rows, acts) };
            }
            return sweep_with::<TRACK>(Kernel::Avx2, p, src, dst, rows, acts);
        }
        Kernel::Avx2 => {
            if let Some(s) = crate::simd::Avx2::new() {
                // SAFETY: the token proves the CPU runs AVX2 and POPCNT.
                return unsafe { sweep_avx2::<TRACK>(s, p, src, dst, rows, acts) };
            }
            return sweep::<_, TRACK>(crate::simd::Sse2, p, src, dst, rows, acts);
        }
        Kernel::Sse2 => return sweep::<_, TRACK>(crate::simd::Sse2, p, src, dst, rows, acts),
        Kernel::Scalar => {}
    }
    let _ = kernel;
    sweep::<_, TRACK>(Scalar, p, src, dst, rows, acts)
}

/// Computes rows `rows` of the next level with `kernel` (a kernel this CPU
/// lacks falls back to the next slower one). With `acts` (one entry per
/// row of `rows`) it also counts the active-mask transitions; otherwise it
/// returns zero counts.
pub(crate) fn step_rows(
    kernel: Kernel,
    p: &Params,
    src: &impl Source,
    dst: &mut impl Sink,
    rows: Range<isize>,
    acts: Option<&mut [u32]>,
) -> MaskCounts {
    match acts {
        Some(acts) => sweep_with::<true>(kernel, p, src, dst, rows, acts),
        None => sweep_with::<false>(kernel, p, src, dst, rows, &mut []),
    }
}
