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

/// A seeded stratified split for a classification set: in each class,
/// `fraction` of its samples (rounded, at least one of a class with two or
/// more) drawn at random form the second set, so validation holds every
/// class in its training proportion. Both sets keep the file's row order.
/// Keras's `validation_split` has neither the shuffle nor the strata; kymo
/// uses this one whenever the data names its classes.
pub fn stratified_split(
    data: &Dataset,
    fraction: f64,
    seed: u64,
) -> Result<(Dataset, Dataset), DataError> {
    check_fraction(fraction, data.len())?;
    let Some(labels) = data.labels() else {
        return Err(DataError::Shape(
            "a stratified split needs class labels (Dataset::with_classes)".into(),
        ));
    };
    let classes = data.classes().map_or(0, <[String]>::len);
    let mut rng = SeededRng::new(seed, 0x7374726174);
    let mut held = vec![false; data.len()];
    for class in 0..classes {
        let mut members: Vec<usize> = (0..data.len()).filter(|&i| labels[i] == class).collect();
        let wanted = (members.len() as f64 * fraction).round() as usize;
        let wanted = if members.len() >= 2 && fraction > 0.0 {
            wanted.clamp(1, members.len() - 1)
        } else {
            wanted.min(members.len().saturating_sub(1))
        };
        rng.shuffle(&mut members);
        for &i in &members[..wanted] {
            held[i] = true;
        }
    }
    let (second, first): (Vec<usize>, Vec<usize>) = (0..data.len()).partition(|&i| held[i]);
    if first.is_empty() {
        return Err(DataError::Shape(format!(
            "a fraction of {fraction} leaves no training sample of {}",
            data.len()
        )));
    }
    Ok((data.select(&first)?, data.select(&second)?))
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

    #[test]
    fn stratified_split_keeps_every_class_in_proportion() {
        // 30 of class 0, 10 of class 1, 2 of class 2, sorted by class (the
        // case where Keras's tail split validates on one class only).
        let labels: Vec<f32> = [(0, 30), (1, 10), (2, 2)]
            .iter()
            .flat_map(|&(c, n)| std::iter::repeat_n(c as f32, n))
            .collect();
        let n = labels.len();
        let data = Dataset::new(
            Array3::from_shape_fn((n, 1, 2), |(i, _, _)| i as f32),
            Array2::from_shape_vec((n, 1), labels).expect("shape"),
        )
        .expect("valid")
        .with_classes(vec!["a".into(), "b".into(), "c".into()])
        .expect("indices");
        let (train, val) = stratified_split(&data, 0.2, 3).expect("valid");
        let count = |d: &Dataset, c: usize| {
            d.labels()
                .expect("labelled")
                .iter()
                .filter(|&&l| l == c)
                .count()
        };
        assert_eq!((count(&val, 0), count(&val, 1), count(&val, 2)), (6, 2, 1));
        assert_eq!(
            (count(&train, 0), count(&train, 1), count(&train, 2)),
            (24, 8, 1)
        );
        // Seeded: the same seed, the same split; another seed, another.
        assert_eq!(stratified_split(&data, 0.2, 3).expect("valid").1, val);
        assert_ne!(stratified_split(&data, 0.2, 4).expect("valid").1, val);
        assert!(
            stratified_split(&numbered(10), 0.2, 0).is_err(),
            "needs labels"
        );
    }
}
