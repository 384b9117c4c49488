//! Criterion benches of one whole training step (forward, MSE, backward,
//! Adam) of each seed model at batch 1 and 32, on a 2-thread `Runtime` as
//! `cargo xtask bench` runs them against PyTorch and Keras.
//!
//! `cargo bench --bench training_step`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kymo::layers::{zoo, Sequential};
use kymo::optim::{Adam, AnyOptimizer};
use kymo::tensor::{Runtime, SeededRng};
use kymo::train::{FitConfig, Trainer};
use ndarray::{Array2, ArrayD};

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
        let config = FitConfig {
            batch_size: batch,
            ..Default::default()
        };
        let mut trainer = Trainer::new(built, AnyOptimizer::Adam(Adam::new(1e-3)), config);
        trainer.runtime = runtime.clone();
        let mut rng = SeededRng::new(0, 0);
        let x = ArrayD::from_shape_fn(vec![batch, 1, zoo::SEED_LENGTH], |_| rng.normal() as f32);
        let y = Array2::from_shape_fn((batch, 1), |_| rng.normal() as f32);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("{model}_b{batch}"), |b| {
            b.iter(|| trainer.train_on_batch(x.clone(), &y).expect("trains"))
        });
    }
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
