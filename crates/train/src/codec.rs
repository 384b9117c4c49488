//! The one module that names bincode (pinned to 2.0.1; 3.0.0 is an empty
//! tombstone and the crate is unmaintained): swap the encoding here and
//! nothing else changes.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encodes `value` to bytes.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| e.to_string())
}

/// Decodes bytes written by [`encode`]; every byte must be used.
///
/// The decoder may claim at most twice the payload's length, rounded up to a
/// power of two (at least 64 KiB): a length prefix forged to claim more than
/// the file could hold is an error before it is allocated, so a hostile
/// payload never makes the loader allocate more than a small multiple of
/// its own size. (An honest payload claims at most its length plus the
/// in-memory width of its few small integer vectors.)
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let wanted = bytes.len().saturating_mul(2).max(MIN_LIMIT);
    // bincode takes its limit as a const generic: pick the smallest power of
    // two that holds `wanted` from a fixed menu.
    macro_rules! decode_within {
        ($($exponent:literal)*) => {
            $(
                if wanted <= 1usize << $exponent {
                    return finish(
                        bytes,
                        bincode::serde::decode_from_slice(
                            bytes,
                            bincode::config::standard().with_limit::<{ 1usize << $exponent }>(),
                        ),
                    );
                }
            )*
        };
    }
    decode_within!(16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36);
    Err(format!(
        "payload of {} bytes is larger than a checkpoint can be",
        bytes.len()
    ))
}

/// Smallest decode limit: headroom for a tiny payload's fixed-width fields.
const MIN_LIMIT: usize = 1 << 16;

fn finish<T>(
    bytes: &[u8],
    decoded: Result<(T, usize), bincode::error::DecodeError>,
) -> Result<T, String> {
    let (value, used) = decoded.map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the payload",
            bytes.len() - used
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_string_length_is_refused_within_the_limit() {
        // A String whose varint length prefix claims 2^31 bytes, in a
        // 9-byte payload: the limit (64 KiB here) refuses it.
        let mut bytes = vec![0xFC];
        bytes.extend_from_slice(&(1u32 << 31).to_le_bytes());
        bytes.extend_from_slice(b"abcd");
        let error = decode::<String>(&bytes).expect_err("forged length");
        assert!(error.to_lowercase().contains("limit"), "{error}");
    }

    #[test]
    fn honest_payloads_round_trip_at_every_size() {
        for n in [0usize, 1, 1000, 100_000, 1_000_000] {
            let value: (Vec<f32>, Vec<usize>, String) =
                (vec![1.5; n], vec![3; n / 10], "x".repeat(n / 7));
            let bytes = encode(&value).expect("encodes");
            assert_eq!(
                decode::<(Vec<f32>, Vec<usize>, String)>(&bytes).expect("decodes"),
                value
            );
        }
    }
}
