//! Keras functional models (`class_name: "Functional"`, or `"Model"` in
//! Keras 2): each layer entry lists the layers it reads in
//! `inbound_nodes`; kymo turns each entry into a graph node.

use serde_json::Value;

use super::{activation, activity_regularization, layer_spec, model_config, spec_error};
use crate::layers::ActivationSpec;
use crate::{ArchitectureSpec, GraphSpec, InputSpec, LayerError, LayerSpec, NodeSpec};

/// Converts `model.to_json()` text of a Sequential or a functional model
/// into a kymo spec: a Sequential becomes [`ArchitectureSpec::Sequential`]
/// as [`super::from_keras_json`] reads it, a functional model of one input
/// and one output an [`ArchitectureSpec::Graph`] with Keras's layer names.
///
/// ```
/// let text = r#"{"class_name": "Functional", "config": {
///   "layers": [
///     {"class_name": "InputLayer", "name": "x",
///      "config": {"batch_shape": [null, 16, 1], "name": "x"}, "inbound_nodes": []},
///     {"class_name": "Conv1D", "name": "c",
///      "config": {"name": "c", "filters": 1, "kernel_size": 3, "padding": "same"},
///      "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
///         "config": {"keras_history": ["x", 0, 0]}}], "kwargs": {}}]},
///     {"class_name": "Add", "name": "sum", "config": {"name": "sum"},
///      "inbound_nodes": [{"args": [[
///         {"class_name": "__keras_tensor__", "config": {"keras_history": ["c", 0, 0]}},
///         {"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}]],
///       "kwargs": {}}]}],
///   "input_layers": [["x", 0, 0]], "output_layers": [["sum", 0, 0]]}}"#;
/// let spec = kymo_layers::keras::from_keras_json_any(text).unwrap();
/// let model = spec.build::<f32>(0).unwrap();
/// assert_eq!(model.count_params(), 4);
/// ```
pub fn from_keras_json_any(text: &str) -> Result<ArchitectureSpec, LayerError> {
    any(text, None)
}

/// [`from_keras_json_any`] for a model whose input may have a variable
/// length (`Input(shape=(None, channels))`): such an input takes `length`
/// (a fixed length in the file stays as it is). Its weights do not depend
/// on the length, so one file serves any length its layers accept.
///
/// ```
/// let text = r#"{"class_name": "Functional", "config": {
///   "layers": [
///     {"class_name": "InputLayer", "name": "x",
///      "config": {"batch_shape": [null, null, 2], "name": "x"}, "inbound_nodes": []},
///     {"class_name": "GlobalAveragePooling1D", "name": "gap", "config": {"name": "gap"},
///      "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
///         "config": {"keras_history": ["x", 0, 0]}}], "kwargs": {}}]}],
///   "input_layers": [["x", 0, 0]], "output_layers": [["gap", 0, 0]]}}"#;
/// assert!(kymo_layers::keras::from_keras_json_any(text).is_err());
/// let spec = kymo_layers::keras::from_keras_json_any_at(text, 300).unwrap();
/// assert_eq!((spec.input().channels, spec.input().length), (2, 300));
/// ```
pub fn from_keras_json_any_at(text: &str, length: usize) -> Result<ArchitectureSpec, LayerError> {
    any(text, Some(length))
}

fn any(text: &str, length: Option<usize>) -> Result<ArchitectureSpec, LayerError> {
    let root: Value = serde_json::from_str(text).map_err(|e| spec_error(e.to_string()))?;
    match root.get("class_name").and_then(Value::as_str) {
        Some("Sequential") => super::sequential(text, length).map(ArchitectureSpec::Sequential),
        Some("Functional" | "Model") => functional(&root, length).map(ArchitectureSpec::Graph),
        other => Err(spec_error(format!(
            "class {other:?}: only Sequential and Functional models are supported"
        ))),
    }
}

/// The first name of each `[name, node, tensor]` reference in `value`.
fn layer_names(value: &Value) -> Vec<String> {
    let mut names = Vec::new();
    collect_names(value, &mut names);
    names
}

fn collect_names(value: &Value, names: &mut Vec<String>) {
    match value {
        // Keras 3: {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}.
        Value::Object(map) => {
            if let Some(Value::Array(history)) = map.get("keras_history") {
                if let Some(Value::String(name)) = history.first() {
                    names.push(name.clone());
                    return;
                }
            }
            for v in map.values() {
                collect_names(v, names);
            }
        }
        // Keras 2: [name, node_index, tensor_index, kwargs].
        Value::Array(items) => match items.first() {
            Some(Value::String(name)) if items.get(1).is_some_and(Value::is_u64) => {
                names.push(name.clone())
            }
            _ => items.iter().for_each(|v| collect_names(v, names)),
        },
        _ => {}
    }
}

fn functional(root: &Value, length: Option<usize>) -> Result<GraphSpec, LayerError> {
    let (config, layers, input, length) = model_config(root, length)?;
    if input.flat {
        return Err(spec_error(
            "a functional model's flat input ([null, length]) is not read: give it Input(shape=(length, 1))",
        ));
    }
    let channels = input.channels;
    let ends = |field: &str| layer_names(config.get(field).unwrap_or(&Value::Null));
    let (inputs, outputs) = (ends("input_layers"), ends("output_layers"));
    let [input_name] = &inputs[..] else {
        return Err(spec_error(format!(
            "{} inputs: kymo's graphs take one",
            inputs.len()
        )));
    };
    let [output] = &outputs[..] else {
        return Err(spec_error(format!(
            "{} outputs: kymo's graphs give one",
            outputs.len()
        )));
    };
    let mut nodes = Vec::new();
    // A layer with an activity regularizer is read through the
    // `ActivityRegularization` node added after it.
    let mut read_as = std::collections::HashMap::<String, String>::new();
    for layer in layers {
        let class = layer
            .get("class_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let c = layer.get("config").cloned().unwrap_or(Value::Null);
        let name = c.get("name").and_then(Value::as_str).map(str::to_string);
        let label = name.clone().unwrap_or_else(|| class.to_string());
        if class == "InputLayer" {
            continue;
        }
        let calls = layer
            .get("inbound_nodes")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if calls != 1 {
            return Err(spec_error(format!(
                "layer '{label}' is called {calls} times: kymo's graphs do not share layers"
            )));
        }
        let reads = layer_names(&layer["inbound_nodes"][0])
            .into_iter()
            .map(|read| read_as.get(&read).cloned().unwrap_or(read))
            .collect();
        let spec = match class {
            // In a graph even the identity is a node others read by name.
            "Activation" => LayerSpec::Activation(ActivationSpec {
                activation: activation(&c, &label)?,
                name,
            }),
            _ => layer_spec(layer)?
                .ok_or_else(|| spec_error(format!("layer '{label}': no kymo layer for it")))?,
        };
        let read_name = spec.name().map(str::to_string);
        nodes.push(NodeSpec {
            inputs: reads,
            layer: spec,
        });
        if let (Some(penalty), Some(read_name)) = (activity_regularization(layer)?, read_name) {
            let penalty_name = penalty.name().unwrap_or_default().to_string();
            nodes.push(NodeSpec {
                inputs: vec![read_name.clone()],
                layer: penalty,
            });
            read_as.insert(read_name, penalty_name);
        }
    }
    let output = read_as.get(output).unwrap_or(output);
    Ok(GraphSpec {
        input: InputSpec { channels, length },
        input_name: input_name.clone(),
        nodes,
        output: Some(output.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_two_inbound_nodes_read_in_order() {
        let node = serde_json::json!([[["conv_a", 0, 0, {}], ["input_1", 0, 0, {}]]]);
        assert_eq!(layer_names(&node), ["conv_a", "input_1"]);
    }

    #[test]
    fn several_inputs_are_refused_by_count() {
        let text = r#"{"class_name": "Functional", "config": {"layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 1], "name": "a"}, "inbound_nodes": []}],
            "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": [["a", 0, 0]]}}"#;
        let error = from_keras_json_any(text).expect_err("two inputs");
        assert!(error.to_string().contains("2 inputs"), "{error}");
    }
}
