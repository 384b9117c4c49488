//! float32 accuracy at full size: the seed's three models at 1040 points
//! with PyTorch's random weights, forward and backward through an MSE loss.
//! kymo's f64 is the reference (checked here against PyTorch's f64 output
//! and loss, which the fixture records); kymo's f32 must land no further
//! from it than twice PyTorch's own f32 distance from PyTorch's f64, tensor
//! by tensor (distance: max |f32 - f64| / max |f64|).
//!
//! Fixtures: `tests/fixtures/accuracy/`, written by
//! `make_f32_accuracy_fixture.py` beside them. No Python is needed here.

use kymo::layers::Model;
use std::collections::BTreeMap;

use kymo::layers::torch::{from_safetensors, TorchLayout};
use kymo::layers::{Mode, Sequential};
use kymo::tensor::Float;
use ndarray::ArrayD;
use serde_json::Value;

use crate::parity_support::array;

const FIXTURE: &str = include_str!("../fixtures/accuracy/f32_accuracy.json");

/// Below this distance two careful f32 computations differ only by the
/// order of their sums: a sum of n terms rounds to about sqrt(n) ulps of
/// its magnitude, 32 for the 1040 positions a bias or kernel gradient sums
/// (3.8e-6, the level the issue calls fine). Above it, the 2x bound rules.
const ULPS: f64 = 32.0 * f32::EPSILON as f64;

/// Training-mode output, MSE loss and every gradient by PyTorch key, in f64.
fn step<T: Float>(
    name: &str,
    file: &[u8],
    x: &ArrayD<f32>,
    y: &ArrayD<f32>,
) -> BTreeMap<String, Vec<f64>> {
    let mut model = seed_model::<T>(name, file, x.shape()[2]);
    let mut tensors = mse_step(&mut model, x, y);
    let layout = TorchLayout::of(&model).expect("exportable");
    let names = model.parameter_names();
    let parameters = model.parameters();
    for tensor in &layout.tensors {
        let Some(weight) = &tensor.weight else {
            continue;
        };
        let index = names.iter().position(|n| n == weight).expect("named");
        if parameters[index].trainable {
            let grad = &parameters[index].grad;
            tensors.insert(
                tensor.key.clone(),
                grad.iter().map(|v| v.to_f64_lossless()).collect(),
            );
        }
    }
    tensors
}

/// The seed model `name` (`original`, `answer` or `answer_bn`) with
/// PyTorch's weights from `file`.
fn seed_model<T: Float>(name: &str, file: &[u8], length: usize) -> Sequential<T> {
    let spec = match name {
        "original" => kymo::layers::zoo::original(length),
        "answer" => kymo::layers::zoo::answer(length),
        _ => kymo::layers::zoo::answer_bn(length),
    };
    let mut model = Sequential::<T>::new(&spec, 0).expect("builds");
    from_safetensors(&mut model, file, name).expect("PyTorch's state_dict loads");
    model
}

/// Inference-mode output of `model` on `x`, in f64.
pub(crate) fn infer<T: Float>(model: &mut dyn Model<T>, x: &ArrayD<f32>) -> Vec<f64> {
    let input = x.mapv(|v| T::from_f64_lossy(f64::from(v)));
    let output = model.forward(input, Mode::Inference).expect("forward");
    output.iter().map(|v| v.to_f64_lossless()).collect()
}

/// Holds kymo's f64 inference output to PyTorch's in `entry`, and its f32
/// one no further from it than twice PyTorch's own f32 output (or
/// [`ULPS`]). Inference lets kymo take methods a training forward pass may
/// not (`Conv1dWorkspace::set_inference`), so it has its own check.
pub(crate) fn compare_inference(name: &str, entry: &Value, wide: &[f64], narrow: &[f64]) {
    let torch_output: Vec<f64> = array(&entry["torch_f64_inference_output"])
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    assert!(
        distance(wide, &torch_output) < 1e-6,
        "{name}: kymo's f64 inference output differs from PyTorch's"
    );
    let bound = entry["torch_f32_inference_distance"]
        .as_f64()
        .expect("distance");
    let got = distance(narrow, wide);
    eprintln!("{name:<10} inference output  kymo f32 {got:9.2e}  PyTorch f32 {bound:9.2e}");
    assert!(
        got <= (2.0 * bound).max(ULPS),
        "{name}: kymo f32 inference {got:.2e} > 2 x PyTorch's {bound:.2e}"
    );
}

/// A training-mode forward pass of `x`, the MSE loss against `y` over
/// every element (as PyTorch's F.mse_loss and Keras compute it) and its
/// backward pass, gradients zeroed first: the output and the loss, in f64,
/// keyed `output` and `loss`.
pub(crate) fn mse_step<T: Float>(
    model: &mut dyn Model<T>,
    x: &ArrayD<f32>,
    y: &ArrayD<f32>,
) -> BTreeMap<String, Vec<f64>> {
    let input = x.mapv(|v| T::from_f64_lossy(f64::from(v)));
    let output = model.forward(input, Mode::Train).expect("forward");
    let count = output.len() as f64;
    let diff: Vec<f64> = output
        .iter()
        .zip(y.iter())
        .map(|(p, t)| p.to_f64_lossless() - f64::from(*t))
        .collect();
    let loss = diff.iter().map(|d| d * d).sum::<f64>() / count;
    let grad = ArrayD::from_shape_vec(
        output.raw_dim(),
        diff.iter()
            .map(|d| T::from_f64_lossy(2.0 * d / count))
            .collect(),
    )
    .expect("same shape");
    model.zero_grad();
    model.backward(grad).expect("backward");
    let mut tensors = BTreeMap::new();
    tensors.insert(
        "output".to_string(),
        output.iter().map(|v| v.to_f64_lossless()).collect(),
    );
    tensors.insert("loss".to_string(), vec![loss]);
    tensors
}

/// A gradient below this fraction of its layer's kernel gradient in f64 is
/// one that cancels to zero in exact arithmetic (the fixtures' `CANCELLED`).
const CANCELLED: f64 = 1e-9;

fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

fn max_error(low: &[f64], high: &[f64]) -> f64 {
    low.iter()
        .zip(high)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
}

fn distance(low: &[f64], high: &[f64]) -> f64 {
    max_error(low, high) / max_abs(high).max(1e-300)
}

fn check(name: &str, file: &[u8]) {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let (x, y) = (array(&fixture["x"]), array(&fixture["y"]));
    let wide = step::<f64>(name, file, &x, &y);
    let narrow = step::<f32>(name, file, &x, &y);
    compare(name, &fixture["models"][name], &wide, &narrow);
    let length = x.shape()[2];
    let wide = infer(&mut seed_model::<f64>(name, file, length), &x);
    let narrow = infer(&mut seed_model::<f32>(name, file, length), &x);
    compare_inference(name, &fixture["models"][name], &wide, &narrow);
}

/// Holds kymo's f64 output and loss to PyTorch's f64 ones in `entry`, and
/// kymo's f32 distance from its f64 result, tensor by tensor, to twice
/// PyTorch's own f32 distance (or [`ULPS`]).
pub(crate) fn compare(
    name: &str,
    entry: &Value,
    wide: &BTreeMap<String, Vec<f64>>,
    narrow: &BTreeMap<String, Vec<f64>>,
) {
    // kymo's f64 is PyTorch's f64: the reference is the same.
    let torch_output: Vec<f64> = array(&entry["torch_f64_output"])
        .iter()
        .map(|v| *v as f64)
        .collect();
    let torch_loss = entry["torch_f64_loss"].as_f64().expect("loss");
    assert!(
        distance(&wide["output"], &torch_output) < 1e-6,
        "{name}: kymo f64 output differs from PyTorch's f64"
    );
    assert!(((wide["loss"][0] - torch_loss) / torch_loss).abs() < 1e-6);

    let torch = entry["torch_f32_distance"].as_object().expect("distances");
    let cancelled: Vec<&str> = entry["cancelled"]
        .as_array()
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut failures = Vec::new();
    for (key, reference) in wide {
        let bound = torch
            .get(key)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{name}: no PyTorch distance for {key}"));
        let got = if cancelled.contains(&key.as_str()) {
            // Zero in exact arithmetic (a bias before a training-mode
            // BatchNormalization): measured against its layer's kernel
            // gradient, as the fixture measured PyTorch's.
            let kernel = key.replace("/bias", "/kernel");
            let scale = max_abs(&wide[&kernel]);
            assert!(
                max_abs(reference) < CANCELLED * scale,
                "{name}: {key} is not cancelled in kymo's f64"
            );
            max_error(&narrow[key], reference) / scale
        } else {
            distance(&narrow[key], reference)
        };
        let allowed = (2.0 * bound).max(ULPS);
        eprintln!("{name:<10} {key:<32} kymo f32 {got:9.2e}  PyTorch f32 {bound:9.2e}");
        if got > allowed {
            failures.push(format!(
                "{key}: kymo f32 {got:.2e} > 2 x PyTorch's {bound:.2e}"
            ));
        }
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

#[test]
fn the_question_model_in_f32_is_as_exact_as_pytorch() {
    check(
        "original",
        include_bytes!("../fixtures/accuracy/original.safetensors"),
    );
}

#[test]
fn the_answer_model_in_f32_is_as_exact_as_pytorch() {
    check(
        "answer",
        include_bytes!("../fixtures/accuracy/answer.safetensors"),
    );
}

#[test]
fn the_answer_model_with_batch_norm_in_f32_is_as_exact_as_pytorch() {
    check(
        "answer_bn",
        include_bytes!("../fixtures/accuracy/answer_bn.safetensors"),
    );
}
