//! The baselines every report holds: ridge and PLS (the chemometrician's
//! linear tools) and MiniRocket (the cheap time-series regressor), each
//! fitted on the training rows and chosen without the test rows.

use kymo_baselines::{MiniRocketRegressor, Pls, Ridge};
use kymo_train::Metric;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::data::Prepared;

/// One baseline's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// What was chosen (penalty, components), for the report.
    pub chosen: String,
    /// Validation MSE (standardized targets).
    pub val_mse: f64,
    /// Test MSE (standardized targets); the median over seeds for a seeded one.
    pub test_mse: f64,
    /// Test R².
    pub test_r2: f64,
    /// Test RMSE in the target's units.
    #[serde(default)]
    pub test_rmse: f64,
    /// Test MSE of each seed, for a seeded baseline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_mse_seeds: Vec<f64>,
}

fn figures(data: &Prepared, chosen: String, val: &Array2<f32>, test: &Array2<f32>) -> Baseline {
    let test_mse = Metric::Mse.compute(test.view(), data.test.targets());
    Baseline {
        chosen,
        val_mse: Metric::Mse.compute(val.view(), data.validation.targets()),
        test_mse,
        test_r2: Metric::R2.compute(test.view(), data.test.targets()),
        test_rmse: data.rmse_in_units(test_mse),
        test_mse_seeds: Vec::new(),
    }
}

/// Ridge, its penalty chosen on validation.
pub fn ridge(data: &Prepared) -> anyhow::Result<Baseline> {
    let ridge = Ridge::fit_best(&data.train, &data.validation, &Ridge::default_lambdas())?;
    let (val, test) = (ridge.predict(&data.validation)?, ridge.predict(&data.test)?);
    Ok(figures(data, format!("λ = {}", ridge.lambda), &val, &test))
}

/// PLS regression (scikit-learn's `PLSRegression(scale=True)`), its
/// component count (up to 20) chosen by 5-fold cross-validation on the
/// training rows. Single-target data only.
pub fn pls(data: &Prepared) -> anyhow::Result<Option<Baseline>> {
    if data.train.target_count() != 1 {
        return Ok(None);
    }
    let model = Pls::fit_cv_dataset(&data.train, 20, 5)?;
    let val = model.predict_dataset(&data.validation)?;
    let test = model.predict_dataset(&data.test)?;
    Ok(Some(figures(
        data,
        format!("{} components", model.components),
        &val,
        &test,
    )))
}

/// MiniRocket over `seeds` seeds: the median seed's test MSE, each seed's
/// beside it. Single-channel data only.
pub fn minirocket(data: &Prepared, seeds: usize) -> anyhow::Result<Option<Baseline>> {
    if data.train.channels() != 1 || data.train.length() < 9 {
        return Ok(None);
    }
    let mut per_seed = Vec::new();
    for seed in 0..seeds.max(1) as u64 {
        let model = MiniRocketRegressor::fit(&data.train, &data.validation, seed)?;
        let (val, test) = (model.predict(&data.validation)?, model.predict(&data.test)?);
        per_seed.push(figures(
            data,
            format!(
                "{} features, λ = {:.3}",
                model.transform.features(),
                model.ridge.lambda
            ),
            &val,
            &test,
        ));
    }
    let mut order: Vec<usize> = (0..per_seed.len()).collect();
    order.sort_by(|&a, &b| per_seed[a].test_mse.total_cmp(&per_seed[b].test_mse));
    let seeds_mse: Vec<f64> = per_seed.iter().map(|b| b.test_mse).collect();
    let mut median = per_seed[order[order.len() / 2]].clone();
    median.chosen = format!("median of {} seeds; {}", per_seed.len(), median.chosen);
    median.test_mse_seeds = seeds_mse;
    Ok(Some(median))
}
