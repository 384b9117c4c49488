//! A graph's free list: the storage of arrays its nodes are done with, kept
//! for the arrays they need next.
//!
//! A Sequential model's layers hand their buffers round a closed loop
//! ([`crate::spare`]). A graph breaks the loop where values fork and join:
//! an output read by several nodes is copied for each extra reader, a
//! `Concatenate` writes a new array and drops its inputs, gradients that
//! meet are summed and one of the pair dropped. Each drop freed 4–17 MB
//! and each copy allocated as much again, every step: page faults on every
//! fresh page, and a heap that fragmented until the process held hundreds
//! of MB more than it used. Through this list, what one node drops the next
//! one takes, so after the first step a graph allocates nothing large.

use kymo_tensor::Float;
use ndarray::{Array, ArrayD, Dimension};

/// Buffers dropped by a graph's nodes, reused by size. Every step keeps as
/// many as it takes (each fork's copy is matched by a gradient sum that
/// frees one, each join by a split), so the list does not grow from step
/// to step; [`FreeList::LIMIT`] bounds it all the same.
#[derive(Debug, Default)]
pub struct FreeList<T> {
    buffers: Vec<Vec<T>>,
}

impl<T: Float> FreeList<T> {
    /// The most buffers kept; beyond it, the smallest is freed.
    pub const LIMIT: usize = 64;

    /// An empty list.
    pub fn new() -> Self {
        Self {
            buffers: Vec::new(),
        }
    }

    /// A standard-layout array of `shape` whose values are unspecified (a
    /// kept buffer's old contents, or zeros): callers overwrite every
    /// element. It reuses the smallest kept buffer that holds it, else
    /// allocates.
    pub fn array<D: Dimension>(&mut self, shape: D) -> Array<T, D> {
        let len = shape.size();
        let fitting = self
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(index, _)| index);
        let mut buffer = fitting.map_or_else(Vec::new, |index| self.buffers.swap_remove(index));
        // Within capacity: no reallocation (a fresh buffer allocates once).
        buffer.resize(len, T::zero());
        // Invariant: the buffer holds exactly `shape.size()` elements.
        Array::from_shape_vec(shape, buffer).expect("invariant: the buffer was sized to the shape")
    }

    /// A standard-layout copy of `array` in a reused buffer.
    pub fn copy_of(&mut self, array: &ArrayD<T>) -> ArrayD<T> {
        let mut copy = self.array(array.raw_dim());
        copy.assign(array);
        copy
    }

    /// Keeps `array`'s storage for a later [`FreeList::array`].
    pub fn keep<D: Dimension>(&mut self, array: Array<T, D>) {
        let (buffer, _offset) = array.into_raw_vec_and_offset();
        if buffer.capacity() == 0 {
            return;
        }
        self.buffers.push(buffer);
        if self.buffers.len() > Self::LIMIT {
            let smallest = self
                .buffers
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.capacity())
                .map(|(index, _)| index);
            if let Some(index) = smallest {
                self.buffers.swap_remove(index);
            }
        }
    }

    /// Buffers kept now.
    pub fn len(&self) -> usize {
        self.buffers.len()
    }

    /// Whether no buffer is kept.
    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Ix2, IxDyn};

    #[test]
    fn takes_the_smallest_buffer_that_fits() {
        let mut list = FreeList::<f32>::new();
        list.keep(Array2::<f32>::zeros((10, 10)));
        list.keep(Array2::<f32>::zeros((3, 10)));
        list.keep(Array2::<f32>::zeros((1, 2)));
        let pointers: Vec<*const f32> = list.buffers.iter().map(|b| b.as_ptr()).collect();
        let taken = list.array(Ix2(2, 10));
        assert_eq!(taken.as_ptr(), pointers[1], "the 30-element buffer");
        assert_eq!(taken.shape(), &[2, 10]);
        assert!(taken.is_standard_layout());
        // Nothing holds 200: a fresh allocation, the list untouched.
        let fresh = list.array(Ix2(20, 10));
        assert!(!pointers.contains(&fresh.as_ptr()));
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn a_copy_has_the_values_in_standard_layout() {
        let mut list = FreeList::<f64>::new();
        list.keep(Array2::<f64>::from_elem((4, 4), 9.0));
        let source = Array2::from_shape_fn((3, 2), |(i, j)| (i * 2 + j) as f64)
            .reversed_axes()
            .into_dyn();
        let copy = list.copy_of(&source);
        assert_eq!(copy, source);
        assert!(copy.is_standard_layout());
        assert!(list.is_empty(), "the kept buffer was reused");
    }

    #[test]
    fn keeps_at_most_the_limit_dropping_the_smallest() {
        let mut list = FreeList::<f32>::new();
        for size in 1..=FreeList::<f32>::LIMIT + 5 {
            list.keep(ArrayD::<f32>::zeros(IxDyn(&[size])));
        }
        assert_eq!(list.len(), FreeList::<f32>::LIMIT);
        let smallest = list.buffers.iter().map(Vec::capacity).min();
        assert_eq!(smallest, Some(6));
    }
}
