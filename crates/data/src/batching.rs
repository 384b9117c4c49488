//! Seeded mini-batch orders, as Keras's `fit` draws them.

use kymo_tensor::SeededRng;

/// The sample indices of each batch of one epoch: shuffled (when asked)
/// with `rng`, cut into `batch_size` pieces, the last partial batch kept.
pub fn epoch_batches(
    samples: usize,
    batch_size: usize,
    shuffle: bool,
    rng: &mut SeededRng,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..samples).collect();
    if shuffle {
        rng.shuffle(&mut order);
    }
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_partial_batch_and_covers_every_sample_once() {
        let batches = epoch_batches(10, 4, true, &mut SeededRng::new(1, 0));
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let ordered = epoch_batches(5, 2, false, &mut SeededRng::new(1, 0));
        assert_eq!(ordered, vec![vec![0, 1], vec![2, 3], vec![4]]);
    }
}
