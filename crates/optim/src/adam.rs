//! Adam and AdamW with Keras's update rule.
//!
//! Keras 3 folds both bias corrections into the step size and adds epsilon
//! to the *uncorrected* `sqrt(v)`:
//! `alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`,
//! `theta -= alpha * m / (sqrt(v) + epsilon)`. PyTorch adds epsilon to the
//! corrected `sqrt(v_hat)` and defaults it to 1e-8; the two differ while `v`
//! is small. AdamW first decays `theta -= theta * weight_decay * lr`.
//! AMSGrad (`amsgrad`) divides by the running maximum of `v` instead of `v`.

use serde::{Deserialize, Serialize};

use kymo_tensor::parallel::{for_each_block, BLOCK_ELEMENTS};

use crate::{OptimError, Optimizer, Slot, SlotState};

/// Adam (AdamW when `weight_decay` is set), Keras's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Adam {
    /// Step size (default 1e-3).
    pub learning_rate: f64,
    /// Decay of the first moment (default 0.9).
    pub beta_1: f64,
    /// Decay of the second moment (default 0.999).
    pub beta_2: f64,
    /// Added to `sqrt(v)` (default 1e-7, Keras's; PyTorch uses 1e-8).
    pub epsilon: f64,
    /// Decoupled weight decay (AdamW; Keras's AdamW default is 0.004).
    pub weight_decay: Option<f64>,
    /// AMSGrad: divide by the largest second moment seen so far (default
    /// false).
    pub amsgrad: bool,
    /// Steps taken.
    pub iterations: u64,
    /// First moments.
    pub momentums: SlotState,
    /// Second moments.
    pub velocities: SlotState,
    /// AMSGrad's running maxima of the second moments (empty without it).
    pub velocity_hats: SlotState,
}

impl Default for Adam {
    fn default() -> Self {
        Self {
            learning_rate: 1e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            weight_decay: None,
            amsgrad: false,
            iterations: 0,
            momentums: SlotState::default(),
            velocities: SlotState::default(),
            velocity_hats: SlotState::default(),
        }
    }
}

impl Adam {
    /// Adam with Keras's defaults and this learning rate.
    pub fn new(learning_rate: f64) -> Self {
        Self {
            learning_rate,
            ..Self::default()
        }
    }

    /// AdamW with Keras's defaults (weight decay 0.004).
    pub fn adamw(learning_rate: f64) -> Self {
        Self {
            weight_decay: Some(0.004),
            ..Self::new(learning_rate)
        }
    }
}

/// The constants of one Adam step: `1 - β₁`, `1 - β₂`, the bias-corrected
/// learning rate and epsilon.
#[derive(Clone, Copy)]
struct Moments {
    b1: f32,
    b2: f32,
    alpha: f32,
    eps: f32,
}

/// One parameter's Adam (or AdamW, with `decay`) update. A function of its
/// own, with the decay tested once outside the loop: as arguments the four
/// slices are known not to overlap, which lets the loop vectorize (inside
/// the step's loop over slots it ran scalar).
fn update(
    theta: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    k: Moments,
    decay: Option<f32>,
) {
    // `SlotState::ensure` checked the four lengths equal; slicing to the
    // common length lets the compiler drop the bounds checks.
    let n = theta.len().min(grad.len()).min(m.len()).min(v.len());
    let (theta, grad, m, v) = (&mut theta[..n], &grad[..n], &mut m[..n], &mut v[..n]);
    match decay {
        Some(decay) => {
            for i in 0..n {
                theta[i] -= theta[i] * decay;
                m[i] += (grad[i] - m[i]) * k.b1;
                v[i] += (grad[i] * grad[i] - v[i]) * k.b2;
                theta[i] -= (m[i] * k.alpha) / (v[i].sqrt() + k.eps);
            }
        }
        None => {
            for i in 0..n {
                m[i] += (grad[i] - m[i]) * k.b1;
                v[i] += (grad[i] * grad[i] - v[i]) * k.b2;
                theta[i] -= (m[i] * k.alpha) / (v[i].sqrt() + k.eps);
            }
        }
    }
}

/// [`update`] with AMSGrad: the step divides by `v_hat`, the running
/// maximum of `v`, as Keras's `amsgrad=True` does (decay first, as above).
fn update_amsgrad(
    (theta, grad): (&mut [f32], &[f32]),
    (m, v, v_hat): (&mut [f32], &mut [f32], &mut [f32]),
    k: Moments,
    decay: Option<f32>,
) {
    let n = theta
        .len()
        .min(grad.len())
        .min(m.len())
        .min(v.len())
        .min(v_hat.len());
    let decay = decay.unwrap_or(0.0);
    for i in 0..n {
        if decay != 0.0 {
            theta[i] -= theta[i] * decay;
        }
        m[i] += (grad[i] - m[i]) * k.b1;
        v[i] += (grad[i] * grad[i] - v[i]) * k.b2;
        v_hat[i] = v_hat[i].max(v[i]);
        theta[i] -= (m[i] * k.alpha) / (v_hat[i].sqrt() + k.eps);
    }
}

impl Optimizer for Adam {
    fn step(&mut self, slots: &mut [Slot<'_>]) -> Result<(), OptimError> {
        let name = if self.weight_decay.is_some() {
            "AdamW"
        } else {
            "Adam"
        };
        self.momentums.ensure(name, slots)?;
        self.velocities.ensure(name, slots)?;
        if self.amsgrad {
            self.velocity_hats.ensure(name, slots)?;
        }
        let t = (self.iterations + 1) as f64;
        let alpha = (self.learning_rate * (1.0 - self.beta_2.powf(t)).sqrt()
            / (1.0 - self.beta_1.powf(t))) as f32;
        let (b1, b2, eps) = (
            (1.0 - self.beta_1) as f32,
            (1.0 - self.beta_2) as f32,
            self.epsilon as f32,
        );
        let decay = self.weight_decay.map(|wd| (wd * self.learning_rate) as f32);
        let moments = Moments { b1, b2, alpha, eps };
        if self.amsgrad {
            for ((slot, m), (v, v_hat)) in slots.iter_mut().zip(&mut self.momentums.vectors).zip(
                self.velocities
                    .vectors
                    .iter_mut()
                    .zip(&mut self.velocity_hats.vectors),
            ) {
                let parameter = (&mut *slot.value, slot.grad);
                update_amsgrad(parameter, (m, v, v_hat), moments, decay);
            }
            self.iterations += 1;
            return Ok(());
        }
        // Blocks of every parameter, updated across threads where that pays
        // (inside a warm training step at batch 1 it made the answer's
        // model 10% faster); each element's update is the same either way.
        let mut blocks = Vec::new();
        let mut elements = 0;
        for ((slot, m), v) in slots
            .iter_mut()
            .zip(&mut self.momentums.vectors)
            .zip(&mut self.velocities.vectors)
        {
            elements += slot.value.len();
            let (theta, grad) = (
                slot.value.chunks_mut(BLOCK_ELEMENTS),
                slot.grad.chunks(BLOCK_ELEMENTS),
            );
            let (m, v) = (m.chunks_mut(BLOCK_ELEMENTS), v.chunks_mut(BLOCK_ELEMENTS));
            blocks.extend(theta.zip(grad).zip(m).zip(v));
        }
        for_each_block(
            elements,
            blocks,
            || (),
            |_, (((theta, grad), m), v)| update(theta, grad, m, v, moments, decay),
        );
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

    /// Values and gradients of `len` elements that vary along the slice.
    fn wave(len: usize, phase: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32) * 0.37 + phase).sin())
            .collect()
    }

    #[test]
    fn blocks_across_threads_update_every_element_as_one_pass_does() {
        // Larger than the serial gate (2^19 elements) and not a multiple of
        // the block, beside a small parameter.
        let lengths = [600_001, 5];
        let grads: Vec<Vec<f32>> = lengths.iter().map(|&n| wave(n, 1.0)).collect();
        let run = |threads| {
            kymo_tensor::Runtime::new(threads)
                .expect("threads start")
                .run(|| {
                    let mut adam = Adam::new(1e-3);
                    let mut values: Vec<Vec<f32>> = lengths.iter().map(|&n| wave(n, 0.0)).collect();
                    for _ in 0..3 {
                        let mut slots: Vec<Slot<'_>> = values
                            .iter_mut()
                            .zip(&grads)
                            .map(|(value, grad)| Slot { value, grad })
                            .collect();
                        adam.step(&mut slots).expect("matching lengths");
                    }
                    values
                })
        };
        // The reference: `update` over each whole parameter, three times.
        let mut expected: Vec<Vec<f32>> = lengths.iter().map(|&n| wave(n, 0.0)).collect();
        let (mut m, mut v): (Vec<Vec<f32>>, Vec<Vec<f32>>) = lengths
            .iter()
            .map(|&n| (vec![0.0; n], vec![0.0; n]))
            .unzip();
        let reference = Adam::new(1e-3);
        for t in 1..=3 {
            let alpha = (reference.learning_rate * (1.0 - reference.beta_2.powi(t)).sqrt()
                / (1.0 - reference.beta_1.powi(t))) as f32;
            let moments = Moments {
                b1: (1.0 - reference.beta_1) as f32,
                b2: (1.0 - reference.beta_2) as f32,
                alpha,
                eps: reference.epsilon as f32,
            };
            for p in 0..lengths.len() {
                update(
                    &mut expected[p],
                    &grads[p],
                    &mut m[p],
                    &mut v[p],
                    moments,
                    None,
                );
            }
        }
        let bits = |values: &[Vec<f32>]| -> Vec<Vec<u32>> {
            values
                .iter()
                .map(|v| v.iter().map(|x| x.to_bits()).collect())
                .collect()
        };
        assert_eq!(bits(&run(1)), bits(&expected));
        assert_eq!(bits(&run(2)), bits(&expected));
    }

    #[test]
    fn first_two_steps_match_keras_by_hand() {
        // theta = 1, g = 0.5 then g = -0.2, lr 0.1.
        let mut adam = Adam::new(0.1);
        let mut theta = [1.0f32];
        adam.step(&mut [Slot {
            value: &mut theta,
            grad: &[0.5],
        }])
        .expect("one slot");
        // t=1: m = 0.05, v = 0.00025, alpha = 0.1*sqrt(0.001)/0.1
        let alpha1 = 0.1 * (1.0f64 - 0.999).sqrt() / (1.0 - 0.9);
        let step1 = alpha1 * 0.05 / (0.00025f64.sqrt() + 1e-7);
        assert!((f64::from(theta[0]) - (1.0 - step1)).abs() < 1e-6);
        let before = f64::from(theta[0]);
        adam.step(&mut [Slot {
            value: &mut theta,
            grad: &[-0.2],
        }])
        .expect("one slot");
        let m2 = 0.9 * 0.05 + 0.1 * -0.2;
        let v2 = 0.999 * 0.00025 + 0.001 * 0.04;
        let alpha2 = 0.1 * (1.0f64 - 0.999f64.powi(2)).sqrt() / (1.0 - 0.9f64.powi(2));
        let expected = before - alpha2 * m2 / (f64::sqrt(v2) + 1e-7);
        assert!(
            (f64::from(theta[0]) - expected).abs() < 1e-6,
            "{} vs {expected}",
            theta[0]
        );
        assert_eq!(adam.iterations, 2);
    }

    #[test]
    fn adamw_decays_before_the_adam_step() {
        let mut adamw = Adam::adamw(0.1);
        let mut theta = [2.0f32];
        adamw
            .step(&mut [Slot {
                value: &mut theta,
                grad: &[0.0],
            }])
            .expect("one slot");
        // Zero gradient: only the decay acts, 2 - 2*0.004*0.1.
        assert!((theta[0] - (2.0 - 2.0 * 0.004 * 0.1)).abs() < 1e-7);
    }

    #[test]
    fn a_changed_parameter_list_is_an_error() {
        let mut adam = Adam::default();
        let mut a = [1.0f32, 2.0];
        adam.step(&mut [Slot {
            value: &mut a,
            grad: &[0.1, 0.1],
        }])
        .expect("first step sets the state");
        let mut b = [1.0f32];
        let err = adam
            .step(&mut [Slot {
                value: &mut b,
                grad: &[0.1],
            }])
            .unwrap_err();
        assert!(matches!(
            err,
            OptimError::ParameterLength {
                index: 0,
                expected: 2,
                found: 1,
                ..
            }
        ));
    }
}
