//! Reads the JSON that Keras's `model.to_json()` writes, for a Sequential
//! model ([`from_keras_json`], into a [`ModelSpec`]) or a functional one of
//! one input and one output ([`from_keras_json_any`], into a graph), made of
//! the layers kymo has.
//!
//! Keras is channels-last (`input_shape=(length, channels)`); kymo is NCL, so
//! the input becomes `{channels, length}`. Only the architecture is read;
//! weights travel separately.

use kymo_tensor::{Initializer, Padding};
use serde_json::Value;

use crate::layers::{
    BatchNormalizationSpec, Conv1DSpec, DenseSpec, DropoutSpec, ELUSpec, GlobalPoolingSpec,
    LayerNormalizationSpec, LeakyReLUSpec, LengthEdgesSpec, NameOnlySpec, PermuteSpec,
    Pooling1DSpec, ReshapeSpec,
};
use crate::{
    Activation, ConcatenateSpec, Constraint, InputSpec, LayerError, LayerSpec, ModelSpec,
    Regularizer,
};

mod functional;

pub use functional::{from_keras_json_any, from_keras_json_any_at};

fn spec_error(reason: impl Into<String>) -> LayerError {
    LayerError::Spec {
        origin: "Keras JSON".into(),
        reason: reason.into(),
    }
}

/// An integer that Keras may write as `3` or `[3]`.
fn int(config: &Value, field: &str, layer: &str) -> Result<Option<usize>, LayerError> {
    let value = match config.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) if items.len() == 1 => &items[0],
        Some(v) => v,
    };
    value.as_u64().map(|v| Some(v as usize)).ok_or_else(|| {
        spec_error(format!(
            "layer '{layer}': `{field}` is {value}, expected a positive integer"
        ))
    })
}

fn required(config: &Value, field: &str, layer: &str) -> Result<usize, LayerError> {
    int(config, field, layer)?
        .ok_or_else(|| spec_error(format!("layer '{layer}': missing `{field}`")))
}

fn activation(config: &Value, layer: &str) -> Result<Activation, LayerError> {
    match config
        .get("activation")
        .and_then(Value::as_str)
        .unwrap_or("linear")
    {
        "linear" | "None" => Ok(Activation::Linear),
        "relu" => Ok(Activation::Relu),
        "tanh" => Ok(Activation::Tanh),
        "sigmoid" => Ok(Activation::Sigmoid),
        "softmax" => Ok(Activation::Softmax),
        "elu" => Ok(Activation::Elu { alpha: 1.0 }),
        "selu" => Ok(Activation::Selu),
        "silu" | "swish" => Ok(Activation::Silu),
        "gelu" => Ok(Activation::Gelu),
        "softplus" => Ok(Activation::Softplus),
        // keras.activations.leaky_relu defaults its slope to 0.2.
        "leaky_relu" => Ok(Activation::LeakyRelu {
            negative_slope: 0.2,
        }),
        other => Err(spec_error(format!(
            "layer '{layer}': activation `{other}` is not supported"
        ))),
    }
}

fn initializer(config: &Value, field: &str, default: Initializer) -> Initializer {
    let name = match config.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("class_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => return default,
    };
    match name.as_str() {
        "GlorotUniform" | "glorot_uniform" => Initializer::GlorotUniform,
        "HeNormal" | "he_normal" => Initializer::HeNormal,
        "Zeros" | "zeros" => Initializer::Zeros,
        "Ones" | "ones" => Initializer::Ones,
        _ => default,
    }
}

/// `config[field]` as a list of counts (a Reshape's sizes, a Permute's
/// axes), or `None` when it is not one.
fn counts(config: &Value, field: &str) -> Option<Vec<usize>> {
    config
        .get(field)?
        .as_array()?
        .iter()
        .map(|v| v.as_u64().map(|d| d as usize))
        .collect()
}

/// A serialized Keras object in `config[field]` (a regularizer, a
/// constraint): its class name and its config, from `get_config`'s
/// `{"class_name", "config"}` or a bare string name (no config); `None`
/// when absent or null; the value's text when it is neither.
fn keras_object<'a>(
    config: &'a Value,
    field: &str,
) -> Result<Option<(&'a str, Option<&'a Value>)>, String> {
    match config.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => Ok(Some((name.as_str(), None))),
        Some(Value::Object(entry)) => Ok(Some((
            entry
                .get("class_name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            entry.get("config"),
        ))),
        Some(other) => Err(other.to_string()),
    }
}

/// A `kernel_regularizer` or `bias_regularizer`: Keras's `L1`, `L2` and
/// `L1L2` (as `get_config` writes them, or by their string names, whose
/// coefficients are 0.01); another regularizer is refused, as kymo would
/// train without it.
fn regularizer(
    config: &Value,
    field: &str,
    layer: &str,
) -> Result<Option<Regularizer>, LayerError> {
    let unsupported = |what: &str| {
        Err(spec_error(format!(
            "layer '{layer}': `{field}` {what} is not supported (L1, L2 or L1L2)"
        )))
    };
    let (class, coefficients) = match keras_object(config, field) {
        Ok(None) => return Ok(None),
        Ok(Some(object)) => object,
        Err(other) => return unsupported(&other),
    };
    let coefficient = |key: &str, default: f64| {
        coefficients
            .and_then(|c| c.get(key))
            .and_then(Value::as_f64)
            .unwrap_or(default)
    };
    Ok(Some(match class {
        "L1" | "l1" => Regularizer {
            l1: coefficient("l1", 0.01),
            l2: 0.0,
        },
        "L2" | "l2" => Regularizer {
            l1: 0.0,
            l2: coefficient("l2", 0.01),
        },
        // The string names both at 0.01; the class's own defaults are 0.
        "l1_l2" if coefficients.is_none() => Regularizer { l1: 0.01, l2: 0.01 },
        "L1L2" | "l1_l2" => Regularizer {
            l1: coefficient("l1", 0.0),
            l2: coefficient("l2", 0.0),
        },
        other => return unsupported(&format!("`{other}`")),
    }))
}

/// A `kernel_constraint` or `bias_constraint`: Keras's `MaxNorm`,
/// `NonNeg`, `UnitNorm` and `MinMaxNorm` (as `get_config` writes them, or
/// by their string names, with Keras's defaults); another constraint is
/// refused, as kymo would train without it.
fn constraint(config: &Value, field: &str, layer: &str) -> Result<Option<Constraint>, LayerError> {
    let refuse = |what: String| {
        Err(spec_error(format!(
            "layer '{layer}': `{field}` {what} is not supported (MaxNorm, NonNeg, UnitNorm or MinMaxNorm)"
        )))
    };
    let (class, settings) = match keras_object(config, field) {
        Ok(None) => return Ok(None),
        Ok(Some(object)) => object,
        Err(other) => return refuse(other),
    };
    let number = |key: &str, default: f64| {
        settings
            .and_then(|c| c.get(key))
            .and_then(Value::as_f64)
            .unwrap_or(default)
    };
    // Keras's `axis`: one axis or a list of them; 0 when absent.
    let axis = match settings.and_then(|c| c.get("axis")) {
        None | Some(Value::Null) => vec![0],
        Some(Value::Array(items)) => match items.iter().map(Value::as_i64).collect() {
            Some(axes) => axes,
            None => return refuse(format!("with axis {}", Value::Array(items.clone()))),
        },
        Some(single) => match single.as_i64() {
            Some(axis) => vec![axis],
            None => return refuse(format!("with axis {single}")),
        },
    };
    Ok(Some(match class {
        "MaxNorm" | "max_norm" => Constraint::MaxNorm {
            max_value: number("max_value", 2.0),
            axis,
        },
        "NonNeg" | "non_neg" => Constraint::NonNeg,
        "UnitNorm" | "unit_norm" => Constraint::UnitNorm { axis },
        "MinMaxNorm" | "min_max_norm" => Constraint::MinMaxNorm {
            min_value: number("min_value", 0.0),
            max_value: number("max_value", 1.0),
            rate: number("rate", 1.0),
            axis,
        },
        other => return refuse(format!("`{other}`")),
    }))
}

/// `ZeroPadding1D`'s `padding` or `Cropping1D`'s `cropping`: one count
/// for both ends, or `(left, right)`; Keras's defaults are 1 and (1, 1).
fn edges(config: &Value, field: &str, layer: &str) -> Result<(usize, usize), LayerError> {
    let count = |v: &Value| v.as_u64().map(|n| n as usize);
    let pair = match config.get(field) {
        None | Some(Value::Null) => Some((1, 1)),
        Some(Value::Array(items)) if items.len() == 2 => count(&items[0]).zip(count(&items[1])),
        Some(Value::Array(items)) if items.len() == 1 => count(&items[0]).map(|n| (n, n)),
        Some(v) => count(v).map(|n| (n, n)),
    };
    pair.ok_or_else(|| {
        spec_error(format!(
            "layer '{layer}': `{field}` is {}, expected a count or (left, right)",
            config[field]
        ))
    })
}

/// The layer's `padding`: `valid` when absent (Keras's default), an error
/// for a name kymo does not know rather than a silent `valid`.
fn padding(config: &Value, layer: &str) -> Result<Padding, LayerError> {
    match config.get("padding").and_then(Value::as_str) {
        None | Some("valid") => Ok(Padding::Valid),
        Some("same") => Ok(Padding::Same),
        Some("causal") => Ok(Padding::Causal),
        Some(other) => Err(spec_error(format!(
            "layer '{layer}': padding `{other}` is not supported (valid, same or causal)"
        ))),
    }
}

/// Refuses the settings kymo's layers do not have and that would change
/// what the layer computes, instead of building a different model:
/// channels-first data, grouped convolutions, a Batch- or
/// LayerNormalization without its offset or scale, with renormalization or
/// RMS scaling, or over another axis, a global pool that keeps its axis.
/// (The regularizers and constraints of other layers than Conv1D and
/// Dense change only training; they are read by nothing and left out. An
/// `activity_regularizer` is read: [`activity_regularization`].)
fn refuse_unsupported(class: &str, config: &Value, layer: &str) -> Result<(), LayerError> {
    let refuse = |field: &str, value: &Value, why: &str| {
        Err(spec_error(format!(
            "layer '{layer}' ({class}): `{field}` = {value} is not supported: {why}"
        )))
    };
    if let Some(format) = config.get("data_format") {
        if format.as_str() == Some("channels_first") {
            return refuse(
                "data_format",
                format,
                "kymo reads Keras's default channels_last, (length, channels)",
            );
        }
    }
    let is = |field: &str, default: Value| config.get(field).is_some_and(|v| *v != default);
    match class {
        "Conv1D" if is("groups", Value::from(1)) => refuse(
            "groups",
            &config["groups"],
            "kymo's Conv1D connects every input channel to every filter",
        ),
        "BatchNormalization" | "LayerNormalization" => {
            for field in ["center", "scale"] {
                if is(field, Value::Bool(true)) {
                    return refuse(
                        field,
                        &config[field],
                        "kymo's normalizations learn both beta and gamma",
                    );
                }
            }
            if is("rms_scaling", Value::Bool(false)) {
                return refuse(
                    "rms_scaling",
                    &config["rms_scaling"],
                    "RMS scaling is not implemented",
                );
            }
            if is("renorm", Value::Bool(false)) {
                return refuse(
                    "renorm",
                    &config["renorm"],
                    "batch renormalization is not implemented",
                );
            }
            match config.get("axis") {
                None => Ok(()),
                Some(axis)
                    if [-1, 2].contains(&axis.as_i64().unwrap_or(0))
                        || axis.as_array().is_some_and(|a| {
                            a.len() == 1 && [-1, 2].contains(&a[0].as_i64().unwrap_or(0))
                        }) =>
                {
                    Ok(())
                }
                Some(axis) => refuse("axis", axis, "kymo normalizes each channel (axis -1)"),
            }
        }
        _ => Ok(()),
    }
}

/// A `ReLU` layer: plain, or Keras's leaky form (`negative_slope`), which is
/// kymo's LeakyReLU; a ceiling (`max_value`, ReLU6) or a `threshold` is
/// refused rather than dropped.
fn relu_layer(config: &Value, layer: &str, name: Option<String>) -> Result<LayerSpec, LayerError> {
    for field in ["max_value", "threshold"] {
        match config.get(field) {
            None | Some(Value::Null) => {}
            Some(v) if v.as_f64() == Some(0.0) && field == "threshold" => {}
            Some(v) => {
                return Err(spec_error(format!(
                    "layer '{layer}' (ReLU): `{field}` = {v} is not supported: kymo's ReLU has \
                     neither a ceiling nor a threshold"
                )))
            }
        }
    }
    Ok(match config.get("negative_slope").and_then(Value::as_f64) {
        Some(slope) if slope != 0.0 => LayerSpec::LeakyReLU(LeakyReLUSpec {
            negative_slope: slope,
            name,
        }),
        _ => LayerSpec::ReLU(NameOnlySpec { name }),
    })
}

/// A model's input as Keras declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KerasInput {
    /// Steps; `None` for a variable length (`Input(shape=(None, channels))`).
    length: Option<usize>,
    /// Channels.
    channels: usize,
    /// Declared flat, `[null, length]`: one channel, and a signal only
    /// once a first `Reshape((length, 1))` or `Flatten` makes it one.
    flat: bool,
}

/// The model's `[null, length, channels]` (or flat `[null, length]`) input
/// shape, wherever this Keras version put it: an `InputLayer`'s (or a
/// Sequential's first layer's) `batch_shape` / `batch_input_shape`, the
/// model's `build_input_shape`, or the first layer's `build_config`. Later
/// layers' build shapes are not the model's input.
fn input_shape(model_config: &Value, layers: &[Value]) -> Option<KerasInput> {
    fn declared(l: &Value) -> [Option<&Value>; 2] {
        l.get("config")
            .map(|c| [c.get("batch_shape"), c.get("batch_input_shape")])
            .unwrap_or_default()
    }
    let inputs = layers
        .iter()
        .filter(|l| l.get("class_name").and_then(Value::as_str) == Some("InputLayer"))
        .flat_map(declared);
    let first = layers.first();
    let candidates = inputs
        .chain(first.map(declared).unwrap_or_default())
        .chain([model_config.get("build_input_shape")])
        .chain([first.and_then(|l| l.get("build_config").and_then(|b| b.get("input_shape")))]);
    for shape in candidates.flatten() {
        let Some(items) = shape.as_array() else {
            continue;
        };
        let dimension = |i: usize| items.get(i).and_then(Value::as_u64).map(|d| d as usize);
        match items.len() {
            3 => {
                if let Some(channels) = dimension(2) {
                    return Some(KerasInput {
                        length: dimension(1),
                        channels,
                        flat: false,
                    });
                }
            }
            2 => {
                return Some(KerasInput {
                    length: dimension(1),
                    channels: 1,
                    flat: true,
                })
            }
            _ => {}
        }
    }
    None
}

/// A model's `config`, its `layers`, its input and the input's length.
type ModelConfig<'a> = (&'a Value, &'a [Value], KerasInput, usize);

/// A model's `config`, its `layers` and its input, wherever this Keras
/// version put them: what every importer reads first. A variable-length
/// input takes `length`, and is an error without it.
fn model_config(root: &Value, length: Option<usize>) -> Result<ModelConfig<'_>, LayerError> {
    let (config, layers) = config_and_layers(root)?;
    let input = input_shape(config, layers).ok_or_else(|| {
        spec_error("no input shape [null, length, channels] (or [null, length]) found")
    })?;
    let resolved = match (input.length, length, input.flat) {
        (Some(fixed), _, _) => fixed,
        (None, _, true) => {
            return Err(spec_error(
                "a flat input of variable length ([null, null]) is not read: give it Input(shape=(None, 1))",
            ))
        }
        (None, Some(length), false) => length,
        (None, None, false) => {
            return Err(spec_error(format!(
                "the input [null, null, {}] has no fixed length: give one (kymo's commands take it from the data, or --length)",
                input.channels
            )))
        }
    };
    Ok((config, layers, input, resolved))
}

/// A model's `config` and its `layers`.
fn config_and_layers(root: &Value) -> Result<(&Value, &[Value]), LayerError> {
    let config = root
        .get("config")
        .ok_or_else(|| spec_error("missing `config`"))?;
    let layers = config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| spec_error("missing `config.layers`"))?;
    Ok((config, layers.as_slice()))
}

/// The input length `model.to_json()` text declares: `None` for a
/// variable-length input (`Input(shape=(None, channels))`), which
/// [`from_keras_json_any_at`] reads at a length of the caller's choice.
pub fn declared_length(text: &str) -> Result<Option<usize>, LayerError> {
    let root: Value = serde_json::from_str(text).map_err(|e| spec_error(e.to_string()))?;
    let (config, layers) = config_and_layers(&root)?;
    input_shape(config, layers)
        .map(|input| input.length)
        .ok_or_else(|| spec_error("no input shape [null, length, channels] found"))
}

/// Whether `layer` is a `Reshape` to `(length, 1)`: the layer that makes
/// a flat input of `length` values a one-channel signal, which kymo's
/// input already is.
fn reshapes_to_one_channel(layer: &Value, length: usize) -> bool {
    let is_reshape = layer.get("class_name").and_then(Value::as_str) == Some("Reshape");
    let target = layer
        .get("config")
        .and_then(|c| c.get("target_shape"))
        .and_then(Value::as_array)
        .map(|items| items.iter().map(Value::as_u64).collect::<Vec<_>>());
    is_reshape && target == Some(vec![Some(length as u64), Some(1)])
}

/// The layer a Keras layer entry's `activity_regularizer` (`L1`, `L2` or
/// `L1L2`; another is refused) adds after it: an `ActivityRegularization`
/// named `<layer>_activity_regularization`, which is what Keras computes
/// (the layer's output unchanged, its penalty over the batch size in the
/// loss). `None` without one.
pub(crate) fn activity_regularization(layer: &Value) -> Result<Option<LayerSpec>, LayerError> {
    let class = layer
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let c = layer.get("config").cloned().unwrap_or(Value::Null);
    let label = c
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(class)
        .to_string();
    // Keras's own layer carries its coefficients as `l1` and `l2`.
    if class == "ActivityRegularization" {
        return Ok(None);
    }
    Ok(regularizer(&c, "activity_regularizer", &label)?.map(|r| {
        LayerSpec::ActivityRegularization(crate::layers::ActivityRegularizationSpec {
            l1: r.l1,
            l2: r.l2,
            name: Some(format!("{label}_activity_regularization")),
        })
    }))
}

/// The kymo spec of one Keras layer entry (`class_name` and `config`), or
/// `None` for what kymo needs no layer for (the `InputLayer`; in a
/// Sequential, a linear `Activation`).
fn layer_spec(layer: &Value) -> Result<Option<LayerSpec>, LayerError> {
    let class = layer
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let c = layer.get("config").cloned().unwrap_or(Value::Null);
    let name = c.get("name").and_then(Value::as_str).map(str::to_string);
    let label = name.clone().unwrap_or_else(|| class.to_string());
    refuse_unsupported(class, &c, &label)?;
    Ok(Some(match class {
        "InputLayer" => return Ok(None),
        "Conv1D" => LayerSpec::Conv1D(Conv1DSpec {
            strides: int(&c, "strides", &label)?.unwrap_or(1),
            padding: padding(&c, &label)?,
            dilation_rate: int(&c, "dilation_rate", &label)?.unwrap_or(1),
            activation: activation(&c, &label)?,
            use_bias: c.get("use_bias").and_then(Value::as_bool).unwrap_or(true),
            kernel_initializer: initializer(&c, "kernel_initializer", Initializer::GlorotUniform),
            bias_initializer: initializer(&c, "bias_initializer", Initializer::Zeros),
            kernel_regularizer: regularizer(&c, "kernel_regularizer", &label)?,
            bias_regularizer: regularizer(&c, "bias_regularizer", &label)?,
            kernel_constraint: constraint(&c, "kernel_constraint", &label)?,
            bias_constraint: constraint(&c, "bias_constraint", &label)?,
            name,
            ..Conv1DSpec::new(
                required(&c, "filters", &label)?,
                required(&c, "kernel_size", &label)?,
            )
        }),
        "Dense" => LayerSpec::Dense(DenseSpec {
            activation: activation(&c, &label)?,
            use_bias: c.get("use_bias").and_then(Value::as_bool).unwrap_or(true),
            kernel_initializer: initializer(&c, "kernel_initializer", Initializer::GlorotUniform),
            bias_initializer: initializer(&c, "bias_initializer", Initializer::Zeros),
            kernel_regularizer: regularizer(&c, "kernel_regularizer", &label)?,
            bias_regularizer: regularizer(&c, "bias_regularizer", &label)?,
            kernel_constraint: constraint(&c, "kernel_constraint", &label)?,
            bias_constraint: constraint(&c, "bias_constraint", &label)?,
            name,
            ..DenseSpec::new(required(&c, "units", &label)?)
        }),
        "LeakyReLU" => {
            let slope = c
                .get("negative_slope")
                .or_else(|| c.get("alpha"))
                .and_then(Value::as_f64)
                .unwrap_or(0.3);
            LayerSpec::LeakyReLU(LeakyReLUSpec {
                negative_slope: slope,
                name,
            })
        }
        "ReLU" => relu_layer(&c, &label, name)?,
        "ELU" => LayerSpec::ELU(ELUSpec {
            alpha: c.get("alpha").and_then(Value::as_f64).unwrap_or(1.0),
            name,
        }),
        "Activation" => match activation(&c, &label)? {
            Activation::Relu => LayerSpec::ReLU(NameOnlySpec { name }),
            Activation::Tanh => LayerSpec::Tanh(NameOnlySpec { name }),
            Activation::Sigmoid => LayerSpec::Sigmoid(NameOnlySpec { name }),
            Activation::Elu { alpha } => LayerSpec::ELU(ELUSpec { alpha, name }),
            Activation::LeakyRelu { negative_slope } => LayerSpec::LeakyReLU(LeakyReLUSpec {
                negative_slope,
                name,
            }),
            // The activations with no layer class of their own.
            other @ (Activation::Softmax
            | Activation::Selu
            | Activation::Silu
            | Activation::Gelu
            | Activation::Softplus) => LayerSpec::Activation(crate::layers::ActivationSpec {
                activation: other,
                name,
            }),
            Activation::Linear => return Ok(None),
        },
        "Softmax" => {
            let axis = c.get("axis").and_then(Value::as_i64).unwrap_or(-1);
            if axis != -1 {
                return Err(spec_error(format!(
                    "layer '{label}': Softmax over axis {axis} is not supported (only the last axis, -1)"
                )));
            }
            LayerSpec::Activation(crate::layers::ActivationSpec {
                activation: Activation::Softmax,
                name,
            })
        }
        "MaxPooling1D" | "AveragePooling1D" => {
            let pool = Pooling1DSpec {
                pool_size: int(&c, "pool_size", &label)?.unwrap_or(2),
                strides: int(&c, "strides", &label)?,
                padding: padding(&c, &label)?,
                name,
            };
            if class == "MaxPooling1D" {
                LayerSpec::MaxPooling1D(pool)
            } else {
                LayerSpec::AveragePooling1D(pool)
            }
        }
        "ZeroPadding1D" | "Cropping1D" => {
            let field = if class == "ZeroPadding1D" {
                "padding"
            } else {
                "cropping"
            };
            let (left, right) = edges(&c, field, &label)?;
            let spec = LengthEdgesSpec { left, right, name };
            if class == "ZeroPadding1D" {
                LayerSpec::ZeroPadding1D(spec)
            } else {
                LayerSpec::Cropping1D(spec)
            }
        }
        "GlobalAveragePooling1D" => LayerSpec::GlobalAveragePooling1D(GlobalPoolingSpec {
            name,
            keepdims: c.get("keepdims").and_then(Value::as_bool).unwrap_or(false),
        }),
        "Flatten" => LayerSpec::Flatten(NameOnlySpec { name }),
        "Dropout" | "SpatialDropout1D" => {
            let spec = DropoutSpec {
                rate: c.get("rate").and_then(Value::as_f64).unwrap_or(0.0),
                seed: c.get("seed").and_then(Value::as_u64),
                name,
            };
            if class == "Dropout" {
                LayerSpec::Dropout(spec)
            } else {
                LayerSpec::SpatialDropout1D(spec)
            }
        }
        "ActivityRegularization" => {
            LayerSpec::ActivityRegularization(crate::layers::ActivityRegularizationSpec {
                l1: c.get("l1").and_then(Value::as_f64).unwrap_or(0.0),
                l2: c.get("l2").and_then(Value::as_f64).unwrap_or(0.0),
                name,
            })
        }
        "GaussianNoise" => LayerSpec::GaussianNoise(crate::layers::GaussianNoiseSpec {
            stddev: c.get("stddev").and_then(Value::as_f64).unwrap_or(0.0),
            seed: c.get("seed").and_then(Value::as_u64),
            name,
        }),
        "BatchNormalization" => LayerSpec::BatchNormalization(BatchNormalizationSpec {
            momentum: c.get("momentum").and_then(Value::as_f64).unwrap_or(0.99),
            epsilon: c.get("epsilon").and_then(Value::as_f64).unwrap_or(1e-3),
            name,
        }),
        "GlobalMaxPooling1D" => LayerSpec::GlobalMaxPooling1D(GlobalPoolingSpec {
            name,
            keepdims: c.get("keepdims").and_then(Value::as_bool).unwrap_or(false),
        }),
        "LayerNormalization" => LayerSpec::LayerNormalization(LayerNormalizationSpec {
            epsilon: c.get("epsilon").and_then(Value::as_f64).unwrap_or(1e-3),
            name,
        }),
        "Permute" => LayerSpec::Permute(PermuteSpec {
            dims: counts(&c, "dims").ok_or_else(|| {
                spec_error(format!("layer '{label}': `dims` is not a list of axes"))
            })?,
            name,
        }),
        "Reshape" => LayerSpec::Reshape(ReshapeSpec {
            target_shape: counts(&c, "target_shape").ok_or_else(|| {
                spec_error(format!(
                    "layer '{label}': `target_shape` must be a list of sizes (-1 is not read)"
                ))
            })?,
            name,
        }),
        "Add" => LayerSpec::Add(NameOnlySpec { name }),
        "Subtract" => LayerSpec::Subtract(NameOnlySpec { name }),
        "Multiply" => LayerSpec::Multiply(NameOnlySpec { name }),
        "Average" => LayerSpec::Average(NameOnlySpec { name }),
        "Maximum" => LayerSpec::Maximum(NameOnlySpec { name }),
        "Minimum" => LayerSpec::Minimum(NameOnlySpec { name }),
        "Concatenate" => LayerSpec::Concatenate(ConcatenateSpec {
            axis: c.get("axis").and_then(Value::as_i64).unwrap_or(-1),
            name,
        }),
        other => {
            return Err(spec_error(format!(
                "layer '{label}': class `{other}` is not supported"
            )))
        }
    }))
}

/// Converts `model.to_json()` text of a Sequential model into a kymo
/// model spec (see [`from_keras_json_any`] for functional models).
pub fn from_keras_json(text: &str) -> Result<ModelSpec, LayerError> {
    sequential(text, None)
}

/// [`from_keras_json`] with `length` for a variable-length input.
fn sequential(text: &str, length: Option<usize>) -> Result<ModelSpec, LayerError> {
    let root: Value = serde_json::from_str(text).map_err(|e| spec_error(e.to_string()))?;
    if root.get("class_name").and_then(Value::as_str) != Some("Sequential") {
        return Err(spec_error("only Sequential models are supported"));
    }
    let (_, mut layers, input, length) = model_config(&root, length)?;
    let channels = input.channels;
    let mut specs = Vec::new();
    // A flat input is kymo's one-channel signal: a first Reshape to
    // (length, 1) has nothing to do, and a Dense straight on it reads
    // the values as a Flatten of the signal gives them (one channel: the
    // same order in Keras's layout and kymo's).
    let first_layer = |layers: &[Value]| {
        layers
            .iter()
            .position(|l| l.get("class_name").and_then(Value::as_str) != Some("InputLayer"))
    };
    if input.flat {
        match first_layer(layers) {
            // What comes before it is InputLayers, which kymo has no layer for.
            Some(i) if reshapes_to_one_channel(&layers[i], length) => layers = &layers[i + 1..],
            // Another reshape of the flat values: kymo's one-channel
            // signal holds them in Keras's order, so the Reshape layer
            // reads it as Keras reads the flat input.
            Some(i) if layers[i].get("class_name").and_then(Value::as_str) == Some("Reshape") => {}
            Some(i) if layers[i].get("class_name").and_then(Value::as_str) == Some("Dense") => {
                specs.push(LayerSpec::Flatten(NameOnlySpec {
                    name: Some("flat_input".into()),
                }));
            }
            _ => {
                return Err(spec_error(format!(
                    "a flat input of {length} values is read when a Reshape(({length}, 1)) or a Dense comes first"
                )))
            }
        }
    }
    for layer in layers {
        if let Some(spec) = layer_spec(layer)? {
            if spec.is_merge() {
                return Err(spec_error(format!(
                    "layer '{}': a {} in a Sequential model",
                    spec.name().unwrap_or_default(),
                    spec.kind()
                )));
            }
            specs.push(spec);
        }
        specs.extend(activity_regularization(layer)?);
    }
    Ok(ModelSpec {
        input: InputSpec { channels, length },
        layers: specs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_length_input_is_read_at_the_length_given_and_named_without_one() {
        // Keras 3 writes a build shape on every layer: the Dense's
        // [null, 8] is not the model's input.
        let text = r#"{"class_name": "Sequential", "config": {"layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [null, null, 1], "name": "x"}},
            {"class_name": "Conv1D", "config": {"name": "c", "filters": 8, "kernel_size": 3,
             "padding": "same"}, "build_config": {"input_shape": [null, null, 1]}},
            {"class_name": "GlobalAveragePooling1D", "config": {"name": "g"},
             "build_config": {"input_shape": [null, null, 8]}},
            {"class_name": "Dense", "config": {"name": "d", "units": 1},
             "build_config": {"input_shape": [null, 8]}}]}}"#;
        assert_eq!(declared_length(text).expect("an input"), None);
        let error = from_keras_json(text).expect_err("no length to read it at");
        assert!(
            error
                .to_string()
                .contains("[null, null, 1] has no fixed length"),
            "{error}"
        );
        let spec = from_keras_json_any_at(text, 77).expect("read at 77 points");
        assert_eq!((spec.input().channels, spec.input().length), (1, 77));
        // A fixed length in the file stays.
        let fixed = text.replacen("[null, null, 1]", "[null, 40, 1]", 1);
        assert_eq!(declared_length(&fixed).expect("an input"), Some(40));
        let spec = from_keras_json_any_at(&fixed, 77).expect("reads");
        assert_eq!(spec.input().length, 40);
    }

    #[test]
    fn a_flat_input_is_a_one_channel_signal_behind_a_reshape_or_a_dense() {
        let model = |first: &str| {
            format!(
                r#"{{"class_name": "Sequential", "config": {{"name": "s", "layers": [
                {{"class_name": "InputLayer", "config": {{"batch_shape": [null, 40], "name": "x"}}}},
                {first},
                {{"class_name": "Dense", "config": {{"name": "d", "units": 1}}}}]}}}}"#
            )
        };
        let reshape = model(
            r#"{"class_name": "Reshape", "config": {"name": "r", "target_shape": [40, 1]}},
               {"class_name": "Conv1D", "config": {"name": "c", "filters": 2, "kernel_size": [3], "activation": "gelu"}},
               {"class_name": "Flatten", "config": {"name": "f"}}"#,
        );
        let spec = from_keras_json(&reshape).expect("parses");
        assert_eq!(
            spec.input,
            InputSpec {
                channels: 1,
                length: 40
            }
        );
        let kinds: Vec<&str> = spec.layers.iter().map(LayerSpec::kind).collect();
        assert_eq!(kinds, ["Conv1D", "Flatten", "Dense"]);
        // A Dense on the flat values reads them through a Flatten.
        let mlp = model(
            r#"{"class_name": "Dense", "config": {"name": "h", "units": 4, "activation": "selu"}}"#,
        );
        let spec = from_keras_json(&mlp).expect("parses");
        let kinds: Vec<&str> = spec.layers.iter().map(LayerSpec::kind).collect();
        assert_eq!(kinds, ["Flatten", "Dense", "Dense"]);
        // A reshape to two channels stays a Reshape layer, reading the
        // one-channel signal in Keras's order.
        let two = model(
            r#"{"class_name": "Reshape", "config": {"name": "r", "target_shape": [20, 2]}},
               {"class_name": "Flatten", "config": {"name": "f"}}"#,
        );
        let spec = from_keras_json(&two).expect("parses");
        let kinds: Vec<&str> = spec.layers.iter().map(LayerSpec::kind).collect();
        assert_eq!(kinds, ["Reshape", "Flatten", "Dense"]);
        // Anything else first is not read.
        let conv = model(
            r#"{"class_name": "Conv1D", "config": {"name": "c", "filters": 2, "kernel_size": [3]}}"#,
        );
        let error = from_keras_json(&conv).expect_err("a conv on flat values");
        assert!(error.to_string().contains("Reshape((40, 1))"), "{error}");
    }

    #[test]
    fn reads_keras_two_style_json_with_alpha_and_batch_input_shape() {
        let text = r#"{"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "Conv1D", "config": {"name": "c", "batch_input_shape": [null, 64, 2], "filters": 4,
             "kernel_size": [3], "strides": [1], "padding": "same", "dilation_rate": [1], "activation": "linear", "use_bias": true}},
            {"class_name": "LeakyReLU", "config": {"name": "l", "alpha": 0.1}},
            {"class_name": "MaxPooling1D", "config": {"name": "p", "pool_size": [2], "strides": [2], "padding": "valid"}},
            {"class_name": "Flatten", "config": {"name": "f"}},
            {"class_name": "Dense", "config": {"name": "d", "units": 1, "activation": "linear"}}]}}"#;
        let spec = from_keras_json(text).expect("parses");
        assert_eq!(
            spec.input,
            InputSpec {
                channels: 2,
                length: 64
            }
        );
        assert_eq!(spec.layers.len(), 5);
        assert!(matches!(&spec.layers[1], LayerSpec::LeakyReLU(l) if l.negative_slope == 0.1));
        let model = crate::Sequential::<f32>::new(&spec, 0).expect("builds");
        assert_eq!(
            crate::Model::count_params(&model),
            4 * 2 * 3 + 4 + 4 * 32 + 1
        );
    }

    /// A one-layer Sequential on a `[null, 16, 1]` input, `layer` its
    /// entry, parsed.
    fn one_layer(layer: &str) -> Result<ModelSpec, LayerError> {
        from_keras_json(&format!(
            r#"{{"class_name": "Sequential", "config": {{"layers": [
            {{"class_name": "InputLayer", "config": {{"batch_shape": [null, 16, 1]}}}}, {layer}]}}}}"#
        ))
    }

    #[test]
    fn causal_padding_and_a_leaky_relu_layer_are_read() {
        let spec = one_layer(
            r#"{"class_name": "Conv1D", "config": {"name": "c", "filters": 2, "kernel_size": [3], "padding": "causal", "dilation_rate": [2]}}"#,
        )
        .expect("parses");
        assert!(matches!(&spec.layers[0], LayerSpec::Conv1D(c) if c.padding == Padding::Causal));
        let spec = one_layer(
            r#"{"class_name": "ReLU", "config": {"name": "r", "max_value": null, "negative_slope": 0.2, "threshold": 0.0}}"#,
        )
        .expect("parses");
        assert!(matches!(&spec.layers[0], LayerSpec::LeakyReLU(l) if l.negative_slope == 0.2));
        let spec = one_layer(
            r#"{"class_name": "ReLU", "config": {"name": "r", "max_value": null, "negative_slope": 0.0, "threshold": 0.0}}"#,
        )
        .expect("parses");
        assert!(matches!(&spec.layers[0], LayerSpec::ReLU(_)));
    }

    #[test]
    fn an_activity_regularizer_becomes_the_layer_after_it_and_others_are_refused() {
        let model = |regularizer: &str| {
            format!(
                r#"{{"class_name": "Sequential", "config": {{"layers": [
                {{"class_name": "InputLayer", "config": {{"batch_shape": [null, 16, 1], "name": "x"}}}},
                {{"class_name": "Flatten", "config": {{"name": "f"}}}},
                {{"class_name": "Dense", "config": {{"name": "d", "units": 2, "activity_regularizer": {regularizer}}}}},
                {{"class_name": "ActivityRegularization", "config": {{"name": "a", "l1": 0.5}}}}]}}}}"#
            )
        };
        let spec = from_keras_json(&model(r#""l2""#)).expect("reads");
        let kinds: Vec<_> = spec.layers.iter().map(LayerSpec::kind).collect();
        assert_eq!(
            kinds,
            [
                "Flatten",
                "Dense",
                "ActivityRegularization",
                "ActivityRegularization"
            ]
        );
        let LayerSpec::ActivityRegularization(after_dense) = &spec.layers[2] else {
            panic!("an ActivityRegularization after the Dense");
        };
        assert_eq!((after_dense.l1, after_dense.l2), (0.0, 0.01));
        assert_eq!(
            after_dense.name.as_deref(),
            Some("d_activity_regularization")
        );
        let LayerSpec::ActivityRegularization(own) = &spec.layers[3] else {
            panic!("Keras's own layer");
        };
        assert_eq!((own.l1, own.l2, own.name.as_deref()), (0.5, 0.0, Some("a")));
        let error = from_keras_json(&model(
            r#"{"class_name": "OrthogonalRegularizer", "config": {"factor": 0.01}}"#,
        ))
        .expect_err("refused");
        assert!(
            error.to_string().contains("activity_regularizer"),
            "{error}"
        );
    }

    #[test]
    fn regularizers_are_read_from_configs_and_string_names() {
        let conv = |regularizers: &str| {
            let layer = format!(
                r#"{{"class_name": "Conv1D", "config": {{"name": "c", "filters": 2, "kernel_size": 3, {regularizers}}}}}"#
            );
            match layer_spec(&serde_json::from_str(&layer).expect("JSON")) {
                Ok(Some(LayerSpec::Conv1D(spec))) => {
                    (spec.kernel_regularizer, spec.bias_regularizer)
                }
                other => panic!("{other:?}"),
            }
        };
        let (kernel, bias) = conv(
            r#""kernel_regularizer": {"module": "keras.regularizers", "class_name": "L1L2", "config": {"l1": 0.001, "l2": 0.002}, "registered_name": null}, "bias_regularizer": "l2""#,
        );
        assert_eq!(
            kernel,
            Some(Regularizer {
                l1: 0.001,
                l2: 0.002
            })
        );
        assert_eq!(bias, Some(Regularizer { l1: 0.0, l2: 0.01 }));
        let (kernel, bias) = conv(r#""kernel_regularizer": "l1_l2", "bias_regularizer": null"#);
        assert_eq!(kernel, Some(Regularizer { l1: 0.01, l2: 0.01 }));
        assert_eq!(bias, None);
    }

    #[test]
    fn constraints_are_read_from_configs_and_string_names_with_keras_s_defaults() {
        let dense = |constraints: &str| {
            let layer = format!(
                r#"{{"class_name": "Dense", "config": {{"name": "d", "units": 2, {constraints}}}}}"#
            );
            match layer_spec(&serde_json::from_str(&layer).expect("JSON")) {
                Ok(Some(LayerSpec::Dense(spec))) => (spec.kernel_constraint, spec.bias_constraint),
                other => panic!("{other:?}"),
            }
        };
        let (kernel, bias) = dense(
            r#""kernel_constraint": {"module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0}, "registered_name": null}, "bias_constraint": "non_neg""#,
        );
        assert_eq!(
            kernel,
            Some(Constraint::MaxNorm {
                max_value: 3.0,
                axis: vec![0]
            })
        );
        assert_eq!(bias, Some(Constraint::NonNeg));
        let (kernel, bias) =
            dense(r#""kernel_constraint": "max_norm", "bias_constraint": "min_max_norm""#);
        assert_eq!(
            kernel,
            Some(Constraint::MaxNorm {
                max_value: 2.0,
                axis: vec![0]
            })
        );
        assert_eq!(
            bias,
            Some(Constraint::MinMaxNorm {
                min_value: 0.0,
                max_value: 1.0,
                rate: 1.0,
                axis: vec![0]
            })
        );
    }

    #[test]
    fn settings_that_would_change_the_model_are_refused_by_layer_and_field() {
        for (layer, field) in [
            (
                r#"{"class_name": "Conv1D", "config": {"name": "c", "filters": 2, "kernel_size": 3, "padding": "reflect"}}"#,
                "reflect",
            ),
            (
                r#"{"class_name": "Conv1D", "config": {"name": "c", "filters": 2, "kernel_size": 3, "data_format": "channels_first"}}"#,
                "data_format",
            ),
            (
                r#"{"class_name": "Conv1D", "config": {"name": "c", "filters": 2, "kernel_size": 3, "groups": 2}}"#,
                "groups",
            ),
            (
                r#"{"class_name": "ReLU", "config": {"name": "c", "max_value": 6.0}}"#,
                "max_value",
            ),
            (
                r#"{"class_name": "Dense", "config": {"name": "c", "units": 2, "kernel_regularizer": {"class_name": "OrthogonalRegularizer", "config": {"factor": 0.01}}}}"#,
                "kernel_regularizer",
            ),
            (
                r#"{"class_name": "ReLU", "config": {"name": "c", "threshold": 0.5}}"#,
                "threshold",
            ),
            (
                r#"{"class_name": "Dense", "config": {"name": "c", "units": 2, "bias_constraint": {"class_name": "MyConstraint", "config": {}}}}"#,
                "bias_constraint",
            ),
            (
                r#"{"class_name": "Conv1D", "config": {"name": "c", "filters": 2, "kernel_size": 3, "kernel_constraint": {"class_name": "MaxNorm", "config": {"axis": "all"}}}}"#,
                "kernel_constraint",
            ),
            (
                r#"{"class_name": "BatchNormalization", "config": {"name": "c", "scale": false}}"#,
                "scale",
            ),
            (
                r#"{"class_name": "BatchNormalization", "config": {"name": "c", "axis": 1}}"#,
                "axis",
            ),
            (
                r#"{"class_name": "MaxPooling1D", "config": {"name": "c", "pool_size": 2, "padding": "full"}}"#,
                "full",
            ),
        ] {
            let error = one_layer(layer).expect_err(field).to_string();
            assert!(
                error.contains("'c'") && error.contains(field),
                "{field}: {error}"
            );
        }
        // Keras's defaults, written out, are accepted.
        one_layer(
            r#"{"class_name": "BatchNormalization", "config": {"name": "c", "axis": -1, "center": true, "scale": true}}"#,
        )
        .expect("defaults");
        one_layer(
            r#"{"class_name": "Conv1D", "config": {"name": "c", "filters": 2, "kernel_size": 3, "groups": 1, "data_format": "channels_last"}}"#,
        )
        .expect("defaults");
    }

    #[test]
    fn unsupported_layers_are_named() {
        let text = r#"{"class_name": "Sequential", "config": {"layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 1]}},
            {"class_name": "LSTM", "config": {"name": "rnn"}}]}}"#;
        let err = from_keras_json(text).expect_err("no LSTM");
        assert!(
            err.to_string().contains("rnn") && err.to_string().contains("LSTM"),
            "{err}"
        );
    }
}
