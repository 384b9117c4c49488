//! Losses: value and gradient with respect to the predictions.

use ndarray::{Array2, ArrayD, Ix2};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// A regression loss, averaged over every element of the batch as Keras
/// averages it (mean over targets, then over samples).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
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
}

impl Loss {
    /// The loss's name in logs (`mse`, `mae`, `huber`).
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber { .. } => "huber",
        }
    }

    /// The loss of `predictions` against `targets` (both `[B, T]`), and its
    /// gradient with respect to the predictions.
    pub fn evaluate(
        &self,
        predictions: &ArrayD<f32>,
        targets: &Array2<f32>,
    ) -> Result<(f64, ArrayD<f32>), TrainError> {
        let p = predictions
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| TrainError::Config {
                field: "loss",
                reason: format!(
                    "predictions of shape {:?} are not [batch, targets]",
                    predictions.shape()
                ),
            })?;
        if p.dim() != targets.dim() {
            return Err(TrainError::Config {
                field: "loss",
                reason: format!(
                    "predictions {:?} and targets {:?} differ",
                    p.shape(),
                    targets.shape()
                ),
            });
        }
        let count = targets.len().max(1) as f64;
        let scale = (1.0 / count) as f32;
        let mut total = 0.0f64;
        let mut grad = Array2::<f32>::zeros(targets.raw_dim());
        for ((g, &pv), &tv) in grad.iter_mut().zip(p.iter()).zip(targets.iter()) {
            let e = pv - tv;
            let (value, slope) = match *self {
                Loss::Mse => (f64::from(e) * f64::from(e), 2.0 * e),
                Loss::Mae => (f64::from(e.abs()), e.signum() * f32::from(e != 0.0)),
                Loss::Huber { delta } => {
                    let d = delta as f32;
                    if e.abs() <= d {
                        (0.5 * f64::from(e) * f64::from(e), e)
                    } else {
                        (delta * (f64::from(e.abs()) - 0.5 * delta), d * e.signum())
                    }
                }
            };
            total += value;
            *g = slope * scale;
        }
        Ok((total / count, grad.into_dyn()))
    }
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
    fn shape_mismatch_is_an_error() {
        let p = ArrayD::zeros(vec![2, 1]);
        assert!(Loss::Mse.evaluate(&p, &Array2::zeros((3, 1))).is_err());
    }
}
