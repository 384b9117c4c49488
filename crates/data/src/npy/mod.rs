//! NPY loading: `x.npy` of shape `[N, L]`, `[N, C, L]` or Keras's
//! `[N, L, C]` (see `layout`) and `y.npy` of shape `[N]` or `[N, T]`, or
//! class labels (see `labels`); floats, integers or booleans, either byte
//! order, C or Fortran order, read by a bounded reader of kymo's own (see
//! `header`).

mod decode;
mod header;
mod labels;
mod layout;

use std::path::Path;

use ndarray::{Array3, ArrayD, Ix2, Ix3, IxDyn};

use crate::{DataError, Dataset};
use labels::class_targets;
pub use layout::{infer_layout, NpyLayout};

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
    let values = decode::to_f32(header.element, header.big_endian, data);
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

/// How to read a pair of NPY files beyond what their headers say.
#[derive(Debug, Clone, Default)]
pub struct NpyOptions {
    /// The order of a three-dimensional `x.npy`'s signal axes; `None`
    /// infers it ([`infer_layout`], with [`NpyOptions::model_input`]).
    pub layout: Option<NpyLayout>,
    /// The input of the model the data is for, as `(channels, length)`:
    /// it settles the inferred layout where one reading gives it.
    pub model_input: Option<(usize, usize)>,
    /// Read `y.npy` as class labels (one value per row, or one-hot rows)
    /// rather than regression targets.
    pub classes: bool,
    /// The classes a trained model knows, by name: labels map to their
    /// indices, and one it does not know is an error.
    pub known_classes: Option<Vec<String>>,
}

impl NpyOptions {
    /// `[N, C, L]` signals and regression targets: what [`load_npy`] and
    /// [`load_npy_bytes`] read.
    pub fn channels_first() -> Self {
        Self {
            layout: Some(NpyLayout::ChannelsFirst),
            ..Self::default()
        }
    }
}

/// Signals and targets read by [`load_npy_with`], with the layout the
/// signals were read in.
#[derive(Debug, Clone)]
pub struct NpyData {
    /// The samples: class indices when classes were asked for.
    pub dataset: Dataset,
    /// How `x.npy`'s axes were read; `None` for a two-dimensional file
    /// (one channel).
    pub layout: Option<NpyLayout>,
}

/// Loads signals from `x_path` and targets from `y_path`: `x` as `[N, L]`
/// or `[N, C, L]`, `y` as `[N]` or `[N, T]`.
pub fn load_npy(x_path: &Path, y_path: &Path) -> Result<Dataset, DataError> {
    Ok(load_npy_with(x_path, y_path, &NpyOptions::channels_first())?.dataset)
}

/// Loads signals from `x_path` and targets from `y_path` as `options`
/// say: `x` as `[N, L]` or three-dimensional in either order, `y` as
/// targets or class labels, of any float, integer or boolean type.
pub fn load_npy_with(
    x_path: &Path,
    y_path: &Path,
    options: &NpyOptions,
) -> Result<NpyData, DataError> {
    pair(
        x_path,
        read_any(x_path)?,
        y_path,
        read_any(y_path)?,
        options,
    )
}

/// Loads signals alone (to predict) from `x_path`, as `[N, C, L]`, with
/// the layout they were read in (`None`: two dimensions, one channel).
pub fn load_npy_signals(
    x_path: &Path,
    options: &NpyOptions,
) -> Result<(Array3<f32>, Option<NpyLayout>), DataError> {
    let x = read_any(x_path)?;
    check_finite(x_path, &x)?;
    if x.shape().first() == Some(&0) {
        return Err(DataError::Empty {
            path: x_path.into(),
        });
    }
    signals(x_path, x, options)
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
    let options = NpyOptions::channels_first();
    Ok(load_npy_bytes_with(x_path, x_bytes, y_path, y_bytes, &options)?.dataset)
}

/// Loads signals and targets from the bytes of two NPY files as
/// [`load_npy_with`] does from the files; the paths only name them in
/// errors. Nothing larger than the bytes given is allocated.
pub fn load_npy_bytes_with(
    x_path: &Path,
    x_bytes: &[u8],
    y_path: &Path,
    y_bytes: &[u8],
    options: &NpyOptions,
) -> Result<NpyData, DataError> {
    pair(
        x_path,
        parse_array(x_path, x_bytes)?,
        y_path,
        parse_array(y_path, y_bytes)?,
        options,
    )
}

/// `x` as `[N, C, L]` signals in the layout `options` give or infer
/// (`None` for `[N, L]`).
fn signals(
    x_path: &Path,
    x: ArrayD<f32>,
    options: &NpyOptions,
) -> Result<(Array3<f32>, Option<NpyLayout>), DataError> {
    let npy_error = |e: ndarray::ShapeError| DataError::Npy {
        path: x_path.into(),
        reason: e.to_string(),
    };
    match x.ndim() {
        2 => {
            let (n, l) = (x.shape()[0], x.shape()[1]);
            let signals = x.into_shape_with_order((n, 1, l)).map_err(npy_error)?;
            Ok((signals, None))
        }
        3 => {
            let axes = (x.shape()[1], x.shape()[2]);
            let layout = options
                .layout
                .unwrap_or_else(|| infer_layout(axes, options.model_input));
            let x = x.into_dimensionality::<Ix3>().map_err(npy_error)?;
            let signals = match layout {
                NpyLayout::ChannelsFirst => x,
                NpyLayout::ChannelsLast => x.permuted_axes([0, 2, 1]),
            };
            Ok((signals.as_standard_layout().into_owned(), Some(layout)))
        }
        _ => Err(DataError::Npy {
            path: x_path.into(),
            reason: format!(
                "expected signals [N, L], [N, C, L] or [N, L, C], found shape {:?}",
                x.shape()
            ),
        }),
    }
}

fn pair(
    x_path: &Path,
    x: ArrayD<f32>,
    y_path: &Path,
    y: ArrayD<f32>,
    options: &NpyOptions,
) -> Result<NpyData, DataError> {
    check_finite(x_path, &x)?;
    check_finite(y_path, &y)?;
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
    let (signals, layout) = signals(x_path, x, options)?;
    let dataset = if options.classes || options.known_classes.is_some() {
        let (indices, names) = class_targets(y_path, &y, options.known_classes.as_deref())?;
        Dataset::new(signals, indices)?.with_classes(names)?
    } else {
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
            _ => {
                return Err(DataError::Npy {
                    path: y_path.into(),
                    reason: format!("expected [N] or [N, T], found shape {:?}", y.shape()),
                })
            }
        };
        Dataset::new(signals, targets.as_standard_layout().into_owned())?
    };
    Ok(NpyData { dataset, layout })
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
    fn keras_ordered_signals_and_integer_labels_are_read_as_such() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        // Keras's order: 2 samples of 5 points and 3 channels, where the
        // value says (sample, point, channel).
        let keras = ndarray::Array3::<f32>::from_shape_fn((2, 5, 3), |(i, t, c)| {
            (100 * i + 10 * t + c) as f32
        });
        write_npy(&xp, &keras).expect("write");
        write_npy(&yp, &Array1::<i64>::from_vec(vec![4, 1])).expect("write");
        let options = NpyOptions {
            classes: true,
            ..NpyOptions::default()
        };
        let read = load_npy_with(&xp, &yp, &options).expect("valid");
        assert_eq!(read.layout, Some(NpyLayout::ChannelsLast));
        let d = read.dataset;
        assert_eq!((d.channels(), d.length()), (3, 5));
        assert_eq!(d.signals()[[1, 2, 4]], 142.0);
        assert_eq!(d.classes().expect("classes"), ["1", "4"]);
        assert_eq!(d.labels().expect("labels"), [1, 0]);
        // A model of 5 channels and 3 points reads the same file the
        // other way.
        let options = NpyOptions {
            model_input: Some((5, 3)),
            ..NpyOptions::default()
        };
        let (signals, layout) = load_npy_signals(&xp, &options).expect("valid");
        assert_eq!(layout, Some(NpyLayout::ChannelsFirst));
        assert_eq!(signals[[1, 4, 2]], 142.0);
        // Without `classes`, integer targets are values.
        let d = load_npy(&xp, &yp).expect("valid");
        assert_eq!(d.targets().column(0).to_vec(), [4.0, 1.0]);
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
