//! Training settings, as Keras's `compile` and `fit` take them.

use kymo_optim::{clip_by_global_norm, clip_by_norm_each, clip_by_value, Schedule};
use serde::{Deserialize, Serialize};

use crate::{Loss, Metric};

/// Gradient clipping applied before each optimizer step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clip {
    /// Keras's `global_clipnorm`.
    GlobalNorm(f64),
    /// Keras's `clipvalue`.
    Value(f64),
    /// Keras's `clipnorm`: each weight's gradient by its own norm.
    Norm(f64),
}

impl Clip {
    /// Clips `grads` (one slice per weight) in place, as Keras's optimizer
    /// does before its update.
    pub fn apply(self, grads: &mut [&mut [f32]]) {
        match self {
            Clip::GlobalNorm(max) => {
                clip_by_global_norm(grads, max);
            }
            Clip::Norm(max) => clip_by_norm_each(grads, max),
            Clip::Value(limit) => clip_by_value(grads, limit as f32),
        }
    }
}

/// Settings of a training run. Defaults are Keras's `fit` defaults with the
/// seed's loss (`mse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitConfig {
    /// Epochs to train (Keras default 1).
    pub epochs: usize,
    /// Samples per batch (Keras default 32); the last partial batch is kept.
    pub batch_size: usize,
    /// Reshuffle the training samples every epoch (default true).
    pub shuffle: bool,
    /// Seed of the shuffling stream.
    pub seed: u64,
    /// The loss.
    pub loss: Loss,
    /// Metrics reported for training and validation.
    pub metrics: Vec<Metric>,
    /// Keras's `class_weight`: the weight of each class index, multiplying
    /// each training sample's loss by its class's weight (validation loss
    /// stays unweighted, as in Keras).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_weight: Option<Vec<f64>>,
    /// Optional gradient clipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip: Option<Clip>,
    /// Optional learning-rate schedule, evaluated at every step; it overrides
    /// the optimizer's own rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Seeded spectral augmentation of every training batch (off by
    /// default): each batch's draws come from a stream named by `seed`, the
    /// epoch and the batch, so runs repeat bit for bit at any thread count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub augment: Option<kymo_data::Augmentation>,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            seed: 0,
            loss: Loss::Mse,
            metrics: Vec::new(),
            class_weight: None,
            clip: None,
            schedule: None,
            augment: None,
        }
    }
}
