//! What the doctor's probe records from each step of a real `fit`:
//! non-finite gradients, gradient norms and their spikes, the first and
//! last kernels' gradient ratio, the sums behind the gradient noise scale,
//! and each kernel's update-to-weight ratio.

use std::sync::{Arc, Mutex, MutexGuard};

use kymo_layers::Model;

use kymo_train::StepRecorder;

fn sum_sq(values: &[f32]) -> f64 {
    values.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

/// The measurements, read by the probe's rules after training.
#[derive(Debug, Default)]
pub(super) struct Recording {
    /// The first layer whose gradient went non-finite.
    pub nan_layer: Option<String>,
    /// Per step: first kernel's gradient norm over the last kernel's, and
    /// the first kernel's norm.
    pub ratios: Vec<(f64, f64)>,
    /// Per step: the trainable gradient's norm.
    pub total_norms: Vec<f64>,
    /// Per layer with trainable parameters (in the model's order): its
    /// name and its gradient's norm at each step.
    pub layer_norms: Vec<(String, Vec<f64>)>,
    /// Steps whose norm exceeded ten times the median of the 10 before.
    pub spikes: usize,
    /// Per parameter: each step's update-to-weight ratio (kernels only).
    pub update_ratios: Vec<Vec<f64>>,
    /// Sum and count of full batches' squared gradient norms.
    pub small: (f64, usize),
    /// Sum and count of squared norms of `window`-batch average gradients.
    pub big: (f64, usize),
}

/// A [`StepRecorder`] filling a shared [`Recording`].
pub(super) struct ProbeRecorder {
    recording: Arc<Mutex<Recording>>,
    /// Per parameter: its layer's name, and whether it trains.
    layer_of: Vec<String>,
    /// Per parameter: its layer's slot in `Recording::layer_norms`, if it
    /// trains.
    layer_slot: Vec<Option<usize>>,
    /// Each layer's squared gradient norm in the current step (reused).
    layer_sums: Vec<f64>,
    trainable: Vec<bool>,
    /// The first and last kernels' parameter indices.
    first_last: (Option<usize>, Option<usize>),
    batch_size: usize,
    noise_window: usize,
    window: Vec<f32>,
    in_window: usize,
    /// Every parameter's values before the current step's update.
    before: Vec<Vec<f32>>,
}

/// The recording, even if a panicking step poisoned its lock: the numbers
/// recorded before the panic are still the numbers.
pub(super) fn lock(recording: &Mutex<Recording>) -> MutexGuard<'_, Recording> {
    recording
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ProbeRecorder {
    /// A recorder for `model` at `batch_size`, averaging `noise_window`
    /// batches for the noise scale, writing into `recording`.
    pub(super) fn new(
        model: &dyn Model<f32>,
        batch_size: usize,
        noise_window: usize,
        recording: Arc<Mutex<Recording>>,
    ) -> Self {
        let layer_of: Vec<String> = model
            .parameter_names()
            .iter()
            .map(|n| n.split('/').next().unwrap_or("").to_string())
            .collect();
        let parameters = model.parameters();
        let trainable: Vec<bool> = parameters.iter().map(|p| p.trainable).collect();
        let kernels: Vec<usize> = parameters
            .iter()
            .enumerate()
            .filter(|(_, p)| p.name == "kernel")
            .map(|(i, _)| i)
            .collect();
        // Each trainable parameter's slot in `layer_norms`, one slot per
        // run of parameters of the same layer, found once here rather than
        // by name at every step.
        let mut layer_norms: Vec<(String, Vec<f64>)> = Vec::new();
        let layer_slot = layer_of
            .iter()
            .zip(&trainable)
            .map(|(layer, &trains)| {
                trains.then(|| {
                    if layer_norms.last().is_none_or(|(name, _)| name != layer) {
                        layer_norms.push((layer.clone(), Vec::new()));
                    }
                    layer_norms.len() - 1
                })
            })
            .collect();
        let layer_sums = vec![0.0; layer_norms.len()];
        {
            let mut rec = lock(&recording);
            rec.update_ratios = vec![Vec::new(); trainable.len()];
            rec.layer_norms = layer_norms;
        }
        Self {
            recording,
            layer_of,
            layer_slot,
            layer_sums,
            trainable,
            first_last: (kernels.first().copied(), kernels.last().copied()),
            batch_size,
            noise_window,
            window: Vec::new(),
            in_window: 0,
            before: Vec::new(),
        }
    }
}

impl StepRecorder for ProbeRecorder {
    fn after_backward(&mut self, model: &dyn Model<f32>, batch: usize) {
        let grads: Vec<Vec<f32>> = model
            .parameters()
            .iter()
            .map(|p| p.grad.iter().copied().collect())
            .collect();
        let mut rec = lock(&self.recording);
        for (i, g) in grads.iter().enumerate() {
            if rec.nan_layer.is_none() && g.iter().any(|v| !v.is_finite()) {
                rec.nan_layer = Some(self.layer_of[i].clone());
            }
        }
        let flat: Vec<f32> = grads
            .iter()
            .zip(&self.trainable)
            .filter(|(_, t)| **t)
            .flat_map(|(g, _)| g.iter().copied())
            .collect();
        let norm = sum_sq(&flat).sqrt();
        if rec.total_norms.len() >= 10 {
            let mut recent = rec.total_norms[rec.total_norms.len() - 10..].to_vec();
            if norm > 10.0 * crate::statistics::upper_median(&mut recent) {
                rec.spikes += 1;
            }
        }
        rec.total_norms.push(norm);
        self.layer_sums.iter_mut().for_each(|sum| *sum = 0.0);
        for (g, slot) in grads.iter().zip(&self.layer_slot) {
            if let Some(slot) = *slot {
                self.layer_sums[slot] += sum_sq(g);
            }
        }
        for ((_, norms), sum) in rec.layer_norms.iter_mut().zip(&self.layer_sums) {
            norms.push(sum.sqrt());
        }
        if let (Some(f), Some(l)) = self.first_last {
            let (nf, nl) = (sum_sq(&grads[f]).sqrt(), sum_sq(&grads[l]).sqrt());
            if nl > 0.0 && nf.is_finite() {
                rec.ratios.push((nf / nl, nf));
            }
        }
        // Noise scale: single-batch and k-batch-average squared norms.
        if batch == self.batch_size && norm.is_finite() {
            rec.small.0 += norm * norm;
            rec.small.1 += 1;
            if self.window.is_empty() {
                self.window = vec![0.0; flat.len()];
            }
            self.window.iter_mut().zip(&flat).for_each(|(w, g)| *w += g);
            self.in_window += 1;
            if self.in_window == self.noise_window {
                let k = self.noise_window as f32;
                let mean: Vec<f32> = self.window.iter().map(|w| w / k).collect();
                rec.big.0 += sum_sq(&mean);
                rec.big.1 += 1;
                self.window.iter_mut().for_each(|w| *w = 0.0);
                self.in_window = 0;
            }
        }
        drop(rec);
        self.before = model
            .parameters()
            .iter()
            .map(|p| p.value.iter().copied().collect())
            .collect();
    }

    fn after_update(&mut self, model: &dyn Model<f32>) {
        let mut rec = lock(&self.recording);
        for (i, p) in model.parameters().iter().enumerate() {
            if !self.trainable[i] || p.name != "kernel" {
                continue;
            }
            let Some(before) = self.before.get(i) else {
                continue;
            };
            let delta: f64 = p
                .value
                .iter()
                .zip(before)
                .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                .sum();
            let weight = sum_sq(before);
            if weight > 0.0 {
                rec.update_ratios[i].push((delta / weight).sqrt());
            }
        }
    }
}
