//! What can be wrong with a Keras file: each error names the file, the
//! place inside it (a zip entry, an HDF5 path, a layer) and what was
//! expected.

use std::path::PathBuf;

/// A Keras model file kymo cannot take.
#[derive(Debug, thiserror::Error)]
pub enum KerasError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Neither a `.keras` zip nor an HDF5 file, by its first bytes.
    #[error("{path}: not a Keras file (a .keras zip starts with `PK`, an .h5 file with the HDF5 signature); it starts with {start:?}")]
    NotKeras {
        /// The file.
        path: PathBuf,
        /// Its first bytes.
        start: Vec<u8>,
    },
    /// The `.keras` zip is damaged or lacks an entry.
    #[error("{path}: zip entry `{entry}`: {reason}")]
    Zip {
        /// The file.
        path: PathBuf,
        /// The entry (`config.json`, `model.weights.h5`, or the archive itself).
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// The HDF5 weights are damaged or lack an object.
    #[error("{path}: HDF5 object `{object}`: {reason}")]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// The HDF5 path inside it.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// The model or compile configuration cannot be read.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong (the layer or field it names).
        reason: String,
    },
    /// A layer's stored weights do not fit the layer the configuration
    /// describes.
    #[error("{path}: layer `{layer}` ({object}): {reason}")]
    Weight {
        /// The file.
        path: PathBuf,
        /// The layer's name.
        layer: String,
        /// Where its weights sit in the file.
        object: String,
        /// What was expected and what was found.
        reason: String,
    },
    /// The architecture kymo built from the configuration refused
    /// something (an unsupported layer, a custom object).
    #[error("{path}: {source}")]
    Layer {
        /// The file.
        path: PathBuf,
        /// The layer error (boxed: it is large, and rare).
        #[source]
        source: Box<kymo_layers::LayerError>,
    },
}
