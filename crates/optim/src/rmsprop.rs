//! RMSprop with Keras's rule: `v = rho * v + (1 - rho) * g^2`,
//! `theta -= lr * g / sqrt(v + epsilon)` (epsilon inside the root; PyTorch
//! adds it outside).

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
    /// Steps taken.
    pub iterations: u64,
    /// Squared-gradient averages.
    pub velocities: SlotState,
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
            iterations: 0,
            velocities: SlotState::default(),
            momentums: SlotState::default(),
        }
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self, slots: &mut [Slot<'_>]) -> Result<(), OptimError> {
        self.velocities.ensure("RMSprop", slots)?;
        self.momentums.ensure("RMSprop", slots)?;
        let (lr, rho, mu, eps) = (
            self.learning_rate as f32,
            self.rho as f32,
            self.momentum as f32,
            self.epsilon as f32,
        );
        for ((slot, v), m) in slots
            .iter_mut()
            .zip(&mut self.velocities.vectors)
            .zip(&mut self.momentums.vectors)
        {
            for (((theta, &g), v), m) in slot
                .value
                .iter_mut()
                .zip(slot.grad)
                .zip(v.iter_mut())
                .zip(m.iter_mut())
            {
                *v = rho * *v + (1.0 - rho) * g * g;
                let increment = lr * g / (*v + eps).sqrt();
                if mu > 0.0 {
                    *m = mu * *m + increment;
                    *theta -= *m;
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
