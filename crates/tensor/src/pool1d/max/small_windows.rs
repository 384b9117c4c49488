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
//! The winning taps, which backward finds again and InceptionTime's pool
//! keeps, take the same one-pass shape ([`window_winners`]), and so does
//! backward's gradient: each input sums, in registers, the gradients of
//! the windows whose winning tap reads it ([`gather_by_taps`]), where the
//! tap-by-tap scatter reads and rewrites every input once per tap. The
//! winners are a run of contiguous `u32` loads per tap, so the loop
//! vectorizes. Together they halved the time of the answer's pool
//! backward and cut the kept-taps forward to under a third
//! (`cargo bench --bench kernels -- max_pool_3`).
//!
//! A comparison that lets NaN win ([`beats`]) costs three vector compares
//! and two masks per tap where a plain `>` costs one. Without a NaN among
//! the inputs the two agree exactly, so each run of inputs is first
//! checked for NaN in one cheap pass ([`may_hold_nan`]) and compared with
//! `>` when it holds none: the answer's pools in inference took about
//! half the time, with the same maxima and winners.

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
    if may_hold_nan(inputs) {
        maxima_by::<T, N>(inputs, ys, beats);
    } else {
        maxima_by::<T, N>(inputs, ys, |value, best| value > best);
    }
}

/// [`maxima`] with the comparison `better`: [`beats`], or `>` where the
/// inputs hold no NaN (the same answers there). Inlined into each caller
/// so that each comparison gets its own vectorized loop.
#[inline(always)]
fn maxima_by<T: Float, const N: usize>(inputs: &[T], ys: &mut [T], better: impl Fn(T, T) -> bool) {
    for (j, y) in ys.iter_mut().enumerate() {
        let window = &inputs[j..j + N];
        let mut best = window[0];
        for &value in &window[1..] {
            best = if better(value, best) { value } else { best };
        }
        *y = best;
    }
}

/// Whether `values` may hold a NaN: true when one does, and also when one
/// holds an infinity (`∞ · 0` is NaN), where the callers take the
/// comparison that handles NaN, which is right for any input. One pass
/// of products with zero summed in lanes, which vectorizes, without a
/// branch per value.
pub(super) fn may_hold_nan<T: Float>(values: &[T]) -> bool {
    const LANES: usize = 16;
    let mut lanes = [T::zero(); LANES];
    let mut blocks = values.chunks_exact(LANES);
    for block in &mut blocks {
        for k in 0..LANES {
            lanes[k] += block[k] * T::zero();
        }
    }
    let tail = blocks
        .remainder()
        .iter()
        .fold(T::zero(), |sum, &v| sum + v * T::zero());
    lanes.iter().fold(tail, |sum, &v| sum + v).is_nan()
}

/// `ys[j]` = the maximum of `inputs[j..j + taps]` and `winners[j]` the tap
/// that won (`0..taps`), compared in tap order as [`window_maxima`] does,
/// so the same maxima and the same winners as the tap-by-tap passes.
/// Returns false, doing nothing, when `taps` is not in `2..=4`.
pub(super) fn window_winners<T: Float>(
    inputs: &[T],
    taps: usize,
    ys: &mut [T],
    winners: &mut [u32],
) -> bool {
    match taps {
        2 => winners_of::<T, 2>(inputs, ys, winners),
        3 => winners_of::<T, 3>(inputs, ys, winners),
        4 => winners_of::<T, 4>(inputs, ys, winners),
        _ => return false,
    }
    true
}

fn winners_of<T: Float, const N: usize>(inputs: &[T], ys: &mut [T], winners: &mut [u32]) {
    // As in `maxima`: one slicing up front, and the loop over outputs
    // vectorizes with each window's best value and tap in registers.
    let count = ys.len().min(winners.len());
    let inputs = &inputs[..count + N - 1];
    let (ys, winners) = (&mut ys[..count], &mut winners[..count]);
    if may_hold_nan(inputs) {
        winners_by::<T, N>(inputs, ys, winners, beats);
    } else {
        winners_by::<T, N>(inputs, ys, winners, |value, best| value > best);
    }
}

/// [`winners_of`] with the comparison `better` (see [`maxima_by`]).
#[inline(always)]
fn winners_by<T: Float, const N: usize>(
    inputs: &[T],
    ys: &mut [T],
    winners: &mut [u32],
    better: impl Fn(T, T) -> bool,
) {
    for (j, (y, winner)) in ys.iter_mut().zip(winners.iter_mut()).enumerate() {
        let window = &inputs[j..j + N];
        let (mut best, mut tap) = (window[0], 0u32);
        for (t, &value) in window.iter().enumerate().skip(1) {
            let better = better(value, best);
            best = if better { value } else { best };
            // `t` is below N, at most 4.
            tap = if better { t as u32 } else { tap };
        }
        *y = best;
        *winner = tap;
    }
}

/// The interior of a stride-1 pool's input gradient in one pass:
/// `targets[j]` gets the sum, over taps `t` from the last to the first, of
/// `gy[p]` where `winners[p] == t`, for window `p = first_window + j +
/// taps - 1 - t` (the one whose tap `t` reads that input), added in that
/// order onto zero: the order and so the bits of
/// [`super::rows::scatter_tap_by_tap`]. Every such window must lie in
/// `gy` (the caller keeps to the interior). Returns false, doing nothing,
/// when `taps` is not in `2..=4`.
pub(super) fn gather_by_taps<T: Float>(
    gy: &[T],
    winners: &[u32],
    taps: usize,
    targets: &mut [T],
    first_window: usize,
) -> bool {
    let args = (gy, winners, first_window);
    match taps {
        2 => gather_of::<T, 2>(args, targets),
        3 => gather_of::<T, 3>(args, targets),
        4 => gather_of::<T, 4>(args, targets),
        _ => return false,
    }
    true
}

/// [`gather_by_taps`] for `N` taps; `first_window` is the window whose
/// last tap reads `targets[0]`.
fn gather_of<T: Float, const N: usize>(
    (gy, winners, first_window): (&[T], &[u32], usize),
    targets: &mut [T],
) {
    let span = targets.len() + N - 1;
    let gy = &gy[first_window..first_window + span];
    let winners = &winners[first_window..first_window + span];
    for (j, target) in targets.iter_mut().enumerate() {
        // Windows `first_window + j + k` for k in 0..N read this input,
        // window k through tap `N - 1 - k`: the last tap first.
        let (gy, winners) = (&gy[j..j + N], &winners[j..j + N]);
        let mut total = T::zero();
        for k in 0..N {
            let won = winners[k] == (N - 1 - k) as u32;
            total += if won { gy[k] } else { T::zero() };
        }
        *target = total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each window's maximum and winning tap by [`beats`], one window at a
    /// time: what both comparisons must give.
    fn by_definition(inputs: &[f32], taps: usize, out: usize) -> (Vec<u32>, Vec<u32>) {
        (0..out)
            .map(|j| {
                let mut tap = 0;
                for t in 1..taps {
                    if beats(inputs[j + t], inputs[j + tap]) {
                        tap = t;
                    }
                }
                (inputs[j + tap].to_bits(), tap as u32)
            })
            .unzip()
    }

    #[test]
    fn maxima_and_winners_match_the_definition_with_and_without_nan() {
        // 53 outputs: three blocks of 16 lanes and a tail. Ties, zeros of
        // both signs, and in turn nothing else, an infinity (which takes
        // the path that handles NaN) and a NaN at the start, middle and end.
        let base: Vec<f32> = (0..56)
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => -0.0,
                2 | 3 => 1.5,
                k => (k as f32 - 5.0) * ((i as f32) * 0.3).sin(),
            })
            .collect();
        let mut cases = vec![base.clone()];
        for (position, value) in [
            (20, f32::INFINITY),
            (21, f32::NEG_INFINITY),
            (0, f32::NAN),
            (30, f32::NAN),
            (55, f32::NAN),
        ] {
            let mut case = base.clone();
            case[position] = value;
            cases.push(case);
        }
        for inputs in &cases {
            for taps in 2..=4 {
                let out = inputs.len() + 1 - taps;
                let (want_values, want_taps) = by_definition(inputs, taps, out);
                let mut ys = vec![7.0f32; out];
                assert!(window_maxima(inputs, taps, &mut ys));
                let bits: Vec<u32> = ys.iter().map(|v| v.to_bits()).collect();
                assert_eq!(bits, want_values, "{taps} taps");
                let mut winners = vec![9u32; out];
                assert!(window_winners(inputs, taps, &mut ys, &mut winners));
                let bits: Vec<u32> = ys.iter().map(|v| v.to_bits()).collect();
                assert_eq!(bits, want_values, "{taps} taps");
                assert_eq!(winners, want_taps, "{taps} taps");
            }
        }
        assert!(!may_hold_nan(&base));
        assert!(cases[1..].iter().all(|case| may_hold_nan(case)));
    }
}
