//! Keras's `class_weight`: a weight per class, turned into a weight per
//! training sample by the sample's label.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// How classes are weighted in the training loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClassWeight {
    /// `"balanced"`: each class weighted by `n / (classes * n_class)`, as
    /// scikit-learn's `compute_class_weight("balanced")` gives it, so every
    /// class carries the same total weight.
    Named(ClassWeightRule),
    /// One weight per class index.
    Given(Vec<f64>),
}

/// The named class-weight rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeightRule {
    /// Inverse class frequency.
    Balanced,
}

impl ClassWeight {
    /// The weight of each of `classes` classes for training labels
    /// `labels`. A given list must have one finite, non-negative weight per
    /// class.
    pub fn weights(&self, labels: &[usize], classes: usize) -> Result<Vec<f64>, TrainError> {
        match self {
            ClassWeight::Named(ClassWeightRule::Balanced) => {
                let mut counts = vec![0usize; classes];
                for &label in labels {
                    if let Some(count) = counts.get_mut(label) {
                        *count += 1;
                    }
                }
                let n = labels.len() as f64;
                Ok(counts
                    .iter()
                    .map(|&c| {
                        if c == 0 {
                            0.0
                        } else {
                            n / (classes as f64 * c as f64)
                        }
                    })
                    .collect())
            }
            ClassWeight::Given(weights) => {
                if weights.len() != classes {
                    return Err(TrainError::Config {
                        field: "class_weight",
                        reason: format!("{} weights for {classes} classes", weights.len()),
                    });
                }
                if let Some(bad) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
                    return Err(TrainError::Config {
                        field: "class_weight",
                        reason: format!("weights must be finite and non-negative, not {bad}"),
                    });
                }
                Ok(weights.clone())
            }
        }
    }
}

/// Each sample's weight: its class's weight, the class read as Keras reads
/// it (a one-column label, rounded, so binary 0/1 targets work; the hot
/// column of a one-hot row). A class beyond the list is an error naming
/// the row.
pub(crate) fn sample_weights(
    class_weight: &[f64],
    targets: &Array2<f32>,
) -> Result<Vec<f32>, TrainError> {
    kymo_data::true_classes(targets)
        .into_iter()
        .enumerate()
        .map(|(row, class)| {
            class_weight
                .get(class)
                .map(|&w| w as f32)
                .ok_or_else(|| TrainError::Config {
                    field: "class_weight",
                    reason: format!(
                        "batch row {row} is class {class}, but class_weight has {} classes",
                        class_weight.len()
                    ),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_weights_give_every_class_the_same_total() {
        let labels = [0, 0, 0, 1];
        let weights = ClassWeight::Named(ClassWeightRule::Balanced)
            .weights(&labels, 2)
            .expect("valid");
        assert_eq!(weights, vec![4.0 / 6.0, 2.0]);
        assert!((3.0 * weights[0] - weights[1]).abs() < 1e-12);
        let given: ClassWeight = serde_json::from_str("[1.0, 5.0]").expect("a list");
        assert!(given.weights(&labels, 3).is_err(), "one weight per class");
        let named: ClassWeight = serde_json::from_str("\"balanced\"").expect("a rule");
        assert_eq!(named, ClassWeight::Named(ClassWeightRule::Balanced));
    }

    #[test]
    fn samples_take_their_class_weight() {
        let labels = Array2::from_shape_vec((3, 1), vec![1.0f32, 0.0, 1.0]).expect("shape");
        assert_eq!(
            sample_weights(&[0.5, 3.0], &labels).expect("valid"),
            vec![3.0, 0.5, 3.0]
        );
        let one_hot = Array2::from_shape_vec((2, 2), vec![0.0f32, 1.0, 1.0, 0.0]).expect("shape");
        assert_eq!(
            sample_weights(&[0.5, 3.0], &one_hot).expect("valid"),
            vec![3.0, 0.5]
        );
        assert!(sample_weights(&[1.0], &labels).is_err());
    }
}
