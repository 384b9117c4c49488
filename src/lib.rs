//! # kymo
//!
//! Train 1D convolutional networks on signals and learn what is wrong with
//! them. This facade re-exports kymo's crates; each can also be used alone:
//! [`tensor`] (kernels, the runtime), [`layers`] (models, specs, the zoo,
//! Keras import), [`optim`], [`data`] (loaders, built-in spectra,
//! preprocessing, metrics), [`train`] (the fit loop, callbacks, recipes,
//! checkpoints, prediction), [`baselines`] (mean, ridge, PLS, MiniRocket,
//! classifiers), [`doctor`] and [`keras`] (Keras model files, read and
//! written).
//!
//! Train with a recipe, as the doctor prescribes one, and predict in the
//! target's units from the checkpoint:
//!
//! ```
//! use kymo::data::{validation_split, Pipeline, SyntheticSpectra};
//! use kymo::layers::zoo;
//! use kymo::train::{Predictor, Recipe};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = SyntheticSpectra { samples: 120, length: 128, ..Default::default() }.generate()?;
//! let (train, validation) = validation_split(&data, 0.2)?;
//! let preprocessor = Pipeline::standard().fit(&train)?;
//! let recipe = Recipe::from_toml_str("batch_size = 16\nepochs = 20\nearly_stopping = true")?;
//! let mut trainer = recipe.fit(
//!     &zoo::doctor(128).into(),
//!     &preprocessor.transform(&train)?,
//!     &preprocessor.transform(&validation)?,
//!     0,
//!     None,
//! )?;
//! trainer.preprocessor = Some(preprocessor);
//! let mut predictor = Predictor::from_checkpoint(&trainer.checkpoint())?;
//! let predictions = predictor.predict(&validation)?; // in the target's units
//! assert_eq!(predictions.nrows(), validation.len());
//! # Ok(())
//! # }
//! ```

pub use kymo_baselines as baselines;
pub use kymo_data as data;
pub use kymo_doctor as doctor;
pub use kymo_keras as keras;
pub use kymo_layers as layers;
pub use kymo_optim as optim;
pub use kymo_tensor as tensor;
pub use kymo_train as train;
