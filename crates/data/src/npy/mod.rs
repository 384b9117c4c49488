//! NPY loading: `x.npy` of shape `[N, L]` or `[N, C, L]` and `y.npy` of shape
//! `[N]` or `[N, T]`, float32 or float64, either byte order, C or Fortran
//! order, read by a bounded reader of kymo's own (see `header`).

mod header;

use std::path::Path;

use ndarray::{ArrayD, Ix2, Ix3, IxDyn};

use crate::{DataError, Dataset};
use header::Element;

/// Reads a float32 or float64 NPY file into f32, C or Fortran order. The
/// header is checked against the file's size before the data is touched,
/// so nothing larger than the file is ever allocated.
fn read_any(path: &Path) -> Result<ArrayD<f32>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    parse_array(path, &bytes)
}

/// An NPY file's bytes as an f32 array; `path` names it in errors.
pub(crate) fn parse_array(path: &Path, bytes: &[u8]) -> Result<ArrayD<f32>, DataError> {
    let npy_error = |reason: String| DataError::Npy {
        path: path.into(),
        reason,
    };
    let header = header::read(bytes).map_err(npy_error)?;
    let data = &bytes[header.data_offset..];
    let values: Vec<f32> = match (header.element, header.big_endian) {
        (Element::Float32, false) => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        (Element::Float32, true) => data
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        (Element::Float64, big_endian) => data
            .chunks_exact(8)
            .map(|c| {
                let word = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                let wide = if big_endian {
                    f64::from_be_bytes(word)
                } else {
                    f64::from_le_bytes(word)
                };
                wide as f32
            })
            .collect(),
    };
    let array = if header.fortran_order {
        // Column-major data is the row-major data of the reversed shape.
        let reversed: Vec<usize> = header.shape.iter().rev().copied().collect();
        ArrayD::from_shape_vec(IxDyn(&reversed), values)
            .map(|a| a.reversed_axes().as_standard_layout().into_owned())
    } else {
        ArrayD::from_shape_vec(IxDyn(&header.shape), values)
    };
    array.map_err(|e| npy_error(e.to_string()))
}

fn check_finite(path: &Path, array: &ArrayD<f32>) -> Result<(), DataError> {
    let per_sample = array.len() / array.shape().first().copied().unwrap_or(1).max(1);
    if let Some((flat, value)) = array.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(DataError::NotFinite {
            path: path.into(),
            row: flat / per_sample.max(1) + 1,
            column: flat % per_sample.max(1) + 1,
            value: value.to_string(),
        });
    }
    Ok(())
}

/// Loads signals from `x_path` and targets from `y_path`.
pub fn load_npy(x_path: &Path, y_path: &Path) -> Result<Dataset, DataError> {
    pair(x_path, read_any(x_path)?, y_path, read_any(y_path)?)
}

/// Loads signals and targets from the bytes of two NPY files, as
/// [`load_npy`] does from the files; the paths only name them in errors.
/// Nothing larger than the bytes given is allocated.
pub fn load_npy_bytes(
    x_path: &Path,
    x_bytes: &[u8],
    y_path: &Path,
    y_bytes: &[u8],
) -> Result<Dataset, DataError> {
    pair(
        x_path,
        parse_array(x_path, x_bytes)?,
        y_path,
        parse_array(y_path, y_bytes)?,
    )
}

fn pair(
    x_path: &Path,
    x: ArrayD<f32>,
    y_path: &Path,
    y: ArrayD<f32>,
) -> Result<Dataset, DataError> {
    check_finite(x_path, &x)?;
    check_finite(y_path, &y)?;
    let shape_error = |path: &Path, what: &str, shape: &[usize]| DataError::Npy {
        path: path.into(),
        reason: format!("expected {what}, found shape {shape:?}"),
    };
    let (nx, ny) = (x.shape().first().copied(), y.shape().first().copied());
    if nx == Some(0) {
        return Err(DataError::Empty {
            path: x_path.into(),
        });
    }
    if nx != ny {
        return Err(DataError::Shape(format!(
            "{} holds {} samples (shape {:?}) but {} holds {} targets (shape {:?})",
            x_path.display(),
            nx.unwrap_or(0),
            x.shape(),
            y_path.display(),
            ny.unwrap_or(0),
            y.shape()
        )));
    }
    let signals = match x.ndim() {
        2 => {
            let (n, l) = (x.shape()[0], x.shape()[1]);
            x.into_shape_with_order((n, 1, l))
                .map_err(|e| DataError::Npy {
                    path: x_path.into(),
                    reason: e.to_string(),
                })?
        }
        3 => x.into_dimensionality::<Ix3>().map_err(|e| DataError::Npy {
            path: x_path.into(),
            reason: e.to_string(),
        })?,
        _ => return Err(shape_error(x_path, "[N, L] or [N, C, L]", x.shape())),
    };
    let targets = match y.ndim() {
        1 => {
            let n = y.len();
            y.into_shape_with_order((n, 1))
                .map_err(|e| DataError::Npy {
                    path: y_path.into(),
                    reason: e.to_string(),
                })?
        }
        2 => y.into_dimensionality::<Ix2>().map_err(|e| DataError::Npy {
            path: y_path.into(),
            reason: e.to_string(),
        })?,
        _ => return Err(shape_error(y_path, "[N] or [N, T]", y.shape())),
    };
    Dataset::new(
        signals.as_standard_layout().into_owned(),
        targets.as_standard_layout().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};
    use ndarray_npy::write_npy;

    #[test]
    fn loads_two_dimensional_signals_and_flat_targets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        write_npy(
            &xp,
            &Array2::<f64>::from_shape_fn((3, 5), |(i, j)| (i * 5 + j) as f64),
        )
        .expect("write");
        write_npy(&yp, &Array1::<f32>::from_vec(vec![1.0, 2.0, 3.0])).expect("write");
        let d = load_npy(&xp, &yp).expect("valid");
        assert_eq!(
            (d.len(), d.channels(), d.length(), d.target_count()),
            (3, 1, 5, 1)
        );
        assert_eq!(d.signals()[[2, 0, 4]], 14.0);
    }

    #[test]
    fn nan_and_bad_files_are_located() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        let mut x = Array2::<f32>::zeros((3, 4));
        x[[1, 2]] = f32::NAN;
        write_npy(&xp, &x).expect("write");
        write_npy(&yp, &Array1::<f32>::zeros(3)).expect("write");
        let err = load_npy(&xp, &yp).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::NotFinite {
                    row: 2,
                    column: 3,
                    ..
                }
            ),
            "{err}"
        );
        std::fs::write(&xp, b"\x93NUMPY garbage").expect("write");
        assert!(matches!(
            load_npy(&xp, &yp).unwrap_err(),
            DataError::Npy { .. }
        ));
        std::fs::write(&xp, b"").expect("write");
        assert!(matches!(
            load_npy(&xp, &yp).unwrap_err(),
            DataError::Npy { .. }
        ));
    }
}
