//! The real matrices of a Fourier tile: a correlation of an `r`-tap kernel
//! with a tile of `n` inputs (`n` a power of two), giving `m = n - r + 1`
//! outputs through point-by-point products.
//!
//! The circular correlation of the tile with the zero-padded kernel is
//! `c = IDFT(conj(Ŵ) · X̂)`, and its first `m` values wrap around nothing,
//! so they are the correlation's outputs. The DFT of a real tile has two
//! real bins (0 and `n / 2`) and `n / 2 - 1` complex ones. Each complex
//! product `(a + ib)(c + id)` is taken with Gauss's three real products,
//! `k1 = c (a + b)`, `k2 = a (d - c)`, `k3 = b (c + d)`, whose sums give
//! `Re = k1 - k3` and `Im = k1 + k2`: `P = 2 + 3 (n / 2 - 1)` real points
//! in all. Written as matrices, as Winograd's algorithms are:
//! `y = Aᵀ [(G w) ⊙ (Bᵀ x)]`, with `Bᵀ` (`P x n`) the input's transform,
//! `G` (`P x r`) the kernel's (with the inverse's `1 / n` and the factor 2
//! of the complex bins), `Aᵀ` (`m x P`) the output's.
//!
//! Unlike Winograd's real interpolation points, the DFT's are the roots of
//! unity, where the transforms are unitary up to scale: no entry exceeds 2
//! and nothing is amplified, so the float32 outputs land about as far from
//! the exact sum as the direct GEMM's (`fourier/tests.rs`; measured by
//! `benches/reference/fourier_tiles.py`), where Winograd's F(4, 3) lands
//! 2–3 times as far.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::{Arc, Mutex, OnceLock};

use crate::Float;

/// The three matrices of one tiling, row-major, rounded from f64 once.
#[derive(Debug, Clone)]
pub(super) struct TileMatrices<T> {
    /// Inputs per tile.
    pub(super) n: usize,
    /// Kernel taps.
    pub(super) taps: usize,
    /// Outputs per tile: `n - taps + 1`.
    pub(super) outputs: usize,
    /// Real points: `2 + 3 (n / 2 - 1)`.
    pub(super) points: usize,
    /// `Bᵀ`, `points x n`.
    pub(super) input: Vec<T>,
    /// `G`, `points x taps`.
    pub(super) kernel: Vec<T>,
    /// `Aᵀ`, `outputs x points`.
    pub(super) output: Vec<T>,
}

/// Real points of a tile of `n` inputs.
pub(super) fn points(n: usize) -> usize {
    2 + 3 * (n / 2 - 1)
}

impl<T: Float> TileMatrices<T> {
    /// The points whose transformed values are sums (of tiles) or
    /// differences (of output gradients) of two others: `(first, a, b)`
    /// for the runs `first..points`, `a..`, `b..`, each `n / 2 - 1` long.
    /// `Bᵀ`'s row `first + k` is row `a + k` plus row `b + k`, and `Aᵀ`'s
    /// column `first + k` is column `a + k` minus column `b + k`.
    pub(super) fn sums(&self) -> (usize, usize, usize) {
        let bins = self.n / 2 - 1;
        (2 + 2 * bins, 2, 2 + bins)
    }
}

/// The f64 matrices by `(n, taps)`.
type ExactByTiling = HashMap<(usize, usize), Arc<TileMatrices<f64>>>;

/// Each tiling's matrices in f64, computed once per process: a tile of
/// 64 inputs takes 12,000 sines and cosines, which every call of a
/// layer would otherwise repeat.
fn exact(n: usize, taps: usize) -> Arc<TileMatrices<f64>> {
    static CACHE: OnceLock<Mutex<ExactByTiling>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    // A poisoned lock still holds finished entries: each is inserted whole.
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry((n, taps))
        .or_insert_with(|| Arc::new(TileMatrices::compute(n, taps)))
        .clone()
}

impl<T: Float> TileMatrices<T> {
    /// The matrices for `taps`-tap kernels over tiles of `n` inputs
    /// (`n` an even number above `taps`; the caller picks a power of two),
    /// rounded from f64 once.
    pub(super) fn new(n: usize, taps: usize) -> Self {
        let exact = exact(n, taps);
        let round = |values: &[f64]| values.iter().map(|&v| T::from_f64_lossy(v)).collect();
        Self {
            n,
            taps,
            outputs: exact.outputs,
            points: exact.points,
            input: round(&exact.input),
            kernel: round(&exact.kernel),
            output: round(&exact.output),
        }
    }
}

impl TileMatrices<f64> {
    /// The matrices in f64, from their definition.
    fn compute(n: usize, taps: usize) -> Self {
        debug_assert!(n.is_multiple_of(2) && n > taps && taps >= 1);
        let outputs = n - taps + 1;
        let points = points(n);
        let mut input = vec![0.0; points * n];
        let mut kernel = vec![0.0; points * taps];
        let mut output = vec![0.0; outputs * points];
        let angle = |k: usize, j: usize| 2.0 * PI * ((k * j) % n) as f64 / n as f64;
        let scale = 1.0 / n as f64;
        // The two real bins, 0 and n / 2, are points 0 and 1.
        for (point, bin) in [0, n / 2].into_iter().enumerate() {
            for j in 0..n {
                input[point * n + j] = angle(bin, j).cos();
            }
            for j in 0..taps {
                kernel[point * taps + j] = angle(bin, j).cos() * scale;
            }
            for i in 0..outputs {
                output[i * points + point] = angle(bin, i).cos();
            }
        }
        // X̂ = a + ib with a = Σ cos·x, b = -Σ sin·x; conj(Ŵ) = c + id with
        // c = Σ cos·w, d = Σ sin·w (times 2 / n: the bin and its mirror);
        // the output adds Re·cos - Im·sin. The points come in three runs,
        // k2 (`a`) for every bin, then k3 (`b`), then k1 (`a + b`): the
        // first `n` rows of `Bᵀ` are the real DFT, and the last run's
        // transformed tiles are sums of the first two's ([`Self::sums`]).
        let bins = n / 2 - 1;
        for bin in 1..n / 2 {
            let k2 = 2 + (bin - 1);
            let (k3, k1) = (k2 + bins, k2 + 2 * bins);
            for j in 0..n {
                let (a, b) = (angle(bin, j).cos(), -angle(bin, j).sin());
                input[k1 * n + j] = a + b;
                input[k2 * n + j] = a;
                input[k3 * n + j] = b;
            }
            for j in 0..taps {
                let c = angle(bin, j).cos() * 2.0 * scale;
                let d = angle(bin, j).sin() * 2.0 * scale;
                kernel[k1 * taps + j] = c;
                kernel[k2 * taps + j] = d - c;
                kernel[k3 * taps + j] = c + d;
            }
            for i in 0..outputs {
                let (cos, sin) = (angle(bin, i).cos(), angle(bin, i).sin());
                output[i * points + k1] = cos - sin;
                output[i * points + k2] = -sin;
                output[i * points + k3] = -cos;
            }
        }
        Self {
            n,
            taps,
            outputs,
            points,
            input,
            kernel,
            output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Aᵀ [(G w) ⊙ (Bᵀ x)]` against the correlation summed directly.
    fn tile_correlation_error(n: usize, taps: usize) -> f64 {
        let t = TileMatrices::<f64>::new(n, taps);
        let x: Vec<f64> = (0..n).map(|j| ((j * 7 + 3) % 11) as f64 - 5.0).collect();
        let w: Vec<f64> = (0..taps).map(|j| ((j * 5 + 1) % 7) as f64 - 3.0).collect();
        let products: Vec<f64> = (0..t.points)
            .map(|p| {
                let v: f64 = (0..n).map(|j| t.input[p * n + j] * x[j]).sum();
                let u: f64 = (0..taps).map(|j| t.kernel[p * taps + j] * w[j]).sum();
                u * v
            })
            .collect();
        (0..t.outputs)
            .map(|i| {
                let exact: f64 = (0..taps).map(|j| w[j] * x[i + j]).sum();
                let tiled: f64 = (0..t.points)
                    .map(|p| t.output[i * t.points + p] * products[p])
                    .sum();
                (exact - tiled).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn a_tile_s_products_give_the_correlation() {
        for (n, taps) in [
            (8, 3),
            (8, 4),
            (16, 5),
            (16, 8),
            (16, 12),
            (18, 4),
            (20, 5),
            (22, 8),
            (30, 16),
            (32, 10),
            (64, 33),
        ] {
            let error = tile_correlation_error(n, taps);
            assert!(error < 1e-11, "n {n}, {taps} taps: off by {error}");
        }
    }

    #[test]
    fn the_last_points_are_sums_and_differences_of_the_others() {
        for (n, taps) in [(16, 8), (20, 5), (22, 8)] {
            the_last_points_are_sums_and_differences(&TileMatrices::<f64>::new(n, taps));
        }
    }

    fn the_last_points_are_sums_and_differences(t: &TileMatrices<f64>) {
        let (first, a, b) = t.sums();
        assert_eq!(first, t.n);
        for k in 0..first - b {
            for j in 0..t.n {
                let (sum, x, y) = (first + k, a + k, b + k);
                let want = t.input[x * t.n + j] + t.input[y * t.n + j];
                assert!((t.input[sum * t.n + j] - want).abs() < 1e-15);
            }
            for i in 0..t.outputs {
                let row = &t.output[i * t.points..][..t.points];
                let want = row[a + k] - row[b + k];
                assert!((row[first + k] - want).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn no_entry_exceeds_two() {
        let t = TileMatrices::<f64>::new(16, 8);
        assert_eq!((t.outputs, t.points), (9, 23));
        let largest = t
            .input
            .iter()
            .chain(&t.output)
            .chain(&t.kernel)
            .fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(largest <= 2.0 + 1e-12, "{largest}");
    }
}
