//! safetensors export and import under PyTorch's `state_dict` keys.
//!
//! The `safetensors` crate parses and writes the format (header length, JSON
//! header, little-endian data); this module maps kymo weights to keys and
//! checks every tensor's dtype and shape on the way in.

use std::collections::HashMap;
use std::path::Path;

use kymo_tensor::Float;
use ndarray::ArrayD;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::{load_by_key, TorchLayout};
use crate::{LayerError, Model};

fn file_error(origin: &str, reason: impl ToString) -> LayerError {
    LayerError::WeightFile {
        origin: origin.to_string(),
        reason: reason.to_string(),
    }
}

/// The model's weights as a safetensors file in PyTorch's layout and names
/// (see [`TorchLayout`]): float32 for an f32 model, float64 for f64.
/// BatchNormalization's moving statistics are `running_mean` /
/// `running_var`, and `num_batches_tracked` is written as 0 (kymo does not
/// count; PyTorch reads it only when `momentum=None`).
pub fn to_safetensors<T: Float>(model: &dyn Model<T>) -> Result<Vec<u8>, LayerError> {
    let layout = TorchLayout::of(model)?;
    let weights: HashMap<String, ArrayD<T>> = model
        .get_weights()
        .into_iter()
        .map(|w| (w.name, w.array))
        .collect();
    let float = if std::mem::size_of::<T>() == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    };
    let mut buffers: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for tensor in &layout.tensors {
        let bytes = match &tensor.weight {
            Some(name) => {
                // Invariant: the layout was made from this model's weights.
                let array = &weights[name];
                let mut bytes = Vec::with_capacity(array.len() * std::mem::size_of::<T>());
                for value in array.iter() {
                    let value = value.to_f64_lossless();
                    if float == Dtype::F32 {
                        bytes.extend_from_slice(&(value as f32).to_le_bytes());
                    } else {
                        bytes.extend_from_slice(&value.to_le_bytes());
                    }
                }
                (float, bytes)
            }
            None => (Dtype::I64, 0i64.to_le_bytes().to_vec()),
        };
        buffers.push((tensor.key.clone(), bytes.0, tensor.shape.clone(), bytes.1));
    }
    let mut views = Vec::with_capacity(buffers.len());
    for (key, dtype, shape, bytes) in &buffers {
        let view = TensorView::new(*dtype, shape.clone(), bytes)
            .map_err(|e| file_error("export", format!("tensor '{key}': {e}")))?;
        views.push((key.clone(), view));
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(metadata)).map_err(|e| file_error("export", e))
}

/// Loads weights from safetensors `bytes` in PyTorch's names into `model`,
/// all or nothing. float32 and float64 tensors are accepted whatever the
/// model's precision; a missing key, an extra key, another dtype or another
/// shape is an error naming the tensor (`origin` says where the bytes came
/// from, for the message).
pub fn from_safetensors<T: Float>(
    model: &mut dyn Model<T>,
    bytes: &[u8],
    origin: &str,
) -> Result<(), LayerError> {
    let layout = TorchLayout::of(model)?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| file_error(origin, e))?;
    for key in file.names() {
        if !layout.tensors.iter().any(|t| t.key == *key) {
            return Err(LayerError::UnknownWeight {
                name: format!("{key} (in {origin})"),
            });
        }
    }
    load_by_key(model, &layout, |key| match file.tensor(key) {
        Ok(view) => decode(&view, key, origin).map(Some),
        Err(_) => Ok(None),
    })
}

fn decode<T: Float>(
    view: &TensorView<'_>,
    key: &str,
    origin: &str,
) -> Result<ArrayD<T>, LayerError> {
    let data = view.data();
    let values: Vec<T> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            // Invariant: chunks_exact(4) yields 4-byte slices.
            .map(|c| {
                T::from_f64_lossy(f64::from(f32::from_le_bytes(
                    c.try_into().expect("4 bytes"),
                )))
            })
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            // Invariant: chunks_exact(8) yields 8-byte slices.
            .map(|c| T::from_f64_lossy(f64::from_le_bytes(c.try_into().expect("8 bytes"))))
            .collect(),
        other => {
            return Err(file_error(
                origin,
                format!("tensor '{key}' is {other:?}; kymo reads F32 or F64"),
            ))
        }
    };
    ArrayD::from_shape_vec(view.shape().to_vec(), values)
        .map_err(|e| file_error(origin, format!("tensor '{key}': {e}")))
}

/// Writes [`to_safetensors`] to `path`.
pub fn save_safetensors<T: Float>(model: &dyn Model<T>, path: &Path) -> Result<(), LayerError> {
    let bytes = to_safetensors(model)?;
    std::fs::write(path, bytes).map_err(|e| file_error(&path.display().to_string(), e))
}

/// Reads `path` with [`from_safetensors`].
pub fn load_safetensors<T: Float>(model: &mut dyn Model<T>, path: &Path) -> Result<(), LayerError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| file_error(&origin, e))?;
    from_safetensors(model, &bytes, &origin)
}
