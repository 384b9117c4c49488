//! The per-sample shape flowing between layers.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The shape of one sample (the batch axis is not part of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// A multi-channel signal, `[channels, length]` (NCL without the N).
    Signal {
        /// Number of channels.
        channels: usize,
        /// Number of points.
        length: usize,
    },
    /// A flat feature vector.
    Features(usize),
}

impl Shape {
    /// The array shape of a batch of `batch` samples.
    pub fn with_batch(&self, batch: usize) -> Vec<usize> {
        match *self {
            Shape::Signal { channels, length } => vec![batch, channels, length],
            Shape::Features(n) => vec![batch, n],
        }
    }

    /// Number of scalars in one sample.
    pub fn size(&self) -> usize {
        match *self {
            Shape::Signal { channels, length } => channels * length,
            Shape::Features(n) => n,
        }
    }

    /// The channel count (features count as channels for BatchNormalization).
    pub fn channels(&self) -> usize {
        match *self {
            Shape::Signal { channels, .. } => channels,
            Shape::Features(n) => n,
        }
    }
}

impl fmt::Display for Shape {
    /// Keras-like, with `None` for the batch axis: `(None, 32, 1040)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Shape::Signal { channels, length } => write!(f, "(None, {channels}, {length})"),
            Shape::Features(n) => write!(f, "(None, {n})"),
        }
    }
}
