//! `kymo fit` and `kymo predict`: a user's own model and data without
//! writing Rust. `fit` trains a spec (for example the doctor's
//! `--prescribe` output) on a CSV or `.ts` file with a recipe, backed up
//! every epoch so `--resume` continues a killed run, and writes the best
//! checkpoint with its preprocessing (and class names); `predict` applies
//! a checkpoint to new signals and prints predictions in the target's
//! units, or each row's class and per-class probabilities.
//!
//! Classification is chosen by the data: a `.ts` file with class labels,
//! or a CSV read with `--classes`. A built-in model then gets
//! `Dense(classes, softmax)` and the data's channel count, the recipe
//! (unless it names a cross-entropy) sparse categorical cross-entropy with
//! accuracy, and validation is a seeded stratified 20% (Keras's
//! `validation_split`, the last 20% of rows, is kept for regression).

use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use kymo_data::{random_split, stratified_split, validation_split, Dataset, Pipeline};
use kymo_doctor::Recipe;
use kymo_keras::KerasFile;
use kymo_layers::{Activation, ArchitectureSpec};
use kymo_train::{EnsembleManifest, FitFiles, Loss, Metric, Predictor, Trainer};

use crate::data_files::{self, LayoutArg, TargetChoice};

/// Command-line options of `kymo fit`.
#[derive(Args, Debug)]
pub struct FitArgs {
    /// A built-in model, a kymo spec (.toml/.json, such as the doctor's
    /// `model.toml`), a Keras `model.to_json()` file, or a Keras model file
    /// (`.keras`, `.h5`): its architecture, trained from fresh weights, with
    /// its compile settings where no recipe file is given.
    #[arg(long)]
    pub model: String,
    /// The training recipe (TOML, as the doctor's `recipe.toml`); default:
    /// `recipe.toml` (or an older `setup.toml`) beside `--model` if there is
    /// one, else Adam 1e-3, batch 32, 100 epochs with EarlyStopping.
    #[arg(long, alias = "setup")]
    pub recipe: Option<PathBuf>,
    /// Continue the run a kill interrupted, from the backup in `--out`
    /// (`backup/`), ending on the bits of an uninterrupted run.
    #[arg(long)]
    pub resume: bool,
    /// Training samples: a CSV (one per row), a UCR/UEA `.ts` file or an
    /// `x.npy` (with `--target y.npy`); 20% of them validate (`--split`).
    #[arg(long)]
    pub data: PathBuf,
    /// The target column of a CSV `--data` (and `--test`), by name or
    /// index, or the `y.npy` of an `x.npy`; a `.ts` file carries its own.
    #[arg(long)]
    pub target: Option<String>,
    /// The targets are class labels (a CSV column of strings or integers, a
    /// `y.npy` of labels or one-hot rows): train a classifier. Implied by a
    /// Keras model file compiled with a cross-entropy.
    #[arg(long)]
    pub classes: bool,
    /// The axis order of a three-dimensional `x.npy` (default: the one
    /// that fits the model, else the shorter axis holds the channels).
    #[arg(long, value_enum)]
    pub layout: Option<LayoutArg>,
    /// Test samples (a file like `--data`) to report at the end.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// The target of `--test` where it differs from `--target` (an
    /// `x.npy` test file's own `y.npy`).
    #[arg(long)]
    pub test_target: Option<String>,
    /// Preprocessing, overriding the setup's (`snv,savgol:11:2:1,standardize`).
    #[arg(long)]
    pub preprocess: Option<String>,
    /// Seeded spectral augmentation of training batches (offset, tilt and
    /// gain of 0.1 in standardized units; Bjerrum et al. 2017).
    #[arg(long)]
    pub augment: bool,
    /// Seed of the weights and batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train a seed ensemble of this many networks (seeds `seed`,
    /// `seed + 1`, ...) and average them, overriding the recipe's
    /// `ensemble`.
    #[arg(long)]
    pub ensemble: Option<usize>,
    /// Before training, search this many setups on validation (widths,
    /// learning rates, weight decays around the recipe's; 0: no search),
    /// overriding the recipe's `search`. The trials go to `search.csv`, the
    /// chosen setup to `chosen-model.toml` and `chosen-recipe.toml`.
    #[arg(long)]
    pub search: Option<usize>,
    /// What a graph's training step keeps for backward: `auto` recomputes
    /// cheap values and checkpoints residual blocks only on long signals
    /// or large batches (when that saves 256 MiB and 1 GiB), `lean` always
    /// (least memory, a sixth to a third more time), `fast` never (each
    /// convolution keeps its input). The same weights whichever.
    #[arg(long, value_enum, default_value_t = Memory::Auto)]
    pub memory: Memory,
    /// How the rows split into training and validation: `auto` takes a
    /// seeded stratified 20% of labelled rows and Keras's last 20% of
    /// others, but `blocked` for rows that are overlapping windows of longer
    /// recordings; `tail` is Keras's `validation_split` (the last 20%);
    /// `shuffled` a seeded random 20% (scikit-learn's `train_test_split`,
    /// which leaks on overlapping windows); `blocked` the last 20% in
    /// recording order, with the training windows that share points with
    /// them dropped (`kymo_data::blocked_split`).
    #[arg(long, value_enum, default_value_t = SplitRule::Auto)]
    pub split: SplitRule,
    /// Output folder: `best.kymo` (the checkpoint, with its preprocessing)
    /// and `history.csv`; for an ensemble also `best-2.kymo`, ... and
    /// `ensemble.toml`, which `predict` takes.
    #[arg(long)]
    pub out: PathBuf,
}

/// How `kymo fit` splits training from validation rows (`--split`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitRule {
    /// `blocked` for overlapping windows, else `stratified` for labelled
    /// rows and `tail` for others.
    Auto,
    /// Keras's `validation_split`: the last 20% of rows.
    Tail,
    /// A seeded random 20%.
    Shuffled,
    /// A seeded random 20% of each class.
    Stratified,
    /// The last 20% in recording order, less the training windows that
    /// share points with them.
    Blocked,
}

/// How much a graph's training step keeps for backward (`kymo fit
/// --memory`); Sequential models keep what their layers need either way.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// The graph's defaults: recompute and checkpoint when that saves
    /// [`kymo_layers::RECOMPUTE_ABOVE`] and [`kymo_layers::CHECKPOINT_ABOVE`].
    Auto,
    /// Recompute and checkpoint whatever can be.
    Lean,
    /// Keep every convolution's input; never replay.
    Fast,
}

impl Memory {
    /// Sets `model`'s recompute and checkpoint thresholds.
    fn apply(self, model: &mut dyn kymo_layers::Model<f32>) {
        let (recompute, checkpoint) = match self {
            Memory::Auto => (
                Some(kymo_layers::RECOMPUTE_ABOVE),
                Some(kymo_layers::CHECKPOINT_ABOVE),
            ),
            Memory::Lean => (Some(0), Some(0)),
            Memory::Fast => (None, None),
        };
        model.set_recompute_above(recompute);
        model.set_checkpoint_above(checkpoint);
    }
}

/// Command-line options of `kymo predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A `fit` output folder (its ensemble, else its `best.kymo`), a
    /// checkpoint (or an ensemble's `ensemble.toml`), or a Keras model file
    /// (`.keras`, `.h5`) with its weights (compiled with a cross-entropy
    /// and more than one output: a classifier of classes `0` to `K - 1`).
    pub checkpoint: PathBuf,
    /// Signals: a CSV, one per row, a `.ts` file or an `x.npy`.
    pub data: PathBuf,
    /// A column of a CSV to leave out of the signal (the target, if the
    /// file has it), or an `x.npy`'s `y.npy`; the RMSE (or accuracy)
    /// against it is printed to stderr.
    #[arg(long)]
    pub target: Option<String>,
    /// The axis order of a three-dimensional `x.npy` (default: the one
    /// that fits the model, else the shorter axis holds the channels).
    #[arg(long, value_enum)]
    pub layout: Option<LayoutArg>,
}

fn default_setup() -> Recipe {
    Recipe {
        batch_size: 32,
        epochs: 100,
        early_stopping: true,
        early_stopping_patience: Some(10),
        checkpoint_best: true,
        ..Recipe::default()
    }
}

fn load_setup(args: &FitArgs, keras: Option<&KerasFile>) -> anyhow::Result<Recipe> {
    let model = std::path::Path::new(&args.model);
    let beside = ["recipe.toml", "setup.toml"]
        .map(|name| model.with_file_name(name))
        .into_iter()
        .find(|path| path.exists());
    let path = args.recipe.clone().or(beside);
    let mut setup = match path {
        Some(path) => Recipe::from_path(&path)?,
        // A Keras file's compile settings (loss, optimizer, learning rate,
        // metrics) stand where no recipe file does, as `model.fit` would
        // use them; the rest is kymo's default recipe.
        None => match keras {
            Some(file) => {
                say_unhonoured("fit", &args.model, file);
                file.recipe(default_setup())
            }
            None => default_setup(),
        },
    };
    if let Some(text) = &args.preprocess {
        setup.preprocessing = Some(text.clone());
    }
    if args.augment {
        setup.augment = Some(kymo_data::Augmentation::default());
    }
    if args.ensemble.is_some() {
        setup.ensemble = args.ensemble;
    }
    match args.search {
        Some(0) => setup.search = None,
        Some(trials) => {
            setup.search = Some(kymo_train::Search {
                trials,
                ..setup.search.unwrap_or_default()
            })
        }
        None => {}
    }
    setup.check()?;
    Ok(setup)
}

fn rmse(predictions: &ndarray::Array2<f32>, truth: &Dataset) -> f64 {
    Metric::Mse
        .compute(predictions.view(), truth.targets())
        .sqrt()
}

/// A built-in model fitted to the data: its channel count, and for a
/// classifier (when `head` says so) the `Dense(classes, softmax)` head. A
/// spec file is the user's own and is taken as it is.
pub(crate) fn architecture(
    model: &str,
    keras: Option<&KerasFile>,
    data: &Dataset,
    head: bool,
) -> anyhow::Result<ArchitectureSpec> {
    if let Some(file) = keras {
        return Ok(file.spec.clone());
    }
    let spec = ArchitectureSpec::resolve(model, data.length())?;
    if kymo_layers::zoo::architecture_by_name(model, data.length()).is_none() {
        return Ok(spec);
    }
    let spec = spec.with_input_channels(data.channels());
    Ok(match data.classes() {
        Some(classes) if head => spec.with_head(classes.len(), Activation::Softmax)?,
        _ => spec,
    })
}

/// The Keras model file `model` names (`.keras`, `.h5`), read, or `None`
/// for anything else.
pub(crate) fn keras_file(model: &str) -> anyhow::Result<Option<kymo_keras::KerasFile>> {
    let path = std::path::Path::new(model);
    let keras = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "keras" | "h5" | "hdf5"));
    if !keras {
        return Ok(None);
    }
    Ok(Some(kymo_keras::read(path)?))
}

/// A classifier's recipe: sparse categorical cross-entropy (on logits when
/// the model's head has no softmax) and accuracy, unless the recipe names
/// a cross-entropy of its own.
fn classification_recipe(mut setup: Recipe, spec: &ArchitectureSpec) -> Recipe {
    if !setup.loss.is_classification() {
        let probabilities = spec.ends_in_softmax();
        setup.loss = Loss::SparseCategoricalCrossentropy {
            from_logits: !probabilities,
        };
    }
    if setup.metrics.is_empty() {
        setup.metrics = vec![Metric::Accuracy];
    }
    setup
}

/// What a set's predictions score: RMSE in the target's units, or the
/// accuracy of a classifier.
fn score(predictions: &ndarray::Array2<f32>, truth: &Dataset) -> String {
    if truth.classes().is_some() {
        format!(
            "accuracy {:.4}, balanced accuracy {:.4}",
            Metric::Accuracy.compute(predictions.view(), truth.targets()),
            Metric::BalancedAccuracy.compute(predictions.view(), truth.targets())
        )
    } else {
        format!("RMSE {:.4} (target units)", rmse(predictions, truth))
    }
}

/// The input `(channels, length)` the model `model` (read as `keras`
/// when it is a Keras file) fixes, if it fixes one: a Keras file's or a
/// spec file's. A built-in model takes the data's.
pub(crate) fn declared_input(model: &str, keras: Option<&KerasFile>) -> Option<(usize, usize)> {
    let input = match keras {
        // A variable length settles nothing: the data's length is the model's.
        Some(file) if file.variable_length => return None,
        Some(file) => file.spec.input(),
        None if kymo_layers::zoo::architecture_by_name(model, 1).is_some() => return None,
        // Unreadable here: the model's own reading names the error.
        None => ArchitectureSpec::resolve(model, 1).ok()?.input(),
    };
    Some((input.channels, input.length))
}

/// Says on stderr, one line each, what of the Keras file `model`'s
/// compile settings kymo's training leaves out (an optimizer or loss kymo
/// lacks, a schedule, Keras 2's `decay`), so that a fit that differs from
/// Keras's says where.
pub(crate) fn say_unhonoured(command: &str, model: &str, file: &KerasFile) {
    for gap in file.compile.iter().flat_map(|c| &c.unhonoured) {
        eprintln!("kymo {command}: left out of {model}'s compile settings: {gap}");
    }
}

/// Whether `keras` is a Keras file compiled with a classification loss.
pub(crate) fn keras_classifies(keras: Option<&KerasFile>) -> bool {
    keras
        .and_then(|file| file.compile.as_ref())
        .and_then(|compile| compile.loss_name.as_deref())
        .and_then(Loss::from_keras_name)
        .is_some_and(|loss| loss.is_classification())
}

/// The training and validation rows of `data` under `rule`; `auto` takes
/// a seeded stratified 20% for labelled data and Keras's last 20%
/// otherwise, but for rows that are overlapping windows of longer
/// recordings, whose shuffled split would leak, `blocked`.
pub(crate) fn split(
    data: &Dataset,
    rule: SplitRule,
    seed: u64,
) -> anyhow::Result<(Dataset, Dataset)> {
    let labelled = data.classes().is_some();
    Ok(match rule {
        SplitRule::Auto if kymo_data::is_windowed(data) => {
            eprintln!("kymo: the rows are overlapping windows of longer recordings, so they split in recording order (a shuffled split would leak)");
            match kymo_data::blocked_split(data, 0.2) {
                Ok(split) => announce_blocked(split, labelled),
                Err(_) => {
                    // Every training row would share points with validation.
                    eprintln!("kymo: too few windows to split apart; validating on the last 20% of rows, whose first rows share points with training");
                    validation_split(data, 0.2)?
                }
            }
        }
        SplitRule::Auto if labelled => stratified_split(data, 0.2, seed)?,
        SplitRule::Auto | SplitRule::Tail => validation_split(data, 0.2)?,
        SplitRule::Blocked => announce_blocked(kymo_data::blocked_split(data, 0.2)?, labelled),
        SplitRule::Stratified => stratified_split(data, 0.2, seed)?,
        SplitRule::Shuffled => random_split(data, 0.2, seed)?,
    })
}

/// The two sets of a blocked split, after saying how they were cut.
fn announce_blocked(
    (train, validation, dropped): (Dataset, Dataset, usize),
    labelled: bool,
) -> (Dataset, Dataset) {
    let left_out = match dropped {
        0 => "no training row shares points with them".to_string(),
        n => format!("the {n} training rows that share points with them are left out"),
    };
    eprintln!(
        "kymo: validation is the last 20% of rows in recording order{}; {left_out}",
        if labelled { " of each class" } else { "" }
    );
    (train, validation)
}

/// A head that predicts at every position (a Dense on a signal) has no
/// per-signal loss to train or prediction to print: the error says so,
/// with the doctor's fix, rather than a shape error on the first batch.
fn refuse_per_position_head(spec: &ArchitectureSpec, outputs: usize) -> anyhow::Result<()> {
    match kymo_doctor::per_position_output(spec, outputs) {
        Some((_, finding)) => anyhow::bail!(
            "{}: {}; fix: {} (`kymo doctor` diagnoses the rest)",
            finding.title,
            finding.measured,
            finding.fix
        ),
        None => Ok(()),
    }
}

/// Trains and writes the best checkpoint.
pub fn fit(args: FitArgs) -> anyhow::Result<()> {
    let mut keras = keras_file(&args.model)?;
    let choice = TargetChoice {
        column: args.target.as_deref(),
        classes: args.classes || keras_classifies(keras.as_ref()),
        known_classes: None,
        layout: args.layout.map(Into::into),
        model_input: declared_input(&args.model, keras.as_ref()),
    };
    let data = data_files::load(&args.data, &choice)?;
    if let Some(file) = keras.as_mut() {
        file.set_length(data.length());
    }
    let spec = architecture(&args.model, keras.as_ref(), &data, true)?;
    refuse_per_position_head(
        &spec,
        data.classes().map_or(data.target_count(), <[String]>::len),
    )?;
    let mut setup = load_setup(&args, keras.as_ref())?;
    if data.classes().is_some() {
        setup = classification_recipe(setup, &spec);
    }
    let (train, validation) = split(&data, args.split, args.seed)?;
    let pipeline = Pipeline::named(setup.preprocessing.as_deref())?;
    let preprocessor = pipeline.fit(&train)?;
    eprintln!(
        "kymo fit: {} on {} ({} train / {} validation{}), preprocessing {}, recipe:\n{}",
        args.model,
        args.data.display(),
        train.len(),
        validation.len(),
        data.classes().map_or(String::new(), |c| format!(
            ", {} classes: {}",
            c.len(),
            c.join(", ")
        )),
        pipeline.describe(),
        setup.to_toml()
    );
    let (train_ready, validation_ready) = (
        preprocessor.transform(&train)?,
        preprocessor.transform(&validation)?,
    );
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let (spec, setup) = match &setup.search {
        Some(search) => crate::search::choose(
            search,
            (&spec, &setup),
            (&train_ready, &validation_ready),
            args.seed,
            &args.out,
        )?,
        None => (spec, setup),
    };
    let members = setup.members();
    let mut checkpoints = Vec::with_capacity(members);
    for member in 0..members {
        let seed = args.seed + member as u64;
        if members > 1 {
            eprintln!(
                "kymo fit: ensemble member {} of {members} (seed {seed})",
                member + 1
            );
        }
        let mut trainer = train_member(
            &args,
            &spec,
            &setup,
            &preprocessor,
            (&train_ready, &validation_ready),
            member,
        )?;
        let checkpoint = trainer.checkpoint();
        checkpoint.save(&args.out.join(EnsembleManifest::member_file(member)))?;
        checkpoints.push(checkpoint);
    }
    let mut predictor = Predictor::from_checkpoints(&checkpoints)?;
    let best = if members > 1 {
        EnsembleManifest::numbered(members).write(&args.out)?
    } else {
        args.out.join(EnsembleManifest::member_file(0))
    };
    let validation_score = score(&predictor.predict(&validation)?, &validation);
    println!(
        "trained {members} network{}; validation {validation_score}",
        if members > 1 { "s, averaged" } else { "" }
    );
    if let Some(test_path) = &args.test {
        let test_choice = TargetChoice {
            known_classes: data.classes(),
            column: args.test_target.as_deref().or(choice.column),
            // The test signals are read as the training ones were.
            model_input: Some((data.channels(), data.length())),
            ..choice
        };
        let test = data_files::load(test_path, &test_choice)?;
        println!(
            "test {} on {} ({} rows)",
            score(&predictor.predict(&test)?, &test),
            test_path.display(),
            test.len()
        );
    }
    println!("checkpoint: {}", best.display());
    Ok(())
}

/// Trains ensemble member `member` (0 for a single network) with seed
/// `args.seed + member`, resuming from its own backup folder, and writes
/// its history (`history.csv`, `history-2.csv`, ...).
fn train_member(
    args: &FitArgs,
    spec: &ArchitectureSpec,
    setup: &Recipe,
    preprocessor: &kymo_data::Preprocessor,
    (train_ready, validation_ready): (&Dataset, &Dataset),
    member: usize,
) -> anyhow::Result<Trainer> {
    let suffix = match member {
        0 => String::new(),
        i => format!("-{}", i + 1),
    };
    let seed = args.seed + member as u64;
    let backup = args.out.join(format!("backup{suffix}"));
    let interrupted = backup.join("state.kymo").exists();
    if interrupted && !args.resume {
        anyhow::bail!(
            "{} holds the backup of an interrupted run: pass --resume to continue it, or remove the folder to start over",
            backup.display()
        );
    }
    if interrupted {
        eprintln!("kymo fit: resuming from {}", backup.display());
    }
    let mut model = spec.build::<f32>(seed)?;
    args.memory.apply(model.as_mut());
    let mut trainer = Trainer::new(model, setup.optimizer(), setup.fit_config(seed));
    // Saved with every backup and the best checkpoint, so `predict` repeats it.
    trainer.preprocessor = Some(preprocessor.clone());
    let files = FitFiles {
        backup: Some(backup),
        ..FitFiles::default()
    };
    setup.fit_with(&mut trainer, train_ready, validation_ready, files)?;
    write_history(&trainer, &args.out.join(format!("history{suffix}.csv")))?;
    eprintln!("kymo fit: {} epochs", trainer.history.epochs.len());
    Ok(trainer)
}

fn write_history(trainer: &Trainer, path: &std::path::Path) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_path(path).with_context(|| format!("{}", path.display()))?;
    writer.write_record(["epoch", "loss", "val_loss", "learning_rate"])?;
    for e in &trainer.history.epochs {
        writer.write_record([
            e.epoch.to_string(),
            e.loss.to_string(),
            e.val_loss.map_or(String::new(), |v| v.to_string()),
            e.learning_rate.to_string(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

/// Prints one prediction per row of the data: in the target's units, or
/// for a classifier the class and each class's probability.
pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let model_path = args.checkpoint.to_string_lossy().into_owned();
    // A Keras classifier's classes are its output columns, by index (what
    // `np.argmax(model.predict(x), axis=1)` gives).
    let mut keras_classes = None;
    let mut keras = keras_file(&model_path)?;
    let mut predictor = match &keras {
        // A Keras model predicts from the signals as given: Keras keeps
        // no preprocessing with the model.
        Some(file) => {
            let model = file.model::<f32>()?;
            // A head that predicts at each position: its channels are
            // the values per signal it was meant to give.
            if let kymo_layers::Shape::Signal { channels, .. } = model.output_shape() {
                refuse_per_position_head(&file.spec, channels)?;
            }
            let outputs = match model.output_shape() {
                kymo_layers::Shape::Features(n) => n,
                _ => 1,
            };
            if keras_classifies(Some(file)) && outputs > 1 {
                keras_classes = Some((0..outputs).map(|k| k.to_string()).collect::<Vec<_>>());
            }
            Predictor {
                model,
                members: Vec::new(),
                preprocessor: None,
                runtime: kymo_tensor::Runtime::default(),
                batch_size: 32,
            }
        }
        None => Predictor::load(&args.checkpoint)?,
    };
    let classes = predictor
        .classes()
        .map(<[String]>::to_vec)
        .or(keras_classes);
    let input = predictor.model.architecture().input();
    let choice = TargetChoice {
        column: args.target.as_deref(),
        classes: false,
        known_classes: classes.as_deref(),
        layout: args.layout.map(Into::into),
        // A variable length settles nothing: the data's is the model's.
        model_input: match &keras {
            Some(file) if file.variable_length => None,
            _ => Some((input.channels, input.length)),
        },
    };
    // A CSV or NPY without --target holds signals only: nothing to score
    // against.
    let truth = if data_files::holds_targets(&args.data) || args.target.is_some() {
        Some(data_files::load(&args.data, &choice)?)
    } else {
        None
    };
    let signals = match &truth {
        Some(_) => None,
        None => Some(data_files::load_signals(&args.data, &choice)?),
    };
    // A variable-length Keras input takes the data's length.
    if let Some(file) = keras.as_mut().filter(|f| f.variable_length) {
        let length = match (&truth, &signals) {
            (Some(data), _) => data.length(),
            (_, Some(signals)) => signals.shape()[2],
            _ => file.spec.input().length,
        };
        file.set_length(length);
        predictor.model = file.model::<f32>()?;
    }
    let predictions = match (&truth, &signals) {
        (Some(data), _) => predictor.predict(data)?,
        (None, Some(signals)) => predictor.predict_signals(signals)?,
        (None, None) => anyhow::bail!("no signals read from {}", args.data.display()),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match &classes {
        Some(names) => {
            let columns: Vec<String> = names.iter().map(|n| format!("p({n})")).collect();
            writeln!(out, "label,{}", columns.join(","))?;
            for (row, class) in predictions
                .rows()
                .into_iter()
                .zip(kymo_data::predicted_classes(predictions.view()))
            {
                let cells: Vec<String> = row.iter().map(|v| format!("{v:.6}")).collect();
                let label = names.get(class).map_or("?", String::as_str);
                writeln!(out, "{label},{}", cells.join(","))?;
            }
        }
        None => {
            writeln!(out, "prediction")?;
            for row in predictions.rows() {
                let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
    }
    out.flush()?;
    if let Some(data) = truth {
        let labelled = args.target.is_some() || (classes.is_some() && data.classes().is_some());
        if labelled && data.classes().is_some() {
            eprintln!("{} ({} rows)", score(&predictions, &data), data.len());
        } else if labelled {
            eprintln!(
                "RMSE against `{}`: {:.4} ({} rows)",
                args.target.as_deref().unwrap_or_default(),
                rmse(&predictions, &data),
                data.len()
            );
        }
    }
    Ok(())
}
