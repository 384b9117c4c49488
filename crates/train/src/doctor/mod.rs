//! The doctor: names what is wrong with a 1D CNN, its data and its
//! training, with the evidence, the reason and its source, and the fix —
//! and, with verification, the fix's measured effect.
//!
//! Three kinds of checks: [`static_checks`] of the model and setup,
//! [`data_checks`], and [`probe`] of a short training run. [`prescribe`]
//! turns the findings into a model and setup kymo stands behind, and
//! [`verify`] trains with and without each fix over several seeds.

mod data_checks;
mod finding;
mod probe;
mod probe_recorder;
mod setup;
mod static_checks;
mod verify;

pub use data_checks::data_checks;
pub use finding::{Diagnosis, Finding, FindingId, Severity};
pub use probe::{probe, ProbeConfig, ProbeStats};
pub use setup::Setup;
pub use static_checks::static_checks;
pub use verify::{fixes, verify, Fix, Verification};

use kymo_layers::{zoo, ArchitectureSpec};

use crate::TrainError;

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
}

/// Every check: static, data, and (with `probe_config`) the probe run.
///
/// The data checks see `train` and `validation` as given; the probe trains
/// on them standardized on the training split, so its findings are about
/// the model and setup rather than the data's scale.
pub fn examine(
    spec: &ArchitectureSpec,
    setup: &Setup,
    train: &kymo_data::Dataset,
    validation: &kymo_data::Dataset,
    probe_config: Option<ProbeConfig>,
) -> Result<Examination, TrainError> {
    let model = spec.build::<f32>(0)?;
    let mut findings = static_checks(model.as_ref(), setup, Some(train.len()));
    findings.extend(data_checks(
        train,
        Some(validation),
        model.count_trainable_params(),
    ));
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
    })
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
/// fault, and a setup with batch 32, validation, EarlyStopping(patience 5,
/// restore_best_weights) and a best-only checkpoint.
pub fn prescribe(
    spec: &ArchitectureSpec,
    setup: &Setup,
    diagnosis: &Diagnosis,
) -> (ArchitectureSpec, Setup) {
    let structural = diagnosis
        .findings
        .iter()
        .any(|f| ARCHITECTURE.contains(&f.id));
    let model = if structural {
        let mut fixed = zoo::doctor(spec.input().length);
        fixed.input = spec.input();
        ArchitectureSpec::Sequential(fixed)
    } else {
        spec.clone()
    };
    let learning_rate = if (1e-5..=1e-2).contains(&setup.learning_rate) {
        setup.learning_rate
    } else {
        1e-3
    };
    let fixed = Setup {
        optimizer: "Adam".into(),
        learning_rate,
        batch_size: setup.batch_size.max(32),
        epochs: setup.epochs.max(25),
        validation: true,
        early_stopping: true,
        checkpoint_best: true,
    };
    (model, fixed)
}
