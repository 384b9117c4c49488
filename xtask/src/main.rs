//! `cargo xtask`: kymo's developer tasks (see `cargo xtask --help`): the
//! experiment, its report, the benchmark against PyTorch and Keras. What a
//! user runs (doctor, fit, predict, dataset, summary, export) is the `kymo`
//! command of crates/cli.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod experiment;
mod ucr;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "kymo's experiments, reports and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reproduce the seed question's story: variants x seeds, statistics, plots, report.
    Experiment(experiment::ExperimentArgs),
    /// Merge an experiment folder's runs (for example from shards) into its report.
    Report {
        /// The experiment's output folder.
        folder: PathBuf,
    },
    /// Training-step throughput of the seed's models in kymo, PyTorch and Keras, side by side.
    Bench(bench::BenchArgs),
    /// kymo's MiniRocket transform against sktime's numba MiniRocket, side by side.
    BenchMinirocket(bench::minirocket::MiniRocketArgs),
    /// One kymo timing as a JSON line (run by `bench` in a child process).
    #[command(hide = true)]
    BenchStep(bench::StepArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Experiment(args) => experiment::run(args),
        Command::Report { folder } => experiment::report::write(&folder).map(|table| {
            println!("{table}");
            println!("report: {}", folder.join("report.md").display());
        }),
        Command::Bench(args) => bench::run(args),
        Command::BenchStep(args) => bench::run_step(args),
        Command::BenchMinirocket(args) => bench::minirocket::run(args),
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
