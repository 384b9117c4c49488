//! Elementwise activation functions and their derivatives, shared by the
//! activation layers and by the `activation` argument of Conv1D and Dense.

use kymo_tensor::elementwise::rectify;
use kymo_tensor::Float;

use crate::layer::{check_grad, standard, take_cache};
use crate::LayerError;
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
    /// `scale * elu(z, alpha)` with Keras's (and TensorFlow's) constants
    /// [`SELU_ALPHA`] and [`SELU_SCALE`].
    Selu,
    /// `z * sigmoid(z)` (Keras's `silu`, also spelled `swish`).
    #[serde(alias = "swish")]
    Silu,
    /// `z * Φ(z)`, `Φ` the standard normal CDF, through `erf`: Keras's
    /// `gelu` (its `approximate=False`) and PyTorch's `nn.GELU()`.
    Gelu,
    /// `ln(1 + exp(z))`, computed as `max(z, 0) + ln(1 + exp(-|z|))`.
    Softplus,
    /// `exp(z_i) / Σ_j exp(z_j)` over the units of a Dense output or the
    /// channels of a signal (Keras's `axis=-1`, kymo's axis 1), with the
    /// maximum subtracted first as Keras does. Not elementwise: layers route
    /// it to its own forward and backward.
    Softmax,
}

/// SELU's `alpha`, as TensorFlow's `tf.nn.selu` (and Keras's `selu`).
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
/// SELU's `scale`, as TensorFlow's `tf.nn.selu`.
pub const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// `1 / sqrt(2)`, GELU's argument scale for `erf`.
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// `erf` of `z`, through f64 (`libm`): for f32 it rounds once, at the end.
fn erf<T: Float>(z: T) -> T {
    T::from_f64_lossy(libm::erf(z.to_f64_lossless()))
}

/// The logistic sigmoid, the one formula SiLU, softplus's derivative and
/// `Sigmoid` share.
#[inline]
fn sigmoid<T: Float>(z: T) -> T {
    T::one() / (T::one() + (-z).exp())
}

impl Activation {
    /// True for the identity, which layers skip entirely.
    pub fn is_linear(&self) -> bool {
        matches!(self, Activation::Linear)
    }

    /// `f(z)` of an elementwise activation. Softmax never comes here
    /// ([`InPlaceActivation`] routes it to [`softmax_in_place`]); its arm is
    /// the identity only so the match stays total.
    #[inline]
    pub(crate) fn apply<T: Float>(&self, z: T) -> T {
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
            Activation::Sigmoid => sigmoid(z),
            Activation::Selu => {
                let scale = T::from_f64_lossy(SELU_SCALE);
                if z > T::zero() {
                    scale * z
                } else {
                    scale * T::from_f64_lossy(SELU_ALPHA) * z.exp_m1()
                }
            }
            Activation::Silu => z * sigmoid(z),
            Activation::Gelu => {
                let half = T::from_f64_lossy(0.5);
                half * z * (T::one() + erf(z * T::from_f64_lossy(FRAC_1_SQRT_2)))
            }
            Activation::Softplus => z.max(T::zero()) + (-z.abs()).exp().ln_1p(),
            Activation::Softmax => z,
        }
    }

    /// `f'(z)` of an elementwise activation, evaluated at the pre-activation
    /// `z` (Softmax: see [`Activation::apply`]).
    #[inline]
    pub(crate) fn derivative<T: Float>(&self, z: T) -> T {
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
                let s = sigmoid(z);
                s * (T::one() - s)
            }
            Activation::Selu => {
                let scale = T::from_f64_lossy(SELU_SCALE);
                if z > T::zero() {
                    scale
                } else {
                    scale * T::from_f64_lossy(SELU_ALPHA) * z.exp()
                }
            }
            Activation::Silu => {
                let s = sigmoid(z);
                s * (T::one() + z * (T::one() - s))
            }
            Activation::Gelu => {
                // Φ(z) + z φ(z), φ the standard normal density.
                let half = T::from_f64_lossy(0.5);
                let cdf = half * (T::one() + erf(z * T::from_f64_lossy(FRAC_1_SQRT_2)));
                let density =
                    T::from_f64_lossy(0.5 * std::f64::consts::FRAC_2_SQRT_PI * FRAC_1_SQRT_2)
                        * (-half * z * z).exp();
                cdf + z * density
            }
            Activation::Softplus => sigmoid(z),
            Activation::Softmax => T::one(),
        }
    }

    /// `(f(z), f'(z))` of an elementwise activation, for a training forward
    /// pass that keeps the derivative: the transcendental function both
    /// share (tanh, the sigmoid, erf) runs once, not once for each.
    /// Each half is the arithmetic of [`Activation::apply`] and
    /// [`Activation::derivative`] on the same shared value, so the pair has
    /// their bits (`value_and_derivative_give_the_bits_of_apply_and_derivative`).
    #[inline]
    pub(crate) fn value_and_derivative<T: Float>(&self, z: T) -> (T, T) {
        match *self {
            Activation::Tanh => {
                let t = z.tanh();
                (t, T::one() - t * t)
            }
            Activation::Sigmoid => {
                let s = sigmoid(z);
                (s, s * (T::one() - s))
            }
            Activation::Silu => {
                let s = sigmoid(z);
                (z * s, s * (T::one() + z * (T::one() - s)))
            }
            Activation::Gelu => {
                let half = T::from_f64_lossy(0.5);
                let erf = erf(z * T::from_f64_lossy(FRAC_1_SQRT_2));
                let cdf = half * (T::one() + erf);
                let density =
                    T::from_f64_lossy(0.5 * std::f64::consts::FRAC_2_SQRT_PI * FRAC_1_SQRT_2)
                        * (-half * z * z).exp();
                (half * z * (T::one() + erf), cdf + z * density)
            }
            _ => (self.apply(z), self.derivative(z)),
        }
    }
}

/// Runs `$body` with `$known` bound to `$activation` rebuilt in the arm of
/// its own variant: the compiler then sees which variant it is, drops the
/// per-element `match` from the loops in `$body`, and vectorizes them.
macro_rules! for_each_variant {
    ($activation:expr, $known:ident => $body:expr) => {
        match $activation {
            Activation::Linear => {
                let $known = Activation::Linear;
                $body
            }
            Activation::Relu => {
                let $known = Activation::Relu;
                $body
            }
            Activation::LeakyRelu { negative_slope } => {
                let $known = Activation::LeakyRelu { negative_slope };
                $body
            }
            Activation::Elu { alpha } => {
                let $known = Activation::Elu { alpha };
                $body
            }
            Activation::Tanh => {
                let $known = Activation::Tanh;
                $body
            }
            Activation::Sigmoid => {
                let $known = Activation::Sigmoid;
                $body
            }
            Activation::Selu => {
                let $known = Activation::Selu;
                $body
            }
            Activation::Silu => {
                let $known = Activation::Silu;
                $body
            }
            Activation::Gelu => {
                let $known = Activation::Gelu;
                $body
            }
            Activation::Softplus => {
                let $known = Activation::Softplus;
                $body
            }
            Activation::Softmax => {
                let $known = Activation::Softmax;
                $body
            }
        }
    };
}

/// ReLU with its mask: `z` above zero, else an exact zero (a product would
/// give -0 for negative inputs).
/// An elementwise `activation` (not softmax, which mixes a row) applied to
/// `values` in place, with [`Activation::apply`]'s arithmetic: across
/// threads in blocks when `parallel` (an activation layer's inference
/// pass), else on this thread (a convolution's fused epilogue,
/// `crate::channel_maps`, on stretches already in cache); the same bits
/// either way.
pub(crate) fn apply_in_place<T: Float>(activation: Activation, values: &mut [T], parallel: bool) {
    // ReLU and LeakyReLU spelled out with their slope as a value: through
    // `apply` the loop ran scalar, dispatching on the variant per element
    // (40% of the answer's inference with BatchNormalization).
    match activation {
        Activation::Relu => each(values, parallel, |z: T| z.max(T::zero())),
        Activation::LeakyRelu { negative_slope } => {
            let slope = T::from_f64_lossy(negative_slope);
            // `z` times 1 or the slope: the same bits as choosing `z` or
            // `z * slope` (z·1 = z exactly), but every lane is stored. As a
            // choice, the compiler stored only the negative lanes, by
            // masked stores that AMD's cores microcode (13% of the
            // answer's inference on the EPYC).
            each(values, parallel, move |z: T| {
                z * if z > T::zero() { T::one() } else { slope }
            })
        }
        _ => for_each_variant!(activation, known => {
            each(values, parallel, move |z| known.apply(z))
        }),
    }
}

/// `f` on every value, across threads in blocks when `parallel`.
fn each<T: Float>(values: &mut [T], parallel: bool, f: impl Fn(T) -> T + Sync) {
    if parallel {
        kymo_tensor::elementwise::map_in_place(values, f);
    } else {
        values.iter_mut().for_each(|v| *v = f(*v));
    }
}

/// An activation applied in place, keeping `f'(z)` for backward in a buffer
/// that lives as long as the layer: the forward pass needs no output array
/// and no copy of its input, and after the first step nothing is allocated.
#[derive(Debug)]
pub(crate) struct InPlaceActivation<T> {
    activation: Activation,
    /// `f'(z)` per element, for the smooth activations.
    derivative: Vec<T>,
    /// Whether `z > 0`, per element, for ReLU and LeakyReLU: their
    /// derivative is 1 or a constant, so a byte (a quarter of the traffic
    /// of a float) is all backward needs.
    positive: Vec<u8>,
    /// Shape of the batch whose derivative is kept; `None` until a training
    /// forward pass, and again once backward has used it.
    saved: Option<Vec<usize>>,
    /// Whether the mask was rebuilt for one backward pass
    /// ([`InPlaceActivation::rebuild_mask`]) and is to be freed after it.
    rebuilt: bool,
}

/// The slope below zero of a piecewise-linear activation (ReLU: 0), whose
/// derivative is 1 above zero and that slope elsewhere.
pub(crate) fn kink_slope(activation: Activation) -> Option<f64> {
    match activation {
        Activation::Relu => Some(0.0),
        Activation::LeakyRelu { negative_slope } => Some(negative_slope),
        _ => None,
    }
}

impl<T: Float> InPlaceActivation<T> {
    /// Nothing saved yet.
    pub(crate) fn new(activation: Activation) -> Self {
        Self {
            activation,
            derivative: Vec::new(),
            positive: Vec::new(),
            saved: None,
            rebuilt: false,
        }
    }

    /// The activation applied.
    pub(crate) fn activation(&self) -> Activation {
        self.activation
    }

    /// Applies the activation to `z` in place; in training, keeps `f'(z)`.
    pub(crate) fn forward(&mut self, z: ndarray::ArrayD<T>, train: bool) -> ndarray::ArrayD<T> {
        self.saved = train.then(|| z.shape().to_vec());
        if self.activation.is_linear() {
            return z;
        }
        let mut z = standard(z);
        let activation = self.activation;
        if activation == Activation::Softmax {
            softmax_in_place(&mut z);
            if train {
                // Backward needs the probabilities themselves.
                self.derivative.clear();
                self.derivative.extend(z.iter().copied());
            }
            return z;
        }
        let values = z
            .as_slice_mut()
            .expect("invariant: standard layout is contiguous");
        if let (true, Some(slope)) = (train, kink_slope(activation)) {
            self.positive.resize(values.len(), 0);
            let positive = &mut self.positive;
            // The slope converted once, and a select instead of `apply`'s
            // branch: the loop then vectorizes (it ran scalar, converting
            // the f64 slope per element). ReLU keeps its exact zero (a
            // product would give -0 for negative inputs).
            let slope = T::from_f64_lossy(slope);
            let relu = activation == Activation::Relu;
            let saved = if relu {
                kymo_tensor::elementwise::map_in_place_saving(values, positive, rectify)
            } else {
                kymo_tensor::elementwise::kink_forward_in_place(values, positive, slope)
            };
            // Invariant: the buffer was just sized to `values`.
            saved.expect("invariant: the mask matches the values");
        } else if train {
            self.derivative.resize(values.len(), T::zero());
            // Invariant: the buffer was just sized to `values`.
            let derivative = &mut self.derivative;
            for_each_variant!(activation, known => {
                kymo_tensor::elementwise::map_in_place_saving(values, derivative, |z| {
                    known.value_and_derivative(z)
                })
            })
            .expect("invariant: the derivative buffer matches the values");
        } else {
            apply_in_place(activation, values, true);
        }
        z
    }

    /// Frees the mask a training pass of ReLU or LeakyReLU kept (`true`),
    /// for [`InPlaceActivation::rebuild_mask`] to rebuild from the input
    /// before backward; other activations keep what they kept (`false`).
    pub(crate) fn drop_mask(&mut self) -> bool {
        if kink_slope(self.activation).is_none() || self.saved.is_none() {
            return false;
        }
        self.positive = Vec::new();
        true
    }

    /// The mask of a training pass on `z` again (`z > 0`, the test the
    /// forward pass made), after [`InPlaceActivation::drop_mask`]; it is
    /// freed again once backward has used it.
    pub(crate) fn rebuild_mask(&mut self, z: ndarray::ArrayD<T>) {
        let z = standard(z);
        let values = z
            .as_slice()
            .expect("invariant: standard layout is contiguous");
        self.positive.resize(values.len(), 0);
        kymo_tensor::elementwise::positive_mask(values, &mut self.positive)
            .expect("invariant: the mask was just sized to the values");
        self.rebuilt = true;
        crate::buffers::give_back(z);
    }

    /// Whether [`InPlaceActivation::reapply`] can run this activation.
    pub(crate) fn reapplies(&self) -> bool {
        self.activation != Activation::Softmax
    }

    /// The activation applied to `z` in place with the bits of a training
    /// forward pass, keeping nothing (`None` for softmax, whose backward
    /// keeps its output).
    pub(crate) fn reapply(&self, z: ndarray::ArrayD<T>) -> Option<ndarray::ArrayD<T>> {
        let activation = self.activation;
        if !self.reapplies() {
            return None;
        }
        if activation.is_linear() {
            return Some(z);
        }
        let mut z = standard(z);
        let values = z
            .as_slice_mut()
            .expect("invariant: standard layout is contiguous");
        // The functions the training pass runs, without what it saves.
        match kink_slope(activation) {
            Some(_) if activation == Activation::Relu => {
                kymo_tensor::elementwise::map_in_place(values, |z| rectify(z).0)
            }
            Some(slope) => {
                kymo_tensor::elementwise::kink_in_place(values, T::from_f64_lossy(slope))
            }
            None => for_each_variant!(activation, known => {
                kymo_tensor::elementwise::map_in_place(values, |z| known.apply(z))
            }),
        }
        Some(z)
    }

    /// Multiplies `grad` by the kept `f'(z)` in place. An error names
    /// `layer` when no training forward pass came first or when `grad` is
    /// not shaped like that pass's batch.
    pub(crate) fn backward(
        &mut self,
        layer: &str,
        kind: &'static str,
        grad: ndarray::ArrayD<T>,
    ) -> Result<ndarray::ArrayD<T>, LayerError> {
        let shape = take_cache(layer, &mut self.saved)?;
        check_grad(layer, kind, &shape, &grad)?;
        if self.activation.is_linear() {
            return Ok(grad);
        }
        let mut grad = standard(grad);
        if self.activation == Activation::Softmax {
            softmax_backward_in_place(&mut grad, &self.derivative);
            return Ok(grad);
        }
        let values = grad
            .as_slice_mut()
            .expect("invariant: standard layout is contiguous");
        // Invariant: the derivative or the mask was kept for a batch of
        // this shape.
        let checked = if let Some(slope) = kink_slope(self.activation) {
            // The same products as `g * f'(z)`: 1 above zero, the slope elsewhere.
            let slope = T::from_f64_lossy(slope);
            let positive =
                self.positive
                    .get(..values.len())
                    .ok_or_else(|| LayerError::NoForwardCache {
                        layer: layer.to_string(),
                    })?;
            kymo_tensor::elementwise::kink_backward_in_place(values, positive, slope)
        } else {
            kymo_tensor::elementwise::zip_in_place(
                values,
                &self.derivative[..values.len()],
                |g, d| g * d,
            )
        };
        checked.expect("invariant: checked against the saved shape");
        if std::mem::take(&mut self.rebuilt) {
            self.positive = Vec::new();
        }
        Ok(grad)
    }
}

/// Splits a standard-layout batch `[B, K, rest...]` into its `B` samples
/// of `K` rows of `inner` values: softmax normalizes over `K` at each of the
/// `inner` positions (for a Dense output `inner` is 1).
fn softmax_geometry(shape: &[usize]) -> (usize, usize) {
    let classes = shape.get(1).copied().unwrap_or(1);
    let inner = shape.iter().skip(2).product::<usize>();
    (classes, inner)
}

/// Softmax over axis 1 of a standard-layout array, in place: the maximum is
/// subtracted first (as Keras and PyTorch do) so no exponential overflows.
pub(crate) fn softmax_in_place<T: Float>(z: &mut ndarray::ArrayD<T>) {
    let (classes, inner) = softmax_geometry(z.shape());
    let values = z
        .as_slice_mut()
        .expect("invariant: callers pass standard layout");
    if classes == 0 || inner == 0 {
        return;
    }
    for sample in values.chunks_mut(classes * inner) {
        for position in 0..inner {
            let at = |k: usize| k * inner + position;
            let mut top = T::neg_infinity();
            for k in 0..classes {
                top = top.max(sample[at(k)]);
            }
            let mut total = T::zero();
            for k in 0..classes {
                let e = (sample[at(k)] - top).exp();
                sample[at(k)] = e;
                total += e;
            }
            for k in 0..classes {
                sample[at(k)] = sample[at(k)] / total;
            }
        }
    }
}

/// The gradient through softmax in place: `g_i ← y_i (g_i − Σ_j g_j y_j)`,
/// with `probabilities` the forward pass's outputs in the same layout.
fn softmax_backward_in_place<T: Float>(grad: &mut ndarray::ArrayD<T>, probabilities: &[T]) {
    let (classes, inner) = softmax_geometry(grad.shape());
    let values = grad
        .as_slice_mut()
        .expect("invariant: callers pass standard layout");
    if classes == 0 || inner == 0 {
        return;
    }
    let chunk = classes * inner;
    for (sample, kept) in values.chunks_mut(chunk).zip(probabilities.chunks(chunk)) {
        for position in 0..inner {
            let at = |k: usize| k * inner + position;
            let mut dot = T::zero();
            for k in 0..classes {
                dot += sample[at(k)] * kept[at(k)];
            }
            for k in 0..classes {
                sample[at(k)] = kept[at(k)] * (sample[at(k)] - dot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every elementwise activation (all but softmax).
    const ELEMENTWISE: [Activation; 10] = [
        Activation::Linear,
        Activation::Relu,
        Activation::LeakyRelu {
            negative_slope: 0.1,
        },
        Activation::Elu { alpha: 1.3 },
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Selu,
        Activation::Silu,
        Activation::Gelu,
        Activation::Softplus,
    ];

    #[test]
    fn derivatives_match_finite_differences_away_from_kinks() {
        for act in ELEMENTWISE {
            for z in [-2.5f64, -0.7, 0.3, 1.9] {
                let h = 1e-6;
                let numeric = (act.apply(z + h) - act.apply(z - h)) / (2.0 * h);
                assert!((numeric - act.derivative(z)).abs() < 1e-8, "{act:?} at {z}");
            }
        }
    }

    #[test]
    fn in_place_passes_give_the_bits_of_apply_element_by_element() {
        // Zeros of both signs, NaN, infinities, and enough values for the
        // threads' blocks.
        let mut values: Vec<f32> = vec![0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        values.extend((0..70_000).map(|i| ((i as f32) * 0.013).sin() * 4.0 - 0.5));
        // A NaN is any NaN: which operand's NaN a product passes on (and so
        // its sign bit) is the compiler's choice, and an optimized build's
        // vector loop made Silu's NaN negative where `apply` kept it
        // positive.
        let bits = |v: f32| {
            if v.is_nan() {
                f32::NAN.to_bits()
            } else {
                v.to_bits()
            }
        };
        for activation in ELEMENTWISE {
            let want: Vec<u32> = values.iter().map(|&z| bits(activation.apply(z))).collect();
            for parallel in [false, true] {
                let mut got = values.clone();
                apply_in_place(activation, &mut got, parallel);
                let got: Vec<u32> = got.iter().map(|&v| bits(v)).collect();
                assert!(got == want, "{activation:?}, parallel {parallel}");
            }
        }
    }

    #[test]
    fn value_and_derivative_give_the_bits_of_apply_and_derivative() {
        let mut values: Vec<f32> = vec![0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        values.extend((0..20_000).map(|i| ((i as f32) * 0.013).sin() * 9.0 - 0.5));
        for activation in ELEMENTWISE {
            for &z in &values {
                let (value, slope) = activation.value_and_derivative(z);
                let want = (activation.apply(z), activation.derivative(z));
                assert_eq!(
                    (value.to_bits(), slope.to_bits()),
                    (want.0.to_bits(), want.1.to_bits()),
                    "{activation:?} at {z}"
                );
            }
            let z = -0.75f64;
            let (value, slope) = activation.value_and_derivative(z);
            assert_eq!(
                (value, slope),
                (activation.apply(z), activation.derivative(z))
            );
        }
    }

    #[test]
    fn the_smooth_activations_take_the_values_keras_gives() {
        // Keras's definitions (TensorFlow's SELU constants; `gelu` through
        // erf) at these points, to 17 digits by mpmath at 30.
        let cases = [
            (Activation::Selu, -1.5, -1.3658143533672527),
            (Activation::Selu, 2.0, 2.101401974710961),
            (Activation::Silu, -1.5, -0.2736382857095345),
            (Activation::Silu, 2.0, 1.7615941559557649),
            (Activation::Gelu, -1.5, -0.1002108019032871),
            (Activation::Gelu, 2.0, 1.9544997361036416),
            (Activation::Softplus, -1.5, 0.2014132779827524),
            (Activation::Softplus, 40.0, 40.0),
        ];
        for (activation, z, keras) in cases {
            let kymo: f64 = activation.apply(z);
            assert!(
                (kymo - keras).abs() < 1e-14,
                "{activation:?}({z}) = {kymo}, Keras {keras}"
            );
        }
        let swish: Activation = serde_json::from_str("\"swish\"").expect("alias");
        assert_eq!(swish, Activation::Silu);
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
