//! Checks of a classifier: its head against its loss and the classes, and
//! the labels against the split. Each is a mistake the Keras tracker and
//! Stack Overflow see again and again (a linear head under a loss that
//! expects probabilities, class indices under `categorical_crossentropy`,
//! accuracy on a set where one class is nearly everything, a tail split of
//! rows sorted by label); each rule is one function.

use std::collections::HashMap;

use kymo_data::Dataset;
use kymo_layers::{Activation, LayerSpec, Model, Shape};
use kymo_train::{Loss, Recipe};

use crate::{Finding, FindingId, Severity};

/// Every classification check, on a labelled training set and the
/// validation set the user's split gives.
pub fn classification_checks(
    model: &dyn Model<f32>,
    recipe: &Recipe,
    train: &Dataset,
    validation: Option<&Dataset>,
) -> Vec<Finding> {
    let Some(classes) = train.classes() else {
        return Vec::new();
    };
    let mut findings: Vec<Finding> = head_and_loss(model, recipe.loss, classes.len(), train)
        .into_iter()
        .collect();
    findings.extend(labels_beyond_outputs(model, recipe.loss, classes));
    findings.extend(class_imbalance(train, classes));
    findings.extend(class_too_small(train, classes, 0.2));
    findings.extend(validation.and_then(|val| split_misses_class(train, val, classes)));
    findings.extend(conflicting_labels(train));
    findings.extend(validation.and_then(|val| crate::overlapping_windows(train, val)));
    findings
}

/// The activation on the model's output and the output's width.
fn head(model: &dyn Model<f32>) -> (Activation, usize) {
    let units = match model.output_shape() {
        Shape::Features(units) => units,
        Shape::Signal { channels, .. } => channels,
    };
    let activation = model
        .layers()
        .iter()
        .rev()
        .find_map(|layer| match layer.spec() {
            spec if spec.is_identity_in_inference() => None,
            LayerSpec::Flatten(_) => None,
            LayerSpec::Dense(spec) => Some(spec.activation),
            LayerSpec::Conv1D(spec) => Some(spec.activation),
            LayerSpec::Activation(spec) => Some(spec.activation),
            LayerSpec::Sigmoid(_) => Some(Activation::Sigmoid),
            LayerSpec::ReLU(_) => Some(Activation::Relu),
            LayerSpec::Tanh(_) => Some(Activation::Tanh),
            _ => Some(Activation::Linear),
        })
        .unwrap_or(Activation::Linear);
    (activation, units)
}

/// The head, the loss and the classes that do not fit together: the first
/// mismatch found, most fundamental first.
fn head_and_loss(
    model: &dyn Model<f32>,
    loss: Loss,
    classes: usize,
    train: &Dataset,
) -> Option<Finding> {
    let (activation, units) = head(model);
    let mismatch = |severity, title: String, measured: String, why: &str, fix: String| {
        Some(
            Finding::new(FindingId::HeadLossMismatch, severity, title)
                .measured(measured)
                .why(why)
                .fix(fix),
        )
    };
    let measured = format!(
        "the model ends in {units} unit(s) with activation {activation:?}; the loss is {}; the data has {classes} classes",
        loss.name()
    );
    let softmax_head =
        format!("Dense({classes}, activation='softmax') with sparse_categorical_crossentropy");
    if !loss.is_classification() {
        return mismatch(
            Severity::High,
            format!("A regression loss ({}) on class labels", loss.name()),
            measured,
            "class indices are names, not quantities: a squared error says class 2 is twice as far from class 0 as class 1, and a rounded regression output is no probability",
            softmax_head,
        );
    }
    let binary_head = units == 1 && classes == 2;
    if !binary_head && units != classes {
        return mismatch(
            Severity::High,
            format!("The model gives {units} outputs for {classes} classes"),
            measured,
            "a classifier needs one output per class (or one sigmoid output for two classes); extra outputs are classes no label names, and too few leave classes unreachable",
            softmax_head,
        );
    }
    if let Loss::CategoricalCrossentropy { .. } = loss {
        if train.target_count() == 1 && units > 1 {
            return mismatch(
                Severity::High,
                "Class indices given to categorical_crossentropy".into(),
                measured,
                "categorical_crossentropy takes one-hot rows; a column of class indices either fails on its shape or, broadcast, scores every class against the index as if it were a probability",
                "sparse_categorical_crossentropy for integer labels (or one-hot encode them: keras.utils.to_categorical)".into(),
            );
        }
    }
    let from_logits = match loss {
        Loss::BinaryCrossentropy { from_logits, .. }
        | Loss::CategoricalCrossentropy { from_logits, .. }
        | Loss::SparseCategoricalCrossentropy { from_logits } => from_logits,
        _ => false,
    };
    let probabilities = matches!(activation, Activation::Softmax | Activation::Sigmoid);
    if !from_logits && !probabilities {
        return mismatch(
            Severity::High,
            format!("A {activation:?} head under a loss that expects probabilities"),
            measured,
            "with from_logits=False the loss reads the outputs as probabilities: negative or above-one outputs are clipped to [1e-7, 1 - 1e-7], where their gradient is zero, so training stalls or swings",
            format!("from_logits=True in the loss, or {softmax_head}"),
        );
    }
    if from_logits && probabilities {
        return mismatch(
            Severity::Medium,
            format!("A {activation:?} head under a loss told its inputs are logits"),
            measured,
            "from_logits=True applies a softmax (or sigmoid) of its own: the model's probabilities are squashed twice, the loss can never reach zero and its gradients shrink",
            format!("drop the head's {activation:?} (a linear Dense) or set from_logits=False"),
        );
    }
    let categorical = matches!(
        loss,
        Loss::CategoricalCrossentropy { .. } | Loss::SparseCategoricalCrossentropy { .. }
    );
    if categorical && activation == Activation::Sigmoid && units > 1 {
        return mismatch(
            Severity::Medium,
            "Sigmoid outputs under a categorical cross-entropy".into(),
            measured,
            "sigmoid outputs do not sum to one: the categorical loss renormalizes them, so the model learns ratios between classes rather than probabilities, and its outputs read as probabilities mislead",
            softmax_head,
        );
    }
    None
}

/// Integer labels that Keras's loss would read beyond the head: under
/// sparse categorical cross-entropy each label is the index of its output,
/// so labels `1..=K` on `K` outputs (the UCR archive's, for one) leave
/// label `K` without an output; under binary cross-entropy the label is
/// the probability itself, so `-1`/`1` or `1`/`2` are none. kymo's loaders
/// map labels to `0..K` when they read them, so this concerns the user's
/// own Keras training, and is Medium.
fn labels_beyond_outputs(
    model: &dyn Model<f32>,
    loss: Loss,
    classes: &[String],
) -> Option<Finding> {
    let values: Vec<i64> = classes
        .iter()
        .map(|name| name.parse::<i64>().ok())
        .collect::<Option<_>>()?;
    let (low, high) = (*values.iter().min()?, *values.iter().max()?);
    let (_, units) = head(model);
    let listing = values
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let (why, fix) = match loss {
        Loss::SparseCategoricalCrossentropy { .. }
            if low < 0 || high >= units as i64 =>
        {
            (
                format!(
                    "sparse_categorical_crossentropy reads each label as the index of an output (0 to {}): label {high} has none, so TensorFlow stops with \"Received a label value of {high} which is outside the valid range of [0, {units})\" (on a GPU the loss can turn NaN instead){}",
                    units.saturating_sub(1),
                    if low > 0 { ", and output 0 is trained towards a class no label names" } else { "" }
                ),
                format!(
                    "map the labels to 0..{} before training (sklearn's LabelEncoder, or y - {low} for consecutive labels)",
                    classes.len().saturating_sub(1)
                ),
            )
        }
        Loss::BinaryCrossentropy { .. } if units == 1 && (low, high) != (0, 1) => (
            "binary_crossentropy compares the sigmoid output with the label as a probability: a label outside 0 and 1 is none, so the loss pushes outputs to their bounds and its accuracy compares them with the wrong values".to_string(),
            "map the labels to 0 and 1 before training (sklearn's LabelEncoder)".to_string(),
        ),
        _ => return None,
    };
    Some(
        Finding::new(
            FindingId::LabelsBeyondOutputs,
            Severity::Medium,
            format!("Labels {low}..{high} do not index the model's {units} output(s) in Keras"),
        )
        .measured(format!(
            "class labels {listing}; the model ends in {units} output(s); the loss is {}",
            loss.name()
        ))
        .why(why)
        .fix(fix),
    )
}

/// How many training rows each class has.
fn counts(train: &Dataset, classes: usize) -> Vec<usize> {
    let mut counts = vec![0usize; classes];
    for label in train.labels().unwrap_or_default() {
        if let Some(count) = counts.get_mut(label) {
            *count += 1;
        }
    }
    counts
}

/// One class far larger than the rarest: accuracy then rewards predicting
/// the majority.
fn class_imbalance(train: &Dataset, classes: &[String]) -> Option<Finding> {
    let counts = counts(train, classes.len());
    let (largest, smallest) = (counts.iter().copied().max()?, counts.iter().copied().min()?);
    let ratio = largest as f64 / smallest.max(1) as f64;
    if ratio < 3.0 {
        return None;
    }
    let majority = counts.iter().position(|&c| c == largest).unwrap_or(0);
    let share = largest as f64 / train.len().max(1) as f64;
    let severity = if ratio >= 10.0 {
        Severity::High
    } else {
        Severity::Medium
    };
    let listing: Vec<String> = classes
        .iter()
        .zip(&counts)
        .map(|(c, n)| format!("{c}: {n}"))
        .collect();
    Some(
        Finding::new(FindingId::ClassImbalance, severity, format!("Classes are imbalanced {ratio:.0} to 1: accuracy misleads"))
            .measured(format!(
                "training rows per class: {}; always predicting `{}` scores accuracy {share:.2}",
                listing.join(", "),
                classes[majority]
            ))
            .why("the loss is dominated by the large classes, so a model can reach a high accuracy while never predicting the rare ones, which are usually the ones that matter")
            .fix("class_weight='balanced' (each class weighted by n / (classes x n_class)) and balanced accuracy or macro-F1 as the metric and the early-stopping monitor"),
    )
}

/// A class with so few rows that a validation fraction holds none of it.
fn class_too_small(train: &Dataset, classes: &[String], fraction: f64) -> Option<Finding> {
    let counts = counts(train, classes.len());
    let small: Vec<String> = classes
        .iter()
        .zip(&counts)
        .filter(|(_, &n)| (n as f64 * fraction) < 1.0)
        .map(|(c, n)| format!("{c} ({n})"))
        .collect();
    (!small.is_empty()).then(|| {
        Finding::new(FindingId::ClassTooSmall, Severity::Medium, format!("{} class(es) too small for a {:.0}% validation split", small.len(), 100.0 * fraction))
            .measured(format!("fewer than {:.0} training rows: {}", 1.0 / fraction, small.join(", ")))
            .why("validation cannot hold even one row of such a class, so validation accuracy and early stopping say nothing about it, and a row moved to validation is a large share of what training sees of it")
            .fix("collect more rows of these classes; until then validate by stratified k-fold cross-validation, which keeps each class in every fold")
    })
}

/// Classes in training that validation lacks (or the other way round):
/// Keras's `validation_split` takes the last rows, so rows sorted by label
/// validate on the last classes only.
fn split_misses_class(
    train: &Dataset,
    validation: &Dataset,
    classes: &[String],
) -> Option<Finding> {
    let train_counts = counts(train, classes.len());
    let val_counts = counts(validation, classes.len());
    let missing: Vec<&str> = classes
        .iter()
        .enumerate()
        .filter(|&(k, _)| (train_counts[k] > 0) != (val_counts[k] > 0))
        .map(|(_, c)| c.as_str())
        .collect();
    (!missing.is_empty()).then(|| {
        Finding::new(FindingId::SplitMissesClass, Severity::High, "The validation split leaves classes out")
            .measured(format!(
                "present in one of training and validation but not the other: {} (validation has {} rows)",
                missing.join(", "),
                validation.len()
            ))
            .why("a split that takes the last rows (Keras's validation_split) of rows ordered by label validates on some classes only: validation accuracy then measures nothing the model was trained on, or hides classes it never saw")
            .fix("shuffle with a seed and split stratified by class (scikit-learn's train_test_split(..., stratify=y); kymo fit does this for labelled data)")
    })
}

/// Identical signals with different labels: no model can tell them apart.
fn conflicting_labels(train: &Dataset) -> Option<Finding> {
    let labels = train.labels()?;
    let mut seen: HashMap<Vec<u32>, usize> = HashMap::new();
    let mut conflicts = 0usize;
    let mut example: Option<(usize, usize)> = None;
    for (row, signal) in train.signals().outer_iter().enumerate() {
        let key: Vec<u32> = signal.iter().map(|v| v.to_bits()).collect();
        match seen.get(&key) {
            Some(&first) if labels[first] != labels[row] => {
                conflicts += 1;
                example.get_or_insert((first, row));
            }
            Some(_) => {}
            None => {
                seen.insert(key, row);
            }
        }
    }
    let (first, second) = example?;
    let share = conflicts as f64 / train.len().max(1) as f64;
    let severity = if share >= 0.05 {
        Severity::High
    } else {
        Severity::Medium
    };
    Some(
        Finding::new(FindingId::ConflictingLabels, severity, format!("{conflicts} signal(s) repeat an earlier one with another label"))
            .measured(format!("for example rows {first} and {second} hold the same signal, labelled differently ({:.1}% of rows conflict)", 100.0 * share))
            .why("no model can give one input two classes: these rows cap the accuracy any classifier can reach and pull training in opposite directions; they usually come from a join that mislabels, or from duplicated recordings")
            .fix("check how the labels were joined to the signals; drop or relabel the conflicting rows"),
    )
}

/// Predictions that all name one class while the truth holds several: the
/// model collapsed to the majority (or to whatever its bias favours).
pub fn collapsed_predictions(
    predicted: &[usize],
    truth: &[usize],
    classes: &[String],
) -> Option<Finding> {
    let first = *predicted.first()?;
    let distinct_truth = truth.iter().collect::<std::collections::HashSet<_>>().len();
    if distinct_truth < 2 || predicted.iter().any(|&p| p != first) {
        return None;
    }
    let name = classes.get(first).map_or("?", String::as_str);
    Some(
        Finding::new(FindingId::PredictionsCollapsed, Severity::High, format!("Every prediction is class `{name}`"))
            .measured(format!("{} predictions, all `{name}`; the true labels hold {distinct_truth} classes", predicted.len()))
            .why("a classifier that outputs one class has learned only the class frequencies: a learning rate too high (dead units), labels that do not follow the signals, or a loss that rewards the majority")
            .fix("check the labels against the signals; lower the learning rate; weight the classes (class_weight='balanced')"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kymo_layers::{zoo, ArchitectureSpec};
    use ndarray::{Array2, Array3};

    /// `labels` with distinct signals (or, with `repeat`, row 1 a copy of
    /// row 0), named a, b, c, ...
    fn labelled(labels: &[usize], classes: usize, repeat: bool) -> Dataset {
        let n = labels.len();
        let mut signals = Array3::from_shape_fn((n, 1, 16), |(i, _, l)| {
            ((i * 7 + l * 3) % 17) as f32 + i as f32
        });
        if repeat {
            let first = signals.slice(ndarray::s![0, .., ..]).to_owned();
            signals.slice_mut(ndarray::s![1, .., ..]).assign(&first);
        }
        let targets = Array2::from_shape_fn((n, 1), |(i, _)| labels[i] as f32);
        let names = (0..classes)
            .map(|k| char::from(b'a' + k as u8).to_string())
            .collect();
        Dataset::new(signals, targets)
            .expect("finite")
            .with_classes(names)
            .expect("indices")
    }

    fn model(units: usize, activation: Activation) -> Box<dyn Model<f32>> {
        ArchitectureSpec::from(zoo::answer(16))
            .with_head(units, activation)
            .expect("ends in a Dense")
            .build(0)
            .expect("builds")
    }

    fn recipe(loss: Loss) -> Recipe {
        Recipe {
            loss,
            ..Recipe::default()
        }
    }

    fn ids(findings: &[Finding]) -> Vec<FindingId> {
        findings.iter().map(|f| f.id).collect()
    }

    const SPARSE: Loss = Loss::SparseCategoricalCrossentropy { from_logits: false };

    /// `labelled` data whose classes are named `names`.
    fn named(labels: &[usize], names: &[&str]) -> Dataset {
        let data = labelled(labels, names.len(), false);
        Dataset::new(data.signals().clone(), data.targets().clone())
            .expect("finite")
            .with_classes(names.iter().map(|n| n.to_string()).collect())
            .expect("indices")
    }

    #[test]
    fn labels_from_one_or_of_minus_one_are_named_for_the_keras_loss_that_misreads_them() {
        let rows: Vec<usize> = (0..15).map(|i| i % 3).collect();
        let check = |names: &[&str], units, activation, loss| {
            let data = named(&rows[..], names);
            classification_checks(
                model(units, activation).as_ref(),
                &recipe(loss),
                &data,
                None,
            )
            .into_iter()
            .find(|f| f.id == FindingId::LabelsBeyondOutputs)
        };
        let ucr = check(&["1", "2", "3"], 3, Activation::Softmax, SPARSE).expect("found");
        assert_eq!(ucr.severity, Severity::Medium);
        assert!(ucr.why.contains("label value of 3"), "{}", ucr.why);
        assert!(ucr.fix.contains("y - 1"), "{}", ucr.fix);
        assert!(check(&["0", "1", "2"], 3, Activation::Softmax, SPARSE).is_none());
        assert!(check(&["walk", "run", "sit"], 3, Activation::Softmax, SPARSE).is_none());
        let binary = Loss::BinaryCrossentropy {
            from_logits: false,
            label_smoothing: 0.0,
        };
        let rows: Vec<usize> = (0..14).map(|i| i % 2).collect();
        let binary_finding = |names: &[&str]| {
            let found = classification_checks(
                model(1, Activation::Sigmoid).as_ref(),
                &recipe(binary),
                &named(&rows, names),
                None,
            );
            ids(&found).contains(&FindingId::LabelsBeyondOutputs)
        };
        assert!(binary_finding(&["-1", "1"]));
        assert!(!binary_finding(&["0", "1"]));
    }

    #[test]
    fn a_well_formed_classifier_on_balanced_labels_raises_nothing() {
        let train = labelled(&[0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], 3, false);
        let val = labelled(&[0, 1, 2], 3, false);
        let found = classification_checks(
            model(3, Activation::Softmax).as_ref(),
            &recipe(SPARSE),
            &train,
            Some(&val),
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn each_head_and_loss_mismatch_is_named() {
        let train = labelled(&(0..15).map(|i| i % 3).collect::<Vec<_>>(), 3, false);
        let check = |units, activation, loss| {
            let found = classification_checks(
                model(units, activation).as_ref(),
                &recipe(loss),
                &train,
                None,
            );
            (
                ids(&found),
                found.first().map(|f| f.title.clone()).unwrap_or_default(),
            )
        };
        let mismatch = vec![FindingId::HeadLossMismatch];
        let (found, title) = check(3, Activation::Softmax, Loss::Mse);
        assert_eq!(found, mismatch);
        assert!(title.contains("regression loss"), "{title}");
        let (found, title) = check(3, Activation::Linear, SPARSE);
        assert_eq!(found, mismatch);
        assert!(title.contains("expects probabilities"), "{title}");
        let (found, title) = check(
            3,
            Activation::Softmax,
            Loss::SparseCategoricalCrossentropy { from_logits: true },
        );
        assert_eq!(found, mismatch);
        assert!(title.contains("logits"), "{title}");
        let (found, title) = check(3, Activation::Sigmoid, SPARSE);
        assert_eq!(found, mismatch);
        assert!(title.contains("Sigmoid"), "{title}");
        let (found, title) = check(
            3,
            Activation::Softmax,
            Loss::CategoricalCrossentropy {
                from_logits: false,
                label_smoothing: 0.0,
            },
        );
        assert_eq!(found, mismatch);
        assert!(title.contains("Class indices"), "{title}");
        let (found, title) = check(5, Activation::Softmax, SPARSE);
        assert_eq!(found, mismatch);
        assert!(title.contains("5 outputs for 3 classes"), "{title}");
        // A linear head on logits is well formed.
        assert!(check(
            3,
            Activation::Linear,
            Loss::SparseCategoricalCrossentropy { from_logits: true }
        )
        .0
        .is_empty());
    }

    #[test]
    fn imbalance_small_classes_split_gaps_and_conflicts_are_named() {
        // 24 of a, 2 of b: imbalanced 12 to 1 (High), b too small for 20%.
        let mut labels = vec![0usize; 24];
        labels.extend([1, 1]);
        let train = labelled(&labels, 2, false);
        let found = classification_checks(
            model(2, Activation::Softmax).as_ref(),
            &recipe(SPARSE),
            &train,
            None,
        );
        assert_eq!(
            ids(&found),
            vec![FindingId::ClassImbalance, FindingId::ClassTooSmall]
        );
        assert_eq!(found[0].severity, Severity::High);
        assert!(found[0].fix.contains("balanced"), "{}", found[0].fix);
        // Sorted labels under a tail split: validation holds only class c.
        let sorted = labelled(&[0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2], 3, false);
        let (head, tail) = kymo_data::validation_split(&sorted, 0.2).expect("splits");
        let found = classification_checks(
            model(3, Activation::Softmax).as_ref(),
            &recipe(SPARSE),
            &head,
            Some(&tail),
        );
        assert!(
            ids(&found).contains(&FindingId::SplitMissesClass),
            "{found:?}"
        );
        // A copied signal with another label.
        let conflicting = labelled(&[0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 2, true);
        let found = classification_checks(
            model(2, Activation::Softmax).as_ref(),
            &recipe(SPARSE),
            &conflicting,
            None,
        );
        assert_eq!(ids(&found), vec![FindingId::ConflictingLabels]);
    }

    #[test]
    fn collapsed_predictions_are_named_only_when_the_truth_varies() {
        let names = vec!["a".to_string(), "b".to_string()];
        let found = collapsed_predictions(&[1, 1, 1], &[0, 1, 0], &names).expect("collapsed");
        assert!(found.title.contains("`b`"), "{}", found.title);
        assert!(collapsed_predictions(&[1, 0, 1], &[0, 1, 0], &names).is_none());
        assert!(collapsed_predictions(&[1, 1], &[1, 1], &names).is_none());
    }
}
