//! How many inputs a Fourier tile takes, from a cost model of the forward
//! pass's GEMMs, in inference.
//!
//! A wider tile gives more outputs per product: `P / m` falls from 2.56 at
//! 16 inputs for an 8-tap kernel to 2.13 at 22. Its transforms cost more
//! per output, and the GEMM that lands a tile's `m` outputs in rows runs
//! in blocks of [`GEMM_ROWS`] (9 of 16 in use at 16 inputs and 8 taps, 15
//! at 22). So a forward pass can gain from a tile widened until its
//! outputs fill a block.
//!
//! Training keeps the power of two, in both passes. With 22-input tiles in
//! its forward pass, ResNet's float32 gradients moved, and one of them,
//! `block2_bn_y/gamma` with ELU, went from 1.05 to 2.08 times PyTorch's
//! distance from float64, past the accuracy test's bound of 2
//! (`tests/parity/f32_accuracy.rs`). Backward would also spill its tile
//! gradients (`n` per tile) into a second block. Inference's output
//! stayed as close (ResNet 1.60e-6 from float64 either way).

use super::matrices::points;
use super::TRANSFORM_WEIGHT;

/// Rows of the GEMM's f32 microkernel, in which a transform writing a
/// tile's values into rows runs: one AVX-512 register (two AVX2 ones).
const GEMM_ROWS: usize = 16;

/// How much cheaper per output a wider tile must model than the power of
/// two to be taken, `(parts, whole)`: a tenth. The model counts
/// multiply-adds, not the caches or the GEMM's packing; FCN's 128 -> 256,
/// 5-tap forward pass, modelled 3% cheaper at 20 inputs, ran no faster
/// (criterion `short_kernels`, alternated steps), and ResNet's 8-tap
/// ones, modelled 11–12% cheaper at 22, ran 1–8% faster.
const MARGIN: (usize, usize) = (1, 10);

/// Which mode a tile is chosen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::conv1d) enum Pass {
    /// Training's forward and backward passes: the power of two.
    Training,
    /// Inference's forward pass: the cost model's choice.
    Inference,
}

/// The tile of the power of two at least twice the kernel, 8 at least: at
/// least half a tile's inputs give outputs. It decides whether the method
/// takes a layer at all ([`super::applies`]), and is what a pass takes
/// unless the cost model finds a wider tile cheaper.
pub(super) fn power_of_two_tile(taps: usize) -> usize {
    (2 * taps).next_power_of_two().max(8)
}

/// Inputs per tile for `pass` of a `taps`-tap convolution from
/// `in_channels` to `out_channels`: in training the power of two; in
/// inference, of the wider even tiles whose outputs still fit one block
/// of [`GEMM_ROWS`] (so for kernels of up to 8 taps: from 9 taps the
/// power of two's outputs fill more than a block), the one of least modelled cost per output (the narrowest on a
/// tie) if it beats the power-of-two tile by [`MARGIN`], else the power of
/// two.
pub(super) fn tile_inputs(
    taps: usize,
    in_channels: usize,
    out_channels: usize,
    pass: Pass,
) -> usize {
    let base = power_of_two_tile(taps);
    if pass == Pass::Training {
        return base;
    }
    let cost = |n: usize| cost_times_outputs(n, taps, in_channels, out_channels);
    let outputs = |n: usize| n - taps + 1;
    let widest = taps + GEMM_ROWS - 1;
    let mut best = (base, cost(base));
    for n in (base + 2..=widest).step_by(2) {
        // cost / m < best_cost / best_m, in integers.
        let (best_n, best_cost) = best;
        if cost(n) * outputs(best_n) < best_cost * outputs(n) {
            best = (n, cost(n));
        }
    }
    // Widened only when modelled at least MARGIN cheaper per output.
    let (n, wide_cost) = best;
    let (parts, whole) = MARGIN;
    if whole * wide_cost * outputs(base) <= (whole - parts) * cost(base) * outputs(n) {
        n
    } else {
        base
    }
}

/// Modelled multiply-adds per output position of a forward pass through
/// tiles of `n` inputs, times the tile's `m` outputs (to stay in
/// integers). Per tile: `P` products per channel pair; the input
/// transform's `n P` per input channel; the output transform's `P` per
/// output row written, in whole blocks of [`GEMM_ROWS`]. The transforms
/// weigh [`TRANSFORM_WEIGHT`] times a product, as in [`super::applies`].
fn cost_times_outputs(n: usize, taps: usize, in_channels: usize, out_channels: usize) -> usize {
    let (m, p) = (n - taps + 1, points(n));
    let blocks = m.next_multiple_of(GEMM_ROWS);
    let transforms = n * p * in_channels + p * blocks * out_channels;
    p * in_channels * out_channels + TRANSFORM_WEIGHT * transforms
}

#[cfg(test)]
mod tests {
    use super::{power_of_two_tile, tile_inputs, Pass};

    /// Inference widens ResNet's 8-tap tiles until their outputs fill a
    /// block (15 of 16 at 22 inputs, modelled 11–12% cheaper); FCN's 5-tap
    /// one, modelled 3% cheaper at 20, keeps 16; training keeps the power
    /// of two.
    #[test]
    fn inference_widens_resnet_s_eight_tap_tiles_only() {
        assert_eq!(tile_inputs(8, 128, 128, Pass::Inference), 22);
        assert_eq!(tile_inputs(8, 64, 128, Pass::Inference), 22);
        assert_eq!(tile_inputs(5, 128, 256, Pass::Inference), 16);
        assert_eq!(tile_inputs(5, 128, 128, Pass::Inference), 16);
        assert_eq!(tile_inputs(8, 128, 128, Pass::Training), 16);
    }

    /// Few channels make the products cheap against the transforms,
    /// which grow with the tile: nothing widens.
    #[test]
    fn few_channels_keep_the_power_of_two() {
        for taps in 4..=15 {
            assert_eq!(
                tile_inputs(taps, 16, 16, Pass::Inference),
                power_of_two_tile(taps)
            );
        }
    }

    /// Kernels of 9 taps or more have outputs past one block already at
    /// the power of two (17 or more), which they keep: InceptionTime's
    /// 10- and 20-tap branches among them, at 32 and 64 inputs.
    #[test]
    fn long_kernels_keep_the_power_of_two() {
        for taps in 9..=32 {
            let n = tile_inputs(taps, 128, 128, Pass::Inference);
            assert_eq!(n, power_of_two_tile(taps));
        }
    }

    /// Every choice is even (the matrices' real bins need it), longer than
    /// the kernel, and at least the power of two.
    #[test]
    fn every_choice_is_an_even_tile_at_least_the_power_of_two() {
        for taps in 1..=32 {
            for (cin, cout) in [(1, 1), (1, 128), (16, 32), (128, 256), (512, 512)] {
                let n = tile_inputs(taps, cin, cout, Pass::Inference);
                assert!(n.is_multiple_of(2) && n > taps && n >= power_of_two_tile(taps));
            }
        }
    }
}
