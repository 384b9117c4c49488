//! Published test accuracies on the built-in sets, with the file each comes
//! from, so every row of the report stands beside its literature figure.
//! FCN and ResNet: hfawaz/dl-4-tsc `results/results-ucr-128.csv`, mean of
//! its 5 iterations; InceptionTime: hfawaz/InceptionTime
//! `results-InceptionTime-128.csv` (the ensemble of 5); MiniRocket:
//! angus924/minirocket `results/results_ucr109_mean.csv` (mean of 30
//! resamples); 1-NN: the archive's Euclidean baseline (Dau et al. 2019).
//! BasicMotions (UEA) is in none of those files: Ruiz et al. 2021 (the
//! multivariate bake-off) report 1.000 for ResNet, InceptionTime and
//! MiniRocket; no 1-NN figure is given here, since the archive's
//! Euclidean baselines normalize each channel and kymo's 1-NN reads the
//! file's values as they are.

/// Where a published figure comes from.
pub const SOURCES: [(&str, &str); 5] = [
    (
        "FCN, ResNet",
        "hfawaz/dl-4-tsc results/results-ucr-128.csv (mean of 5 iterations)",
    ),
    (
        "InceptionTime",
        "hfawaz/InceptionTime results-InceptionTime-128.csv",
    ),
    (
        "MiniRocket",
        "angus924/minirocket results/results_ucr109_mean.csv (mean of 30 resamples)",
    ),
    (
        "1-NN",
        "UCR archive's Euclidean 1-NN baseline (Dau et al. 2019)",
    ),
    (
        "BasicMotions",
        "Ruiz et al. 2021, the multivariate bake-off (no per-set file in the repositories above)",
    ),
];

/// The published accuracy of `arm` (`fcn`, `resnet`, `inception`,
/// `minirocket`, `1nn`) on `set`, if there is one.
pub fn accuracy(set: &str, arm: &str) -> Option<f64> {
    let figure = match (set, arm) {
        ("GunPoint", "fcn") => 1.0,
        ("GunPoint", "resnet") => 0.990_667,
        ("GunPoint", "inception") => 1.0,
        ("GunPoint", "minirocket") => 0.992_444,
        ("GunPoint", "1nn") => 0.913,
        ("ItalyPowerDemand", "fcn") => 0.962_877,
        ("ItalyPowerDemand", "resnet") => 0.961_516,
        ("ItalyPowerDemand", "inception") => 0.965_015,
        ("ItalyPowerDemand", "minirocket") => 0.959_572,
        ("ItalyPowerDemand", "1nn") => 0.955,
        ("Coffee", "fcn" | "resnet" | "inception") => 1.0,
        ("Coffee", "minirocket") => 0.998_810,
        ("Coffee", "1nn") => 1.0,
        ("BasicMotions", "resnet" | "inception" | "minirocket") => 1.0,
        _ => return None,
    };
    Some(figure)
}

/// The best published deep or MiniRocket figure on `set`: the target the
/// prescription is held to.
pub fn best(set: &str) -> Option<f64> {
    ["fcn", "resnet", "inception", "minirocket"]
        .into_iter()
        .filter_map(|arm| accuracy(set, arm))
        .reduce(f64::max)
}
