//! `cargo xtask`: kymo's task runner (see `cargo xtask --help`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod summary;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "kymo's experiments, reports and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a model's Keras-like summary with receptive fields.
    Summary {
        /// A built-in model (original, answer, answer_bn) or a .toml/.json spec file.
        model: String,
        /// Input length for built-in models.
        #[arg(long, default_value_t = kymo_layers::zoo::SEED_LENGTH)]
        length: usize,
    },
    /// Reproduce the seed question's story (not built yet).
    Experiment {
        /// Output folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Summary { model, length } => summary::run(&model, length),
        Command::Experiment { .. } => {
            Err("the experiment is not built yet (issue: `cargo xtask experiment`)".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
