//! A safetensors file loaded into the answer's model (at 64 points).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut model) = kymo_layers::Sequential::<f32>::new(&kymo_layers::zoo::answer(64), 0)
    else {
        return;
    };
    if kymo_layers::torch::from_safetensors(&mut model, data, "fuzz").is_ok() {
        kymo_fuzz::run(&mut model, &kymo_layers::zoo::answer(64));
    }
});
