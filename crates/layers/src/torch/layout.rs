//! The PyTorch module list that mirrors a kymo model, and its `state_dict` keys.

use kymo_tensor::{Float, Padding, Window};

use super::graph_module::GraphForward;

use crate::{
    Activation, ArchitectureSpec, Constraint, Layer, LayerError, LayerSpec, Model, Regularizer,
    Shape,
};

/// One tensor of the mirrored model's `state_dict`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchTensor {
    /// The `state_dict` key, such as `0.weight` or `4.running_var`.
    pub key: String,
    /// The kymo weight it holds (`layer/weight`); `None` for PyTorch's
    /// `num_batches_tracked`, which kymo does not keep.
    pub weight: Option<String>,
    /// Its shape in PyTorch: kymo's, but for a Dense on a signal, whose
    /// kernel `[units, channels]` is an `nn.Conv1d` kernel of one tap.
    pub shape: Vec<usize>,
}

/// The PyTorch module that computes what a kymo model computes: an
/// `nn.Sequential` for a Sequential model, an `nn.Module` subclass with a
/// generated `forward` for a graph.
///
/// Layer `i` of a Sequential model is module `i` of the PyTorch model; a
/// graph's layers are attributes named after them (made Python
/// identifiers). Where one kymo layer needs several PyTorch modules (a
/// Conv1D with an activation, a `same` pooling padded with -inf) they sit
/// in a nested `nn.Sequential`, which prefixes the weight keys with the
/// part's index (`3.0.weight`, `block1_conv_x.0.weight`).
#[derive(Debug, Clone, PartialEq)]
pub struct TorchLayout {
    /// One Python expression per kymo layer that holds a module.
    pub modules: Vec<String>,
    /// The attribute each module sits under: its index in an
    /// `nn.Sequential`, a graph layer's Python name.
    pub attributes: Vec<String>,
    /// A graph's `forward`; `None` for a Sequential model.
    pub forward: Option<GraphForward>,
    /// Every `state_dict` tensor, in PyTorch's order.
    pub tensors: Vec<TorchTensor>,
    /// The regularized tensors by `state_dict` key, with their penalty
    /// (Keras's `kernel_regularizer`, `bias_regularizer`), which a PyTorch
    /// module does not hold: [`Self::python`] writes them as a function.
    pub penalties: Vec<(String, Regularizer)>,
    /// The constrained tensors by `state_dict` key, with their projection
    /// in PyTorch's layout (Keras's `kernel_constraint`, `bias_constraint`):
    /// [`Self::python`] writes them as a function to call after each step.
    pub constraints: Vec<(String, Constraint)>,
}

/// The PyTorch modules of one kymo layer, and which of them holds weights.
pub(super) struct Parts {
    modules: Vec<String>,
    /// Index of the weight-holding module and its `(kymo, torch)` names.
    weights: Option<(usize, &'static [(&'static str, &'static str)])>,
}

const CONV_OR_DENSE: &[(&str, &str)] = &[("kernel", "weight"), ("bias", "bias")];
const LAYER_NORM: &[(&str, &str)] = &[("gamma", "weight"), ("beta", "bias")];
const BATCH_NORM: &[(&str, &str)] = &[
    ("gamma", "weight"),
    ("beta", "bias"),
    ("moving_mean", "running_mean"),
    ("moving_variance", "running_var"),
];

impl TorchLayout {
    /// The layout of `model`. Fails, naming the layer, for what PyTorch's
    /// stock modules cannot express: AveragePooling1D whose `same` padding
    /// is not zero (PyTorch's `AvgPool1d` cannot leave asymmetric padding
    /// out of its divisor, Keras does), LayerNormalization over a signal's
    /// channels.
    pub fn of<T: Float>(model: &dyn Model<T>) -> Result<Self, LayerError> {
        let mut layout = Self {
            modules: Vec::new(),
            attributes: Vec::new(),
            forward: None,
            tensors: Vec::new(),
            penalties: Vec::new(),
            constraints: Vec::new(),
        };
        match model.architecture() {
            ArchitectureSpec::Sequential(_) => {
                for (index, layer) in model.layers().into_iter().enumerate() {
                    layout.push_layer(index.to_string(), layer)?;
                }
            }
            ArchitectureSpec::Graph(spec) => {
                layout.forward = Some(super::graph_module::wire(&spec, model, &mut layout)?);
            }
        }
        Ok(layout)
    }

    /// Adds `layer`'s modules as attribute `attribute`, with its tensors.
    pub(super) fn push_layer<T: Float>(
        &mut self,
        attribute: String,
        layer: &dyn Layer<T>,
    ) -> Result<(), LayerError> {
        let parts = parts(&layer.spec(), layer.name(), layer.input_shape())?;
        // A Dense on a signal: an nn.Conv1d whose kernel has one tap more.
        let one_tap = matches!(layer.spec(), LayerSpec::Dense(_))
            && matches!(layer.input_shape(), Shape::Signal { .. });
        let prefix = match (&parts.weights, parts.modules.len()) {
            (Some((part, _)), n) if n > 1 => format!("{attribute}.{part}."),
            _ => format!("{attribute}."),
        };
        if let Some((_, names)) = parts.weights {
            for parameter in layer.parameters() {
                // Invariant: every weight name of Conv1D, Dense and
                // BatchNormalization is listed in CONV_OR_DENSE / BATCH_NORM.
                let torch_name = names
                    .iter()
                    .find(|(kymo, _)| *kymo == parameter.name)
                    .map(|(_, torch)| *torch)
                    .unwrap_or(parameter.name);
                if let Some(regularizer) = parameter.regularizer {
                    self.penalties
                        .push((format!("{prefix}{torch_name}"), regularizer));
                }
                // kymo's Conv1D and Dense weights are in PyTorch's layout
                // (a Dense on a signal's extra tap is an axis of one).
                if let Some(constraint) = &parameter.constraint {
                    self.constraints
                        .push((format!("{prefix}{torch_name}"), constraint.clone()));
                }
                let mut shape = parameter.value.shape().to_vec();
                if one_tap && parameter.name == "kernel" {
                    shape.push(1);
                }
                self.tensors.push(TorchTensor {
                    key: format!("{prefix}{torch_name}"),
                    weight: Some(format!("{}/{}", layer.name(), parameter.name)),
                    shape,
                });
            }
            if matches!(layer.spec(), LayerSpec::BatchNormalization(_)) {
                self.tensors.push(TorchTensor {
                    key: format!("{prefix}num_batches_tracked"),
                    weight: None,
                    shape: Vec::new(),
                });
            }
        }
        self.modules.push(match parts.modules.as_slice() {
            [single] => single.clone(),
            many => format!("nn.Sequential({})", many.join(", ")),
        });
        self.attributes.push(attribute);
        Ok(())
    }

    /// Python source that builds the mirrored model as `model`.
    pub fn python(&self) -> String {
        let mut source = String::from("import torch\nfrom torch import nn\n\n");
        if self.modules.iter().any(|m| m.contains("Transpose()")) {
            source.push_str("\nclass Transpose(nn.Module):\n    \"\"\"Keras's Permute((2, 1)): a signal's steps and channels swapped.\"\"\"\n\n    def forward(self, x):\n        return x.transpose(1, 2)\n\n\n");
        }
        match &self.forward {
            None => {
                source.push_str("model = nn.Sequential(\n");
                for (index, module) in self.modules.iter().enumerate() {
                    source.push_str(&format!("    {module},  # {index}\n"));
                }
                source.push_str(")\n");
            }
            Some(forward) => {
                source.push_str(
                    "\nclass Model(nn.Module):\n    def __init__(self):\n        super().__init__()\n",
                );
                for (attribute, module) in self.attributes.iter().zip(&self.modules) {
                    source.push_str(&format!("        self.{attribute} = {module}\n"));
                }
                source.push_str(&format!("\n    def forward(self, {}):\n", forward.input));
                for statement in &forward.statements {
                    source.push_str(&format!("        {statement}\n"));
                }
                source.push_str("\n\nmodel = Model()\n");
            }
        }
        source.push_str(&super::training_terms::penalty_function(&self.penalties));
        source.push_str(&super::training_terms::constraint_function(
            &self.constraints,
        ));
        source
    }
}

/// A global pool's modules: the pool to one step, flattened unless Keras's
/// `keepdims` keeps that step.
fn global_pool(pool: &str, keepdims: bool) -> Parts {
    let mut modules = vec![pool.to_string()];
    if !keepdims {
        modules.push("nn.Flatten()".into());
    }
    Parts {
        modules,
        weights: None,
    }
}

fn activation_module(activation: &Activation) -> Option<String> {
    match activation {
        Activation::Linear => None,
        Activation::Relu => Some("nn.ReLU()".into()),
        Activation::LeakyRelu { negative_slope } => Some(format!(
            "nn.LeakyReLU(negative_slope={})",
            python_float(*negative_slope)
        )),
        Activation::Elu { alpha } => Some(format!("nn.ELU(alpha={})", python_float(*alpha))),
        Activation::Tanh => Some("nn.Tanh()".into()),
        Activation::Sigmoid => Some("nn.Sigmoid()".into()),
        // PyTorch's SELU has TensorFlow's constants; its GELU's default is
        // the exact (erf) one, as Keras's `gelu`.
        Activation::Selu => Some("nn.SELU()".into()),
        Activation::Silu => Some("nn.SiLU()".into()),
        Activation::Gelu => Some("nn.GELU()".into()),
        Activation::Softplus => Some("nn.Softplus()".into()),
        // kymo's axis 1 is PyTorch's channel axis, as Keras's -1 is.
        Activation::Softmax => Some("nn.Softmax(dim=1)".into()),
    }
}

/// `0.1` as Python reads it back exactly (Rust's shortest round-trip form).
pub(super) fn python_float(value: f64) -> String {
    let text = format!("{value:?}");
    match text.as_str() {
        "inf" => "float('inf')".into(),
        "-inf" => "float('-inf')".into(),
        _ => text,
    }
}

fn python_bool(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

fn signal_length(shape: Shape) -> usize {
    match shape {
        Shape::Signal { length, .. } => length,
        Shape::Features(_) => 1,
    }
}

pub(super) fn parts(spec: &LayerSpec, layer: &str, input: Shape) -> Result<Parts, LayerError> {
    let channels = match input {
        Shape::Signal { channels, .. } => channels,
        Shape::Features(n) => n,
    };
    let window = |size, stride, dilation, padding| {
        Window::new(
            "torch layout",
            signal_length(input),
            size,
            stride,
            dilation,
            padding,
        )
        .map_err(|source| LayerError::Kernel {
            layer: layer.to_string(),
            source,
        })
    };
    let bare = |module: String| Parts {
        modules: vec![module],
        weights: None,
    };
    Ok(match spec {
        LayerSpec::Conv1D(c) => {
            let w = window(c.kernel_size, c.strides, c.dilation_rate, c.padding)?;
            let mut modules = Vec::new();
            // PyTorch's padding='same' puts floor(total / 2) on the left as
            // Keras does, but only for stride 1; otherwise (and for Keras's
            // `causal`, all of it on the left) pad explicitly.
            let padding = if c.padding == Padding::Valid {
                "0".to_string()
            } else if c.padding == Padding::Same && c.strides == 1 {
                "'same'".to_string()
            } else {
                modules.push(format!(
                    "nn.ConstantPad1d(({}, {}), 0.0)",
                    w.pad_left, w.pad_right
                ));
                "0".to_string()
            };
            let weight_part = modules.len();
            modules.push(format!(
                "nn.Conv1d({channels}, {}, {}, stride={}, padding={padding}, dilation={}, bias={})",
                c.filters,
                c.kernel_size,
                c.strides,
                c.dilation_rate,
                python_bool(c.use_bias)
            ));
            modules.extend(activation_module(&c.activation));
            Parts {
                modules,
                weights: Some((weight_part, CONV_OR_DENSE)),
            }
        }
        LayerSpec::Dense(d) => {
            // nn.Linear maps the last axis, a signal's length in NCL: a
            // Dense on a signal maps channels at each position, which is
            // an nn.Conv1d of one tap.
            let module = match input {
                Shape::Features(_) => "nn.Linear",
                Shape::Signal { .. } => "nn.Conv1d",
            };
            let taps = match input {
                Shape::Features(_) => String::new(),
                Shape::Signal { .. } => ", 1".into(),
            };
            let mut modules = vec![format!(
                "{module}({channels}, {}{taps}, bias={})",
                d.units,
                python_bool(d.use_bias)
            )];
            modules.extend(activation_module(&d.activation));
            Parts {
                modules,
                weights: Some((0, CONV_OR_DENSE)),
            }
        }
        LayerSpec::LeakyReLU(s) => bare(format!(
            "nn.LeakyReLU(negative_slope={})",
            python_float(s.negative_slope)
        )),
        LayerSpec::ReLU(_) => bare("nn.ReLU()".into()),
        LayerSpec::ELU(s) => bare(format!("nn.ELU(alpha={})", python_float(s.alpha))),
        LayerSpec::Tanh(_) => bare("nn.Tanh()".into()),
        LayerSpec::Sigmoid(_) => bare("nn.Sigmoid()".into()),
        LayerSpec::MaxPooling1D(p) => {
            let stride = p.strides.unwrap_or(p.pool_size);
            let w = window(p.pool_size, stride, 1, p.padding)?;
            let pool = format!("nn.MaxPool1d({}, stride={stride})", p.pool_size);
            if w.pad_left + w.pad_right == 0 {
                bare(pool)
            } else {
                // -inf never wins a max: Keras's `same` max pooling ignores padding.
                Parts {
                    modules: vec![
                        format!(
                            "nn.ConstantPad1d(({}, {}), float('-inf'))",
                            w.pad_left, w.pad_right
                        ),
                        pool,
                    ],
                    weights: None,
                }
            }
        }
        LayerSpec::AveragePooling1D(p) => {
            let stride = p.strides.unwrap_or(p.pool_size);
            let w = window(p.pool_size, stride, 1, p.padding)?;
            if w.pad_left + w.pad_right != 0 {
                return Err(LayerError::Config {
                    layer: layer.to_string(),
                    kind: spec.kind(),
                    field: "padding",
                    reason: format!(
                        "`same` pads {} + {} here and Keras averages over real elements only; \
                         PyTorch's AvgPool1d cannot leave asymmetric padding out of its divisor, \
                         so there is no PyTorch module to export to",
                        w.pad_left, w.pad_right
                    ),
                });
            }
            bare(format!("nn.AvgPool1d({}, stride={stride})", p.pool_size))
        }
        LayerSpec::GlobalAveragePooling1D(g) => global_pool("nn.AdaptiveAvgPool1d(1)", g.keepdims),
        LayerSpec::GlobalMaxPooling1D(g) => global_pool("nn.AdaptiveMaxPool1d(1)", g.keepdims),
        LayerSpec::Activation(a) => bare(
            // The identity: PyTorch's nn.Identity keeps the module count.
            activation_module(&a.activation).unwrap_or_else(|| "nn.Identity()".into()),
        ),
        crate::spec::merge_layer!() => {
            return Err(LayerError::Config {
                layer: layer.to_string(),
                kind: spec.kind(),
                field: "inputs",
                reason: "a merge is an expression of a graph's forward, not a module".into(),
            })
        }
        LayerSpec::Dropout(d) => bare(format!("nn.Dropout(p={})", python_float(d.rate))),
        LayerSpec::SpatialDropout1D(d) => bare(format!("nn.Dropout1d(p={})", python_float(d.rate))),
        // PyTorch has no noise module; in inference GaussianNoise is the
        // identity, and nn.Identity keeps the module count.
        LayerSpec::GaussianNoise(_) => bare("nn.Identity()".into()),
        // Its penalty is a loss term PyTorch's modules do not carry; the
        // values pass unchanged.
        LayerSpec::ActivityRegularization(_) => bare("nn.Identity()".into()),
        LayerSpec::Flatten(_) => bare("nn.Flatten()".into()),
        // PyTorch has no permute module: `model.py` defines `Transpose`.
        LayerSpec::Permute(p) if p.dims == [2, 1] => bare("Transpose()".into()),
        LayerSpec::Permute(_) => bare("nn.Identity()".into()),
        LayerSpec::Reshape(r) => {
            let reshape = crate::layers::Reshape::build(r.clone(), layer.to_string(), input)?;
            if !reshape.is_plain() {
                return Err(LayerError::Config {
                    layer: layer.to_string(),
                    kind: spec.kind(),
                    field: "target_shape",
                    reason: "this reshape moves values between Keras's channels-last order and \
                             PyTorch's channels-first one, which no stock module does"
                        .into(),
                });
            }
            let flatten = matches!(input, Shape::Signal { .. });
            match <crate::layers::Reshape as crate::Layer<f32>>::output_shape(&reshape) {
                Shape::Features(_) => bare("nn.Flatten()".into()),
                Shape::Signal { channels, length } => Parts {
                    modules: flatten
                        .then(|| "nn.Flatten()".to_string())
                        .into_iter()
                        .chain([format!("nn.Unflatten(1, ({channels}, {length}))")])
                        .collect(),
                    weights: None,
                },
            }
        }
        LayerSpec::ZeroPadding1D(e) => {
            bare(format!("nn.ConstantPad1d(({}, {}), 0.0)", e.left, e.right))
        }
        // Negative padding cuts: PyTorch's pad crops with it.
        LayerSpec::Cropping1D(e) => bare(format!(
            "nn.ConstantPad1d((-{}, -{}), 0.0)",
            e.left, e.right
        )),
        // nn.LayerNorm normalizes the trailing axes: a flat input's
        // features are kymo's, but a signal's trailing axis is its length.
        LayerSpec::LayerNormalization(n) => match input {
            Shape::Features(features) => Parts {
                modules: vec![format!(
                    "nn.LayerNorm({features}, eps={})",
                    python_float(n.epsilon)
                )],
                weights: Some((0, LAYER_NORM)),
            },
            Shape::Signal { .. } => {
                return Err(LayerError::Config {
                    layer: layer.to_string(),
                    kind: spec.kind(),
                    field: "input",
                    reason: "nn.LayerNorm normalizes the trailing axis, a signal's length in \
                             PyTorch's layout; normalizing channels needs a transpose that an \
                             nn.Sequential of stock modules cannot hold"
                        .into(),
                })
            }
        },
        LayerSpec::BatchNormalization(b) => Parts {
            // Keras's momentum weighs the old statistics, PyTorch's the new batch.
            modules: vec![format!(
                "nn.BatchNorm1d({channels}, eps={}, momentum={})",
                python_float(b.epsilon),
                // Rounded so that 1 - 0.99 prints as 0.01, not 0.010000000000000009.
                python_float(((1.0 - b.momentum) * 1e12).round() / 1e12)
            )],
            weights: Some((0, BATCH_NORM)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModelSpec;

    #[test]
    fn regularized_weights_come_out_as_a_penalty_function_over_their_state_dict_keys() {
        let spec = ModelSpec::from_toml_str(
            r#"
            input = { channels = 1, length = 16 }
            [[layers]]
            type = "Conv1D"
            filters = 2
            kernel_size = 3
            kernel_regularizer = { l2 = 0.01 }
            [[layers]]
            type = "Flatten"
            [[layers]]
            type = "Dense"
            units = 1
            bias_regularizer = { l1 = 0.001 }
            "#,
        )
        .expect("a valid spec");
        let model = crate::Sequential::<f32>::new(&spec, 0).expect("builds");
        let source = TorchLayout::of(&model).expect("maps").python();
        assert!(source.contains("def penalty(model):"), "{source}");
        assert!(
            source.contains(r#"0.01 * weights["0.weight"].square().sum()"#),
            "{source}"
        );
        assert!(
            source.contains(r#"+ 0.001 * weights["2.bias"].abs().sum()"#),
            "{source}"
        );
        // A model without regularizers gets no function.
        let plain = crate::Sequential::<f32>::new(&crate::zoo::doctor(64), 0).expect("builds");
        let source = TorchLayout::of(&plain).expect("maps").python();
        assert!(!source.contains("penalty"), "{source}");
    }
}
