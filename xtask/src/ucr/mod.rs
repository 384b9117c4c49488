//! `cargo xtask experiment --config ucr`: classification on the built-in
//! UCR/UEA sets. Each set's archive split; on it the doctor's prescription
//! (FCN with its authors' recipe, or MiniRocket where MiniRocket wins on
//! held-out training rows), FCN, ResNet and InceptionTime as their authors
//! train them (epochs capped by the profile), MiniRocket and 1-NN, each
//! over seeds, with test accuracy, its spread and the published figure
//! beside it.

mod published;
mod report;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use kymo_baselines::{MiniRocketClassifier, NearestNeighbour};
use kymo_data::datasets::{ucr, UCR_NAMES};
use kymo_doctor::{self as doctor, ClassifierChoice};
use kymo_layers::{zoo, Activation, ArchitectureSpec};
use serde::{Deserialize, Serialize};

/// Scale of a run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct UcrProfile {
    /// Seeds per arm.
    pub seeds: u64,
    /// Epoch caps: FCN (and the prescription), ResNet, InceptionTime.
    pub epochs: [usize; 3],
    /// Networks in the InceptionTime ensemble (its authors: 5).
    pub ensemble: usize,
}

/// The quick profile: about 10 minutes on 2 cores.
const QUICK: UcrProfile = UcrProfile {
    seeds: 2,
    epochs: [100, 60, 60],
    ensemble: 1,
};

/// The committed report's profile.
const FULL: UcrProfile = UcrProfile {
    seeds: 3,
    epochs: [500, 300, 300],
    ensemble: 1,
};

/// One arm on one set: test accuracy per seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// The set.
    pub set: String,
    /// The arm (`prescription`, `fcn`, `resnet`, `inception`, `minirocket`, `1nn`).
    pub arm: String,
    /// Test accuracy per seed.
    pub accuracies: Vec<f64>,
    /// Wall time of all seeds.
    pub seconds: f64,
    /// For the prescription: which tool each seed's verdict chose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

/// Trains zoo model `name` as its authors do (epochs capped) on `train`
/// with `seed` and returns its test accuracy.
fn zoo_accuracy(
    name: &str,
    cap: usize,
    set: &kymo_data::datasets::UcrSet,
    seed: u64,
) -> anyhow::Result<f64> {
    let classes = set.train.classes().map_or(0, <[String]>::len);
    let spec = zoo::architecture_by_name(name, set.train.length())
        .with_context(|| format!("{name} is a zoo model"))?
        .with_input_channels(set.train.channels())
        .with_head(classes, Activation::Softmax)?;
    let mut recipe = kymo_train::authors_recipe(name, set.train.len())
        .with_context(|| format!("{name} has the authors' recipe"))?;
    recipe.epochs = recipe.epochs.min(cap);
    recipe.early_stopping_patience = Some(recipe.epochs);
    let mut trainer = doctor::train_classifier(&spec, &recipe, &set.train, seed)?;
    Ok(doctor::accuracy(&mut trainer, &set.test)?)
}

/// An InceptionTime ensemble of `size` networks (seeds `seed * size ..`):
/// the mean of their class probabilities, as its authors average them.
fn inception_accuracy(
    cap: usize,
    size: usize,
    set: &kymo_data::datasets::UcrSet,
    seed: u64,
) -> anyhow::Result<f64> {
    if size <= 1 {
        return zoo_accuracy("inception", cap, set, seed);
    }
    let classes = set.train.classes().map_or(0, <[String]>::len);
    let spec = ArchitectureSpec::from(zoo::inception(set.train.length()))
        .with_input_channels(set.train.channels())
        .with_head(classes, Activation::Softmax)?;
    let mut recipe =
        kymo_train::authors_recipe("inception", set.train.len()).context("inception recipe")?;
    recipe.epochs = recipe.epochs.min(cap);
    recipe.early_stopping_patience = Some(recipe.epochs);
    let mut total: Option<ndarray::Array2<f32>> = None;
    for member in 0..size as u64 {
        let mut trainer =
            doctor::train_classifier(&spec, &recipe, &set.train, seed * size as u64 + member)?;
        let probabilities = trainer.predict(&set.test)?;
        total = Some(match total {
            Some(sum) => sum + probabilities,
            None => probabilities,
        });
    }
    let total = total.context("an ensemble of at least one")?;
    Ok(kymo_data::Metric::Accuracy.compute(total.view(), set.test.targets()))
}

/// The doctor's prescription on `set` with `seed`: the verdict on held-out
/// training rows, then the chosen tool trained on all of them.
fn prescription_accuracy(
    cap: usize,
    set: &kymo_data::datasets::UcrSet,
    seed: u64,
) -> anyhow::Result<(f64, String)> {
    let (spec, recipe) = doctor::prescribe_classifier(&set.train, Some(cap))?;
    let verdict = doctor::choose_classifier(&spec, &recipe, &set.train, &[seed])?;
    Ok(match verdict.choice {
        ClassifierChoice::Cnn => {
            let mut trainer = doctor::train_classifier(&spec, &recipe, &set.train, seed)?;
            (doctor::accuracy(&mut trainer, &set.test)?, "FCN".into())
        }
        ClassifierChoice::MiniRocket => (
            MiniRocketClassifier::fit(&set.train, seed)?.accuracy(&set.test)?,
            "MiniRocket".into(),
        ),
    })
}

/// Runs every arm on every built-in set and writes `results.json` and
/// `report.md` into `out` (default `target/experiments/ucr-<profile>`).
pub fn run(full: bool, seeds: Option<usize>, out: Option<PathBuf>) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut profile = if full { FULL } else { QUICK };
    if let Some(seeds) = seeds {
        profile.seeds = seeds as u64;
    }
    let name = if full { "full" } else { "quick" };
    let out = out.unwrap_or_else(|| PathBuf::from(format!("target/experiments/ucr-{name}")));
    std::fs::create_dir_all(&out).with_context(|| format!("{}", out.display()))?;
    let mut rows = Vec::new();
    for set_name in UCR_NAMES {
        let set = ucr(set_name).context("built in")??;
        let arms = [
            "prescription",
            "fcn",
            "resnet",
            "inception",
            "minirocket",
            "1nn",
        ];
        for arm in arms {
            let clock = Instant::now();
            let mut accuracies = Vec::new();
            let mut choices = Vec::new();
            let seeds: Vec<u64> = if arm == "1nn" {
                vec![0]
            } else {
                (0..profile.seeds).collect()
            };
            for seed in seeds {
                let accuracy = match arm {
                    "prescription" => {
                        let (accuracy, choice) =
                            prescription_accuracy(profile.epochs[0], &set, seed)?;
                        choices.push(choice);
                        accuracy
                    }
                    "fcn" => zoo_accuracy("fcn", profile.epochs[0], &set, seed)?,
                    "resnet" => zoo_accuracy("resnet", profile.epochs[1], &set, seed)?,
                    "inception" => {
                        inception_accuracy(profile.epochs[2], profile.ensemble, &set, seed)?
                    }
                    "minirocket" => {
                        MiniRocketClassifier::fit(&set.train, seed)?.accuracy(&set.test)?
                    }
                    _ => NearestNeighbour::fit(&set.train)?.accuracy(&set.test)?,
                };
                accuracies.push(accuracy);
            }
            let row = Row {
                set: set_name.to_string(),
                arm: arm.to_string(),
                accuracies,
                seconds: clock.elapsed().as_secs_f64(),
                choices,
            };
            eprintln!(
                "{set_name:>16} {arm:>12}: {:?} ({:.0} s)",
                row.accuracies
                    .iter()
                    .map(|a| (a * 1000.0).round() / 1000.0)
                    .collect::<Vec<_>>(),
                row.seconds
            );
            rows.push(row);
        }
    }
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&rows)?,
    )?;
    let text = report::markdown(&rows, &profile, name, started.elapsed().as_secs_f64());
    std::fs::write(out.join("report.md"), &text)?;
    println!("{text}");
    println!("report: {}", out.join("report.md").display());
    Ok(())
}
