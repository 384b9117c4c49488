//! Built-in models: the seed's (the question's, the answer's, the answer's
//! with BatchNormalization, the doctor's) and the deep baselines of time
//! series (FCN, ResNet, InceptionTime; see [`time_series`]).

pub mod time_series;

pub use time_series::{
    fcn, fcn_with, inception, inception_with, resnet, resnet_with, InceptionSizes, FCN_FILTERS,
    INCEPTION_KERNELS, RESNET_FILTERS,
};

use kymo_tensor::Padding;

use crate::layers::{
    BatchNormalizationSpec, Conv1DSpec, DenseSpec, LeakyReLUSpec, NameOnlySpec, Pooling1DSpec,
};
use crate::{ArchitectureSpec, InputSpec, LayerSpec, ModelSpec};

/// The seed's signal length.
pub const SEED_LENGTH: usize = 1040;

/// Names of the built-in Sequential models, for command lines.
pub const BUILT_IN: [&str; 4] = ["original", "answer", "answer_bn", "doctor"];

/// Names of the built-in graph models.
pub const GRAPHS: [&str; 3] = ["fcn", "resnet", "inception"];

/// The seed's structure: three blocks of `Conv1D(filters, kernel, 'same')`,
/// `LeakyReLU(0.1)`, optional BatchNormalization, and a stride-1 `same`
/// `MaxPooling1D(pool)`, then `Flatten` and `Dense(1)`. The seed's models use
/// filters 32/64/128; smaller filters make test-sized versions.
pub fn seed_structure(
    filters: [usize; 3],
    kernels: [usize; 3],
    pools: [usize; 3],
    batch_norm: bool,
    length: usize,
) -> ModelSpec {
    let mut layers = Vec::new();
    for (i, ((filters, kernel), pool)) in filters.into_iter().zip(kernels).zip(pools).enumerate() {
        layers.push(LayerSpec::Conv1D(Conv1DSpec {
            padding: Padding::Same,
            name: Some(format!("ConvLayer{}", i + 1)),
            ..Conv1DSpec::new(filters, kernel)
        }));
        layers.push(LayerSpec::LeakyReLU(LeakyReLUSpec {
            negative_slope: 0.1,
            name: None,
        }));
        if batch_norm {
            layers.push(LayerSpec::BatchNormalization(
                BatchNormalizationSpec::default(),
            ));
        }
        layers.push(LayerSpec::MaxPooling1D(Pooling1DSpec {
            pool_size: pool,
            strides: Some(1),
            padding: Padding::Same,
            name: Some(format!("PoolingLayer{}", i + 1)),
        }));
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

fn seed_model(
    kernels: [usize; 3],
    pools: [usize; 3],
    batch_norm: bool,
    length: usize,
) -> ModelSpec {
    seed_structure([32, 64, 128], kernels, pools, batch_norm, length)
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

/// The doctor's prescription for the question's model: small kernels
/// (7/5/3/3), a stride-2 max pool after every block so the signal is
/// downsampled 16x before the head (a Flatten of 2,080 instead of 133,120),
/// and a `Dense(32, relu)` before the output. About 76k parameters, a
/// receptive field of 54 points. No BatchNormalization: with the few hundred
/// steps of a small data set, Keras's momentum of 0.99 leaves the moving
/// statistics that inference uses far from the data's (the seed
/// experiment measured it), and the doctor flags it.
pub fn doctor(length: usize) -> ModelSpec {
    let mut layers = Vec::new();
    for (i, (filters, kernel)) in [(16, 7), (32, 5), (32, 3), (32, 3)].into_iter().enumerate() {
        layers.push(LayerSpec::Conv1D(Conv1DSpec {
            padding: Padding::Same,
            name: Some(format!("ConvLayer{}", i + 1)),
            ..Conv1DSpec::new(filters, kernel)
        }));
        layers.push(LayerSpec::LeakyReLU(LeakyReLUSpec {
            negative_slope: 0.1,
            name: None,
        }));
        layers.push(LayerSpec::MaxPooling1D(Pooling1DSpec {
            name: Some(format!("PoolingLayer{}", i + 1)),
            ..Pooling1DSpec::default()
        }));
    }
    layers.push(LayerSpec::Flatten(NameOnlySpec::default()));
    layers.push(LayerSpec::Dense(DenseSpec {
        activation: crate::Activation::Relu,
        ..DenseSpec::new(32)
    }));
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

/// A built-in model by name (see [`BUILT_IN`]).
pub fn by_name(name: &str, length: usize) -> Option<ModelSpec> {
    match name {
        "original" => Some(original(length)),
        "answer" => Some(answer(length)),
        "answer_bn" => Some(answer_bn(length)),
        "doctor" => Some(doctor(length)),
        _ => None,
    }
}

/// Any built-in model by name, Sequential ([`BUILT_IN`]) or graph
/// ([`GRAPHS`]).
pub fn architecture_by_name(name: &str, length: usize) -> Option<ArchitectureSpec> {
    match name {
        "fcn" => Some(fcn(length).into()),
        "resnet" => Some(resnet(length).into()),
        "inception" => Some(inception(length).into()),
        other => by_name(other, length).map(ArchitectureSpec::from),
    }
}
