//! `overlapping-windows`: rows cut from longer recordings by a sliding
//! window, and the validation rows that share points with training rows.
//!
//! Sliding windows are how most 1D data sets are made from a few long
//! recordings (sensor logs, ECG, vibration). Neighbouring windows share
//! most of their points, so a shuffled split puts near-copies of training
//! rows in validation: the validation loss then rewards memory, and early
//! stopping and checkpoints choose on it. It is the leak behind many
//! "99% validation accuracy, chance on new recordings" reports, and the
//! `sorted-split` fix (shuffle before splitting) would cause it, so that
//! finding defers to this one (`kymo_data::is_windowed`).

use kymo_data::{overlaps_between, overlaps_within, Dataset};

use crate::{Finding, FindingId, Severity};

/// The share of validation rows sharing points with training rows from
/// which the leak is High: a contiguous split leaks only the few windows
/// at its boundary, a shuffled one most of them.
const HIGH_LEAK_SHARE: f64 = 0.1;

/// Whether a split's rows are overlapping windows: the training rows are,
/// or a validation row shares points with a training row.
pub(crate) fn split_is_windowed(train: &Dataset, val: &Dataset) -> bool {
    overlaps_within(train).windowed() || overlaps_between(train, val).second_count() > 0
}

/// The finding, when the training rows are overlapping windows or a
/// validation row shares points with a training row.
pub fn overlapping_windows(train: &Dataset, val: &Dataset) -> Option<Finding> {
    let within = overlaps_within(train);
    let between = overlaps_between(train, val);
    let (copies, leaks) = (within.first_count(), between.second_count());
    if leaks == 0 && !within.windowed() {
        return None;
    }
    let leak_share = leaks as f64 / val.len().max(1) as f64;
    let severity = if leak_share >= HIGH_LEAK_SHARE {
        Severity::High
    } else if leaks > 0 {
        Severity::Medium
    } else {
        Severity::Low
    };
    let length = train.length();
    let step = within
        .typical_shift()
        .or(between.typical_shift())
        .map_or(String::new(), |step| {
            format!(
                " (a step of {step} of their {length} points: neighbours share {} points)",
                length.saturating_sub(step)
            )
        });
    let why = if leaks > 0 {
        "a validation row that shares points with a training row is partly seen data: the validation loss rewards memory, and early stopping and the best checkpoint choose on it, so the validation score overstates what the model does on a new recording (FCN on shuffled windows of 60 recordings: validation accuracy 1.000, 0.764 on new recordings; docs/experiments/window_leak.md)"
    } else {
        "this split shares no points between training and validation, but any shuffle before splitting (scikit-learn's train_test_split, a shuffled validation_split) would put near-copies of training rows into validation"
    };
    Some(
        Finding::new(
            FindingId::OverlappingWindows,
            severity,
            "Rows are overlapping windows of longer recordings",
        )
        .measured(format!(
            "{copies} of {} training rows are shifted copies of other training rows{step}; {leaks} of {} validation rows ({:.0}%) share at least a quarter of their points with a training row",
            train.len(),
            val.len(),
            100.0 * leak_share
        ))
        .why(why)
        .fix("split before cutting windows, by recording; or validate on the last rows in recording order and drop the training windows that share points with them (kymo_data::blocked_split, which `kymo fit` and `--verify` use on such data: it puts shuffled windows back in order from their shared points); never shuffle windows before the split"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kymo_data::is_windowed;
    use ndarray::{Array2, Array3};

    /// `rows` windows of 64 points, `step` apart, over one random walk.
    fn windows(rows: usize, step: usize) -> Dataset {
        let mut level = 0.0f32;
        let mut state = 7u64;
        let walk: Vec<f32> = (0..rows * step + 64)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                level += (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                level
            })
            .collect();
        let signals = Array3::from_shape_fn((rows, 1, 64), |(r, _, t)| walk[r * step + t]);
        let targets = Array2::from_shape_fn((rows, 1), |(r, _)| walk[r * step]);
        Dataset::new(signals, targets).expect("finite by construction")
    }

    fn rows(data: &Dataset, indices: impl Iterator<Item = usize>) -> Dataset {
        data.select(&indices.collect::<Vec<_>>()).expect("in range")
    }

    #[test]
    fn a_shuffled_split_of_windows_is_a_high_leak() {
        let data = windows(100, 8);
        // Every fifth row validates: each has training neighbours.
        let train = rows(&data, (0..100).filter(|r| r % 5 != 0));
        let val = rows(&data, (0..100).filter(|r| r % 5 == 0));
        let finding = overlapping_windows(&train, &val).expect("found");
        assert_eq!(finding.severity, Severity::High);
        assert!(finding.measured.contains("20 of 20 validation rows"));
        assert!(finding.measured.contains("a step of 8"));
    }

    #[test]
    fn a_contiguous_split_leaks_at_its_boundary_only_and_a_gap_leaks_nothing() {
        let data = windows(400, 8);
        let (train, val) = (rows(&data, 0..320), rows(&data, 320..400));
        // Rows 320..325 start within 48 points of row 319's start.
        let finding = overlapping_windows(&train, &val).expect("found");
        assert_eq!(finding.severity, Severity::Medium);
        assert!(finding.measured.contains("6 of 80 validation rows"));
        let (train, val, dropped) = kymo_data::blocked_split(&data, 0.2).expect("valid");
        assert_eq!(dropped, 6);
        let finding = overlapping_windows(&train, &val).expect("still windows");
        assert_eq!(finding.severity, Severity::Low);
        assert!(is_windowed(&train));
    }

    #[test]
    fn a_split_of_windows_is_windowed_and_one_of_independent_rows_is_not() {
        let data = windows(100, 8);
        assert!(split_is_windowed(
            &rows(&data, 0..80),
            &rows(&data, 80..100)
        ));
        let apart = windows(60, 64);
        assert!(!split_is_windowed(
            &rows(&apart, 0..48),
            &rows(&apart, 48..60)
        ));
    }

    #[test]
    fn independent_rows_raise_nothing() {
        // A step of 64: windows that touch but share no point.
        let data = windows(60, 64);
        let (train, val) = (rows(&data, 0..48), rows(&data, 48..60));
        assert!(overlapping_windows(&train, &val).is_none());
        assert!(!is_windowed(&data));
    }
}
