//! What the doctor reports: findings with evidence, reason, source and fix.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Likely to cost accuracy.
    Low,
    /// Likely to cost a lot of accuracy or stability.
    Medium,
    /// Explains broken or erratic training.
    High,
}

/// What a finding is about: one variant per rule, with a stable kebab-case
/// name (`batch-one`, `oversized-head`, ...) in reports, JSON and on the
/// command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingId {
    /// `oversized-head`.
    OversizedHead,
    /// `no-downsampling`.
    NoDownsampling,
    /// `kernel-as-long-as-input`.
    KernelAsLongAsInput,
    /// `receptive-field-too-large`.
    ReceptiveFieldTooLarge,
    /// `receptive-field-tiny`.
    ReceptiveFieldTiny,
    /// `padding-dominated`.
    PaddingDominated,
    /// `batch-one`.
    BatchOne,
    /// `batchnorm-tiny-batches`.
    BatchnormTinyBatches,
    /// `batchnorm-unsettled`.
    BatchnormUnsettled,
    /// `learning-rate-range`.
    LearningRateRange,
    /// `no-validation`.
    NoValidation,
    /// `no-early-stopping`.
    NoEarlyStopping,
    /// `no-best-checkpoint`.
    NoBestCheckpoint,
    /// `heavy-dropout`.
    HeavyDropout,
    /// `stacked-linear`.
    StackedLinear,
    /// `duplicate-samples`.
    DuplicateSamples,
    /// `train-validation-leak`.
    TrainValidationLeak,
    /// `too-few-samples`.
    TooFewSamples,
    /// `target-scale`.
    TargetScale,
    /// `inputs-not-standardized`.
    InputsNotStandardized,
    /// `constant-channel`.
    ConstantChannel,
    /// `ridge-baseline`.
    RidgeBaseline,
    /// `gradient-noise`.
    GradientNoise,
    /// `absurd-epochs`.
    AbsurdEpochs,
    /// `val-loss-swings`.
    ValLossSwings,
    /// `predictions-out-of-range`.
    PredictionsOutOfRange,
    /// `exploding-gradients`.
    ExplodingGradients,
    /// `vanishing-gradients`.
    VanishingGradients,
    /// `nan-gradients`.
    NanGradients,
    /// `gradient-spikes`.
    GradientSpikes,
    /// `update-ratio`.
    UpdateRatio,
    /// `overfitting`.
    Overfitting,
    /// `count-like-inputs`.
    CountLikeInputs,
    /// `preprocessing`.
    Preprocessing,
    /// `baseline-beats-cnn`.
    BaselineBeatsCnn,
    /// `head-cannot-reach-target`.
    HeadCannotReachTarget,
    /// `constant-target`.
    ConstantTarget,
    /// `sorted-split`.
    SortedSplit,
    /// `linear-model`.
    LinearModel,
    /// `input-shape-mismatch`.
    InputShapeMismatch,
    /// `off-scale-points`.
    OffScalePoints,
    /// `index-column`.
    IndexColumn,
    /// `learning-rate-diverges`.
    LearningRateDiverges,
    /// `signal-barely-predicts`.
    SignalBarelyPredicts,
    /// `softmax-on-one-unit`.
    SoftmaxOnOneUnit,
    /// `head-loss-mismatch`.
    HeadLossMismatch,
    /// `class-imbalance`.
    ClassImbalance,
    /// `class-too-small`.
    ClassTooSmall,
    /// `split-misses-class`.
    SplitMissesClass,
    /// `conflicting-labels`.
    ConflictingLabels,
    /// `predictions-collapsed`.
    PredictionsCollapsed,
    /// `minirocket-beats-cnn`.
    #[serde(rename = "minirocket-beats-cnn")]
    MiniRocketBeatsCnn,
    /// `dead-units`.
    DeadUnits,
    /// `saturated-units`.
    SaturatedUnits,
    /// `batchnorm-statistics-mismatch`.
    BatchnormStatisticsMismatch,
    /// `worse-than-mean`.
    WorseThanMean,
    /// `metric-does-not-fit`.
    MetricDoesNotFit,
    /// `overlapping-windows`.
    OverlappingWindows,
    /// `target-in-inputs`.
    TargetInInputs,
    /// `labels-beyond-outputs`.
    LabelsBeyondOutputs,
    /// `heavy-regularization`.
    HeavyRegularization,
    /// `per-position-output`.
    PerPositionOutput,
    /// `schedule-vanishes`.
    ScheduleVanishes,
    /// `targets-look-like-labels`.
    TargetsLookLikeLabels,
}

impl FindingId {
    /// Every id, in declaration order.
    pub const ALL: [FindingId; 64] = [
        FindingId::OversizedHead,
        FindingId::NoDownsampling,
        FindingId::KernelAsLongAsInput,
        FindingId::ReceptiveFieldTooLarge,
        FindingId::ReceptiveFieldTiny,
        FindingId::PaddingDominated,
        FindingId::BatchOne,
        FindingId::BatchnormTinyBatches,
        FindingId::BatchnormUnsettled,
        FindingId::LearningRateRange,
        FindingId::NoValidation,
        FindingId::NoEarlyStopping,
        FindingId::NoBestCheckpoint,
        FindingId::HeavyDropout,
        FindingId::StackedLinear,
        FindingId::DuplicateSamples,
        FindingId::TrainValidationLeak,
        FindingId::TooFewSamples,
        FindingId::TargetScale,
        FindingId::InputsNotStandardized,
        FindingId::ConstantChannel,
        FindingId::RidgeBaseline,
        FindingId::GradientNoise,
        FindingId::AbsurdEpochs,
        FindingId::ValLossSwings,
        FindingId::PredictionsOutOfRange,
        FindingId::ExplodingGradients,
        FindingId::VanishingGradients,
        FindingId::NanGradients,
        FindingId::GradientSpikes,
        FindingId::UpdateRatio,
        FindingId::Overfitting,
        FindingId::CountLikeInputs,
        FindingId::Preprocessing,
        FindingId::BaselineBeatsCnn,
        FindingId::HeadCannotReachTarget,
        FindingId::ConstantTarget,
        FindingId::SortedSplit,
        FindingId::LinearModel,
        FindingId::InputShapeMismatch,
        FindingId::OffScalePoints,
        FindingId::IndexColumn,
        FindingId::LearningRateDiverges,
        FindingId::SignalBarelyPredicts,
        FindingId::SoftmaxOnOneUnit,
        FindingId::HeadLossMismatch,
        FindingId::ClassImbalance,
        FindingId::ClassTooSmall,
        FindingId::SplitMissesClass,
        FindingId::ConflictingLabels,
        FindingId::PredictionsCollapsed,
        FindingId::MiniRocketBeatsCnn,
        FindingId::DeadUnits,
        FindingId::SaturatedUnits,
        FindingId::BatchnormStatisticsMismatch,
        FindingId::WorseThanMean,
        FindingId::MetricDoesNotFit,
        FindingId::OverlappingWindows,
        FindingId::TargetInInputs,
        FindingId::LabelsBeyondOutputs,
        FindingId::HeavyRegularization,
        FindingId::PerPositionOutput,
        FindingId::ScheduleVanishes,
        FindingId::TargetsLookLikeLabels,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingId::OversizedHead => "oversized-head",
            FindingId::NoDownsampling => "no-downsampling",
            FindingId::KernelAsLongAsInput => "kernel-as-long-as-input",
            FindingId::ReceptiveFieldTooLarge => "receptive-field-too-large",
            FindingId::ReceptiveFieldTiny => "receptive-field-tiny",
            FindingId::PaddingDominated => "padding-dominated",
            FindingId::BatchOne => "batch-one",
            FindingId::BatchnormTinyBatches => "batchnorm-tiny-batches",
            FindingId::BatchnormUnsettled => "batchnorm-unsettled",
            FindingId::LearningRateRange => "learning-rate-range",
            FindingId::NoValidation => "no-validation",
            FindingId::NoEarlyStopping => "no-early-stopping",
            FindingId::NoBestCheckpoint => "no-best-checkpoint",
            FindingId::HeavyDropout => "heavy-dropout",
            FindingId::StackedLinear => "stacked-linear",
            FindingId::DuplicateSamples => "duplicate-samples",
            FindingId::TrainValidationLeak => "train-validation-leak",
            FindingId::TooFewSamples => "too-few-samples",
            FindingId::TargetScale => "target-scale",
            FindingId::InputsNotStandardized => "inputs-not-standardized",
            FindingId::ConstantChannel => "constant-channel",
            FindingId::RidgeBaseline => "ridge-baseline",
            FindingId::GradientNoise => "gradient-noise",
            FindingId::AbsurdEpochs => "absurd-epochs",
            FindingId::ValLossSwings => "val-loss-swings",
            FindingId::PredictionsOutOfRange => "predictions-out-of-range",
            FindingId::ExplodingGradients => "exploding-gradients",
            FindingId::VanishingGradients => "vanishing-gradients",
            FindingId::NanGradients => "nan-gradients",
            FindingId::GradientSpikes => "gradient-spikes",
            FindingId::UpdateRatio => "update-ratio",
            FindingId::Overfitting => "overfitting",
            FindingId::CountLikeInputs => "count-like-inputs",
            FindingId::Preprocessing => "preprocessing",
            FindingId::BaselineBeatsCnn => "baseline-beats-cnn",
            FindingId::HeadCannotReachTarget => "head-cannot-reach-target",
            FindingId::ConstantTarget => "constant-target",
            FindingId::SortedSplit => "sorted-split",
            FindingId::OverlappingWindows => "overlapping-windows",
            FindingId::TargetInInputs => "target-in-inputs",
            FindingId::LabelsBeyondOutputs => "labels-beyond-outputs",
            FindingId::HeavyRegularization => "heavy-regularization",
            FindingId::PerPositionOutput => "per-position-output",
            FindingId::ScheduleVanishes => "schedule-vanishes",
            FindingId::TargetsLookLikeLabels => "targets-look-like-labels",
            FindingId::LinearModel => "linear-model",
            FindingId::InputShapeMismatch => "input-shape-mismatch",
            FindingId::OffScalePoints => "off-scale-points",
            FindingId::IndexColumn => "index-column",
            FindingId::LearningRateDiverges => "learning-rate-diverges",
            FindingId::SignalBarelyPredicts => "signal-barely-predicts",
            FindingId::SoftmaxOnOneUnit => "softmax-on-one-unit",
            FindingId::HeadLossMismatch => "head-loss-mismatch",
            FindingId::ClassImbalance => "class-imbalance",
            FindingId::ClassTooSmall => "class-too-small",
            FindingId::SplitMissesClass => "split-misses-class",
            FindingId::ConflictingLabels => "conflicting-labels",
            FindingId::PredictionsCollapsed => "predictions-collapsed",
            FindingId::MiniRocketBeatsCnn => "minirocket-beats-cnn",
            FindingId::DeadUnits => "dead-units",
            FindingId::SaturatedUnits => "saturated-units",
            FindingId::BatchnormStatisticsMismatch => "batchnorm-statistics-mismatch",
            FindingId::WorseThanMean => "worse-than-mean",
            FindingId::MetricDoesNotFit => "metric-does-not-fit",
        }
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for FindingId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Which rule found it.
    pub id: FindingId,
    /// Severity.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What was measured, with the numbers.
    pub measured: String,
    /// Why it matters, naming the rule's source.
    pub why: String,
    /// The concrete change that fixes it.
    pub fix: String,
    /// Measured effect of the fix, filled by verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
}

impl Finding {
    /// A finding; `measured`, `why` and `fix` as given.
    pub fn new(id: FindingId, severity: Severity, title: impl Into<String>) -> Self {
        Self {
            id,
            severity,
            title: title.into(),
            measured: String::new(),
            why: String::new(),
            fix: String::new(),
            verified: None,
        }
    }

    /// Sets what was measured.
    pub fn measured(mut self, text: impl Into<String>) -> Self {
        self.measured = text.into();
        self
    }

    /// Sets why it matters.
    pub fn why(mut self, text: impl Into<String>) -> Self {
        self.why = text.into();
        self
    }

    /// Sets the fix.
    pub fn fix(mut self, text: impl Into<String>) -> Self {
        self.fix = text.into();
        self
    }
}

/// All findings of one examination, most severe first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    /// Collects and ranks findings (stable within a severity).
    pub fn new(mut findings: Vec<Finding>) -> Self {
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        Self { findings }
    }

    /// The finding with `id`, if raised.
    pub fn get(&self, id: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.id == id)
    }

    /// The most severe level raised.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Markdown, one section per finding.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("# kymo doctor\n\n");
        if self.findings.is_empty() {
            out.push_str("No findings.\n");
        }
        for f in &self.findings {
            out.push_str(&format!(
                "## [{:?}] {} (`{}`)\n\n- **Measured:** {}\n- **Why:** {}\n- **Fix:** {}\n",
                f.severity, f.title, f.id, f.measured, f.why, f.fix
            ));
            if let Some(v) = &f.verified {
                out.push_str(&format!("- **Verified:** {v}\n"));
            }
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.findings.is_empty() {
            return writeln!(f, "No findings.");
        }
        for (i, x) in self.findings.iter().enumerate() {
            let label = match x.severity {
                Severity::High => "HIGH  ",
                Severity::Medium => "MEDIUM",
                Severity::Low => "LOW   ",
                Severity::Info => "INFO  ",
            };
            writeln!(f, "{:>2}. {label} {}  [{}]", i + 1, x.title, x.id)?;
            writeln!(f, "    measured: {}", x.measured)?;
            writeln!(f, "    why:      {}", x.why)?;
            writeln!(f, "    fix:      {}", x.fix)?;
            if let Some(v) = &x.verified {
                writeln!(f, "    verified: {v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_one_name_and_serializes_as_it() {
        let mut names = std::collections::HashSet::new();
        for id in FindingId::ALL {
            assert!(names.insert(id.as_str()), "{id:?} repeats a name");
            let json = serde_json::to_string(&id).expect("serializes");
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            assert_eq!(
                serde_json::from_str::<FindingId>(&json).expect("parses"),
                id
            );
        }
    }
}
