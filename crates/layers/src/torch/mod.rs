//! Weights that travel to and from PyTorch.
//!
//! kymo and PyTorch share the NCL layout, the `[out, in, k]` convolution
//! kernel, the `[out, in]` linear weight and the channel-major Flatten, so a
//! kymo weight *is* the PyTorch tensor; only the names differ. [`TorchLayout`]
//! gives the `nn.Sequential` that computes what a kymo model computes (Keras's
//! `same` padding and BatchNormalization constants included) and the
//! `state_dict` key of every weight; [`to_safetensors`] / [`from_safetensors`]
//! and [`save_npy_dir`] / [`load_npy_dir`] move the weights under those keys.
//!
//! ```
//! use kymo_layers::torch::{from_safetensors, to_safetensors, TorchLayout};
//! use kymo_layers::{zoo, Model, Sequential};
//!
//! let model = Sequential::<f32>::new(&zoo::answer_bn(64), 1).unwrap();
//! let layout = TorchLayout::of(&model).unwrap();
//! assert_eq!(layout.tensors[0].key, "0.weight"); // ConvLayer1/kernel
//! assert!(layout.python().contains("nn.BatchNorm1d(32, eps=0.001, momentum=0.01"));
//!
//! let bytes = to_safetensors(&model).unwrap();
//! let mut copy = Sequential::<f32>::new(&zoo::answer_bn(64), 2).unwrap();
//! from_safetensors(&mut copy, &bytes, "in memory").unwrap();
//! assert_eq!(copy.get_weights(), model.get_weights());
//! ```

mod graph_module;
mod layout;
mod npy_dir;
mod safetensors_file;
mod training_terms;

pub use graph_module::GraphForward;
pub use layout::{TorchLayout, TorchTensor};
pub use npy_dir::{load_npy_dir, save_npy_dir};
pub use safetensors_file::{from_safetensors, load_safetensors, save_safetensors, to_safetensors};

use crate::{LayerError, Model, NamedArray};
use kymo_tensor::Float;

/// Loads weights found by their PyTorch key into `model`, all or nothing.
///
/// `find(key)` returns the tensor stored under `key`, or `None`. Every weight
/// of the model must be found with its exact shape; the error names the key,
/// the kymo weight and both shapes.
fn load_by_key<T: Float>(
    model: &mut dyn Model<T>,
    layout: &TorchLayout,
    mut find: impl FnMut(&str) -> Result<Option<ndarray::ArrayD<T>>, LayerError>,
) -> Result<(), LayerError> {
    let mut weights = Vec::with_capacity(layout.tensors.len());
    // kymo's own shape of each weight, which a PyTorch tensor may hold
    // with an axis more (a Dense on a signal is an nn.Conv1d of one tap).
    let shapes: std::collections::HashMap<String, Vec<usize>> = model
        .get_weights()
        .into_iter()
        .map(|w| (w.name, w.array.shape().to_vec()))
        .collect();
    for tensor in &layout.tensors {
        let Some(weight) = &tensor.weight else {
            continue; // num_batches_tracked: PyTorch bookkeeping kymo does not use
        };
        let name = format!("{} ({weight})", tensor.key);
        let array = find(&tensor.key)?.ok_or(LayerError::MissingWeight { name: name.clone() })?;
        if array.shape() != tensor.shape.as_slice() {
            return Err(LayerError::WeightShape {
                name,
                expected: tensor.shape.clone(),
                found: array.shape().to_vec(),
            });
        }
        let array = match shapes.get(weight) {
            Some(shape) if shape.as_slice() != array.shape() => array
                .into_shape_with_order(shape.as_slice())
                .map_err(|_| LayerError::WeightShape {
                    name: name.clone(),
                    expected: shape.clone(),
                    found: tensor.shape.clone(),
                })?,
            _ => array,
        };
        weights.push(NamedArray {
            name: weight.clone(),
            array,
        });
    }
    model.set_weights(&weights)
}
