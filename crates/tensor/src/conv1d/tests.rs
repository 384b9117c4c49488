//! The conv1d API against a naive reference, method by method and
//! lowering by lowering, in f64 and f32.

use super::*;
use ndarray::Array1;

/// Direct definition: y[b,o,p] = bias[o] + Σ_c Σ_k w[o,c,k] x[b,c,p*s+k*d-pad_left].
fn reference(
    x: &Array3<f64>,
    w: &Array3<f64>,
    bias: &Array1<f64>,
    cfg: Conv1dConfig,
) -> Array3<f64> {
    let (batch, cin, len) = x.dim();
    let (cout, _, k) = w.dim();
    let window = cfg.window(len, k).expect("valid geometry");
    let mut y = Array3::zeros((batch, cout, window.output_length));
    for b in 0..batch {
        for o in 0..cout {
            for p in 0..window.output_length {
                let mut s = bias[o];
                for c in 0..cin {
                    for t in 0..k {
                        if let Some(i) = window.input_index(p, t) {
                            s += w[[o, c, t]] * x[[b, c, i]];
                        }
                    }
                }
                y[[b, o, p]] = s;
            }
        }
    }
    y
}

fn filled(shape: (usize, usize, usize), salt: f64) -> Array3<f64> {
    Array3::from_shape_fn(shape, |(a, b, c)| {
        ((a * 31 + b * 7 + c) as f64 * 0.37 + salt).sin()
    })
}

#[test]
fn forward_matches_the_definition() {
    for (len, k, stride, dilation, padding) in [
        (12, 3, 1, 1, Padding::Same),
        (12, 4, 1, 1, Padding::Same),
        (13, 4, 3, 2, Padding::Same),
        (13, 3, 2, 1, Padding::Valid),
        (5, 8, 1, 1, Padding::Same),
        (13, 3, 2, 2, Padding::Causal),
        (5, 8, 1, 1, Padding::Causal),
    ] {
        let cfg = Conv1dConfig {
            stride,
            dilation,
            padding,
        };
        let x = filled((2, 3, len), 0.1);
        let w = filled((4, 3, k), 0.7);
        let bias = Array1::from_vec(vec![0.1, -0.2, 0.3, 0.0]);
        let got = conv1d_forward(
            x.view(),
            w.view(),
            Some(bias.view()),
            cfg,
            &mut Conv1dWorkspace::new(),
        )
        .expect("fits");
        let want = reference(&x, &w, &bias, cfg);
        assert_eq!(got.dim(), want.dim());
        for (g, w) in got.iter().zip(want.iter()) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w} for {cfg:?} k={k}");
        }
    }
}

#[test]
fn even_kernel_same_padding_puts_the_extra_zero_on_the_right() {
    // Kernel [1, 0] picks the left tap: with pad_left = 0 the output equals x.
    // Kernel [0, 1] picks the right tap: the last output reads the right pad.
    let x = Array3::from_shape_vec((1, 1, 4), vec![1.0, 2.0, 3.0, 4.0]).expect("shape");
    let cfg = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    let left = Array3::from_shape_vec((1, 1, 2), vec![1.0, 0.0]).expect("shape");
    let right = Array3::from_shape_vec((1, 1, 2), vec![0.0, 1.0]).expect("shape");
    let y = conv1d_forward(
        x.view(),
        left.view(),
        None,
        cfg,
        &mut Conv1dWorkspace::new(),
    )
    .expect("fits");
    assert_eq!(
        y.iter().copied().collect::<Vec<f64>>(),
        vec![1.0, 2.0, 3.0, 4.0]
    );
    let y = conv1d_forward(
        x.view(),
        right.view(),
        None,
        cfg,
        &mut Conv1dWorkspace::new(),
    )
    .expect("fits");
    assert_eq!(
        y.iter().copied().collect::<Vec<f64>>(),
        vec![2.0, 3.0, 4.0, 0.0]
    );
}

#[test]
fn a_misshapen_output_or_input_buffer_is_an_error() {
    let x = Array3::<f32>::zeros((2, 3, 10));
    let w = Array3::<f32>::zeros((4, 3, 3));
    let config = Conv1dConfig::default();
    let mut workspace = Conv1dWorkspace::new();
    let mut short = Array3::<f32>::zeros((2, 4, 7));
    let err = conv1d_forward_into(
        x.view(),
        w.view(),
        None,
        config,
        &mut workspace,
        short.view_mut(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        TensorError::Shape {
            argument: "output",
            ..
        }
    ));
    // An input that is not in standard layout cannot take its gradient in place.
    let mut fortran = Array3::<f32>::zeros((10, 3, 2));
    let mut input = fortran.view_mut();
    input.swap_axes(0, 2);
    let dy = Array3::<f32>::zeros((2, 4, 8));
    let mut dw = Array3::<f32>::zeros((4, 3, 3));
    let err = conv1d_backward_in_place(
        input,
        w.view(),
        dy.view(),
        config,
        dw.view_mut(),
        None,
        &mut workspace,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        TensorError::Layout {
            argument: "input",
            ..
        }
    ));
}

#[test]
fn mismatched_channels_are_an_error() {
    let x = Array3::<f32>::zeros((1, 2, 10));
    let w = Array3::<f32>::zeros((4, 3, 3));
    let err = conv1d_forward(
        x.view(),
        w.view(),
        None,
        Conv1dConfig::default(),
        &mut Conv1dWorkspace::new(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        TensorError::Shape {
            argument: "weight",
            ..
        }
    ));
}

/// The gradient checks and the definition test run at sizes whose
/// columns fit in cache, so they exercise the materialized columns; the
/// channels-last view must give the same forward pass and gradients
/// (to rounding: the sums run in another order). Six samples: a full
/// chunk and a partial one.
#[test]
fn channels_last_view_agrees_with_materialized_columns() {
    for (len, k, stride, padding) in [
        (12, 3, 1, Padding::Same),
        (12, 4, 1, Padding::Same),
        (13, 4, 3, Padding::Same),
        (13, 3, 2, Padding::Valid),
        (14, 5, 1, Padding::Valid),
        (5, 8, 1, Padding::Same),
    ] {
        let config = Conv1dConfig {
            stride,
            dilation: 1,
            padding,
        };
        let x = filled((6, 3, len), 0.2);
        let w = filled((4, 3, k), 0.9);
        let bias = Array1::from_vec(vec![0.3, -0.1, 0.2, 0.5]);
        let window = config.window(len, k).expect("valid geometry");
        let dy = filled((6, 4, window.output_length), 1.3);
        let with = |lowering| {
            move |ws: &mut Conv1dWorkspace<f64>| {
                ws.forced = Some(lowering);
                ws.forced_method = Some(Method::Direct);
            }
        };
        let view = pass(&x, &w, &bias, &dy, config, with(Lowering::ChannelsLast));
        let columns = pass(&x, &w, &bias, &dy, config, with(Lowering::Columns));
        assert_close(&view, &columns, 1e-12, &format!("{config:?} k={k}"));
        // Left to itself the geometry picks the columns at these sizes:
        // forcing the view is what makes this test see it.
        assert_eq!(Lowering::for_window::<f64>(3, &window), Lowering::Columns);
    }
}

/// Forward pass and every gradient of one convolution, with the
/// workspace set up by `force`.
pub(super) fn pass<T: Float>(
    x: &Array3<T>,
    w: &Array3<T>,
    bias: &Array1<T>,
    dy: &Array3<T>,
    config: Conv1dConfig,
    force: impl Fn(&mut Conv1dWorkspace<T>),
) -> [Array3<T>; 4] {
    let mut workspace = Conv1dWorkspace::new();
    force(&mut workspace);
    let y = conv1d_forward(
        x.view(),
        w.view(),
        Some(bias.view()),
        config,
        &mut workspace,
    )
    .expect("fits");
    let mut dw = Array3::<T>::zeros(w.dim());
    let mut db = Array1::<T>::zeros(bias.len());
    let dx = conv1d_backward(
        x.view(),
        w.view(),
        dy.view(),
        config,
        dw.view_mut(),
        Some(db.view_mut()),
        &mut workspace,
    )
    .expect("fits");
    let db = db
        .into_shape_with_order((1, 1, bias.len()))
        .expect("same count");
    [y, dw, db, dx]
}

fn assert_close(a: &[Array3<f64>; 4], b: &[Array3<f64>; 4], tolerance: f64, what: &str) {
    for (a, b) in a.iter().zip(b) {
        assert_eq!(a.dim(), b.dim(), "{what}");
        for (p, q) in a.iter().zip(b.iter()) {
            assert!((p - q).abs() <= tolerance, "{p} vs {q}: {what}");
        }
    }
}

/// `method` computes what the direct GEMM does (to 1e-10 in f64) for a
/// batch of `batch` signals of `len` points through a `k`-tap kernel.
pub(super) fn agrees_with_direct(
    method: Method,
    batch: usize,
    len: usize,
    k: usize,
    padding: Padding,
) {
    let config = Conv1dConfig {
        padding,
        ..Default::default()
    };
    let window = config.window(len, k).expect("valid geometry");
    let x = filled((batch, 3, len), 0.4);
    let w = filled((5, 3, k), 1.7);
    let bias = Array1::from_vec(vec![0.3, -0.1, 0.2, 0.5, -0.4]);
    let dy = filled((batch, 5, window.output_length), 2.1);
    let direct = pass(&x, &w, &bias, &dy, config, |ws| {
        ws.forced_method = Some(Method::Direct)
    });
    let other = pass(&x, &w, &bias, &dy, config, |ws| {
        ws.forced_method = Some(method)
    });
    let what = format!("{method:?}: batch {batch}, length {len}, kernel {k}, {padding:?}");
    assert_close(&other, &direct, 1e-10, &what);
}

/// The frequency-domain method computes what the direct GEMM does, for
/// every padding, odd and even kernels, kernels longer than the signal,
/// several tiles per signal and several samples.
#[test]
fn spectral_method_agrees_with_the_direct_one() {
    for (batch, len, k, padding) in [
        (3, 40, 16, Padding::Same),
        (2, 100, 17, Padding::Same),
        (6, 90, 20, Padding::Valid),
        (1, 300, 70, Padding::Same),
        (2, 12, 30, Padding::Same),
        (2, 50, 3, Padding::Valid),
        (2, 100, 17, Padding::Causal),
        (2, 12, 30, Padding::Causal),
    ] {
        agrees_with_direct(Method::Spectral, batch, len, k, padding);
    }
}

/// `method` computes what the direct GEMM does for kernels of 1 to 15
/// taps (whole groups of 3 or a padded last one) on every signal of
/// `signals` (batch, length, padding) the kernel fits.
fn agrees_for_every_kernel(method: Method, signals: &[(usize, usize, Padding)]) {
    for kernel in 1..=15 {
        for &(batch, len, padding) in signals {
            if padding == Padding::Valid && len < kernel {
                continue;
            }
            agrees_with_direct(method, batch, len, kernel, padding);
        }
    }
}

/// Winograd's F(4, 3) computes what the direct GEMM does: every
/// padding (`causal` puts all of it on the left), signals whose outputs fill the last tile or not, signals
/// shorter than a tile, several chunks of samples, groups that start left
/// of the signal under `same` padding.
#[test]
fn winograd_method_agrees_with_the_direct_one() {
    agrees_for_every_kernel(
        Method::Winograd,
        &[
            (3, 40, Padding::Same),
            (2, 13, Padding::Same),
            (6, 23, Padding::Valid),
            (1, 2, Padding::Same),
            (9, 7, Padding::Same),
            (2, 31, Padding::Valid),
            (2, 13, Padding::Causal),
            (1, 2, Padding::Causal),
        ],
    );
}

/// Winograd's F(2, 3), the inference forward pass, computes what the
/// direct GEMM does (its backward passes are the direct ones): every
/// padding, odd and even lengths (a last tile with one output), a signal
/// shorter than a tile, groups that start left of the signal or past its
/// end, several chunks of samples.
#[test]
fn pairs_method_agrees_with_the_direct_one() {
    agrees_for_every_kernel(
        Method::Pairs,
        &[
            (3, 40, Padding::Same),
            (2, 13, Padding::Same),
            (6, 23, Padding::Valid),
            (1, 1, Padding::Same),
            (9, 7, Padding::Same),
            (2, 30, Padding::Valid),
            (2, 13, Padding::Causal),
            (1, 1, Padding::Causal),
        ],
    );
}

/// F(4, 3) through the balanced points, the inference forward pass of
/// 3-tap kernels, computes what the direct GEMM does (its backward passes
/// are Lavin and Gray's), on the F(4, 3) test's signals.
#[test]
fn balanced_method_agrees_with_the_direct_one() {
    agrees_for_every_kernel(
        Method::Balanced,
        &[
            (3, 40, Padding::Same),
            (2, 13, Padding::Same),
            (6, 23, Padding::Valid),
            (1, 2, Padding::Same),
            (9, 7, Padding::Same),
            (2, 13, Padding::Causal),
        ],
    );
}

/// Each method's float32 forward pass, its distance (root mean square
/// over the root mean square) from the exact f64 sum of the same f32
/// inputs, on `channels -> channels` of `kernel` taps over 2 samples of
/// 300 points; the methods also compute the direct sum in f64.
fn f32_distances(channels: usize, kernel: usize, methods: &[Method]) -> Vec<f64> {
    let config = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    let length = 300;
    // Uniform in [-1, 1) from a fixed 64-bit LCG: unstructured, as
    // activations and trained weights are (the sines of `filled` are not).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = move |_| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    };
    let x = Array3::from_shape_fn((2, channels, length), &mut uniform);
    let scale = ((channels * kernel) as f64).sqrt();
    let w = Array3::from_shape_fn((channels, channels, kernel), &mut uniform) / scale;
    let forward = |method: Method| {
        let mut ws = Conv1dWorkspace::<f32>::new();
        ws.forced_method = Some(method);
        let (x, w) = (x.mapv(|v| v as f32), w.mapv(|v| v as f32));
        conv1d_forward(x.view(), w.view(), None, config, &mut ws)
            .expect("fits")
            .mapv(f64::from)
    };
    let (x64, w64) = (
        x.mapv(|v| f64::from(v as f32)),
        w.mapv(|v| f64::from(v as f32)),
    );
    let in_f64 = |method: Method| {
        let mut ws = Conv1dWorkspace::<f64>::new();
        ws.forced_method = Some(method);
        conv1d_forward(x64.view(), w64.view(), None, config, &mut ws).expect("fits")
    };
    let reference = in_f64(Method::Direct);
    let distance = |y: &Array3<f64>| {
        let error: f64 = y.iter().zip(&reference).map(|(a, b)| (a - b).powi(2)).sum();
        let norm: f64 = reference.iter().map(|b| b * b).sum();
        (error / norm).sqrt()
    };
    methods
        .iter()
        .map(|&method| {
            // In f64 each computes the direct sum, over several blocks of
            // tiles and a padded last group.
            for (a, b) in in_f64(method).iter().zip(&reference) {
                assert!((a - b).abs() < 1e-12, "{method:?} in f64: {a} against {b}");
            }
            distance(&forward(method))
        })
        .collect()
}

/// What F(2, 3) is for: its float32 forward pass lands about as close to
/// the exact (f64) result as the direct GEMM's, within 1.6 times its
/// distance, where F(4, 3) lands 2.5–3 times as far, on ResNet's widest
/// shape (128 channels, 8 taps).
#[test]
fn pairs_forward_in_f32_is_about_as_exact_as_the_direct_one() {
    let methods = [Method::Direct, Method::Pairs, Method::Winograd];
    let [direct, pairs, winograd] = f32_distances(128, 8, &methods)[..] else {
        unreachable!("three methods")
    };
    eprintln!("f32 distances: direct {direct:e}, F(2, 3) {pairs:e}, F(4, 3) {winograd:e}");
    assert!(direct > 0.0 && direct < 1e-6, "direct: {direct:e}");
    assert!(
        pairs < 1.6 * direct,
        "F(2, 3) {pairs:e} against direct {direct:e}"
    );
    assert!(
        winograd > 2.0 * direct,
        "F(4, 3) {winograd:e} against direct {direct:e}"
    );
}

/// What the balanced points are for: on a 3-tap kernel of 128 channels
/// F(4, 3) through them lands within twice the direct GEMM's distance from
/// the exact sum (1.6x here), and closer than through Lavin and Gray's
/// (2.0x).
#[test]
fn balanced_points_round_closer_than_lavin_and_gray_s() {
    let methods = [Method::Direct, Method::Winograd, Method::Balanced];
    let [direct, lavin, balanced] = f32_distances(128, 3, &methods)[..] else {
        unreachable!("three methods")
    };
    eprintln!("f32 distances, 3 taps: direct {direct:e}, Lavin {lavin:e}, balanced {balanced:e}");
    assert!(direct > 0.0 && direct < 1e-6, "direct: {direct:e}");
    assert!(
        balanced < 2.0 * direct,
        "balanced {balanced:e} against direct {direct:e}"
    );
    assert!(
        balanced < lavin,
        "balanced {balanced:e} against Lavin's {lavin:e}"
    );
}

/// The seed models' layers pick the method their shapes pay for.
#[test]
fn each_geometry_gets_the_method_that_pays() {
    let workspace = Conv1dWorkspace::<f32>::new();
    let method = |length, kernel, cin, cout| {
        let config = Conv1dConfig {
            padding: Padding::Same,
            ..Default::default()
        };
        let window = config.window(length, kernel).expect("valid geometry");
        workspace.method(&window, cin, cout)
    };
    // The question's model: 1 -> 32 (100 taps), 32 -> 64 (70), 64 -> 128 (40).
    assert_eq!(method(1040, 100, 1, 32), Method::Direct);
    assert_eq!(method(1040, 70, 32, 64), Method::Spectral);
    assert_eq!(method(1040, 40, 64, 128), Method::Spectral);
    // The answer's: 1 -> 32 (2 taps), 32 -> 64 (3), 64 -> 128 (3).
    assert_eq!(method(1040, 2, 1, 32), Method::Direct);
    assert_eq!(method(1040, 3, 32, 64), Method::Winograd);
    assert_eq!(method(1040, 3, 64, 128), Method::Winograd);
    // ResNet's and FCN's: 5 and 8 taps go by Fourier tiles, on enough
    // channels; 1 -> 64 (8 taps) is too narrow to pay for the transforms.
    assert_eq!(method(1040, 8, 64, 128), Method::Fourier);
    assert_eq!(method(1040, 5, 128, 256), Method::Fourier);
    assert_eq!(method(1040, 8, 1, 64), Method::Direct);
    // Kernels of 4 taps: 11 products per 5 outputs where the direct GEMM
    // spends 20.
    assert_eq!(method(1040, 4, 128, 128), Method::Fourier);
    // InceptionTime's 20-tap, 32 -> 32 layers: Fourier tiles of 64 inputs
    // (2.1 products per output), ahead of the spectral method.
    assert_eq!(method(1040, 20, 32, 32), Method::Fourier);
    // The doctor's model: 1 -> 16 (7 taps) and 16 -> 32 (5 taps) save too
    // little over their transforms; the second keeps Winograd's groups.
    assert_eq!(method(1040, 7, 1, 16), Method::Direct);
    assert_eq!(method(1040, 5, 16, 32), Method::Winograd);
    let forward = |workspace: &Conv1dWorkspace<f32>, kernel, cin, cout| {
        let config = Conv1dConfig {
            padding: Padding::Same,
            ..Default::default()
        };
        let window = config.window(1040, kernel).expect("valid geometry");
        workspace.forward_method(&window, cin, cout)
    };
    // Training forward passes take Fourier tiles where they apply (they
    // round like the direct GEMM); other grouped kernels stay direct;
    // kernels of 3 keep F(4, 3).
    assert_eq!(forward(&workspace, 8, 64, 128), Method::Fourier);
    assert_eq!(forward(&workspace, 5, 128, 256), Method::Fourier);
    assert_eq!(forward(&workspace, 5, 16, 32), Method::Direct);
    assert_eq!(forward(&workspace, 3, 64, 128), Method::Winograd);
    assert_eq!(forward(&workspace, 40, 64, 128), Method::Spectral);
    // So do inference passes; narrow layers that Fourier tiles do not
    // take go by F(2, 3) where it pays, else direct.
    let mut inference = Conv1dWorkspace::<f32>::new();
    inference.set_inference(true);
    assert_eq!(forward(&inference, 8, 64, 128), Method::Fourier);
    assert_eq!(forward(&inference, 5, 128, 256), Method::Fourier);
    assert_eq!(forward(&inference, 4, 128, 128), Method::Fourier);
    assert_eq!(forward(&inference, 7, 128, 128), Method::Fourier);
    assert_eq!(forward(&inference, 8, 1, 64), Method::Direct);
    // Kernels of 3 taps go by F(4, 3) through the balanced points: Lavin
    // and Gray's round the answer's 2.5x as far as PyTorch's f32 in
    // inference (tests/parity/f32_accuracy.rs).
    assert_eq!(forward(&inference, 3, 64, 128), Method::Balanced);
    assert_eq!(forward(&inference, 3, 2, 2), Method::Direct);
}

/// Chunks of samples run on separate threads when 2 are allowed; the
/// kernel gradient is still summed chunk by chunk in order, so every bit
/// matches the single-threaded run (9 samples: two full chunks and a
/// partial one). One sample: its channels are unfolded across threads.
/// Each way of lowering the columns, and the frequency-domain, Winograd
/// and Fourier-tile methods, whose transforms, per-point products and
/// row passes split across threads.
#[test]
fn one_and_two_threads_give_identical_bits() {
    for batch in [9, 1] {
        for lowering in [Lowering::Columns, Lowering::ChannelsLast] {
            same_bits_on_one_and_two_threads(batch, lowering, Method::Direct, 4);
        }
        same_bits_on_one_and_two_threads(batch, Lowering::Columns, Method::Spectral, 4);
        same_bits_on_one_and_two_threads(batch, Lowering::Columns, Method::Winograd, 3);
        same_bits_on_one_and_two_threads(batch, Lowering::Columns, Method::Winograd, 8);
        same_bits_on_one_and_two_threads(batch, Lowering::Columns, Method::Pairs, 8);
        same_bits_on_one_and_two_threads(batch, Lowering::Columns, Method::Balanced, 3);
        // Fourier tiles: at batch 1 the chunk's padding, sums of planes,
        // output rows and tile gradients split across the threads.
        for kernel in [5, 8, 20] {
            same_bits_on_one_and_two_threads(batch, Lowering::Columns, Method::Fourier, kernel);
        }
    }
}

/// Samples long enough that a chunk's scratch passes
/// [`chunks::SIDE_BY_SIDE_SCRATCH_BYTES`](super::chunks::SIDE_BY_SIDE_SCRATCH_BYTES):
/// the chunks then run in order, each lent the first one's buffers (left
/// dirty by the chunk before), on 2 threads with the threads inside each.
/// Every bit matches three calls of one chunk each (4, 4 and 1 samples, so
/// nothing is lent), their gradients added in chunk order as one call adds
/// its chunks' partial sums, and on 1 thread as on 2. Direct (its column
/// gradient is `K C L`) and grouped Winograd (its transformed tiles).
#[test]
fn chunks_on_lent_buffers_give_the_bits_of_separate_calls() {
    let (channels, kernel, length) = (16, 8, 24_000);
    let config = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    let w = filled((channels, channels, kernel), 0.7);
    let bias = Array1::from_shape_fn(channels, |o| o as f64 * 0.1 - 0.4);
    let x = filled((9, channels, length), 0.3);
    let dy = filled((9, channels, length), 1.1);
    for method in [Method::Direct, Method::Winograd] {
        let scratch = match method {
            Method::Winograd => 6 * length.div_ceil(4) * (3 * channels + channels) * 8,
            _ => (channels * kernel * length) * 8,
        };
        assert!(
            scratch > super::chunks::SIDE_BY_SIDE_SCRATCH_BYTES,
            "{method:?}: {scratch} bytes stay side by side"
        );
        let run = |threads, samples: std::ops::Range<usize>| {
            let x = x.slice(ndarray::s![samples.clone(), .., ..]).to_owned();
            let dy = dy.slice(ndarray::s![samples, .., ..]).to_owned();
            crate::Runtime::new(threads)
                .expect("threads start")
                .run(|| {
                    pass(&x, &w, &bias, &dy, config, |ws| {
                        ws.forced = Some(Lowering::ChannelsLast);
                        ws.forced_method = Some(method);
                    })
                })
        };
        let parts = [run(1, 0..4), run(1, 4..8), run(1, 8..9)];
        let concatenated = |which: usize| {
            let views: Vec<_> = parts.iter().map(|part| part[which].view()).collect();
            ndarray::concatenate(ndarray::Axis(0), &views).expect("same sample shape")
        };
        let added = |which: usize| {
            let mut sum = Array3::zeros(parts[0][which].dim());
            for part in &parts {
                sum += &part[which];
            }
            sum
        };
        let separate = [concatenated(0), added(1), added(2), concatenated(3)];
        let bits = |outputs: &[Array3<f64>; 4]| {
            outputs
                .iter()
                .map(|a| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            bits(&run(2, 0..9)),
            bits(&separate),
            "{method:?}, 2 threads"
        );
        assert_eq!(bits(&run(1, 0..9)), bits(&separate), "{method:?}, 1 thread");
    }
}

fn same_bits_on_one_and_two_threads(
    batch: usize,
    lowering: Lowering,
    method: Method,
    kernel: usize,
) {
    let x = filled((batch, 3, 50), 0.3).mapv(|v| v as f32);
    let w = filled((5, 3, kernel), 0.7).mapv(|v| v as f32);
    let bias = Array1::from_vec(vec![0.3f32, -0.1, 0.2, 0.5, -0.4]);
    let dy = filled((batch, 5, 50), 1.1).mapv(|v| v as f32);
    let config = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    let run = |threads| {
        crate::Runtime::new(threads)
            .expect("threads start")
            .run(|| {
                let outputs = pass(&x, &w, &bias, &dy, config, |ws| {
                    ws.forced = Some(lowering);
                    ws.forced_method = Some(method);
                });
                outputs.map(|a| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            })
    };
    assert_eq!(run(1), run(2), "{method:?}, batch {batch}");
}

/// Forward pass and every gradient of one convolution in f32 through the
/// unlent entry points, on `workspace`'s own buffers as they stand.
fn pass_on_buffers(
    (x, w, dy): (&Array3<f32>, &Array3<f32>, &Array3<f32>),
    config: Conv1dConfig,
    workspace: &mut Conv1dWorkspace<f32>,
) -> Vec<u32> {
    let bias = Array1::from_shape_fn(w.dim().0, |o| o as f32 * 0.1 - 0.2);
    let window = config.window(x.dim().2, w.dim().2).expect("valid geometry");
    let mut y = Array3::<f32>::zeros((x.dim().0, w.dim().0, window.output_length));
    let bias_view = Some(bias.view());
    forward_into(
        x.view(),
        w.view(),
        bias_view,
        config,
        workspace,
        y.view_mut(),
        None,
    )
    .expect("fits");
    let mut dw = Array3::<f32>::zeros(w.dim());
    let mut db = Array1::<f32>::zeros(bias.len());
    let mut dx = x.clone();
    let gradients = Gradients {
        grad_output: dy.view(),
        grad_weight: dw.view_mut(),
        grad_bias: Some(db.view_mut()),
    };
    backward_in_place(dx.view_mut(), w.view(), gradients, config, workspace).expect("fits");
    y.iter()
        .chain(dw.iter())
        .chain(db.iter())
        .chain(dx.iter())
        .map(|v| v.to_bits())
        .collect()
}

/// The pool lends one set of buffers to layers of every size in turn: a
/// call on buffers a larger call left dirty gives the bits of a call on
/// fresh ones, for every method and lowering (and the widened f64 forward
/// pass of long kernels, which no forced method takes).
#[test]
fn buffers_left_by_a_larger_call_do_not_change_the_bits() {
    let config = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    let cases = [
        (Some(Method::Direct), Some(Lowering::Columns), 4),
        (Some(Method::Direct), Some(Lowering::ChannelsLast), 5),
        (Some(Method::Winograd), None, 3),
        (Some(Method::Winograd), None, 8),
        (Some(Method::Pairs), None, 5),
        (Some(Method::Spectral), None, 20),
        (None, None, 24),
    ];
    for (method, lowering, kernel) in cases {
        let force = |ws: &mut Conv1dWorkspace<f32>| {
            ws.forced_method = method;
            ws.forced = lowering;
        };
        let small = (
            &filled((3, 4, 37), 0.3).mapv(|v| v as f32),
            &filled((5, 4, kernel), 0.7).mapv(|v| v as f32),
            &filled((3, 5, 37), 1.1).mapv(|v| v as f32),
        );
        let large = (
            &filled((9, 12, 150), 2.3).mapv(|v| v as f32 * 100.0),
            &filled((16, 12, kernel), 1.9).mapv(|v| v as f32 * 100.0),
            &filled((9, 16, 150), 0.9).mapv(|v| v as f32 * 100.0),
        );
        let mut fresh = Conv1dWorkspace::new();
        force(&mut fresh);
        let expected = pass_on_buffers(small, config, &mut fresh);
        let mut dirty = Conv1dWorkspace::new();
        force(&mut dirty);
        pass_on_buffers(large, config, &mut dirty);
        let got = pass_on_buffers(small, config, &mut dirty);
        assert_eq!(got, expected, "{method:?} {lowering:?}, kernel {kernel}");
    }
}

/// A kernel of one tap reads the input as its column matrix, uncopied,
/// with the bits of the materialized columns; a stride of 2 still copies.
#[test]
fn one_tap_kernels_read_the_input_in_place_with_the_bits_of_the_columns() {
    for (batch, stride, padding) in [
        (9, 1, Padding::Same),
        (1, 1, Padding::Valid),
        (5, 2, Padding::Same),
    ] {
        let config = Conv1dConfig {
            stride,
            dilation: 1,
            padding,
        };
        let x = filled((batch, 6, 33), 0.8).mapv(|v| v as f32);
        let w = filled((4, 6, 1), 1.3).mapv(|v| v as f32);
        let bias = Array1::from_vec(vec![0.3f32, -0.1, 0.2, 0.5]);
        let window = config.window(33, 1).expect("valid geometry");
        let dy = filled((batch, 4, window.output_length), 1.7).mapv(|v| v as f32);
        let expected = if stride == 1 {
            Lowering::Identity
        } else {
            Lowering::Columns
        };
        assert_eq!(Lowering::for_window::<f32>(6, &window), expected);
        let chosen = pass(&x, &w, &bias, &dy, config, |_| {});
        let columns = pass(&x, &w, &bias, &dy, config, |ws| {
            ws.forced = Some(Lowering::Columns);
            ws.forced_method = Some(Method::Direct);
        });
        assert_eq!(chosen, columns, "{config:?}");
    }
}

/// `conv1d_forward_then` applies its epilogue to every output element
/// exactly once, after the bias, and says where each stretch lies: with a
/// map that applied twice would give other values and that depends on the
/// sample, channel and position, the output has the bits of the plain
/// forward pass with the map applied afterwards, for every method, in
/// training and inference, on one thread and two, one sample and several
/// chunks of them.
#[test]
fn an_epilogue_gives_the_bits_of_the_same_map_applied_afterwards() {
    // Depends on where each element lies, so a wrong sample, channel or
    // start shows too.
    let map = |stretch: RowStretch, values: &mut [f32]| {
        let scale = 1.0 + 0.1 * stretch.channel as f32;
        let shift = 0.01 * stretch.sample as f32;
        for (i, v) in values.iter_mut().enumerate() {
            let position = 0.001 * (stretch.start + i) as f32;
            *v = (*v * scale - 0.05).max(-0.2) + 1.0 + shift + position;
        }
    };
    let config = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    // (method, kernel, in channels, out channels): F(2, 3) and F(4, 3)
    // through either set of points, the direct GEMM, the spectral method,
    // and a long kernel left to the choice (widened to f64 in training,
    // spectral in f32 in inference).
    let cases = [
        (Some(Method::Pairs), 8, 6, 10),
        (Some(Method::Winograd), 3, 6, 10),
        (Some(Method::Balanced), 3, 6, 10),
        (Some(Method::Direct), 5, 3, 4),
        (Some(Method::Spectral), 40, 4, 6),
        (None, 40, 16, 16),
    ];
    for (method, kernel, cin, cout) in cases {
        for batch in [1, 9] {
            let x = filled((batch, cin, 130), 0.3).mapv(|v| v as f32);
            let w = filled((cout, cin, kernel), 0.7).mapv(|v| v as f32 * 0.2);
            let bias = Array1::from_shape_fn(cout, |o| o as f32 * 0.1 - 0.3);
            for inference in [false, true] {
                let run = |threads, then: bool| {
                    crate::Runtime::new(threads)
                        .expect("threads start")
                        .run(|| {
                            let mut workspace = Conv1dWorkspace::new();
                            workspace.forced_method = method;
                            workspace.set_inference(inference);
                            let mut y = Array3::<f32>::zeros((batch, cout, 130));
                            let (x, w, b) = (x.view(), w.view(), Some(bias.view()));
                            if then {
                                conv1d_forward_then(
                                    x,
                                    w,
                                    b,
                                    config,
                                    &mut workspace,
                                    y.view_mut(),
                                    &map,
                                )
                            } else {
                                conv1d_forward_into(x, w, b, config, &mut workspace, y.view_mut())
                            }
                            .expect("fits");
                            if !then {
                                for (row, values) in y
                                    .as_slice_mut()
                                    .expect("standard layout")
                                    .chunks_mut(130)
                                    .enumerate()
                                {
                                    let stretch = RowStretch {
                                        sample: row / cout,
                                        channel: row % cout,
                                        start: 0,
                                    };
                                    map(stretch, values);
                                }
                            }
                            y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                        })
                };
                let afterwards = run(1, false);
                for threads in [1, 2] {
                    assert_eq!(
                        run(threads, true),
                        afterwards,
                        "{method:?}, {kernel} taps, batch {batch}, inference {inference}, {threads} threads"
                    );
                }
            }
        }
    }
}
