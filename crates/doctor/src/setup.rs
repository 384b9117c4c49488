//! The training setup the doctor examines and prescribes: the optimizer,
//! the batch size and the whole training budget (epochs, schedule, weight
//! decay, patience) and the preprocessing of the signals.

use kymo_data::Dataset;
use kymo_layers::ArchitectureSpec;
use kymo_optim::{Adam, AnyOptimizer, Sgd};
use serde::{Deserialize, Serialize};

use kymo_train::{Callback, EarlyStopping, ReduceLROnPlateau};
use kymo_train::{FitConfig, TrainError, Trainer};

/// How a model is trained, as far as the doctor needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Setup {
    /// Optimizer name (`Adam`, `AdamW`, `SGD`, ...).
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
    /// Decoupled weight decay (AdamW), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// EarlyStopping's patience, when not 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping_patience: Option<usize>,
    /// ReduceLROnPlateau(val_loss, factor 0.5) with this patience, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduce_lr_patience: Option<usize>,
    /// Preprocessing of the signals (`snv,savgol:11:2:1,standardize`);
    /// `None` is per-point standardization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<String>,
    /// Seeded spectral augmentation of training batches, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub augment: Option<kymo_data::Augmentation>,
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
            weight_decay: None,
            early_stopping_patience: None,
            reduce_lr_patience: None,
            preprocessing: None,
            augment: None,
        }
    }
}

/// The lower bound ReduceLROnPlateau stops at: a hundredth of the start.
const MIN_LR_FRACTION: f64 = 0.01;

impl Setup {
    /// The optimizer it names, with its learning rate and weight decay.
    pub fn optimizer(&self) -> AnyOptimizer {
        match self.optimizer.to_ascii_lowercase().as_str() {
            "sgd" => AnyOptimizer::Sgd(Sgd {
                learning_rate: self.learning_rate,
                ..Sgd::default()
            }),
            _ => AnyOptimizer::Adam(Adam {
                weight_decay: self.weight_decay,
                ..Adam::new(self.learning_rate)
            }),
        }
    }

    /// The fit configuration for `seed` (MSE loss, shuffled batches).
    pub fn fit_config(&self, seed: u64) -> FitConfig {
        FitConfig {
            epochs: self.epochs,
            batch_size: self.batch_size.max(1),
            seed,
            augment: self.augment,
            ..FitConfig::default()
        }
    }

    /// EarlyStopping(val_loss, restore_best_weights) when the setup uses it.
    pub fn early_stopping(&self) -> Option<EarlyStopping> {
        self.early_stopping.then(|| {
            EarlyStopping::restoring_best("val_loss", self.early_stopping_patience.unwrap_or(5))
        })
    }

    /// ReduceLROnPlateau(val_loss, factor 0.5) when the setup uses it.
    pub fn reduce_lr(&self) -> Option<ReduceLROnPlateau> {
        self.reduce_lr_patience.map(|patience| {
            ReduceLROnPlateau::new(0.5, patience, self.learning_rate * MIN_LR_FRACTION)
        })
    }

    /// Trains `spec`, built with `seed`, with this setup on data already
    /// preprocessed: its optimizer, batch size, schedule and early stopping
    /// (best weights restored), for `epochs` when given, else its own.
    pub fn train(
        &self,
        spec: &ArchitectureSpec,
        train: &Dataset,
        validation: &Dataset,
        seed: u64,
        epochs: Option<usize>,
    ) -> Result<Trainer, TrainError> {
        let model = spec.build::<f32>(seed)?;
        let mut config = self.fit_config(seed);
        config.epochs = epochs.unwrap_or(config.epochs);
        let mut trainer = Trainer::new(model, self.optimizer(), config);
        let (mut plateau, mut stopper) = (self.reduce_lr(), self.early_stopping());
        let mut callbacks: Vec<&mut dyn Callback> = Vec::new();
        if let Some(p) = plateau.as_mut() {
            callbacks.push(p);
        }
        if let Some(s) = stopper.as_mut() {
            callbacks.push(s);
        }
        trainer.fit(train, Some(validation), &mut callbacks)?;
        Ok(trainer)
    }

    /// Epochs that give this setup `steps` optimizer steps on `samples`
    /// training rows (at least one): how `--verify` gives every arm the
    /// same number of steps whatever its batch size.
    pub fn epochs_for_steps(&self, steps: usize, samples: usize) -> usize {
        let per_epoch = samples.max(1).div_ceil(self.batch_size.max(1));
        steps.div_ceil(per_epoch).max(1)
    }
}
