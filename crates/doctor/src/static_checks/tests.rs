//! Each rule on its own, table by table: the setups and models that must
//! fire it and those that must not.

use kymo_layers::{zoo, ArchitectureSpec, DropoutSpec, LayerSpec};

use super::{model_rules, setup_rules, Subject};
use crate::{Finding, Recipe};

fn ids(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.id.as_str()).collect()
}

#[test]
fn setup_rules_fire_on_their_setups_only() {
    type Rule = fn(&Recipe) -> Vec<Finding>;
    let question = Recipe::default();
    let fixed = Recipe {
        batch_size: 32,
        early_stopping: true,
        checkpoint_best: true,
        ..Recipe::default()
    };
    // (rule, setup, fires)
    let table: [(Rule, Recipe, bool); 14] = [
        (setup_rules::batch_one, question.clone(), true),
        (setup_rules::batch_one, fixed.clone(), false),
        (
            setup_rules::batch_one,
            Recipe {
                learning_rate: 1e-5,
                ..question.clone()
            },
            false,
        ),
        (setup_rules::learning_rate_range, question.clone(), false),
        (
            setup_rules::learning_rate_range,
            Recipe {
                learning_rate: 0.5,
                ..question.clone()
            },
            true,
        ),
        (
            setup_rules::learning_rate_range,
            Recipe {
                learning_rate: 1e-9,
                ..question.clone()
            },
            true,
        ),
        // SGD's usual rates are Adam's times ten: 0.05 is no fault there.
        (
            setup_rules::learning_rate_range,
            Recipe {
                learning_rate: 0.05,
                optimizer: kymo_train::OptimizerName::SGD,
                ..question.clone()
            },
            false,
        ),
        (
            setup_rules::learning_rate_range,
            Recipe {
                learning_rate: 2.0,
                optimizer: kymo_train::OptimizerName::SGD,
                ..question.clone()
            },
            true,
        ),
        (
            setup_rules::no_validation,
            Recipe {
                validation: false,
                ..question.clone()
            },
            true,
        ),
        (setup_rules::no_validation, question.clone(), false),
        (setup_rules::no_early_stopping, question.clone(), true),
        (setup_rules::no_early_stopping, fixed.clone(), false),
        (setup_rules::no_best_checkpoint, question.clone(), true),
        (setup_rules::no_best_checkpoint, fixed.clone(), false),
    ];
    for (i, (rule, setup, fires)) in table.into_iter().enumerate() {
        assert_eq!(!rule(&setup).is_empty(), fires, "row {i}: {setup:?}");
    }
}

#[test]
fn model_rules_fire_on_their_models_only() {
    type Rule = fn(&Subject<'_>) -> Vec<Finding>;
    let mut dropout = zoo::doctor(256);
    dropout.layers.insert(
        dropout.layers.len() - 1,
        LayerSpec::Dropout(DropoutSpec {
            rate: 0.8,
            seed: None,
            name: None,
        }),
    );
    // No activation anywhere: two convs, an average pool, two Dense layers.
    let linear = ArchitectureSpec::from_toml_str(
        r#"
        input = { channels = 1, length = 256 }
        [[layers]]
        type = "Conv1D"
        filters = 4
        kernel_size = 5
        [[layers]]
        type = "AveragePooling1D"
        pool_size = 4
        [[layers]]
        type = "Conv1D"
        filters = 4
        kernel_size = 3
        [[layers]]
        type = "Flatten"
        [[layers]]
        type = "Dense"
        units = 8
        [[layers]]
        type = "Dense"
        units = 1
        "#,
    )
    .expect("valid spec");
    // The same with a LayerNormalization after each conv and the hidden
    // Dense: each divides by its own spread, so nothing is linear.
    let normalized = match &linear {
        ArchitectureSpec::Sequential(spec) => {
            let mut spec = spec.clone();
            for at in [5, 3, 1] {
                spec.layers.insert(
                    at,
                    LayerSpec::LayerNormalization(
                        kymo_layers::layers::LayerNormalizationSpec::default(),
                    ),
                );
            }
            ArchitectureSpec::Sequential(spec)
        }
        ArchitectureSpec::Graph(_) => unreachable!("the linear spec is a Sequential"),
    };
    // Two linear branches joined, then two Dense layers: linear when the
    // join is an Average, not when it is a Multiply (a product of two
    // convolutions is quadratic in the signal).
    let joined = |merge: &str| {
        ArchitectureSpec::from_toml_str(&format!(
            r#"
            input = {{ channels = 1, length = 64 }}
            [[nodes]]
            inputs = ["input"]
            type = "Conv1D"
            name = "a"
            filters = 2
            kernel_size = 3
            [[nodes]]
            inputs = ["input"]
            type = "Conv1D"
            name = "c"
            filters = 2
            kernel_size = 3
            [[nodes]]
            inputs = ["a", "c"]
            type = "{merge}"
            name = "join"
            [[nodes]]
            inputs = ["join"]
            type = "Flatten"
            name = "flat"
            [[nodes]]
            inputs = ["flat"]
            type = "Dense"
            name = "out"
            units = 1
            "#
        ))
        .expect("valid graph")
    };
    // The doctor's architecture with L2(0.5) on every Conv1D kernel, and
    // with Keras's default L2(0.01).
    let penalized = |l2: f64| -> ArchitectureSpec {
        let mut spec = zoo::doctor(1040);
        for layer in &mut spec.layers {
            if let LayerSpec::Conv1D(conv) = layer {
                conv.kernel_regularizer = Some(kymo_layers::Regularizer { l1: 0.0, l2 });
            }
        }
        spec.into()
    };
    let specs: [(&str, ArchitectureSpec); 10] = [
        ("averaged", joined("Average")),
        ("gated", joined("Multiply")),
        ("penalized", penalized(0.5)),
        ("default-penalty", penalized(0.01)),
        ("original", zoo::original(1040).into()),
        ("doctor", zoo::doctor(1040).into()),
        ("resnet", zoo::resnet_with(256, [4, 8, 8]).into()),
        ("dropout", dropout.into()),
        ("linear", linear),
        ("normalized", normalized),
    ];
    // (rule, model, fires)
    let table: [(Rule, &str, bool); 24] = [
        (model_rules::linear_model, "averaged", true),
        (model_rules::linear_model, "gated", false),
        (model_rules::heavy_regularization, "penalized", true),
        (model_rules::heavy_regularization, "default-penalty", false),
        (model_rules::heavy_regularization, "doctor", false),
        (model_rules::linear_model, "linear", true),
        (model_rules::linear_model, "normalized", false),
        (model_rules::stacked_linear, "linear", true),
        (model_rules::stacked_linear, "normalized", false),
        (model_rules::linear_model, "original", false),
        (model_rules::linear_model, "doctor", false),
        (model_rules::linear_model, "resnet", false),
        (model_rules::no_downsampling, "original", true),
        (model_rules::no_downsampling, "doctor", false),
        (model_rules::receptive_field, "doctor", false),
        (model_rules::kernels_and_padding, "original", true),
        (model_rules::kernels_and_padding, "doctor", false),
        (model_rules::heavy_dropout, "dropout", true),
        (model_rules::heavy_dropout, "doctor", false),
        // ResNet's sibling branches are listed side by side; only chains
        // are read for stacked linear layers.
        (model_rules::stacked_linear, "resnet", false),
        (model_rules::stacked_linear, "doctor", false),
        (model_rules::no_downsampling, "resnet", true),
        (model_rules::receptive_field, "original", false),
        (model_rules::heavy_dropout, "resnet", false),
    ];
    let severity = |name: &str| {
        let spec = &specs.iter().find(|(n, _)| *n == name).expect("listed").1;
        let model = spec.build::<f32>(0).expect("builds");
        model_rules::no_downsampling(&Subject::of(model.as_ref()))[0].severity
    };
    // Behind a global pooling head, a full-length signal is no head problem.
    assert!(severity("resnet") < severity("original"));
    for (i, (rule, name, fires)) in table.into_iter().enumerate() {
        let spec = &specs.iter().find(|(n, _)| *n == name).expect("listed").1;
        let model = spec.build::<f32>(0).expect("builds");
        let found = rule(&Subject::of(model.as_ref()));
        assert_eq!(
            !found.is_empty(),
            fires,
            "row {i} ({name}): {:?}",
            ids(&found)
        );
    }
}

#[test]
fn the_head_and_batchnorm_rules_weigh_the_data_size() {
    let original: ArchitectureSpec = zoo::original(1040).into();
    let model = original.build::<f32>(0).expect("builds");
    let subject = Subject::of(model.as_ref());
    // 133,120 Flatten inputs: too wide whatever the data.
    assert!(!model_rules::oversized_head(&subject, None).is_empty());
    let answer_bn = ArchitectureSpec::from(zoo::answer_bn(64))
        .build::<f32>(0)
        .expect("builds");
    let subject = Subject::of(answer_bn.as_ref());
    let setup = Recipe {
        batch_size: 32,
        epochs: 25,
        ..Recipe::default()
    };
    // 25 epochs of 4 steps leave 0.99^100 = 37% of the initial statistics;
    // 25 epochs of 625 steps settle them.
    let few = model_rules::batchnorm_unsettled(&subject, &setup, Some(128));
    let many = model_rules::batchnorm_unsettled(&subject, &setup, Some(20_000));
    assert_eq!((few.len(), many.len()), (1, 0), "{:?}", ids(&few));
    // Batch 1 (the question's) is High: a batch of one has no variance to
    // normalize by; a batch of 4 is only noisy.
    let one = model_rules::batchnorm_tiny_batches(&subject, &Recipe::default());
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].severity, crate::Severity::High);
    let four = Recipe {
        batch_size: 4,
        ..setup.clone()
    };
    let noisy = model_rules::batchnorm_tiny_batches(&subject, &four);
    assert_eq!(noisy[0].severity, crate::Severity::Medium);
    assert!(model_rules::batchnorm_tiny_batches(&subject, &setup).is_empty());
}

#[test]
fn a_metric_that_does_not_fit_the_loss_is_named_either_way() {
    use kymo_train::{Loss, Metric};
    let regression = Recipe {
        metrics: vec![Metric::Mae, Metric::Accuracy],
        ..Recipe::default()
    };
    let found = setup_rules::metric_does_not_fit(&regression);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].title.contains("accuracy") && found[0].title.contains("mse"),
        "{}",
        found[0].title
    );
    let classification = Recipe {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        metrics: vec![Metric::Accuracy, Metric::Mse],
        ..Recipe::default()
    };
    let found = setup_rules::metric_does_not_fit(&classification);
    assert!(found[0].title.contains("Metric mse"), "{}", found[0].title);
    let fitting = Recipe {
        metrics: vec![Metric::Mae, Metric::R2],
        ..Recipe::default()
    };
    assert!(setup_rules::metric_does_not_fit(&fitting).is_empty());
}

#[test]
fn a_learning_rate_ten_times_past_the_range_is_high() {
    let severity = |learning_rate: f64| {
        let setup = Recipe {
            learning_rate,
            ..Recipe::default()
        };
        setup_rules::learning_rate_range(&setup)
            .first()
            .map(|finding| finding.severity)
    };
    assert_eq!(severity(0.5), Some(crate::Severity::High));
    assert_eq!(severity(0.05), Some(crate::Severity::Medium));
    assert_eq!(severity(1e-3), None);
}

#[test]
fn a_schedule_that_decays_per_batch_as_if_per_epoch_is_named_with_the_steps() {
    use crate::Severity;
    use kymo_optim::Schedule;
    // 160 rows at batch 16: 10 steps per epoch, 1,000 over 100 epochs.
    let decaying = |decay_steps: u64| Recipe {
        batch_size: 16,
        epochs: 100,
        schedule: Some(Schedule::Exponential {
            rate: 1e-3,
            decay_steps,
            decay_rate: 0.9,
            staircase: false,
        }),
        ..Recipe::default()
    };
    // decay_steps = 1: 0.9^44 < 1%, by step 44 of 1,000 (epoch 5).
    let per_batch = setup_rules::schedule_vanishes(&decaying(1), Some(160));
    assert_eq!(ids(&per_batch), ["schedule-vanishes"]);
    assert_eq!(per_batch[0].severity, Severity::High);
    assert!(
        per_batch[0].measured.contains("epoch 5 of 100"),
        "{}",
        per_batch[0].measured
    );
    assert!(
        per_batch[0].fix.contains("10 per epoch"),
        "{}",
        per_batch[0].fix
    );
    // decay_steps = 100 (ten epochs): 0.9^10 = 0.35 at the end; fine.
    assert!(setup_rules::schedule_vanishes(&decaying(100), Some(160)).is_empty());
    // Between: under 1% by step 440, within the first half: Medium.
    let slow = setup_rules::schedule_vanishes(&decaying(10), Some(160));
    assert_eq!(slow[0].severity, Severity::Medium);
    // Without the data's size the steps per epoch are unknown.
    assert!(setup_rules::schedule_vanishes(&decaying(1), None).is_empty());
}
