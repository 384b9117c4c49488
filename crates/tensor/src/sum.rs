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
}
