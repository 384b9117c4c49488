//! The deep baselines of time-series regression and classification, as
//! their authors' Keras code builds them (Wang et al. 2017 for FCN and
//! ResNet; Ismail Fawaz et al. 2020 for InceptionTime), with a `Dense(1)`
//! regression head in place of the softmax.

use kymo_tensor::Padding;

use crate::layers::{
    ActivationSpec, BatchNormalizationSpec, Conv1DSpec, DenseSpec, GlobalPoolingSpec, NameOnlySpec,
    Pooling1DSpec,
};
use crate::{Activation, ConcatenateSpec, GraphSpec, InputSpec, LayerSpec, NodeSpec};

/// Builds a graph spec node by node; each helper returns the new node's
/// name so the next one can read it.
struct Builder {
    nodes: Vec<NodeSpec>,
}

impl Builder {
    fn new() -> Self {
        Self { nodes: Vec::new() }
    }

    fn node(&mut self, inputs: &[&str], layer: LayerSpec) -> String {
        // Invariant: every layer the zoo adds carries its own name.
        let name = layer.name().unwrap_or_default().to_string();
        self.nodes.push(NodeSpec {
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            layer,
        });
        name
    }

    fn conv(
        &mut self,
        input: &str,
        name: String,
        filters: usize,
        kernel: usize,
        bias: bool,
    ) -> String {
        self.node(
            &[input],
            LayerSpec::Conv1D(Conv1DSpec {
                padding: Padding::Same,
                use_bias: bias,
                name: Some(name),
                ..Conv1DSpec::new(filters, kernel)
            }),
        )
    }

    fn batch_norm(&mut self, input: &str, name: String) -> String {
        self.node(
            &[input],
            LayerSpec::BatchNormalization(BatchNormalizationSpec {
                name: Some(name),
                ..BatchNormalizationSpec::default()
            }),
        )
    }

    fn relu(&mut self, input: &str, name: String) -> String {
        self.node(
            &[input],
            LayerSpec::Activation(ActivationSpec {
                activation: Activation::Relu,
                name: Some(name),
            }),
        )
    }

    /// Global average pooling and the `Dense(1)` head.
    fn head(mut self, input: &str, length: usize) -> GraphSpec {
        let gap = self.node(
            &[input],
            LayerSpec::GlobalAveragePooling1D(GlobalPoolingSpec {
                name: Some("gap".into()),
                keepdims: false,
            }),
        );
        self.node(
            &[&gap],
            LayerSpec::Dense(DenseSpec {
                name: Some("output".into()),
                ..DenseSpec::new(1)
            }),
        );
        GraphSpec {
            input: InputSpec {
                channels: 1,
                length,
            },
            input_name: "input".into(),
            nodes: self.nodes,
            output: None,
        }
    }
}

/// FCN's filters per block, as Wang et al. built it.
pub const FCN_FILTERS: [usize; 3] = [128, 256, 128];

/// FCN: three `Conv1D -> BatchNormalization -> ReLU` blocks of 128, 256
/// and 128 filters with kernels 8, 5 and 3, global average pooling, and
/// `Dense(1)`. 265,857 parameters on a one-channel input.
pub fn fcn(length: usize) -> GraphSpec {
    fcn_with(length, FCN_FILTERS)
}

/// FCN with other filter counts (smaller ones make test-sized versions).
pub fn fcn_with(length: usize, filters: [usize; 3]) -> GraphSpec {
    let mut b = Builder::new();
    let mut x = "input".to_string();
    for (i, (filters, kernel)) in filters.into_iter().zip([8, 5, 3]).enumerate() {
        let n = i + 1;
        x = b.conv(&x, format!("conv{n}"), filters, kernel, true);
        x = b.batch_norm(&x, format!("bn{n}"));
        x = b.relu(&x, format!("relu{n}"));
    }
    b.head(&x, length)
}

/// ResNet: three residual blocks of 64, 128 and 128 filters. Each block is
/// `Conv1D(8) -> BN -> ReLU -> Conv1D(5) -> BN -> ReLU -> Conv1D(3) -> BN`,
/// added to a shortcut (`Conv1D(1) -> BN` where the channels change, `BN`
/// alone in the third block), then a ReLU; global average pooling and
/// `Dense(1)`. 506,689 parameters on a one-channel input.
pub fn resnet(length: usize) -> GraphSpec {
    resnet_with(length, RESNET_FILTERS)
}

/// ResNet's filters per block, as Wang et al. built it.
pub const RESNET_FILTERS: [usize; 3] = [64, 128, 128];

/// ResNet with other filter counts. As in the Keras code, the first two
/// blocks' shortcuts have a `Conv1D(1)` and the third's has none (so the
/// third block must keep the second's width).
pub fn resnet_with(length: usize, filters: [usize; 3]) -> GraphSpec {
    let mut b = Builder::new();
    let mut x = "input".to_string();
    for (i, filters) in filters.into_iter().enumerate() {
        let n = i + 1;
        let block_input = x.clone();
        for (part, kernel) in [("x", 8), ("y", 5), ("z", 3)] {
            x = b.conv(&x, format!("block{n}_conv_{part}"), filters, kernel, true);
            x = b.batch_norm(&x, format!("block{n}_bn_{part}"));
            if part != "z" {
                x = b.relu(&x, format!("block{n}_relu_{part}"));
            }
        }
        let mut shortcut = block_input;
        // Keras's code: a Conv1D(1) on the first two shortcuts only.
        if i < 2 {
            shortcut = b.conv(
                &shortcut,
                format!("block{n}_shortcut_conv"),
                filters,
                1,
                true,
            );
        }
        shortcut = b.batch_norm(&shortcut, format!("block{n}_shortcut_bn"));
        let sum = b.node(
            &[&shortcut, &x],
            LayerSpec::Add(NameOnlySpec {
                name: Some(format!("block{n}_add")),
            }),
        );
        x = b.relu(&sum, format!("block{n}_out"));
    }
    b.head(&x, length)
}

/// InceptionTime's kernel sizes as its Keras code derives them: 40, 20
/// and 10 (the longest halved twice). PyTorch ports (tsai) make them odd,
/// 39, 19 and 9.
pub const INCEPTION_KERNELS: [usize; 3] = [40, 20, 10];

/// The sizes of an InceptionTime network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InceptionSizes {
    /// The three convolution branches' kernels.
    pub kernels: [usize; 3],
    /// Filters of each branch (the module's output has four times as many).
    pub filters: usize,
    /// Filters of the bottleneck `Conv1D(1)` before the branches.
    pub bottleneck: usize,
    /// Number of modules; a residual shortcut joins after every third.
    pub depth: usize,
}

impl Default for InceptionSizes {
    /// Ismail Fawaz et al.'s: kernels 40/20/10, 32 filters, bottleneck 32,
    /// depth 6.
    fn default() -> Self {
        Self {
            kernels: INCEPTION_KERNELS,
            filters: 32,
            bottleneck: 32,
            depth: 6,
        }
    }
}

/// One InceptionTime network (the paper ensembles five): depth 6, each
/// module a bottleneck `Conv1D(32, 1)` (skipped on a one-channel input),
/// three `Conv1D(32)` of kernels 40, 20 and 10 beside a `MaxPooling1D(3,
/// stride 1, same) -> Conv1D(32, 1)` branch, concatenated to 128 channels,
/// then BN and ReLU; a residual shortcut (`Conv1D(1)` without bias, BN,
/// Add, ReLU) every third module; global average pooling and `Dense(1)`.
/// No convolution has a bias. 422,369 parameters on a one-channel input.
pub fn inception(length: usize) -> GraphSpec {
    inception_with(length, InceptionSizes::default())
}

/// InceptionTime of other sizes.
pub fn inception_with(length: usize, sizes: InceptionSizes) -> GraphSpec {
    let mut b = Builder::new();
    let mut x = "input".to_string();
    let mut channels = 1;
    let mut residual = "input".to_string();
    for d in 0..sizes.depth {
        let m = d + 1;
        let branch_input = if channels > 1 {
            b.conv(
                &x,
                format!("module{m}_bottleneck"),
                sizes.bottleneck,
                1,
                false,
            )
        } else {
            x.clone()
        };
        let mut branches: Vec<String> = sizes
            .kernels
            .iter()
            .enumerate()
            .map(|(j, &k)| {
                let name = format!("module{m}_conv{}", j + 1);
                b.conv(&branch_input, name, sizes.filters, k, false)
            })
            .collect();
        let pooled = b.node(
            &[&x],
            LayerSpec::MaxPooling1D(Pooling1DSpec {
                pool_size: 3,
                strides: Some(1),
                padding: Padding::Same,
                name: Some(format!("module{m}_pool")),
            }),
        );
        branches.push(b.conv(
            &pooled,
            format!("module{m}_pool_conv"),
            sizes.filters,
            1,
            false,
        ));
        let refs: Vec<&str> = branches.iter().map(String::as_str).collect();
        x = b.node(
            &refs,
            LayerSpec::Concatenate(ConcatenateSpec {
                // Keras's code names the channel axis of (batch, length,
                // channels) as 2.
                axis: 2,
                name: Some(format!("module{m}_concat")),
            }),
        );
        x = b.batch_norm(&x, format!("module{m}_bn"));
        x = b.relu(&x, format!("module{m}_relu"));
        channels = 4 * sizes.filters;
        if d % 3 == 2 {
            let s = b.conv(&residual, format!("shortcut{m}_conv"), channels, 1, false);
            let s = b.batch_norm(&s, format!("shortcut{m}_bn"));
            let sum = b.node(
                &[&s, &x],
                LayerSpec::Add(NameOnlySpec {
                    name: Some(format!("shortcut{m}_add")),
                }),
            );
            x = b.relu(&sum, format!("shortcut{m}_relu"));
            residual = x.clone();
        }
    }
    b.head(&x, length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Model, ReceptiveField};

    #[test]
    fn parameter_counts_are_keras_s() {
        // Counted by hand from the Keras code (see each builder's doc); the
        // parity fixture checks them against Keras itself.
        for (spec, params) in [
            (fcn(64), 265_857),
            (resnet(64), 506_689),
            (inception(64), 422_369),
        ] {
            let model = crate::Graph::<f32>::new(&spec, 0).expect("builds");
            assert_eq!(model.count_params(), params);
        }
    }

    #[test]
    fn residual_joins_widen_the_receptive_field_along_the_longest_path() {
        let model = crate::Graph::<f32>::new(&resnet(128), 0).expect("builds");
        let summary = model.summary();
        // Three blocks of kernels 8, 5 and 3: each widens by 7 + 4 + 2.
        let add = |n: usize| {
            summary
                .rows
                .iter()
                .find(|r| r.name == format!("block{n}_add"))
                .map(|r| r.receptive_field)
        };
        assert_eq!(add(1), Some(ReceptiveField::Points(14)));
        assert_eq!(add(3), Some(ReceptiveField::Points(40)));
        assert_eq!(summary.receptive_field(), 40);
    }
}
