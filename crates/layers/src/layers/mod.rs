//! The layers, one file each (the elementwise activations share one type,
//! and so do the two sliding-window poolings).

mod activation_layer;
mod activity_regularization;
mod batch_normalization;
mod conv1d;
mod dense;
mod dropout;
mod flatten;
mod gaussian_noise;
mod global_average_pooling1d;
mod global_max_pooling1d;
mod layer_normalization;
mod length_edges;
mod pooling1d;
mod reshape;

pub use activation_layer::{ActivationLayer, ActivationSpec, ELUSpec, LeakyReLUSpec, NameOnlySpec};
pub use activity_regularization::{
    ActivityPenalty, ActivityRegularization, ActivityRegularizationSpec,
};
pub use batch_normalization::{BatchNormalization, BatchNormalizationSpec};
pub use conv1d::{Conv1D, Conv1DSpec};
pub use dense::{Dense, DenseSpec};
pub use dropout::{Dropout, DropoutSpec};
pub use flatten::Flatten;
pub use gaussian_noise::{GaussianNoise, GaussianNoiseSpec};
pub use global_average_pooling1d::{GlobalAveragePooling1D, GlobalPoolingSpec};
pub use global_max_pooling1d::GlobalMaxPooling1D;
pub use layer_normalization::{LayerNormalization, LayerNormalizationSpec};
pub use length_edges::{EdgeChange, LengthEdges, LengthEdgesSpec};
pub use pooling1d::{Pooling1D, Pooling1DSpec, Reduction};
pub use reshape::{PermuteSpec, Reshape, ReshapeSpec};

// Each layer's shape rule, for `limits::plan_layer` (and its own `build`).
pub(crate) use conv1d::plan as conv1d_plan;
pub(crate) use dense::plan as dense_plan;
pub(crate) use flatten::plan as flatten_plan;
pub(crate) use global_average_pooling1d::plan as global_pooling_plan;
pub(crate) use length_edges::plan as length_edges_plan;
pub(crate) use pooling1d::plan as pooling1d_plan;
pub(crate) use reshape::permute_plan;
pub(crate) use reshape::plan as reshape_plan;
