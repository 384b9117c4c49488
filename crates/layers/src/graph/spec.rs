//! Serializable graph specs (Keras's functional API as data), and
//! [`ArchitectureSpec`], which is either kind of model spec.

use std::path::Path;

use kymo_tensor::Float;
use serde::{Deserialize, Serialize};

use crate::{
    Activation, BuildLimits, InputSpec, LayerError, LayerSpec, Model, ModelSpec, Sequential,
};

/// One node of a graph: a layer and the names of the nodes it reads (or
/// the graph's input name). Single-input layers read one; `Add` and
/// `Concatenate` read several, in order.
///
/// In TOML or JSON the layer's fields sit beside `inputs`:
/// `{"inputs": ["conv_a", "shortcut"], "type": "Add", "name": "join"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Names of the nodes this one reads.
    pub inputs: Vec<String>,
    /// The layer.
    #[serde(flatten)]
    pub layer: LayerSpec,
}

/// A graph model: one input, nodes in an order where each reads only
/// nodes before it (as Keras's `Functional` config lists them), and one
/// output.
///
/// ```
/// use kymo_layers::{ArchitectureSpec, Model};
/// let spec = ArchitectureSpec::from_toml_str(r#"
///     input = { channels = 1, length = 32 }
///     output = "join"
///     [[nodes]]
///     inputs = ["input"]
///     type = "Conv1D"
///     name = "conv"
///     filters = 1
///     kernel_size = 3
///     padding = "same"
///     [[nodes]]
///     inputs = ["conv", "input"]
///     type = "Add"
///     name = "join"
/// "#).unwrap();
/// let model = spec.build::<f32>(0).unwrap();
/// assert_eq!(model.count_params(), 4);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    /// Per-sample input shape.
    pub input: InputSpec,
    /// The name nodes use for the model's input (default `input`).
    #[serde(default = "default_input_name")]
    pub input_name: String,
    /// The nodes, each after every node it reads.
    pub nodes: Vec<NodeSpec>,
    /// The node whose output is the model's (default: the last node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

fn default_input_name() -> String {
    "input".into()
}

/// A model spec of either kind: a Sequential stack (`layers`) or a graph
/// (`nodes`). Files of both kinds parse with the same calls; a file is a
/// graph when it has a `nodes` key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ArchitectureSpec {
    /// A stack of layers.
    Sequential(ModelSpec),
    /// A graph with branches and joins.
    Graph(GraphSpec),
}

impl From<ModelSpec> for ArchitectureSpec {
    fn from(spec: ModelSpec) -> Self {
        ArchitectureSpec::Sequential(spec)
    }
}

impl From<GraphSpec> for ArchitectureSpec {
    fn from(spec: GraphSpec) -> Self {
        ArchitectureSpec::Graph(spec)
    }
}

fn spec_error(origin: &str, reason: impl ToString) -> LayerError {
    LayerError::Spec {
        origin: origin.into(),
        reason: reason.to_string(),
    }
}

impl ArchitectureSpec {
    /// Parses a JSON spec of either kind.
    pub fn from_json_str(text: &str) -> Result<Self, LayerError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| spec_error("JSON", e))?;
        // Chosen by key rather than by serde's untagged fallback, so an error
        // names the field that is wrong instead of "no variant matched".
        if value.get("nodes").is_some() {
            serde_json::from_value(value)
                .map(ArchitectureSpec::Graph)
                .map_err(|e| spec_error("JSON", e))
        } else {
            ModelSpec::from_json_str(text).map(ArchitectureSpec::Sequential)
        }
    }

    /// Parses a TOML spec of either kind.
    pub fn from_toml_str(text: &str) -> Result<Self, LayerError> {
        let value: toml::Table = toml::from_str(text).map_err(|e| spec_error("TOML", e))?;
        if value.contains_key("nodes") {
            toml::from_str(text)
                .map(ArchitectureSpec::Graph)
                .map_err(|e| spec_error("TOML", e))
        } else {
            ModelSpec::from_toml_str(text).map(ArchitectureSpec::Sequential)
        }
    }

    /// Reads a `.json` or `.toml` spec file of either kind.
    pub fn from_path(path: &Path) -> Result<Self, LayerError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| spec_error(&origin, e))?;
        let parsed = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::from_json_str(&text),
            Some("toml") => Self::from_toml_str(&text),
            other => {
                return Err(spec_error(
                    &origin,
                    format!("unknown extension {other:?}: use .json or .toml"),
                ))
            }
        };
        parsed.map_err(|e| match e {
            LayerError::Spec { reason, .. } => LayerError::Spec { origin, reason },
            other => other,
        })
    }

    /// What a user names a model by: a built-in model (`original`,
    /// `answer`, `resnet`, ..., built for `length` points), a kymo spec file
    /// (`.toml`/`.json`) or a Keras `model.to_json()` file.
    pub fn resolve(model: &str, length: usize) -> Result<Self, LayerError> {
        if let Some(spec) = crate::zoo::architecture_by_name(model, length) {
            return Ok(spec);
        }
        let path = Path::new(model);
        if !path.exists() {
            return Err(spec_error(
                model,
                format!(
                    "neither a built-in model ({}, {}) nor a spec file",
                    crate::zoo::BUILT_IN.join(", "),
                    crate::zoo::GRAPHS.join(", ")
                ),
            ));
        }
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(path).map_err(|e| spec_error(model, e))?;
            if text.contains("\"class_name\"") {
                return crate::keras::from_keras_json_any(&text).map_err(|e| match e {
                    LayerError::Spec { reason, .. } => spec_error(model, reason),
                    other => other,
                });
            }
        }
        Self::from_path(path)
    }

    /// The same architecture reading `channels` input channels (the first
    /// convolution's weights follow the input when the model is built).
    pub fn with_input_channels(mut self, channels: usize) -> Self {
        match &mut self {
            ArchitectureSpec::Sequential(s) => s.input.channels = channels,
            ArchitectureSpec::Graph(g) => g.input.channels = channels,
        }
        self
    }

    /// The same architecture reading signals of `length` points (a
    /// variable-length Keras input given the data's length).
    pub fn with_input_length(mut self, length: usize) -> Self {
        match &mut self {
            ArchitectureSpec::Sequential(s) => s.input.length = length,
            ArchitectureSpec::Graph(g) => g.input.length = length,
        }
        self
    }

    /// The same architecture with its output Dense giving `units` outputs
    /// through `activation`: how a built-in regression model becomes a
    /// classifier, `Dense(classes, activation='softmax')`, as the zoo's
    /// authors built them for classification. A model whose output is not
    /// a Dense layer is an error that names the layer it ends in.
    pub fn with_head(mut self, units: usize, activation: Activation) -> Result<Self, LayerError> {
        match self.output_layer_mut() {
            Some(LayerSpec::Dense(dense)) => {
                dense.units = units;
                dense.activation = activation;
                Ok(self)
            }
            other => Err(spec_error(
                "head",
                format!(
                    "the model ends in {}, not a Dense layer whose units and activation could change",
                    other.map_or("nothing", |l| l.kind())
                ),
            )),
        }
    }

    /// The same architecture `factor` times as wide: every Conv1D's filters
    /// and every hidden Dense's units scaled and rounded (at least 1); the
    /// output layer keeps its units. How a search tries a narrower or a
    /// wider model of one design. A graph whose joins then disagree (an
    /// `Add` of an unscaled input) fails when it is built, naming the node.
    pub fn with_width(mut self, factor: f64) -> Self {
        let scale = |units: usize| ((units as f64 * factor).round() as usize).max(1);
        let output = self.output_index();
        let layers: Vec<&mut LayerSpec> = match &mut self {
            ArchitectureSpec::Sequential(s) => s.layers.iter_mut().collect(),
            ArchitectureSpec::Graph(g) => g.nodes.iter_mut().map(|n| &mut n.layer).collect(),
        };
        for (index, layer) in layers.into_iter().enumerate() {
            match layer {
                LayerSpec::Conv1D(conv) => conv.filters = scale(conv.filters),
                LayerSpec::Dense(dense) if Some(index) != output => {
                    dense.units = scale(dense.units)
                }
                _ => {}
            }
        }
        self
    }

    /// The position of the layer whose output is the model's, in the
    /// stack or the node list.
    fn output_index(&self) -> Option<usize> {
        match self {
            ArchitectureSpec::Sequential(s) => s.layers.len().checked_sub(1),
            ArchitectureSpec::Graph(g) => match &g.output {
                Some(name) => g
                    .nodes
                    .iter()
                    .position(|n| n.layer.name() == Some(name.as_str())),
                None => g.nodes.len().checked_sub(1),
            },
        }
    }

    /// The layer whose output is the model's: the last of a Sequential
    /// stack, the `output` node (or the last node) of a graph.
    fn output_layer_mut(&mut self) -> Option<&mut LayerSpec> {
        let index = self.output_index()?;
        match self {
            ArchitectureSpec::Sequential(s) => s.layers.get_mut(index),
            ArchitectureSpec::Graph(g) => g.nodes.get_mut(index).map(|n| &mut n.layer),
        }
    }

    /// Whether the model's output passes through a softmax last (a Dense
    /// or an activation layer): its outputs are probabilities, not logits.
    pub fn ends_in_softmax(&self) -> bool {
        let mut copy = self.clone();
        matches!(
            copy.output_layer_mut(),
            Some(LayerSpec::Dense(crate::layers::DenseSpec {
                activation: Activation::Softmax,
                ..
            })) | Some(LayerSpec::Activation(crate::layers::ActivationSpec {
                activation: Activation::Softmax,
                ..
            }))
        )
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// TOML.
    pub fn to_toml(&self) -> Result<String, LayerError> {
        toml::to_string_pretty(self).map_err(|e| spec_error("TOML", e))
    }

    /// The per-sample input.
    pub fn input(&self) -> InputSpec {
        match self {
            ArchitectureSpec::Sequential(s) => s.input,
            ArchitectureSpec::Graph(g) => g.input,
        }
    }

    /// Every layer spec, in build order.
    pub fn layer_specs(&self) -> Vec<&LayerSpec> {
        match self {
            ArchitectureSpec::Sequential(s) => s.layers.iter().collect(),
            ArchitectureSpec::Graph(g) => g.nodes.iter().map(|n| &n.layer).collect(),
        }
    }

    /// The Sequential spec, when this is one.
    pub fn as_sequential(&self) -> Option<&ModelSpec> {
        match self {
            ArchitectureSpec::Sequential(s) => Some(s),
            ArchitectureSpec::Graph(_) => None,
        }
    }

    /// Builds the model with initial weights drawn from `seed`, within the
    /// default [`BuildLimits`].
    pub fn build<T: Float>(&self, seed: u64) -> Result<Box<dyn Model<T>>, LayerError> {
        self.build_with_limits(seed, &BuildLimits::default())
    }

    /// Builds the model if it fits `limits`.
    pub fn build_with_limits<T: Float>(
        &self,
        seed: u64,
        limits: &BuildLimits,
    ) -> Result<Box<dyn Model<T>>, LayerError> {
        Ok(match self {
            ArchitectureSpec::Sequential(s) => Box::new(Sequential::with_limits(s, seed, limits)?),
            ArchitectureSpec::Graph(g) => Box::new(crate::Graph::with_limits(g, seed, limits)?),
        })
    }
}
