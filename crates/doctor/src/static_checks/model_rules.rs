//! The rules about the model: its head, downsampling, receptive field,
//! kernels and padding, BatchNormalization, dropout and linear stacks.

use kymo_layers::{LayerSpec, ReceptiveField, Shape};
use kymo_tensor::Padding;

use super::{percent, Subject};
use crate::{Finding, FindingId, Recipe, Severity};

/// The Dense head after Flatten: wider than 10,000 inputs or 100 per
/// training sample is the problem itself; most of the parameters, a smell.
pub(super) fn oversized_head(subject: &Subject<'_>, train_samples: Option<usize>) -> Vec<Finding> {
    let Subject {
        layers,
        specs,
        summary,
        ..
    } = subject;
    let total = summary.total_params.max(1) as f64;
    let mut findings = Vec::new();
    if let Some(flatten_at) = specs
        .iter()
        .position(|l| matches!(l, LayerSpec::Flatten(_)))
    {
        let width = layers[flatten_at].output_shape().size();
        let head: usize = layers[flatten_at + 1..]
            .iter()
            .flat_map(|l| l.parameters())
            .map(|p| p.value.len())
            .sum();
        let share = head as f64 / total;
        let per_sample = train_samples.map(|n| width as f64 / n.max(1) as f64);
        // A head wider than 10,000 inputs, or 100 per training sample, is the
        // problem itself; a head that merely holds most parameters is a smell.
        let severity = if width > 10_000 || per_sample.is_some_and(|r| r > 100.0) {
            Severity::High
        } else if share > 0.5 {
            Severity::Medium
        } else {
            Severity::Info
        };
        if severity >= Severity::Medium {
            let vs = train_samples
                .map(|n| {
                    format!(
                        ", {:.0}x the {n} training samples",
                        width as f64 / n.max(1) as f64
                    )
                })
                .unwrap_or_default();
            findings.push(
                Finding::new(FindingId::OversizedHead, severity, "The Dense head after Flatten dominates the model")
                    .measured(format!(
                        "the head holds {head} of {} parameters ({}); Flatten feeds it {width} inputs{vs}",
                        summary.total_params,
                        percent(share)
                    ))
                    .why("a Dense layer on a wide Flatten memorises positions instead of learning features, and with more inputs than samples it can fit noise exactly (Goodfellow et al., Deep Learning, ch. 7; Lin et al. 2014, Network in Network, on global pooling heads)")
                    .fix("downsample before Flatten (MaxPooling1D with strides 2 after each block) so the Flatten is a few thousand wide, or use GlobalAveragePooling1D; see `--prescribe`"),
            );
        }
    }
    findings
}

/// Nothing downsamples: every conv and pool has stride 1.
pub(super) fn no_downsampling(subject: &Subject<'_>) -> Vec<Finding> {
    let Subject {
        layers,
        specs,
        summary,
        ..
    } = subject;
    let input_length = summary.input_length;
    let mut findings = Vec::new();
    let strides: Vec<usize> = layers
        .iter()
        .filter_map(|l| l.reach().map(|r| r.stride))
        .collect();
    let has_windows = specs.iter().any(|l| {
        matches!(
            l,
            LayerSpec::Conv1D(_) | LayerSpec::MaxPooling1D(_) | LayerSpec::AveragePooling1D(_)
        )
    });
    // A global pooling head (FCN, ResNet, InceptionTime) keeps its width
    // whatever the length: there the full-length signal costs time and
    // context, not a head that memorises positions.
    let global_head = specs.iter().any(|l| {
        matches!(
            l,
            LayerSpec::GlobalAveragePooling1D(_) | LayerSpec::GlobalMaxPooling1D(_)
        )
    });
    let severity = if global_head {
        Severity::Low
    } else {
        Severity::High
    };
    if has_windows && strides.iter().all(|&s| s == 1) {
        findings.push(
            Finding::new(FindingId::NoDownsampling, severity, "Nothing downsamples the signal")
                .measured(format!("every conv and pool has stride 1: the signal stays {input_length} points long to the head"))
                .why("pooling with stride is what lets deeper layers see wider context at low cost and makes features shift-tolerant; stride-1 pools only blur (Goodfellow et al., Deep Learning, sec. 9.3)")
                .fix("give the pools strides = pool_size (Keras's default: MaxPooling1D(2)), halving the length after each block"),
        );
    }
    findings
}

/// One position sees more than the input, or a tiny part of it before a
/// head that sees everything.
pub(super) fn receptive_field(subject: &Subject<'_>) -> Vec<Finding> {
    let Subject { summary, .. } = subject;
    let input_length = summary.input_length;
    let mut findings = Vec::new();
    let field = summary.receptive_field();
    if field > input_length {
        findings.push(
            Finding::new(
                FindingId::ReceptiveFieldTooLarge,
                Severity::Medium,
                "One position sees more than the whole input",
            )
            .measured(format!(
                "receptive field {field} points for an input of {input_length}"
            ))
            .why("positions near the ends see mostly zero padding")
            .fix("use smaller kernels and pools"),
        );
    } else if (field as f64) < 0.02 * input_length as f64
        && summary
            .rows
            .iter()
            .any(|r| r.receptive_field == ReceptiveField::All)
    {
        findings.push(
            Finding::new(FindingId::ReceptiveFieldTiny, Severity::Low, "Each conv feature sees a tiny part of the signal")
                .measured(format!("receptive field {field} of {input_length} points ({:.1}%)", 100.0 * field as f64 / input_length as f64))
                .why("features this local cannot describe peak shapes wider than the field; the Dense head must assemble everything from positions")
                .fix("add strided pooling between blocks so the field grows geometrically"),
        );
    }
    findings
}

/// Kernels as long as their input, and the share of outputs that read
/// zero padding.
pub(super) fn kernels_and_padding(subject: &Subject<'_>) -> Vec<Finding> {
    let Subject { layers, specs, .. } = subject;
    let mut findings = Vec::new();
    let mut padded: Vec<String> = Vec::new();
    for (layer, layer_spec) in layers.iter().zip(specs) {
        if let (LayerSpec::Conv1D(c), Shape::Signal { length, .. }) =
            (layer_spec, layer.input_shape())
        {
            let extent = (c.kernel_size - 1) * c.dilation_rate + 1;
            if extent >= length {
                findings.push(
                    Finding::new(FindingId::KernelAsLongAsInput, Severity::High, format!("Kernel of '{}' spans its whole input", layer.name()))
                        .measured(format!("kernel spans {extent} points of a {length}-point input"))
                        .why("such a kernel is a Dense layer in disguise, with padding on most positions")
                        .fix("use kernels of 3 to 7 points"),
                );
            }
            // `same` and `causal` both pad the span less one (causal on the left).
            if c.padding != Padding::Valid && extent > 1 {
                let share = ((extent - 1) as f64 / length as f64).min(1.0);
                if share > 0.05 {
                    padded.push(format!("'{}' {}", layer.name(), percent(share)));
                }
            }
        }
    }
    if !padded.is_empty() {
        findings.push(
            Finding::new(FindingId::PaddingDominated, Severity::Low, "Many outputs read zero padding")
                .measured(format!("share of output positions whose window touches padding: {}", padded.join(", ")))
                .why("zeros are not signal: edge outputs are biased towards them, and with padded ('same', 'causal') stacks the bias compounds")
                .fix("smaller kernels, or 'valid' padding with a cropped input"),
        );
    }
    findings
}

/// BatchNormalization with batches under 8.
pub(super) fn batchnorm_tiny_batches(subject: &Subject<'_>, setup: &Recipe) -> Vec<Finding> {
    let Subject { specs, .. } = subject;
    let mut findings = Vec::new();
    let has_bn = specs
        .iter()
        .any(|l| matches!(l, LayerSpec::BatchNormalization(_)));
    if has_bn && setup.batch_size < 8 {
        // At batch 1 a Dense layer's batch variance is exactly zero (the
        // normalized output is beta, whatever the input) and a conv
        // layer's comes from one sample's length alone: training and
        // inference then see different functions.
        let severity = if setup.batch_size == 1 {
            Severity::High
        } else {
            Severity::Medium
        };
        findings.push(
            Finding::new(FindingId::BatchnormTinyBatches, severity, "BatchNormalization with tiny batches")
                .measured(format!("batch size {}", setup.batch_size))
                .why("batch statistics of fewer than 8 samples are noisy, and at batch 1 a channel's variance over one sample is not the population's (Ioffe & Szegedy 2015; Wu & He 2018)")
                .fix("batch_size >= 16, or drop BatchNormalization"),
        );
    }
    findings
}

/// BatchNormalization's moving statistics still far from the data after
/// the whole budget.
pub(super) fn batchnorm_unsettled(
    subject: &Subject<'_>,
    setup: &Recipe,
    train_samples: Option<usize>,
) -> Vec<Finding> {
    let Subject { specs, .. } = subject;
    let mut findings = Vec::new();
    if let Some(samples) = train_samples {
        let steps = setup.epochs * samples.div_ceil(setup.batch_size.max(1));
        let momenta: Vec<f64> = specs
            .iter()
            .filter_map(|l| match l {
                LayerSpec::BatchNormalization(b) => Some(b.momentum),
                _ => None,
            })
            .collect();
        if let Some(momentum) = momenta.iter().copied().reduce(f64::max) {
            let left = momentum.powi(steps.min(i32::MAX as usize) as i32);
            if left > 0.05 {
                findings.push(
                    Finding::new(FindingId::BatchnormUnsettled, Severity::High, "BatchNormalization's moving statistics never settle")
                        .measured(format!(
                            "{steps} training steps ({} epochs of {samples} samples at batch {}): with momentum {momentum}, the moving mean and variance still hold {:.0}% of their initial 0 and 1",
                            setup.epochs, setup.batch_size, 100.0 * left
                        ))
                        .why("validation and prediction run in inference mode on the moving statistics, so they normalize with numbers the data never had (Keras's default momentum 0.99 needs about 300 steps; Ioffe & Szegedy 2015)")
                        .fix("momentum=0.9 (settles within 30 steps), or no BatchNormalization on a data set this small"),
                );
            }
        }
    }
    findings
}

/// Dropout above 0.5.
pub(super) fn heavy_dropout(subject: &Subject<'_>) -> Vec<Finding> {
    let Subject { layers, specs, .. } = subject;
    let mut findings = Vec::new();
    for (layer, layer_spec) in layers.iter().zip(specs) {
        if let LayerSpec::Dropout(d) | LayerSpec::SpatialDropout1D(d) = layer_spec {
            if d.rate > 0.5 {
                findings.push(
                    Finding::new(FindingId::HeavyDropout, Severity::Medium, format!("Dropout '{}' drops most units", layer.name()))
                        .measured(format!("rate {}", d.rate))
                        .why("above 0.5 the signal reaching the next layer is mostly noise (Srivastava et al. 2014 use 0.5 at most for hidden units)")
                        .fix("rate 0.1 to 0.3"),
                );
            }
        }
    }
    findings
}

/// A regularizer coefficient this many times Keras's default (0.01), or
/// more, is heavy.
const HEAVY_PENALTY: f64 = 0.1;

/// Weight regularizers of 0.1 or more: ten times Keras's default.
pub(super) fn heavy_regularization(subject: &Subject<'_>) -> Vec<Finding> {
    let Subject { layers, specs, .. } = subject;
    let mut findings = Vec::new();
    for (layer, layer_spec) in layers.iter().zip(specs) {
        for (weight, regularizer) in ["kernel", "bias"]
            .into_iter()
            .zip(layer_spec.regularizers())
        {
            let Some(r) = regularizer.filter(|r| r.l1.max(r.l2) >= HEAVY_PENALTY) else {
                continue;
            };
            findings.push(
                Finding::new(
                    FindingId::HeavyRegularization,
                    Severity::Medium,
                    format!("The {weight} of '{}' is regularized heavily", layer.name()),
                )
                .measured(format!("{weight}_regularizer l1 = {}, l2 = {}", r.l1, r.l2))
                .why("the penalty's gradient (l1 per weight, 2 * l2 * w) pulls every weight towards zero at least ten times as hard as Keras's default 0.01: the network underfits, its outputs close to a constant")
                .fix("l2 between 1e-4 and 1e-2 (1e-3 is a common start), chosen on validation; or Dropout 0.1 to 0.3 instead; the prescription caps it at 0.01"),
            );
        }
    }
    findings
}

/// Two weighted layers with no nonlinearity between them, in a chain (a
/// graph's layer list puts sibling branches side by side, which do not
/// feed each other).
pub(super) fn stacked_linear(subject: &Subject<'_>) -> Vec<Finding> {
    let Subject {
        layers,
        specs,
        chain,
        ..
    } = subject;
    let mut findings = Vec::new();
    let linear = |l: &LayerSpec| match l {
        LayerSpec::Dense(d) => Some(d.activation.is_linear()),
        LayerSpec::Conv1D(c) => Some(c.activation.is_linear()),
        LayerSpec::Activation(a) => Some(a.activation.is_linear()),
        // LayerNormalization divides each position by its own spread: not
        // an affine map, unlike BatchNormalization in inference.
        LayerSpec::LeakyReLU(_)
        | LayerSpec::ReLU(_)
        | LayerSpec::ELU(_)
        | LayerSpec::Tanh(_)
        | LayerSpec::Sigmoid(_)
        | LayerSpec::LayerNormalization(_) => Some(false),
        _ => None,
    };
    let weighted: Vec<(usize, bool)> = specs
        .iter()
        .filter(|_| *chain)
        .enumerate()
        .filter_map(|(i, l)| linear(l).map(|lin| (i, lin)))
        .collect();
    for pair in weighted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let both_weights = matches!(specs[a.0], LayerSpec::Dense(_) | LayerSpec::Conv1D(_))
            && matches!(specs[b.0], LayerSpec::Dense(_) | LayerSpec::Conv1D(_));
        if both_weights && a.1 {
            let names = (
                layers[a.0].name().to_string(),
                layers[b.0].name().to_string(),
            );
            findings.push(
                Finding::new(FindingId::StackedLinear, Severity::Low, "Two linear layers with no activation between them")
                    .measured(format!("'{}' feeds '{}' with no nonlinearity", names.0, names.1))
                    .why("their product is one linear map: the extra layer adds parameters, not capacity")
                    .fix(format!("give '{}' activation='relu' or insert a LeakyReLU", names.0)),
            );
        }
    }
    findings
}

/// A model with no nonlinearity anywhere: no activation on any weighted
/// layer, no activation layer, no max pooling. Whatever its depth, it is
/// one linear map of the signal, and ridge regression fits that map
/// exactly and faster.
pub(super) fn linear_model(subject: &Subject<'_>) -> Vec<Finding> {
    let nonlinear = |l: &LayerSpec| match l {
        LayerSpec::Dense(d) => !d.activation.is_linear(),
        LayerSpec::Conv1D(c) => !c.activation.is_linear(),
        LayerSpec::Activation(a) => !a.activation.is_linear(),
        LayerSpec::LeakyReLU(_)
        | LayerSpec::ReLU(_)
        | LayerSpec::ELU(_)
        | LayerSpec::Tanh(_)
        | LayerSpec::Sigmoid(_)
        | LayerSpec::MaxPooling1D(_)
        | LayerSpec::GlobalMaxPooling1D(_)
        | LayerSpec::LayerNormalization(_) => true,
        _ => false,
    };
    let weighted = subject
        .specs
        .iter()
        .filter(|l| matches!(l, LayerSpec::Dense(_) | LayerSpec::Conv1D(_)))
        .count();
    // A product or a selection of branches is not linear either (Add,
    // Subtract, Average and Concatenate are).
    let nonlinear_merge = |l: &LayerSpec| {
        matches!(
            l,
            LayerSpec::Multiply(_) | LayerSpec::Maximum(_) | LayerSpec::Minimum(_)
        )
    };
    if weighted < 2
        || subject.specs.iter().any(nonlinear)
        || subject.merges.iter().any(nonlinear_merge)
    {
        return Vec::new();
    }
    vec![
        Finding::new(FindingId::LinearModel, Severity::High, "The whole model is linear")
            .measured(format!(
                "{weighted} weighted layers and no activation, activation layer or max pooling anywhere"
            ))
            .why("a composition of linear maps is one linear map: the network can fit nothing ridge regression cannot, and trains it with more variance and more steps")
            .fix("activation='relu' (or a LeakyReLU) after each Conv1D and hidden Dense; keep the output linear"),
    ]
}
