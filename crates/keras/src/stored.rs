//! Each layer's stored arrays, in Keras's order (trainable variables first,
//! then the others: BatchNormalization's gamma, beta, moving mean, moving
//! variance), read from either file format.

use std::path::Path;

use serde_json::Value;

use crate::hdf5_file::Hdf5File;
use crate::naming::weight_keys;
use crate::KerasError;

/// One stored array: its HDF5 path, shape and values.
pub struct StoredArray {
    /// Where it sits in the file.
    pub object: String,
    /// Keras's shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// A layer's arrays by layer name.
pub type StoredWeights = Vec<(String, Vec<StoredArray>)>;

/// The `(class name, layer name)` of every layer of a model config, in
/// order (a Sequential's `layers`, a functional model's `layers`).
pub fn config_layers(config: &Value) -> Vec<(String, String)> {
    config
        .get("config")
        .and_then(|c| c.get("layers"))
        .and_then(Value::as_array)
        .map(|layers| {
            layers
                .iter()
                .map(|l| {
                    let class = l
                        .get("class_name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let name = l
                        .get("config")
                        .and_then(|c| c.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    (class.to_string(), name.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The arrays of a `.keras` file's `model.weights.h5`: `layers/<key>/vars/<i>`.
pub fn from_weights_file(file: &Hdf5File, config: &Value) -> Result<StoredWeights, KerasError> {
    let layers = config_layers(config);
    let keys = weight_keys(layers.iter().map(|(c, n)| (c.as_str(), n.as_str())));
    let mut out = Vec::new();
    for key in file.groups("layers")? {
        let vars = format!("layers/{key}/vars");
        if !file.has_group(&vars) {
            continue;
        }
        // Keras 3.15 names the layer on its vars group; older files are
        // matched by the key rule.
        let name = match file.string_attribute(&vars, "name")? {
            Some(name) => name,
            None => keys
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| key.clone()),
        };
        let mut indices: Vec<(usize, String)> = file
            .datasets(&vars)?
            .into_iter()
            .filter_map(|d| d.parse::<usize>().ok().map(|i| (i, d)))
            .collect();
        indices.sort();
        let arrays = read_arrays(file, indices.iter().map(|(_, d)| format!("{vars}/{d}")))?;
        if !arrays.is_empty() {
            out.push((name, arrays));
        }
    }
    Ok(out)
}

/// The datasets at `objects`, in that order.
fn read_arrays(
    file: &Hdf5File,
    objects: impl Iterator<Item = String>,
) -> Result<Vec<StoredArray>, KerasError> {
    objects
        .map(|object| {
            let (shape, values) = file.dataset_f32(&object)?;
            Ok(StoredArray {
                object,
                shape,
                values,
            })
        })
        .collect()
}

/// A list attribute that Keras may have split into numbered chunks
/// (`layer_names0`, `layer_names1`, ...) when it passed 64 KB.
fn chunked_strings(file: &Hdf5File, group: &str, name: &str) -> Result<Vec<String>, KerasError> {
    if let Some(all) = file.strings_attribute(group, name)? {
        return Ok(all);
    }
    let mut out = Vec::new();
    for chunk in 0.. {
        match file.strings_attribute(group, &format!("{name}{chunk}"))? {
            Some(part) => out.extend(part),
            None => break,
        }
    }
    Ok(out)
}

/// The arrays of a legacy `.h5` file: `model_weights/<layer>/<weight
/// name>`, in the order of the `layer_names` and `weight_names` attributes.
pub fn from_legacy_file(file: &Hdf5File, path: &Path) -> Result<StoredWeights, KerasError> {
    let root = if file.has_group("model_weights") {
        "model_weights"
    } else {
        "/"
    };
    let layer_names = chunked_strings(file, root, "layer_names")?;
    if layer_names.is_empty() && !file.has_group(root) {
        return Err(KerasError::Hdf5 {
            path: path.to_path_buf(),
            object: root.into(),
            reason: "no `layer_names` attribute: not a Keras weights file".into(),
        });
    }
    let mut out = Vec::new();
    for layer in layer_names {
        let group = if root == "/" {
            layer.clone()
        } else {
            format!("{root}/{layer}")
        };
        let weight_names = chunked_strings(file, &group, "weight_names")?;
        let arrays = read_arrays(file, weight_names.iter().map(|w| format!("{group}/{w}")))?;
        if !arrays.is_empty() {
            out.push((layer, arrays));
        }
    }
    Ok(out)
}
