//! `kymo doctor <model>`: what is wrong with a model, its data and
//! its training, with evidence and fixes; `--prescribe` writes the fixed
//! model and setup, `--verify` measures each fix. Labelled data (a `.ts`
//! file, or a CSV with `--classes`) gets the classification checks, FCN
//! with its authors' recipe as the prescription, and with `--verify` the
//! verdict against MiniRocket.

use anyhow::Context as _;
use std::path::PathBuf;

use clap::Args;
use kymo_data::{validation_split, Dataset, SyntheticSpectra};
use kymo_doctor::{self as doctor, ProbeConfig, Recipe};
use kymo_train::Loss;

use crate::data_files::{self, LayoutArg, TargetChoice};

/// Command-line options of `kymo doctor`.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// A built-in model (original, answer, answer_bn, doctor), a kymo spec
    /// (.toml/.json) or a Keras `model.to_json()` file.
    pub model: String,
    /// The training recipe to examine (TOML, as `--prescribe` writes it);
    /// overrides the setup flags below.
    #[arg(long)]
    pub recipe: Option<PathBuf>,
    /// Batch size of the setup. Default: the question's, 1; for a Keras
    /// model file (`.keras`, `.h5`), which does not keep the batch size it
    /// was fitted with, Keras's own default, 32.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate (Adam; default 1e-3, or a Keras file's own).
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Epochs of the setup.
    #[arg(long, default_value_t = 25)]
    pub epochs: usize,
    /// The setup has no validation data.
    #[arg(long)]
    pub no_validation: bool,
    /// The setup uses EarlyStopping.
    #[arg(long)]
    pub early_stopping: bool,
    /// The setup checkpoints the best weights.
    #[arg(long)]
    pub checkpoint_best: bool,
    /// The loss of the setup, by Keras name (`mse`,
    /// `sparse_categorical_crossentropy`, ...).
    #[arg(long)]
    pub loss: Option<String>,
    /// Samples: a CSV (one per row, with `--target`), a UCR/UEA `.ts`
    /// file (labels in the file) or an `x.npy` (with `--target y.npy`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The target column of a CSV `--data`, or the `y.npy` of an `x.npy`.
    #[arg(long)]
    pub target: Option<String>,
    /// The targets are class labels (a CSV column, a `y.npy` of labels or
    /// one-hot rows). Implied by a Keras model file compiled with a
    /// cross-entropy.
    #[arg(long)]
    pub classes: bool,
    /// NPY signals and targets: `--npy x.npy y.npy` (the same as `--data
    /// x.npy --target y.npy`).
    #[arg(long, num_args = 2, value_names = ["X", "Y"])]
    pub npy: Option<Vec<PathBuf>>,
    /// The axis order of a three-dimensional `x.npy` (default: the one
    /// that fits the model, else the shorter axis holds the channels).
    #[arg(long, value_enum)]
    pub layout: Option<LayoutArg>,
    /// Samples of built-in synthetic spectra.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Epochs of the probe run (0: no probe).
    #[arg(long, default_value_t = 3)]
    pub probe_epochs: usize,
    /// Write the diagnosis as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the diagnosis as Markdown here, with PNG pictures beside it:
    /// the probe's learning curves against the mean predictor, gradient
    /// norms and dead units by layer, and each `--verify` fix over seeds.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Write the prescribed model (model.toml) and training recipe (recipe.toml) into this folder.
    #[arg(long)]
    pub prescribe: Option<PathBuf>,
    /// Measure each fix: with and without, over seeds, on a short budget.
    #[arg(long)]
    pub verify: bool,
    /// Seeds per arm of `--verify`.
    #[arg(long, default_value_t = 3)]
    pub verify_seeds: u64,
    /// Budget of `--verify`: every arm trains for as many optimizer steps
    /// as the unfixed setup takes in this many epochs.
    #[arg(long, default_value_t = 6)]
    pub verify_epochs: usize,
}

fn load_data(
    args: &DoctorArgs,
    keras: Option<&kymo_keras::KerasFile>,
) -> anyhow::Result<(Dataset, String)> {
    let npy_target = args
        .npy
        .as_ref()
        .and_then(|files| files.get(1))
        .map(|path| path.to_string_lossy().into_owned());
    let choice = TargetChoice {
        column: npy_target.as_deref().or(args.target.as_deref()),
        classes: args.classes || crate::fit::keras_classifies(keras),
        known_classes: None,
        layout: args.layout.map(Into::into),
        model_input: crate::fit::declared_input(&args.model, keras),
    };
    if let Some(files) = &args.npy {
        return Ok((
            data_files::load(&files[0], &choice)?,
            format!("{} and {}", files[0].display(), files[1].display()),
        ));
    }
    if let Some(path) = &args.data {
        if !data_files::holds_targets(path) && args.target.is_none() {
            anyhow::bail!(
                "--data {} needs --target, the column to predict (for an x.npy, its y.npy)",
                path.display()
            );
        }
        let source = match (data_files::is_npy(path), &args.target) {
            (true, Some(target)) => format!("{} and {target}", path.display()),
            _ => format!("{}", path.display()),
        };
        return Ok((data_files::load(path, &choice)?, source));
    }
    let spectra = SyntheticSpectra {
        samples: args.samples,
        seed: 2024,
        ..Default::default()
    };
    Ok((
        spectra.generate()?,
        format!("{} synthetic spectra", args.samples),
    ))
}

/// The question's batch size, the setup's default.
const QUESTION_BATCH_SIZE: usize = 1;

/// Keras's batch size when `fit` is given none: a Keras model file's
/// default setup.
const KERAS_BATCH_SIZE: usize = 32;

/// The recipe the flags describe (Adam; the question's setup by default).
fn setup_of_flags(args: &DoctorArgs) -> anyhow::Result<Recipe> {
    let loss = match &args.loss {
        Some(name) => Loss::from_keras_name(name).with_context(|| {
            format!("unknown loss `{name}`: use mse, mae, huber, binary_crossentropy, categorical_crossentropy or sparse_categorical_crossentropy")
        })?,
        None => Loss::Mse,
    };
    Ok(Recipe {
        loss,
        optimizer: kymo_train::OptimizerName::Adam,
        learning_rate: args.learning_rate.unwrap_or(1e-3),
        batch_size: args.batch_size.unwrap_or(QUESTION_BATCH_SIZE),
        epochs: args.epochs,
        validation: !args.no_validation,
        early_stopping: args.early_stopping,
        checkpoint_best: args.checkpoint_best,
        ..Recipe::default()
    })
}

/// Runs the doctor.
pub fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let mut keras = crate::fit::keras_file(&args.model)?;
    let (data, source) = load_data(&args, keras.as_ref())?;
    if let Some(file) = keras.as_mut() {
        file.set_length(data.length());
    }
    // A built-in model is taken with the data's channels; its head stays
    // as built, for the checks to judge.
    let spec = crate::fit::architecture(&args.model, keras.as_ref(), &data, false)?;
    // A head that predicts at every position is named, and the diagnosis
    // goes on with the Flatten its author meant (the file's weights no
    // longer fit that model, so its trained checks are left out).
    let outputs = data.classes().map_or(data.target_count(), <[String]>::len);
    let (spec, head) = match doctor::per_position_output(&spec, outputs) {
        Some((fixed, finding)) => (fixed, Some(finding)),
        None => (spec, None),
    };
    let mut setup = match &args.recipe {
        Some(path) => Recipe::from_path(path)?,
        None => setup_of_flags(&args)?,
    };
    // A Keras file's compile settings stand where no flag or recipe file
    // names them.
    if let Some(file) = &keras {
        let flags = setup.clone();
        setup = file.recipe(setup);
        if args.recipe.is_none() && args.batch_size.is_none() {
            // `fit`'s batch size is not part of a saved model: judge the
            // batch Keras uses when `fit` is not given one, not the
            // question's batch of 1, and say so.
            setup.batch_size = KERAS_BATCH_SIZE;
            eprintln!(
                "kymo doctor: {} does not keep the batch size it was fitted with; judging Keras's default, {KERAS_BATCH_SIZE} (--batch-size to set yours)",
                args.model
            );
        }
        if args.recipe.is_some() || args.loss.is_some() {
            setup.loss = flags.loss;
        }
        if args.recipe.is_some() || args.learning_rate.is_some() {
            setup.learning_rate = flags.learning_rate;
        }
        eprintln!(
            "kymo doctor: {} compiled with loss {}, optimizer {}, learning rate {}, metrics [{}]",
            args.model,
            file.compile
                .as_ref()
                .and_then(|c| c.loss_name.clone())
                .unwrap_or_else(|| "(none)".into()),
            file.compile
                .as_ref()
                .and_then(|c| c.optimizer_name.clone())
                .unwrap_or_else(|| "(none)".into()),
            file.compile
                .as_ref()
                .and_then(|c| c.learning_rate)
                .map_or("(none)".into(), |r| r.to_string()),
            file.compile
                .as_ref()
                .map(|c| c.metric_names.join(", "))
                .unwrap_or_default(),
        );
        crate::fit::say_unhonoured("doctor", &args.model, file);
    }
    if data.classes().is_some() {
        let mut trained = trained_findings(keras.as_ref().filter(|_| head.is_none()), &data)?;
        trained.extend(head);
        return run_classification(&args, &data, &source, &spec, &setup, trained);
    }
    let (train_raw, val_raw) = validation_split(&data, 0.2)?;
    eprintln!(
        "kymo doctor: {} on {source} ({} train / {} validation), recipe:\n{}",
        args.model,
        train_raw.len(),
        val_raw.len(),
        setup.to_toml()
    );
    let probe = (args.probe_epochs > 0).then(|| ProbeConfig {
        epochs: args.probe_epochs,
        ..ProbeConfig::default()
    });
    let doctor::Examination {
        mut diagnosis,
        preprocessing,
        facts,
        probe,
        ..
    } = doctor::examine(&spec, &setup, &train_raw, &val_raw, probe)?;
    let mut evidence = crate::pictures::Evidence {
        probe,
        ..Default::default()
    };
    let mut trained = trained_findings(keras.as_ref().filter(|_| head.is_none()), &data)?;
    trained.extend(head);
    if !trained.is_empty() {
        diagnosis = doctor::Diagnosis::new(diagnosis.findings.into_iter().chain(trained).collect());
    }
    let (fixed_spec, fixed_setup) =
        doctor::prescribe(&spec, &setup, &diagnosis, Some((&facts, &preprocessing)));
    // The examination judged the user's split; the fixes are measured on
    // one that does not leak, as `kymo fit` and the Keras script train them.
    let blocked = blocked_rows(&data);
    let (train_raw, val_raw) = match &blocked {
        Some(rows) => (data.select(&rows.train)?, data.select(&rows.validation)?),
        None => (train_raw, val_raw),
    };
    if args.verify {
        // Every arm trains on the prescribed preprocessing, so each fix is
        // judged where the prescription will train.
        let (train, val) = doctor::preprocessed(&fixed_setup, &train_raw, &val_raw)?;
        let plan = doctor::VerifyPlan {
            seeds: (0..args.verify_seeds).collect(),
            epochs: args.verify_epochs,
            mean_val_mse: kymo_baselines::MeanPredictor::mse_of(&train, &val),
        };
        evidence.arms_mean_val_mse = plan.mean_val_mse;
        // A model that cannot take these signals or targets has no
        // baseline to train: each fix is measured against one, so only the
        // prescription is verified (against ridge, PLS and MiniRocket).
        let untrainable = diagnosis.findings.iter().find(|f| {
            f.severity == doctor::Severity::High
                && matches!(
                    f.id,
                    doctor::FindingId::InputShapeMismatch | doctor::FindingId::HeadLossMismatch
                )
        });
        if let Some(finding) = untrainable {
            eprintln!(
                "verifying: the model as given cannot train on these data ({}), so its fixes are not measured one by one",
                finding.id
            );
        } else {
            evidence.arms = doctor::verify_findings(
                &mut diagnosis,
                &spec,
                &setup,
                &fixed_spec,
                fixed_setup.batch_size,
                &train,
                &val,
                &plan,
                |arm| eprintln!("verifying: {arm} ..."),
            )?;
        }
        eprintln!(
            "verifying: the prescription with its budget ({} epochs max, batch {}) against ridge, PLS and MiniRocket ...",
            fixed_setup.epochs, fixed_setup.batch_size
        );
        let seeds: Vec<u64> = (0..args.verify_seeds).collect();
        let comparison = doctor::compare_with_baselines(
            &fixed_spec,
            &fixed_setup,
            &train_raw,
            &val_raw,
            &seeds,
        )?;
        diagnosis = doctor::Diagnosis::new(
            diagnosis
                .findings
                .into_iter()
                .chain([comparison.finding()])
                .collect(),
        );
    }
    let prescription = Prescription {
        spec: &fixed_spec,
        setup: &fixed_setup,
        blocked: blocked.as_ref(),
    };
    report(&args, &diagnosis, &prescription, &evidence)
}

/// The rows of a split in recording order when `data`'s rows are
/// overlapping windows (`kymo_data::blocked_split`), else `None`; also
/// `None` when no training row would be left (a recording too short to
/// split), where the diagnosis goes on with the user's split.
fn blocked_rows(data: &Dataset) -> Option<kymo_data::BlockedRows> {
    if !kymo_data::is_windowed(data) {
        return None;
    }
    kymo_data::BlockedRows::of(data, 0.2).ok()
}

/// What `--prescribe` writes: the fixed model and recipe, and for
/// overlapping windows the rows to train and validate on.
struct Prescription<'a> {
    spec: &'a kymo_layers::ArchitectureSpec,
    setup: &'a Recipe,
    blocked: Option<&'a kymo_data::BlockedRows>,
}

/// Prints the diagnosis and writes what the flags ask for: JSON,
/// Markdown (with its pictures beside it), and the prescription's model
/// and recipe.
fn report(
    args: &DoctorArgs,
    diagnosis: &doctor::Diagnosis,
    prescription: &Prescription<'_>,
    evidence: &crate::pictures::Evidence,
) -> anyhow::Result<()> {
    let (fixed_spec, fixed_setup) = (prescription.spec, prescription.setup);
    print!("{diagnosis}");
    if let Some(path) = &args.json {
        std::fs::write(path, diagnosis.to_json()).with_context(|| format!("{}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        let pictures = crate::pictures::draw(path, evidence)?;
        std::fs::write(path, diagnosis.to_markdown() + &pictures)
            .with_context(|| format!("{}", path.display()))?;
    }
    if let Some(dir) = &args.prescribe {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        std::fs::write(dir.join("model.toml"), fixed_spec.to_toml()?)?;
        std::fs::write(dir.join("recipe.toml"), fixed_setup.to_toml())?;
        // The same model for a Keras user (fresh weights): a Sequential
        // model, or a functional one for a graph.
        let model = fixed_spec.build::<f32>(0)?;
        kymo_keras::write_keras(model.as_ref(), &dir.join("model.keras"))?;
        std::fs::write(
            dir.join("train_keras.py"),
            doctor::keras_training_script(fixed_setup)?,
        )?;
        if let Some(rows) = prescription.blocked {
            // The script validates on these rows instead of shuffling.
            let split = serde_json::json!({
                "rows": rows.train.len() + rows.validation.len() + rows.dropped,
                "train": rows.train,
                "validation": rows.validation,
            });
            std::fs::write(dir.join("split.json"), split.to_string())?;
            println!(
                "split: {} (the rows are overlapping windows: train_keras.py trains and validates on these rows, in recording order, as `kymo fit` does)",
                dir.join("split.json").display()
            );
        }
        println!(
            "prescription: {} and {} (and, for Keras, model.keras with train_keras.py: `python train_keras.py x.npy y.npy` trains it with this recipe)",
            dir.join("model.toml").display(),
            dir.join("recipe.toml").display(),
        );
        let members = fixed_setup.members();
        if members > 1 {
            println!(
                "ensemble: {members} networks from consecutive seeds, about {members}x one network's training time (these data are small enough); `kymo fit` writes ensemble.toml, and `kymo predict` on it averages them"
            );
            let trials = kymo_train::Search::default().trials;
            println!(
                "search (not prescribed): `kymo fit --search {trials}` first trains {trials} setups around this recipe (width, learning rate, weight decay) and keeps the best on validation, adding about {trials}x one network's time; on the built-in tablet and corn sets it moved the median test RMSE by under 1.5%, within the seeds' spread (docs/doctor.md)"
            );
        }
    }
    Ok(())
}

/// The doctor on labelled data: the model's static checks, the
/// classification checks on the split Keras's `validation_split` would
/// make, the prescribed classifier, and with `--verify` the verdict
/// against MiniRocket.
fn run_classification(
    args: &DoctorArgs,
    data: &Dataset,
    source: &str,
    spec: &kymo_layers::ArchitectureSpec,
    setup: &Recipe,
    trained: Vec<doctor::Finding>,
) -> anyhow::Result<()> {
    let classes = data.classes().map(<[String]>::to_vec).unwrap_or_default();
    let (train_raw, val_raw) = validation_split(data, 0.2)?;
    eprintln!(
        "kymo doctor: {} on {source} ({} cases, {} classes: {}), recipe:\n{}",
        args.model,
        data.len(),
        classes.len(),
        classes.join(", "),
        setup.to_toml()
    );
    let mut findings = Vec::new();
    if let Some(finding) = doctor::input_shape(spec, &train_raw) {
        findings.push(finding);
    } else {
        let model = spec.build::<f32>(0)?;
        findings.extend(doctor::static_checks(
            model.as_ref(),
            setup,
            Some(train_raw.len()),
        ));
        findings.extend(doctor::classification_checks(
            model.as_ref(),
            setup,
            &train_raw,
            Some(&val_raw),
        ));
    }
    let (fixed_spec, fixed_setup) = doctor::prescribe_classifier(data, None)?;
    if args.verify {
        // The verdict's budget: the flags' epochs, as `--verify` budgets
        // regression arms.
        let (verify_spec, verify_setup) =
            doctor::prescribe_classifier(data, Some(args.verify_epochs.max(1) * 10))?;
        eprintln!(
            "verifying: FCN ({} epochs) against MiniRocket on a stratified 20% of the training rows ...",
            verify_setup.epochs
        );
        let seeds: Vec<u64> = (0..args.verify_seeds).collect();
        let verdict = doctor::choose_classifier(&verify_spec, &verify_setup, data, &seeds)?;
        findings.push(verdict.finding());
    }
    findings.extend(trained);
    let diagnosis = doctor::Diagnosis::new(findings);
    let blocked = blocked_rows(data);
    let prescription = Prescription {
        spec: &fixed_spec,
        setup: &fixed_setup,
        blocked: blocked.as_ref(),
    };
    report(
        args,
        &diagnosis,
        &prescription,
        &crate::pictures::Evidence::default(),
    )
}

/// The trained-weight checks of a Keras file's model on the user's data,
/// as Keras would run it (no preprocessing), when the model can take the
/// data's signals.
fn trained_findings(
    keras: Option<&kymo_keras::KerasFile>,
    data: &Dataset,
) -> anyhow::Result<Vec<doctor::Finding>> {
    let Some(file) = keras else {
        return Ok(Vec::new());
    };
    let input = file.spec.input();
    if (input.channels, input.length) != (data.channels(), data.length()) {
        return Ok(Vec::new());
    }
    let mut model = file.model::<f32>()?;
    let sequential = matches!(file.spec, kymo_layers::ArchitectureSpec::Sequential(_));
    Ok(doctor::trained_checks(model.as_mut(), data, sequential))
}
