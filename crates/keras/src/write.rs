//! Writes a kymo model (Sequential or graph) as a Keras 3 `.keras` file that
//! `keras.models.load_model` reads: `config.json` (the layers as Keras
//! configures them), `metadata.json`, and `model.weights.h5` with each
//! layer's weights under Keras's key (`layers/conv1d/vars/0`, ...) in
//! Keras's layouts (the inverse of `layout`). Preprocessing has no Keras
//! layer: a caller writes it beside the file.

use std::io::Write as _;
use std::path::Path;

use hdf5_pure::{AttrValue, FileBuilder};
use kymo_layers::{
    Activation, ArchitectureSpec, Constraint, LayerSpec, Model, ModelSpec, Parameter, Regularizer,
    Shape,
};
use ndarray::{ArrayD, IxDyn};
use serde_json::{json, Value};

use crate::naming::weight_keys;
use crate::KerasError;

/// Keras's spelling of an activation (`None` for one Keras has no name
/// for: a LeakyReLU slope other than `leaky_relu`'s 0.2).
fn activation_name(activation: Activation) -> Option<&'static str> {
    Some(match activation {
        Activation::Linear => "linear",
        Activation::Relu => "relu",
        Activation::Tanh => "tanh",
        Activation::Sigmoid => "sigmoid",
        Activation::Softmax => "softmax",
        Activation::Selu => "selu",
        Activation::Silu => "silu",
        Activation::Gelu => "gelu",
        Activation::Softplus => "softplus",
        Activation::Elu { alpha: 1.0 } => "elu",
        Activation::LeakyRelu {
            negative_slope: 0.2,
        } => "leaky_relu",
        _ => return None,
    })
}

/// A regularizer as Keras's `get_config` writes it (`L1L2` holds both
/// coefficients, and `keras.regularizers.get` reads it back).
fn regularizer_config(regularizer: Regularizer) -> Value {
    json!({"module": "keras.regularizers", "class_name": "L1L2",
           "config": {"l1": regularizer.l1, "l2": regularizer.l2}, "registered_name": null})
}

/// A constraint as Keras's `get_config` serializes it.
fn constraint_config(constraint: &Constraint) -> Value {
    let (class, config) = match constraint {
        Constraint::MaxNorm { max_value, axis } => {
            ("MaxNorm", json!({"max_value": max_value, "axis": axis}))
        }
        Constraint::NonNeg => ("NonNeg", json!({})),
        Constraint::UnitNorm { axis } => ("UnitNorm", json!({"axis": axis})),
        Constraint::MinMaxNorm {
            min_value,
            max_value,
            rate,
            axis,
        } => (
            "MinMaxNorm",
            json!({"min_value": min_value, "max_value": max_value, "rate": rate, "axis": axis}),
        ),
    };
    json!({"module": "keras.constraints", "class_name": class, "config": config, "registered_name": null})
}

/// One layer's Keras class and config.
pub(crate) fn layer_config(spec: &LayerSpec, name: &str) -> Result<(&'static str, Value), String> {
    let activation = |a: Activation| {
        activation_name(a)
            .ok_or_else(|| format!("layer '{name}': activation {a:?} has no Keras name"))
    };
    let (class, mut config) = match spec {
        LayerSpec::Conv1D(s) => (
            "Conv1D",
            json!({"filters": s.filters, "kernel_size": [s.kernel_size], "strides": [s.strides],
                   "padding": s.padding.keras_name(), "dilation_rate": [s.dilation_rate],
                   "activation": activation(s.activation)?, "use_bias": s.use_bias}),
        ),
        LayerSpec::Dense(s) => (
            "Dense",
            json!({"units": s.units, "activation": activation(s.activation)?, "use_bias": s.use_bias}),
        ),
        LayerSpec::LeakyReLU(s) => ("LeakyReLU", json!({"negative_slope": s.negative_slope})),
        LayerSpec::ReLU(_) => ("ReLU", json!({})),
        LayerSpec::ELU(s) => ("ELU", json!({"alpha": s.alpha})),
        LayerSpec::Tanh(_) => ("Activation", json!({"activation": "tanh"})),
        LayerSpec::Sigmoid(_) => ("Activation", json!({"activation": "sigmoid"})),
        LayerSpec::Activation(s) => (
            "Activation",
            json!({"activation": activation(s.activation)?}),
        ),
        LayerSpec::MaxPooling1D(s) | LayerSpec::AveragePooling1D(s) => (
            if matches!(spec, LayerSpec::MaxPooling1D(_)) {
                "MaxPooling1D"
            } else {
                "AveragePooling1D"
            },
            json!({"pool_size": [s.pool_size], "strides": [s.strides.unwrap_or(s.pool_size)], "padding": s.padding.keras_name()}),
        ),
        LayerSpec::GlobalAveragePooling1D(s) => {
            ("GlobalAveragePooling1D", json!({"keepdims": s.keepdims}))
        }
        LayerSpec::GlobalMaxPooling1D(s) => ("GlobalMaxPooling1D", json!({"keepdims": s.keepdims})),
        LayerSpec::Dropout(s) => ("Dropout", json!({"rate": s.rate})),
        LayerSpec::SpatialDropout1D(s) => ("SpatialDropout1D", json!({"rate": s.rate})),
        LayerSpec::GaussianNoise(s) => ("GaussianNoise", json!({"stddev": s.stddev})),
        LayerSpec::ActivityRegularization(s) => {
            ("ActivityRegularization", json!({"l1": s.l1, "l2": s.l2}))
        }
        LayerSpec::Flatten(_) => ("Flatten", json!({})),
        LayerSpec::Reshape(s) => ("Reshape", json!({"target_shape": s.target_shape})),
        LayerSpec::Permute(s) => ("Permute", json!({"dims": s.dims})),
        LayerSpec::ZeroPadding1D(s) => ("ZeroPadding1D", json!({"padding": [s.left, s.right]})),
        LayerSpec::Cropping1D(s) => ("Cropping1D", json!({"cropping": [s.left, s.right]})),
        LayerSpec::LayerNormalization(s) => (
            "LayerNormalization",
            json!({"axis": -1, "epsilon": s.epsilon, "center": true, "scale": true}),
        ),
        LayerSpec::BatchNormalization(s) => (
            "BatchNormalization",
            json!({"axis": -1, "momentum": s.momentum, "epsilon": s.epsilon, "center": true, "scale": true}),
        ),
        LayerSpec::Add(_) => ("Add", json!({})),
        LayerSpec::Subtract(_) => ("Subtract", json!({})),
        LayerSpec::Multiply(_) => ("Multiply", json!({})),
        LayerSpec::Average(_) => ("Average", json!({})),
        LayerSpec::Maximum(_) => ("Maximum", json!({})),
        LayerSpec::Minimum(_) => ("Minimum", json!({})),
        LayerSpec::Concatenate(s) => ("Concatenate", json!({"axis": s.axis})),
    };
    let regularizers = spec.regularizers();
    if let Value::Object(map) = &mut config {
        for (field, regularizer) in ["kernel_regularizer", "bias_regularizer"]
            .into_iter()
            .zip(regularizers)
        {
            if let Some(r) = regularizer {
                map.insert(field.into(), regularizer_config(r));
            }
        }
        for (field, constraint) in ["kernel_constraint", "bias_constraint"]
            .into_iter()
            .zip(spec.constraints())
        {
            if let Some(c) = constraint {
                map.insert(field.into(), constraint_config(c));
            }
        }
        map.insert("name".into(), json!(name));
        map.insert("trainable".into(), json!(true));
        map.insert("dtype".into(), json!("float32"));
    }
    Ok((class, config))
}

/// A kymo weight in Keras's layout: the inverse of `layout::to_kymo`.
fn to_keras(
    spec: &LayerSpec,
    index: usize,
    value: &ArrayD<f32>,
    flattened: Option<(usize, usize)>,
) -> ArrayD<f32> {
    match (spec, index, value.ndim()) {
        (LayerSpec::Conv1D(_), 0, 3) => value
            .view()
            .permuted_axes(IxDyn(&[2, 1, 0]))
            .as_standard_layout()
            .into_owned(),
        (LayerSpec::Dense(_), 0, 2) => {
            let (units, features) = (value.shape()[0], value.shape()[1]);
            match flattened {
                Some((channels, steps))
                    if channels * steps == features && channels > 1 && steps > 1 =>
                {
                    ArrayD::from_shape_fn(IxDyn(&[features, units]), |i| {
                        let (keras_feature, unit) = (i[0], i[1]);
                        let (step, channel) = (keras_feature / channels, keras_feature % channels);
                        value[[unit, channel * steps + step]]
                    })
                }
                _ => value
                    .view()
                    .reversed_axes()
                    .as_standard_layout()
                    .into_owned(),
            }
        }
        _ => value.clone(),
    }
}

/// One layer as the file holds it, in the order Keras lists the model's
/// layers (which numbers their weight keys).
pub(crate) struct Entry<'a> {
    /// Keras's class name.
    pub class: &'static str,
    /// The layer's name.
    pub name: String,
    /// Its spec (`None` for a functional model's `InputLayer`).
    pub spec: Option<LayerSpec>,
    /// Its weights, in Keras's order (trainable first, as kymo keeps them).
    pub parameters: Vec<&'a Parameter<f32>>,
    /// `(channels, steps)` of the Flatten whose features a Dense here reads
    /// (through layers that are the identity in inference).
    pub flattened: Option<(usize, usize)>,
}

/// The Keras-side shape of a per-sample kymo shape, batch first.
pub(crate) fn keras_shape(shape: Shape) -> Value {
    match shape {
        Shape::Signal { channels, length } => json!([null, length, channels]),
        Shape::Features(features) => json!([null, features]),
    }
}

/// What the layer after this one sees of a Flatten: kept through the
/// layers that are the identity in inference, started by a Flatten of a
/// signal, forgotten by anything else.
pub(crate) fn flattened_after(
    spec: &LayerSpec,
    input: Shape,
    before: Option<(usize, usize)>,
) -> Option<(usize, usize)> {
    match (spec, input) {
        (LayerSpec::Flatten(_), Shape::Signal { channels, length }) => Some((channels, length)),
        (spec, _) if spec.is_identity_in_inference() => before,
        _ => None,
    }
}

/// The `config.json` of a Sequential model and its layers in order.
fn sequential_model<'a>(
    spec: &ModelSpec,
    model: &'a dyn Model<f32>,
) -> Result<(Value, Vec<Entry<'a>>), String> {
    let input = spec.input;
    let batch_shape = json!([null, input.length, input.channels]);
    let mut configs = vec![json!({"module": "keras.layers", "class_name": "InputLayer",
        "config": {"batch_shape": batch_shape, "dtype": "float32", "sparse": false, "name": "input_layer"},
        "registered_name": null})];
    let mut entries = Vec::new();
    let mut flattened = None;
    for layer in model.layers() {
        let spec = layer.spec();
        let (class, config) = layer_config(&spec, layer.name())?;
        configs.push(json!({"module": "keras.layers", "class_name": class, "config": config, "registered_name": null}));
        let next = flattened_after(&spec, layer.input_shape(), flattened);
        entries.push(Entry {
            class,
            name: layer.name().to_string(),
            spec: Some(spec),
            parameters: layer.parameters(),
            flattened,
        });
        flattened = next;
    }
    let config = json!({
        "module": "keras", "class_name": "Sequential",
        "config": {"name": "sequential", "trainable": true, "dtype": "float32", "layers": configs},
        "registered_name": null,
        "build_config": {"input_shape": batch_shape},
    });
    Ok((config, entries))
}

/// Writes `model` with its weights as trained to `path` as a `.keras`
/// file: a Sequential model as Keras's `Sequential`, a graph as a
/// functional model.
pub fn write_keras(model: &dyn Model<f32>, path: &Path) -> Result<(), KerasError> {
    let config_error = |reason: String| KerasError::Config {
        path: path.to_path_buf(),
        reason,
    };
    let (config, entries) = match model.architecture() {
        ArchitectureSpec::Sequential(spec) => sequential_model(&spec, model),
        ArchitectureSpec::Graph(spec) => crate::write_functional::functional_model(&spec, model),
    }
    .map_err(config_error)?;
    // Weights under Keras's keys, in Keras's layouts.
    let keys = weight_keys(entries.iter().map(|e| (e.class, e.name.as_str())));
    let mut builder = FileBuilder::new();
    let mut root = builder.create_group("layers");
    for (entry, (key, name)) in entries.iter().zip(&keys) {
        let mut group = root.create_group(key);
        let mut vars = group.create_group("vars");
        vars.set_attr("name", AttrValue::String(name.clone()));
        for (index, parameter) in entry.parameters.iter().enumerate() {
            let keras = match &entry.spec {
                Some(spec) => to_keras(spec, index, &parameter.value, entry.flattened),
                None => parameter.value.clone(),
            };
            let shape: Vec<u64> = keras.shape().iter().map(|&d| d as u64).collect();
            let values: Vec<f32> = keras.iter().copied().collect();
            vars.create_dataset(&index.to_string())
                .with_f32_data(&values)
                .with_shape(&shape);
        }
        group.add_group(vars.finish());
        root.add_group(group.finish());
    }
    builder.add_group(root.finish());
    let weights = builder.finish().map_err(|e| KerasError::Hdf5 {
        path: path.join("model.weights.h5"),
        object: "/".into(),
        reason: e.to_string(),
    })?;
    let metadata = json!({"keras_version": "3.15.1", "date_saved": "written by kymo"});
    let zip_error = |entry: &str, reason: String| KerasError::Zip {
        path: path.to_path_buf(),
        entry: entry.to_string(),
        reason,
    };
    let file = std::fs::File::create(path).map_err(|source| KerasError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (entry, bytes) in [
        ("metadata.json", metadata.to_string().into_bytes()),
        ("config.json", config.to_string().into_bytes()),
        ("model.weights.h5", weights),
    ] {
        zip.start_file(entry, options)
            .map_err(|e| zip_error(entry, e.to_string()))?;
        zip.write_all(&bytes)
            .map_err(|e| zip_error(entry, e.to_string()))?;
    }
    zip.finish()
        .map_err(|e| zip_error("(archive)", e.to_string()))?;
    Ok(())
}
