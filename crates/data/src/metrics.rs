//! Metrics over whole prediction sets, for regression and classification:
//! what the trainer logs and what the baselines are chosen and scored by.
//!
//! Classification metrics read labels as the losses take them: one column
//! of class indices (or of 0/1 for a binary head), or one-hot rows; and
//! predictions as one probability (or score) per class, or one sigmoid
//! output for two classes (class 1 at 0.5 and above).

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
    /// Share of samples whose most probable class is the true one.
    Accuracy,
    /// Mean over the classes present of each class's recall: accuracy that
    /// an imbalanced set cannot inflate.
    BalancedAccuracy,
    /// Unweighted mean over the classes of F1 (a class never predicted nor
    /// present counts as 0, as scikit-learn's default does).
    MacroF1,
    /// Mean `-ln p(true class)`, probabilities clipped to `[1e-7, 1 - 1e-7]`.
    LogLoss,
}

impl Metric {
    /// The log name.
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Mse => "mse",
            Metric::Mae => "mae",
            Metric::Rmse => "rmse",
            Metric::R2 => "r2",
            Metric::Accuracy => "accuracy",
            Metric::BalancedAccuracy => "balanced_accuracy",
            Metric::MacroF1 => "macro_f1",
            Metric::LogLoss => "log_loss",
        }
    }

    /// Whether larger is better (for monitors in `auto` mode).
    pub fn higher_is_better(&self) -> bool {
        matches!(
            self,
            Metric::R2 | Metric::Accuracy | Metric::BalancedAccuracy | Metric::MacroF1
        )
    }

    /// Whether the metric scores class predictions.
    pub fn is_classification(&self) -> bool {
        matches!(
            self,
            Metric::Accuracy | Metric::BalancedAccuracy | Metric::MacroF1 | Metric::LogLoss
        )
    }

    /// The metric of `predictions` against `targets`: both `[N, T]` for
    /// regression; for classification, predictions `[N, classes]` (or
    /// `[N, 1]`) against labels `[N, 1]` or one-hot `[N, classes]`.
    pub fn compute(&self, predictions: ArrayView2<'_, f32>, targets: &Array2<f32>) -> f64 {
        match self {
            Metric::Accuracy => return ConfusionMatrix::new(predictions, targets).accuracy(),
            Metric::BalancedAccuracy => {
                return ConfusionMatrix::new(predictions, targets).balanced_accuracy()
            }
            Metric::MacroF1 => return ConfusionMatrix::new(predictions, targets).macro_f1(),
            Metric::LogLoss => return log_loss(predictions, targets),
            _ => {}
        }
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
            Metric::Accuracy | Metric::BalancedAccuracy | Metric::MacroF1 | Metric::LogLoss => {
                f64::NAN
            }
        }
    }
}

/// The true class of each row of `targets`: the label of a one-column
/// target (rounded, so a binary 0/1 column reads as classes 0 and 1), or
/// the hot column of a one-hot row.
pub fn true_classes(targets: &Array2<f32>) -> Vec<usize> {
    targets
        .rows()
        .into_iter()
        .map(|row| {
            if row.len() == 1 {
                row[0].round().max(0.0) as usize
            } else {
                arg_max(row.iter().copied())
            }
        })
        .collect()
}

/// The predicted class of each row: the most probable column, or for one
/// sigmoid column, class 1 at 0.5 and above.
pub fn predicted_classes(predictions: ArrayView2<'_, f32>) -> Vec<usize> {
    predictions
        .rows()
        .into_iter()
        .map(|row| {
            if row.len() == 1 {
                usize::from(row[0] >= 0.5)
            } else {
                arg_max(row.iter().copied())
            }
        })
        .collect()
}

/// The index of the largest value (the first, on ties; 0 when empty).
fn arg_max(values: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// Counts of (true class, predicted class) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// `counts[[true, predicted]]`.
    pub counts: Array2<usize>,
}

impl ConfusionMatrix {
    /// The matrix of `predictions` against `targets`, over as many classes
    /// as the predictions' columns (2 for a single sigmoid column) or the
    /// largest label, whichever is more.
    pub fn new(predictions: ArrayView2<'_, f32>, targets: &Array2<f32>) -> Self {
        let truth = true_classes(targets);
        let predicted = predicted_classes(predictions);
        let classes = truth
            .iter()
            .chain(&predicted)
            .map(|&c| c + 1)
            .max()
            .unwrap_or(0)
            .max(predictions.ncols().max(2));
        let mut counts = Array2::zeros((classes, classes));
        for (&t, &p) in truth.iter().zip(&predicted) {
            counts[[t, p]] += 1;
        }
        Self { counts }
    }

    /// Correct predictions over all predictions (NaN when empty).
    pub fn accuracy(&self) -> f64 {
        let total = self.counts.sum();
        let correct: usize = self.counts.diag().sum();
        correct as f64 / total as f64
    }

    /// Mean recall over the classes that occur in the targets.
    pub fn balanced_accuracy(&self) -> f64 {
        let recalls: Vec<f64> = self
            .counts
            .rows()
            .into_iter()
            .enumerate()
            .filter(|(_, row)| row.sum() > 0)
            .map(|(c, row)| row[c] as f64 / row.sum() as f64)
            .collect();
        recalls.iter().sum::<f64>() / recalls.len() as f64
    }

    /// Mean F1 over the classes that occur in the targets or predictions.
    pub fn macro_f1(&self) -> f64 {
        let classes = self.counts.nrows();
        let scores: Vec<f64> = (0..classes)
            .filter_map(|c| {
                let actual = self.counts.row(c).sum();
                let predicted = self.counts.column(c).sum();
                if actual + predicted == 0 {
                    return None;
                }
                Some(2.0 * self.counts[[c, c]] as f64 / (actual + predicted) as f64)
            })
            .collect();
        scores.iter().sum::<f64>() / scores.len() as f64
    }
}

/// Mean `-ln p(true class)` with probabilities clipped to Keras's epsilon.
fn log_loss(predictions: ArrayView2<'_, f32>, targets: &Array2<f32>) -> f64 {
    const EPSILON: f64 = 1e-7;
    let truth = true_classes(targets);
    let total: f64 = predictions
        .rows()
        .into_iter()
        .zip(&truth)
        .map(|(row, &class)| {
            let p = if row.len() == 1 {
                let one = f64::from(row[0]);
                if class == 1 {
                    one
                } else {
                    1.0 - one
                }
            } else {
                row.get(class).map_or(0.0, |&v| f64::from(v))
            };
            -p.clamp(EPSILON, 1.0 - EPSILON).ln()
        })
        .sum();
    total / truth.len() as f64
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

    #[test]
    fn classification_metrics_by_hand() {
        // Labels 0 0 0 1 1 2; predicted 0 0 1 1 1 0 (rows of probabilities).
        let labels =
            Array2::from_shape_vec((6, 1), vec![0.0f32, 0.0, 0.0, 1.0, 1.0, 2.0]).expect("shape");
        let predicted = [0usize, 0, 1, 1, 1, 0];
        let probabilities =
            Array2::from_shape_fn(
                (6, 3),
                |(i, k)| {
                    if k == predicted[i] {
                        0.8f32
                    } else {
                        0.1
                    }
                },
            );
        let matrix = ConfusionMatrix::new(probabilities.view(), &labels);
        assert_eq!(matrix.counts.row(0).to_vec(), vec![2, 1, 0]);
        assert_eq!(matrix.counts.row(2).to_vec(), vec![1, 0, 0]);
        assert!(
            (Metric::Accuracy.compute(probabilities.view(), &labels) - 4.0 / 6.0).abs() < 1e-12
        );
        // Recalls 2/3, 1, 0.
        let balanced = Metric::BalancedAccuracy.compute(probabilities.view(), &labels);
        assert!((balanced - (2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
        // F1: class 0 2*2/(3+3), class 1 2*2/(2+3), class 2 0.
        let f1 = Metric::MacroF1.compute(probabilities.view(), &labels);
        assert!((f1 - (4.0 / 6.0 + 4.0 / 5.0) / 3.0).abs() < 1e-12);
        // Four rows give p(true) = 0.8, two give 0.1.
        let log_loss = Metric::LogLoss.compute(probabilities.view(), &labels);
        assert!((log_loss - (-4.0 * 0.8f64.ln() - 2.0 * 0.1f64.ln()) / 6.0).abs() < 1e-6);
        // One-hot targets and a binary sigmoid column read the same way.
        let one_hot = Array2::from_shape_fn((6, 3), |(i, k)| {
            f32::from(u8::from(labels[[i, 0]] as usize == k))
        });
        assert_eq!(ConfusionMatrix::new(probabilities.view(), &one_hot), matrix);
        let binary = Array2::from_shape_vec((2, 1), vec![0.7f32, 0.2]).expect("shape");
        let truth = Array2::from_shape_vec((2, 1), vec![1.0f32, 1.0]).expect("shape");
        assert_eq!(Metric::Accuracy.compute(binary.view(), &truth), 0.5);
    }
}
