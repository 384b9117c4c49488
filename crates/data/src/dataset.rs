//! `Dataset`: signals `[N, C, L]` and targets `[N, T]`.

use ndarray::{Array2, Array3, ArrayD, Axis};

use crate::DataError;

/// A set of samples: `signals [N, channels, length]`, `targets [N, T]`.
/// A classification set also names its classes: its targets are then one
/// column of class indices into [`Dataset::classes`].
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    signals: Array3<f32>,
    targets: Array2<f32>,
    classes: Option<Vec<String>>,
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
        Ok(Self {
            signals,
            targets,
            classes: None,
        })
    }

    /// Names the classes of a classification set: the targets must be one
    /// column of class indices below `classes.len()` (the error names the
    /// first row that is not).
    pub fn with_classes(mut self, classes: Vec<String>) -> Result<Self, DataError> {
        if self.targets.ncols() != 1 {
            return Err(DataError::Shape(format!(
                "class labels need one target column, not {}",
                self.targets.ncols()
            )));
        }
        if let Some((row, value)) = self
            .targets
            .column(0)
            .iter()
            .enumerate()
            .find(|(_, &v)| v < 0.0 || v.fract() != 0.0 || v as usize >= classes.len())
        {
            return Err(DataError::Shape(format!(
                "row {row}: target {value} is not a class index below {}",
                classes.len()
            )));
        }
        self.classes = Some(classes);
        Ok(self)
    }

    /// The class names, for a classification set.
    pub fn classes(&self) -> Option<&[String]> {
        self.classes.as_deref()
    }

    /// Each sample's class index, for a classification set.
    pub fn labels(&self) -> Option<Vec<usize>> {
        self.classes
            .as_ref()
            .map(|_| self.targets.column(0).iter().map(|&v| v as usize).collect())
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
            classes: self.classes.clone(),
        })
    }

    /// One batch: signals as a dynamic array (what layers take) and targets.
    pub fn batch(&self, indices: &[usize]) -> Result<(ArrayD<f32>, Array2<f32>), DataError> {
        let part = self.select(indices)?;
        Ok((part.signals.into_dyn(), part.targets))
    }

    /// Replaces the signals and targets (same checks as [`Dataset::new`]);
    /// the class names stay.
    pub fn map(
        &self,
        signals: impl FnOnce(&Array3<f32>) -> Array3<f32>,
        targets: impl FnOnce(&Array2<f32>) -> Array2<f32>,
    ) -> Result<Dataset, DataError> {
        let mut mapped = Dataset::new(signals(&self.signals), targets(&self.targets))?;
        mapped.classes = self.classes.clone();
        Ok(mapped)
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

    #[test]
    fn class_names_need_class_indices_and_travel_with_selections() {
        let x = Array3::zeros((3, 1, 2));
        let labels = Array2::from_shape_vec((3, 1), vec![0.0, 1.0, 1.0]).expect("shape");
        let names = vec!["cat".to_string(), "dog".to_string()];
        let d = Dataset::new(x.clone(), labels)
            .expect("valid")
            .with_classes(names.clone())
            .expect("indices");
        assert_eq!(
            d.select(&[2]).expect("in range").classes(),
            Some(&names[..])
        );
        assert_eq!(d.labels(), Some(vec![0, 1, 1]));
        let bad = Array2::from_shape_vec((3, 1), vec![0.0, 2.0, 0.5]).expect("shape");
        let err = Dataset::new(x, bad)
            .expect("valid")
            .with_classes(names)
            .unwrap_err();
        assert!(err.to_string().contains("row 1"), "{err}");
    }
}
