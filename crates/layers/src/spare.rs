//! A layer's spare buffer: the storage a backward pass is done with, kept
//! for the next forward pass's output.
//!
//! Training passes arrays by value: each layer's output becomes the next
//! layer's cached input, which that layer's backward turns into its input
//! gradient in place, which the first layer keeps here once its own
//! backward is done with it. So after the first step no layer allocates its
//! large arrays again: a fresh 17 MB array per layer and step cost the
//! answer's model a page fault per 4 KB, a quarter of its step.

use kymo_tensor::Float;
use ndarray::{Array, Dimension};

/// One reusable buffer, empty until a backward pass hands one back.
#[derive(Debug, Default)]
pub(crate) struct Spare<T> {
    buffer: Option<Vec<T>>,
}

impl<T: Float> Spare<T> {
    /// An empty spare.
    pub(crate) fn new() -> Self {
        Self { buffer: None }
    }

    /// A standard-layout array of `shape` whose values are unspecified (the
    /// spare's old contents, or zeros): callers overwrite every element.
    pub(crate) fn array<D: Dimension>(&mut self, shape: D) -> Array<T, D> {
        let len = shape.size();
        let mut buffer = self.buffer.take().unwrap_or_default();
        // Shrinking keeps the capacity; growing may reallocate once, when
        // the batch size grows.
        buffer.resize(len, T::zero());
        // Invariant: the buffer holds exactly `shape.size()` elements.
        Array::from_shape_vec(shape, buffer).expect("invariant: the buffer was sized to the shape")
    }

    /// Keeps `array`'s storage for the next [`Spare::array`]. Its layout
    /// does not matter: only the allocation is reused.
    pub(crate) fn keep<D: Dimension>(&mut self, array: Array<T, D>) {
        let (buffer, _offset) = array.into_raw_vec_and_offset();
        self.buffer = Some(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Ix3};

    #[test]
    fn reuses_the_kept_allocation() {
        let mut spare = Spare::<f32>::new();
        let first: Array3<f32> = spare.array(Ix3(2, 3, 4));
        assert_eq!(first.shape(), &[2, 3, 4]);
        assert!(first.iter().all(|&v| v == 0.0), "a fresh array is zeros");
        let pointer = first.as_ptr();
        spare.keep(first);
        // A smaller batch reuses the same allocation.
        let second: Array3<f32> = spare.array(Ix3(1, 3, 4));
        assert_eq!(second.shape(), &[1, 3, 4]);
        assert_eq!(second.as_ptr(), pointer);
        assert!(second.is_standard_layout());
    }
}
