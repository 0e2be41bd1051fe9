//! Explicit SIMD for the step kernel and the feature scan: blocks of
//! `f32` lanes behind one trait, [`Lanes`], chosen at run time
//! ([`Kernel`]): AVX-512F (one 512-bit register per block of sixteen, masks
//! in mask registers; the step only), AVX2 (one 256-bit register per block
//! of eight), SSE2 (two 128-bit registers, the x86-64 baseline) and
//! portable scalar code. The feature scan needs eight `f32` and eight `f64`
//! lanes ([`Simd8`]: AVX2, SSE2, scalar), since its sums keep cell `x` in
//! lane `x mod 8`.
//!
//! Invariant: every operation is the same IEEE-754 operation, lane by lane,
//! on every implementation (round to nearest, no flush-to-zero of
//! subnormals by the CPU), so a kernel written once over [`Lanes`] gives the
//! same bits whichever implementation runs it, whatever the block width
//! (the step's cells are independent of each other's lane). There is no fused
//! multiply–add: fusing `a·b + c` rounds once instead of twice and changes
//! the bits. (The one exact use, `fma(a, 1, b) = a + b` to move adds onto
//! the multiply units, was measured and gained nothing; see docs/mfn.md.)
//!
//! Why not a SIMD crate: `wide` picks its instruction set when the crate is
//! compiled (no run-time dispatch); `pulp` dispatches between AVX2/AVX-512
//! and scalar code only (no SSE2 level) and brings seven crates with it;
//! `multiversion` clones functions for the auto-vectoriser, which is what
//! this module replaces. The four implementations here are ~300 lines of
//! `core::arch`.

/// Which implementation of the kernels runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Portable scalar code (any CPU).
    Scalar,
    /// x86-64 SSE2: two 4-lane registers per block (every x86-64 CPU).
    Sse2,
    /// x86-64 AVX2: one 8-lane register per block (with POPCNT).
    Avx2,
    /// x86-64 AVX-512F for the step: one 16-lane register per block, masks
    /// in mask registers. The feature scan, and rows narrower than 32, run
    /// the AVX2 code.
    Avx512,
}

impl Kernel {
    /// Every kernel, slowest first.
    pub const ALL: [Kernel; 4] = [Kernel::Scalar, Kernel::Sse2, Kernel::Avx2, Kernel::Avx512];

    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        if Kernel::Avx512.is_supported() {
            Kernel::Avx512
        } else if Kernel::Avx2.is_supported() {
            Kernel::Avx2
        } else if Kernel::Sse2.is_supported() {
            Kernel::Sse2
        } else {
            Kernel::Scalar
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn is_supported(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Sse2 => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                Kernel::Avx2.is_supported() && std::arch::is_x86_feature_detected!("avx512f")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Lower-case name (`"scalar"`, `"sse2"`, `"avx2"`, `"avx512"`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Sse2 => "sse2",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }
}

/// The lanes the step kernel works on: [`Lanes::N`] `f32` at a time. A
/// value of an implementing type is a token: holding one proves the CPU
/// runs its instructions.
pub(crate) trait Lanes: Copy {
    /// Lanes per block.
    const N: usize;
    /// `N` `f32` lanes.
    type F: Copy;
    /// A mask of `N` lanes.
    type M: Copy;
    /// Counters of set mask lanes.
    type C: Copy;

    /// Loads `N` `f32` from `p` (no alignment needed).
    ///
    /// # Safety
    /// `p` is valid for reading `N` `f32`.
    unsafe fn load(self, p: *const f32) -> Self::F;
    /// Stores `N` `f32` at `p` (no alignment needed).
    ///
    /// # Safety
    /// `p` is valid for writing `N` `f32`.
    unsafe fn store(self, p: *mut f32, x: Self::F);
    /// All lanes `x`.
    fn splat(self, x: f32) -> Self::F;
    /// `a + b`.
    fn add(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a - b`.
    fn sub(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a * b`.
    fn mul(self, a: Self::F, b: Self::F) -> Self::F;
    /// Lanes with `|x| < tiny` become `+0.0`, the rest stay (NaN stays).
    fn flush(self, x: Self::F, tiny: Self::F) -> Self::F;
    /// Lanes where `x > t`, as a mask.
    fn gt(self, x: Self::F, t: Self::F) -> Self::M;
    /// Lanes set in `b` but not in `a`.
    fn andnot(self, a: Self::M, b: Self::M) -> Self::M;
    /// Lanes set in both.
    fn and(self, a: Self::M, b: Self::M) -> Self::M;
    /// The mask of lanes `first..N`.
    fn lanes_from(self, first: usize) -> Self::M;
    /// Adds one to the counters for each lane set in `m`.
    fn count(self, acc: Self::C, m: Self::M) -> Self::C;
    /// Zeroed counters.
    fn czero(self) -> Self::C;
    /// The total of the counters.
    fn csum(self, acc: Self::C) -> u32;
}

/// Eight `f32` ([`Lanes`] with `N = 8`) and eight `f64` lanes, for the
/// feature scan, whose sums keep cell `x` in lane `x mod 8`.
pub(crate) trait Simd8: Lanes {
    /// Eight `f64` lanes.
    type D: Copy;

    /// Bit `i` set when lane `i` of `x` is greater than lane `i` of `t`.
    fn gt_bits(self, x: Self::F, t: Self::F) -> u32;
    /// Lane-wise `if x < acc { x } else { acc }` (a NaN `x` is skipped).
    fn min(self, x: Self::F, acc: Self::F) -> Self::F;
    /// Lane-wise `if x > acc { x } else { acc }` (a NaN `x` is skipped).
    fn max(self, x: Self::F, acc: Self::F) -> Self::F;
    /// The lanes as an array.
    fn to_array(self, x: Self::F) -> [f32; 8];

    /// Lane-wise conversion to `f64` (exact).
    fn widen(self, x: Self::F) -> Self::D;
    /// All `f64` lanes zero.
    fn dzero(self) -> Self::D;
    /// `a + b` in `f64`.
    fn dadd(self, a: Self::D, b: Self::D) -> Self::D;
    /// `a - b` in `f64`.
    fn dsub(self, a: Self::D, b: Self::D) -> Self::D;
    /// `a * b` in `f64`.
    fn dmul(self, a: Self::D, b: Self::D) -> Self::D;
    /// The `f64` lanes as an array.
    fn dto_array(self, x: Self::D) -> [f64; 8];
    /// `f64` lanes from an array.
    fn dload(self, x: &[f64; 8]) -> Self::D;
}

/// Portable scalar lanes; the reference the others must match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scalar;

#[inline(always)]
fn map8<T: Copy, R>(a: [T; 8], f: impl Fn(T) -> R) -> [R; 8] {
    a.map(f)
}

#[inline(always)]
fn zip8<T: Copy, R>(a: [T; 8], b: [T; 8], f: impl Fn(T, T) -> R) -> [R; 8] {
    std::array::from_fn(|i| f(a[i], b[i]))
}

impl Lanes for Scalar {
    const N: usize = 8;
    type F = [f32; 8];
    type M = [bool; 8];
    type C = [u32; 8];

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> Self::F {
        // SAFETY: the caller guarantees eight readable `f32` at `p`.
        unsafe { p.cast::<[f32; 8]>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, x: Self::F) {
        // SAFETY: the caller guarantees eight writable `f32` at `p`.
        unsafe { p.cast::<[f32; 8]>().write_unaligned(x) }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> Self::F {
        [x; 8]
    }
    #[inline(always)]
    fn add(self, a: Self::F, b: Self::F) -> Self::F {
        zip8(a, b, |a, b| a + b)
    }
    #[inline(always)]
    fn sub(self, a: Self::F, b: Self::F) -> Self::F {
        zip8(a, b, |a, b| a - b)
    }
    #[inline(always)]
    fn mul(self, a: Self::F, b: Self::F) -> Self::F {
        zip8(a, b, |a, b| a * b)
    }
    #[inline(always)]
    fn flush(self, x: Self::F, tiny: Self::F) -> Self::F {
        zip8(x, tiny, |x, t| if x.abs() < t { 0.0 } else { x })
    }
    #[inline(always)]
    fn gt(self, x: Self::F, t: Self::F) -> Self::M {
        zip8(x, t, |x, t| x > t)
    }
    #[inline(always)]
    fn andnot(self, a: Self::M, b: Self::M) -> Self::M {
        zip8(a, b, |a, b| !a & b)
    }
    #[inline(always)]
    fn and(self, a: Self::M, b: Self::M) -> Self::M {
        zip8(a, b, |a, b| a & b)
    }
    #[inline(always)]
    fn lanes_from(self, first: usize) -> Self::M {
        std::array::from_fn(|i| i >= first)
    }
    #[inline(always)]
    fn count(self, acc: Self::C, m: Self::M) -> Self::C {
        std::array::from_fn(|i| acc[i] + u32::from(m[i]))
    }
    #[inline(always)]
    fn czero(self) -> Self::C {
        [0; 8]
    }
    #[inline(always)]
    fn csum(self, acc: Self::C) -> u32 {
        acc.iter().sum()
    }
}

impl Simd8 for Scalar {
    type D = [f64; 8];

    #[inline(always)]
    fn gt_bits(self, x: Self::F, t: Self::F) -> u32 {
        (0..8).fold(0, |bits, i| bits | (u32::from(x[i] > t[i]) << i))
    }
    #[inline(always)]
    fn min(self, x: Self::F, acc: Self::F) -> Self::F {
        zip8(x, acc, |x, a| if x < a { x } else { a })
    }
    #[inline(always)]
    fn max(self, x: Self::F, acc: Self::F) -> Self::F {
        zip8(x, acc, |x, a| if x > a { x } else { a })
    }
    #[inline(always)]
    fn to_array(self, x: Self::F) -> [f32; 8] {
        x
    }
    #[inline(always)]
    fn widen(self, x: Self::F) -> Self::D {
        map8(x, f64::from)
    }
    #[inline(always)]
    fn dzero(self) -> Self::D {
        [0.0; 8]
    }
    #[inline(always)]
    fn dadd(self, a: Self::D, b: Self::D) -> Self::D {
        zip8(a, b, |a, b| a + b)
    }
    #[inline(always)]
    fn dsub(self, a: Self::D, b: Self::D) -> Self::D {
        zip8(a, b, |a, b| a - b)
    }
    #[inline(always)]
    fn dmul(self, a: Self::D, b: Self::D) -> Self::D {
        zip8(a, b, |a, b| a * b)
    }
    #[inline(always)]
    fn dto_array(self, x: Self::D) -> [f64; 8] {
        x
    }
    #[inline(always)]
    fn dload(self, x: &[f64; 8]) -> Self::D {
        *x
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512, Sse2};

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The x86-64 implementations. The intrinsics are `unsafe` only because
    //! they need their CPU feature: SSE2 is part of x86-64, and an [`Avx2`]
    //! token exists only after the CPU was seen to run AVX2.

    use std::arch::x86_64::*;

    use super::{Kernel, Lanes, Simd8};

    /// SSE2 lanes: two `__m128` per block.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Sse2;

    /// AVX2 lanes: one `__m256` per block. Only [`Avx2::new`] makes one.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        /// The token, when this CPU runs AVX2 and POPCNT.
        pub(crate) fn new() -> Option<Self> {
            Kernel::Avx2.is_supported().then_some(Avx2(()))
        }
    }

    /// AVX-512 lanes for the step only: one `__m512` per block of sixteen,
    /// comparisons into mask registers, counted by masked vector adds. Only
    /// [`Avx512::new`] makes one.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Avx512(());

    impl Avx512 {
        /// The token, when this CPU runs AVX-512F (and AVX2 with POPCNT).
        pub(crate) fn new() -> Option<Self> {
            Kernel::Avx512.is_supported().then_some(Avx512(()))
        }
    }

    /// `|x|` as a bit mask: clears the sign bit.
    const ABS_MASK: i32 = 0x7FFF_FFFF;

    /// `-1` in the last eight lanes: `TAIL[8 - first..]` masks lanes
    /// `first..8`.
    static TAIL: [i32; 16] = [0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1];

    impl Lanes for Sse2 {
        const N: usize = 8;
        type F = [__m128; 2];
        type M = [__m128i; 2];
        type C = [__m128i; 2];

        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> Self::F {
            // SAFETY: eight readable `f32` at `p` (caller); SSE2 is baseline.
            unsafe { [_mm_loadu_ps(p), _mm_loadu_ps(p.add(4))] }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, x: Self::F) {
            // SAFETY: eight writable `f32` at `p` (caller); SSE2 is baseline.
            unsafe {
                _mm_storeu_ps(p, x[0]);
                _mm_storeu_ps(p.add(4), x[1]);
            }
        }
        #[inline(always)]
        fn splat(self, x: f32) -> Self::F {
            // SAFETY (all methods below): SSE2 is part of x86-64.
            unsafe { [_mm_set1_ps(x); 2] }
        }
        #[inline(always)]
        fn add(self, a: Self::F, b: Self::F) -> Self::F {
            unsafe { [_mm_add_ps(a[0], b[0]), _mm_add_ps(a[1], b[1])] }
        }
        #[inline(always)]
        fn sub(self, a: Self::F, b: Self::F) -> Self::F {
            unsafe { [_mm_sub_ps(a[0], b[0]), _mm_sub_ps(a[1], b[1])] }
        }
        #[inline(always)]
        fn mul(self, a: Self::F, b: Self::F) -> Self::F {
            unsafe { [_mm_mul_ps(a[0], b[0]), _mm_mul_ps(a[1], b[1])] }
        }
        #[inline(always)]
        fn flush(self, x: Self::F, tiny: Self::F) -> Self::F {
            // |x| < tiny compared as integers: for sign-cleared floats the
            // bit patterns order like the values, and NaN sorts above.
            unsafe {
                let abs = _mm_set1_epi32(ABS_MASK);
                let f = |x: __m128, t: __m128| {
                    let bits = _mm_and_si128(_mm_castps_si128(x), abs);
                    let small = _mm_cmpgt_epi32(_mm_castps_si128(t), bits);
                    _mm_andnot_ps(_mm_castsi128_ps(small), x)
                };
                [f(x[0], tiny[0]), f(x[1], tiny[1])]
            }
        }
        #[inline(always)]
        fn gt(self, x: Self::F, t: Self::F) -> Self::M {
            unsafe {
                [
                    _mm_castps_si128(_mm_cmpgt_ps(x[0], t[0])),
                    _mm_castps_si128(_mm_cmpgt_ps(x[1], t[1])),
                ]
            }
        }
        #[inline(always)]
        fn andnot(self, a: Self::M, b: Self::M) -> Self::M {
            unsafe { [_mm_andnot_si128(a[0], b[0]), _mm_andnot_si128(a[1], b[1])] }
        }
        #[inline(always)]
        fn and(self, a: Self::M, b: Self::M) -> Self::M {
            unsafe { [_mm_and_si128(a[0], b[0]), _mm_and_si128(a[1], b[1])] }
        }
        #[inline(always)]
        fn lanes_from(self, first: usize) -> Self::M {
            let at = 8 - first.min(8);
            // SAFETY: `at + 8 <= 16` entries of TAIL.
            unsafe {
                let p = TAIL.as_ptr().add(at).cast::<__m128i>();
                [_mm_loadu_si128(p), _mm_loadu_si128(p.add(1))]
            }
        }
        #[inline(always)]
        fn count(self, acc: Self::C, m: Self::M) -> Self::C {
            // A set lane is -1: subtracting it adds one.
            unsafe { [_mm_sub_epi32(acc[0], m[0]), _mm_sub_epi32(acc[1], m[1])] }
        }
        #[inline(always)]
        fn czero(self) -> Self::C {
            unsafe { [_mm_setzero_si128(); 2] }
        }
        #[inline(always)]
        fn csum(self, acc: Self::C) -> u32 {
            let mut lanes = [0u32; 8];
            // SAFETY: `lanes` holds eight `u32`.
            unsafe {
                _mm_storeu_si128(lanes.as_mut_ptr().cast(), acc[0]);
                _mm_storeu_si128(lanes.as_mut_ptr().add(4).cast(), acc[1]);
            }
            lanes.iter().sum()
        }
    }

    impl Simd8 for Sse2 {
        type D = [__m128d; 4];

        // SAFETY (all methods): SSE2 is part of x86-64.
        #[inline(always)]
        fn gt_bits(self, x: Self::F, t: Self::F) -> u32 {
            unsafe {
                let lo = _mm_movemask_ps(_mm_cmpgt_ps(x[0], t[0])) as u32;
                let hi = _mm_movemask_ps(_mm_cmpgt_ps(x[1], t[1])) as u32;
                lo | (hi << 4)
            }
        }
        #[inline(always)]
        fn min(self, x: Self::F, acc: Self::F) -> Self::F {
            // minps(a, b) = if a < b { a } else { b }.
            unsafe { [_mm_min_ps(x[0], acc[0]), _mm_min_ps(x[1], acc[1])] }
        }
        #[inline(always)]
        fn max(self, x: Self::F, acc: Self::F) -> Self::F {
            unsafe { [_mm_max_ps(x[0], acc[0]), _mm_max_ps(x[1], acc[1])] }
        }
        #[inline(always)]
        fn to_array(self, x: Self::F) -> [f32; 8] {
            let mut out = [0.0; 8];
            // SAFETY: `out` holds eight `f32`.
            unsafe { self.store(out.as_mut_ptr(), x) };
            out
        }
        #[inline(always)]
        fn widen(self, x: Self::F) -> Self::D {
            unsafe {
                let hi = |v| _mm_cvtps_pd(_mm_movehl_ps(v, v));
                [_mm_cvtps_pd(x[0]), hi(x[0]), _mm_cvtps_pd(x[1]), hi(x[1])]
            }
        }
        #[inline(always)]
        fn dzero(self) -> Self::D {
            unsafe { [_mm_setzero_pd(); 4] }
        }
        #[inline(always)]
        fn dadd(self, a: Self::D, b: Self::D) -> Self::D {
            unsafe { std::array::from_fn(|i| _mm_add_pd(a[i], b[i])) }
        }
        #[inline(always)]
        fn dsub(self, a: Self::D, b: Self::D) -> Self::D {
            unsafe { std::array::from_fn(|i| _mm_sub_pd(a[i], b[i])) }
        }
        #[inline(always)]
        fn dmul(self, a: Self::D, b: Self::D) -> Self::D {
            unsafe { std::array::from_fn(|i| _mm_mul_pd(a[i], b[i])) }
        }
        #[inline(always)]
        fn dto_array(self, x: Self::D) -> [f64; 8] {
            let mut out = [0.0; 8];
            for (i, v) in x.iter().enumerate() {
                // SAFETY: `out[2 * i..]` holds two `f64`.
                unsafe { _mm_storeu_pd(out.as_mut_ptr().add(2 * i), *v) };
            }
            out
        }
        #[inline(always)]
        fn dload(self, x: &[f64; 8]) -> Self::D {
            // SAFETY: `x[2 * i..]` holds two `f64`.
            unsafe { std::array::from_fn(|i| _mm_loadu_pd(x.as_ptr().add(2 * i))) }
        }
    }

    impl Lanes for Avx2 {
        const N: usize = 8;
        type F = __m256;
        type M = __m256i;
        type C = __m256i;

        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> Self::F {
            // SAFETY: eight readable `f32` at `p` (caller); the token
            // proves AVX.
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, x: Self::F) {
            // SAFETY: eight writable `f32` at `p` (caller); the token
            // proves AVX.
            unsafe { _mm256_storeu_ps(p, x) }
        }
        #[inline(always)]
        fn splat(self, x: f32) -> Self::F {
            // SAFETY (all methods below): the token proves AVX2.
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        fn add(self, a: Self::F, b: Self::F) -> Self::F {
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: Self::F, b: Self::F) -> Self::F {
            unsafe { _mm256_sub_ps(a, b) }
        }
        #[inline(always)]
        fn mul(self, a: Self::F, b: Self::F) -> Self::F {
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        fn flush(self, x: Self::F, tiny: Self::F) -> Self::F {
            unsafe {
                let abs = _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(ABS_MASK)));
                _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(abs, tiny), x)
            }
        }
        #[inline(always)]
        fn gt(self, x: Self::F, t: Self::F) -> Self::M {
            unsafe { _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(x, t)) }
        }
        #[inline(always)]
        fn andnot(self, a: Self::M, b: Self::M) -> Self::M {
            unsafe { _mm256_andnot_si256(a, b) }
        }
        #[inline(always)]
        fn and(self, a: Self::M, b: Self::M) -> Self::M {
            unsafe { _mm256_and_si256(a, b) }
        }
        #[inline(always)]
        fn lanes_from(self, first: usize) -> Self::M {
            let at = 8 - first.min(8);
            // SAFETY: `at + 8 <= 16` entries of TAIL.
            unsafe { _mm256_loadu_si256(TAIL.as_ptr().add(at).cast()) }
        }
        #[inline(always)]
        fn count(self, acc: Self::C, m: Self::M) -> Self::C {
            unsafe { _mm256_sub_epi32(acc, m) }
        }
        #[inline(always)]
        fn czero(self) -> Self::C {
            unsafe { _mm256_setzero_si256() }
        }
        #[inline(always)]
        fn csum(self, acc: Self::C) -> u32 {
            let mut lanes = [0u32; 8];
            // SAFETY: `lanes` holds eight `u32`.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
            lanes.iter().sum()
        }
    }

    impl Simd8 for Avx2 {
        type D = [__m256d; 2];

        // SAFETY (all methods): the token proves AVX2.
        #[inline(always)]
        fn gt_bits(self, x: Self::F, t: Self::F) -> u32 {
            unsafe { _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(x, t)) as u32 }
        }
        #[inline(always)]
        fn min(self, x: Self::F, acc: Self::F) -> Self::F {
            unsafe { _mm256_min_ps(x, acc) }
        }
        #[inline(always)]
        fn max(self, x: Self::F, acc: Self::F) -> Self::F {
            unsafe { _mm256_max_ps(x, acc) }
        }
        #[inline(always)]
        fn to_array(self, x: Self::F) -> [f32; 8] {
            let mut out = [0.0; 8];
            // SAFETY: `out` holds eight `f32`.
            unsafe { self.store(out.as_mut_ptr(), x) };
            out
        }
        #[inline(always)]
        fn widen(self, x: Self::F) -> Self::D {
            unsafe {
                [
                    _mm256_cvtps_pd(_mm256_castps256_ps128(x)),
                    _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)),
                ]
            }
        }
        #[inline(always)]
        fn dzero(self) -> Self::D {
            unsafe { [_mm256_setzero_pd(); 2] }
        }
        #[inline(always)]
        fn dadd(self, a: Self::D, b: Self::D) -> Self::D {
            unsafe { [_mm256_add_pd(a[0], b[0]), _mm256_add_pd(a[1], b[1])] }
        }
        #[inline(always)]
        fn dsub(self, a: Self::D, b: Self::D) -> Self::D {
            unsafe { [_mm256_sub_pd(a[0], b[0]), _mm256_sub_pd(a[1], b[1])] }
        }
        #[inline(always)]
        fn dmul(self, a: Self::D, b: Self::D) -> Self::D {
            unsafe { [_mm256_mul_pd(a[0], b[0]), _mm256_mul_pd(a[1], b[1])] }
        }
        #[inline(always)]
        fn dto_array(self, x: Self::D) -> [f64; 8] {
            let mut out = [0.0; 8];
            // SAFETY: `out` holds eight `f64`.
            unsafe {
                _mm256_storeu_pd(out.as_mut_ptr(), x[0]);
                _mm256_storeu_pd(out.as_mut_ptr().add(4), x[1]);
            }
            out
        }
        #[inline(always)]
        fn dload(self, x: &[f64; 8]) -> Self::D {
            // SAFETY: `x` holds eight `f64`.
            unsafe {
                [
                    _mm256_loadu_pd(x.as_ptr()),
                    _mm256_loadu_pd(x.as_ptr().add(4)),
                ]
            }
        }
    }

    impl Lanes for Avx512 {
        const N: usize = 16;
        type F = __m512;
        /// Bit `i` is lane `i`: a mask register.
        type M = __mmask16;
        /// Sixteen `u32` counters, bumped by masked adds.
        type C = __m512i;

        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> Self::F {
            // SAFETY: sixteen readable `f32` at `p` (caller); the token
            // proves AVX-512F.
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, x: Self::F) {
            // SAFETY: sixteen writable `f32` at `p` (caller); the token
            // proves AVX-512F.
            unsafe { _mm512_storeu_ps(p, x) }
        }
        #[inline(always)]
        fn splat(self, x: f32) -> Self::F {
            // SAFETY (all methods below): the token proves AVX-512F.
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        fn add(self, a: Self::F, b: Self::F) -> Self::F {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: Self::F, b: Self::F) -> Self::F {
            unsafe { _mm512_sub_ps(a, b) }
        }
        #[inline(always)]
        fn mul(self, a: Self::F, b: Self::F) -> Self::F {
            unsafe { _mm512_mul_ps(a, b) }
        }
        #[inline(always)]
        fn flush(self, x: Self::F, tiny: Self::F) -> Self::F {
            // Keep the lanes where !(|x| < tiny), NaN included; zero the
            // others (+0.0).
            unsafe {
                let keep = _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(_mm512_abs_ps(x), tiny);
                _mm512_maskz_mov_ps(keep, x)
            }
        }
        #[inline(always)]
        fn gt(self, x: Self::F, t: Self::F) -> Self::M {
            unsafe { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, t) }
        }
        #[inline(always)]
        fn andnot(self, a: Self::M, b: Self::M) -> Self::M {
            !a & b
        }
        #[inline(always)]
        fn and(self, a: Self::M, b: Self::M) -> Self::M {
            a & b
        }
        #[inline(always)]
        fn lanes_from(self, first: usize) -> Self::M {
            (0xFFFF_u32 << first.min(16)) as u16
        }
        #[inline(always)]
        fn count(self, acc: Self::C, m: Self::M) -> Self::C {
            // One masked vector add; measured a little faster than moving
            // the mask to a general register for POPCNT (docs/mfn.md).
            unsafe { _mm512_mask_add_epi32(acc, m, acc, _mm512_set1_epi32(1)) }
        }
        #[inline(always)]
        fn czero(self) -> Self::C {
            unsafe { _mm512_setzero_si512() }
        }
        #[inline(always)]
        fn csum(self, acc: Self::C) -> u32 {
            let mut lanes = [0u32; 16];
            // SAFETY: `lanes` holds sixteen `u32`.
            unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), acc) };
            lanes.iter().sum()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Awkward values: signed zeros, the flush bound and its neighbours,
    /// subnormals, infinities, NaN, large and ordinary numbers.
    fn specials() -> Vec<f32> {
        let tiny = crate::cell::FLUSH_TO_ZERO;
        vec![
            0.0,
            -0.0,
            tiny,
            -tiny,
            f32::from_bits(tiny.to_bits() - 1),
            f32::from_bits(tiny.to_bits() + 1),
            f32::MIN_POSITIVE / 8.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            3.0e38,
            -1.5,
            0.25,
            0.2500001,
            1.0,
            -7.0e-20,
        ]
    }

    fn check<S: Simd8>(s: S) {
        let xs = specials();
        let tiny = crate::cell::FLUSH_TO_ZERO;
        for (i, &a) in xs.iter().enumerate() {
            let a8: [f32; 8] = std::array::from_fn(|k| xs[(i + k) % xs.len()]);
            let b8: [f32; 8] = std::array::from_fn(|k| xs[(i + 3 * k + 1) % xs.len()]);
            // SAFETY: both arrays hold eight `f32`.
            let (va, vb) = unsafe { (s.load(a8.as_ptr()), s.load(b8.as_ptr())) };
            let r = Scalar;
            let bits = |x: [f32; 8]| x.map(f32::to_bits);
            let same = |got: S::F, want: [f32; 8], what: &str| {
                assert_eq!(bits(s.to_array(got)), bits(want), "{what} at {a}");
            };
            same(s.add(va, vb), r.add(a8, b8), "add");
            same(s.sub(va, vb), r.sub(a8, b8), "sub");
            same(s.mul(va, vb), r.mul(a8, b8), "mul");
            same(s.flush(va, s.splat(tiny)), r.flush(a8, [tiny; 8]), "flush");
            same(s.min(va, vb), r.min(a8, b8), "min");
            same(s.max(va, vb), r.max(a8, b8), "max");
            assert_eq!(s.gt_bits(va, vb), r.gt_bits(a8, b8), "gt at {a}");
            let (ma, mb) = (s.gt(va, vb), s.gt(vb, va));
            let (qa, qb) = (r.gt(a8, b8), r.gt(b8, a8));
            for first in 0..=8 {
                let keep = s.lanes_from(first);
                let acc = s.count(s.count(s.czero(), s.and(ma, keep)), s.andnot(ma, mb));
                let want = r.count(
                    r.count(r.czero(), r.and(qa, r.lanes_from(first))),
                    r.andnot(qa, qb),
                );
                assert_eq!(
                    s.csum(acc),
                    r.csum(want),
                    "masks at {a}, lanes from {first}"
                );
            }
            let dbits = |x: [f64; 8]| x.map(f64::to_bits);
            let (da, db) = (s.widen(va), s.widen(vb));
            let (ra, rb) = (r.widen(a8), r.widen(b8));
            let dsame = |got: S::D, want: [f64; 8]| {
                assert_eq!(dbits(s.dto_array(got)), dbits(want), "f64 at {a}");
            };
            dsame(da, ra);
            dsame(s.dadd(da, db), r.dadd(ra, rb));
            dsame(s.dsub(da, db), r.dsub(ra, rb));
            dsame(s.dmul(da, db), r.dmul(ra, rb));
            dsame(s.dzero(), r.dzero());
            dsame(s.dload(&ra), ra);
        }
    }

    /// The step's operations on sixteen lanes against the scalar lanes, eight
    /// at a time.
    #[cfg(target_arch = "x86_64")]
    fn check_avx512(s: Avx512) {
        let xs = specials();
        let tiny = crate::cell::FLUSH_TO_ZERO;
        let r = Scalar;
        for i in 0..xs.len() {
            let a: [f32; 16] = std::array::from_fn(|k| xs[(i + k) % xs.len()]);
            let b: [f32; 16] = std::array::from_fn(|k| xs[(i + 3 * k + 1) % xs.len()]);
            // SAFETY: both arrays hold sixteen `f32`.
            let (va, vb) = unsafe { (s.load(a.as_ptr()), s.load(b.as_ptr())) };
            let half =
                |x: &[f32; 16], h: usize| -> [f32; 8] { x[8 * h..8 * h + 8].try_into().unwrap() };
            let same = |got, want: [[f32; 8]; 2], what: &str| {
                let mut out = [0.0f32; 16];
                // SAFETY: `out` holds sixteen `f32`.
                unsafe { s.store(out.as_mut_ptr(), got) };
                let want: Vec<u32> = want.concat().iter().map(|x| x.to_bits()).collect();
                let got: Vec<u32> = out.iter().map(|x| x.to_bits()).collect();
                assert_eq!(got, want, "{what} at {i}");
            };
            let both = |f: &dyn Fn([f32; 8], [f32; 8]) -> [f32; 8]| {
                [f(half(&a, 0), half(&b, 0)), f(half(&a, 1), half(&b, 1))]
            };
            same(s.add(va, vb), both(&|x, y| r.add(x, y)), "add");
            same(s.sub(va, vb), both(&|x, y| r.sub(x, y)), "sub");
            same(s.mul(va, vb), both(&|x, y| r.mul(x, y)), "mul");
            same(
                s.flush(va, s.splat(tiny)),
                both(&|x, _| r.flush(x, [tiny; 8])),
                "flush",
            );
            let (ma, mb) = (s.gt(va, vb), s.gt(vb, va));
            for first in 0..=16 {
                let keep = s.lanes_from(first);
                let acc = s.count(s.count(s.czero(), s.and(ma, keep)), s.andnot(ma, mb));
                let want = (0..16).filter(|&k| a[k] > b[k] && k >= first).count()
                    + (0..16).filter(|&k| b[k] > a[k]).count();
                assert_eq!(
                    s.csum(acc) as usize,
                    want,
                    "masks at {i}, lanes from {first}"
                );
            }
        }
    }

    #[test]
    fn every_kernel_matches_the_scalar_lanes() {
        check(Scalar);
        #[cfg(target_arch = "x86_64")]
        {
            check(Sse2);
            if let Some(avx2) = Avx2::new() {
                check(avx2);
            }
            // Skipped on a CPU without AVX-512F.
            if let Some(avx512) = Avx512::new() {
                check_avx512(avx512);
            }
        }
    }

    #[test]
    fn detect_picks_a_supported_kernel() {
        assert!(Kernel::detect().is_supported());
        assert!(Kernel::Scalar.is_supported());
        assert_eq!(
            Kernel::ALL.map(Kernel::name),
            ["scalar", "sse2", "avx2", "avx512"]
        );
    }
}
