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
    // Every training row hashed once, for both duplicates and leaks.
    let seen = signal_counts(train);
    findings.extend(duplicate_samples(train, &seen));
    findings.extend(validation.and_then(|val| train_validation_leak(&seen, val)));
    findings.extend(validation.and_then(|val| crate::overlapping_windows(train, val)));
    findings.extend(off_scale_points(train));
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
fn duplicate_samples(train: &Dataset, seen: &HashMap<Vec<u32>, usize>) -> Option<Finding> {
    let duplicates: usize = seen.values().map(|count| count - 1).sum();
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

/// Validation signals that are also training signals (`seen`, by bits).
fn train_validation_leak(seen: &HashMap<Vec<u32>, usize>, val: &Dataset) -> Option<Finding> {
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

/// Input points whose scale is far above the others': `(channel, point,
/// its RMS over the training rows)` for each point over 100 times the
/// median point's RMS. A column in other units (a temperature in a
/// spectrum, a value in mg where the rest is absorbance) looks like this.
pub(crate) fn outlying_points(train: &Dataset) -> (Vec<(usize, usize, f64)>, f64) {
    let signals = train.signals();
    let n = train.len().max(1) as f64;
    let mut scales = Vec::with_capacity(train.channels() * train.length());
    for c in 0..train.channels() {
        for l in 0..train.length() {
            let sum: f64 = (0..train.len())
                .map(|i| f64::from(signals[[i, c, l]]).powi(2))
                .sum();
            scales.push((c, l, (sum / n).sqrt()));
        }
    }
    let mut sorted: Vec<f64> = scales.iter().map(|s| s.2).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    if median <= 0.0 {
        return (Vec::new(), median);
    }
    let outliers: Vec<(usize, usize, f64)> = scales
        .into_iter()
        .filter(|&(_, _, s)| s > 100.0 * median)
        .collect();
    // Many such points are a property of the whole signal (counts, a
    // baseline), not of a few columns.
    if outliers.len() * 20 > sorted.len() {
        return (Vec::new(), median);
    }
    (outliers, median)
}

/// A few input points on another scale than the rest.
fn off_scale_points(train: &Dataset) -> Option<Finding> {
    let (outliers, median) = outlying_points(train);
    let (c, l, worst) = outliers
        .iter()
        .copied()
        .max_by(|a, b| a.2.total_cmp(&b.2))?;
    Some(
        Finding::new(
            FindingId::OffScalePoints,
            Severity::Medium,
            format!("{} input point(s) on another scale than the rest", outliers.len()),
        )
        .measured(format!(
            "{} of {} points have an RMS over 100x the median point's {median:.3e}; the largest, channel {c} point {l}, {worst:.3e} ({:.0}x)",
            outliers.len(),
            train.channels() * train.length(),
            worst / median
        ))
        .why("one column in other units dominates every first-layer sum and its gradients, so the rest of the signal trains as noise beside it")
        .fix("standardize each point on the training rows (kymo's default preprocessing), or convert that column to the signal's units; log1p does not fit this (it is one column, not count data)"),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    /// Spectra-like signals: a smooth band per row, one target per row.
    fn spectra(rows: usize, points: usize) -> Dataset {
        let signals = Array3::from_shape_fn((rows, 1, points), |(i, _, l)| {
            1.0 + 0.5 * ((l as f32 / 7.0) + i as f32 * 0.3).sin()
        });
        let targets = Array2::from_shape_fn((rows, 1), |(i, _)| i as f32);
        Dataset::new(signals, targets).expect("valid")
    }

    #[test]
    fn one_point_on_another_scale_is_named_and_not_taken_for_counts() {
        let clean = spectra(40, 100);
        assert!(off_scale_points(&clean).is_none());
        let mut signals = clean.signals().clone();
        signals
            .index_axis_mut(Axis(2), 37)
            .mapv_inplace(|v| v * 1e4);
        let planted = Dataset::new(signals, clean.targets().clone()).expect("valid");
        let finding = off_scale_points(&planted).expect("named");
        assert_eq!(finding.id, FindingId::OffScalePoints);
        assert!(
            finding.measured.contains("point 37"),
            "{}",
            finding.measured
        );
        // The tail is one column's: no log1p advice.
        assert!(count_like_inputs(&planted).is_none());
    }
}
