//! A UCR/UEA `.ts` file: any bytes that are text must parse or be refused
//! with a located error, never panic.
#![no_main]
use std::path::Path;

use kymo_data::parse_ts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_ts(text, Path::new("fuzz.ts"));
    }
});
