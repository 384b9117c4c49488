//! Standardization fitted on training data only, invertible for predictions.

use ndarray::{Array2, Array3, Axis};
use serde::{Deserialize, Serialize};

use crate::{DataError, Dataset};

/// Per-feature mean and standard deviation (population, as scikit-learn's
/// `StandardScaler`). A constant feature keeps a scale of 1, so it maps to 0
/// instead of dividing by zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Mean of each feature.
    pub mean: Vec<f32>,
    /// Scale of each feature.
    pub scale: Vec<f32>,
}

impl Standardizer {
    /// Fits on rows of `[N, F]`.
    pub fn fit(rows: &Array2<f32>) -> Result<Self, DataError> {
        if rows.nrows() == 0 {
            return Err(DataError::Shape(
                "cannot fit a standardizer on zero samples".into(),
            ));
        }
        let n = rows.nrows() as f64;
        let mut mean = Vec::with_capacity(rows.ncols());
        let mut scale = Vec::with_capacity(rows.ncols());
        for column in rows.axis_iter(Axis(1)) {
            let m = column.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = column
                .iter()
                .map(|&v| (f64::from(v) - m).powi(2))
                .sum::<f64>()
                / n;
            let s = var.sqrt();
            mean.push(m as f32);
            scale.push(if s > 1e-12 { s as f32 } else { 1.0 });
        }
        Ok(Self { mean, scale })
    }

    fn check(&self, features: usize) -> Result<(), DataError> {
        if features != self.mean.len() {
            return Err(DataError::Shape(format!(
                "standardizer fitted on {} features, given {features}",
                self.mean.len()
            )));
        }
        Ok(())
    }

    /// `(x - mean) / scale`, row by row.
    pub fn transform(&self, rows: &Array2<f32>) -> Result<Array2<f32>, DataError> {
        self.check(rows.ncols())?;
        let mut out = rows.clone();
        for mut row in out.rows_mut() {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) / s;
            }
        }
        Ok(out)
    }

    /// `x * scale + mean`: back to the original units.
    pub fn inverse_transform(&self, rows: &Array2<f32>) -> Result<Array2<f32>, DataError> {
        self.check(rows.ncols())?;
        let mut out = rows.clone();
        for mut row in out.rows_mut() {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = *v * s + m;
            }
        }
        Ok(out)
    }
}

/// Standardizers for a dataset's signals (every point of every channel) and
/// targets, fitted on a training set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetScaler {
    /// Over the flattened `channels * length` signal.
    pub signals: Standardizer,
    /// Over the target columns.
    pub targets: Standardizer,
}

fn flat(signals: &Array3<f32>) -> Array2<f32> {
    let (n, c, l) = signals.dim();
    signals
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((n, c * l))
        .expect("invariant: [n, c, l] and [n, c*l] hold the same count")
}

impl DatasetScaler {
    /// Fits both standardizers on `train`.
    pub fn fit(train: &Dataset) -> Result<Self, DataError> {
        Ok(Self {
            signals: Standardizer::fit(&flat(train.signals()))?,
            targets: Standardizer::fit(train.targets())?,
        })
    }

    /// Standardizes a dataset's signals and targets.
    pub fn transform(&self, data: &Dataset) -> Result<Dataset, DataError> {
        let (n, c, l) = data.signals().dim();
        let signals = self
            .signals
            .transform(&flat(data.signals()))?
            .into_shape_with_order((n, c, l))
            .map_err(|e| DataError::Shape(e.to_string()))?;
        let targets = if data.classes().is_some() {
            data.targets().clone()
        } else {
            self.targets.transform(data.targets())?
        };
        data.map(|_| signals, |_| targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_and_inverse_round_trip_and_constant_columns_map_to_zero() {
        let rows =
            Array2::from_shape_vec((3, 2), vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0]).expect("shape");
        let s = Standardizer::fit(&rows).expect("non-empty");
        let t = s.transform(&rows).expect("same width");
        assert!((t[[0, 0]] + 1.224_744_9).abs() < 1e-5);
        assert!(t.column(1).iter().all(|&v| v == 0.0));
        let back = s.inverse_transform(&t).expect("same width");
        assert!(back
            .iter()
            .zip(rows.iter())
            .all(|(a, b)| (a - b).abs() < 1e-6));
        assert!(s.transform(&Array2::zeros((1, 3))).is_err());
    }
}
