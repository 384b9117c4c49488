//! Savitzky-Golay smoothing and derivatives, as `scipy.signal.savgol_filter`
//! computes them with its default `mode='interp'` and `delta=1`: inside the
//! signal, a least-squares polynomial over each centred window; within half
//! a window of either end, the polynomial fitted to the first (or last)
//! whole window, evaluated at each point.

use crate::DataError;

/// The weights that, applied to one window of `window` points, give the
/// `derivative`-th derivative of its least-squares polynomial of degree
/// `order` at offset `at` from the window's centre.
fn weights(window: usize, order: usize, derivative: usize, at: f64) -> Vec<f64> {
    let half = (window / 2) as f64;
    let terms = order + 1;
    // Normal equations of the Vandermonde matrix A[j][k] = x_j^k.
    let xs: Vec<f64> = (0..window).map(|j| j as f64 - half).collect();
    let mut gram = vec![vec![0.0f64; terms]; terms];
    for (r, row) in gram.iter_mut().enumerate() {
        for (c, cell) in row.iter_mut().enumerate() {
            *cell = xs.iter().map(|x| x.powi((r + c) as i32)).sum();
        }
    }
    // r_k = d^derivative/dx^derivative of x^k at `at`.
    let mut r = vec![0.0f64; terms];
    for (k, rk) in r.iter_mut().enumerate().skip(derivative) {
        let falling: f64 = ((k - derivative + 1)..=k).map(|v| v as f64).product();
        *rk = falling * at.powi((k - derivative) as i32);
    }
    // Solve gram * z = r (gram is symmetric positive definite for
    // window > order); the weights are then A z.
    let z = solve(gram, r);
    xs.iter()
        .map(|x| {
            z.iter()
                .enumerate()
                .map(|(k, zk)| zk * x.powi(k as i32))
                .sum()
        })
        .collect()
}

/// Gaussian elimination with partial pivoting on a small dense system.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (above, below) = a.split_at_mut(col + 1);
        let pivot_row = &above[col];
        for (offset, row) in below.iter_mut().enumerate() {
            let factor = row[col] / pivot_row[col];
            for (cell, &p) in row.iter_mut().zip(pivot_row).skip(col) {
                *cell -= factor * p;
            }
            b[col + 1 + offset] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    x
}

/// A Savitzky-Golay filter for signals of one length: the centred weights
/// and those of each edge point, computed once.
#[derive(Debug, Clone)]
pub struct SavitzkyGolayFilter {
    window: usize,
    centre: Vec<f64>,
    /// Weights of the first `window / 2` points over the first window, and
    /// of the last `window / 2` points over the last window.
    left: Vec<Vec<f64>>,
    right: Vec<Vec<f64>>,
}

impl SavitzkyGolayFilter {
    /// Checks the settings against a signal `length` and computes the
    /// weights: the window is odd, longer than the polynomial's order and
    /// no longer than the signal, and the derivative is at most the order.
    pub fn new(
        window: usize,
        order: usize,
        derivative: usize,
        length: usize,
    ) -> Result<Self, DataError> {
        let bad = |why: String| {
            Err(DataError::Shape(format!(
                "Savitzky-Golay (window {window}, order {order}, derivative {derivative}): {why}"
            )))
        };
        if window.is_multiple_of(2) || window < 3 {
            return bad("the window must be odd and at least 3".into());
        }
        if order >= window || order > 6 {
            return bad("the order must be below the window and at most 6".into());
        }
        if derivative > order {
            return bad("the derivative cannot exceed the order".into());
        }
        if window > length {
            return bad(format!(
                "the window is longer than the signal ({length} points)"
            ));
        }
        let half = window / 2;
        let at = |offset: isize| weights(window, order, derivative, offset as f64);
        Ok(Self {
            window,
            centre: at(0),
            left: (0..half).map(|t| at(t as isize - half as isize)).collect(),
            right: (0..half).map(|t| at(t as isize + 1)).collect(),
        })
    }

    /// Filters one signal into `out` (the same length).
    pub fn apply(&self, signal: &[f32], out: &mut [f32]) {
        let (n, w, half) = (signal.len(), self.window, self.window / 2);
        let dot = |weights: &[f64], start: usize| -> f32 {
            weights
                .iter()
                .zip(&signal[start..start + w])
                .map(|(a, &b)| a * f64::from(b))
                .sum::<f64>() as f32
        };
        for (t, weights) in self.left.iter().enumerate() {
            out[t] = dot(weights, 0);
        }
        for (start, o) in out[half..n - half].iter_mut().enumerate() {
            *o = dot(&self.centre, start);
        }
        for (t, weights) in self.right.iter().enumerate() {
            out[n - half + t] = dot(weights, n - w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Case {
        window: usize,
        order: usize,
        derivative: usize,
        expected: Vec<f64>,
    }

    #[derive(serde::Deserialize)]
    struct Fixture {
        signal: Vec<f64>,
        cases: Vec<Case>,
    }

    #[test]
    fn equals_scipy_savgol_filter_at_every_point_edges_included() {
        let fixture: Fixture =
            serde_json::from_str(include_str!("savgol_scipy.json")).expect("fixture parses");
        let signal: Vec<f32> = fixture.signal.iter().map(|&v| v as f32).collect();
        let scale = fixture.signal.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for case in &fixture.cases {
            let filter = SavitzkyGolayFilter::new(case.window, case.order, case.derivative, 48)
                .expect("valid settings");
            let mut out = vec![0.0f32; signal.len()];
            filter.apply(&signal, &mut out);
            for (t, (got, want)) in out.iter().zip(&case.expected).enumerate() {
                assert!(
                    (f64::from(*got) - want).abs() <= 1e-5 * scale,
                    "window {} order {} derivative {} point {t}: {got} vs {want}",
                    case.window,
                    case.order,
                    case.derivative
                );
            }
        }
    }

    #[test]
    fn invalid_settings_are_errors_that_name_them() {
        for (w, o, d, n) in [(4, 2, 0, 10), (5, 5, 0, 10), (5, 2, 3, 10), (11, 2, 0, 9)] {
            let error = SavitzkyGolayFilter::new(w, o, d, n)
                .unwrap_err()
                .to_string();
            assert!(error.contains(&format!("window {w}")), "{error}");
        }
    }
}
