//! scikit-learn's `RidgeClassifierCV`, as MiniRocket's reference code uses
//! it: each class a target of +1 for its samples and -1 for the others
//! (one column for two classes), ridge regression on centred features, the
//! penalty chosen by exact leave-one-out error (sklearn's generalized
//! cross-validation with an unpenalized intercept), and the class of the
//! largest score.
//!
//! In the dual, with `K = Xc Xcᵀ` and `G = K + αI`, the leave-one-out
//! residual of sample `i` is `c_i / (G⁻¹_ii − 1/(nα))` with `c = G⁻¹ yc`:
//! the constant vector is an eigenvector of `K` with eigenvalue 0 (the
//! columns are centred), and leaving the intercept unpenalized takes its
//! `1/α` share out of `G⁻¹`.

use kymo_tensor::{matmul, MatRef};
use ndarray::Array2;

use crate::ridge::{cholesky, cholesky_solve};
use crate::BaselineError;

/// A fitted ridge classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeClassifier {
    /// The penalty leave-one-out chose.
    pub alpha: f64,
    classes: usize,
    x_mean: Vec<f64>,
    y_mean: Vec<f64>,
    /// Weights `[features, columns]` (one column for two classes).
    weights: Array2<f64>,
}

/// The penalties MiniRocket's reference tries: `np.logspace(-3, 3, 10)`.
pub fn minirocket_alphas() -> Vec<f64> {
    (0..10)
        .map(|i| 10f64.powf(-3.0 + 6.0 * i as f64 / 9.0))
        .collect()
}

impl RidgeClassifier {
    /// Fits on `features` `[N, F]` with class indices `labels` below
    /// `classes` (at least 2), the penalty chosen from `alphas` by
    /// leave-one-out squared error on the ±1 targets.
    pub fn fit(
        features: &Array2<f32>,
        labels: &[usize],
        classes: usize,
        alphas: &[f64],
    ) -> Result<Self, BaselineError> {
        let (n, p) = features.dim();
        if labels.len() != n || n < 2 || classes < 2 || alphas.is_empty() {
            return Err(BaselineError::Config {
                field: "ridge classifier",
                reason: format!(
                    "needs at least 2 samples with one label each, 2 classes and a penalty; given {n} samples, {} labels, {classes} classes, {} penalties",
                    labels.len(),
                    alphas.len()
                ),
            });
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
            return Err(BaselineError::Config {
                field: "labels",
                reason: format!("label {bad} is not below {classes} classes"),
            });
        }
        let columns = if classes == 2 { 1 } else { classes };
        let mut targets = Array2::<f64>::from_elem((n, columns), -1.0);
        for (i, &label) in labels.iter().enumerate() {
            let column = if classes == 2 { 0 } else { label };
            if classes > 2 || label == 1 {
                targets[[i, column]] = 1.0;
            }
        }
        let mut x = features.mapv(f64::from);
        let x_mean: Vec<f64> = (0..p).map(|j| x.column(j).sum() / n as f64).collect();
        for mut row in x.rows_mut() {
            row.iter_mut().zip(&x_mean).for_each(|(v, m)| *v -= m);
        }
        let y_mean: Vec<f64> = (0..columns)
            .map(|j| targets.column(j).sum() / n as f64)
            .collect();
        for mut row in targets.rows_mut() {
            row.iter_mut().zip(&y_mean).for_each(|(v, m)| *v -= m);
        }
        let x_slice = x.as_slice().ok_or(BaselineError::Config {
            field: "features",
            reason: "not contiguous".into(),
        })?;
        let mut gram = vec![0.0; n * n];
        let x_mat = MatRef::row_major(x_slice, n, p);
        matmul(&mut gram, x_mat, x_mat.t(), false).map_err(|e| BaselineError::Config {
            field: "features",
            reason: e.to_string(),
        })?;
        let mut best: Option<(f64, f64, Array2<f64>)> = None;
        for &alpha in alphas {
            let Some((error, dual)) = leave_one_out(&gram, n, &targets, alpha) else {
                continue;
            };
            if best.as_ref().is_none_or(|(b, _, _)| error < *b) {
                best = Some((error, alpha, dual));
            }
        }
        let (_, alpha, dual) = best.ok_or_else(|| BaselineError::Config {
            field: "alphas",
            reason: "X Xᵀ + αI is not positive definite for any penalty".into(),
        })?;
        // w = Xcᵀ c.
        let weights = x.t().dot(&dual);
        Ok(Self {
            alpha,
            classes,
            x_mean,
            y_mean,
            weights,
        })
    }

    /// Each row's score per column (`[N, 1]` for two classes).
    pub fn decision(&self, features: &Array2<f32>) -> Result<Array2<f64>, BaselineError> {
        if features.ncols() != self.x_mean.len() {
            return Err(BaselineError::Config {
                field: "features",
                reason: format!(
                    "fitted on {} features, given {}",
                    self.x_mean.len(),
                    features.ncols()
                ),
            });
        }
        let mut x = features.mapv(f64::from);
        for mut row in x.rows_mut() {
            row.iter_mut().zip(&self.x_mean).for_each(|(v, m)| *v -= m);
        }
        let mut scores = x.dot(&self.weights);
        for mut row in scores.rows_mut() {
            row.iter_mut().zip(&self.y_mean).for_each(|(v, m)| *v += m);
        }
        Ok(scores)
    }

    /// Each row's class: for two classes, 1 where the score is positive;
    /// else the column of the largest score.
    pub fn predict(&self, features: &Array2<f32>) -> Result<Vec<usize>, BaselineError> {
        let scores = self.decision(features)?;
        Ok(scores
            .rows()
            .into_iter()
            .map(|row| {
                if self.classes == 2 {
                    usize::from(row[0] > 0.0)
                } else {
                    let mut best = 0;
                    for (k, &v) in row.iter().enumerate() {
                        if v > row[best] {
                            best = k;
                        }
                    }
                    best
                }
            })
            .collect())
    }
}

/// The summed squared leave-one-out residual at `alpha`, and the dual
/// coefficients `G⁻¹ yc`; `None` when `G` is not positive definite.
fn leave_one_out(
    gram: &[f64],
    n: usize,
    targets: &Array2<f64>,
    alpha: f64,
) -> Option<(f64, Array2<f64>)> {
    let mut g = gram.to_vec();
    for i in 0..n {
        g[i * n + i] += alpha;
    }
    cholesky(&mut g, n)?;
    // The diagonal of G⁻¹, one unit column at a time.
    let mut diagonal = vec![0.0; n];
    let mut unit = vec![0.0; n];
    for (i, d) in diagonal.iter_mut().enumerate() {
        unit.fill(0.0);
        unit[i] = 1.0;
        cholesky_solve(&g, n, &mut unit);
        *d = unit[i] - 1.0 / (n as f64 * alpha);
    }
    let mut dual = Array2::<f64>::zeros(targets.raw_dim());
    let mut error = 0.0;
    for (j, column) in targets.columns().into_iter().enumerate() {
        let mut c: Vec<f64> = column.to_vec();
        cholesky_solve(&g, n, &mut c);
        for i in 0..n {
            let residual = c[i] / diagonal[i];
            error += residual * residual;
            dual[[i, j]] = c[i];
        }
    }
    Some((error, dual))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: refit without sample `i` (intercept unpenalized, as
    /// centring gives) and predict it.
    fn brute_force_loo(x: &Array2<f64>, y: &[f64], alpha: f64) -> f64 {
        let n = x.nrows();
        let mut total = 0.0;
        for i in 0..n {
            let keep: Vec<usize> = (0..n).filter(|&k| k != i).collect();
            let xs = x.select(ndarray::Axis(0), &keep);
            let ys: Vec<f64> = keep.iter().map(|&k| y[k]).collect();
            let m = keep.len();
            let mean: Vec<f64> = (0..xs.ncols())
                .map(|j| xs.column(j).sum() / m as f64)
                .collect();
            let y_mean = ys.iter().sum::<f64>() / m as f64;
            let xc = Array2::from_shape_fn(xs.dim(), |(r, j)| xs[[r, j]] - mean[j]);
            let mut k = xc.dot(&xc.t()).into_raw_vec_and_offset().0;
            for d in 0..m {
                k[d * m + d] += alpha;
            }
            cholesky(&mut k, m).expect("positive definite");
            let mut c: Vec<f64> = ys.iter().map(|v| v - y_mean).collect();
            cholesky_solve(&k, m, &mut c);
            let w = xc.t().dot(&ndarray::Array1::from(c));
            let prediction: f64 = (0..x.ncols())
                .map(|j| (x[[i, j]] - mean[j]) * w[j])
                .sum::<f64>()
                + y_mean;
            total += (y[i] - prediction).powi(2);
        }
        total
    }

    #[test]
    fn leave_one_out_error_equals_refitting_without_each_sample() {
        let x = Array2::from_shape_fn((9, 5), |(i, j)| (((i * 7 + j * 3) % 11) as f64 - 5.0) / 3.0);
        let y: Vec<f64> = (0..9)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        let mut gram_x = x.clone();
        let means: Vec<f64> = (0..5).map(|j| x.column(j).sum() / 9.0).collect();
        for mut row in gram_x.rows_mut() {
            row.iter_mut().zip(&means).for_each(|(v, m)| *v -= m);
        }
        let gram = gram_x.dot(&gram_x.t()).into_raw_vec_and_offset().0;
        let y_mean = y.iter().sum::<f64>() / 9.0;
        let targets = Array2::from_shape_fn((9, 1), |(i, _)| y[i] - y_mean);
        for alpha in [0.01, 1.0, 30.0] {
            let (fast, _) = leave_one_out(&gram, 9, &targets, alpha).expect("positive definite");
            let slow = brute_force_loo(&x, &y, alpha);
            assert!(
                (fast - slow).abs() < 1e-8 * slow.max(1.0),
                "alpha {alpha}: {fast} vs {slow}"
            );
        }
    }

    #[test]
    fn separable_classes_are_told_apart_and_bad_input_is_refused() {
        let labels: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let features = Array2::from_shape_fn((30, 4), |(i, j)| {
            let hot = f32::from(u8::from(labels[i] == j));
            hot + 0.05 * ((i * 13 + j * 5) % 7) as f32
        });
        let model =
            RidgeClassifier::fit(&features, &labels, 3, &minirocket_alphas()).expect("fits");
        assert_eq!(model.predict(&features).expect("same width"), labels);
        let binary: Vec<usize> = labels.iter().map(|&l| usize::from(l == 1)).collect();
        let model =
            RidgeClassifier::fit(&features, &binary, 2, &minirocket_alphas()).expect("fits");
        assert_eq!(model.predict(&features).expect("same width"), binary);
        assert!(
            RidgeClassifier::fit(&features, &labels, 2, &[1.0]).is_err(),
            "label 2 of 2 classes"
        );
        assert!(model.predict(&Array2::zeros((1, 3))).is_err());
    }
}
