//! The comparison Keras's monitoring callbacks share (`MonitorCallback`).

use serde::{Deserialize, Serialize};

/// Whether the monitored value should fall or rise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// `min` for losses and errors, `max` for `r2` (Keras infers it from the
    /// metric's direction).
    #[default]
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// A monitored quantity, its direction, `min_delta` and best value so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    /// The log name (`val_loss`, `loss`, `val_r2`, ...).
    pub name: String,
    /// Direction.
    pub mode: MonitorMode,
    /// Smallest change that counts as an improvement (its sign is ignored).
    pub min_delta: f64,
    /// Best value seen (`None` before the first).
    pub best: Option<f64>,
}

impl Monitor {
    /// A monitor of `name`.
    pub fn new(name: &str, mode: MonitorMode, min_delta: f64) -> Self {
        Self {
            name: name.to_string(),
            mode,
            min_delta: min_delta.abs(),
            best: None,
        }
    }

    fn lower_is_better(&self) -> bool {
        match self.mode {
            MonitorMode::Min => true,
            MonitorMode::Max => false,
            MonitorMode::Auto => !self.name.trim_start_matches("val_").eq("r2"),
        }
    }

    /// Keras's `_is_improvement`: strictly better than `reference` by more
    /// than `min_delta` (`current < best - min_delta` when minimising);
    /// anything improves on no reference.
    pub fn is_improvement(&self, current: f64, reference: Option<f64>) -> bool {
        match reference {
            None => true,
            Some(best) if self.lower_is_better() => current + self.min_delta < best,
            Some(best) => current - self.min_delta > best,
        }
    }

    /// Records `current` as best when it improves; returns whether it did.
    pub fn update(&mut self, current: f64) -> bool {
        let improved = self.is_improvement(current, self.best);
        if improved {
            self.best = Some(current);
        }
        improved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn improvements_are_strict_and_respect_min_delta_and_direction() {
        let mut m = Monitor::new("val_loss", MonitorMode::Auto, 0.0);
        assert!(m.update(1.0));
        assert!(!m.update(1.0), "equal is not better");
        assert!(m.update(0.9));
        let delta = Monitor {
            best: Some(1.0),
            ..Monitor::new("val_loss", MonitorMode::Min, -0.1)
        };
        assert!(!delta.is_improvement(0.95, delta.best));
        assert!(delta.is_improvement(0.85, delta.best));
        let r2 = Monitor::new("val_r2", MonitorMode::Auto, 0.0);
        assert!(r2.is_improvement(0.8, Some(0.7)) && !r2.is_improvement(0.6, Some(0.7)));
    }
}
