//! Arrays on the process's pooled buffers ([`kymo_tensor::take_buffer`]):
//! what layers, merges and graphs draw their outputs, copies and gradients
//! from, and give back what they are done with.
//!
//! Training passes arrays by value: a layer's output becomes its reader's
//! cached input, which that reader's backward pass turns into its input
//! gradient in place, which the layer before gives back once its own
//! backward is done with it. Where a graph forks (a value read by several
//! nodes is copied for each extra reader) and joins (`Concatenate` writes a
//! new array, gradients that meet are summed), arrays are dropped and
//! needed again. Through the pool, what one node gives back the next one
//! takes, so after the first step nothing large is allocated: a fresh
//! 17 MB array per layer and step cost the answer's model a page fault per
//! 4 KB, a quarter of its step, and fragmented the heap of graph models.

use kymo_tensor::elementwise::{copy_pairs, zip_in_place};
use kymo_tensor::{give_buffer, take_buffer, Float};
use ndarray::{Array, ArrayD, Dimension};

/// A standard-layout array of `shape` whose values are unspecified (a
/// pooled buffer's old contents, or zeros): callers overwrite every
/// element.
pub(crate) fn array<T: Float, D: Dimension>(shape: D) -> Array<T, D> {
    let buffer = take_buffer(shape.size());
    // Invariant: `take_buffer` returns exactly `shape.size()` elements.
    Array::from_shape_vec(shape, buffer).expect("invariant: the buffer was sized to the shape")
}

/// A standard-layout copy of `source` on a pooled buffer, split across
/// threads when `source` is contiguous ([`copy_pairs`]).
pub(crate) fn copy_of<T: Float>(source: &ArrayD<T>) -> ArrayD<T> {
    let mut copy = array(source.raw_dim());
    let split = match (copy.as_slice_mut(), source.as_slice()) {
        (Some(target), Some(values)) => copy_pairs(vec![(target, values)]).is_ok(),
        _ => false,
    };
    if !split {
        copy.assign(source);
    }
    copy
}

/// `sum += addend`, split across threads when both are contiguous and of
/// one shape ([`zip_in_place`]): where gradients meet at a fork, and in
/// `Add`. Each element is the same one addition either way, so the same
/// bits.
pub(crate) fn add_assign<T: Float>(sum: &mut ArrayD<T>, addend: &ArrayD<T>) {
    let split = sum.shape() == addend.shape()
        && match (sum.as_slice_mut(), addend.as_slice()) {
            (Some(target), Some(values)) => zip_in_place(target, values, |a, b| a + b).is_ok(),
            _ => false,
        };
    if !split {
        *sum += addend;
    }
}

/// Gives `array`'s storage back to the pool. Its layout does not matter:
/// only the allocation is reused.
pub(crate) fn give_back<T: Float, D: Dimension>(array: Array<T, D>) {
    let (buffer, _offset) = array.into_raw_vec_and_offset();
    give_buffer(buffer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Ix3};

    #[test]
    fn arrays_are_standard_and_copies_exact() {
        let fresh: Array<f32, _> = array(Ix3(2, 3, 4));
        assert_eq!(fresh.shape(), &[2, 3, 4]);
        assert!(fresh.is_standard_layout());
        give_back(fresh);
        let source = Array2::from_shape_fn((3, 2), |(i, j)| (i * 2 + j) as f64)
            .reversed_axes()
            .into_dyn();
        let copy = copy_of(&source);
        assert_eq!(copy, source);
        assert!(copy.is_standard_layout());
        // A contiguous source goes through the split copy.
        let contiguous = source.as_standard_layout().into_owned();
        assert_eq!(copy_of(&contiguous), contiguous);
    }

    /// The split sum of contiguous arrays and ndarray's own `+=` (which a
    /// strided addend still takes) give the same bits.
    #[test]
    fn add_assign_gives_the_bits_of_ndarray_s_sum() {
        let a = Array2::from_shape_fn((40, 3000), |(i, j)| ((i * 3000 + j) as f32 * 0.7).sin())
            .into_dyn();
        let b = Array2::from_shape_fn((40, 3000), |(i, j)| ((i + j) as f32 * 1.3).cos()).into_dyn();
        let mut want = a.clone();
        want += &b;
        let mut split = a.clone();
        add_assign(&mut split, &b);
        assert_eq!(split, want);
        let strided = b
            .clone()
            .into_dimensionality::<ndarray::Ix2>()
            .expect("two axes")
            .reversed_axes()
            .as_standard_layout()
            .reversed_axes()
            .into_owned()
            .into_dyn();
        assert!(strided.as_slice().is_none());
        let mut fallback = a;
        add_assign(&mut fallback, &strided);
        assert_eq!(fallback, want);
    }
}
