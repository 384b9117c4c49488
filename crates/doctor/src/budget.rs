//! The training budget and preprocessing the doctor prescribes, derived
//! from the data rather than fixed: a batch size no larger than a small
//! fraction of the training set, enough optimizer steps for the model to
//! converge at that batch size, a plateau schedule and patience that fit
//! the budget, weight decay, and the preprocessing that pays on
//! validation.

use kymo_data::{Dataset, Pipeline, Step};

use super::{Finding, FindingId, Recipe, Severity};
use kymo_baselines::Ridge;
use kymo_data::Metric;

use crate::DoctorError;

/// What the budget depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFacts {
    /// Training samples.
    pub train_samples: usize,
    /// Points per signal.
    pub length: usize,
    /// Channels per signal.
    pub channels: usize,
    /// Target columns: the width of a regression model's output.
    pub targets: usize,
}

impl DataFacts {
    /// The facts of a training split.
    pub fn of(train: &Dataset) -> Self {
        Self {
            train_samples: train.len(),
            length: train.length(),
            channels: train.channels(),
            targets: train.target_count(),
        }
    }
}

/// Optimizer steps a prescription aims for: small 1D CNNs on a few hundred
/// spectra converge in a few thousand Adam steps at 1e-3 (the careful
/// recipes of the NIR literature train 16-sample batches for hundreds of
/// epochs); fewer leave them short of ridge, more only wait on EarlyStopping.
pub const TARGET_STEPS: usize = 5000;
/// Fewest and most epochs a prescription gives.
pub const EPOCH_RANGE: (usize, usize) = (60, 600);
/// Decoupled weight decay of the prescription (AdamW).
pub const WEIGHT_DECAY: f64 = 1e-2;
/// Networks in the seed ensemble prescribed when training is cheap:
/// averaging five networks from consecutive seeds cut the tablet set's
/// median test RMSE by 4% and narrowed its spread across seeds (measured
/// with `kymo fit --ensemble 5`; docs/doctor.md has the figures).
pub const ENSEMBLE_MEMBERS: usize = 5;
/// The most sample-points (samples x channels x points x epochs) one
/// network's budget may cover for an ensemble to be prescribed: a few
/// hundred signals of a few hundred points, which train in seconds to a
/// minute per network on two cores. Above it the five-fold cost grows
/// with the data while averaging gains less.
pub const ENSEMBLE_BUDGET: f64 = 1e8;

fn power_of_two_at_most(value: usize) -> usize {
    if value <= 1 {
        1
    } else {
        1 << (usize::BITS - 1 - value.leading_zeros())
    }
}

/// The budget for these data: batch a sixteenth of the training set (a
/// power of two from 4 to 32, never above the set), epochs that give about
/// [`TARGET_STEPS`] steps, AdamW, ReduceLROnPlateau(factor 0.5) after a
/// fifteenth of the epochs without improvement, and EarlyStopping with
/// best-weights restore after three times that; a seed ensemble of
/// [`ENSEMBLE_MEMBERS`] networks when one costs at most
/// [`ENSEMBLE_BUDGET`] sample-points.
pub fn training_budget(facts: &DataFacts, learning_rate: f64) -> Recipe {
    let n = facts.train_samples.max(1);
    let batch_size = power_of_two_at_most(n / 16).clamp(4, 32).min(n);
    let steps_per_epoch = n.div_ceil(batch_size);
    let epochs = TARGET_STEPS
        .div_ceil(steps_per_epoch)
        .clamp(EPOCH_RANGE.0, EPOCH_RANGE.1);
    let reduce = (epochs / 15).max(5);
    let points = (n * facts.channels.max(1) * facts.length) as f64 * epochs as f64;
    Recipe {
        ensemble: (points <= ENSEMBLE_BUDGET).then_some(ENSEMBLE_MEMBERS),
        optimizer: kymo_train::OptimizerName::AdamW,
        learning_rate,
        batch_size,
        epochs,
        validation: true,
        early_stopping: true,
        checkpoint_best: true,
        weight_decay: Some(WEIGHT_DECAY),
        early_stopping_patience: Some(3 * reduce),
        reduce_lr_patience: Some(reduce),
        ..Recipe::default()
    }
}

/// Whether signals look like counts: non-negative, heavy-tailed (the
/// largest value hundreds of times the median) and strongly right-skewed.
/// Per-point standardization keeps such tails; `log1p` tames them.
pub fn count_like(train: &Dataset) -> Option<String> {
    // A heavy tail that a few columns make is theirs, not the data's.
    if !crate::data_checks::outlying_points(train).0.is_empty() {
        return None;
    }
    let values: Vec<f64> = train.signals().iter().map(|&v| f64::from(v)).collect();
    if values.is_empty() || values.iter().any(|&v| v < 0.0) {
        return None;
    }
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let max = sorted[sorted.len() - 1];
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let skew = if var > 0.0 {
        values.iter().map(|v| (v - mean).powi(3)).sum::<f64>() / n / var.powf(1.5)
    } else {
        0.0
    };
    let heavy = if median > 0.0 {
        max / median >= 100.0
    } else {
        max > 0.0
    };
    (heavy && skew > 2.0).then(|| {
        format!("all values non-negative, maximum {max:.3e} against a median of {median:.3e}, skewness {skew:.1}")
    })
}

/// The preprocessing candidates for signals of `length` points: per-point
/// standardization alone, after SNV, after MSC, and after a first
/// Savitzky-Golay derivative over about a fiftieth of the signal; each
/// after `log1p` when the signals are count-like.
pub fn candidates(length: usize, count_like: bool) -> Vec<Vec<Step>> {
    let window = ((length / 50) | 1).clamp(5, 31);
    let mut list = vec![vec![], vec![Step::Snv], vec![Step::Msc]];
    if window < length {
        list.push(vec![Step::SavitzkyGolay {
            window,
            order: 2,
            derivative: 1,
        }]);
    }
    list.into_iter()
        .map(|mut steps| {
            if count_like {
                steps.insert(0, Step::Log1p);
            }
            steps.push(Step::Standardize);
            steps
        })
        .collect()
}

/// Chooses the preprocessing whose ridge regression (a cheap proxy for
/// what the signals let a model learn) scores the lowest validation MSE;
/// the test rows are never seen. Returns the choice and a finding with
/// every candidate's score.
pub fn choose_preprocessing(
    train: &Dataset,
    validation: &Dataset,
) -> Result<(Pipeline, Finding), DoctorError> {
    let counts = count_like(train).is_some();
    let mut scored = Vec::new();
    for steps in candidates(train.length(), counts) {
        let pipeline = Pipeline::with_steps(steps);
        let Ok(fitted) = pipeline.fit(train) else {
            continue;
        };
        let (Ok(t), Ok(v)) = (fitted.transform(train), fitted.transform(validation)) else {
            continue;
        };
        let ridge = Ridge::fit_best(&t, &v, &Ridge::default_lambdas())?;
        let mse = Metric::Mse.compute(ridge.predict(&v)?.view(), v.targets());
        if mse.is_finite() {
            scored.push((mse, pipeline));
        }
    }
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some((best_mse, best)) = scored.first().cloned() else {
        return Ok((
            Pipeline::standard(),
            Finding::new(
                FindingId::Preprocessing,
                Severity::Info,
                "Preprocessing: none could be scored",
            )
            .measured("no candidate pipeline fitted these signals")
            .why("the candidates need at least a few points per signal")
            .fix("standardize each point on the training rows"),
        ));
    };
    let table: Vec<String> = scored
        .iter()
        .map(|(mse, p)| format!("{}: {mse:.4}", p.describe()))
        .collect();
    let plain = scored
        .iter()
        .find(|(_, p)| p.steps == [Step::Standardize])
        .map(|(m, _)| *m);
    let severity = match plain {
        Some(plain) if best_mse < 0.8 * plain => Severity::Medium,
        _ => Severity::Info,
    };
    let finding = Finding::new(
        FindingId::Preprocessing,
        severity,
        format!("Preprocessing that pays on validation: {}", best.describe()),
    )
    .measured(format!(
        "validation MSE of ridge regression (standardized targets) after each candidate, fitted on the training rows: {}",
        table.join("; ")
    ))
    .why("scatter (offsets, gains) and baselines vary between spectra without carrying the target; SNV, MSC and derivatives remove them, and what helps a linear model on validation is what the network is spared from learning (Rinnan et al. 2009)")
    .fix(format!("preprocess with `{}`, fitted on the training rows and saved with the model", best.describe()));
    Ok((best, finding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_scales_with_the_data_and_never_exceeds_the_training_set() {
        let cases = [
            // (train samples, batch, epochs)
            (320, 16, 250),
            (128, 8, 313),
            (24, 4, 600),
            (3, 3, 600),
            (10_000, 32, 60),
        ];
        for (n, batch, epochs) in cases {
            let setup = training_budget(
                &DataFacts {
                    train_samples: n,
                    length: 600,
                    channels: 1,
                    targets: 1,
                },
                1e-3,
            );
            assert_eq!(
                (setup.batch_size, setup.epochs),
                (batch, epochs),
                "{n} samples"
            );
            assert!(setup.batch_size <= n);
            let reduce = setup.reduce_lr_patience.unwrap();
            assert!(setup.early_stopping_patience.unwrap() > reduce);
            assert!(setup.early_stopping && setup.checkpoint_best && setup.weight_decay.is_some());
            // 320 x 600 points x 250 epochs is cheap; 10,000 x 600 x 60 is not.
            let cheap = n * 600 * epochs <= 100_000_000;
            assert_eq!(setup.members(), if cheap { 5 } else { 1 }, "{n} samples");
        }
    }

    #[test]
    fn count_like_signals_are_recognized_and_spectra_are_not() {
        let spectra = kymo_data::SyntheticSpectra {
            samples: 20,
            length: 64,
            ..Default::default()
        }
        .generate()
        .unwrap();
        assert!(count_like(&spectra).is_none());
        // Poisson-like counts with rare bursts.
        let counts = spectra
            .map(
                |s| {
                    let mut k = 0u64;
                    s.mapv(|_| {
                        k = k
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let u = (k >> 40) as f32 / (1u64 << 24) as f32;
                        if u > 0.995 {
                            5000.0 * u
                        } else {
                            (u * 10.0).floor()
                        }
                    })
                },
                |t| t.clone(),
            )
            .unwrap();
        let evidence = count_like(&counts).expect("counts with bursts");
        assert!(evidence.contains("skewness"), "{evidence}");
        assert!(candidates(64, true).iter().all(|c| c[0] == Step::Log1p));
    }

    #[test]
    fn snv_wins_when_a_random_gain_hides_the_target() {
        // The target is the mix of two peaks; each spectrum has a random
        // gain and offset that SNV removes and plain standardization keeps.
        let mut rng = kymo_tensor::SeededRng::new(5, 0);
        let (n, length) = (120, 64);
        let peak = |centre: f32, t: usize| (-((t as f32 - centre) / 4.0).powi(2)).exp();
        let mut signals = ndarray::Array3::<f32>::zeros((n, 1, length));
        let mut targets = ndarray::Array2::<f32>::zeros((n, 1));
        for i in 0..n {
            let mix = rng.uniform() as f32;
            let gain = rng.uniform_in(0.5, 2.0) as f32;
            let offset = rng.uniform_in(-1.0, 1.0) as f32;
            for t in 0..length {
                let shape = mix * peak(20.0, t) + (1.0 - mix) * peak(44.0, t);
                signals[[i, 0, t]] = gain * shape + offset;
            }
            targets[[i, 0]] = mix;
        }
        let data = Dataset::new(signals, targets).unwrap();
        let (train, validation) = kymo_data::validation_split(&data, 0.3).unwrap();
        let (pipeline, finding) = choose_preprocessing(&train, &validation).unwrap();
        assert_ne!(
            pipeline.steps,
            vec![Step::Standardize],
            "{}",
            finding.measured
        );
        assert!(finding.measured.contains("snv,standardize"));
    }
}
