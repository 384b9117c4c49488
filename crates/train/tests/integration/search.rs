//! The budgeted search on validation: which setups it trains, that it
//! chooses the lowest validation loss, that the same seed gives the same
//! choice, and that a recipe names it in TOML.

use kymo_data::{validation_split, Dataset, Pipeline, SyntheticSpectra};
use kymo_layers::{zoo, ArchitectureSpec};
use kymo_train::{OptimizerName, Recipe, Search, TrainError};

fn data() -> (Dataset, Dataset) {
    let raw = SyntheticSpectra {
        samples: 60,
        length: 32,
        seed: 2,
        ..Default::default()
    }
    .generate()
    .expect("valid");
    let (train, validation) = validation_split(&raw, 0.25).expect("splits");
    let fitted = Pipeline::standard().fit(&train).expect("fits");
    (
        fitted.transform(&train).expect("transforms"),
        fitted.transform(&validation).expect("transforms"),
    )
}

fn recipe() -> Recipe {
    Recipe {
        optimizer: OptimizerName::AdamW,
        weight_decay: Some(0.01),
        batch_size: 16,
        epochs: 3,
        ..Recipe::default()
    }
}

#[test]
fn a_search_trains_the_recipe_first_then_one_change_at_a_time_and_picks_the_lowest() {
    let (train, validation) = data();
    let spec: ArchitectureSpec = zoo::doctor(32).into();
    let search = Search::default();
    let mut seen = 0;
    let outcome = search
        .run(&spec, &recipe(), (&train, &validation), 7, &mut |_| {
            seen += 1
        })
        .expect("runs");
    assert!(outcome.trials.len() <= search.trials);
    assert_eq!(seen, outcome.trials.len());
    let first = &outcome.trials[0].candidate;
    assert_eq!((first.width, first.learning_rate), (1.0, 1e-3));
    assert_eq!(first.weight_decay, Some(0.01));
    // Then wider, a larger learning rate, more decay: one factor each.
    let second = &outcome.trials[1].candidate;
    assert_eq!((second.width, second.learning_rate), (2.0, 1e-3));
    let third = &outcome.trials[2].candidate;
    assert_eq!((third.width, third.learning_rate), (1.0, 3e-3));
    assert_eq!(outcome.trials[3].candidate.weight_decay, Some(0.1));
    let lowest = outcome
        .trials
        .iter()
        .map(|t| t.validation_loss)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(outcome.best().validation_loss, lowest);
    assert!(lowest.is_finite());
    let again = search
        .run(&spec, &recipe(), (&train, &validation), 7, &mut |_| {})
        .expect("runs");
    let scores = |o: &kymo_train::SearchOutcome| -> Vec<_> {
        o.trials
            .iter()
            .map(|t| (t.candidate, t.validation_loss.to_bits(), t.epochs))
            .collect()
    };
    assert_eq!(
        scores(&again),
        scores(&outcome),
        "the same seed, the same trials"
    );
    assert_eq!(again.chosen, outcome.chosen);
}

#[test]
fn optimizers_without_weight_decay_are_not_searched_over_it() {
    let (train, validation) = data();
    let spec: ArchitectureSpec = zoo::doctor(32).into();
    let sgd = Recipe {
        optimizer: OptimizerName::SGD,
        weight_decay: None,
        ..recipe()
    };
    let outcome = Search {
        trials: 5,
        ..Search::default()
    }
    .run(&spec, &sgd, (&train, &validation), 0, &mut |_| {})
    .expect("runs");
    assert!(outcome
        .trials
        .iter()
        .all(|t| t.candidate.weight_decay.is_none()));
}

#[test]
fn one_trial_is_the_recipe_itself() {
    let (train, validation) = data();
    let spec: ArchitectureSpec = zoo::doctor(32).into();
    let outcome = Search {
        trials: 1,
        ..Search::default()
    }
    .run(&spec, &recipe(), (&train, &validation), 0, &mut |_| {})
    .expect("runs");
    assert_eq!(outcome.trials.len(), 1);
    assert_eq!(outcome.chosen, 0);
}

#[test]
fn a_recipe_names_its_search_in_toml_and_bad_values_are_refused() {
    let text = "batch_size = 16\n[search]\ntrials = 4\nwidths = [2.0]\n";
    let parsed = Recipe::from_toml_str(text).expect("parses");
    let search = parsed.search.clone().expect("has a search");
    assert_eq!(search.trials, 4);
    assert_eq!(search.weight_decays, Search::default().weight_decays);
    assert_eq!(
        Recipe::from_toml_str(&parsed.to_toml()).expect("round trip"),
        parsed
    );
    for bad in [
        "[search]\ntrials = 0\n",
        "[search]\nwidths = [-1.0]\n",
        "[search]\ndepth = 3\n",
    ] {
        let error = Recipe::from_toml_str(bad).expect_err(bad);
        assert!(matches!(error, TrainError::Config { .. }), "{bad}: {error}");
    }
}

#[test]
fn a_search_without_validation_is_refused() {
    let (train, validation) = data();
    let spec: ArchitectureSpec = zoo::doctor(32).into();
    let blind = Recipe {
        validation: false,
        ..recipe()
    };
    let error = Search::default()
        .run(&spec, &blind, (&train, &validation), 0, &mut |_| {})
        .expect_err("needs validation");
    assert!(error.to_string().contains("validation"), "{error}");
}
