//! The one-nearest-neighbour classifier with Euclidean distance: the floor
//! of the UCR archive's benchmarks, which any trained model must clear.

use kymo_data::{Dataset, Metric};
use ndarray::Array2;

use crate::minirocket_classifier::one_hot;
use crate::BaselineError;

/// The training cases and their labels.
#[derive(Debug, Clone)]
pub struct NearestNeighbour {
    cases: Array2<f32>,
    labels: Vec<usize>,
    classes: usize,
}

impl NearestNeighbour {
    /// Keeps the labelled training set.
    pub fn fit(train: &Dataset) -> Result<Self, BaselineError> {
        let (Some(labels), Some(classes)) = (train.labels(), train.classes()) else {
            return Err(BaselineError::Config {
                field: "labels",
                reason: "a classifier needs class labels (Dataset::with_classes)".into(),
            });
        };
        let (n, c, l) = train.signals().dim();
        let cases = Array2::from_shape_fn((n, c * l), |(i, j)| train.signals()[[i, j / l, j % l]]);
        Ok(Self {
            cases,
            labels,
            classes: classes.len(),
        })
    }

    /// Each case's class: that of the nearest training case (the first, on
    /// ties).
    pub fn predict(&self, data: &Dataset) -> Result<Vec<usize>, BaselineError> {
        let (n, c, l) = data.signals().dim();
        if c * l != self.cases.ncols() {
            return Err(BaselineError::Config {
                field: "signals",
                reason: format!(
                    "fitted on {} values per case, given {}",
                    self.cases.ncols(),
                    c * l
                ),
            });
        }
        Ok((0..n)
            .map(|i| {
                let case = data.signals().index_axis(ndarray::Axis(0), i);
                let mut best = (f64::INFINITY, 0);
                for (row, &label) in self.cases.rows().into_iter().zip(&self.labels) {
                    let distance: f64 = row
                        .iter()
                        .zip(case.iter())
                        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                        .sum();
                    if distance < best.0 {
                        best = (distance, label);
                    }
                }
                best.1
            })
            .collect())
    }

    /// The accuracy on a labelled set.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64, BaselineError> {
        let predicted = one_hot(&self.predict(data)?, self.classes);
        Ok(Metric::Accuracy.compute(predicted.view(), data.targets()))
    }
}
