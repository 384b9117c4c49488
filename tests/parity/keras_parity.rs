//! Parity with Keras 3: forward outputs in both modes, the loss, every
//! gradient, BatchNormalization's moving statistics, and 10 Adam steps, on
//! small versions of the seed's models with fixed weights.
//!
//! Fixtures: `tests/fixtures/parity/keras_parity.json`, written by
//! `make_keras_fixtures.py` beside it (versions in `versions.txt`). No
//! Python is needed to run this test.

use kymo::layers::Model;
use kymo::layers::{Mode, NamedArray, Sequential};
use kymo::optim::{Adam, Optimizer, Slot};
use kymo::train::Loss;
use ndarray::{Array2, ArrayD, IxDyn};
use serde_json::Value;

use crate::parity_support::{array, assert_close};

const FIXTURE: &str = include_str!("../fixtures/parity/keras_parity.json");

/// Keras layout to kymo's: Conv1D kernels `[k, in, out] -> [out, in, k]`;
/// the Dense after Flatten `[L * C, units] -> [units, C * L]`, because Keras
/// flattens length-major and kymo channel-major.
fn to_kymo(
    name: &str,
    keras: &ArrayD<f32>,
    length: usize,
    channels_before_flatten: usize,
) -> ArrayD<f32> {
    if name.starts_with("ConvLayer") && name.ends_with("/kernel") {
        return keras
            .view()
            .permuted_axes(IxDyn(&[2, 1, 0]))
            .as_standard_layout()
            .into_owned();
    }
    if name == "output/kernel" {
        let (features, units) = (keras.shape()[0], keras.shape()[1]);
        let c = channels_before_flatten;
        return ArrayD::from_shape_fn(IxDyn(&[units, features]), |i| {
            let (u, f) = (i[0], i[1]);
            let (channel, position) = (f / length, f % length);
            keras[[position * c + channel, u]]
        });
    }
    keras.clone()
}

fn keras_named(entry: &Value, key: &str, length: usize) -> Vec<NamedArray<f32>> {
    entry[key]
        .as_object()
        .expect("fixture maps names to arrays")
        .iter()
        .map(|(path, value)| {
            // Keras paths carry the model's name first: "sequential_2/ConvLayer1/kernel".
            let name = path
                .split_once('/')
                .map_or(path.as_str(), |(_, rest)| rest)
                .to_string();
            NamedArray {
                array: to_kymo(&name, &array(value), length, 8),
                name,
            }
        })
        .collect()
}

/// Gradients are held to 2e-5, outputs and statistics to 1e-5. A bias
/// gradient upstream of BatchNormalization sums 33k terms that nearly
/// cancel (BN's input gradient sums to zero over each channel), so its last
/// digits are the rounding of that sum: computed exactly (in f64) kymo's
/// `ConvLayer1/bias` of the answer + BN model is itself 9.5e-6 from Keras's;
/// kymo's f32 sums in 8 lanes put it under 1e-5 away, in 32 lanes 1.08e-5.
/// Any semantic difference moves a gradient by far more.
const GRADIENT_RTOL: f32 = 2e-5;

fn check(name: &str, kernels: [usize; 3], pools: [usize; 3], batch_norm: bool) {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let length = fixture["length"].as_u64().expect("length") as usize;
    let entry = &fixture["models"][name];
    let x_keras = array(&fixture["x"]);
    let batch = x_keras.shape()[0];
    // [B, L, 1] and [B, 1, L] hold the same numbers in the same order.
    let x = x_keras
        .into_shape_with_order(IxDyn(&[batch, 1, length]))
        .expect("one channel");
    let y: Array2<f32> = array(&fixture["y"]).into_dimensionality().expect("[B, 1]");

    let spec = kymo::layers::zoo::seed_structure([4, 6, 8], kernels, pools, batch_norm, length);
    let weights = keras_named(entry, "weights", length);
    let build = || {
        let mut model = Sequential::<f32>::new(&spec, 0).expect("builds");
        model
            .set_weights(&weights)
            .expect("Keras weights fit kymo's shapes after permutation");
        model
    };

    // Inference first, on the untouched moving statistics.
    let inference = build()
        .forward(x.clone(), Mode::Inference)
        .expect("forward");
    assert_close(
        "Keras",
        &format!("{name} inference output"),
        &inference,
        &array(&entry["inference_output"]),
        1e-5,
    );

    let mut model = build();
    let output = model.forward(x.clone(), Mode::Train).expect("forward");
    assert_close(
        "Keras",
        &format!("{name} training output"),
        &output,
        &array(&entry["train_output"]),
        1e-5,
    );
    let (loss, grad) = Loss::Mse.evaluate(&output, &y).expect("same shape");
    let keras_loss = entry["loss"].as_f64().expect("loss");
    assert!(
        (loss - keras_loss).abs() <= 1e-5 * keras_loss.abs(),
        "{name} loss: kymo {loss}, Keras {keras_loss}"
    );
    model.zero_grad();
    model.backward(grad).expect("backward");
    let names = model.parameter_names();
    for g in keras_named(entry, "gradients", length) {
        let index = names
            .iter()
            .position(|n| *n == g.name)
            .expect("every Keras gradient has a kymo parameter");
        assert_close(
            "Keras",
            &format!("{name} gradient {}", g.name),
            &model.parameters()[index].grad,
            &g.array,
            GRADIENT_RTOL,
        );
    }
    for m in keras_named(entry, "moving_after_one_step", length) {
        let index = names
            .iter()
            .position(|n| *n == m.name)
            .expect("moving statistics exist");
        assert_close(
            "Keras",
            &format!("{name} {}", m.name),
            &model.parameters()[index].value,
            &m.array,
            1e-5,
        );
    }

    // Ten Adam steps on the same batch, Keras's defaults.
    let mut model = build();
    let mut adam = Adam::new(1e-3);
    for _ in 0..10 {
        model.zero_grad();
        let output = model.forward(x.clone(), Mode::Train).expect("forward");
        let (_, grad) = Loss::Mse.evaluate(&output, &y).expect("same shape");
        model.backward(grad).expect("backward");
        let mut slots: Vec<Slot<'_>> = model
            .parameters_mut()
            .into_iter()
            .filter(|p| p.trainable)
            .map(|p| {
                let kymo::layers::Parameter { value, grad, .. } = p;
                Slot {
                    value: value.as_slice_mut().expect("contiguous"),
                    grad: grad.as_slice().expect("contiguous"),
                }
            })
            .collect();
        adam.step(&mut slots).expect("same slots every step");
    }
    let names = model.parameter_names();
    for w in keras_named(entry, "after_10_adam_steps", length) {
        let index = names
            .iter()
            .position(|n| *n == w.name)
            .expect("trainable weight exists");
        let got = &model.parameters()[index].value;
        let worst = got
            .iter()
            .zip(w.array.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        if std::env::var("KYMO_PARITY_REPORT").is_ok() {
            eprintln!(
                "{name} {} after 10 Adam steps: max difference {worst:e}",
                w.name
            );
        }
        assert!(
            worst <= 1e-6,
            "{name} {} after 10 Adam steps: max difference {worst:e}",
            w.name
        );
    }
}

#[test]
fn the_question_model_matches_keras() {
    check("original", [10, 6, 4], [8, 4, 2], false);
}

#[test]
fn the_answer_model_matches_keras() {
    check("answer", [2, 3, 3], [2, 3, 3], false);
}

#[test]
fn the_answer_model_with_batch_normalization_matches_keras_in_both_modes() {
    check("answer_bn", [2, 3, 3], [2, 3, 3], true);
}
