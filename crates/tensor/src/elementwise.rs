//! Elementwise passes over contiguous buffers, split across threads when
//! [`threads`](crate::threads) allows. Each element is computed by the same
//! code whatever the split, so results are bit-identical for any thread
//! count.

use crate::layout::check_length;
use crate::parallel::{for_each_block, BLOCK_ELEMENTS};
use crate::{Float, TensorError};

/// `values[i] = f(values[i])` for every element, in place.
pub fn map_in_place<T: Float>(values: &mut [T], f: impl Fn(T) -> T + Sync) {
    let work = values.len();
    let blocks: Vec<_> = values.chunks_mut(BLOCK_ELEMENTS).collect();
    for_each_block(
        work,
        blocks,
        || (),
        |_, block| block.iter_mut().for_each(|v| *v = f(*v)),
    );
}

/// `(values[i], saved[i]) = f(values[i])` for every element: a function
/// applied in place together with a second result kept aside (an
/// activation and its derivative, or a byte saying which side of a kink
/// the input was on, in one pass over memory); an error if the lengths
/// differ.
pub fn map_in_place_saving<T: Float, S: Copy + Send + Sync>(
    values: &mut [T],
    saved: &mut [S],
    f: impl Fn(T) -> (T, S) + Sync,
) -> Result<(), TensorError> {
    check_length("map_in_place_saving", "saved", values.len(), saved.len())?;
    let work = values.len();
    let blocks: Vec<_> = values
        .chunks_mut(BLOCK_ELEMENTS)
        .zip(saved.chunks_mut(BLOCK_ELEMENTS))
        .collect();
    for_each_block(
        work,
        blocks,
        || (),
        |_, (values, saved)| saving_block(values, saved, &f),
    );
    Ok(())
}

/// `mask[i] = (values[i] > 0)` as a byte: the mask a ReLU or LeakyReLU
/// keeps ([`kink_forward_in_place`] makes the same test), rebuilt from its
/// input without writing the input; an error if the lengths differ.
pub fn positive_mask<T: Float>(values: &[T], mask: &mut [u8]) -> Result<(), TensorError> {
    check_length("positive_mask", "mask", values.len(), mask.len())?;
    let blocks: Vec<_> = values
        .chunks(BLOCK_ELEMENTS)
        .zip(mask.chunks_mut(BLOCK_ELEMENTS))
        .collect();
    for_each_block(
        values.len(),
        blocks,
        || (),
        |_, (values, mask)| {
            for (m, &v) in mask.iter_mut().zip(values) {
                *m = u8::from(v > T::zero());
            }
        },
    );
    Ok(())
}

/// `target[i] = f(target[i], other[i])` for every element; an error if the
/// lengths differ.
pub fn zip_in_place<T: Float, O: Copy + Send + Sync>(
    target: &mut [T],
    other: &[O],
    f: impl Fn(T, O) -> T + Sync,
) -> Result<(), TensorError> {
    check_length("zip_in_place", "other", target.len(), other.len())?;
    let work = target.len();
    let blocks: Vec<_> = target
        .chunks_mut(BLOCK_ELEMENTS)
        .zip(other.chunks(BLOCK_ELEMENTS))
        .collect();
    for_each_block(
        work,
        blocks,
        || (),
        |_, (target, other)| zip_block(target, other, &f),
    );
    Ok(())
}

/// `(target[i], saved[i]) = f(target[i], other[i])` for every element: a
/// join and the activation after it in one pass over memory (an `Add`
/// and its ReLU, keeping the ReLU's mask); an error if the lengths differ.
pub fn zip_in_place_saving<T: Float, S: Copy + Send + Sync>(
    target: &mut [T],
    other: &[T],
    saved: &mut [S],
    f: impl Fn(T, T) -> (T, S) + Sync,
) -> Result<(), TensorError> {
    check_length("zip_in_place_saving", "other", target.len(), other.len())?;
    check_length("zip_in_place_saving", "saved", target.len(), saved.len())?;
    let work = target.len();
    let blocks: Vec<_> = target
        .chunks_mut(BLOCK_ELEMENTS)
        .zip(other.chunks(BLOCK_ELEMENTS))
        .zip(saved.chunks_mut(BLOCK_ELEMENTS))
        .collect();
    for_each_block(
        work,
        blocks,
        || (),
        |_, ((target, other), saved)| zip_saving_block(target, other, saved, &f),
    );
    Ok(())
}

/// [`kink_backward_in_place`], the result written to `copy` as well: the
/// backward pass of a kink after a join whose inputs each take the
/// gradient (an `Add` and its ReLU), in one pass; an error if the lengths
/// differ.
pub fn kink_backward_copying<T: Float>(
    grad: &mut [T],
    copy: &mut [T],
    positive: &[u8],
    slope: T,
) -> Result<(), TensorError> {
    kink_backward_pass("kink_backward_copying", grad, Some(copy), positive, slope)
}

/// Copies each `(target, source)` pair of equal-length slices, the pairs
/// split across threads (a graph's forks, joins and concatenations: on the
/// calling thread alone, InceptionTime's copies and sums left the second
/// core idle for a sixth of a training step); an error, before anything
/// is written, if a pair's lengths differ.
pub fn copy_pairs<T: Float>(pairs: Vec<(&mut [T], &[T])>) -> Result<(), TensorError> {
    for (target, source) in &pairs {
        check_length("copy_pairs", "source", target.len(), source.len())?;
    }
    let work = pairs.iter().map(|(target, _)| target.len()).sum();
    // Pairs longer than a block are cut into blocks, so that one long copy
    // still splits.
    let blocks: Vec<_> = pairs
        .into_iter()
        .flat_map(|(target, source)| {
            target
                .chunks_mut(BLOCK_ELEMENTS)
                .zip(source.chunks(BLOCK_ELEMENTS))
        })
        .collect();
    for_each_block(
        work,
        blocks,
        || (),
        |_, (target, source)| target.copy_from_slice(source),
    );
    Ok(())
}

/// [`map_in_place_saving`] on one block: a function so that its slices are
/// known not to overlap (see [`kink_forward_block`]).
fn saving_block<T: Float, S: Copy>(values: &mut [T], saved: &mut [S], f: &impl Fn(T) -> (T, S)) {
    for (v, s) in values.iter_mut().zip(saved.iter_mut()) {
        (*v, *s) = f(*v);
    }
}

/// [`zip_in_place_saving`] on one block, a function for the same reason.
fn zip_saving_block<T: Float, S: Copy>(
    target: &mut [T],
    other: &[T],
    saved: &mut [S],
    f: &impl Fn(T, T) -> (T, S),
) {
    for ((t, &o), s) in target.iter_mut().zip(other).zip(saved.iter_mut()) {
        (*t, *s) = f(*t, o);
    }
}

/// [`zip_in_place`] on one block, a function for the same reason.
fn zip_block<T: Float, O: Copy>(target: &mut [T], other: &[O], f: &impl Fn(T, O) -> T) {
    for (t, &o) in target.iter_mut().zip(other) {
        *t = f(*t, o);
    }
}

/// Lanes per step of the kink loops: written as fixed-size blocks so the
/// compiler turns the compare, select and byte store into vector
/// instructions (as an iterator over `(f32, u8)` pairs it kept them scalar).
const LANES: usize = 16;

/// `values[i] *= (values[i] > 0 ? 1 : slope)`, with `positive[i]` set to
/// whether `values[i]` was above zero: a leaky ReLU's forward pass and the
/// mask its backward pass needs; an error if the lengths differ.
pub fn kink_forward_in_place<T: Float>(
    values: &mut [T],
    positive: &mut [u8],
    slope: T,
) -> Result<(), TensorError> {
    check_length(
        "kink_forward_in_place",
        "positive",
        values.len(),
        positive.len(),
    )?;
    let work = values.len();
    let blocks: Vec<_> = values
        .chunks_mut(BLOCK_ELEMENTS)
        .zip(positive.chunks_mut(BLOCK_ELEMENTS))
        .collect();
    for_each_block(
        work,
        blocks,
        || (),
        |_, (values, positive)| kink_forward_block(values, positive, slope),
    );
    Ok(())
}

/// The values of [`kink_forward_in_place`] (the same bits) without the
/// mask: for recomputing an activation whose mask is already kept.
pub fn kink_in_place<T: Float>(values: &mut [T], slope: T) {
    map_in_place(values, |z| kink(z, slope).0);
}

/// `grad[i] *= (positive[i] != 0 ? 1 : slope)`: the backward pass of
/// [`kink_forward_in_place`]; an error if the lengths differ.
pub fn kink_backward_in_place<T: Float>(
    grad: &mut [T],
    positive: &[u8],
    slope: T,
) -> Result<(), TensorError> {
    kink_backward_pass("kink_backward_in_place", grad, None, positive, slope)
}

/// [`kink_backward_in_place`], each block also copied to `copy` when
/// given, while it is in cache; `operation` names the caller in errors.
fn kink_backward_pass<T: Float>(
    operation: &'static str,
    grad: &mut [T],
    copy: Option<&mut [T]>,
    positive: &[u8],
    slope: T,
) -> Result<(), TensorError> {
    if let Some(copy) = &copy {
        check_length(operation, "copy", grad.len(), copy.len())?;
    }
    check_length(operation, "positive", grad.len(), positive.len())?;
    let work = grad.len();
    let mut copies = copy.map(|copy| copy.chunks_mut(BLOCK_ELEMENTS));
    let blocks: Vec<_> = grad
        .chunks_mut(BLOCK_ELEMENTS)
        .zip(positive.chunks(BLOCK_ELEMENTS))
        .map(|(grad, positive)| (grad, positive, copies.as_mut().and_then(Iterator::next)))
        .collect();
    for_each_block(
        work,
        blocks,
        || (),
        |_, (grad, positive, copy)| {
            kink_backward_block(grad, positive, slope);
            if let Some(copy) = copy {
                copy.copy_from_slice(grad);
            }
        },
    );
    Ok(())
}

/// [`kink_forward_in_place`] on one block. A function of its own, not a
/// closure over the block: as arguments the two slices are known not to
/// overlap, without which the byte stores (which may alias anything) keep
/// the loop scalar.
fn kink_forward_block<T: Float>(values: &mut [T], positive: &mut [u8], slope: T) {
    let mut value_lanes = values.chunks_exact_mut(LANES);
    let mut mask_lanes = positive.chunks_exact_mut(LANES);
    for (v, p) in (&mut value_lanes).zip(&mut mask_lanes) {
        for i in 0..LANES {
            (v[i], p[i]) = kink(v[i], slope);
        }
    }
    let (v, p) = (value_lanes.into_remainder(), mask_lanes.into_remainder());
    for (v, p) in v.iter_mut().zip(p.iter_mut()) {
        (*v, *p) = kink(*v, slope);
    }
}

/// [`kink_forward_block`] from `values` into `activated`, which must be as
/// long (a pool fused with the activation writes one row to scratch).
pub(crate) fn kink_forward_into<T: Float>(
    values: &[T],
    activated: &mut [T],
    positive: &mut [u8],
    slope: T,
) {
    let mut source_lanes = values.chunks_exact(LANES);
    let mut value_lanes = activated.chunks_exact_mut(LANES);
    let mut mask_lanes = positive.chunks_exact_mut(LANES);
    for ((s, v), p) in (&mut source_lanes)
        .zip(&mut value_lanes)
        .zip(&mut mask_lanes)
    {
        for i in 0..LANES {
            (v[i], p[i]) = kink(s[i], slope);
        }
    }
    let remainders = source_lanes
        .remainder()
        .iter()
        .zip(value_lanes.into_remainder())
        .zip(mask_lanes.into_remainder());
    for ((&s, v), p) in remainders {
        (*v, *p) = kink(s, slope);
    }
}

/// A ReLU at `z`, and whether `z` is above zero: the one formula every
/// ReLU pass uses (a layer's, a BatchNormalization's or an `Add`'s with
/// the ReLU inside), so that fused and separate passes give the same
/// bits. The value is `z + 0` above zero, which is `z`: choosing `z`
/// itself, the value just loaded, let the compiler store only the other
/// lanes, by masked stores that AMD's cores microcode (2.3% of FCN's
/// training step on the EPYC); the sum makes every lane a store.
#[inline(always)]
pub fn rectify<T: Float>(z: T) -> (T, u8) {
    let positive = z > T::zero();
    let value = if positive { z + T::zero() } else { T::zero() };
    (value, u8::from(positive))
}

/// A leaky ReLU of `slope` at `z`, and whether `z` is above zero: the one
/// formula every kink pass uses, so that fused and separate passes give
/// the same bits.
#[inline(always)]
pub fn kink<T: Float>(z: T, slope: T) -> (T, u8) {
    let above = z > T::zero();
    (z * if above { T::one() } else { slope }, u8::from(above))
}

/// [`kink_backward_in_place`] on one block (a function for the same
/// reason as [`kink_forward_block`]).
pub(crate) fn kink_backward_block<T: Float>(grad: &mut [T], positive: &[u8], slope: T) {
    let one = T::one();
    let mut grad_lanes = grad.chunks_exact_mut(LANES);
    let mut mask_lanes = positive.chunks_exact(LANES);
    for (g, p) in (&mut grad_lanes).zip(&mut mask_lanes) {
        for i in 0..LANES {
            g[i] *= if p[i] != 0 { one } else { slope };
        }
    }
    let (g, p) = (grad_lanes.into_remainder(), mask_lanes.remainder());
    for (g, &p) in g.iter_mut().zip(p) {
        *g *= if p != 0 { one } else { slope };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_map_writes_both_results_at_any_thread_count() {
        let input: Vec<f32> = (0..3 * BLOCK_ELEMENTS)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let run = |threads| {
            crate::Runtime::new(threads)
                .expect("threads start")
                .run(|| {
                    let mut values = input.clone();
                    let mut saved = vec![0.0f32; input.len()];
                    map_in_place_saving(&mut values, &mut saved, |v| (v * 2.0, v + 1.0))
                        .expect("same lengths");
                    (values, saved)
                })
        };
        let (values, saved) = run(2);
        for ((&x, &v), &s) in input.iter().zip(&values).zip(&saved) {
            assert_eq!(v, x * 2.0);
            assert_eq!(s, x + 1.0);
        }
        assert_eq!(run(1), (values, saved));
    }

    /// A join and its kink in one pass: the sum's kink and mask as the
    /// separate passes give them, and backward's masked gradient in both
    /// outputs, on two threads over several blocks; unequal lengths are
    /// refused before anything is written.
    #[test]
    fn a_join_s_kink_forward_and_backward_match_the_separate_passes() {
        let n = 2 * BLOCK_ELEMENTS + 5;
        let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos() - 0.5).collect();
        let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.23).sin() + 0.1).collect();
        let (mut want, mut want_mask) = (a.clone(), vec![0u8; n]);
        zip_in_place(&mut want, &b, |x, y| x + y).expect("same lengths");
        kink_forward_in_place(&mut want, &mut want_mask, 0.2).expect("same lengths");
        let mut want_grad = g.clone();
        kink_backward_in_place(&mut want_grad, &want_mask, 0.2).expect("same lengths");
        let (mut got, mut mask, mut grad, mut copy) =
            (a.clone(), vec![0u8; n], g.clone(), vec![0.0f32; n]);
        crate::Runtime::new(2).expect("threads start").run(|| {
            zip_in_place_saving(&mut got, &b, &mut mask, |x, y| kink(x + y, 0.2))
                .expect("same lengths");
            kink_backward_copying(&mut grad, &mut copy, &mask, 0.2).expect("same lengths");
        });
        assert_eq!((&got, &mask), (&want, &want_mask));
        assert!(mask.contains(&0) && mask.contains(&1));
        assert_eq!((&grad, &copy), (&want_grad, &want_grad));
        let mut short = vec![9.0f32; n - 1];
        let error = kink_backward_copying(&mut grad, &mut short, &mask, 0.2).expect_err("short");
        assert!(
            error.to_string().contains("kink_backward_copying"),
            "{error}"
        );
        let error = zip_in_place_saving(&mut got, &b[1..], &mut mask, |x, y| kink(x + y, 0.2))
            .expect_err("short");
        assert!(error.to_string().contains("zip_in_place_saving"), "{error}");
        assert_eq!(got, want, "a refused call writes nothing");
    }

    /// Pairs longer than a block and shorter ones land whole on two
    /// threads; a pair of unequal lengths is refused before anything is
    /// written.
    #[test]
    fn copy_pairs_copies_every_pair_and_refuses_unequal_ones() {
        let long: Vec<f32> = (0..2 * BLOCK_ELEMENTS + 7).map(|i| i as f32).collect();
        let short = [1.5f32, -2.5, 3.5];
        let (mut a, mut b) = (vec![0.0f32; long.len()], vec![0.0f32; 3]);
        crate::Runtime::new(2)
            .expect("threads start")
            .run(|| copy_pairs(vec![(&mut a[..], &long[..]), (&mut b[..], &short[..])]))
            .expect("equal lengths");
        assert_eq!((a, b), (long, short.to_vec()));
        let mut c = vec![9.0f32; 2];
        let error = copy_pairs(vec![(&mut c[..], &short[..])]).expect_err("lengths differ");
        assert!(error.to_string().contains("copy_pairs"), "{error}");
        assert_eq!(c, [9.0, 9.0]);
    }

    /// The mask rebuilt from an input is the one the forward kink pass
    /// kept, zeros, negative zeros and NaN included; a short mask is
    /// refused.
    #[test]
    fn the_positive_mask_is_the_forward_pass_s() {
        let mut input: Vec<f32> = (0..2 * BLOCK_ELEMENTS + 7)
            .map(|i| (i as f32 * 0.61).sin())
            .collect();
        input[..4].copy_from_slice(&[0.0, -0.0, f32::NAN, f32::MIN_POSITIVE]);
        let mut kept = vec![7u8; input.len()];
        kink_forward_in_place(&mut input.clone(), &mut kept, 0.1).expect("same lengths");
        let mut rebuilt = vec![7u8; input.len()];
        positive_mask(&input, &mut rebuilt).expect("same lengths");
        assert_eq!(rebuilt, kept);
        assert_eq!(&rebuilt[..4], &[0, 0, 0, 1]);
        assert!(positive_mask(&input, &mut rebuilt[1..]).is_err());
    }

    /// The lane-blocked kink loops give what the definition gives, on full
    /// lanes and the remainder, at one and two threads; a short mask is
    /// refused.
    #[test]
    fn kink_passes_match_the_definition() {
        let len = 2 * BLOCK_ELEMENTS + LANES + 5;
        let input: Vec<f32> = (0..len).map(|i| (i as f32 * 0.61).sin()).collect();
        let grad: Vec<f32> = (0..len).map(|i| (i as f32 * 0.23).cos()).collect();
        let slope = 0.1f32;
        for threads in [1, 2] {
            crate::Runtime::new(threads)
                .expect("threads start")
                .run(|| {
                    let mut values = input.clone();
                    let mut mask = vec![7u8; len];
                    kink_forward_in_place(&mut values, &mut mask, slope).expect("same lengths");
                    let mut g = grad.clone();
                    kink_backward_in_place(&mut g, &mask, slope).expect("same lengths");
                    for i in 0..len {
                        let above = input[i] > 0.0;
                        let want = if above { input[i] } else { input[i] * slope };
                        assert_eq!(values[i].to_bits(), want.to_bits(), "forward at {i}");
                        assert_eq!(mask[i], u8::from(above), "mask at {i}");
                        let want = if above { grad[i] } else { grad[i] * slope };
                        assert_eq!(g[i].to_bits(), want.to_bits(), "backward at {i}");
                    }
                })
        }
        let mut short = vec![0u8; len - 1];
        let err = kink_forward_in_place(&mut input.clone(), &mut short, slope).unwrap_err();
        assert!(matches!(
            err,
            TensorError::Shape {
                argument: "positive",
                ..
            }
        ));
    }

    #[test]
    fn saving_map_refuses_a_short_buffer() {
        let mut values = vec![1.0f64; 4];
        let mut saved = vec![0.0f64; 3];
        let err = map_in_place_saving(&mut values, &mut saved, |v| (v, v)).unwrap_err();
        assert!(matches!(
            err,
            TensorError::Shape {
                argument: "saved",
                ..
            }
        ));
        assert_eq!(values, vec![1.0; 4], "nothing written on refusal");
    }
}
