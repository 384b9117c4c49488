//! A checkpoint payload under a valid header with its CRC computed, so
//! every input reaches the decoder and the model rebuild.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    kymo_fuzz::checkpoint::load_and_use(&kymo_fuzz::checkpoint::framed(payload));
});
