//! JSON has no NaN or infinity: non-finite floats are written as `null` and
//! read back as NaN, so a run that blew up still records what it measured.

use serde::{Deserialize, Deserializer, Serializer};

/// Serializes a non-finite value as `null`.
pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        serializer.serialize_f64(*value)
    } else {
        serializer.serialize_none()
    }
}

/// Reads `null` back as NaN.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}
