//! `kymo fit` and `kymo predict`: a user's own model and data without
//! writing Rust. `fit` trains a spec (for example the doctor's
//! `--prescribe` output) on a CSV with a recipe, backed up every epoch so
//! `--resume` continues a killed run, and writes the best checkpoint with
//! its preprocessing; `predict` applies a checkpoint to new signals and
//! prints predictions in the target's units.

use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use kymo_data::{load_csv, validation_split, Column, CsvOptions, Dataset, Pipeline};
use kymo_doctor::Recipe;
use kymo_train::{FitFiles, Metric, Predictor, Trainer};

/// Command-line options of `kymo fit`.
#[derive(Args, Debug)]
pub struct FitArgs {
    /// A built-in model, a kymo spec (.toml/.json, such as the doctor's
    /// `model.toml`) or a Keras `model.to_json()` file.
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
    /// A CSV of training samples, one per row; its last 20% validates.
    #[arg(long)]
    pub data: PathBuf,
    /// The target column of `--data` (and of `--test`), by name or index.
    #[arg(long)]
    pub target: String,
    /// Test samples (a CSV with the same columns) to report at the end.
    #[arg(long)]
    pub test: Option<PathBuf>,
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
    /// Output folder: `best.kymo` (the checkpoint, with its preprocessing)
    /// and `history.csv`.
    #[arg(long)]
    pub out: PathBuf,
}

/// Command-line options of `kymo predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A checkpoint written by `fit` (or by an experiment's best-only checkpoint).
    pub checkpoint: PathBuf,
    /// A CSV of signals, one per row.
    pub data: PathBuf,
    /// A column of `data` to leave out of the signal (the target, if the
    /// file has it); the RMSE against it is printed to stderr.
    #[arg(long)]
    pub target: Option<String>,
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

fn load_setup(args: &FitArgs) -> anyhow::Result<Recipe> {
    let model = std::path::Path::new(&args.model);
    let beside = ["recipe.toml", "setup.toml"]
        .map(|name| model.with_file_name(name))
        .into_iter()
        .find(|path| path.exists());
    let path = args.recipe.clone().or(beside);
    let mut setup = match path {
        Some(path) => Recipe::from_path(&path)?,
        None => default_setup(),
    };
    if let Some(text) = &args.preprocess {
        setup.preprocessing = Some(text.clone());
    }
    if args.augment {
        setup.augment = Some(kymo_data::Augmentation::default());
    }
    Ok(setup)
}

fn rmse(predictions: &ndarray::Array2<f32>, truth: &Dataset) -> f64 {
    Metric::Mse
        .compute(predictions.view(), truth.targets())
        .sqrt()
}

/// Trains and writes the best checkpoint.
pub fn fit(args: FitArgs) -> anyhow::Result<()> {
    let options = CsvOptions::new(vec![Column::parse(&args.target)]);
    let data = load_csv(&args.data, &options)?;
    let spec = kymo_layers::ArchitectureSpec::resolve(&args.model, data.length())?;
    let setup = load_setup(&args)?;
    let (train, validation) = validation_split(&data, 0.2)?;
    let pipeline = Pipeline::named(setup.preprocessing.as_deref())?;
    let preprocessor = pipeline.fit(&train)?;
    eprintln!(
        "kymo fit: {} on {} ({} train / {} validation), preprocessing {}, recipe:\n{}",
        args.model,
        args.data.display(),
        train.len(),
        validation.len(),
        pipeline.describe(),
        setup.to_toml()
    );
    let (train_ready, validation_ready) = (
        preprocessor.transform(&train)?,
        preprocessor.transform(&validation)?,
    );
    let backup = args.out.join("backup");
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
    let mut trainer = Trainer::new(
        spec.build::<f32>(args.seed)?,
        setup.optimizer(),
        setup.fit_config(args.seed),
    );
    // Saved with every backup and the best checkpoint, so `predict` repeats it.
    trainer.preprocessor = Some(preprocessor.clone());
    let files = FitFiles {
        backup: Some(backup),
        ..FitFiles::default()
    };
    setup.fit_with(&mut trainer, &train_ready, &validation_ready, files)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let best = args.out.join("best.kymo");
    trainer.checkpoint().save(&best)?;
    write_history(&trainer, &args.out.join("history.csv"))?;
    let epochs = trainer.history.epochs.len();
    let mut in_units = |d: &Dataset| -> anyhow::Result<f64> {
        let predictions = trainer.predict(d)?;
        Ok(rmse(&predictions, d))
    };
    let val = in_units(&validation)?;
    println!("trained {epochs} epochs; validation RMSE {val:.4} (target units)");
    if let Some(test_path) = &args.test {
        let test = load_csv(test_path, &options)?;
        println!(
            "test RMSE {:.4} on {} ({} rows)",
            in_units(&test)?,
            test_path.display(),
            test.len()
        );
    }
    println!("checkpoint: {}", best.display());
    Ok(())
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

/// Prints one prediction per row of the CSV, in the target's units.
pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let mut predictor = Predictor::load(&args.checkpoint)?;
    let targets = args.target.iter().map(|t| Column::parse(t)).collect();
    let data = load_csv(&args.data, &CsvOptions::new(targets))?;
    let predictions = predictor.predict(&data)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    writeln!(out, "prediction")?;
    for row in predictions.rows() {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        writeln!(out, "{}", cells.join(","))?;
    }
    out.flush()?;
    if args.target.is_some() {
        eprintln!(
            "RMSE against `{}`: {:.4} ({} rows)",
            args.target.as_deref().unwrap_or_default(),
            rmse(&predictions, &data),
            data.len()
        );
    }
    Ok(())
}
