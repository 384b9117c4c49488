//! The experiment's data: built-in synthetic spectra or the user's CSV,
//! split into train, validation and test, standardized on train only.

use anyhow::Context as _;
use std::path::Path;

use kymo_data::{load_csv, validation_split, Column, CsvOptions, Dataset, DatasetScaler};
use kymo_train::{Metric, Ridge};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::config::{Experiment, Profile};

/// Standardized splits and the figures every run is judged against.
pub struct Prepared {
    /// Training rows.
    pub train: Dataset,
    /// Validation rows (Keras's `validation_split` of the training rows).
    pub validation: Dataset,
    /// Held-out test rows.
    pub test: Dataset,
    /// MSE of predicting the training mean on validation: above it, an
    /// epoch is "absurd".
    pub mean_val_mse: f64,
    /// The same on the test rows.
    pub mean_test_mse: f64,
    /// Where the data came from, for the report.
    pub source: String,
}

/// The ridge baseline's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// The chosen penalty.
    pub lambda: f64,
    /// Validation MSE.
    pub val_mse: f64,
    /// Test MSE.
    pub test_mse: f64,
    /// Test R².
    pub test_r2: f64,
}

fn mean_predictor_mse(train: &Dataset, other: &Dataset) -> f64 {
    let means: Vec<f32> = train
        .targets()
        .columns()
        .into_iter()
        .map(|c| c.mean().unwrap_or(0.0))
        .collect();
    let predictions = Array2::from_shape_fn(other.targets().raw_dim(), |(_, j)| means[j]);
    Metric::Mse.compute(predictions.view(), other.targets())
}

/// Draws or loads the data and splits it: the last `test_fraction` of rows is
/// the test set; of the rest, the last `validation_split` validates.
pub fn prepare(
    experiment: &Experiment,
    profile: &Profile,
    csv: Option<(&Path, &str)>,
) -> anyhow::Result<Prepared> {
    let (all, source) = match csv {
        Some((path, target)) => {
            let options = CsvOptions::new(vec![Column::parse(target)]);
            let data = load_csv(path, &options)?;
            (
                data,
                format!("{} (target column `{target}`)", path.display()),
            )
        }
        None => {
            let spectra = kymo_data::SyntheticSpectra {
                samples: profile.samples,
                ..experiment.data.clone()
            };
            let data = spectra.generate()?;
            (data, format!("synthetic spectra: {spectra:?}"))
        }
    };
    let fraction = experiment.test_fraction;
    let (rest, test) = validation_split(&all, fraction).context("test split")?;
    let (train, validation) =
        validation_split(&rest, experiment.validation_split).context("validation split")?;
    let scaler = DatasetScaler::fit(&train)?;
    let standardize = |d: &Dataset| scaler.transform(d).map_err(anyhow::Error::from);
    let (train, validation, test) = (
        standardize(&train)?,
        standardize(&validation)?,
        standardize(&test)?,
    );
    Ok(Prepared {
        mean_val_mse: mean_predictor_mse(&train, &validation),
        mean_test_mse: mean_predictor_mse(&train, &test),
        train,
        validation,
        test,
        source,
    })
}

/// Fits the ridge baseline, choosing its penalty on validation.
pub fn ridge_baseline(data: &Prepared) -> anyhow::Result<Baseline> {
    let ridge = Ridge::fit_best(&data.train, &data.validation, &Ridge::default_lambdas())?;
    let val = ridge.predict(&data.validation)?;
    let test = ridge.predict(&data.test)?;
    Ok(Baseline {
        lambda: ridge.lambda,
        val_mse: Metric::Mse.compute(val.view(), data.validation.targets()),
        test_mse: Metric::Mse.compute(test.view(), data.test.targets()),
        test_r2: Metric::R2.compute(test.view(), data.test.targets()),
    })
}
