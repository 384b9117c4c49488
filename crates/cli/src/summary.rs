//! `kymo summary <model>`: a model's Keras-like summary with receptive
//! fields.

use kymo_layers::ArchitectureSpec;

/// Prints the summary of `model` (a built-in name, a spec file or a Keras
/// model file).
pub fn run(model: &str, length: usize) -> anyhow::Result<()> {
    let spec = match crate::fit::keras_file(model)? {
        Some(mut file) => {
            file.set_length(length);
            file.spec
        }
        None => ArchitectureSpec::resolve(model, length)?,
    };
    let built = spec.build::<f32>(0)?;
    println!("Model: \"{model}\"");
    print!("{}", built.summary());
    Ok(())
}
