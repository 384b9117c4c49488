//! float32 accuracy of the graph zoo at full size: FCN, ResNet and
//! InceptionTime at 1040 points, forward and backward through an MSE loss,
//! held to the same rule as the seed's models (`f32_accuracy.rs`): kymo's
//! f64 output and loss equal PyTorch's f64 ones, and kymo's f32 lands no
//! further from its f64 result than twice PyTorch's own f32 distance,
//! tensor by tensor.
//!
//! The gradients are measured on each model with ELU(1) for ReLU, the
//! models with ReLU through their output and loss. At full size some of a
//! ReLU's inputs lie within float32's rounding of zero (the fixture's
//! within 1e-9), and which side a sum lands on there depends on its order:
//! the GEMM's AVX2 kernels put one of FCN's on the other side from its
//! AVX-512 ones, and PyTorch's float32 ResNet flips one itself. Each flip
//! moves a kernel gradient by a whole position's term (1e-3 to 1e-2 of it),
//! a coin toss per CPU rather than rounding. ELU's derivative is
//! continuous, so its gradients measure rounding alone, on every CPU.
//! (A max pool's winner is such a decision too, between near-equal inputs,
//! and most likely why PyTorch's own float32 InceptionTime gradients land
//! 1e-4 to 2e-3 from float64 with either rectifier; its bounds carry that.)
//!
//! No weights are stored: both sides draw them from the same formula of
//! each parameter's name and index ([`weights`]). Fixture:
//! `tests/fixtures/accuracy/graph_f32_accuracy.json`, written by
//! `make_graph_f32_accuracy_fixture.py` beside it.

use std::collections::BTreeMap;

use kymo::layers::{zoo, Activation, ArchitectureSpec, LayerSpec, Model};
use kymo::tensor::Float;
use ndarray::ArrayD;
use serde_json::Value;

use crate::f32_accuracy::{compare, compare_inference, infer, mse_step};
use crate::parity_support::array;

const FIXTURE: &str = include_str!("../fixtures/accuracy/graph_f32_accuracy.json");

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, byte| {
        (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// The values of parameter `name` (`layer/parameter`) of `shape`, as the
/// fixture's script draws them: 24-bit integer hashes over 2^23, in
/// [-1, 1), exact in f64, then scaled (a Glorot bound for kernels) and
/// rounded to f32 once.
fn weights(name: &str, shape: &[usize]) -> Vec<f32> {
    let h = fnv1a(name);
    let count: usize = shape.iter().product();
    let kind = name.rsplit('/').next().unwrap_or_default();
    let scale = if kind == "kernel" {
        let receptive: usize = shape[2..].iter().product();
        let (fan_in, fan_out) = (shape[1] * receptive, shape[0] * receptive);
        (6.0 / (fan_in + fan_out) as f64).sqrt()
    } else {
        0.125
    };
    (0..count as u64)
        .map(|i| {
            let bits = h.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 40;
            let u = bits as f64 / f64::from(1u32 << 23) - 1.0;
            let value = if kind == "gamma" {
                1.0 + scale * u
            } else {
                scale * u
            };
            value as f32
        })
        .collect()
}

/// The rectifier of a measured model.
#[derive(Clone, Copy, PartialEq)]
enum Rectifier {
    /// The zoo's own ReLU.
    Relu,
    /// ELU(1) wherever the zoo has ReLU: a continuous derivative.
    Elu,
}

/// Zoo model `name` for signals of `length` points with `rectifier`, its
/// trainable parameters drawn by [`weights`] (the moving statistics at
/// their initial 0 and 1).
fn model<T: Float>(name: &str, length: usize, rectifier: Rectifier) -> Box<dyn Model<T>> {
    let mut spec = zoo::architecture_by_name(name, length).expect("in the zoo");
    if rectifier == Rectifier::Elu {
        let ArchitectureSpec::Graph(graph) = &mut spec else {
            panic!("{name} is a graph");
        };
        let mut swapped = 0;
        for node in &mut graph.nodes {
            if let LayerSpec::Activation(layer) = &mut node.layer {
                if layer.activation == Activation::Relu {
                    layer.activation = Activation::Elu { alpha: 1.0 };
                    swapped += 1;
                }
            }
        }
        assert!(swapped > 0, "{name} has no ReLU to swap");
    }
    let mut model = spec.build::<T>(0).expect("builds");
    let names = model.parameter_names();
    for (full_name, parameter) in names.iter().zip(model.parameters_mut()) {
        if parameter.trainable {
            let values = weights(full_name, parameter.value.shape());
            for (slot, v) in parameter.value.iter_mut().zip(values) {
                *slot = T::from_f64_lossy(f64::from(v));
            }
        }
    }
    model
}

/// Training-mode output, MSE loss and every trainable parameter's
/// gradient by kymo name, in f64.
fn step<T: Float>(
    name: &str,
    rectifier: Rectifier,
    x: &ArrayD<f32>,
    y: &ArrayD<f32>,
) -> BTreeMap<String, Vec<f64>> {
    let mut model = model::<T>(name, x.shape()[2], rectifier);
    let names = model.parameter_names();
    let mut tensors = mse_step(model.as_mut(), x, y);
    for (full_name, parameter) in names.iter().zip(model.parameters()) {
        if parameter.trainable {
            let grad = parameter.grad.iter().map(|v| v.to_f64_lossless()).collect();
            tensors.insert(full_name.clone(), grad);
        }
    }
    tensors
}

/// Training: the ReLU model's output and loss, then every tensor of the
/// ELU one.
fn check(name: &str) {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let (x, y) = (array(&fixture["x"]), array(&fixture["y"]));
    let entry = &fixture["models"][name];
    let forward_only = |tensors: BTreeMap<String, Vec<f64>>| -> BTreeMap<String, Vec<f64>> {
        tensors
            .into_iter()
            .filter(|(key, _)| key == "output" || key == "loss")
            .collect()
    };
    let wide = forward_only(step::<f64>(name, Rectifier::Relu, &x, &y));
    let narrow = forward_only(step::<f32>(name, Rectifier::Relu, &x, &y));
    compare(name, entry, &wide, &narrow);
    let wide = step::<f64>(name, Rectifier::Elu, &x, &y);
    let narrow = step::<f32>(name, Rectifier::Elu, &x, &y);
    assert!(wide.len() > 2, "{name}: gradients measured");
    compare(&format!("{name} (ELU)"), &entry["elu"], &wide, &narrow);
}

/// Inference, where kernels of 3 to 15 taps go by Winograd's F(2, 3)
/// (`conv1d::Conv1dWorkspace::set_inference`), held to PyTorch's own f32
/// inference output ([`compare_inference`]).
fn check_inference(name: &str) {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let x = array(&fixture["x"]);
    let length = x.shape()[2];
    let wide = infer(model::<f64>(name, length, Rectifier::Relu).as_mut(), &x);
    let narrow = infer(model::<f32>(name, length, Rectifier::Relu).as_mut(), &x);
    compare_inference(name, &fixture["models"][name], &wide, &narrow);
}

#[test]
fn fcn_inference_in_f32_is_as_exact_as_pytorch() {
    check_inference("fcn");
}

#[test]
fn resnet_inference_in_f32_is_as_exact_as_pytorch() {
    check_inference("resnet");
}

#[test]
fn inception_time_inference_in_f32_is_as_exact_as_pytorch() {
    check_inference("inception");
}

#[test]
fn fcn_in_f32_is_as_exact_as_pytorch() {
    check("fcn");
}

#[test]
fn resnet_in_f32_is_as_exact_as_pytorch() {
    check("resnet");
}

#[test]
fn inception_time_in_f32_is_as_exact_as_pytorch() {
    check("inception");
}
