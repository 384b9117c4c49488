//! Criterion benches of kymo's kernels at the seed's shapes.
//!
//! `cargo bench --bench kernels`

use criterion::{criterion_group, criterion_main, Criterion};
use kymo::tensor::{
    conv1d_backward, conv1d_forward, max_pool1d_forward, Conv1dConfig, Conv1dWorkspace, Padding,
    Pool1dConfig,
};
use ndarray::Array3;

fn filled(shape: (usize, usize, usize)) -> Array3<f32> {
    Array3::from_shape_fn(shape, |(a, b, c)| {
        ((a * 131 + b * 31 + c) as f32 * 0.37).sin()
    })
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
        c.bench_function(&format!("{name}_forward"), |b| {
            b.iter(|| conv1d_forward(x.view(), w.view(), None, same, &mut ws).expect("fits"))
        });
        let dy = filled((1, cout, 1040));
        let mut dw = Array3::<f32>::zeros((cout, cin, k));
        c.bench_function(&format!("{name}_backward"), |b| {
            b.iter(|| {
                conv1d_backward(
                    x.view(),
                    w.view(),
                    dy.view(),
                    same,
                    dw.view_mut(),
                    None,
                    &mut ws,
                )
                .expect("fits")
            })
        });
    }
}

fn pool(c: &mut Criterion) {
    let x = filled((1, 32, 1040));
    let cfg = Pool1dConfig {
        pool_size: 70,
        stride: 1,
        padding: Padding::Same,
    };
    c.bench_function("max_pool_70_same", |b| {
        b.iter(|| max_pool1d_forward(x.view(), cfg).expect("fits"))
    });
}

criterion_group!(benches, conv, pool);
criterion_main!(benches);
