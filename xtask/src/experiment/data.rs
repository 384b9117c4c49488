//! The experiment's data: a built-in data set (its calibration rows split
//! into train and validation, its test rows kept), synthetic spectra or the
//! user's CSV; preprocessed as each variant asks, fitted on train only.

use anyhow::Context as _;
use std::path::Path;

use kymo_baselines::MeanPredictor;
use kymo_data::{load_csv, validation_split, Column, CsvOptions, Dataset, Pipeline, Preprocessor};

use super::config::{DataSource, Experiment, Profile};

/// The raw splits, before any preprocessing.
pub struct Splits {
    /// Training rows.
    pub train: Dataset,
    /// Validation rows (Keras's `validation_split` of the training rows).
    pub validation: Dataset,
    /// Held-out test rows.
    pub test: Dataset,
    /// Where the data came from, for the report.
    pub source: String,
    /// The target's unit, for the report.
    pub unit: String,
}

/// Splits preprocessed by one pipeline, and the figures every run is
/// judged against.
pub struct Prepared {
    /// Training rows.
    pub train: Dataset,
    /// Validation rows.
    pub validation: Dataset,
    /// Test rows.
    pub test: Dataset,
    /// MSE of predicting the training mean on validation (standardized
    /// targets): above it, an epoch is "absurd".
    pub mean_val_mse: f64,
    /// The same on the test rows.
    pub mean_test_mse: f64,
    /// Where the data came from.
    pub source: String,
    /// The target's unit.
    pub unit: String,
    /// The fitted preprocessing (a checkpoint carries it to `predict`).
    pub preprocessor: Preprocessor,
}

impl Prepared {
    /// An MSE in standardized target units as an RMSE in the target's own.
    pub fn rmse_in_units(&self, mse: f64) -> f64 {
        mse.sqrt() * self.preprocessor.target_scale()
    }
}

/// Loads the data and splits it. A built-in set keeps its own test rows;
/// otherwise the last `test_fraction` of rows is the test set. Of the rest,
/// the last `validation_split` validates. A user's rows that are
/// overlapping windows of longer recordings split in recording order
/// instead, with the rows that share points across a split left out
/// (`kymo_data::blocked_split`): a tail split of shuffled windows would
/// test on near-copies of training rows.
pub fn splits(
    experiment: &Experiment,
    profile: &Profile,
    csv: Option<(&Path, &str)>,
) -> anyhow::Result<Splits> {
    let (rest, test, source, unit) = match (csv, &experiment.data) {
        (Some((path, target)), _) => {
            let options = CsvOptions::new(vec![Column::parse(target)]);
            let all = load_csv(path, &options)?;
            let windowed = kymo_data::is_windowed(&all);
            let (rest, test) =
                split(&all, experiment.test_fraction, windowed).context("test split")?;
            let blocked = if windowed {
                "; the rows are overlapping windows, so the test and validation sets are the last rows in recording order, without the rows that share points with them"
            } else {
                ""
            };
            let source = format!("{} (target column `{target}`){blocked}", path.display());
            let (train, validation) =
                split(&rest, experiment.validation_split, windowed).context("validation split")?;
            return Ok(Splits {
                train,
                validation,
                test,
                source,
                unit: "target units".to_string(),
            });
        }
        (None, DataSource::BuiltIn { dataset }) => {
            let spectra = kymo_data::datasets::by_name(dataset)
                .with_context(|| {
                    format!(
                        "`{dataset}` is not a built-in data set ({})",
                        kymo_data::datasets::NAMES.join(", ")
                    )
                })?
                .with_context(|| dataset.clone())?;
            let source = format!(
                "built-in `{}`: {} ({}), {} calibration and {} test spectra of {} points, the canonical split",
                spectra.name,
                spectra.target,
                spectra.unit,
                spectra.calibration.len(),
                spectra.test.len(),
                spectra.calibration.length()
            );
            (
                spectra.calibration,
                spectra.test,
                source,
                spectra.unit.to_string(),
            )
        }
        (None, DataSource::Synthetic(knobs)) => {
            let spectra = kymo_data::SyntheticSpectra {
                samples: profile.samples,
                ..knobs.clone()
            };
            let all = spectra.generate()?;
            let (rest, test) =
                validation_split(&all, experiment.test_fraction).context("test split")?;
            let source = format!("synthetic spectra: {spectra:?}");
            (rest, test, source, "concentration units".to_string())
        }
    };
    let (train, validation) =
        validation_split(&rest, experiment.validation_split).context("validation split")?;
    Ok(Splits {
        train,
        validation,
        test,
        source,
        unit,
    })
}

/// The rows of `data` split at `fraction`: Keras's tail split, or for
/// overlapping windows the blocked one (its dropped rows left out).
fn split(data: &Dataset, fraction: f64, windowed: bool) -> anyhow::Result<(Dataset, Dataset)> {
    Ok(if windowed {
        let (first, second, _dropped) = kymo_data::blocked_split(data, fraction)?;
        (first, second)
    } else {
        validation_split(data, fraction)?
    })
}

/// The pipeline a text names (`None`: per-point standardization).
pub fn pipeline(text: Option<&str>) -> anyhow::Result<Pipeline> {
    Ok(Pipeline::named(text)?)
}

/// Fits `pipeline` on the training rows and applies it to every split.
pub fn prepare(splits: &Splits, pipeline: &Pipeline) -> anyhow::Result<Prepared> {
    let preprocessor = pipeline.fit(&splits.train)?;
    let apply = |d: &Dataset| preprocessor.transform(d).map_err(anyhow::Error::from);
    let (train, validation, test) = (
        apply(&splits.train)?,
        apply(&splits.validation)?,
        apply(&splits.test)?,
    );
    Ok(Prepared {
        mean_val_mse: MeanPredictor::mse_of(&train, &validation),
        mean_test_mse: MeanPredictor::mse_of(&train, &test),
        train,
        validation,
        test,
        source: format!("{}; preprocessing {}", splits.source, pipeline.describe()),
        unit: splits.unit.clone(),
        preprocessor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    /// 120 windows of 32 points, 4 apart, of one recording, in a fixed
    /// shuffle (7 is a unit modulo 120).
    fn shuffled_windows() -> Dataset {
        let (rows, step, length) = (120, 4, 32);
        let recording: Vec<f32> = (0..rows * step + length)
            .map(|t| (t as f32 * 0.37).sin() + (t as f32 * 0.051).cos())
            .collect();
        let start = |row: usize| (row * 7) % rows * step;
        let signals = Array3::from_shape_fn((rows, 1, length), |(r, _, t)| recording[start(r) + t]);
        let targets = Array2::from_shape_fn((rows, 1), |(r, _)| start(r) as f32);
        Dataset::new(signals, targets).expect("finite")
    }

    #[test]
    fn windowed_rows_split_with_no_shared_points_and_others_split_at_the_tail() {
        let data = shuffled_windows();
        assert!(kymo_data::is_windowed(&data));
        let (rest, test) = split(&data, 0.2, true).expect("splits");
        let shared = kymo_data::overlaps_between(&rest, &test);
        assert!(
            !shared.first.iter().any(|&s| s),
            "a training row shares points with the test rows"
        );
        // The tail split of the same rows tests on near-copies.
        let (rest, test) = split(&data, 0.2, false).expect("splits");
        let shared = kymo_data::overlaps_between(&rest, &test);
        assert!(shared.second.iter().filter(|&&s| s).count() > test.len() / 2);
    }
}
