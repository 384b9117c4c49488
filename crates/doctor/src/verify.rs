//! Verification: train the setup with and without a fix over several seeds
//! on a short budget and report the measured difference.

use kymo_data::Dataset;
use kymo_layers::ArchitectureSpec;
use serde::Serialize;

use super::{FindingId, Recipe};
use crate::DoctorError;

/// Validation figures of one arm over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// Median final validation MSE.
    pub median_val_mse: f64,
    /// Smallest and largest.
    pub range: (f64, f64),
    /// Runs with an epoch ten times worse than predicting the mean, or non-finite.
    pub blow_ups: usize,
    /// Runs that relapsed: after an epoch better than predicting the mean, a
    /// later epoch went back above the mean predictor and above ten times the
    /// best loss so far (or non-finite). This is the question's symptom, "good
    /// results one moment and absurd ones the next"; unlike `blow_ups` it does
    /// not count a run that is merely slow to leave its initial transient,
    /// which a short budget at a large batch size often is.
    pub relapses: usize,
    /// Runs.
    pub runs: usize,
    /// Each seed's final validation MSE, in the seeds' order.
    pub per_seed: Vec<f64>,
}

/// Trains `spec` with `setup` for `steps` optimizer steps (as many epochs
/// as that takes at the setup's batch size, so arms with other batch sizes
/// are compared at equal steps) over `seeds`, and summarises the final
/// validation loss (after restoring the best weights when the setup uses
/// early stopping).
pub fn verify(
    spec: &ArchitectureSpec,
    setup: &Recipe,
    train: &Dataset,
    validation: &Dataset,
    seeds: &[u64],
    steps: usize,
    mean_val_mse: f64,
) -> Result<Verification, DoctorError> {
    let mut finals = Vec::new();
    let mut blow_ups = 0;
    let mut relapses = 0;
    let epochs = setup.epochs_for_steps(steps, train.len());
    // A regularized model's `val_loss` carries Keras's penalties; its
    // stability is judged on the MSE alone, as the probe's is.
    let regularized = spec
        .layer_specs()
        .iter()
        .any(|layer| layer.regularizers().iter().any(Option::is_some));
    let mut setup = setup.clone();
    if regularized && !setup.metrics.contains(&kymo_data::Metric::Mse) {
        setup.metrics.push(kymo_data::Metric::Mse);
    }
    for &seed in seeds {
        let mut trainer = setup.fit(spec, train, validation, seed, Some(epochs))?;
        let stability = if regularized {
            kymo_train::Stability::of(&trainer.history.series("val_mse"), mean_val_mse)
        } else {
            trainer.history.stability(mean_val_mse)
        };
        blow_ups += usize::from(stability.blew_up);
        relapses += usize::from(stability.relapsed);
        finals.push(trainer.evaluate(validation)?.data_loss);
    }
    let mut sorted: Vec<f64> = finals
        .iter()
        .map(|v| if v.is_nan() { f64::INFINITY } else { *v })
        .collect();
    sorted.sort_by(f64::total_cmp);
    Ok(Verification {
        median_val_mse: sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN),
        range: (
            sorted.first().copied().unwrap_or(f64::NAN),
            sorted.last().copied().unwrap_or(f64::NAN),
        ),
        blow_ups,
        relapses,
        runs: seeds.len(),
        per_seed: finals,
    })
}

impl Verification {
    /// Whether this arm, with a fix, did better than `baseline` without
    /// it: a lower median that adds no relapses, or fewer relapses without
    /// raising the median by more than a tenth.
    pub fn helped_against(&self, baseline: &Verification) -> bool {
        (self.median_val_mse < baseline.median_val_mse && self.relapses <= baseline.relapses)
            || (self.relapses < baseline.relapses
                && self.median_val_mse <= baseline.median_val_mse * 1.1)
    }

    /// One line: the median, the range, relapses and blow-ups.
    pub fn describe(&self) -> String {
        format!(
            "median validation MSE {:.4} (range {:.4} – {:.4}), relapsed in {} of {} runs, \
             above 10x the mean predictor in {}",
            self.median_val_mse,
            self.range.0,
            self.range.1,
            self.relapses,
            self.runs,
            self.blow_ups
        )
    }
}

/// A fix that `--verify` trains beside the unfixed setup.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    /// The findings it answers: it is tried when any of them was found.
    pub answers: &'static [FindingId],
    /// Its name in the report.
    pub name: String,
    /// The model with the fix.
    pub spec: ArchitectureSpec,
    /// The setup with the fix.
    pub setup: Recipe,
}

/// A change to a model's own layers that one finding's fix makes.
type Temper = fn(&mut ArchitectureSpec);

/// The fixes the doctor can verify, each changing one thing of `spec` and
/// `setup`: the prescribed batch size (`batch`), the `prescribed`
/// architecture, EarlyStopping with the best weights, and where `spec`
/// has them, its heavy dropout rates lowered to 0.3 and its heavy
/// regularizers capped at Keras's default 0.01 (each the user's own
/// model with that one change).
pub fn fixes(
    spec: &ArchitectureSpec,
    setup: &Recipe,
    prescribed: &ArchitectureSpec,
    batch: usize,
) -> Vec<Fix> {
    let mut fixes = vec![
        Fix {
            answers: &[FindingId::BatchOne, FindingId::GradientNoise],
            name: format!("batch {batch}"),
            spec: spec.clone(),
            setup: Recipe {
                batch_size: batch,
                ..setup.clone()
            },
        },
        Fix {
            answers: &[
                FindingId::OversizedHead,
                FindingId::NoDownsampling,
                FindingId::KernelAsLongAsInput,
            ],
            name: "prescribed architecture".into(),
            spec: prescribed.clone(),
            setup: setup.clone(),
        },
        Fix {
            answers: &[
                FindingId::NoEarlyStopping,
                FindingId::NoBestCheckpoint,
                FindingId::AbsurdEpochs,
            ],
            name: "EarlyStopping + best weights".into(),
            spec: spec.clone(),
            setup: Recipe {
                early_stopping: true,
                checkpoint_best: true,
                ..setup.clone()
            },
        },
    ];
    let tempered: [(&'static [FindingId], &str, Temper); 2] = [
        (
            &[FindingId::HeavyDropout],
            "dropout rates above 0.5 lowered to 0.3",
            crate::temper_dropout,
        ),
        (
            &[FindingId::HeavyRegularization],
            "regularizers capped at 0.01",
            crate::temper_regularizers,
        ),
    ];
    for (answers, name, temper) in tempered {
        let mut changed = spec.clone();
        temper(&mut changed);
        if changed != *spec {
            fixes.push(Fix {
                answers,
                name: name.into(),
                spec: changed,
                setup: setup.clone(),
            });
        }
    }
    fixes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(median: f64, relapses: usize) -> Verification {
        Verification {
            median_val_mse: median,
            range: (median, median),
            blow_ups: 0,
            relapses,
            runs: 3,
            per_seed: vec![median; 3],
        }
    }

    #[test]
    fn a_fix_helps_when_it_lowers_the_median_or_removes_relapses() {
        // (with the fix, without, helped)
        let table = [
            (arm(0.5, 1), arm(0.6, 1), true),
            (arm(0.5, 2), arm(0.6, 1), false),
            (arm(0.65, 0), arm(0.6, 2), true),
            (arm(0.7, 0), arm(0.6, 2), false),
            (arm(0.6, 1), arm(0.6, 1), false),
        ];
        for (with, without, helped) in table {
            assert_eq!(
                with.helped_against(&without),
                helped,
                "{with:?} vs {without:?}"
            );
        }
    }

    #[test]
    fn each_fix_changes_one_thing() {
        let prescribed: ArchitectureSpec = kymo_layers::zoo::doctor(64).into();
        let setup = Recipe::default();
        // The seed's model, and the doctor's with Dropout 0.9 and a heavy
        // L2 on its first conv: the tempering arms appear only for it.
        let mut heavy = kymo_layers::zoo::doctor(64);
        heavy.layers.insert(
            1,
            kymo_layers::LayerSpec::Dropout(kymo_layers::DropoutSpec {
                rate: 0.9,
                seed: None,
                name: None,
            }),
        );
        if let Some(kymo_layers::LayerSpec::Conv1D(conv)) = heavy.layers.first_mut() {
            conv.kernel_regularizer = Some(kymo_layers::Regularizer { l1: 0.0, l2: 0.5 });
        }
        for (spec, arms) in [
            (ArchitectureSpec::from(kymo_layers::zoo::original(64)), 3),
            (heavy.into(), 5),
        ] {
            let fixes = fixes(&spec, &setup, &prescribed, 32);
            assert_eq!(fixes.len(), arms);
            for fix in fixes {
                let changed = usize::from(fix.spec != spec) + usize::from(fix.setup != setup);
                assert_eq!(changed, 1, "{}", fix.name);
            }
        }
    }
}

/// How `--verify` measures the fixes: seeds per arm and the budget.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyPlan {
    /// Seeds each arm trains with.
    pub seeds: Vec<u64>,
    /// Every arm trains for as many optimizer steps as the unfixed setup
    /// takes in this many epochs.
    pub epochs: usize,
    /// The mean predictor's validation MSE, the floor blow-ups are judged
    /// against (1 in standardized units when unknown).
    pub mean_val_mse: f64,
}

/// Verifies every fix that answers a finding of `diagnosis`: trains the
/// unfixed `spec`/`setup` and each fix at equal optimizer steps over the
/// plan's seeds, and writes each result into the findings it answers
/// (`Finding::verified`). `progress` hears each arm's name before it
/// trains. Returns every arm trained, the unfixed `baseline` first, for
/// the pictures.
#[allow(clippy::too_many_arguments)]
pub fn verify_findings(
    diagnosis: &mut crate::Diagnosis,
    spec: &ArchitectureSpec,
    setup: &Recipe,
    prescribed: &ArchitectureSpec,
    prescribed_batch: usize,
    train: &Dataset,
    validation: &Dataset,
    plan: &VerifyPlan,
    mut progress: impl FnMut(&str),
) -> Result<Vec<(String, Verification)>, DoctorError> {
    let steps = plan.epochs * train.len().div_ceil(setup.batch_size.max(1));
    let arm = |s: &ArchitectureSpec, u: &Recipe| {
        verify(
            s,
            u,
            train,
            validation,
            &plan.seeds,
            steps,
            plan.mean_val_mse,
        )
    };
    progress("baseline");
    let baseline = arm(spec, setup)?;
    let mut arms = vec![("baseline".to_string(), baseline.clone())];
    for fix in fixes(spec, setup, prescribed, prescribed_batch) {
        if !diagnosis
            .findings
            .iter()
            .any(|f| fix.answers.contains(&f.id))
        {
            continue;
        }
        progress(&fix.name);
        let result = arm(&fix.spec, &fix.setup)?;
        let verdict = if result.helped_against(&baseline) {
            ""
        } else {
            " — this fix did not help here"
        };
        let text = format!(
            "{}: {}; without the fix: {}{verdict}",
            fix.name,
            result.describe(),
            baseline.describe()
        );
        for finding in diagnosis
            .findings
            .iter_mut()
            .filter(|f| fix.answers.contains(&f.id))
        {
            finding.verified = Some(text.clone());
        }
        arms.push((fix.name, result));
    }
    Ok(arms)
}
