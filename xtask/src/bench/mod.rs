//! `cargo xtask bench`: training-step throughput of the seed's models in
//! kymo, PyTorch and Keras, one after the other on this machine, with the
//! ratios, the GFLOP/s against the measured sgemm rate, and peak memory.

mod flops;
pub mod minirocket;
mod rounds;
mod scaling;
pub mod step;

use anyhow::Context as _;
use std::path::PathBuf;
use std::process::Command;

use clap::Args;
use kymo_layers::zoo;
use serde::Serialize;

use crate::experiment::provenance::Provenance;
use step::StepTiming;

/// Options of `cargo xtask bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Threads for every framework.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Timed seconds per framework and case.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Only these cases, as `model:batch` (default: the five).
    #[arg(long, value_delimiter = ',')]
    pub cases: Vec<String>,
    /// Python interpreter for the reference scripts.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Skip PyTorch and Keras.
    #[arg(long)]
    pub kymo_only: bool,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Time every case this many times (each round runs every case, kymo
    /// then the peers): the table gives each framework's median rate and
    /// the median and range of the rounds' ratios.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// What each timed step is: head, training or inference, length.
    #[command(flatten)]
    pub kind: StepKind,
    /// Cost against length: ResNet and InceptionTime training steps at
    /// batch 8 at each of `--lengths`, time per sample and peak memory of
    /// each framework, a table and a plot (`--plot`).
    #[arg(long)]
    pub scaling: bool,
    /// The signal lengths of `--scaling`.
    #[arg(long, value_delimiter = ',', default_values_t = [1024, 4096, 16384, 65536])]
    pub lengths: Vec<usize>,
    /// Where `--scaling` draws its plot (PNG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// What a timed step is, the same for `bench`, its kymo child and the
/// peers' scripts (which take the same flags).
#[derive(Args, Clone, Copy)]
pub struct StepKind {
    /// Classify into this many classes: a `Dense(classes, softmax)` head
    /// and categorical cross-entropy on one-hot targets, in every
    /// framework (0: the regression head and MSE).
    #[arg(long, default_value_t = 0)]
    pub classes: usize,
    /// Time inference instead of training: forward passes in inference
    /// mode (PyTorch under `torch.inference_mode`, Keras's
    /// `predict_on_batch`), with the time per batch (at batch 1, the
    /// latency).
    #[arg(long)]
    pub predict: bool,
    /// Signal length of every case (default: the question's 1040).
    #[arg(long, default_value_t = zoo::SEED_LENGTH)]
    pub length: usize,
}

/// Hidden child command: one kymo timing as a JSON line.
#[derive(Args)]
pub struct StepArgs {
    /// Seed model.
    #[arg(long)]
    pub model: String,
    /// Batch size.
    #[arg(long)]
    pub batch: usize,
    /// GEMM threads.
    #[arg(long)]
    pub threads: usize,
    /// Timed seconds.
    #[arg(long)]
    pub seconds: f64,
    /// What the step is.
    #[command(flatten)]
    pub kind: StepKind,
    /// Let every convolution of a graph keep its own input, never
    /// recomputing it in backward (to measure what recomputation costs).
    #[arg(long)]
    pub keep_inputs: bool,
    /// Recompute whatever a graph can, whatever it saves.
    #[arg(long, conflicts_with = "keep_inputs")]
    pub recompute_always: bool,
    /// Never checkpoint a graph's segments (to measure what replaying
    /// them costs).
    #[arg(long)]
    pub no_checkpoints: bool,
    /// Checkpoint a graph's segments whatever that frees.
    #[arg(long, conflicts_with = "no_checkpoints")]
    pub checkpoint_always: bool,
    /// Run layer by layer, without fusing each convolution with the
    /// BatchNormalization and activation after it in inference, or a
    /// graph's BatchNormalization with its ReLU in training (to measure
    /// what the fusions save).
    #[arg(long)]
    pub unfused: bool,
}

impl StepArgs {
    /// The recomputation and checkpointing the flags ask for.
    fn keeping(&self) -> step::Keeping {
        let choice = |never: bool, always: bool| match (never, always) {
            (true, _) => Some(None),
            (_, true) => Some(Some(0)),
            _ => None,
        };
        step::Keeping {
            recompute_above: choice(self.keep_inputs, self.recompute_always),
            checkpoint_above: choice(self.no_checkpoints, self.checkpoint_always),
            unfused: self.unfused,
        }
    }
}

const DEFAULT_CASES: [(&str, usize); 5] = [
    ("original", 1),
    ("original", 32),
    ("answer", 1),
    ("answer", 32),
    ("answer_bn", 32),
];

/// A peer framework: its script and how to install it.
struct Peer {
    name: &'static str,
    script: &'static str,
    module: &'static str,
    install: &'static str,
}

const PEERS: [Peer; 2] = [
    Peer {
        name: "pytorch",
        script: "benches/reference/torch_step.py",
        module: "torch",
        install: "pip install torch numpy",
    },
    Peer {
        name: "keras",
        script: "benches/reference/keras_step.py",
        module: "tensorflow",
        install: "pip install tensorflow-cpu keras",
    },
];

/// One case's figures, as `--json` writes them.
#[derive(Serialize)]
pub(crate) struct CaseReport {
    model: String,
    batch: usize,
    length: usize,
    gflop_per_sample: f64,
    timings: Vec<StepTiming>,
    /// kymo's samples/s over the faster peer's: the median of the rounds'.
    ratio_to_fastest_peer: Option<f64>,
    /// Each round's ratio (one round unless `--rounds`).
    round_ratios: Vec<f64>,
    /// kymo's achieved GFLOP/s over the measured sgemm rate.
    fraction_of_sgemm: f64,
    /// kymo's Conv1D layers' effective GFLOP/s over the measured sgemm rate.
    conv_fraction_of_sgemm: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    provenance: Provenance,
    /// Classes of the softmax head; 0 for regression.
    classes: usize,
    /// Whether inference was timed rather than training steps.
    predict: bool,
    threads: usize,
    /// Times each case was timed (`--rounds`).
    rounds: u32,
    sgemm_gflops: f64,
    sgemm_shape: [usize; 3],
    missing_peers: Vec<String>,
    cases: Vec<CaseReport>,
}

/// Runs the child command: prints one JSON line.
pub fn run_step(args: StepArgs) -> anyhow::Result<()> {
    let timing = step::run(
        &args.model,
        args.batch,
        args.kind,
        args.threads,
        args.seconds,
        args.keeping(),
    )?;
    println!("{}", serde_json::to_string(&timing)?);
    Ok(())
}

/// The cases to run, as (model, batch, length): `--scaling`'s grid, else
/// `--cases` (or the defaults) at `--length`.
fn plan(args: &BenchArgs) -> anyhow::Result<Vec<(String, usize, usize)>> {
    if args.scaling {
        return Ok(scaling::MODELS
            .iter()
            .flat_map(|model| {
                args.lengths
                    .iter()
                    .map(move |&length| (model.to_string(), scaling::BATCH, length))
            })
            .collect());
    }
    Ok(parse_cases(&args.cases)?
        .into_iter()
        .map(|(model, batch)| (model, batch, args.kind.length))
        .collect())
}

fn parse_cases(cases: &[String]) -> anyhow::Result<Vec<(String, usize)>> {
    if cases.is_empty() {
        return Ok(DEFAULT_CASES
            .iter()
            .map(|(m, b)| (m.to_string(), *b))
            .collect());
    }
    cases
        .iter()
        .map(|case| {
            let (model, batch) = case
                .split_once(':')
                .with_context(|| format!("case `{case}`: expected model:batch"))?;
            let batch = batch.parse().with_context(|| format!("case `{case}`"))?;
            Ok((model.to_string(), batch))
        })
        .collect()
}

/// Runs `program args` and parses the last line of its output as a timing.
fn timing_from(mut command: Command, what: &str) -> anyhow::Result<StepTiming> {
    let output = command.output().with_context(|| what.to_string())?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        anyhow::bail!(
            "{what} failed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).map_err(|e| anyhow::anyhow!("{what}: {e} in `{line}`"))
}

fn peer_installed(python: &str, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The flags of one timed case, which `bench-step` and the peers' scripts
/// all take.
fn step_flags(args: &BenchArgs, model: &str, batch: usize, length: usize) -> Vec<String> {
    let mut flags: Vec<String> = [
        ("--model", model.to_string()),
        ("--batch", batch.to_string()),
        ("--threads", args.threads.to_string()),
        ("--seconds", args.seconds.to_string()),
        ("--classes", args.kind.classes.to_string()),
        ("--length", length.to_string()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_string(), value])
    .collect();
    if args.kind.predict {
        flags.push("--predict".into());
    }
    flags
}

/// Runs every case and prints the table.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let cases = plan(&args)?;
    let exe = std::env::current_exe()?;
    let mut missing_peers = Vec::new();
    let peers: Vec<&Peer> = if args.kymo_only {
        Vec::new()
    } else {
        PEERS
            .iter()
            .filter(|peer| {
                let installed = peer_installed(&args.python, peer.module);
                if !installed {
                    eprintln!(
                        "{} is not installed ({}); left out",
                        peer.name, peer.install
                    );
                    missing_peers.push(format!("{}: {}", peer.name, peer.install));
                }
                installed
            })
            .collect()
    };
    // The conv3 GEMM of the question's model: 128 x (64*40) x 1040.
    let sgemm_shape = [128, 2560, 1040];
    let sgemm = flops::sgemm_gflops(sgemm_shape[0], sgemm_shape[1], sgemm_shape[2], args.threads);
    eprintln!(
        "sgemm {}x{}x{} on {} threads: {sgemm:.1} GFLOP/s",
        sgemm_shape[0], sgemm_shape[1], sgemm_shape[2], args.threads
    );

    // Rounds outermost, so that each case's timings spread over the run.
    let mut measured: Vec<Vec<Vec<StepTiming>>> = vec![Vec::new(); cases.len()];
    for round in 1..=args.rounds {
        for ((model, batch, length), rounds) in cases.iter().zip(&mut measured) {
            let flags = step_flags(&args, model, *batch, *length);
            let mut timings = Vec::new();
            let mut command = Command::new(&exe);
            command.arg("bench-step").args(&flags);
            eprintln!("round {round}: kymo {model} batch {batch} length {length} ...");
            timings.push(timing_from(command, "kymo")?);
            for peer in &peers {
                eprintln!("round {round}: {} {model} batch {batch} ...", peer.name);
                let mut command = Command::new(&args.python);
                command.arg(peer.script).args(&flags);
                match timing_from(command, peer.name) {
                    Ok(timing) => timings.push(timing),
                    Err(message) => eprintln!("{message}"),
                }
            }
            rounds.push(timings);
        }
    }
    let mut reports = Vec::new();
    for ((model, batch, length), rounds) in cases.iter().zip(&measured) {
        let spec = zoo::architecture_by_name(model, *length)
            .with_context(|| format!("unknown model {model}"))?;
        let built = spec.build::<f32>(0)?;
        let training_gflop = flops::training_flops_per_sample(built.as_ref()) / 1e9;
        // A training step is the forward product and two backward ones.
        let gflop = if args.kind.predict {
            training_gflop / 3.0
        } else {
            training_gflop
        };
        let timings = rounds::median_timings(rounds);
        let kymo = timings
            .iter()
            .find(|t| t.framework == "kymo")
            .context("kymo timed every round")?;
        let round_ratios = rounds::round_ratios(rounds);
        reports.push(CaseReport {
            model: model.clone(),
            batch: *batch,
            length: *length,
            gflop_per_sample: gflop,
            ratio_to_fastest_peer: rounds::spread(&round_ratios).map(|s| s.median),
            fraction_of_sgemm: kymo.samples_per_second * gflop / sgemm,
            conv_fraction_of_sgemm: kymo.conv_gflops.map(|rate| rate / sgemm),
            round_ratios,
            timings,
        });
    }
    let report = Report {
        provenance: Provenance::collect(1, args.threads, 0),
        classes: args.kind.classes,
        predict: args.kind.predict,
        threads: args.threads,
        rounds: args.rounds,
        sgemm_gflops: sgemm,
        sgemm_shape,
        missing_peers,
        cases: reports,
    };
    if args.scaling {
        print!("{}", scaling::table(&report.cases));
        if let Some(path) = &args.plot {
            scaling::plot(&report.cases, path)?;
            eprintln!("wrote {}", path.display());
        }
    } else {
        print!("{}", table(&report));
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("{}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The ratio's cell: `1.43x`, or over several rounds the median and the
/// range, `1.43x [1.21–1.60]`.
fn ratio_cell(case: &CaseReport) -> String {
    match rounds::spread(&case.round_ratios) {
        None => "—".to_string(),
        Some(s) if case.round_ratios.len() == 1 => format!("{:.2}x", s.median),
        Some(s) => format!("{:.2}x [{:.2}–{:.2}]", s.median, s.low, s.high),
    }
}

fn table(report: &Report) -> String {
    let head = match report.classes {
        0 => "Dense(1) head, MSE".to_string(),
        k => format!("Dense({k}, softmax) head, categorical cross-entropy"),
    };
    let what = if report.predict {
        "inference (forward passes; samples/s and ms per batch)"
    } else {
        "training steps"
    };
    let rounds = match report.rounds {
        1 => String::new(),
        n => format!("; {n} rounds: median rates, ratio's median [range]"),
    };
    let mut out = format!(
        "\n{what}; {head}; {} threads{rounds}; sgemm {}x{}x{}: {:.1} GFLOP/s; {}\n\n",
        report.threads,
        report.sgemm_shape[0],
        report.sgemm_shape[1],
        report.sgemm_shape[2],
        report.sgemm_gflops,
        report.provenance.cpu
    );
    out.push_str("| model | batch | GFLOP/sample | kymo samples/s | PyTorch | Keras | kymo / faster peer | kymo GFLOP/s (of sgemm) | kymo convs GFLOP/s (of sgemm) | peak MiB kymo / PyTorch / Keras |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for case in &report.cases {
        let find = |name: &str| case.timings.iter().find(|t| t.framework == name);
        let rate = |name: &str| {
            find(name).map_or("—".to_string(), |t| match report.predict {
                true => format!(
                    "{:.1} ({:.2} ms)",
                    t.samples_per_second,
                    1e3 * case.batch as f64 / t.samples_per_second
                ),
                false => format!("{:.1}", t.samples_per_second),
            })
        };
        let memory =
            |name: &str| find(name).map_or("—".to_string(), |t| format!("{:.0}", t.peak_rss_mb));
        let kymo_gflops = case.fraction_of_sgemm * report.sgemm_gflops;
        let conv = case.conv_fraction_of_sgemm.map_or("—".to_string(), |f| {
            format!("{:.1} ({:.0}%)", f * report.sgemm_gflops, 100.0 * f)
        });
        out.push_str(&format!(
            "| {} | {} | {:.3} | {} | {} | {} | {} | {:.1} ({:.0}%) | {} | {} / {} / {} |\n",
            case.model,
            case.batch,
            case.gflop_per_sample,
            rate("kymo"),
            rate("pytorch"),
            rate("keras"),
            ratio_cell(case),
            kymo_gflops,
            100.0 * case.fraction_of_sgemm,
            conv,
            memory("kymo"),
            memory("pytorch"),
            memory("keras"),
        ));
    }
    out
}
