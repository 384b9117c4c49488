//! Aggregates over seeds: medians, quartiles, blow-up fractions.

use serde::Serialize;

use super::run::RunResult;

/// Median and spread of one figure across seeds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// 25th percentile.
    pub p25: f64,
    /// 75th percentile.
    pub p75: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (NaN sorts last, as the worst).
    pub fn of(values: &[f64]) -> Spread {
        let mut sorted: Vec<f64> = values
            .iter()
            .map(|v| if v.is_nan() { f64::INFINITY } else { *v })
            .collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| -> f64 {
            if sorted.is_empty() {
                return f64::NAN;
            }
            // Linear interpolation between order statistics (numpy's default).
            let position = q * (sorted.len() - 1) as f64;
            let (low, high) = (position.floor() as usize, position.ceil() as usize);
            let fraction = position - low as f64;
            if sorted[low].is_infinite() || sorted[high].is_infinite() {
                return if fraction > 0.0 {
                    sorted[high]
                } else {
                    sorted[low]
                };
            }
            sorted[low] + (sorted[high] - sorted[low]) * fraction
        };
        Spread {
            median: at(0.5),
            p25: at(0.25),
            p75: at(0.75),
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Everything the report says about one variant.
#[derive(Debug, Clone, Serialize)]
pub struct VariantSummary {
    /// Variant name.
    pub variant: String,
    /// Runs aggregated.
    pub runs: usize,
    /// Test MSE of the final weights.
    pub test_mse_final: Spread,
    /// Test MSE of the best-validation-epoch weights.
    pub test_mse_best: Spread,
    /// Test RMSE of the best-validation weights, in the target's units.
    pub test_rmse_best: Spread,
    /// Epochs worse than predicting the mean.
    pub absurd_epochs: Spread,
    /// Epoch-to-epoch validation swings.
    pub volatility: Spread,
    /// Fraction of runs that blew up.
    pub blow_up_fraction: f64,
    /// Median training throughput.
    pub samples_per_second: f64,
    /// Median epochs run.
    pub epochs_run: f64,
}

/// Summarises the runs of one variant.
pub fn summarise(variant: &str, runs: &[&RunResult]) -> VariantSummary {
    let figure =
        |f: &dyn Fn(&RunResult) -> f64| Spread::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
    VariantSummary {
        variant: variant.to_string(),
        runs: runs.len(),
        test_mse_final: figure(&|r| r.test_mse_final),
        test_mse_best: figure(&|r| r.test_mse_best),
        test_rmse_best: figure(&|r| r.test_rmse_best),
        absurd_epochs: figure(&|r| r.absurd_epochs as f64),
        volatility: figure(&|r| r.volatility),
        blow_up_fraction: runs.iter().filter(|r| r.blew_up).count() as f64
            / runs.len().max(1) as f64,
        samples_per_second: figure(&|r| {
            let rows = &r.epochs;
            rows.iter().map(|e| e.samples_per_second).sum::<f64>() / rows.len().max(1) as f64
        })
        .median,
        epochs_run: figure(&|r| r.epochs.len() as f64).median,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate_and_nan_counts_as_worst() {
        let s = Spread::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(
            (s.median, s.p25, s.p75, s.min, s.max),
            (2.5, 1.75, 3.25, 1.0, 4.0)
        );
        let s = Spread::of(&[1.0, f64::NAN, 2.0]);
        assert_eq!(s.median, 2.0);
        assert!(s.max.is_infinite());
    }
}
