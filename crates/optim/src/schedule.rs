//! Learning-rate schedules: the rate as a function of the step.

use serde::{Deserialize, Serialize};

/// A learning-rate schedule, evaluated at each optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Schedule {
    /// The same rate every step.
    Constant {
        /// The rate.
        rate: f64,
    },
    /// `rate * factor^floor(step / every)` (Keras's staircase
    /// `ExponentialDecay`; PyTorch's `StepLR`).
    Step {
        /// Initial rate.
        rate: f64,
        /// Multiplier applied every `every` steps.
        factor: f64,
        /// Steps between drops.
        every: u64,
    },
    /// Cosine decay from `rate` to `rate * alpha` over `steps` (Keras's
    /// `CosineDecay`), constant afterwards.
    Cosine {
        /// Initial rate.
        rate: f64,
        /// Steps of decay.
        steps: u64,
        /// Final fraction of the rate.
        alpha: f64,
    },
    /// Linear warmup from 0 to the inner schedule's rate over `steps`, then
    /// the inner schedule (shifted by the warmup).
    Warmup {
        /// Steps of warmup.
        steps: u64,
        /// The schedule after warmup.
        then: Box<Schedule>,
    },
}

impl Schedule {
    /// The rate at `step` (0-based).
    pub fn rate(&self, step: u64) -> f64 {
        match self {
            Schedule::Constant { rate } => *rate,
            Schedule::Step {
                rate,
                factor,
                every,
            } => rate * factor.powf((step / (*every).max(1)) as f64),
            Schedule::Cosine { rate, steps, alpha } => {
                let progress = step.min(*steps) as f64 / (*steps).max(1) as f64;
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                rate * ((1.0 - alpha) * cosine + alpha)
            }
            Schedule::Warmup { steps, then } => {
                if step < *steps {
                    then.rate(0) * (step + 1) as f64 / *steps as f64
                } else {
                    then.rate(step - steps)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_hit_their_landmarks() {
        let step = Schedule::Step {
            rate: 1.0,
            factor: 0.5,
            every: 10,
        };
        assert_eq!(
            (step.rate(9), step.rate(10), step.rate(25)),
            (1.0, 0.5, 0.25)
        );
        let cosine = Schedule::Cosine {
            rate: 1.0,
            steps: 100,
            alpha: 0.1,
        };
        assert!((cosine.rate(0) - 1.0).abs() < 1e-12);
        assert!((cosine.rate(50) - 0.55).abs() < 1e-12);
        assert!((cosine.rate(100) - 0.1).abs() < 1e-12);
        assert!((cosine.rate(500) - 0.1).abs() < 1e-12);
        let warm = Schedule::Warmup {
            steps: 4,
            then: Box::new(Schedule::Constant { rate: 0.8 }),
        };
        assert_eq!((warm.rate(0), warm.rate(3), warm.rate(4)), (0.2, 0.8, 0.8));
    }
}
