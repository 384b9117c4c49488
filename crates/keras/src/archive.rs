//! The `.keras` zip (Keras 3's `saving_lib`): `config.json` (the model and
//! its `compile_config`), `metadata.json`, `model.weights.h5`. Entries are
//! read with a bound, so a zip that claims a huge entry cannot make kymo
//! allocate it.

use std::io::Read as _;
use std::path::Path;

use crate::KerasError;

/// The entries kymo reads from a `.keras` file.
pub struct KerasArchive {
    /// `config.json`'s text.
    pub config: String,
    /// `model.weights.h5`'s bytes.
    pub weights: Vec<u8>,
}

/// Largest `config.json` read (a config is a few kilobytes to megabytes).
const CONFIG_LIMIT: u64 = 64 << 20;

/// Reads the entries of the `.keras` file whose bytes are `bytes`; entries
/// larger than the file itself could hold are refused.
pub fn read_archive(bytes: &[u8], path: &Path) -> Result<KerasArchive, KerasError> {
    let zip_error = |entry: &str, reason: String| KerasError::Zip {
        path: path.to_path_buf(),
        entry: entry.to_string(),
        reason,
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| zip_error("(archive)", e.to_string()))?;
    // Stored or deflated, an entry cannot hold more than this many times
    // the file's size (deflate's limit is about 1032:1).
    let weights_limit = (bytes.len() as u64).saturating_mul(1100).max(1 << 20);
    let mut read = |name: &str, limit: u64| -> Result<Vec<u8>, KerasError> {
        let entry = archive.by_name(name).map_err(|e| {
            zip_error(
                name,
                format!("{e} (a .keras file holds config.json and model.weights.h5)"),
            )
        })?;
        let claimed = entry.size();
        if claimed > limit {
            return Err(zip_error(
                name,
                format!("claims {claimed} bytes, more than the {limit} it may hold"),
            ));
        }
        let mut out = Vec::with_capacity(claimed as usize);
        entry
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| zip_error(name, e.to_string()))?;
        Ok(out)
    };
    let config = read("config.json", CONFIG_LIMIT)?;
    let weights = read("model.weights.h5", weights_limit)?;
    let config = String::from_utf8(config).map_err(|e| zip_error("config.json", e.to_string()))?;
    Ok(KerasArchive { config, weights })
}
