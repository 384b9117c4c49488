//! A head that predicts at every position: a Dense after a Conv1D with no
//! Flatten (or global pooling) between them. Keras's Dense maps the last
//! axis only, so the model outputs `(steps, units)` per signal; Keras
//! broadcasts the per-signal target over the steps, each position learns
//! the whole signal's target from its own receptive field, and `predict`
//! returns one value per position. The doctor names it and goes on with
//! the model as its author meant it: a Flatten before that Dense.
//!
//! And a head of another width than the regression targets: most often a
//! classifier's `Dense(k, softmax)` compiled with a regression loss on
//! class indices, which Keras's MSE broadcasts into a loss that trains
//! nothing sensible, and which kymo refuses to train.

use kymo_layers::{ArchitectureSpec, DenseSpec, LayerSpec, NameOnlySpec, NodeSpec, Shape};

use crate::finding::{Finding, FindingId, Severity};

/// The name the inserted Flatten takes.
const FLATTEN: &str = "flatten_head";

/// When `spec`'s model outputs a signal rather than one row per sample:
/// the finding, and the model with a Flatten before the Dense that maps
/// each position (or, with no such Dense, a Flatten and a
/// `Dense(targets)` at the end). A model that does not build is left to
/// the checks that say why (an input the other way round).
pub fn per_position_output(
    spec: &ArchitectureSpec,
    targets: usize,
) -> Option<(ArchitectureSpec, Finding)> {
    let model = spec.build::<f32>(0).ok()?;
    let Shape::Signal { channels, length } = model.output_shape() else {
        return None;
    };
    // The built model's spec names every layer, so the fix can find them.
    let spec = &model.architecture();
    // The first Dense that maps a signal position by position, with its
    // input; the output stays a signal from there on.
    let dense =
        model
            .layers()
            .into_iter()
            .find_map(|layer| match (layer.spec(), layer.input_shape()) {
                (LayerSpec::Dense(_), Shape::Signal { channels, length }) => {
                    Some((layer.name().to_string(), channels, length))
                }
                _ => None,
            });
    let flatten = LayerSpec::Flatten(NameOnlySpec {
        name: Some(FLATTEN.into()),
    });
    let (fixed, measured, fix) = match &dense {
        Some((name, in_channels, steps)) => (
            insert_before(spec, name, flatten),
            format!(
                "'{name}' is a Dense on a signal of {steps} steps x {in_channels} channels: Keras applies it at each of the {steps} positions, so the model outputs ({length}, {channels}) per signal, for {targets} target value(s) per signal"
            ),
            format!("add Flatten() before '{name}' (or GlobalAveragePooling1D(), for a head that does not depend on the signal's length)"),
        ),
        None => (
            append(spec, flatten, targets),
            format!(
                "the model ends in '{}' with output ({length}, {channels}) per signal, for {targets} target value(s) per signal",
                model.layers().last().map_or("?", |l| l.name())
            ),
            format!("end the model with Flatten() and Dense({targets})"),
        ),
    };
    let finding = Finding::new(
        FindingId::PerPositionOutput,
        Severity::High,
        "The model predicts at every position, not once per signal",
    )
    .measured(measured)
    .why(format!(
        "Keras's Dense maps the last axis only; without a Flatten the target is broadcast over the {length} positions, each position is trained to predict the whole signal's target from its own receptive field, and predict() returns {length} values per signal"
    ))
    .fix(fix);
    // The fixed model must give rows; if it still does not, there is no
    // model to go on with, and the finding stands alone.
    let fixed = fixed.filter(|f| {
        f.build::<f32>(0)
            .is_ok_and(|m| matches!(m.output_shape(), Shape::Features(_)))
    });
    Some((fixed.unwrap_or_else(|| spec.clone()), finding))
}

/// `spec` with `layer` inserted right before the layer named `before`.
fn insert_before(
    spec: &ArchitectureSpec,
    before: &str,
    layer: LayerSpec,
) -> Option<ArchitectureSpec> {
    let mut fixed = spec.clone();
    match &mut fixed {
        ArchitectureSpec::Sequential(s) => {
            let at = s.layers.iter().position(|l| l.name() == Some(before))?;
            s.layers.insert(at, layer);
        }
        ArchitectureSpec::Graph(g) => {
            let at = g
                .nodes
                .iter()
                .position(|n| n.layer.name() == Some(before))?;
            let inputs = std::mem::replace(&mut g.nodes[at].inputs, vec![FLATTEN.into()]);
            g.nodes.insert(at, NodeSpec { inputs, layer });
        }
    }
    Some(fixed)
}

/// `spec` ending in `flatten` and a `Dense(targets)`.
fn append(spec: &ArchitectureSpec, flatten: LayerSpec, targets: usize) -> Option<ArchitectureSpec> {
    let dense = LayerSpec::Dense(DenseSpec {
        name: Some("dense_head".into()),
        ..DenseSpec::new(targets)
    });
    let mut fixed = spec.clone();
    match &mut fixed {
        ArchitectureSpec::Sequential(s) => {
            s.layers.push(flatten);
            s.layers.push(dense);
        }
        ArchitectureSpec::Graph(g) => {
            let last = g.output.clone().or_else(|| {
                g.nodes
                    .last()
                    .and_then(|n| n.layer.name().map(str::to_string))
            })?;
            g.nodes.push(NodeSpec {
                inputs: vec![last],
                layer: flatten,
            });
            g.nodes.push(NodeSpec {
                inputs: vec![FLATTEN.into()],
                layer: dense,
            });
            g.output = Some("dense_head".into());
        }
    }
    Some(fixed)
}

/// `word`, with an `s` unless `count` is 1.
fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// When `spec`'s model gives rows of another width than the `targets`
/// regression target columns: the finding (the probe, which would have
/// to train that model, is then skipped). A model that does not build, or
/// outputs a signal, is left to the checks that say why.
pub fn outputs_against_targets(spec: &ArchitectureSpec, targets: usize) -> Option<Finding> {
    let model = spec.build::<f32>(0).ok()?;
    let Shape::Features(units) = model.output_shape() else {
        return None;
    };
    if units == targets {
        return None;
    }
    let last = model.layers().last().map_or("?", |l| l.name()).to_string();
    Some(
        Finding::new(
            FindingId::HeadLossMismatch,
            Severity::High,
            format!(
                "The model gives {units} {} for {targets} regression {}",
                plural(units, "output"),
                plural(targets, "target")
            ),
        )
        .measured(format!(
            "the model ends in '{last}' with {units} output(s) per signal; the data has {targets} target column(s), read as a regression"
        ))
        .why("a regression loss compares each output with its own target column: with another number of outputs the loss is undefined (Keras broadcasts the target across the outputs and trains every output toward it), and a head of one output per class under a regression loss is a classifier whose class indices are being regressed")
        .fix(format!(
            "class indices as targets: keep the head and compile with sparse_categorical_crossentropy (kymo: `--classes --loss sparse_categorical_crossentropy`, or a Keras file compiled with it); a regression: end the model with Dense({targets}) and no activation"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> ArchitectureSpec {
        ArchitectureSpec::from_toml_str(text).expect("a valid spec")
    }

    const CONV: &str = r#"
        input = { channels = 1, length = 64 }
        [[layers]]
        type = "Conv1D"
        filters = 4
        kernel_size = 3
        activation = "relu"
        name = "conv"
    "#;

    #[test]
    fn a_dense_on_a_signal_gets_a_flatten_before_it() {
        let text = format!("{CONV}\n[[layers]]\ntype = \"Dense\"\nunits = 1\nname = \"out\"\n");
        let (fixed, finding) =
            per_position_output(&spec(&text), 1).expect("the output is a signal");
        assert_eq!(finding.id, FindingId::PerPositionOutput);
        assert_eq!(finding.severity, Severity::High);
        assert!(
            finding.measured.contains("each of the 62 positions"),
            "{}",
            finding.measured
        );
        assert!(
            finding.fix.contains("Flatten() before 'out'"),
            "{}",
            finding.fix
        );
        let model = fixed.build::<f32>(0).expect("the fix builds");
        assert_eq!(model.output_shape(), Shape::Features(1));
        assert_eq!(model.layers()[1].spec().kind(), "Flatten");
        // With a Flatten already there, nothing is found.
        let flat = format!(
            "{CONV}\n[[layers]]\ntype = \"Flatten\"\n[[layers]]\ntype = \"Dense\"\nunits = 1\n"
        );
        assert!(per_position_output(&spec(&flat), 1).is_none());
    }

    #[test]
    fn a_model_ending_in_a_convolution_gets_a_flatten_and_a_dense_head() {
        let (fixed, finding) = per_position_output(&spec(CONV), 2).expect("the output is a signal");
        assert!(finding.fix.contains("Dense(2)"), "{}", finding.fix);
        let model = fixed.build::<f32>(0).expect("the fix builds");
        assert_eq!(model.output_shape(), Shape::Features(2));
    }

    #[test]
    fn in_a_graph_the_flatten_takes_the_dense_nodes_input() {
        let graph = spec(
            r#"
            input = { channels = 1, length = 32 }
            [[nodes]]
            inputs = ["input"]
            type = "Conv1D"
            name = "conv"
            filters = 2
            kernel_size = 3
            [[nodes]]
            inputs = ["conv"]
            type = "Dense"
            name = "out"
            units = 1
            "#,
        );
        let (fixed, _) = per_position_output(&graph, 1).expect("the output is a signal");
        let model = fixed.build::<f32>(0).expect("the fix builds");
        assert_eq!(model.output_shape(), Shape::Features(1));
    }

    #[test]
    fn a_head_wider_than_the_regression_targets_is_named() {
        let head = |units: usize| {
            format!("{CONV}\n[[layers]]\ntype = \"Flatten\"\n[[layers]]\ntype = \"Dense\"\nunits = {units}\nactivation = \"softmax\"\nname = \"out\"\n")
        };
        let finding = outputs_against_targets(&spec(&head(3)), 1).expect("3 outputs for 1 target");
        assert_eq!(finding.id, FindingId::HeadLossMismatch);
        assert_eq!(finding.severity, Severity::High);
        assert!(
            finding.title.contains("3 outputs for 1"),
            "{}",
            finding.title
        );
        assert!(
            finding.fix.contains("sparse_categorical_crossentropy"),
            "{}",
            finding.fix
        );
        assert!(outputs_against_targets(&spec(&head(2)), 2).is_none());
        // A signal output is `per_position_output`'s to name.
        assert!(outputs_against_targets(&spec(CONV), 1).is_none());
    }
}
