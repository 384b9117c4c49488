//! An NPY file's data bytes as `f32` values, whatever their scalar type
//! and byte order.

use super::header::Element;

/// Decodes `data` (whole values of `element`, as the checked header
/// promises) into `f32`. Integers beyond 2^24 round to the nearest `f32`,
/// as `x.astype('float32')` would round them.
pub(crate) fn to_f32(element: Element, big_endian: bool, data: &[u8]) -> Vec<f32> {
    data.chunks_exact(element.size())
        .map(|chunk| value(element, big_endian, chunk))
        .collect()
}

/// One value from its bytes (exactly `element.size()` of them).
fn value(element: Element, big_endian: bool, chunk: &[u8]) -> f32 {
    // Little-endian from here on: a big-endian value's bytes reversed.
    let mut word = [0u8; 8];
    word[..chunk.len()].copy_from_slice(chunk);
    if big_endian {
        word[..chunk.len()].reverse();
    }
    let unsigned = u64::from_le_bytes(word);
    match element {
        Element::Float32 => f32::from_bits(unsigned as u32),
        Element::Float64 => f64::from_bits(unsigned) as f32,
        Element::Bool => f32::from(u8::from(unsigned != 0)),
        Element::Integer { signed: false, .. } => unsigned as f32,
        Element::Integer {
            bytes,
            signed: true,
        } => {
            // Sign-extend from the value's own width.
            let shift = 64 - 8 * u32::from(bytes);
            ((unsigned << shift) as i64 >> shift) as f32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_and_byte_order_decodes_to_its_value() {
        let i16_be = Element::Integer {
            bytes: 2,
            signed: true,
        };
        assert_eq!(to_f32(i16_be, true, &(-300i16).to_be_bytes()), [-300.0]);
        let i8_le = Element::Integer {
            bytes: 1,
            signed: true,
        };
        assert_eq!(to_f32(i8_le, false, &[0xff, 0x05]), [-1.0, 5.0]);
        let u32_le = Element::Integer {
            bytes: 4,
            signed: false,
        };
        assert_eq!(to_f32(u32_le, false, &70_000u32.to_le_bytes()), [70_000.0]);
        let i64_le = Element::Integer {
            bytes: 8,
            signed: true,
        };
        assert_eq!(to_f32(i64_le, false, &(-7i64).to_le_bytes()), [-7.0]);
        assert_eq!(to_f32(Element::Bool, false, &[0, 1, 2]), [0.0, 1.0, 1.0]);
        assert_eq!(
            to_f32(Element::Float64, true, &(-2.5f64).to_be_bytes()),
            [-2.5]
        );
        assert_eq!(
            to_f32(Element::Float32, false, &1.25f32.to_le_bytes()),
            [1.25]
        );
    }
}
