//! Errors raised while building or running layers.

use kymo_tensor::TensorError;
use thiserror::Error;

/// What went wrong in a layer or a model, naming the layer and the field.
#[derive(Debug, Error)]
pub enum LayerError {
    /// A layer was handed an input whose shape it cannot take.
    #[error("layer '{layer}' ({kind}): cannot take input of shape {found}; expected {expected}")]
    InputShape {
        /// The layer's name.
        layer: String,
        /// The layer's Keras class name.
        kind: &'static str,
        /// What the layer accepts.
        expected: String,
        /// What it was given.
        found: String,
    },
    /// A configuration value is invalid.
    #[error("layer '{layer}' ({kind}): invalid `{field}`: {reason}")]
    Config {
        /// The layer's name.
        layer: String,
        /// The layer's Keras class name.
        kind: &'static str,
        /// The configuration field.
        field: &'static str,
        /// Why, with the numbers.
        reason: String,
    },
    /// `backward` was called without a training-mode `forward` before it.
    #[error("layer '{layer}': backward needs a training-mode forward first")]
    NoForwardCache {
        /// The layer's name.
        layer: String,
    },
    /// A graph asked a layer for something it cannot give again in
    /// backward (a recomputed output, a kept input).
    #[error("layer '{layer}': {reason}")]
    Recompute {
        /// The layer's name.
        layer: String,
        /// What was asked and why it cannot be.
        reason: &'static str,
    },
    /// A numeric kernel refused its arguments.
    #[error("layer '{layer}': {source}")]
    Kernel {
        /// The layer's name.
        layer: String,
        /// The kernel's error.
        #[source]
        source: TensorError,
    },
    /// A weight handed to `set_weights` has the wrong shape.
    #[error("weight '{name}': expected shape {expected:?}, found {found:?}")]
    WeightShape {
        /// The weight's full name (`layer/kernel`).
        name: String,
        /// The shape the model holds.
        expected: Vec<usize>,
        /// The shape that was given.
        found: Vec<usize>,
    },
    /// `set_weights` was not given a weight the model has.
    #[error("weight '{name}' is missing from the weights given")]
    MissingWeight {
        /// The weight's full name.
        name: String,
    },
    /// `set_weights` was given a weight the model does not have.
    #[error("weight '{name}' is not a weight of this model")]
    UnknownWeight {
        /// The weight's full name.
        name: String,
    },
    /// A weight file (safetensors, NPY) could not be read, parsed or written.
    #[error("weight file {origin}: {reason}")]
    WeightFile {
        /// The file, or where the bytes came from.
        origin: String,
        /// What was wrong, naming the tensor where there is one.
        reason: String,
    },
    /// A model spec file could not be read or parsed.
    #[error("model spec {origin}: {reason}")]
    Spec {
        /// The file or format it came from.
        origin: String,
        /// The parser's message, with its line and column.
        reason: String,
    },
}
