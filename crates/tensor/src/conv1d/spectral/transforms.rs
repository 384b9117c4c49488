//! The overlap-save transforms: each tile's real FFT, and the inverse
//! FFTs that put tiles of products back into rows (outputs, input
//! gradients) or add them into a kernel gradient.

use realfft::num_complex::Complex;

use super::{fft_work, Plans, Tiling};
use crate::parallel::for_each_block;
use crate::Float;

/// Spectra of the tiles of every signal of `(data, batch, rows, length)`
/// (`[batch, rows, length]`) into `spectra[row][b * tiles + j][bin]`. Tile
/// `j` holds `take` points from `data[b, row, j * m + lead ..]`, zero where
/// that runs outside `0..length`, then zeros up to `n`.
pub(super) fn transform_tiles<T: Float>(
    plans: &Plans<T>,
    tiling: Tiling,
    (data, batch, rows, length): (&[T], usize, usize, usize),
    lead: isize,
    take: usize,
    spectra: &mut [Complex<T>],
) {
    let per_row = batch * tiling.tiles * tiling.bins;
    let blocks: Vec<_> = spectra[..rows * per_row]
        .chunks_mut(per_row)
        .enumerate()
        .collect();
    let scratch = || (vec![T::zero(); tiling.n], plans.forward.make_scratch_vec());
    let work = fft_work(rows * per_row);
    for_each_block(
        work,
        blocks,
        scratch,
        |(points, fft_scratch), (row, out)| {
            let tile_spectra = out.chunks_exact_mut(tiling.bins);
            for (column, spectrum) in tile_spectra.enumerate() {
                let (b, j) = (column / tiling.tiles, column % tiling.tiles);
                let source = &data[(b * rows + row) * length..][..length];
                let start = (j * tiling.m) as isize + lead;
                // Points u with 0 <= start + u < length, u < take.
                let first = (-start).clamp(0, take as isize) as usize;
                let end = (length as isize - start).clamp(first as isize, take as isize) as usize;
                points.fill(T::zero());
                if end > first {
                    let from = (start + first as isize) as usize;
                    points[first..end].copy_from_slice(&source[from..from + end - first]);
                }
                plans
                    .forward
                    .process_with_scratch(points, spectrum, fft_scratch)
                    .expect("invariant: buffers sized to the plan's length");
            }
        },
    );
}

/// Inverts each output row's tiles: `locate(row, j)` gives tile `j`'s
/// signal index within a frequency's block of `product`
/// (`[bin][signal]`) and a constant to add; the tile's points `first ..
/// first + m`, scaled, land at `j * m ..` of the row.
pub(super) fn inverse_tiles<T: Float>(
    plans: &Plans<T>,
    tiling: Tiling,
    product: &[Complex<T>],
    rows: Vec<(usize, &mut [T])>,
    locate: impl Fn(usize, usize) -> (usize, T) + Sync + Send,
    first: usize,
    scale: T,
) {
    let per_bin = product.len() / tiling.bins;
    let scratch = || InverseScratch::new(plans, tiling.bins);
    let work = fft_work(product.len());
    for_each_block(work, rows, scratch, |scratch, (row, out)| {
        let length = out.len();
        for j in 0..tiling.tiles {
            let (signal, offset) = locate(row, j);
            let points = scratch.invert(plans, product, per_bin, signal);
            let start = j * tiling.m;
            let count = tiling.m.min(length - start);
            for (o, &p) in out[start..start + count]
                .iter_mut()
                .zip(&points[first..first + count])
            {
                *o = p * scale + offset;
            }
        }
    });
}

/// Adds the first `K` points of each signal's inverse, scaled, to its row
/// of `rows` (one per signal, in order): the kernel gradient.
pub(super) fn accumulate_inverse<T: Float>(
    plans: &Plans<T>,
    bins: usize,
    product: &[Complex<T>],
    signals: usize,
    rows: Vec<(usize, &mut [T])>,
    scale: T,
) {
    let scratch = || InverseScratch::new(plans, bins);
    let work = fft_work(product.len());
    for_each_block(work, rows, scratch, |scratch, (signal, out)| {
        let points = scratch.invert(plans, product, signals, signal);
        for (g, &p) in out.iter_mut().zip(points.iter()) {
            *g += p * scale;
        }
    });
}

/// One thread's buffers for inverse transforms.
pub(super) struct InverseScratch<T> {
    spectrum: Vec<Complex<T>>,
    points: Vec<T>,
    fft: Vec<Complex<T>>,
}

impl<T: Float> InverseScratch<T> {
    pub(super) fn new(plans: &Plans<T>, bins: usize) -> Self {
        Self {
            spectrum: vec![Complex::new(T::zero(), T::zero()); bins],
            points: vec![T::zero(); plans.n],
            fft: plans.inverse.make_scratch_vec(),
        }
    }

    /// The (unscaled) inverse of signal `signal`, whose bins sit `per_bin`
    /// apart in `product`.
    pub(super) fn invert(
        &mut self,
        plans: &Plans<T>,
        product: &[Complex<T>],
        per_bin: usize,
        signal: usize,
    ) -> &[T] {
        for (f, value) in self.spectrum.iter_mut().enumerate() {
            *value = product[f * per_bin + signal];
        }
        // A real signal's first and (n even) last bins are real; the
        // products keep them so up to rounding, which the inverse rejects.
        let last = self.spectrum.len() - 1;
        self.spectrum[0].im = T::zero();
        self.spectrum[last].im = T::zero();
        plans
            .inverse
            .process_with_scratch(&mut self.spectrum, &mut self.points, &mut self.fft)
            .expect("invariant: buffers sized to the plan, edge bins made real");
        &self.points
    }
}
