//! Merges an experiment folder's runs into `summary.csv`, plots and
//! `report.md` (also `cargo xtask report <folder>`, which merges shards).

use anyhow::Context as _;
use std::fmt::Write as _;
use std::path::Path;

use super::baselines::Baseline;
use super::config::Experiment;
use super::plots;
use super::run::RunResult;
use super::stats::{summarise, Spread, VariantSummary};

/// What the runner leaves beside the runs for the report.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Context {
    /// Data description.
    pub source: String,
    /// Validation MSE of predicting the training mean.
    pub mean_val_mse: f64,
    /// Test MSE of predicting the training mean.
    pub mean_test_mse: f64,
    /// Ridge baseline.
    pub ridge: Baseline,
    /// PLS baseline (single-target data).
    #[serde(default)]
    pub pls: Option<Baseline>,
    /// MiniRocket baseline (single-channel data).
    #[serde(default)]
    pub minirocket: Option<Baseline>,
    /// The target's unit.
    #[serde(default)]
    pub unit: String,
    /// The target's standard deviation on the training rows: RMSE in units
    /// is `sqrt(MSE) * target_scale`.
    #[serde(default = "one")]
    pub target_scale: f64,
    /// Profile name.
    pub profile: String,
    /// Epochs per run.
    pub epochs: usize,
    /// Seeds per variant.
    pub seeds: usize,
    /// Wall seconds of the last invocation.
    pub seconds: f64,
}

fn one() -> f64 {
    1.0
}

fn load_runs(folder: &Path) -> anyhow::Result<Vec<RunResult>> {
    let mut runs = Vec::new();
    let runs_dir = folder.join("runs");
    let variants =
        std::fs::read_dir(&runs_dir).with_context(|| format!("{}", runs_dir.display()))?;
    for variant in variants.flatten() {
        for file in std::fs::read_dir(variant.path())?.flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("{}", path.display()))?;
                runs.push(
                    serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?,
                );
            }
        }
    }
    runs.sort_by(|a: &RunResult, b: &RunResult| {
        (a.variant.as_str(), a.seed).cmp(&(b.variant.as_str(), b.seed))
    });
    Ok(runs)
}

fn fmt(value: f64) -> String {
    if !value.is_finite() {
        "∞".into()
    } else if value != 0.0 && (value.abs() >= 1e4 || value.abs() < 1e-3) {
        format!("{value:.2e}")
    } else {
        format!("{value:.4}")
    }
}

fn spread(s: &Spread) -> String {
    format!("{} [{} – {}]", fmt(s.median), fmt(s.p25), fmt(s.p75))
}

/// The baselines the context holds, by name.
fn baselines(context: &Context) -> Vec<(&'static str, &Baseline)> {
    let mut list = vec![("ridge", &context.ridge)];
    if let Some(b) = &context.pls {
        list.push(("PLS", b));
    }
    if let Some(b) = &context.minirocket {
        list.push(("MiniRocket", b));
    }
    list
}

/// Writes the summary CSV, the plots and the report; returns the terminal table.
pub fn write(folder: &Path) -> anyhow::Result<String> {
    let experiment = Experiment::load(&folder.join("config.toml").to_string_lossy())?;
    let context: Context = serde_json::from_str(
        &std::fs::read_to_string(folder.join("context.json"))
            .with_context(|| format!("{}", folder.display()))?,
    )?;
    let runs = load_runs(folder)?;
    let names: Vec<String> = experiment.variants.iter().map(|v| v.name.clone()).collect();
    let summaries: Vec<VariantSummary> = names
        .iter()
        .map(|name| {
            summarise(
                name,
                &runs
                    .iter()
                    .filter(|r| &r.variant == name)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();

    let mut csv = csv::Writer::from_path(folder.join("summary.csv"))?;
    csv.write_record([
        "variant",
        "seed",
        "epochs_run",
        "best_epoch",
        "test_mse_final",
        "test_mse_best",
        "absurd_epochs",
        "volatility",
        "blew_up",
        "seconds",
    ])?;
    for r in &runs {
        csv.write_record([
            r.variant.clone(),
            r.seed.to_string(),
            r.epochs.len().to_string(),
            (r.best_epoch + 1).to_string(),
            r.test_mse_final.to_string(),
            r.test_mse_best.to_string(),
            r.absurd_epochs.to_string(),
            r.volatility.to_string(),
            r.blew_up.to_string(),
            format!("{:.1}", r.seconds),
        ])?;
    }
    for (name, baseline) in baselines(&context) {
        csv.write_record([
            name.to_string(),
            String::new(),
            String::new(),
            String::new(),
            baseline.test_mse.to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ])?;
    }
    csv.flush()?;

    plots::validation_curves(
        &folder.join("validation_loss.png"),
        &names,
        &runs,
        context.mean_val_mse,
    )?;
    plots::test_error(
        &folder.join("test_error.png"),
        &summaries,
        &runs,
        context.ridge.test_mse,
        context.mean_test_mse,
    )?;

    let mut table = String::new();
    let _ = writeln!(
        table,
        "| variant | runs | test MSE, final weights | test MSE, best-val weights | test RMSE ({}), best-val weights | absurd epochs | val-loss volatility | blew up | samples/s |",
        context.unit
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|---|---|---|");
    for s in &summaries {
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {:.0}% | {:.0} |",
            s.variant,
            s.runs,
            spread(&s.test_mse_final),
            spread(&s.test_mse_best),
            spread(&s.test_rmse_best),
            spread(&s.absurd_epochs),
            spread(&s.volatility),
            100.0 * s.blow_up_fraction,
            s.samples_per_second
        );
    }
    for (name, b) in baselines(&context) {
        let runs = b.test_mse_seeds.len().max(1);
        let spread_text = if b.test_mse_seeds.len() > 1 {
            let s = Spread::of(&b.test_mse_seeds);
            let rmse = |m: f64| m.sqrt() * context.target_scale;
            format!(
                "{} [{} – {}]",
                fmt(rmse(s.median)),
                fmt(rmse(s.p25)),
                fmt(rmse(s.p75))
            )
        } else {
            fmt(b.test_rmse)
        };
        let _ = writeln!(
            table,
            "| {name} ({}) | {runs} | {} | — | {spread_text} | — | — | — | — |",
            b.chosen,
            fmt(b.test_mse)
        );
    }
    let _ = writeln!(
        table,
        "| predicting the training mean | — | {} | — | {} | — | — | — | — |",
        fmt(context.mean_test_mse),
        fmt(context.mean_test_mse.sqrt() * context.target_scale)
    );

    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Experiment `{}` ({} profile)\n",
        experiment.name, context.profile
    );
    let _ = writeln!(
        report,
        "{} epochs and Adam (lr {}) unless a variant sets its own budget (AdamW where it sets weight decay), {} seeds per variant, MSE loss. Data: {}. Targets are standardized on the training split, so a test MSE of 1 is about what predicting the mean scores and the MSE is the fraction of the target's variance left unexplained; RMSE is in the target's own units ({}). Baselines: ridge (penalty chosen on validation), PLS (components chosen by 5-fold cross-validation on the training rows), MiniRocket (about 10,000 features into ridge, penalty chosen on validation; median and quartiles over seeds).\n",
        context.epochs, experiment.learning_rate, context.seeds, context.source, context.unit
    );
    let _ = writeln!(
        report,
        "## Results\n\nMedian [25th – 75th percentile] over seeds.\n\n{table}"
    );
    let _ = writeln!(
        report,
        "- *absurd epochs*: epochs whose validation MSE exceeded that of predicting the training mean ({}).\n- *volatility*: root mean square of log10(val_loss[t] / val_loss[t-1]); 0.3 means typical swings of 2x between epochs.\n- *blew up*: a run whose validation MSE went non-finite or above ten times the mean predictor's at any epoch.\n",
        fmt(context.mean_val_mse)
    );
    let _ = writeln!(report, "![validation loss per epoch](validation_loss.png)\n\n![test error per variant](test_error.png)\n");
    let _ = writeln!(report, "## Variants\n");
    for v in &experiment.variants {
        let _ = writeln!(report, "- `{}`: {}", v.name, v.description);
    }
    let _ = writeln!(
        report,
        "\nFiles: `summary.csv` (one row per run), `runs/<variant>/seed<k>.csv` (per epoch), `config.toml` (the resolved experiment), `provenance.json`."
    );
    std::fs::write(folder.join("report.md"), report)?;
    Ok(table)
}
