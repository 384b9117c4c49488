//! kymo's side of `cargo xtask bench`: time training steps of one seed model
//! at one batch size, in a process of its own so that its peak memory is its
//! own.

use anyhow::Context as _;
use std::time::Instant;

use kymo_layers::{profile, zoo, Activation, LayerSpec, Model, Sequential};
use kymo_optim::{Adam, AnyOptimizer};
use kymo_tensor::SeededRng;
use kymo_train::{FitConfig, Loss, Trainer};
use ndarray::{Array2, ArrayD};
use serde::{Deserialize, Serialize};

/// One framework's figures for one (model, batch).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepTiming {
    /// `kymo`, `pytorch` or `keras`.
    pub framework: String,
    /// Its version.
    pub version: String,
    /// Seed model name.
    pub model: String,
    /// Batch size.
    pub batch: usize,
    /// Signal length (absent in older reports: the question's 1040).
    #[serde(default = "seed_length")]
    pub length: usize,
    /// Threads it was allowed.
    pub threads: usize,
    /// Timed steps.
    pub steps: usize,
    /// Timed seconds.
    pub seconds: f64,
    /// Training samples per second (forward, backward, optimizer).
    pub samples_per_second: f64,
    /// The process's peak resident memory (VmHWM), MiB.
    pub peak_rss_mb: f64,
    /// kymo only: the Conv1D layers' effective rate in a training step,
    /// GFLOP/s: the direct convolution's operations (forward and the two
    /// backward products) over the layers' measured forward and backward
    /// time. The peers' scripts leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_gflops: Option<f64>,
}

fn seed_length() -> usize {
    zoo::SEED_LENGTH
}

/// Peak resident memory of this process in MiB, from /proc (NaN elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Overrides of a model's own choices: what a training step keeps
/// ([`Model::set_recompute_above`], [`Model::set_checkpoint_above`];
/// `None`: the graph's default), and whether inference and training fuse
/// ([`Model::set_inference_fusion`], [`Model::set_training_fusion`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Keeping {
    /// When to recompute cheap values in backward.
    pub recompute_above: Option<Option<usize>>,
    /// When to checkpoint segments.
    pub checkpoint_above: Option<Option<usize>>,
    /// Run layer by layer: in inference each convolution without the
    /// maps after it, in training each BatchNormalization without its
    /// ReLU.
    pub unfused: bool,
}

/// A trainer for `model` with Adam(1e-3) and MSE, as in the question; with
/// `classes` above 0, a `Dense(classes, softmax)` head and categorical
/// cross-entropy instead. `keeping` overrides a graph's choices of when to
/// recompute and checkpoint.
pub fn trainer(
    model: &str,
    length: usize,
    batch: usize,
    classes: usize,
    keeping: Keeping,
) -> anyhow::Result<Trainer> {
    let mut spec = zoo::architecture_by_name(model, length)
        .with_context(|| format!("unknown model {model}"))?;
    let mut loss = Loss::Mse;
    if classes > 0 {
        spec = spec.with_head(classes, Activation::Softmax)?;
        loss = Loss::CategoricalCrossentropy {
            from_logits: false,
            label_smoothing: 0.0,
        };
    }
    let mut built = spec.build::<f32>(0)?;
    if let Some(above) = keeping.recompute_above {
        built.set_recompute_above(above);
    }
    if let Some(above) = keeping.checkpoint_above {
        built.set_checkpoint_above(above);
    }
    built.set_inference_fusion(!keeping.unfused);
    built.set_training_fusion(!keeping.unfused);
    let config = FitConfig {
        batch_size: batch,
        loss,
        ..Default::default()
    };
    Ok(Trainer::new(
        built,
        AnyOptimizer::Adam(Adam::new(1e-3)),
        config,
    ))
}

/// A random batch of signals and targets for the seed models: normal
/// targets, or one-hot rows of `classes` classes when it is above 0.
pub fn random_batch(length: usize, batch: usize, classes: usize) -> (ArrayD<f32>, Array2<f32>) {
    let mut rng = SeededRng::new(0, 0);
    let x = ArrayD::from_shape_fn(vec![batch, 1, length], |_| rng.normal() as f32);
    let y = if classes == 0 {
        Array2::from_shape_fn((batch, 1), |_| rng.normal() as f32)
    } else {
        let labels: Vec<usize> = (0..batch).map(|_| rng.below(classes)).collect();
        Array2::from_shape_fn((batch, classes), |(i, k)| {
            f32::from(u8::from(labels[i] == k))
        })
    };
    (x, y)
}

/// Times steps of `model` at `batch` as `kind` says (head, training or
/// inference, length) for at least `seconds` (3 warm-up steps).
pub fn run(
    model: &str,
    batch: usize,
    kind: super::StepKind,
    threads: usize,
    seconds: f64,
    keeping: Keeping,
) -> anyhow::Result<StepTiming> {
    let super::StepKind {
        classes,
        predict,
        length,
    } = kind;
    kymo_tensor::set_threads(threads);
    let mut trainer = trainer(model, length, batch, classes, keeping)?;
    let (x, y) = random_batch(length, batch, classes);
    let per_step = predict_samples(predict, batch);
    let predicted = match per_step {
        Some(samples) => {
            let (signals, targets) = random_batch(length, samples, classes);
            let signals = signals.into_dimensionality::<ndarray::Ix3>()?;
            Some(kymo_data::Dataset::new(signals, targets)?)
        }
        None => None,
    };
    let mut step = || {
        if let Some(data) = &predicted {
            // What a user's `predict` runs (`kymo_train::predict_on`):
            // `batch`-sample batches, or the samples split across the
            // threads when there are enough of them, nothing kept.
            let runtime = trainer.runtime.clone();
            kymo_train::predict_on(&runtime, trainer.model.as_mut(), data, batch)
                .map(|_| ())
                .map_err(anyhow::Error::from)
        } else {
            trainer
                .train_on_batch(x.clone(), &y)
                .map(|_| ())
                .map_err(anyhow::Error::from)
        }
    };
    for _ in 0..3 {
        step()?;
    }
    let started = Instant::now();
    let mut steps = 0;
    while steps < 3 || started.elapsed().as_secs_f64() < seconds {
        step()?;
        steps += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Read before the per-layer pass below, which must not count.
    let peak_rss_mb = peak_rss_mb();
    // Per-layer timing runs a chain of layers: a graph's branches have no
    // such order, so graph models report no conv rate.
    let conv_gflops = match zoo::by_name(model, length).filter(|_| !predict) {
        Some(spec) => {
            let mut chain = Sequential::<f32>::new(&spec, 0)?;
            Some(conv_gflops(&mut chain, &x)?)
        }
        None => None,
    };
    Ok(StepTiming {
        framework: "kymo".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        model: model.into(),
        batch,
        length,
        threads,
        steps,
        seconds: elapsed,
        samples_per_second: (steps * per_step.unwrap_or(batch)) as f64 / elapsed,
        peak_rss_mb,
        conv_gflops,
    })
}

/// Batches of `batch` one inference step predicts: enough that the copies
/// of the model a prediction split by samples builds once per call
/// (`kymo_train::predict_on`) are spread over a user's data set, as they
/// are in `predict`, not charged to every batch.
const PREDICT_BATCHES: usize = 8;

/// The samples one inference step predicts (`None` in training): one at
/// batch 1, which times a single sample's latency, else
/// [`PREDICT_BATCHES`] batches.
fn predict_samples(predict: bool, batch: usize) -> Option<usize> {
    match (predict, batch) {
        (false, _) => None,
        (true, 1) => Some(1),
        (true, _) => Some(batch * PREDICT_BATCHES),
    }
}

/// Samples timed per layer for [`conv_gflops`] (at least 5 passes), after
/// two warm-up passes: at batch 1, five passes took about 10 ms and the
/// rate they gave varied by a quarter from run to run.
const PROFILED_SAMPLES: usize = 160;

/// The Conv1D layers' effective GFLOP/s in training passes over `x`.
fn conv_gflops(model: &mut Sequential<f32>, x: &ArrayD<f32>) -> anyhow::Result<f64> {
    let passes = (PROFILED_SAMPLES / x.shape()[0].max(1)).max(5);
    let timings = profile::time_layers(model, x, 2, passes)?;
    let (mut operations, mut seconds) = (0.0, 0.0);
    for (layer, timing) in model.layers().iter().zip(&timings) {
        if matches!(layer.spec(), LayerSpec::Conv1D(_)) {
            // Forward and two backward products, two operations each.
            operations += 3.0 * 2.0 * timing.multiply_adds;
            seconds += timing.forward_seconds + timing.backward_seconds;
        }
    }
    Ok(operations / seconds / 1e9)
}
