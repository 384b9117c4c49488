//! Weight initializers with Keras's names and formulas.

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use crate::{Float, SeededRng};

/// Fan-in and fan-out of a weight, as Keras computes them: for a Conv1D
/// kernel of `k` taps, `fan_in = k * in_channels`, `fan_out = k * filters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fans {
    /// Inputs feeding one output unit.
    pub fan_in: usize,
    /// Outputs one input unit feeds.
    pub fan_out: usize,
}

/// An initializer, named as in Keras (`kernel_initializer='glorot_uniform'`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Initializer {
    /// `U(-l, l)` with `l = sqrt(6 / (fan_in + fan_out))`: Keras's default
    /// for Conv1D and Dense kernels.
    #[default]
    GlorotUniform,
    /// Truncated normal (at two standard deviations) with standard deviation
    /// `sqrt(2 / fan_in) / 0.8796`, the correction Keras applies so that the
    /// truncated distribution keeps variance `2 / fan_in`.
    HeNormal,
    /// All zeros: Keras's default for biases.
    Zeros,
    /// All ones: BatchNormalization's gamma and moving variance.
    Ones,
}

/// Standard deviation of a unit normal truncated to [-2, 2], which Keras
/// divides by so that truncation keeps the intended variance.
const TRUNCATED_NORMAL_STDDEV: f64 = 0.879_625_661_034_239_8;

impl Initializer {
    /// Draws an array of `shape` from this initializer.
    pub fn sample<T: Float>(&self, shape: &[usize], fans: Fans, rng: &mut SeededRng) -> ArrayD<T> {
        let dim = IxDyn(shape);
        match self {
            Initializer::Zeros => ArrayD::zeros(dim),
            Initializer::Ones => ArrayD::ones(dim),
            Initializer::GlorotUniform => {
                let limit = (6.0 / (fans.fan_in + fans.fan_out).max(1) as f64).sqrt();
                ArrayD::from_shape_simple_fn(dim, || {
                    T::from_f64_lossy(rng.uniform_in(-limit, limit))
                })
            }
            Initializer::HeNormal => {
                let stddev = (2.0 / fans.fan_in.max(1) as f64).sqrt() / TRUNCATED_NORMAL_STDDEV;
                ArrayD::from_shape_simple_fn(dim, || loop {
                    let z = rng.normal();
                    if z.abs() <= 2.0 {
                        break T::from_f64_lossy(z * stddev);
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_uniform_stays_within_its_limit_and_fills_it() {
        let fans = Fans {
            fan_in: 100,
            fan_out: 3200,
        };
        let w: ArrayD<f64> =
            Initializer::GlorotUniform.sample(&[32, 1, 100], fans, &mut SeededRng::new(0, 0));
        let limit = (6.0f64 / 3300.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= limit));
        let max = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max > 0.95 * limit, "3200 draws should come near the limit");
        let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
        assert!((var - limit * limit / 3.0).abs() < 0.1 * limit * limit / 3.0);
    }

    #[test]
    fn he_normal_keeps_variance_two_over_fan_in() {
        let fans = Fans {
            fan_in: 50,
            fan_out: 10,
        };
        let w: ArrayD<f64> =
            Initializer::HeNormal.sample(&[20000], fans, &mut SeededRng::new(1, 0));
        let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
        assert!((var / (2.0 / 50.0) - 1.0).abs() < 0.05, "variance {var}");
        let bound = 2.0 * (2.0f64 / 50.0).sqrt() / TRUNCATED_NORMAL_STDDEV;
        assert!(w.iter().all(|v| v.abs() <= bound));
    }

    #[test]
    fn same_seed_same_weights() {
        let fans = Fans {
            fan_in: 4,
            fan_out: 4,
        };
        let a: ArrayD<f32> =
            Initializer::GlorotUniform.sample(&[16], fans, &mut SeededRng::new(9, 2));
        let b: ArrayD<f32> =
            Initializer::GlorotUniform.sample(&[16], fans, &mut SeededRng::new(9, 2));
        assert_eq!(a, b);
    }
}
