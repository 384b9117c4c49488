//! Two NPY files (signals, targets): the first input byte says where the
//! first file ends.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let split = (cut as usize * rest.len()) / 255;
    let (x, y) = rest.split_at(split);
    let _ = kymo_data::load_npy_bytes(Path::new("x.npy"), x, Path::new("y.npy"), y);
});
