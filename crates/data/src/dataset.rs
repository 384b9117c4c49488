//! `Dataset`: signals `[N, C, L]` and targets `[N, T]`.

use ndarray::{Array2, Array3, ArrayD, Axis};

use crate::DataError;

/// A set of samples: `signals [N, channels, length]`, `targets [N, T]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    signals: Array3<f32>,
    targets: Array2<f32>,
}

impl Dataset {
    /// Pairs signals and targets, checking that they have the same number of
    /// samples, at least one point and one target, and only finite values.
    pub fn new(signals: Array3<f32>, targets: Array2<f32>) -> Result<Self, DataError> {
        let (n, channels, length) = signals.dim();
        if targets.nrows() != n {
            return Err(DataError::Shape(format!(
                "{n} signals but {} target rows",
                targets.nrows()
            )));
        }
        if channels == 0 || length == 0 || targets.ncols() == 0 {
            return Err(DataError::Shape(format!(
                "signals {:?} and targets {:?} must have at least one channel, point and target",
                signals.shape(),
                targets.shape()
            )));
        }
        if let Some((index, _)) = signals.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(DataError::Shape(format!(
                "signal value at {index:?} is not finite"
            )));
        }
        if let Some((index, _)) = targets.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(DataError::Shape(format!(
                "target at {index:?} is not finite"
            )));
        }
        Ok(Self { signals, targets })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.signals.dim().0
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Channels per sample.
    pub fn channels(&self) -> usize {
        self.signals.dim().1
    }

    /// Points per channel.
    pub fn length(&self) -> usize {
        self.signals.dim().2
    }

    /// Targets per sample.
    pub fn target_count(&self) -> usize {
        self.targets.ncols()
    }

    /// The signals.
    pub fn signals(&self) -> &Array3<f32> {
        &self.signals
    }

    /// The targets.
    pub fn targets(&self) -> &Array2<f32> {
        &self.targets
    }

    /// The samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset, DataError> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(DataError::Shape(format!(
                "sample {bad} out of range for {} samples",
                self.len()
            )));
        }
        Ok(Dataset {
            signals: self.signals.select(Axis(0), indices),
            targets: self.targets.select(Axis(0), indices),
        })
    }

    /// One batch: signals as a dynamic array (what layers take) and targets.
    pub fn batch(&self, indices: &[usize]) -> Result<(ArrayD<f32>, Array2<f32>), DataError> {
        let part = self.select(indices)?;
        Ok((part.signals.into_dyn(), part.targets))
    }

    /// Replaces the signals and targets (same checks as [`Dataset::new`]).
    pub fn map(
        &self,
        signals: impl FnOnce(&Array3<f32>) -> Array3<f32>,
        targets: impl FnOnce(&Array2<f32>) -> Array2<f32>,
    ) -> Result<Dataset, DataError> {
        Dataset::new(signals(&self.signals), targets(&self.targets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatched_counts_and_non_finite_values_are_refused() {
        let err = Dataset::new(Array3::zeros((3, 1, 4)), Array2::zeros((2, 1))).unwrap_err();
        assert!(err.to_string().contains("3 signals but 2"));
        let mut x = Array3::zeros((2, 1, 4));
        x[[1, 0, 2]] = f32::NAN;
        let err = Dataset::new(x, Array2::zeros((2, 1))).unwrap_err();
        assert!(err.to_string().contains("(1, 0, 2)"), "{err}");
    }

    #[test]
    fn select_keeps_order_and_refuses_out_of_range() {
        let x = Array3::from_shape_fn((4, 1, 2), |(n, _, l)| (n * 10 + l) as f32);
        let y = Array2::from_shape_fn((4, 1), |(n, _)| n as f32);
        let d = Dataset::new(x, y).expect("valid");
        let s = d.select(&[3, 1]).expect("in range");
        assert_eq!(s.targets().column(0).to_vec(), vec![3.0, 1.0]);
        assert!(d.select(&[4]).is_err());
    }
}
