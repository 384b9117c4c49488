//! Two NPY files (signals, targets): the first input byte says where the
//! first file ends, the second how to read them (axis order given or
//! inferred, against a model's input or not; targets or class labels).
#![no_main]
use std::path::Path;

use kymo_data::{NpyLayout, NpyOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let Some((&how, rest)) = rest.split_first() else {
        return;
    };
    let split = (cut as usize * rest.len()) / 255;
    let (x, y) = rest.split_at(split);
    let options = NpyOptions {
        layout: match how % 3 {
            0 => None,
            1 => Some(NpyLayout::ChannelsFirst),
            _ => Some(NpyLayout::ChannelsLast),
        },
        model_input: (how & 4 != 0).then_some((usize::from(how >> 5) + 1, 8)),
        classes: how & 8 != 0,
        known_classes: (how & 16 != 0).then(|| vec!["0".to_string(), "1".to_string()]),
    };
    let _ = kymo_data::load_npy_bytes_with(Path::new("x.npy"), x, Path::new("y.npy"), y, &options);
});
