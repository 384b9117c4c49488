//! Training-dynamics checks from a short probe run: absurd epochs, swings,
//! out-of-range predictions, exploding, vanishing or NaN gradients, gradient
//! spikes, update-to-weight ratios, the gradient noise scale, overfitting.

use std::sync::{Arc, Mutex};

use kymo_data::Dataset;
use kymo_layers::ArchitectureSpec;

use super::probe_recorder::{lock, ProbeRecorder, Recording};
use super::{Finding, FindingId, Recipe, Severity};
use kymo_train::{predict, FitConfig, Stability, Trainer};

use crate::DoctorError;

/// Knobs of the probe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeConfig {
    /// Epochs to train.
    pub epochs: usize,
    /// Consecutive batch gradients averaged for the large-batch estimate of
    /// the gradient noise scale.
    pub noise_window: usize,
    /// Seed of initialization and shuffling.
    pub seed: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            noise_window: 8,
            seed: 0,
        }
    }
}

/// The numbers the probe measured, beside its findings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProbeStats {
    /// Training loss per epoch.
    pub train_loss: Vec<f64>,
    /// Validation loss per epoch.
    pub val_loss: Vec<f64>,
    /// Validation MSE of predicting the training mean.
    pub mean_val_mse: f64,
    /// `B_simple = tr(Σ) / |G|²` (McCandlish et al. 2018), infinite when the
    /// mean gradient is lost in the noise.
    pub noise_scale: f64,
    /// Fraction of each step's squared gradient that is signal at the
    /// probed batch size: `1 / (1 + B_simple / B)`.
    pub signal_fraction: f64,
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs the probe and diagnoses what it saw.
pub fn probe(
    spec: &ArchitectureSpec,
    setup: &Recipe,
    train: &Dataset,
    validation: &Dataset,
    config: ProbeConfig,
) -> Result<(Vec<Finding>, ProbeStats), DoctorError> {
    let model = spec.build::<f32>(config.seed)?;
    let optimizer = setup.optimizer();
    let batch_size = setup.batch_size.max(1);
    let layer_of: Vec<String> = model
        .parameter_names()
        .iter()
        .map(|n| n.split('/').next().unwrap_or("").to_string())
        .collect();
    let recording = Arc::new(Mutex::new(Recording::default()));
    let recorder = ProbeRecorder::new(
        model.as_ref(),
        batch_size,
        config.noise_window,
        Arc::clone(&recording),
    );
    let fit_config = FitConfig {
        epochs: config.epochs,
        batch_size,
        seed: config.seed,
        ..FitConfig::default()
    };
    // The probe is a real `fit` (the same batches, clipping and steps)
    // with a recorder inside each step.
    let mut trainer = Trainer::new(model, optimizer, fit_config);
    trainer.recorder = Some(Box::new(recorder));
    trainer.fit(train, Some(validation), &mut [])?;
    let Recording {
        nan_layer,
        ratios,
        total_norms,
        spikes,
        mut update_ratios,
        small: (small_sq, small_count),
        big: (big_sq, big_count),
    } = std::mem::take(&mut *lock(&recording));

    let mut findings = Vec::new();
    let mut stats = ProbeStats {
        train_loss: trainer.history.series("loss"),
        val_loss: trainer.history.series("val_loss"),
        mean_val_mse: kymo_baselines::MeanPredictor::mse_of(train, validation),
        noise_scale: f64::NAN,
        signal_fraction: f64::NAN,
    };

    // Noise scale, B_small = B, B_big = k B.
    if small_count > 0 && big_count > 0 {
        let (b_small, b_big) = (batch_size as f64, (batch_size * config.noise_window) as f64);
        let (g_small, g_big) = (small_sq / small_count as f64, big_sq / big_count as f64);
        let signal = (b_big * g_big - b_small * g_small) / (b_big - b_small);
        let trace = (g_small - g_big) / (1.0 / b_small - 1.0 / b_big);
        stats.noise_scale = if signal > 0.0 {
            trace.max(0.0) / signal
        } else {
            f64::INFINITY
        };
        stats.signal_fraction = 1.0 / (1.0 + stats.noise_scale / b_small);
        let recommended = if stats.noise_scale.is_finite() {
            stats.noise_scale.clamp(8.0, 256.0)
        } else {
            256.0
        };
        let recommended = 2f64.powf(recommended.log2().round()) as usize;
        // Never more than a sixteenth of the training rows (as the
        // prescription's budget): a batch near the whole set leaves a
        // handful of steps per epoch, and at the set's size no noise at all.
        let ceiling = super::training_budget(&super::DataFacts::of(train), setup.learning_rate)
            .batch_size
            .max(batch_size);
        let capped = recommended > ceiling;
        let recommended = recommended.min(ceiling);
        let severity = match stats.signal_fraction {
            f if f < 0.1 => Severity::High,
            f if f < 0.5 => Severity::Medium,
            _ => Severity::Info,
        };
        let estimate = if stats.noise_scale.is_finite() {
            format!(
                "gradient noise scale B_simple = tr(Σ)/|G|² ≈ {:.0}",
                stats.noise_scale
            )
        } else {
            "the mean gradient could not be told apart from the noise (B_simple beyond estimate: the k-batch average is no smaller than single batches predict)".to_string()
        };
        findings.push(
            Finding::new(FindingId::GradientNoise, severity, format!("At batch {batch_size}, {:.0}% of each step is signal", 100.0 * stats.signal_fraction))
                .measured(format!(
                    "{estimate}, from batch-{batch_size} gradients and their {}-batch averages over {small_count} steps; signal fraction at batch {batch_size}: {:.3}",
                    config.noise_window, stats.signal_fraction
                ))
                .why("below the noise scale each step is mostly noise and progress per sample collapses; near it, steps are efficient (McCandlish et al. 2018, An Empirical Model of Large-Batch Training)")
                .fix(if capped {
                    format!("batch_size = {recommended} (B_simple is larger, but {} training rows allow no more than a sixteenth of them per step), with more epochs to keep the number of steps", train.len())
                } else {
                    format!("batch_size = {recommended} (the power of two nearest B_simple, within 8 to 256)")
                }),
        );
    }

    let stability = Stability::of(&stats.val_loss, stats.mean_val_mse);
    let absurd = stability.absurd_epochs;
    if absurd > 0 {
        let worst = stats.val_loss.iter().copied().fold(0.0f64, |a, b| {
            if b.is_nan() {
                f64::INFINITY
            } else {
                a.max(b)
            }
        });
        findings.push(
            Finding::new(FindingId::AbsurdEpochs, Severity::High, "Validation loss worse than predicting the mean")
                .measured(format!(
                    "{absurd} of {} probe epochs; worst validation MSE {worst:.3} against {:.3} for the training mean; per epoch: {:?}",
                    stats.val_loss.len(),
                    stats.mean_val_mse,
                    stats.val_loss.iter().map(|v| (v * 1000.0).round() / 1000.0).collect::<Vec<_>>()
                ))
                .why("an epoch that loses to a constant prediction is the 'absurd result' of the question: the weights jumped, not learned")
                .fix("fix the high-severity causes above (batch size, head); keep the best epoch with ModelCheckpoint(save_best_only=True)"),
        );
    }
    if stats.val_loss.len() > 1 {
        let swing = stability.volatility;
        if swing > 0.3 {
            findings.push(
                Finding::new(FindingId::ValLossSwings, Severity::Medium, "Validation loss swings between epochs")
                    .measured(format!("RMS of log10(val[t]/val[t-1]) = {swing:.2} (a 2x swing is 0.30)"))
                    .why("large epoch-to-epoch swings mean the last epoch's weights are a lottery ticket")
                    .fix("larger batches or a lower learning rate; restore the best weights"),
            );
        }
    }
    if let Ok(predictions) = predict(trainer.model.as_mut(), validation, 32) {
        let spread = |a: ndarray::ArrayView2<'_, f32>| {
            let n = a.len().max(1) as f64;
            let m = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            (a.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n).sqrt()
        };
        let (p, t) = (
            spread(predictions.view()),
            spread(validation.targets().view()),
        );
        if !p.is_finite() || p > 10.0 * t {
            findings.push(
                Finding::new(FindingId::PredictionsOutOfRange, Severity::High, "Predictions spread far beyond the targets")
                    .measured(format!("prediction standard deviation {p:.3} against the targets' {t:.3}"))
                    .why("DeepDiagnosis (Wardat et al. 2022) flags outputs outside ten times the target range: the output layer is saturated by a few huge activations")
                    .fix("downsample before the head and use batches of 32"),
            );
        }
    }
    if let Some(layer) = nan_layer {
        findings.push(
            Finding::new(FindingId::NanGradients, Severity::High, format!("NaN or infinite gradients in '{layer}'"))
                .measured(format!("first non-finite gradient in layer '{layer}'"))
                .why("one NaN poisons every weight at the next step")
                .fix("lower the learning rate, clip gradients (global_clipnorm=1.0), and add TerminateOnNaN"),
        );
    }
    let mut ratio_values: Vec<f64> = ratios.iter().map(|r| r.0).collect();
    let median_ratio = median(&mut ratio_values);
    let mut first_norms: Vec<f64> = ratios.iter().map(|r| r.1).collect();
    let median_first = median(&mut first_norms);
    if median_ratio > 70.0 {
        findings.push(
            Finding::new(FindingId::ExplodingGradients, Severity::High, "Gradients grow towards the input")
                .measured(format!("median ratio of first to last kernel gradient norm {median_ratio:.1}"))
                .why("AUTOTRAINER (Zhang et al. 2021) calls a ratio above 70 exploding")
                .fix("BatchNormalization after each activation, gradient clipping, a lower learning rate"),
        );
    } else if median_ratio < 1e-3 && median_first < 1e-4 {
        findings.push(
            Finding::new(FindingId::VanishingGradients, Severity::High, "Gradients vanish before the first layer")
                .measured(format!("median first/last gradient norm ratio {median_ratio:.1e}, first-layer norm {median_first:.1e}"))
                .why("AUTOTRAINER (Zhang et al. 2021): ratio below 1e-3 with a first-layer norm under 1e-4")
                .fix("LeakyReLU or ReLU instead of saturating activations, BatchNormalization, He initialization"),
        );
    }
    if total_norms.len() > 20 && spikes as f64 > 0.02 * total_norms.len() as f64 {
        findings.push(
            Finding::new(FindingId::GradientSpikes, Severity::Medium, "Gradient norm spikes")
                .measured(format!("{spikes} of {} steps had a gradient norm above ten times the median of the 10 before", total_norms.len()))
                .why("spikes are single samples or batches pulling the weights far off course")
                .fix("larger batches, or global_clipnorm=1.0"),
        );
    }
    let mut off: Vec<String> = Vec::new();
    for (i, values) in update_ratios.iter_mut().enumerate() {
        let m = median(values);
        if m.is_finite() && !(1e-5..=0.1).contains(&m) {
            off.push(format!("'{}' {m:.1e}", layer_of[i]));
        }
    }
    if !off.is_empty() {
        findings.push(
            Finding::new(FindingId::UpdateRatio, Severity::Medium, "Steps are too large or too small for the weights")
                .measured(format!("median ||Δθ||/||θ|| per step outside [1e-5, 0.1]: {}", off.join(", ")))
                .why("updates near 1e-3 of the weights per step train steadily (Karpathy, CS231n notes); much larger ones overwrite what was learned")
                .fix("adjust the learning rate by the factor that brings the ratio near 1e-3"),
        );
    }
    let half = stats.val_loss.len() / 2;
    if stats.val_loss.len() >= 3 {
        let (t, v) = (&stats.train_loss[half..], &stats.val_loss[half..]);
        if t.last() < t.first() && v.last() > v.first() && v.first().is_some_and(|f| f.is_finite())
        {
            findings.push(
                Finding::new(
                    FindingId::Overfitting,
                    Severity::Medium,
                    "Training loss falls while validation loss rises",
                )
                .measured(format!(
                    "over the last {} epochs: train {:.3} → {:.3}, validation {:.3} → {:.3}",
                    t.len(),
                    t[0],
                    t[t.len() - 1],
                    v[0],
                    v[v.len() - 1]
                ))
                .why("the model is fitting the training samples' noise")
                .fix("EarlyStopping(restore_best_weights=True), a smaller head, more data"),
            );
        }
    }
    Ok((findings, stats))
}
