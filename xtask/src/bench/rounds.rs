//! `cargo xtask bench --rounds N`: every case timed N times, kymo and the
//! peers one after the other within each round, so that each ratio compares
//! timings minutes apart at most; the table gives the medians and the
//! ratio's range. On a machine shared with other tenants one round's ratio
//! can move by a third from one run to the next.

use super::step::StepTiming;

/// The median and the extremes of a set of figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Spread {
    pub(super) median: f64,
    pub(super) low: f64,
    pub(super) high: f64,
}

/// The spread of `values`, `None` when there are none. The median of an
/// even count is the mean of the middle two.
pub(super) fn spread(values: &[f64]) -> Option<Spread> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (low, high) = (*sorted.first()?, *sorted.last()?);
    let middle = sorted.len() / 2;
    let median = if sorted.len().is_multiple_of(2) {
        0.5 * (sorted[middle - 1] + sorted[middle])
    } else {
        sorted[middle]
    };
    Some(Spread { median, low, high })
}

/// The timing of each framework with the median rate over the rounds (the
/// lower of the middle two for an even count), in the order frameworks
/// first appear: its peak memory and step count come with it.
pub(super) fn median_timings(rounds: &[Vec<StepTiming>]) -> Vec<StepTiming> {
    let mut frameworks: Vec<&str> = Vec::new();
    for timing in rounds.iter().flatten() {
        if !frameworks.contains(&timing.framework.as_str()) {
            frameworks.push(&timing.framework);
        }
    }
    frameworks
        .into_iter()
        .filter_map(|framework| {
            let mut own: Vec<&StepTiming> = rounds
                .iter()
                .flatten()
                .filter(|t| t.framework == framework)
                .collect();
            own.sort_by(|a, b| a.samples_per_second.total_cmp(&b.samples_per_second));
            own.get((own.len().max(1) - 1) / 2).map(|t| (*t).clone())
        })
        .collect()
}

/// Each round's kymo rate over its faster peer's (rounds where kymo or
/// every peer failed are left out).
pub(super) fn round_ratios(rounds: &[Vec<StepTiming>]) -> Vec<f64> {
    rounds
        .iter()
        .filter_map(|timings| {
            let kymo = timings.iter().find(|t| t.framework == "kymo")?;
            let peer = timings
                .iter()
                .filter(|t| t.framework != "kymo")
                .map(|t| t.samples_per_second)
                .reduce(f64::max)?;
            Some(kymo.samples_per_second / peer)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(framework: &str, rate: f64, memory: f64) -> StepTiming {
        StepTiming {
            framework: framework.into(),
            version: "0".into(),
            model: "resnet".into(),
            batch: 32,
            length: 1040,
            threads: 2,
            steps: 10,
            seconds: 5.0,
            samples_per_second: rate,
            peak_rss_mb: memory,
            conv_gflops: None,
        }
    }

    #[test]
    fn the_spread_is_the_median_and_the_extremes() {
        let odd = spread(&[3.0, 1.0, 2.0]).expect("three values");
        assert_eq!(
            odd,
            Spread {
                median: 2.0,
                low: 1.0,
                high: 3.0
            }
        );
        let even = spread(&[4.0, 1.0, 2.0, 3.0]).expect("four values");
        assert_eq!(even.median, 2.5);
        assert_eq!(spread(&[]), None);
    }

    #[test]
    fn each_framework_keeps_its_median_round_and_each_round_its_own_ratio() {
        let rounds = vec![
            vec![timing("kymo", 60.0, 400.0), timing("pytorch", 40.0, 1400.0)],
            vec![timing("kymo", 50.0, 401.0), timing("pytorch", 25.0, 1401.0)],
            vec![
                timing("kymo", 70.0, 402.0),
                timing("pytorch", 50.0, 1402.0),
                timing("keras", 56.0, 1200.0),
            ],
        ];
        let medians = median_timings(&rounds);
        let names: Vec<&str> = medians.iter().map(|t| t.framework.as_str()).collect();
        assert_eq!(names, ["kymo", "pytorch", "keras"]);
        assert_eq!(medians[0].samples_per_second, 60.0);
        assert_eq!(medians[0].peak_rss_mb, 400.0);
        assert_eq!(medians[1].samples_per_second, 40.0);
        assert_eq!(medians[2].samples_per_second, 56.0);
        // Per round against that round's faster peer: 1.5, 2.0, 1.25.
        assert_eq!(round_ratios(&rounds), [1.5, 2.0, 1.25]);
    }
}
