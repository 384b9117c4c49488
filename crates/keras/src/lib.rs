//! # kymo-keras
//!
//! Reads a user's Keras model file into a kymo model: the architecture,
//! the trained weights and the compile settings (loss, optimizer, learning
//! rate, metrics). Both formats: Keras 3's `.keras` zip (`config.json`,
//! `model.weights.h5`) and the legacy full-model `.h5` of tf.keras 2 and
//! Keras 3's `save("x.h5")` (`model_config`, `training_config`,
//! `model_weights`). HDF5 is read in pure Rust (no C library, no Python).
//!
//! Kernel layouts are mapped once (`layout`): Conv1D `(k, in, out)` to
//! kymo's `[out, in, k]`, Dense `(in, out)` to `[out, in]`, and a Dense
//! after a Flatten has its features reordered from Keras's length-major
//! flattening to kymo's channel-major one.
//!
//! ```
//! // A file that is not a Keras file is named as such, with its first bytes.
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("model.keras");
//! std::fs::write(&path, b"not a model").unwrap();
//! let error = kymo_keras::read(&path).err().unwrap();
//! assert!(error.to_string().contains("not a Keras file"));
//! ```

mod archive;
mod compile;
mod error;
mod functional_order;
mod hdf5_file;
mod layout;
mod naming;
mod stored;
mod write;
mod write_functional;

use std::path::{Path, PathBuf};

use kymo_layers::{ArchitectureSpec, LayerSpec, Model, NamedArray, Shape};
use kymo_tensor::Float;
use serde_json::Value;

pub use compile::CompileSettings;
pub use error::KerasError;
pub use naming::to_snake_case;
pub use write::write_keras;

/// A Keras model file, read.
pub struct KerasFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The architecture.
    pub spec: ArchitectureSpec,
    /// What `compile` stored, if the model was compiled.
    pub compile: Option<CompileSettings>,
    /// The trained weights, in kymo's layout and names (`layer/weight`).
    pub weights: Vec<NamedArray<f32>>,
    /// Whether the file's input has a variable length
    /// (`Input(shape=(None, channels))`): `spec` then holds
    /// [`VARIABLE_LENGTH_STANDIN`] until [`KerasFile::set_length`] gives it
    /// the data's.
    pub variable_length: bool,
}

/// The length a variable-length input is read at until the caller knows
/// the data's: long enough for the kernels and pools of the 1D CNNs people
/// build. The weights do not depend on it.
pub const VARIABLE_LENGTH_STANDIN: usize = 4096;

/// The HDF5 signature.
const HDF5_SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";

/// Reads a `.keras` or legacy `.h5` file, told apart by its first bytes.
pub fn read(path: &Path) -> Result<KerasFile, KerasError> {
    let bytes = std::fs::read(path).map_err(|source| KerasError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_bytes(bytes, path)
}

/// [`read`] of a file's bytes already in memory; `path` names it in errors.
pub fn read_bytes(bytes: Vec<u8>, path: &Path) -> Result<KerasFile, KerasError> {
    if bytes.starts_with(b"PK") {
        let archive = archive::read_archive(&bytes, path)?;
        let config = parse_json(&archive.config, path, "config.json")?;
        let weights_path = path.join("model.weights.h5");
        let file = hdf5_file::Hdf5File::from_bytes(archive.weights, &weights_path)?;
        let stored = stored::from_weights_file(&file, &config)?;
        let compile = config
            .get("compile_config")
            .filter(|c| !c.is_null())
            .map(CompileSettings::from_json);
        return assemble(path, &archive.config, stored, compile);
    }
    if bytes.starts_with(HDF5_SIGNATURE) {
        let file = hdf5_file::Hdf5File::from_bytes(bytes, path)?;
        let model_config = file.string_attribute("/", "model_config")?.ok_or_else(|| KerasError::Config {
            path: path.to_path_buf(),
            reason: "no `model_config` attribute: a weights-only .h5 (save_weights) holds no architecture; save the whole model".into(),
        })?;
        let compile = match file.string_attribute("/", "training_config")? {
            Some(text) => Some(CompileSettings::from_json(&parse_json(
                &text,
                path,
                "training_config",
            )?)),
            None => None,
        };
        let stored = stored::from_legacy_file(&file, path)?;
        return assemble(path, &model_config, stored, compile);
    }
    Err(KerasError::NotKeras {
        path: path.to_path_buf(),
        start: bytes.iter().take(8).copied().collect(),
    })
}

fn parse_json(text: &str, path: &Path, what: &str) -> Result<Value, KerasError> {
    serde_json::from_str(text).map_err(|e| KerasError::Config {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    })
}

/// The architecture from `config_text` and the stored weights mapped onto
/// its layers.
fn assemble(
    path: &Path,
    config_text: &str,
    stored: stored::StoredWeights,
    compile: Option<CompileSettings>,
) -> Result<KerasFile, KerasError> {
    let layer_error = |source| KerasError::Layer {
        path: path.to_path_buf(),
        source: Box::new(source),
    };
    let variable_length = kymo_layers::keras::declared_length(config_text)
        .map_err(layer_error)?
        .is_none();
    let spec = kymo_layers::keras::from_keras_json_any_at(config_text, VARIABLE_LENGTH_STANDIN)
        .map_err(layer_error)?;
    let model = spec.build::<f32>(0).map_err(layer_error)?;
    let mut weights = Vec::new();
    for layer in model.layers() {
        let parameters = layer.parameters();
        if parameters.is_empty() {
            continue;
        }
        let object = |arrays: &[stored::StoredArray]| {
            arrays.first().map_or(String::new(), |a| a.object.clone())
        };
        let weight_error = |object: String, reason: String| KerasError::Weight {
            path: path.to_path_buf(),
            layer: layer.name().to_string(),
            object,
            reason,
        };
        let arrays = stored
            .iter()
            .find(|(name, _)| name == layer.name())
            .map(|(_, arrays)| arrays)
            .ok_or_else(|| {
                weight_error(
                    "-".into(),
                    format!(
                        "no stored weights; the file holds weights for: {}",
                        stored
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        if arrays.len() != parameters.len() {
            return Err(weight_error(
                object(arrays),
                format!(
                    "{} stored arrays, the layer has {} weights ({})",
                    arrays.len(),
                    parameters.len(),
                    parameters
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let role_of_kernel = match layer.spec() {
            LayerSpec::Conv1D(_) => layout::Role::ConvKernel,
            LayerSpec::Dense(_) => layout::Role::DenseKernel {
                flattened: flatten_before(&spec, model.as_ref(), layer.name()),
            },
            _ => layout::Role::Same,
        };
        for (index, (array, parameter)) in arrays.iter().zip(&parameters).enumerate() {
            let role = if index == 0 {
                role_of_kernel
            } else {
                layout::Role::Same
            };
            let value = layout::to_kymo(
                role,
                &array.shape,
                array.values.clone(),
                parameter.value.shape(),
            )
            .map_err(|reason| {
                weight_error(
                    array.object.clone(),
                    format!("{}: {reason}", parameter.name),
                )
            })?;
            weights.push(NamedArray {
                name: format!("{}/{}", layer.name(), parameter.name),
                array: value,
            });
        }
    }
    Ok(KerasFile {
        path: path.to_path_buf(),
        spec,
        compile,
        weights,
        variable_length,
    })
}

/// The `(channels, steps)` a Flatten read right before the Dense `dense`
/// (Dropout between them passes its input through), if one did.
fn flatten_before(
    spec: &ArchitectureSpec,
    model: &dyn Model<f32>,
    dense: &str,
) -> Option<(usize, usize)> {
    let flatten_name = match spec {
        ArchitectureSpec::Sequential(_) => {
            let layers = model.layers();
            let at = layers.iter().position(|l| l.name() == dense)?;
            layers[..at]
                .iter()
                .rev()
                .find(|l| !l.spec().is_identity_in_inference())
                .filter(|l| matches!(l.spec(), LayerSpec::Flatten(_)))
                .map(|l| l.name().to_string())?
        }
        ArchitectureSpec::Graph(graph) => {
            let mut name = graph
                .nodes
                .iter()
                .find(|n| n.layer.name() == Some(dense))?
                .inputs
                .first()?
                .clone();
            loop {
                let node = graph
                    .nodes
                    .iter()
                    .find(|n| n.layer.name() == Some(name.as_str()))?;
                match &node.layer {
                    spec if spec.is_identity_in_inference() => name = node.inputs.first()?.clone(),
                    LayerSpec::Flatten(_) => break name,
                    _ => return None,
                }
            }
        }
    };
    let layers = model.layers();
    let flatten = layers.iter().find(|l| l.name() == flatten_name)?;
    match flatten.input_shape() {
        Shape::Signal { channels, length } => Some((channels, length)),
        Shape::Features(_) => None,
    }
}

impl KerasFile {
    /// Gives a variable-length input `length` points (the data's); a file
    /// whose input length is fixed keeps it, for the caller's shape checks
    /// to compare with the data.
    pub fn set_length(&mut self, length: usize) {
        if self.variable_length {
            self.spec = self.spec.clone().with_input_length(length);
        }
    }

    /// The model with the file's weights, in precision `T`.
    pub fn model<T: Float>(&self) -> Result<Box<dyn Model<T>>, KerasError> {
        let layer_error = |source| KerasError::Layer {
            path: self.path.clone(),
            source: Box::new(source),
        };
        let mut model = self.spec.build::<T>(0).map_err(layer_error)?;
        let weights: Vec<NamedArray<T>> = self
            .weights
            .iter()
            .map(|w| NamedArray {
                name: w.name.clone(),
                array: w.array.mapv(|v| T::from_f64_lossy(f64::from(v))),
            })
            .collect();
        model.set_weights(&weights).map_err(layer_error)?;
        Ok(model)
    }

    /// The training recipe the file's compile settings describe, on top
    /// of `base` (kymo's defaults for what Keras does not store: batch
    /// size, epochs, callbacks).
    pub fn recipe(&self, base: kymo_train::Recipe) -> kymo_train::Recipe {
        match &self.compile {
            Some(settings) => settings.apply_to(base),
            None => base,
        }
    }
}
