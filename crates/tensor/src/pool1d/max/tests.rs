//! The max pool against its definition, and its fusion with a leaky ReLU
//! against the two passes, on 1 and 2 threads.

use super::*;
use crate::elementwise::{kink_backward_in_place, kink_forward_in_place};
use crate::pool1d::window_span;
use crate::Padding;
use ndarray::{Array3, ShapeBuilder};

/// Max pooling by its definition, one window at a time: each output is
/// the first largest real element of its window (a NaN wins), and
/// backward adds each output's gradient at that element, in output
/// order. Returns the output and the input gradient for `dy`.
fn reference(
    x: &Array3<f32>,
    cfg: Pool1dConfig,
    dy: Option<&Array3<f32>>,
) -> (Array3<f32>, Array3<f32>) {
    let (batch, channels, length) = x.dim();
    let window = cfg.window(length).expect("fits");
    let out = window.output_length;
    let mut y = Array3::zeros((batch, channels, out));
    let mut dx = Array3::zeros(x.dim());
    for b in 0..batch {
        for c in 0..channels {
            for p in 0..out {
                let mut best = None::<usize>;
                for i in window_span(&window, p) {
                    let v = x[[b, c, i]];
                    let wins = match best {
                        None => true,
                        Some(j) => {
                            let w = x[[b, c, j]];
                            v > w || (v.is_nan() && !w.is_nan())
                        }
                    };
                    if wins {
                        best = Some(i);
                    }
                }
                let winner = best.expect("every window has a real element");
                y[[b, c, p]] = x[[b, c, winner]];
                if let Some(dy) = dy {
                    dx[[b, c, winner]] += dy[[b, c, p]];
                }
            }
        }
    }
    (y, dx)
}

fn row(values: &[f32]) -> Array3<f32> {
    Array3::from_shape_vec((1, 1, values.len()), values.to_vec()).expect("shape")
}

fn pooled(x: &Array3<f32>, cfg: Pool1dConfig) -> Array3<f32> {
    let out = cfg.window(x.dim().2).expect("fits").output_length;
    let mut y = Array3::zeros((x.dim().0, x.dim().1, out));
    max_pool1d_forward_into(x.view(), cfg, y.view_mut(), None).expect("fits");
    y
}

#[test]
fn same_max_pool_never_lets_padding_win() {
    let cfg = config((3, 1, Padding::Same));
    // A zero pad would win every window of negatives.
    let y = pooled(&row(&[-5.0, -4.0, -3.0, -2.0]), cfg);
    assert_eq!(
        y.iter().copied().collect::<Vec<_>>(),
        vec![-4.0, -3.0, -2.0, -2.0]
    );
}

#[test]
fn valid_pool_with_default_stride_routes_gradients_to_winners() {
    let cfg = config((2, 2, Padding::Valid));
    let x = row(&[1.0, 5.0, 2.0, 0.0, 7.0]);
    assert_eq!(
        pooled(&x, cfg).iter().copied().collect::<Vec<_>>(),
        vec![5.0, 2.0]
    );
    let mut dx = x.clone();
    max_pool1d_backward_in_place(dx.view_mut(), row(&[1.0, 10.0]).view(), cfg, None).expect("fits");
    assert_eq!(
        dx.iter().copied().collect::<Vec<_>>(),
        vec![0.0, 1.0, 10.0, 0.0, 0.0]
    );
}

#[test]
fn nan_wins_the_max() {
    let y = pooled(&row(&[1.0, f32::NAN, 2.0]), config((3, 3, Padding::Valid)));
    assert!(y[[0, 0, 0]].is_nan());
}

/// The scans and the deque agree with the definition on long windows
/// too (pools up to the whole row).
#[test]
fn sliding_max_matches_the_definition() {
    let values: Vec<f32> = (0..37).map(|i| ((i * 7919) % 13) as f32).collect();
    let x = row(&values);
    for cfg in [
        (1, 1, Padding::Valid),
        (4, 1, Padding::Same),
        (5, 2, Padding::Same),
        (3, 3, Padding::Valid),
        (40, 1, Padding::Same),
        (9, 1, Padding::Same),
        (16, 1, Padding::Same),
        (2, 1, Padding::Valid),
        (37, 1, Padding::Same),
        (10, 4, Padding::Same),
    ]
    .map(config)
    {
        assert_eq!(
            bits(&pooled(&x, cfg)),
            bits(&reference(&x, cfg, None).0),
            "{cfg:?}"
        );
    }
}

/// Rows with ties, a NaN and zeros of both signs.
fn tricky_input() -> Array3<f32> {
    Array3::from_shape_fn((3, 5, 41), |(b, c, i)| {
        match ((b * 7 + c * 3 + i) % 6, i % 2) {
            _ if (b, c, i) == (1, 2, 7) => f32::NAN,
            // Zeros of both signs tie with each other.
            (0, 1) => -0.0,
            (value, _) => value as f32 - 2.5,
        }
    })
}

/// Output gradients of both signs, zeros among them.
fn output_gradient(out: usize) -> Array3<f32> {
    Array3::from_shape_fn((3, 5, out), |(b, c, p)| {
        ((b + c + p) % 5) as f32 * 0.5 - 1.0
    })
}

fn bits(a: &Array3<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

/// Small and large pools, both paddings, strides 1 and 2.
const CONFIGS: [(usize, usize, Padding); 12] = [
    (3, 1, Padding::Same),
    (2, 1, Padding::Same),
    (4, 1, Padding::Same),
    (3, 1, Padding::Valid),
    (2, 1, Padding::Valid),
    (5, 1, Padding::Same),
    (10, 1, Padding::Same),
    (4, 1, Padding::Valid),
    (20, 1, Padding::Same),
    (4, 2, Padding::Valid),
    (2, 2, Padding::Same),
    (3, 2, Padding::Same),
];

fn config((pool_size, stride, padding): (usize, usize, Padding)) -> Pool1dConfig {
    Pool1dConfig {
        pool_size,
        stride,
        padding,
    }
}

/// Runs `check` on every config of [`CONFIGS`], on 1 and then 2 threads.
fn on_one_and_two_threads(check: impl Fn(Pool1dConfig) + Sync) {
    for threads in [1, 2] {
        crate::Runtime::new(threads)
            .expect("threads start")
            .run(|| CONFIGS.map(config).into_iter().for_each(&check));
    }
}

/// The buffer-reusing pair (winners kept by forward, or found again in
/// backward) gives the same bits as the definition: ties, a NaN,
/// scanned and deque windows, many rows across threads.
#[test]
fn in_place_pooling_matches_the_definition() {
    let x = tricky_input();
    on_one_and_two_threads(|cfg| {
        let out = cfg.window(x.dim().2).expect("fits").output_length;
        let dy = output_gradient(out);
        let (want_y, want_dx) = reference(&x, cfg, Some(&dy));
        // Winners found again in backward, and winners kept by forward.
        for keep in [false, true] {
            let mut kept = vec![7u32; want_y.len()];
            let mut y = Array3::from_elem(want_y.dim(), 9.0f32);
            let slot = keep.then_some(&mut kept[..]);
            max_pool1d_forward_into(x.view(), cfg, y.view_mut(), slot).expect("fits");
            assert_eq!(bits(&y), bits(&want_y), "{cfg:?}");
            let mut dx = x.clone();
            let slot = keep.then_some(&kept[..]);
            max_pool1d_backward_in_place(dx.view_mut(), dy.view(), cfg, slot).expect("fits");
            assert_eq!(bits(&dx), bits(&want_dx), "{cfg:?} keep={keep}");
        }
    });
}

#[test]
fn in_place_pooling_refuses_a_misshapen_buffer() {
    let x = Array3::<f32>::zeros((1, 2, 8));
    let cfg = Pool1dConfig {
        pool_size: 2,
        stride: 2,
        padding: Padding::Valid,
    };
    let mut wrong = Array3::<f32>::zeros((1, 2, 5));
    let err = max_pool1d_forward_into(x.view(), cfg, wrong.view_mut(), None).unwrap_err();
    assert!(matches!(
        err,
        TensorError::Shape {
            argument: "output",
            ..
        }
    ));
    let mut transposed = Array3::<f32>::zeros((1, 4, 2));
    let mut view = transposed.view_mut();
    view.swap_axes(1, 2);
    let err = max_pool1d_forward_into(x.view(), cfg, view, None).unwrap_err();
    assert!(matches!(
        err,
        TensorError::Layout {
            argument: "output",
            ..
        }
    ));
}

/// A leaky ReLU fused into the pool gives the same bits as the
/// activation's own pass followed by the pool, forward and backward,
/// with winners kept or found again, on 1 and 2 threads.
#[test]
fn fused_leaky_relu_matches_the_two_passes() {
    let z = tricky_input();
    let slope = 0.1f32;
    on_one_and_two_threads(|cfg| {
        let mut activated = z.clone();
        let mut positive = vec![0u8; z.len()];
        let values = activated.as_slice_mut().expect("fresh array");
        kink_forward_in_place(values, &mut positive, slope).expect("same lengths");
        let out = cfg.window(41).expect("fits").output_length;
        let dy = output_gradient(out);
        for keep in [false, true] {
            let mut want_y = Array3::zeros((3, 5, out));
            let mut kept = vec![0u32; want_y.len()];
            let slot = keep.then_some(&mut kept[..]);
            max_pool1d_forward_into(activated.view(), cfg, want_y.view_mut(), slot).expect("fits");
            let mut want_dz = activated.clone();
            let slot = keep.then_some(&kept[..]);
            max_pool1d_backward_in_place(want_dz.view_mut(), dy.view(), cfg, slot).expect("fits");
            let grad = want_dz.as_slice_mut().expect("fresh array");
            kink_backward_in_place(grad, &positive, slope).expect("same lengths");

            let mut y = Array3::from_elem((3, 5, out), 9.0f32);
            let mut fused_kept = vec![7u32; y.len()];
            let slot = keep.then_some(&mut fused_kept[..]);
            leaky_max_pool1d_forward_into(z.view(), slope, cfg, y.view_mut(), slot).expect("fits");
            assert_eq!(bits(&y), bits(&want_y), "{cfg:?} keep={keep}");
            let mut dz = z.clone();
            let slot = keep.then_some(&fused_kept[..]);
            leaky_max_pool1d_backward_in_place(dz.view_mut(), dy.view(), slope, cfg, slot)
                .expect("fits");
            assert_eq!(bits(&dz), bits(&want_dz), "{cfg:?} keep={keep}");
        }
    });
}

/// Keeping one byte per output instead of the input gives the same bits:
/// against the definition and the in-place pair, on 1 and 2 threads, for
/// every pool that keeps taps; the others are refused.
#[test]
fn pooling_that_keeps_taps_matches_the_in_place_pair() {
    let x = tricky_input();
    on_one_and_two_threads(|cfg| {
        let out = cfg.window(x.dim().2).expect("fits").output_length;
        let mut y = Array3::from_elem((3, 5, out), 9.0f32);
        let mut taps = vec![200u8; y.len()];
        let forward = max_pool1d_forward_keeping_taps(x.view(), cfg, y.view_mut(), &mut taps);
        if !max_pool1d_keeps_taps(&cfg) {
            assert!(forward.is_err(), "{cfg:?} keeps no taps");
            return;
        }
        forward.expect("fits");
        let dy = output_gradient(out);
        let (want_y, want_dx) = reference(&x, cfg, Some(&dy));
        assert_eq!(bits(&y), bits(&want_y), "{cfg:?}");
        let mut in_place = x.clone();
        max_pool1d_backward_in_place(in_place.view_mut(), dy.view(), cfg, None).expect("fits");
        // A buffer of stale values: backward overwrites it all.
        let mut dx = Array3::from_elem(x.dim(), f32::NAN);
        max_pool1d_backward_from_taps(dx.view_mut(), dy.view(), cfg, &taps).expect("fits");
        assert_eq!(bits(&dx), bits(&want_dx), "{cfg:?}");
        assert_eq!(bits(&dx), bits(&in_place), "{cfg:?}");
    });
}

/// Rows shorter than, as long as and just longer than the pool, where the
/// one-pass interior of the winners and of backward's gather is empty or a
/// few inputs: the same bits as the definition, whether the taps are
/// found again or kept, with NaN-filled gradient buffers overwritten.
#[test]
fn rows_about_as_short_as_the_pool_match_the_definition() {
    for length in 1..=7 {
        let x = Array3::from_shape_fn((2, 3, length), |(b, c, i)| {
            ((b * 5 + c * 3 + i * 7) % 4) as f32 - 1.5
        });
        for cfg in CONFIGS
            .map(config)
            .into_iter()
            .filter(max_pool1d_keeps_taps)
        {
            let Ok(window) = cfg.window(length) else {
                continue;
            };
            let out = window.output_length;
            let dy = Array3::from_shape_fn((2, 3, out), |(b, c, p)| (b + 2 * c + p) as f32 - 3.0);
            let (want_y, want_dx) = reference(&x, cfg, Some(&dy));
            let mut dx = x.clone();
            max_pool1d_backward_in_place(dx.view_mut(), dy.view(), cfg, None).expect("fits");
            assert_eq!(bits(&dx), bits(&want_dx), "{cfg:?} length {length}");
            let mut y = Array3::from_elem((2, 3, out), f32::NAN);
            let mut taps = vec![200u8; y.len()];
            max_pool1d_forward_keeping_taps(x.view(), cfg, y.view_mut(), &mut taps).expect("fits");
            assert_eq!(bits(&y), bits(&want_y), "{cfg:?} length {length}");
            let mut dx = Array3::from_elem(x.dim(), f32::NAN);
            max_pool1d_backward_from_taps(dx.view_mut(), dy.view(), cfg, &taps).expect("fits");
            assert_eq!(bits(&dx), bits(&want_dx), "{cfg:?} length {length}");
        }
    }
}

/// A leaky ReLU and a pool that keep bytes (the winning taps, the inputs'
/// sides of the kink) give the same bits as the fused pair that keeps its
/// input and finds both again: forward and backward, on 1 and 2 threads,
/// into a gradient buffer of stale values; pools that keep no taps and a
/// misshapen side buffer are refused.
#[test]
fn leaky_pooling_that_keeps_bytes_matches_the_pair_that_keeps_its_input() {
    let z = tricky_input();
    let slope = 0.1f32;
    on_one_and_two_threads(|cfg| {
        let out = cfg.window(41).expect("fits").output_length;
        let dy = output_gradient(out);
        let mut y = Array3::from_elem((3, 5, out), 9.0f32);
        let mut taps = vec![200u8; y.len()];
        let mut positive = vec![7u8; z.len()];
        let forward = leaky_max_pool1d_forward_keeping_taps(
            z.view(),
            slope,
            cfg,
            y.view_mut(),
            (&mut taps, &mut positive),
        );
        if !max_pool1d_keeps_taps(&cfg) {
            assert!(forward.is_err(), "{cfg:?} keeps no taps");
            return;
        }
        forward.expect("fits");
        let mut want_y = Array3::zeros((3, 5, out));
        leaky_max_pool1d_forward_into(z.view(), slope, cfg, want_y.view_mut(), None).expect("fits");
        assert_eq!(bits(&y), bits(&want_y), "{cfg:?}");
        let mut want_dz = z.clone();
        leaky_max_pool1d_backward_in_place(want_dz.view_mut(), dy.view(), slope, cfg, None)
            .expect("fits");
        let mut dz = Array3::from_elem(z.dim(), f32::NAN);
        leaky_max_pool1d_backward_from_taps(
            dz.view_mut(),
            dy.view(),
            slope,
            cfg,
            (&taps, &positive),
        )
        .expect("fits");
        assert_eq!(bits(&dz), bits(&want_dz), "{cfg:?}");
        let short = leaky_max_pool1d_backward_from_taps(
            dz.view_mut(),
            dy.view(),
            slope,
            cfg,
            (&taps, &positive[1..]),
        );
        let refusal = short
            .expect_err("a short side buffer is refused")
            .to_string();
        assert!(
            refusal.contains("leaky_max_pool1d_backward_from_taps") && refusal.contains("positive"),
            "{cfg:?}: {refusal}"
        );
    });
}

/// The output gradient given as its two factors (a `Dense(1)` head's
/// output gradient per sample and its kernel per output) gives the bits of
/// the same gradient given as values, with and without a leaky ReLU, on 1
/// and 2 threads; factors of the wrong length are refused by name.
#[test]
fn a_rank_one_output_gradient_matches_its_values() {
    let z = tricky_input();
    let slope = 0.1f32;
    on_one_and_two_threads(|cfg| {
        if !max_pool1d_keeps_taps(&cfg) {
            return;
        }
        let out = cfg.window(41).expect("fits").output_length;
        let scale = [0.75f32, -1.3, 2.1e-3];
        let weights: Vec<f32> = (0..5 * out)
            .map(|i| ((i * 29 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let dy = Array3::from_shape_fn((3, 5, out), |(b, c, p)| scale[b] * weights[c * out + p]);
        let rank_one = || PooledGradient::RankOne {
            scale: &scale,
            weights: &weights,
        };
        let mut y = Array3::zeros((3, 5, out));
        let (mut taps, mut positive) = (vec![0u8; y.len()], vec![0u8; z.len()]);
        let kept = (&mut taps[..], &mut positive[..]);
        leaky_max_pool1d_forward_keeping_taps(z.view(), slope, cfg, y.view_mut(), kept)
            .expect("fits");
        let mut want = Array3::from_elem(z.dim(), f32::NAN);
        let kept = (&taps[..], &positive[..]);
        leaky_max_pool1d_backward_from_taps(want.view_mut(), dy.view(), slope, cfg, kept)
            .expect("fits");
        let mut got = Array3::from_elem(z.dim(), f32::NAN);
        leaky_max_pool1d_backward_from_taps(got.view_mut(), rank_one(), slope, cfg, kept)
            .expect("fits");
        assert_eq!(bits(&got), bits(&want), "leaky {cfg:?}");
        max_pool1d_forward_keeping_taps(z.view(), cfg, y.view_mut(), &mut taps).expect("fits");
        max_pool1d_backward_from_taps(want.view_mut(), dy.view(), cfg, &taps).expect("fits");
        got.fill(f32::NAN);
        max_pool1d_backward_from_taps(got.view_mut(), rank_one(), cfg, &taps).expect("fits");
        assert_eq!(bits(&got), bits(&want), "{cfg:?}");
        // Values in column-major order read in logical order too.
        let column_major = Array3::from_shape_fn((3, 5, out).f(), |i| dy[i]);
        assert!(!column_major.is_standard_layout());
        got.fill(f32::NAN);
        max_pool1d_backward_from_taps(got.view_mut(), column_major.view(), cfg, &taps)
            .expect("fits");
        assert_eq!(bits(&got), bits(&want), "a non-standard view, {cfg:?}");
        let short = PooledGradient::RankOne {
            scale: &scale[1..],
            weights: &weights,
        };
        let refusal = max_pool1d_backward_from_taps(got.view_mut(), short, cfg, &taps)
            .expect_err("a short scale is refused")
            .to_string();
        assert!(refusal.contains("scale"), "{refusal}");
    });
}
