//! Serializable model descriptions: what a TOML or JSON file says a model is.

use std::path::Path;

use kymo_tensor::{derive_seed, Float, SeededRng};
use serde::{Deserialize, Serialize};

use crate::layers::{
    ActivationLayer, ActivationSpec, BatchNormalization, BatchNormalizationSpec, Conv1D,
    Conv1DSpec, Dense, DenseSpec, Dropout, DropoutSpec, ELUSpec, EdgeChange, Flatten,
    GaussianNoise, GaussianNoiseSpec, GlobalAveragePooling1D, GlobalMaxPooling1D,
    GlobalPoolingSpec, LayerNormalization, LayerNormalizationSpec, LeakyReLUSpec, LengthEdges,
    LengthEdgesSpec, NameOnlySpec, Pooling1D, Pooling1DSpec, Reduction,
};
use crate::merge::ConcatenateSpec;
use crate::{Layer, LayerError, Shape};

/// One layer of a model spec, tagged by its Keras class name:
/// `{"type": "Conv1D", "filters": 32, "kernel_size": 100, "padding": "same"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[allow(clippy::upper_case_acronyms)]
pub enum LayerSpec {
    /// 1D convolution.
    Conv1D(Conv1DSpec),
    /// Fully connected layer.
    Dense(DenseSpec),
    /// Leaky rectifier.
    LeakyReLU(LeakyReLUSpec),
    /// Rectifier.
    ReLU(NameOnlySpec),
    /// Exponential linear unit.
    ELU(ELUSpec),
    /// Hyperbolic tangent.
    Tanh(NameOnlySpec),
    /// Logistic sigmoid.
    Sigmoid(NameOnlySpec),
    /// An activation by its Keras name (`Activation('relu')`).
    Activation(ActivationSpec),
    /// Max pooling over length.
    MaxPooling1D(Pooling1DSpec),
    /// Average pooling over length.
    AveragePooling1D(Pooling1DSpec),
    /// Mean over the whole length.
    GlobalAveragePooling1D(GlobalPoolingSpec),
    /// Maximum over the whole length.
    GlobalMaxPooling1D(GlobalPoolingSpec),
    /// Inverted dropout.
    Dropout(DropoutSpec),
    /// Inverted dropout of whole channels.
    SpatialDropout1D(DropoutSpec),
    /// Additive normal noise in training.
    GaussianNoise(GaussianNoiseSpec),
    /// The identity with an L1/L2 penalty on its values in the loss (what
    /// a Keras layer's `activity_regularizer` adds after it).
    ActivityRegularization(crate::layers::ActivityRegularizationSpec),
    /// Flattens each sample.
    Flatten(NameOnlySpec),
    /// Reshapes each sample as Keras does (channels-last order kept).
    Reshape(crate::layers::ReshapeSpec),
    /// `Permute`: a signal's steps and channels swapped (`dims = [2, 1]`).
    Permute(crate::layers::PermuteSpec),
    /// Zeros added at the ends of the length axis.
    ZeroPadding1D(LengthEdgesSpec),
    /// Points cut from the ends of the length axis.
    Cropping1D(LengthEdgesSpec),
    /// Batch normalization over channels.
    BatchNormalization(BatchNormalizationSpec),
    /// Layer normalization over each position's channels.
    LayerNormalization(LayerNormalizationSpec),
    /// Elementwise sum of several inputs (graph models only).
    Add(NameOnlySpec),
    /// Concatenation of several inputs along the channel axis (graph models
    /// only).
    Concatenate(ConcatenateSpec),
    /// The first of two inputs less the second (graph models only).
    Subtract(NameOnlySpec),
    /// Elementwise product of several inputs (graph models only).
    Multiply(NameOnlySpec),
    /// Elementwise mean of several inputs (graph models only).
    Average(NameOnlySpec),
    /// Elementwise largest of several inputs (graph models only).
    Maximum(NameOnlySpec),
    /// Elementwise smallest of several inputs (graph models only).
    Minimum(NameOnlySpec),
}

/// The pattern of every merge layer (the specs a graph node reads several
/// inputs with), written once for the matches that treat them alike.
macro_rules! merge_layer {
    () => {
        $crate::LayerSpec::Add(_)
            | $crate::LayerSpec::Concatenate(_)
            | $crate::LayerSpec::Subtract(_)
            | $crate::LayerSpec::Multiply(_)
            | $crate::LayerSpec::Average(_)
            | $crate::LayerSpec::Maximum(_)
            | $crate::LayerSpec::Minimum(_)
    };
}
pub(crate) use merge_layer;

impl LayerSpec {
    /// The Keras class name.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Conv1D(_) => "Conv1D",
            LayerSpec::Dense(_) => "Dense",
            LayerSpec::LeakyReLU(_) => "LeakyReLU",
            LayerSpec::ReLU(_) => "ReLU",
            LayerSpec::ELU(_) => "ELU",
            LayerSpec::Tanh(_) => "Tanh",
            LayerSpec::Sigmoid(_) => "Sigmoid",
            LayerSpec::Activation(_) => "Activation",
            LayerSpec::MaxPooling1D(_) => "MaxPooling1D",
            LayerSpec::AveragePooling1D(_) => "AveragePooling1D",
            LayerSpec::GlobalAveragePooling1D(_) => "GlobalAveragePooling1D",
            LayerSpec::GlobalMaxPooling1D(_) => "GlobalMaxPooling1D",
            LayerSpec::Dropout(_) => "Dropout",
            LayerSpec::SpatialDropout1D(_) => "SpatialDropout1D",
            LayerSpec::GaussianNoise(_) => "GaussianNoise",
            LayerSpec::ActivityRegularization(_) => "ActivityRegularization",
            LayerSpec::Flatten(_) => "Flatten",
            LayerSpec::Reshape(_) => "Reshape",
            LayerSpec::Permute(_) => "Permute",
            LayerSpec::ZeroPadding1D(_) => "ZeroPadding1D",
            LayerSpec::Cropping1D(_) => "Cropping1D",
            LayerSpec::BatchNormalization(_) => "BatchNormalization",
            LayerSpec::LayerNormalization(_) => "LayerNormalization",
            LayerSpec::Add(_) => "Add",
            LayerSpec::Concatenate(_) => "Concatenate",
            LayerSpec::Subtract(_) => "Subtract",
            LayerSpec::Multiply(_) => "Multiply",
            LayerSpec::Average(_) => "Average",
            LayerSpec::Maximum(_) => "Maximum",
            LayerSpec::Minimum(_) => "Minimum",
        }
    }

    /// Keras's base for automatic names (`conv1d`, `leaky_re_lu`, ...).
    fn default_name_base(&self) -> &'static str {
        match self {
            LayerSpec::Conv1D(_) => "conv1d",
            LayerSpec::Dense(_) => "dense",
            LayerSpec::LeakyReLU(_) => "leaky_re_lu",
            LayerSpec::ReLU(_) => "re_lu",
            LayerSpec::ELU(_) => "elu",
            LayerSpec::Tanh(_) => "tanh",
            LayerSpec::Sigmoid(_) => "sigmoid",
            LayerSpec::Activation(_) => "activation",
            LayerSpec::MaxPooling1D(_) => "max_pooling1d",
            LayerSpec::AveragePooling1D(_) => "average_pooling1d",
            LayerSpec::GlobalAveragePooling1D(_) => "global_average_pooling1d",
            LayerSpec::GlobalMaxPooling1D(_) => "global_max_pooling1d",
            LayerSpec::Dropout(_) => "dropout",
            LayerSpec::SpatialDropout1D(_) => "spatial_dropout1d",
            LayerSpec::GaussianNoise(_) => "gaussian_noise",
            LayerSpec::ActivityRegularization(_) => "activity_regularization",
            LayerSpec::Flatten(_) => "flatten",
            LayerSpec::Reshape(_) => "reshape",
            LayerSpec::Permute(_) => "permute",
            LayerSpec::ZeroPadding1D(_) => "zero_padding1d",
            LayerSpec::Cropping1D(_) => "cropping1d",
            LayerSpec::BatchNormalization(_) => "batch_normalization",
            LayerSpec::LayerNormalization(_) => "layer_normalization",
            LayerSpec::Add(_) => "add",
            LayerSpec::Concatenate(_) => "concatenate",
            LayerSpec::Subtract(_) => "subtract",
            LayerSpec::Multiply(_) => "multiply",
            LayerSpec::Average(_) => "average",
            LayerSpec::Maximum(_) => "maximum",
            LayerSpec::Minimum(_) => "minimum",
        }
    }

    /// The kernel's and the bias's regularizers (`None` for a layer that
    /// has neither: only Conv1D and Dense carry them).
    pub fn regularizers(&self) -> [Option<crate::Regularizer>; 2] {
        match self {
            LayerSpec::Conv1D(c) => [c.kernel_regularizer, c.bias_regularizer],
            LayerSpec::Dense(d) => [d.kernel_regularizer, d.bias_regularizer],
            _ => [None, None],
        }
    }

    /// The kernel's and the bias's constraints (`None` for a layer that
    /// has neither: only Conv1D and Dense carry them), their axes in
    /// Keras's layout.
    pub fn constraints(&self) -> [Option<&crate::Constraint>; 2] {
        match self {
            LayerSpec::Conv1D(c) => [c.kernel_constraint.as_ref(), c.bias_constraint.as_ref()],
            LayerSpec::Dense(d) => [d.kernel_constraint.as_ref(), d.bias_constraint.as_ref()],
            _ => [None, None],
        }
    }

    /// The kernel's and the bias's regularizers, to change them (empty for
    /// a layer without them).
    pub fn regularizers_mut(&mut self) -> Vec<&mut Option<crate::Regularizer>> {
        match self {
            LayerSpec::Conv1D(c) => vec![&mut c.kernel_regularizer, &mut c.bias_regularizer],
            LayerSpec::Dense(d) => vec![&mut d.kernel_regularizer, &mut d.bias_regularizer],
            _ => Vec::new(),
        }
    }

    /// Whether the layer is the identity in inference (a dropout or noise
    /// regularizer, an activity penalty): what reads a model's structure
    /// looks through it.
    pub fn is_identity_in_inference(&self) -> bool {
        matches!(
            self,
            LayerSpec::Dropout(_)
                | LayerSpec::SpatialDropout1D(_)
                | LayerSpec::GaussianNoise(_)
                | LayerSpec::ActivityRegularization(_)
        )
    }

    /// The name the spec gives, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            LayerSpec::Conv1D(s) => s.name.as_deref(),
            LayerSpec::Dense(s) => s.name.as_deref(),
            LayerSpec::LeakyReLU(s) => s.name.as_deref(),
            LayerSpec::ELU(s) => s.name.as_deref(),
            LayerSpec::MaxPooling1D(s) | LayerSpec::AveragePooling1D(s) => s.name.as_deref(),
            LayerSpec::Dropout(s) | LayerSpec::SpatialDropout1D(s) => s.name.as_deref(),
            LayerSpec::GaussianNoise(s) => s.name.as_deref(),
            LayerSpec::ActivityRegularization(s) => s.name.as_deref(),
            LayerSpec::BatchNormalization(s) => s.name.as_deref(),
            LayerSpec::LayerNormalization(s) => s.name.as_deref(),
            LayerSpec::Activation(s) => s.name.as_deref(),
            LayerSpec::Concatenate(s) => s.name.as_deref(),
            LayerSpec::GlobalAveragePooling1D(s) | LayerSpec::GlobalMaxPooling1D(s) => {
                s.name.as_deref()
            }
            LayerSpec::Reshape(s) => s.name.as_deref(),
            LayerSpec::Permute(s) => s.name.as_deref(),
            LayerSpec::ZeroPadding1D(s) | LayerSpec::Cropping1D(s) => s.name.as_deref(),
            LayerSpec::ReLU(s)
            | LayerSpec::Tanh(s)
            | LayerSpec::Sigmoid(s)
            | LayerSpec::Add(s)
            | LayerSpec::Subtract(s)
            | LayerSpec::Multiply(s)
            | LayerSpec::Average(s)
            | LayerSpec::Maximum(s)
            | LayerSpec::Minimum(s)
            | LayerSpec::Flatten(s) => s.name.as_deref(),
        }
    }

    /// Whether this layer takes several inputs (`Add`, `Concatenate`, the
    /// other elementwise merges), which only a graph model can wire.
    pub fn is_merge(&self) -> bool {
        matches!(self, merge_layer!())
    }

    /// Which elementwise merge other than `Add` this is, if one.
    pub fn elementwise_op(&self) -> Option<crate::ElementwiseOp> {
        use crate::ElementwiseOp as Op;
        Some(match self {
            LayerSpec::Subtract(_) => Op::Subtract,
            LayerSpec::Multiply(_) => Op::Multiply,
            LayerSpec::Average(_) => Op::Average,
            LayerSpec::Maximum(_) => Op::Maximum,
            LayerSpec::Minimum(_) => Op::Minimum,
            _ => return None,
        })
    }

    /// Builds the layer for `input`. `seed` and `index` pick its streams:
    /// initial weights from `(seed, "init", index)`, dropout masks from
    /// `(seed, "dropout", index)`, so one layer's draws never shift another's.
    pub fn build<T: Float>(
        &self,
        name: String,
        input: Shape,
        seed: u64,
        index: usize,
    ) -> Result<Box<dyn Layer<T>>, LayerError> {
        let mut init = init_rng(seed, index);
        Ok(match self {
            LayerSpec::Conv1D(s) => Box::new(Conv1D::build(s.clone(), name, input, &mut init)?),
            LayerSpec::Dense(s) => Box::new(Dense::build(s.clone(), name, input, &mut init)?),
            LayerSpec::MaxPooling1D(s) => {
                Box::new(Pooling1D::build(s.clone(), Reduction::Max, name, input)?)
            }
            LayerSpec::AveragePooling1D(s) => Box::new(Pooling1D::build(
                s.clone(),
                Reduction::Average,
                name,
                input,
            )?),
            LayerSpec::GlobalAveragePooling1D(s) => {
                Box::new(GlobalAveragePooling1D::build(name, input, s.keepdims)?)
            }
            LayerSpec::GlobalMaxPooling1D(s) => {
                Box::new(GlobalMaxPooling1D::build(name, input, s.keepdims)?)
            }
            merge_layer!() => {
                return Err(LayerError::Config {
                    layer: name,
                    kind: self.kind(),
                    field: "inputs",
                    reason: "a merge layer takes several inputs: use it in a graph model \
                             (`nodes` with `inputs`), not in a Sequential stack"
                        .into(),
                })
            }
            LayerSpec::Dropout(s) => {
                let rng = SeededRng::new(derive_seed(seed, "dropout"), index as u64);
                Box::new(Dropout::build(s.clone(), name, input, rng)?)
            }
            LayerSpec::SpatialDropout1D(s) => {
                let rng = SeededRng::new(derive_seed(seed, "dropout"), index as u64);
                Box::new(Dropout::build_spatial(s.clone(), name, input, rng)?)
            }
            LayerSpec::GaussianNoise(s) => {
                let rng = SeededRng::new(derive_seed(seed, "gaussian_noise"), index as u64);
                Box::new(GaussianNoise::build(s.clone(), name, input, rng)?)
            }
            LayerSpec::ActivityRegularization(s) => Box::new(
                crate::layers::ActivityRegularization::build(s.clone(), name, input)?,
            ),
            LayerSpec::Flatten(_) => Box::new(Flatten::build(name, input)),
            LayerSpec::Reshape(s) => {
                Box::new(crate::layers::Reshape::build(s.clone(), name, input)?)
            }
            LayerSpec::Permute(s) => {
                Box::new(crate::layers::Reshape::permute(s.clone(), name, input)?)
            }
            LayerSpec::ZeroPadding1D(s) => {
                Box::new(LengthEdges::build(s.clone(), EdgeChange::Pad, name, input)?)
            }
            LayerSpec::Cropping1D(s) => Box::new(LengthEdges::build(
                s.clone(),
                EdgeChange::Crop,
                name,
                input,
            )?),
            LayerSpec::BatchNormalization(s) => {
                Box::new(BatchNormalization::build(s.clone(), name, input)?)
            }
            LayerSpec::LayerNormalization(s) => {
                Box::new(LayerNormalization::<T>::build(s.clone(), name, input)?)
            }
            LayerSpec::LeakyReLU(_)
            | LayerSpec::ReLU(_)
            | LayerSpec::ELU(_)
            | LayerSpec::Tanh(_)
            | LayerSpec::Activation(_)
            | LayerSpec::Sigmoid(_) => {
                // Every activation variant is matched by ActivationLayer::build.
                Box::new(ActivationLayer::build(self, name, input).ok_or_else(|| {
                    LayerError::Spec {
                        origin: "layer spec".into(),
                        reason: format!("{} is not an activation layer", self.kind()),
                    }
                })?)
            }
        })
    }
}

/// The input of a model: one multi-channel signal per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Channels per sample (1 for a plain spectrum).
    pub channels: usize,
    /// Points per channel.
    pub length: usize,
}

/// A whole Sequential model: input shape and layers.
///
/// ```
/// use kymo_layers::ModelSpec;
/// let spec = ModelSpec::from_toml_str(r#"
///     input = { channels = 1, length = 64 }
///     [[layers]]
///     type = "Conv1D"
///     filters = 4
///     kernel_size = 3
///     padding = "same"
///     [[layers]]
///     type = "Flatten"
///     [[layers]]
///     type = "Dense"
///     units = 1
/// "#).unwrap();
/// assert_eq!(spec.layers.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Per-sample input shape.
    pub input: InputSpec,
    /// Layers, first to last.
    pub layers: Vec<LayerSpec>,
}

impl ModelSpec {
    /// Parses a JSON spec.
    pub fn from_json_str(text: &str) -> Result<Self, LayerError> {
        serde_json::from_str(text).map_err(|e| LayerError::Spec {
            origin: "JSON".into(),
            reason: e.to_string(),
        })
    }

    /// Parses a TOML spec.
    pub fn from_toml_str(text: &str) -> Result<Self, LayerError> {
        toml::from_str(text).map_err(|e| LayerError::Spec {
            origin: "TOML".into(),
            reason: e.to_string(),
        })
    }

    /// Reads a `.json` or `.toml` spec file.
    pub fn from_path(path: &Path) -> Result<Self, LayerError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| LayerError::Spec {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        let parsed = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::from_json_str(&text),
            Some("toml") => Self::from_toml_str(&text),
            other => {
                return Err(LayerError::Spec {
                    origin,
                    reason: format!("unknown extension {other:?}: use .json or .toml"),
                })
            }
        };
        parsed.map_err(|e| match e {
            LayerError::Spec { reason, .. } => LayerError::Spec { origin, reason },
            other => other,
        })
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// TOML.
    pub fn to_toml(&self) -> Result<String, LayerError> {
        toml::to_string_pretty(self).map_err(|e| LayerError::Spec {
            origin: "TOML".into(),
            reason: e.to_string(),
        })
    }

    /// Names for every layer: the spec's own, else Keras's automatic
    /// `base`, `base_1`, `base_2`, ... Duplicate names are an error.
    pub fn resolved_names(&self) -> Result<Vec<String>, LayerError> {
        resolve_names(&self.layers)
    }
}

/// Names for `layers` in order: each spec's own, else Keras's automatic
/// `base`, `base_1`, `base_2`, ... Duplicate names are an error.
pub(crate) fn resolve_names<'a>(
    layers: impl IntoIterator<Item = &'a LayerSpec>,
) -> Result<Vec<String>, LayerError> {
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    let mut names: Vec<String> = Vec::new();
    // A set beside the list: a spec from a file may hold many layers.
    let mut taken = std::collections::HashSet::<String>::new();
    for layer in layers {
        let name = match layer.name() {
            Some(n) => n.to_string(),
            None => {
                let base = layer.default_name_base();
                let n = counts.entry(base).or_insert(0);
                let name = if *n == 0 {
                    base.to_string()
                } else {
                    format!("{base}_{n}")
                };
                *n += 1;
                name
            }
        };
        if !taken.insert(name.clone()) {
            return Err(LayerError::Config {
                layer: name,
                kind: layer.kind(),
                field: "name",
                reason: "two layers share this name".into(),
            });
        }
        names.push(name);
    }
    Ok(names)
}

/// The generator layer `index` of a stack draws its initial weights from,
/// for the model's `seed` ([`LayerSpec::build`]; the fusion plan builds
/// the concrete layers of its stages from it too).
pub(crate) fn init_rng(seed: u64, index: usize) -> SeededRng {
    SeededRng::new(derive_seed(seed, "init"), index as u64)
}
