//! The NPY header, read and checked before a byte of data is allocated.
//!
//! `ndarray-npy` allocates the array its header claims before it reads the
//! data, and parses the header's Python literal recursively: a header that
//! claims a shape of billions aborts the process, one with deeply nested
//! brackets takes minutes. This module reads the header with a flat parser
//! bounded by [`MAX_HEADER_BYTES`], and checks that the shape's bytes are
//! exactly the bytes the file holds, so the array read after it can never
//! be larger than the file.

/// Longest header accepted: NumPy's own loader refuses headers over 10,000
/// bytes by default; honest headers are about 128.
pub const MAX_HEADER_BYTES: usize = 10_000;

const MAGIC: &[u8] = b"\x93NUMPY";

/// The scalar type of an NPY array, as kymo can read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// `f4`.
    Float32,
    /// `f8`.
    Float64,
    /// `i1` to `i8` and `u1` to `u8`: class labels, or signals such as a
    /// converter's raw counts.
    Integer {
        /// Bytes per value: 1, 2, 4 or 8.
        bytes: u8,
        /// Whether the values are two's-complement signed.
        signed: bool,
    },
    /// `b1`: NumPy's booleans, one byte each (a binary label).
    Bool,
}

impl Element {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Element::Float32 => 4,
            Element::Float64 => 8,
            Element::Integer { bytes, .. } => usize::from(bytes),
            Element::Bool => 1,
        }
    }
}

/// A checked NPY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The scalar type.
    pub element: Element,
    /// Whether the data is big-endian.
    pub big_endian: bool,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Offset of the first data byte.
    pub data_offset: usize,
}

/// Reads and checks the header of the NPY file `bytes`: magic, version,
/// header length, a flat `{'descr': ..., 'fortran_order': ..., 'shape': (...)}`
/// dictionary, a float, integer or boolean type, and a shape whose data is exactly
/// the rest of the file. Errors say what was found and at which byte.
pub fn read(bytes: &[u8]) -> Result<Header, String> {
    if bytes.len() < MAGIC.len() + 2 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(format!(
            "not an NPY file: it does not start with \\x93NUMPY ({} bytes)",
            bytes.len()
        ));
    }
    let major = bytes[6];
    let (length_bytes, start) = match major {
        1 => (2, 10),
        2 | 3 => (4, 12),
        other => {
            return Err(format!(
                "NPY format version {other} at byte 6; kymo reads 1, 2 and 3"
            ))
        }
    };
    if bytes.len() < start {
        return Err(format!(
            "truncated: the header length ends at byte {start}, the file has {} bytes",
            bytes.len()
        ));
    }
    let mut length = 0usize;
    for (i, &b) in bytes[8..8 + length_bytes].iter().enumerate() {
        length |= (b as usize) << (8 * i);
    }
    if length > MAX_HEADER_BYTES {
        return Err(format!(
            "header of {length} bytes (at byte 8) is over the limit of {MAX_HEADER_BYTES}"
        ));
    }
    let data_offset = start + length;
    let text = bytes.get(start..data_offset).ok_or_else(|| {
        format!(
            "truncated: the header ends at byte {data_offset}, the file has {} bytes",
            bytes.len()
        )
    })?;
    let text = std::str::from_utf8(text).map_err(|e| format!("header is not text: {e}"))?;
    let fields = dictionary(text)?;
    let descr = fields.descr.ok_or("header has no 'descr'")?;
    let (element, big_endian) = element(&descr)?;
    let shape = fields.shape.ok_or("header has no 'shape'")?;
    let fortran_order = fields
        .fortran_order
        .ok_or("header has no 'fortran_order'")?;
    let item = element.size() as u64;
    let needed = shape
        .iter()
        .try_fold(item, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| format!("shape {shape:?} overflows"))?;
    let present = (bytes.len() - data_offset) as u64;
    if needed != present {
        return Err(format!(
            "shape {shape:?} of {descr} needs {needed} data bytes, the file has {present} after its header (byte {data_offset})"
        ));
    }
    Ok(Header {
        element,
        big_endian,
        fortran_order,
        shape,
        data_offset,
    })
}

fn element(descr: &str) -> Result<(Element, bool), String> {
    // By chars, not bytes: a hostile descr may open with a multi-byte char.
    let mut chars = descr.chars();
    let big_endian = match chars.next() {
        Some('<' | '|' | '=') => false,
        Some('>') => true,
        _ => return Err(format!("unknown type '{descr}'")),
    };
    let kind = chars.as_str();
    let element = match kind {
        "f4" => Element::Float32,
        "f8" => Element::Float64,
        "b1" => Element::Bool,
        "i1" | "i2" | "i4" | "i8" | "u1" | "u2" | "u4" | "u8" => Element::Integer {
            // The kind is a letter and one ASCII digit, matched above.
            bytes: kind.as_bytes()[1] - b'0',
            signed: kind.starts_with('i'),
        },
        "c8" | "c16" => {
            return Err(format!(
                "complex array ('{descr}'): kymo reads real float32 or float64 signals"
            ))
        }
        _ => {
            return Err(format!(
                "array of type '{descr}': kymo reads floats ('<f4', '<f8'), integers ('<i8', '|u1', ...) and booleans ('|b1')"
            ))
        }
    };
    Ok((element, big_endian))
}

#[derive(Default)]
struct Fields {
    descr: Option<String>,
    fortran_order: Option<bool>,
    shape: Option<Vec<usize>>,
}

/// Parses the header's flat dictionary in one pass, without recursion: a
/// nested value is an error, not a descent.
fn dictionary(text: &str) -> Result<Fields, String> {
    let mut rest = text
        .trim()
        .strip_prefix('{')
        .ok_or("header does not start with '{'")?;
    let mut fields = Fields::default();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            if !after.trim().is_empty() {
                return Err("text after the header's closing '}'".into());
            }
            return Ok(fields);
        }
        let (key, after) = quoted(rest)?;
        rest = after
            .trim_start()
            .strip_prefix(':')
            .ok_or_else(|| format!("no ':' after '{key}'"))?;
        rest = rest.trim_start();
        match key {
            "descr" => {
                let (value, after) = quoted(rest)?;
                fields.descr = Some(value.to_string());
                rest = after;
            }
            "fortran_order" => {
                let (value, after) = if let Some(a) = rest.strip_prefix("True") {
                    (true, a)
                } else if let Some(a) = rest.strip_prefix("False") {
                    (false, a)
                } else {
                    return Err("'fortran_order' is neither True nor False".into());
                };
                fields.fortran_order = Some(value);
                rest = after;
            }
            "shape" => {
                let inner = rest.strip_prefix('(').ok_or("'shape' is not a tuple")?;
                let close = inner.find(')').ok_or("'shape' has no ')'")?;
                let mut shape = Vec::new();
                for part in inner[..close].split(',') {
                    let part = part.trim();
                    if part.is_empty() {
                        continue;
                    }
                    shape.push(
                        part.parse::<usize>()
                            .map_err(|_| format!("'shape' holds `{part}`, not a dimension"))?,
                    );
                }
                fields.shape = Some(shape);
                rest = &inner[close + 1..];
            }
            other => return Err(format!("unknown header key '{other}'")),
        }
        rest = rest.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// A single- or double-quoted string at the start of `text`, and the rest.
fn quoted(text: &str) -> Result<(&str, &str), String> {
    let quote = text
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
        .ok_or_else(|| {
            format!(
                "expected a quoted key at `{}`",
                text.chars().take(20).collect::<String>()
            )
        })?;
    let body = &text[1..];
    let end = body
        .find(quote)
        .ok_or("unterminated string in the header")?;
    Ok((&body[..end], &body[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data_bytes: usize) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend(std::iter::repeat_n(0u8, data_bytes));
        bytes
    }

    #[test]
    fn an_honest_header_is_read() {
        let h = read(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }\n",
            60,
        ))
        .expect("valid");
        assert_eq!(
            (h.element, h.big_endian, h.fortran_order, h.shape),
            (Element::Float32, false, false, vec![3, 5])
        );
        let h = read(&npy(
            "{'descr': '>f8', 'fortran_order': True, 'shape': (7,), }",
            56,
        ))
        .expect("valid");
        assert_eq!(
            (h.element, h.big_endian, h.fortran_order, h.shape),
            (Element::Float64, true, true, vec![7])
        );
    }

    #[test]
    fn hostile_headers_are_refused_with_the_reason() {
        let cases = [
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (400000000, 4000), }", 16), "needs"),
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 2), }", 16), "overflows"),
            (npy(&format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {}{}}}", "(".repeat(4000), ")".repeat(4000)), 0), "not a dimension"),
            (npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 12), "needs 16"),
            (npy("{'descr': '<U8', 'fortran_order': False, 'shape': (2,), }", 64), "integers"),
            (npy("{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", 32), "complex"),
            (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8), "needs 12"),
            // The fuzzer's reproducer: a descr opening with a multi-byte char.
            (npy("{'descr': 'é4', 'fortran_order': False, 'shape': (3,), }", 12), "unknown type"),
        ];
        for (bytes, expected) in cases {
            let error = read(&bytes).expect_err("hostile");
            assert!(error.contains(expected), "{error}");
        }
        let mut long = npy("{}", 0);
        long[8..10].copy_from_slice(&60000u16.to_le_bytes());
        assert!(read(&long).expect_err("long").contains("over the limit"));
    }
}
