//! Synthetic spectra: the built-in data of kymo's examples and experiments.
//!
//! Each spectrum mixes a few pure components, like a near-infrared or Raman
//! spectrum of a mixture. A component is a sum of 2 to 4 Gaussian peaks of
//! random positions, widths (4 to 40 points) and heights. A sample draws a
//! concentration in [0, 1) per component, shifts all peaks by a random
//! offset (instrument drift, `peak_shift` points standard deviation), scales
//! the mixture by a multiplicative scatter factor `1 + scatter * z`, adds a
//! linear baseline (offset and slope with standard deviation `baseline`) and
//! white noise (`noise`). The target is the concentration of
//! `target_component`.
//!
//! Everything is deterministic per `(seed, index)`: sample 17 of seed 3 is
//! the same whether 20 or 20,000 samples are drawn.

use kymo_tensor::{derive_seed, SeededRng};
use ndarray::{Array2, Array3};
use serde::{Deserialize, Serialize};

use crate::{DataError, Dataset};

/// Knobs of the synthetic spectra generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticSpectra {
    /// Number of samples.
    pub samples: usize,
    /// Points per spectrum (the seed's 1040 by default).
    pub length: usize,
    /// Pure components mixed in each sample.
    pub components: usize,
    /// Standard deviation of the white noise.
    pub noise: f64,
    /// Standard deviation of the per-sample peak shift, in points.
    pub peak_shift: f64,
    /// Standard deviation of the baseline offset and slope.
    pub baseline: f64,
    /// Standard deviation of the multiplicative scatter.
    pub scatter: f64,
    /// Which component's concentration is the target.
    pub target_component: usize,
    /// Seed of components and samples.
    pub seed: u64,
}

impl Default for SyntheticSpectra {
    fn default() -> Self {
        Self {
            samples: 1000,
            length: 1040,
            components: 4,
            noise: 0.01,
            peak_shift: 3.0,
            baseline: 0.05,
            scatter: 0.05,
            target_component: 0,
            seed: 0,
        }
    }
}

struct Peak {
    center: f64,
    width: f64,
    height: f64,
}

impl SyntheticSpectra {
    fn components(&self) -> Vec<Vec<Peak>> {
        let mut rng = SeededRng::new(derive_seed(self.seed, "spectra-components"), 0);
        let length = self.length as f64;
        (0..self.components)
            .map(|_| {
                let peaks = 2 + rng.below(3);
                (0..peaks)
                    .map(|_| Peak {
                        center: rng.uniform_in(0.05 * length, 0.95 * length),
                        width: rng.uniform_in(4.0, 40.0),
                        height: rng.uniform_in(0.3, 1.0),
                    })
                    .collect()
            })
            .collect()
    }

    fn check(&self) -> Result<(), DataError> {
        if self.samples == 0 || self.length == 0 || self.components == 0 {
            return Err(DataError::Shape(format!(
                "synthetic spectra need samples, length and components above 0 (got {}, {}, {})",
                self.samples, self.length, self.components
            )));
        }
        if self.target_component >= self.components {
            return Err(DataError::Shape(format!(
                "target_component {} out of range for {} components",
                self.target_component, self.components
            )));
        }
        Ok(())
    }

    /// Generates the dataset: signals `[samples, 1, length]`, targets `[samples, 1]`.
    pub fn generate(&self) -> Result<Dataset, DataError> {
        self.check()?;
        let components = self.components();
        let mut signals = Array3::<f32>::zeros((self.samples, 1, self.length));
        let mut targets = Array2::<f32>::zeros((self.samples, 1));
        for index in 0..self.samples {
            let mut rng = SeededRng::new(derive_seed(self.seed, "spectra-sample"), index as u64);
            let concentrations: Vec<f64> = (0..self.components).map(|_| rng.uniform()).collect();
            let shift = self.peak_shift * rng.normal();
            let scale = 1.0 + self.scatter * rng.normal();
            let offset = self.baseline * rng.normal();
            let slope = self.baseline * rng.normal();
            let length = self.length as f64;
            let mut row = signals.slice_mut(ndarray::s![index, 0, ..]);
            for (point, value) in row.iter_mut().enumerate() {
                let x = point as f64;
                let mixture: f64 = components
                    .iter()
                    .zip(&concentrations)
                    .map(|(peaks, c)| {
                        c * peaks
                            .iter()
                            .map(|p| {
                                p.height * (-0.5 * ((x - p.center - shift) / p.width).powi(2)).exp()
                            })
                            .sum::<f64>()
                    })
                    .sum();
                let noise = self.noise * rng.normal();
                *value = (scale * mixture + offset + slope * x / length + noise) as f32;
            }
            targets[[index, 0]] = concentrations[self.target_component] as f32;
        }
        Dataset::new(signals, targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed_and_index() {
        let small = SyntheticSpectra {
            samples: 5,
            length: 64,
            ..Default::default()
        };
        let large = SyntheticSpectra {
            samples: 9,
            ..small.clone()
        };
        let (a, b) = (
            small.generate().expect("valid"),
            large.generate().expect("valid"),
        );
        assert_eq!(
            a.select(&[4]).expect("in range"),
            b.select(&[4]).expect("in range")
        );
        let other = SyntheticSpectra {
            seed: 1,
            ..small.clone()
        }
        .generate()
        .expect("valid");
        assert_ne!(a, other);
    }

    #[test]
    fn targets_are_concentrations_and_signals_carry_them() {
        let d = SyntheticSpectra {
            samples: 400,
            length: 128,
            noise: 0.0,
            ..Default::default()
        }
        .generate()
        .expect("valid");
        let y = d.targets().column(0);
        assert!(y.iter().all(|&v| (0.0..1.0).contains(&v)));
        let mean = y.mean().unwrap_or(0.0);
        assert!(
            (mean - 0.5).abs() < 0.06,
            "uniform concentrations, mean {mean}"
        );
        // The total intensity grows with the target's concentration.
        let totals: Vec<f32> = (0..d.len())
            .map(|i| d.signals().slice(ndarray::s![i, 0, ..]).sum())
            .collect();
        let (ty, tt) = (y.to_vec(), totals);
        let my = ty.iter().sum::<f32>() / ty.len() as f32;
        let mt = tt.iter().sum::<f32>() / tt.len() as f32;
        let cov: f32 = ty.iter().zip(&tt).map(|(a, b)| (a - my) * (b - mt)).sum();
        assert!(cov > 0.0);
    }

    #[test]
    fn invalid_knobs_are_refused() {
        let bad = SyntheticSpectra {
            target_component: 9,
            ..Default::default()
        };
        assert!(bad
            .generate()
            .unwrap_err()
            .to_string()
            .contains("target_component 9"));
    }
}
