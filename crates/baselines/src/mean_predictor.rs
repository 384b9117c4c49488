//! The floor under every model: predicting each target's training mean.
//! A model whose validation error is not clearly below this one's has
//! learned nothing from the signals.

use kymo_data::{Dataset, Metric};
use ndarray::Array2;

/// The training rows' mean of each target.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanPredictor {
    /// One mean per target column.
    pub means: Vec<f32>,
}

impl MeanPredictor {
    /// The means of `train`'s targets (0 for a set without rows).
    pub fn fit(train: &Dataset) -> Self {
        let means = train
            .targets()
            .columns()
            .into_iter()
            .map(|column| column.mean().unwrap_or(0.0))
            .collect();
        Self { means }
    }

    /// The means, once per row of `data`.
    pub fn predict(&self, data: &Dataset) -> Array2<f32> {
        Array2::from_shape_fn(data.targets().raw_dim(), |(_, j)| {
            self.means.get(j).copied().unwrap_or(0.0)
        })
    }

    /// Its mean squared error on `data`.
    pub fn mse(&self, data: &Dataset) -> f64 {
        Metric::Mse.compute(self.predict(data).view(), data.targets())
    }

    /// The MSE on `other` of predicting `train`'s means: the number every
    /// verdict states beside the models.
    pub fn mse_of(train: &Dataset, other: &Dataset) -> f64 {
        Self::fit(train).mse(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn predicts_the_training_mean_and_scores_its_error() {
        let train = Dataset::new(
            Array3::zeros((4, 1, 3)),
            Array2::from_shape_vec((4, 1), vec![1.0, 2.0, 3.0, 6.0]).expect("shape"),
        )
        .expect("valid");
        let other = Dataset::new(
            Array3::zeros((2, 1, 3)),
            Array2::from_shape_vec((2, 1), vec![3.0, 5.0]).expect("shape"),
        )
        .expect("valid");
        let mean = MeanPredictor::fit(&train);
        assert_eq!(mean.means, vec![3.0]);
        // Errors 0 and 2: MSE (0 + 4) / 2.
        assert_eq!(MeanPredictor::mse_of(&train, &other), 2.0);
    }
}
