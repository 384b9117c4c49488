//! The one-pass forward kernel for the interior of small stride-1 max
//! pools (the answer's pools of 2 and 3 taps).
//!
//! The general stride-1 scan goes tap by tap over a run of outputs: it
//! copies the first tap's inputs, then reads and rewrites every maximum
//! once per further tap. For a window of `N` taps known at compile time,
//! each output compares its `N` inputs in registers and is stored once:
//! the answer's pooling forward took 20-30% less time. The comparisons run
//! in the same tap order, so the maxima are the same bits.
//!
//! Backward keeps the tap-by-tap passes: the same one-pass shape for the
//! winning taps, and a gather of each input's gradients, measured 30-50%
//! slower for pools of 3 (the compiler left the gather scalar).

use super::rows::beats;
use crate::Float;

/// `ys[j]` = the maximum of `inputs[j..j + taps]`, compared in tap order
/// (ties keep the earlier input, NaN wins). Returns false, doing nothing,
/// when `taps` is not in `2..=4`.
pub(super) fn window_maxima<T: Float>(inputs: &[T], taps: usize, ys: &mut [T]) -> bool {
    match taps {
        2 => maxima::<T, 2>(inputs, ys),
        3 => maxima::<T, 3>(inputs, ys),
        4 => maxima::<T, 4>(inputs, ys),
        _ => return false,
    }
    true
}

fn maxima<T: Float, const N: usize>(inputs: &[T], ys: &mut [T]) {
    // Slicing once up front lets the compiler drop the bounds checks in
    // the loop, which then vectorizes across outputs.
    let inputs = &inputs[..ys.len() + N - 1];
    for (j, y) in ys.iter_mut().enumerate() {
        let window = &inputs[j..j + N];
        let mut best = window[0];
        for &value in &window[1..] {
            best = if beats(value, best) { value } else { best };
        }
        *y = best;
    }
}
