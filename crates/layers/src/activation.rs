//! Elementwise activation functions and their derivatives, shared by the
//! activation layers and by the `activation` argument of Conv1D and Dense.

use kymo_tensor::Float;
use serde::{Deserialize, Serialize};

/// An activation function, spelled as Keras spells it in `activation=...`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Identity (`'linear'`, Keras's default).
    #[default]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `x` for positive inputs, `negative_slope * x` otherwise.
    LeakyRelu {
        /// Slope below zero.
        negative_slope: f64,
    },
    /// `x` for positive inputs, `alpha * (exp(x) - 1)` otherwise.
    Elu {
        /// Scale of the negative part.
        alpha: f64,
    },
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
}

impl Activation {
    /// Applies the activation to a pre-activation array; returns the output
    /// and, unless the activation is linear, the pre-activation that
    /// [`Activation::chain`] needs in backward.
    pub fn forward<T: Float>(
        &self,
        z: ndarray::ArrayD<T>,
    ) -> (ndarray::ArrayD<T>, Option<ndarray::ArrayD<T>>) {
        if self.is_linear() {
            (z, None)
        } else {
            let activation = *self;
            (map_array(&z, |v| activation.apply(v)), Some(z))
        }
    }

    /// Multiplies `grad` by `f'(z)` in place (nothing to do when `z` was not
    /// kept, that is for a linear activation).
    pub fn chain<T: Float>(&self, grad: &mut ndarray::ArrayD<T>, z: Option<&ndarray::ArrayD<T>>) {
        if let Some(z) = z {
            let activation = *self;
            if chain_array(grad, z, |g, z| g * activation.derivative(z)).is_err() {
                // Shapes differ only for a caller's mistake; ndarray's
                // broadcasting rules then decide as before.
                grad.zip_mut_with(z, |g, &z| *g *= activation.derivative(z));
            }
        }
    }

    /// True for the identity, which layers skip entirely.
    pub fn is_linear(&self) -> bool {
        matches!(self, Activation::Linear)
    }

    /// `f(z)`.
    #[inline]
    pub fn apply<T: Float>(&self, z: T) -> T {
        match *self {
            Activation::Linear => z,
            Activation::Relu => z.max(T::zero()),
            Activation::LeakyRelu { negative_slope } => {
                if z > T::zero() {
                    z
                } else {
                    z * T::from_f64_lossy(negative_slope)
                }
            }
            Activation::Elu { alpha } => {
                if z > T::zero() {
                    z
                } else {
                    T::from_f64_lossy(alpha) * z.exp_m1()
                }
            }
            Activation::Tanh => z.tanh(),
            Activation::Sigmoid => T::one() / (T::one() + (-z).exp()),
        }
    }

    /// `f'(z)`, evaluated at the pre-activation `z`.
    #[inline]
    pub fn derivative<T: Float>(&self, z: T) -> T {
        match *self {
            Activation::Linear => T::one(),
            Activation::Relu => {
                if z > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Activation::LeakyRelu { negative_slope } => {
                if z > T::zero() {
                    T::one()
                } else {
                    T::from_f64_lossy(negative_slope)
                }
            }
            Activation::Elu { alpha } => {
                if z > T::zero() {
                    T::one()
                } else {
                    T::from_f64_lossy(alpha) * z.exp()
                }
            }
            Activation::Tanh => {
                let t = z.tanh();
                T::one() - t * t
            }
            Activation::Sigmoid => {
                let s = self.apply(z);
                s * (T::one() - s)
            }
        }
    }
}

/// `f` applied to every element, split across threads for large contiguous
/// arrays (see `kymo_tensor::elementwise`).
pub(crate) fn map_array<T: Float>(
    input: &ndarray::ArrayD<T>,
    f: impl Fn(T) -> T + Sync,
) -> ndarray::ArrayD<T> {
    match input.as_slice() {
        Some(values) => {
            let mapped = kymo_tensor::elementwise::map(values, f);
            // Invariant: same number of elements in the same standard layout.
            ndarray::ArrayD::from_shape_vec(input.raw_dim(), mapped)
                .expect("map keeps the element count")
        }
        None => input.mapv(f),
    }
}

/// `grad[i] = f(grad[i], other[i])`, split across threads for large
/// contiguous arrays; an error when the two are not both contiguous with
/// the same shape.
pub(crate) fn chain_array<T: Float>(
    grad: &mut ndarray::ArrayD<T>,
    other: &ndarray::ArrayD<T>,
    f: impl Fn(T, T) -> T + Sync,
) -> Result<(), kymo_tensor::TensorError> {
    let (expected, found) = (grad.shape().to_vec(), other.shape().to_vec());
    let mismatch = || kymo_tensor::TensorError::Shape {
        kernel: "chain",
        argument: "other",
        expected: expected.clone(),
        found: found.clone(),
    };
    if expected != found {
        return Err(mismatch());
    }
    let other = other.as_slice().ok_or_else(mismatch)?;
    match grad.as_slice_mut() {
        Some(target) => kymo_tensor::elementwise::zip_in_place(target, other, f),
        None => Err(mismatch()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences_away_from_kinks() {
        let all = [
            Activation::Linear,
            Activation::Relu,
            Activation::LeakyRelu {
                negative_slope: 0.1,
            },
            Activation::Elu { alpha: 1.3 },
            Activation::Tanh,
            Activation::Sigmoid,
        ];
        for act in all {
            for z in [-2.5f64, -0.7, 0.3, 1.9] {
                let h = 1e-6;
                let numeric = (act.apply(z + h) - act.apply(z - h)) / (2.0 * h);
                assert!((numeric - act.derivative(z)).abs() < 1e-8, "{act:?} at {z}");
            }
        }
    }

    #[test]
    fn serializes_as_keras_spells_it() {
        assert_eq!(
            serde_json::to_string(&Activation::Relu).expect("serializes"),
            "\"relu\""
        );
        let leaky: Activation =
            serde_json::from_str(r#"{"leaky_relu":{"negative_slope":0.1}}"#).expect("parses");
        assert_eq!(
            leaky,
            Activation::LeakyRelu {
                negative_slope: 0.1
            }
        );
    }
}
