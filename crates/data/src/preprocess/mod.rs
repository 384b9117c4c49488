//! Preprocessing of signals, fitted on the training split only and carried
//! with a model so that new signals get the same transform: SNV, MSC,
//! Savitzky-Golay smoothing and derivatives, `log1p` for count-like data,
//! and per-point standardization; targets standardized and mapped back.
//!
//! A [`Pipeline`] says what to do (it is what an experiment file or a
//! command line names); [`Pipeline::fit`] learns what the steps need from
//! the training rows (MSC's reference spectrum, standardization's means)
//! and returns a [`Preprocessor`], which serializes with the model.

mod savitzky_golay;
mod scatter;
mod step;

pub use savitzky_golay::SavitzkyGolayFilter;
pub use step::Step;

use ndarray::{Array2, Array3, Axis};
use serde::{Deserialize, Serialize};

use crate::{DataError, Dataset, Standardizer};

/// What to do to signals and targets, before anything is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Steps applied to every signal, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Whether targets are standardized for training (and predictions
    /// mapped back to the target's units).
    #[serde(default = "yes")]
    pub standardize_targets: bool,
}

fn yes() -> bool {
    true
}

impl Default for Pipeline {
    /// [`Pipeline::standard`].
    fn default() -> Self {
        Self::standard()
    }
}

impl Pipeline {
    /// Per-point standardization of signals and standardized targets: what
    /// [`crate::DatasetScaler`] does, bit for bit.
    pub fn standard() -> Self {
        Self::with_steps(vec![Step::Standardize])
    }

    /// These signal steps, with standardized targets.
    pub fn with_steps(steps: Vec<Step>) -> Self {
        Self {
            steps,
            standardize_targets: true,
        }
    }

    /// The pipeline a command line or setup names: `None` is
    /// [`Pipeline::standard`], a text is its steps (see [`Step::parse_list`])
    /// with standardized targets.
    pub fn named(text: Option<&str>) -> Result<Self, DataError> {
        match text {
            None => Ok(Self::standard()),
            Some(text) => Ok(Self::with_steps(Step::parse_list(text)?)),
        }
    }

    /// The steps as one line, as [`Step::parse_list`] reads it.
    pub fn describe(&self) -> String {
        let steps: Vec<String> = self.steps.iter().map(Step::to_string).collect();
        if steps.is_empty() {
            "none".into()
        } else {
            steps.join(",")
        }
    }

    /// Learns each step's statistics from `train`, in order (each step is
    /// fitted on the output of the steps before it).
    pub fn fit(&self, train: &Dataset) -> Result<Preprocessor, DataError> {
        if train.is_empty() {
            return Err(DataError::Shape(
                "cannot fit preprocessing on zero samples".into(),
            ));
        }
        let mut signals = train.signals().clone();
        let mut fitted = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let state = Fitted::fit(step, &signals)?;
            signals = state.apply(&signals)?;
            fitted.push(state);
        }
        // Class indices are labels, not quantities: never standardized.
        let targets = if self.standardize_targets && train.classes().is_none() {
            Some(Standardizer::fit(train.targets())?)
        } else {
            None
        };
        Ok(Preprocessor {
            pipeline: self.clone(),
            channels: train.channels(),
            length: train.length(),
            fitted,
            targets,
            classes: train.classes().map(<[String]>::to_vec),
        })
    }
}

/// One step with what it learned from the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Fitted {
    Snv,
    Msc {
        reference: Vec<f32>,
    },
    SavitzkyGolay {
        window: usize,
        order: usize,
        derivative: usize,
    },
    Log1p,
    Standardize {
        standardizer: Standardizer,
    },
}

fn flat(signals: &Array3<f32>) -> Array2<f32> {
    let (n, c, l) = signals.dim();
    Array2::from_shape_vec((n, c * l), signals.iter().copied().collect())
        .expect("invariant: [n, c, l] and [n, c*l] hold the same count")
}

impl Fitted {
    fn fit(step: &Step, signals: &Array3<f32>) -> Result<Self, DataError> {
        Ok(match *step {
            Step::Snv => Fitted::Snv,
            Step::Log1p => Fitted::Log1p,
            Step::SavitzkyGolay {
                window,
                order,
                derivative,
            } => {
                SavitzkyGolayFilter::new(window, order, derivative, signals.dim().2)?;
                Fitted::SavitzkyGolay {
                    window,
                    order,
                    derivative,
                }
            }
            Step::Msc => {
                let mean = signals
                    .mean_axis(Axis(0))
                    .expect("invariant: fit refuses zero samples");
                Fitted::Msc {
                    reference: mean.iter().copied().collect(),
                }
            }
            Step::Standardize => Fitted::Standardize {
                standardizer: Standardizer::fit(&flat(signals))?,
            },
        })
    }

    fn apply(&self, signals: &Array3<f32>) -> Result<Array3<f32>, DataError> {
        let (n, c, l) = signals.dim();
        let mut out = signals.as_standard_layout().into_owned();
        match self {
            Fitted::Snv => per_signal(&mut out, |_, _, x, o| {
                scatter::snv(x, o);
                Ok(())
            })?,
            Fitted::Msc { reference } => {
                if reference.len() != c * l {
                    return Err(DataError::Shape(format!(
                        "MSC was fitted on {} points per sample, given {c} x {l}",
                        reference.len()
                    )));
                }
                per_signal(&mut out, |row, channel, x, o| {
                    let r = &reference[channel * l..(channel + 1) * l];
                    scatter::msc(x, r, o, row + 1)
                })?
            }
            Fitted::SavitzkyGolay {
                window,
                order,
                derivative,
            } => {
                let filter = SavitzkyGolayFilter::new(*window, *order, *derivative, l)?;
                per_signal(&mut out, |_, _, x, o| {
                    filter.apply(x, o);
                    Ok(())
                })?
            }
            Fitted::Log1p => {
                for (flat_index, v) in out.iter_mut().enumerate() {
                    if v.is_nan() || *v <= -1.0 {
                        return Err(DataError::Shape(format!(
                            "log1p: sample {}, point {} is {v}; log1p needs values above -1",
                            flat_index / (c * l).max(1) + 1,
                            flat_index % (c * l).max(1) + 1
                        )));
                    }
                    *v = v.ln_1p();
                }
            }
            Fitted::Standardize { standardizer } => {
                out = standardizer
                    .transform(&flat(&out))?
                    .into_shape_with_order((n, c, l))
                    .map_err(|e| DataError::Shape(e.to_string()))?;
            }
        }
        Ok(out)
    }
}

/// Runs `f(row, channel, signal, out)` on every signal of `data`, in place.
fn per_signal(
    data: &mut Array3<f32>,
    mut f: impl FnMut(usize, usize, &[f32], &mut [f32]) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut scratch = vec![0.0f32; data.dim().2];
    for (row, mut sample) in data.outer_iter_mut().enumerate() {
        for (channel, mut signal) in sample.outer_iter_mut().enumerate() {
            let values = signal
                .as_slice_mut()
                .expect("invariant: apply works on a standard-layout copy");
            f(row, channel, values, &mut scratch)?;
            values.copy_from_slice(&scratch);
        }
    }
    Ok(())
}

/// A fitted [`Pipeline`]: applies the same transform to any signals of the
/// shape it was fitted on, and maps standardized predictions back to the
/// target's units. It serializes with a model's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// What was fitted.
    pub pipeline: Pipeline,
    /// Channels of the signals it was fitted on.
    pub channels: usize,
    /// Length of the signals it was fitted on.
    pub length: usize,
    fitted: Vec<Fitted>,
    targets: Option<Standardizer>,
    /// The class names of a classifier's training rows, in index order, so
    /// predictions name them (absent in files written before classes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    classes: Option<Vec<String>>,
}

impl Preprocessor {
    /// The signals, transformed. Signals of another shape than the
    /// training ones are an error that names both.
    pub fn transform_signals(&self, signals: &Array3<f32>) -> Result<Array3<f32>, DataError> {
        let (_, c, l) = signals.dim();
        if (c, l) != (self.channels, self.length) {
            return Err(DataError::Shape(format!(
                "preprocessing was fitted on signals of {} channel(s) x {} points, given {c} x {l}",
                self.channels, self.length
            )));
        }
        let mut out = signals.clone();
        for step in &self.fitted {
            out = step.apply(&out)?;
        }
        Ok(out)
    }

    /// Signals and targets, transformed.
    pub fn transform(&self, data: &Dataset) -> Result<Dataset, DataError> {
        let targets = match &self.targets {
            Some(s) => s.transform(data.targets())?,
            None => data.targets().clone(),
        };
        let signals = self.transform_signals(data.signals())?;
        data.map(|_| signals, |_| targets)
    }

    /// The class names of the training rows, for a classifier.
    pub fn classes(&self) -> Option<&[String]> {
        self.classes.as_deref()
    }

    /// Predictions in training units mapped back to the target's units.
    pub fn targets_to_units(&self, predictions: &Array2<f32>) -> Result<Array2<f32>, DataError> {
        match &self.targets {
            Some(s) => s.inverse_transform(predictions),
            None => Ok(predictions.clone()),
        }
    }

    /// The target's standard deviation on the training rows (1 when targets
    /// are not standardized): a standardized MSE times its square is an MSE
    /// in the target's units.
    pub fn target_scale(&self) -> f64 {
        self.targets
            .as_ref()
            .and_then(|s| s.scale.first())
            .map_or(1.0, |&s| f64::from(s))
    }
}

#[cfg(test)]
mod tests;
