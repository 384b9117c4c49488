//! Errors of the baselines.

use thiserror::Error;

/// What a baseline refused, naming the setting or the data at fault.
#[derive(Debug, Error)]
pub enum BaselineError {
    /// A setting or the data's shape is invalid for this baseline.
    #[error("baseline: invalid `{field}`: {reason}")]
    Config {
        /// The setting or input.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The data refused something (a standardizer, a data set's shape).
    #[error(transparent)]
    Data(#[from] kymo_data::DataError),
}
