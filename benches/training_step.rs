//! Criterion benches of one whole training step (forward, MSE, backward,
//! Adam) of each seed model at batch 1 and 32, on a 2-thread `Runtime` as
//! `cargo xtask bench` runs them against PyTorch and Keras; and of ResNet
//! on long signals with and without a graph's recomputation in backward.
//!
//! `cargo bench --bench training_step`

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use kymo::layers::{zoo, Model, Sequential};
use kymo::optim::{Adam, AnyOptimizer};
use kymo::tensor::{Runtime, SeededRng};
use kymo::train::{FitConfig, Trainer};
use ndarray::{Array2, ArrayD};

/// A trainer of `model` on `runtime` (Adam 1e-3, MSE, batches of
/// `batch`), with a seeded batch of signals of `length` and targets, timed
/// as `name` in `group`.
fn bench_steps(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: String,
    model: Box<dyn Model<f32>>,
    runtime: &Runtime,
    (batch, length): (usize, usize),
) {
    let config = FitConfig {
        batch_size: batch,
        ..Default::default()
    };
    let mut trainer = Trainer::new(model, AnyOptimizer::Adam(Adam::new(1e-3)), config);
    trainer.runtime = runtime.clone();
    let mut rng = SeededRng::new(0, 0);
    let x = ArrayD::from_shape_fn(vec![batch, 1, length], |_| rng.normal() as f32);
    let y = Array2::from_shape_fn((batch, 1), |_| rng.normal() as f32);
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function(name, |b| {
        b.iter(|| trainer.train_on_batch(x.clone(), &y).expect("trains"))
    });
}

fn step(c: &mut Criterion) {
    // The trainers' own runtime: a private pool of 2 threads.
    let runtime = Runtime::new(2).expect("threads start");
    let mut group = c.benchmark_group("training_step");
    // The question's model at batch 32 takes about a second a step.
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for (model, batch) in [
        ("original", 1),
        ("original", 32),
        ("answer", 1),
        ("answer", 32),
        ("answer_bn", 32),
    ] {
        let spec = zoo::by_name(model, zoo::SEED_LENGTH).expect("built-in");
        let built = Sequential::<f32>::new(&spec, 0).expect("builds");
        let shape = (batch, zoo::SEED_LENGTH);
        bench_steps(
            &mut group,
            format!("{model}_b{batch}"),
            Box::new(built),
            &runtime,
            shape,
        );
    }
    group.finish();
}

/// ResNet's step at batch 8 on 4,096 points: recomputing in backward what
/// BatchNormalization, ReLU and `Add` produce, against keeping every
/// convolution's input; and checkpointing its first two residual blocks
/// (replaying them before their backward pass) on top of recomputing (the
/// memory each saves is in docs/performance.md).
fn recomputation(c: &mut Criterion) {
    let runtime = Runtime::new(2).expect("threads start");
    let mut group = c.benchmark_group("graph_recomputation");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let (batch, length) = (8, 4096);
    for (name, recompute, checkpoint) in [
        ("recompute", Some(0), None),
        ("keep_inputs", None, None),
        ("checkpoint", Some(0), Some(0)),
    ] {
        let spec = zoo::architecture_by_name("resnet", length).expect("built-in");
        let mut built = spec.build::<f32>(0).expect("builds");
        built.set_recompute_above(recompute);
        built.set_checkpoint_above(checkpoint);
        let name = format!("resnet_b{batch}_{length}_{name}");
        bench_steps(&mut group, name, built, &runtime, (batch, length));
    }
    group.finish();
}

criterion_group!(benches, step, recomputation);
criterion_main!(benches);
