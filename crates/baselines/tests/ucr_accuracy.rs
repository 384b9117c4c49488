//! kymo's classifiers on the built-in UCR/UEA sets against published
//! figures, on the archive's test split.
//!
//! - 1-NN with Euclidean distance is deterministic: its test accuracy is the
//!   archive's own published "ED" figure (Dau et al. 2019's table: GunPoint
//!   error 0.087, ItalyPowerDemand 0.045, Coffee 0.000).
//! - MiniRocket is seeded: its median over seeds must be within 1 point of
//!   the reference's mean over 30 resamples (angus924/minirocket
//!   `results/results_ucr109_mean.csv`: GunPoint 0.992444,
//!   ItalyPowerDemand 0.959572, Coffee 0.998810); BasicMotions (UEA) is
//!   1.000 for MiniRocket in Ruiz et al. 2021's multivariate bake-off.

use kymo_baselines::{MiniRocketClassifier, NearestNeighbour};
use kymo_data::datasets::ucr;

fn set(name: &str) -> kymo_data::datasets::UcrSet {
    ucr(name).expect("built in").expect("loads")
}

#[test]
fn one_nearest_neighbour_reproduces_the_archives_euclidean_figures() {
    for (name, published) in [
        ("GunPoint", 0.913),
        ("ItalyPowerDemand", 0.955),
        ("Coffee", 1.0),
    ] {
        let data = set(name);
        let accuracy = NearestNeighbour::fit(&data.train)
            .expect("labelled")
            .accuracy(&data.test)
            .expect("same shape");
        assert!(
            (accuracy - published).abs() < 0.001,
            "{name}: 1-NN {accuracy:.4}, archive {published}"
        );
    }
}

#[test]
fn minirocket_is_within_a_point_of_its_published_accuracy() {
    for (name, published) in [
        ("GunPoint", 0.992444),
        ("ItalyPowerDemand", 0.959572),
        ("Coffee", 0.998810),
        ("BasicMotions", 1.0),
    ] {
        let data = set(name);
        let mut accuracies: Vec<f64> = (0..3)
            .map(|seed| {
                MiniRocketClassifier::fit(&data.train, seed)
                    .expect("fits")
                    .accuracy(&data.test)
                    .expect("same shape")
            })
            .collect();
        accuracies.sort_by(f64::total_cmp);
        let median = accuracies[1];
        eprintln!("{name}: MiniRocket {accuracies:?}, published {published}");
        assert!(
            median >= published - 0.01,
            "{name}: median {median:.4} over 3 seeds, published {published}"
        );
    }
}
