//! Keras's `same`, `valid` and `causal` padding arithmetic, shared by conv
//! and pool.

use serde::{Deserialize, Serialize};

use crate::TensorError;

/// How a sliding window treats the signal's ends, as Keras spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: windows must fit inside the input.
    #[default]
    Valid,
    /// Pad so that the output has `ceil(length / stride)` positions; the
    /// extra element of an odd total goes on the right (TensorFlow's rule).
    Same,
    /// Pad the window's span less one (`(size - 1) * dilation`) on the left
    /// only, so that output `t` reads no input after `t`: Keras's `causal`,
    /// for Conv1D (Keras refuses it for pooling, and so do kymo's pools).
    /// `ceil(length / stride)` positions, as `same`.
    Causal,
}

impl Padding {
    /// The name Keras gives this padding (`"valid"`, `"same"`, `"causal"`).
    pub fn keras_name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
            Padding::Causal => "causal",
        }
    }
}

/// The resolved geometry of one sliding window over one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Input length.
    pub input_length: usize,
    /// Window (kernel or pool) size in taps.
    pub size: usize,
    /// Step between consecutive windows.
    pub stride: usize,
    /// Gap between taps (1 for contiguous taps).
    pub dilation: usize,
    /// Elements of padding before the first input element.
    pub pad_left: usize,
    /// Elements of padding after the last input element.
    pub pad_right: usize,
    /// Number of output positions.
    pub output_length: usize,
}

impl Window {
    /// Resolves Keras's padding rule for one axis.
    ///
    /// `same`: `out = ceil(L / stride)`, total padding
    /// `max((out - 1) * stride + effective_size - L, 0)`, `floor(total / 2)`
    /// on the left. `valid`: `out = floor((L - effective_size) / stride) + 1`.
    /// `causal`: `effective_size - 1` on the left, none on the right, so
    /// `out = ceil(L / stride)`. `effective_size = (size - 1) * dilation + 1`.
    pub fn new(
        kernel: &'static str,
        input_length: usize,
        size: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
    ) -> Result<Self, TensorError> {
        let config = |field, reason: String| TensorError::Config {
            kernel,
            field,
            reason,
        };
        if size == 0 {
            return Err(config("size", "must be at least 1".into()));
        }
        if stride == 0 {
            return Err(config("stride", "must be at least 1".into()));
        }
        if dilation == 0 {
            return Err(config("dilation", "must be at least 1".into()));
        }
        if input_length == 0 {
            return Err(config("input_length", "must be at least 1".into()));
        }
        // Checked: a hostile spec's size and dilation near `usize::MAX` must
        // be an error here, not a wrapped window that passes the checks.
        let overflow = |what: &str| {
            config(
                "size",
                format!(
                    "{what} overflows (size {size}, dilation {dilation}, stride {stride}, \
                     input {input_length})"
                ),
            )
        };
        let effective = (size - 1)
            .checked_mul(dilation)
            .and_then(|span| span.checked_add(1))
            .ok_or_else(|| overflow("the window's span"))?;
        let (output_length, pad_left, pad_right) = match padding {
            Padding::Valid => {
                if effective > input_length {
                    return Err(config(
                        "size",
                        format!(
                            "window spans {effective} points (size {size}, dilation {dilation}) \
                             but the input has only {input_length} with `valid` padding"
                        ),
                    ));
                }
                ((input_length - effective) / stride + 1, 0, 0)
            }
            Padding::Same => {
                let out = input_length.div_ceil(stride);
                let total = (out - 1)
                    .checked_mul(stride)
                    .and_then(|reach| reach.checked_add(effective))
                    .ok_or_else(|| overflow("the padded length"))?
                    .saturating_sub(input_length);
                (out, total / 2, total - total / 2)
            }
            // Keras pads the span less one on the left, then convolves as
            // `valid`: floor((L + span - 1 - span) / stride) + 1 positions.
            Padding::Causal => (input_length.div_ceil(stride), effective - 1, 0),
        };
        Ok(Self {
            input_length,
            size,
            stride,
            dilation,
            pad_left,
            pad_right,
            output_length,
        })
    }

    /// The input index that tap `tap` of output position `position` reads,
    /// or `None` where it falls into the padding.
    #[inline]
    pub fn input_index(&self, position: usize, tap: usize) -> Option<usize> {
        let padded = position * self.stride + tap * self.dilation;
        let index = padded.checked_sub(self.pad_left)?;
        (index < self.input_length).then_some(index)
    }

    /// The range of output positions whose tap `tap` lands inside the input
    /// (not in padding): a contiguous range because positions step evenly.
    pub fn valid_positions(&self, tap: usize) -> std::ops::Range<usize> {
        let offset = tap * self.dilation;
        // First position p with p*stride + offset >= pad_left.
        let first = self.pad_left.saturating_sub(offset).div_ceil(self.stride);
        // Last position p with p*stride + offset < pad_left + input_length.
        let limit = self.pad_left + self.input_length;
        let end = if offset >= limit {
            0
        } else {
            ((limit - offset - 1) / self.stride + 1).min(self.output_length)
        };
        first.min(end)..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(l: usize, k: usize, s: usize) -> Window {
        Window::new("test", l, k, s, 1, Padding::Same).expect("valid geometry")
    }

    #[test]
    fn same_pads_odd_totals_more_on_the_right() {
        // Even kernel, stride 1: total 1, all of it on the right (TensorFlow).
        let w = same(10, 2, 1);
        assert_eq!((w.output_length, w.pad_left, w.pad_right), (10, 0, 1));
        // The seed's first conv: kernel 100 on 1040 points.
        let w = same(1040, 100, 1);
        assert_eq!((w.output_length, w.pad_left, w.pad_right), (1040, 49, 50));
        // The seed's first pool: 70, stride 1.
        let w = same(1040, 70, 1);
        assert_eq!((w.pad_left, w.pad_right), (34, 35));
        // Odd kernel: symmetric.
        let w = same(10, 3, 1);
        assert_eq!((w.pad_left, w.pad_right), (1, 1));
    }

    #[test]
    fn same_with_stride_rounds_output_up() {
        let w = same(10, 3, 2);
        // out = ceil(10/2) = 5; total = (5-1)*2 + 3 - 10 = 1.
        assert_eq!((w.output_length, w.pad_left, w.pad_right), (5, 0, 1));
        let w = same(7, 2, 3);
        // out = 3; total = 2*3 + 2 - 7 = 1.
        assert_eq!((w.output_length, w.pad_left, w.pad_right), (3, 0, 1));
        // Total can be zero when windows already cover the input.
        let w = same(9, 3, 3);
        assert_eq!((w.output_length, w.pad_left, w.pad_right), (3, 0, 0));
    }

    #[test]
    fn causal_pads_the_span_on_the_left_only() {
        // Keras: Conv1D(kernel 3, dilation 2, 'causal') on 200 points keeps
        // 200; with stride 2 on 10 points, 5 (pad 4 + valid (14 - 5) / 2 + 1).
        let w = Window::new("test", 200, 3, 1, 2, Padding::Causal).expect("fits");
        assert_eq!((w.output_length, w.pad_left, w.pad_right), (200, 4, 0));
        let w = Window::new("test", 10, 3, 2, 2, Padding::Causal).expect("fits");
        assert_eq!((w.output_length, w.pad_left, w.pad_right), (5, 4, 0));
        // Output t reads inputs t - 4, t - 2 and t: none after t.
        let taps: Vec<_> = (0..3).map(|k| w.input_index(2, k)).collect();
        assert_eq!(taps, [Some(0), Some(2), Some(4)]);
        // A window longer than the input still fits: the padding holds it.
        let w = Window::new("test", 2, 5, 1, 1, Padding::Causal).expect("fits");
        assert_eq!((w.output_length, w.pad_left), (2, 4));
    }

    #[test]
    fn valid_floors_and_refuses_oversized_windows() {
        let w = Window::new("test", 10, 3, 2, 1, Padding::Valid).expect("fits");
        assert_eq!(w.output_length, 4);
        let w = Window::new("test", 10, 3, 1, 2, Padding::Valid).expect("fits");
        assert_eq!(w.output_length, 6); // effective size 5
        let err = Window::new("test", 4, 5, 1, 1, Padding::Valid).unwrap_err();
        assert!(matches!(err, TensorError::Config { field: "size", .. }));
    }

    #[test]
    fn zero_stride_is_an_error() {
        let err = Window::new("test", 4, 2, 0, 1, Padding::Same).unwrap_err();
        assert!(matches!(
            err,
            TensorError::Config {
                field: "stride",
                ..
            }
        ));
    }

    #[test]
    fn valid_positions_match_input_index() {
        for (l, k, s, d, p) in [
            (10, 3, 1, 1, Padding::Same),
            (11, 4, 2, 2, Padding::Same),
            (9, 2, 3, 1, Padding::Valid),
            (5, 7, 1, 1, Padding::Same),
        ] {
            let w = Window::new("test", l, k, s, d, p).expect("valid geometry");
            for tap in 0..k {
                let range = w.valid_positions(tap);
                for pos in 0..w.output_length {
                    assert_eq!(
                        range.contains(&pos),
                        w.input_index(pos, tap).is_some(),
                        "l={l} k={k} s={s} d={d} tap={tap} pos={pos}"
                    );
                }
            }
        }
    }
}
