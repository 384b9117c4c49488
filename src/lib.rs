//! # kymo
//!
//! Train 1D convolutional networks on signals and learn what is wrong with
//! them. This facade re-exports kymo's crates; each can also be used alone.
//!
//! ```
//! assert_eq!(kymo::tensor::Padding::default(), kymo::tensor::Padding::Valid);
//! ```

pub use kymo_baselines as baselines;
pub use kymo_data as data;
pub use kymo_doctor as doctor;
pub use kymo_layers as layers;
pub use kymo_optim as optim;
pub use kymo_tensor as tensor;
pub use kymo_train as train;
