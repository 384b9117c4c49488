//! A checkpoint loaded for prediction gives values in the target's units:
//! the preprocessing saved with it is applied to raw signals and the
//! predictions are mapped back, with no code outside the library.

use kymo_data::{validation_split, Dataset, Pipeline, SyntheticSpectra};
use kymo_layers::{zoo, Sequential};
use kymo_optim::{Adam, AnyOptimizer};
use kymo_train::{Checkpoint, FitConfig, Predictor, Trainer};

#[test]
fn a_loaded_checkpoint_predicts_raw_signals_in_the_targets_units() {
    let raw = SyntheticSpectra {
        samples: 160,
        length: 64,
        seed: 4,
        ..Default::default()
    }
    .generate()
    .expect("valid");
    // Targets far from zero and wide, so standardized units and the
    // target's units cannot be mistaken for one another.
    let shifted = raw.targets().mapv(|t| 1000.0 + 50.0 * t);
    let data = Dataset::new(raw.signals().clone(), shifted).expect("same rows");
    let (train, validation) = validation_split(&data, 0.25).expect("splits");
    let preprocessor = Pipeline::standard().fit(&train).expect("fits");
    let config = FitConfig {
        epochs: 8,
        batch_size: 16,
        ..FitConfig::default()
    };
    let model = Sequential::new(&zoo::answer(64), 1).expect("builds");
    let mut trainer = Trainer::new(model, AnyOptimizer::Adam(Adam::new(3e-3)), config);
    trainer
        .fit(
            &preprocessor.transform(&train).expect("transforms"),
            Some(&preprocessor.transform(&validation).expect("transforms")),
            &mut [],
        )
        .expect("trains");
    trainer.preprocessor = Some(preprocessor.clone());

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.kymo");
    trainer.checkpoint().save(&path).expect("saves");
    let mut predictor = Predictor::load(&path).expect("loads");
    let predictions = predictor.predict(&validation).expect("predicts");

    // The same as the preprocessing applied by hand, mapped back by hand.
    let signals = preprocessor
        .transform_signals(validation.signals())
        .expect("transforms");
    let ready = Dataset::new(signals, validation.targets().clone()).expect("same rows");
    let mut reloaded =
        Trainer::from_checkpoint(&Checkpoint::load(&path).expect("loads")).expect("rebuilds");
    let standardized = reloaded.predict_preprocessed(&ready).expect("predicts");
    let by_hand = preprocessor
        .targets_to_units(&standardized)
        .expect("maps back");
    assert_eq!(predictions, by_hand);
    // And the trainer that holds the preprocessor says the same.
    assert_eq!(trainer.predict(&validation).expect("predicts"), predictions);

    // In the target's units: centred near 1000, not near 0.
    let mean = predictions.mean().expect("rows") as f64;
    assert!((mean - 1000.0).abs() < 100.0, "mean prediction {mean}");
    let truth_mean = validation.targets().mean().expect("rows") as f64;
    let rmse = (predictions
        .iter()
        .zip(validation.targets())
        .map(|(p, t)| f64::from(p - t).powi(2))
        .sum::<f64>()
        / predictions.len() as f64)
        .sqrt();
    let spread = validation.targets().std(0.0) as f64;
    assert!(
        rmse < spread,
        "rmse {rmse} against the targets' spread {spread} (mean {truth_mean})"
    );
}

/// A trainer of the answer's model with `seed`, fitted briefly behind
/// `preprocessor`.
fn trained(train: &Dataset, preprocessor: &kymo_data::Preprocessor, seed: u64) -> Trainer {
    let config = FitConfig {
        epochs: 3,
        batch_size: 16,
        seed,
        ..FitConfig::default()
    };
    let model = Sequential::new(&zoo::answer(64), seed).expect("builds");
    let mut trainer = Trainer::new(model, AnyOptimizer::Adam(Adam::new(3e-3)), config);
    trainer
        .fit(
            &preprocessor.transform(train).expect("transforms"),
            None,
            &mut [],
        )
        .expect("trains");
    trainer.preprocessor = Some(preprocessor.clone());
    trainer
}

#[test]
fn an_ensemble_manifest_averages_its_members_and_refuses_mixed_preprocessing() {
    let data = SyntheticSpectra {
        samples: 80,
        length: 64,
        seed: 5,
        ..Default::default()
    }
    .generate()
    .expect("valid");
    let (train, validation) = validation_split(&data, 0.25).expect("splits");
    let preprocessor = Pipeline::standard().fit(&train).expect("fits");
    let mut members: Vec<Trainer> = (0..3).map(|s| trained(&train, &preprocessor, s)).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, member) in members.iter_mut().enumerate() {
        let file = dir
            .path()
            .join(kymo_train::EnsembleManifest::member_file(i));
        member.checkpoint().save(&file).expect("saves");
    }
    let manifest = kymo_train::EnsembleManifest::numbered(3)
        .write(dir.path())
        .expect("writes");
    let mut ensemble = Predictor::load(&manifest).expect("loads");
    assert_eq!(ensemble.ensemble_size(), 3);
    let averaged = ensemble.predict(&validation).expect("predicts");

    // The mean of the members' own predictions, summed in member order.
    let each: Vec<_> = members
        .iter_mut()
        .map(|m| m.predict(&validation).expect("predicts"))
        .collect();
    assert_ne!(each[0], each[1], "different seeds train different networks");
    let preprocessed = preprocessor.transform(&validation).expect("transforms");
    let mut sum = members[0]
        .predict_preprocessed(&preprocessed)
        .expect("predicts");
    for member in &mut members[1..] {
        sum += &member
            .predict_preprocessed(&preprocessed)
            .expect("predicts");
    }
    let by_hand = preprocessor
        .targets_to_units(&(sum / 3.0))
        .expect("maps back");
    assert_eq!(averaged, by_hand);

    // A member behind other preprocessing does not belong to the ensemble.
    let other = Pipeline::standard().fit(&validation).expect("fits");
    let mut stranger = trained(&train, &other, 9);
    let checkpoints = [members[0].checkpoint(), stranger.checkpoint()];
    let error = Predictor::from_checkpoints(&checkpoints)
        .err()
        .expect("refused");
    assert!(error.to_string().contains("member 2"), "{error}");
}
