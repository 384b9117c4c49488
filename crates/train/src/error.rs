//! Errors raised while training.

use std::path::PathBuf;

use thiserror::Error;

use crate::CheckpointError;

/// What went wrong in training, wrapping the error of the crate that raised it.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A layer or the model refused something.
    #[error(transparent)]
    Layer(#[from] kymo_layers::LayerError),
    /// The optimizer refused something.
    #[error(transparent)]
    Optim(#[from] kymo_optim::OptimError),
    /// The data refused something.
    #[error(transparent)]
    Data(#[from] kymo_data::DataError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A training setting is invalid.
    #[error("fit: invalid `{field}`: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A resumed run cannot continue as the uninterrupted one would have.
    #[error("resume: {callback} cannot pick up the run: {reason}")]
    Resume {
        /// The callback, or `Trainer` for the checkpoint itself.
        callback: &'static str,
        /// Why.
        reason: String,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
