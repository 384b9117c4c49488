//! Losses: value and gradient with respect to the predictions, with
//! Keras's reduction (`sum_over_batch_size`: each sample's loss, weighted,
//! summed and divided by the batch size).

use ndarray::{Array2, ArrayD, ArrayView2, Ix2};
use serde::{Deserialize, Serialize};

use crate::cross_entropy;
use crate::TrainError;

/// A loss, as Keras's `compile(loss=...)` names it. In a TOML or JSON file
/// it is either a bare name (`"mse"`, `"sparse_categorical_crossentropy"`,
/// any of Keras's aliases) or a table with its options
/// (`{ categorical_crossentropy = { from_logits = true } }`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", try_from = "LossFile")]
pub enum Loss {
    /// Mean squared error.
    #[default]
    Mse,
    /// Mean absolute error.
    Mae,
    /// Huber loss: squared below `delta`, linear above (Keras default 1.0).
    Huber {
        /// The switch point.
        delta: f64,
    },
    /// Binary cross-entropy: targets 0 or 1 (or probabilities), one
    /// sigmoid output per target.
    BinaryCrossentropy {
        /// Whether the predictions are logits rather than probabilities.
        #[serde(default)]
        from_logits: bool,
        /// Targets squeezed towards 0.5: `t (1 - s) + s / 2`.
        #[serde(default)]
        label_smoothing: f64,
    },
    /// Categorical cross-entropy: one-hot targets `[B, classes]`.
    CategoricalCrossentropy {
        /// Whether the predictions are logits rather than probabilities.
        #[serde(default)]
        from_logits: bool,
        /// Targets squeezed towards uniform: `t (1 - s) + s / classes`.
        #[serde(default)]
        label_smoothing: f64,
    },
    /// Sparse categorical cross-entropy: class indices `[B, 1]` against
    /// `[B, classes]` predictions (Keras has no label smoothing for it).
    SparseCategoricalCrossentropy {
        /// Whether the predictions are logits rather than probabilities.
        #[serde(default)]
        from_logits: bool,
    },
}

/// What a file may hold for a loss: a name or a table of options.
#[derive(Deserialize)]
#[serde(untagged)]
enum LossFile {
    Name(String),
    Table(LossTable),
}

/// A loss with its options, tagged by its snake_case name.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum LossTable {
    Mse {},
    Mae {},
    Huber {
        #[serde(default = "default_delta")]
        delta: f64,
    },
    BinaryCrossentropy {
        #[serde(default)]
        from_logits: bool,
        #[serde(default)]
        label_smoothing: f64,
    },
    CategoricalCrossentropy {
        #[serde(default)]
        from_logits: bool,
        #[serde(default)]
        label_smoothing: f64,
    },
    SparseCategoricalCrossentropy {
        #[serde(default)]
        from_logits: bool,
    },
}

fn default_delta() -> f64 {
    1.0
}

impl TryFrom<LossFile> for Loss {
    type Error = String;
    fn try_from(file: LossFile) -> Result<Self, String> {
        let loss = match file {
            LossFile::Name(name) => Loss::from_keras_name(&name).ok_or_else(|| {
                format!(
                    "unknown loss `{name}`: use mse, mae, huber, binary_crossentropy, \
                     categorical_crossentropy or sparse_categorical_crossentropy"
                )
            })?,
            LossFile::Table(table) => match table {
                LossTable::Mse {} => Loss::Mse,
                LossTable::Mae {} => Loss::Mae,
                LossTable::Huber { delta } => Loss::Huber { delta },
                LossTable::BinaryCrossentropy {
                    from_logits,
                    label_smoothing,
                } => Loss::BinaryCrossentropy {
                    from_logits,
                    label_smoothing,
                },
                LossTable::CategoricalCrossentropy {
                    from_logits,
                    label_smoothing,
                } => Loss::CategoricalCrossentropy {
                    from_logits,
                    label_smoothing,
                },
                LossTable::SparseCategoricalCrossentropy { from_logits } => {
                    Loss::SparseCategoricalCrossentropy { from_logits }
                }
            },
        };
        loss.check().map_err(|e| e.to_string())?;
        Ok(loss)
    }
}

impl Loss {
    /// The loss's name in logs (`mse`, `mae`, `huber`, and Keras's
    /// function names for the cross-entropies).
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber { .. } => "huber",
            Loss::BinaryCrossentropy { .. } => "binary_crossentropy",
            Loss::CategoricalCrossentropy { .. } => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy { .. } => "sparse_categorical_crossentropy",
        }
    }

    /// The loss a Keras name or alias stands for, with Keras's defaults
    /// (probabilities, no smoothing): `mse`, `mean_squared_error`,
    /// `BinaryCrossentropy`, `sparse_categorical_crossentropy`, ...
    pub fn from_keras_name(name: &str) -> Option<Loss> {
        let snake: String = name
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let lower = c.to_ascii_lowercase();
                let underscore = (c.is_ascii_uppercase() && i > 0).then_some('_');
                underscore.into_iter().chain(std::iter::once(lower))
            })
            .collect();
        Some(match snake.as_str() {
            "mse" | "mean_squared_error" => Loss::Mse,
            "mae" | "mean_absolute_error" => Loss::Mae,
            "huber" | "huber_loss" => Loss::Huber { delta: 1.0 },
            "binary_crossentropy" => Loss::BinaryCrossentropy {
                from_logits: false,
                label_smoothing: 0.0,
            },
            "categorical_crossentropy" => Loss::CategoricalCrossentropy {
                from_logits: false,
                label_smoothing: 0.0,
            },
            "sparse_categorical_crossentropy" => {
                Loss::SparseCategoricalCrossentropy { from_logits: false }
            }
            _ => return None,
        })
    }

    /// Whether the loss scores class predictions (a cross-entropy), so
    /// targets are labels and are never standardized.
    pub fn is_classification(&self) -> bool {
        matches!(
            self,
            Loss::BinaryCrossentropy { .. }
                | Loss::CategoricalCrossentropy { .. }
                | Loss::SparseCategoricalCrossentropy { .. }
        )
    }

    /// Refuses options no loss can use: a label smoothing outside [0, 1],
    /// a Huber delta that is not positive.
    pub fn check(&self) -> Result<(), TrainError> {
        let smoothing = match *self {
            Loss::BinaryCrossentropy {
                label_smoothing, ..
            }
            | Loss::CategoricalCrossentropy {
                label_smoothing, ..
            } => label_smoothing,
            Loss::Huber { delta } if !(delta.is_finite() && delta > 0.0) => {
                return Err(TrainError::Config {
                    field: "loss.delta",
                    reason: format!("must be a positive number, not {delta}"),
                })
            }
            _ => 0.0,
        };
        if !(0.0..=1.0).contains(&smoothing) {
            return Err(TrainError::Config {
                field: "loss.label_smoothing",
                reason: format!("must lie in [0, 1], not {smoothing}"),
            });
        }
        Ok(())
    }

    /// The loss of `predictions` against `targets` (`[B, T]`; sparse
    /// labels `[B, 1]` against `[B, classes]`), and its gradient with
    /// respect to the predictions.
    pub fn evaluate(
        &self,
        predictions: &ArrayD<f32>,
        targets: &Array2<f32>,
    ) -> Result<(f64, ArrayD<f32>), TrainError> {
        self.evaluate_weighted(predictions, targets, None)
    }

    /// [`Loss::evaluate`] with a weight per sample (Keras's
    /// `sample_weight`, or `class_weight` looked up by label): the
    /// weighted per-sample losses are summed and divided by the batch size.
    pub fn evaluate_weighted(
        &self,
        predictions: &ArrayD<f32>,
        targets: &Array2<f32>,
        sample_weights: Option<&[f32]>,
    ) -> Result<(f64, ArrayD<f32>), TrainError> {
        let p = predictions
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| TrainError::Config {
                field: "loss",
                reason: format!(
                    "predictions of shape {:?} are not [batch, outputs]",
                    predictions.shape()
                ),
            })?;
        self.check_shapes(p, targets)?;
        if let Some(weights) = sample_weights {
            if weights.len() != p.nrows() {
                return Err(TrainError::Config {
                    field: "sample_weight",
                    reason: format!("{} weights for {} samples", weights.len(), p.nrows()),
                });
            }
        }
        if !self.is_classification() {
            return Ok(self.regression(p, targets, sample_weights));
        }
        let batch = p.nrows().max(1) as f64;
        let mut total = 0.0f64;
        let mut grad = Array2::<f32>::zeros(p.raw_dim());
        let mut row_grad = vec![0.0f64; p.ncols()];
        for (i, ((prediction, target), mut g)) in p
            .rows()
            .into_iter()
            .zip(targets.rows())
            .zip(grad.rows_mut())
            .enumerate()
        {
            let weight = sample_weights.map_or(1.0, |w| f64::from(w[i]));
            let prediction: Vec<f64> = prediction.iter().map(|&v| f64::from(v)).collect();
            let target = target.to_vec();
            let value = self.cross_entropy(&prediction, &target, i, &mut row_grad)?;
            total += weight * value;
            for (g, &d) in g.iter_mut().zip(&row_grad) {
                *g = (weight * d / batch) as f32;
            }
        }
        Ok((total / batch, grad.into_dyn()))
    }

    /// MSE, MAE or Huber over the whole batch: the error and slope in f32,
    /// the sum in f64, as kymo has always computed them (the seed models'
    /// bits depend on it).
    fn regression(
        &self,
        p: ArrayView2<'_, f32>,
        targets: &Array2<f32>,
        sample_weights: Option<&[f32]>,
    ) -> (f64, ArrayD<f32>) {
        let count = targets.len().max(1) as f64;
        let scale = (1.0 / count) as f32;
        let columns = targets.ncols().max(1);
        let mut total = 0.0f64;
        let mut grad = Array2::<f32>::zeros(targets.raw_dim());
        for (index, ((g, &pv), &tv)) in grad
            .iter_mut()
            .zip(p.iter())
            .zip(targets.iter())
            .enumerate()
        {
            let e = pv - tv;
            let (value, slope) = match *self {
                Loss::Mae => (f64::from(e.abs()), e.signum() * f32::from(e != 0.0)),
                Loss::Huber { delta } => {
                    let d = delta as f32;
                    if e.abs() <= d {
                        (0.5 * f64::from(e) * f64::from(e), e)
                    } else {
                        (delta * (f64::from(e.abs()) - 0.5 * delta), d * e.signum())
                    }
                }
                _ => (f64::from(e) * f64::from(e), 2.0 * e),
            };
            match sample_weights {
                Some(weights) => {
                    let weight = weights[index / columns];
                    total += f64::from(weight) * value;
                    *g = slope * scale * weight;
                }
                None => {
                    total += value;
                    *g = slope * scale;
                }
            }
        }
        (total / count, grad.into_dyn())
    }

    /// Checks that `targets` can be scored against predictions `p`.
    fn check_shapes(
        &self,
        p: ArrayView2<'_, f32>,
        targets: &Array2<f32>,
    ) -> Result<(), TrainError> {
        let sparse = matches!(self, Loss::SparseCategoricalCrossentropy { .. });
        let fits = if sparse {
            targets.nrows() == p.nrows() && targets.ncols() == 1
        } else {
            p.dim() == targets.dim()
        };
        if fits {
            return Ok(());
        }
        let expected = if sparse {
            format!("[{}, 1] (one class index per sample)", p.nrows())
        } else {
            format!("{:?}", p.shape())
        };
        Err(TrainError::Config {
            field: "loss",
            reason: format!(
                "{} takes targets {expected} for predictions {:?}, not {:?}{}",
                self.name(),
                p.shape(),
                targets.shape(),
                if !sparse && targets.ncols() == 1 && p.ncols() > 1 {
                    "; class indices need sparse_categorical_crossentropy"
                } else {
                    ""
                }
            ),
        })
    }

    /// One sample's cross-entropy (row `row` of the batch), writing
    /// `d loss / d prediction` into `grad`.
    fn cross_entropy(
        &self,
        prediction: &[f64],
        target: &[f32],
        row: usize,
        grad: &mut [f64],
    ) -> Result<f64, TrainError> {
        let smoothed = |smoothing: f64, toward: f64| -> Vec<f64> {
            target
                .iter()
                .map(|&t| f64::from(t) * (1.0 - smoothing) + smoothing * toward)
                .collect()
        };
        Ok(match *self {
            Loss::BinaryCrossentropy {
                from_logits,
                label_smoothing,
            } => cross_entropy::binary(
                prediction,
                &smoothed(label_smoothing, 0.5),
                from_logits,
                grad,
            ),
            Loss::CategoricalCrossentropy {
                from_logits,
                label_smoothing,
            } => cross_entropy::categorical(
                prediction,
                &smoothed(label_smoothing, 1.0 / prediction.len().max(1) as f64),
                from_logits,
                grad,
            ),
            Loss::SparseCategoricalCrossentropy { from_logits } => {
                let label = class_index(target[0], prediction.len()).ok_or_else(|| TrainError::Config {
                    field: "targets",
                    reason: format!(
                        "row {row}: label {} is not a class index in 0..{} for sparse_categorical_crossentropy",
                        target[0],
                        prediction.len()
                    ),
                })?;
                cross_entropy::sparse(prediction, label, from_logits, grad)
            }
            // Regression losses take `Loss::regression`.
            Loss::Mse | Loss::Mae | Loss::Huber { .. } => 0.0,
        })
    }
}

/// `value` as a class index below `classes`, if it is one.
pub(crate) fn class_index(value: f32, classes: usize) -> Option<usize> {
    (value >= 0.0 && value.fract() == 0.0 && (value as usize) < classes).then_some(value as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_gradients_by_hand() {
        let p = ArrayD::from_shape_vec(vec![2, 1], vec![3.0f32, -1.0]).expect("shape");
        let t = Array2::from_shape_vec((2, 1), vec![1.0f32, -1.5]).expect("shape");
        let (mse, g) = Loss::Mse.evaluate(&p, &t).expect("same shapes");
        assert!((mse - (4.0 + 0.25) / 2.0).abs() < 1e-9);
        assert_eq!(g.iter().copied().collect::<Vec<_>>(), vec![2.0, 0.5]);
        let (mae, g) = Loss::Mae.evaluate(&p, &t).expect("same shapes");
        assert!((mae - 1.25).abs() < 1e-9);
        assert_eq!(g.iter().copied().collect::<Vec<_>>(), vec![0.5, 0.5]);
        let (huber, g) = Loss::Huber { delta: 1.0 }
            .evaluate(&p, &t)
            .expect("same shapes");
        assert!((huber - (1.5 + 0.125) / 2.0).abs() < 1e-9);
        assert_eq!(g.iter().copied().collect::<Vec<_>>(), vec![0.5, 0.25]);
    }

    #[test]
    fn names_and_tables_read_as_keras_spells_them() {
        #[derive(serde::Deserialize)]
        struct File {
            loss: Loss,
        }
        let read = |text: &str| toml::from_str::<File>(text).map(|f| f.loss);
        assert_eq!(
            read(r#"loss = "mean_squared_error""#).expect("alias"),
            Loss::Mse
        );
        assert_eq!(
            read(r#"loss = "SparseCategoricalCrossentropy""#).expect("class name"),
            Loss::SparseCategoricalCrossentropy { from_logits: false }
        );
        assert_eq!(
            read("loss = { categorical_crossentropy = { from_logits = true, label_smoothing = 0.1 } }")
                .expect("table"),
            Loss::CategoricalCrossentropy {
                from_logits: true,
                label_smoothing: 0.1
            }
        );
        let unknown = read(r#"loss = "hinge""#).expect_err("not a kymo loss");
        assert!(
            unknown.to_string().contains("unknown loss `hinge`"),
            "{unknown}"
        );
        let smoothing = read("loss = { binary_crossentropy = { label_smoothing = 2.0 } }")
            .expect_err("out of range");
        assert!(
            smoothing.to_string().contains("label_smoothing"),
            "{smoothing}"
        );
        // What serializes reads back.
        for loss in [
            Loss::Huber { delta: 2.0 },
            Loss::BinaryCrossentropy {
                from_logits: true,
                label_smoothing: 0.2,
            },
        ] {
            let json = serde_json::to_string(&loss).expect("serializes");
            assert_eq!(serde_json::from_str::<Loss>(&json).expect("reads"), loss);
        }
    }

    #[test]
    fn sparse_labels_are_checked_and_weights_follow_keras_reduction() {
        let loss = Loss::SparseCategoricalCrossentropy { from_logits: true };
        let logits = ArrayD::from_shape_vec(vec![2, 3], vec![1.0f32, 2.0, 3.0, 0.0, 0.0, 0.0])
            .expect("shape");
        let labels = Array2::from_shape_vec((2, 1), vec![2.0f32, 1.5]).expect("shape");
        let error = loss
            .evaluate(&logits, &labels)
            .expect_err("1.5 is no class");
        assert!(error.to_string().contains("row 1"), "{error}");
        let labels = Array2::from_shape_vec((2, 1), vec![2.0f32, 0.0]).expect("shape");
        let (plain, grad) = loss.evaluate(&logits, &labels).expect("valid labels");
        let first = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln() - 3.0;
        let second = 3f64.ln();
        assert!((plain - (first + second) / 2.0).abs() < 1e-9);
        // Each row's gradient sums to zero (softmax minus one-hot), over B.
        assert!(grad.sum().abs() < 1e-6);
        // Keras's sum_over_batch_size divides by the batch, not the weights.
        let (weighted, _) = loss
            .evaluate_weighted(&logits, &labels, Some(&[2.0, 0.0]))
            .expect("valid");
        assert!((weighted - 2.0 * first / 2.0).abs() < 1e-9);
        let one_hot_error = Loss::CategoricalCrossentropy {
            from_logits: false,
            label_smoothing: 0.0,
        }
        .evaluate(&logits, &labels)
        .expect_err("indices given to the categorical loss");
        assert!(one_hot_error
            .to_string()
            .contains("sparse_categorical_crossentropy"));
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let p = ArrayD::zeros(vec![2, 1]);
        assert!(Loss::Mse.evaluate(&p, &Array2::zeros((3, 1))).is_err());
    }
}
