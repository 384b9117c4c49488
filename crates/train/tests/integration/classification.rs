//! Classification end to end in the library: a softmax head trained with
//! sparse categorical cross-entropy learns to tell three wave shapes apart,
//! with accuracy in the history; class weights rescue a rare class that the
//! unweighted loss lets the model ignore; the class names travel with the
//! checkpoint to the predictor.

use kymo_data::{stratified_split, Dataset, Metric, Pipeline};
use kymo_layers::ModelSpec;
use kymo_tensor::SeededRng;
use kymo_train::{ClassWeight, ClassWeightRule, Loss, Predictor, Recipe, Trainer};
use ndarray::{Array2, Array3};

/// `counts[k]` noisy signals of class `k`: a sine of `k + 1` periods.
fn waves(counts: &[usize], seed: u64) -> Dataset {
    let n: usize = counts.iter().sum();
    let length = 32;
    let mut rng = SeededRng::new(seed, 0);
    let mut signals = Array3::<f32>::zeros((n, 1, length));
    let mut labels = Array2::<f32>::zeros((n, 1));
    let mut row = 0;
    for (class, &count) in counts.iter().enumerate() {
        for _ in 0..count {
            let phase = rng.uniform() * std::f64::consts::TAU;
            for l in 0..length {
                let angle =
                    (class + 1) as f64 * std::f64::consts::TAU * l as f64 / length as f64 + phase;
                signals[[row, 0, l]] = (angle.sin() + 0.3 * rng.normal()) as f32;
            }
            labels[[row, 0]] = class as f32;
            row += 1;
        }
    }
    let names = (0..counts.len())
        .map(|k| format!("wave{}", k + 1))
        .collect();
    Dataset::new(signals, labels)
        .expect("finite")
        .with_classes(names)
        .expect("class indices")
}

fn classifier(classes: usize) -> ModelSpec {
    ModelSpec::from_toml_str(&format!(
        r#"
        input = {{ channels = 1, length = 32 }}
        [[layers]]
        type = "Conv1D"
        filters = 8
        kernel_size = 5
        padding = "same"
        activation = "relu"
        [[layers]]
        type = "GlobalAveragePooling1D"
        [[layers]]
        type = "Dense"
        units = {classes}
        activation = "softmax"
        "#
    ))
    .expect("valid spec")
}

fn recipe() -> Recipe {
    Recipe {
        batch_size: 16,
        epochs: 40,
        learning_rate: 1e-2,
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        metrics: vec![Metric::Accuracy, Metric::BalancedAccuracy],
        ..Recipe::default()
    }
}

#[test]
fn a_softmax_classifier_learns_and_its_checkpoint_names_the_classes() {
    let data = waves(&[40, 40, 40], 1);
    let (train, validation) = stratified_split(&data, 0.25, 0).expect("labelled");
    let preprocessor = Pipeline::standard().fit(&train).expect("fits");
    let (train_ready, validation_ready) = (
        preprocessor.transform(&train).expect("same shape"),
        preprocessor.transform(&validation).expect("same shape"),
    );
    // Labels are not standardized.
    assert_eq!(train_ready.targets(), train.targets());
    let recipe = recipe();
    let spec = classifier(3);
    let mut trainer = Trainer::new(
        kymo_layers::Sequential::<f32>::new(&spec, 0).expect("builds"),
        recipe.optimizer(),
        recipe.fit_config(0),
    );
    trainer.preprocessor = Some(preprocessor);
    recipe
        .fit_with(
            &mut trainer,
            &train_ready,
            &validation_ready,
            Default::default(),
        )
        .expect("trains");
    let last = trainer.history.epochs.last().expect("epochs ran");
    let first = &trainer.history.epochs[0];
    assert!(
        last.loss < 0.5 * first.loss,
        "{} -> {}",
        first.loss,
        last.loss
    );
    let accuracy = last.metrics["val_accuracy"];
    assert!(accuracy >= 0.9, "validation accuracy {accuracy}");
    // The predictor reads the class names back with the weights.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("best.kymo");
    trainer.checkpoint().save(&path).expect("saves");
    let mut predictor = Predictor::load(&path).expect("loads");
    assert_eq!(
        predictor.classes().expect("classes"),
        ["wave1", "wave2", "wave3"]
    );
    let probabilities = predictor.predict(&validation).expect("predicts");
    assert_eq!(probabilities.ncols(), 3);
    for row in probabilities.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5, "a softmax row sums to 1");
    }
    assert!(Metric::Accuracy.compute(probabilities.view(), validation.targets()) >= 0.9);
}

#[test]
fn balanced_class_weights_lift_a_rare_class() {
    // 60 / 60 / 6: the rare class is 5% of training rows.
    let data = waves(&[60, 60, 6], 2);
    let test = waves(&[20, 20, 20], 3);
    let run = |class_weight: Option<ClassWeight>| -> f64 {
        let recipe = Recipe {
            epochs: 15,
            class_weight,
            ..recipe()
        };
        let preprocessor = Pipeline::standard().fit(&data).expect("fits");
        let ready = preprocessor.transform(&data).expect("same shape");
        let spec = classifier(3);
        let mut trainer = Trainer::new(
            kymo_layers::Sequential::<f32>::new(&spec, 5).expect("builds"),
            recipe.optimizer(),
            recipe.fit_config(5),
        );
        let no_validation = Recipe {
            validation: false,
            ..recipe
        };
        no_validation
            .fit_with(&mut trainer, &ready, &ready, Default::default())
            .expect("trains");
        let predictions = trainer
            .predict_preprocessed(&preprocessor.transform(&test).expect("same shape"))
            .expect("predicts");
        // Recall of the rare class on a balanced test set.
        let truth = test.labels().expect("labelled");
        let predicted = kymo_data::predicted_classes(predictions.view());
        let rare: Vec<_> = truth
            .iter()
            .zip(&predicted)
            .filter(|(t, _)| **t == 2)
            .collect();
        rare.iter().filter(|(t, p)| t == p).count() as f64 / rare.len() as f64
    };
    let plain = run(None);
    let weighted = run(Some(ClassWeight::Named(ClassWeightRule::Balanced)));
    assert!(
        weighted > plain,
        "rare-class recall: plain {plain}, balanced {weighted}"
    );
}
