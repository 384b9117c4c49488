//! One NPY file per tensor, named by its PyTorch key (`0.weight.npy`), for
//! tools that read NumPy but not safetensors.

use std::path::Path;

use kymo_tensor::Float;
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

use super::{load_by_key, TorchLayout};
use crate::{LayerError, Model};

fn file_error(path: &Path, reason: impl ToString) -> LayerError {
    LayerError::WeightFile {
        origin: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Writes every weight of `model` as `<dir>/<key>.npy` (float32 for an f32
/// model, float64 for f64), creating `dir`. `num_batches_tracked` is not
/// written: it is not a weight.
pub fn save_npy_dir<T: Float>(model: &dyn Model<T>, dir: &Path) -> Result<(), LayerError> {
    let layout = TorchLayout::of(model)?;
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let weights = model.get_weights();
    for tensor in &layout.tensors {
        let Some(name) = &tensor.weight else { continue };
        // Invariant: the layout was made from this model's weights.
        let Some(weight) = weights.iter().find(|w| &w.name == name) else {
            continue;
        };
        let path = dir.join(format!("{}.npy", tensor.key));
        let file = std::fs::File::create(&path).map_err(|e| file_error(&path, e))?;
        // In PyTorch's shape (a Dense on a signal is an nn.Conv1d of one
        // tap: the same values in the same order, one axis more).
        let array = weight
            .array
            .view()
            .into_shape_with_order(tensor.shape.as_slice())
            .map_err(|e| file_error(&path, e))?;
        let written = if std::mem::size_of::<T>() == 4 {
            array.mapv(|v| v.to_f64_lossless() as f32).write_npy(file)
        } else {
            array.mapv(|v| v.to_f64_lossless()).write_npy(file)
        };
        written.map_err(|e| file_error(&path, e))?;
    }
    Ok(())
}

/// Loads `<dir>/<key>.npy` for every weight of `model`, all or nothing;
/// float32 or float64 files. A missing file or another shape is an error
/// naming the tensor.
pub fn load_npy_dir<T: Float>(model: &mut dyn Model<T>, dir: &Path) -> Result<(), LayerError> {
    let layout = TorchLayout::of(model)?;
    load_by_key(model, &layout, |key| {
        let path = dir.join(format!("{key}.npy"));
        if !path.exists() {
            return Ok(None);
        }
        let bytes = std::fs::read(&path).map_err(|e| file_error(&path, e))?;
        if let Ok(array) = ArrayD::<f32>::read_npy(bytes.as_slice()) {
            return Ok(Some(array.mapv(|v| T::from_f64_lossy(f64::from(v)))));
        }
        ArrayD::<f64>::read_npy(bytes.as_slice())
            .map(|array| Some(array.mapv(T::from_f64_lossy)))
            .map_err(|e| file_error(&path, format!("not a float32 or float64 array: {e}")))
    })
}
