//! The medians the doctor reports (of seeds' scores, and of a probe's
//! per-step measurements), and the two-sample Kolmogorov–Smirnov distance
//! its split rule compares targets by.

/// The median of `values` (the mean of the middle two for an even count;
/// NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

/// The upper median, sorting `values` in place (NaN when empty): the
/// probe's rules were set on it.
pub(crate) fn upper_median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The two-sample Kolmogorov–Smirnov distance: the largest gap between
/// the empirical distribution functions of `a` and `b`, evaluated at
/// every value either holds (ties and all, so discrete values such as
/// class labels count as they are). 0 when either is empty.
pub(crate) fn ks_distance(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let sorted = |values: &[f64]| {
        let mut values = values.to_vec();
        values.sort_by(f64::total_cmp);
        values
    };
    let (a, b) = (sorted(a), sorted(b));
    let (mut i, mut j, mut largest) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        // Step past every copy of the smaller value in both samples.
        let value = if a[i].total_cmp(&b[j]).is_le() {
            a[i]
        } else {
            b[j]
        };
        while i < a.len() && a[i].total_cmp(&value).is_le() {
            i += 1;
        }
        while j < b.len() && b[j].total_cmp(&value).is_le() {
            j += 1;
        }
        let gap = (i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs();
        largest = largest.max(gap);
    }
    largest
}

/// The distance [`ks_distance`] exceeds with probability 0.001 between two
/// samples of `n` and `m` drawn from one continuous distribution (the
/// asymptotic critical value `1.95 sqrt((n + m) / (n m))`; ties only lower
/// the chance).
pub(crate) fn ks_critical_distance(n: usize, m: usize) -> f64 {
    let (n, m) = (n.max(1) as f64, m.max(1) as f64);
    1.95 * ((n + m) / (n * m)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(upper_median(&mut [4.0, 1.0, 2.0, 3.0]), 3.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn ks_distance_of_shifted_overlapping_and_discrete_samples() {
        let low: Vec<f64> = (0..10).map(f64::from).collect();
        let high: Vec<f64> = (10..20).map(f64::from).collect();
        assert_eq!(ks_distance(&low, &high), 1.0);
        assert_eq!(ks_distance(&low, &low), 0.0);
        // Half of `b` above everything in `a`.
        let half: Vec<f64> = (5..15).map(f64::from).collect();
        assert!((ks_distance(&low, &half) - 0.5).abs() < 1e-12);
        // Labels 0, 1, 2 against labels 2 only: the CDFs differ by 2/3 below 2.
        let labels = [0.0, 1.0, 2.0, 0.0, 1.0, 2.0];
        assert!((ks_distance(&labels, &[2.0, 2.0]) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(ks_distance(&[], &labels), 0.0);
        assert!(
            (ks_critical_distance(240, 60) - 1.95 * (300.0f64 / 14_400.0).sqrt()).abs() < 1e-12
        );
    }
}
