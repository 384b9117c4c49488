//! SGD with Keras's momentum rule: `m = momentum * m - lr * g`, then
//! `theta += m` (or, with Nesterov, `theta += momentum * m - lr * g`).
//! PyTorch's momentum buffer accumulates `g` instead of `-lr * g`; the two
//! agree while the learning rate is constant.

use serde::{Deserialize, Serialize};

use crate::{OptimError, Optimizer, Slot, SlotState};

/// Stochastic gradient descent, Keras's defaults (lr 0.01, no momentum).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sgd {
    /// Step size (default 0.01).
    pub learning_rate: f64,
    /// Momentum (default 0).
    pub momentum: f64,
    /// Nesterov momentum (default false).
    pub nesterov: bool,
    /// Steps taken.
    pub iterations: u64,
    /// Momentum buffers.
    pub momentums: SlotState,
}

impl Default for Sgd {
    fn default() -> Self {
        Self {
            learning_rate: 0.01,
            momentum: 0.0,
            nesterov: false,
            iterations: 0,
            momentums: SlotState::default(),
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, slots: &mut [Slot<'_>]) -> Result<(), OptimError> {
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(OptimError::Config {
                optimizer: "SGD",
                field: "momentum",
                reason: format!("{} is not in [0, 1]", self.momentum),
            });
        }
        self.momentums.ensure("SGD", slots)?;
        let (lr, mu) = (self.learning_rate as f32, self.momentum as f32);
        for (slot, m) in slots.iter_mut().zip(&mut self.momentums.vectors) {
            for ((theta, &g), m) in slot.value.iter_mut().zip(slot.grad).zip(m.iter_mut()) {
                if mu == 0.0 {
                    *theta -= g * lr;
                    continue;
                }
                *m = *m * mu - g * lr;
                *theta += if self.nesterov { *m * mu - g * lr } else { *m };
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
    fn momentum_and_nesterov_match_keras_by_hand() {
        let mut plain = Sgd {
            learning_rate: 0.1,
            momentum: 0.9,
            ..Sgd::default()
        };
        let mut nesterov = Sgd {
            nesterov: true,
            ..plain.clone()
        };
        let (mut a, mut b) = ([1.0f32], [1.0f32]);
        for g in [1.0f32, 1.0] {
            plain
                .step(&mut [Slot {
                    value: &mut a,
                    grad: &[g],
                }])
                .expect("one slot");
            nesterov
                .step(&mut [Slot {
                    value: &mut b,
                    grad: &[g],
                }])
                .expect("one slot");
        }
        // m1 = -0.1, theta1 = 0.9; m2 = -0.19, theta2 = 0.71.
        assert!((a[0] - 0.71).abs() < 1e-6);
        // Nesterov: theta1 = 1 + 0.9*-0.1 - 0.1 = 0.81; theta2 = 0.81 + 0.9*-0.19 - 0.1 = 0.539.
        assert!((b[0] - 0.539).abs() < 1e-6);
    }
}
