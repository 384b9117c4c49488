//! A graph's summary: one row per node, merges included, with receptive
//! fields that follow every path.

use kymo_tensor::Float;

use super::{Graph, Operation};
use crate::{Model, ReceptiveField, Shape, Summary, SummaryRow};

/// Where a value stands: the input points one of its positions sees, and
/// the input points between its consecutive positions.
#[derive(Clone, Copy)]
struct Field {
    points: Option<usize>,
    jump: usize,
}

/// Summarises `graph`. A merge's field is the widest of its inputs': one
/// output of `Add(a, b)` sees whatever either branch sees.
pub(super) fn of<T: Float>(graph: &Graph<T>) -> Summary {
    let mut fields = vec![Field {
        points: Some(1),
        jump: 1,
    }];
    let mut rows = Vec::with_capacity(graph.nodes.len());
    for (name, node) in graph.names.iter().zip(&graph.nodes) {
        let field = match &node.operation {
            Operation::Layer(layer) => {
                let before = fields[node.inputs[0]];
                match (before.points, layer.reach()) {
                    (Some(n), Some(reach)) => Field {
                        points: Some(n + (reach.size - 1) * before.jump),
                        jump: before.jump * reach.stride,
                    },
                    _ => Field {
                        points: None,
                        jump: before.jump,
                    },
                }
            }
            Operation::Merge(_) => node.inputs.iter().map(|&v| fields[v]).fold(
                Field {
                    points: Some(1),
                    jump: 1,
                },
                |wide, f| Field {
                    points: wide.points.zip(f.points).map(|(a, b)| a.max(b)),
                    jump: wide.jump.max(f.jump),
                },
            ),
        };
        fields.push(field);
        let (kind, output, params) = match &node.operation {
            Operation::Layer(l) => (
                l.spec().kind(),
                l.output_shape(),
                l.parameters().iter().map(|p| p.value.len()).sum(),
            ),
            Operation::Merge(m) => (m.spec().kind(), m.output_shape(), 0),
        };
        rows.push(SummaryRow {
            name: name.clone(),
            kind,
            output,
            params,
            receptive_field: field
                .points
                .map_or(ReceptiveField::All, ReceptiveField::Points),
        });
    }
    let input_length = match Model::input_shape(graph) {
        Shape::Signal { length, .. } => length,
        Shape::Features(n) => n,
    };
    Summary {
        rows,
        total_params: graph.count_params(),
        trainable_params: graph.count_trainable_params(),
        input_length,
    }
}
