//! `cargo xtask summary <model>`.

use std::path::Path;

use kymo_layers::{zoo, ModelSpec, Sequential};

/// Resolves a built-in model name or a spec file path.
pub fn resolve_model(model: &str, length: usize) -> Result<ModelSpec, String> {
    if let Some(spec) = zoo::by_name(model, length) {
        return Ok(spec);
    }
    let path = Path::new(model);
    if path.exists() {
        return ModelSpec::from_path(path).map_err(|e| e.to_string());
    }
    Err(format!(
        "`{model}` is neither a built-in model ({}) nor a spec file",
        zoo::BUILT_IN.join(", ")
    ))
}

/// Prints the summary of `model`.
pub fn run(model: &str, length: usize) -> Result<(), String> {
    let spec = resolve_model(model, length)?;
    let built = Sequential::<f32>::new(&spec, 0).map_err(|e| e.to_string())?;
    println!("Model: \"{model}\"");
    print!("{}", built.summary());
    Ok(())
}
