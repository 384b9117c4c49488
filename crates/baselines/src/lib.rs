//! # kymo-baselines
//!
//! The models every CNN in kymo's reports must beat, each fitted on the
//! training rows alone with its one setting chosen on validation or by
//! cross-validation: [`MeanPredictor`] (the floor), [`Ridge`] on flattened
//! signals, [`Pls`] (PLS1 as scikit-learn's `PLSRegression(scale=True)`
//! computes it) and [`MiniRocketRegressor`] (Dempster et al. 2021's fixed
//! kernels into ridge); for classification, [`MiniRocketClassifier`]
//! (multivariate for several channels, into a [`RidgeClassifier`] whose
//! penalty leave-one-out chooses) and [`NearestNeighbour`] (1-NN,
//! Euclidean). They need no trainer: kymo-data's [`Dataset`] in,
//! predictions out.
//!
//! ```
//! use kymo_baselines::{MeanPredictor, Ridge};
//! use kymo_data::{validation_split, Metric, SyntheticSpectra};
//!
//! let data = SyntheticSpectra { samples: 120, length: 64, ..Default::default() }.generate().unwrap();
//! let (train, validation) = validation_split(&data, 0.25).unwrap();
//! let ridge = Ridge::fit_best(&train, &validation, &Ridge::default_lambdas()).unwrap();
//! let floor = MeanPredictor::mse_of(&train, &validation);
//! // On spectra whose target is a band's height, a linear model beats the mean.
//! let predictions = ridge.predict(&validation).unwrap();
//! let mse = Metric::Mse.compute(predictions.view(), validation.targets());
//! assert!(mse < floor);
//! ```
//!
//! [`Dataset`]: kymo_data::Dataset

mod error;
mod mean_predictor;
mod minirocket;
mod minirocket_classifier;
mod minirocket_convolution;
mod nearest_neighbour;
mod pls;
mod ridge;
mod ridge_classifier;

pub use error::BaselineError;
pub use mean_predictor::MeanPredictor;
pub use minirocket::{MiniRocket, MiniRocketRegressor};
pub use minirocket_classifier::MiniRocketClassifier;
pub use nearest_neighbour::NearestNeighbour;
pub use pls::Pls;
pub use ridge::Ridge;
pub use ridge_classifier::{minirocket_alphas, RidgeClassifier};
