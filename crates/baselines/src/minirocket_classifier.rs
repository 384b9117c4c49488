//! MiniRocket's classifier as its reference code builds it: the transform
//! (multivariate for several channels), features scaled, then a ridge
//! classifier whose penalty leave-one-out chooses from 10⁻³ to 10³.

use kymo_data::{Dataset, Metric, Standardizer};
use ndarray::Array2;

use crate::{minirocket_alphas, BaselineError, MiniRocket, RidgeClassifier};

/// A fitted MiniRocket classifier.
#[derive(Debug, Clone)]
pub struct MiniRocketClassifier {
    /// The transform.
    pub transform: MiniRocket,
    scaler: Standardizer,
    /// The ridge classifier on the features.
    pub ridge: RidgeClassifier,
    classes: usize,
}

/// The class count of a labelled set, or an error naming what is missing.
fn labelled(data: &Dataset) -> Result<(Vec<usize>, usize), BaselineError> {
    match (data.labels(), data.classes()) {
        (Some(labels), Some(classes)) => Ok((labels, classes.len())),
        _ => Err(BaselineError::Config {
            field: "labels",
            reason: "a classifier needs class labels (Dataset::with_classes)".into(),
        }),
    }
}

/// One-hot rows `[N, classes]` of predicted classes: the form kymo's
/// classification metrics read.
pub(crate) fn one_hot(predicted: &[usize], classes: usize) -> Array2<f32> {
    Array2::from_shape_fn((predicted.len(), classes), |(i, k)| {
        f32::from(u8::from(predicted[i] == k))
    })
}

impl MiniRocketClassifier {
    /// Fits on the labelled training set `train` with `seed` (the
    /// reference's 10,000 features).
    pub fn fit(train: &Dataset, seed: u64) -> Result<Self, BaselineError> {
        Self::fit_with(train, MiniRocket::DEFAULT_FEATURES, seed)
    }

    /// [`MiniRocketClassifier::fit`] with about `features` features.
    pub fn fit_with(train: &Dataset, features: usize, seed: u64) -> Result<Self, BaselineError> {
        let (labels, classes) = labelled(train)?;
        let transform = MiniRocket::fit(train.signals(), features, seed)?;
        let train_features = transform.transform(train.signals())?;
        let scaler = Standardizer::fit(&train_features)?;
        let ridge = RidgeClassifier::fit(
            &scaler.transform(&train_features)?,
            &labels,
            classes,
            &minirocket_alphas(),
        )?;
        Ok(Self {
            transform,
            scaler,
            ridge,
            classes,
        })
    }

    /// Each case's class.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<usize>, BaselineError> {
        let features = self
            .scaler
            .transform(&self.transform.transform(data.signals())?)?;
        self.ridge.predict(&features)
    }

    /// The accuracy on a labelled set.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64, BaselineError> {
        let predicted = one_hot(&self.predict(data)?, self.classes);
        Ok(Metric::Accuracy.compute(predicted.view(), data.targets()))
    }
}
