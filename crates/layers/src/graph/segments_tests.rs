//! Checkpointed segments: where a graph places them, and that replaying
//! them gives the bits (and the moving statistics) of keeping everything.

use super::segments::Segment;
use super::*;

#[test]
fn segments_end_where_every_later_node_reads_through_one_value() {
    for (name, spec) in small_zoo(24) {
        let graph = Graph::<f64>::new(&spec, 0).expect("builds");
        let segments = graph.keeping.segments().to_vec();
        assert!(!segments.is_empty(), "{name}: nothing checkpointed");
        for segment in &segments {
            let input = segment.input();
            for (j, node) in graph.nodes.iter().enumerate() {
                let inside = (segment.first..=segment.last).contains(&j);
                for &v in &node.inputs {
                    // Nodes from the segment on read nothing older than
                    // its input, and only its nodes read its values.
                    if j >= segment.first {
                        assert!(v >= input, "{name}: {} reads {v}", graph.names[j]);
                    }
                    if v >= input && v <= segment.last {
                        assert!(inside, "{name}: {} reads inside", graph.names[j]);
                    }
                }
            }
        }
        // The last segment runs backward first: it is never checkpointed,
        // so the last layer with weights is outside every segment.
        let last = segments.last().expect("not empty").last;
        assert!(last + 2 < graph.nodes.len(), "{name}");
    }
    // ResNet: one segment per residual block but the last, each ending at
    // its `Add` (whose ReLU starts the next segment).
    let spec = zoo::time_series::resnet_with(24, [4, 6, 6]);
    let graph = Graph::<f64>::new(&spec, 0).expect("builds");
    let ends: Vec<String> = graph
        .keeping
        .segments()
        .iter()
        .map(|segment| match &graph.nodes[segment.last].operation {
            Operation::Merge(merge) => merge.spec().kind().to_string(),
            Operation::Layer(layer) => layer.spec().kind().to_string(),
        })
        .collect();
    assert_eq!(ends, ["Add", "Add"]);
    // FCN, a chain of Conv–BN–ReLU blocks of 5, 7 and 4 filters: the first
    // block keeps 1 + 5 floats per point against its 1-channel input, so
    // it is a segment up to its BatchNormalization; the next keeps 7
    // against 5, under twice, so it grows to the third block's
    // BatchNormalization (11 against 5) and, being last, is left out.
    let spec = zoo::time_series::fcn_with(24, [5, 7, 4]);
    let graph = Graph::<f64>::new(&spec, 0).expect("builds");
    let kinds = |segment: &Segment| {
        graph.nodes[segment.first..=segment.last]
            .iter()
            .map(|node| match &node.operation {
                Operation::Layer(layer) => layer.spec().kind(),
                Operation::Merge(merge) => merge.spec().kind(),
            })
            .collect::<Vec<_>>()
    };
    let segments: Vec<_> = graph.keeping.segments().iter().map(kinds).collect();
    assert_eq!(segments, [vec!["Conv1D", "BatchNormalization"]]);
}

#[test]
fn checkpointing_gives_the_bits_and_the_moving_statistics_of_keeping_everything() {
    let length = 24;
    for (name, spec) in small_zoo(length) {
        // Checkpointed and recomputing, checkpointed and keeping each value
        // once, and neither.
        let build = |checkpoint: Option<usize>, recompute: Option<usize>| {
            let mut graph = Graph::<f32>::new(&spec, 5).expect("builds");
            graph.set_checkpoint_above(checkpoint);
            graph.set_recompute_above(recompute);
            perturb(&mut graph);
            graph
        };
        let mut lean = build(Some(0), Some(0));
        let mut checkpointed = build(Some(0), Some(usize::MAX));
        let mut keeping_all = build(None, None);
        for round in 0..2 {
            let x = ArrayD::from_shape_fn(vec![3, 1, length], |i| {
                ((i[0] * 7 + i[2] + round) as f32 * 0.41).sin()
            });
            let graphs = [&mut lean, &mut checkpointed, &mut keeping_all];
            let outputs =
                graphs.map(|graph| graph.forward(x.clone(), Mode::Train).expect("forward"));
            assert!(
                lean.keeping.checkpointing && lean.keeping.recomputing,
                "{name}"
            );
            assert!(checkpointed.keeping.checkpointing && !checkpointed.keeping.recomputing);
            assert!(!keeping_all.keeping.checkpointing, "{name}");
            assert_eq!(outputs[0], outputs[2], "{name}");
            assert_eq!(outputs[1], outputs[2], "{name}");
            let grad = outputs[0].mapv(|v| v - 0.25);
            let graphs = [&mut lean, &mut checkpointed, &mut keeping_all];
            let grads = graphs.map(|graph| graph.backward(grad.clone()).expect("backward"));
            assert_eq!(grads[0], grads[2], "{name}: input gradient");
            assert_eq!(grads[1], grads[2], "{name}: input gradient");
            for graph in [&lean, &checkpointed] {
                for (a, b) in graph.parameters().iter().zip(keeping_all.parameters()) {
                    assert_eq!(a.grad, b.grad, "{name}: {} gradient", a.name);
                    // The moving statistics moved once, not twice.
                    assert_eq!(a.value, b.value, "{name}: {}", a.name);
                }
            }
        }
    }
}

#[test]
fn a_step_checkpoints_when_that_frees_the_bytes_asked() {
    let spec = zoo::time_series::resnet_with(20, [4, 6, 6]);
    let mut graph = Graph::<f32>::new(&spec, 1).expect("builds");
    graph.set_recompute_above(Some(0));
    // What checkpointing frees per sample: the first two blocks' four
    // BatchNormalization outputs each (4 and 6 channels) and the model's
    // input the first block's two convolutions keep once, less each
    // block's checkpoint (the model's 1 channel, then 4).
    let per_sample = 20 * ((4 * 4 + 1 - 1) + (4 * 6 - 4)) * 4;
    let x = ArrayD::from_elem(vec![3, 1, 20], 0.5f32);
    for (above, expected) in [(3 * per_sample, true), (3 * per_sample + 1, false)] {
        graph.set_checkpoint_above(Some(above));
        let y = graph.forward(x.clone(), Mode::Train).expect("forward");
        assert_eq!(graph.keeping.checkpointing, expected, "above {above}");
        graph.backward(y).expect("backward");
    }
}

#[test]
fn a_segment_with_dropout_is_not_checkpointed() {
    // ResNet with Dropout after its first convolution: Dropout draws at
    // random, so the first block is not checkpointed; the second still is.
    let spec = zoo::time_series::resnet_with(24, [4, 6, 6]);
    let mut spec = Graph::<f64>::new(&spec, 0).expect("builds").spec();
    let first = spec.nodes[0].layer.name().expect("resolved").to_string();
    let dropout = NodeSpec {
        inputs: vec![first.clone()],
        layer: LayerSpec::Dropout(crate::DropoutSpec {
            rate: 0.5,
            seed: None,
            name: Some("dropout".into()),
        }),
    };
    let reader = spec
        .nodes
        .iter()
        .position(|node| node.inputs == [first.clone()])
        .expect("a reader of the first convolution");
    spec.nodes[reader].inputs = vec!["dropout".into()];
    spec.nodes.insert(1, dropout);
    let graph = Graph::<f64>::new(&spec, 0).expect("builds");
    let at = graph
        .names
        .iter()
        .position(|n| n == "dropout")
        .expect("built");
    let segments = graph.keeping.segments();
    assert_eq!(segments.len(), 1, "{segments:?}");
    assert!(segments[0].first > at);
}
