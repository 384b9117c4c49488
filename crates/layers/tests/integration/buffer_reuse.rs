//! Layers reuse their buffers from step to step (the spare output, the
//! cached input that becomes the input gradient, the kept derivative): a
//! step must give the same bits as the same step on a fresh model, whatever
//! earlier steps left in those buffers, and whatever their batch size.

use kymo_layers::Model;
use kymo_layers::{zoo, ArchitectureSpec, Mode, ModelSpec, Sequential};
use ndarray::{ArrayD, IxDyn};

fn batch(size: usize, length: usize, salt: f32) -> ArrayD<f32> {
    ArrayD::from_shape_fn(IxDyn(&[size, 1, length]), |d| {
        ((d[0] * 31 + d[2]) as f32 * 0.13 + salt).sin()
    })
}

/// Output, input gradient and every parameter gradient of one step of any
/// model.
fn step(model: &mut dyn Model<f32>, x: ArrayD<f32>) -> Vec<Vec<u32>> {
    model.zero_grad();
    let y = model.forward(x, Mode::Train).expect("fits");
    let grad = y.mapv(|v| v - 0.5);
    let dx = model.backward(grad).expect("fits");
    let bits = |a: &ArrayD<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let mut all = vec![bits(&y), bits(&dx)];
    all.extend(model.parameters().iter().map(|p| bits(&p.grad)));
    all
}

fn check(spec: &ModelSpec, length: usize) {
    let target = batch(3, length, 0.9);
    let mut fresh = Sequential::<f32>::new(spec, 5).expect("builds");
    let want = step(&mut fresh, target.clone());
    let mut used = Sequential::<f32>::new(spec, 5).expect("builds");
    // An inference pass, a larger batch and a smaller one leave their
    // values in every reused buffer (an inference pass keeps no buffer
    // back, so the training steps come after it).
    used.forward(batch(4, length, 0.2), Mode::Inference)
        .expect("fits");
    step(&mut used, batch(5, length, 0.1));
    step(&mut used, batch(4, length, 0.4));
    assert_eq!(step(&mut used, target), want);
}

#[test]
fn a_step_does_not_depend_on_what_earlier_steps_left_in_the_buffers() {
    // Small versions of the seed's models: every reusing layer (Conv1D,
    // LeakyReLU, MaxPooling1D with scanned and deque windows, Flatten,
    // BatchNormalization, Dense) is in one of them.
    let length = 48;
    check(
        &zoo::seed_structure([3, 4, 5], [7, 5, 3], [20, 4, 3], false, length),
        length,
    );
    check(
        &zoo::seed_structure([3, 4, 5], [2, 3, 3], [2, 3, 3], true, length),
        length,
    );
    check(&zoo::doctor(length), length);
}

#[test]
fn backward_without_a_training_forward_is_an_error_after_reuse_too() {
    let length = 32;
    let mut model = Sequential::<f32>::new(&zoo::answer(length), 1).expect("builds");
    step(&mut model, batch(2, length, 0.3));
    let y = model
        .forward(batch(2, length, 0.3), Mode::Inference)
        .expect("fits");
    let err = model.backward(y).unwrap_err().to_string();
    assert!(
        err.contains("backward needs a training-mode forward"),
        "{err}"
    );
}

/// Graphs draw every output, copy, concatenation and gradient from the
/// process's buffer pool, which other models (here a larger one, run
/// first) leave full of their values: a step gives the bits of the same
/// step on a fresh model all the same, after inference and other batch
/// sizes. The small InceptionTime has kernels past the spectral method's
/// threshold, so its widened f64 forward pass and pooled scratch are in it.
#[test]
fn graph_steps_do_not_depend_on_what_other_models_left_in_the_pool() {
    let length = 40;
    let specs = [
        ArchitectureSpec::Graph(zoo::fcn_with(length, [4, 6, 4])),
        ArchitectureSpec::Graph(zoo::resnet_with(length, [4, 6, 6])),
        ArchitectureSpec::Graph(zoo::inception_with(
            length,
            zoo::InceptionSizes {
                kernels: [20, 9, 3],
                filters: 4,
                bottleneck: 4,
                depth: 6,
            },
        )),
    ];
    for spec in &specs {
        let target = batch(3, length, 0.9);
        let mut fresh = spec.build::<f32>(5).expect("builds");
        let want = step(fresh.as_mut(), target.clone());
        // Another, larger model's steps fill the pool with its values.
        let mut other = ArchitectureSpec::Graph(zoo::resnet_with(2 * length, [8, 8, 8]))
            .build::<f32>(1)
            .expect("builds");
        step(other.as_mut(), batch(6, 2 * length, 0.3));
        // And buffers of NaN of every size up to the largest array here:
        // an element a node failed to write would poison the step.
        for size in (1..=16).map(|k| k * 200) {
            kymo_tensor::give_buffer(vec![f32::NAN; size]);
        }
        let mut used = spec.build::<f32>(5).expect("builds");
        used.forward(batch(4, length, 0.2), Mode::Inference)
            .expect("fits");
        step(used.as_mut(), batch(5, length, 0.1));
        step(other.as_mut(), batch(2, 2 * length, 0.7));
        step(used.as_mut(), batch(2, length, 0.4));
        assert_eq!(step(used.as_mut(), target), want);
    }
}
