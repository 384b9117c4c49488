//! Checks of the model and setup alone, before any training: one
//! function per rule (`model_rules.rs`, `setup_rules.rs`), each read from
//! a [`Subject`], the model's stateful layers with their specs.

mod model_rules;
mod setup_rules;
#[cfg(test)]
mod tests;

use kymo_layers::{Layer, LayerSpec, Model, Summary};

use super::{Finding, Recipe};

fn percent(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// What the model rules read: the stateful layers in order, each with its
/// spec (a graph's merges have no weights and no window, and no rule reads
/// them), the summary, and whether the layers form one chain.
pub(crate) struct Subject<'a> {
    layers: Vec<&'a dyn Layer<f32>>,
    specs: Vec<LayerSpec>,
    /// A graph's merges (they are nodes, not layers).
    merges: Vec<LayerSpec>,
    summary: Summary,
    chain: bool,
}

impl<'a> Subject<'a> {
    fn of(model: &'a dyn Model<f32>) -> Self {
        let layers = model.layers();
        let architecture = model.architecture();
        let merges = match &architecture {
            kymo_layers::ArchitectureSpec::Graph(graph) => graph
                .nodes
                .iter()
                .filter(|n| n.layer.is_merge())
                .map(|n| n.layer.clone())
                .collect(),
            kymo_layers::ArchitectureSpec::Sequential(_) => Vec::new(),
        };
        Self {
            specs: layers.iter().map(|l| l.spec()).collect(),
            merges,
            layers,
            summary: model.summary(),
            chain: architecture.as_sequential().is_some(),
        }
    }
}

/// Every static check, for a Sequential or a graph model; `train_samples`
/// enables the ones that compare the model with the data's size.
pub fn static_checks(
    model: &dyn Model<f32>,
    setup: &Recipe,
    train_samples: Option<usize>,
) -> Vec<Finding> {
    let subject = Subject::of(model);
    let s = &subject;
    [
        model_rules::oversized_head(s, train_samples),
        model_rules::no_downsampling(s),
        model_rules::receptive_field(s),
        model_rules::kernels_and_padding(s),
        setup_rules::batch_one(setup),
        model_rules::batchnorm_tiny_batches(s, setup),
        model_rules::batchnorm_unsettled(s, setup, train_samples),
        setup_rules::learning_rate_range(setup),
        setup_rules::schedule_vanishes(setup, train_samples),
        setup_rules::no_validation(setup),
        setup_rules::no_early_stopping(setup),
        setup_rules::no_best_checkpoint(setup),
        setup_rules::metric_does_not_fit(setup),
        model_rules::heavy_dropout(s),
        model_rules::heavy_regularization(s),
        model_rules::stacked_linear(s),
        model_rules::linear_model(s),
    ]
    .into_iter()
    .flatten()
    .collect()
}
