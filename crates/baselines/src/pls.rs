//! Partial least squares regression (PLS1, one target), the linear
//! calibration chemometricians reach for first, as scikit-learn's
//! `PLSRegression(scale=True)` computes it: columns centred and scaled by
//! their sample standard deviation, then NIPALS with regression deflation.
//! For one target NIPALS needs no inner iteration: each component's weight
//! is `Xᵀy` normalized.
//!
//! The number of components is chosen by k-fold cross-validation on the
//! training rows alone ([`Pls::fit_cv`]).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::BaselineError;

/// A fitted PLS1 model.
#[derive(Debug, Clone, PartialEq)]
pub struct Pls {
    /// Number of latent components.
    pub components: usize,
    x_mean: Array1<f64>,
    x_scale: Array1<f64>,
    y_mean: f64,
    y_scale: f64,
    /// Coefficients on the scaled inputs, giving the scaled target.
    coefficients: Array1<f64>,
}

/// Mean and sample standard deviation (ddof 1, 1 where it is 0) per column.
fn moments(x: ArrayView2<'_, f64>) -> (Array1<f64>, Array1<f64>) {
    let n = x.nrows() as f64;
    let mean = x
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(x.ncols()));
    let scale = x
        .axis_iter(Axis(1))
        .zip(&mean)
        .map(|(column, m)| {
            let sum: f64 = column.iter().map(|v| (v - m).powi(2)).sum();
            let sd = (sum / (n - 1.0).max(1.0)).sqrt();
            if sd > 0.0 && sd.is_finite() {
                sd
            } else {
                1.0
            }
        })
        .collect();
    (mean, scale)
}

impl Pls {
    /// Fits `components` components to rows `x` (`[n, features]`) and
    /// targets `y` (`[n]`).
    pub fn fit(
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
        components: usize,
    ) -> Result<Self, BaselineError> {
        let (n, features) = x.dim();
        if n < 2 || y.len() != n {
            return Err(BaselineError::Config {
                field: "data",
                reason: format!(
                    "PLS needs at least 2 rows and one target per row ({n} rows, {} targets)",
                    y.len()
                ),
            });
        }
        if components == 0 || components > features.min(n - 1) {
            return Err(BaselineError::Config {
                field: "components",
                reason: format!(
                    "{components} components for {n} rows of {features} features (1 to {})",
                    features.min(n - 1)
                ),
            });
        }
        let (x_mean, x_scale) = moments(x);
        let y_column = y.insert_axis(Axis(1));
        let (y_mean, y_scale) = moments(y_column.view());
        let (y_mean, y_scale) = (y_mean[0], y_scale[0]);
        let mut xs = (&x - &x_mean) / &x_scale;
        let mut ys = y.mapv(|v| (v - y_mean) / y_scale);
        let mut weights = Array2::<f64>::zeros((features, components));
        let mut loadings = Array2::<f64>::zeros((features, components));
        let mut y_loadings = Array1::<f64>::zeros(components);
        let mut fitted = 0;
        for k in 0..components {
            let mut w = xs.t().dot(&ys);
            let norm = w.dot(&w).sqrt();
            if norm == 0.0 || !norm.is_finite() {
                // Nothing left to explain: the fitted components are all.
                break;
            }
            w /= norm;
            let t = xs.dot(&w);
            let tt = t.dot(&t);
            let p = xs.t().dot(&t) / tt;
            let q = ys.dot(&t) / tt;
            // Regression deflation of both blocks.
            xs -= &(t
                .view()
                .insert_axis(Axis(1))
                .dot(&p.view().insert_axis(Axis(0))));
            ys -= &(&t * q);
            weights.column_mut(k).assign(&w);
            loadings.column_mut(k).assign(&p);
            y_loadings[k] = q;
            fitted = k + 1;
        }
        // Rotations R = W (PᵀW)⁻¹, so that scores are Xs R; coefficients R q,
        // over the components that explained something (none: the mean).
        let (w, p) = (
            weights.slice(ndarray::s![.., ..fitted]),
            loadings.slice(ndarray::s![.., ..fitted]),
        );
        let inverse = invert(&p.t().dot(&w)).ok_or_else(|| BaselineError::Config {
            field: "components",
            reason: "the components are degenerate (PᵀW is singular): use fewer".into(),
        })?;
        let coefficients = w
            .dot(&inverse)
            .dot(&y_loadings.slice(ndarray::s![..fitted]));
        Ok(Self {
            components,
            x_mean,
            x_scale,
            y_mean,
            y_scale,
            coefficients,
        })
    }

    /// Predictions for rows `x` (`[n, features]`).
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, BaselineError> {
        if x.ncols() != self.x_mean.len() {
            return Err(BaselineError::Config {
                field: "data",
                reason: format!(
                    "{} features; the model was fitted on {}",
                    x.ncols(),
                    self.x_mean.len()
                ),
            });
        }
        let xs = (&x - &self.x_mean) / &self.x_scale;
        Ok(xs
            .dot(&self.coefficients)
            .mapv(|v| v * self.y_scale + self.y_mean))
    }

    /// [`Pls::fit_cv`] on a single-target data set's flattened signals.
    pub fn fit_cv_dataset(
        train: &kymo_data::Dataset,
        max_components: usize,
        folds: usize,
    ) -> Result<Self, BaselineError> {
        if train.target_count() != 1 {
            return Err(BaselineError::Config {
                field: "targets",
                reason: format!("PLS1 fits one target, given {}", train.target_count()),
            });
        }
        let y: Array1<f64> = train.targets().column(0).mapv(f64::from);
        Self::fit_cv(
            crate::ridge::flat(train).view(),
            y.view(),
            max_components,
            folds,
        )
    }

    /// Predictions `[N, 1]` for a data set's flattened signals.
    pub fn predict_dataset(
        &self,
        data: &kymo_data::Dataset,
    ) -> Result<ndarray::Array2<f32>, BaselineError> {
        let predicted = self.predict(crate::ridge::flat(data).view())?;
        Ok(predicted.mapv(|v| v as f32).insert_axis(Axis(1)))
    }

    /// Chooses the number of components (1 to `max_components`) by
    /// `folds`-fold cross-validation on these rows (contiguous folds, as
    /// scikit-learn's `KFold` without shuffling), the lowest mean squared
    /// error winning (ties to fewer), then fits on all rows.
    pub fn fit_cv(
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
        max_components: usize,
        folds: usize,
    ) -> Result<Self, BaselineError> {
        let n = x.nrows();
        let folds = folds.clamp(2, n.max(2));
        // Each training fold keeps at least n - ceil(n / folds) rows.
        let largest_fold = n.div_ceil(folds);
        let limit = max_components
            .min(x.ncols())
            .min(n.saturating_sub(largest_fold + 1))
            .max(1);
        let mut best = (f64::INFINITY, 1);
        for components in 1..=limit {
            let mut squared = 0.0;
            let mut start = 0;
            for fold in 0..folds {
                // scikit-learn's KFold: the first n % folds folds get one more row.
                let size = n / folds + usize::from(fold < n % folds);
                let held: Vec<usize> = (start..start + size).collect();
                let kept: Vec<usize> = (0..n)
                    .filter(|i| !(start..start + size).contains(i))
                    .collect();
                start += size;
                let model = Self::fit(
                    x.select(Axis(0), &kept).view(),
                    y.select(Axis(0), &kept).view(),
                    components,
                )?;
                let predicted = model.predict(x.select(Axis(0), &held).view())?;
                squared += predicted
                    .iter()
                    .zip(held.iter().map(|&i| y[i]))
                    .map(|(p, t)| (p - t).powi(2))
                    .sum::<f64>();
            }
            let mse = squared / n as f64;
            if mse < best.0 {
                best = (mse, components);
            }
        }
        Self::fit(x, y, best.1)
    }
}

/// The inverse of a small square matrix by Gauss-Jordan elimination with
/// partial pivoting; `None` when it is singular.
fn invert(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut m = a.clone();
    let mut inverse = Array2::<f64>::eye(n);
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| m[[i, col]].abs().total_cmp(&m[[j, col]].abs()))?;
        if m[[pivot, col]].abs() < 1e-300 {
            return None;
        }
        for k in 0..n {
            m.swap([col, k], [pivot, k]);
            inverse.swap([col, k], [pivot, k]);
        }
        let d = m[[col, col]];
        for k in 0..n {
            m[[col, k]] /= d;
            inverse[[col, k]] /= d;
        }
        for row in 0..n {
            if row != col {
                let f = m[[row, col]];
                for k in 0..n {
                    m[[row, k]] -= f * m[[col, k]];
                    inverse[[row, k]] -= f * inverse[[col, k]];
                }
            }
        }
    }
    Some(inverse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invert_undoes_a_matrix() {
        let a = ndarray::arr2(&[[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]]);
        let product = a.dot(&invert(&a).expect("regular"));
        for ((i, j), v) in product.indexed_iter() {
            assert!((v - f64::from(u8::from(i == j))).abs() < 1e-12);
        }
        assert!(invert(&ndarray::arr2(&[[1.0, 2.0], [2.0, 4.0]])).is_none());
    }

    #[test]
    fn as_many_components_as_features_is_least_squares() {
        // With every component, PLS1 is ordinary least squares: an exact
        // linear target is recovered.
        let x = Array2::from_shape_fn((12, 3), |(i, j)| {
            ((i * 7 + j * 3) % 11) as f64 + 0.1 * j as f64
        });
        let y = x.dot(&ndarray::arr1(&[0.5, -2.0, 1.25])) + 3.0;
        let model = Pls::fit(x.view(), y.view(), 3).expect("fits");
        let predicted = model.predict(x.view()).expect("same width");
        for (p, t) in predicted.iter().zip(&y) {
            assert!((p - t).abs() < 1e-9, "{p} vs {t}");
        }
    }
}
