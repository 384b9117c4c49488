//! # kymo-layers
//!
//! Keras-compatible layers for 1D convolutional networks, in NCL layout: the
//! [`Layer`] trait, one type per layer (Conv1D, Dense, the activations,
//! pooling, Dropout, Flatten, BatchNormalization), a [`Sequential`] model
//! checked at build time, serializable [`ModelSpec`]s (TOML or JSON), a
//! Keras-like [`Summary`] with receptive fields, the [`gradcheck`] that
//! guards every backward pass, and a per-layer time [`profile`]. Names, defaults and semantics are Keras 3's.
//!
//! ```
//! use kymo_layers::{zoo, Mode, Model, Sequential};
//! use ndarray::ArrayD;
//!
//! let mut model = Sequential::<f32>::new(&zoo::answer(1040), 42).unwrap();
//! assert_eq!(model.count_params(), 164_129);
//! assert_eq!(model.summary().receptive_field(), 11);
//! let batch = ArrayD::zeros(vec![2, 1, 1040]);
//! let y = model.forward(batch, Mode::Inference).unwrap();
//! assert_eq!(y.shape(), &[2, 1]);
//! ```

mod activation;
mod buffers;
pub mod channel_maps;
mod constraint;
mod error;
mod fusion;
pub mod gradcheck;
mod graph;
pub mod keras;
mod layer;
pub mod layers;
pub mod limits;
pub mod merge;
mod model;
mod parameter;
pub mod profile;
mod regularizer;
mod sequential;
mod shape;
mod spec;
mod summary;
pub mod torch;
pub mod zoo;

pub use activation::{Activation, SELU_ALPHA, SELU_SCALE};
pub use channel_maps::{ChannelMaps, ChannelwiseMap};
pub use constraint::Constraint;
pub use error::LayerError;
pub use graph::{ArchitectureSpec, Graph, GraphSpec, NodeSpec, CHECKPOINT_ABOVE, RECOMPUTE_ABOVE};
pub use layer::{Layer, Mode, Reach, Recompute};
pub use layers::*;
pub use limits::BuildLimits;
pub use merge::{ConcatenateSpec, ElementwiseOp, Merge};
pub use model::Model;
pub use parameter::Parameter;
pub use regularizer::Regularizer;
pub use sequential::{NamedArray, Sequential};
pub use shape::Shape;
pub use spec::{InputSpec, LayerSpec, ModelSpec};
pub use summary::{ReceptiveField, Summary, SummaryRow};
