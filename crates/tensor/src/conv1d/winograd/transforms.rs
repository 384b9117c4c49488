//! The transforms of F(4, 3), one row of tiles at a time: the input's
//! (`Bᵀ d`), the kernel's (`G g`), the output's (`Aᵀ m`), and their
//! adjoints for backward, over a row cut into its four phases so that each
//! loop reads and writes contiguous rows. Two sets of interpolation points
//! ([`Points`]): Lavin and Gray's for training, whose adjoints backward
//! uses, and a set that rounds closer to the exact sum for inference.

use super::POINTS;
use super::{OUTPUTS, TAPS};
use crate::Float;

/// The interpolation points of an F(4, 3) tiling, which set its matrices
/// and how far its float32 outputs round from the exact sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::conv1d) enum Points {
    /// Lavin and Gray's 0, ±1, ±2, ∞: integer input transforms, outputs
    /// 2.5–3 times as far from the exact sum as the direct GEMM's. The
    /// training passes (forward and both adjoints) use these.
    Lavin,
    /// 0, 1, −1, 2, −1/2, ∞: the point −1/2 in place of −2 keeps the
    /// output transform's weights of the fourth point at 1/2, 1/4, 1/8
    /// instead of 2, 4, 8, and its outputs land 1.3–1.8 times as far as
    /// the direct GEMM's (`benches/reference/winograd_points.py` compares
    /// the sets; Barabasz et al., 2020, give the analysis). Inference
    /// forward passes use these.
    Balanced,
}

impl Points {
    /// `V = Bᵀ d` through this set's matrix, for every tile of one input
    /// row given as its phases (`tiles + 1` each: a tile's last two inputs
    /// are the next one's first).
    #[inline]
    pub(super) fn transform_input<T: Float>(self, phases: [&[T]; OUTPUTS], v: [&mut [T]; POINTS]) {
        match self {
            Points::Lavin => lavin_input(phases, v),
            Points::Balanced => balanced_input(phases, v),
        }
    }

    /// `y = Aᵀ m` (plus `bias`) through this set's matrix, for every tile
    /// of one output row, into its phases (`tiles` each).
    #[inline]
    pub(super) fn transform_output<T: Float>(
        self,
        m: [&mut [T]; POINTS],
        bias: T,
        y: [&mut [T]; OUTPUTS],
    ) {
        match self {
            Points::Lavin => lavin_output(m, bias, y),
            Points::Balanced => balanced_output(m, bias, y),
        }
    }

    /// `U = G g` through this set's matrix for every filter pair:
    /// `[point][out][in]` from `[out][in][3]`.
    pub(super) fn transform_kernel<'a, T: Float>(
        self,
        weight: &[T],
        pairs: usize,
        u: &'a mut Vec<T>,
    ) -> &'a [T] {
        match self {
            Points::Lavin => lavin_kernel(weight, pairs, u),
            Points::Balanced => balanced_kernel(weight, pairs, u),
        }
    }
}

/// `constant` in `T`.
pub(super) fn c<T: Float>(constant: f64) -> T {
    T::from_f64_lossy(constant)
}

/// Four rows of `n` elements in one buffer of at least `4 * n`: the
/// phases of a signal cut into tiles of 4 (phase `r` holds the tiles'
/// `r`-th elements), so that the transforms read and write contiguous
/// rows, which vectorize, instead of strided tiles, which do not.
pub(super) fn phase_rows<T>(buffer: &mut [T], n: usize) -> [&mut [T]; OUTPUTS] {
    let (p0, rest) = buffer.split_at_mut(n);
    let (p1, rest) = rest.split_at_mut(n);
    let (p2, rest) = rest.split_at_mut(n);
    [p0, p1, p2, &mut rest[..n]]
}

/// `phases[r][t] = x[4t + r - lead]`, zero where that is outside `x`.
pub(super) fn split_phases<T: Float>(x: &[T], lead: usize, phases: [&mut [T]; OUTPUTS]) {
    let [p0, p1, p2, p3] = phases;
    for phase in [&mut *p0, &mut *p1, &mut *p2, &mut *p3] {
        phase.fill(T::zero());
    }
    // Whole tiles of x: from the first tile boundary at or after `lead`.
    let first = lead.div_ceil(OUTPUTS);
    let start = (OUTPUTS * first - lead).min(x.len());
    let body = x[start..].chunks_exact(OUTPUTS);
    let tail = start + OUTPUTS * body.len();
    let rows = p0
        .iter_mut()
        .zip(p1.iter_mut())
        .zip(p2.iter_mut().zip(p3.iter_mut()));
    for (((a, b), (c, d)), x) in rows.skip(first).zip(body) {
        (*a, *b, *c, *d) = (x[0], x[1], x[2], x[3]);
    }
    let phases = [p0, p1, p2, p3];
    for j in (0..start).chain(tail..x.len()) {
        let i = j + lead;
        if let Some(slot) = phases[i % OUTPUTS].get_mut(i / OUTPUTS) {
            *slot = x[j];
        }
    }
}

/// `y[j] = phases[r][t]` with `4t + r = j + lead`: the inverse of
/// [`split_phases`] (the phases must cover `y.len() + lead` elements).
pub(super) fn merge_phases<T: Float>(phases: [&[T]; OUTPUTS], lead: usize, y: &mut [T]) {
    let first = lead.div_ceil(OUTPUTS);
    let start = (OUTPUTS * first - lead).min(y.len());
    let len = y.len();
    for (j, y) in y[..start].iter_mut().enumerate() {
        let i = j + lead;
        *y = phases[i % OUTPUTS][i / OUTPUTS];
    }
    let tiles = (len - start) / OUTPUTS;
    let [p0, p1, p2, p3] = phases.map(|phase| &phase[first..first + tiles]);
    let body = &mut y[start..start + OUTPUTS * tiles];
    // Eight tiles at a time, written as one run of 32: a transpose the
    // compiler does with shuffles (a plain interleaving loop stays scalar).
    const BLOCK: usize = 8;
    let mut blocks = body.chunks_exact_mut(OUTPUTS * BLOCK);
    for (k, y) in (&mut blocks).enumerate() {
        let at = k * BLOCK;
        let (a, b) = (&p0[at..at + BLOCK], &p1[at..at + BLOCK]);
        let (c, d) = (&p2[at..at + BLOCK], &p3[at..at + BLOCK]);
        for i in 0..BLOCK {
            y[OUTPUTS * i] = a[i];
            y[OUTPUTS * i + 1] = b[i];
            y[OUTPUTS * i + 2] = c[i];
            y[OUTPUTS * i + 3] = d[i];
        }
    }
    let done = tiles - tiles % BLOCK;
    for (i, y) in blocks
        .into_remainder()
        .chunks_exact_mut(OUTPUTS)
        .enumerate()
    {
        let t = done + i;
        (y[0], y[1], y[2], y[3]) = (p0[t], p1[t], p2[t], p3[t]);
    }
    let tail = start + OUTPUTS * tiles;
    for (j, y) in y.iter_mut().enumerate().skip(tail) {
        let i = j + lead;
        *y = phases[i % OUTPUTS][i / OUTPUTS];
    }
}

/// [`Points::transform_input`] with Lavin and Gray's matrix.
fn lavin_input<T: Float>(phases: [&[T]; OUTPUTS], v: [&mut [T]; POINTS]) {
    let (two, four, five) = (c::<T>(2.0), c::<T>(4.0), c::<T>(5.0));
    input_tiles(phases, v, |[d0, d1, d2, d3, d4, d5]| {
        [
            four * d0 - five * d2 + d4,
            d3 + d4 - four * (d1 + d2),
            d4 - d3 + four * (d1 - d2),
            d4 - d2 + two * (d3 - d1),
            d4 - d2 + two * (d1 - d3),
            four * d1 - five * d3 + d5,
        ]
    });
}

/// [`Points::transform_input`] with the [`Points::Balanced`] matrix,
/// rows `(2, 3, −4, −3, 2, 0)`, `(0, 2, 5, 1, −2, 0)`,
/// `(0, 2, 1, −5, 2, 0)`, `(0, −1, −2, 1, 2, 0)`, `(0, −2, 1, 2, −1, 0)`
/// and `(0, 2, 3, −4, −3, 2)`.
fn balanced_input<T: Float>(phases: [&[T]; OUTPUTS], v: [&mut [T]; POINTS]) {
    let (two, three, four, five) = (c::<T>(2.0), c::<T>(3.0), c::<T>(4.0), c::<T>(5.0));
    input_tiles(phases, v, |[d0, d1, d2, d3, d4, d5]| {
        let (odd, even) = (d3 - d1, d4 - d2);
        [
            two * (d0 + d4) - three * odd - four * d2,
            two * (d1 - d4) + five * d2 + d3,
            two * (d1 + d4) + d2 - five * d3,
            two * even + odd,
            two * odd - even,
            two * (d1 + d5) - three * even - four * d3,
        ]
    });
}

/// Each tile's six points `tile(d)` from its six inputs `d`, over one
/// input row given as its phases: the row walk both input transforms
/// share (inlined, so that each loop vectorizes with its own arithmetic).
#[inline(always)]
fn input_tiles<T: Float>(
    phases: [&[T]; OUTPUTS],
    [v0, v1, v2, v3, v4, v5]: [&mut [T]; POINTS],
    tile: impl Fn([T; POINTS]) -> [T; POINTS],
) {
    let tiles = v0.len();
    let [p0, p1, p2, p3] = phases;
    let (d0, d1, d2, d3) = (&p0[..tiles], &p1[..tiles], &p2[..tiles], &p3[..tiles]);
    let (d4, d5) = (&p0[1..=tiles], &p1[1..=tiles]);
    let (v1, v2, v3, v4, v5) = (
        &mut v1[..tiles],
        &mut v2[..tiles],
        &mut v3[..tiles],
        &mut v4[..tiles],
        &mut v5[..tiles],
    );
    for t in 0..tiles {
        let [a, b, c, d, e, f] = tile([d0[t], d1[t], d2[t], d3[t], d4[t], d5[t]]);
        (v0[t], v1[t], v2[t], v3[t], v4[t], v5[t]) = (a, b, c, d, e, f);
    }
}

/// [`Points::transform_output`] with Lavin and Gray's matrix.
fn lavin_output<T: Float>(m: [&mut [T]; POINTS], bias: T, y: [&mut [T]; OUTPUTS]) {
    let (two, four, eight) = (c::<T>(2.0), c::<T>(4.0), c::<T>(8.0));
    output_tiles(m, y, |[m0, m1, m2, m3, m4, m5]| {
        let (plus, minus) = (m1 + m2, m1 - m2);
        let (plus2, minus2) = (m3 + m4, m3 - m4);
        [
            bias + m0 + plus + plus2,
            bias + minus + two * minus2,
            bias + plus + four * plus2,
            bias + minus + eight * minus2 + m5,
        ]
    });
}

/// [`Points::transform_output`] with the [`Points::Balanced`] matrix,
/// rows `(1, 1, 1, 1, 1, 0)`, `(0, 1, −1, 2, −1/2, 0)`,
/// `(0, 1, 1, 4, 1/4, 0)` and `(0, 1, −1, 8, −1/8, 1)`.
fn balanced_output<T: Float>(m: [&mut [T]; POINTS], bias: T, y: [&mut [T]; OUTPUTS]) {
    let (two, four, eight) = (c::<T>(2.0), c::<T>(4.0), c::<T>(8.0));
    let (half, quarter, eighth) = (c::<T>(0.5), c::<T>(0.25), c::<T>(0.125));
    output_tiles(m, y, |[m0, m1, m2, m3, m4, m5]| {
        let (plus, minus) = (m1 + m2, m1 - m2);
        [
            bias + m0 + plus + (m3 + m4),
            bias + minus + (two * m3 - half * m4),
            bias + plus + (four * m3 + quarter * m4),
            bias + minus + (eight * m3 - eighth * m4) + m5,
        ]
    });
}

/// Each tile's four outputs `tile(m)` from its six points `m`, over one
/// output row into its phases: the row walk both output transforms share.
#[inline(always)]
fn output_tiles<T: Float>(
    [m0, m1, m2, m3, m4, m5]: [&mut [T]; POINTS],
    [y0, y1, y2, y3]: [&mut [T]; OUTPUTS],
    tile: impl Fn([T; POINTS]) -> [T; OUTPUTS],
) {
    let tiles = m0.len();
    let (m1, m2, m3, m4, m5) = (
        &m1[..tiles],
        &m2[..tiles],
        &m3[..tiles],
        &m4[..tiles],
        &m5[..tiles],
    );
    let (y0, y1, y2, y3) = (
        &mut y0[..tiles],
        &mut y1[..tiles],
        &mut y2[..tiles],
        &mut y3[..tiles],
    );
    for t in 0..tiles {
        let [a, b, c, d] = tile([m0[t], m1[t], m2[t], m3[t], m4[t], m5[t]]);
        (y0[t], y1[t], y2[t], y3[t]) = (a, b, c, d);
    }
}

/// `E = A · dy` for every tile of one output-gradient row, given as its
/// phases (`tiles` each, zeros past the outputs).
pub(super) fn transform_gradient<T: Float>(
    phases: [&[T]; OUTPUTS],
    [e0, e1, e2, e3, e4, e5]: [&mut [T]; POINTS],
) {
    let (two, four, eight) = (c::<T>(2.0), c::<T>(4.0), c::<T>(8.0));
    let tiles = e0.len();
    let [g0, g1, g2, g3] = phases.map(|phase| &phase[..tiles]);
    let (e1, e2, e3, e4, e5) = (
        &mut e1[..tiles],
        &mut e2[..tiles],
        &mut e3[..tiles],
        &mut e4[..tiles],
        &mut e5[..tiles],
    );
    for t in 0..tiles {
        let (even, odd) = (g0[t] + g2[t], g1[t] + g3[t]);
        let (even4, odd2) = (g0[t] + four * g2[t], two * g1[t] + eight * g3[t]);
        e0[t] = g0[t];
        e1[t] = even + odd;
        e2[t] = even - odd;
        e3[t] = even4 + odd2;
        e4[t] = even4 - odd2;
        e5[t] = g3[t];
    }
}

/// `dd = B · z` for every tile of one input-gradient row, into its phases
/// (`tiles + 1` each). Tiles overlap by 2: a position's gradient is its
/// own tile's term plus the previous tile's (`dd4`, `dd5`).
pub(super) fn input_gradient<T: Float>(
    [z0, z1, z2, z3, z4, z5]: [&mut [T]; POINTS],
    phases: [&mut [T]; OUTPUTS],
) {
    let (two, four, five) = (c::<T>(2.0), c::<T>(4.0), c::<T>(5.0));
    let tiles = z0.len();
    let (z1, z2, z3, z4, z5) = (
        &z1[..tiles],
        &z2[..tiles],
        &z3[..tiles],
        &z4[..tiles],
        &z5[..tiles],
    );
    let [r0, r1, r2, r3] = phases;
    let (r0, r1, r2, r3) = (
        &mut r0[..=tiles],
        &mut r1[..=tiles],
        &mut r2[..=tiles],
        &mut r3[..=tiles],
    );
    for t in 0..tiles {
        let (sum12, diff12) = (z1[t] + z2[t], z2[t] - z1[t]);
        let (sum34, diff34) = (z3[t] + z4[t], z4[t] - z3[t]);
        r0[t] = four * z0[t];
        r1[t] = four * (diff12 + z5[t]) + two * diff34;
        r2[t] = -(five * z0[t] + four * sum12 + sum34);
        r3[t] = -(diff12 + two * diff34 + five * z5[t]);
    }
    (r0[tiles], r1[tiles], r2[tiles], r3[tiles]) = (T::zero(), T::zero(), T::zero(), T::zero());
    for t in 0..tiles {
        r0[t + 1] += z0[t] + (z1[t] + z2[t]) + (z3[t] + z4[t]);
        r1[t + 1] += z5[t];
    }
}

/// [`Points::transform_kernel`] with Lavin and Gray's matrix.
fn lavin_kernel<'a, T: Float>(weight: &[T], pairs: usize, u: &'a mut Vec<T>) -> &'a [T] {
    u.resize(POINTS * pairs, T::zero());
    let (quarter, sixth, twelfth, twentyfourth) = (
        c::<T>(0.25),
        c::<T>(1.0 / 6.0),
        c::<T>(1.0 / 12.0),
        c::<T>(1.0 / 24.0),
    );
    for (pair, g) in weight.chunks_exact(TAPS).enumerate() {
        let (outer, odd) = (g[0] + g[2], g[1]);
        u[pair] = quarter * g[0];
        u[pairs + pair] = -sixth * (outer + odd);
        u[2 * pairs + pair] = -sixth * (outer - odd);
        let (even, odd) = (twentyfourth * g[0] + sixth * g[2], twelfth * g[1]);
        u[3 * pairs + pair] = even + odd;
        u[4 * pairs + pair] = even - odd;
        u[5 * pairs + pair] = g[2];
    }
    &u[..POINTS * pairs]
}

/// [`Points::transform_kernel`] with the [`Points::Balanced`] matrix,
/// rows `(1/2, 0, 0)`, `(1/6, 1/6, 1/6)`, `(1/6, −1/6, 1/6)`,
/// `(1/30, 1/15, 2/15)`, `(16/15, −8/15, 4/15)` and `(0, 0, 1/2)`,
/// each point summed in f64 and rounded once.
fn balanced_kernel<'a, T: Float>(weight: &[T], pairs: usize, u: &'a mut Vec<T>) -> &'a [T] {
    u.resize(POINTS * pairs, T::zero());
    for (pair, g) in weight.chunks_exact(TAPS).enumerate() {
        let [g0, g1, g2] = [g[0], g[1], g[2]].map(T::to_f64_lossless);
        let points = [
            g0 / 2.0,
            (g0 + g1 + g2) / 6.0,
            (g0 - g1 + g2) / 6.0,
            (g0 + 2.0 * g1 + 4.0 * g2) / 30.0,
            (16.0 * g0 - 8.0 * g1 + 4.0 * g2) / 15.0,
            g2 / 2.0,
        ];
        for (p, value) in points.into_iter().enumerate() {
            u[p * pairs + pair] = T::from_f64_lossy(value);
        }
    }
    &u[..POINTS * pairs]
}

/// `dg += Gᵀ dU` for every filter pair: the adjoint of [`lavin_kernel`].
pub(super) fn add_kernel_gradient<T: Float>(du: &[T], pairs: usize, grad_weight: &mut [T]) {
    let (quarter, sixth, twelfth, twentyfourth) = (
        c::<T>(0.25),
        c::<T>(1.0 / 6.0),
        c::<T>(1.0 / 12.0),
        c::<T>(1.0 / 24.0),
    );
    for (pair, g) in grad_weight.chunks_exact_mut(TAPS).enumerate() {
        let point = |p: usize| du[p * pairs + pair];
        let (sum12, diff12) = (point(1) + point(2), point(2) - point(1));
        let (sum34, diff34) = (point(3) + point(4), point(3) - point(4));
        g[0] += quarter * point(0) - sixth * sum12 + twentyfourth * sum34;
        g[1] += sixth * diff12 + twelfth * diff34;
        g[2] += sixth * (sum34 - sum12) + point(5);
    }
}
