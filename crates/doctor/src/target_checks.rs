//! Checks of the target against the model's head and against the split:
//! a head whose activation cannot reach the targets (ReLU on a target that
//! goes negative, sigmoid on one beyond 0..1), a target that does not vary,
//! and a validation split that holds other targets than training (rows
//! sorted by target, then split at the end as Keras's `validation_split`
//! does). Each is a mistake people report again and again on Keras's
//! tracker and Stack Overflow; each rule is one function.

use kymo_data::Dataset;
use kymo_layers::{Activation, LayerSpec, Model};

use crate::statistics::{ks_critical_distance, ks_distance};
use crate::{Finding, FindingId, Severity};

/// Every target check, on the data as the user has it (targets in their
/// own units).
pub fn target_checks(
    model: &dyn Model<f32>,
    train: &Dataset,
    validation: Option<&Dataset>,
) -> Vec<Finding> {
    let mut findings: Vec<Finding> = softmax_on_one_unit(model)
        .or_else(|| head_cannot_reach_target(model, train))
        .into_iter()
        .collect();
    findings.extend(constant_target(train));
    // A head that already ends in a classifier's activation speaks for its
    // author's intent; the head checks above name what is wrong with it.
    match output_activation(model) {
        Some((_, Activation::Sigmoid)) => {
            findings.extend(crate::label_target_checks::sigmoid_under_regression_loss(
                train,
            ));
        }
        Some((_, Activation::Softmax)) => {}
        _ => findings.extend(crate::label_target_checks::targets_look_like_labels(train)),
    }
    findings.extend(crate::index_checks::index_target(train));
    findings.extend(crate::index_checks::index_inputs(train));
    findings.extend(crate::target_copy_checks::target_in_inputs(train));
    findings.extend(validation.and_then(|val| sorted_split(train, val)));
    findings
}

/// The model's input against the data's signals: a mismatch, and above
/// all the axes the wrong way round (Keras's Conv1D reads `(batch, steps,
/// channels)`; a spectrum passed as `(n, 1, 100)` is one step of 100
/// channels). The axes are wrong on both sides when model and data agree
/// on signals of more channels than steps, and fewer steps than the first
/// convolution spans: the model was built for the reshaped data
/// (`input_shape=(1, 100)`), and every kernel is left no step to slide.
/// With 4 times more channels than steps (or more) and kernels that
/// still fit (three accelerometer axes of 128 points as `(3, 128)`, a
/// 3-tap kernel), they are likely the wrong way round: Medium, as a few
/// signals do have many channels and few steps.
pub fn input_shape(spec: &kymo_layers::ArchitectureSpec, train: &Dataset) -> Option<Finding> {
    let input = spec.input();
    let (channels, length) = (train.channels(), train.length());
    let first_kernel = spec
        .layer_specs()
        .into_iter()
        .find_map(|layer| match layer {
            LayerSpec::Conv1D(conv) => Some(conv.kernel_size),
            _ => None,
        });
    let both_swapped =
        input.channels > input.length && first_kernel.is_some_and(|k| k > input.length);
    let matches = (input.channels, input.length) == (channels, length);
    let likely_swapped =
        matches && first_kernel.is_some() && input.channels >= SWAPPED_RATIO * input.length.max(1);
    if matches && !both_swapped && !likely_swapped {
        return None;
    }
    // Model and data agree, and the kernels can slide: a doubt, not a
    // model that cannot run.
    let severity = if matches && !both_swapped {
        Severity::Medium
    } else {
        Severity::High
    };
    let swapped =
        both_swapped || likely_swapped || (input.channels, input.length) == (length, channels);
    // The signal as it really is: when both sides agree on swapped axes,
    // its points are the data's channels.
    let (points, signal_channels) = if matches {
        (channels, length)
    } else {
        (length, channels)
    };
    let keras = |steps: usize, channels: usize| format!("({steps}, {channels})");
    let finding = if swapped {
        Finding::new(FindingId::InputShapeMismatch, severity, "The model takes the signal's axes the other way round")
            .why("Keras's Conv1D reads (batch, steps, channels): a signal given as one or a few steps of many channels leaves every kernel next to nothing to slide over, so the convolutions degenerate into a Dense layer over the channels and pooling has little or nothing to pool")
    } else {
        Finding::new(FindingId::InputShapeMismatch, Severity::High, "The model's input does not match the data")
            .why("the model cannot run on these signals; a model built for another length or channel count must be rebuilt for them")
    };
    let kernel = first_kernel.map_or(String::new(), |k| {
        format!("; its first Conv1D spans {k} steps")
    });
    Some(
        finding
            .measured(format!(
                "the model takes input_shape={} (steps, channels) in Keras's order{kernel}; the data has {} signals of {length} points and {channels} channel(s), input_shape={}",
                keras(input.length, input.channels),
                train.len(),
                keras(length, channels)
            ))
            .fix(format!(
                "build the model with input_shape={} and pass the data as (n, {points}, {signal_channels}) (numpy: x.reshape(n, {points}, {signal_channels}) for one channel, x.transpose(0, 2, 1) for several)",
                keras(points, signal_channels)
            )),
    )
}

/// Channels per step from which a convolution's input reads as a signal
/// given the wrong way round (`(n, channels, points)` in PyTorch's order
/// fed to Keras's `(n, steps, channels)`).
const SWAPPED_RATIO: usize = 4;

/// The activation the model's output passes through last, with the name
/// of the layer that applies it: the last layer that is not a Dropout or a
/// Flatten. `None` when the output is not an activation kymo can bound.
fn output_activation(model: &dyn Model<f32>) -> Option<(String, Activation)> {
    for layer in model.layers().iter().rev() {
        let name = layer.name().to_string();
        let activation = match layer.spec() {
            spec if spec.is_identity_in_inference() => continue,
            LayerSpec::Flatten(_) => continue,
            LayerSpec::Dense(spec) => spec.activation,
            LayerSpec::Conv1D(spec) => spec.activation,
            LayerSpec::ReLU(_) => Activation::Relu,
            LayerSpec::Sigmoid(_) => Activation::Sigmoid,
            LayerSpec::Tanh(_) => Activation::Tanh,
            LayerSpec::ELU(spec) => Activation::Elu { alpha: spec.alpha },
            LayerSpec::Activation(spec) => spec.activation,
            _ => return None,
        };
        return Some((name, activation));
    }
    None
}

/// The closed range an activation's output can take (`None` when it is
/// unbounded on both sides).
fn reach(activation: Activation) -> Option<(f64, f64)> {
    match activation {
        Activation::Relu => Some((0.0, f64::INFINITY)),
        Activation::Sigmoid => Some((0.0, 1.0)),
        Activation::Tanh => Some((-1.0, 1.0)),
        Activation::Elu { alpha } => Some((-alpha, f64::INFINITY)),
        Activation::Softmax => Some((0.0, 1.0)),
        Activation::Selu => Some((
            -kymo_layers::SELU_SCALE * kymo_layers::SELU_ALPHA,
            f64::INFINITY,
        )),
        // min z·sigmoid(z), at z ≈ -1.2785.
        Activation::Silu => Some((-0.278_464_542_761_074, f64::INFINITY)),
        // min z·Φ(z), at z ≈ -0.7518.
        Activation::Gelu => Some((-0.169_971_207_479_855, f64::INFINITY)),
        Activation::Softplus => Some((0.0, f64::INFINITY)),
        Activation::Linear | Activation::LeakyRelu { .. } => None,
    }
}

/// A softmax over a single unit: the output is 1.0 for every input, so the
/// loss is constant and no gradient reaches the weights (a common
/// binary-classification slip: `Dense(1, activation='softmax')`).
fn softmax_on_one_unit(model: &dyn Model<f32>) -> Option<Finding> {
    let (layer, activation) = output_activation(model)?;
    let units = match model.output_shape() {
        kymo_layers::Shape::Features(units) => units,
        kymo_layers::Shape::Signal { channels, .. } => channels,
    };
    (activation == Activation::Softmax && units == 1).then(|| {
        Finding::new(
            FindingId::SoftmaxOnOneUnit,
            Severity::High,
            format!("'{layer}' takes a softmax over a single unit: it outputs 1.0 whatever the input"),
        )
        .measured(format!("'{layer}' has 1 output unit and a softmax activation"))
        .why("softmax normalizes across units; over one unit exp(z)/exp(z) = 1, so every prediction is the same, the loss never changes and every weight's gradient is zero")
        .fix("two classes: Dense(1, activation='sigmoid') with binary cross-entropy, or Dense(2, activation='softmax') with (sparse) categorical cross-entropy; regression: Dense(1) with no activation")
    })
}

/// A head whose activation cannot produce the training targets.
fn head_cannot_reach_target(model: &dyn Model<f32>, train: &Dataset) -> Option<Finding> {
    let (layer, activation) = output_activation(model)?;
    let (low, high) = reach(activation)?;
    let targets = train.targets();
    let outside = targets
        .iter()
        .filter(|&&t| f64::from(t) < low || f64::from(t) > high)
        .count();
    if outside == 0 {
        return None;
    }
    let share = outside as f64 / targets.len().max(1) as f64;
    let (min, max) = range(targets.iter().copied());
    let severity = if share >= 0.05 {
        Severity::High
    } else {
        Severity::Medium
    };
    Some(
        Finding::new(
            FindingId::HeadCannotReachTarget,
            severity,
            format!("The output activation of '{layer}' cannot produce {:.0}% of the targets", 100.0 * share),
        )
        .measured(format!(
            "'{layer}' ends in {activation:?}, whose output lies in [{low}, {high}]; the training targets span [{min:.4}, {max:.4}], and {outside} of {} lie outside",
            targets.len()
        ))
        .why("a bounded activation on the output clips every prediction to its range: the loss on targets beyond it can never reach zero, and their gradients vanish (ReLU) or saturate (sigmoid, tanh) there")
        .fix(format!(
            "a linear output for regression: Dense(1) with no activation in place of {activation:?} (and standardized targets)"
        )),
    )
}

/// The smallest and largest of some values.
fn range(values: impl Iterator<Item = f32>) -> (f32, f32) {
    values.fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    })
}

/// A target column with one value on every training row.
fn constant_target(train: &Dataset) -> Option<Finding> {
    let constant: Vec<String> = train
        .targets()
        .columns()
        .into_iter()
        .enumerate()
        .filter_map(|(j, column)| {
            let (min, max) = range(column.iter().copied());
            (min == max).then(|| format!("target {j} is {min} on all {} rows", column.len()))
        })
        .collect();
    (!constant.is_empty()).then(|| {
        Finding::new(FindingId::ConstantTarget, Severity::High, "The target does not vary")
            .measured(constant.join("; "))
            .why("there is nothing to learn: any model that outputs the constant is perfect, and the loss measures only how far the initial weights are from it; usually the wrong column was read, or the target was lost on export")
            .fix("check the target column (`--target`) and the export that wrote it")
    })
}

/// Pearson correlation of the row index with the values (0 for fewer than
/// two rows or constant values).
fn order_correlation(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return 0.0;
    }
    let index_mean = (n - 1.0) / 2.0;
    let mean = values.iter().sum::<f64>() / n;
    let (mut covariance, mut index_var, mut value_var) = (0.0, 0.0, 0.0);
    for (i, &v) in values.iter().enumerate() {
        let (di, dv) = (i as f64 - index_mean, v - mean);
        covariance += di * dv;
        index_var += di * di;
        value_var += dv * dv;
    }
    if value_var == 0.0 {
        return 0.0;
    }
    covariance / (index_var * value_var).sqrt()
}

/// Validation targets that mostly lie outside the training targets' range,
/// or that follow another distribution (labels or grades sorted before the
/// split lie inside the range, but each side holds other values): the rows
/// were sorted (by target, or by anything the target follows) before a
/// split that takes the last rows. High when half the validation targets
/// lie outside, or when half the probability mass moved (a
/// Kolmogorov–Smirnov distance of 0.5 or more, beyond its 0.1% critical
/// value); Medium when a fifth lie outside, or the distance passes its
/// critical value, and the row order follows the target.
fn sorted_split(train: &Dataset, val: &Dataset) -> Option<Finding> {
    let first = |d: &Dataset| -> Vec<f64> {
        d.targets()
            .column(0)
            .iter()
            .map(|&t| f64::from(t))
            .collect()
    };
    let (train_targets, val_targets) = (first(train), first(val));
    if train_targets.is_empty() || val_targets.is_empty() {
        return None;
    }
    let (low, high) = range(train.targets().column(0).iter().copied());
    let (low, high) = (f64::from(low), f64::from(high));
    if low == high {
        // A constant target is its own finding.
        return None;
    }
    let outside = val_targets.iter().filter(|&&t| t < low || t > high).count();
    let share = outside as f64 / val_targets.len() as f64;
    let distance = ks_distance(&train_targets, &val_targets);
    let critical = ks_critical_distance(train_targets.len(), val_targets.len());
    let shifted = distance > critical;
    let mut all = train_targets;
    all.extend(&val_targets);
    let correlation = order_correlation(&all);
    let severity = if share >= 0.5 || (shifted && distance >= 0.5) {
        Severity::High
    } else if (share >= 0.2 || shifted) && correlation.abs() > 0.9 {
        Severity::Medium
    } else {
        return None;
    };
    let (val_low, val_high) = range(val.targets().column(0).iter().copied());
    Some(
        Finding::new(FindingId::SortedSplit, severity, "Validation holds other targets than the training rows")
            .measured(format!(
                "{outside} of {} validation targets ({:.0}%) lie outside the training range [{low:.4}, {high:.4}] (validation spans [{val_low:.4}, {val_high:.4}]); Kolmogorov–Smirnov distance between the training and validation targets {distance:.2} (0.1% critical value {critical:.2}); correlation of row order with the target: {correlation:.2}",
                val_targets.len(),
                100.0 * share
            ))
            .why("a split that takes the last rows (Keras's validation_split does, before any shuffling) of rows sorted by target validates on targets training rarely or never saw (extrapolation, or the last labels only): validation loss then says nothing about the model, and early stopping and checkpoints choose on noise")
            .fix(if crate::window_checks::split_is_windowed(train, val) {
                // A shuffle would put near-copies of training windows into
                // validation (`overlapping-windows`).
                "the rows are overlapping windows, so do not shuffle them: validate on whole recordings chosen at random, or on several blocks of rows spread over the range, dropping the training windows that share points with them"
            } else {
                "shuffle the rows once with a seed before splitting (kymo_data::random_split), or split by a stratified or grouped rule"
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kymo_layers::{zoo, ModelSpec, Sequential};
    use ndarray::{Array2, Array3};

    fn data(targets: Vec<f32>) -> Dataset {
        let n = targets.len();
        let signals = Array3::from_shape_fn((n, 1, 16), |(i, _, l)| ((i * 7 + l) % 5) as f32);
        Dataset::new(
            signals,
            Array2::from_shape_vec((n, 1), targets).expect("shape"),
        )
        .expect("valid")
    }

    /// The answer's model with `activation` on its output Dense.
    fn model_ending_in(activation: Activation) -> Sequential<f32> {
        let mut spec: ModelSpec = zoo::answer(16);
        match spec.layers.last_mut() {
            Some(LayerSpec::Dense(dense)) => dense.activation = activation,
            other => panic!("the answer ends in a Dense, not {other:?}"),
        }
        Sequential::new(&spec, 0).expect("builds")
    }

    fn ids(findings: &[Finding]) -> Vec<FindingId> {
        findings.iter().map(|f| f.id).collect()
    }

    /// `0, 1, 2, ...` made uneven (still increasing), so that the targets
    /// are not a row number, which `index-column` would name.
    fn rising(i: usize) -> f32 {
        i as f32 + 0.3 * ((i * 7) % 3) as f32
    }

    #[test]
    fn a_bounded_head_on_targets_beyond_its_range_is_named() {
        let negative = data((0..40).map(|i| rising(i) - 20.0).collect());
        let relu = model_ending_in(Activation::Relu);
        let found = target_checks(&relu, &negative, None);
        assert_eq!(ids(&found), vec![FindingId::HeadCannotReachTarget]);
        assert_eq!(found[0].severity, Severity::High);
        let wide = data((0..40).map(|i| rising(i) * 1.5).collect());
        assert_eq!(
            ids(&target_checks(
                &model_ending_in(Activation::Sigmoid),
                &wide,
                None
            )),
            vec![FindingId::HeadCannotReachTarget]
        );
        // A linear head, or targets inside the range, raise nothing.
        assert!(target_checks(&model_ending_in(Activation::Linear), &negative, None).is_empty());
        let unit = data((0..40).map(|i| rising(i) / 41.0).collect());
        assert!(target_checks(&model_ending_in(Activation::Sigmoid), &unit, None).is_empty());
    }

    #[test]
    fn a_softmax_over_one_unit_is_named_whatever_the_targets() {
        let labels = data((0..40).map(|i| (i % 2) as f32).collect());
        let found = target_checks(&model_ending_in(Activation::Softmax), &labels, None);
        // Named once, not also as a head that cannot reach the targets.
        assert_eq!(ids(&found), vec![FindingId::SoftmaxOnOneUnit]);
        assert_eq!(found[0].severity, Severity::High);
        assert!(found[0].fix.contains("sigmoid"), "{}", found[0].fix);
        // Two units under a softmax are a well-formed head.
        let mut spec: ModelSpec = zoo::answer(16);
        if let Some(LayerSpec::Dense(dense)) = spec.layers.last_mut() {
            dense.units = 2;
            dense.activation = Activation::Softmax;
        }
        let two = Sequential::new(&spec, 0).expect("builds");
        assert!(target_checks(&two, &labels, None).is_empty());
    }

    #[test]
    fn axes_the_wrong_way_round_are_named_as_such() {
        let signals = data((0..20).map(|i| i as f32).collect());
        let mut spec = zoo::answer(16);
        assert!(input_shape(&spec.clone().into(), &signals).is_none());
        spec.input = kymo_layers::InputSpec {
            channels: 16,
            length: 1,
        };
        let found = input_shape(&spec.clone().into(), &signals).expect("named");
        assert_eq!(
            (found.id, found.severity),
            (FindingId::InputShapeMismatch, Severity::High)
        );
        assert!(found.title.contains("other way round"), "{}", found.title);
        assert!(found.fix.contains("input_shape=(16, 1)"), "{}", found.fix);
        spec.input.length = 3;
        let other = input_shape(&spec.clone().into(), &signals).expect("named");
        assert!(!other.title.contains("other way round"), "{}", other.title);
        // Both sides swapped: 20 channels of one step, as the model takes.
        let one_step = Dataset::new(
            ndarray::Array3::zeros((4, 20, 1)),
            ndarray::Array2::zeros((4, 1)),
        )
        .expect("data");
        spec.input = kymo_layers::InputSpec {
            channels: 20,
            length: 1,
        };
        let both = input_shape(&spec.clone().into(), &one_step).expect("named");
        assert!(both.title.contains("other way round"), "{}", both.title);
        assert!(both.fix.contains("input_shape=(20, 1)"), "{}", both.fix);
        // Three axes of 16 points as 3 steps of 16 channels, on both sides,
        // with a 2-tap first kernel that still slides: likely swapped.
        let three_steps = Dataset::new(
            ndarray::Array3::zeros((4, 16, 3)),
            ndarray::Array2::zeros((4, 1)),
        )
        .expect("data");
        spec.input = kymo_layers::InputSpec {
            channels: 16,
            length: 3,
        };
        let likely = input_shape(&spec.clone().into(), &three_steps).expect("named");
        assert_eq!(likely.severity, Severity::Medium);
        assert!(likely.title.contains("other way round"), "{}", likely.title);
        assert!(likely.fix.contains("input_shape=(16, 3)"), "{}", likely.fix);
        // Twice as many channels as steps is a signal's own shape.
        let wide = Dataset::new(
            ndarray::Array3::zeros((4, 16, 8)),
            ndarray::Array2::zeros((4, 1)),
        )
        .expect("data");
        spec.input.length = 8;
        assert!(input_shape(&spec.clone().into(), &wide).is_none());
        // A Dense-only model over one step of many channels is no fault of
        // the axes: nothing slides.
        spec.input = kymo_layers::InputSpec {
            channels: 20,
            length: 1,
        };
        spec.layers
            .retain(|layer| !matches!(layer, LayerSpec::Conv1D(_)));
        assert!(input_shape(&spec.into(), &one_step).is_none());
    }

    #[test]
    fn a_constant_target_is_named() {
        let flat = data(vec![3.0; 30]);
        let found = target_checks(
            &model_ending_in(Activation::Linear),
            &flat,
            Some(&data(vec![3.0; 5])),
        );
        assert_eq!(ids(&found), vec![FindingId::ConstantTarget]);
        assert_eq!(found[0].severity, Severity::High);
    }

    #[test]
    fn a_split_of_rows_sorted_by_target_is_named_and_a_shuffled_one_is_not() {
        let sorted: Vec<f32> = (0..100).map(rising).collect();
        let (train, val) = (data(sorted[..80].to_vec()), data(sorted[80..].to_vec()));
        let found = target_checks(&model_ending_in(Activation::Linear), &train, Some(&val));
        assert_eq!(ids(&found), vec![FindingId::SortedSplit]);
        assert_eq!(found[0].severity, Severity::High);
        // The same targets in a seeded shuffled order.
        let shuffled: Vec<f32> = (0..100).map(|i| rising((i * 37) % 100)).collect();
        let (train, val) = (data(shuffled[..80].to_vec()), data(shuffled[80..].to_vec()));
        assert!(target_checks(&model_ending_in(Activation::Linear), &train, Some(&val)).is_empty());
    }

    /// Labels 1, 2, 3 sorted before a tail split: validation holds the
    /// last label only, inside the training range, and is named by the
    /// distributions' distance; the same labels shuffled are not.
    #[test]
    fn a_tail_split_of_rows_sorted_by_label_is_named_though_inside_the_range() {
        let label = |i: usize| (1 + i * 3 / 150) as f32;
        let sorted: Vec<f32> = (0..150).map(label).collect();
        let (train, val) = (data(sorted[..120].to_vec()), data(sorted[120..].to_vec()));
        let found = target_checks(&model_ending_in(Activation::Linear), &train, Some(&val));
        // The labels fitted as a regression are a finding of their own.
        assert_eq!(
            ids(&found),
            vec![FindingId::TargetsLookLikeLabels, FindingId::SortedSplit]
        );
        let split = &found[1];
        assert_eq!(split.severity, Severity::High);
        assert!(
            split.measured.contains("0 of 30 validation targets"),
            "{}",
            split.measured
        );
        let shuffled: Vec<f32> = (0..150).map(|i| label((i * 37) % 150)).collect();
        let (train, val) = (
            data(shuffled[..120].to_vec()),
            data(shuffled[120..].to_vec()),
        );
        let found = target_checks(&model_ending_in(Activation::Linear), &train, Some(&val));
        assert_eq!(ids(&found), vec![FindingId::TargetsLookLikeLabels]);
    }
}
