//! Sums that vectorize yet give the same bits on every run: 32
//! interleaved lanes, folded in a fixed order.

use crate::Float;

/// Lanes of a sum: four vectors of 8 `f32`, so that four additions are in
/// flight at once (one vector of lanes waits on each addition's latency,
/// four cycles, which made the conv bias gradient's sum a visible cost).
const LANES: usize = 32;

/// `Σ f(a[i], b[i])` in [`LANES`] lanes, folded in a fixed order.
pub(crate) fn lane_sum<T: Float>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> T {
    lane_sum_in(a, b, f)
}

/// `Σ f(a[i], b[i])` accumulated in `A` (f64 for BatchNormalization's
/// sums in f32), in [`LANES`] lanes folded in a fixed order; [`lane_sum`]
/// is this with `A` = `T`.
pub(crate) fn lane_sum_in<T: Float, A: Float>(a: &[T], b: &[T], f: impl Fn(T, T) -> A) -> A {
    let mut lanes = [A::zero(); LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..LANES {
            lanes[k] += f(x[k], y[k]);
        }
    }
    let mut total = lanes.iter().fold(A::zero(), |s, &v| s + v);
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        total += f(x, y);
    }
    total
}

/// Two sums in one pass, `(Σ f(a[i], b[i]).0, Σ f(a[i], b[i]).1)`, each
/// in its own [`LANES`] lanes folded in [`lane_sum_in`]'s order: the same
/// bits as two calls of it, for one read of `a` and `b`.
pub(crate) fn lane_sums_in<T: Float, A: Float>(
    a: &[T],
    b: &[T],
    f: impl Fn(T, T) -> (A, A),
) -> (A, A) {
    let (mut first, mut second) = ([A::zero(); LANES], [A::zero(); LANES]);
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..LANES {
            let (p, q) = f(x[k], y[k]);
            first[k] += p;
            second[k] += q;
        }
    }
    let fold = |lanes: &[A; LANES]| lanes.iter().fold(A::zero(), |s, &v| s + v);
    let (mut p_total, mut q_total) = (fold(&first), fold(&second));
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        let (p, q) = f(x, y);
        p_total += p;
        q_total += q;
    }
    (p_total, q_total)
}

/// `Σ a[i]` in [`LANES`] lanes, folded in a fixed order.
pub(crate) fn lane_total<T: Float>(a: &[T]) -> T {
    lane_sum(a, a, |x, _| x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sums_add_every_element_including_the_tail() {
        let a: Vec<f64> = (1..=75).map(f64::from).collect();
        assert_eq!(lane_total(&a), 2850.0);
        assert_eq!(
            lane_sum(&a, &a, |x, y| x * y),
            (1..=75).map(|v| f64::from(v * v)).sum::<f64>()
        );
        assert_eq!(lane_total::<f32>(&[]), 0.0);
    }

    #[test]
    fn two_sums_in_one_pass_have_the_bits_of_two_passes() {
        // f32 values whose sums round differently in different orders,
        // with a tail past the lanes.
        let a: Vec<f32> = (0..75).map(|i| (i as f32 * 0.731).sin() * 1e3).collect();
        let b: Vec<f32> = (0..75).map(|i| (i as f32 * 0.377).cos() + 1e-3).collect();
        let f = |x: f32, y: f32| x * y;
        let g = |x: f32, y: f32| x - y * y;
        let (p, q) = lane_sums_in(&a, &b, |x, y| (f(x, y), g(x, y)));
        assert_eq!(p.to_bits(), lane_sum_in(&a, &b, f).to_bits());
        assert_eq!(q.to_bits(), lane_sum_in(&a, &b, g).to_bits());
        let naive: f32 = a.iter().zip(&b).map(|(&x, &y)| f(x, y)).sum();
        assert_ne!(p.to_bits(), naive.to_bits(), "the order shows in the bits");
    }
}
