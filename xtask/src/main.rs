//! `cargo xtask`: kymo's task runner (see `cargo xtask --help`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod dataset;
mod doctor;
mod experiment;
mod export;
mod fit;
mod summary;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "kymo's experiments, reports and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reproduce the seed question's story: variants x seeds, statistics, plots, report.
    Experiment(experiment::ExperimentArgs),
    /// Diagnose a model, its data and its training setup.
    Doctor(doctor::DoctorArgs),
    /// Merge an experiment folder's runs (for example from shards) into its report.
    Report {
        /// The experiment's output folder.
        folder: PathBuf,
    },
    /// Training-step throughput of the seed's models in kymo, PyTorch and Keras, side by side.
    Bench(bench::BenchArgs),
    /// One kymo timing as a JSON line (run by `bench` in a child process).
    #[command(hide = true)]
    BenchStep(bench::StepArgs),
    /// Write a model's weights for PyTorch (safetensors, NPY) with the code that loads them.
    Export(export::ExportArgs),
    /// Train a model spec on a CSV with a setup (such as the doctor's `--prescribe` output); writes the best checkpoint with its preprocessing.
    Fit(fit::FitArgs),
    /// Predict a CSV's rows with a checkpoint, in the target's units (one line per row to stdout).
    Predict(fit::PredictArgs),
    /// Write a built-in data set (tablet, tablet2, corn, corn2, corn3) as CSV files.
    Dataset {
        /// Its name.
        name: String,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a model's Keras-like summary with receptive fields.
    Summary {
        /// A built-in model (original, answer, answer_bn) or a .toml/.json spec file.
        model: String,
        /// Input length for built-in models.
        #[arg(long, default_value_t = kymo_layers::zoo::SEED_LENGTH)]
        length: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Experiment(args) => experiment::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Report { folder } => experiment::report::write(&folder).map(|table| {
            println!("{table}");
            println!("report: {}", folder.join("report.md").display());
        }),
        Command::Summary { model, length } => summary::run(&model, length),
        Command::Export(args) => export::run(args),
        Command::Fit(args) => fit::fit(args),
        Command::Predict(args) => fit::predict(args),
        Command::Dataset { name, out } => dataset::run(&name, &out),
        Command::Bench(args) => bench::run(args),
        Command::BenchStep(args) => bench::run_step(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // `{:#}`: every context, outermost first, then the cause.
            eprintln!("error: {message:#}");
            ExitCode::FAILURE
        }
    }
}
