//! `Recipe`: the one description of how to train a model — optimizer,
//! learning rate, batch size, epochs, validation, early stopping,
//! checkpointing, schedule, weight decay, preprocessing and augmentation.
//! The doctor examines and prescribes one, `kymo fit` and the experiment
//! read one, and [`Recipe::fit`] trains with one.

use std::path::{Path, PathBuf};

use kymo_data::Dataset;
use kymo_layers::ArchitectureSpec;
use kymo_optim::{Adam, AnyOptimizer, RmsProp, Schedule, Sgd};
use serde::{Deserialize, Serialize};

use crate::callbacks::{
    BackupAndRestore, Callback, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau,
};
use crate::{ClassWeight, Clip, FitConfig, Loss, Metric, Search, TrainError, Trainer};

/// The optimizers a recipe can name, spelled as Keras's classes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OptimizerName {
    /// Adam (with `weight_decay`, decoupled as Keras 3 applies it).
    Adam,
    /// AdamW: Adam with decoupled weight decay (Keras's default 0.004).
    AdamW,
    /// Stochastic gradient descent, with `momentum` and `nesterov`.
    SGD,
    /// RMSprop, with `momentum`.
    RMSprop,
}

impl std::fmt::Display for OptimizerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// How a model is trained. Read from TOML with unknown keys and unknown
/// optimizer names refused (the error names the key and the accepted
/// values); fields left out take the seed question's setup
/// ([`Recipe::default`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Recipe {
    /// The optimizer.
    pub optimizer: OptimizerName,
    /// Learning rate (the start, under a plateau schedule).
    pub learning_rate: f64,
    /// Momentum of SGD or RMSprop (their default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// Nesterov momentum (SGD).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nesterov: bool,
    /// Decoupled weight decay (Adam, AdamW).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Adam's first-moment decay, when not Keras's 0.9.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beta_1: Option<f64>,
    /// Adam's second-moment decay, when not Keras's 0.999.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beta_2: Option<f64>,
    /// Adam's or RMSprop's epsilon, when not Keras's 1e-7.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// Adam's AMSGrad variant.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub amsgrad: bool,
    /// RMSprop's decay, when not Keras's 0.9.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rho: Option<f64>,
    /// Centered RMSprop.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub centered: bool,
    /// Keras's `clipnorm`: each weight's gradient clipped to this norm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clipnorm: Option<f64>,
    /// Keras's `clipvalue`: every gradient element clamped to ± this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clipvalue: Option<f64>,
    /// Keras's `global_clipnorm`: all gradients scaled together to at
    /// most this norm. At most one of the three clips is set, as Keras
    /// allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_clipnorm: Option<f64>,
    /// A learning-rate schedule evaluated at every step (Keras's
    /// `learning_rate=keras.optimizers.schedules.X(...)`); it sets the
    /// rate from its first step on, so `learning_rate` then names only its
    /// start. Not with the plateau schedule or a search, which set the
    /// rate themselves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Samples per batch.
    pub batch_size: usize,
    /// Epochs (at most, with early stopping).
    pub epochs: usize,
    /// Whether validation data is used.
    pub validation: bool,
    /// EarlyStopping(val_loss) restoring the best weights.
    pub early_stopping: bool,
    /// EarlyStopping's patience, when not 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping_patience: Option<usize>,
    /// A best-only ModelCheckpoint on val_loss.
    pub checkpoint_best: bool,
    /// ReduceLROnPlateau(val_loss, factor 0.5, floor a hundredth of the
    /// start) with this patience, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduce_lr_patience: Option<usize>,
    /// Preprocessing of the signals (`snv,savgol:11:2:1,standardize`);
    /// `None` is per-point standardization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<String>,
    /// Seeded spectral augmentation of training batches, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub augment: Option<kymo_data::Augmentation>,
    /// The loss (Keras's `compile(loss=...)`; default `mse`).
    #[serde(skip_serializing_if = "is_mse")]
    pub loss: Loss,
    /// Metrics logged for training and validation (`["accuracy"]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// Keras's `class_weight`: `"balanced"` or one weight per class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_weight: Option<ClassWeight>,
    /// What early stopping, the plateau schedule and the best checkpoint
    /// watch: `val_loss` (the default) or, as the time-series zoo's
    /// authors train, the training `loss`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// The plateau schedule's floor, when not a hundredth of the start
    /// (the zoo's authors: 1e-4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_learning_rate: Option<f64>,
    /// Networks trained from consecutive seeds and averaged (a seed
    /// ensemble); absent or 1: one network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<usize>,
    /// A budgeted search on validation around this recipe ([`Search`]),
    /// run before training: its chosen width, learning rate and weight
    /// decay are what the network (or the ensemble) then trains with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<Search>,
}

fn is_mse(loss: &Loss) -> bool {
    *loss == Loss::Mse
}

impl Default for Recipe {
    /// The seed question's setup: Adam 1e-3, batch 1, 25 epochs, validation
    /// but no early stopping and no checkpoint.
    fn default() -> Self {
        Self {
            optimizer: OptimizerName::Adam,
            learning_rate: 1e-3,
            momentum: None,
            nesterov: false,
            weight_decay: None,
            beta_1: None,
            beta_2: None,
            epsilon: None,
            amsgrad: false,
            rho: None,
            centered: false,
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            schedule: None,
            batch_size: 1,
            epochs: 25,
            validation: true,
            early_stopping: false,
            early_stopping_patience: None,
            checkpoint_best: false,
            reduce_lr_patience: None,
            preprocessing: None,
            augment: None,
            loss: Loss::Mse,
            metrics: Vec::new(),
            class_weight: None,
            monitor: None,
            min_learning_rate: None,
            ensemble: None,
            search: None,
        }
    }
}

/// The lower bound ReduceLROnPlateau stops at: a hundredth of the start.
const MIN_LR_FRACTION: f64 = 0.01;

/// Keras's AdamW default decay.
const ADAMW_WEIGHT_DECAY: f64 = 0.004;

/// Where [`Recipe::fit_with`] writes, and what else it runs.
#[derive(Default)]
pub struct FitFiles<'a> {
    /// The best-only checkpoint's file, when the recipe checkpoints.
    pub checkpoint: Option<PathBuf>,
    /// A BackupAndRestore folder: a killed run resumes from it.
    pub backup: Option<PathBuf>,
    /// More callbacks, run before the recipe's own.
    pub callbacks: Vec<&'a mut dyn Callback>,
}

impl Recipe {
    /// Parses a TOML recipe, refusing unknown keys and names, then checks
    /// it ([`Recipe::check`]).
    pub fn from_toml_str(text: &str) -> Result<Self, TrainError> {
        let recipe: Self = toml::from_str(text).map_err(|e| TrainError::Config {
            field: "recipe",
            reason: e.to_string(),
        })?;
        recipe.check()?;
        Ok(recipe)
    }

    /// Reads a TOML recipe file.
    pub fn from_path(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            TrainError::Config { field, reason } => TrainError::Config {
                field,
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }

    /// The recipe as TOML, as `from_toml_str` reads it.
    pub fn to_toml(&self) -> String {
        // Every field serializes to a TOML value (no maps with non-string
        // keys, no bare top-level values), so this cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Networks in the recipe's seed ensemble (at least 1).
    pub fn members(&self) -> usize {
        self.ensemble.unwrap_or(1).max(1)
    }

    /// Refuses settings no optimizer or loop can run: an empty batch, a
    /// learning rate that is not a positive number, an option the named
    /// optimizer does not have.
    pub fn check(&self) -> Result<(), TrainError> {
        let invalid =
            |field: &'static str, reason: String| Err(TrainError::Config { field, reason });
        if self.batch_size == 0 {
            return invalid("batch_size", "must be at least 1".into());
        }
        if self.ensemble == Some(0) {
            return invalid("ensemble", "must be at least 1 network".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return invalid(
                "learning_rate",
                format!("must be a positive number, not {}", self.learning_rate),
            );
        }
        let adam_like = matches!(self.optimizer, OptimizerName::Adam | OptimizerName::AdamW);
        if self.weight_decay.is_some() && !adam_like {
            return invalid(
                "weight_decay",
                format!(
                    "{} has no weight decay here; use Adam or AdamW",
                    self.optimizer
                ),
            );
        }
        if self.momentum.is_some() && adam_like {
            return invalid(
                "momentum",
                format!(
                    "{} has no momentum setting; use SGD or RMSprop",
                    self.optimizer
                ),
            );
        }
        self.check_optimizer_options()?;
        if let Some(schedule) = &self.schedule {
            schedule.check().map_err(|reason| TrainError::Config {
                field: "schedule",
                reason,
            })?;
            let rivals = [
                ("reduce_lr_patience", self.reduce_lr_patience.is_some()),
                ("search", self.search.is_some()),
            ];
            if let Some((rival, _)) = rivals.iter().find(|(_, set)| *set) {
                return invalid(
                    "schedule",
                    format!("{rival} sets the learning rate too; keep one (Keras refuses ReduceLROnPlateau on a scheduled rate)"),
                );
            }
        }
        self.loss.check()?;
        if let Some(search) = &self.search {
            search.check()?;
        }
        if self.nesterov && self.optimizer != OptimizerName::SGD {
            return invalid(
                "nesterov",
                format!("only SGD has it, not {}", self.optimizer),
            );
        }
        Ok(())
    }

    /// Refuses the Keras optimizer options ([`Recipe::beta_1`] to
    /// [`Recipe::global_clipnorm`]) that the named optimizer does not have
    /// or that Keras would refuse: a decay outside `[0, 1)`, an epsilon or a
    /// clip that is not a positive number, more than one clip.
    fn check_optimizer_options(&self) -> Result<(), TrainError> {
        let adam_like = matches!(self.optimizer, OptimizerName::Adam | OptimizerName::AdamW);
        let rmsprop = self.optimizer == OptimizerName::RMSprop;
        let owners: [(&'static str, bool, bool, &str); 6] = [
            ("beta_1", self.beta_1.is_some(), adam_like, "Adam or AdamW"),
            ("beta_2", self.beta_2.is_some(), adam_like, "Adam or AdamW"),
            ("amsgrad", self.amsgrad, adam_like, "Adam or AdamW"),
            ("rho", self.rho.is_some(), rmsprop, "RMSprop"),
            ("centered", self.centered, rmsprop, "RMSprop"),
            (
                "epsilon",
                self.epsilon.is_some(),
                adam_like || rmsprop,
                "Adam, AdamW or RMSprop",
            ),
        ];
        for (field, set, owned, owners) in owners {
            if set && !owned {
                return Err(TrainError::Config {
                    field,
                    reason: format!("{} has no {field}; {owners} has", self.optimizer),
                });
            }
        }
        let decays = [
            ("beta_1", self.beta_1),
            ("beta_2", self.beta_2),
            ("rho", self.rho),
        ];
        for (field, value) in decays {
            if let Some(value) = value.filter(|v| !(0.0..1.0).contains(v)) {
                return Err(TrainError::Config {
                    field,
                    reason: format!("must be in [0, 1), not {value}"),
                });
            }
        }
        let positives = [
            ("epsilon", self.epsilon),
            ("clipnorm", self.clipnorm),
            ("clipvalue", self.clipvalue),
            ("global_clipnorm", self.global_clipnorm),
        ];
        for (field, value) in positives {
            if let Some(value) = value.filter(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(TrainError::Config {
                    field,
                    reason: format!("must be a positive number, not {value}"),
                });
            }
        }
        let clips = [self.clipnorm, self.clipvalue, self.global_clipnorm];
        if clips.iter().flatten().count() > 1 {
            return Err(TrainError::Config {
                field: "clipnorm",
                reason:
                    "only one of clipnorm, clipvalue and global_clipnorm can be set, as in Keras"
                        .into(),
            });
        }
        Ok(())
    }

    /// The gradient clipping the recipe names, if any.
    pub fn clip(&self) -> Option<Clip> {
        self.clipnorm
            .map(Clip::Norm)
            .or(self.clipvalue.map(Clip::Value))
            .or(self.global_clipnorm.map(Clip::GlobalNorm))
    }

    /// Adam with the recipe's rate and options, and `weight_decay`.
    fn adam(&self, weight_decay: Option<f64>) -> Adam {
        let defaults = Adam::new(self.learning_rate);
        Adam {
            weight_decay,
            beta_1: self.beta_1.unwrap_or(defaults.beta_1),
            beta_2: self.beta_2.unwrap_or(defaults.beta_2),
            epsilon: self.epsilon.unwrap_or(defaults.epsilon),
            amsgrad: self.amsgrad,
            ..defaults
        }
    }

    /// The optimizer it names, with its learning rate and options.
    pub fn optimizer(&self) -> AnyOptimizer {
        let learning_rate = self.learning_rate;
        match self.optimizer {
            OptimizerName::Adam => AnyOptimizer::Adam(self.adam(self.weight_decay)),
            OptimizerName::AdamW => {
                AnyOptimizer::Adam(self.adam(Some(self.weight_decay.unwrap_or(ADAMW_WEIGHT_DECAY))))
            }
            OptimizerName::SGD => AnyOptimizer::Sgd(Sgd {
                learning_rate,
                momentum: self.momentum.unwrap_or(0.0),
                nesterov: self.nesterov,
                ..Sgd::default()
            }),
            OptimizerName::RMSprop => {
                let defaults = RmsProp::default();
                AnyOptimizer::RmsProp(RmsProp {
                    learning_rate,
                    momentum: self.momentum.unwrap_or(0.0),
                    rho: self.rho.unwrap_or(defaults.rho),
                    epsilon: self.epsilon.unwrap_or(defaults.epsilon),
                    centered: self.centered,
                    ..defaults
                })
            }
        }
    }

    /// The fit configuration for `seed`: the recipe's loss and metrics,
    /// shuffled batches. Class weights need the training labels: they are
    /// set by [`Recipe::fit_with`].
    pub fn fit_config(&self, seed: u64) -> FitConfig {
        FitConfig {
            epochs: self.epochs,
            batch_size: self.batch_size.max(1),
            seed,
            augment: self.augment,
            loss: self.loss,
            metrics: self.metrics.clone(),
            clip: self.clip(),
            schedule: self.schedule.clone(),
            ..FitConfig::default()
        }
    }

    /// The per-class weights for training labels `train`, when the recipe
    /// weights classes: the classes the data names, else the labels as
    /// Keras reads them (one rounded column, or one-hot rows).
    pub fn class_weights(&self, train: &Dataset) -> Result<Option<Vec<f64>>, TrainError> {
        let Some(rule) = &self.class_weight else {
            return Ok(None);
        };
        let labels = train
            .labels()
            .unwrap_or_else(|| kymo_data::true_classes(train.targets()));
        let classes = train.classes().map_or_else(
            || {
                let largest = labels.iter().max().map_or(0, |&c| c + 1);
                largest.max(train.target_count()).max(2)
            },
            <[String]>::len,
        );
        rule.weights(&labels, classes).map(Some)
    }

    /// The quantity the callbacks watch (`val_loss` unless the recipe
    /// names another).
    pub fn monitor(&self) -> &str {
        self.monitor.as_deref().unwrap_or("val_loss")
    }

    /// EarlyStopping(monitor, restore_best_weights) when the recipe uses it.
    pub fn early_stopping(&self) -> Option<EarlyStopping> {
        self.early_stopping.then(|| {
            EarlyStopping::restoring_best(self.monitor(), self.early_stopping_patience.unwrap_or(5))
        })
    }

    /// ReduceLROnPlateau(monitor, factor 0.5) when the recipe uses it.
    pub fn reduce_lr(&self) -> Option<ReduceLROnPlateau> {
        self.reduce_lr_patience.map(|patience| {
            let floor = self
                .min_learning_rate
                .unwrap_or(self.learning_rate * MIN_LR_FRACTION);
            let mut plateau = ReduceLROnPlateau::new(0.5, patience, floor);
            plateau.monitor = crate::callbacks::Monitor::new(
                self.monitor(),
                crate::callbacks::MonitorMode::Auto,
                plateau.monitor.min_delta,
            );
            plateau
        })
    }

    /// Trains `spec`, built with `seed`, on data already preprocessed, for
    /// `epochs` when given, else the recipe's own: its optimizer, batch
    /// size, schedule and early stopping (best weights restored). Validation
    /// is used when the recipe says so. One network: a recipe's `search`
    /// ([`Search::run`]) and `ensemble` are the caller's to run around it,
    /// as `kymo fit` does.
    pub fn fit(
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
        self.fit_with(&mut trainer, train, validation, FitFiles::default())?;
        Ok(trainer)
    }

    /// Trains `trainer` (built from this recipe's optimizer and
    /// configuration) with the recipe's callbacks, in the order a resumed
    /// run needs: `files.callbacks`, ReduceLROnPlateau, EarlyStopping, the
    /// best-only checkpoint into `files.checkpoint` (when the recipe
    /// checkpoints), and last BackupAndRestore into `files.backup`.
    /// Returns the epoch EarlyStopping stopped at, if it did.
    pub fn fit_with(
        &self,
        trainer: &mut Trainer,
        train: &Dataset,
        validation: &Dataset,
        files: FitFiles<'_>,
    ) -> Result<Option<usize>, TrainError> {
        self.check()?;
        if self.class_weight.is_some() {
            trainer.config.class_weight = self.class_weights(train)?;
        }
        let FitFiles {
            checkpoint,
            backup,
            callbacks: mut extra,
        } = files;
        // Reborrowed for this call: the recipe's own callbacks live here.
        let mut callbacks: Vec<&mut dyn Callback> = extra
            .iter_mut()
            .map(|c| &mut **c as &mut dyn Callback)
            .collect();
        let (mut plateau, mut stopper) = (self.reduce_lr(), self.early_stopping());
        let mut best = checkpoint.filter(|_| self.checkpoint_best).map(|path| {
            let mut best = ModelCheckpoint::best_only(path);
            best.monitor = crate::callbacks::Monitor::new(
                self.monitor(),
                crate::callbacks::MonitorMode::Auto,
                0.0,
            );
            best
        });
        let mut backup = backup.map(BackupAndRestore::new);
        if let Some(p) = plateau.as_mut() {
            callbacks.push(p);
        }
        if let Some(s) = stopper.as_mut() {
            callbacks.push(s);
        }
        if let Some(c) = best.as_mut() {
            callbacks.push(c);
        }
        if let Some(b) = backup.as_mut() {
            callbacks.push(b);
        }
        let validation = self.validation.then_some(validation);
        trainer.fit(train, validation, &mut callbacks)?;
        drop(callbacks);
        Ok(stopper.and_then(|s| s.stopped_epoch))
    }

    /// Epochs that give this recipe `steps` optimizer steps on `samples`
    /// training rows (at least one): how `--verify` gives every arm the
    /// same number of steps whatever its batch size.
    pub fn epochs_for_steps(&self, steps: usize, samples: usize) -> usize {
        let per_epoch = samples.max(1).div_ceil(self.batch_size.max(1));
        steps.div_ceil(per_epoch).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        match Recipe::from_toml_str(text) {
            Err(TrainError::Config { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn unknown_optimizers_and_keys_are_refused_with_the_accepted_values() {
        let typo = reason("optimizer = \"Adamm\"");
        assert!(typo.contains("Adamm"), "{typo}");
        for accepted in ["Adam", "AdamW", "SGD", "RMSprop"] {
            assert!(typo.contains(accepted), "{typo}");
        }
        // Keras's spelling is the one accepted.
        assert!(reason("optimizer = \"rmsprop\"").contains("RMSprop"));
        let key = reason("learning_rat = 0.01");
        assert!(
            key.contains("learning_rat") && key.contains("learning_rate"),
            "{key}"
        );
    }

    #[test]
    fn each_name_builds_its_optimizer_with_its_options() {
        let recipe = |text: &str| Recipe::from_toml_str(text).expect("valid");
        let sgd =
            recipe("optimizer = \"SGD\"\nmomentum = 0.9\nnesterov = true\nlearning_rate = 0.01");
        assert!(matches!(
            sgd.optimizer(),
            AnyOptimizer::Sgd(Sgd { momentum, nesterov: true, .. }) if momentum == 0.9
        ));
        let rms = recipe("optimizer = \"RMSprop\"");
        assert!(matches!(rms.optimizer(), AnyOptimizer::RmsProp(_)));
        let adamw = recipe("optimizer = \"AdamW\"");
        assert!(matches!(
            adamw.optimizer(),
            AnyOptimizer::Adam(Adam { weight_decay: Some(d), .. }) if d == ADAMW_WEIGHT_DECAY
        ));
        // Options the optimizer does not have are refused, not ignored.
        assert!(reason("optimizer = \"SGD\"\nweight_decay = 0.01").contains("weight decay"));
        assert!(reason("momentum = 0.9").contains("momentum"));
        assert!(reason("batch_size = 0").contains("at least 1"));
    }

    #[test]
    fn keras_optimizer_options_reach_the_optimizer_or_are_refused() {
        let adam = Recipe::from_toml_str(
            "beta_1 = 0.8\nbeta_2 = 0.99\nepsilon = 1e-4\namsgrad = true\nclipnorm = 1.0",
        )
        .expect("valid");
        assert!(matches!(
            adam.optimizer(),
            AnyOptimizer::Adam(Adam { beta_1, beta_2, epsilon, amsgrad: true, .. })
                if (beta_1, beta_2, epsilon) == (0.8, 0.99, 1e-4)
        ));
        assert_eq!(adam.fit_config(0).clip, Some(Clip::Norm(1.0)));
        let rms = Recipe::from_toml_str(
            "optimizer = \"RMSprop\"\nrho = 0.8\ncentered = true\nglobal_clipnorm = 2.0",
        )
        .expect("valid");
        assert!(matches!(
            rms.optimizer(),
            AnyOptimizer::RmsProp(RmsProp { rho, centered: true, .. }) if rho == 0.8
        ));
        assert_eq!(rms.clip(), Some(Clip::GlobalNorm(2.0)));
        // Each refusal names the option, as Keras's constructor would.
        assert!(reason("optimizer = \"SGD\"\nbeta_1 = 0.8").contains("no beta_1"));
        assert!(reason("rho = 0.8").contains("RMSprop"));
        assert!(reason("beta_2 = 1.0").contains("[0, 1)"));
        assert!(reason("epsilon = 0.0").contains("positive"));
        assert!(reason("clipnorm = 1.0\nclipvalue = 0.5").contains("only one"));
    }

    #[test]
    fn a_schedule_reaches_the_fit_and_is_refused_beside_another_rate_setter() {
        let text = "[schedule]\ntype = \"exponential\"\nrate = 0.01\ndecay_steps = 10\ndecay_rate = 0.5\nstaircase = false";
        let recipe = Recipe::from_toml_str(text).expect("valid");
        let schedule = recipe.fit_config(0).schedule.expect("carried to the fit");
        assert!((schedule.rate(10) - 0.005).abs() < 1e-12);
        assert!(reason(&format!("reduce_lr_patience = 5\n{text}")).contains("reduce_lr_patience"));
        let uneven = "[schedule]\ntype = \"piecewise\"\nboundaries = [10]\nvalues = [0.1]";
        assert!(reason(uneven).contains("one value more"));
    }

    #[test]
    fn a_recipe_survives_its_own_toml() {
        let recipe = Recipe {
            optimizer: OptimizerName::AdamW,
            weight_decay: Some(1e-4),
            batch_size: 16,
            epochs: 300,
            early_stopping: true,
            early_stopping_patience: Some(40),
            checkpoint_best: true,
            reduce_lr_patience: Some(15),
            preprocessing: Some("snv,standardize".into()),
            loss: Loss::CategoricalCrossentropy {
                from_logits: true,
                label_smoothing: 0.1,
            },
            metrics: vec![Metric::Accuracy, Metric::MacroF1],
            class_weight: Some(ClassWeight::Given(vec![1.0, 2.5])),
            beta_2: Some(0.99),
            epsilon: Some(1e-6),
            amsgrad: true,
            global_clipnorm: Some(1.0),
            ..Recipe::default()
        };
        assert_eq!(
            Recipe::from_toml_str(&recipe.to_toml()).expect("reads"),
            recipe
        );
    }
}
