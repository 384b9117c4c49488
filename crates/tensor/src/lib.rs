//! # kymo-tensor
//!
//! The numeric kernels under kymo's layers, over [`ndarray`] in NCL layout
//! (batch, channels, length): 1D convolution and pooling with Keras's exact
//! `same`/`valid` arithmetic, forward and backward; a checked GEMM entry
//! point; Keras's weight initializers; and the seeded RNG that every random
//! choice in kymo comes from. It knows nothing of layers or training.
//!
//! Every kernel is generic over [`Float`] (`f32` for training, `f64` for
//! gradient checks).
//!
//! ```
//! use kymo_tensor::{conv1d_forward, Conv1dConfig, Conv1dWorkspace, Padding};
//! use ndarray::Array3;
//!
//! // One sample, one channel, 5 points; a 2-tap kernel that sums neighbours.
//! let x = Array3::from_shape_vec((1, 1, 5), vec![1.0f32, 2.0, 3.0, 4.0, 5.0]).unwrap();
//! let w = Array3::from_shape_vec((1, 1, 2), vec![1.0f32, 1.0]).unwrap();
//! let same = Conv1dConfig { padding: Padding::Same, ..Default::default() };
//! let y = conv1d_forward(x.view(), w.view(), None, same, &mut Conv1dWorkspace::new()).unwrap();
//! // Keras pads an even kernel on the right: the last output sees a zero.
//! assert_eq!(y.as_slice().unwrap(), &[3.0, 5.0, 7.0, 9.0, 5.0]);
//! ```

pub mod batch_norm;
mod buffer_pool;
mod conv1d;
pub mod elementwise;
mod error;
mod float;
mod gemm_configuration;
mod init;
mod layout;
mod matmul;
mod padding;
pub mod parallel;
mod pool1d;
mod prefetch;
mod rng;
mod runtime;
mod scratch;
mod single_unit;
mod sum;
mod warm;

pub use buffer_pool::{give_buffer, take_buffer, KEPT_BUFFERS};
pub use conv1d::{
    conv1d_backward, conv1d_backward_in_place, conv1d_forward, conv1d_forward_into,
    conv1d_forward_then, Conv1dConfig, Conv1dWorkspace, RowEpilogue, RowStretch,
};
pub use error::TensorError;
pub use float::{Float, RealFftPair};
pub use gemm_configuration::{CacheLevel, GemmConfiguration};
pub use init::{Fans, Initializer};
pub use matmul::{matmul, matmul_on, MatRef};
pub use padding::{Padding, Window};
pub use pool1d::{
    avg_pool1d_backward, avg_pool1d_forward, global_avg_pool1d_backward,
    global_avg_pool1d_backward_into, global_avg_pool1d_forward,
    leaky_max_pool1d_backward_from_taps, leaky_max_pool1d_backward_in_place,
    leaky_max_pool1d_forward_into, leaky_max_pool1d_forward_keeping_taps,
    max_pool1d_backward_from_taps, max_pool1d_backward_in_place, max_pool1d_forward_into,
    max_pool1d_forward_keeping_taps, max_pool1d_keeps_taps, Pool1dConfig, PooledGradient,
};
pub use rng::{derive_seed, SeededRng};
pub use runtime::{set_threads, threads, with_threads, Runtime};
pub use scratch::release_scratch;
pub use single_unit::{
    single_unit_backward_in_place, single_unit_forward, single_unit_kernel_gradient,
};
pub use warm::{with_warm_workers, SPIN_IDLE};
