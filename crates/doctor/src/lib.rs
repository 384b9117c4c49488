//! # kymo-doctor
//!
//! The doctor: names what is wrong with a 1D CNN, its data and its
//! training, with the evidence, the reason and its source, and the fix —
//! and, with verification, the fix's measured effect.
//!
//! Three kinds of checks: [`static_checks`] of the model and setup,
//! [`data_checks`], and [`probe`] of a short training run. [`prescribe`]
//! turns the findings into a model and setup kymo stands behind,
//! [`verify`] trains with and without each fix over several seeds, and
//! [`compare_with_baselines`] puts the prescription beside ridge, PLS and
//! MiniRocket (kymo-baselines).
//!
//! ```
//! use kymo_doctor::{static_checks, FindingId, Recipe};
//! use kymo_layers::zoo;
//!
//! // The seed question's model and setup: batch 1, no early stopping.
//! let model = kymo_layers::Sequential::<f32>::new(&zoo::original(1040), 0).unwrap();
//! let findings = static_checks(&model, &Recipe::default(), Some(400));
//! assert!(findings.iter().any(|f| f.id == FindingId::BatchOne));
//! ```

mod budget;
mod classification_checks;
mod classifier_prescription;
mod comparison;
mod data_checks;
mod error;
mod finding;
mod head_checks;
mod index_checks;
mod keras_script;
mod label_target_checks;
mod probe;
mod probe_recorder;
mod static_checks;
mod statistics;
mod target_checks;
mod target_copy_checks;
mod trained_checks;
mod verify;
mod window_checks;

pub use budget::{
    candidates, choose_preprocessing, count_like, training_budget, DataFacts, ENSEMBLE_BUDGET,
    ENSEMBLE_MEMBERS, EPOCH_RANGE, TARGET_STEPS, WEIGHT_DECAY,
};
pub use classification_checks::{classification_checks, collapsed_predictions};
pub use classifier_prescription::{
    accuracy, choose_classifier, prescribe_classifier, train_classifier, ClassifierChoice,
    ClassifierVerdict,
};
pub use comparison::{compare_with_baselines, preprocessed, Comparison};
pub use data_checks::data_checks;
pub use error::DoctorError;
pub use finding::{Diagnosis, Finding, FindingId, Severity};
pub use head_checks::per_position_output;
pub use keras_script::keras_training_script;
pub use kymo_train::{OptimizerName, Recipe};
pub use probe::{probe, LayerProbe, ProbeConfig, ProbeStats};
pub use static_checks::static_checks;
pub use statistics::median;
pub use target_checks::{input_shape, target_checks};
pub use trained_checks::trained_checks;
pub use verify::{fixes, verify, verify_findings, Fix, Verification, VerifyPlan};
pub use window_checks::overlapping_windows;

use kymo_layers::{zoo, ArchitectureSpec, InputSpec};

/// What [`examine`] found, and the standardized splits it probed on (what
/// a verification should train on too).
pub struct Examination {
    /// The ranked findings.
    pub diagnosis: Diagnosis,
    /// The probe's measurements, when it ran.
    pub probe: Option<ProbeStats>,
    /// Training split, standardized on itself.
    pub train: kymo_data::Dataset,
    /// Validation split, standardized with the training statistics.
    pub validation: kymo_data::Dataset,
    /// The preprocessing that scored best on validation.
    pub preprocessing: kymo_data::Pipeline,
    /// What the budget was sized from.
    pub facts: DataFacts,
}

/// Every check: static, data, and (with `probe_config`) the probe run.
///
/// The data checks see `train` and `validation` as given; the probe trains
/// on them standardized on the training split, so its findings are about
/// the model and setup rather than the data's scale.
pub fn examine(
    spec: &ArchitectureSpec,
    setup: &Recipe,
    train: &kymo_data::Dataset,
    validation: &kymo_data::Dataset,
    probe_config: Option<ProbeConfig>,
) -> Result<Examination, DoctorError> {
    // A model that cannot take these signals is diagnosed, not run (the
    // probe would fail on its first batch); its other checks read it as
    // built for the data, which is what its author meant.
    // A head that predicts at every position is named, and the rest of the
    // examination reads the model with the Flatten its author meant.
    let outputs = train
        .classes()
        .map_or(train.target_count(), <[String]>::len);
    let (fixed, head) = match head_checks::per_position_output(spec, outputs) {
        Some((fixed, finding)) => (Some(fixed), Some(finding)),
        None => (None, None),
    };
    let spec = fixed.as_ref().unwrap_or(spec);
    // A head the fix could not flatten still cannot be trained.
    let unfixed = head.is_some() && head_checks::per_position_output(spec, outputs).is_some();
    let mismatch = target_checks::input_shape(spec, train);
    // A model that cannot run on these signals is not probed; one whose
    // axes are only in doubt (Medium) is.
    let cannot_run = mismatch
        .as_ref()
        .is_some_and(|f| f.severity == Severity::High);
    // A head of another width than the regression targets cannot be
    // trained on them: named, and not probed.
    let wrong_width = match train.classes() {
        None if !cannot_run && !unfixed => head_checks::outputs_against_targets(spec, outputs),
        _ => None,
    };
    let probe_config = probe_config.filter(|_| !cannot_run && !unfixed && wrong_width.is_none());
    let model = match &mismatch {
        None => spec.build::<f32>(0)?,
        Some(_) => with_input(spec, train.channels(), train.length()).build::<f32>(0)?,
    };
    // The mismatch first: the static checks' complaints about a model that
    // cannot slide over its input follow from it.
    let mut findings: Vec<Finding> = mismatch.into_iter().collect();
    findings.extend(head);
    findings.extend(wrong_width);
    findings.extend(static_checks(model.as_ref(), setup, Some(train.len())));
    findings.extend(data_checks(
        train,
        Some(validation),
        model.count_trainable_params(),
    ));
    findings.extend(target_checks(model.as_ref(), train, Some(validation)));
    let (preprocessing, choice) = choose_preprocessing(train, validation)?;
    findings.push(choice);
    let facts = DataFacts::of(train);
    let scaler = kymo_data::DatasetScaler::fit(train)?;
    let (train, validation) = (scaler.transform(train)?, scaler.transform(validation)?);
    let mut probe_stats = None;
    if let Some(config) = probe_config {
        let (more, measured) = probe(spec, setup, &train, &validation, config)?;
        findings.extend(more);
        probe_stats = Some(measured);
    }
    Ok(Examination {
        diagnosis: Diagnosis::new(findings),
        probe: probe_stats,
        train,
        validation,
        preprocessing,
        facts,
    })
}

/// The number of outputs per signal of `spec`'s model, when it builds and
/// gives one row per signal.
fn output_width(spec: &ArchitectureSpec) -> Option<usize> {
    match spec.build::<f32>(0).ok()?.output_shape() {
        kymo_layers::Shape::Features(units) => Some(units),
        kymo_layers::Shape::Signal { .. } => None,
    }
}

/// `spec` for signals of `channels` x `length`.
fn with_input(spec: &ArchitectureSpec, channels: usize, length: usize) -> ArchitectureSpec {
    let input = InputSpec { channels, length };
    let mut same = spec.clone();
    match &mut same {
        ArchitectureSpec::Sequential(s) => s.input = input,
        ArchitectureSpec::Graph(g) => g.input = input,
    }
    same
}

/// The strongest regularizer coefficient a prescription keeps: Keras's
/// default.
const PRESCRIBED_PENALTY: f64 = 0.01;

/// Every layer of `spec`, to change: a stack's layers or a graph's nodes'.
fn layers_mut(spec: &mut ArchitectureSpec) -> Vec<&mut kymo_layers::LayerSpec> {
    match spec {
        ArchitectureSpec::Sequential(s) => s.layers.iter_mut().collect(),
        ArchitectureSpec::Graph(g) => g.nodes.iter_mut().map(|node| &mut node.layer).collect(),
    }
}

/// Caps every Conv1D and Dense regularizer coefficient of `spec` at
/// [`PRESCRIBED_PENALTY`] (the fix of `heavy-regularization`).
pub(crate) fn temper_regularizers(spec: &mut ArchitectureSpec) {
    for layer in layers_mut(spec) {
        for regularizer in layer.regularizers_mut().into_iter().flatten() {
            regularizer.l1 = regularizer.l1.min(PRESCRIBED_PENALTY);
            regularizer.l2 = regularizer.l2.min(PRESCRIBED_PENALTY);
        }
    }
}

/// The dropout rate `heavy-dropout`'s fix lowers a heavier one to: the top
/// of the usual 0.1 to 0.3.
const TEMPERED_DROPOUT: f64 = 0.3;

/// Lowers every Dropout and SpatialDropout1D rate of `spec` above 0.5 (what
/// `heavy-dropout` flags) to [`TEMPERED_DROPOUT`].
pub(crate) fn temper_dropout(spec: &mut ArchitectureSpec) {
    for layer in layers_mut(spec) {
        if let kymo_layers::LayerSpec::Dropout(d) | kymo_layers::LayerSpec::SpatialDropout1D(d) =
            layer
        {
            if d.rate > 0.5 {
                d.rate = TEMPERED_DROPOUT;
            }
        }
    }
}

/// Structural findings that the prescribed architecture replaces.
const ARCHITECTURE: [FindingId; 4] = [
    FindingId::OversizedHead,
    FindingId::NoDownsampling,
    FindingId::KernelAsLongAsInput,
    FindingId::ReceptiveFieldTooLarge,
];

/// The fixed model and setup for a diagnosis: the doctor's architecture
/// ([`zoo::doctor`], for the same input) when the model's structure is at
/// fault, its output Dense as wide as the data's target columns with no
/// activation when it is not (a classifier's head on a regression
/// target); and, given the data's facts and the preprocessing chosen on
/// validation, the whole training budget of [`training_budget`] (batch,
/// epochs, AdamW, ReduceLROnPlateau, EarlyStopping with best-weights
/// restore, a best-only checkpoint). Without data, the setup is batch 32,
/// EarlyStopping(patience 5) and the checkpoint.
pub fn prescribe(
    spec: &ArchitectureSpec,
    setup: &Recipe,
    diagnosis: &Diagnosis,
    data: Option<(&DataFacts, &kymo_data::Pipeline)>,
) -> (ArchitectureSpec, Recipe) {
    let structural = diagnosis
        .findings
        .iter()
        .any(|f| ARCHITECTURE.contains(&f.id));
    // The data's shape wins over the model's when they disagree.
    let input = data.map_or(spec.input(), |(facts, _)| InputSpec {
        channels: facts.channels,
        length: facts.length,
    });
    let model = if structural {
        let mut fixed = zoo::doctor(input.length);
        fixed.input = input;
        ArchitectureSpec::Sequential(fixed)
    } else {
        let mut kept = with_input(spec, input.channels, input.length);
        if diagnosis
            .get(FindingId::HeavyRegularization.as_str())
            .is_some()
        {
            temper_regularizers(&mut kept);
        }
        kept
    };
    // A regression output as wide as the targets (`head-loss-mismatch`):
    // the prescription must train on the data as given.
    let model = match data {
        Some((facts, _)) if output_width(&model).is_some_and(|units| units != facts.targets) => {
            model
                .clone()
                .with_head(facts.targets, kymo_layers::Activation::Linear)
                .unwrap_or(model)
        }
        _ => model,
    };
    let learning_rate = if (1e-5..=1e-2).contains(&setup.learning_rate) {
        setup.learning_rate
    } else {
        1e-3
    };
    let fixed = match data {
        Some((facts, pipeline)) => Recipe {
            preprocessing: (pipeline.steps != [kymo_data::Step::Standardize])
                .then(|| pipeline.describe()),
            ..training_budget(facts, learning_rate)
        },
        None => Recipe {
            optimizer: kymo_train::OptimizerName::Adam,
            learning_rate,
            batch_size: setup.batch_size.max(32),
            epochs: setup.epochs.max(25),
            validation: true,
            early_stopping: true,
            checkpoint_best: true,
            ..Recipe::default()
        },
    };
    (model, fixed)
}
