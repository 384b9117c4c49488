//! The rules about the training setup alone: batch size, learning rate,
//! validation, early stopping and checkpoints.

use crate::{Finding, FindingId, OptimizerName, Recipe, Severity};

/// Batch 1 at an Adam-size learning rate.
pub(super) fn batch_one(setup: &Recipe) -> Vec<Finding> {
    let mut findings = Vec::new();
    let temperature = setup.learning_rate / setup.batch_size.max(1) as f64;
    if setup.batch_size == 1 && setup.learning_rate >= 1e-4 {
        findings.push(
            Finding::new(FindingId::BatchOne, Severity::High, "Batch size 1: every step follows one sample's gradient")
                .measured(format!(
                    "batch size 1 with {} at lr {}: noise temperature lr/B = {temperature:.1e}, 32x that of batch 32",
                    setup.optimizer, setup.learning_rate
                ))
                .why("the step noise grows as lr/B (Smith & Le 2018; McCandlish et al. 2018): single-sample steps jump between minima, so validation loss swings from epoch to epoch")
                .fix("batch_size = 32 (Keras's default), or lower the learning rate 10-30x"),
        );
    }
    findings
}

/// The learning rates an optimizer trains well with, the range outside
/// which a rate is flagged, and the rate to start from: Adam and RMSprop
/// scale each step by the gradient's running size, SGD does not, so its
/// usual rates are ten times larger (Keras's defaults: 1e-3 and 1e-2).
fn learning_rate_bounds(optimizer: OptimizerName) -> ((f64, f64), (f64, f64), f64) {
    match optimizer {
        OptimizerName::SGD => ((1e-4, 1e-1), (1e-6, 0.5), 1e-2),
        OptimizerName::Adam | OptimizerName::AdamW | OptimizerName::RMSprop => {
            ((1e-5, 1e-2), (1e-7, 1e-2), 1e-3)
        }
    }
}

/// A learning rate outside the optimizer's flagged range (Adam-family:
/// [1e-7, 1e-2]; SGD: [1e-6, 0.5]); High at ten times its upper end or
/// more, where steps overshoot from the first batch.
pub(super) fn learning_rate_range(setup: &Recipe) -> Vec<Finding> {
    let mut findings = Vec::new();
    let ((usual_low, usual_high), (low, high), start) = learning_rate_bounds(setup.optimizer);
    let lr = setup.learning_rate;
    if !(low..=high).contains(&lr) {
        let severity = if lr >= 10.0 * high {
            Severity::High
        } else {
            Severity::Medium
        };
        let optimizer = setup.optimizer;
        findings.push(
            Finding::new(FindingId::LearningRateRange, severity, "Learning rate outside the usual range")
                .measured(format!("lr = {lr} with {optimizer}, which trains well between {usual_low:e} and {usual_high:e}"))
                .why(format!("outside [{low:e}, {high:e}] training with {optimizer} crawls or diverges: too small a step never leaves the initialization, too large a one overshoots, and ReLU units it pushes below zero never come back (Kingma & Ba 2015; Smith 2017)"))
                .fix(format!("start from {start:e} ({optimizer}'s Keras default)")),
        );
    }
    findings
}

/// The share of the peak rate below which a step barely moves the weights.
const VANISHED: f64 = 0.01;

/// A learning-rate schedule that falls to a hundredth of its peak within
/// the first half of the planned steps: Keras's schedules count optimizer
/// steps (batches), and a `decay_steps` written as if in epochs decays
/// the rate to nothing in a few epochs, after which training stalls.
/// High when it happens within the first tenth. Needs the training size,
/// which gives the steps per epoch.
pub(super) fn schedule_vanishes(setup: &Recipe, train_samples: Option<usize>) -> Vec<Finding> {
    let (Some(schedule), Some(samples)) = (&setup.schedule, train_samples) else {
        return Vec::new();
    };
    let per_epoch = samples.max(1).div_ceil(setup.batch_size.max(1)) as u64;
    let total = per_epoch * setup.epochs.max(1) as u64;
    // The rate at up to 2,000 evenly spaced steps: enough to place the
    // fall within a fraction of a percent of the run.
    let stride = (total / 2_000).max(1);
    let steps: Vec<u64> = (0..total).step_by(stride as usize).collect();
    let peak = steps.iter().map(|&s| schedule.rate(s)).fold(0.0, f64::max);
    let Some(fallen) = steps
        .iter()
        .copied()
        .skip_while(|&s| schedule.rate(s) < peak)
        .find(|&s| schedule.rate(s) < peak * VANISHED)
    else {
        return Vec::new();
    };
    if fallen > total / 2 {
        return Vec::new();
    }
    let severity = if fallen <= total / 10 {
        Severity::High
    } else {
        Severity::Medium
    };
    let epoch = fallen / per_epoch + 1;
    let idle = 100.0 * (total - fallen) as f64 / total as f64;
    vec![
        Finding::new(FindingId::ScheduleVanishes, severity, "The learning-rate schedule decays to almost nothing early")
            .measured(format!(
                "the rate falls from {peak:.3e} to {:.3e}, under a hundredth of its peak, by step {fallen} (epoch {epoch} of {}, {per_epoch} steps per epoch at batch {}): {idle:.0}% of the steps barely move the weights",
                schedule.rate(fallen),
                setup.epochs,
                setup.batch_size
            ))
            .why("Keras's schedules count optimizer steps, one per batch, not epochs: a decay_steps written as if in epochs decays the rate per batch, and a model whose rate has vanished stops learning wherever it is")
            .fix(format!(
                "count decay_steps in batches: {per_epoch} per epoch here, so a decay over the whole run is decay_steps near {total}; or drop the schedule for ReduceLROnPlateau"
            )),
    ]
}

/// No validation data.
pub(super) fn no_validation(setup: &Recipe) -> Vec<Finding> {
    let mut findings = Vec::new();
    if !setup.validation {
        findings.push(
            Finding::new(
                FindingId::NoValidation,
                Severity::High,
                "No validation data",
            )
            .measured("the setup trains without validation data")
            .why("without it neither you nor a callback can tell a good epoch from an absurd one")
            .fix("validation_split = 0.2"),
        );
    }
    findings
}

/// Validation without early stopping.
pub(super) fn no_early_stopping(setup: &Recipe) -> Vec<Finding> {
    let mut findings = Vec::new();
    if setup.validation && !setup.early_stopping {
        findings.push(
            Finding::new(FindingId::NoEarlyStopping, Severity::Medium, "No early stopping")
                .measured(format!("{} epochs run whatever the validation loss does", setup.epochs))
                .why("the last epoch is not the best one when validation loss fluctuates (Prechelt 1998, Early Stopping - But When?)")
                .fix("EarlyStopping(monitor='val_loss', patience=5, restore_best_weights=True)"),
        );
    }
    findings
}

/// Validation without a best-weights checkpoint.
pub(super) fn no_best_checkpoint(setup: &Recipe) -> Vec<Finding> {
    let mut findings = Vec::new();
    if setup.validation && !setup.checkpoint_best {
        findings.push(
            Finding::new(FindingId::NoBestCheckpoint, Severity::Medium, "The best weights are not checkpointed")
                .measured("no ModelCheckpoint(save_best_only=True)")
                .why("a good epoch followed by a bad one is lost; the question's 'good results one moment' are exactly such epochs")
                .fix("ModelCheckpoint(path, monitor='val_loss', save_best_only=True)"),
        );
    }
    findings
}

/// Metrics that do not fit the loss: accuracy under a regression loss
/// (it counts exact equalities of real numbers), or a regression error
/// under a cross-entropy (it measures probabilities against class indices).
pub(super) fn metric_does_not_fit(setup: &Recipe) -> Vec<Finding> {
    let classification = setup.loss.is_classification();
    let misfits: Vec<&str> = setup
        .metrics
        .iter()
        .filter(|m| m.is_classification() != classification)
        .map(|m| m.name())
        .collect();
    if misfits.is_empty() {
        return Vec::new();
    }
    let (why, fix) = if classification {
        (
            "a regression error between class probabilities and class indices measures nothing the task asks; it moves with the loss's calibration, not with how many cases are right",
            "accuracy (balanced accuracy or macro-F1 on imbalanced classes)",
        )
    } else {
        (
            "accuracy on a real-valued target counts predictions exactly equal to the target: it stays near 0 whatever the model learns, so it cannot guide training or early stopping",
            "mae or rmse (r2 against the mean predictor)",
        )
    };
    vec![Finding::new(
        FindingId::MetricDoesNotFit,
        Severity::Medium,
        format!(
            "Metric {} does not fit the {} loss",
            misfits.join(", "),
            setup.loss.name()
        ),
    )
    .measured(format!(
        "compiled with loss {} and metrics [{}]",
        setup.loss.name(),
        setup
            .metrics
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .why(why)
    .fix(fix)]
}
