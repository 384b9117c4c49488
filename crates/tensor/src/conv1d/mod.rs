//! 1D convolution (cross-correlation, as Keras and PyTorch compute it) in NCL
//! layout, forward and backward, as GEMMs over a column matrix.
//!
//! Per sample, the input `[C_in, L]` is lowered to a column matrix
//! `[C_in * K, L_out]` (one row per tap and input channel, one column per
//! output position; [`lowering`] says how it is read without being
//! materialized), so that the forward pass is one GEMM
//! `W[C_out, C_in*K] · cols`. The backward pass is two more GEMMs:
//! `dW += dY · colsᵀ` and `dcols = Wᵀ · dY`, then `dcols` is folded back onto
//! the input ([`columns`]). The lowering is redone in backward rather than
//! kept from forward, as it costs one copy of the input.

mod channel_blocks;
mod chunks;
mod columns;
mod direct;
mod fourier;
mod lowering;
mod spectral;
mod wide;
mod winograd;

use ndarray::{Array3, ArrayView1, ArrayView3, ArrayViewMut1, ArrayViewMut3};
use serde::{Deserialize, Serialize};

use crate::layout::{check_length, standard_slice_mut};
use crate::scratch;
use crate::sum::lane_total;

use crate::{Float, Padding, TensorError, Window};
use chunks::ChunkScratch;
use lowering::Lowering;
use spectral::{Shapes, SpectralWorkspace};

/// Stride, dilation and padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv1dConfig {
    /// Step between output positions.
    pub stride: usize,
    /// Gap between kernel taps.
    pub dilation: usize,
    /// Keras padding mode.
    pub padding: Padding,
}

impl Default for Conv1dConfig {
    /// Keras's defaults: stride 1, dilation 1, `valid`.
    fn default() -> Self {
        Self {
            stride: 1,
            dilation: 1,
            padding: Padding::Valid,
        }
    }
}

impl Conv1dConfig {
    /// The window geometry for an input of `input_length` and a kernel of
    /// `kernel_size` taps.
    pub fn window(&self, input_length: usize, kernel_size: usize) -> Result<Window, TensorError> {
        Window::new(
            "conv1d",
            input_length,
            kernel_size,
            self.stride,
            self.dilation,
            self.padding,
        )
    }
}

/// A Conv1D layer's handle on the convolution's scratch: the lowered samples
/// and column gradients of the GEMM methods, and the FFT plans and spectra
/// of the frequency-domain one (tens of MB at batch 32 for the seed's
/// largest layer; a fresh allocation per call costs a page fault per 4 KB).
///
/// The buffers themselves are lent from one pool for the length of a call
/// ([`release_scratch`](crate::release_scratch) frees them), so a model's
/// layers share the largest layer's scratch instead of each holding its
/// own. Between calls a workspace holds only the choices tests impose.
#[derive(Debug)]
pub struct Conv1dWorkspace<T: Float> {
    /// The lent buffers during a call; empty between calls.
    buffers: Box<Buffers<T>>,
    /// A lowering tests impose instead of the one the geometry picks.
    forced: Option<Lowering>,
    /// A method tests impose instead of the one the geometry picks.
    forced_method: Option<Method>,
    /// Whether forward passes are for inference ([`Self::set_inference`]).
    inference: bool,
}

/// The scratch of one call: what the pool lends.
#[derive(Debug)]
struct Buffers<T: Float> {
    chunks: Vec<ChunkScratch<T>>,
    /// The weight in the lowering's column order, when that is not its own.
    weight_matrix: Vec<T>,
    /// Plans and spectra of the frequency-domain method for long kernels.
    spectral: SpectralWorkspace<T>,
    /// The same in f64, with f64 copies, for f32 data (`wide.rs`).
    wide: wide::Wide,
}

impl<T: Float> Default for Buffers<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            weight_matrix: Vec::new(),
            spectral: SpectralWorkspace::default(),
            wide: wide::Wide::default(),
        }
    }
}

/// How a call computes its convolution: a fixed function of the layer's
/// shapes (never of the thread count), so a model's bits do not depend on
/// how many threads run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// GEMMs over the lowered columns (any geometry).
    Direct,
    /// Overlap-save FFTs, for long kernels.
    Spectral,
    /// Winograd's F(4, 3), over groups of three taps.
    Winograd,
    /// Small DFTs per tile, as real point-by-point products (`fourier/`):
    /// kernels of 4 to 32 taps, forward and backward.
    Fourier,
    /// Winograd's F(2, 3), over groups of three taps: forward passes of
    /// kernels of more than 3 taps (`winograd/pairs.rs`).
    Pairs,
    /// Winograd's F(4, 3) with the points that round closer to the exact
    /// sum (`winograd::Points::Balanced`): inference forward passes of
    /// 3-tap kernels.
    Balanced,
}

impl<T: Float> Default for Conv1dWorkspace<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> Conv1dWorkspace<T> {
    /// An empty workspace; buffers grow on first use.
    pub fn new() -> Self {
        Self {
            buffers: Box::default(),
            forced: None,
            forced_method: None,
            inference: false,
        }
    }

    /// Says whether the next forward passes are for inference, with no
    /// backward pass after them (a layer sets it from its mode). Inference
    /// lets kernels of 4 or more taps go by Winograd's F(2, 3), whose
    /// float32 outputs land about 1.1–1.3 times as far from the exact sum
    /// as the direct GEMM's, and kernels of 3 taps by F(4, 3) through the
    /// balanced points, 1.3–1.8 times (through Lavin and Gray's, which
    /// training takes, 2.5 times), and runs long kernels' spectral method in f32
    /// (training widens it to f64, `wide.rs`). A training forward pass
    /// keeps the direct GEMM for grouped kernels:
    /// its ReLUs and max pools decide which gradients flow, and the
    /// accuracy tests hold those decisions to PyTorch's (an output that
    /// rounds to the other side of a ReLU's kink moves no output by more
    /// than its own size, but moves a gradient by a whole term).
    pub fn set_inference(&mut self, inference: bool) {
        self.inference = inference;
    }

    /// Runs `call` with buffers lent from the pool, then gives them back.
    fn with_lent_buffers<R>(&mut self, call: impl FnOnce(&mut Self) -> R) -> R {
        self.buffers = scratch::lend();
        let result = call(self);
        scratch::give_back(std::mem::take(&mut self.buffers));
        result
    }

    /// The method for this call: the forced one when it can compute this
    /// geometry, else the one that pays.
    fn method(&self, window: &Window, in_channels: usize, out_channels: usize) -> Method {
        let undilated = window.stride == 1 && window.dilation == 1;
        match self.forced_method {
            Some(Method::Spectral) if undilated => Method::Spectral,
            Some(Method::Winograd) if winograd::computes(window) => Method::Winograd,
            Some(Method::Fourier) if fourier::computes(window) => Method::Fourier,
            Some(_) => Method::Direct,
            None if fourier::applies(window, in_channels, out_channels) => Method::Fourier,
            None if spectral::applies(window, in_channels, out_channels) => Method::Spectral,
            None if winograd::applies(window, in_channels, out_channels) => Method::Winograd,
            None => Method::Direct,
        }
    }

    /// The method for a forward pass: [`Self::method`]'s, except that in
    /// inference a 3-tap kernel goes by F(4, 3) through the points that
    /// round closer ([`Method::Balanced`]) and kernels of 4 to 15 taps by
    /// F(2, 3) where that pays ([`winograd::pairs_apply`]), and in
    /// training kernels of more than one group of 3 taps go direct, unless
    /// a method is forced. Over several groups F(4, 3) rounds its outputs
    /// 2–3 times further from the exact sum than the direct GEMM, which
    /// put ResNet's gradients beyond twice PyTorch's float32 distance
    /// (tests/parity/graph_f32_accuracy.rs); F(2, 3) stays within it but
    /// made training no faster (docs/performance.md, "Float32 accuracy"),
    /// so it serves inference only ([`Self::set_inference`]). Lavin and
    /// Gray's F(4, 3) put the answer's model with BatchNormalization 2.5
    /// times PyTorch's float32 distance in inference, the balanced points
    /// within it. Backward passes keep F(4, 3) with Lavin and Gray's
    /// points.
    fn forward_method(&self, window: &Window, in_channels: usize, out_channels: usize) -> Method {
        if let Some(forced @ (Method::Pairs | Method::Balanced)) = self.forced_method {
            if winograd::computes(window) {
                return forced;
            }
        }
        let unforced = self.forced_method.is_none();
        let pairs =
            unforced && self.inference && winograd::pairs_apply(window, in_channels, out_channels);
        match self.method(window, in_channels, out_channels) {
            Method::Spectral => Method::Spectral,
            Method::Fourier => Method::Fourier,
            Method::Winograd if unforced && self.inference && window.size == 3 => Method::Balanced,
            _ if pairs => Method::Pairs,
            Method::Winograd if unforced && window.size > 3 => Method::Direct,
            method => method,
        }
    }

    /// The lowering for this call: the forced one, else the geometry's.
    fn lowering(&self, channels: usize, window: &Window) -> Lowering {
        let chosen = Lowering::for_window::<T>(channels, window);
        match self.forced {
            // Channels-last cannot read dilated taps.
            Some(Lowering::ChannelsLast) if window.dilation != 1 => chosen,
            Some(forced) => forced,
            None => chosen,
        }
    }
}

fn check_weight<T>(
    kernel: &'static str,
    x: &ArrayView3<'_, T>,
    weight: &ArrayView3<'_, T>,
) -> Result<(), TensorError> {
    if weight.dim().1 != x.dim().1 {
        return Err(TensorError::Shape {
            kernel,
            argument: "weight",
            expected: vec![weight.dim().0, x.dim().1, weight.dim().2],
            found: weight.shape().to_vec(),
        });
    }
    Ok(())
}

/// Forward pass: `x [B, C_in, L]`, `weight [C_out, C_in, K]`, optional
/// `bias [C_out]`; returns `[B, C_out, L_out]`.
pub fn conv1d_forward<T: Float>(
    x: ArrayView3<'_, T>,
    weight: ArrayView3<'_, T>,
    bias: Option<ArrayView1<'_, T>>,
    config: Conv1dConfig,
    workspace: &mut Conv1dWorkspace<T>,
) -> Result<Array3<T>, TensorError> {
    check_weight("conv1d_forward", &x, &weight)?;
    let window = config.window(x.dim().2, weight.dim().2)?;
    let mut output = Array3::<T>::zeros((x.dim().0, weight.dim().0, window.output_length));
    conv1d_forward_into(x, weight, bias, config, workspace, output.view_mut())?;
    Ok(output)
}

/// [`conv1d_forward`] into a caller's `output` (`[B, C_out, L_out]`, standard
/// layout), every element of which is overwritten: a layer passes a buffer
/// it reuses from step to step.
pub fn conv1d_forward_into<T: Float>(
    x: ArrayView3<'_, T>,
    weight: ArrayView3<'_, T>,
    bias: Option<ArrayView1<'_, T>>,
    config: Conv1dConfig,
    workspace: &mut Conv1dWorkspace<T>,
    output: ArrayViewMut3<'_, T>,
) -> Result<(), TensorError> {
    workspace.with_lent_buffers(|workspace| {
        forward_into(x, weight, bias, config, workspace, output, None)
    })
}

/// Where a stretch of output handed to a [`RowEpilogue`] lies: sample
/// `sample`'s row of output channel `channel`, from position `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowStretch {
    /// The sample in the batch.
    pub sample: usize,
    /// The output channel.
    pub channel: usize,
    /// The first output position of the stretch (0: it starts the row).
    pub start: usize,
}

/// What a forward pass does to its output while it is still in cache:
/// `epilogue(stretch, values)` on finished stretches of output rows, every
/// output element exactly once, after its last sum and the bias. In
/// training every stretch is a whole row (the direct GEMM, F(4, 3), the
/// spectral and widened methods); inference's F(2, 3) hands over the
/// outputs of one block of tiles at a time. Calls come in no fixed order
/// and may run on several threads at once. A per-channel affine map and an
/// activation applied here give the same bits as the same per-element
/// arithmetic applied to the whole output afterwards, without reading it
/// back from memory.
pub type RowEpilogue<'a, T> = &'a (dyn Fn(RowStretch, &mut [T]) + Sync);

/// [`conv1d_forward_into`], with `epilogue` on each finished stretch of
/// output rows while it is still in cache ([`RowEpilogue`]): the inference
/// pass of a convolution followed by BatchNormalization and an activation.
pub fn conv1d_forward_then<T: Float>(
    x: ArrayView3<'_, T>,
    weight: ArrayView3<'_, T>,
    bias: Option<ArrayView1<'_, T>>,
    config: Conv1dConfig,
    workspace: &mut Conv1dWorkspace<T>,
    output: ArrayViewMut3<'_, T>,
    epilogue: RowEpilogue<'_, T>,
) -> Result<(), TensorError> {
    workspace.with_lent_buffers(|workspace| {
        forward_into(x, weight, bias, config, workspace, output, Some(epilogue))
    })
}

/// Applies `epilogue` to each `[C_out, L_out]` sample of `samples` (the
/// first of them sample `first` of the batch), row by row.
fn finish_samples<T: Float>(
    samples: &mut [T],
    (first, out_channels, out_len): (usize, usize, usize),
    epilogue: Option<RowEpilogue<'_, T>>,
) {
    let Some(epilogue) = epilogue else {
        return;
    };
    if out_len == 0 {
        return;
    }
    let channels = out_channels.max(1);
    for (index, row) in samples.chunks_exact_mut(out_len).enumerate() {
        let stretch = RowStretch {
            sample: first + index / channels,
            channel: index % channels,
            start: 0,
        };
        epilogue(stretch, row);
    }
}

/// [`conv1d_forward_into`] with the workspace's buffers lent.
fn forward_into<T: Float>(
    x: ArrayView3<'_, T>,
    weight: ArrayView3<'_, T>,
    bias: Option<ArrayView1<'_, T>>,
    config: Conv1dConfig,
    workspace: &mut Conv1dWorkspace<T>,
    mut output: ArrayViewMut3<'_, T>,
    epilogue: Option<RowEpilogue<'_, T>>,
) -> Result<(), TensorError> {
    check_weight("conv1d_forward", &x, &weight)?;
    let (batch, in_channels, length) = x.dim();
    let (out_channels, _, kernel_size) = weight.dim();
    if let Some(b) = &bias {
        check_length("conv1d_forward", "bias", out_channels, b.len())?;
    }
    let window = config.window(length, kernel_size)?;
    let out_len = window.output_length;
    let expected_out = [batch, out_channels, out_len];
    let output = standard_slice_mut("conv1d_forward", "output", &expected_out, &mut output)?;
    let x = x.as_standard_layout();
    let weight = weight.as_standard_layout();
    let (x, w) = (contiguous(&x), contiguous(&weight));
    let method = workspace.forward_method(&window, in_channels, out_channels);
    // Inference feeds no gradient through a ReLU's sign or a pool's winner
    // (`wide.rs` says why training widens), so the spectral method runs in
    // f32 there; a long kernel the direct GEMM would take is still widened:
    // the question's 100-tap, one-channel conv in f32 put its inference
    // output at 1.9x PyTorch's distance from f64 (1.5x widened), too near
    // the accuracy tests' 2x for other CPUs' roundings. Fourier tiles round
    // like the direct GEMM's short sums and are never widened.
    let widened = match method {
        Method::Spectral => !workspace.inference,
        Method::Direct => true,
        _ => false,
    };
    if workspace.forced_method.is_none() && widened && wide::applies::<T>(&window) {
        let shapes = Shapes {
            input: (batch, in_channels, length),
            weight: weight.dim(),
        };
        let bias = bias.as_ref().map(|b| b.to_vec());
        let wide = &mut workspace.buffers.wide;
        wide::forward(x, w, bias.as_deref(), shapes, &window, wide, output)?;
        finish_samples(output, (0, out_channels, out_len), epilogue);
        return Ok(());
    }
    match method {
        Method::Spectral => {
            let shapes = Shapes {
                input: (batch, in_channels, length),
                weight: weight.dim(),
            };
            let bias = bias.as_ref().map(|b| b.to_vec());
            let spectral = &mut workspace.buffers.spectral;
            let shapes = (shapes, batch);
            spectral::forward(x, w, bias.as_deref(), shapes, &window, spectral, output)?;
            finish_samples(output, (0, out_channels, out_len), epilogue);
            return Ok(());
        }
        method @ (Method::Winograd | Method::Pairs | Method::Fourier | Method::Balanced) => {
            let operands = winograd::Operands {
                x,
                weight: w,
                window: &window,
                in_channels,
                out_channels,
            };
            let bias = bias.as_ref().map(|b| b.to_vec());
            let inference = workspace.inference;
            let (chunks, kernel) = (
                &mut workspace.buffers.chunks,
                &mut workspace.buffers.weight_matrix,
            );
            let bias = bias.as_deref();
            return match method {
                Method::Pairs => {
                    winograd::forward_by_pairs(operands, bias, chunks, kernel, output, epilogue)
                }
                Method::Fourier => {
                    let pass = if inference {
                        fourier::Pass::Inference
                    } else {
                        fourier::Pass::Training
                    };
                    fourier::forward(pass, operands, bias, chunks, kernel, output, epilogue)
                }
                _ => {
                    let points = match method {
                        Method::Balanced => winograd::Points::Balanced,
                        _ => winograd::Points::Lavin,
                    };
                    winograd::forward(points, operands, bias, chunks, kernel, output, epilogue)
                }
            };
        }
        Method::Direct => {}
    }
    let shapes = Shapes {
        input: (batch, in_channels, length),
        weight: weight.dim(),
    };
    direct::forward(x, w, shapes, (bias, epilogue), &window, workspace, output)
}

/// Gradients of [`conv1d_forward`].
///
/// Adds `∂loss/∂weight` into `grad_weight` and `∂loss/∂bias` into
/// `grad_bias` (accumulating, as parameter gradients do across a batch), and
/// returns `∂loss/∂x`.
pub fn conv1d_backward<T: Float>(
    x: ArrayView3<'_, T>,
    weight: ArrayView3<'_, T>,
    grad_output: ArrayView3<'_, T>,
    config: Conv1dConfig,
    grad_weight: ArrayViewMut3<'_, T>,
    grad_bias: Option<ArrayViewMut1<'_, T>>,
    workspace: &mut Conv1dWorkspace<T>,
) -> Result<Array3<T>, TensorError> {
    let mut input = x.as_standard_layout().into_owned();
    conv1d_backward_in_place(
        input.view_mut(),
        weight,
        grad_output,
        config,
        grad_weight,
        grad_bias,
        workspace,
    )?;
    Ok(input)
}

/// [`conv1d_backward`] that overwrites the forward input `input`
/// (`[B, C_in, L]`, standard layout) with `∂loss/∂x`: each sample is
/// unfolded into columns before its gradient is written, so the layer's
/// cached input becomes its input gradient without a new array.
pub fn conv1d_backward_in_place<T: Float>(
    input: ArrayViewMut3<'_, T>,
    weight: ArrayView3<'_, T>,
    grad_output: ArrayView3<'_, T>,
    config: Conv1dConfig,
    mut grad_weight: ArrayViewMut3<'_, T>,
    mut grad_bias: Option<ArrayViewMut1<'_, T>>,
    workspace: &mut Conv1dWorkspace<T>,
) -> Result<(), TensorError> {
    // Reborrowed: the struct takes one lifetime for all three.
    let gradients = Gradients {
        grad_output: grad_output.view(),
        grad_weight: grad_weight.view_mut(),
        grad_bias: grad_bias.as_mut().map(|b| b.view_mut()),
    };
    workspace.with_lent_buffers(|workspace| {
        backward_in_place(input, weight, gradients, config, workspace)
    })
}

/// The output gradient a backward pass reads and the parameter gradients
/// it adds to.
struct Gradients<'a, T> {
    grad_output: ArrayView3<'a, T>,
    grad_weight: ArrayViewMut3<'a, T>,
    grad_bias: Option<ArrayViewMut1<'a, T>>,
}

/// [`conv1d_backward_in_place`] with the workspace's buffers lent.
fn backward_in_place<T: Float>(
    mut input: ArrayViewMut3<'_, T>,
    weight: ArrayView3<'_, T>,
    gradients: Gradients<'_, T>,
    config: Conv1dConfig,
    workspace: &mut Conv1dWorkspace<T>,
) -> Result<(), TensorError> {
    let Gradients {
        grad_output,
        mut grad_weight,
        grad_bias,
    } = gradients;
    check_weight("conv1d_backward", &input.view(), &weight)?;
    let (batch, in_channels, length) = input.dim();
    let (out_channels, _, kernel_size) = weight.dim();
    let window = config.window(length, kernel_size)?;
    let out_len = window.output_length;
    let expected_out = [batch, out_channels, out_len];
    if grad_output.shape() != expected_out {
        return Err(TensorError::Shape {
            kernel: "conv1d_backward",
            argument: "grad_output",
            expected: expected_out.to_vec(),
            found: grad_output.shape().to_vec(),
        });
    }
    if grad_weight.shape() != weight.shape() || !grad_weight.is_standard_layout() {
        return Err(TensorError::Shape {
            kernel: "conv1d_backward",
            argument: "grad_weight",
            expected: weight.shape().to_vec(),
            found: grad_weight.shape().to_vec(),
        });
    }
    if let Some(grad_bias) = &grad_bias {
        check_length(
            "conv1d_backward",
            "grad_bias",
            out_channels,
            grad_bias.len(),
        )?;
    }
    let input_shape = [batch, in_channels, length];
    let data = standard_slice_mut("conv1d_backward", "input", &input_shape, &mut input)?;
    let weight = weight.as_standard_layout();
    let grad_output = grad_output.as_standard_layout();
    let (w, dy) = (contiguous(&weight), contiguous(&grad_output));
    let grad_w = grad_weight
        .as_slice_mut()
        .expect("invariant: checked standard layout above");
    let method = workspace.method(&window, in_channels, out_channels);
    if method == Method::Winograd || method == Method::Fourier {
        let operands = winograd::Operands {
            x: &[],
            weight: w,
            window: &window,
            in_channels,
            out_channels,
        };
        let (chunks, kernel) = (
            &mut workspace.buffers.chunks,
            &mut workspace.buffers.weight_matrix,
        );
        let backward = if method == Method::Fourier {
            fourier::backward
        } else {
            winograd::backward
        };
        return backward(operands, data, dy, chunks, kernel, grad_w, grad_bias);
    }
    if method == Method::Spectral {
        if let Some(mut grad_bias) = grad_bias {
            // Sample by sample, in order.
            for sample in dy.chunks_exact(out_channels * out_len) {
                for (g, row) in grad_bias.iter_mut().zip(sample.chunks_exact(out_len)) {
                    *g += lane_total(row);
                }
            }
        }
        let shapes = Shapes {
            input: (batch, in_channels, length),
            weight: weight.dim(),
        };
        let spectral = &mut workspace.buffers.spectral;
        return spectral::backward(data, w, dy, shapes, &window, spectral, grad_w);
    }
    let shapes = Shapes {
        input: (batch, in_channels, length),
        weight: weight.dim(),
    };
    let operands = direct::Operands { w, dy };
    direct::backward(
        data, operands, shapes, &window, workspace, grad_w, grad_bias,
    )
}

/// The backing slice of an array that `as_standard_layout` made contiguous.
fn contiguous<'a, T>(array: &'a ndarray::CowArray<'_, T, ndarray::Ix3>) -> &'a [T] {
    array
        .as_slice()
        .expect("invariant: as_standard_layout returns a contiguous array")
}

#[cfg(test)]
mod tests;
