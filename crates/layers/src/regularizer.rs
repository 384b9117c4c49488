//! Keras's weight regularizers (`kernel_regularizer`, `bias_regularizer`).
//!
//! A regularized weight adds `l1 * sum(|w|) + l2 * sum(w^2)` to the
//! training loss, and so `l1 * sign(w) + 2 * l2 * w` to its gradient, before
//! clipping and the optimizer step; validation losses carry the penalty
//! too, as Keras's `compute_loss` adds it in both `train_step` and
//! `test_step`. Only trainable weights count (Keras sums the regularizers
//! of `trainable_weights`). The gradient is computed in the weight's own
//! precision in Keras's order, `2 * (l2 * w)`, so a float32 step rounds as
//! TensorFlow's does.

use kymo_tensor::Float;
use serde::{Deserialize, Serialize};

/// The coefficients of an L1, L2 or L1L2 penalty on one weight array.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regularizer {
    /// The coefficient of `sum(|w|)` (Keras's `L1(l1)`; 0: none).
    #[serde(default)]
    pub l1: f64,
    /// The coefficient of `sum(w^2)` (Keras's `L2(l2)`; 0: none).
    #[serde(default)]
    pub l2: f64,
}

impl Regularizer {
    /// The penalty on `values`, summed in f64.
    pub fn penalty<'a, T: Float + 'a>(&self, values: impl IntoIterator<Item = &'a T>) -> f64 {
        values
            .into_iter()
            .map(|&w| {
                let w = w.to_f64_lossless();
                self.l1 * w.abs() + self.l2 * w * w
            })
            .sum()
    }

    /// Adds the penalty's gradient at `values` to `grads`.
    pub fn add_gradient<T: Float>(&self, values: &[T], grads: &mut [T]) {
        let (l1, l2) = (T::from_f64_lossy(self.l1), T::from_f64_lossy(self.l2));
        let two = T::one() + T::one();
        for (g, &w) in grads.iter_mut().zip(values) {
            let mut step = T::zero();
            if self.l1 != 0.0 && w != T::zero() {
                step = if w > T::zero() { l1 } else { -l1 };
            }
            if self.l2 != 0.0 {
                step += two * (l2 * w);
            }
            *g += step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_penalty_and_its_gradient_are_keras_s() {
        let w = [0.5f32, -2.0, 0.0];
        let l2 = Regularizer { l1: 0.0, l2: 0.01 };
        let expected = 0.01 * (0.25 + 4.0);
        assert!((l2.penalty(&w) - expected).abs() < 1e-9);
        let mut g = [1.0f32, 1.0, 1.0];
        l2.add_gradient(&w, &mut g);
        assert_eq!(g, [1.0 + 0.01, 1.0 - 0.04, 1.0]);
        let l1 = Regularizer { l1: 0.1, l2: 0.0 };
        assert!((l1.penalty(&w) - 0.25).abs() < 1e-9);
        let mut g = [0.0f32; 3];
        l1.add_gradient(&w, &mut g);
        // The subgradient at zero is zero, as TensorFlow's sign(0).
        assert_eq!(g, [0.1, -0.1, 0.0]);
    }
}
