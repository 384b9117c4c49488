//! `cargo xtask bench-minirocket`: kymo's MiniRocket transform against
//! sktime's numba MiniRocket (the reference code's port) on the same
//! seeded signals, the same feature count and the same threads, one after
//! the other in one run.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use kymo_baselines::MiniRocket;
use kymo_tensor::SeededRng;
use ndarray::Array3;
use serde::{Deserialize, Serialize};

use crate::experiment::provenance::Provenance;

/// Options of `cargo xtask bench-minirocket`.
#[derive(Args)]
pub struct MiniRocketArgs {
    /// Threads for both implementations.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Cases as `signals:channels:length` (default: a univariate and a
    /// six-channel set of UCR/UEA size).
    #[arg(long, value_delimiter = ',')]
    pub cases: Vec<String>,
    /// Features (the reference's `num_kernels`).
    #[arg(long, default_value_t = 10_000)]
    pub features: usize,
    /// Timings per figure; the best is kept.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Python interpreter with sktime and numba.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

const DEFAULT_CASES: [&str; 2] = ["1000:1:500", "200:6:500"];
const SCRIPT: &str = "benches/reference/minirocket_numba.py";

/// One implementation's best times.
#[derive(Serialize, Deserialize)]
struct Timing {
    framework: String,
    fit_seconds: f64,
    transform_seconds: f64,
}

#[derive(Serialize)]
struct CaseReport {
    signals: usize,
    channels: usize,
    length: usize,
    timings: Vec<Timing>,
    /// The reference's transform time over kymo's (above 1: kymo is faster).
    transform_speedup: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    provenance: Provenance,
    threads: usize,
    features: usize,
    cases: Vec<CaseReport>,
}

fn parse_case(case: &str) -> anyhow::Result<(usize, usize, usize)> {
    let parts: Vec<&str> = case.split(':').collect();
    let [n, c, l] = parts.as_slice() else {
        anyhow::bail!("case `{case}`: expected signals:channels:length");
    };
    let number = |s: &str| s.parse::<usize>().with_context(|| format!("case `{case}`"));
    Ok((number(n)?, number(c)?, number(l)?))
}

/// Seeded signals: random walks, so each kernel sees structure at every scale.
fn signals(n: usize, c: usize, l: usize) -> Array3<f32> {
    let mut rng = SeededRng::new(0, 0);
    let mut data = Array3::zeros((n, c, l));
    for mut row in data.rows_mut() {
        let mut level = 0.0f32;
        for v in row.iter_mut() {
            level += rng.uniform_in(-1.0, 1.0) as f32;
            *v = level;
        }
    }
    data
}

fn best_of<T>(repeats: usize, mut work: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        work()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn kymo_timing(data: &Array3<f32>, features: usize, repeats: usize) -> anyhow::Result<Timing> {
    let fit_seconds = best_of(repeats, || Ok(MiniRocket::fit(data, features, 0)?))?;
    let model = MiniRocket::fit(data, features, 0)?;
    let transform_seconds = best_of(repeats, || Ok(model.transform(data)?))?;
    Ok(Timing {
        framework: "kymo".into(),
        fit_seconds,
        transform_seconds,
    })
}

fn reference_timing(args: &MiniRocketArgs, data: &Array3<f32>) -> anyhow::Result<Timing> {
    let folder = tempfile_folder()?;
    let path = folder.join("signals.npy");
    ndarray_npy::write_npy(&path, data).with_context(|| format!("{}", path.display()))?;
    let output = Command::new(&args.python)
        .args([SCRIPT, "--signals"])
        .arg(&path)
        .args(["--features", &args.features.to_string()])
        .args(["--threads", &args.threads.to_string()])
        .args(["--repeats", &args.repeats.to_string()])
        .output()
        .with_context(|| format!("running {SCRIPT}"))?;
    let _ = std::fs::remove_dir_all(&folder);
    if !output.status.success() {
        anyhow::bail!(
            "{SCRIPT} failed (pip install sktime numba): {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).with_context(|| format!("{SCRIPT} printed `{line}`"))
}

/// A fresh folder under the system's temporary directory for the signals file.
fn tempfile_folder() -> anyhow::Result<PathBuf> {
    let folder = std::env::temp_dir().join(format!("kymo-minirocket-{}", std::process::id()));
    std::fs::create_dir_all(&folder).with_context(|| format!("{}", folder.display()))?;
    Ok(folder)
}

/// Runs every case and prints the table.
pub fn run(args: MiniRocketArgs) -> anyhow::Result<()> {
    let cases: Vec<(usize, usize, usize)> = if args.cases.is_empty() {
        DEFAULT_CASES
            .iter()
            .map(|c| parse_case(c))
            .collect::<Result<_, _>>()?
    } else {
        args.cases
            .iter()
            .map(|c| parse_case(c))
            .collect::<Result<_, _>>()?
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .context("kymo's thread pool")?;
    let mut reports = Vec::new();
    for (n, c, l) in cases {
        let data = signals(n, c, l);
        eprintln!("kymo {n} x {c} x {l} ...");
        let kymo = pool.install(|| kymo_timing(&data, args.features, args.repeats))?;
        eprintln!("sktime (numba) {n} x {c} x {l} ...");
        let mut timings = vec![kymo];
        match reference_timing(&args, &data) {
            Ok(timing) => timings.push(timing),
            Err(message) => eprintln!("{message:#}"),
        }
        let transform_speedup = timings
            .get(1)
            .map(|reference| reference.transform_seconds / timings[0].transform_seconds);
        reports.push(CaseReport {
            signals: n,
            channels: c,
            length: l,
            timings,
            transform_speedup,
        });
    }
    let report = Report {
        provenance: Provenance::collect(1, args.threads, 0),
        threads: args.threads,
        features: args.features,
        cases: reports,
    };
    print!("{}", table(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("{}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn table(report: &Report) -> String {
    let mut out = format!(
        "\n{} threads, {} features; {}\n\n| signals x channels x length | kymo fit s | kymo transform s | sktime (numba) fit s | sktime transform s | transform: kymo faster by |\n|---|---|---|---|---|---|\n",
        report.threads, report.features, report.provenance.cpu
    );
    for case in &report.cases {
        let seconds = |i: usize, fit: bool| {
            case.timings.get(i).map_or("—".to_string(), |t| {
                format!(
                    "{:.3}",
                    if fit {
                        t.fit_seconds
                    } else {
                        t.transform_seconds
                    }
                )
            })
        };
        out.push_str(&format!(
            "| {} x {} x {} | {} | {} | {} | {} | {} |\n",
            case.signals,
            case.channels,
            case.length,
            seconds(0, true),
            seconds(0, false),
            seconds(1, true),
            seconds(1, false),
            case.transform_speedup
                .map_or("—".to_string(), |r| format!("{r:.2}x")),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_parse_and_bad_ones_are_named() {
        assert_eq!(parse_case("1000:1:500").unwrap(), (1000, 1, 500));
        assert!(parse_case("1000:1")
            .unwrap_err()
            .to_string()
            .contains("1000:1"));
        assert!(parse_case("a:1:2").is_err());
    }

    #[test]
    fn signals_are_seeded_walks() {
        let a = signals(2, 3, 50);
        assert_eq!(a, signals(2, 3, 50));
        assert!(a.iter().all(|v| v.is_finite()));
        assert_ne!(a[[0, 0, 49]], a[[1, 2, 49]]);
    }
}
