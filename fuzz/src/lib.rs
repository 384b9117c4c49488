//! What the fuzz targets share: tight build limits, and a forward pass of
//! a built model only when it is small enough to finish within the
//! fuzzer's time bound per input.

use kymo_layers::limits::{plan, BuildLimits};
use kymo_layers::{ArchitectureSpec, Graph, Mode, Model, ModelSpec, Sequential, Shape};
use ndarray::ArrayD;

/// Tighter than the library's defaults so that no accepted input can
/// approach the fuzzer's `-rss_limit_mb`: 2^20 parameters and 64 MiB of
/// activations per sample.
pub const LIMITS: BuildLimits = BuildLimits {
    max_parameters: 1 << 20,
    max_activation_bytes: 64 << 20,
};

/// Most multiply-adds a forward pass may take here (about 0.1 s).
const MAX_WORK: u64 = 200_000_000;

/// A rough count of one sample's multiply-adds: each layer's parameters
/// times the positions they slide over.
fn work(spec: &ModelSpec) -> Option<u64> {
    let plans = plan(spec, &LIMITS, 4).ok()?;
    plans.iter().try_fold(0u64, |total, p| {
        let positions = match p.output {
            Shape::Signal { length, .. } => length as u64,
            Shape::Features(_) => 1,
        };
        total.checked_add(
            p.parameters
                .checked_mul(positions)?
                .checked_add(p.activations)?,
        )
    })
}

/// Builds `spec` within [`LIMITS`] and, when it is small, runs one zero
/// sample forward in both modes and backward: every error must be a typed
/// error, never a panic or an abort.
pub fn build_and_run(spec: &ModelSpec) {
    let Ok(mut model) = Sequential::<f32>::with_limits(spec, 0, &LIMITS) else {
        return;
    };
    run(&mut model, spec);
}

/// [`build_and_run`] for a spec of either kind: a graph is built within
/// [`LIMITS`] (its wiring checked, every node sized) and run when its
/// parameters times its input length stay under the work bound.
pub fn build_and_run_any(spec: &ArchitectureSpec) {
    match spec {
        ArchitectureSpec::Sequential(spec) => build_and_run(spec),
        ArchitectureSpec::Graph(graph) => {
            let Ok(mut model) = Graph::<f32>::with_limits(graph, 0, &LIMITS) else {
                return;
            };
            let work = (model.count_params() as u64).saturating_mul(graph.input.length as u64);
            if work <= MAX_WORK {
                forward_and_back(&mut model);
            }
        }
    }
}

/// One zero sample forward (inference, then training) and backward through
/// `model`, when its work is under the bound.
pub fn run(model: &mut Sequential<f32>, spec: &ModelSpec) {
    if work(spec).is_none_or(|w| w > MAX_WORK) {
        return;
    }
    forward_and_back(model);
}

fn forward_and_back(model: &mut dyn Model<f32>) {
    let input = ArrayD::<f32>::zeros(model.input_shape().with_batch(1));
    let _ = model.forward(input.clone(), Mode::Inference);
    if let Ok(output) = model.forward(input, Mode::Train) {
        let _ = model.backward(ArrayD::ones(output.shape()));
    }
}

/// Checkpoints: load bytes, rebuild the run, take one training step.
pub mod checkpoint {
    use std::path::Path;

    use kymo_train::{Checkpoint, Trainer};
    use ndarray::{Array2, ArrayD};

    /// `payload` under a valid version-2 header with its CRC-32, so the
    /// input reaches the decoder instead of failing the checksum.
    pub fn framed(payload: &[u8]) -> Vec<u8> {
        let mut bytes = b"KYMOCKPT".to_vec();
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Loads `bytes` as a checkpoint; if it loads, rebuilds the trainer and,
    /// when the model is small, predicts and takes one training step.
    pub fn load_and_use(bytes: &[u8]) {
        let Ok(checkpoint) = Checkpoint::from_bytes(bytes, Path::new("fuzz.kymo")) else {
            return;
        };
        let Ok(architecture) = checkpoint.architecture() else {
            return;
        };
        // The rebuild is bounded by the stored weights; the step by LIMITS.
        // A graph is rebuilt (bounded by its weights) but not stepped.
        let Some(spec) = architecture.as_sequential() else {
            let _ = checkpoint.model();
            return;
        };
        if kymo_layers::limits::plan(spec, &super::LIMITS, 4).is_err() {
            let _ = checkpoint.model();
            return;
        }
        let Ok(mut trainer) = Trainer::from_checkpoint(&checkpoint) else {
            return;
        };
        if super::work(spec).is_none_or(|w| w > super::MAX_WORK) {
            return;
        }
        super::forward_and_back(trainer.model.as_mut());
        let x = ArrayD::<f32>::zeros(trainer.model.input_shape().with_batch(1));
        let outputs = trainer.model.output_shape().with_batch(1);
        let y = Array2::<f32>::zeros((1, outputs.iter().skip(1).product::<usize>()));
        let _ = trainer.train_on_batch(x, &y);
    }
}
