//! Training-dynamics checks from a short probe run: absurd epochs, swings,
//! out-of-range predictions, exploding, vanishing or NaN gradients, gradient
//! spikes, update-to-weight ratios, the gradient noise scale, overfitting.

use std::sync::{Arc, Mutex};

use kymo_data::Dataset;
use kymo_layers::{ArchitectureSpec, LayerSpec};

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
    /// Every layer of the probed model in order, with its gradient and
    /// dead units.
    pub layers: Vec<LayerProbe>,
}

/// One layer as the probe saw it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerProbe {
    /// The layer's name.
    pub name: String,
    /// Median norm of its trainable parameters' gradient over the probe's
    /// steps (NaN for a layer without trainable parameters).
    pub gradient_norm: f64,
    /// For a rectifier of a Sequential model: the fraction of its units
    /// at or below zero for every sample and position of the first 256
    /// validation rows after the probe's training.
    pub dead_fraction: Option<f64>,
    /// Whether that rectifier is leaky: its silent units still pass a
    /// gradient (times the slope), so they are not dead.
    pub leaky: bool,
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
    // Keras's losses carry the weights' penalties (`kymo_layers::Regularizer`);
    // the probe judges the fit against the mean predictor's MSE, so a
    // regularized model's curves are its MSE alone.
    let regularized = model
        .parameters()
        .iter()
        .any(|p| p.trainable && p.regularizer.is_some());
    let (train_series, val_series) = if regularized {
        ("mse", "val_mse")
    } else {
        ("loss", "val_loss")
    };
    let fit_config = FitConfig {
        epochs: config.epochs,
        batch_size,
        seed: config.seed,
        metrics: if regularized {
            vec![kymo_data::Metric::Mse]
        } else {
            Vec::new()
        },
        clip: setup.clip(),
        schedule: setup.schedule.clone(),
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
        mut layer_norms,
        spikes,
        mut update_ratios,
        small: (small_sq, small_count),
        big: (big_sq, big_count),
    } = std::mem::take(&mut *lock(&recording));

    let mut stats = ProbeStats {
        train_loss: trainer.history.series(train_series),
        val_loss: trainer.history.series(val_series),
        mean_val_mse: kymo_baselines::MeanPredictor::mse_of(train, validation),
        noise_scale: f64::NAN,
        signal_fraction: f64::NAN,
        layers: Vec::new(),
    };
    if small_count > 0 && big_count > 0 {
        let (b_small, b_big) = (batch_size as f64, (batch_size * config.noise_window) as f64);
        let (g_small, g_big) = (small_sq / small_count as f64, big_sq / big_count as f64);
        (stats.noise_scale, stats.signal_fraction) = noise_scale(b_small, b_big, g_small, g_big);
    }
    stats.layers = layer_probes(trainer.model.as_mut(), spec, validation, &mut layer_norms);
    let prediction_spread =
        predict(trainer.model.as_mut(), validation, 32)
            .ok()
            .map(|predictions| {
                (
                    spread(predictions.view()),
                    spread(validation.targets().view()),
                )
            });
    let mut ratio_values: Vec<f64> = ratios.iter().map(|r| r.0).collect();
    let mut first_norms: Vec<f64> = ratios.iter().map(|r| r.1).collect();
    let update_ratio_medians = update_ratios
        .iter_mut()
        .enumerate()
        .map(|(i, values)| (layer_of[i].clone(), crate::statistics::upper_median(values)))
        .collect();
    let evidence = Evidence {
        stats,
        batch_size,
        learning_rate: setup.learning_rate,
        noise_window: config.noise_window,
        noise_steps: small_count,
        // The batch advice never exceeds the prescription's budget: a
        // sixteenth of the training rows (or the batch already used).
        batch_ceiling: super::training_budget(&super::DataFacts::of(train), setup.learning_rate)
            .batch_size
            .max(batch_size),
        train_rows: train.len(),
        prediction_spread,
        nan_layer,
        median_gradient_ratio: crate::statistics::upper_median(&mut ratio_values),
        median_first_norm: crate::statistics::upper_median(&mut first_norms),
        steps: total_norms.len(),
        spikes,
        update_ratio_medians,
        batchnorm_unsettled: batchnorm_settle_steps(spec)
            .filter(|&needed| total_norms.len() < needed),
    };
    let findings = RULES.iter().filter_map(|rule| rule(&evidence)).collect();
    Ok((findings, evidence.stats))
}

/// Validation rows the dead-unit fractions are measured on, at most.
const DEAD_UNIT_ROWS: usize = 256;

/// Every layer of the probed `model` with its median gradient norm (from
/// the recorder's per-step norms) and, for a Sequential model's
/// rectifiers, its dead fraction on `validation`.
fn layer_probes(
    model: &mut dyn kymo_layers::Model<f32>,
    spec: &ArchitectureSpec,
    validation: &Dataset,
    norms: &mut [(String, Vec<f64>)],
) -> Vec<LayerProbe> {
    // A unit that fires on none of the first rows of validation is what
    // the picture shows; more rows would only cost one forward pass of
    // the whole split in one batch.
    let rows: Vec<usize> = (0..validation.len().min(DEAD_UNIT_ROWS)).collect();
    let dead = match (spec, validation.select(&rows)) {
        (ArchitectureSpec::Sequential(_), Ok(sample)) => {
            crate::trained_checks::dead_fractions(model, &sample)
        }
        _ => Vec::new(),
    };
    let names: Vec<String> = model
        .layers()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    names
        .into_iter()
        .map(|name| {
            let rectifier = dead.iter().find(|(n, ..)| *n == name);
            LayerProbe {
                gradient_norm: norms
                    .iter_mut()
                    .find(|(n, _)| *n == name)
                    .map_or(f64::NAN, |(_, v)| crate::statistics::upper_median(v)),
                dead_fraction: rectifier.map(|&(_, fraction, _)| fraction),
                leaky: rectifier.is_some_and(|&(_, _, leaky)| leaky),
                name,
            }
        })
        .collect()
}

/// The probe's rules, in the order their findings are listed.
const RULES: [fn(&Evidence) -> Option<Finding>; 11] = [
    learning_rate_diverges,
    gradient_noise,
    absurd_epochs,
    val_loss_swings,
    predictions_out_of_range,
    nan_gradients,
    exploding_or_vanishing_gradients,
    gradient_spikes,
    update_ratio,
    overfitting,
    units_died,
];

/// What a probe run measured, as its rules read it.
struct Evidence {
    /// Losses, the mean predictor and the noise scale.
    stats: ProbeStats,
    /// The probed batch size.
    batch_size: usize,
    /// The recipe's learning rate.
    learning_rate: f64,
    /// Batches averaged for the large-batch gradient.
    noise_window: usize,
    /// Steps the noise scale was estimated over.
    noise_steps: usize,
    /// The largest batch the advice may name.
    batch_ceiling: usize,
    /// Training rows.
    train_rows: usize,
    /// Standard deviations of the validation predictions and targets.
    prediction_spread: Option<(f64, f64)>,
    /// The first layer with a non-finite gradient.
    nan_layer: Option<String>,
    /// Median ratio of the first to the last kernel's gradient norm.
    median_gradient_ratio: f64,
    /// Median gradient norm of the first kernel.
    median_first_norm: f64,
    /// Steps recorded.
    steps: usize,
    /// Steps whose gradient norm spiked above ten times the recent median.
    spikes: usize,
    /// Per parameter, its layer and its median `||Δθ||/||θ||` per step.
    update_ratio_medians: Vec<(String, f64)>,
    /// Steps BatchNormalization's moving statistics need to settle, when
    /// the probe ran fewer: its inference-mode validation then reads
    /// statistics that are still mostly their initial values.
    batchnorm_unsettled: Option<usize>,
}

/// Steps the slowest BatchNormalization's moving averages need to forget
/// their initial values (three time constants, `3 / (1 - momentum)`: 300
/// at Keras's 0.99), or `None` without BatchNormalization.
fn batchnorm_settle_steps(spec: &ArchitectureSpec) -> Option<usize> {
    spec.layer_specs()
        .into_iter()
        .filter_map(|layer| match layer {
            LayerSpec::BatchNormalization(bn) => {
                Some((3.0 / (1.0 - bn.momentum).max(1e-6)).ceil() as usize)
            }
            _ => None,
        })
        .max()
}

/// `B_simple` and the signal fraction at `b_small` from the mean squared
/// gradient norms at two batch sizes (McCandlish et al. 2018, appendix A).
fn noise_scale(b_small: f64, b_big: f64, g_small: f64, g_big: f64) -> (f64, f64) {
    let signal = (b_big * g_big - b_small * g_small) / (b_big - b_small);
    let trace = (g_small - g_big) / (1.0 / b_small - 1.0 / b_big);
    let scale = if signal > 0.0 {
        trace.max(0.0) / signal
    } else {
        f64::INFINITY
    };
    (scale, 1.0 / (1.0 + scale / b_small))
}

/// The population standard deviation of every value.
fn spread(a: ndarray::ArrayView2<'_, f32>) -> f64 {
    let n = a.len().max(1) as f64;
    let m = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    (a.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n).sqrt()
}

/// Training loss that grows instead of falling: the learning rate is past
/// what the loss surface allows.
fn learning_rate_diverges(e: &Evidence) -> Option<Finding> {
    let losses = &e.stats.train_loss;
    let (first, last) = (*losses.first()?, *losses.last()?);
    // Non-finite, rising, or ending an order of magnitude above what
    // predicting the mean scores: no schedule recovers from that.
    let floor = e.stats.mean_val_mse;
    let diverged = losses.iter().any(|l| !l.is_finite())
        || (losses.len() >= 2 && last > 2.0 * first)
        || (floor.is_finite() && floor > 0.0 && last > 10.0 * floor);
    diverged.then(|| {
        Finding::new(FindingId::LearningRateDiverges, Severity::High, "Training loss grows: the learning rate diverges")
            .measured(format!(
                "training loss per probe epoch at lr {} (predicting the mean scores {floor:.3}): {:?}",
                e.learning_rate,
                losses.iter().map(|v| (v * 1000.0).round() / 1000.0).collect::<Vec<_>>()
            ))
            .why("past the largest stable step size the updates overshoot and each step lands higher on the loss surface than the last (LeCun et al. 1998; Smith 2017's learning-rate range test looks for the same rise)")
            .fix(format!("learning_rate = {} (a tenth), or global_clipnorm=1.0; then check that the training loss falls epoch over epoch", e.learning_rate / 10.0))
    })
}

/// Whether the probe's validation loss fell from its first epoch to its
/// last, stayed finite, and ended below predicting the mean, with no epoch
/// rising by more than half over the one before (falling fast is no swing).
/// With BatchNormalization's statistics still settling, the training loss
/// (measured in training mode, on batch statistics) is what is judged.
fn trains_well(e: &Evidence) -> bool {
    let stats = &e.stats;
    let val = if e.batchnorm_unsettled.is_some() {
        &stats.train_loss
    } else {
        &stats.val_loss
    };
    let (Some(&first), Some(&last)) = (val.first(), val.last()) else {
        return false;
    };
    val.len() >= 2
        && val.iter().all(|v| v.is_finite())
        && last < first
        && last < stats.mean_val_mse
        && Stability::of(val, stats.mean_val_mse).absurd_epochs == 0
        && val.windows(2).all(|w| w[1] <= 1.5 * w[0])
}

/// How much of each step is signal at the probed batch size, and the
/// batch size that would make steps efficient.
fn gradient_noise(e: &Evidence) -> Option<Finding> {
    // Not estimated: too few steps for a large-batch average.
    if e.noise_steps == 0 || e.stats.noise_scale.is_nan() {
        return None;
    }
    let (scale, fraction, batch_size) =
        (e.stats.noise_scale, e.stats.signal_fraction, e.batch_size);
    let recommended = if scale.is_finite() {
        scale.clamp(8.0, 256.0)
    } else {
        256.0
    };
    let recommended = 2f64.powf(recommended.log2().round()) as usize;
    // Never more than a sixteenth of the training rows (as the
    // prescription's budget): a batch near the whole set leaves a
    // handful of steps per epoch, and at the set's size no noise at all.
    let capped = recommended > e.batch_ceiling;
    let recommended = recommended.min(e.batch_ceiling);
    // Noise condemns a batch size only where it hurts: a probe whose
    // validation loss falls steadily below the mean predictor's trains
    // well at this batch whatever share of each step is noise (the doctor's
    // own prescriptions do, at batch 16 on a few hundred spectra).
    let severity = match fraction {
        _ if trains_well(e) => Severity::Info,
        f if f < 0.1 => Severity::High,
        f if f < 0.5 => Severity::Medium,
        _ => Severity::Info,
    };
    let estimate = if scale.is_finite() {
        format!("gradient noise scale B_simple = tr(Σ)/|G|² ≈ {scale:.0}")
    } else {
        "the mean gradient could not be told apart from the noise (B_simple beyond estimate: the k-batch average is no smaller than single batches predict)".to_string()
    };
    Some(
        Finding::new(FindingId::GradientNoise, severity, format!("At batch {batch_size}, {:.0}% of each step is signal", 100.0 * fraction))
            .measured(format!(
                "{estimate}, from batch-{batch_size} gradients and their {}-batch averages over {} steps; signal fraction at batch {batch_size}: {fraction:.3}",
                e.noise_window, e.noise_steps
            ))
            .why("below the noise scale each step is mostly noise and progress per sample collapses; near it, steps are efficient (McCandlish et al. 2018, An Empirical Model of Large-Batch Training)")
            .fix(if capped {
                format!("batch_size = {recommended} (B_simple is larger, but {} training rows allow no more than a sixteenth of them per step), with more epochs to keep the number of steps", e.train_rows)
            } else {
                format!("batch_size = {recommended} (the power of two nearest B_simple, within 8 to 256)")
            }),
    )
}

/// Epochs whose validation loss loses to predicting the training mean.
fn absurd_epochs(e: &Evidence) -> Option<Finding> {
    let stats = &e.stats;
    let absurd = Stability::of(&stats.val_loss, stats.mean_val_mse).absurd_epochs;
    if absurd == 0 {
        return None;
    }
    let worst = stats.val_loss.iter().copied().fold(0.0f64, |a, b| {
        if b.is_nan() {
            f64::INFINITY
        } else {
            a.max(b)
        }
    });
    // Unsettled BatchNormalization statistics make inference-mode
    // validation absurd in a model that trains well: say so, softly.
    let (severity, caveat) = match e.batchnorm_unsettled {
        Some(needed) => (
            Severity::Low,
            format!(" (BatchNormalization's moving statistics need about {needed} steps to settle; the probe ran {}, so inference-mode validation still reads their initial values: train longer before judging)", e.steps),
        ),
        None => (Severity::High, String::new()),
    };
    Some(
        Finding::new(FindingId::AbsurdEpochs, severity, "Validation loss worse than predicting the mean")
            .measured(format!(
                "{absurd} of {} probe epochs; worst validation MSE {worst:.3} against {:.3} for the training mean; per epoch: {:?}",
                stats.val_loss.len(),
                stats.mean_val_mse,
                stats.val_loss.iter().map(|v| (v * 1000.0).round() / 1000.0).collect::<Vec<_>>()
            ) + &caveat)
            .why("an epoch that loses to a constant prediction is the 'absurd result' of the question: the weights jumped, not learned")
            .fix("fix the high-severity causes above (batch size, head); keep the best epoch with ModelCheckpoint(save_best_only=True)"),
    )
}

/// Validation loss that swings from epoch to epoch.
fn val_loss_swings(e: &Evidence) -> Option<Finding> {
    let stats = &e.stats;
    if stats.val_loss.len() < 2 {
        return None;
    }
    let swing = Stability::of(&stats.val_loss, stats.mean_val_mse).volatility;
    (swing > 0.3).then(|| {
        Finding::new(
            FindingId::ValLossSwings,
            Severity::Medium,
            "Validation loss swings between epochs",
        )
        .measured(format!(
            "RMS of log10(val[t]/val[t-1]) = {swing:.2} (a 2x swing is 0.30)"
        ))
        .why("large epoch-to-epoch swings mean the last epoch's weights are a lottery ticket")
        .fix("larger batches or a lower learning rate; restore the best weights")
    })
}

/// Predictions spread ten times wider than the targets, or not finite.
fn predictions_out_of_range(e: &Evidence) -> Option<Finding> {
    let (p, t) = e.prediction_spread?;
    let severity = if e.batchnorm_unsettled.is_some() {
        Severity::Medium
    } else {
        Severity::High
    };
    (!p.is_finite() || p > 10.0 * t).then(|| {
        Finding::new(FindingId::PredictionsOutOfRange, severity, "Predictions spread far beyond the targets")
            .measured(format!("prediction standard deviation {p:.3} against the targets' {t:.3}"))
            .why("DeepDiagnosis (Wardat et al. 2022) flags outputs outside ten times the target range: the output layer is saturated by a few huge activations")
            .fix("downsample before the head and use batches of 32")
    })
}

/// A layer whose gradient went NaN or infinite.
fn nan_gradients(e: &Evidence) -> Option<Finding> {
    let layer = e.nan_layer.as_ref()?;
    Some(
        Finding::new(
            FindingId::NanGradients,
            Severity::High,
            format!("NaN or infinite gradients in '{layer}'"),
        )
        .measured(format!("first non-finite gradient in layer '{layer}'"))
        .why("one NaN poisons every weight at the next step")
        .fix(
            "lower the learning rate, clip gradients (global_clipnorm=1.0), and add TerminateOnNaN",
        ),
    )
}

/// Gradients that grow, or vanish, from the last kernel to the first.
fn exploding_or_vanishing_gradients(e: &Evidence) -> Option<Finding> {
    let (ratio, first) = (e.median_gradient_ratio, e.median_first_norm);
    if ratio > 70.0 {
        return Some(
            Finding::new(FindingId::ExplodingGradients, Severity::High, "Gradients grow towards the input")
                .measured(format!("median ratio of first to last kernel gradient norm {ratio:.1}"))
                .why("AUTOTRAINER (Zhang et al. 2021) calls a ratio above 70 exploding")
                .fix("BatchNormalization after each activation, gradient clipping, a lower learning rate"),
        );
    }
    (ratio < 1e-3 && first < 1e-4).then(|| {
        Finding::new(FindingId::VanishingGradients, Severity::High, "Gradients vanish before the first layer")
            .measured(format!("median first/last gradient norm ratio {ratio:.1e}, first-layer norm {first:.1e}"))
            .why("AUTOTRAINER (Zhang et al. 2021): ratio below 1e-3 with a first-layer norm under 1e-4")
            .fix("LeakyReLU or ReLU instead of saturating activations, BatchNormalization, He initialization")
    })
}

/// More than 2% of steps with a gradient norm spike.
fn gradient_spikes(e: &Evidence) -> Option<Finding> {
    (e.steps > 20 && e.spikes as f64 > 0.02 * e.steps as f64).then(|| {
        Finding::new(
            FindingId::GradientSpikes,
            Severity::Medium,
            "Gradient norm spikes",
        )
        .measured(format!(
            "{} of {} steps had a gradient norm above ten times the median of the 10 before",
            e.spikes, e.steps
        ))
        .why("spikes are single samples or batches pulling the weights far off course")
        .fix("larger batches, or global_clipnorm=1.0")
    })
}

/// Layers whose steps are far from 1e-3 of their weights.
fn update_ratio(e: &Evidence) -> Option<Finding> {
    let off: Vec<String> = e
        .update_ratio_medians
        .iter()
        .filter(|(_, m)| m.is_finite() && !(1e-5..=0.1).contains(m))
        .map(|(layer, m)| format!("'{layer}' {m:.1e}"))
        .collect();
    (!off.is_empty()).then(|| {
        Finding::new(FindingId::UpdateRatio, Severity::Medium, "Steps are too large or too small for the weights")
            .measured(format!("median ||Δθ||/||θ|| per step outside [1e-5, 0.1]: {}", off.join(", ")))
            .why("updates near 1e-3 of the weights per step train steadily (Karpathy, CS231n notes); much larger ones overwrite what was learned")
            .fix("adjust the learning rate by the factor that brings the ratio near 1e-3")
    })
}

/// The share of a rectifier layer's units that fire on no validation row
/// after the probe from which the layer is named: half. He-initialized
/// rectifiers start with about half their outputs positive on each input,
/// so a unit silent on every row and position was pushed there by
/// training; a few such units are common, half a layer is not.
const DEAD_AFTER_PROBE: f64 = 0.5;

/// ReLU layers (of a Sequential model; a leaky one's silent units still
/// learn) that the probe's training left mostly dead: Medium, since a short probe from fresh weights is not
/// the user's training, which the trained-weight check (High) reads when
/// the model comes with its weights.
fn units_died(e: &Evidence) -> Option<Finding> {
    let dead: Vec<String> = e
        .stats
        .layers
        .iter()
        .filter_map(|layer| {
            let fraction = layer.dead_fraction.filter(|_| !layer.leaky)?;
            (fraction >= DEAD_AFTER_PROBE)
                .then(|| format!("'{}' {:.0}%", layer.name, 100.0 * fraction))
        })
        .collect();
    (!dead.is_empty()).then(|| {
        Finding::new(FindingId::DeadUnits, Severity::Medium, "Rectifier units die during the probe")
            .measured(format!(
                "after {} steps from fresh weights, the share of units whose output is at or below zero on every validation row and position: {}",
                e.steps,
                dead.join(", ")
            ))
            .why("a ReLU unit that is never positive passes no gradient and never recovers; steps too large for the weights (the learning rate), unscaled inputs or a bias driven negative kill them, and the layer is that much narrower than it looks")
            .fix("lower the learning rate, standardize the inputs, or use LeakyReLU; He initialization for ReLU layers")
    })
}

/// Training loss falling while validation loss rises over the second half.
fn overfitting(e: &Evidence) -> Option<Finding> {
    let stats = &e.stats;
    if stats.val_loss.len() < 3 {
        return None;
    }
    let half = stats.val_loss.len() / 2;
    let (t, v) = (&stats.train_loss[half..], &stats.val_loss[half..]);
    let diverging =
        t.last() < t.first() && v.last() > v.first() && v.first().is_some_and(|f| f.is_finite());
    diverging.then(|| {
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
        .fix("EarlyStopping(restore_best_weights=True), a smaller head, more data")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evidence of a quiet run: nothing any rule should flag.
    fn quiet() -> Evidence {
        Evidence {
            stats: ProbeStats {
                train_loss: vec![1.0, 0.8, 0.6],
                val_loss: vec![0.9, 0.7, 0.6],
                mean_val_mse: 1.0,
                noise_scale: f64::NAN,
                signal_fraction: f64::NAN,
                layers: Vec::new(),
            },
            batch_size: 32,
            learning_rate: 1e-3,
            noise_window: 8,
            noise_steps: 0,
            batch_ceiling: 32,
            train_rows: 512,
            prediction_spread: Some((1.0, 1.0)),
            nan_layer: None,
            median_gradient_ratio: 1.0,
            median_first_norm: 0.1,
            steps: 48,
            spikes: 0,
            update_ratio_medians: vec![("conv1d".into(), 1e-3)],
            batchnorm_unsettled: None,
        }
    }

    /// A change to quiet evidence that one rule should catch.
    type Plant = Box<dyn Fn(&mut Evidence)>;

    fn ids(e: &Evidence) -> Vec<FindingId> {
        RULES
            .iter()
            .filter_map(|rule| rule(e).map(|f| f.id))
            .collect()
    }

    /// Only non-leaky layers at half dead or more are named, each with its
    /// share.
    #[test]
    fn units_died_names_the_dead_relu_layers_only() {
        let layer = |name: &str, dead: f64, leaky: bool| LayerProbe {
            name: name.into(),
            gradient_norm: 1.0,
            dead_fraction: Some(dead),
            leaky,
        };
        let mut e = quiet();
        e.stats.layers = vec![layer("silent_leaky", 0.9, true), layer("few", 0.1, false)];
        assert!(units_died(&e).is_none());
        e.stats.layers.push(layer("half", 0.5, false));
        let found = units_died(&e).expect("named");
        assert!(found.measured.contains("'half' 50%"), "{}", found.measured);
        assert!(
            !found.measured.contains("silent_leaky"),
            "{}",
            found.measured
        );
        assert!(!found.measured.contains("'few'"), "{}", found.measured);
    }

    #[test]
    fn a_quiet_run_raises_nothing() {
        assert_eq!(ids(&quiet()), Vec::<FindingId>::new());
    }

    #[test]
    fn each_rule_fires_on_its_own_minimal_case() {
        let cases: Vec<(FindingId, Plant)> = vec![
            (
                FindingId::AbsurdEpochs,
                Box::new(|e| e.stats.val_loss = vec![0.9, 1.5, 0.6]),
            ),
            (
                FindingId::PredictionsOutOfRange,
                Box::new(|e| e.prediction_spread = Some((20.0, 1.0))),
            ),
            (
                FindingId::NanGradients,
                Box::new(|e| e.nan_layer = Some("dense".into())),
            ),
            (
                FindingId::ExplodingGradients,
                Box::new(|e| e.median_gradient_ratio = 100.0),
            ),
            (
                FindingId::VanishingGradients,
                Box::new(|e| {
                    e.median_gradient_ratio = 1e-4;
                    e.median_first_norm = 1e-6;
                }),
            ),
            (FindingId::GradientSpikes, Box::new(|e| e.spikes = 3)),
            (
                FindingId::UpdateRatio,
                Box::new(|e| e.update_ratio_medians[0].1 = 0.5),
            ),
            (
                FindingId::DeadUnits,
                Box::new(|e| {
                    e.stats.layers = vec![
                        LayerProbe {
                            name: "conv".into(),
                            gradient_norm: 1.0,
                            dead_fraction: Some(0.1),
                            leaky: false,
                        },
                        // Silent, but leaky: not dead.
                        LayerProbe {
                            name: "leaky".into(),
                            gradient_norm: 1.0,
                            dead_fraction: Some(0.9),
                            leaky: true,
                        },
                        LayerProbe {
                            name: "conv_2".into(),
                            gradient_norm: 1.0,
                            dead_fraction: Some(0.75),
                            leaky: false,
                        },
                    ]
                }),
            ),
            (
                FindingId::Overfitting,
                Box::new(|e| {
                    e.stats.train_loss = vec![1.0, 0.8, 0.6, 0.4];
                    e.stats.val_loss = vec![0.9, 0.8, 0.85, 0.9];
                }),
            ),
        ];
        for (id, plant) in cases {
            let mut evidence = quiet();
            plant(&mut evidence);
            assert!(
                ids(&evidence).contains(&id),
                "{id:?} not raised: {:?}",
                ids(&evidence)
            );
        }
    }

    #[test]
    fn unsettled_batchnorm_softens_what_inference_mode_validation_shows() {
        let mut early = quiet();
        early.stats.val_loss = vec![3.0, 2.5, 2.0];
        let finding = absurd_epochs(&early).expect("named");
        assert_eq!(finding.severity, Severity::High);
        early.batchnorm_unsettled = Some(300);
        let finding = absurd_epochs(&early).expect("still named");
        assert_eq!(finding.severity, Severity::Low);
        assert!(
            finding.measured.contains("300 steps"),
            "{}",
            finding.measured
        );
        // The training loss, on batch statistics, says whether it trains.
        assert!(trains_well(&early));
    }

    #[test]
    fn the_noise_rule_grades_the_signal_fraction_and_caps_its_advice() {
        let mut noisy = quiet();
        noisy.noise_steps = 20;
        noisy.batch_size = 1;
        (noisy.stats.noise_scale, noisy.stats.signal_fraction) = noise_scale(1.0, 8.0, 100.0, 13.0);
        assert!(
            noisy.stats.signal_fraction < 0.1,
            "{}",
            noisy.stats.signal_fraction
        );
        // A probe that swings: the noise is a cause worth naming.
        noisy.stats.val_loss = vec![0.9, 0.3, 0.8];
        let finding = gradient_noise(&noisy).expect("estimated");
        assert_eq!(finding.severity, Severity::High);
        assert!(finding.fix.contains("batch_size = 32"), "{}", finding.fix);
        // The same noise in a run that trains well is only information.
        noisy.stats.val_loss = vec![0.9, 0.7, 0.6];
        let calm = gradient_noise(&noisy).expect("estimated");
        assert_eq!(calm.severity, Severity::Info);
    }
}
