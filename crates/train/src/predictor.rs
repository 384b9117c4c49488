//! A trained model ready to predict: loaded from a checkpoint with the
//! preprocessing it was trained behind, so new signals go in as the user
//! has them and predictions come out in the target's units.

use std::path::Path;

use kymo_data::{Dataset, Preprocessor};
use kymo_layers::Model;
use kymo_tensor::Runtime;
use ndarray::{Array2, Array3};

use crate::{predict_on, Checkpoint, EnsembleManifest, TrainError};

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
    /// The trained model (member 1 of a seed ensemble).
    pub model: Box<dyn Model<f32>>,
    /// A seed ensemble's other members: the predictions are the mean of
    /// every member's (class probabilities, for a classifier). Empty for
    /// one network.
    pub members: Vec<Box<dyn Model<f32>>>,
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
            members: Vec::new(),
            preprocessor: checkpoint.preprocessor()?,
            runtime: Runtime::default(),
            batch_size: 32,
        })
    }

    /// A seed ensemble of the checkpoints' models, which must share one
    /// preprocessing (they were trained on the same rows).
    pub fn from_checkpoints(checkpoints: &[Checkpoint]) -> Result<Self, TrainError> {
        let (first, rest) = checkpoints.split_first().ok_or(TrainError::Config {
            field: "ensemble",
            reason: "no member checkpoint".into(),
        })?;
        let mut predictor = Self::from_checkpoint(first)?;
        for (i, checkpoint) in rest.iter().enumerate() {
            if checkpoint.preprocessor()? != predictor.preprocessor {
                return Err(TrainError::Config {
                    field: "ensemble",
                    reason: format!(
                        "member {}'s preprocessing differs from member 1's: its members must be trained on the same rows",
                        i + 2
                    ),
                });
            }
            predictor.members.push(checkpoint.model()?);
        }
        Ok(predictor)
    }

    /// [`Predictor::from_checkpoint`] of the file at `path`; for an
    /// ensemble's manifest (`ensemble.toml`), [`Predictor::from_checkpoints`]
    /// of the members it names; for a `kymo fit` output folder, its
    /// manifest if it has one, else its `best.kymo`.
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        if path.is_dir() {
            let manifest = path.join(EnsembleManifest::FILE_NAME);
            return match manifest.exists() {
                true => Self::load(&manifest),
                false => Self::load(&path.join(EnsembleManifest::member_file(0))),
            };
        }
        if EnsembleManifest::is_manifest(path) {
            let manifest = EnsembleManifest::read(path)?;
            let checkpoints = manifest
                .checkpoints(path)
                .iter()
                .map(|member| Checkpoint::load(member))
                .collect::<Result<Vec<_>, _>>()?;
            return Self::from_checkpoints(&checkpoints);
        }
        Self::from_checkpoint(&Checkpoint::load(path)?)
    }

    /// Networks whose predictions are averaged (1 for a single model).
    pub fn ensemble_size(&self) -> usize {
        1 + self.members.len()
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
        let mut predictions =
            predict_on(&self.runtime, self.model.as_mut(), &ready, self.batch_size)?;
        if !self.members.is_empty() {
            for member in &mut self.members {
                predictions +=
                    &predict_on(&self.runtime, member.as_mut(), &ready, self.batch_size)?;
            }
            predictions /= self.ensemble_size() as f32;
        }
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
