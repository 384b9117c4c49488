//! Train/validation splits.

use kymo_tensor::SeededRng;

use crate::{DataError, Dataset};

fn check_fraction(fraction: f64, len: usize) -> Result<usize, DataError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(DataError::Shape(format!(
            "validation fraction {fraction} is not in [0, 1)"
        )));
    }
    // Keras: split_at = int(n * (1 - validation_split)).
    let train = (len as f64 * (1.0 - fraction)) as usize;
    if train == 0 {
        return Err(DataError::Shape(format!(
            "a fraction of {fraction} leaves no training sample of {len}"
        )));
    }
    Ok(train)
}

/// Keras's `validation_split`: the *last* `fraction` of the samples, taken
/// before any shuffling, is the validation set.
pub fn validation_split(data: &Dataset, fraction: f64) -> Result<(Dataset, Dataset), DataError> {
    let train = check_fraction(fraction, data.len())?;
    let all: Vec<usize> = (0..data.len()).collect();
    Ok((data.select(&all[..train])?, data.select(&all[train..])?))
}

/// A seeded random split: `fraction` of the samples, drawn at random, form
/// the second set.
pub fn random_split(
    data: &Dataset,
    fraction: f64,
    seed: u64,
) -> Result<(Dataset, Dataset), DataError> {
    let train = check_fraction(fraction, data.len())?;
    let mut order: Vec<usize> = (0..data.len()).collect();
    SeededRng::new(seed, 0x73706c6974).shuffle(&mut order);
    let (first, second) = order.split_at(train);
    Ok((data.select(first)?, data.select(second)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    fn numbered(n: usize) -> Dataset {
        Dataset::new(
            Array3::zeros((n, 1, 2)),
            Array2::from_shape_fn((n, 1), |(i, _)| i as f32),
        )
        .expect("valid")
    }

    #[test]
    fn validation_split_takes_the_tail_as_keras_does() {
        let (train, val) = validation_split(&numbered(10), 0.25).expect("valid");
        // int(10 * 0.75) = 7 training samples.
        assert_eq!(train.len(), 7);
        assert_eq!(val.targets().column(0).to_vec(), vec![7.0, 8.0, 9.0]);
    }

    #[test]
    fn random_split_is_seeded_and_disjoint() {
        let (a1, b1) = random_split(&numbered(20), 0.3, 5).expect("valid");
        let (a2, _) = random_split(&numbered(20), 0.3, 5).expect("valid");
        assert_eq!(a1, a2);
        let mut all: Vec<f32> = a1
            .targets()
            .iter()
            .chain(b1.targets().iter())
            .copied()
            .collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, (0..20).map(|i| i as f32).collect::<Vec<_>>());
        assert!(validation_split(&numbered(3), 1.0).is_err());
    }
}
