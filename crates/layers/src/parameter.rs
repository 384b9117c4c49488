//! A named weight with its gradient.

use kymo_tensor::Float;
use ndarray::ArrayD;

use crate::{Constraint, Regularizer};

/// One weight array of a layer, with the gradient accumulated for it.
///
/// Non-trainable weights (BatchNormalization's moving statistics) are
/// parameters too, so that `get_weights` and checkpoints carry them, but
/// optimizers skip them and their gradient stays zero.
#[derive(Debug, Clone)]
pub struct Parameter<T> {
    /// Short name within the layer (`kernel`, `bias`, `gamma`, ...), as Keras
    /// names it.
    pub name: &'static str,
    /// The current value.
    pub value: ArrayD<T>,
    /// The gradient accumulated by `backward` since the last `zero_grad`.
    pub grad: ArrayD<T>,
    /// Whether optimizers update it.
    pub trainable: bool,
    /// The penalty its value adds to the training loss (Keras's
    /// `kernel_regularizer`, `bias_regularizer`), if any.
    pub regularizer: Option<Regularizer>,
    /// The projection applied to its value after every optimizer step
    /// (Keras's `kernel_constraint`, `bias_constraint`), its axes in this
    /// parameter's own layout, if any.
    pub constraint: Option<Constraint>,
}

impl<T: Float> Parameter<T> {
    /// A trainable parameter with a zero gradient.
    pub fn trainable(name: &'static str, value: ArrayD<T>) -> Self {
        let grad = ArrayD::zeros(value.raw_dim());
        Self {
            name,
            value,
            grad,
            trainable: true,
            regularizer: None,
            constraint: None,
        }
    }

    /// The same parameter with `regularizer` on its value.
    pub fn regularized(mut self, regularizer: Option<Regularizer>) -> Self {
        self.regularizer = regularizer;
        self
    }

    /// The same parameter with `constraint` (its axes in Keras's layout,
    /// Keras's axis `a` being this parameter's axis `keras_to_own[a]`)
    /// projecting its value after each step; `layer` names the layer in
    /// the error for an axis the weight does not have, `kind` its class.
    pub fn constrained(
        mut self,
        constraint: Option<&Constraint>,
        keras_to_own: &[usize],
        (layer, kind): (&str, &'static str),
    ) -> Result<Self, crate::LayerError> {
        self.constraint = match constraint {
            Some(constraint) => Some(constraint.in_layout(keras_to_own).map_err(|reason| {
                crate::LayerError::Config {
                    layer: layer.to_string(),
                    kind,
                    field: if self.name == "kernel" {
                        "kernel_constraint"
                    } else {
                        "bias_constraint"
                    },
                    reason,
                }
            })?),
            None => None,
        };
        Ok(self)
    }

    /// A non-trainable parameter (its gradient stays zero).
    pub fn frozen(name: &'static str, value: ArrayD<T>) -> Self {
        Self {
            trainable: false,
            ..Self::trainable(name, value)
        }
    }

    /// Resets the gradient to zero.
    pub fn zero_grad(&mut self) {
        self.grad.fill(T::zero());
    }
}
