//! `cargo xtask experiment`: runs every (variant, seed) of an experiment,
//! skipping finished runs, then writes the report.

mod baselines;
mod config;
mod data;
mod nullable;
pub(crate) mod plots;
mod prescription;
pub mod provenance;
pub mod report;
mod run;
mod stats;

use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

pub use config::Experiment;

/// Command-line options of `cargo xtask experiment`.
#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// A built-in experiment (`seed`, `zoo`, `tablet`, `corn`, or `ucr`
    /// for classification on the built-in UCR/UEA sets) or a TOML file.
    #[arg(long, default_value = "seed")]
    pub config: String,
    /// Run the `full` profile (the committed report's scale) instead of `quick`.
    #[arg(long)]
    pub full: bool,
    /// Seeds per variant (overrides the profile).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Epochs per run (overrides the profile).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Synthetic samples drawn (overrides the profile).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Output folder (default `target/experiments/<name>-<profile>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Runs trained in parallel (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Your own data: a CSV file, one sample per row.
    #[arg(long, requires = "target")]
    pub data: Option<PathBuf>,
    /// The target column of `--data`, by header name or 0-based index.
    #[arg(long)]
    pub target: Option<String>,
    /// Run only every n-th run, starting at i (`--shard i/n`), for job arrays.
    #[arg(long)]
    pub shard: Option<String>,
}

fn parse_shard(text: &str) -> anyhow::Result<(usize, usize)> {
    let (i, n) = text
        .split_once('/')
        .with_context(|| format!("--shard {text}: expected i/n, such as 0/4"))?;
    let (i, n): (usize, usize) = (
        i.parse()
            .map_err(|_| anyhow::anyhow!("--shard {text}: bad index"))?,
        n.parse()
            .map_err(|_| anyhow::anyhow!("--shard {text}: bad count"))?,
    );
    if n == 0 || i >= n {
        anyhow::bail!("--shard {text}: need 0 <= i < n");
    }
    Ok((i, n))
}

/// Runs the experiment and prints where its report is.
pub fn run(args: ExperimentArgs) -> anyhow::Result<()> {
    if args.config == "ucr" {
        return crate::ucr::run(args.full, args.seeds, args.out);
    }
    let started = std::time::Instant::now();
    let experiment = Experiment::load(&args.config)?;
    let profile_name = if args.full { "full" } else { "quick" };
    let mut profile = *experiment.profiles.get(profile_name).with_context(|| {
        format!(
            "experiment `{}` has no `{profile_name}` profile",
            experiment.name
        )
    })?;
    profile.seeds = args.seeds.unwrap_or(profile.seeds);
    profile.epochs = args.epochs.unwrap_or(profile.epochs);
    profile.samples = args.samples.unwrap_or(profile.samples);
    let mut resolved = experiment.clone();
    resolved.profiles = [(profile_name.to_string(), profile)].into_iter().collect();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "target/experiments/{}-{profile_name}",
            experiment.name
        ))
    });
    let csv = args.data.as_deref().zip(args.target.as_deref());
    let config_hash =
        crc32fast::hash(format!("{}\n# data: {:?}\n", resolved.to_toml(), csv).as_bytes());
    // A run is redone only when what it depends on changes: the data, the
    // profile, the learning rate and its own variant, not its neighbours.
    let run_hash = |variant: &config::Variant| {
        let shared = (
            &resolved.data,
            &profile,
            resolved.learning_rate,
            resolved.validation_split,
            resolved.test_fraction,
        );
        crc32fast::hash(format!("{shared:?}\n{variant:?}\n{csv:?}").as_bytes())
    };

    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let jobs = args.jobs.unwrap_or(cpus).max(1);
    // Runs in parallel each use one GEMM thread; a single job gets them all.
    // Results are bit-identical either way.
    let gemm_threads = if jobs == 1 { cpus } else { 1 };
    kymo_tensor::set_threads(gemm_threads);
    let splits = data::splits(&resolved, &profile, csv)?;
    let default_pipeline = data::pipeline(resolved.preprocessing.as_deref())?;
    let prepared = data::prepare(&splits, &default_pipeline)?;
    let baseline_seeds = profile.seeds.clamp(1, 5);
    let ridge = baselines::ridge(&prepared)?;
    let pls = baselines::pls(&prepared)?;
    let minirocket = baselines::minirocket(&prepared, baseline_seeds)?;
    eprintln!(
        "data: {} train / {} validation / {} test samples; test RMSE ({}): ridge {:.4}, PLS {}, MiniRocket {} (mean predictor {:.4})",
        prepared.train.len(),
        prepared.validation.len(),
        prepared.test.len(),
        prepared.unit,
        ridge.test_rmse,
        pls.as_ref().map_or("-".into(), |b| format!("{:.4}", b.test_rmse)),
        minirocket.as_ref().map_or("-".into(), |b| format!("{:.4}", b.test_rmse)),
        prepared.rmse_in_units(prepared.mean_test_mse)
    );

    // The prescription variant takes the doctor's live output on these
    // training rows; every variant gets the data its preprocessing makes.
    let mut variants = Vec::new();
    let mut models = Vec::new();
    for variant in &resolved.variants {
        let (variant, spec) = prescription::materialize(variant, &splits, resolved.learning_rate)?;
        variants.push(variant);
        models.push(spec);
    }
    if args.epochs.is_some() {
        // `--epochs` is every run's budget, the prescription's included.
        for variant in &mut variants {
            variant.recipe.remove("epochs");
        }
    }
    // Every variant's recipe checked (and written out whole in
    // config.toml) before any run starts.
    let mut recipes = Vec::new();
    for variant in &mut variants {
        let recipe = variant.recipe(resolved.learning_rate, profile.epochs)?;
        *variant = variant.with_recipe(&recipe)?;
        recipes.push(recipe);
    }
    resolved.variants = variants;
    let mut data_for: std::collections::BTreeMap<String, data::Prepared> = Default::default();
    for recipe in &recipes {
        let key = recipe.preprocessing.clone().unwrap_or_default();
        if recipe.preprocessing.is_some() && !data_for.contains_key(&key) {
            let pipeline = data::pipeline(Some(&key))?;
            data_for.insert(key, data::prepare(&splits, &pipeline)?);
        }
    }
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    // Only now, with the data read and every model resolved, does the
    // output folder get its files: a bad data file or spec leaves nothing
    // behind that a rerun would trust.
    std::fs::create_dir_all(&out).with_context(|| format!("{}", out.display()))?;
    std::fs::write(out.join("config.toml"), resolved.to_toml())?;
    let provenance = provenance::Provenance::collect(jobs, gemm_threads, config_hash);
    std::fs::write(
        out.join("provenance.json"),
        serde_json::to_string_pretty(&provenance)?,
    )?;

    // Seed-major order: an interrupted experiment has every variant at the
    // seeds it finished.
    let variant_count = resolved.variants.len();
    let all: Vec<(usize, u64)> = (0..profile.seeds as u64)
        .flat_map(|s| (0..variant_count).map(move |v| (v, s)))
        .collect();
    let mine: Vec<(usize, u64)> = all
        .iter()
        .enumerate()
        .filter(|(k, _)| shard.is_none_or(|(i, n)| k % n == i))
        .map(|(_, r)| *r)
        .collect();
    let pending: Vec<(usize, u64)> = mine
        .iter()
        .copied()
        .filter(|(v, s)| {
            let (json, _, _) = run::run_paths(&out, &resolved.variants[*v].name, *s);
            run::load_done(&json, run_hash(&resolved.variants[*v])).is_none()
        })
        .collect();
    eprintln!(
        "{} runs in this {}; {} already done, {} to train with {jobs} parallel job(s)",
        mine.len(),
        if shard.is_some() {
            "shard"
        } else {
            "experiment"
        },
        mine.len() - pending.len(),
        pending.len()
    );
    let bar = ProgressBar::new(pending.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} runs, {elapsed} elapsed, ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(pending.len().max(1)) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(v, seed)) = pending.get(k) else { break };
                let (variant, recipe) = (&resolved.variants[v], &recipes[v]);
                let data = recipe
                    .preprocessing
                    .as_ref()
                    .and_then(|k| data_for.get(k))
                    .unwrap_or(&prepared);
                let hash = run_hash(variant);
                match run::run(&out, data, variant, recipe, &models[v], seed, hash) {
                    Ok(r) => {
                        let line = format!(
                            "{:<18} seed {seed}: test MSE {:.4} (best-val weights {:.4}, RMSE {:.4}), {} absurd epochs, {:.0}s",
                            r.variant, r.test_mse_final, r.test_mse_best, r.test_rmse_best, r.absurd_epochs, r.seconds
                        );
                        // A hidden bar (output is not a terminal) drops println.
                        if bar.is_hidden() {
                            eprintln!("{line}");
                        } else {
                            bar.println(line);
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failures.lock() {
                            f.push(format!("{} seed {seed}: {e}", variant.name));
                        }
                    }
                }
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let failures = failures.into_inner().unwrap_or_default();
    if !failures.is_empty() {
        anyhow::bail!("{} run(s) failed:\n{}", failures.len(), failures.join("\n"));
    }
    let context = report::Context {
        source: prepared.source.clone(),
        mean_val_mse: prepared.mean_val_mse,
        mean_test_mse: prepared.mean_test_mse,
        ridge,
        pls,
        minirocket,
        unit: prepared.unit.clone(),
        target_scale: prepared.preprocessor.target_scale(),
        profile: profile_name.into(),
        epochs: profile.epochs,
        seeds: profile.seeds,
        seconds: started.elapsed().as_secs_f64(),
    };
    std::fs::write(
        out.join("context.json"),
        serde_json::to_string_pretty(&context)?,
    )?;
    if shard.is_some() {
        println!(
            "shard done in {:.0}s; when every shard is done: cargo xtask report {}",
            started.elapsed().as_secs_f64(),
            out.display()
        );
        return Ok(());
    }
    let table = report::write(&out)?;
    println!("{table}");
    println!(
        "report: {} ({:.0}s)",
        out.join("report.md").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
