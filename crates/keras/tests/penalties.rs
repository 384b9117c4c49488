//! Keras's weight regularizers, read from a file and trained as Keras
//! trains them: `penalized.keras` (a Conv1D with L2 on its kernel and L1 on
//! its bias, a Dense with L1L2, MSE and SGD(0.1)) takes one
//! `train_on_batch` step in kymo, which must return Keras's loss (the MSE
//! plus the penalties) and land on the weights of `penalized_after.keras`,
//! Keras's own step. Fixtures: `tests/fixtures/keras_files/
//! make_penalty_files.py`.

use std::path::PathBuf;

use kymo_layers::{LayerSpec, Regularizer};
use kymo_train::Trainer;
use ndarray::{Array2, ArrayD};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/keras_files")
        .join(name)
}

fn numbers(value: &Value) -> Vec<f32> {
    match value {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        number => vec![number.as_f64().expect("a number") as f32],
    }
}

#[test]
fn one_sgd_step_with_regularizers_lands_on_keras_s_loss_and_weights() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("expected_penalized.json")).expect("fixture"),
    )
    .expect("JSON");
    let file = kymo_keras::read(&fixture("penalized.keras")).expect("reads");
    let LayerSpec::Conv1D(conv) = &file.spec.as_sequential().expect("a stack").layers[0] else {
        panic!("the first layer is the Conv1D");
    };
    assert_eq!(
        conv.kernel_regularizer.map(|r| r.l2 as f32),
        Some(0.01),
        "{conv:?}"
    );
    assert!(
        matches!(conv.bias_regularizer, Some(Regularizer { l1, l2 }) if l1 as f32 == 0.02 && l2 == 0.0)
    );

    // Keras's (samples, steps, channels) as kymo's (samples, channels, steps).
    let x = numbers(&expected["x"]);
    let (samples, steps, channels) = (8, 32, 2);
    let x = ArrayD::from_shape_vec(vec![samples, steps, channels], x)
        .expect("shape")
        .permuted_axes(vec![0, 2, 1])
        .as_standard_layout()
        .into_owned();
    let y = Array2::from_shape_vec((samples, 1), numbers(&expected["y"])).expect("shape");
    let recipe = file.recipe(kymo_train::Recipe::default());
    assert_eq!(recipe.optimizer, kymo_train::OptimizerName::SGD);
    let mut trainer = Trainer::new(
        file.model::<f32>().expect("weights fit"),
        recipe.optimizer(),
        recipe.fit_config(0),
    );
    let (loss, _) = trainer.train_on_batch(x, &y).expect("a step");
    let keras_loss = expected["loss"].as_f64().expect("a number");
    assert!(
        (loss - keras_loss).abs() <= 1e-5 * keras_loss,
        "kymo {loss} against Keras {keras_loss}"
    );

    let after = kymo_keras::read(&fixture("penalized_after.keras")).expect("reads");
    let before = file.weights.iter();
    for ((mine, keras), old) in trainer
        .model
        .get_weights()
        .iter()
        .zip(&after.weights)
        .zip(before)
    {
        assert_eq!(mine.name, keras.name);
        let moved = (&keras.array - &old.array)
            .mapv(f32::abs)
            .fold(0.0f32, |a, &b| a.max(b));
        let off = (&mine.array - &keras.array)
            .mapv(f32::abs)
            .fold(0.0f32, |a, &b| a.max(b));
        // Within float32 rounding of the step, which moved every weight.
        assert!(moved > 1e-4, "{}: Keras moved it by {moved}", mine.name);
        assert!(
            off <= 1e-6,
            "{}: {off} from Keras's (the step moved it {moved})",
            mine.name
        );
    }
}

#[test]
fn a_file_kymo_writes_keeps_the_regularizers() {
    let file = kymo_keras::read(&fixture("penalized.keras")).expect("reads");
    let spec = file.spec.as_sequential().expect("a stack").clone();
    let model = kymo_layers::Sequential::<f32>::new(&spec, 0).expect("builds");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("written.keras");
    kymo_keras::write_keras(&model, &path).expect("writes");
    let back = kymo_keras::read(&path).expect("reads its own file");
    let regularizers = |spec: &kymo_layers::ModelSpec| -> Vec<Option<Regularizer>> {
        spec.layers
            .iter()
            .flat_map(LayerSpec::regularizers)
            .collect()
    };
    let written = regularizers(back.spec.as_sequential().expect("a stack"));
    assert_eq!(written, regularizers(&spec));
    assert_eq!(written.iter().flatten().count(), 3);
}
