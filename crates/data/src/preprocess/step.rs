//! One preprocessing step as a user names it: in an experiment file (TOML,
//! `{ step = "savitzky_golay", window = 11, order = 2, derivative = 1 }`)
//! or on a command line (`snv,savgol:11:2:1,standardize`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DataError;

/// A preprocessing step of signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Standard normal variate: each spectrum centred and scaled by its own
    /// mean and deviation (removes multiplicative scatter and offsets).
    Snv,
    /// Multiplicative scatter correction against the training mean spectrum.
    Msc,
    /// Savitzky-Golay smoothing (`derivative` 0) or derivative, as scipy's
    /// `savgol_filter` with its defaults (`mode='interp'`, `delta=1`).
    SavitzkyGolay {
        /// Odd window length in points.
        window: usize,
        /// Polynomial order, below the window.
        order: usize,
        /// Derivative order (0: smoothing).
        #[serde(default)]
        derivative: usize,
    },
    /// `ln(1 + x)`: for count-like, heavy-tailed non-negative signals.
    Log1p,
    /// Per-point standardization with the training rows' mean and deviation.
    Standardize,
}

impl fmt::Display for Step {
    /// The command-line form, which [`Step::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Snv => write!(f, "snv"),
            Step::Msc => write!(f, "msc"),
            Step::Log1p => write!(f, "log1p"),
            Step::Standardize => write!(f, "standardize"),
            Step::SavitzkyGolay {
                window,
                order,
                derivative,
            } => write!(f, "savgol:{window}:{order}:{derivative}"),
        }
    }
}

impl FromStr for Step {
    type Err = DataError;

    /// `snv`, `msc`, `log1p`, `standardize`, or `savgol:WINDOW:ORDER[:DERIVATIVE]`.
    fn from_str(text: &str) -> Result<Self, DataError> {
        let bad = || {
            DataError::Shape(format!(
                "preprocessing step `{text}`: expected snv, msc, log1p, standardize or savgol:WINDOW:ORDER[:DERIVATIVE]"
            ))
        };
        let mut parts = text.trim().split(':');
        let step = match parts.next().unwrap_or_default() {
            "snv" => Step::Snv,
            "msc" => Step::Msc,
            "log1p" => Step::Log1p,
            "standardize" => Step::Standardize,
            "savgol" => {
                let mut number = || -> Result<Option<usize>, DataError> {
                    parts
                        .next()
                        .map(|p| p.parse::<usize>().map_err(|_| bad()))
                        .transpose()
                };
                let (window, order) = (number()?.ok_or_else(bad)?, number()?.ok_or_else(bad)?);
                let derivative = number()?.unwrap_or(0);
                Step::SavitzkyGolay {
                    window,
                    order,
                    derivative,
                }
            }
            _ => return Err(bad()),
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(step)
    }
}

impl Step {
    /// Steps separated by commas (`none` or an empty text is no step).
    pub fn parse_list(text: &str) -> Result<Vec<Step>, DataError> {
        let text = text.trim();
        if text.is_empty() || text == "none" {
            return Ok(Vec::new());
        }
        text.split(',').map(str::parse).collect()
    }
}
