//! What a PyTorch module does not hold of Keras's training: the weights'
//! penalties (`kernel_regularizer`, `bias_regularizer`) and projections
//! (`kernel_constraint`, `bias_constraint`), written as Python functions
//! beside the mirrored module, for the user's training loop to call.

use super::layout::python_float;
use crate::{Constraint, Regularizer};

/// `def penalty(model)`: the sum of the regularized tensors' penalties, to
/// add to the training loss (empty without regularizers).
pub(super) fn penalty_function(penalties: &[(String, Regularizer)]) -> String {
    if penalties.is_empty() {
        return String::new();
    }
    let mut source = String::from("\n\n# Keras's weight regularizers, which a PyTorch module does not hold: add\n# penalty(model) to the training loss to train as Keras and kymo do.\ndef penalty(model):\n    weights = dict(model.named_parameters())\n    return (\n");
    let mut terms = Vec::new();
    for (key, regularizer) in penalties {
        if regularizer.l1 != 0.0 {
            terms.push(format!(
                "{} * weights[\"{key}\"].abs().sum()",
                python_float(regularizer.l1)
            ));
        }
        if regularizer.l2 != 0.0 {
            terms.push(format!(
                "{} * weights[\"{key}\"].square().sum()",
                python_float(regularizer.l2)
            ));
        }
    }
    if terms.is_empty() {
        terms.push("0.0".into());
    }
    source.push_str(&format!("        {}\n    )\n", terms.join("\n        + ")));
    source
}

/// `def constrain(model)`: each constrained tensor projected in place as
/// Keras projects it, to call after every `optimizer.step()` (empty
/// without constraints). The axes are already PyTorch's (kymo's layout).
pub(super) fn constraint_function(constraints: &[(String, Constraint)]) -> String {
    if constraints.is_empty() {
        return String::new();
    }
    let mut source = String::from("\n\n# Keras's weight constraints, which a PyTorch module does not hold: call\n# constrain(model) after every optimizer.step() to train as Keras and kymo do.\n@torch.no_grad()\ndef constrain(model):\n    weights = dict(model.named_parameters())\n");
    for (key, constraint) in constraints {
        let norms = |axis: &[i64]| {
            let axes: Vec<String> = axis.iter().map(i64::to_string).collect();
            format!(
                "    norms = w.square().sum(dim=({},), keepdim=True).sqrt()\n",
                axes.join(", ")
            )
        };
        source.push_str(&format!("    w = weights[\"{key}\"]\n"));
        match constraint {
            Constraint::NonNeg => source.push_str("    w.clamp_(min=0.0)\n"),
            Constraint::MaxNorm { max_value, axis } => {
                source.push_str(&norms(axis));
                source.push_str(&format!(
                    "    w.mul_(norms.clamp(0.0, {}) / (1e-7 + norms))\n",
                    python_float(*max_value)
                ));
            }
            Constraint::UnitNorm { axis } => {
                source.push_str(&norms(axis));
                source.push_str("    w.div_(1e-7 + norms)\n");
            }
            Constraint::MinMaxNorm {
                min_value,
                max_value,
                rate,
                axis,
            } => {
                source.push_str(&norms(axis));
                let (low, high, rate) = (
                    python_float(*min_value),
                    python_float(*max_value),
                    python_float(*rate),
                );
                source.push_str(&format!(
                    "    w.mul_(({rate} * norms.clamp({low}, {high}) + (1.0 - {rate}) * norms) / (1e-7 + norms))\n"
                ));
            }
        }
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constraint_function_projects_each_tensor_over_its_axes() {
        let source = constraint_function(&[
            (
                "0.weight".into(),
                Constraint::MaxNorm {
                    max_value: 3.0,
                    axis: vec![2, 1],
                },
            ),
            ("0.bias".into(), Constraint::NonNeg),
        ]);
        assert!(source.contains("def constrain(model):"), "{source}");
        assert!(source.contains("w = weights[\"0.weight\"]\n    norms = w.square().sum(dim=(2, 1,), keepdim=True).sqrt()\n    w.mul_(norms.clamp(0.0, 3.0) / (1e-7 + norms))"), "{source}");
        assert!(
            source.contains("w = weights[\"0.bias\"]\n    w.clamp_(min=0.0)"),
            "{source}"
        );
        assert!(constraint_function(&[]).is_empty());
    }
}
