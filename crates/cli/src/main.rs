//! `kymo`: train 1D CNNs on signals and find out what is wrong with them,
//! from the command line (`kymo --help`). Install it with
//! `cargo install --path crates/cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod data_files;
mod dataset;
mod doctor;
mod export;
mod fit;
mod pictures;
mod search;
mod summary;

#[derive(Parser)]
#[command(
    name = "kymo",
    version,
    about = "Train 1D CNNs on signals and find out what is wrong with them"
)]
struct Cli {
    /// Threads to compute on (default: every core; results have the same
    /// bits for any count).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Diagnose a model, its data and its training setup; `--prescribe` writes the fix, `--verify` measures it.
    Doctor(doctor::DoctorArgs),
    /// Train a model spec on a CSV or .ts file with a recipe (such as the doctor's `--prescribe` output); writes the best checkpoint with its preprocessing. Class labels (a .ts file, or --classes) train a classifier.
    Fit(fit::FitArgs),
    /// Predict a file's rows with a checkpoint: in the target's units, or a classifier's label and class probabilities (one line per row to stdout).
    Predict(fit::PredictArgs),
    /// Write a built-in data set: NIR spectra (tablet, tablet2, corn, corn2, corn3) as CSV files, or a UCR/UEA classification set (GunPoint, ItalyPowerDemand, Coffee, BasicMotions) as its .ts files.
    Dataset {
        /// Its name.
        name: String,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a model's Keras-like summary with receptive fields.
    Summary {
        /// A built-in model (original, answer, answer_bn, doctor, fcn, resnet, inception), a .toml/.json spec file or a Keras model file (.keras, .h5).
        model: String,
        /// Input length for built-in models, and for a Keras file whose
        /// input length is variable (`Input(shape=(None, channels))`).
        #[arg(long, default_value_t = kymo_layers::zoo::SEED_LENGTH)]
        length: usize,
    },
    /// Write a model's weights for PyTorch (safetensors, NPY) with the code that loads them.
    Export(export::ExportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(threads) = cli.threads {
        kymo_tensor::set_threads(threads);
    }
    let result = match cli.command {
        Command::Doctor(args) => doctor::run(args),
        Command::Fit(args) => fit::fit(args),
        Command::Predict(args) => fit::predict(args),
        Command::Dataset { name, out } => dataset::run(&name, &out),
        Command::Summary { model, length } => summary::run(&model, length),
        Command::Export(args) => export::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// Every context of `error`, outermost first, then the cause, joined by
/// `: `; a cause whose text the message before it already ends with is
/// left out (kymo's typed errors print their source inside their own
/// message, where `{:#}` would print it twice).
fn error_chain(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.ends_with(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("model.keras: {source}")]
    struct Wrapping {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_its_message_is_printed_once() {
        let inner = std::io::Error::other("layer 'x': class `LSTM` is not supported");
        let error = anyhow::Error::new(Wrapping { source: inner }).context("reading the model");
        assert_eq!(
            error_chain(&error),
            "reading the model: model.keras: layer 'x': class `LSTM` is not supported"
        );
    }
}
