//! Work per training sample, and the GEMM rate it is measured against.

use std::time::Instant;

use kymo_layers::{profile, Model};
use kymo_tensor::{matmul, MatRef};

/// Floating-point operations of one training sample: forward, plus the two
/// backward products (input and weight gradients) of every Conv1D and Dense,
/// `3 x 2 x multiply-adds` (the elementwise layers are not counted).
pub fn training_flops_per_sample(model: &dyn Model<f32>) -> f64 {
    let forward: f64 = model
        .layers()
        .into_iter()
        .map(|layer| 2.0 * profile::forward_multiply_adds(layer))
        .sum();
    3.0 * forward
}

/// The rate of kymo's GEMM (the `gemm` crate) on an `m x k x n` single-
/// precision product, GFLOP/s, best of a few repetitions after a warm-up.
pub fn sgemm_gflops(m: usize, k: usize, n: usize, threads: usize) -> f64 {
    kymo_tensor::set_threads(threads);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let mut best = f64::INFINITY;
    for repetition in 0..6 {
        let started = Instant::now();
        // Invariant: the slices have exactly the extents the views describe.
        matmul(
            &mut c,
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            false,
        )
        .expect("shapes match by construction");
        if repetition > 0 {
            best = best.min(started.elapsed().as_secs_f64());
        }
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}
