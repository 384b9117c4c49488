//! # kymo-train
//!
//! Training for kymo models, as a Keras user knows it: [`Loss`]es and
//! [`Metric`]s, a [`Trainer`] whose `fit` returns a [`History`], callbacks
//! with Keras's names and defaults ([`EarlyStopping`], [`ModelCheckpoint`],
//! [`TerminateOnNaN`], [`ReduceLROnPlateau`], [`CsvLogger`], [`Progress`]),
//! and crash-safe [`Checkpoint`]s that resume a run bit-exactly.
//!
//! ```
//! use kymo_data::SyntheticSpectra;
//! use kymo_layers::{zoo, Sequential};
//! use kymo_optim::{Adam, AnyOptimizer};
//! use kymo_train::{FitConfig, Trainer};
//!
//! let data = SyntheticSpectra { samples: 40, length: 64, ..Default::default() }.generate().unwrap();
//! let model = Sequential::new(&zoo::answer(64), 0).unwrap();
//! let config = FitConfig { epochs: 2, batch_size: 8, ..Default::default() };
//! let mut trainer = Trainer::new(model, AnyOptimizer::Adam(Adam::default()), config);
//! let history = trainer.fit_split(&data, 0.25, &mut []).unwrap();
//! assert_eq!(history.epochs.len(), 2);
//! assert!(history.epochs[1].val_loss.unwrap().is_finite());
//! ```

mod authors_recipes;
pub mod callbacks;
mod checkpoint;
mod class_weight;
mod codec;
mod config;
mod cross_entropy;
mod ensemble;
mod error;
mod history;
mod loss;
mod predictor;
mod recipe;
mod recorder;
mod resume;
mod sample_parallel;
mod search;
mod stability;
mod trainer;

pub use authors_recipes::authors_recipe;
pub use callbacks::{
    BackupAndRestore, Callback, CsvLogger, EarlyStopping, ModelCheckpoint, Monitor, MonitorMode,
    Progress, ReduceLROnPlateau, TerminateOnNaN,
};
pub use checkpoint::{Checkpoint, CheckpointError, StoredArray};
pub use class_weight::{ClassWeight, ClassWeightRule};
pub use config::{Clip, FitConfig};
pub use ensemble::EnsembleManifest;
pub use error::TrainError;
pub use history::{EpochLog, History};
/// Metrics live in kymo-data, beside the targets they score (the baselines
/// use them without the trainer); re-exported here where Keras users look.
pub use kymo_data::Metric;
pub use loss::Loss;
pub use predictor::Predictor;
pub use recipe::{FitFiles, OptimizerName, Recipe};
pub use recorder::StepRecorder;
pub use resume::ResumePoint;
pub use search::{Candidate, Search, SearchOutcome, Trial};
pub use stability::Stability;
pub use trainer::{predict, predict_on, Evaluation, Trainer};
