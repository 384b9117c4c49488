//! `cargo xtask summary <model>`.

use anyhow::Context as _;
use std::path::Path;

use kymo_layers::{zoo, ArchitectureSpec};

/// Resolves a built-in model name, a kymo spec file (TOML or JSON) or a
/// Keras `model.to_json()` file.
pub fn resolve_model(model: &str, length: usize) -> anyhow::Result<ArchitectureSpec> {
    if let Some(spec) = zoo::architecture_by_name(model, length) {
        return Ok(spec);
    }
    let path = Path::new(model);
    if path.extension().is_some_and(|e| e == "json") && path.exists() {
        let text = std::fs::read_to_string(path).with_context(|| model.to_string())?;
        if text.contains("\"class_name\"") {
            return kymo_layers::keras::from_keras_json_any(&text)
                .with_context(|| model.to_string());
        }
    }
    if path.exists() {
        return ArchitectureSpec::from_path(path).map_err(anyhow::Error::from);
    }
    Err(anyhow::anyhow!(
        "`{model}` is neither a built-in model ({}, {}) nor a spec file",
        zoo::BUILT_IN.join(", "),
        zoo::GRAPHS.join(", ")
    ))
}

/// Prints the summary of `model`.
pub fn run(model: &str, length: usize) -> anyhow::Result<()> {
    let spec = resolve_model(model, length)?;
    let built = spec.build::<f32>(0)?;
    println!("Model: \"{model}\"");
    print!("{}", built.summary());
    Ok(())
}
