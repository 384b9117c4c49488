//! Inference split by samples: each of the runtime's threads runs the
//! whole model over a share of the samples, a few at a time, with its
//! kernels on that thread alone.
//!
//! Split the usual way, every layer of a batch of 32 runs on both threads,
//! which meet at its end, and writes its whole output (17 MB for the
//! answer's widest layer) before the next layer reads it back from memory.
//! Split by samples, the threads never wait on each other, and a couple of
//! samples' layers stay in a core's caches: one thread running the
//! answer's model on 2 samples at a time gave 1,700 samples/s where both
//! threads on batches of 32 gave 2,500 (`docs/performance.md`; smaller
//! batches on both threads gained nothing, so the meetings are most of
//! it).
//!
//! Each sample's outputs do not depend on which samples share its batch
//! (every kernel computes a sample's outputs from that sample alone, sums
//! in a fixed order), so the predictions are the same bits as the
//! batch-by-batch pass's.

use std::ops::Range;

use kymo_data::Dataset;
use kymo_layers::{profile, Layer, LayerSpec, Mode, Model};
use kymo_tensor::{with_threads, Runtime};
use ndarray::{Array2, Ix2};

use crate::TrainError;

/// Samples each thread runs through the whole model at a time: a couple of
/// samples' activations stay within a core's second-level cache on the
/// models of `docs/performance.md` (the answer's widest layer holds 0.5 MB
/// per sample), and a Fourier tile pass takes two samples together.
const SAMPLES_AT_A_TIME: usize = 2;

/// Multiply-adds per layer and sample (on average over a model's layers)
/// up to which inference splits by samples. What a split saves is per
/// layer: the threads' meeting at its end and its output's trip through
/// memory; what it costs is per group of samples: small GEMMs, and each
/// layer's kernel transformed again for every group. Measured at 1,040
/// points, batch 32, 2 threads (`docs/performance.md`): the answer's
/// models (2–3 M per layer) ran 22–28% faster split, InceptionTime (7.9 M,
/// 55 layers) 19%; ResNet (15 M) no faster, FCN (25 M) 3% and the
/// question's model (45 M) 20% slower.
const SMALL_LAYER_WORK: f64 = 10e6;

/// Predictions of `model` for every sample of `data` split by samples
/// across `runtime`'s threads, in the order of `data`, or `None` when
/// there are too few samples (fewer than [`SAMPLES_AT_A_TIME`] per thread)
/// or one thread, or a model that does not split well ([`splits_well`]),
/// for the caller's batch-by-batch pass.
///
/// The other threads run copies of `model`
/// ([`Model::inference_copy`]: its architecture and weights, moving
/// statistics included), made once per call; a model without one goes
/// batch by batch.
pub(crate) fn predict_by_samples(
    runtime: &Runtime,
    model: &mut dyn Model<f32>,
    data: &Dataset,
) -> Result<Option<Vec<Array2<f32>>>, TrainError> {
    let threads = runtime.threads();
    if threads < 2 || data.len() < threads * SAMPLES_AT_A_TIME || !splits_well(model) {
        return Ok(None);
    }
    let mut copies = Vec::with_capacity(threads - 1);
    for _ in 1..threads {
        match model.inference_copy()? {
            Some(copy) => copies.push(copy),
            None => return Ok(None),
        }
    }
    let mut models: Vec<&mut dyn Model<f32>> = vec![model];
    models.extend(copies.iter_mut().map(|copy| copy.as_mut()));
    let mut shares = shares(data.len(), threads).into_iter();
    let mine = shares.next().unwrap_or_default();
    let (model, others) = models
        .split_first_mut()
        .expect("invariant: `models` starts with `model`");
    // Threads of their own, not the pool's workers: handed to the pool
    // as two parallel tasks, both shares ran on one worker in about a
    // third of the runs (half the rate; which worker was held, and by
    // what, was not found). Threads of their own never did. A thread
    // costs tens of microseconds, once per call.
    let outputs = std::thread::scope(|scope| {
        let handles: Vec<_> = others
            .iter_mut()
            .zip(shares)
            .map(|(model, share)| {
                scope.spawn(move || with_threads(1, || predict_share(&mut **model, data, share)))
            })
            .collect();
        let first = with_threads(1, || predict_share(&mut **model, data, mine));
        let rest: Vec<_> = handles.into_iter().map(|handle| handle.join()).collect();
        (first, rest)
    });
    let (first, rest) = outputs;
    let mut rows = first?;
    for share in rest {
        // A panic in a share is a bug in a kernel: pass it on as one.
        let share = share.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        rows.extend(share?);
    }
    Ok(Some(rows))
}

/// Whether `model` may split by samples, and gains by it: no
/// `ActivityRegularization` layer (the penalties of the copies' passes
/// would not reach the model's, which `evaluate` adds to the loss), and
/// layers small enough on average for the split to pay: at most
/// [`SMALL_LAYER_WORK`] multiply-adds per layer and sample, counted as the
/// direct method would do them
/// (`kymo_layers::profile::forward_multiply_adds`, elementwise layers
/// counting zero).
fn splits_well(model: &dyn Model<f32>) -> bool {
    let layers = model.layers();
    let penalizes =
        |layer: &&dyn Layer<f32>| matches!(layer.spec(), LayerSpec::ActivityRegularization(_));
    if layers.iter().any(penalizes) {
        return false;
    }
    let work: f64 = layers
        .iter()
        .map(|layer| profile::forward_multiply_adds(*layer))
        .sum();
    work <= SMALL_LAYER_WORK * layers.len() as f64
}

/// `threads` contiguous ranges of `0..samples`, in order, their lengths
/// whole numbers of [`SAMPLES_AT_A_TIME`] but for the last, as even as
/// that allows.
fn shares(samples: usize, threads: usize) -> Vec<Range<usize>> {
    let groups = samples.div_ceil(SAMPLES_AT_A_TIME);
    (0..threads)
        .map(|k| {
            let start = (groups * k / threads * SAMPLES_AT_A_TIME).min(samples);
            let end = (groups * (k + 1) / threads * SAMPLES_AT_A_TIME).min(samples);
            start..end
        })
        .collect()
}

/// The outputs of one thread's share, [`SAMPLES_AT_A_TIME`] samples per
/// forward pass.
fn predict_share(
    model: &mut dyn Model<f32>,
    data: &Dataset,
    share: Range<usize>,
) -> Result<Vec<Array2<f32>>, TrainError> {
    let indices: Vec<usize> = share.collect();
    let mut rows = Vec::with_capacity(indices.len().div_ceil(SAMPLES_AT_A_TIME));
    for group in indices.chunks(SAMPLES_AT_A_TIME) {
        let (x, _) = data.batch(group)?;
        rows.push(two_dimensional(model.forward(x, Mode::Inference)?)?);
    }
    Ok(rows)
}

/// A model's output as `[batch, targets]`.
pub(crate) fn two_dimensional(output: ndarray::ArrayD<f32>) -> Result<Array2<f32>, TrainError> {
    output
        .into_dimensionality::<Ix2>()
        .map_err(|_| TrainError::Config {
            field: "model",
            reason: "the model's output is not [batch, targets]".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kymo_layers::zoo;
    use kymo_layers::ArchitectureSpec;
    use kymo_tensor::SeededRng;
    use ndarray::{Array3, Axis};

    /// `spec` built, every weight moved off its initial value (moving
    /// variances kept positive), so that a copy given the wrong weights or
    /// none gives other outputs.
    fn trained_looking(spec: &ArchitectureSpec) -> Box<dyn Model<f32>> {
        let mut model = spec.build::<f32>(3).expect("builds");
        let mut rng = SeededRng::new(4, 0);
        let mut weights = model.get_weights();
        for named in &mut weights {
            let lift = if named.name.contains("variance") {
                0.5
            } else {
                0.0
            };
            named
                .array
                .mapv_inplace(|v| v + lift + 0.1 * rng.normal() as f32);
        }
        model.set_weights(&weights).expect("same shapes");
        model
    }

    /// A model of an embedder's, delegating to a kymo model but keeping
    /// [`Model::inference_copy`]'s default.
    struct Wrapped(Box<dyn Model<f32>>);

    impl Model<f32> for Wrapped {
        fn architecture(&self) -> ArchitectureSpec {
            self.0.architecture()
        }
        fn input_shape(&self) -> kymo_layers::Shape {
            self.0.input_shape()
        }
        fn output_shape(&self) -> kymo_layers::Shape {
            self.0.output_shape()
        }
        fn forward(
            &mut self,
            input: ndarray::ArrayD<f32>,
            mode: Mode,
        ) -> Result<ndarray::ArrayD<f32>, kymo_layers::LayerError> {
            self.0.forward(input, mode)
        }
        fn backward(
            &mut self,
            grad_output: ndarray::ArrayD<f32>,
        ) -> Result<ndarray::ArrayD<f32>, kymo_layers::LayerError> {
            self.0.backward(grad_output)
        }
        fn layers(&self) -> Vec<&dyn Layer<f32>> {
            self.0.layers()
        }
        fn layers_mut(&mut self) -> Vec<&mut dyn Layer<f32>> {
            self.0.layers_mut()
        }
        fn summary(&self) -> kymo_layers::Summary {
            self.0.summary()
        }
    }

    fn signals(samples: usize, length: usize) -> Dataset {
        let mut rng = SeededRng::new(5, 0);
        let x = Array3::from_shape_fn((samples, 1, length), |_| rng.normal() as f32);
        Dataset::new(x, Array2::zeros((samples, 1))).expect("consistent")
    }

    fn bits(rows: &[Array2<f32>]) -> Vec<u32> {
        rows.iter().flatten().map(|v| v.to_bits()).collect()
    }

    /// The split gives the bits of one forward pass over every sample at
    /// once, on a Sequential model with BatchNormalization's moving
    /// statistics and a graph with forks, joins and an odd sample count.
    #[test]
    fn a_split_by_samples_gives_the_bits_of_one_whole_batch() {
        let length = 96;
        let specs: [ArchitectureSpec; 2] = [
            zoo::answer_bn(length).into(),
            zoo::inception_with(
                length,
                zoo::InceptionSizes {
                    depth: 3,
                    ..Default::default()
                },
            )
            .into(),
        ];
        for spec in specs {
            let data = signals(11, length);
            let mut model = trained_looking(&spec);
            let two = Runtime::new(2).expect("threads start");
            let split = predict_by_samples(&two, model.as_mut(), &data)
                .expect("predicts")
                .expect("small layers on two threads split");
            let (x, _) = data
                .batch(&(0..data.len()).collect::<Vec<_>>())
                .expect("batch");
            let whole = two_dimensional(model.forward(x, Mode::Inference).expect("forward"))
                .expect("two-dimensional");
            assert_eq!(
                split.iter().map(|rows| rows.len_of(Axis(0))).sum::<usize>(),
                11
            );
            assert_eq!(bits(&split), bits(&[whole]));
        }
    }

    #[test]
    fn one_thread_few_samples_penalties_own_models_and_large_layers_go_batch_by_batch() {
        let (one, two) = (
            Runtime::new(1).expect("starts"),
            Runtime::new(2).expect("starts"),
        );
        let mut small = trained_looking(&zoo::answer(64).into());
        let data = signals(8, 64);
        assert!(predict_by_samples(&one, small.as_mut(), &data)
            .expect("runs")
            .is_none());
        let few = signals(3, 64);
        assert!(predict_by_samples(&two, small.as_mut(), &few)
            .expect("runs")
            .is_none());
        // An activity penalty stays in the model that ran the pass.
        let mut penalized = zoo::answer(64);
        let at = penalized.layers.len() - 1;
        let spec = kymo_layers::layers::ActivityRegularizationSpec {
            l1: 0.01,
            l2: 0.0,
            name: None,
        };
        penalized
            .layers
            .insert(at, LayerSpec::ActivityRegularization(spec));
        let mut penalized = trained_looking(&penalized.into());
        assert!(predict_by_samples(&two, penalized.as_mut(), &data)
            .expect("runs")
            .is_none());
        // An embedder's own model, which has no inference copy.
        let mut own = Wrapped(trained_looking(&zoo::answer(64).into()));
        assert!(predict_by_samples(&two, &mut own, &data)
            .expect("runs")
            .is_none());
        // The question's model: 45 M multiply-adds per layer at 1,040 points.
        let mut large = ArchitectureSpec::from(zoo::original(1040))
            .build::<f32>(0)
            .expect("builds");
        let data = signals(4, 1040);
        assert!(!splits_well(large.as_ref()));
        assert!(predict_by_samples(&two, large.as_mut(), &data)
            .expect("runs")
            .is_none());
    }

    #[test]
    fn shares_cover_every_sample_once_in_order_in_whole_groups() {
        for (samples, threads) in [(32, 2), (33, 2), (7, 3), (4, 2), (100, 7)] {
            let shares = shares(samples, threads);
            assert_eq!(shares.len(), threads);
            let flat: Vec<usize> = shares.iter().flat_map(Clone::clone).collect();
            assert_eq!(
                flat,
                (0..samples).collect::<Vec<_>>(),
                "{samples} on {threads}"
            );
            for share in &shares[..threads - 1] {
                assert_eq!(share.len() % SAMPLES_AT_A_TIME, 0, "{samples} on {threads}");
            }
        }
        // As even as whole groups allow: 16 groups of 2 on 2 threads.
        assert_eq!(shares(32, 2), vec![0..16, 16..32]);
    }
}
