//! A fault benchmark: the mistakes people report on Keras's tracker, Stack
//! Overflow and the bug benchmarks (defects4ML, AUTOTRAINER,
//! DeepDiagnosis), planted one at a time into a correct small 1D CNN and
//! its data. The doctor must name each one at Medium or above, and raise no
//! High finding on the correct model. The recall and false alarms are in
//! docs/doctor.md ("Planted faults").

use kymo_data::{validation_split, Dataset, SyntheticSpectra};
use kymo_doctor::{examine, FindingId, ProbeConfig, Recipe, Severity};
use kymo_layers::{
    zoo, Activation, ArchitectureSpec, DropoutSpec, InputSpec, LayerSpec, ModelSpec,
};
use ndarray::{Array2, Axis};

const LENGTH: usize = 64;

/// Clean spectra whose target is a band's height.
fn spectra() -> Dataset {
    SyntheticSpectra {
        samples: 200,
        length: LENGTH,
        seed: 17,
        ..Default::default()
    }
    .generate()
    .expect("valid")
}

/// A correct model for them: the doctor's architecture (small kernels,
/// strided pools, a small head, a linear output).
fn model() -> ModelSpec {
    zoo::doctor(LENGTH)
}

/// A correct recipe: batch 16, early stopping with the best weights, a
/// best-only checkpoint.
fn recipe() -> Recipe {
    Recipe {
        batch_size: 16,
        epochs: 100,
        early_stopping: true,
        checkpoint_best: true,
        ..Recipe::default()
    }
}

/// 200 windows of 64 points, 4 points apart, cut from one noisy
/// recording and shuffled before the split (scikit-learn's
/// `train_test_split` shuffles by default); the target is the mean of the
/// 8 points after each window.
fn shuffled_windows() -> Dataset {
    let (rows, step) = (200, 4);
    let mut state = 5u64;
    let recording: Vec<f32> = (0..rows * step + LENGTH + 8)
        .map(|t| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            (t as f32 * 0.05).sin() + 0.3 * noise
        })
        .collect();
    // A fixed shuffle: 7 is a unit modulo 200.
    let window = |row: usize| (row * 7) % rows * step;
    let signals =
        ndarray::Array3::from_shape_fn((rows, 1, LENGTH), |(r, _, t)| recording[window(r) + t]);
    let targets = Array2::from_shape_fn((rows, 1), |(r, _)| {
        recording[window(r) + LENGTH..window(r) + LENGTH + 8]
            .iter()
            .sum::<f32>()
            / 8.0
    });
    Dataset::new(signals, targets).expect("finite")
}

fn with_targets(data: &Dataset, targets: Array2<f32>) -> Dataset {
    Dataset::new(data.signals().clone(), targets).expect("same rows")
}

/// The output Dense of `spec` given `activation`.
fn head(mut spec: ModelSpec, activation: Activation) -> ModelSpec {
    match spec.layers.last_mut() {
        Some(LayerSpec::Dense(dense)) => dense.activation = activation,
        other => panic!("the model ends in a Dense, not {other:?}"),
    }
    spec
}

/// One planted fault: the model, the recipe and the data it is examined
/// on, and the finding that names it.
struct Case {
    fault: &'static str,
    spec: ArchitectureSpec,
    recipe: Recipe,
    data: Dataset,
    expected: FindingId,
}

fn cases() -> Vec<Case> {
    let clean = spectra();
    let targets = clean.targets().clone();
    let (low, high) = targets
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &t| {
            (a.min(t), b.max(t))
        });
    let case = |fault, spec: ModelSpec, recipe, data, expected| Case {
        fault,
        spec: spec.into(),
        recipe,
        data,
        expected,
    };
    let mut sorted_rows: Vec<usize> = (0..clean.len()).collect();
    sorted_rows.sort_by(|&a, &b| targets[[a, 0]].total_cmp(&targets[[b, 0]]));
    let sorted = Dataset::new(
        clean.signals().select(Axis(0), &sorted_rows),
        targets.select(Axis(0), &sorted_rows),
    )
    .expect("same rows");
    // The target's terciles as labels 0, 1, 2 (by rank), in the file's
    // order and sorted by label.
    let mut tercile = Array2::<f32>::zeros((clean.len(), 1));
    for (rank, &row) in sorted_rows.iter().enumerate() {
        tercile[[row, 0]] = (3 * rank / clean.len()) as f32;
    }
    let labels = with_targets(&clean, tercile.clone());
    let halves = with_targets(&clean, tercile.mapv(|label| f32::from(label >= 1.5)));
    let sorted_labels = Dataset::new(
        clean.signals().select(Axis(0), &sorted_rows),
        tercile.select(Axis(0), &sorted_rows),
    )
    .expect("same rows");
    let mut off_scale = clean.signals().clone();
    off_scale
        .index_axis_mut(Axis(2), 20)
        .mapv_inplace(|v| v * 1e4);
    // pandas's to_csv without index=False: the row number as a column.
    let row_numbers = Array2::from_shape_fn((clean.len(), 1), |(i, _)| i as f32);
    let mut indexed = clean.signals().clone();
    for (i, mut signal) in indexed.outer_iter_mut().enumerate() {
        signal[[0, 0]] = i as f32;
    }
    let mut swapped = model();
    swapped.input = InputSpec {
        channels: LENGTH,
        length: 1,
    };
    let mut dropout = model();
    dropout.layers.insert(
        dropout.layers.len() - 1,
        LayerSpec::Dropout(DropoutSpec {
            rate: 0.9,
            seed: None,
            name: None,
        }),
    );
    let linear = ModelSpec::from_toml_str(&format!(
        r#"
        input = {{ channels = 1, length = {LENGTH} }}
        [[layers]]
        type = "Conv1D"
        filters = 8
        kernel_size = 5
        padding = "same"
        [[layers]]
        type = "AveragePooling1D"
        pool_size = 4
        [[layers]]
        type = "Conv1D"
        filters = 8
        kernel_size = 3
        [[layers]]
        type = "Flatten"
        [[layers]]
        type = "Dense"
        units = 16
        [[layers]]
        type = "Dense"
        units = 1
        "#
    ))
    .expect("valid");
    vec![
        case(
            "ReLU output on a target that goes negative",
            head(model(), Activation::Relu),
            recipe(),
            with_targets(&clean, targets.mapv(|t| t - (low + high) / 2.0)),
            FindingId::HeadCannotReachTarget,
        ),
        case(
            "sigmoid output on a target from 0 to 58",
            head(model(), Activation::Sigmoid),
            recipe(),
            with_targets(&clean, targets.mapv(|t| 58.0 * (t - low) / (high - low))),
            FindingId::HeadCannotReachTarget,
        ),
        case(
            "axes transposed: the model takes 1 step of 64 channels",
            swapped,
            recipe(),
            clean.clone(),
            FindingId::InputShapeMismatch,
        ),
        case(
            "rows sorted by target before the split",
            model(),
            recipe(),
            sorted,
            FindingId::SortedSplit,
        ),
        case(
            "rows sorted by class label before the split",
            model(),
            recipe(),
            sorted_labels,
            FindingId::SortedSplit,
        ),
        case(
            "a Dense(3, softmax) head on one regression target",
            {
                let mut spec = head(model(), Activation::Softmax);
                if let Some(LayerSpec::Dense(dense)) = spec.layers.last_mut() {
                    dense.units = 3;
                }
                spec
            },
            recipe(),
            labels.clone(),
            FindingId::HeadLossMismatch,
        ),
        case(
            "eight sensors of 64 points given as 8 steps of 64 channels",
            {
                let mut spec = zoo::answer(8);
                spec.input = InputSpec {
                    channels: LENGTH,
                    length: 8,
                };
                spec
            },
            recipe(),
            Dataset::new(
                ndarray::Array3::from_shape_fn((clean.len(), LENGTH, 8), |(r, p, k)| {
                    clean.signals()[[r, 0, (p + 8 * k) % LENGTH]]
                }),
                targets.clone(),
            )
            .expect("same rows"),
            FindingId::InputShapeMismatch,
        ),
        case(
            "a sigmoid output on 0/1 labels trained with MSE",
            head(model(), Activation::Sigmoid),
            recipe(),
            halves,
            FindingId::HeadLossMismatch,
        ),
        case(
            "class labels 0/1/2 fitted by Dense(1) and MSE",
            model(),
            recipe(),
            labels,
            FindingId::TargetsLookLikeLabels,
        ),
        case(
            "overlapping windows of one recording, shuffled before the split",
            model(),
            recipe(),
            shuffled_windows(),
            FindingId::OverlappingWindows,
        ),
        case(
            "a constant target column",
            model(),
            recipe(),
            with_targets(&clean, targets.mapv(|_| 5.0)),
            FindingId::ConstantTarget,
        ),
        case(
            "no activation anywhere",
            linear,
            recipe(),
            clean.clone(),
            FindingId::LinearModel,
        ),
        case(
            "one input point 10^4 times the others",
            model(),
            recipe(),
            Dataset::new(off_scale, targets.clone()).expect("same rows"),
            FindingId::OffScalePoints,
        ),
        case(
            "Dropout 0.9",
            dropout,
            recipe(),
            clean.clone(),
            FindingId::HeavyDropout,
        ),
        case(
            "a learning rate that diverges (Adam at 0.5)",
            model(),
            Recipe {
                learning_rate: 0.5,
                ..recipe()
            },
            clean.clone(),
            FindingId::LearningRateDiverges,
        ),
        case(
            "batch size 1",
            model(),
            Recipe {
                batch_size: 1,
                ..recipe()
            },
            clean.clone(),
            FindingId::BatchOne,
        ),
        case(
            "BatchNormalization trained at batch 2",
            zoo::answer_bn(LENGTH),
            Recipe {
                batch_size: 2,
                ..recipe()
            },
            clean.clone(),
            FindingId::BatchnormTinyBatches,
        ),
        case(
            "softmax on the single output unit",
            head(model(), Activation::Softmax),
            recipe(),
            clean.clone(),
            FindingId::SoftmaxOnOneUnit,
        ),
        case(
            "the row number read as the target",
            model(),
            recipe(),
            with_targets(&clean, row_numbers),
            FindingId::IndexColumn,
        ),
        case(
            "L2(0.5) on every Conv1D kernel",
            {
                let mut spec = model();
                for layer in &mut spec.layers {
                    if let LayerSpec::Conv1D(conv) = layer {
                        conv.kernel_regularizer =
                            Some(kymo_layers::Regularizer { l1: 0.0, l2: 0.5 });
                    }
                }
                spec
            },
            recipe(),
            clean.clone(),
            FindingId::HeavyRegularization,
        ),
        case(
            "the window ends on the value it should predict",
            model(),
            recipe(),
            with_targets(
                &clean,
                clean
                    .signals()
                    .slice(ndarray::s![.., 0, LENGTH - 1..])
                    .to_owned(),
            ),
            FindingId::TargetInInputs,
        ),
        case(
            "Dense(1) on the conv output with no Flatten before it",
            {
                // The correct model without its Flatten: the head maps
                // each position.
                let mut spec = model();
                spec.layers
                    .retain(|layer| !matches!(layer, LayerSpec::Flatten(_)));
                spec
            },
            recipe(),
            clean.clone(),
            FindingId::PerPositionOutput,
        ),
        case(
            "ExponentialDecay(decay_steps=1): a decay meant per epoch, applied per batch",
            model(),
            Recipe {
                schedule: Some(kymo_optim::Schedule::Exponential {
                    rate: 1e-3,
                    decay_steps: 1,
                    decay_rate: 0.9,
                    staircase: false,
                }),
                ..recipe()
            },
            clean.clone(),
            FindingId::ScheduleVanishes,
        ),
        case(
            "the row number exported as the signal's first point",
            model(),
            recipe(),
            Dataset::new(indexed, targets.clone()).expect("same rows"),
            FindingId::IndexColumn,
        ),
    ]
}

/// The findings at Medium or above, and the High ones, of one examination
/// with a two-epoch probe.
fn findings(
    spec: &ArchitectureSpec,
    recipe: &Recipe,
    data: &Dataset,
) -> Vec<(FindingId, Severity)> {
    let (train, validation) = validation_split(data, 0.2).expect("splits");
    let probe = ProbeConfig {
        epochs: 2,
        ..ProbeConfig::default()
    };
    examine(spec, recipe, &train, &validation, Some(probe))
        .expect("examines")
        .diagnosis
        .findings
        .iter()
        .map(|f| (f.id, f.severity))
        .collect()
}

#[test]
fn every_planted_fault_is_named_and_the_correct_model_raises_nothing_high() {
    // Correct models with a correct recipe: the doctor's architecture, and
    // a small ResNet (a graph with BatchNormalization, whose moving
    // statistics a two-epoch probe cannot settle).
    let correct: [(&str, ArchitectureSpec); 2] = [
        ("doctor", model().into()),
        ("resnet", zoo::resnet_with(LENGTH, [8, 16, 16]).into()),
    ];
    for (name, spec) in correct {
        let high: Vec<FindingId> = findings(&spec, &recipe(), &spectra())
            .iter()
            .filter(|(_, s)| *s == Severity::High)
            .map(|(id, _)| *id)
            .collect();
        eprintln!("correct model {name}: High findings {high:?}");
        assert!(
            high.is_empty(),
            "High findings on the correct {name}: {high:?}"
        );
    }
    let mut missed = Vec::new();
    let cases = cases();
    for case in &cases {
        let found = findings(&case.spec, &case.recipe, &case.data);
        let named = found
            .iter()
            .any(|(id, s)| *id == case.expected && *s >= Severity::Medium);
        eprintln!(
            "{:<55} {} {}",
            case.fault,
            if named { "named" } else { "MISSED" },
            case.expected
        );
        if !named {
            missed.push((case.fault, found));
        }
    }
    eprintln!("recall: {} of {}", cases.len() - missed.len(), cases.len());
    assert!(missed.is_empty(), "missed: {missed:#?}");
}
