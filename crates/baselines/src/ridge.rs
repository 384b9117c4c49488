//! Ridge regression on flattened signals: the linear baseline every CNN in
//! kymo's reports must beat.
//!
//! Solved in the dual, `w = Xᵀ (X Xᵀ + λ I)⁻¹ y` on centred data, which costs
//! an `n x n` Cholesky factorisation: spectra have more points than samples.

use kymo_data::Dataset;
use kymo_tensor::{matmul, MatRef};
use ndarray::{Array2, Axis};

use kymo_data::Metric;

use crate::BaselineError;

/// A fitted ridge model.
#[derive(Debug, Clone, PartialEq)]
pub struct Ridge {
    /// Penalty.
    pub lambda: f64,
    x_mean: Vec<f64>,
    y_mean: Vec<f64>,
    /// Weights `[features, targets]`.
    weights: Array2<f64>,
}

/// A data set's signals as f64 rows `[N, channels * length]`: the form the
/// linear baselines (ridge, PLS) read.
pub(crate) fn flat(data: &Dataset) -> Array2<f64> {
    let (n, c, l) = data.signals().dim();
    Array2::from_shape_fn((n, c * l), |(i, j)| {
        f64::from(data.signals()[[i, j / l, j % l]])
    })
}

/// Factorises the symmetric positive definite `a` (row-major `n x n`) in
/// place into its lower Cholesky factor; `None` if it is not positive definite.
pub(crate) fn cholesky(a: &mut [f64], n: usize) -> Option<()> {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    Some(())
}

/// Solves `L Lᵀ x = b` in place, given the factor from [`cholesky`].
pub(crate) fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * n + i];
    }
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * n + i];
    }
}

impl Ridge {
    /// Fits with penalty `lambda`.
    pub fn fit(train: &Dataset, lambda: f64) -> Result<Self, BaselineError> {
        if lambda.is_nan() || lambda <= 0.0 {
            return Err(BaselineError::Config {
                field: "lambda",
                reason: format!("{lambda} must be positive"),
            });
        }
        let mut x = flat(train);
        let (n, p) = x.dim();
        let x_mean: Vec<f64> = x
            .mean_axis(Axis(0))
            .map(|m| m.to_vec())
            .unwrap_or_else(|| vec![0.0; p]);
        for mut row in x.rows_mut() {
            row.iter_mut().zip(&x_mean).for_each(|(v, m)| *v -= m);
        }
        let targets = train.targets().mapv(f64::from);
        let y_mean: Vec<f64> = targets
            .mean_axis(Axis(0))
            .map(|m| m.to_vec())
            .unwrap_or_else(|| vec![0.0; targets.ncols()]);
        let x_slice = x.as_slice().ok_or(BaselineError::Config {
            field: "data",
            reason: "not contiguous".into(),
        })?;
        let mut gram = vec![0.0; n * n];
        let x_mat = MatRef::row_major(x_slice, n, p);
        matmul(&mut gram, x_mat, x_mat.t(), false).map_err(|e| BaselineError::Config {
            field: "data",
            reason: e.to_string(),
        })?;
        for i in 0..n {
            gram[i * n + i] += lambda;
        }
        cholesky(&mut gram, n).ok_or_else(|| BaselineError::Config {
            field: "lambda",
            reason: format!("X Xᵀ + {lambda} I is not positive definite"),
        })?;
        let mut weights = Array2::<f64>::zeros((p, targets.ncols()));
        for (t, mean) in y_mean.iter().enumerate() {
            let mut alpha: Vec<f64> = targets.column(t).iter().map(|v| v - mean).collect();
            cholesky_solve(&gram, n, &mut alpha);
            for (i, a) in alpha.iter().enumerate() {
                for (w, &xv) in weights.column_mut(t).iter_mut().zip(x.row(i)) {
                    *w += a * xv;
                }
            }
        }
        Ok(Self {
            lambda,
            x_mean,
            y_mean,
            weights,
        })
    }

    /// Fits every penalty of `lambdas` and keeps the one with the lowest
    /// validation MSE.
    pub fn fit_best(
        train: &Dataset,
        validation: &Dataset,
        lambdas: &[f64],
    ) -> Result<Self, BaselineError> {
        let mut best: Option<(f64, Ridge)> = None;
        for &lambda in lambdas {
            let model = Ridge::fit(train, lambda)?;
            let mse = Metric::Mse.compute(model.predict(validation)?.view(), validation.targets());
            if best.as_ref().is_none_or(|(b, _)| mse < *b) {
                best = Some((mse, model));
            }
        }
        best.map(|(_, m)| m).ok_or(BaselineError::Config {
            field: "lambdas",
            reason: "no penalty given".into(),
        })
    }

    /// The default penalty grid, 1e-3 to 1e4 in decades.
    pub fn default_lambdas() -> Vec<f64> {
        (-3..=4).map(|e| 10f64.powi(e)).collect()
    }

    /// Predictions `[N, T]`.
    pub fn predict(&self, data: &Dataset) -> Result<Array2<f32>, BaselineError> {
        let x = flat(data);
        if x.ncols() != self.x_mean.len() {
            return Err(BaselineError::Config {
                field: "data",
                reason: format!(
                    "ridge fitted on {} features, given {}",
                    self.x_mean.len(),
                    x.ncols()
                ),
            });
        }
        let mut out = Array2::<f32>::zeros((x.nrows(), self.y_mean.len()));
        for (i, row) in x.rows().into_iter().enumerate() {
            for (t, mean) in self.y_mean.iter().enumerate() {
                let s: f64 = row
                    .iter()
                    .zip(&self.x_mean)
                    .zip(self.weights.column(t))
                    .map(|((v, m), w)| (v - m) * w)
                    .sum();
                out[[i, t]] = (s + mean) as f32;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn recovers_a_linear_target_and_matches_the_primal_solution() {
        // y = 2 x0 - x2 + 3, four features, twelve samples.
        let x = Array3::from_shape_fn((12, 1, 4), |(i, _, j)| ((i * 7 + j * 3) % 11) as f32 / 5.0);
        let y = Array2::from_shape_fn((12, 1), |(i, _)| 2.0 * x[[i, 0, 0]] - x[[i, 0, 2]] + 3.0);
        let data = Dataset::new(x, y.clone()).expect("valid");
        let ridge = Ridge::fit(&data, 1e-6).expect("fits");
        let p = ridge.predict(&data).expect("same width");
        assert!(
            p.iter().zip(y.iter()).all(|(a, b)| (a - b).abs() < 1e-3),
            "{p:?}"
        );
        // A large penalty shrinks towards the mean.
        let flat_fit = Ridge::fit(&data, 1e9)
            .expect("fits")
            .predict(&data)
            .expect("same width");
        let mean = y.mean().unwrap_or(0.0);
        assert!(flat_fit.iter().all(|v| (v - mean).abs() < 1e-2));
    }

    #[test]
    fn cholesky_solves_a_small_system() {
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        cholesky(&mut a, 2).expect("positive definite");
        let mut b = vec![2.0, 1.0];
        cholesky_solve(&a, 2, &mut b);
        // [[4,2],[2,3]] x = [2,1] -> x = [0.5, 0]
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12);
        assert!(cholesky(&mut [-1.0], 1).is_none());
    }
}
