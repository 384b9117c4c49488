//! The order in which Keras lists a functional model's layers
//! (`Functional.layers`), which decides the keys its weights sit under in
//! a `.keras` file (`layers/conv1d`, `layers/conv1d_1`, ...).
//!
//! Keras does not keep the order of the config: on load it recomputes it
//! with `ops.function.map_graph`. A depth-first walk from the output,
//! parents in argument order, numbers each layer when first seen; each
//! layer's depth is the longest path from it to the output; layers come in
//! decreasing depth, ties in walk order. A writer that numbered its keys in
//! any other order would hand one Conv1D's kernel to another on load.

use kymo_layers::GraphSpec;

/// Where a value of the graph comes from: the model's input, or node `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The model's input (Keras's `InputLayer`).
    Input,
    /// Node `i` of the spec.
    Node(usize),
}

/// The graph's layers in `Functional.layers` order, the input first (it is
/// the deepest). Nodes the output does not read are left out, as Keras
/// leaves them out of the model. Fails, naming it, on an input that is
/// neither the model's input nor an earlier node.
pub fn keras_layer_order(spec: &GraphSpec) -> Result<Vec<Source>, String> {
    // parents[v]: the values node v reads; value 0 is the input, v = i + 1 node i.
    let mut parents: Vec<Vec<usize>> = vec![Vec::new()];
    for (index, node) in spec.nodes.iter().enumerate() {
        let mut reads = Vec::with_capacity(node.inputs.len());
        for input in &node.inputs {
            let value = value_of(spec, input, index).ok_or_else(|| {
                format!(
                    "node {} reads '{input}', which is not the input or an earlier node",
                    node.layer.name().unwrap_or(node.layer.kind())
                )
            })?;
            reads.push(value);
        }
        parents.push(reads);
    }
    let output = match &spec.output {
        None => spec.nodes.len(),
        Some(name) => value_of(spec, name, spec.nodes.len())
            .ok_or_else(|| format!("output '{name}' is not a node of the graph"))?,
    };

    // The walk: `finished` lists values inputs first (Keras's
    // nodes_in_decreasing_depth); `first_seen` numbers them output first.
    let values = parents.len();
    let mut first_seen: Vec<Option<usize>> = vec![None; values];
    let mut finished_order = Vec::with_capacity(values);
    let mut finished = vec![false; values];
    let mut seen = 0;
    // An explicit stack (value, next parent to visit) instead of recursion,
    // so a deep graph cannot overflow the thread's stack.
    let mut stack = vec![(output, 0usize)];
    first_seen[output] = Some(seen);
    seen += 1;
    while let Some((value, next)) = stack.pop() {
        match parents[value].get(next) {
            Some(&parent) => {
                stack.push((value, next + 1));
                if !finished[parent] {
                    if first_seen[parent].is_none() {
                        first_seen[parent] = Some(seen);
                        seen += 1;
                    }
                    stack.push((parent, 0));
                }
            }
            None => {
                finished[value] = true;
                finished_order.push(value);
            }
        }
    }

    // Depth: from the output back, each parent one deeper than its deepest
    // reader.
    let mut depth = vec![0usize; values];
    for &value in finished_order.iter().rev() {
        for &parent in &parents[value] {
            depth[parent] = depth[parent].max(depth[value] + 1);
        }
    }
    let mut order = finished_order;
    // Invariant: every value in `order` was numbered when the walk reached it.
    order.sort_by_key(|&v| {
        (
            std::cmp::Reverse(depth[v]),
            first_seen[v].unwrap_or(usize::MAX),
        )
    });
    Ok(order
        .into_iter()
        .map(|v| match v {
            0 => Source::Input,
            v => Source::Node(v - 1),
        })
        .collect())
}

/// The value `name` stands for among the input and the nodes before `before`.
fn value_of(spec: &GraphSpec, name: &str, before: usize) -> Option<usize> {
    if name == spec.input_name {
        return Some(0);
    }
    spec.nodes[..before]
        .iter()
        .position(|node| node.layer.name() == Some(name))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kymo_layers::ArchitectureSpec;

    fn graph(text: &str) -> GraphSpec {
        match ArchitectureSpec::from_toml_str(text).expect("a graph spec") {
            ArchitectureSpec::Graph(g) => g,
            ArchitectureSpec::Sequential(_) => panic!("not a graph"),
        }
    }

    fn names(spec: &GraphSpec, order: &[Source]) -> Vec<String> {
        order
            .iter()
            .map(|s| match s {
                Source::Input => spec.input_name.clone(),
                Source::Node(i) => spec.nodes[*i].layer.name().unwrap_or("?").to_string(),
            })
            .collect()
    }

    #[test]
    fn a_short_branch_waits_for_the_long_one_at_its_depth() {
        // input -> a -> b -> join; input -> s -> join. `s` is listed first,
        // but its depth is 1 (it feeds the join) where `a` is 2: Keras
        // lists a, then b and s at depth 1 in walk order (b is reached
        // first: the join reads it first).
        let spec = graph(
            r#"
            input = { channels = 1, length = 8 }
            [[nodes]]
            inputs = ["input"]
            type = "Conv1D"
            name = "s"
            filters = 2
            kernel_size = 1
            [[nodes]]
            inputs = ["input"]
            type = "Conv1D"
            name = "a"
            filters = 2
            kernel_size = 3
            padding = "same"
            [[nodes]]
            inputs = ["a"]
            type = "ReLU"
            name = "b"
            [[nodes]]
            inputs = ["b", "s"]
            type = "Add"
            name = "join"
            "#,
        );
        let order = keras_layer_order(&spec).expect("ordered");
        assert_eq!(names(&spec, &order), ["input", "a", "b", "s", "join"]);
        // The spec builds: the order is of a model kymo accepts.
        let model = ArchitectureSpec::Graph(spec.clone()).build::<f32>(0);
        assert_eq!(model.expect("builds").count_params(), 12);
    }

    #[test]
    fn an_unknown_input_is_named() {
        let mut spec = graph(
            r#"
            input = { channels = 1, length = 8 }
            [[nodes]]
            inputs = ["input"]
            type = "ReLU"
            name = "r"
            "#,
        );
        spec.nodes[0].inputs = vec!["nowhere".into()];
        let error = keras_layer_order(&spec).expect_err("unknown input");
        assert!(error.contains("'nowhere'"), "{error}");
    }
}
