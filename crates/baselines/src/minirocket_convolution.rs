//! MiniRocket's convolutions, computed as the reference code does.
//!
//! Every kernel weighs -1 on its nine taps except three that weigh 2, so
//! its output is `alpha + gamma[a] + gamma[b] + gamma[c]`, where `alpha` is
//! `-x` summed over the nine dilated taps and `gamma[k]` is `3x` shifted to
//! tap `k`. Both are computed once per channel and dilation; each of the
//! 84 kernels then costs three additions per point instead of nine
//! multiply-adds. The additions run in the reference's order (the centre
//! tap, the four before it, the four after), so kymo's outputs round as
//! the reference's do.

use std::ops::Range;

/// The 84 kernels: which three of the nine taps weigh 2.
pub(crate) fn kernel_taps() -> Vec<[usize; 3]> {
    let mut taps = Vec::with_capacity(84);
    for a in 0..9 {
        for b in a + 1..9 {
            for c in b + 1..9 {
                taps.push([a, b, c]);
            }
        }
    }
    taps
}

/// One channel's `alpha` and nine `gamma` rows at one dilation.
#[derive(Debug, Clone)]
pub(crate) struct DilatedChannel {
    alpha: Vec<f32>,
    gamma: [Vec<f32>; 9],
}

impl DilatedChannel {
    /// Zeroed rows for signals of `length` points.
    pub(crate) fn new(length: usize) -> Self {
        Self {
            alpha: vec![0.0; length],
            gamma: std::array::from_fn(|_| vec![0.0; length]),
        }
    }

    /// Fills the rows for `signal` at `dilation`: tap `k` reads
    /// `signal[t + (k - 4) * dilation]`, zero outside the signal.
    pub(crate) fn compute(&mut self, signal: &[f32], dilation: usize) {
        let length = signal.len();
        for (a, &x) in self.alpha.iter_mut().zip(signal) {
            *a = -x;
        }
        // The centre tap first, then 0..4 and 5..9, as the reference adds them.
        for k in (0..4).chain(5..9) {
            let gamma = &mut self.gamma[k];
            gamma.fill(0.0);
            let offset = (k as isize - 4) * dilation as isize;
            let shift = offset.unsigned_abs().min(length);
            let (targets, sources) = if offset < 0 {
                (shift..length, 0..length - shift)
            } else {
                (0..length - shift, shift..length)
            };
            for (t, s) in targets.zip(sources) {
                self.alpha[t] += -signal[s];
                gamma[t] = signal[s] + signal[s] + signal[s];
            }
        }
        for (g, &x) in self.gamma[4].iter_mut().zip(signal) {
            *g = x + x + x;
        }
    }

    /// Writes the output of the kernel whose 2-taps are `taps` at the
    /// points `range` to `out[range]` (a kernel whose features read only
    /// the unpadded part is computed only there).
    pub(crate) fn write_kernel(&self, taps: [usize; 3], range: Range<usize>, out: &mut [f32]) {
        let [a, b, c] = taps.map(|k| &self.gamma[k][range.clone()]);
        dispatch!(kernel_sum(
            &self.alpha[range.clone()],
            a,
            b,
            c,
            &mut out[range],
            false
        ))
    }

    /// Adds the output of the kernel whose 2-taps are `taps` at the points
    /// `range` to `out[range]`.
    pub(crate) fn add_kernel(&self, taps: [usize; 3], range: Range<usize>, out: &mut [f32]) {
        let [a, b, c] = taps.map(|k| &self.gamma[k][range.clone()]);
        dispatch!(kernel_sum(
            &self.alpha[range.clone()],
            a,
            b,
            c,
            &mut out[range],
            true
        ))
    }
}

/// Calls `$function` compiled for AVX-512 or AVX2 where the CPU has them,
/// else for the baseline target. Only additions and comparisons run inside,
/// which every width rounds exactly as SSE2 does, so the results are the
/// same bits on every CPU.
macro_rules! dispatch {
    ($function:ident($($argument:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            #[target_feature(enable = "avx2")]
            unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU was just found to support AVX-512F.
                unsafe { with_avx512(#[inline(always)] || $function($($argument),*)) }
            } else if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU was just found to support AVX2.
                unsafe { with_avx2(#[inline(always)] || $function($($argument),*)) }
            } else {
                $function($($argument),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $function($($argument),*)
        }
    }};
}
use dispatch;

/// `out = alpha + a + b + c` (or `out +=` it when `accumulate`), added
/// left to right as the reference does. Slicing to one length first lets
/// the compiler drop the bounds checks and vectorize.
#[inline(always)]
fn kernel_sum(alpha: &[f32], a: &[f32], b: &[f32], c: &[f32], out: &mut [f32], accumulate: bool) {
    let n = out.len();
    let (alpha, a, b, c) = (&alpha[..n], &a[..n], &b[..n], &c[..n]);
    if accumulate {
        for i in 0..n {
            out[i] += alpha[i] + a[i] + b[i] + c[i];
        }
    } else {
        for i in 0..n {
            out[i] = alpha[i] + a[i] + b[i] + c[i];
        }
    }
}

/// How many of `values` exceed `bias`.
pub(crate) fn count_above(values: &[f32], bias: f32) -> usize {
    dispatch!(count_greater(values, bias))
}

/// Counts in 32-bit lanes, which the compiler vectorizes eight to a register.
#[inline(always)]
fn count_greater(values: &[f32], bias: f32) -> usize {
    values.iter().map(|&v| u32::from(v > bias)).sum::<u32>() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's output by its definition: weights -1 and 2 on the taps.
    fn direct(signal: &[f32], dilation: usize, taps: [usize; 3]) -> Vec<f32> {
        let n = signal.len() as isize;
        (0..signal.len())
            .map(|t| {
                (0..9usize)
                    .map(|k| {
                        let at = t as isize + (k as isize - 4) * dilation as isize;
                        let weight = if taps.contains(&k) { 2.0 } else { -1.0 };
                        if (0..n).contains(&at) {
                            weight * signal[at as usize]
                        } else {
                            0.0
                        }
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn every_kernel_matches_its_direct_sum_at_every_dilation() {
        let signal: Vec<f32> = (0..40).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let mut channel = DilatedChannel::new(40);
        let mut out = vec![0.0; 40];
        for dilation in [1, 2, 3, 4, 39, 50] {
            channel.compute(&signal, dilation);
            for taps in kernel_taps() {
                channel.write_kernel(taps, 0..40, &mut out);
                // Small integers: both orders of addition are exact.
                assert_eq!(out, direct(&signal, dilation, taps), "{dilation} {taps:?}");
            }
        }
        assert_eq!(kernel_taps().len(), 84);
    }

    #[test]
    fn weights_sum_to_zero_so_a_constant_gives_zero_inside() {
        let mut channel = DilatedChannel::new(40);
        channel.compute(&[5.0; 40], 2);
        let mut out = vec![1.0; 40];
        channel.write_kernel([1, 2, 3], 0..40, &mut out);
        assert_eq!(out[20], 0.0);
        assert_ne!(out[0], 0.0, "taps outside the signal read zero");
        assert_eq!(count_above(&out[8..32], -0.5), 24);
        assert_eq!(count_above(&out[8..32], 0.0), 0);
    }
}
