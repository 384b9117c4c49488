//! A kymo graph as Keras's functional model: each layer's config with the
//! `inbound_nodes` that wire it (`keras_history` names the layer read), in
//! the order Keras lists the layers on load, so that the weight keys
//! numbered in that order reach the layers they belong to.

use std::collections::HashMap;

use kymo_layers::{GraphSpec, Layer, LayerSpec, Model, Shape};
use serde_json::{json, Value};

use crate::functional_order::{keras_layer_order, Source};
use crate::write::{flattened_after, keras_shape, layer_config, Entry};

/// The per-sample output shape of a merge of `inputs` (of a model that
/// built, so they fit): an elementwise merge takes the largest size of
/// each axis (an axis of 1 broadcasts), a `Concatenate` sums the channels
/// (or the features).
fn merge_shape(spec: &LayerSpec, inputs: &[Shape]) -> Option<Shape> {
    let first = *inputs.first()?;
    match (spec, first) {
        (spec, Shape::Signal { .. })
            if matches!(spec, LayerSpec::Add(_)) || spec.elementwise_op().is_some() =>
        {
            Some(Shape::Signal {
                channels: inputs.iter().map(|s| s.channels()).max()?,
                length: inputs
                    .iter()
                    .map(|s| match s {
                        Shape::Signal { length, .. } => *length,
                        Shape::Features(_) => 1,
                    })
                    .max()?,
            })
        }
        (spec, Shape::Features(_))
            if matches!(spec, LayerSpec::Add(_)) || spec.elementwise_op().is_some() =>
        {
            Some(Shape::Features(inputs.iter().map(|s| s.size()).max()?))
        }
        (LayerSpec::Concatenate(_), Shape::Signal { length, .. }) => Some(Shape::Signal {
            channels: inputs.iter().map(|s| s.channels()).sum(),
            length,
        }),
        (LayerSpec::Concatenate(_), Shape::Features(_)) => {
            Some(Shape::Features(inputs.iter().map(|s| s.size()).sum()))
        }
        _ => None,
    }
}

/// What the writer knows of one value of the graph: its per-sample shape,
/// and the `(channels, steps)` of the Flatten a Dense reading it sees.
type GraphValue = (Shape, Option<(usize, usize)>);

/// One `keras_history` reference to the value `name` of `shape`.
fn keras_tensor(name: &str, shape: Shape) -> Value {
    json!({"class_name": "__keras_tensor__",
           "config": {"shape": keras_shape(shape), "dtype": "float32", "keras_history": [name, 0, 0]}})
}

/// The `config.json` of the functional model `spec` (built as `model`) and
/// its layers in Keras's order, the `InputLayer` first.
pub(crate) fn functional_model<'a>(
    spec: &GraphSpec,
    model: &'a dyn Model<f32>,
) -> Result<(Value, Vec<Entry<'a>>), String> {
    let layers: HashMap<&str, &'a dyn Layer<f32>> =
        model.layers().into_iter().map(|l| (l.name(), l)).collect();
    let input_shape = Shape::Signal {
        channels: spec.input.channels,
        length: spec.input.length,
    };
    // Each value's shape and what a Dense reading it sees of a Flatten,
    // by name, computed in the spec's order (each node after its inputs).
    let mut values: HashMap<&str, GraphValue> =
        HashMap::from([(spec.input_name.as_str(), (input_shape, None))]);
    let mut node_names = Vec::with_capacity(spec.nodes.len());
    for node in &spec.nodes {
        let name = node
            .layer
            .name()
            .ok_or_else(|| format!("a {} node has no name", node.layer.kind()))?;
        let inputs: Vec<GraphValue> = node
            .inputs
            .iter()
            .map(|input| {
                values
                    .get(input.as_str())
                    .copied()
                    .ok_or_else(|| format!("layer '{name}' reads '{input}', not yet computed"))
            })
            .collect::<Result<_, _>>()?;
        let value = match layers.get(name) {
            Some(layer) => (
                layer.output_shape(),
                flattened_after(&node.layer, layer.input_shape(), inputs[0].1),
            ),
            None => {
                let shapes: Vec<Shape> = inputs.iter().map(|v| v.0).collect();
                let shape = merge_shape(&node.layer, &shapes)
                    .ok_or_else(|| format!("layer '{name}' is not in the built model"))?;
                (shape, None)
            }
        };
        values.insert(name, value);
        node_names.push(name);
    }

    let input_config = json!({"module": "keras.layers", "class_name": "InputLayer",
        "config": {"batch_shape": keras_shape(input_shape), "dtype": "float32", "sparse": false,
                   "name": spec.input_name},
        "registered_name": null, "name": spec.input_name, "inbound_nodes": []});
    let mut configs = Vec::with_capacity(spec.nodes.len() + 1);
    let mut entries = Vec::with_capacity(spec.nodes.len() + 1);
    for source in keras_layer_order(spec)? {
        let Source::Node(index) = source else {
            configs.push(input_config.clone());
            entries.push(Entry {
                class: "InputLayer",
                name: spec.input_name.clone(),
                spec: None,
                parameters: Vec::new(),
                flattened: None,
            });
            continue;
        };
        let node = &spec.nodes[index];
        let name = node_names[index];
        let (class, config) = layer_config(&node.layer, name)?;
        let tensors: Vec<Value> = node
            .inputs
            .iter()
            // Invariant: the first loop checked every input is in `values`.
            .map(|input| keras_tensor(input, values[input.as_str()].0))
            .collect();
        // A merge takes its inputs as one list argument; a layer, one tensor.
        let args = if node.layer.is_merge() {
            json!([tensors])
        } else {
            json!(tensors)
        };
        configs.push(
            json!({"module": "keras.layers", "class_name": class, "config": config,
            "registered_name": null, "name": name,
            "inbound_nodes": [{"args": args, "kwargs": {}}]}),
        );
        let layer = layers.get(name);
        entries.push(Entry {
            class,
            name: name.to_string(),
            spec: Some(node.layer.clone()),
            parameters: layer.map(|l| l.parameters()).unwrap_or_default(),
            flattened: node
                .inputs
                .first()
                .and_then(|input| values[input.as_str()].1),
        });
    }
    let output = spec
        .output
        .as_deref()
        .or(node_names.last().copied())
        .ok_or("a graph needs at least one node")?;
    let config = json!({
        "module": "keras.src.models.functional", "class_name": "Functional",
        "config": {"name": "functional", "trainable": true, "layers": configs,
                   "input_layers": [[spec.input_name, 0, 0]], "output_layers": [[output, 0, 0]]},
        "registered_name": "Functional",
        "build_config": {"input_shape": null},
    });
    Ok((config, entries))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    use kymo_layers::{ArchitectureSpec, GraphSpec, NodeSpec};

    use super::*;
    use crate::naming::weight_keys;

    fn resnet_fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/keras_files/resnet.keras")
    }

    /// Key → layer name in a `.keras` file written by Keras itself.
    fn keras_keys(path: &Path) -> HashMap<String, String> {
        let bytes = std::fs::read(path).expect("fixture");
        let archive = crate::archive::read_archive(&bytes, path).expect("a .keras zip");
        let file = crate::hdf5_file::Hdf5File::from_bytes(archive.weights, path).expect("h5");
        file.groups("layers")
            .expect("layers")
            .into_iter()
            .map(|key| {
                let vars = format!("layers/{key}/vars");
                let name = file.string_attribute(&vars, "name").expect("attr");
                (key, name.expect("Keras 3.15 names each vars group"))
            })
            .collect()
    }

    /// The same graph with its nodes in another order that still puts each
    /// node after its inputs: whichever ready node comes last in the spec
    /// goes first, so the shortcut branch is listed before the main path.
    fn reordered(spec: &GraphSpec) -> GraphSpec {
        let mut done: Vec<String> = vec![spec.input_name.clone()];
        let mut left: Vec<NodeSpec> = spec.nodes.clone();
        let mut nodes = Vec::new();
        while !left.is_empty() {
            let ready = left
                .iter()
                .rposition(|n| n.inputs.iter().all(|i| done.contains(i)))
                .expect("a graph's nodes can always be ordered");
            let node = left.remove(ready);
            done.push(node.layer.name().expect("named").to_string());
            nodes.push(node);
        }
        GraphSpec {
            nodes,
            ..spec.clone()
        }
    }

    #[test]
    fn keys_numbered_in_keras_order_match_a_file_keras_wrote_whatever_the_spec_order() {
        let path = resnet_fixture();
        let ArchitectureSpec::Graph(spec) = crate::read(&path).expect("reads").spec else {
            panic!("resnet.keras is a functional model");
        };
        let shuffled = reordered(&spec);
        assert_ne!(shuffled.nodes, spec.nodes, "the test needs another order");
        let want = keras_keys(&path);
        for graph in [&spec, &shuffled] {
            let order = keras_layer_order(graph).expect("ordered");
            let layers: Vec<(&str, String)> = order
                .iter()
                .map(|source| match source {
                    Source::Input => ("InputLayer", graph.input_name.clone()),
                    Source::Node(i) => {
                        let node = &graph.nodes[*i].layer;
                        let class = layer_config(node, "x").expect("writable").0;
                        (class, node.name().expect("named").to_string())
                    }
                })
                .collect();
            let got: HashMap<String, String> =
                weight_keys(layers.iter().map(|(c, n)| (*c, n.as_str())))
                    .into_iter()
                    .collect();
            assert_eq!(got, want);
        }
    }
}
