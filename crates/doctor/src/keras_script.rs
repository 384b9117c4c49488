//! The prescription as a Keras training script: `train_keras.py`, beside
//! the `model.keras` that `kymo doctor --prescribe` writes, trains that
//! model with the prescribed recipe in Keras (optimizer, batch size,
//! epochs, EarlyStopping, a best-only ModelCheckpoint, ReduceLROnPlateau,
//! class weights, a seed ensemble) and with the prescribed preprocessing
//! fitted on the training rows only, as `kymo fit` does. A Keras user
//! runs the fix in their own framework, on their own `x.npy` and `y.npy`.
//!
//! What the script cannot say in Keras it says in a comment: kymo's
//! seeded spectral augmentation and its budgeted search have no Keras
//! counterpart.

use kymo_data::{Metric, Pipeline, Step};
use kymo_optim::Schedule;
use kymo_train::{ClassWeight, Loss, Recipe};

use crate::DoctorError;

/// A Python float literal (`1e-3` as `0.001`, `2` as `2.0`).
fn float(value: f64) -> String {
    let text = format!("{value:?}");
    if text.contains(['.', 'e', 'N', 'i']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// `keras.optimizers.X(...)` for the recipe's optimizer, with the options
/// the recipe sets (each only where its optimizer has it: the recipe's
/// check saw to that).
fn optimizer(recipe: &Recipe) -> String {
    let rate = recipe
        .schedule
        .as_ref()
        .and_then(keras_schedule)
        .unwrap_or_else(|| float(recipe.learning_rate));
    let mut arguments = vec![format!("learning_rate={rate}")];
    let numbers = [
        ("momentum", recipe.momentum),
        ("weight_decay", recipe.weight_decay),
        ("beta_1", recipe.beta_1),
        ("beta_2", recipe.beta_2),
        ("rho", recipe.rho),
        ("epsilon", recipe.epsilon),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            arguments.push(format!("{name}={}", float(value)));
        }
    }
    let flags = [
        ("amsgrad", recipe.amsgrad),
        ("centered", recipe.centered),
        ("nesterov", recipe.nesterov),
    ];
    for (name, set) in flags {
        if set {
            arguments.push(format!("{name}=True"));
        }
    }
    let clips = [
        ("clipnorm", recipe.clipnorm),
        ("clipvalue", recipe.clipvalue),
        ("global_clipnorm", recipe.global_clipnorm),
    ];
    for (name, value) in clips {
        if let Some(value) = value {
            arguments.push(format!("{name}={}", float(value)));
        }
    }
    format!(
        "keras.optimizers.{}({})",
        recipe.optimizer,
        arguments.join(", ")
    )
}

/// `keras.optimizers.schedules.X(...)` for a schedule Keras has (`None`
/// for kymo's warmup from zero, which it has not).
fn keras_schedule(schedule: &Schedule) -> Option<String> {
    let flag = |set: bool| if set { "True" } else { "False" };
    let class = "keras.optimizers.schedules";
    Some(match schedule {
        Schedule::Constant { rate } => float(*rate),
        Schedule::Step {
            rate,
            factor,
            every,
        } => format!(
            "{class}.ExponentialDecay({}, decay_steps={every}, decay_rate={}, staircase=True)",
            float(*rate),
            float(*factor)
        ),
        Schedule::Exponential {
            rate,
            decay_steps,
            decay_rate,
            staircase,
        } => format!(
            "{class}.ExponentialDecay({}, decay_steps={decay_steps}, decay_rate={}, staircase={})",
            float(*rate),
            float(*decay_rate),
            flag(*staircase)
        ),
        Schedule::InverseTime {
            rate,
            decay_steps,
            decay_rate,
            staircase,
        } => format!(
            "{class}.InverseTimeDecay({}, decay_steps={decay_steps}, decay_rate={}, staircase={})",
            float(*rate),
            float(*decay_rate),
            flag(*staircase)
        ),
        Schedule::Piecewise { boundaries, values } => {
            let values: Vec<String> = values.iter().map(|&v| float(v)).collect();
            format!(
                "{class}.PiecewiseConstantDecay({boundaries:?}, [{}])",
                values.join(", ")
            )
        }
        Schedule::Polynomial {
            rate,
            decay_steps,
            end_rate,
            power,
            cycle,
        } => format!(
            "{class}.PolynomialDecay({}, decay_steps={decay_steps}, end_learning_rate={}, power={}, cycle={})",
            float(*rate),
            float(*end_rate),
            float(*power),
            flag(*cycle)
        ),
        Schedule::Cosine { rate, steps, alpha } => format!(
            "{class}.CosineDecay({}, decay_steps={steps}, alpha={})",
            float(*rate),
            float(*alpha)
        ),
        Schedule::LinearWarmup { from, steps, then } => match then.as_ref() {
            Schedule::Cosine {
                rate,
                steps: decay_steps,
                alpha,
            } => format!(
                "{class}.CosineDecay({}, decay_steps={decay_steps}, alpha={}, warmup_target={}, warmup_steps={steps})",
                float(*from),
                float(*alpha),
                float(*rate)
            ),
            _ => return None,
        },
        Schedule::Warmup { .. } => return None,
    })
}

/// `keras.losses.X(...)` for the recipe's loss.
fn loss(loss: &Loss) -> String {
    let logits = |from_logits: bool| if from_logits { "True" } else { "False" };
    match *loss {
        Loss::Mse => "keras.losses.MeanSquaredError()".into(),
        Loss::Mae => "keras.losses.MeanAbsoluteError()".into(),
        Loss::Huber { delta } => format!("keras.losses.Huber(delta={})", float(delta)),
        Loss::BinaryCrossentropy {
            from_logits,
            label_smoothing,
        } => format!(
            "keras.losses.BinaryCrossentropy(from_logits={}, label_smoothing={})",
            logits(from_logits),
            float(label_smoothing)
        ),
        Loss::CategoricalCrossentropy {
            from_logits,
            label_smoothing,
        } => format!(
            "keras.losses.CategoricalCrossentropy(from_logits={}, label_smoothing={})",
            logits(from_logits),
            float(label_smoothing)
        ),
        Loss::SparseCategoricalCrossentropy { from_logits } => format!(
            "keras.losses.SparseCategoricalCrossentropy(from_logits={})",
            logits(from_logits)
        ),
    }
}

/// Keras's spelling of the metrics it has; the others are left to the
/// validation report kymo prints.
fn metrics(metrics: &[Metric]) -> String {
    let names: Vec<&str> = metrics
        .iter()
        .filter_map(|metric| match metric {
            Metric::Mse => Some("\"mse\""),
            Metric::Mae => Some("\"mae\""),
            Metric::Rmse => Some("keras.metrics.RootMeanSquaredError()"),
            Metric::R2 => Some("keras.metrics.R2Score()"),
            Metric::Accuracy => Some("\"accuracy\""),
            _ => None,
        })
        .collect();
    format!("[{}]", names.join(", "))
}

/// The Python statements that fit the preprocessing on `x_train` (Keras's
/// layout, `(samples, points, channels)`) and apply it to `x`, step by
/// step as kymo's [`Pipeline`] runs them.
fn preprocessing(pipeline: &Pipeline) -> String {
    let mut code = String::from(
        "def preprocess(x, x_train):\n    \"\"\"The recipe's preprocessing, fitted on the training rows only.\"\"\"\n    x = x.astype(np.float64)\n    x_train = x_train.astype(np.float64)\n",
    );
    if pipeline.steps.is_empty() {
        code.push_str("    # No preprocessing.\n");
    }
    for step in &pipeline.steps {
        let line = match step {
            Step::Snv => "    x, x_train = snv(x), snv(x_train)\n".to_string(),
            Step::Msc => "    x, x_train = msc(x, x_train.mean(axis=0)), msc(x_train, x_train.mean(axis=0))\n".to_string(),
            Step::Log1p => "    x, x_train = np.log1p(x), np.log1p(x_train)\n".to_string(),
            Step::Standardize => "    x, x_train = standardize(x, x_train), standardize(x_train, x_train)\n".to_string(),
            Step::SavitzkyGolay {
                window,
                order,
                derivative,
            } => format!(
                "    x, x_train = (savgol_filter(v, {window}, {order}, deriv={derivative}, axis=1) for v in (x, x_train))\n"
            ),
        };
        code.push_str(&line);
    }
    code.push_str("    return x.astype(np.float32)\n");
    code
}

/// The training callbacks the recipe asks for.
fn callbacks(recipe: &Recipe) -> String {
    let monitor = recipe.monitor.as_deref().unwrap_or("val_loss");
    let mut lines = Vec::new();
    if recipe.early_stopping {
        lines.push(format!(
            "keras.callbacks.EarlyStopping(monitor=\"{monitor}\", patience={}, restore_best_weights=True)",
            recipe.early_stopping_patience.unwrap_or(5)
        ));
    }
    if recipe.checkpoint_best {
        lines.push(format!(
            "keras.callbacks.ModelCheckpoint(os.path.join(HERE, f\"best-{{member}}.keras\"), monitor=\"{monitor}\", save_best_only=True)"
        ));
    }
    if let Some(patience) = recipe.reduce_lr_patience {
        let floor = recipe
            .min_learning_rate
            .unwrap_or(recipe.learning_rate / 100.0);
        lines.push(format!(
            "keras.callbacks.ReduceLROnPlateau(monitor=\"{monitor}\", factor=0.5, patience={patience}, min_lr={})",
            float(floor)
        ));
    }
    if lines.is_empty() {
        return "[]".into();
    }
    // Indented for their place inside `model.fit(...)`.
    format!(
        "[\n                {},\n            ]",
        lines.join(",\n                ")
    )
}

/// The class weights the recipe asks for, as a Python expression over
/// `y_train` (class indices).
fn class_weight(recipe: &Recipe) -> String {
    match &recipe.class_weight {
        None => "None".into(),
        Some(ClassWeight::Named(_)) => {
            "{int(c): len(y_train) / (len(np.unique(y_train)) * n) for c, n in zip(*np.unique(y_train, return_counts=True))}".into()
        }
        Some(ClassWeight::Given(weights)) => {
            let pairs: Vec<String> = weights
                .iter()
                .enumerate()
                .map(|(class, w)| format!("{class}: {}", float(*w)))
                .collect();
            format!("{{{}}}", pairs.join(", "))
        }
    }
}

const HELPERS: &str = r#"def snv(x):
    """Each signal's channel centred and scaled by its own mean and deviation."""
    mean = x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    return (x - mean) / np.where(std > 1e-12, std, 1.0)


def msc(x, reference):
    """Each signal regressed on the training mean; the offset and slope removed."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for c in range(x.shape[2]):
            slope, offset = np.polyfit(reference[:, c], x[i, :, c], 1)
            out[i, :, c] = (x[i, :, c] - offset) / slope
    return out


def standardize(x, x_train):
    """Each point standardized with the training rows' mean and deviation."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    return (x - mean) / np.where(std > 1e-12, std, 1.0)


def split(y, classify, seed=0, fraction=0.2):
    """The rows kymo chose, when split.json lies beside this script (the
    rows are overlapping windows of longer recordings, which a shuffled
    split would leak: kymo validates on the last rows in recording order
    and leaves out the training windows that share points with them);
    else a seeded shuffled split (stratified for classes): a validation
    set the training rows' order cannot bias."""
    chosen = os.path.join(HERE, "split.json")
    if os.path.exists(chosen):
        with open(chosen) as f:
            rows = json.load(f)
        if rows["rows"] != len(y):
            sys.exit(f"split.json is for {rows['rows']} rows; this data has {len(y)}")
        return np.array(rows["train"]), np.array(rows["validation"])
    rng = np.random.default_rng(seed)
    if not classify:
        order = rng.permutation(len(y))
        cut = len(y) - max(1, int(round(fraction * len(y))))
        return order[:cut], order[cut:]
    train, validation = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        cut = len(rows) - max(1, int(round(fraction * len(rows))))
        train.extend(rows[:cut])
        validation.extend(rows[cut:])
    return np.array(train), np.array(validation)
"#;

/// The Keras training script of `recipe` for the `model.keras` beside it.
/// Errors when the recipe's preprocessing text does not parse.
pub fn keras_training_script(recipe: &Recipe) -> Result<String, DoctorError> {
    let pipeline = Pipeline::named(recipe.preprocessing.as_deref())?;
    let classify = recipe.loss.is_classification();
    let members = recipe.ensemble.unwrap_or(1).max(1);
    let mut script = String::new();
    let savgol = pipeline
        .steps
        .iter()
        .any(|step| matches!(step, Step::SavitzkyGolay { .. }));
    let mut put = |text: &str| script.push_str(text);
    put("\"\"\"Train kymo's prescription in Keras: model.keras beside this script,\nwith the recipe of recipe.toml. Written by `kymo doctor --prescribe`.\n\nUsage: python train_keras.py x.npy y.npy\n  x.npy: signals, (samples, points, channels) as Keras reads them\n  y.npy: ");
    put(if classify {
        "class indices, one per sample\n"
    } else {
        "targets, one row per sample\n"
    });
    put("Writes trained-<member>.keras beside it (each network as training left\nit: with EarlyStopping, its best epoch), best-<member>.keras when the recipe\ncheckpoints the best epoch, and prints the validation score.\n\"\"\"\nimport json\nimport os\nimport sys\n\nimport numpy as np\n\nos.environ.setdefault(\"KERAS_BACKEND\", \"tensorflow\")\nimport keras  # noqa: E402\n");
    if savgol {
        put("from scipy.signal import savgol_filter  # noqa: E402\n");
    }
    put("\nHERE = os.path.dirname(os.path.abspath(__file__))\n\n\n");
    put(HELPERS);
    put("\n\n");
    put(&preprocessing(&pipeline));
    let mut notes = String::new();
    if recipe.augment.is_some() {
        notes.push_str("# kymo's recipe also augments training batches (seeded spectral shifts,\n# gains and noise, `kymo fit`); Keras has no such layer, so this script\n# trains without it.\n");
    }
    if recipe
        .schedule
        .as_ref()
        .is_some_and(|s| keras_schedule(s).is_none())
    {
        notes.push_str("# kymo's recipe also warms the learning rate up, a schedule Keras has not;\n# this script trains at the starting rate.\n");
    }
    if recipe.search.is_some() {
        notes.push_str("# kymo's recipe also searches width, learning rate and weight decay on\n# validation (`kymo fit --search`); this script trains the recipe as it is.\n");
    }
    let standardize_targets = pipeline.standardize_targets && !classify;
    let main = format!(
        r#"

def main(x_path, y_path):
    x = np.load(x_path)
    if x.ndim == 2:
        x = x[:, :, None]
    y = np.load(y_path)
    classify = {classify}
    if classify:
        y = y.reshape(-1).astype("int64")
    else:
        y = y.reshape(len(y), -1).astype("float32")
    train, validation = split(y if classify else y[:, 0], classify)
    x_train = preprocess(x[train], x[train])
    x_val = preprocess(x[validation], x[train])
    y_train, y_val = y[train], y[validation]
{target_scaling}{notes}    class_weight = {class_weight}
    predictions = []
    for member in range({members}):
        keras.utils.set_random_seed(member)
        model = keras.models.load_model(os.path.join(HERE, "model.keras"), compile=False)
        if member > 0:
            model = keras.models.clone_model(model)  # fresh weights from this seed
        model.compile(
            optimizer={optimizer},
            loss={loss},
            metrics={metrics},
        )
        model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            batch_size={batch},
            epochs={epochs},
            shuffle=True,
            class_weight=class_weight,
            callbacks={callbacks},
        )
        model.save(os.path.join(HERE, f"trained-{{member}}.keras"))
        predictions.append(model.predict(x_val, verbose=0))
    mean = np.mean(predictions, axis=0)
    if classify:
        print("validation accuracy", float(np.mean(mean.argmax(axis=1) == y_val)))
    else:
{unscale}        print("validation RMSE (target units)", float(np.sqrt(np.mean((mean - y[validation]) ** 2))))


if __name__ == "__main__":
    main(*sys.argv[1:3])
"#,
        classify = if classify { "True" } else { "False" },
        target_scaling = if standardize_targets {
            "    # Targets standardized on the training rows; predictions mapped back.\n    y_mean, y_std = y_train.mean(axis=0), np.where(y_train.std(axis=0) > 1e-12, y_train.std(axis=0), 1.0)\n    y_train, y_val = (y_train - y_mean) / y_std, (y_val - y_mean) / y_std\n"
        } else {
            ""
        },
        notes = notes,
        class_weight = class_weight(recipe),
        members = members,
        optimizer = optimizer(recipe),
        loss = loss(&recipe.loss),
        metrics = metrics(&recipe.metrics),
        batch = recipe.batch_size,
        epochs = recipe.epochs,
        callbacks = callbacks(recipe),
        unscale = if standardize_targets {
            "        mean = mean * y_std + y_mean\n"
        } else {
            ""
        },
    );
    script.push_str(&main);
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kymo_train::OptimizerName;

    #[test]
    fn the_optimizer_carries_the_options_a_keras_file_gave_it() {
        let rmsprop = Recipe {
            optimizer: OptimizerName::RMSprop,
            learning_rate: 0.01,
            rho: Some(0.8),
            centered: true,
            clipvalue: Some(0.5),
            ..Recipe::default()
        };
        assert_eq!(
            optimizer(&rmsprop),
            "keras.optimizers.RMSprop(learning_rate=0.01, rho=0.8, centered=True, clipvalue=0.5)"
        );
        let adam = Recipe {
            beta_2: Some(0.99),
            amsgrad: true,
            global_clipnorm: Some(1.0),
            ..Recipe::default()
        };
        assert_eq!(
            optimizer(&adam),
            "keras.optimizers.Adam(learning_rate=0.001, beta_2=0.99, amsgrad=True, global_clipnorm=1.0)"
        );
        let warm_cosine = Recipe {
            schedule: Some(Schedule::LinearWarmup {
                from: 0.001,
                steps: 2,
                then: Box::new(Schedule::Cosine {
                    rate: 0.01,
                    steps: 3,
                    alpha: 0.1,
                }),
            }),
            ..Recipe::default()
        };
        assert_eq!(
            optimizer(&warm_cosine),
            "keras.optimizers.Adam(learning_rate=keras.optimizers.schedules.CosineDecay(0.001, decay_steps=3, alpha=0.1, warmup_target=0.01, warmup_steps=2))"
        );
    }

    #[test]
    fn the_script_carries_every_setting_of_the_recipe() {
        let recipe = Recipe {
            optimizer: OptimizerName::AdamW,
            learning_rate: 1e-3,
            weight_decay: Some(0.01),
            batch_size: 8,
            epochs: 250,
            early_stopping: true,
            early_stopping_patience: Some(48),
            checkpoint_best: true,
            reduce_lr_patience: Some(16),
            preprocessing: Some("snv,savgol:11:2:1,standardize".into()),
            ensemble: Some(5),
            ..Recipe::default()
        };
        let script = keras_training_script(&recipe).expect("a valid recipe");
        for expected in [
            "keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.01)",
            "keras.losses.MeanSquaredError()",
            "batch_size=8,",
            "epochs=250,",
            "EarlyStopping(monitor=\"val_loss\", patience=48, restore_best_weights=True)",
            "ModelCheckpoint(os.path.join(HERE, f\"best-{member}.keras\"), monitor=\"val_loss\", save_best_only=True)",
            "model.save(os.path.join(HERE, f\"trained-{member}.keras\"))",
            "ReduceLROnPlateau(monitor=\"val_loss\", factor=0.5, patience=16, min_lr=1e-5)",
            "for member in range(5):",
            "from scipy.signal import savgol_filter",
            "savgol_filter(v, 11, 2, deriv=1, axis=1)",
            "x, x_train = snv(x), snv(x_train)",
            "mean = mean * y_std + y_mean",
        ] {
            assert!(
                script.contains(expected),
                "missing `{expected}` in:\n{script}"
            );
        }
        // The steps in the recipe's order.
        let at = |text: &str| script.find(text).expect("present");
        let (snv, savgol, standardize) = (
            at("x, x_train = snv("),
            at("x, x_train = (savgol_filter("),
            at("x, x_train = standardize("),
        );
        assert!(snv < savgol && savgol < standardize, "{script}");
    }

    #[test]
    fn a_classifier_script_weights_classes_and_keeps_labels_unscaled() {
        let recipe = Recipe {
            loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
            metrics: vec![Metric::Accuracy],
            class_weight: Some(ClassWeight::Given(vec![1.0, 2.5])),
            preprocessing: Some("standardize".into()),
            ..Recipe::default()
        };
        let script = keras_training_script(&recipe).expect("a valid recipe");
        assert!(script.contains("classify = True"), "{script}");
        assert!(
            script.contains("class_weight = {0: 1.0, 1: 2.5}"),
            "{script}"
        );
        assert!(script.contains("metrics=[\"accuracy\"]"), "{script}");
        assert!(!script.contains("y_std"), "{script}");
        assert!(!script.contains("savgol_filter"), "{script}");
    }
}
