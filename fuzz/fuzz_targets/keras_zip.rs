//! A `.keras` file (a zip of config.json and model.weights.h5): any bytes
//! are read or refused with a named error, never a panic, and never an
//! allocation the file's own size does not bound.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kymo_keras::read_bytes(data.to_vec(), Path::new("fuzz.keras"));
});
