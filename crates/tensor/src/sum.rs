//! Sums that vectorize yet give the same bits on every run: eight
//! interleaved lanes, folded in a fixed order.

use crate::Float;

/// `Σ f(a[i], b[i])` in eight lanes, folded in a fixed order.
pub(crate) fn lane_sum<T: Float>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> T {
    let mut lanes = [T::zero(); 8];
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            lanes[k] += f(x[k], y[k]);
        }
    }
    let mut total = lanes.iter().fold(T::zero(), |s, &v| s + v);
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        total += f(x, y);
    }
    total
}

/// `Σ a[i]` in eight lanes, folded in a fixed order.
pub(crate) fn lane_total<T: Float>(a: &[T]) -> T {
    lane_sum(a, a, |x, _| x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sums_add_every_element_including_the_tail() {
        let a: Vec<f64> = (1..=19).map(f64::from).collect();
        assert_eq!(lane_total(&a), 190.0);
        assert_eq!(
            lane_sum(&a, &a, |x, y| x * y),
            (1..=19).map(|v| f64::from(v * v)).sum::<f64>()
        );
        assert_eq!(lane_total::<f32>(&[]), 0.0);
    }
}
