//! The `Optimizer` trait, parameter slots, and per-parameter state checks.

use serde::{Deserialize, Serialize};

use crate::{Adam, OptimError, RmsProp, Sgd};

/// One trainable parameter as an optimizer sees it: values and gradient.
#[derive(Debug)]
pub struct Slot<'a> {
    /// The values, updated in place.
    pub value: &'a mut [f32],
    /// The gradient of the loss with respect to `value`.
    pub grad: &'a [f32],
}

/// An optimizer: updates parameters from their gradients.
///
/// Slots must come in the same order, with the same lengths, every step:
/// per-parameter state (moments, velocities) is matched by position.
pub trait Optimizer {
    /// Applies one update to every slot.
    fn step(&mut self, slots: &mut [Slot<'_>]) -> Result<(), OptimError>;
    /// The current learning rate.
    fn learning_rate(&self) -> f64;
    /// Sets the learning rate (schedules and ReduceLROnPlateau call this).
    fn set_learning_rate(&mut self, learning_rate: f64);
    /// Steps taken so far (Keras's `iterations`).
    fn iterations(&self) -> u64;
}

/// Per-parameter state vectors, allocated on the first step and checked on
/// every later one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotState {
    /// One vector per parameter.
    pub vectors: Vec<Vec<f32>>,
}

impl SlotState {
    /// Allocates zeros on first use; afterwards checks that `slots` match.
    pub fn ensure(
        &mut self,
        optimizer: &'static str,
        slots: &[Slot<'_>],
    ) -> Result<(), OptimError> {
        for (index, slot) in slots.iter().enumerate() {
            if slot.grad.len() != slot.value.len() {
                return Err(OptimError::ParameterLength {
                    optimizer,
                    index,
                    expected: slot.value.len(),
                    found: slot.grad.len(),
                });
            }
        }
        if self.vectors.is_empty() {
            self.vectors = slots.iter().map(|s| vec![0.0; s.value.len()]).collect();
            return Ok(());
        }
        if self.vectors.len() != slots.len() {
            return Err(OptimError::ParameterCount {
                optimizer,
                expected: self.vectors.len(),
                found: slots.len(),
            });
        }
        for (index, (v, slot)) in self.vectors.iter().zip(slots).enumerate() {
            if v.len() != slot.value.len() {
                return Err(OptimError::ParameterLength {
                    optimizer,
                    index,
                    expected: v.len(),
                    found: slot.value.len(),
                });
            }
        }
        Ok(())
    }
}

/// Any of kymo's optimizers, with its configuration and state: what specs
/// name (`{"Adam": {"learning_rate": 0.001}}`, or in TOML
/// `[optimizer.Adam]`) and checkpoints keep. Externally tagged, so that
/// compact binary formats can carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AnyOptimizer {
    /// Adam, or AdamW when `weight_decay` is set.
    Adam(Adam),
    /// Stochastic gradient descent with optional (Nesterov) momentum.
    #[serde(rename = "SGD")]
    Sgd(Sgd),
    /// RMSprop.
    #[serde(rename = "RMSprop")]
    RmsProp(RmsProp),
}

impl AnyOptimizer {
    fn inner(&self) -> &dyn Optimizer {
        match self {
            AnyOptimizer::Adam(o) => o,
            AnyOptimizer::Sgd(o) => o,
            AnyOptimizer::RmsProp(o) => o,
        }
    }
    fn inner_mut(&mut self) -> &mut dyn Optimizer {
        match self {
            AnyOptimizer::Adam(o) => o,
            AnyOptimizer::Sgd(o) => o,
            AnyOptimizer::RmsProp(o) => o,
        }
    }
    /// The optimizer's Keras class name.
    pub fn name(&self) -> &'static str {
        match self {
            AnyOptimizer::Adam(a) if a.weight_decay.is_some() => "AdamW",
            AnyOptimizer::Adam(_) => "Adam",
            AnyOptimizer::Sgd(_) => "SGD",
            AnyOptimizer::RmsProp(_) => "RMSprop",
        }
    }
}

impl Optimizer for AnyOptimizer {
    fn step(&mut self, slots: &mut [Slot<'_>]) -> Result<(), OptimError> {
        self.inner_mut().step(slots)
    }
    fn learning_rate(&self) -> f64 {
        self.inner().learning_rate()
    }
    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.inner_mut().set_learning_rate(learning_rate)
    }
    fn iterations(&self) -> u64 {
        self.inner().iterations()
    }
}
