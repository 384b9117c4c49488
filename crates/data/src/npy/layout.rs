//! Which axis of a three-dimensional `x.npy` holds the channels.
//!
//! PyTorch's `Conv1d` reads `[N, C, L]` and Keras's `Conv1D` reads
//! `[N, L, C]`; an array in either order is a user's honest data. The order
//! is read from the model the data is for where that settles it, and is
//! otherwise guessed from the shape, since a signal has more points than
//! channels.

/// The order of the two signal axes of a three-dimensional `x.npy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyLayout {
    /// `[N, C, L]`: channels, then points (PyTorch's order, and kymo's).
    ChannelsFirst,
    /// `[N, L, C]`: points, then channels (Keras's `channels_last`).
    ChannelsLast,
}

impl NpyLayout {
    /// The order in NumPy's terms, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            NpyLayout::ChannelsFirst => "(samples, channels, points), PyTorch's order",
            NpyLayout::ChannelsLast => "(samples, points, channels), Keras's order",
        }
    }
}

/// The layout of an `x.npy` whose signal axes are `axes` (its shape after
/// the sample axis), for a model that takes `model_input` as `(channels,
/// length)` when one is known:
///
/// - the reading that gives the model's input, when exactly one does;
///   Keras's when both do (a square signal: the order decides nothing a
///   shape can check);
/// - else an axis of 1 is the channel axis (one-channel data in either
///   order);
/// - else the shorter axis is the channel axis; a tie reads as
///   channels-first, kymo's own order.
///
/// A reading that does not give the model's input still leaves the model
/// and the data to the caller's shape checks, which say which side to fix.
pub fn infer_layout(axes: (usize, usize), model_input: Option<(usize, usize)>) -> NpyLayout {
    let (first, second) = axes;
    if let Some(input) = model_input {
        match (input == (first, second), input == (second, first)) {
            (true, false) => return NpyLayout::ChannelsFirst,
            (_, true) => return NpyLayout::ChannelsLast,
            (false, false) => {}
        }
    }
    if first == 1 {
        NpyLayout::ChannelsFirst
    } else if second == 1 || second < first {
        NpyLayout::ChannelsLast
    } else {
        NpyLayout::ChannelsFirst
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NpyLayout::{ChannelsFirst, ChannelsLast};

    #[test]
    fn the_model_settles_the_order_where_its_input_fits_one_reading() {
        // Keras's order for a one-channel model of 1040 points.
        assert_eq!(infer_layout((1040, 1), Some((1, 1040))), ChannelsLast);
        assert_eq!(infer_layout((1, 1040), Some((1, 1040))), ChannelsFirst);
        // Twelve channels of 8 points is not what a shape guess would say.
        assert_eq!(infer_layout((12, 8), Some((12, 8))), ChannelsFirst);
        assert_eq!(infer_layout((8, 12), Some((12, 8))), ChannelsLast);
        // Square: both readings fit, Keras's wins.
        assert_eq!(infer_layout((6, 6), Some((6, 6))), ChannelsLast);
    }

    #[test]
    fn without_a_fitting_model_the_shorter_axis_holds_the_channels() {
        assert_eq!(infer_layout((1, 300), None), ChannelsFirst);
        assert_eq!(infer_layout((300, 1), None), ChannelsLast);
        assert_eq!(infer_layout((3, 300), Some((1, 500))), ChannelsFirst);
        assert_eq!(infer_layout((300, 3), None), ChannelsLast);
        assert_eq!(infer_layout((1, 1), None), ChannelsFirst);
        assert_eq!(infer_layout((4, 4), None), ChannelsFirst);
    }
}
