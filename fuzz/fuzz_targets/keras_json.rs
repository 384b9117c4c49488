//! A Keras `model.to_json()` imported, sized, built and run.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Sequential or functional; a variable-length input read at 48 points,
    // as a command reads it at the data's length.
    let _ = kymo_layers::keras::declared_length(text);
    if let Ok(spec) = kymo_layers::keras::from_keras_json_any_at(text, 48) {
        kymo_fuzz::build_and_run_any(&spec);
    }
});
