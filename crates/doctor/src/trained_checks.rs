//! Checks of a trained model on the user's data (a Keras file's weights):
//! what each layer outputs, layer by layer in inference mode, as Keras
//! would run it. Dead rectifier units, saturated sigmoid and tanh units,
//! BatchNormalization moving statistics that the data does not have, and
//! predictions that are constant or worse than the mean.

use kymo_data::{Dataset, Metric};
use kymo_layers::{Activation, Layer, LayerSpec, Mode, Model};
use ndarray::{ArrayD, Axis};

use crate::{Finding, FindingId, Severity};

/// What a layer's output passes through last, when it is a rectifier or a
/// squashing function.
fn output_activation(spec: &LayerSpec) -> Option<Activation> {
    let activation = match spec {
        LayerSpec::Conv1D(s) => s.activation,
        LayerSpec::Dense(s) => s.activation,
        LayerSpec::ReLU(_) => Activation::Relu,
        LayerSpec::LeakyReLU(s) => Activation::LeakyRelu {
            negative_slope: s.negative_slope,
        },
        LayerSpec::Sigmoid(_) => Activation::Sigmoid,
        LayerSpec::Tanh(_) => Activation::Tanh,
        LayerSpec::Activation(s) => s.activation,
        _ => return None,
    };
    matches!(
        activation,
        Activation::Relu | Activation::LeakyRelu { .. } | Activation::Sigmoid | Activation::Tanh
    )
    .then_some(activation)
}

/// Units (channels of a signal, features of a vector) whose output is at
/// or below zero for every sample and position: they pass no gradient
/// (ReLU) or only the leak (LeakyReLU).
fn dead_units(output: &ArrayD<f32>) -> (usize, usize) {
    let units = output.shape().get(1).copied().unwrap_or(0);
    let dead = (0..units)
        .filter(|&u| output.index_axis(Axis(1), u).iter().all(|&v| v <= 0.0))
        .count();
    (dead, units)
}

/// The share of outputs within 1% of a squashing function's bounds.
fn saturated_share(output: &ArrayD<f32>, activation: Activation) -> f64 {
    let saturated = output
        .iter()
        .filter(|&&v| match activation {
            Activation::Sigmoid => !(0.01..=0.99).contains(&v),
            _ => v.abs() >= 0.99,
        })
        .count();
    saturated as f64 / output.len().max(1) as f64
}

/// Per-channel mean and variance of a BatchNormalization layer's input
/// over every sample and position.
fn batch_statistics(input: &ArrayD<f32>) -> Vec<(f64, f64)> {
    let channels = input.shape().get(1).copied().unwrap_or(0);
    (0..channels)
        .map(|c| {
            let values = input.index_axis(Axis(1), c);
            let n = values.len().max(1) as f64;
            let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let variance = values
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n;
            (mean, variance)
        })
        .collect()
}

/// How far a BatchNormalization layer's moving statistics are from what
/// the data gives it: per channel, the gap in means in moving standard
/// deviations, and the ratio of variances. Returns the channels off by
/// more than one deviation or a factor of 4 in variance.
fn batchnorm_mismatch(layer: &dyn Layer<f32>, input: &ArrayD<f32>) -> Option<(usize, usize, f64)> {
    let parameters = layer.parameters();
    let moving_mean = parameters.iter().find(|p| p.name == "moving_mean")?;
    let moving_variance = parameters.iter().find(|p| p.name == "moving_variance")?;
    let observed = batch_statistics(input);
    let mut off = 0;
    let mut worst = 0.0f64;
    for ((mean, variance), (&mm, &mv)) in observed
        .iter()
        .zip(moving_mean.value.iter().zip(moving_variance.value.iter()))
    {
        let deviation = f64::from(mv).max(1e-12).sqrt();
        let gap = (mean - f64::from(mm)).abs() / deviation;
        let ratio = (variance.max(1e-12) / f64::from(mv).max(1e-12))
            .max(f64::from(mv).max(1e-12) / variance.max(1e-12));
        worst = worst.max(gap);
        if gap > 1.0 || ratio > 4.0 {
            off += 1;
        }
    }
    Some((off, observed.len(), worst))
}

/// What [`walk_layers`] shows each layer to: the layer, its spec, its
/// input and its output.
type LayerVisitor<'a> = dyn FnMut(&dyn Layer<f32>, &LayerSpec, &ArrayD<f32>, &ArrayD<f32>) + 'a;

/// Runs a Sequential model's layers one by one in inference mode, as
/// Keras would, showing `visit` each layer with its spec, input and
/// output; returns the model's output, or `None` if a layer failed.
fn walk_layers(
    model: &mut dyn Model<f32>,
    mut x: ArrayD<f32>,
    visit: &mut LayerVisitor<'_>,
) -> Option<ArrayD<f32>> {
    for layer in model.layers_mut() {
        let spec = layer.spec();
        let output = layer.forward(x.clone(), Mode::Inference).ok()?;
        visit(&*layer, &spec, &x, &output);
        x = output;
    }
    Some(x)
}

/// Per rectifier layer of a Sequential model, the fraction of its units
/// that never fire on `data` (signals as the model takes them): what the
/// doctor's pictures show beside each layer's gradient.
pub fn dead_fractions(model: &mut dyn Model<f32>, data: &Dataset) -> Vec<(String, f64, bool)> {
    let mut fractions = Vec::new();
    walk_layers(
        model,
        data.signals().clone().into_dyn(),
        &mut |layer, spec, _, output| {
            let activation = output_activation(spec);
            if let Some(Activation::Relu | Activation::LeakyRelu { .. }) = activation {
                let (dead, units) = dead_units(output);
                if units > 0 {
                    let leaky = matches!(activation, Some(Activation::LeakyRelu { .. }));
                    fractions.push((layer.name().to_string(), dead as f64 / units as f64, leaky));
                }
            }
        },
    );
    fractions
}

/// Every check of a trained Sequential model on `data` (signals as the
/// model takes them; targets in their units). Graph models get the
/// prediction checks only (their layers are not run one by one here).
pub fn trained_checks(
    model: &mut dyn Model<f32>,
    data: &Dataset,
    sequential: bool,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut dead_layers = Vec::new();
    let mut saturated_layers = Vec::new();
    let mut batchnorm_layers = Vec::new();
    let x: ArrayD<f32> = data.signals().clone().into_dyn();
    let output = if sequential {
        walk_layers(model, x, &mut |layer, spec, input, output| {
            if matches!(spec, LayerSpec::BatchNormalization(_)) {
                if let Some((off, channels, worst)) = batchnorm_mismatch(layer, input) {
                    if off * 4 >= channels.max(1) {
                        batchnorm_layers.push(format!(
                            "'{}': {off} of {channels} channels (worst mean gap {worst:.1} moving standard deviations)",
                            layer.name()
                        ));
                    }
                }
            }
            match output_activation(spec) {
                Some(Activation::Relu | Activation::LeakyRelu { .. }) => {
                    let (dead, units) = dead_units(output);
                    if units > 0 && dead * 10 >= units {
                        dead_layers.push(format!("'{}': {dead} of {units}", layer.name()));
                    }
                }
                Some(activation @ (Activation::Sigmoid | Activation::Tanh)) => {
                    let share = saturated_share(output, activation);
                    if share >= 0.5 {
                        saturated_layers.push(format!(
                            "'{}': {:.0}% of outputs",
                            layer.name(),
                            100.0 * share
                        ));
                    }
                }
                _ => {}
            }
        })
    } else {
        model.forward(x, Mode::Inference).ok()
    };
    let Some(x) = output else {
        return findings;
    };
    if !dead_layers.is_empty() {
        findings.push(
            Finding::new(FindingId::DeadUnits, Severity::High, "Rectifier units that never fire on this data")
                .measured(format!("units whose output is at or below zero for every sample and position: {}", dead_layers.join("; ")))
                .why("a ReLU unit that is never positive passes no gradient, so it never recovers; a learning rate too high, a large negative bias or unscaled inputs usually killed it, and the layer is that much narrower than it looks")
                .fix("standardize the inputs, lower the learning rate, use LeakyReLU, or He initialization; retrain from fresh weights"),
        );
    }
    if !saturated_layers.is_empty() {
        findings.push(
            Finding::new(FindingId::SaturatedUnits, Severity::Medium, "Sigmoid or tanh units pinned at their bounds")
                .measured(format!("outputs within 1% of the bounds: {}", saturated_layers.join("; ")))
                .why("at its bounds a sigmoid or tanh has almost no slope: gradients through it vanish and the layer stops learning")
                .fix("standardize the inputs, lower the learning rate, or use ReLU-family activations inside the network"),
        );
    }
    if !batchnorm_layers.is_empty() {
        findings.push(
            Finding::new(FindingId::BatchnormStatisticsMismatch, Severity::High, "BatchNormalization's moving statistics do not match this data")
                .measured(format!("channels whose moving mean is more than one moving deviation from the data's mean, or whose variance is off by more than 4x: {}", batchnorm_layers.join("; ")))
                .why("in inference the layer normalizes with its moving statistics; if they do not describe the data (too few training steps, another preprocessing, data that drifted), every later layer sees inputs it was never trained on")
                .fix("feed the data preprocessed as in training; train longer or with momentum 0.9 so the statistics settle; or recompute them on the training data"),
        );
    }
    if let Ok(predictions) = x.into_dimensionality::<ndarray::Ix2>() {
        findings.extend(prediction_checks(&predictions, data));
    }
    findings
}

/// Predictions that do not vary, or that a constant (the targets' mean)
/// beats.
fn prediction_checks(predictions: &ndarray::Array2<f32>, data: &Dataset) -> Vec<Finding> {
    if data.classes().is_some() || predictions.dim() != data.targets().dim() {
        if let (Some(classes), Some(truth)) = (data.classes(), data.labels()) {
            let predicted = kymo_data::predicted_classes(predictions.view());
            return crate::collapsed_predictions(&predicted, &truth, classes)
                .into_iter()
                .collect();
        }
        return Vec::new();
    }
    let mut findings = Vec::new();
    let spread = predictions
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let target_spread = data
        .targets()
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let range = f64::from(spread.1 - spread.0);
    let target_range = f64::from(target_spread.1 - target_spread.0);
    if target_range > 0.0 && range < 1e-3 * target_range {
        findings.push(
            Finding::new(FindingId::PredictionsCollapsed, Severity::High, "The model predicts the same value for every sample")
                .measured(format!("predictions span {range:.3e}; the targets span {target_range:.4}"))
                .why("a network that outputs a constant has learned only the targets' average: dead units, a learning rate that diverged, or inputs it cannot read")
                .fix("check the inputs' scale and preprocessing; lower the learning rate; retrain from fresh weights"),
        );
        return findings;
    }
    let r2 = Metric::R2.compute(predictions.view(), data.targets());
    if r2 < 0.0 {
        findings.push(
            Finding::new(FindingId::WorseThanMean, Severity::High, "The trained model predicts worse than the targets' mean")
                .measured(format!("R² {r2:.3} on {} samples (the mean predictor scores 0)", data.len()))
                .why("a negative R² means predicting the average target for every sample would be closer: the model does not generalize to this data, or this data is not prepared as its training data was")
                .fix("check that the data is preprocessed as in training; compare with ridge; retrain with validation and early stopping"),
        );
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use kymo_layers::{ModelSpec, Sequential};
    use ndarray::{Array2, Array3};

    fn model(toml: &str) -> Sequential<f32> {
        Sequential::new(&ModelSpec::from_toml_str(toml).expect("spec"), 0).expect("builds")
    }

    fn data(n: usize) -> Dataset {
        let signals = Array3::from_shape_fn((n, 1, 8), |(i, _, l)| ((i + l) % 5) as f32 - 2.0);
        let targets = Array2::from_shape_fn((n, 1), |(i, _)| i as f32);
        Dataset::new(signals, targets).expect("valid")
    }

    const DENSE_RELU: &str = r#"
        input = { channels = 1, length = 8 }
        [[layers]]
        type = "Flatten"
        [[layers]]
        type = "Dense"
        units = 4
        activation = "relu"
        [[layers]]
        type = "Dense"
        units = 1
    "#;

    #[test]
    fn units_killed_by_a_negative_bias_are_named() {
        let mut healthy = model(DENSE_RELU);
        let found = trained_checks(&mut healthy, &data(20), true);
        assert!(
            !found.iter().any(|f| f.id == FindingId::DeadUnits),
            "{found:?}"
        );
        let mut dead = model(DENSE_RELU);
        for layer in dead.layers_mut() {
            let first_dense = layer.name() == "dense";
            for p in layer.parameters_mut() {
                if first_dense && p.name == "bias" {
                    p.value.fill(-100.0);
                }
            }
        }
        let found = trained_checks(&mut dead, &data(20), true);
        let finding = found
            .iter()
            .find(|f| f.id == FindingId::DeadUnits)
            .expect("named");
        assert!(
            finding.measured.contains("'dense': 4 of 4"),
            "{}",
            finding.measured
        );
        // All units dead: the output is the last bias alone, a constant.
        assert!(
            found
                .iter()
                .any(|f| f.id == FindingId::PredictionsCollapsed),
            "{found:?}"
        );
    }

    #[test]
    fn batchnorm_statistics_far_from_the_data_are_named() {
        let spec = r#"
            input = { channels = 2, length = 8 }
            [[layers]]
            type = "BatchNormalization"
            [[layers]]
            type = "Flatten"
            [[layers]]
            type = "Dense"
            units = 1
        "#;
        // Fresh moving statistics (mean 0, variance 1) against inputs
        // around 50.
        let mut fresh = model(spec);
        let signals =
            Array3::from_shape_fn((10, 2, 8), |(i, c, l)| 50.0 + (i + c + l) as f32 * 0.1);
        let targets = Array2::from_shape_fn((10, 1), |(i, _)| i as f32);
        let far = Dataset::new(signals, targets).expect("valid");
        let found = trained_checks(&mut fresh, &far, true);
        assert!(
            found
                .iter()
                .any(|f| f.id == FindingId::BatchnormStatisticsMismatch),
            "{found:?}"
        );
        let near = Dataset::new(
            Array3::from_shape_fn((10, 2, 8), |(i, c, l)| {
                ((i * 3 + c + l * 7) % 5) as f32 * 0.5 - 1.0
            }),
            Array2::from_shape_fn((10, 1), |(i, _)| i as f32),
        )
        .expect("valid");
        let found = trained_checks(&mut fresh, &near, true);
        assert!(
            !found
                .iter()
                .any(|f| f.id == FindingId::BatchnormStatisticsMismatch),
            "{found:?}"
        );
    }
}
