//! Max, average and global average pooling over the length axis of NCL
//! arrays, forward and backward.
//!
//! `same` padding follows Keras: max pooling pads with values that never win
//! (padding is skipped), and average pooling divides by the number of real
//! elements in each window, not by the pool size.
//!
//! One file per pooling: `max/` (the buffer-reusing max pool and its
//! fusion with a leaky ReLU; its row kernels in `max/rows.rs`, the one-pass
//! scan of small stride-1 windows in `max/small_windows.rs`), `avg.rs` and
//! `global.rs`.

use serde::{Deserialize, Serialize};

use crate::{Padding, TensorError, Window};

mod avg;
mod global;
mod max;

pub use avg::{avg_pool1d_backward, avg_pool1d_forward};
pub use global::{
    global_avg_pool1d_backward, global_avg_pool1d_backward_into, global_avg_pool1d_forward,
};
pub use max::{
    leaky_max_pool1d_backward_from_taps, leaky_max_pool1d_backward_in_place,
    leaky_max_pool1d_forward_into, leaky_max_pool1d_forward_keeping_taps,
    max_pool1d_backward_from_taps, max_pool1d_backward_in_place, max_pool1d_forward_into,
    max_pool1d_forward_keeping_taps, max_pool1d_keeps_taps, PooledGradient,
};

/// Pool size, stride and padding of a 1D pooling layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool1dConfig {
    /// Window size.
    pub pool_size: usize,
    /// Step between windows (Keras defaults it to `pool_size`).
    pub stride: usize,
    /// Keras padding mode.
    pub padding: Padding,
}

impl Pool1dConfig {
    /// The window geometry for an input of `input_length`. `causal`
    /// padding is an error, as in Keras, which allows it for Conv1D only.
    pub fn window(&self, input_length: usize) -> Result<Window, TensorError> {
        if self.padding == Padding::Causal {
            return Err(TensorError::Config {
                kernel: "pool1d",
                field: "padding",
                reason: "`causal` padding is for Conv1D only (Keras refuses it for pooling)".into(),
            });
        }
        Window::new(
            "pool1d",
            input_length,
            self.pool_size,
            self.stride,
            1,
            self.padding,
        )
    }
}

/// The range of real (non-padding) input elements window `p` covers.
#[inline(always)]
fn window_span(window: &Window, p: usize) -> std::ops::Range<usize> {
    let start = (p * window.stride).saturating_sub(window.pad_left);
    let end = (p * window.stride + window.size)
        .saturating_sub(window.pad_left)
        .min(window.input_length);
    start..end
}
