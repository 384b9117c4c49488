//! A whole checkpoint file: header, length, CRC, payload, model rebuild.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kymo_fuzz::checkpoint::load_and_use(data);
});
