//! The graph's wiring, its checks and its equivalence with a Sequential.

use super::*;
use crate::{zoo, LayerSpec, Model, ModelSpec, NameOnlySpec, Sequential};

/// A node reading the values named `inputs`.
fn node(inputs: &[&str], layer: LayerSpec) -> NodeSpec {
    NodeSpec {
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        layer,
    }
}

fn chain_of(spec: &ModelSpec) -> GraphSpec {
    let names = spec.resolved_names().expect("names");
    let mut previous = "input".to_string();
    let nodes = spec
        .layers
        .iter()
        .zip(&names)
        .map(|(layer, name)| {
            let node = NodeSpec {
                inputs: vec![previous.clone()],
                layer: layer.clone(),
            };
            previous = name.clone();
            node
        })
        .collect();
    GraphSpec {
        input: spec.input,
        input_name: "input".into(),
        nodes,
        output: None,
    }
}

#[test]
fn a_chain_as_a_graph_gives_the_sequential_s_bits() {
    // The Sequential fuses LeakyReLU into the pool; the graph runs them one
    // by one: the same bits either way, outputs and gradients.
    let spec = zoo::answer_bn(48);
    let mut stack = Sequential::<f32>::new(&spec, 3).expect("builds");
    let mut graph = Graph::<f32>::new(&chain_of(&spec), 3).expect("builds");
    assert_eq!(stack.get_weights(), graph.get_weights());
    let x = ArrayD::from_shape_fn(vec![3, 1, 48], |i| ((i[0] * 5 + i[2]) as f32 * 0.3).sin());
    let ys = stack.forward(x.clone(), Mode::Train).expect("forward");
    let yg = graph.forward(x, Mode::Train).expect("forward");
    assert_eq!(ys, yg);
    let gs = stack.backward(ys.mapv(|v| v - 0.5)).expect("backward");
    let gg = graph.backward(yg.mapv(|v| v - 0.5)).expect("backward");
    assert_eq!(gs, gg);
    for (a, b) in stack.parameters().iter().zip(graph.parameters()) {
        assert_eq!(a.grad, b.grad, "{}", a.name);
    }
}

#[test]
fn a_value_read_twice_gets_both_gradients() {
    let spec = GraphSpec {
        input: InputSpec {
            channels: 2,
            length: 3,
        },
        input_name: "x".into(),
        nodes: vec![NodeSpec {
            inputs: vec!["x".into(), "x".into(), "x".into()],
            layer: LayerSpec::Add(NameOnlySpec::default()),
        }],
        output: None,
    };
    let mut graph = Graph::<f64>::new(&spec, 0).expect("builds");
    let x = ArrayD::from_elem(vec![1, 2, 3], 1.5);
    assert_eq!(
        graph.forward(x, Mode::Train).expect("forward")[[0, 1, 2]],
        4.5
    );
    let g = graph
        .backward(ArrayD::from_elem(vec![1, 2, 3], 1.0))
        .expect("backward");
    assert!(g.iter().all(|&v| v == 3.0));
}

#[test]
fn wiring_errors_name_the_node() {
    let mut spec = chain_of(&zoo::answer(16));
    spec.nodes[2].inputs = vec!["nowhere".into()];
    let error = Graph::<f32>::new(&spec, 0).err().expect("unknown input");
    assert!(error.to_string().contains("'nowhere'"), "{error}");

    let mut spec = chain_of(&zoo::answer(16));
    spec.output = Some("ConvLayer2".into());
    let error = Graph::<f32>::new(&spec, 0).err().expect("dead nodes");
    assert!(error.to_string().contains("does not lead"), "{error}");

    let mut spec = chain_of(&zoo::answer(16));
    spec.nodes[1].inputs.push("input".into());
    let error = Graph::<f32>::new(&spec, 0).err().expect("two inputs");
    assert!(error.to_string().contains("one input"), "{error}");
}

#[test]
fn the_spec_round_trips_through_toml_and_json() {
    for name in ["resnet", "inception", "fcn"] {
        let spec = zoo::architecture_by_name(name, 64).expect("built in");
        let model = spec.build::<f32>(1).expect("builds");
        let resolved = model.architecture();
        let toml = resolved.to_toml().expect("toml");
        assert_eq!(
            ArchitectureSpec::from_toml_str(&toml).expect("parses"),
            resolved,
            "{name}"
        );
        let json = resolved.to_json();
        assert_eq!(
            ArchitectureSpec::from_json_str(&json).expect("parses"),
            resolved,
            "{name}"
        );
    }
}

#[test]
fn a_built_in_model_becomes_a_multichannel_classifier() {
    let spec = ArchitectureSpec::from(zoo::time_series::resnet_with(32, [4, 8, 8]))
        .with_input_channels(3)
        .with_head(5, crate::Activation::Softmax)
        .expect("ends in a Dense");
    let mut model = spec.build::<f64>(0).expect("builds");
    assert_eq!(model.output_shape(), Shape::Features(5));
    let input = ndarray::ArrayD::from_elem(vec![2, 3, 32], 0.5);
    let output = model.forward(input, crate::Mode::Inference).expect("runs");
    for row in output.outer_iter() {
        assert!((row.sum() - 1.0).abs() < 1e-12, "softmax rows sum to 1");
    }
    // The seed's Sequential models take a head too; a model that does not
    // end in a Dense is named.
    let seed = ArchitectureSpec::from(zoo::answer(64)).with_head(2, crate::Activation::Softmax);
    assert!(seed.is_ok());
    let mut flat = zoo::answer(64);
    flat.layers.pop();
    let error = ArchitectureSpec::from(flat)
        .with_head(2, crate::Activation::Softmax)
        .expect_err("ends in Flatten");
    assert!(error.to_string().contains("Flatten"), "{error}");
}

/// Small versions of the zoo's graphs: FCN, ResNet (a model input two
/// convolutions read, `Add` then ReLU), InceptionTime deep enough for two
/// residual joins (a bottleneck output three convolutions read, a max pool).
fn small_zoo(length: usize) -> Vec<(&'static str, GraphSpec)> {
    use zoo::time_series::{fcn_with, inception_with, resnet_with, InceptionSizes};
    let inception = InceptionSizes {
        kernels: [9, 5, 3],
        filters: 3,
        bottleneck: 3,
        depth: 6,
    };
    vec![
        ("fcn", fcn_with(length, [5, 7, 4])),
        ("resnet", resnet_with(length, [4, 6, 6])),
        ("inception", inception_with(length, inception)),
    ]
}

#[test]
fn convolutions_read_recomputed_inputs_where_cheap_layers_produce_them() {
    for (name, spec) in small_zoo(24) {
        let graph = Graph::<f64>::new(&spec, 0).expect("builds");
        for (i, node) in graph.nodes.iter().enumerate() {
            let Operation::Layer(layer) = &node.operation else {
                continue;
            };
            if layer.spec().kind() != "Conv1D" {
                continue;
            }
            let input = node.inputs[0];
            let producer = input.checked_sub(1).map(|p| {
                let kind = match &graph.nodes[p].operation {
                    Operation::Layer(layer) => layer.spec().kind(),
                    Operation::Merge(merge) => merge.spec().kind(),
                };
                (kind, graph.nodes[p].inputs[0])
            });
            // Kept: the model's input, convolutions' outputs (the
            // bottleneck's, which no cheap layer gives again), and the
            // first module's pool of the model's input.
            let expected = !matches!(
                producer,
                None | Some(("Conv1D", _)) | Some(("MaxPooling1D", 0))
            );
            assert_eq!(
                graph.keeping.is_recomputable(input),
                expected,
                "{name}: {} reads {producer:?}",
                graph.names[i]
            );
        }
    }
}

/// Moves every weight away from its initial value (γ from 1, β from 0), so
/// that a recomputation or replay computing anything differently shows
/// (a wrong `x̂·γ + β`, say).
fn perturb<T: Float>(graph: &mut Graph<T>) {
    for (k, parameter) in graph.parameters_mut().into_iter().enumerate() {
        let mut step = k as f64;
        parameter.value.mapv_inplace(|v| {
            step += 0.37;
            v + T::from_f64_lossy(0.3 * step.sin())
        });
    }
}

#[test]
fn recomputing_inputs_in_backward_gives_the_bits_of_keeping_them() {
    let length = 24;
    for (name, spec) in small_zoo(length) {
        // Recomputing everything it can, keeping each value once, and
        // letting every convolution keep its own input.
        let mut lean = Graph::<f32>::new(&spec, 5).expect("builds");
        lean.set_recompute_above(Some(0));
        let mut once = Graph::<f32>::new(&spec, 5).expect("builds");
        once.set_recompute_above(Some(usize::MAX));
        let mut keeping_all = Graph::<f32>::new(&spec, 5).expect("builds");
        keeping_all.set_recompute_above(None);
        for graph in [&mut lean, &mut once, &mut keeping_all] {
            perturb(graph);
        }
        for round in 0..2 {
            let x = ArrayD::from_shape_fn(vec![3, 1, length], |i| {
                ((i[0] * 7 + i[2] + round) as f32 * 0.41).sin()
            });
            let outputs = [&mut lean, &mut once, &mut keeping_all]
                .map(|graph| graph.forward(x.clone(), Mode::Train).expect("forward"));
            assert!(lean.keeping.recomputing && !once.keeping.recomputing);
            assert_eq!(outputs[0], outputs[2], "{name}");
            assert_eq!(outputs[1], outputs[2], "{name}");
            let grad = outputs[0].mapv(|v| v - 0.25);
            let grads = [&mut lean, &mut once, &mut keeping_all]
                .map(|graph| graph.backward(grad.clone()).expect("backward"));
            assert_eq!(grads[0], grads[2], "{name}: input gradient");
            assert_eq!(grads[1], grads[2], "{name}: input gradient");
            for graph in [&lean, &once] {
                for (a, b) in graph.parameters().iter().zip(keeping_all.parameters()) {
                    assert_eq!(a.grad, b.grad, "{name}: {}", a.name);
                    assert!(a.grad.iter().all(|g| g.is_finite()), "{name}: {}", a.name);
                }
            }
        }
    }
}

#[test]
fn training_runs_each_normalization_or_join_and_its_relu_as_one_with_the_bits_of_each_layer() {
    // 70 points: rows longer than the normalization's lane blocks, with a
    // tail. Pairs: FCN's three blocks; ResNet's first two normalizations
    // of each block (the third and the shortcut's feed an `Add`) and each
    // block's `Add`; InceptionTime's normalization after each module's
    // `Concatenate`, and the `Add` of its two shortcuts.
    let length = 70;
    for ((name, spec), expected) in small_zoo(length).into_iter().zip([3, 9, 8]) {
        let mut fused = Graph::<f32>::new(&spec, 4).expect("builds");
        let mut separate = Graph::<f32>::new(&spec, 4).expect("builds");
        separate.set_training_fusion(false);
        for graph in [&mut fused, &mut separate] {
            perturb(graph);
        }
        let pairs: Vec<usize> = (0..fused.nodes.len())
            .filter(|&i| fused.pairs.activation_after(i).is_some())
            .collect();
        assert_eq!(pairs.len(), expected, "{name}: pairs at {pairs:?}");
        for &i in &pairs {
            assert!(fused.pairs.is_absorbed(i + 1), "{name}: the ReLU follows");
        }
        for round in 0..2 {
            let x = ArrayD::from_shape_fn(vec![3, 1, length], |i| {
                ((i[0] * 5 + i[2] + round) as f32 * 0.37).sin()
            });
            let [a, b] = [&mut fused, &mut separate]
                .map(|g| g.forward(x.clone(), Mode::Train).expect("forward"));
            assert!(fused.fused_step && !separate.fused_step, "{name}");
            assert_eq!(a, b, "{name}: output");
            let grad = a.mapv(|v| v - 0.25);
            let [ga, gb] =
                [&mut fused, &mut separate].map(|g| g.backward(grad.clone()).expect("backward"));
            assert_eq!(ga, gb, "{name}: input gradient");
            for (p, q) in fused.parameters().iter().zip(separate.parameters()) {
                assert_eq!(p.value, q.value, "{name}: {}", p.name);
                assert_eq!(p.grad, q.grad, "{name}: gradient of {}", p.name);
            }
        }
    }
}

#[test]
fn a_normalization_read_twice_or_by_a_smooth_activation_runs_alone() {
    use crate::layers::{ActivationSpec, BatchNormalizationSpec};
    let norm = |name: &str| {
        LayerSpec::BatchNormalization(BatchNormalizationSpec {
            name: Some(name.into()),
            ..Default::default()
        })
    };
    let activation = |name: &str, activation| {
        LayerSpec::Activation(ActivationSpec {
            activation,
            name: Some(name.into()),
        })
    };
    let spec = GraphSpec {
        input: InputSpec {
            channels: 2,
            length: 9,
        },
        input_name: "x".into(),
        nodes: vec![
            node(&["x"], norm("a")),
            // `a` is read twice: no pair.
            node(&["a"], activation("a_relu", crate::Activation::Relu)),
            node(&["a", "a_relu"], LayerSpec::Add(NameOnlySpec::default())),
            node(&["add"], norm("b")),
            node(&["b"], activation("b_tanh", crate::Activation::Tanh)),
            node(&["b_tanh"], norm("c")),
            node(
                &["c"],
                activation(
                    "c_leaky",
                    crate::Activation::LeakyRelu {
                        negative_slope: 0.2,
                    },
                ),
            ),
        ],
        output: None,
    };
    let mut graph = Graph::<f32>::new(&spec, 0).expect("builds");
    let after: Vec<_> = (0..7).map(|i| graph.pairs.activation_after(i)).collect();
    let leaky = crate::Activation::LeakyRelu {
        negative_slope: 0.2,
    };
    assert_eq!(after, [None, None, None, None, None, Some(leaky), None]);
    let absorbed: Vec<bool> = (0..7).map(|i| graph.pairs.is_absorbed(i)).collect();
    assert_eq!(absorbed, [false, false, false, false, false, false, true]);
    // Fused and not, the same step.
    let x = ArrayD::from_shape_fn(vec![3, 2, 9], |i| {
        ((i[0] * 3 + i[1] + i[2]) as f32 * 0.8).cos()
    });
    let y = graph.forward(x.clone(), Mode::Train).expect("fused");
    let g = graph.backward(y.mapv(|v| v * 0.5)).expect("backward");
    let mut plain = Graph::<f32>::new(&spec, 0).expect("builds");
    plain.set_training_fusion(false);
    let y_plain = plain.forward(x, Mode::Train).expect("separate");
    let g_plain = plain.backward(y_plain.mapv(|v| v * 0.5)).expect("backward");
    assert_eq!(y, y_plain);
    assert_eq!(g, g_plain);
}

#[test]
fn a_join_and_its_kink_run_as_one_with_the_bits_of_each_layer() {
    use crate::layers::ActivationSpec;
    let named = |name: &str| NameOnlySpec {
        name: Some(name.into()),
    };
    let leaky = crate::Activation::LeakyRelu {
        negative_slope: 0.2,
    };
    // Two inputs then a LeakyReLU, three (one twice) then a ReLU, which is
    // the output; 4,500 values a batch, past one block of the passes.
    let spec = GraphSpec {
        input: InputSpec {
            channels: 3,
            length: 500,
        },
        input_name: "x".into(),
        nodes: vec![
            node(&["x"], LayerSpec::ReLU(named("r"))),
            node(&["x", "r"], LayerSpec::Add(named("two"))),
            node(
                &["two"],
                LayerSpec::Activation(ActivationSpec {
                    activation: leaky,
                    name: Some("two_leaky".into()),
                }),
            ),
            node(
                &["two_leaky", "x", "two_leaky"],
                LayerSpec::Add(named("three")),
            ),
            node(&["three"], LayerSpec::ReLU(named("out"))),
        ],
        output: None,
    };
    let mut fused = Graph::<f32>::new(&spec, 0).expect("builds");
    let mut separate = Graph::<f32>::new(&spec, 0).expect("builds");
    separate.set_training_fusion(false);
    let after: Vec<_> = (0..5).map(|i| fused.pairs.activation_after(i)).collect();
    let relu = Some(crate::Activation::Relu);
    assert_eq!(after, [None, Some(leaky), None, relu, None]);
    let x = ArrayD::from_shape_fn(vec![3, 3, 500], |i| {
        ((i[0] * 11 + i[1] * 5 + i[2]) as f32 * 0.53).sin() - 0.2
    });
    let [a, b] =
        [&mut fused, &mut separate].map(|g| g.forward(x.clone(), Mode::Train).expect("forward"));
    assert!(a.iter().any(|&v| v == 0.0) && a.iter().any(|&v| v > 0.0));
    assert_eq!(a, b);
    let grad = a.mapv(|v| 0.5 - v);
    let [ga, gb] = [&mut fused, &mut separate].map(|g| g.backward(grad.clone()).expect("backward"));
    let bits = |y: &ArrayD<f32>| y.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&ga), bits(&gb));
}

#[test]
fn a_step_recomputes_when_that_saves_the_bytes_asked() {
    let spec = zoo::time_series::resnet_with(20, [4, 6, 6]);
    let mut graph = Graph::<f32>::new(&spec, 1).expect("builds");
    // What recomputing saves per sample: ResNet's second and third
    // convolutions' inputs in each block, and the next block's inputs
    // (twice in the second block: its first convolution and the
    // shortcut's), 4 bytes per element.
    let per_sample = 20 * (4 + 4 + 6 + 6 + 6 + 6 + 2 * 4 + 6) * 4;
    let x = ArrayD::from_elem(vec![3, 1, 20], 0.5f32);
    for (above, expected) in [(3 * per_sample, true), (3 * per_sample + 1, false)] {
        graph.set_recompute_above(Some(above));
        let y = graph.forward(x.clone(), Mode::Train).expect("forward");
        assert_eq!(graph.keeping.recomputing, expected, "above {above}");
        graph.backward(y).expect("backward");
    }
}

#[test]
fn inference_fuses_convolutions_with_the_maps_after_them_with_the_bits_of_each_layer() {
    let length = 40;
    // (model, chains of two followers: a convolution, BatchNormalization
    // and ReLU; chains of one: a convolution and BatchNormalization before
    // an `Add`, or InceptionTime's BatchNormalization and ReLU after each
    // of its 6 modules' `Concatenate`).
    for ((name, spec), expected) in small_zoo(length).into_iter().zip([(3, 0), (6, 5), (0, 8)]) {
        let mut fused = Graph::<f32>::new(&spec, 2).expect("builds");
        let mut separate = Graph::<f32>::new(&spec, 2).expect("builds");
        separate.set_inference_fusion(false);
        for graph in [&mut fused, &mut separate] {
            perturb(graph);
        }
        let lengths: Vec<usize> = (0..fused.nodes.len())
            .map(|i| fused.chains.followers(i).len())
            .filter(|&n| n > 0)
            .collect();
        let found = (
            lengths.iter().filter(|&&n| n == 2).count(),
            lengths.iter().filter(|&&n| n == 1).count(),
        );
        assert_eq!(found, expected, "{name}: chains {lengths:?}");
        for batch in [1, 5] {
            let x = ArrayD::from_shape_fn(vec![batch, 1, length], |i| {
                ((i[0] * 7 + i[2]) as f32 * 0.29).sin()
            });
            let a = fused.forward(x.clone(), Mode::Inference).expect("fused");
            let b = separate.forward(x, Mode::Inference).expect("separate");
            let bits = |y: &ArrayD<f32>| y.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "{name}, batch {batch}");
        }
    }
}

#[test]
fn a_chain_stops_where_a_value_has_another_reader() {
    use crate::layers::{BatchNormalizationSpec, Conv1DSpec, DropoutSpec};
    let conv = |name: &str| {
        LayerSpec::Conv1D(Conv1DSpec {
            activation: crate::Activation::Tanh,
            padding: kymo_tensor::Padding::Same,
            name: Some(name.into()),
            ..Conv1DSpec::new(3, 3)
        })
    };
    let relu = |name: &str| {
        LayerSpec::ReLU(NameOnlySpec {
            name: Some(name.into()),
        })
    };
    let spec = GraphSpec {
        input: InputSpec {
            channels: 2,
            length: 12,
        },
        input_name: "x".into(),
        nodes: vec![
            node(&["x"], conv("a")),
            node(
                &["a"],
                LayerSpec::Dropout(DropoutSpec {
                    rate: 0.5,
                    seed: None,
                    name: Some("drop".into()),
                }),
            ),
            node(
                &["drop"],
                LayerSpec::BatchNormalization(BatchNormalizationSpec {
                    name: Some("bn".into()),
                    ..Default::default()
                }),
            ),
            // `bn` is read twice: the chain ends there.
            node(&["bn"], relu("relu")),
            node(&["bn"], conv("b")),
            node(
                &["relu", "b"],
                LayerSpec::Add(NameOnlySpec {
                    name: Some("sum".into()),
                }),
            ),
            node(&["sum"], conv("c")),
            node(&["c"], relu("out")),
        ],
        output: None,
    };
    let mut graph = Graph::<f64>::new(&spec, 0).expect("builds");
    perturb(&mut graph);
    let x = ArrayD::from_shape_fn(vec![2, 2, 12], |i| ((i[1] * 5 + i[2]) as f64 * 0.7).cos());
    let fused = graph.forward(x.clone(), Mode::Inference).expect("fused");
    graph.set_inference_fusion(false);
    let separate = graph.forward(x, Mode::Inference).expect("separate");
    // The convolutions' own tanh, then Dropout (the identity) and
    // BatchNormalization: the bits of each layer on its own.
    assert_eq!(fused, separate);
    let followers: Vec<&[usize]> = (0..graph.nodes.len())
        .map(|i| graph.chains.followers(i))
        .collect();
    assert_eq!(followers[0], &[1, 2]);
    assert!(followers[4].is_empty(), "b is read by the Add only");
    assert_eq!(followers[6], &[7], "the output's node may end a chain");
    let absorbed: Vec<bool> = (0..8).map(|i| graph.chains.is_absorbed(i)).collect();
    assert_eq!(
        absorbed,
        [false, true, true, false, false, false, false, true]
    );
}

#[path = "segments_tests.rs"]
mod segments_tests;
