//! The doctor names what is wrong, and stays quiet about what is not.

use kymo_data::{validation_split, Dataset, DatasetScaler, SyntheticSpectra};
use kymo_doctor::{
    self as doctor, data_checks, prescribe, static_checks, Diagnosis, ProbeConfig, Recipe, Severity,
};
use kymo_layers::Model;
use kymo_layers::{zoo, DropoutSpec, LayerSpec, Sequential};

fn ids(findings: &[doctor::Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.id.as_str()).collect()
}

#[test]
fn the_question_model_and_setup_get_every_static_finding_the_answer_names() {
    let model = Sequential::<f32>::new(&zoo::original(1040), 0).expect("builds");
    let findings = static_checks(&model, &Recipe::default(), Some(128));
    let found = ids(&findings);
    for id in [
        "batch-one",
        "no-downsampling",
        "oversized-head",
        "no-early-stopping",
        "no-best-checkpoint",
    ] {
        assert!(found.contains(&id), "missing {id}: {found:?}");
    }
    let head = findings
        .iter()
        .find(|f| f.id == "oversized-head")
        .expect("raised");
    assert!(
        head.measured.contains("22%") && head.measured.contains("133120"),
        "{}",
        head.measured
    );
    assert_eq!(head.severity, Severity::High);
}

#[test]
fn the_answer_model_is_told_its_head_holds_81_percent() {
    let model = Sequential::<f32>::new(&zoo::answer(1040), 0).expect("builds");
    let setup = Recipe {
        batch_size: 32,
        ..Recipe::default()
    };
    let findings = static_checks(&model, &setup, None);
    let head = findings
        .iter()
        .find(|f| f.id == "oversized-head")
        .expect("raised");
    assert!(head.measured.contains("81%"), "{}", head.measured);
    assert!(!ids(&findings).contains(&"batch-one"));
}

#[test]
fn the_prescription_raises_nothing_high() {
    let model = Sequential::<f32>::new(&zoo::original(1040), 0).expect("builds");
    let diagnosis = Diagnosis::new(static_checks(&model, &Recipe::default(), Some(128)));
    let (spec, setup) = prescribe(
        &zoo::original(1040).into(),
        &Recipe::default(),
        &diagnosis,
        None,
    );
    assert_eq!(spec, zoo::doctor(1040).into());
    assert!(setup.batch_size >= 32 && setup.early_stopping && setup.checkpoint_best);
    let fixed = spec.build::<f32>(0).expect("builds");
    let findings = static_checks(fixed.as_ref(), &setup, Some(128));
    let worst = findings.iter().map(|f| f.severity).max();
    assert!(
        worst.is_none_or(|s| s < Severity::High),
        "{:?}",
        ids(&findings)
    );
}

#[test]
fn batch_normalization_on_a_small_data_set_is_told_its_statistics_never_settle() {
    let model = Sequential::<f32>::new(&zoo::answer_bn(1040), 0).expect("builds");
    let setup = Recipe {
        batch_size: 32,
        ..Recipe::default()
    };
    // 128 samples, 25 epochs at batch 32: 100 steps, 0.99^100 = 37% left.
    let found = static_checks(&model, &setup, Some(128));
    let unsettled = found
        .iter()
        .find(|f| f.id == "batchnorm-unsettled")
        .expect("raised");
    assert!(unsettled.measured.contains("37%"), "{}", unsettled.measured);
    // With 20,000 samples the statistics settle.
    assert!(!ids(&static_checks(&model, &setup, Some(20_000))).contains(&"batchnorm-unsettled"));
}

#[test]
fn stacked_linear_layers_and_heavy_dropout_are_named() {
    let mut spec = zoo::doctor(256);
    let head = spec.layers.len() - 2;
    if let LayerSpec::Dense(d) = &mut spec.layers[head] {
        d.activation = kymo_layers::Activation::Linear;
    }
    spec.layers.insert(
        head,
        LayerSpec::Dropout(DropoutSpec {
            rate: 0.7,
            seed: None,
            name: Some("drop".into()),
        }),
    );
    let model = Sequential::<f32>::new(&spec, 0).expect("builds");
    let found = static_checks(
        &model,
        &Recipe {
            batch_size: 32,
            ..Recipe::default()
        },
        None,
    );
    assert!(
        ids(&found).contains(&"heavy-dropout") && ids(&found).contains(&"stacked-linear"),
        "{:?}",
        ids(&found)
    );
}

/// A small CNN no structural rule replaces (strided pools, a global
/// pooling head) with L2(`l2`) on each Conv1D kernel.
fn regularized_cnn(length: usize, l2: f64) -> kymo_layers::ArchitectureSpec {
    let conv = |kernel: usize| {
        format!(
            "[[layers]]\ntype = \"Conv1D\"\nfilters = 8\nkernel_size = {kernel}\npadding = \"same\"\nactivation = \"relu\"\nkernel_regularizer = {{ l2 = {l2:?} }}\n[[layers]]\ntype = \"MaxPooling1D\"\npool_size = 4\n"
        )
    };
    kymo_layers::ArchitectureSpec::from_toml_str(&format!(
        "input = {{ channels = 1, length = {length} }}\n{}{}[[layers]]\ntype = \"GlobalAveragePooling1D\"\n[[layers]]\ntype = \"Dense\"\nunits = 1\n",
        conv(5),
        conv(3)
    ))
    .expect("a valid spec")
}

#[test]
fn heavy_regularization_is_named_and_the_prescription_caps_it_at_keras_s_default() {
    let spec = regularized_cnn(256, 0.5);
    let model = spec.build::<f32>(0).expect("builds");
    let setup = Recipe {
        batch_size: 32,
        early_stopping: true,
        checkpoint_best: true,
        ..Recipe::default()
    };
    let findings = static_checks(model.as_ref(), &setup, None);
    assert!(
        ids(&findings).contains(&"heavy-regularization"),
        "{:?}",
        ids(&findings)
    );
    let (fixed, _) = prescribe(&spec, &setup, &Diagnosis::new(findings), None);
    let kept: Vec<f64> = fixed
        .layer_specs()
        .into_iter()
        .filter_map(|layer| match layer {
            LayerSpec::Conv1D(conv) => conv.kernel_regularizer.map(|r| r.l2),
            _ => None,
        })
        .collect();
    assert!(!kept.is_empty(), "{fixed:?}");
    assert!(kept.iter().all(|&l2| l2 == 0.01), "{kept:?}");
}

#[test]
fn the_probe_judges_a_regularized_model_by_its_mse_not_keras_s_penalized_loss() {
    // L2(1000) on every Conv1D kernel: Keras's loss would be in the
    // thousands, the MSE on standardized targets near 1.
    let spec = regularized_cnn(64, 1000.0);
    let (train, val) = standardized(80, 64);
    let setup = Recipe {
        batch_size: 16,
        ..Recipe::default()
    };
    let config = ProbeConfig {
        epochs: 1,
        ..ProbeConfig::default()
    };
    let (_, stats) = doctor::probe(&spec, &setup, &train, &val, config).expect("probes");
    assert_eq!(stats.val_loss.len(), 1);
    assert!(stats.val_loss[0] < 10.0, "{:?}", stats.val_loss);
    assert!(stats.train_loss[0] < 10.0, "{:?}", stats.train_loss);
}

#[test]
fn verify_judges_a_regularized_arm_s_stability_by_its_mse() {
    // Keras's val_loss of this model is in the thousands: read as it is,
    // every seed would count as blown up (above 10x the mean predictor's).
    let spec = regularized_cnn(64, 1000.0);
    let (train, val) = standardized(80, 64);
    let setup = Recipe {
        batch_size: 16,
        ..Recipe::default()
    };
    let verification =
        doctor::verify(&spec, &setup, &train, &val, &[0, 1], 10, 1.0).expect("verifies");
    assert_eq!(verification.blow_ups, 0, "{verification:?}");
    assert!(verification.median_val_mse < 10.0, "{verification:?}");
}

/// Train and validation splits, standardized on train.
fn standardized(samples: usize, length: usize) -> (Dataset, Dataset) {
    let (train, val) = validation_split(&spectra(samples, length), 0.25).expect("valid");
    let scaler = DatasetScaler::fit(&train).expect("non-empty");
    (
        scaler.transform(&train).expect("fits"),
        scaler.transform(&val).expect("fits"),
    )
}

fn spectra(samples: usize, length: usize) -> Dataset {
    SyntheticSpectra {
        samples,
        length,
        seed: 3,
        ..Default::default()
    }
    .generate()
    .expect("valid")
}

#[test]
fn data_checks_see_scale_leaks_and_the_linear_baseline() {
    let raw = spectra(60, 64);
    let (train, val) = validation_split(&raw, 0.25).expect("valid");
    let found = data_checks(&train, Some(&val), 10_000);
    let names = ids(&found);
    assert!(names.contains(&"inputs-not-standardized"), "{names:?}");
    assert!(names.contains(&"too-few-samples"), "{names:?}");
    let ridge = found
        .iter()
        .find(|f| f.id == "ridge-baseline")
        .expect("always reported with validation");
    assert!(ridge.measured.contains("R²"));
    // Standardized data with validation rows copied into training: a leak.
    let scaler = DatasetScaler::fit(&train).expect("non-empty");
    let (train, val) = (
        scaler.transform(&train).expect("fits"),
        scaler.transform(&val).expect("fits"),
    );
    let leaky = kymo_data::Dataset::new(
        ndarray::concatenate(
            ndarray::Axis(0),
            &[train.signals().view(), val.signals().view()],
        )
        .expect("same shape"),
        ndarray::concatenate(
            ndarray::Axis(0),
            &[train.targets().view(), val.targets().view()],
        )
        .expect("same shape"),
    )
    .expect("valid");
    let names: Vec<String> = data_checks(&leaky, Some(&val), 100)
        .into_iter()
        .map(|f| f.id.to_string())
        .collect();
    assert!(
        names.contains(&"train-validation-leak".to_string()),
        "{names:?}"
    );
    assert!(
        !names.contains(&"inputs-not-standardized".to_string()),
        "{names:?}"
    );
}

#[test]
fn the_probe_measures_noise_scale_and_loss_per_epoch() {
    let (train, val) = standardized(96, 128);
    let setup = Recipe {
        batch_size: 4,
        ..Recipe::default()
    };
    let config = ProbeConfig {
        epochs: 2,
        noise_window: 4,
        seed: 1,
    };
    let (findings, stats) =
        doctor::probe(&zoo::answer(128).into(), &setup, &train, &val, config).expect("runs");
    assert_eq!(stats.val_loss.len(), 2);
    assert!(
        (0.0..=1.0).contains(&stats.signal_fraction),
        "{}",
        stats.signal_fraction
    );
    let noise = findings
        .iter()
        .find(|f| f.id == "gradient-noise")
        .expect("always measured");
    assert!(noise.fix.contains("batch_size"));
    // Every layer, in order: kernels carry a gradient, rectifiers a dead
    // fraction, and parameterless layers neither gradient nor (unless
    // rectifiers) a fraction.
    let model = zoo::answer(128);
    assert_eq!(stats.layers.len(), model.layers.len());
    for (probe, spec) in stats.layers.iter().zip(&model.layers) {
        let trains = matches!(spec, LayerSpec::Conv1D(_) | LayerSpec::Dense(_));
        assert_eq!(probe.gradient_norm.is_finite(), trains, "{probe:?}");
        if trains {
            assert!(probe.gradient_norm > 0.0, "{probe:?}");
        }
        let rectifier = matches!(spec, LayerSpec::LeakyReLU(_) | LayerSpec::ReLU(_));
        assert_eq!(probe.dead_fraction.is_some(), rectifier, "{probe:?}");
        if let Some(dead) = probe.dead_fraction {
            assert!((0.0..=1.0).contains(&dead), "{probe:?}");
        }
    }
}

/// The probe is a real `fit` with a recorder inside each step: its losses
/// are, bit for bit, those of a `Trainer` given the same settings, a graph
/// model's included.
#[test]
fn the_probe_trains_exactly_as_fit_does() {
    let (train, val) = standardized(48, 64);
    let setup = Recipe {
        batch_size: 8,
        ..Recipe::default()
    };
    let config = ProbeConfig {
        epochs: 2,
        noise_window: 2,
        seed: 5,
    };
    let graph: kymo_layers::ArchitectureSpec = zoo::resnet_with(64, [2, 4, 4]).into();
    for spec in [zoo::answer(64).into(), graph] {
        let (_, stats) = doctor::probe(&spec, &setup, &train, &val, config).expect("runs");
        let fit_config = kymo_train::FitConfig {
            epochs: 2,
            batch_size: 8,
            seed: 5,
            ..Default::default()
        };
        let optimizer = kymo_optim::AnyOptimizer::Adam(kymo_optim::Adam::new(setup.learning_rate));
        let model = spec.build::<f32>(5).expect("builds");
        let mut trainer = kymo_train::Trainer::new(model, optimizer, fit_config);
        trainer.fit(&train, Some(&val), &mut []).expect("trains");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&stats.train_loss),
            bits(&trainer.history.series("loss"))
        );
        assert_eq!(
            bits(&stats.val_loss),
            bits(&trainer.history.series("val_loss"))
        );
    }
}

#[test]
fn a_diverging_setup_shows_absurd_epochs_and_out_of_range_predictions() {
    let (train, val) = standardized(64, 64);
    // Adam at lr 1.0 on batch 1 wrecks any model within an epoch.
    let setup = Recipe {
        learning_rate: 1.0,
        ..Recipe::default()
    };
    let (findings, _) = doctor::probe(
        &zoo::answer(64).into(),
        &setup,
        &train,
        &val,
        ProbeConfig {
            epochs: 2,
            ..ProbeConfig::default()
        },
    )
    .expect("runs");
    let names = ids(&findings);
    assert!(names.contains(&"absurd-epochs"), "{names:?}");
    assert!(names.contains(&"predictions-out-of-range"), "{names:?}");
}

#[test]
fn a_keras_json_of_the_question_model_has_607585_parameters() {
    let text = include_str!("../../../tests/fixtures/keras/original_model.json");
    let spec = kymo_layers::keras::from_keras_json(text).expect("Keras 3 JSON parses");
    let model = Sequential::<f32>::new(&spec, 0).expect("builds");
    assert_eq!(model.count_params(), 607_585);
    assert_eq!(model.summary().receptive_field(), 325);
}

/// The fixed point on real spectra: the doctor's prescription for the
/// question's model on the tablet set, re-examined with its own recipe and
/// a probe run, raises no High finding.
#[test]
fn the_prescription_re_examined_on_the_tablet_set_raises_nothing_high() {
    let tablet =
        kymo_data::datasets::tablet(kymo_data::datasets::Instrument::One).expect("built in");
    let (train, validation) = validation_split(&tablet.calibration, 0.2).expect("splits");
    let question: kymo_layers::ArchitectureSpec = zoo::original(train.length()).into();
    let setup = doctor::Recipe::default();
    let first = doctor::examine(&question, &setup, &train, &validation, None).expect("examines");
    let (spec, recipe) = prescribe(
        &question,
        &setup,
        &first.diagnosis,
        Some((&first.facts, &first.preprocessing)),
    );
    let again = doctor::examine(
        &spec,
        &recipe,
        &train,
        &validation,
        Some(ProbeConfig::default()),
    )
    .expect("examines");
    let high: Vec<String> = again
        .diagnosis
        .findings
        .iter()
        .filter(|f| f.severity == Severity::High)
        .map(|f| format!("{}: {}", f.id, f.measured))
        .collect();
    assert!(
        high.is_empty(),
        "High findings on the prescription: {high:#?}; probe: {:?}",
        again.probe
    );
}

/// A prescription trains on the data as given: for two regression target
/// columns its output Dense gives two values with no activation, whether it
/// keeps the user's model (a softmax head of 3) or swaps in the doctor's.
#[test]
fn the_prescription_s_output_is_as_wide_as_the_regression_targets() {
    let facts = doctor::DataFacts {
        train_samples: 200,
        length: 64,
        channels: 1,
        targets: 2,
    };
    let pipeline = kymo_data::Pipeline::standard();
    let width_and_head = |spec: &kymo_layers::ArchitectureSpec| {
        let model = spec.build::<f32>(0).expect("builds");
        let units = match model.output_shape() {
            kymo_layers::Shape::Features(units) => units,
            other => panic!("a signal output: {other:?}"),
        };
        let activation = match spec.layer_specs().last() {
            Some(LayerSpec::Dense(dense)) => dense.activation,
            other => panic!("ends in {other:?}"),
        };
        (units, activation)
    };
    let softmax_head = kymo_layers::ArchitectureSpec::from(zoo::doctor(64))
        .with_head(3, kymo_layers::Activation::Softmax)
        .expect("ends in a Dense");
    let kept = Diagnosis::new(Vec::new());
    let (fixed, _) = prescribe(
        &softmax_head,
        &Recipe::default(),
        &kept,
        Some((&facts, &pipeline)),
    );
    assert_eq!(width_and_head(&fixed), (2, kymo_layers::Activation::Linear));
    // The question's model: its structure is swapped for the doctor's.
    let question: kymo_layers::ArchitectureSpec = zoo::original(64).into();
    let model = question.build::<f32>(0).expect("builds");
    let findings = static_checks(model.as_ref(), &Recipe::default(), Some(200));
    let (fixed, _) = prescribe(
        &question,
        &Recipe::default(),
        &Diagnosis::new(findings),
        Some((&facts, &pipeline)),
    );
    assert_eq!(width_and_head(&fixed), (2, kymo_layers::Activation::Linear));
}
