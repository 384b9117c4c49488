//! `kymo export <model>`: a model's weights in PyTorch's layout and
//! names, the PyTorch code that loads them, the model as a Keras 3
//! `.keras` file, and a reference input and output so that
//! `tests/fixtures/parity/check_torch_export.py` and
//! `tests/fixtures/keras_files/check_keras_export.py` can show PyTorch and
//! Keras compute what kymo computes. A checkpoint (`best.kymo` from `kymo
//! fit`) exports with its trained weights, and its preprocessing beside
//! the model as `preprocessing.json` (Keras has no layer for it); a Keras
//! file (`.keras`, `.h5`) with the weights it holds, so a Keras model
//! reaches PyTorch.

use anyhow::Context as _;
use std::path::PathBuf;

use clap::Args;
use kymo_layers::torch::{save_npy_dir, save_safetensors, TorchLayout};
use kymo_layers::Mode;
use kymo_tensor::SeededRng;
use ndarray::ArrayD;
use ndarray_npy::write_npy;

/// Options of `kymo export`.
#[derive(Args)]
pub struct ExportArgs {
    /// A built-in model, a kymo spec file, a Keras `model.to_json()` file,
    /// or a checkpoint (`.kymo`) or Keras model file (`.keras`, `.h5`) with
    /// its trained weights.
    pub model: String,
    /// Seed of the initial weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Input length for built-in models, and for a Keras file whose input
    /// length is variable (`Input(shape=(None, channels))`).
    #[arg(long, default_value_t = kymo_layers::zoo::SEED_LENGTH)]
    pub length: usize,
    /// Output folder.
    #[arg(long, default_value = "target/export")]
    pub out: PathBuf,
}

/// Writes `model.safetensors`, `weights/<key>.npy`, `model.py`, and
/// `input.npy` with kymo's inference output `kymo_output.npy` on it.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let checkpoint = args
        .model
        .ends_with(".kymo")
        .then(|| kymo_train::Checkpoint::load(std::path::Path::new(&args.model)))
        .transpose()?;
    let mut keras = crate::fit::keras_file(&args.model)?;
    if let Some(file) = keras.as_mut() {
        file.set_length(args.length);
    }
    // The architecture, and the trained weights when the file has them.
    let (spec, trained) = match (&checkpoint, &keras) {
        (Some(c), _) => {
            let model = c.model()?;
            (model.architecture(), Some(model.get_weights()))
        }
        (None, Some(file)) => (file.spec.clone(), Some(file.model::<f32>()?.get_weights())),
        (None, None) => (
            kymo_layers::ArchitectureSpec::resolve(&args.model, args.length)?,
            None,
        ),
    };
    // A Sequential model becomes an nn.Sequential, a graph an nn.Module
    // with a generated forward (and a Keras functional model).
    let mut model = spec.build::<f32>(args.seed)?;
    if let Some(weights) = &trained {
        model.set_weights(weights)?;
    }
    let model = model.as_mut();
    let layout = TorchLayout::of(model)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    save_safetensors(model, &args.out.join("model.safetensors"))?;
    save_npy_dir(model, &args.out.join("weights"))?;
    std::fs::write(args.out.join("model.py"), layout.python()).context("model.py")?;
    kymo_keras::write_keras(model, &args.out.join("model.keras"))?;
    if let Some(preprocessor) = checkpoint
        .as_ref()
        .map(|c| c.preprocessor())
        .transpose()?
        .flatten()
    {
        std::fs::write(
            args.out.join("preprocessing.json"),
            serde_json::to_string_pretty(&preprocessor)?,
        )
        .context("preprocessing.json")?;
    }

    let input_shape = model.input_shape().with_batch(4);
    // Its own stream, so the input never shares draws with the weights.
    let mut rng = SeededRng::new(args.seed, u64::from_le_bytes(*b"export.x"));
    let input = ArrayD::from_shape_fn(input_shape, |_| rng.normal() as f32);
    let output = model.forward(input.clone(), Mode::Inference)?;
    let npy = |name: &str, array: &ArrayD<f32>| {
        write_npy(args.out.join(name), array).with_context(|| name.to_string())
    };
    npy("input.npy", &input)?;
    npy("kymo_output.npy", &output)?;
    println!(
        "wrote {} ({} tensors), weights/*.npy, model.py, model.keras, input.npy, kymo_output.npy\n\
         check in PyTorch: python tests/fixtures/parity/check_torch_export.py {}\n\
         check in Keras:   python tests/fixtures/keras_files/check_keras_export.py {}",
        args.out.join("model.safetensors").display(),
        layout.tensors.len(),
        args.out.display(),
        args.out.display()
    );
    Ok(())
}
