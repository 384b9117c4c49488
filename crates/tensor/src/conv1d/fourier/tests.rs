//! Fourier tiles against the direct GEMM: the same sums in f64 over every
//! geometry they take, and about the same rounding in f32.

use ndarray::{Array1, Array3};

use super::super::tests::{agrees_with_direct, pass};
use super::super::{Conv1dConfig, Conv1dWorkspace, Method};
use crate::Padding;

/// Every kernel the method computes (1 to 32 taps: tiles of 8 to 64
/// inputs), on every padding (`causal` puts all of it on the left),
/// signals whose outputs fill the last tile or not, signals shorter than
/// a tile, several chunks of samples.
#[test]
fn fourier_method_agrees_with_the_direct_one() {
    let signals = [
        (3, 40, Padding::Same),
        (2, 13, Padding::Same),
        (6, 23, Padding::Valid),
        (1, 2, Padding::Same),
        (9, 7, Padding::Same),
        (2, 70, Padding::Valid),
        (2, 13, Padding::Causal),
        (1, 2, Padding::Causal),
    ];
    for kernel in 1..=super::MAX_KERNEL {
        for (batch, len, padding) in signals {
            if padding == Padding::Valid && len < kernel {
                continue;
            }
            agrees_with_direct(Method::Fourier, batch, len, kernel, padding);
        }
    }
}

/// A signal long enough that two samples' transformed tiles would pass
/// the pass budget runs its samples one pass each (and the chunk's
/// partial kernel gradient sums the passes), with the same sums.
#[test]
fn long_signals_go_one_sample_per_pass_with_the_same_sums() {
    let window = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    }
    .window(60_000, 8)
    .expect("valid geometry");
    let t = super::TileMatrices::<f64>::new(super::power_of_two_tile(8), 8);
    let g = super::Geometry::new(&window, 3, 5, &t);
    assert_eq!(g.pass_samples::<f64>(), 1);
    let config = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    let x = uniform_array((3, 3, 60_000), 5);
    let w = uniform_array((5, 3, 8), 6);
    let dy = uniform_array((3, 5, 60_000), 8);
    let bias = Array1::from_vec(vec![0.3, -0.1, 0.2, 0.5, -0.4]);
    let [direct, fourier] = direct_and_fourier([&x, &w, &dy], &bias, config, false);
    // The kernel gradient sums 180,000 terms.
    close_relative_to_largest(&direct, &fourier, "60,000 points");
}

/// The forward and backward passes of the direct method and of Fourier
/// tiles, with the workspace in inference mode or not.
fn direct_and_fourier(
    [x, w, dy]: [&Array3<f64>; 3],
    bias: &Array1<f64>,
    config: Conv1dConfig,
    inference: bool,
) -> [[Array3<f64>; 4]; 2] {
    [Method::Direct, Method::Fourier].map(|method| {
        pass(x, w, bias, dy, config, |ws: &mut Conv1dWorkspace<f64>| {
            ws.forced_method = Some(method);
            ws.set_inference(inference);
        })
    })
}

/// Each of `fourier`'s tensors within 1e-12 of `direct`'s, relative to the
/// tensor's largest value (a kernel gradient sums many terms).
fn close_relative_to_largest(direct: &[Array3<f64>; 4], fourier: &[Array3<f64>; 4], what: &str) {
    for (d, f) in direct.iter().zip(fourier) {
        let scale = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in d.iter().zip(f) {
            assert!((a - b).abs() <= 1e-12 * scale, "{what}: {a} against {b}");
        }
    }
}

/// Tiles the cost model widens past the power of two in inference
/// ([`super::tiling`]) compute the same sums: channels enough to widen 4-,
/// 7- and 8-tap tiles, every padding, signals that end mid-tile (backward
/// runs too, on training's tiles).
#[test]
fn widened_tiles_agree_with_the_direct_method() {
    use super::tiling::{tile_inputs, Pass};
    let cases = [(128, 128, 4), (128, 256, 7), (64, 128, 8)];
    for (cin, cout, kernel) in cases {
        let widened = tile_inputs(kernel, cin, cout, Pass::Inference);
        assert!(
            widened > super::power_of_two_tile(kernel),
            "{kernel} taps: {widened}"
        );
        for (batch, length, padding) in [
            (3, 50, Padding::Same),
            (2, 37, Padding::Valid),
            (1, 9, Padding::Causal),
        ] {
            let config = Conv1dConfig {
                padding,
                ..Default::default()
            };
            let window = config.window(length, kernel).expect("valid geometry");
            let x = uniform_array((batch, cin, length), 3);
            let w = uniform_array((cout, cin, kernel), 4);
            let dy = uniform_array((batch, cout, window.output_length), 5);
            let bias = Array1::from_shape_fn(cout, |c| c as f64 / 100.0);
            let [direct, fourier] = direct_and_fourier([&x, &w, &dy], &bias, config, true);
            let what = format!("{kernel} taps, {padding:?}, length {length}");
            close_relative_to_largest(&direct, &fourier, &what);
        }
    }
}

/// Uniform in [-1, 1) from a fixed 64-bit LCG: unstructured, as
/// activations and trained weights are.
fn uniform_array(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let mut state = seed;
    Array3::from_shape_fn(shape, |_| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    })
}

/// What the method is for: on ResNet's widest shape (128 channels, 8
/// taps) and FCN's 5-tap one, its float32 forward pass and kernel
/// gradient land within 1.2 times the direct GEMM's distance from the
/// exact (f64) result (RMS over the tensor relative to its norm; they
/// land closer, at about 0.75), its input gradient within 2 times (it
/// adds two tiles' sums per input: about 1.5). Winograd's F(4, 3) lands
/// 2.5–3 times as far (`pairs_forward_in_f32_is_about_as_exact_as_the_direct_one`).
#[test]
fn fourier_in_f32_is_about_as_exact_as_the_direct_gemm() {
    let config = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    for (channels, kernel) in [(128, 8), (96, 5)] {
        let length = 300;
        let x = uniform_array((2, channels, length), 0x9E37_79B9_7F4A_7C15);
        let scale = ((channels * kernel) as f64).sqrt();
        let w = uniform_array((channels, channels, kernel), 7) / scale;
        let dy = uniform_array((2, channels, length), 11);
        let bias = Array1::zeros(channels);
        // Inputs rounded to f32 first, so that f64 is the exact result of
        // the same data.
        let round = |a: &Array3<f64>| a.mapv(|v| f64::from(v as f32));
        let (x, w, dy) = (round(&x), round(&w), round(&dy));
        let reference = pass(
            &x,
            &w,
            &bias,
            &dy,
            config,
            |ws: &mut Conv1dWorkspace<f64>| ws.forced_method = Some(Method::Direct),
        );
        let in_f32 = |method: Method| {
            let f32s = |a: &Array3<f64>| a.mapv(|v| v as f32);
            let result = pass(
                &f32s(&x),
                &f32s(&w),
                &bias.mapv(|v| v as f32),
                &f32s(&dy),
                config,
                |ws: &mut Conv1dWorkspace<f32>| ws.forced_method = Some(method),
            );
            result.map(|a| a.mapv(f64::from))
        };
        let distances = |result: &[Array3<f64>; 4]| -> Vec<f64> {
            // Output, kernel gradient and input gradient (the bias
            // gradient is one sum, the same in both methods).
            [0, 1, 3]
                .iter()
                .map(|&i| {
                    let exact = &reference[i];
                    let error: f64 = result[i]
                        .iter()
                        .zip(exact)
                        .map(|(a, b)| (a - b).powi(2))
                        .sum();
                    let norm: f64 = exact.iter().map(|b| b * b).sum();
                    (error / norm).sqrt()
                })
                .collect()
        };
        let direct = distances(&in_f32(Method::Direct));
        let fourier = distances(&in_f32(Method::Fourier));
        eprintln!("{channels} channels, {kernel} taps: direct {direct:?}, Fourier {fourier:?}");
        let bounds = [1.2, 1.2, 2.0];
        for ((what, bound), (d, f)) in ["output", "kernel gradient", "input gradient"]
            .iter()
            .zip(bounds)
            .zip(direct.iter().zip(&fourier))
        {
            assert!(*d > 0.0 && *d < 1e-5, "{what}: direct {d:e}");
            assert!(*f < bound * d, "{what}: Fourier {f:e} against direct {d:e}");
        }
    }
}
