//! Errors raised by optimizers.

use thiserror::Error;

/// What went wrong in an optimizer step.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum OptimError {
    /// A step was handed a different number of parameters than the first.
    #[error("optimizer {optimizer}: got {found} parameters, its state holds {expected}")]
    ParameterCount {
        /// The optimizer's name.
        optimizer: &'static str,
        /// What the state holds.
        expected: usize,
        /// What the step was given.
        found: usize,
    },
    /// A parameter's length changed, or its gradient's length differs.
    #[error("optimizer {optimizer}: parameter {index} has {found} values, expected {expected}")]
    ParameterLength {
        /// The optimizer's name.
        optimizer: &'static str,
        /// Position of the parameter in the step's list.
        index: usize,
        /// Expected length.
        expected: usize,
        /// Length given.
        found: usize,
    },
    /// A hyperparameter is out of range.
    #[error("optimizer {optimizer}: invalid `{field}`: {reason}")]
    Config {
        /// The optimizer's name.
        optimizer: &'static str,
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}
