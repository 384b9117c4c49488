//! Criterion benches of kymo's kernels at the seed's shapes.
//!
//! `cargo bench --bench kernels`

use criterion::{criterion_group, criterion_main, BatchSize, Bencher, Criterion};
use kymo::layers::{Activation, ActivationSpec, Dense, DenseSpec, Layer, LayerSpec, Mode, Shape};
use kymo::tensor::batch_norm::ChannelMap;
use kymo::tensor::SeededRng;
use kymo::tensor::{
    conv1d_backward_in_place, conv1d_forward_into, conv1d_forward_then,
    leaky_max_pool1d_backward_from_taps, leaky_max_pool1d_backward_in_place,
    leaky_max_pool1d_forward_into, leaky_max_pool1d_forward_keeping_taps,
    max_pool1d_backward_from_taps, max_pool1d_backward_in_place, max_pool1d_forward_into,
    max_pool1d_forward_keeping_taps, Conv1dConfig, Conv1dWorkspace, Padding, Pool1dConfig,
    PooledGradient, RowStretch,
};
use kymo::tensor::{single_unit_backward_in_place, single_unit_kernel_gradient};
use ndarray::{Array3, ArrayD};

fn filled(shape: (usize, usize, usize)) -> Array3<f32> {
    Array3::from_shape_fn(shape, |(a, b, c)| {
        ((a * 131 + b * 31 + c) as f32 * 0.37).sin()
    })
}

/// The input, weight and output gradient of a timed backward pass.
struct BackwardOperands<'a> {
    x: &'a Array3<f32>,
    w: &'a Array3<f32>,
    dy: &'a Array3<f32>,
}

/// Times the kernel the layers call: the input is overwritten by its
/// gradient, so each iteration gets a fresh copy, made outside the timing.
fn time_backward(
    b: &mut Bencher<'_>,
    operands: &BackwardOperands<'_>,
    config: Conv1dConfig,
    dw: &mut Array3<f32>,
    ws: &mut Conv1dWorkspace<f32>,
) {
    b.iter_batched_ref(
        || operands.x.clone(),
        |input| {
            conv1d_backward_in_place(
                input.view_mut(),
                operands.w.view(),
                operands.dy.view(),
                config,
                dw.view_mut(),
                None,
                ws,
            )
            .expect("fits")
        },
        BatchSize::LargeInput,
    )
}

fn conv(c: &mut Criterion) {
    let same = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    // The question's conv2 and conv3 at batch 1: they dominate its cost.
    for (name, cin, cout, k) in [
        ("conv2_64x32x70", 32, 64, 70),
        ("conv3_128x64x40", 64, 128, 40),
    ] {
        let x = filled((1, cin, 1040));
        let w = filled((cout, cin, k));
        let mut ws = Conv1dWorkspace::new();
        // The kernels the layers call: the output buffer is reused, the
        // input is overwritten by its gradient (a fresh copy per iteration,
        // made outside the timing).
        let mut y = Array3::<f32>::zeros((1, cout, 1040));
        c.bench_function(&format!("{name}_forward"), |b| {
            b.iter(|| {
                conv1d_forward_into(x.view(), w.view(), None, same, &mut ws, y.view_mut())
                    .expect("fits")
            })
        });
        let dy = filled((1, cout, 1040));
        let mut dw = Array3::<f32>::zeros((cout, cin, k));
        let operands = BackwardOperands {
            x: &x,
            w: &w,
            dy: &dy,
        };
        c.bench_function(&format!("{name}_backward"), |b| {
            time_backward(b, &operands, same, &mut dw, &mut ws)
        });
    }
}

fn pool(c: &mut Criterion) {
    // The question's first pool (70, deque path), its last (10 at batch
    // 32 over 128 channels, scanned tap by tap with its winners kept) and
    // the answer's last (3, one pass per window).
    for (name, shape, pool_size) in [
        ("max_pool_70_same_b1", (1, 32, 1040), 70),
        ("max_pool_10_same_b32x128", (32, 128, 1040), 10),
        ("max_pool_3_same_b32x128", (32, 128, 1040), 3),
    ] {
        let x = filled(shape);
        let cfg = Pool1dConfig {
            pool_size,
            stride: 1,
            padding: Padding::Same,
        };
        // As the layer runs it: pools above 4 keep their winners, smaller
        // ones find them again in backward.
        let mut y = Array3::<f32>::zeros(shape);
        let mut winners = vec![0u32; y.len()];
        let keep = pool_size > 4;
        c.bench_function(&format!("{name}_forward"), |b| {
            b.iter(|| {
                let slot = keep.then_some(&mut winners[..]);
                max_pool1d_forward_into(x.view(), cfg, y.view_mut(), slot).expect("fits")
            })
        });
        let dy = filled(shape);
        c.bench_function(&format!("{name}_backward"), |b| {
            b.iter_batched_ref(
                || x.clone(),
                |input| {
                    let slot = keep.then_some(&winners[..]);
                    max_pool1d_backward_in_place(input.view_mut(), dy.view(), cfg, slot)
                        .expect("fits")
                },
                BatchSize::LargeInput,
            )
        });
        // The pool with the LeakyReLU before it run inside its pass, as
        // `Sequential` runs the seed's models.
        c.bench_function(&format!("leaky_{name}_forward"), |b| {
            b.iter(|| {
                let slot = keep.then_some(&mut winners[..]);
                leaky_max_pool1d_forward_into(x.view(), 0.1, cfg, y.view_mut(), slot).expect("fits")
            })
        });
        c.bench_function(&format!("leaky_{name}_backward"), |b| {
            b.iter_batched_ref(
                || x.clone(),
                |input| {
                    let slot = keep.then_some(&winners[..]);
                    leaky_max_pool1d_backward_in_place(input.view_mut(), dy.view(), 0.1, cfg, slot)
                        .expect("fits")
                },
                BatchSize::LargeInput,
            )
        });
    }
}

fn dense(c: &mut Criterion) {
    // The seed's head: Dense(1) on a Flatten of 128 x 1040 = 133,120, batch 32.
    let mut rng = SeededRng::new(0, 0);
    let mut layer = Dense::<f32>::build(
        DenseSpec::new(1),
        "head".into(),
        Shape::Features(133_120),
        &mut rng,
    )
    .expect("builds");
    let x = ArrayD::from_shape_fn(vec![32, 133_120], |i| (i[1] as f32 * 0.37).sin());
    c.bench_function("dense_133120x1_b32_forward_backward", |b| {
        b.iter(|| {
            let y = layer.forward(x.clone(), Mode::Train).expect("fits");
            layer.backward(ArrayD::ones(y.shape())).expect("fits")
        })
    });
    // Its backward products alone: both in one pass that writes the input
    // gradient over the input, against the kernel gradient alone (what
    // the head runs when a max pool before it takes its input gradient as
    // factors).
    let x = x.into_raw_vec_and_offset().0;
    let (w, dy) = (vec![0.25f32; 133_120], vec![0.5f32; 32]);
    let mut grad_w = vec![0.0f32; 133_120];
    c.bench_function("single_unit_133120_b32_backward_in_place", |b| {
        b.iter_batched_ref(
            || x.clone(),
            |x| single_unit_backward_in_place(x, &dy, &w, &mut grad_w).expect("fits"),
            BatchSize::LargeInput,
        )
    });
    c.bench_function("single_unit_133120_b32_kernel_gradient", |b| {
        b.iter(|| single_unit_kernel_gradient(&x, &dy, &mut grad_w).expect("fits"))
    });
}

fn minirocket(c: &mut Criterion) {
    // MiniRocket's transform at 10,000 features on 64 signals of 500 points,
    // one channel and six (the AVX2 kernel sums and counts).
    for channels in [1, 6] {
        let signals = filled((64, channels, 500));
        let transform = kymo::baselines::MiniRocket::fit(&signals, 10_000, 0).expect("valid shape");
        c.bench_function(&format!("minirocket_transform_64x{channels}x500"), |b| {
            b.iter(|| transform.transform(&signals).expect("fitted shape"))
        });
    }
}

fn batch_norm(c: &mut Criterion) {
    use kymo::tensor::batch_norm::{
        batch_norm_backward, batch_norm_forward, batch_norm_inference_in_place, After, Before,
        Fused, Ncl, Statistics,
    };
    // ResNet's widest BatchNormalization at batch 32: 128 channels x 1040.
    let shape = Ncl {
        batch: 32,
        channels: 128,
        length: 1040,
    };
    let x = filled((32, 128, 1040)).into_raw_vec_and_offset().0;
    let (mean, variance) = (vec![0.1f32; 128], vec![1.5f32; 128]);
    let (gamma, beta) = (vec![1.2f32; 128], vec![0.3f32; 128]);
    let mut output = vec![0.0f32; x.len()];
    // Training's passes, plain, with a LeakyReLU before (the answer's
    // model with BatchNormalization) and with a ReLU after (a graph's
    // blocks): the forward pass into an output, and backward from the
    // kept input.
    for (name, fused) in [
        ("", Fused::none()),
        ("_after_leaky_relu", Fused::before(Before::LeakyRelu(0.1))),
        ("_then_relu", Fused::after(After::Relu)),
    ] {
        let affine = (&gamma[..], &beta[..]);
        let forward = |output: &mut [f32]| {
            batch_norm_forward(shape, &x, fused, Statistics::Batch, 1e-3, affine, output)
                .expect("fits")
        };
        // The statistics backward reads, whether or not the forward
        // bench is selected.
        let used = forward(&mut output);
        c.bench_function(
            &format!("batch_norm_128x1040_b32_train_forward{name}"),
            |b| b.iter(|| forward(&mut output)),
        );
        c.bench_function(
            &format!("batch_norm_128x1040_b32_train_backward{name}"),
            |b| {
                b.iter_batched_ref(
                    || x.clone(),
                    |dy| {
                        let statistics = (&used.mean[..], &used.inv_std[..]);
                        batch_norm_backward(shape, dy, (&x, fused), statistics, affine)
                            .expect("fits")
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    c.bench_function("batch_norm_128x1040_b32_inference_in_place", |b| {
        b.iter_batched_ref(
            || x.clone(),
            |input| {
                batch_norm_inference_in_place(shape, input, (&mean, &variance), 1e-3, &gamma, &beta)
                    .expect("fits")
            },
            BatchSize::LargeInput,
        )
    });
}

/// A small stride-1 pool keeping one byte per output (what a graph's
/// training pass runs, InceptionTime's 3-wide pool over a module's 128
/// channels at batch 32) against the in-place pair above, which keeps the
/// input instead.
fn pool_keeping_taps(c: &mut Criterion) {
    let shape = (32, 128, 1040);
    let x = filled(shape);
    let cfg = Pool1dConfig {
        pool_size: 3,
        stride: 1,
        padding: Padding::Same,
    };
    let mut y = Array3::<f32>::zeros(shape);
    let mut taps = vec![0u8; y.len()];
    c.bench_function("max_pool_3_same_b32x128_keeping_taps_forward", |b| {
        b.iter(|| {
            max_pool1d_forward_keeping_taps(x.view(), cfg, y.view_mut(), &mut taps).expect("fits")
        })
    });
    let dy = filled(shape);
    let mut dx = Array3::<f32>::zeros(shape);
    c.bench_function("max_pool_3_same_b32x128_from_taps_backward", |b| {
        b.iter(|| {
            max_pool1d_backward_from_taps(dx.view_mut(), dy.view(), cfg, &taps).expect("fits")
        })
    });
    // After a LeakyReLU (the answer's pair in training): the taps and each
    // input's side of the kink, against `leaky_max_pool_3_same_b32x128`'s
    // pair above, which keeps the input and finds both again.
    let mut positive = vec![0u8; x.len()];
    c.bench_function("leaky_max_pool_3_same_b32x128_keeping_taps_forward", |b| {
        b.iter(|| {
            let kept = (&mut taps[..], &mut positive[..]);
            leaky_max_pool1d_forward_keeping_taps(x.view(), 0.1, cfg, y.view_mut(), kept)
                .expect("fits")
        })
    });
    c.bench_function("leaky_max_pool_3_same_b32x128_from_taps_backward", |b| {
        b.iter(|| {
            let kept = (&taps[..], &positive[..]);
            leaky_max_pool1d_backward_from_taps(dx.view_mut(), dy.view(), 0.1, cfg, kept)
                .expect("fits")
        })
    });
    // The same with the output gradient in the factors a Dense(1) head
    // hands over (the answer's last pool in training): made row by row
    // from the head's kernel instead of read from memory.
    let scale: Vec<f32> = (0..shape.0).map(|b| 0.5 - b as f32 * 0.01).collect();
    let weights = filled((1, shape.1, shape.2)).into_raw_vec_and_offset().0;
    c.bench_function(
        "leaky_max_pool_3_same_b32x128_from_taps_backward_rank_one",
        |b| {
            b.iter(|| {
                let kept = (&taps[..], &positive[..]);
                let gy = PooledGradient::RankOne {
                    scale: &scale,
                    weights: &weights,
                };
                leaky_max_pool1d_backward_from_taps(dx.view_mut(), gy, 0.1, cfg, kept)
                    .expect("fits")
            })
        },
    );
}

/// Kernels of 3, 5 and 8 taps at batch 32, forward (in training and in
/// inference, `Conv1dWorkspace::set_inference`) and backward: ResNet's and
/// FCN's 5- and 8-tap layers, which go by Fourier tiles
/// (`conv1d/fourier/`); the doctor's narrow 16 -> 32 layer, which keeps
/// the direct GEMM forward, Winograd's F(4, 3) over groups of 3 taps
/// backward and F(2, 3) in inference; and FCN's and the answer's 3-tap
/// layers, F(4, 3) through Lavin and Gray's points in training and through
/// the balanced ones in inference.
fn short_kernels(c: &mut Criterion) {
    let same = Conv1dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    let mut group = c.benchmark_group("short_kernels");
    group.sample_size(10);
    for (name, cin, cout, k) in [
        ("resnet_conv_128x64x8_b32", 64, 128, 8),
        ("fcn_conv2_256x128x5_b32", 128, 256, 5),
        ("doctor_conv2_32x16x5_b32", 16, 32, 5),
        ("fcn_conv3_128x256x3_b32", 256, 128, 3),
        ("answer_conv3_128x64x3_b32", 64, 128, 3),
    ] {
        let x = filled((32, cin, 1040));
        let w = filled((cout, cin, k));
        let dy = filled((32, cout, 1040));
        let mut dw = Array3::<f32>::zeros((cout, cin, k));
        let mut ws = Conv1dWorkspace::new();
        let operands = BackwardOperands {
            x: &x,
            w: &w,
            dy: &dy,
        };
        group.bench_function(format!("{name}_backward"), |b| {
            time_backward(b, &operands, same, &mut dw, &mut ws)
        });
        let mut y = Array3::<f32>::zeros((32, cout, 1040));
        for (mode, inference) in [("training", false), ("inference", true)] {
            ws.set_inference(inference);
            group.bench_function(format!("{name}_forward_{mode}"), |b| {
                b.iter(|| {
                    conv1d_forward_into(x.view(), w.view(), None, same, &mut ws, y.view_mut())
                        .expect("fits")
                })
            });
        }
        // Inference of the convolution, BatchNormalization and ReLU: as
        // three passes over the batch, and as one with the two maps in the
        // convolution's epilogue (`conv1d_forward_then`), the same bits.
        let maps: Vec<ChannelMap<f32>> = (0..cout)
            .map(|c| ChannelMap::new(0.1, 1.5, 1e-3, 1.0 + c as f32 * 1e-3, -0.05))
            .collect();
        let bn_relu = |stretch: RowStretch, values: &mut [f32]| {
            maps[stretch.channel].apply(values);
            values.iter_mut().for_each(|v| *v = v.max(0.0));
        };
        ws.set_inference(true);
        group.bench_function(format!("{name}_inference_bn_relu_separate"), |b| {
            b.iter(|| {
                conv1d_forward_into(x.view(), w.view(), None, same, &mut ws, y.view_mut())
                    .expect("fits");
                let values = y.as_slice_mut().expect("standard layout");
                for (row, values) in values.chunks_mut(1040).enumerate() {
                    maps[row % cout].apply(values);
                }
                values.iter_mut().for_each(|v| *v = v.max(0.0));
            })
        });
        group.bench_function(format!("{name}_inference_bn_relu_fused"), |b| {
            b.iter(|| {
                conv1d_forward_then(
                    x.view(),
                    w.view(),
                    None,
                    same,
                    &mut ws,
                    y.view_mut(),
                    &bn_relu,
                )
                .expect("fits")
            })
        });
    }
    group.finish();
}

/// An activation layer's training step (forward keeping `f'(z)`, then
/// backward) at the answer's widest shape, for the smooth activations
/// whose functions the CPU has no vector instruction for.
fn smooth_activations(c: &mut Criterion) {
    let x = filled((32, 128, 1040)).into_dyn();
    let dy = filled((32, 128, 1040)).mapv(|v| v * 0.5).into_dyn();
    let mut group = c.benchmark_group("activation_training");
    group.sample_size(10);
    for (name, activation) in [
        ("tanh", Activation::Tanh),
        ("sigmoid", Activation::Sigmoid),
        ("elu", Activation::Elu { alpha: 1.0 }),
        ("silu", Activation::Silu),
        ("gelu", Activation::Gelu),
    ] {
        let spec = LayerSpec::Activation(ActivationSpec {
            activation,
            name: None,
        });
        let mut layer = spec
            .build::<f32>(
                "activation".into(),
                Shape::Signal {
                    channels: 128,
                    length: 1040,
                },
                0,
                0,
            )
            .expect("an elementwise activation builds");
        group.bench_function(format!("{name}_b32x128x1040"), |b| {
            b.iter_batched(
                || (x.clone(), dy.clone()),
                |(x, dy)| {
                    layer.forward(x, Mode::Train).expect("fits");
                    layer.backward(dy).expect("fits")
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    conv,
    short_kernels,
    pool,
    pool_keeping_taps,
    dense,
    batch_norm,
    minirocket,
    smooth_activations
);
criterion_main!(benches);
