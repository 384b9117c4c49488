//! Regression metrics over whole prediction sets: what the trainer logs
//! and what the baselines are chosen and scored by.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// A metric, named as Keras names it in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
    /// Root mean squared error.
    Rmse,
    /// Coefficient of determination, `1 - SS_res / SS_tot` (per target, averaged).
    R2,
}

impl Metric {
    /// The log name.
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Mse => "mse",
            Metric::Mae => "mae",
            Metric::Rmse => "rmse",
            Metric::R2 => "r2",
        }
    }

    /// Whether larger is better (for monitors in `auto` mode).
    pub fn higher_is_better(&self) -> bool {
        matches!(self, Metric::R2)
    }

    /// The metric of `predictions` against `targets`, both `[N, T]`.
    pub fn compute(&self, predictions: ArrayView2<'_, f32>, targets: &Array2<f32>) -> f64 {
        let count = targets.len().max(1) as f64;
        let errors = predictions
            .iter()
            .zip(targets.iter())
            .map(|(&p, &t)| f64::from(p) - f64::from(t));
        match self {
            Metric::Mse => errors.map(|e| e * e).sum::<f64>() / count,
            Metric::Mae => errors.map(f64::abs).sum::<f64>() / count,
            Metric::Rmse => (errors.map(|e| e * e).sum::<f64>() / count).sqrt(),
            Metric::R2 => {
                let columns = targets.ncols().max(1);
                let mut total = 0.0;
                for j in 0..targets.ncols() {
                    let t = targets.column(j);
                    let mean = t.iter().map(|&v| f64::from(v)).sum::<f64>() / t.len().max(1) as f64;
                    let ss_tot: f64 = t.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum();
                    let ss_res: f64 = predictions
                        .column(j)
                        .iter()
                        .zip(t.iter())
                        .map(|(&p, &v)| (f64::from(p) - f64::from(v)).powi(2))
                        .sum();
                    total += if ss_tot > 0.0 {
                        1.0 - ss_res / ss_tot
                    } else {
                        0.0
                    };
                }
                total / columns as f64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_hand() {
        let t = Array2::from_shape_vec((4, 1), vec![1.0f32, 2.0, 3.0, 4.0]).expect("shape");
        let p = Array2::from_shape_vec((4, 1), vec![1.0f32, 2.0, 3.0, 6.0]).expect("shape");
        assert_eq!(Metric::Mse.compute(p.view(), &t), 1.0);
        assert_eq!(Metric::Mae.compute(p.view(), &t), 0.5);
        assert_eq!(Metric::Rmse.compute(p.view(), &t), 1.0);
        // SS_tot = 5, SS_res = 4.
        assert!((Metric::R2.compute(p.view(), &t) - 0.2).abs() < 1e-12);
        assert!((Metric::R2.compute(t.view(), &t) - 1.0).abs() < 1e-12);
    }
}
