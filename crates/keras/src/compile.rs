//! What `model.compile(...)` stored: the loss, the optimizer with its
//! learning rate, and the metrics (`.keras`: `compile_config` in
//! `config.json`; legacy `.h5`: the `training_config` attribute), as a kymo
//! [`Recipe`] where kymo has the piece, and by name where it does not:
//! [`CompileSettings::unhonoured`] says, one sentence each, what a kymo
//! fit of the file leaves out.

use kymo_optim::Schedule;
use kymo_train::{Loss, Metric, OptimizerName, Recipe};
use serde_json::Value;

/// The compile settings a Keras file holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompileSettings {
    /// The loss, when kymo has it.
    pub loss: Option<Loss>,
    /// The loss as the file names it (`mse`, `Huber`, a custom name).
    pub loss_name: Option<String>,
    /// The optimizer, when kymo has it.
    pub optimizer: Option<OptimizerName>,
    /// The optimizer as the file names it.
    pub optimizer_name: Option<String>,
    /// Its learning rate (a schedule's initial rate).
    pub learning_rate: Option<f64>,
    /// The learning-rate schedule, when the rate is one kymo has.
    pub schedule: Option<Schedule>,
    /// SGD or RMSprop momentum.
    pub momentum: Option<f64>,
    /// SGD's Nesterov flag.
    pub nesterov: bool,
    /// Decoupled weight decay (Adam, AdamW).
    pub weight_decay: Option<f64>,
    /// The optimizer's other options: decays, epsilon, AMSGrad, centering
    /// and gradient clipping.
    pub options: OptimizerOptions,
    /// What the file asks that kymo's training leaves out, one sentence
    /// each: an optimizer or loss kymo lacks, a schedule past its
    /// initial rate, Keras 2's `decay`, an option the optimizer has
    /// only in Keras.
    pub unhonoured: Vec<String>,
    /// Metrics kymo has.
    pub metrics: Vec<Metric>,
    /// Every metric as the file names it.
    pub metric_names: Vec<String>,
}

/// The options of a Keras optimizer beyond its learning rate, momentum
/// and weight decay, as its config stores them (absent: Keras's default).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimizerOptions {
    /// Adam's `beta_1`.
    pub beta_1: Option<f64>,
    /// Adam's `beta_2`.
    pub beta_2: Option<f64>,
    /// Adam's or RMSprop's `epsilon`.
    pub epsilon: Option<f64>,
    /// Adam's `amsgrad`.
    pub amsgrad: bool,
    /// RMSprop's `rho`.
    pub rho: Option<f64>,
    /// RMSprop's `centered`.
    pub centered: bool,
    /// `clipnorm`: each gradient to this norm.
    pub clipnorm: Option<f64>,
    /// `clipvalue`: each element to ± this.
    pub clipvalue: Option<f64>,
    /// `global_clipnorm`: all gradients together to this norm.
    pub global_clipnorm: Option<f64>,
}

/// Keras's defaults, which a recipe leaves unsaid.
const KERAS_BETA_1: f64 = 0.9;
const KERAS_BETA_2: f64 = 0.999;
const KERAS_EPSILON: f64 = 1e-7;
const KERAS_RHO: f64 = 0.9;

impl OptimizerOptions {
    fn from_config(config: &Value) -> Self {
        let number = |field: &str| config.get(field).and_then(Value::as_f64);
        let flag = |field: &str| config.get(field).and_then(Value::as_bool) == Some(true);
        // Keras stores an unset clip as null, and treats 0 as unset.
        let clip = |field: &str| number(field).filter(|v| *v > 0.0);
        Self {
            beta_1: number("beta_1"),
            beta_2: number("beta_2"),
            epsilon: number("epsilon"),
            amsgrad: flag("amsgrad"),
            rho: number("rho"),
            centered: flag("centered"),
            clipnorm: clip("clipnorm"),
            clipvalue: clip("clipvalue"),
            global_clipnorm: clip("global_clipnorm"),
        }
    }
}

/// What a Keras optimizer config asks that kymo's `optimizer` leaves out
/// (`None`: an optimizer kymo lacks, already said by the caller).
fn optimizer_gaps(
    optimizer: Option<OptimizerName>,
    name: &str,
    config: &Value,
    out: &mut Vec<String>,
) {
    let number = |field: &str| config.get(field).and_then(Value::as_f64);
    if let Some(decay) = number("decay").filter(|d| *d > 0.0) {
        out.push(format!(
            "{name}'s decay={decay} (Keras 2's time-based learning-rate decay): kymo keeps the rate"
        ));
    }
    let adam_like = matches!(optimizer, Some(OptimizerName::Adam | OptimizerName::AdamW));
    if number("weight_decay").is_some_and(|d| d > 0.0) && optimizer.is_some() && !adam_like {
        out.push(format!(
            "{name}'s weight_decay: kymo decays weights under Adam and AdamW only"
        ));
    }
    if config.get("use_ema").and_then(Value::as_bool) == Some(true) {
        out.push(format!(
            "{name}'s use_ema (a moving average of the weights)"
        ));
    }
    if let Some(steps) = number("gradient_accumulation_steps").filter(|s| *s > 1.0) {
        out.push(format!("{name}'s gradient_accumulation_steps={steps}"));
    }
    let clips = ["clipnorm", "clipvalue", "global_clipnorm"];
    if clips
        .iter()
        .filter(|c| number(c).is_some_and(|v| v > 0.0))
        .count()
        > 1
    {
        out.push(format!(
            "{name} sets more than one of clipnorm, clipvalue and global_clipnorm (Keras refuses that): kymo clips by the first"
        ));
    }
}

/// A serialized Keras learning-rate schedule as kymo's, or the class
/// name kymo lacks (or whose settings it cannot run).
fn schedule_of(value: &Value) -> Result<Schedule, String> {
    let (class, config) = class_and_config(value);
    let class = class.unwrap_or_else(|| "(unnamed)".into());
    let number = |field: &str| config.get(field).and_then(Value::as_f64);
    let steps = |field: &str| config.get(field).and_then(Value::as_f64).map(|v| v as u64);
    let flag = |field: &str| config.get(field).and_then(Value::as_bool).unwrap_or(false);
    let rate = number("initial_learning_rate");
    let schedule = match class.as_str() {
        "ExponentialDecay" | "InverseTimeDecay" => {
            let (rate, decay_steps, decay_rate) =
                (rate, steps("decay_steps"), number("decay_rate"));
            let (Some(rate), Some(decay_steps), Some(decay_rate)) = (rate, decay_steps, decay_rate)
            else {
                return Err(class);
            };
            let staircase = flag("staircase");
            if class == "ExponentialDecay" {
                Schedule::Exponential {
                    rate,
                    decay_steps,
                    decay_rate,
                    staircase,
                }
            } else {
                Schedule::InverseTime {
                    rate,
                    decay_steps,
                    decay_rate,
                    staircase,
                }
            }
        }
        "PiecewiseConstantDecay" => {
            let list = |field: &str| -> Option<Vec<f64>> {
                config
                    .get(field)?
                    .as_array()?
                    .iter()
                    .map(Value::as_f64)
                    .collect()
            };
            let (Some(boundaries), Some(values)) = (list("boundaries"), list("values")) else {
                return Err(class);
            };
            Schedule::Piecewise {
                boundaries: boundaries.iter().map(|&b| b as u64).collect(),
                values,
            }
        }
        "PolynomialDecay" => {
            let (Some(rate), Some(decay_steps)) = (rate, steps("decay_steps")) else {
                return Err(class);
            };
            Schedule::Polynomial {
                rate,
                decay_steps,
                end_rate: number("end_learning_rate").unwrap_or(1e-4),
                power: number("power").unwrap_or(1.0),
                cycle: flag("cycle"),
            }
        }
        "CosineDecay" => {
            let (Some(rate), Some(decay_steps)) = (rate, steps("decay_steps")) else {
                return Err(class);
            };
            let alpha = number("alpha").unwrap_or(0.0);
            match (number("warmup_target"), steps("warmup_steps").unwrap_or(0)) {
                (Some(target), warmup) if warmup > 0 => Schedule::LinearWarmup {
                    from: rate,
                    steps: warmup,
                    then: Box::new(Schedule::Cosine {
                        rate: target,
                        steps: decay_steps,
                        alpha,
                    }),
                },
                _ => Schedule::Cosine {
                    rate,
                    steps: decay_steps,
                    alpha,
                },
            }
        }
        _ => return Err(class),
    };
    schedule.check().map_err(|_| class)?;
    Ok(schedule)
}

fn class_and_config(value: &Value) -> (Option<String>, Value) {
    match value {
        Value::String(name) => (Some(name.clone()), Value::Null),
        Value::Object(object) => (
            object
                .get("class_name")
                .and_then(Value::as_str)
                .map(str::to_string),
            object.get("config").cloned().unwrap_or(Value::Null),
        ),
        _ => (None, Value::Null),
    }
}

fn loss_of(value: &Value) -> (Option<String>, Option<Loss>) {
    let (name, config) = class_and_config(value);
    let Some(name) = name else {
        return (None, None);
    };
    let flag = |field: &str| config.get(field).and_then(Value::as_bool).unwrap_or(false);
    let number =
        |field: &str, default: f64| config.get(field).and_then(Value::as_f64).unwrap_or(default);
    let loss = Loss::from_keras_name(&name).map(|loss| match loss {
        Loss::Huber { .. } => Loss::Huber {
            delta: number("delta", 1.0),
        },
        Loss::BinaryCrossentropy { .. } => Loss::BinaryCrossentropy {
            from_logits: flag("from_logits"),
            label_smoothing: number("label_smoothing", 0.0),
        },
        Loss::CategoricalCrossentropy { .. } => Loss::CategoricalCrossentropy {
            from_logits: flag("from_logits"),
            label_smoothing: number("label_smoothing", 0.0),
        },
        Loss::SparseCategoricalCrossentropy { .. } => Loss::SparseCategoricalCrossentropy {
            from_logits: flag("from_logits"),
        },
        other => other,
    });
    (Some(name), loss)
}

fn metric_of(name: &str) -> Option<Metric> {
    Some(match name {
        "mse" | "mean_squared_error" | "MeanSquaredError" => Metric::Mse,
        "mae" | "mean_absolute_error" | "MeanAbsoluteError" => Metric::Mae,
        "rmse" | "root_mean_squared_error" | "RootMeanSquaredError" => Metric::Rmse,
        "r2_score" | "R2Score" => Metric::R2,
        "accuracy"
        | "acc"
        | "sparse_categorical_accuracy"
        | "categorical_accuracy"
        | "binary_accuracy"
        | "Accuracy"
        | "SparseCategoricalAccuracy"
        | "CategoricalAccuracy"
        | "BinaryAccuracy" => Metric::Accuracy,
        _ => return None,
    })
}

fn metric_names(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| metric_names(v, out)),
        Value::Object(object) if object.contains_key("class_name") => {
            // A wrapped function metric is named by its config.
            let (class, config) = class_and_config(value);
            let named = config
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string);
            match (class.as_deref(), named) {
                (Some("MeanMetricWrapper"), Some(name)) => out.push(name),
                (Some(class), _) => out.push(class.to_string()),
                _ => {}
            }
        }
        Value::Object(object) => object.values().for_each(|v| metric_names(v, out)),
        Value::String(name) => out.push(name.clone()),
        _ => {}
    }
}

impl CompileSettings {
    /// Reads a `compile_config` (`.keras`) or `training_config` (`.h5`)
    /// object; absent fields stay empty.
    pub fn from_json(config: &Value) -> Self {
        let (loss_name, loss) = config.get("loss").map(loss_of).unwrap_or((None, None));
        let optimizer_value = config
            .get("optimizer")
            .or_else(|| config.get("optimizer_config"))
            .cloned()
            .unwrap_or(Value::Null);
        let (optimizer_name, optimizer_config) = class_and_config(&optimizer_value);
        let optimizer =
            optimizer_name
                .as_deref()
                .and_then(|name| match name.to_ascii_lowercase().as_str() {
                    "adam" => Some(OptimizerName::Adam),
                    "adamw" => Some(OptimizerName::AdamW),
                    "sgd" => Some(OptimizerName::SGD),
                    "rmsprop" => Some(OptimizerName::RMSprop),
                    _ => None,
                });
        // Keras 2.2 and older spelled the rate `lr`.
        let rate = optimizer_config
            .get("learning_rate")
            .or_else(|| optimizer_config.get("lr"));
        let learning_rate = match rate {
            Some(Value::Number(n)) => n.as_f64(),
            Some(schedule @ Value::Object(_)) => class_and_config(schedule)
                .1
                .get("initial_learning_rate")
                .and_then(Value::as_f64),
            _ => None,
        };
        let number = |field: &str| optimizer_config.get(field).and_then(Value::as_f64);
        let mut unhonoured = Vec::new();
        if let (Some(name), None) = (&optimizer_name, optimizer) {
            unhonoured.push(format!(
                "the optimizer {name}: kymo has Adam, AdamW, SGD and RMSprop"
            ));
        }
        if let (Some(name), None) = (&loss_name, loss) {
            unhonoured.push(format!("the loss {name}: kymo has none by that name"));
        }
        // A schedule is read once: kymo's, or the class it lacks.
        let schedule = match rate {
            Some(object @ Value::Object(_)) => match schedule_of(object) {
                Ok(schedule) => Some(schedule),
                Err(class) => {
                    unhonoured.push(format!(
                        "the learning-rate schedule {class}: kymo trains at its initial rate"
                    ));
                    None
                }
            },
            _ => None,
        };
        let name = optimizer_name.as_deref().unwrap_or("the optimizer");
        optimizer_gaps(optimizer, name, &optimizer_config, &mut unhonoured);
        let mut names = Vec::new();
        if let Some(metrics) = config.get("metrics") {
            metric_names(metrics, &mut names);
        }
        Self {
            loss,
            loss_name,
            optimizer,
            optimizer_name,
            learning_rate,
            schedule,
            momentum: number("momentum").filter(|m| *m != 0.0),
            nesterov: optimizer_config
                .get("nesterov")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            weight_decay: number("weight_decay"),
            options: OptimizerOptions::from_config(&optimizer_config),
            unhonoured,
            metrics: names.iter().filter_map(|n| metric_of(n)).collect(),
            metric_names: names,
        }
    }

    /// `base` with what the file says: loss, optimizer, learning rate and
    /// its options, gradient clipping, metrics. Options the named optimizer
    /// does not have in kymo are left out, and so are an optimizer's
    /// options when kymo lacks the optimizer itself; options at Keras's
    /// defaults are left unsaid.
    pub fn apply_to(&self, base: Recipe) -> Recipe {
        let optimizer = self.optimizer.unwrap_or(base.optimizer);
        let adam_like = matches!(optimizer, OptimizerName::Adam | OptimizerName::AdamW);
        let known = self.optimizer.is_some();
        let base_sets_rate = base.reduce_lr_patience.is_some() || base.search.is_some();
        let rmsprop = optimizer == OptimizerName::RMSprop;
        let o = &self.options;
        // A value within float32's rounding of Keras's default is the
        // default (Keras 2 wrote some hyperparameters back from float32).
        let unless = |value: Option<f64>, default: f64, owned: bool| {
            value.filter(|v| owned && (v - default).abs() > 1e-6 * default)
        };
        // The one clip Keras's `_clip_gradients` takes: clipnorm first,
        // then global_clipnorm, then clipvalue; with none, the base's.
        let clips = match (o.clipnorm, o.global_clipnorm, o.clipvalue) {
            (Some(norm), _, _) => (Some(norm), None, None),
            (None, Some(global), _) => (None, Some(global), None),
            (None, None, Some(value)) => (None, None, Some(value)),
            (None, None, None) => (base.clipnorm, base.global_clipnorm, base.clipvalue),
        };
        // Without the optimizer itself, its options would land on the
        // base's: the base's own stay.
        let (beta_1, beta_2, epsilon, amsgrad, rho, centered) = if known {
            (
                unless(o.beta_1, KERAS_BETA_1, adam_like),
                unless(o.beta_2, KERAS_BETA_2, adam_like),
                unless(o.epsilon, KERAS_EPSILON, adam_like || rmsprop),
                adam_like && o.amsgrad,
                unless(o.rho, KERAS_RHO, rmsprop),
                rmsprop && o.centered,
            )
        } else {
            (
                base.beta_1,
                base.beta_2,
                base.epsilon,
                base.amsgrad,
                base.rho,
                base.centered,
            )
        };
        Recipe {
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
            rho,
            centered,
            clipnorm: clips.0,
            global_clipnorm: clips.1,
            clipvalue: clips.2,
            optimizer,
            learning_rate: self.learning_rate.unwrap_or(base.learning_rate),
            // A rate the base sets itself (a plateau schedule, a search)
            // keeps the base's; Keras refuses the two together.
            schedule: match &self.schedule {
                Some(schedule) if !base_sets_rate => Some(schedule.clone()),
                _ => base.schedule.clone(),
            },
            momentum: if adam_like { None } else { self.momentum },
            nesterov: optimizer == OptimizerName::SGD && self.nesterov,
            weight_decay: if adam_like { self.weight_decay } else { None },
            loss: self.loss.unwrap_or(base.loss),
            metrics: if self.metrics.is_empty() {
                base.metrics
            } else {
                self.metrics.clone()
            },
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_three_and_legacy_configs_read_alike() {
        let keras3: Value = serde_json::from_str(
            r#"{"optimizer": {"module": "keras.optimizers", "class_name": "SGD", "config": {"learning_rate": 0.01, "momentum": 0.9, "nesterov": true}},
                "loss": {"module": "keras.losses", "class_name": "Huber", "config": {"delta": 2.0}}, "metrics": ["mae", "accuracy"]}"#,
        )
        .expect("json");
        let settings = CompileSettings::from_json(&keras3);
        assert_eq!(settings.loss, Some(Loss::Huber { delta: 2.0 }));
        assert_eq!(settings.optimizer, Some(OptimizerName::SGD));
        assert_eq!(
            (settings.learning_rate, settings.momentum, settings.nesterov),
            (Some(0.01), Some(0.9), true)
        );
        assert_eq!(settings.metrics, vec![Metric::Mae, Metric::Accuracy]);
        let recipe = settings.apply_to(Recipe::default());
        assert_eq!(
            (recipe.optimizer, recipe.learning_rate, recipe.momentum),
            (OptimizerName::SGD, 0.01, Some(0.9))
        );
        assert!(recipe.check().is_ok());
        let legacy: Value = serde_json::from_str(
            r#"{"loss": "sparse_categorical_crossentropy", "metrics": [[{"class_name": "MeanMetricWrapper", "config": {"name": "accuracy"}}]],
                "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1}}}}}"#,
        )
        .expect("json");
        let settings = CompileSettings::from_json(&legacy);
        assert_eq!(
            settings.loss,
            Some(Loss::SparseCategoricalCrossentropy { from_logits: false })
        );
        assert_eq!(settings.learning_rate, Some(0.1));
        assert_eq!(settings.metric_names, vec!["accuracy".to_string()]);
        assert_eq!(settings.metrics, vec![Metric::Accuracy]);
    }
}
