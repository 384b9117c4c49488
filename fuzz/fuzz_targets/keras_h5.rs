//! A legacy Keras `.h5` file, through the HDF5 reader: any bytes after
//! the HDF5 signature are read or refused with a named error, never a
//! panic.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = b"\x89HDF\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(data.strip_prefix(b"\x89HDF\r\n\x1a\n").unwrap_or(data));
    let _ = kymo_keras::read_bytes(bytes, Path::new("fuzz.h5"));
});
