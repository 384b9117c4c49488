//! MiniRocket (Dempster, Schmidt and Webb, KDD 2021): the strongest cheap
//! time-series regressor of the TSER benchmark, a baseline every CNN in
//! kymo's reports must beat.
//!
//! Fixed kernels of 9 taps whose weights are -1 except three taps of 2
//! (the 84 ways to choose them), at dilations spread exponentially up to
//! the signal's length; each kernel's output is summarized by the
//! proportion of positive values (PPV) above biases taken at
//! low-discrepancy quantiles of its output on random training signals.
//! The features feed a ridge regression. As in the reference code, half
//! of the kernel/dilation pairs use zero padding ("same" output) and half
//! only the valid part, alternating.
//!
//! Several channels (MiniRocketMultivariate): each kernel/dilation pair
//! reads a random subset of the channels, of size `2^U(0, log2(min(C, 9) +
//! 1))` rounded down, and since the kernel's weights are the same on every
//! channel, its output is the kernel applied to the subset's sum.

use kymo_data::{Dataset, Standardizer};
use kymo_tensor::SeededRng;
use ndarray::{Array2, Array3};
use rayon::prelude::*;

use kymo_data::Metric;

use crate::minirocket_convolution::{count_above, kernel_taps, DilatedChannel};
use crate::{BaselineError, Ridge};

/// The dilations and how many features (biases) each gives per kernel, as
/// the reference code's `_fit_dilations` spreads `features` over them.
fn fit_dilations(length: usize, features: usize, max_dilations: usize) -> (Vec<usize>, Vec<usize>) {
    let per_kernel = (features / 84).max(1);
    let true_max = per_kernel.min(max_dilations);
    let multiplier = per_kernel as f64 / true_max as f64;
    let max_exponent = (((length.max(2) - 1) as f64) / 8.0).log2().max(0.0);
    let mut dilations: Vec<usize> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    for i in 0..true_max {
        let exponent = if true_max > 1 {
            max_exponent * i as f64 / (true_max - 1) as f64
        } else {
            0.0
        };
        let dilation = 2f64.powf(exponent) as usize;
        match dilations.last() {
            Some(&last) if last == dilation => {
                *counts.last_mut().expect("invariant: same length") += 1
            }
            _ => {
                dilations.push(dilation);
                counts.push(1);
            }
        }
    }
    let mut per_dilation: Vec<usize> = counts
        .iter()
        .map(|&c| (c as f64 * multiplier) as usize)
        .collect();
    let mut remainder = per_kernel.saturating_sub(per_dilation.iter().sum());
    let mut i = 0;
    while remainder > 0 {
        per_dilation[i] += 1;
        remainder -= 1;
        i = (i + 1) % per_dilation.len();
    }
    (dilations, per_dilation)
}

/// The channels each of `pairs` kernel/dilation pairs reads: all of a
/// single channel, else a random subset of `2^U(0, log2(min(C, 9) + 1))`
/// channels (rounded down), as MiniRocketMultivariate draws them.
fn draw_channel_sets(channels: usize, pairs: usize, seed: u64) -> Vec<Vec<usize>> {
    if channels == 1 {
        return vec![vec![0]; pairs];
    }
    let mut rng = SeededRng::new(seed, 1);
    let max_exponent = ((channels.min(9) + 1) as f64).log2();
    (0..pairs)
        .map(|_| {
            let size = (2f64.powf(rng.uniform_in(0.0, max_exponent)) as usize).clamp(1, channels);
            let mut all: Vec<usize> = (0..channels).collect();
            rng.shuffle(&mut all);
            let mut chosen = all[..size].to_vec();
            chosen.sort_unstable();
            chosen
        })
        .collect()
}

/// The output of the kernel `taps` at `dilation` on the sum of `set`'s
/// channels of `case`, into `out`; `scratch` holds one channel's rows.
fn kernel_output(
    case: ndarray::ArrayView2<'_, f32>,
    set: &[usize],
    dilation: usize,
    taps: [usize; 3],
    scratch: &mut DilatedChannel,
    out: &mut [f32],
) {
    out.fill(0.0);
    for &channel in set {
        let signal = case.row(channel).to_vec();
        scratch.compute(&signal, dilation);
        scratch.add_kernel(taps, 0..out.len(), out);
    }
}

/// numpy's default (linear) quantile of sorted values.
fn quantile(sorted: &[f32], q: f64) -> f32 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let fraction = (position - low as f64) as f32;
    sorted[low] + (sorted[high] - sorted[low]) * fraction
}

/// The MiniRocket transform, fitted: dilations, feature counts and biases.
#[derive(Debug, Clone, PartialEq)]
pub struct MiniRocket {
    channels: usize,
    length: usize,
    /// The channels each kernel/dilation pair sums, dilation-major.
    channel_sets: Vec<Vec<usize>>,
    dilations: Vec<usize>,
    per_dilation: Vec<usize>,
    biases: Vec<f32>,
}

impl MiniRocket {
    /// The reference code's default feature count.
    pub const DEFAULT_FEATURES: usize = 10_000;

    /// Fits on training signals `[N, C, L]`: about `features` features (a
    /// multiple of 84), biases from random training signals drawn with
    /// `seed` (and, for several channels, each pair's channels from a
    /// stream of their own, so one channel draws exactly as before).
    pub fn fit(signals: &Array3<f32>, features: usize, seed: u64) -> Result<Self, BaselineError> {
        let (n, channels, length) = signals.dim();
        if channels == 0 || n == 0 || length < 9 || features < 84 {
            return Err(BaselineError::Config {
                field: "minirocket",
                reason: format!(
                    "needs signals of at least one channel of at least 9 points, at least one of them, and at least 84 features; given {n} x {channels} x {length}, {features} features"
                ),
            });
        }
        let (dilations, per_dilation) = fit_dilations(length, features, 32);
        let channel_sets = draw_channel_sets(channels, 84 * dilations.len(), seed);
        let total: usize = 84 * per_dilation.iter().sum::<usize>();
        let golden = (5f64.sqrt() + 1.0) / 2.0;
        let quantiles: Vec<f64> = (1..=total).map(|i| (i as f64 * golden) % 1.0).collect();
        let mut rng = SeededRng::new(seed, 0);
        let mut biases = Vec::with_capacity(total);
        let mut output = vec![0.0f32; length];
        let mut scratch = DilatedChannel::new(length);
        let mut sets = channel_sets.iter();
        for (&dilation, &count) in dilations.iter().zip(&per_dilation) {
            for taps in kernel_taps() {
                let case = signals.slice(ndarray::s![rng.below(n), .., ..]);
                // Invariant: one set per kernel/dilation pair was drawn.
                let set = sets.next().expect("invariant: a channel set per pair");
                kernel_output(case, set, dilation, taps, &mut scratch, &mut output);
                let mut sorted = output.clone();
                sorted.sort_by(f32::total_cmp);
                let start = biases.len();
                for q in &quantiles[start..start + count] {
                    biases.push(quantile(&sorted, *q));
                }
            }
        }
        Self::from_parameters(
            channels,
            length,
            dilations,
            per_dilation,
            biases,
            Some(channel_sets),
        )
    }

    /// Rebuilds a fitted transform from its parameters, as another
    /// implementation (sktime's or the reference code's) fitted them: the
    /// dilations, features per dilation, biases in the reference's order
    /// (dilation, then kernel, then quantile), and for several channels the
    /// channels each kernel/dilation pair sums (dilation-major; `None` for
    /// one channel).
    pub fn from_parameters(
        channels: usize,
        length: usize,
        dilations: Vec<usize>,
        per_dilation: Vec<usize>,
        biases: Vec<f32>,
        channel_sets: Option<Vec<Vec<usize>>>,
    ) -> Result<Self, BaselineError> {
        let invalid = |reason: String| BaselineError::Config {
            field: "minirocket parameters",
            reason,
        };
        if channels == 0 || length < 9 {
            return Err(invalid(format!(
                "needs at least one channel of at least 9 points; given {channels} x {length}"
            )));
        }
        if dilations.is_empty() || dilations.len() != per_dilation.len() {
            return Err(invalid(format!(
                "{} dilations but {} feature counts",
                dilations.len(),
                per_dilation.len()
            )));
        }
        // The reference's widest dilation is (L - 1) / 8: nine taps span L.
        if let Some(at) = dilations.iter().position(|&d| d == 0 || 8 * d >= length) {
            return Err(invalid(format!(
                "dilation {} (at {at}) is 0, or its nine taps span more than {length} points",
                dilations[at]
            )));
        }
        let expected = 84 * per_dilation.iter().sum::<usize>();
        if biases.len() != expected {
            return Err(invalid(format!(
                "{} biases; the feature counts need {expected}",
                biases.len()
            )));
        }
        let pairs = 84 * dilations.len();
        let channel_sets = channel_sets.unwrap_or_else(|| vec![vec![0]; pairs]);
        if channel_sets.len() != pairs {
            return Err(invalid(format!(
                "{} channel sets; {pairs} kernel/dilation pairs need one each",
                channel_sets.len()
            )));
        }
        if let Some(at) = channel_sets
            .iter()
            .position(|set| set.is_empty() || set.iter().any(|&c| c >= channels))
        {
            return Err(invalid(format!(
                "channel set {at} is empty or names a channel beyond {channels}"
            )));
        }
        Ok(Self {
            channels,
            length,
            channel_sets,
            dilations,
            per_dilation,
            biases,
        })
    }

    /// The dilations and how many features each gives per kernel.
    pub fn dilations(&self) -> (&[usize], &[usize]) {
        (&self.dilations, &self.per_dilation)
    }

    /// Number of features per signal.
    pub fn features(&self) -> usize {
        self.biases.len()
    }

    /// The PPV features `[N, features]` of signals of the fitted length.
    /// Rows are independent, so the result is the same at any thread count.
    pub fn transform(&self, signals: &Array3<f32>) -> Result<Array2<f32>, BaselineError> {
        let (n, channels, length) = signals.dim();
        if channels != self.channels || length != self.length {
            return Err(BaselineError::Config {
                field: "minirocket",
                reason: format!(
                    "fitted on {} x {} signals, given {channels} x {length}",
                    self.channels, self.length
                ),
            });
        }
        let rows: Vec<Vec<f32>> = (0..n)
            .into_par_iter()
            .map(|i| self.features_of(signals.slice(ndarray::s![i, .., ..])))
            .collect();
        let flat: Vec<f32> = rows.into_iter().flatten().collect();
        Array2::from_shape_vec((n, self.features()), flat).map_err(|e| BaselineError::Config {
            field: "minirocket",
            reason: e.to_string(),
        })
    }

    fn features_of(&self, case: ndarray::ArrayView2<'_, f32>) -> Vec<f32> {
        let mut features = Vec::with_capacity(self.biases.len());
        let mut output = vec![0.0f32; self.length];
        let signals: Vec<Vec<f32>> = case.rows().into_iter().map(|row| row.to_vec()).collect();
        let mut rows: Vec<DilatedChannel> = (0..self.channels)
            .map(|_| DilatedChannel::new(self.length))
            .collect();
        let taps = kernel_taps();
        let mut sets = self.channel_sets.iter();
        for (d, (&dilation, &count)) in self.dilations.iter().zip(&self.per_dilation).enumerate() {
            // Each channel's rows once per dilation, shared by the 84 kernels.
            for (row, signal) in rows.iter_mut().zip(&signals) {
                row.compute(signal, dilation);
            }
            let padding = (8 * dilation) / 2;
            for (k, &taps) in taps.iter().enumerate() {
                // Invariant: one set per kernel/dilation pair was drawn.
                let set = sets.next().expect("invariant: a channel set per pair");
                let padded = (d + k) % 2 == 0;
                let part = if padded || 2 * padding >= self.length {
                    0..self.length
                } else {
                    padding..self.length - padding
                };
                // The first channel writes, the others add: no zeroing pass.
                for (i, &channel) in set.iter().enumerate() {
                    if i == 0 {
                        rows[channel].write_kernel(taps, part.clone(), &mut output);
                    } else {
                        rows[channel].add_kernel(taps, part.clone(), &mut output);
                    }
                }
                let part = &output[part];
                let start = features.len();
                for &bias in &self.biases[start..start + count] {
                    features.push(count_above(part, bias) as f32 / part.len() as f32);
                }
            }
        }
        features
    }
}

/// MiniRocket features, standardized, into ridge regression whose penalty
/// is chosen on validation rows from 10⁻³ to 10³ (the reference
/// regressor's `RidgeCV` grid).
#[derive(Debug, Clone)]
pub struct MiniRocketRegressor {
    /// The transform.
    pub transform: MiniRocket,
    scaler: Standardizer,
    /// The ridge regression on the features.
    pub ridge: Ridge,
}

/// Features `[N, F]` as a one-channel data set `[N, 1, F]` with `targets`,
/// the form ridge regression reads.
fn as_dataset(features: Array2<f32>, targets: &Array2<f32>) -> Result<Dataset, BaselineError> {
    let (n, f) = features.dim();
    let signals = features
        .into_shape_with_order((n, 1, f))
        .map_err(|e| BaselineError::Config {
            field: "minirocket",
            reason: e.to_string(),
        })?;
    Ok(Dataset::new(signals, targets.clone())?)
}

impl MiniRocketRegressor {
    /// Fits the transform and ridge on `train`, choosing the penalty on
    /// `validation`.
    pub fn fit(train: &Dataset, validation: &Dataset, seed: u64) -> Result<Self, BaselineError> {
        let transform = MiniRocket::fit(train.signals(), MiniRocket::DEFAULT_FEATURES, seed)?;
        let train_features = transform.transform(train.signals())?;
        let scaler = Standardizer::fit(&train_features)?;
        let train_set = as_dataset(scaler.transform(&train_features)?, train.targets())?;
        let val_features = scaler.transform(&transform.transform(validation.signals())?)?;
        let val_set = as_dataset(val_features, validation.targets())?;
        let lambdas: Vec<f64> = (0..10)
            .map(|i| 10f64.powf(-3.0 + 6.0 * i as f64 / 9.0))
            .collect();
        let ridge = Ridge::fit_best(&train_set, &val_set, &lambdas)?;
        Ok(Self {
            transform,
            scaler,
            ridge,
        })
    }

    /// Predictions `[N, T]` for `data`.
    pub fn predict(&self, data: &Dataset) -> Result<Array2<f32>, BaselineError> {
        let features = self
            .scaler
            .transform(&self.transform.transform(data.signals())?)?;
        self.ridge.predict(&as_dataset(features, data.targets())?)
    }

    /// MSE of the predictions for `data`.
    pub fn mse(&self, data: &Dataset) -> Result<f64, BaselineError> {
        Ok(Metric::Mse.compute(self.predict(data)?.view(), data.targets()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dilations_spread_features_as_the_reference_code() {
        // The reference `_fit_dilations(597, 10000, 32)` (sktime's
        // MiniRocket, run in numpy) gives exactly these.
        let (dilations, per) = fit_dilations(597, 10_000, 32);
        let expected_dilations = [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 21, 24, 28, 32, 37, 42, 49, 56, 64, 74,
        ];
        let expected_counts = [
            19, 12, 8, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3,
        ];
        assert_eq!(dilations, expected_dilations);
        assert_eq!(per, expected_counts);
        assert_eq!(
            fit_dilations(128, 1_000, 32),
            (vec![1, 2, 3, 5, 6, 9, 12, 15], vec![3, 1, 2, 1, 1, 1, 1, 1])
        );
    }

    #[test]
    fn features_are_proportions_seeded_and_learn_a_nonlinear_target() {
        let data = kymo_data::SyntheticSpectra {
            samples: 120,
            length: 128,
            ..Default::default()
        }
        .generate()
        .unwrap();
        let (train, rest) = kymo_data::validation_split(&data, 0.4).unwrap();
        let (validation, test) = kymo_data::validation_split(&rest, 0.5).unwrap();
        let a = MiniRocket::fit(train.signals(), 1_000, 3).unwrap();
        let b = MiniRocket::fit(train.signals(), 1_000, 3).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, MiniRocket::fit(train.signals(), 1_000, 4).unwrap());
        assert_eq!(a.features(), 84 * 11);
        let features = a.transform(test.signals()).unwrap();
        assert!(features.iter().all(|v| (0.0..=1.0).contains(v)));
        let model = MiniRocketRegressor::fit(&train, &validation, 0).unwrap();
        let mean = test.targets().mean().unwrap();
        let mean_mse = test
            .targets()
            .iter()
            .map(|t| (t - mean).powi(2))
            .sum::<f32>() as f64
            / test.len() as f64;
        let mse = model.mse(&test).unwrap();
        assert!(
            mse < 0.5 * mean_mse,
            "MiniRocket {mse} vs the mean's {mean_mse}"
        );
        assert!(MiniRocket::fit(&Array3::zeros((2, 1, 5)), 100, 0).is_err());
    }

    #[test]
    fn several_channels_read_random_subsets_whose_sum_is_convolved() {
        let sets = draw_channel_sets(6, 2_000, 7);
        let sizes: std::collections::BTreeSet<usize> = sets.iter().map(Vec::len).collect();
        // 2^U(0, log2 7) floors to 1..=6 (7 only at the open end).
        assert_eq!(sizes.first(), Some(&1));
        assert!(sizes.iter().all(|&s| (1..=6).contains(&s)));
        assert!(
            sets.iter().all(|s| s.windows(2).all(|w| w[0] < w[1])),
            "distinct channels"
        );
        assert_eq!(draw_channel_sets(1, 5, 7), vec![vec![0]; 5]);
        // The transform runs on [N, 6, L], and the fitted shape is enforced.
        let signals =
            Array3::from_shape_fn((5, 6, 40), |(n, c, l)| ((n + c * 3 + l * 7) % 11) as f32);
        let model = MiniRocket::fit(&signals, 840, 2).expect("fits");
        let features = model.transform(&signals).expect("same shape");
        assert_eq!(features.dim(), (5, model.features()));
        assert!(model.transform(&Array3::zeros((1, 5, 40))).is_err());
    }
}
