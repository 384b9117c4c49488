//! Writes a kymo Sequential model as a Keras 3 `.keras` file that
//! `keras.models.load_model` reads: `config.json` (the layers as Keras
//! configures them), `metadata.json`, and `model.weights.h5` with each
//! layer's weights under Keras's key (`layers/conv1d/vars/0`, ...) in
//! Keras's layouts (the inverse of `layout`). Preprocessing has no Keras
//! layer: a caller writes it beside the file.

use std::io::Write as _;
use std::path::Path;

use hdf5_pure::{AttrValue, FileBuilder};
use kymo_layers::{Activation, LayerSpec, Model, ModelSpec, Regularizer, Shape};
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

/// One layer's Keras class and config.
fn layer_config(spec: &LayerSpec, name: &str) -> Result<(&'static str, Value), String> {
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
        LayerSpec::GlobalAveragePooling1D(_) => ("GlobalAveragePooling1D", json!({})),
        LayerSpec::GlobalMaxPooling1D(_) => ("GlobalMaxPooling1D", json!({})),
        LayerSpec::Dropout(s) => ("Dropout", json!({"rate": s.rate})),
        LayerSpec::SpatialDropout1D(s) => ("SpatialDropout1D", json!({"rate": s.rate})),
        LayerSpec::GaussianNoise(s) => ("GaussianNoise", json!({"stddev": s.stddev})),
        LayerSpec::Flatten(_) => ("Flatten", json!({})),
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
        LayerSpec::Add(_) | LayerSpec::Concatenate(_) => {
            return Err(format!(
            "layer '{name}': a merge layer needs a functional model, which kymo does not write yet"
        ))
        }
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

/// Writes `model` (built from `spec`, weights as trained) to `path` as a
/// `.keras` file.
pub fn write_keras(
    spec: &ModelSpec,
    model: &dyn Model<f32>,
    path: &Path,
) -> Result<(), KerasError> {
    let config_error = |reason: String| KerasError::Config {
        path: path.to_path_buf(),
        reason,
    };
    let layers = model.layers();
    let input = spec.input;
    let batch_shape = json!([null, input.length, input.channels]);
    let mut configs = vec![json!({"module": "keras.layers", "class_name": "InputLayer",
        "config": {"batch_shape": batch_shape, "dtype": "float32", "sparse": false, "name": "input_layer"},
        "registered_name": null})];
    let mut classes = Vec::with_capacity(layers.len());
    for layer in &layers {
        let (class, config) = layer_config(&layer.spec(), layer.name()).map_err(config_error)?;
        classes.push(class);
        configs.push(json!({"module": "keras.layers", "class_name": class, "config": config, "registered_name": null}));
    }
    let config = json!({
        "module": "keras", "class_name": "Sequential",
        "config": {"name": "sequential", "trainable": true, "dtype": "float32", "layers": configs},
        "registered_name": null,
        "build_config": {"input_shape": batch_shape},
    });
    // Weights under Keras's keys, in Keras's layouts.
    let names: Vec<&str> = layers.iter().map(|l| l.name()).collect();
    let keys = weight_keys(classes.iter().copied().zip(names.iter().copied()));
    let mut builder = FileBuilder::new();
    let mut root = builder.create_group("layers");
    let mut flattened: Option<(usize, usize)> = None;
    for (layer, (key, name)) in layers.iter().zip(&keys) {
        let spec = layer.spec();
        let parameters = layer.parameters();
        let mut group = root.create_group(key);
        let mut vars = group.create_group("vars");
        vars.set_attr("name", AttrValue::String(name.clone()));
        for (index, parameter) in parameters.iter().enumerate() {
            let keras = to_keras(&spec, index, &parameter.value, flattened);
            let shape: Vec<u64> = keras.shape().iter().map(|&d| d as u64).collect();
            let values: Vec<f32> = keras.iter().copied().collect();
            vars.create_dataset(&index.to_string())
                .with_f32_data(&values)
                .with_shape(&shape);
        }
        group.add_group(vars.finish());
        root.add_group(group.finish());
        // What a Dense right after a Flatten (or a Dropout after it) reads.
        flattened = match (&spec, layer.input_shape()) {
            (LayerSpec::Flatten(_), Shape::Signal { channels, length }) => Some((channels, length)),
            (spec, _) if spec.is_identity_in_inference() => flattened,
            _ => None,
        };
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
