//! A row number where data should be: a target, or an input point, that
//! counts the rows (0, 1, 2, ... or any evenly stepped sequence). It is
//! what a pandas `to_csv` without `index=False` writes, or a spreadsheet's
//! "No." column read as data. As a target there is nothing real to learn;
//! as an input it leaks the row's position, which a sorted file ties to the
//! target.

use kymo_data::Dataset;
use ndarray::ArrayView1;

use crate::{Finding, FindingId, Severity};

/// Fewest rows for an evenly stepped column to count as an index: below
/// this, a few evenly spaced values are plausible by chance.
const MIN_ROWS: usize = 10;

/// Whether `values` step by the same nonzero amount from row to row, to
/// float32 rounding of the largest value.
fn counts_rows(values: ArrayView1<'_, f32>) -> bool {
    if values.len() < MIN_ROWS {
        return false;
    }
    let step = f64::from(values[1]) - f64::from(values[0]);
    let largest = values
        .iter()
        .fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    let tolerance = 1e-6 * largest.max(1.0);
    step.abs() > tolerance
        && values
            .windows(2)
            .into_iter()
            .all(|pair| (f64::from(pair[1]) - f64::from(pair[0]) - step).abs() <= tolerance)
}

/// A target column that counts the rows.
pub fn index_target(train: &Dataset) -> Option<Finding> {
    let columns: Vec<usize> = train
        .targets()
        .columns()
        .into_iter()
        .enumerate()
        .filter_map(|(j, column)| counts_rows(column).then_some(j))
        .collect();
    let &first = columns.first()?;
    let column = train.targets().column(first);
    Some(
        Finding::new(FindingId::IndexColumn, Severity::High, "The target counts the rows")
            .measured(format!(
                "target column(s) {columns:?} step evenly from row to row over all {} training rows (column {first}: {}, {}, {}, ...)",
                train.len(),
                column[0],
                column[1],
                column[2]
            ))
            .why("a row number is not a property of the signal: the model can only learn where a row sits in the file; usually the index column was read as the target")
            .fix("read the real target column (`--target NAME`); when writing the CSV with pandas, pass index=False"),
    )
}

/// Input points that count the rows: an index exported with the signals.
pub fn index_inputs(train: &Dataset) -> Option<Finding> {
    let signals = train.signals();
    let (_, channels, length) = signals.dim();
    let mut found = Vec::new();
    for c in 0..channels {
        for t in 0..length {
            if counts_rows(signals.slice(ndarray::s![.., c, t])) {
                found.push((c, t));
            }
        }
    }
    let &(channel, point) = found.first()?;
    Some(
        Finding::new(FindingId::IndexColumn, Severity::Medium, "An input point counts the rows")
            .measured(format!(
                "{} input point(s) step evenly from row to row over all {} training rows; the first is point {point} of channel {channel}",
                found.len(),
                train.len()
            ))
            .why("a row number is not part of the signal: a model reads the row's position from it, which a file sorted by anything tied to the target turns into a leak that fails on new data")
            .fix(format!(
                "drop that column from the signals (CSV: the column before the signal's first point is usually the index; pandas: to_csv(index=False)); here point {point} of channel {channel}"
            )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    fn data(signals: Array3<f32>, targets: Array2<f32>) -> Dataset {
        Dataset::new(signals, targets).expect("same rows")
    }

    #[test]
    fn a_row_number_target_is_high_and_a_real_target_is_not_flagged() {
        let signals = Array3::from_shape_fn((20, 1, 8), |(n, _, t)| ((n * 7 + t * 3) % 11) as f32);
        let index = Array2::from_shape_fn((20, 1), |(n, _)| (100 + 2 * n) as f32);
        let found = index_target(&data(signals.clone(), index)).expect("named");
        assert_eq!(
            (found.id, found.severity),
            (FindingId::IndexColumn, Severity::High)
        );
        let real = Array2::from_shape_fn((20, 1), |(n, _)| ((n * n) % 13) as f32);
        assert!(index_target(&data(signals.clone(), real)).is_none());
        // Too few rows to tell an index from chance.
        let short = Array2::from_shape_fn((5, 1), |(n, _)| n as f32);
        let few = Array3::zeros((5, 1, 8));
        assert!(index_target(&data(few, short)).is_none());
    }

    #[test]
    fn an_index_point_in_the_signals_is_named_with_its_position() {
        let mut signals = Array3::from_shape_fn((30, 2, 16), |(n, c, t)| {
            (((n + 1) * (c + 3) * (t + 5)) % 17) as f32
        });
        for n in 0..30 {
            signals[[n, 1, 0]] = n as f32;
        }
        let targets = Array2::from_shape_fn((30, 1), |(n, _)| ((n * 5) % 7) as f32);
        let found = index_inputs(&data(signals.clone(), targets.clone())).expect("named");
        assert_eq!(found.severity, Severity::Medium);
        assert!(
            found.measured.contains("point 0 of channel 1"),
            "{}",
            found.measured
        );
        signals[[3, 1, 0]] = 99.0;
        assert!(index_inputs(&data(signals, targets)).is_none());
    }
}
