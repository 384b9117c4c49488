//! Graph models against Keras 3: the zoo's FCN, ResNet and InceptionTime are
//! the graphs their authors' Keras code builds (imported from Keras's own
//! `to_json`, parameter counts from Keras's `count_params`), and small
//! versions compute what Keras computes: both modes' outputs, the loss,
//! every gradient and the moving statistics after a training step, exactly
//! in f64 and, in f32, no further from the f64 result than Keras's f32.
//!
//! Fixtures: `tests/fixtures/graphs/`, written by `make_graph_fixtures.py`
//! beside them. No Python is needed here.

use kymo::layers::keras::from_keras_json_any;
use kymo::layers::zoo::{self, InceptionSizes};
use std::collections::BTreeMap;

use kymo::layers::{ArchitectureSpec, Mode, NamedArray, NodeSpec};
use kymo::tensor::Float;
use ndarray::{Array2, ArrayD, IxDyn};
use serde_json::Value;

use crate::parity_support::{array, array64, assert_close};

const PARITY: &str = include_str!("../fixtures/graphs/graph_parity.json");
const COUNTS: &str = include_str!("../fixtures/graphs/param_counts.json");
const KERAS_JSON: [(&str, &str); 3] = [
    ("fcn", include_str!("../fixtures/graphs/fcn.keras.json")),
    (
        "resnet",
        include_str!("../fixtures/graphs/resnet.keras.json"),
    ),
    (
        "inception",
        include_str!("../fixtures/graphs/inception.keras.json"),
    ),
];

/// The nodes a spec builds into, by name, every name resolved: Keras lists
/// a graph's layers in another (equally valid) order than the zoo.
fn nodes_by_name(spec: &ArchitectureSpec) -> BTreeMap<String, NodeSpec> {
    let ArchitectureSpec::Graph(graph) = spec.build::<f32>(0).expect("builds").architecture()
    else {
        panic!("not a graph");
    };
    graph
        .nodes
        .into_iter()
        .map(|node| (node.layer.name().unwrap_or_default().to_string(), node))
        .collect()
}

#[test]
fn the_zoo_builds_the_graphs_keras_code_builds() {
    let counts: Value = serde_json::from_str(COUNTS).expect("JSON");
    for (name, text) in KERAS_JSON {
        let imported = from_keras_json_any(text).expect("Keras functional JSON imports");
        let ours = zoo::architecture_by_name(name, 64).expect("built in");
        assert_eq!(nodes_by_name(&imported), nodes_by_name(&ours), "{name}");
        let model = ours.build::<f32>(0).expect("builds");
        assert_eq!(
            model.count_params() as u64,
            counts[name].as_u64().expect("count"),
            "{name}"
        );
    }
}

/// Keras layout to kymo's: Conv1D kernels `[k, in, out] -> [out, in, k]`,
/// Dense kernels `[in, out] -> [out, in]`.
fn to_kymo(keras: ArrayD<f64>) -> ArrayD<f64> {
    let axes: &[usize] = match keras.ndim() {
        3 => &[2, 1, 0],
        2 => &[1, 0],
        _ => return keras,
    };
    keras
        .view()
        .permuted_axes(IxDyn(axes))
        .as_standard_layout()
        .into_owned()
}

fn named<T: Float>(entry: &Value) -> Vec<NamedArray<T>> {
    entry
        .as_object()
        .expect("fixture maps names to arrays")
        .iter()
        .map(|(name, value)| NamedArray {
            name: name.clone(),
            array: to_kymo(array64(value)).mapv(|v| T::from_f64_lossy(v)),
        })
        .collect()
}

/// Everything one precision of kymo computed on the fixture's batch.
struct Run<T> {
    inference: ArrayD<T>,
    training: ArrayD<T>,
    loss: f64,
    /// Gradients and moving statistics after the step, by weight name.
    gradients: BTreeMap<String, ArrayD<T>>,
    moving: BTreeMap<String, ArrayD<T>>,
}

fn run<T: Float>(spec: &ArchitectureSpec, fixture: &Value, entry: &Value) -> Run<T> {
    let length = fixture["length"].as_u64().expect("length") as usize;
    let x = array64(&fixture["x"]);
    let batch = x.shape()[0];
    // [B, L, 1] and [B, 1, L] hold the same numbers in the same order.
    let x = x
        .into_shape_with_order(IxDyn(&[batch, 1, length]))
        .expect("one channel")
        .mapv(T::from_f64_lossy);
    let y: Array2<T> = array64(&fixture["y"])
        .mapv(T::from_f64_lossy)
        .into_dimensionality()
        .expect("[B, 1]");
    let weights = named::<T>(&entry["weights"]);
    let build = || {
        let mut model = spec.build::<T>(0).expect("builds");
        model
            .set_weights(&weights)
            .expect("every Keras weight has a kymo weight of its shape");
        model
    };
    let inference = build()
        .forward(x.clone(), Mode::Inference)
        .expect("forward");
    let mut model = build();
    let training = model.forward(x, Mode::Train).expect("forward");
    // Keras's MSE, the mean over every element, and its gradient.
    let difference = &training - &y.into_dyn();
    let count = difference.len() as f64;
    let loss = difference
        .iter()
        .map(|d| d.to_f64_lossless().powi(2))
        .sum::<f64>()
        / count;
    let grad = difference.mapv(|d| d * T::from_f64_lossy(2.0 / count));
    model.zero_grad();
    model.backward(grad).expect("backward");
    let mut gradients = BTreeMap::new();
    let mut moving = BTreeMap::new();
    for (name, p) in model.parameter_names().into_iter().zip(model.parameters()) {
        if p.trainable {
            gradients.insert(name, p.grad.clone());
        } else {
            moving.insert(name, p.value.clone());
        }
    }
    Run {
        inference,
        training,
        loss,
        gradients,
        moving,
    }
}

/// max |got - want| / max |want|, the tensor's scale floored at `floor`: a
/// convolution feeding BatchNormalization has a bias gradient that is zero
/// in exact arithmetic, and rounding noise in any precision.
fn distance<T: Float>(got: &ArrayD<T>, want: &ArrayD<f64>, floor: f64) -> f64 {
    assert_eq!(got.shape(), want.shape());
    let scale = want.iter().fold(floor, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((g.to_f64_lossless() - w).abs()));
    worst / scale
}

/// The scale a bias gradient that cancels to zero in exact arithmetic (a
/// convolution's before a training-mode BatchNormalization: below 1e-9 of
/// its layer's kernel gradient) is measured against: that kernel
/// gradient's, as `f32_accuracy.rs` measures it. Its f32 value is rounding
/// noise in every framework; against a thousandth of the model's largest
/// gradient, the f32 rule compared one noise with another, magnified a
/// thousandfold. `None` for every other gradient.
fn cancelled_scale(
    weight: &str,
    exact: &ArrayD<f64>,
    gradients: &BTreeMap<String, ArrayD<f64>>,
) -> Option<f64> {
    let kernel = gradients.get(&format!("{}/kernel", weight.strip_suffix("/bias")?))?;
    let largest = |a: &ArrayD<f64>| a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let kernel_scale = largest(kernel);
    (largest(exact) < 1e-9 * kernel_scale).then_some(kernel_scale)
}

fn check(name: &str, spec: ArchitectureSpec) {
    let fixture: Value = serde_json::from_str(PARITY).expect("fixture is JSON");
    let entry = &fixture["models"][name];
    let exact = &entry["f64"];
    let keras64 = |key: &str| -> BTreeMap<String, ArrayD<f64>> {
        named::<f64>(&exact[key])
            .into_iter()
            .map(|w| (w.name, w.array))
            .collect()
    };
    let (keras_gradients, keras_moving) = (keras64("gradients"), keras64("moving_after_one_step"));
    // Floors: a thousandth of the largest gradient in the model.
    let floor = 1e-3
        * keras_gradients
            .values()
            .flat_map(|g| g.iter())
            .fold(0.0f64, |m, v| m.max(v.abs()));

    // f64: the semantics, to 1e-9 of each tensor's scale.
    let ours = run::<f64>(&spec, &fixture, exact);
    let output = |key: &str| array64(&exact[key]);
    assert!(
        distance(&ours.inference, &output("inference_output"), 0.0) < 1e-9,
        "{name}"
    );
    assert!(
        distance(&ours.training, &output("train_output"), 0.0) < 1e-9,
        "{name}"
    );
    let keras_loss = exact["loss"].as_f64().expect("loss");
    assert!(
        (ours.loss - keras_loss).abs() < 1e-9 * keras_loss,
        "{name} loss"
    );
    assert_eq!(
        ours.gradients.len(),
        keras_gradients.len(),
        "{name}: one gradient per trainable weight"
    );
    for (weight, want) in &keras_gradients {
        let d = distance(&ours.gradients[weight], want, floor);
        assert!(d < 1e-9, "{name} f64 gradient {weight}: distance {d:.2e}");
    }
    for (weight, want) in &keras_moving {
        let d = distance(&ours.moving[weight], want, 0.0);
        assert!(d < 1e-9, "{name} f64 {weight}: distance {d:.2e}");
    }

    // f32: outputs, loss and statistics within 1e-5 of Keras's f32, and
    // every gradient no further from the f64 result than twice Keras's own
    // f32 gradient is (or 1e-5 of the tensor's scale, whichever is larger).
    let ours = run::<f32>(&spec, &fixture, entry);
    let close = |what: &str, got: &ArrayD<f32>, key: &str| {
        assert_close(
            "Keras",
            &format!("{name} {what}"),
            got,
            &array(&entry[key]),
            1e-5,
        )
    };
    close("inference", &ours.inference, "inference_output");
    close("training output", &ours.training, "train_output");
    let keras_loss = entry["loss"].as_f64().expect("loss");
    assert!(
        (ours.loss - keras_loss).abs() <= 1e-5 * keras_loss,
        "{name} f32 loss"
    );
    let keras32: BTreeMap<String, ArrayD<f32>> = named::<f32>(&entry["gradients"])
        .into_iter()
        .map(|w| (w.name, w.array))
        .collect();
    for (weight, exact) in &keras_gradients {
        let floor = cancelled_scale(weight, exact, &keras_gradients).unwrap_or(floor);
        let ours_distance = distance(&ours.gradients[weight], exact, floor);
        let keras_distance = distance(&keras32[weight], exact, floor);
        assert!(
            ours_distance <= (2.0 * keras_distance).max(1e-5),
            "{name} f32 gradient {weight}: kymo {ours_distance:.2e} from the f64 result, \
             Keras {keras_distance:.2e}"
        );
    }
    for m in named::<f32>(&entry["moving_after_one_step"]) {
        assert_close(
            "Keras",
            &format!("{name} {}", m.name),
            &ours.moving[&m.name],
            &m.array,
            1e-5,
        );
    }
}

#[test]
fn fcn_matches_keras() {
    check("fcn", zoo::fcn_with(32, [4, 6, 4]).into());
}

#[test]
fn resnet_matches_keras() {
    check("resnet", zoo::resnet_with(32, [4, 6, 6]).into());
}

#[test]
fn inception_time_matches_keras() {
    let sizes = InceptionSizes {
        kernels: [8, 4, 2],
        filters: 3,
        bottleneck: 3,
        depth: 6,
    };
    check("inception", zoo::inception_with(32, sizes).into());
}
