//! Gradient checks: a layer's analytic backward pass against central finite
//! differences, run in `f64`.
//!
//! The loss is `Σ R ⊙ layer(x)` for a fixed random `R`, so its gradient with
//! respect to the output is exactly `R`. Every input element and every
//! trainable weight (up to a sampled cap) is nudged by `±step`, and the
//! slope must match what `backward` produced.

use kymo_tensor::SeededRng;
use ndarray::ArrayD;

use crate::{Layer, LayerError, Mode, Model, Parameter, Shape};

/// What a gradient check needs of a layer or a whole model.
trait Differentiable {
    fn input_shape(&self) -> Shape;
    fn output_shape(&self) -> Shape;
    fn forward(&mut self, x: ArrayD<f64>, mode: Mode) -> Result<ArrayD<f64>, LayerError>;
    fn backward(&mut self, grad: ArrayD<f64>) -> Result<ArrayD<f64>, LayerError>;
    fn parameters(&self) -> Vec<&Parameter<f64>>;
    fn parameters_mut(&mut self) -> Vec<&mut Parameter<f64>>;
}

/// Forwards each method of [`Differentiable`] to the same-named method of
/// a trait object.
macro_rules! differentiable {
    ($object:ty) => {
        impl Differentiable for $object {
            fn input_shape(&self) -> Shape {
                <$object>::input_shape(self)
            }
            fn output_shape(&self) -> Shape {
                <$object>::output_shape(self)
            }
            fn forward(&mut self, x: ArrayD<f64>, mode: Mode) -> Result<ArrayD<f64>, LayerError> {
                <$object>::forward(self, x, mode)
            }
            fn backward(&mut self, grad: ArrayD<f64>) -> Result<ArrayD<f64>, LayerError> {
                <$object>::backward(self, grad)
            }
            fn parameters(&self) -> Vec<&Parameter<f64>> {
                <$object>::parameters(self)
            }
            fn parameters_mut(&mut self) -> Vec<&mut Parameter<f64>> {
                <$object>::parameters_mut(self)
            }
        }
    };
}

differentiable!(dyn Layer<f64> + '_);
differentiable!(dyn Model<f64> + '_);

/// A layer whose random draws (a dropout mask, noise) restart from one
/// state at every forward pass: finite differences then see one function,
/// the one backward differentiates.
struct SameDraws<'a> {
    layer: &'a mut dyn Layer<f64>,
    start: Option<SeededRng>,
}

impl Differentiable for SameDraws<'_> {
    fn input_shape(&self) -> Shape {
        self.layer.input_shape()
    }
    fn output_shape(&self) -> Shape {
        self.layer.output_shape()
    }
    fn forward(&mut self, x: ArrayD<f64>, mode: Mode) -> Result<ArrayD<f64>, LayerError> {
        if let (Some(start), Some(rng)) = (&self.start, self.layer.rng_mut()) {
            *rng = start.clone();
        }
        self.layer.forward(x, mode)
    }
    fn backward(&mut self, grad: ArrayD<f64>) -> Result<ArrayD<f64>, LayerError> {
        self.layer.backward(grad)
    }
    fn parameters(&self) -> Vec<&Parameter<f64>> {
        self.layer.parameters()
    }
    fn parameters_mut(&mut self) -> Vec<&mut Parameter<f64>> {
        self.layer.parameters_mut()
    }
}

/// How inputs are drawn, so that a check stays away from points where the
/// function has no derivative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputDraw {
    /// Uniform in `[-1, 1)`: for layers smooth everywhere.
    Uniform,
    /// Uniform magnitude in `[margin, 1)` with a random sign: keeps inputs
    /// away from the kink at zero of ReLU-like functions.
    AwayFromZero(f64),
    /// A shuffled ladder of distinct values `0.05` apart: no two elements of
    /// a max-pool window tie, even after a nudge.
    Distinct,
}

/// Tolerances and input drawing for [`check_layer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradCheck {
    /// Finite-difference step.
    pub step: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// How inputs are drawn.
    pub draw: InputDraw,
    /// At most this many elements of each tensor are checked (sampled).
    pub max_elements: usize,
}

impl GradCheck {
    /// Tolerances for a smooth layer in `f64`: tight enough that a factor of
    /// `N / (N - 1)` or a shifted index fails by orders of magnitude.
    pub fn smooth() -> Self {
        Self {
            step: 1e-6,
            rtol: 1e-6,
            atol: 1e-8,
            draw: InputDraw::Uniform,
            max_elements: 400,
        }
    }

    /// The same tolerances with another input draw.
    pub fn with_draw(draw: InputDraw) -> Self {
        Self {
            draw,
            ..Self::smooth()
        }
    }
}

/// What a passing check covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GradReport {
    /// Number of scalar derivatives compared.
    pub checked: usize,
}

fn draw_input(shape: &[usize], draw: InputDraw, rng: &mut SeededRng) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = match draw {
        InputDraw::Uniform => (0..n).map(|_| rng.uniform_in(-1.0, 1.0)).collect(),
        InputDraw::AwayFromZero(margin) => (0..n)
            .map(|_| {
                let magnitude = rng.uniform_in(margin, 1.0);
                if rng.uniform() < 0.5 {
                    -magnitude
                } else {
                    magnitude
                }
            })
            .collect(),
        InputDraw::Distinct => {
            let mut ladder: Vec<f64> = (0..n).map(|i| i as f64 * 0.05 - n as f64 * 0.025).collect();
            rng.shuffle(&mut ladder);
            ladder
        }
    };
    ArrayD::from_shape_vec(shape.to_vec(), values)
        .expect("invariant: exactly product(shape) values were drawn")
}

fn loss<D: Differentiable + ?Sized>(
    layer: &mut D,
    x: &ArrayD<f64>,
    projection: &ArrayD<f64>,
    mode: Mode,
) -> Result<f64, String> {
    let y = layer.forward(x.clone(), mode).map_err(|e| e.to_string())?;
    Ok((&y * projection).sum())
}

fn sampled_indices(len: usize, cap: usize, rng: &mut SeededRng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..len).collect();
    if len > cap {
        rng.shuffle(&mut all);
        all.truncate(cap);
    }
    all
}

fn compare(
    what: &str,
    index: usize,
    analytic: f64,
    numeric: f64,
    cfg: &GradCheck,
) -> Result<(), String> {
    let tolerance = cfg.atol + cfg.rtol * analytic.abs().max(numeric.abs());
    if (analytic - numeric).abs() > tolerance || !analytic.is_finite() {
        return Err(format!(
            "{what}[{index}]: backward gives {analytic:.9e}, finite differences {numeric:.9e} \
             (difference {:.3e} > tolerance {tolerance:.3e})",
            (analytic - numeric).abs()
        ));
    }
    Ok(())
}

/// Checks every gradient of `layer` on a random batch of `batch` samples.
/// A layer that draws at random (Dropout, GaussianNoise) draws the same
/// at every forward pass of the check.
///
/// Returns an error describing the first mismatch: which tensor, which
/// element, both values.
pub fn check_layer(
    layer: &mut dyn Layer<f64>,
    batch: usize,
    mode: Mode,
    seed: u64,
    cfg: GradCheck,
) -> Result<GradReport, String> {
    let start = layer.rng_mut().map(|rng| rng.clone());
    check(&mut SameDraws { layer, start }, batch, mode, seed, cfg)
}

/// Checks every gradient of a whole `model` (a graph's joins included) on
/// a random batch of `batch` samples, as [`check_layer`] does for a layer.
pub fn check_model(
    model: &mut dyn Model<f64>,
    batch: usize,
    mode: Mode,
    seed: u64,
    cfg: GradCheck,
) -> Result<GradReport, String> {
    check(model, batch, mode, seed, cfg)
}

fn check<D: Differentiable + ?Sized>(
    layer: &mut D,
    batch: usize,
    mode: Mode,
    seed: u64,
    cfg: GradCheck,
) -> Result<GradReport, String> {
    let mut rng = SeededRng::new(seed, 0x6772_6164);
    let x = draw_input(&layer.input_shape().with_batch(batch), cfg.draw, &mut rng);
    let out_shape = layer.output_shape().with_batch(batch);
    let projection = ArrayD::from_shape_simple_fn(out_shape, || rng.normal());

    for p in layer.parameters_mut() {
        p.zero_grad();
    }
    layer.forward(x.clone(), mode).map_err(|e| e.to_string())?;
    let grad_x = layer
        .backward(projection.clone())
        .map_err(|e| e.to_string())?;
    if grad_x.shape() != x.shape() {
        return Err(format!(
            "input gradient has shape {:?}, input {:?}",
            grad_x.shape(),
            x.shape()
        ));
    }
    let mut checked = 0;
    let h = cfg.step;

    let mut values: Vec<f64> = x.iter().copied().collect();
    let analytic: Vec<f64> = grad_x.iter().copied().collect();
    for i in sampled_indices(values.len(), cfg.max_elements, &mut rng) {
        let original = values[i];
        let mut at = |value: f64, values: &mut Vec<f64>| {
            values[i] = value;
            let nudged =
                ArrayD::from_shape_vec(x.raw_dim(), values.clone()).map_err(|e| e.to_string())?;
            loss(layer, &nudged, &projection, mode)
        };
        let plus = at(original + h, &mut values)?;
        let minus = at(original - h, &mut values)?;
        values[i] = original;
        compare("input", i, analytic[i], (plus - minus) / (2.0 * h), &cfg)?;
        checked += 1;
    }

    let param_count = layer.parameters().len();
    for p_index in 0..param_count {
        let (name, trainable, len, grads) = {
            let p = &layer.parameters()[p_index];
            (
                p.name,
                p.trainable,
                p.value.len(),
                p.grad.iter().copied().collect::<Vec<f64>>(),
            )
        };
        if !trainable {
            continue;
        }
        for i in sampled_indices(len, cfg.max_elements, &mut rng) {
            let nudge = |layer: &mut D, delta: f64| {
                let mut params = layer.parameters_mut();
                if let Some(v) = params[p_index].value.iter_mut().nth(i) {
                    *v += delta;
                }
            };
            nudge(layer, h);
            let plus = loss(layer, &x, &projection, mode)?;
            nudge(layer, -2.0 * h);
            let minus = loss(layer, &x, &projection, mode)?;
            nudge(layer, h);
            compare(name, i, grads[i], (plus - minus) / (2.0 * h), &cfg)?;
            checked += 1;
        }
    }
    Ok(GradReport { checked })
}
