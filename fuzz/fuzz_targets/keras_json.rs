//! A Keras `model.to_json()` imported, sized, built and run.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Sequential or functional.
    if let Ok(spec) = kymo_layers::keras::from_keras_json_any(text) {
        kymo_fuzz::build_and_run_any(&spec);
    }
});
