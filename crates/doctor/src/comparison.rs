//! Is a CNN worth it here? The prescription, trained with its whole budget
//! over a few seeds, against the tools the user already has (ridge, PLS and
//! MiniRocket), all on the same preprocessed validation rows.

use kymo_data::{Dataset, Pipeline};
use kymo_layers::ArchitectureSpec;

use super::{Finding, FindingId, Recipe, Severity};
use kymo_baselines::{MiniRocketRegressor, Pls, Ridge};
use kymo_data::Metric;

use crate::DoctorError;

/// The figures behind the verdict, all validation MSEs on standardized
/// targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Median over seeds of the CNN's (best-weights) validation MSE.
    pub cnn: f64,
    /// Each seed's.
    pub cnn_seeds: Vec<f64>,
    /// Ridge, its penalty chosen on validation.
    pub ridge: f64,
    /// PLS, its components chosen by 5-fold CV on the training rows.
    pub pls: Option<f64>,
    /// MiniRocket (seed 0), its ridge penalty chosen on validation.
    pub minirocket: Option<f64>,
    /// Predicting the training rows' mean: the floor every model is
    /// judged against.
    pub mean: f64,
}

/// A model must score at least this much below predicting the mean for
/// the signal to count as predicting the target (10% lower MSE).
const MARGIN_OVER_MEAN: f64 = 0.9;

impl Comparison {
    /// The best of the other tools and its validation MSE.
    pub fn best_baseline(&self) -> (&'static str, f64) {
        [("PLS", self.pls), ("MiniRocket", self.minirocket)]
            .into_iter()
            .filter_map(|(name, mse)| mse.map(|m| (name, m)))
            .fold(("ridge", self.ridge), |best, (name, mse)| {
                if mse < best.1 {
                    (name, mse)
                } else {
                    best
                }
            })
    }

    /// The finding: the tool to use when no CNN beats the baselines on
    /// validation, or how much the CNN wins by.
    pub fn finding(&self) -> Finding {
        let (tool, best) = self.best_baseline();
        let measured = format!(
            "validation MSE (standardized targets): predicting the training mean {:.4}, prescribed CNN {:.4} (median of {} seeds: {}), ridge {:.4}, PLS {}, MiniRocket {}",
            self.mean,
            self.cnn,
            self.cnn_seeds.len(),
            self.cnn_seeds
                .iter()
                .map(|v| format!("{v:.4}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.ridge,
            self.pls.map_or("-".into(), |p| format!("{p:.4}")),
            self.minirocket.map_or("-".into(), |p| format!("{p:.4}"))
        );
        let best_of_all = if self.cnn.is_nan() {
            best
        } else {
            best.min(self.cnn)
        };
        if self.mean.is_finite() && best_of_all > MARGIN_OVER_MEAN * self.mean {
            return Finding::new(
                FindingId::SignalBarelyPredicts,
                Severity::High,
                "Nothing predicts the target much better than its mean",
            )
            .measured(measured)
            .why("when the best model scores within 10% of predicting the training mean, which model wins is noise: the signal carries little of the target here")
            .fix(format!(
                "check the target and the signals before choosing a model: the best one is only {:.0}% below predicting the mean; more rows, other measurements or a target the signal can see",
                100.0 * (1.0 - best_of_all / self.mean)
            ));
        }
        if self.cnn.is_nan() || self.cnn > best {
            Finding::new(
                FindingId::BaselineBeatsCnn,
                Severity::High,
                format!("No CNN the doctor can prescribe beats {tool} here"),
            )
            .measured(measured)
            .why("with this many training samples and this little nonlinear structure, a network's extra variance costs more than its flexibility gains; a linear calibration is the better model")
            .fix(format!("use {tool} (it scores {:.0}% lower validation MSE); revisit a CNN when there are several times more training samples", 100.0 * (1.0 - best / self.cnn)))
        } else {
            Finding::new(
                FindingId::BaselineBeatsCnn,
                Severity::Info,
                format!("The prescribed CNN beats {tool} on validation"),
            )
            .measured(measured)
            .why("the CNN is worth training only where it beats the linear tools on rows it did not train on")
            .fix(format!(
                "train the prescription (its validation MSE is {:.0}% below {tool}'s); confirm on test rows no choice has seen",
                100.0 * (1.0 - self.cnn / best)
            ))
        }
    }
}

/// `train` and `validation` preprocessed as `recipe` says, fitted on the
/// training rows alone: the data every arm of a verification and every
/// verdict is judged on.
pub fn preprocessed(
    recipe: &Recipe,
    train: &Dataset,
    validation: &Dataset,
) -> Result<(Dataset, Dataset), DoctorError> {
    let pre = Pipeline::named(recipe.preprocessing.as_deref())?.fit(train)?;
    Ok((pre.transform(train)?, pre.transform(validation)?))
}

/// Trains `spec` with `setup` (its preprocessing fitted on `train`) over
/// `seeds` and scores ridge, PLS and MiniRocket on the same rows.
pub fn compare_with_baselines(
    spec: &ArchitectureSpec,
    setup: &Recipe,
    train: &Dataset,
    validation: &Dataset,
    seeds: &[u64],
) -> Result<Comparison, DoctorError> {
    let (train, validation) = preprocessed(setup, train, validation)?;
    let mut cnn_seeds = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let mut trainer = setup.fit(spec, &train, &validation, seed, None)?;
        cnn_seeds.push(trainer.evaluate(&validation)?.data_loss);
    }
    let mut sorted: Vec<f64> = cnn_seeds
        .iter()
        .map(|v| if v.is_nan() { f64::INFINITY } else { *v })
        .collect();
    sorted.sort_by(f64::total_cmp);
    let ridge = Ridge::fit_best(&train, &validation, &Ridge::default_lambdas())?;
    let ridge_mse = Metric::Mse.compute(ridge.predict(&validation)?.view(), validation.targets());
    let pls = if train.target_count() == 1 && train.len() >= 4 {
        let model = Pls::fit_cv_dataset(&train, 20, 5)?;
        let predicted = model.predict_dataset(&validation)?;
        Some(Metric::Mse.compute(predicted.view(), validation.targets()))
    } else {
        None
    };
    // MiniRocket needs one channel of at least its kernel's 9 points.
    let minirocket = if train.channels() == 1 && train.length() >= 9 {
        Some(MiniRocketRegressor::fit(&train, &validation, 0)?.mse(&validation)?)
    } else {
        None
    };
    Ok(Comparison {
        mean: kymo_baselines::MeanPredictor::mse_of(&train, &validation),
        cnn: sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN),
        cnn_seeds,
        ridge: ridge_mse,
        pls,
        minirocket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(cnn: f64, ridge: f64, pls: Option<f64>) -> Comparison {
        Comparison {
            cnn,
            cnn_seeds: vec![cnn],
            ridge,
            pls,
            minirocket: None,
            mean: 1.0,
        }
    }

    #[test]
    fn when_nothing_beats_the_mean_by_a_margin_the_verdict_says_so() {
        // The count-valued set: mean 1.0, everything within 5%.
        let f = comparison(0.97, 0.96, Some(0.95)).finding();
        assert_eq!(f.id, FindingId::SignalBarelyPredicts);
        assert_eq!(f.severity, Severity::High);
        assert!(
            f.measured.contains("training mean 1.0000"),
            "{}",
            f.measured
        );
        assert!(f.fix.contains("5% below"), "{}", f.fix);
        // A clear winner is judged as before.
        assert_eq!(
            comparison(0.5, 0.3, None).finding().id,
            FindingId::BaselineBeatsCnn
        );
    }

    #[test]
    fn the_verdict_names_the_better_tool_or_the_cnn_margin() {
        let f = comparison(0.5, 0.3, Some(0.4)).finding();
        assert_eq!(f.severity, Severity::High);
        assert!(f.title.contains("beats ridge"), "{}", f.title);
        let f = comparison(0.5, 0.3, Some(0.2)).finding();
        assert!(
            f.title.contains("beats PLS") && f.fix.contains("use PLS"),
            "{}",
            f.fix
        );
        let f = comparison(0.1, 0.3, None).finding();
        assert_eq!(f.severity, Severity::Info);
        assert!(f.fix.contains("67% below ridge"), "{}", f.fix);
        assert_eq!(
            comparison(f64::NAN, 0.3, None).finding().severity,
            Severity::High
        );
    }
}
