//! What `model.compile(...)` stored: the loss, the optimizer with its
//! learning rate, and the metrics (`.keras`: `compile_config` in
//! `config.json`; legacy `.h5`: the `training_config` attribute), as a kymo
//! [`Recipe`] where kymo has the piece, and by name where it does not.

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
    /// SGD or RMSprop momentum.
    pub momentum: Option<f64>,
    /// SGD's Nesterov flag.
    pub nesterov: bool,
    /// Decoupled weight decay (Adam, AdamW).
    pub weight_decay: Option<f64>,
    /// Metrics kymo has.
    pub metrics: Vec<Metric>,
    /// Every metric as the file names it.
    pub metric_names: Vec<String>,
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
        let learning_rate = match optimizer_config.get("learning_rate") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(schedule @ Value::Object(_)) => class_and_config(schedule)
                .1
                .get("initial_learning_rate")
                .and_then(Value::as_f64),
            _ => None,
        };
        let number = |field: &str| optimizer_config.get(field).and_then(Value::as_f64);
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
            momentum: number("momentum").filter(|m| *m != 0.0),
            nesterov: optimizer_config
                .get("nesterov")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            weight_decay: number("weight_decay"),
            metrics: names.iter().filter_map(|n| metric_of(n)).collect(),
            metric_names: names,
        }
    }

    /// `base` with what the file says: loss, optimizer, learning rate and
    /// its options, metrics. Options the named optimizer does not have in
    /// kymo are left out.
    pub fn apply_to(&self, base: Recipe) -> Recipe {
        let optimizer = self.optimizer.unwrap_or(base.optimizer);
        let adam_like = matches!(optimizer, OptimizerName::Adam | OptimizerName::AdamW);
        Recipe {
            optimizer,
            learning_rate: self.learning_rate.unwrap_or(base.learning_rate),
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
