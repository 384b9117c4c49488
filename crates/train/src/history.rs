//! The per-epoch record of a training run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 0-based epoch index.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by batch size,
    /// with the weights as they were at each batch, as Keras reports it).
    pub loss: f64,
    /// Validation loss at the end of the epoch, in inference mode.
    pub val_loss: Option<f64>,
    /// Metrics by log name: `mse`, `val_mse`, `r2`, `val_r2`, ...
    pub metrics: BTreeMap<String, f64>,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Wall time of the epoch, in seconds (not part of determinism checks).
    pub seconds: f64,
    /// Training samples per second over the epoch.
    pub samples_per_second: f64,
}

impl EpochLog {
    /// A logged value by Keras's name: `loss`, `val_loss`, `learning_rate`,
    /// or any metric.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            "val_loss" => self.val_loss,
            "learning_rate" | "lr" => Some(self.learning_rate),
            other => self.metrics.get(other).copied(),
        }
    }

    /// Everything but the wall-clock fields, for bit-exact comparisons.
    pub fn deterministic_part(&self) -> (usize, u64, Option<u64>, Vec<(String, u64)>, u64) {
        (
            self.epoch,
            self.loss.to_bits(),
            self.val_loss.map(f64::to_bits),
            self.metrics
                .iter()
                .map(|(k, v)| (k.clone(), v.to_bits()))
                .collect(),
            self.learning_rate.to_bits(),
        )
    }
}

/// Every epoch of a run, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The epochs.
    pub epochs: Vec<EpochLog>,
}

impl History {
    /// The values of `name` per epoch (missing values are skipped).
    pub fn series(&self, name: &str) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.get(name)).collect()
    }

    /// The epoch with the lowest `val_loss`, if any was measured.
    pub fn best_val_epoch(&self) -> Option<&EpochLog> {
        self.epochs
            .iter()
            .filter(|e| e.val_loss.is_some_and(f64::is_finite))
            .min_by(|a, b| {
                a.val_loss
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.val_loss.unwrap_or(f64::INFINITY))
            })
    }
}
