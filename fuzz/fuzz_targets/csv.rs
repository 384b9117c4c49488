//! A CSV file with a header and the target named `y` (then by index 0).
#![no_main]
use std::path::Path;

use kymo_data::{load_csv_bytes, Column, CsvOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.csv");
    let _ = load_csv_bytes(path, data, &CsvOptions::new(vec![Column::Name("y".into())]));
    let options = CsvOptions {
        has_header: false,
        ..CsvOptions::new(vec![Column::Index(0)])
    };
    let _ = load_csv_bytes(path, data, &options);
});
