//! Errors of the doctor: whatever the crate under it refused.

use thiserror::Error;

/// What stopped an examination, a verification or a comparison, wrapping
/// the error of the crate that raised it (each names its layer, field, row
/// or file).
#[derive(Debug, Error)]
pub enum DoctorError {
    /// Training (the probe, a verification arm) refused something.
    #[error(transparent)]
    Train(#[from] kymo_train::TrainError),
    /// A baseline (ridge, PLS, MiniRocket) refused something.
    #[error(transparent)]
    Baseline(#[from] kymo_baselines::BaselineError),
    /// The model could not be built.
    #[error(transparent)]
    Layer(#[from] kymo_layers::LayerError),
    /// The data refused something.
    #[error(transparent)]
    Data(#[from] kymo_data::DataError),
}
