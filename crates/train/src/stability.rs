//! How stable a run's validation loss was, measured against the mean
//! predictor's validation MSE: the numbers the question is about ("good
//! results one moment and absurd ones the next"). The experiment, the
//! doctor's probe and its verification all read them from here.

use serde::{Deserialize, Serialize};

use crate::History;

/// The stability of one validation-loss series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    /// Epochs whose validation loss is non-finite or worse than predicting
    /// the training mean: the question's "absurd results".
    pub absurd_epochs: usize,
    /// Whether an epoch was non-finite or ten times worse than the mean
    /// predictor (an epoch merely above it is often a run that has not
    /// learned yet on a short budget).
    pub blew_up: bool,
    /// Whether the run relapsed: after an epoch better than the mean
    /// predictor, a later one went back above it and above ten times the
    /// best so far (or non-finite). Unlike `blew_up`, a run slow to leave
    /// its initial transient does not count.
    pub relapsed: bool,
    /// Root mean square of `log10(val_loss[t+1] / val_loss[t])`: 0.3 is a
    /// typical factor of 2 between consecutive epochs.
    pub volatility: f64,
}

impl Stability {
    /// The stability of `val_losses` (in epoch order) against `mean_val_mse`.
    pub fn of(val_losses: &[f64], mean_val_mse: f64) -> Self {
        Self {
            absurd_epochs: val_losses
                .iter()
                .filter(|v| !v.is_finite() || **v > mean_val_mse)
                .count(),
            blew_up: val_losses
                .iter()
                .any(|v| !v.is_finite() || *v > 10.0 * mean_val_mse),
            relapsed: relapsed(val_losses, mean_val_mse),
            volatility: volatility(val_losses),
        }
    }
}

impl History {
    /// The stability of this run's `val_loss` against `mean_val_mse`.
    pub fn stability(&self, mean_val_mse: f64) -> Stability {
        Stability::of(&self.series("val_loss"), mean_val_mse)
    }
}

fn relapsed(losses: &[f64], mean_val_mse: f64) -> bool {
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

fn volatility(losses: &[f64]) -> f64 {
    let steps: Vec<f64> = losses
        .windows(2)
        .map(|w| (w[1] / w[0]).log10())
        .filter(|v| v.is_finite())
        .collect();
    if steps.is_empty() {
        return 0.0;
    }
    (steps.iter().map(|s| s * s).sum::<f64>() / steps.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_measure_on_its_own_series() {
        // (series, mean predictor, absurd, blew up, relapsed)
        let table: [(&[f64], f64, usize, bool, bool); 5] = [
            // Falls from far above the mean predictor: a transient.
            (&[500.0, 40.0, 3.0, 0.5, 0.2], 1.0, 3, true, false),
            // Good, then absurd: the question's symptom.
            (&[0.5, 0.1, 4.0, 0.1], 1.0, 1, false, true),
            // Good, then non-finite.
            (&[0.5, f64::NAN], 1.0, 1, true, true),
            // 10x worse than the best but still under the mean predictor.
            (&[0.01, 0.5], 1.0, 0, false, false),
            // Steady.
            (&[0.4, 0.3, 0.2], 1.0, 0, false, false),
        ];
        for (series, mean, absurd, blew_up, relapsed) in table {
            let s = Stability::of(series, mean);
            assert_eq!(
                (s.absurd_epochs, s.blew_up, s.relapsed),
                (absurd, blew_up, relapsed),
                "{series:?}"
            );
        }
    }

    #[test]
    fn volatility_is_the_rms_of_log_ratios() {
        // Two steps of a factor 10: log10 ratios +1 and -1.
        assert!((volatility(&[1.0, 10.0, 1.0]) - 1.0).abs() < 1e-12);
        assert_eq!(volatility(&[0.3]), 0.0);
        // A NaN step is left out rather than poisoning the measure.
        assert!((volatility(&[1.0, f64::NAN, 1.0, 100.0]) - 2.0).abs() < 1e-12);
    }
}
