//! Sequential models: the seed's summaries, build-time shape errors, specs
//! that round-trip, and Keras-style weight exchange.

use kymo_layers::Model;
use kymo_layers::{zoo, LayerError, Mode, ModelSpec, NamedArray, Sequential};
use ndarray::ArrayD;

#[test]
fn the_question_model_has_607585_parameters_and_sees_325_points() {
    let model = Sequential::<f32>::new(&zoo::original(1040), 0).expect("builds");
    let summary = model.summary();
    assert_eq!(summary.total_params, 607_585);
    assert_eq!(summary.receptive_field(), 325);
    let head = summary.rows.last().expect("has layers");
    assert_eq!(head.params, 133_121);
    let text = summary.to_string();
    assert!(
        text.contains("607,585") && text.contains("ConvLayer1 (Conv1D)"),
        "{text}"
    );
    // Shapes as Keras's model.summary() prints them: (None, steps, channels).
    let conv1 = text
        .lines()
        .find(|line| line.starts_with("ConvLayer1 (Conv1D)"))
        .expect("a row");
    assert!(conv1.contains("(None, 1040, 32)"), "{conv1}");
}

#[test]
fn the_answer_model_has_164129_parameters_and_sees_11_points() {
    let model = Sequential::<f32>::new(&zoo::answer(1040), 0).expect("builds");
    assert_eq!(model.count_params(), 164_129);
    assert_eq!(model.summary().receptive_field(), 11);
}

#[test]
fn batch_normalization_adds_non_trainable_moving_statistics() {
    let model = Sequential::<f32>::new(&zoo::answer_bn(1040), 0).expect("builds");
    // gamma, beta, moving mean and variance for 32 + 64 + 128 channels.
    assert_eq!(model.count_params(), 164_129 + 4 * 224);
    assert_eq!(model.count_trainable_params(), 164_129 + 2 * 224);
}

#[test]
fn keras_default_names_count_up_per_kind() {
    let spec = ModelSpec::from_json_str(
        r#"{"input": {"channels": 1, "length": 16}, "layers": [
            {"type": "Conv1D", "filters": 2, "kernel_size": 3},
            {"type": "Conv1D", "filters": 2, "kernel_size": 3},
            {"type": "LeakyReLU"},
            {"type": "Flatten"},
            {"type": "Dense", "units": 1}]}"#,
    )
    .expect("parses");
    assert_eq!(
        spec.resolved_names().expect("unique"),
        vec!["conv1d", "conv1d_1", "leaky_re_lu", "flatten", "dense"]
    );
}

#[test]
fn a_layer_that_cannot_take_its_input_fails_at_build_time_naming_both_shapes() {
    let mut spec = zoo::answer(1040);
    // Move Flatten before the last conv block: Conv1D then sees flat features.
    let flatten = spec.layers.remove(9);
    spec.layers.insert(6, flatten);
    let err = Sequential::<f32>::new(&spec, 0)
        .err()
        .expect("must not build");
    match &err {
        LayerError::InputShape { layer, found, .. } => {
            assert_eq!(layer, "ConvLayer3");
            assert_eq!(found, "(None, 66560)");
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn a_pool_larger_than_a_valid_input_is_a_build_error() {
    let spec = ModelSpec::from_toml_str(
        r#"
        input = { channels = 1, length = 4 }
        [[layers]]
        type = "MaxPooling1D"
        pool_size = 8
        name = "too_big"
        "#,
    )
    .expect("parses");
    let err = Sequential::<f32>::new(&spec, 0)
        .err()
        .expect("must not build");
    assert!(err.to_string().contains("too_big"), "{err}");
}

#[test]
fn specs_round_trip_through_json_and_toml() {
    for spec in [zoo::original(1040), zoo::answer_bn(1040)] {
        let model = Sequential::<f32>::new(&spec, 0).expect("builds");
        let resolved = model.spec();
        let json = ModelSpec::from_json_str(&resolved.to_json()).expect("json parses");
        assert_eq!(json, resolved);
        let toml = ModelSpec::from_toml_str(&resolved.to_toml().expect("toml serializes"))
            .expect("toml parses");
        assert_eq!(toml, resolved);
    }
}

#[test]
fn unknown_fields_are_refused_with_their_name() {
    let err = ModelSpec::from_json_str(
        r#"{"input": {"channels": 1, "length": 8}, "layers": [{"type": "Dense", "unit": 3}]}"#,
    )
    .expect_err("typo must not pass");
    assert!(err.to_string().contains("unit"), "{err}");
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let a = Sequential::<f32>::new(&zoo::answer(64), 7)
        .expect("builds")
        .get_weights();
    let b = Sequential::<f32>::new(&zoo::answer(64), 7)
        .expect("builds")
        .get_weights();
    let c = Sequential::<f32>::new(&zoo::answer(64), 8)
        .expect("builds")
        .get_weights();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn set_weights_checks_names_and_shapes_before_writing() {
    let mut model = Sequential::<f64>::new(&zoo::answer(64), 1).expect("builds");
    let before = model.get_weights();
    let mut wrong = before.clone();
    wrong[0].array = ArrayD::zeros(vec![32, 1, 3]);
    wrong[1].array.fill(5.0);
    match model.set_weights(&wrong) {
        Err(LayerError::WeightShape {
            name,
            expected,
            found,
        }) => {
            assert_eq!(name, "ConvLayer1/kernel");
            assert_eq!((expected, found), (vec![32, 1, 2], vec![32, 1, 3]));
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    assert_eq!(model.get_weights(), before, "nothing written on error");
    let mut unknown = before.clone();
    unknown.push(NamedArray {
        name: "ghost/kernel".into(),
        array: ArrayD::zeros(vec![1]),
    });
    assert!(matches!(
        model.set_weights(&unknown),
        Err(LayerError::UnknownWeight { .. })
    ));
    let mut doubled = before.clone();
    for w in &mut doubled {
        w.array.mapv_inplace(|v| v * 2.0);
    }
    model.set_weights(&doubled).expect("same names and shapes");
    assert_eq!(model.get_weights(), doubled);
}

#[test]
fn a_wrongly_shaped_batch_is_an_error_naming_the_first_layer() {
    let mut model = Sequential::<f32>::new(&zoo::answer(64), 1).expect("builds");
    let err = model
        .forward(ArrayD::zeros(vec![2, 1, 65]), Mode::Inference)
        .expect_err("length 65 != 64");
    assert!(err.to_string().contains("ConvLayer1"), "{err}");
    let err = model
        .backward(ArrayD::zeros(vec![2, 1]))
        .expect_err("no forward yet");
    assert!(matches!(err, LayerError::NoForwardCache { .. }));
}

#[test]
fn whole_model_gradients_match_finite_differences_in_f64() {
    // End-to-end: the answer's model with BatchNormalization, short input.
    let mut model = Sequential::<f64>::new(&zoo::answer_bn(12), 3).expect("builds");
    let mut rng = kymo_tensor::SeededRng::new(4, 0);
    let x = ArrayD::from_shape_simple_fn(vec![3, 1, 12], || rng.uniform_in(-1.0, 1.0));
    let loss = |m: &mut Sequential<f64>, x: &ArrayD<f64>| {
        m.forward(x.clone(), Mode::Train).expect("fits").sum()
    };
    model.zero_grad();
    let y = model.forward(x.clone(), Mode::Train).expect("fits");
    model.backward(ArrayD::ones(y.raw_dim())).expect("fits");
    let names = model.parameter_names();
    let grads: Vec<ArrayD<f64>> = model.parameters().iter().map(|p| p.grad.clone()).collect();
    let h = 1e-6;
    for (p_index, name) in names.iter().enumerate() {
        if !model.parameters()[p_index].trainable {
            continue;
        }
        let len = model.parameters()[p_index].value.len();
        for i in 0..len.min(2) {
            let nudge = |m: &mut Sequential<f64>, d: f64| {
                if let Some(v) = m.parameters_mut()[p_index].value.iter_mut().nth(i) {
                    *v += d;
                }
            };
            nudge(&mut model, h);
            let plus = loss(&mut model, &x);
            nudge(&mut model, -2.0 * h);
            let minus = loss(&mut model, &x);
            nudge(&mut model, h);
            let numeric = (plus - minus) / (2.0 * h);
            let analytic = grads[p_index].iter().nth(i).copied().unwrap_or(f64::NAN);
            assert!(
                (numeric - analytic).abs() <= 1e-6 + 1e-5 * numeric.abs().max(analytic.abs()),
                "{name}[{i}]: {analytic} vs {numeric}"
            );
        }
    }
    assert!(names.iter().any(|n| n.ends_with("/gamma")));
}

/// Inference normalizes in the input's own buffer: the output keeps the
/// layer's shape (features after a Dense, a signal after a Conv1D) and
/// is `γ·(x − moving mean)/sqrt(moving variance + ε) + β`.
#[test]
fn batch_normalization_in_inference_keeps_its_shape_and_uses_the_moving_statistics() {
    let spec = ModelSpec::from_toml_str(
        r#"
[input]
channels = 2
length = 8

[[layers]]
type = "Flatten"

[[layers]]
type = "BatchNormalization"
"#,
    )
    .expect("parses");
    let mut model = Sequential::<f32>::new(&spec, 0).expect("builds");
    let mut weights = model.get_weights();
    for named in &mut weights {
        let fill = match named.name.rsplit('/').next() {
            Some("gamma") => 2.0,
            Some("beta") => 0.5,
            Some("moving_mean") => 1.0,
            Some("moving_variance") => 4.0,
            _ => continue,
        };
        named.array.fill(fill);
    }
    model.set_weights(&weights).expect("same shapes");
    let input = ArrayD::from_shape_fn(vec![3, 2, 8], |i| (i[0] + i[1] + i[2]) as f32);
    let output = model.forward(input.clone(), Mode::Inference).expect("runs");
    assert_eq!(output.shape(), &[3, 16]);
    let inv_std = 1.0 / (4.0f32 + 1e-3).sqrt();
    for (y, x) in output.iter().zip(input.iter()) {
        assert_eq!(*y, (x - 1.0) * inv_std * 2.0 + 0.5);
    }
}
