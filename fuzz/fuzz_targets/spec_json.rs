//! A model spec in JSON, parsed, sized, built and run.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A stack or a graph.
    if let Ok(spec) = kymo_layers::ArchitectureSpec::from_json_str(text) {
        kymo_fuzz::build_and_run_any(&spec);
    }
});
