//! Keras's weight constraints and regularizers, read from a file and
//! trained as Keras trains them. Constraints: `constrained.keras` (MaxNorm
//! over two axes and NonNeg on a Conv1D, UnitNorm and MinMaxNorm on a
//! Dense, SGD(0.1)) takes one step, which must land on
//! `constrained_after.keras`. Regularizers: `penalized.keras` (a Conv1D with L2 on its kernel and L1 on
//! its bias, a Dense with L1L2, MSE and SGD(0.1)) takes one
//! `train_on_batch` step in kymo, which must return Keras's loss (the MSE
//! plus the penalties) and land on the weights of `penalized_after.keras`,
//! Keras's own step. Activity regularizers: `activity.keras` (a
//! functional model with an `activity_regularizer` on a Conv1D and a Dense
//! and an `ActivityRegularization` layer between them) takes one step the
//! same way, and its evaluation after Keras's step must return Keras's
//! loss. Fixtures: `tests/fixtures/keras_files/make_penalty_files.py`,
//! `make_constraint_files.py` and `make_activity_files.py`.

use std::path::PathBuf;

use kymo_layers::{Constraint, LayerSpec, Regularizer};
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

/// `name.keras` (with `expected_name.json`'s batch) trained one step in
/// kymo with the file's compile settings: the step must return Keras's
/// loss and land every weight on `name_after.keras`'s, Keras's own step.
/// Returns the model's weights after kymo's step.
fn one_step_lands_on_keras_s(
    name: &str,
    spec: kymo_layers::ArchitectureSpec,
) -> Vec<kymo_layers::NamedArray<f32>> {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("expected_{name}.json"))).expect("fixture"),
    )
    .expect("JSON");
    let file = kymo_keras::read(&fixture(&format!("{name}.keras"))).expect("reads");
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
    let mut model = spec.build::<f32>(0).expect("builds");
    model.set_weights(&file.weights).expect("weights fit");
    let mut trainer = Trainer::new(model, recipe.optimizer(), recipe.fit_config(0));
    let (loss, _) = trainer.train_on_batch(x, &y).expect("a step");
    let keras_loss = expected["loss"].as_f64().expect("a number");
    assert!(
        (loss - keras_loss).abs() <= 1e-5 * keras_loss,
        "{name}: kymo {loss} against Keras {keras_loss}"
    );
    trainer.model.get_weights()
}

/// The largest difference between `mine` and Keras's weights after its
/// step, per weight, after checking that the step moved each weight.
fn distances_from_keras(name: &str, mine: &[kymo_layers::NamedArray<f32>]) -> Vec<f32> {
    let before = kymo_keras::read(&fixture(&format!("{name}.keras"))).expect("reads");
    let after = kymo_keras::read(&fixture(&format!("{name}_after.keras"))).expect("reads");
    mine.iter()
        .zip(&after.weights)
        .zip(&before.weights)
        .map(|((mine, keras), old)| {
            assert_eq!(mine.name, keras.name);
            let moved = (&keras.array - &old.array)
                .mapv(f32::abs)
                .fold(0.0f32, |a, &b| a.max(b));
            assert!(moved > 1e-4, "{}: Keras moved it by {moved}", mine.name);
            (&mine.array - &keras.array)
                .mapv(f32::abs)
                .fold(0.0f32, |a, &b| a.max(b))
        })
        .collect()
}

#[test]
fn one_sgd_step_with_regularizers_lands_on_keras_s_loss_and_weights() {
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
    let mine = one_step_lands_on_keras_s("penalized", file.spec.clone());
    // Within float32 rounding of the step, which moved every weight.
    for off in distances_from_keras("penalized", &mine) {
        assert!(off <= 1e-6, "{off} from Keras's");
    }
}

#[test]
fn one_sgd_step_with_constraints_projects_the_weights_as_keras_does() {
    let file = kymo_keras::read(&fixture("constrained.keras")).expect("reads");
    let stack = file.spec.as_sequential().expect("a stack");
    let constraints: Vec<_> = stack
        .layers
        .iter()
        .flat_map(LayerSpec::constraints)
        .flatten()
        .collect();
    assert_eq!(
        constraints,
        [
            &Constraint::MaxNorm {
                max_value: 0.5,
                axis: vec![0, 1]
            },
            &Constraint::NonNeg,
            &Constraint::UnitNorm { axis: vec![0] },
            &Constraint::MinMaxNorm {
                min_value: 0.2,
                max_value: 0.4,
                rate: 0.5,
                axis: vec![0]
            },
        ]
    );
    let mine = one_step_lands_on_keras_s("constrained", file.spec.clone());
    for (off, weight) in distances_from_keras("constrained", &mine).iter().zip(&mine) {
        assert!(*off <= 1e-6, "{}: {off} from Keras's", weight.name);
    }
    // Every constraint binds in this step: without them, each weight
    // lands elsewhere.
    let mut free = file.spec.clone();
    if let kymo_layers::ArchitectureSpec::Sequential(stack) = &mut free {
        for layer in &mut stack.layers {
            match layer {
                LayerSpec::Conv1D(c) => (c.kernel_constraint, c.bias_constraint) = (None, None),
                LayerSpec::Dense(d) => (d.kernel_constraint, d.bias_constraint) = (None, None),
                _ => {}
            }
        }
    }
    let unconstrained = one_step_lands_on_keras_s("constrained", free);
    for (off, weight) in distances_from_keras("constrained", &unconstrained)
        .iter()
        .zip(&mine)
    {
        assert!(
            *off > 1e-3,
            "{}: the constraint changed it by only {off}",
            weight.name
        );
    }
}

/// `name.keras` written back by kymo reads as the same spec.
fn a_written_file_reads_back_as_the_same_spec(name: &str) {
    let file = kymo_keras::read(&fixture(&format!("{name}.keras"))).expect("reads");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("written.keras");
    kymo_keras::write_keras(file.model::<f32>().expect("builds").as_ref(), &path).expect("writes");
    let back = kymo_keras::read(&path).expect("reads its own file");
    assert_eq!(back.spec, file.spec);
}

#[test]
fn a_file_kymo_writes_keeps_the_constraints() {
    a_written_file_reads_back_as_the_same_spec("constrained");
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

/// `activity.keras`'s model without its `ActivityRegularization` nodes:
/// each read through to the node it regularizes.
fn without_activity_penalties(
    spec: &kymo_layers::ArchitectureSpec,
) -> kymo_layers::ArchitectureSpec {
    let kymo_layers::ArchitectureSpec::Graph(graph) = spec else {
        panic!("a functional model");
    };
    let mut graph = graph.clone();
    let skipped: Vec<(String, String)> = graph
        .nodes
        .iter()
        .filter(|node| matches!(node.layer, LayerSpec::ActivityRegularization(_)))
        .map(|node| {
            (
                node.layer.name().unwrap_or_default().into(),
                node.inputs[0].clone(),
            )
        })
        .collect();
    graph
        .nodes
        .retain(|node| !matches!(node.layer, LayerSpec::ActivityRegularization(_)));
    let through = |name: &mut String| {
        if let Some((_, read)) = skipped.iter().find(|(skip, _)| skip == name) {
            *name = read.clone();
        }
    };
    for node in &mut graph.nodes {
        node.inputs.iter_mut().for_each(through);
    }
    graph.output.iter_mut().for_each(through);
    kymo_layers::ArchitectureSpec::Graph(graph)
}

#[test]
fn activity_regularizers_train_and_evaluate_as_keras_s() {
    let file = kymo_keras::read(&fixture("activity.keras")).expect("reads");
    let kymo_layers::ArchitectureSpec::Graph(graph) = &file.spec else {
        panic!("a functional model");
    };
    // Keras's own layer, and a node after each layer with an
    // `activity_regularizer`, which the next layer reads.
    let penalties: Vec<(&str, f64, f64)> = graph
        .nodes
        .iter()
        .filter_map(|node| match &node.layer {
            LayerSpec::ActivityRegularization(a) => Some((node.inputs[0].as_str(), a.l1, a.l2)),
            _ => None,
        })
        .collect();
    let expected = [
        ("conv", 0.0, 0.01),
        ("flatten", 0.001, 0.002),
        ("head", 0.05, 0.0),
    ];
    assert_eq!(penalties.len(), expected.len(), "{graph:?}");
    for ((read, l1, l2), (want_read, want_l1, want_l2)) in penalties.iter().zip(expected) {
        assert_eq!(*read, want_read);
        assert!(
            (l1 - want_l1).abs() < 1e-9 && (l2 - want_l2).abs() < 1e-9,
            "{graph:?}"
        );
    }
    assert_eq!(
        graph.output.as_deref(),
        Some("head_activity_regularization")
    );
    let mine = one_step_lands_on_keras_s("activity", file.spec.clone());
    for off in distances_from_keras("activity", &mine) {
        assert!(off <= 1e-6, "{off} from Keras's");
    }
    // Evaluation after Keras's step: the MSE plus every sample's penalty
    // over their number, whatever the batches.
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("expected_activity.json")).expect("fixture"),
    )
    .expect("JSON");
    let x = ndarray::Array3::from_shape_vec((10, 32, 2), numbers(&expected["x_eval"]))
        .expect("shape")
        .permuted_axes([0, 2, 1])
        .as_standard_layout()
        .into_owned();
    let y = Array2::from_shape_vec((10, 1), numbers(&expected["y_eval"])).expect("shape");
    let data = kymo_data::Dataset::new(x, y).expect("a data set");
    let after = kymo_keras::read(&fixture("activity_after.keras")).expect("reads");
    let evaluate = |spec: &kymo_layers::ArchitectureSpec| {
        let mut model = spec.build::<f32>(0).expect("builds");
        model.set_weights(&after.weights).expect("weights fit");
        let recipe = after.recipe(kymo_train::Recipe::default());
        let mut trainer = Trainer::new(model, recipe.optimizer(), recipe.fit_config(0));
        // A prediction before leaves nothing in the evaluation's loss.
        trainer.predict_preprocessed(&data).expect("predicts");
        trainer.evaluate(&data).expect("evaluates").loss
    };
    let keras_loss = expected["eval_loss"].as_f64().expect("a number");
    let loss = evaluate(&after.spec);
    assert!(
        (loss - keras_loss).abs() <= 1e-5 * keras_loss,
        "kymo {loss} against Keras {keras_loss}"
    );
    // Without the penalties the loss is another: the test sees them.
    let bare = evaluate(&without_activity_penalties(&after.spec));
    assert!(
        (bare - keras_loss).abs() > 1e-3 * keras_loss,
        "{bare} against {keras_loss}"
    );
}

#[test]
fn a_file_kymo_writes_keeps_the_activity_regularization() {
    a_written_file_reads_back_as_the_same_spec("activity");
}
