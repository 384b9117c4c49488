//! The one module that names bincode (pinned to 2.0.1; 3.0.0 is an empty
//! tombstone and the crate is unmaintained): swap the encoding here and
//! nothing else changes.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Most bytes one decode may claim: bounds what a forged length field can
/// make the decoder allocate, on top of the checksum that guards honest files.
const DECODE_LIMIT: usize = 1 << 32;

/// Encodes `value` to bytes.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| e.to_string())
}

/// Decodes bytes written by [`encode`]; every byte must be used.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let config = bincode::config::standard().with_limit::<DECODE_LIMIT>();
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, config).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the payload",
            bytes.len() - used
        ));
    }
    Ok(value)
}
