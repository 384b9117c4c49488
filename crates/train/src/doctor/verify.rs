//! Verification: train the setup with and without a fix over several seeds
//! on a short budget and report the measured difference.

use kymo_data::Dataset;
use kymo_layers::ArchitectureSpec;
use kymo_optim::{Adam, AnyOptimizer};
use serde::Serialize;

use super::Setup;
use crate::{EarlyStopping, FitConfig, TrainError, Trainer};

/// Validation figures of one arm over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// Median final validation MSE.
    pub median_val_mse: f64,
    /// Smallest and largest.
    pub range: (f64, f64),
    /// Runs with an epoch ten times worse than predicting the mean, or non-finite.
    pub blow_ups: usize,
    /// Runs that relapsed: after an epoch better than predicting the mean, a
    /// later epoch went back above the mean predictor and above ten times the
    /// best loss so far (or non-finite). This is the question's symptom, "good
    /// results one moment and absurd ones the next"; unlike `blow_ups` it does
    /// not count a run that is merely slow to leave its initial transient,
    /// which a short budget at a large batch size often is.
    pub relapses: usize,
    /// Runs.
    pub runs: usize,
}

/// Trains `spec` with `setup` for `epochs` over `seeds` and summarises the
/// final validation loss (after restoring the best weights when the setup
/// uses early stopping).
pub fn verify(
    spec: &ArchitectureSpec,
    setup: &Setup,
    train: &Dataset,
    validation: &Dataset,
    seeds: &[u64],
    epochs: usize,
    mean_val_mse: f64,
) -> Result<Verification, TrainError> {
    let mut finals = Vec::new();
    let mut blow_ups = 0;
    let mut relapses = 0;
    for &seed in seeds {
        let model = spec.build::<f32>(seed)?;
        let config = FitConfig {
            epochs,
            batch_size: setup.batch_size,
            seed,
            ..Default::default()
        };
        let mut trainer = Trainer::new(
            model,
            AnyOptimizer::Adam(Adam::new(setup.learning_rate)),
            config,
        );
        let mut stopper = EarlyStopping::restoring_best("val_loss", 5);
        if setup.early_stopping {
            trainer.fit(train, Some(validation), &mut [&mut stopper])?;
        } else {
            trainer.fit(train, Some(validation), &mut [])?;
        }
        let losses = trainer.history.series("val_loss");
        // The experiment's definition: non-finite, or ten times worse than
        // predicting the mean (an epoch merely above the mean is often a
        // run that has not learned yet on a short budget).
        if losses
            .iter()
            .any(|v| !v.is_finite() || *v > 10.0 * mean_val_mse)
        {
            blow_ups += 1;
        }
        if relapsed(&losses, mean_val_mse) {
            relapses += 1;
        }
        finals.push(trainer.evaluate(validation)?.loss);
    }
    let mut sorted: Vec<f64> = finals
        .iter()
        .map(|v| if v.is_nan() { f64::INFINITY } else { *v })
        .collect();
    sorted.sort_by(f64::total_cmp);
    Ok(Verification {
        median_val_mse: sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN),
        range: (
            sorted.first().copied().unwrap_or(f64::NAN),
            sorted.last().copied().unwrap_or(f64::NAN),
        ),
        blow_ups,
        relapses,
        runs: seeds.len(),
    })
}

/// Whether a validation-loss series relapsed (see [`Verification::relapses`]).
pub fn relapsed(losses: &[f64], mean_val_mse: f64) -> bool {
    let mut best = f64::INFINITY;
    for &loss in losses {
        let was_good = best < mean_val_mse;
        if was_good && (!loss.is_finite() || loss > mean_val_mse.max(10.0 * best)) {
            return true;
        }
        if loss.is_finite() {
            best = best.min(loss);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::relapsed;

    #[test]
    fn a_slow_start_is_not_a_relapse_but_a_jump_back_is() {
        // Falls from far above the mean predictor (1.0): a transient.
        assert!(!relapsed(&[500.0, 40.0, 3.0, 0.5, 0.2], 1.0));
        // Good, then absurd: the question's symptom.
        assert!(relapsed(&[0.5, 0.1, 4.0, 0.1], 1.0));
        // Good, then non-finite.
        assert!(relapsed(&[0.5, f64::NAN], 1.0));
        // Worse than the best by 10x but still under the mean predictor.
        assert!(!relapsed(&[0.01, 0.5], 1.0));
    }
}
