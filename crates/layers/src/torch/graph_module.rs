//! A graph's PyTorch `forward`: one statement per node, each layer an
//! attribute of the module named after it, each merge an expression
//! (`a + b`, `torch.cat([a, b], dim=1)`).

use std::collections::{HashMap, HashSet};

use kymo_tensor::Float;

use super::layout::TorchLayout;
use crate::{GraphSpec, Layer, LayerError, LayerSpec, Model};

/// The `forward` of a graph's PyTorch module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphForward {
    /// The argument's name: the graph's input name as a Python identifier.
    pub input: String,
    /// One assignment per node, in the graph's order, then the `return`.
    pub statements: Vec<String>,
}

/// Names a layer's attribute or local may not take: Python's keywords, the
/// modules the file imports, and `nn.Module`'s own attributes, which an
/// attribute of that name would hide or be hidden by.
const RESERVED: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "self",
    "torch",
    "nn",
    "model",
    "Model",
    "super",
    "add_module",
    "apply",
    "bfloat16",
    "buffers",
    "children",
    "compile",
    "cpu",
    "cuda",
    "double",
    "eval",
    "extra_repr",
    "float",
    "forward",
    "get_buffer",
    "get_parameter",
    "get_submodule",
    "half",
    "ipu",
    "load_state_dict",
    "modules",
    "mtia",
    "named_buffers",
    "named_children",
    "named_modules",
    "named_parameters",
    "parameters",
    "register_buffer",
    "register_module",
    "register_parameter",
    "requires_grad_",
    "share_memory",
    "state_dict",
    "to",
    "to_empty",
    "train",
    "training",
    "type",
    "xpu",
    "zero_grad",
];

/// Python identifiers for `names`, one each, all different: other
/// characters become `_`, a leading digit gets `l_` before it, and a
/// reserved or taken name gets a numbered suffix.
fn identifiers<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    names
        .into_iter()
        .map(|name| {
            let mut base: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
                base.insert_str(0, "l_");
            }
            let mut candidate = base.clone();
            let mut suffix = 1;
            while RESERVED.contains(&candidate.as_str()) || taken.contains(&candidate) {
                candidate = format!("{base}_{suffix}");
                suffix += 1;
            }
            taken.insert(candidate.clone());
            candidate
        })
        .collect()
}

/// Adds every layer of the graph `spec` (built as `model`) to `layout` as
/// an attribute, and returns the `forward` that wires them.
pub(super) fn wire<T: Float>(
    spec: &GraphSpec,
    model: &dyn Model<T>,
    layout: &mut TorchLayout,
) -> Result<GraphForward, LayerError> {
    let layers: HashMap<&str, &dyn Layer<T>> =
        model.layers().into_iter().map(|l| (l.name(), l)).collect();
    let mut names = vec![spec.input_name.as_str()];
    for node in &spec.nodes {
        names.push(node.layer.name().ok_or_else(|| LayerError::Spec {
            origin: "graph spec".into(),
            reason: format!("a {} node has no name", node.layer.kind()),
        })?);
    }
    let python: HashMap<&str, String> = names
        .iter()
        .copied()
        .zip(identifiers(names.iter().copied()))
        .collect();
    let local = |name: &str| {
        python.get(name).cloned().ok_or_else(|| LayerError::Spec {
            origin: "graph spec".into(),
            reason: format!("'{name}' is not the input or a node of the graph"),
        })
    };
    let mut statements = Vec::with_capacity(spec.nodes.len() + 1);
    for (node, name) in spec.nodes.iter().zip(&names[1..]) {
        let target = local(name)?;
        let inputs: Vec<String> = node
            .inputs
            .iter()
            .map(|input| local(input))
            .collect::<Result<_, _>>()?;
        let expression = match &node.layer {
            // Left to right, as kymo and Keras sum.
            LayerSpec::Add(_) => inputs.join(" + "),
            // Every kymo concatenation joins channels (features), PyTorch's dim 1.
            LayerSpec::Concatenate(_) => format!("torch.cat([{}], dim=1)", inputs.join(", ")),
            other => match other.elementwise_op() {
                Some(op) => op.python(&inputs),
                None => {
                    let layer = layers.get(name).ok_or_else(|| LayerError::Spec {
                        origin: "graph spec".into(),
                        reason: format!("layer '{name}' is not in the built model"),
                    })?;
                    layout.push_layer(target.clone(), *layer)?;
                    format!("self.{target}({})", inputs.join(", "))
                }
            },
        };
        statements.push(format!("{target} = {expression}"));
    }
    let output = spec
        .output
        .as_deref()
        .or(names.last().copied())
        .unwrap_or(spec.input_name.as_str());
    statements.push(format!("return {}", local(output)?));
    Ok(GraphForward {
        input: local(&spec.input_name)?,
        statements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_distinct_python_identifiers() {
        assert_eq!(
            identifiers([
                "conv1d",
                "block-1/conv",
                "1x",
                "forward",
                "torch",
                "block_1_conv"
            ]),
            [
                "conv1d",
                "block_1_conv",
                "l_1x",
                "forward_1",
                "torch_1",
                "block_1_conv_1"
            ]
        );
    }
}
