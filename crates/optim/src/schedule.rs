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
    /// `rate * decay_rate^(step / decay_steps)`, the exponent floored when
    /// `staircase` (Keras's `ExponentialDecay`).
    Exponential {
        /// Initial rate.
        rate: f64,
        /// Steps over which the rate is multiplied by `decay_rate`.
        decay_steps: u64,
        /// The multiplier per `decay_steps`.
        decay_rate: f64,
        /// Whether the rate drops in steps rather than smoothly.
        staircase: bool,
    },
    /// `rate / (1 + decay_rate * step / decay_steps)`, the ratio floored
    /// when `staircase` (Keras's `InverseTimeDecay`).
    InverseTime {
        /// Initial rate.
        rate: f64,
        /// Steps per unit of decay.
        decay_steps: u64,
        /// The decay per `decay_steps`.
        decay_rate: f64,
        /// Whether the rate drops in steps rather than smoothly.
        staircase: bool,
    },
    /// `values[i]` while the step is at most `boundaries[i]` (and past the
    /// one before), the last value after the last boundary (Keras's
    /// `PiecewiseConstantDecay`; one value more than boundaries).
    Piecewise {
        /// Steps at which the rate changes, increasing.
        boundaries: Vec<u64>,
        /// The rates, one more than the boundaries.
        values: Vec<f64>,
    },
    /// `(rate - end_rate) * (1 - step / decay_steps)^power + end_rate`,
    /// the step held at `decay_steps` or, when `cycle`, `decay_steps`
    /// stretched to the next multiple past the step (Keras's
    /// `PolynomialDecay`).
    Polynomial {
        /// Initial rate.
        rate: f64,
        /// Steps to reach `end_rate`.
        decay_steps: u64,
        /// The final rate.
        end_rate: f64,
        /// The polynomial's power.
        power: f64,
        /// Whether to restart the decay past `decay_steps`.
        cycle: bool,
    },
    /// A linear ramp from `from` to `then`'s first rate over `steps`, then
    /// `then` (shifted by the ramp): Keras's `CosineDecay` warmup, from its
    /// initial rate to its `warmup_target`.
    LinearWarmup {
        /// The rate at step 0.
        from: f64,
        /// Steps of the ramp.
        steps: u64,
        /// The schedule after the ramp.
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
            Schedule::Exponential {
                rate,
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let p = floored(step as f64 / (*decay_steps).max(1) as f64, *staircase);
                rate * decay_rate.powf(p)
            }
            Schedule::InverseTime {
                rate,
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let p = floored(step as f64 / (*decay_steps).max(1) as f64, *staircase);
                rate / (1.0 + decay_rate * p)
            }
            Schedule::Piecewise { boundaries, values } => {
                let passed = boundaries.iter().take_while(|&&b| step > b).count();
                values.get(passed).or(values.last()).copied().unwrap_or(0.0)
            }
            Schedule::Polynomial {
                rate,
                decay_steps,
                end_rate,
                power,
                cycle,
            } => {
                let decay_steps = (*decay_steps).max(1) as f64;
                let (step, span) = if *cycle {
                    // Keras stretches the span to the next multiple past the
                    // step (the first span at step 0).
                    let multiple = (step as f64 / decay_steps).ceil().max(1.0);
                    (step as f64, decay_steps * multiple)
                } else {
                    ((step as f64).min(decay_steps), decay_steps)
                };
                (rate - end_rate) * (1.0 - step / span).powf(*power) + end_rate
            }
            Schedule::LinearWarmup { from, steps, then } => {
                if step < *steps {
                    from + (then.rate(0) - from) * step as f64 / *steps as f64
                } else {
                    then.rate(step - steps)
                }
            }
        }
    }

    /// Why the schedule cannot run, if it cannot: a rate that is not a
    /// positive number (an end rate of zero is allowed), piecewise values
    /// that are not one more than the boundaries, or boundaries that do
    /// not increase.
    pub fn check(&self) -> Result<(), String> {
        let positive = |name: &str, rate: f64| {
            if rate.is_finite() && rate > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a positive number, not {rate}"))
            }
        };
        match self {
            Schedule::Constant { rate }
            | Schedule::Step { rate, .. }
            | Schedule::Cosine { rate, .. }
            | Schedule::Exponential { rate, .. }
            | Schedule::InverseTime { rate, .. }
            | Schedule::Polynomial { rate, .. } => positive("the schedule's rate", *rate),
            Schedule::Warmup { then, .. } => then.check(),
            Schedule::LinearWarmup { from, then, .. } => {
                if !(from.is_finite() && *from >= 0.0) {
                    return Err(format!(
                        "the warmup's first rate must be at least 0, not {from}"
                    ));
                }
                then.check()
            }
            Schedule::Piecewise { boundaries, values } => {
                if values.len() != boundaries.len() + 1 {
                    return Err(format!(
                        "a piecewise schedule needs one value more than boundaries: {} boundaries, {} values",
                        boundaries.len(),
                        values.len()
                    ));
                }
                if boundaries.windows(2).any(|pair| pair[0] >= pair[1]) {
                    return Err(format!("the boundaries {boundaries:?} must increase"));
                }
                values
                    .iter()
                    .try_for_each(|&v| positive("each piecewise value", v))
            }
        }
    }
}

/// `p`, floored when `staircase`.
fn floored(p: f64, staircase: bool) -> f64 {
    if staircase {
        p.floor()
    } else {
        p
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
