//! A named weight with its gradient.

use kymo_tensor::Float;
use ndarray::ArrayD;

use crate::Regularizer;

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
        }
    }

    /// The same parameter with `regularizer` on its value.
    pub fn regularized(mut self, regularizer: Option<Regularizer>) -> Self {
        self.regularizer = regularizer;
        self
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
