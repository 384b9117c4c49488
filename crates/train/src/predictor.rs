//! A trained model ready to predict: loaded from a checkpoint with the
//! preprocessing it was trained behind, so new signals go in as the user
//! has them and predictions come out in the target's units.

use std::path::Path;

use kymo_data::{Dataset, Preprocessor};
use kymo_layers::Model;
use kymo_tensor::Runtime;
use ndarray::{Array2, Array3};

use crate::{predict_on, Checkpoint, TrainError};

/// A model and the preprocessing saved with it.
///
/// ```
/// # use kymo_data::{Pipeline, SyntheticSpectra};
/// # use kymo_layers::{zoo, Sequential};
/// # use kymo_optim::{Adam, AnyOptimizer};
/// # use kymo_train::{FitConfig, Predictor, Trainer};
/// let data = SyntheticSpectra { samples: 24, length: 64, ..Default::default() }.generate().unwrap();
/// let preprocessor = Pipeline::standard().fit(&data).unwrap();
/// let model = Sequential::new(&zoo::answer(64), 0).unwrap();
/// let mut trainer = Trainer::new(model, AnyOptimizer::Adam(Adam::default()), FitConfig::default());
/// trainer.fit(&preprocessor.transform(&data).unwrap(), None, &mut []).unwrap();
/// trainer.preprocessor = Some(preprocessor);
///
/// // What a user who loads the checkpoint gets: raw signals in, units out.
/// let mut predictor = Predictor::from_checkpoint(&trainer.checkpoint()).unwrap();
/// let predictions = predictor.predict_signals(data.signals()).unwrap();
/// assert_eq!(predictions, trainer.predict(&data).unwrap());
/// ```
pub struct Predictor {
    /// The trained model.
    pub model: Box<dyn Model<f32>>,
    /// The preprocessing fitted on its training rows, if it was saved.
    pub preprocessor: Option<Preprocessor>,
    /// Where predictions run (the default runtime: every core).
    pub runtime: Runtime,
    /// Samples per forward pass.
    pub batch_size: usize,
}

impl Predictor {
    /// The model and preprocessing a checkpoint holds.
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Result<Self, TrainError> {
        Ok(Self {
            model: checkpoint.model()?,
            preprocessor: checkpoint.preprocessor()?,
            runtime: Runtime::default(),
            batch_size: 32,
        })
    }

    /// [`Predictor::from_checkpoint`] of the file at `path`.
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        Self::from_checkpoint(&Checkpoint::load(path)?)
    }

    /// Predictions for `signals` (`[N, C, L]`, as the user has them), in
    /// the target's units.
    pub fn predict_signals(&mut self, signals: &Array3<f32>) -> Result<Array2<f32>, TrainError> {
        let ready = match &self.preprocessor {
            Some(preprocessor) => preprocessor.transform_signals(signals)?,
            None => signals.clone(),
        };
        // The batches need a target column; prediction never reads it.
        let placeholder = Array2::zeros((ready.dim().0, 1));
        let ready = Dataset::new(ready, placeholder)?;
        let predictions = predict_on(&self.runtime, self.model.as_mut(), &ready, self.batch_size)?;
        match &self.preprocessor {
            Some(preprocessor) => Ok(preprocessor.targets_to_units(&predictions)?),
            None => Ok(predictions),
        }
    }

    /// The class names a classifier was trained on (kept with its
    /// preprocessing), in the order of its output columns.
    pub fn classes(&self) -> Option<&[String]> {
        self.preprocessor.as_ref().and_then(Preprocessor::classes)
    }

    /// Predictions for the signals of `data` (its targets are not read).
    pub fn predict(&mut self, data: &Dataset) -> Result<Array2<f32>, TrainError> {
        self.predict_signals(data.signals())
    }
}
