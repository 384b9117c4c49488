//! Class labels from a `y.npy`: one label per row, or one-hot rows.

use std::path::Path;

use ndarray::{Array2, ArrayD};

use crate::DataError;

/// A class's name from its label value: an integer as an integer (`3`,
/// not `3.0`), as NumPy prints an integer array's labels.
fn name_of(value: f32) -> String {
    if value.fract() == 0.0 && value.abs() < 1e9 {
        format!("{}", value as i64)
    } else {
        value.to_string()
    }
}

/// Class indices (one column) and class names from `y`:
///
/// - `[N]` or `[N, 1]`: each row's label value. The classes are the
///   distinct values in ascending order, or `known` (a trained model's
///   classes, by name), which every label must name.
/// - `[N, K]` with `K > 1`: one-hot rows (Keras's `to_categorical`), whose
///   classes are `0` to `K - 1`; a row that is not one-hot is an error
///   naming it.
pub(crate) fn class_targets(
    path: &Path,
    y: &ArrayD<f32>,
    known: Option<&[String]>,
) -> Result<(Array2<f32>, Vec<String>), DataError> {
    let error = |reason: String| DataError::Npy {
        path: path.into(),
        reason,
    };
    let rows = y.shape().first().copied().unwrap_or(0);
    let width = y.len() / rows.max(1);
    let one_hot = y.ndim() == 2 && width > 1;
    let values: Vec<f32> = if one_hot {
        let matrix = y
            .view()
            .into_shape_with_order((rows, width))
            .map_err(|e| error(e.to_string()))?;
        let mut hot = Vec::with_capacity(rows);
        for (row, values) in matrix.rows().into_iter().enumerate() {
            let ones = values.iter().filter(|&&v| v == 1.0).count();
            let zeros = values.iter().filter(|&&v| v == 0.0).count();
            let hot_column = values.iter().position(|&v| v == 1.0);
            if ones != 1 || zeros != width - 1 {
                return Err(error(format!(
                    "row {row} of {width} columns is not one-hot (one 1, the rest 0): class labels are one value per row or one-hot rows"
                )));
            }
            // Invariant: exactly one value is 1, checked above.
            hot.push(hot_column.expect("one hot column") as f32);
        }
        hot
    } else if y.ndim() <= 2 && width == 1 {
        y.iter().copied().collect()
    } else {
        return Err(error(format!(
            "class labels are [N], [N, 1] or one-hot [N, K]; found shape {:?}",
            y.shape()
        )));
    };
    let names: Vec<String> = match known {
        Some(names) => names.to_vec(),
        // Every column is a class, whether or not a row picks it.
        None if one_hot => (0..width).map(|k| k.to_string()).collect(),
        None => {
            let mut distinct = values.clone();
            distinct.sort_by(f32::total_cmp);
            distinct.dedup();
            distinct.into_iter().map(name_of).collect()
        }
    };
    let mut indices = Array2::zeros((rows, 1));
    for (row, &value) in values.iter().enumerate() {
        let name = name_of(value);
        let index = names.iter().position(|n| *n == name).ok_or_else(|| {
            error(format!(
                "row {row}: label `{name}` is not one of the model's classes ({})",
                names.join(", ")
            ))
        })?;
        indices[[row, 0]] = index as f32;
    }
    Ok((indices, names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn label_values_become_indices_of_their_sorted_names() {
        let y = arr1(&[2.0f32, -1.0, 2.0, 7.0]).into_dyn();
        let (indices, names) = class_targets(Path::new("y.npy"), &y, None).expect("labels");
        assert_eq!(names, ["-1", "2", "7"]);
        assert_eq!(indices.column(0).to_vec(), [1.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn one_hot_rows_become_their_column() {
        let y = arr2(&[[0.0f32, 0.0, 1.0], [1.0, 0.0, 0.0]]).into_dyn();
        let (indices, names) = class_targets(Path::new("y.npy"), &y, None).expect("one-hot");
        assert_eq!(names, ["0", "1", "2"]);
        assert_eq!(indices.column(0).to_vec(), [2.0, 0.0]);
        let soft = arr2(&[[0.0f32, 1.0], [0.3, 0.7]]).into_dyn();
        let error = class_targets(Path::new("y.npy"), &soft, None).expect_err("soft");
        assert!(error.to_string().contains("row 1"), "{error}");
    }

    #[test]
    fn known_classes_map_by_name_and_refuse_a_stranger() {
        let known = ["1".to_string(), "2".to_string()];
        let y = arr1(&[2.0f32, 1.0]).into_dyn();
        let (indices, _) = class_targets(Path::new("y.npy"), &y, Some(&known)).expect("known");
        assert_eq!(indices.column(0).to_vec(), [1.0, 0.0]);
        let stranger = arr1(&[1.0f32, 3.0]).into_dyn();
        let error = class_targets(Path::new("t.npy"), &stranger, Some(&known)).expect_err("3");
        assert!(error.to_string().contains("row 1: label `3`"), "{error}");
    }
}
