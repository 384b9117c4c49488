//! The training setup the doctor examines.

use serde::{Deserialize, Serialize};

/// How a model is trained, as far as the doctor needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Setup {
    /// Optimizer name (`Adam`, `SGD`, ...).
    pub optimizer: String,
    /// Learning rate.
    pub learning_rate: f64,
    /// Batch size.
    pub batch_size: usize,
    /// Epochs.
    pub epochs: usize,
    /// Whether validation data is used.
    pub validation: bool,
    /// Whether EarlyStopping is used.
    pub early_stopping: bool,
    /// Whether the best-validation weights are checkpointed.
    pub checkpoint_best: bool,
}

impl Default for Setup {
    /// The seed question's setup: Adam 1e-3, batch 1, 25 epochs, validation
    /// but no early stopping and no checkpoint.
    fn default() -> Self {
        Self {
            optimizer: "Adam".into(),
            learning_rate: 1e-3,
            batch_size: 1,
            epochs: 25,
            validation: true,
            early_stopping: false,
            checkpoint_best: false,
        }
    }
}
