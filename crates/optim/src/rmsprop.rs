//! RMSprop with Keras's rule: `v = rho * v + (1 - rho) * g^2`,
//! `theta -= lr * g / sqrt(v + epsilon)` (epsilon inside the root; PyTorch
//! adds it outside). Centered (`centered`), the root is of
//! `v - mean(g)^2 + epsilon`, the running mean of `g` kept as `v` is.

use serde::{Deserialize, Serialize};

use crate::{OptimError, Optimizer, Slot, SlotState};

/// RMSprop, Keras's defaults (lr 1e-3, rho 0.9, epsilon 1e-7, no momentum).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RmsProp {
    /// Step size (default 1e-3).
    pub learning_rate: f64,
    /// Decay of the squared-gradient average (default 0.9).
    pub rho: f64,
    /// Momentum on the increments (default 0).
    pub momentum: f64,
    /// Added under the square root (default 1e-7).
    pub epsilon: f64,
    /// Centered RMSprop: normalize by the gradient's running variance
    /// rather than its running second moment (default false).
    pub centered: bool,
    /// Steps taken.
    pub iterations: u64,
    /// Squared-gradient averages.
    pub velocities: SlotState,
    /// Gradient averages of centered RMSprop (empty otherwise).
    pub average_gradients: SlotState,
    /// Momentum buffers (used when `momentum > 0`).
    pub momentums: SlotState,
}

impl Default for RmsProp {
    fn default() -> Self {
        Self {
            learning_rate: 1e-3,
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
            iterations: 0,
            velocities: SlotState::default(),
            average_gradients: SlotState::default(),
            momentums: SlotState::default(),
        }
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self, slots: &mut [Slot<'_>]) -> Result<(), OptimError> {
        self.velocities.ensure("RMSprop", slots)?;
        self.momentums.ensure("RMSprop", slots)?;
        if self.centered {
            self.average_gradients.ensure("RMSprop", slots)?;
        }
        let (lr, rho, mu, eps) = (
            self.learning_rate as f32,
            self.rho as f32,
            self.momentum as f32,
            self.epsilon as f32,
        );
        // Without centering there are no averages to keep: each parameter
        // gets an empty stand-in, never read.
        let mut none = Vec::new();
        let mut averages = self.average_gradients.vectors.iter_mut();
        for ((slot, v), m) in slots
            .iter_mut()
            .zip(&mut self.velocities.vectors)
            .zip(&mut self.momentums.vectors)
        {
            let average: &mut Vec<f32> = match averages.next() {
                Some(average) if self.centered => average,
                _ => &mut none,
            };
            for (i, ((theta, &g), v)) in slot
                .value
                .iter_mut()
                .zip(slot.grad)
                .zip(v.iter_mut())
                .enumerate()
            {
                *v = rho * *v + (1.0 - rho) * g * g;
                let denominator = match average.get_mut(i) {
                    Some(mean) => {
                        *mean = rho * *mean + (1.0 - rho) * g;
                        *v - *mean * *mean + eps
                    }
                    None => *v + eps,
                };
                let increment = lr * g / denominator.sqrt();
                if mu > 0.0 {
                    m[i] = mu * m[i] + increment;
                    *theta -= m[i];
                } else {
                    *theta -= increment;
                }
            }
        }
        self.iterations += 1;
        Ok(())
    }
    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }
    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }
    fn iterations(&self) -> u64 {
        self.iterations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_matches_keras_by_hand() {
        let mut rms = RmsProp {
            learning_rate: 0.01,
            ..RmsProp::default()
        };
        let mut theta = [1.0f32];
        rms.step(&mut [Slot {
            value: &mut theta,
            grad: &[2.0],
        }])
        .expect("one slot");
        // v = 0.1 * 4 = 0.4; step = 0.01 * 2 / sqrt(0.4 + 1e-7).
        let expected = 1.0 - 0.02 / (0.4f64 + 1e-7).sqrt();
        assert!((f64::from(theta[0]) - expected).abs() < 1e-6);
    }
}
