//! The one module that names the HDF5 reader (hdf5-pure: pure Rust, no C
//! library). Everything kymo-keras reads from HDF5 passes through these
//! few calls, so another reader would replace this file alone.

use std::path::{Path, PathBuf};

use crate::KerasError;

/// An HDF5 file held in memory, with the path it came from for errors.
pub struct Hdf5File {
    file: hdf5_pure::File,
    path: PathBuf,
}

impl Hdf5File {
    /// Parses `bytes`; `path` names the file (or the zip entry) in errors.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self, KerasError> {
        let file = hdf5_pure::File::from_bytes(bytes).map_err(|e| KerasError::Hdf5 {
            path: path.to_path_buf(),
            object: "/".into(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    fn error(&self, object: &str, reason: impl ToString) -> KerasError {
        KerasError::Hdf5 {
            path: self.path.clone(),
            object: object.to_string(),
            reason: reason.to_string(),
        }
    }

    fn group(&self, path: &str) -> Result<hdf5_pure::Group, KerasError> {
        if path.is_empty() || path == "/" {
            return Ok(self.file.root());
        }
        self.file.group(path).map_err(|e| self.error(path, e))
    }

    /// Whether a group exists at `path`.
    pub fn has_group(&self, path: &str) -> bool {
        self.group(path).is_ok()
    }

    /// The names of the groups in the group at `path`.
    pub fn groups(&self, path: &str) -> Result<Vec<String>, KerasError> {
        self.group(path)?.groups().map_err(|e| self.error(path, e))
    }

    /// The names of the datasets in the group at `path`.
    pub fn datasets(&self, path: &str) -> Result<Vec<String>, KerasError> {
        self.group(path)?
            .datasets()
            .map_err(|e| self.error(path, e))
    }

    /// A string attribute of the group at `path` (any HDF5 string kind),
    /// or `None` when it is absent.
    pub fn string_attribute(&self, path: &str, name: &str) -> Result<Option<String>, KerasError> {
        let attributes = self.group(path)?.attrs().map_err(|e| self.error(path, e))?;
        Ok(attributes
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string))
    }

    /// A list-of-strings attribute of the group at `path` (an empty
    /// numeric array, as h5py writes an empty list, reads as empty), or
    /// `None` when it is absent.
    pub fn strings_attribute(
        &self,
        path: &str,
        name: &str,
    ) -> Result<Option<Vec<String>>, KerasError> {
        let attributes = self.group(path)?.attrs().map_err(|e| self.error(path, e))?;
        let Some(value) = attributes.get(name) else {
            return Ok(None);
        };
        if let Some(strings) = value.as_strings() {
            return Ok(Some(strings.to_vec()));
        }
        if let Some(one) = value.as_str() {
            return Ok(Some(vec![one.to_string()]));
        }
        match value {
            hdf5_pure::AttrValue::F64Array(v) if v.is_empty() => Ok(Some(Vec::new())),
            other => Err(self.error(
                &format!("{path}@{name}"),
                format!("expected a list of strings, found {other:?}"),
            )),
        }
    }

    /// The dataset at `path` as f32 values and its shape.
    pub fn dataset_f32(&self, path: &str) -> Result<(Vec<usize>, Vec<f32>), KerasError> {
        let dataset = self.file.dataset(path).map_err(|e| self.error(path, e))?;
        let shape: Vec<usize> = dataset
            .shape()
            .map_err(|e| self.error(path, e))?
            .into_iter()
            .map(|d| d as usize)
            .collect();
        let values = dataset.read_f32().map_err(|e| self.error(path, e))?;
        let expected: usize = shape.iter().product();
        if values.len() != expected {
            return Err(self.error(path, format!("{} values for shape {shape:?}", values.len())));
        }
        Ok((shape, values))
    }
}
