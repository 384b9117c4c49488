//! Seeded spectral augmentation for training batches (Bjerrum, Glahder and
//! Skov 2017, "Data augmentation of spectral data for convolutional neural
//! network based deep chemometrics"): each spectrum of a batch gets a
//! random offset, a random linear tilt, a random gain and a small random
//! shift, drawn from a stream named by the seed, the epoch and the batch,
//! so a run gives the same bits at any thread count.

use kymo_tensor::SeededRng;
use ndarray::{ArrayD, Axis};
use serde::{Deserialize, Serialize};

/// How strongly to perturb each spectrum, in the units of the (already
/// preprocessed) signal. Every draw is uniform in `[-x, x]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augmentation {
    /// Added to every point.
    pub offset: f32,
    /// A tilt from `-slope/2` at the first point to `+slope/2` at the last.
    pub slope: f32,
    /// The spectrum is multiplied by `1 + gain`, gain within this.
    pub scale: f32,
    /// Shift by up to this many points, the edge value repeated.
    pub shift: usize,
}

impl Default for Augmentation {
    /// Bjerrum et al.'s settings for standardized spectra: offset 0.1,
    /// slope 0.1, gain 0.1, no shift.
    fn default() -> Self {
        Self {
            offset: 0.1,
            slope: 0.1,
            scale: 0.1,
            shift: 0,
        }
    }
}

impl Augmentation {
    /// Perturbs a batch `[N, C, L]` in place with draws from `rng`: one
    /// offset, tilt, gain and shift per sample, the same for its channels.
    pub fn apply(&self, batch: &mut ArrayD<f32>, rng: &mut SeededRng) {
        if batch.ndim() != 3 {
            return;
        }
        let length = batch.shape()[2];
        let mut draw = |limit: f64| rng.uniform_in(-limit, limit);
        for mut sample in batch.axis_iter_mut(Axis(0)) {
            let offset = draw(f64::from(self.offset)) as f32;
            let slope = draw(f64::from(self.slope)) as f32;
            let gain = 1.0 + draw(f64::from(self.scale)) as f32;
            let shift = draw(self.shift as f64 + 0.5).round() as isize;
            let span = (length.max(2) - 1) as f32;
            for mut channel in sample.axis_iter_mut(Axis(0)) {
                let original: Vec<f32> = channel.iter().copied().collect();
                for (t, value) in channel.iter_mut().enumerate() {
                    let from = (t as isize - shift).clamp(0, length as isize - 1) as usize;
                    let tilt = slope * (t as f32 / span - 0.5);
                    *value = original[from] * gain + offset + tilt;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> ArrayD<f32> {
        ArrayD::from_shape_fn(ndarray::IxDyn(&[4, 2, 16]), |i| {
            (i[0] + i[1] * 3 + i[2]) as f32 * 0.1
        })
    }

    #[test]
    fn the_same_stream_gives_the_same_bits_and_another_stream_other_ones() {
        let augmentation = Augmentation {
            shift: 2,
            ..Augmentation::default()
        };
        let (mut a, mut b, mut c) = (batch(), batch(), batch());
        augmentation.apply(&mut a, &mut SeededRng::new(7, 3));
        augmentation.apply(&mut b, &mut SeededRng::new(7, 3));
        augmentation.apply(&mut c, &mut SeededRng::new(7, 4));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, batch());
    }

    #[test]
    fn perturbations_stay_within_their_limits() {
        let augmentation = Augmentation {
            offset: 0.2,
            slope: 0.0,
            scale: 0.0,
            shift: 0,
        };
        let mut a = batch();
        augmentation.apply(&mut a, &mut SeededRng::new(1, 0));
        for (x, y) in a.iter().zip(batch().iter()) {
            assert!((x - y).abs() <= 0.2 + 1e-6);
        }
        // Both channels of a sample move together.
        let moved = &a - &batch();
        assert_eq!(moved[[1, 0, 5]], moved[[1, 1, 9]]);
        let none = Augmentation {
            offset: 0.0,
            slope: 0.0,
            scale: 0.0,
            shift: 0,
        };
        let mut b = batch();
        none.apply(&mut b, &mut SeededRng::new(1, 0));
        assert_eq!(b, batch());
    }
}
