//! `target-in-inputs`: the target written verbatim into the signals.
//!
//! The forecasting slip behind many "too good to be true" results: windows
//! cut as `x[t - L + 1..=t]` for a target `y[t]` (one point too late), or a
//! feature table exported with the target column still among the inputs.
//! The network then learns to copy one input, validation agrees, and the
//! model fails wherever that input is not known yet. Exact equality makes
//! the rule safe from chance: a real signal equals its target to the bit in
//! nearly every row only if it holds it.

use kymo_data::Dataset;

use crate::{Finding, FindingId, Severity};

/// The share of training rows in which one input point must equal the
/// target: a copy that a few rows break (a missing value filled in) still
/// counts.
const COPIED_SHARE: f64 = 0.9;

/// The fewest training rows the rule judges.
const MIN_ROWS: usize = 10;

/// The input point that equals a target column in most training rows.
pub fn target_in_inputs(train: &Dataset) -> Option<Finding> {
    let rows = train.len();
    if rows < MIN_ROWS {
        return None;
    }
    let (signals, targets) = (train.signals(), train.targets());
    let (channels, length) = (train.channels(), train.length());
    // (target column, channel, point, rows where they are equal)
    let mut best = (0, 0, 0, 0);
    for column in 0..train.target_count() {
        let target = targets.column(column);
        let (low, high) = target
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &t| {
                (a.min(t), b.max(t))
            });
        if low == high {
            // A constant target is `constant-target`'s.
            continue;
        }
        for channel in 0..channels {
            for point in 0..length {
                let equal = (0..rows)
                    .filter(|&row| signals[[row, channel, point]] == target[row])
                    .count();
                if equal > best.3 {
                    best = (column, channel, point, equal);
                }
            }
        }
    }
    let (column, channel, point, equal) = best;
    if (equal as f64) < COPIED_SHARE * rows as f64 {
        return None;
    }
    let target = if train.target_count() > 1 {
        format!("target column {column}")
    } else {
        "the target".to_string()
    };
    let channel = if channels > 1 {
        format!(" of channel {channel}")
    } else {
        String::new()
    };
    Some(
        Finding::new(
            FindingId::TargetInInputs,
            Severity::High,
            "The target is one of the inputs",
        )
        .measured(format!(
            "{target} equals input point {point}{channel} (of {length}) exactly in {equal} of {rows} training rows"
        ))
        .why("the network only has to copy that point: training and validation look perfect, and the model fails wherever that value is not known yet (a forecast whose window ends on the value it should predict, or a table exported with the target among its columns)")
        .fix(format!(
            "end each window before the value it predicts (x[t - L:t] for y[t]), or drop point {point} from the signals"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    fn signals(rows: usize) -> Array3<f32> {
        // A multiplicative hash of the position: no two points alike.
        Array3::from_shape_fn((rows, 2, 16), |(r, c, t)| {
            let key = ((r * 2 + c) * 16 + t) as u64;
            (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        })
    }

    #[test]
    fn a_window_that_ends_on_its_target_is_named_with_the_point() {
        let x = signals(40);
        let y = Array2::from_shape_fn((40, 1), |(r, _)| x[[r, 1, 15]]);
        let finding = target_in_inputs(&Dataset::new(x, y).expect("finite")).expect("found");
        assert_eq!(finding.severity, Severity::High);
        assert!(
            finding
                .measured
                .contains("point 15 of channel 1 (of 16) exactly in 40 of 40"),
            "{}",
            finding.measured
        );
    }

    #[test]
    fn a_target_near_an_input_or_equal_in_a_few_rows_is_not_a_copy() {
        let x = signals(40);
        // Rounded differently: equal to the bit in no row.
        let near = Array2::from_shape_fn((40, 1), |(r, _)| x[[r, 0, 3]] * 1.000_001 + 1e-6);
        assert!(target_in_inputs(&Dataset::new(x.clone(), near).expect("finite")).is_none());
        // A copy in 30 of 40 rows only.
        let partial = Array2::from_shape_fn((40, 1), |(r, _)| {
            if r < 30 {
                x[[r, 0, 3]]
            } else {
                100.0 + r as f32
            }
        });
        assert!(target_in_inputs(&Dataset::new(x, partial).expect("finite")).is_none());
    }
}
