//! Checks of the data: scale, constant channels, duplicates and leaks,
//! size against the model, and what a linear model already explains.

use std::collections::HashMap;

use kymo_data::Dataset;
use ndarray::Axis;

use super::{Finding, FindingId, Severity};
use kymo_baselines::Ridge;
use kymo_data::Metric;

fn row_key(data: &Dataset, i: usize) -> Vec<u32> {
    data.signals()
        .index_axis(Axis(0), i)
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// Every data check. `parameters` is the model's trainable parameter count.
pub fn data_checks(
    train: &Dataset,
    validation: Option<&Dataset>,
    parameters: usize,
) -> Vec<Finding> {
    let mut findings = input_scale(train);
    findings.extend(target_scale(train));
    findings.extend(duplicate_samples(train));
    findings.extend(validation.and_then(|val| train_validation_leak(train, val)));
    findings.extend(count_like_inputs(train));
    findings.extend(too_few_samples(train, parameters));
    findings.extend(validation.and_then(|val| ridge_baseline(train, val)));
    findings
}

/// Mean and population standard deviation of some values.
fn mean_and_std<'a>(values: impl Iterator<Item = &'a f32> + Clone) -> (f64, f64) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().map(|&v| f64::from(v)).sum::<f64>() / n;
    let variance = values.map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean, variance.sqrt())
}

/// Per channel: constant, or far from unit scale.
fn input_scale(train: &Dataset) -> Vec<Finding> {
    let signals = train.signals();
    let mut findings = Vec::new();
    for c in 0..train.channels() {
        let channel = signals.index_axis(Axis(1), c);
        let (mean, std) = mean_and_std(channel.iter());
        let (min, max) = channel
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if std == 0.0 {
            findings.push(
                Finding::new(FindingId::ConstantChannel, Severity::Medium, format!("Channel {c} is constant"))
                    .measured(format!("every value is {mean}"))
                    .why("a constant input carries no information and breaks standardization (division by zero)")
                    .fix("drop the channel"),
            );
        } else if mean.abs() > 0.5 || !(0.5..=2.0).contains(&std) {
            findings.push(
                Finding::new(FindingId::InputsNotStandardized, Severity::Medium, format!("Channel {c} is not standardized"))
                    .measured(format!("mean {mean:.3}, standard deviation {std:.3}, range [{min:.3}, {max:.3}]"))
                    .why("Glorot initialization assumes inputs of unit scale; off-scale inputs make the first steps too large or too small (LeCun et al. 1998, Efficient BackProp)")
                    .fix("standardize each point (or channel) with statistics of the training split only (kymo_data::DatasetScaler)"),
            );
        }
    }
    findings
}

/// Per target: far from unit scale under MSE.
fn target_scale(train: &Dataset) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (j, column) in train.targets().columns().into_iter().enumerate() {
        let (mean, std) = mean_and_std(column.iter());
        if std > 10.0 || (std > 0.0 && std < 0.1) || mean.abs() > 10.0 * std.max(1e-12) {
            findings.push(
                Finding::new(FindingId::TargetScale, Severity::Medium, format!("Target {j} is far from unit scale under MSE"))
                    .measured(format!("mean {mean:.4}, standard deviation {std:.4}"))
                    .why("MSE gradients scale with the target: large targets make Adam's first steps overshoot, tiny ones vanish into epsilon")
                    .fix("standardize the target on the training split and invert predictions"),
            );
        }
    }
    findings
}

/// Every training signal, by its bits, with how often it occurs.
fn signal_counts(train: &Dataset) -> HashMap<Vec<u32>, usize> {
    let mut seen: HashMap<Vec<u32>, usize> = HashMap::new();
    for i in 0..train.len() {
        *seen.entry(row_key(train, i)).or_insert(0) += 1;
    }
    seen
}

/// Training signals that repeat another exactly.
fn duplicate_samples(train: &Dataset) -> Option<Finding> {
    let duplicates: usize = signal_counts(train).values().map(|count| count - 1).sum();
    (duplicates > 0).then(|| {
        Finding::new(
            FindingId::DuplicateSamples,
            Severity::Low,
            "Duplicated training samples",
        )
        .measured(format!(
            "{duplicates} of {} training signals repeat another exactly",
            train.len()
        ))
        .why("duplicates weigh some samples twice and inflate apparent fit")
        .fix("deduplicate before splitting")
    })
}

/// Validation signals that are also training signals.
fn train_validation_leak(train: &Dataset, val: &Dataset) -> Option<Finding> {
    let seen = signal_counts(train);
    let shared = (0..val.len())
        .filter(|&i| seen.contains_key(&row_key(val, i)))
        .count();
    (shared > 0).then(|| {
        Finding::new(
            FindingId::TrainValidationLeak,
            Severity::High,
            "Validation samples also appear in training",
        )
        .measured(format!(
            "{shared} of {} validation signals are in the training set",
            val.len()
        ))
        .why("validation loss then measures memory, not generalization")
        .fix("deduplicate, then split")
    })
}

/// Count-like inputs, where standardization is the wrong fix.
fn count_like_inputs(train: &Dataset) -> Option<Finding> {
    let evidence = super::budget::count_like(train)?;
    Some(
        Finding::new(FindingId::CountLikeInputs, Severity::Medium, "Inputs look like counts: non-negative, heavy-tailed and skewed")
            .measured(evidence)
            .why("per-point standardization keeps the tail: a few huge values dominate the inputs and the gradients, while most points sit in a narrow band near zero; a log transform evens the scale")
            .fix("preprocess with `log1p,standardize`, fitted on the training rows (the prescription does)"),
    )
}

/// Far more trainable parameters than training samples.
fn too_few_samples(train: &Dataset, parameters: usize) -> Option<Finding> {
    let ratio = parameters as f64 / train.len().max(1) as f64;
    (ratio > 100.0).then(|| {
        Finding::new(FindingId::TooFewSamples, if ratio > 1000.0 { Severity::High } else { Severity::Medium }, "Far more parameters than training samples")
            .measured(format!("{parameters} trainable parameters for {} training samples ({ratio:.0} per sample)", train.len()))
            .why("with this ratio the model can fit the training set exactly and the validation loss depends on luck of initialization (Zhang et al. 2017)")
            .fix("shrink the head (downsample before Flatten), add data, or regularize")
    })
}

/// What a linear model explains of the target on validation.
fn ridge_baseline(train: &Dataset, val: &Dataset) -> Option<Finding> {
    let ridge = Ridge::fit_best(train, val, &Ridge::default_lambdas()).ok()?;
    let predictions = ridge.predict(val).ok()?;
    let r2 = Metric::R2.compute(predictions.view(), val.targets());
    let mse = Metric::Mse.compute(predictions.view(), val.targets());
    let (title, fix) = if r2 > 0.9 {
        ("A linear model already explains the target", "report the ridge baseline beside the CNN; a CNN must beat its validation MSE to be worth it")
    } else if r2 < 0.05 {
        (
            "A linear model explains nothing",
            "check that the target is predictable from the signal at all",
        )
    } else {
        (
            "Linear baseline",
            "compare the CNN's validation MSE with the ridge baseline's",
        )
    };
    Some(
        Finding::new(FindingId::RidgeBaseline, Severity::Info, title)
            .measured(format!("ridge regression (λ = {}) on the flattened signal: validation R² {r2:.3}, MSE {mse:.4}", ridge.lambda))
            .why("a network that does not beat a linear baseline adds variance without adding accuracy")
            .fix(fix),
    )
}
