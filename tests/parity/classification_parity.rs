//! Parity of classification with Keras 3 and PyTorch: softmax (forward and
//! gradient) and the three cross-entropies (value and gradient with respect
//! to the predictions), on probabilities and on logits, with label
//! smoothing, Keras's renormalization and its clipping at 1e-7.
//!
//! Each case holds the peers' results in float64 and float32. kymo reads
//! float32 predictions and computes the loss in float64, so it is held to
//! the float64 references, and its distance from them is checked against
//! the float32 peers' own distance.
//!
//! Fixtures: `tests/fixtures/classification/classification_parity.json`,
//! written by `make_classification_fixtures.py` beside it (versions in
//! `versions.txt`). No Python is needed to run this test.

use kymo::layers::{Activation, ActivationLayer, ActivationSpec, Layer, LayerSpec, Mode, Shape};
use kymo::train::Loss;
use ndarray::{ArrayD, Ix2, IxDyn};
use serde_json::Value;

use crate::parity_support::{array, array64};

const FIXTURE: &str = include_str!("../fixtures/classification/classification_parity.json");

/// Largest difference of `got` from `want`, relative to `want`'s largest
/// magnitude.
fn distance(got: &ArrayD<f64>, want: &ArrayD<f64>) -> f64 {
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    got.iter()
        .zip(want.iter())
        .map(|(g, w)| (g - w).abs() / scale)
        .fold(0.0, f64::max)
}

#[test]
fn cross_entropies_match_keras_and_pytorch_in_f64_and_beat_their_f32() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture parses");
    let cases = fixture["cases"].as_array().expect("cases");
    assert_eq!(
        cases.len(),
        10,
        "every loss, both input kinds, with and without smoothing"
    );
    for case in cases {
        let loss: Loss = serde_json::from_value(case["loss"].clone()).expect("a kymo loss");
        let targets = array(&case["y_true"])
            .into_dimensionality::<Ix2>()
            .expect("2-D targets");
        let predictions = array(&case["y_pred"]);
        let (value, grad) = loss.evaluate(&predictions, &targets).expect("evaluates");
        let grad = grad.mapv(f64::from);
        for peer in ["keras", "torch"] {
            let Some(results) = case.get(peer) else {
                continue;
            };
            let reference = &results["f64"];
            let (want_value, want_grad) = (
                reference["loss"].as_f64().expect("loss"),
                array64(&reference["grad"]),
            );
            let label = format!("{peer} {loss:?}");
            let value_error = (value - want_value).abs() / want_value.abs().max(1e-12);
            assert!(
                value_error < 1e-9,
                "{label}: loss kymo {value}, f64 {want_value}"
            );
            let grad_error = distance(&grad, &want_grad);
            // kymo's gradient is rounded once to f32.
            assert!(
                grad_error < 1e-6,
                "{label}: gradient off by {grad_error:.2e}"
            );
            // The peer's own f32 result, against the same reference.
            let peer32 = &results["f32"];
            let peer_value_error = (peer32["loss"].as_f64().expect("loss") - want_value).abs()
                / want_value.abs().max(1e-12);
            let peer_grad_error = distance(&array64(&peer32["grad"]), &want_grad);
            assert!(
                value_error <= 2.0 * peer_value_error + 1e-12,
                "{label}: loss error {value_error:.2e} vs the peer's f32 {peer_value_error:.2e}"
            );
            assert!(
                grad_error <= 2.0 * peer_grad_error + 1e-7,
                "{label}: gradient error {grad_error:.2e} vs the peer's f32 {peer_grad_error:.2e}"
            );
        }
    }
}

/// Keras's channels-last `(batch, steps, channels)` to kymo's
/// `(batch, channels, steps)`.
fn channels_first(keras: &ArrayD<f64>) -> ArrayD<f64> {
    keras
        .view()
        .permuted_axes(IxDyn(&[0, 2, 1]))
        .as_standard_layout()
        .into_owned()
}

#[test]
fn softmax_over_channels_matches_keras_and_pytorch() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture parses");
    let softmax = &fixture["softmax"];
    let x = channels_first(&array64(&softmax["x"]));
    let weights = channels_first(&array64(&softmax["weights"]));
    let (channels, length) = (x.shape()[1], x.shape()[2]);
    let spec = LayerSpec::Activation(ActivationSpec {
        activation: Activation::Softmax,
        name: None,
    });
    let shape = Shape::Signal { channels, length };
    let mut layer64 =
        ActivationLayer::<f64>::build(&spec, "softmax".into(), shape).expect("builds");
    let output64 = layer64.forward(x.clone(), Mode::Train).expect("forward");
    let grad64 = layer64.backward(weights.clone()).expect("backward");
    let mut layer32 =
        ActivationLayer::<f32>::build(&spec, "softmax".into(), shape).expect("builds");
    let output32 = layer32
        .forward(x.mapv(|v| v as f32), Mode::Train)
        .expect("forward")
        .mapv(f64::from);
    let grad32 = layer32
        .backward(weights.mapv(|v| v as f32))
        .expect("backward")
        .mapv(f64::from);
    for peer in ["keras", "torch"] {
        let want_output = channels_first(&array64(&softmax[peer]["f64"]["output"]));
        let want_grad = channels_first(&array64(&softmax[peer]["f64"]["grad"]));
        assert!(
            distance(&output64, &want_output) < 1e-14,
            "{peer}: f64 output"
        );
        assert!(
            distance(&grad64, &want_grad) < 1e-14,
            "{peer}: f64 gradient"
        );
        let peer_output = distance(
            &channels_first(&array64(&softmax[peer]["f32"]["output"])),
            &want_output,
        );
        let peer_grad = distance(
            &channels_first(&array64(&softmax[peer]["f32"]["grad"])),
            &want_grad,
        );
        let (ours_output, ours_grad) = (
            distance(&output32, &want_output),
            distance(&grad32, &want_grad),
        );
        assert!(
            ours_output <= 2.0 * peer_output + 1e-7,
            "{peer}: f32 output {ours_output:.2e} vs {peer_output:.2e}"
        );
        assert!(
            ours_grad <= 2.0 * peer_grad + 1e-7,
            "{peer}: f32 gradient {ours_grad:.2e} vs {peer_grad:.2e}"
        );
    }
}
