//! Rows that are overlapping windows of one longer recording.
//!
//! A common way to make many 1D samples out of a few long recordings is a
//! sliding window: rows `x[t..t + L]`, `x[t + s..t + s + L]`, ... with a
//! step `s` shorter than `L`. Neighbouring rows then share `L - s` points
//! exactly. Split such rows at random (scikit-learn's `train_test_split`,
//! or any shuffle before Keras's `validation_split`) and almost every
//! validation row is mostly a training row shifted: the validation loss
//! measures memory. Split in order and only the rows at the boundary
//! share points, which a gap removes ([`blocked_split`]).
//!
//! Detection is exact, not statistical: a row is a *shifted copy* of
//! another when, for some shift `s` that leaves at least a quarter of the
//! points shared, and at least [`MIN_SHARED`] of them, its first `L - s`
//! points equal the other's last `L - s` points bit for bit on every
//! channel. Candidates come from a rolling hash of a short prefix of the
//! first channel that varies, so the cost is linear in the number of
//! points (20,000 windows of 3 channels and 512 points, a step of 1: a
//! quarter of a second); each candidate is then compared point by point.
//! Windows scaled one by one after cutting (per-window z-normalization),
//! or point by point (scikit-learn's `StandardScaler` on the window
//! matrix), no longer share bits and are not found.

use std::collections::HashMap;

use ndarray::{ArrayView2, Axis};

use crate::{DataError, Dataset};

/// Points of the key channel whose hash finds candidate pairs (fewer
/// when a quarter of the row is shorter).
const PREFIX: usize = 32;

/// The fewest points a pair must share: a handful of points of a
/// quantized signal (integer counts, a few ADC levels) match by chance.
pub const MIN_SHARED: usize = 16;

/// Candidate rows kept per prefix hash: a prefix that many rows share
/// (zeros before a signal starts, a saturated sensor) stops adding
/// candidates rather than making the search quadratic.
const CANDIDATES_PER_PREFIX: usize = 64;

/// The multiplier of the rolling hash (odd, so the map is a bijection of
/// each step's contribution modulo 2^64).
const BASE: u64 = 0x9E37_79B9_7F4A_7C15;

/// The share of rows that must be shifted copies of others for a set to
/// count as windows: a few chance repeats (a recording that stalls) are
/// not a windowing scheme.
pub const WINDOWED_SHARE: f64 = 0.05;

/// Whether a set's rows are overlapping windows of longer recordings: at
/// least [`WINDOWED_SHARE`] of them shifted copies of other rows. A random
/// split of such rows leaks; split them with [`blocked_split`].
pub fn is_windowed(data: &Dataset) -> bool {
    overlaps_within(data).windowed()
}

/// Which rows of two sets are shifted copies of a row of the other set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlaps {
    /// For each row of the first set: whether it shares at least a quarter
    /// of its points with a row of the second set, shifted.
    pub first: Vec<bool>,
    /// The same for each row of the second set.
    pub second: Vec<bool>,
    /// The smallest shift (in points) at which each row of the first set
    /// that overlaps one of the second does: the median is the window step.
    pub shifts: Vec<usize>,
    /// For each row of the first set, the row of the second that starts
    /// nearest after it (the smallest shift), if any: the next window.
    pub next: Vec<Option<usize>>,
}

impl Overlaps {
    /// Rows of the first set that overlap a row of the second.
    pub fn first_count(&self) -> usize {
        self.first.iter().filter(|&&hit| hit).count()
    }

    /// Rows of the second set that overlap a row of the first.
    pub fn second_count(&self) -> usize {
        self.second.iter().filter(|&&hit| hit).count()
    }

    /// For [`overlaps_within`]'s result: whether at least
    /// [`WINDOWED_SHARE`] of the rows are shifted copies of others.
    pub fn windowed(&self) -> bool {
        let copies = self.first_count();
        copies > 0 && copies as f64 >= WINDOWED_SHARE * self.first.len() as f64
    }

    /// The median shift of the pairs found: the step between windows.
    pub fn typical_shift(&self) -> Option<usize> {
        let mut shifts = self.shifts.clone();
        shifts.sort_unstable();
        shifts.get(shifts.len() / 2).copied()
    }
}

/// Rows of `data` that are shifted copies of other rows of `data` (both
/// rows of each pair are marked, in [`Overlaps::first`]; `second` is the
/// same).
pub fn overlaps_within(data: &Dataset) -> Overlaps {
    let mut found = search(data, data, true);
    let (first, second) = (&found.first, &found.second);
    let either: Vec<bool> = first.iter().zip(second).map(|(a, b)| *a || *b).collect();
    found.first = either.clone();
    found.second = either;
    found
}

/// Rows of `first` and of `second` that are shifted copies of a row of the
/// other set, whichever of the two starts earlier in the recording.
pub fn overlaps_between(first: &Dataset, second: &Dataset) -> Overlaps {
    let mut forward = search(first, second, false);
    let backward = search(second, first, false);
    for (mark, other) in forward.first.iter_mut().zip(&backward.second) {
        *mark |= *other;
    }
    for (mark, other) in forward.second.iter_mut().zip(&backward.first) {
        *mark |= *other;
    }
    forward.shifts.extend(backward.shifts);
    forward
}

/// The rows of `data` in recording order, as far as their shared points
/// tell it: each chain of windows (a row, the row starting nearest after
/// it, and so on) in turn, chains in the file order of their first rows,
/// then any row no chain reached in file order. Rows that share no points
/// keep their file order, so for them this is `0..len`.
pub fn recording_order(data: &Dataset) -> Vec<usize> {
    let next = search(data, data, true).next;
    let mut has_previous = vec![false; data.len()];
    for &row in next.iter().flatten() {
        has_previous[row] = true;
    }
    let mut visited = vec![false; data.len()];
    let mut order = Vec::with_capacity(data.len());
    let starts: Vec<usize> = (0..data.len()).filter(|&r| !has_previous[r]).collect();
    for start in starts.into_iter().chain(0..data.len()) {
        let mut row = Some(start);
        while let Some(current) = row.filter(|&r| !visited[r]) {
            visited[current] = true;
            order.push(current);
            row = next[current];
        }
    }
    order
}

/// Keras's `validation_split` made safe for overlapping windows: the last
/// `fraction` of the rows in recording order ([`recording_order`], which
/// reassembles shuffled windows and is the file order for rows that share
/// no points; of each class, for labelled data, so validation keeps every
/// class) validate, and every training row that shares points with a
/// validation row is dropped. Returns the two sets (each in file order)
/// and how many training rows were dropped.
pub fn blocked_split(
    data: &Dataset,
    fraction: f64,
) -> Result<(Dataset, Dataset, usize), DataError> {
    let rows = BlockedRows::of(data, fraction)?;
    Ok((
        data.select(&rows.train)?,
        data.select(&rows.validation)?,
        rows.dropped,
    ))
}

/// The rows of a [`blocked_split`], by index into the data, for a tool
/// that splits the same file elsewhere (the doctor's Keras script).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedRows {
    /// Training rows, ascending.
    pub train: Vec<usize>,
    /// Validation rows, ascending.
    pub validation: Vec<usize>,
    /// Training rows left out because they share points with validation.
    pub dropped: usize,
}

impl BlockedRows {
    /// The rows [`blocked_split`] takes from `data`.
    pub fn of(data: &Dataset, fraction: f64) -> Result<Self, DataError> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(DataError::Shape(format!(
                "validation fraction {fraction} is not in [0, 1)"
            )));
        }
        let order = recording_order(data);
        let groups: Vec<Vec<usize>> = match data.labels() {
            Some(labels) => {
                let classes = labels.iter().max().map_or(0, |c| c + 1);
                let mut groups = vec![Vec::new(); classes];
                for &row in &order {
                    groups[labels[row]].push(row);
                }
                groups
            }
            None => vec![order],
        };
        let (mut train, mut validation) = (Vec::new(), Vec::new());
        for rows in groups.iter().filter(|rows| !rows.is_empty()) {
            // Keras: split_at = int(n * (1 - validation_split)); a class of
            // two or more rows keeps one to validate.
            let mut split_at = (rows.len() as f64 * (1.0 - fraction)) as usize;
            if fraction > 0.0 && split_at == rows.len() && rows.len() >= 2 {
                split_at -= 1;
            }
            train.extend_from_slice(&rows[..split_at]);
            validation.extend_from_slice(&rows[split_at..]);
        }
        train.sort_unstable();
        validation.sort_unstable();
        let overlapping = overlaps_between(&data.select(&train)?, &data.select(&validation)?);
        let kept: Vec<usize> = train
            .iter()
            .zip(&overlapping.first)
            .filter(|(_, &shares)| !shares)
            .map(|(&row, _)| row)
            .collect();
        if kept.is_empty() {
            return Err(DataError::Shape(format!(
                "every one of the {} training rows shares points with a validation row",
                train.len()
            )));
        }
        Ok(Self {
            dropped: train.len() - kept.len(),
            train: kept,
            validation,
        })
    }
}

/// The channel whose prefixes are hashed: the first that varies in
/// either set, so a constant channel (a flag, padding) hides no windows.
fn key_channel(a: &Dataset, b: &Dataset) -> usize {
    let varies = |data: &Dataset, channel: usize| {
        let values = data.signals().index_axis(Axis(1), channel);
        let first = values.iter().next().copied();
        values.iter().any(|v| Some(*v) != first)
    };
    (0..a.channels())
        .find(|&channel| varies(a, channel) || varies(b, channel))
        .unwrap_or(0)
}

/// One row's points of `channel` as bits.
fn channel_bits(row: ArrayView2<'_, f32>, channel: usize) -> Vec<u32> {
    row.index_axis(Axis(0), channel)
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// The hash of `points` (all the same length), or `None` for a constant
/// stretch, which would match every other constant stretch.
fn prefix_hash(points: &[u32]) -> Option<u64> {
    let first = *points.first()?;
    if points.iter().all(|&p| p == first) {
        return None;
    }
    Some(points.iter().fold(0u64, |h, &p| {
        h.wrapping_mul(BASE).wrapping_add(u64::from(p) + 1)
    }))
}

/// Whether `later` equals `earlier` shifted left by `shift` on every
/// channel, over the points they share.
fn agrees(earlier: ArrayView2<'_, f32>, later: ArrayView2<'_, f32>, shift: usize) -> bool {
    let length = earlier.dim().1;
    earlier
        .outer_iter()
        .zip(later.outer_iter())
        .all(|(early, late)| {
            (0..length - shift).all(|i| early[i + shift].to_bits() == late[i].to_bits())
        })
}

/// Pairs where a row of `later_set` starts `1..=L - ceil(L/4)` points into a row of
/// `earlier_set`; with `same`, the two sets are one and a row is not
/// paired with itself.
fn search(earlier_set: &Dataset, later_set: &Dataset, same: bool) -> Overlaps {
    let mut found = Overlaps {
        first: vec![false; earlier_set.len()],
        second: vec![false; later_set.len()],
        shifts: Vec::new(),
        next: vec![None; earlier_set.len()],
    };
    let length = earlier_set.length();
    let shared = length.div_ceil(4).max(MIN_SHARED);
    if shared >= length
        || earlier_set.channels() != later_set.channels()
        || length != later_set.length()
    {
        return found;
    }
    let width = PREFIX.min(shared);
    let largest_shift = length - shared;
    let channel = key_channel(earlier_set, later_set);
    let mut prefixes: HashMap<u64, Vec<usize>> = HashMap::new();
    for (row, signal) in later_set.signals().outer_iter().enumerate() {
        let bits = channel_bits(signal, channel);
        if let Some(hash) = prefix_hash(&bits[..width]) {
            let rows = prefixes.entry(hash).or_default();
            if rows.len() < CANDIDATES_PER_PREFIX {
                rows.push(row);
            }
        }
    }
    if prefixes.is_empty() {
        return found;
    }
    // BASE^(width - 1): what the point leaving the window contributed.
    let leaving = (1..width).fold(1u64, |p, _| p.wrapping_mul(BASE));
    for (early_row, early) in earlier_set.signals().outer_iter().enumerate() {
        let bits = channel_bits(early.view(), channel);
        let mut hash = bits[1..=width].iter().fold(0u64, |h, &p| {
            h.wrapping_mul(BASE).wrapping_add(u64::from(p) + 1)
        });
        for shift in 1..=largest_shift {
            if shift > 1 {
                let (out, into) = (bits[shift - 1], bits[shift + width - 1]);
                hash = hash
                    .wrapping_sub((u64::from(out) + 1).wrapping_mul(leaving))
                    .wrapping_mul(BASE)
                    .wrapping_add(u64::from(into) + 1);
            }
            let Some(candidates) = prefixes.get(&hash) else {
                continue;
            };
            for &late_row in candidates {
                if same && late_row == early_row {
                    continue;
                }
                if found.first[early_row] && found.second[late_row] {
                    continue;
                }
                let late = later_set.signals().index_axis(Axis(0), late_row);
                if agrees(early.view(), late, shift) {
                    // Shifts rise: a row's first pair is its nearest.
                    if !found.first[early_row] {
                        found.shifts.push(shift);
                        found.next[early_row] = Some(late_row);
                    }
                    found.first[early_row] = true;
                    found.second[late_row] = true;
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    /// A random walk of `points` points from `seed` (distinct values).
    fn recording(points: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut level = 0.0f32;
        (0..points)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                level += ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
                level
            })
            .collect()
    }

    /// Rows `recording[start..start + length]` for each start, channels
    /// `channels` (channel c offset by c), targets the row number.
    fn windows(recording: &[f32], starts: &[usize], length: usize, channels: usize) -> Dataset {
        let signals = Array3::from_shape_fn((starts.len(), channels, length), |(r, c, t)| {
            recording[starts[r] + t] + c as f32
        });
        let targets = Array2::from_shape_fn((starts.len(), 1), |(r, _)| r as f32);
        Dataset::new(signals, targets).expect("finite by construction")
    }

    #[test]
    fn sliding_windows_are_found_with_their_step() {
        let walk = recording(2_000, 1);
        let starts: Vec<usize> = (0..30).map(|i| i * 25).collect();
        let data = windows(&walk, &starts, 100, 2);
        let found = overlaps_within(&data);
        assert_eq!(found.first_count(), 30);
        assert_eq!(found.typical_shift(), Some(25));
    }

    #[test]
    fn windows_that_share_under_a_quarter_of_their_points_or_come_from_other_recordings_are_not() {
        let walk = recording(5_000, 2);
        // A step of 80 on 100 points: 20 shared, under a quarter.
        let starts: Vec<usize> = (0..20).map(|i| i * 80).collect();
        assert_eq!(
            overlaps_within(&windows(&walk, &starts, 100, 1)).first_count(),
            0
        );
        let rows: Vec<f32> = (0..10)
            .flat_map(|seed| recording(100, 100 + seed))
            .collect();
        let starts: Vec<usize> = (0..10).map(|i| i * 100).collect();
        assert_eq!(
            overlaps_within(&windows(&rows, &starts, 100, 1)).first_count(),
            0
        );
    }

    #[test]
    fn a_difference_on_any_channel_or_point_breaks_the_pair() {
        let walk = recording(300, 3);
        let mut data = windows(&walk, &[0, 10], 100, 2);
        let mut signals = data.signals().clone();
        // The second window's channel 1, at a point both windows share.
        signals[[1, 1, 50]] += 1.0;
        data = Dataset::new(signals, data.targets().clone()).expect("finite");
        assert_eq!(overlaps_within(&data).first_count(), 0);
    }

    #[test]
    fn a_constant_first_channel_hides_no_windows() {
        let walk = recording(2_000, 9);
        let starts: Vec<usize> = (0..20).map(|i| i * 30).collect();
        let data = windows(&walk, &starts, 100, 2);
        let mut signals = data.signals().clone();
        signals.index_axis_mut(Axis(1), 0).fill(1.0);
        let data = Dataset::new(signals, data.targets().clone()).expect("finite");
        let found = overlaps_within(&data);
        assert_eq!(found.first_count(), 20);
        assert_eq!(found.typical_shift(), Some(30));
    }

    #[test]
    fn constant_stretches_do_not_pair() {
        let flat = vec![0.0f32; 400];
        let data = windows(&flat, &[0, 10, 20], 100, 1);
        assert_eq!(overlaps_within(&data).first_count(), 0);
    }

    #[test]
    fn between_two_sets_either_may_start_first() {
        let walk = recording(1_000, 4);
        let early = windows(&walk, &[0, 500], 100, 1);
        let late = windows(&walk, &[30, 700], 100, 1);
        let found = overlaps_between(&early, &late);
        assert_eq!(found.first, vec![true, false]);
        assert_eq!(found.second, vec![true, false]);
        let found = overlaps_between(&late, &early);
        assert_eq!(found.first, vec![true, false]);
        assert_eq!(found.second, vec![true, false]);
        assert_eq!(found.shifts, vec![30]);
    }

    #[test]
    fn blocked_split_validates_the_tail_and_drops_the_training_rows_that_share_points() {
        let walk = recording(2_000, 5);
        let starts: Vec<usize> = (0..50).map(|i| i * 20).collect();
        let data = windows(&walk, &starts, 100, 1);
        let (train, val, dropped) = blocked_split(&data, 0.2).expect("valid split");
        assert_eq!(val.len(), 10);
        // Windows 37, 38 and 39 share 40, 60 and 80 of their 100 points
        // with window 40, the first validation row; window 36 shares 20,
        // under a quarter, and stays.
        assert_eq!(dropped, 3);
        assert_eq!(train.len(), 37);
        assert_eq!(overlaps_between(&train, &val).second_count(), 0);
        assert_eq!(val.targets()[[0, 0]], 40.0);
    }

    #[test]
    fn shuffled_windows_are_put_back_in_recording_order_and_split_there() {
        let walk = recording(2_000, 7);
        // Two recordings: windows 0..30 of one, then 30..40 of another.
        let other = recording(2_000, 8);
        let mut rows: Vec<Vec<f32>> = (0..30)
            .map(|i| walk[i * 20..i * 20 + 100].to_vec())
            .collect();
        rows.extend((0..10).map(|i| other[i * 20..i * 20 + 100].to_vec()));
        let shuffled: Vec<usize> = (0..40).map(|i| (i * 13) % 40).collect();
        let signals = Array3::from_shape_fn((40, 1, 100), |(r, _, t)| rows[shuffled[r]][t]);
        let targets = Array2::from_shape_fn((40, 1), |(r, _)| shuffled[r] as f32);
        let data = Dataset::new(signals, targets).expect("finite");
        let order: Vec<usize> = recording_order(&data)
            .into_iter()
            .map(|row| shuffled[row])
            .collect();
        let first = order.iter().position(|&w| w == 0).expect("every row");
        assert_eq!(&order[first..first + 30], &(0..30).collect::<Vec<_>>()[..]);
        let second = order.iter().position(|&w| w == 30).expect("every row");
        assert_eq!(
            &order[second..second + 10],
            &(30..40).collect::<Vec<_>>()[..]
        );
        // Validation: the 8 rows last in recording order, here the second
        // recording's last 8 (its first row comes later in the file than
        // the first recording's); its windows 30 and 31 share 60 and 80
        // points with window 32 and leave training.
        let (train, val, dropped) = blocked_split(&data, 0.2).expect("valid split");
        assert_eq!((train.len(), val.len(), dropped), (30, 8, 2));
        assert_eq!(overlaps_between(&train, &val).second_count(), 0);
        // Unrelated rows keep the file order.
        assert_eq!(recording_order(&val.select(&[0]).expect("a row")), vec![0]);
    }

    #[test]
    fn blocked_split_of_windows_that_all_overlap_is_an_error_not_an_empty_set() {
        let walk = recording(200, 10);
        let starts: Vec<usize> = (0..10).collect();
        let error = blocked_split(&windows(&walk, &starts, 64, 1), 0.2).expect_err("nothing left");
        assert!(
            error
                .to_string()
                .contains("every one of the 8 training rows"),
            "{error}"
        );
    }

    #[test]
    fn blocked_split_keeps_every_class_in_validation() {
        let walk = recording(3_000, 6);
        let starts: Vec<usize> = (0..40).map(|i| i * 30).collect();
        let data = windows(&walk, &starts, 100, 1);
        let targets = Array2::from_shape_fn((40, 1), |(r, _)| (r % 2) as f32);
        let data = Dataset::new(data.signals().clone(), targets)
            .and_then(|d| d.with_classes(vec!["a".into(), "b".into()]))
            .expect("valid labels");
        let (train, val, _) = blocked_split(&data, 0.25).expect("valid split");
        let labels = val.labels().expect("labelled");
        assert!(labels.contains(&0) && labels.contains(&1));
        assert_eq!(overlaps_between(&train, &val).second_count(), 0);
    }
}
