//! The seed's models as built-in specs: the question's, the answer's, and
//! the answer's with BatchNormalization.

use kymo_tensor::Padding;

use crate::layers::{
    BatchNormalizationSpec, Conv1DSpec, DenseSpec, LeakyReLUSpec, NameOnlySpec, Pooling1DSpec,
};
use crate::{InputSpec, LayerSpec, ModelSpec};

/// The seed's signal length.
pub const SEED_LENGTH: usize = 1040;

/// Names of the built-in models, for command lines.
pub const BUILT_IN: [&str; 3] = ["original", "answer", "answer_bn"];

fn conv_block(
    index: usize,
    filters: usize,
    kernel: usize,
    pool: usize,
    batch_norm: bool,
) -> Vec<LayerSpec> {
    let mut block = vec![
        LayerSpec::Conv1D(Conv1DSpec {
            padding: Padding::Same,
            name: Some(format!("ConvLayer{index}")),
            ..Conv1DSpec::new(filters, kernel)
        }),
        LayerSpec::LeakyReLU(LeakyReLUSpec {
            negative_slope: 0.1,
            name: None,
        }),
    ];
    if batch_norm {
        block.push(LayerSpec::BatchNormalization(
            BatchNormalizationSpec::default(),
        ));
    }
    block.push(LayerSpec::MaxPooling1D(Pooling1DSpec {
        pool_size: pool,
        strides: Some(1),
        padding: Padding::Same,
        name: Some(format!("PoolingLayer{index}")),
    }));
    block
}

fn seed_model(
    kernels: [usize; 3],
    pools: [usize; 3],
    batch_norm: bool,
    length: usize,
) -> ModelSpec {
    let mut layers = Vec::new();
    for (i, ((filters, kernel), pool)) in [32, 64, 128]
        .into_iter()
        .zip(kernels)
        .zip(pools)
        .enumerate()
    {
        layers.extend(conv_block(i + 1, filters, kernel, pool, batch_norm));
    }
    layers.push(LayerSpec::Flatten(NameOnlySpec::default()));
    layers.push(LayerSpec::Dense(DenseSpec {
        name: Some("output".into()),
        ..DenseSpec::new(1)
    }));
    ModelSpec {
        input: InputSpec {
            channels: 1,
            length,
        },
        layers,
    }
}

/// The question's model: kernels 100/70/40, stride-1 `same` pools 70/40/10.
pub fn original(length: usize) -> ModelSpec {
    seed_model([100, 70, 40], [70, 40, 10], false, length)
}

/// The accepted answer's model: kernels 2/3/3, pools 2/3/3.
pub fn answer(length: usize) -> ModelSpec {
    seed_model([2, 3, 3], [2, 3, 3], false, length)
}

/// The answer's model with BatchNormalization after each activation, as the
/// answer suggests.
pub fn answer_bn(length: usize) -> ModelSpec {
    seed_model([2, 3, 3], [2, 3, 3], true, length)
}

/// A built-in model by name (see [`BUILT_IN`]).
pub fn by_name(name: &str, length: usize) -> Option<ModelSpec> {
    match name {
        "original" => Some(original(length)),
        "answer" => Some(answer(length)),
        "answer_bn" => Some(answer_bn(length)),
        _ => None,
    }
}
