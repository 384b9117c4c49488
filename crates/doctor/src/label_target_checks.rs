//! `targets-look-like-labels`: class labels fitted as a regression.
//!
//! "I have three classes, so I put Dense(1) and MSE" is among the commonest
//! head mistakes on Stack Overflow: labels saved as numbers reach the
//! doctor as a regression target, and nothing else in a regression's
//! checks says that the numbers are names. The rule looks at the values
//! alone: a handful of consecutive integers from 0 or 1, each on many
//! rows, is what a label column looks like and what few measured
//! quantities look like. Grades and small counts look the same, so the
//! finding asks rather than asserts: Medium, with both readings in its
//! fix. Under a sigmoid output, 0/1 targets are a binary classifier's
//! whatever they mean, and the rule names the regression loss instead.

use std::collections::BTreeMap;

use kymo_data::Dataset;

use crate::{Finding, FindingId, Severity};

/// The most distinct values a label column is taken to have: a handful of
/// classes. Integer targets with more values (ages in years, counts) are
/// quantities far more often than classes.
const MAX_LABELS: usize = 10;

/// Rows per distinct value, on average, below which the values are too
/// sparse to read as labels.
const MIN_ROWS_PER_LABEL: usize = 5;

/// What a label column holds: its values' range and rows per value.
struct Labels {
    first: i64,
    last: i64,
    counts: BTreeMap<i64, usize>,
}

impl Labels {
    /// A single regression target whose values are a handful of
    /// consecutive integers starting at 0 or 1, on data read without class
    /// labels.
    fn of(train: &Dataset) -> Option<Self> {
        if train.classes().is_some() || train.target_count() != 1 {
            return None;
        }
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        for &target in train.targets().column(0) {
            let value = f64::from(target);
            // An integer well inside i64's range (the cast below is exact).
            if !value.is_finite() || value.fract() != 0.0 || value.abs() > 1e9 {
                return None;
            }
            *counts.entry(value as i64).or_default() += 1;
        }
        let labels = counts.len();
        let (&first, &last) = (counts.keys().next()?, counts.keys().next_back()?);
        let consecutive = usize::try_from(last - first).ok()? + 1 == labels;
        let label_like = (2..=MAX_LABELS).contains(&labels)
            && (first == 0 || first == 1)
            && consecutive
            && train.len() >= MIN_ROWS_PER_LABEL * labels;
        label_like.then_some(Self {
            first,
            last,
            counts,
        })
    }

    /// `value: rows` for each value.
    fn rows_per_value(&self) -> String {
        let per_value: Vec<String> = self
            .counts
            .iter()
            .map(|(value, rows)| format!("{value}: {rows}"))
            .collect();
        per_value.join(", ")
    }
}

/// Labels 0 and 1 under a sigmoid output and a regression loss (the data
/// read as a regression): a binary classifier trained by squared error,
/// whose gradient `(p - y) p (1 - p)` vanishes where the sigmoid saturates
/// on the wrong side, the case cross-entropy's `p - y` is made for.
pub fn sigmoid_under_regression_loss(train: &Dataset) -> Option<Finding> {
    let labels = Labels::of(train)?;
    if labels.counts.len() != 2 || labels.first != 0 {
        return None;
    }
    Some(
        Finding::new(
            FindingId::HeadLossMismatch,
            Severity::Medium,
            "A sigmoid output on 0/1 labels trained with a regression loss",
        )
        .measured(format!(
            "the model ends in a sigmoid; every training target is 0 or 1 (rows per value: {}); the data was read as a regression, under a squared or absolute error",
            labels.rows_per_value()
        ))
        .why("under a squared error the sigmoid's gradient is (p - y) p (1 - p): a prediction saturated on the wrong side (p near 0 for a 1) barely moves, where binary cross-entropy's gradient p - y is largest (Goodfellow et al., Deep Learning, 6.2.2.2)")
        .fix("compile with binary_crossentropy (kymo: `--classes --loss binary_crossentropy`)"),
    )
}

/// A single regression target whose values are a handful of consecutive
/// integers starting at 0 or 1, on data read without class labels.
pub fn targets_look_like_labels(train: &Dataset) -> Option<Finding> {
    let found = Labels::of(train)?;
    let (first, last, labels) = (found.first, found.last, found.counts.len());
    let (head, loss) = if labels == 2 {
        (
            "Dense(1, activation='sigmoid')".to_string(),
            "binary_crossentropy",
        )
    } else {
        (
            format!("Dense({labels}, activation='softmax')"),
            "sparse_categorical_crossentropy",
        )
    };
    Some(
        Finding::new(
            FindingId::TargetsLookLikeLabels,
            Severity::Medium,
            format!("The target looks like {labels} class labels, fitted as a regression"),
        )
        .measured(format!(
            "every training target is one of the {labels} integers {first} to {last} (rows per value: {}); the data was read as a regression target",
            found.rows_per_value()
        ))
        .why(format!("if the numbers name classes, a regression treats them as quantities: the squared error says class {last} is further from class {first} than any other, the output lands between classes, and its rounding is no probability; measured quantities rarely take so few whole values"))
        .fix(format!(
            "if these are classes: {head} with {loss} (kymo: `--classes --loss {loss}`; a .ts file, or a Keras file compiled with a cross-entropy, is read as labels already); if they are ordered grades or counts, regression is right and this finding can be ignored"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    fn data(targets: Vec<f32>) -> Dataset {
        let n = targets.len();
        let signals = Array3::from_shape_fn((n, 1, 8), |(i, _, l)| ((i * 3 + l) % 7) as f32);
        Dataset::new(
            signals,
            Array2::from_shape_vec((n, 1), targets).expect("shape"),
        )
        .expect("valid")
    }

    #[test]
    fn a_few_consecutive_integers_from_zero_or_one_are_named() {
        let three: Vec<f32> = (0..60).map(|i| (i % 3) as f32).collect();
        let found = targets_look_like_labels(&data(three)).expect("named");
        assert_eq!(found.id, FindingId::TargetsLookLikeLabels);
        assert_eq!(found.severity, Severity::Medium);
        assert!(
            found.fix.contains("Dense(3, activation='softmax')"),
            "{}",
            found.fix
        );
        let binary: Vec<f32> = (0..40).map(|i| (1 + i % 2) as f32).collect();
        let found = targets_look_like_labels(&data(binary)).expect("named");
        assert!(found.fix.contains("sigmoid"), "{}", found.fix);
    }

    #[test]
    fn a_sigmoid_on_zero_one_labels_under_a_regression_loss_is_named() {
        let binary: Vec<f32> = (0..40).map(|i| (i % 2) as f32).collect();
        let found = sigmoid_under_regression_loss(&data(binary)).expect("named");
        assert_eq!(found.id, FindingId::HeadLossMismatch);
        assert_eq!(found.severity, Severity::Medium);
        assert!(found.fix.contains("binary_crossentropy"), "{}", found.fix);
        // Labels 1 and 2, or three labels, are not a sigmoid's targets.
        let shifted: Vec<f32> = (0..40).map(|i| (1 + i % 2) as f32).collect();
        assert!(sigmoid_under_regression_loss(&data(shifted)).is_none());
        let three: Vec<f32> = (0..60).map(|i| (i % 3) as f32).collect();
        assert!(sigmoid_under_regression_loss(&data(three)).is_none());
    }

    #[test]
    fn quantities_are_not_named() {
        // Fractional values, many whole values (ages), a gap in the values,
        // values not starting at 0 or 1, too few rows per value, one value.
        let cases: [Vec<f32>; 6] = [
            (0..60).map(|i| (i % 3) as f32 + 0.5).collect(),
            (0..200).map(|i| (18 + i % 50) as f32).collect(),
            (0..60).map(|i| [0.0, 1.0, 3.0][i % 3]).collect(),
            (0..60).map(|i| (2 + i % 3) as f32).collect(),
            (0..12).map(|i| (i % 3) as f32).collect(),
            vec![1.0; 30],
        ];
        for targets in cases {
            let shown = format!("{:?}", &targets[..6]);
            assert!(
                targets_look_like_labels(&data(targets)).is_none(),
                "{shown}"
            );
        }
    }
}
