//! The one place kymo calls into a GEMM: `C (+)= A · B` on strided slices.
//!
//! Transposes are free: a [`MatRef`] is a slice plus row and column strides,
//! so `Aᵀ` is the same slice with the strides swapped. Every shape and extent
//! is checked before the unsafe call, so a caller's mistake is an error,
//! never an out-of-bounds read.

use realfft::num_complex::Complex;

use crate::{Float, TensorError};

/// A read-only matrix view: `data[row * row_stride + col * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a, T> {
    /// Backing storage.
    pub data: &'a [T],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between consecutive rows.
    pub row_stride: usize,
    /// Distance between consecutive columns.
    pub col_stride: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose, sharing storage.
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn check(&self, argument: &'static str) -> Result<(), TensorError> {
        if self.rows == 0 || self.cols == 0 {
            return Ok(());
        }
        let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
        if last >= self.data.len() {
            return Err(TensorError::Shape {
                kernel: "matmul",
                argument,
                expected: vec![last + 1],
                found: vec![self.data.len()],
            });
        }
        Ok(())
    }
}

/// `c = a · b` (or `c += a · b` when `accumulate`), with `c` row-major
/// `a.rows x b.cols`, on the [`threads`](crate::threads) the product is big
/// enough to use.
pub fn matmul<T: Float>(
    c: &mut [T],
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
) -> Result<(), TensorError> {
    let threads = crate::parallel::threads_for_multiply_adds(a.rows * a.cols * b.cols);
    matmul_on(threads, c, a, b, accumulate)
}

/// [`matmul`] on `threads` threads instead of the runtime's (kernels
/// that already split their work across threads run their GEMMs on one).
pub fn matmul_on<T: Float>(
    threads: usize,
    c: &mut [T],
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
) -> Result<(), TensorError> {
    real_gemm(threads, (c, Layout::RowMajor), a, b, accumulate)
}

/// [`matmul_on`] with `c` column-major: `c[j * a.rows + i]` holds row `i`,
/// column `j` of `a · b`. A product with few rows and many columns is
/// written this way as its transpose, `bᵀ · aᵀ` row-major: the GEMM's
/// microkernel runs down long columns of `c` instead of along 16 rows.
pub(crate) fn matmul_column_major_on<T: Float>(
    threads: usize,
    c: &mut [T],
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
) -> Result<(), TensorError> {
    real_gemm(threads, (c, Layout::ColumnMajor), a, b, accumulate)
}

/// The real products of [`matmul_on`] and [`matmul_column_major_on`].
fn real_gemm<T: Float>(
    threads: usize,
    c: (&mut [T], Layout),
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
) -> Result<(), TensorError> {
    // SAFETY (of `checked_gemm`'s contract): f32 and f64 are element types
    // the GEMM implements.
    unsafe { checked_gemm(threads, c, a, false, b, accumulate, T::zero(), T::one()) }
}

/// How a product's elements lie in its slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    RowMajor,
    ColumnMajor,
}

/// `c (+)= op(a) · b` over complex matrices, with `c` row-major
/// `a.rows x b.cols` and `op(a)` the elementwise conjugate of `a` when
/// `conjugate_a`: the per-frequency products of the spectral convolution.
/// Like [`matmul_on`], the GEMM never splits the summed dimension.
pub(crate) fn complex_matmul_on<T: Float>(
    threads: usize,
    c: &mut [Complex<T>],
    a: MatRef<'_, Complex<T>>,
    conjugate_a: bool,
    b: MatRef<'_, Complex<T>>,
    accumulate: bool,
) -> Result<(), TensorError> {
    let zero = Complex::new(T::zero(), T::zero());
    let one = Complex::new(T::one(), T::zero());
    // SAFETY (of `checked_gemm`'s contract): `Complex<f32>`/`Complex<f64>`
    // are the c32/c64 the GEMM implements (the same num-complex type).
    unsafe {
        checked_gemm(
            threads,
            (c, Layout::RowMajor),
            a,
            conjugate_a,
            b,
            accumulate,
            zero,
            one,
        )
    }
}

/// Checks the shapes and extents, then runs the GEMM.
///
/// # Safety
/// `E` must be an element type the `gemm` crate implements (f32, f64, c32,
/// c64); everything else this function checks itself.
#[allow(clippy::too_many_arguments)]
unsafe fn checked_gemm<E: Copy + 'static>(
    threads: usize,
    (c, layout): (&mut [E], Layout),
    a: MatRef<'_, E>,
    conjugate_a: bool,
    b: MatRef<'_, E>,
    accumulate: bool,
    zero: E,
    one: E,
) -> Result<(), TensorError> {
    check_product(c.len(), &a, &b)?;
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            c.fill(zero);
        }
        return Ok(());
    }
    let (column_stride, row_stride) = match layout {
        Layout::RowMajor => (1, n as isize),
        Layout::ColumnMajor => (m as isize, 1),
    };
    // SAFETY: every index the GEMM touches was bounds-checked above: `a` and
    // `b` through `check_product`, `c` as a dense m x n block (row- or
    // column-major) of exactly `c.len()` elements. Strides fit in isize
    // because they index live slices. The element type is the caller's
    // promise.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            column_stride,
            row_stride,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            one,
            one,
            false,
            conjugate_a,
            false,
            parallelism(threads),
        );
    }
    Ok(())
}

/// Checks that `a · b` is defined and fits in a `c` of `c_len` elements,
/// and that both views stay inside their slices.
fn check_product<U>(c_len: usize, a: &MatRef<'_, U>, b: &MatRef<'_, U>) -> Result<(), TensorError> {
    if a.cols != b.rows {
        return Err(TensorError::Shape {
            kernel: "matmul",
            argument: "b",
            expected: vec![a.cols, b.cols],
            found: vec![b.rows, b.cols],
        });
    }
    if c_len != a.rows * b.cols {
        return Err(TensorError::Shape {
            kernel: "matmul",
            argument: "c",
            expected: vec![a.rows, b.cols],
            found: vec![c_len],
        });
    }
    a.check("a")?;
    b.check("b")
}

/// The GEMM's threading for `threads` threads.
fn parallelism(threads: usize) -> gemm::Parallelism {
    match threads {
        1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Vec<f64> {
        let mut c = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for p in 0..a.cols {
                    c[i * b.cols + j] += a.data[i * a.row_stride + p * a.col_stride]
                        * b.data[p * b.row_stride + j * b.col_stride];
                }
            }
        }
        c
    }

    #[test]
    fn matches_naive_product_with_transposes_and_accumulation() {
        let a: Vec<f64> = (0..12).map(|i| i as f64 * 0.5 - 2.0).collect();
        let b: Vec<f64> = (0..12).map(|i| (i as f64).sin()).collect();
        let ar = MatRef::row_major(&a, 3, 4);
        let br = MatRef::row_major(&b, 4, 3);
        let mut c = vec![0.0; 9];
        matmul(&mut c, ar, br, false).expect("shapes agree");
        for (x, y) in c.iter().zip(&naive(ar, br)) {
            assert!((x - y).abs() < 1e-12);
        }
        // aᵀ (4x3) · (b as 3x4)
        let bt = MatRef::row_major(&b, 3, 4);
        let mut c2 = vec![1.0; 16];
        matmul(&mut c2, ar.t(), bt, true).expect("shapes agree");
        let expected: Vec<f64> = naive(ar.t(), bt).iter().map(|x| x + 1.0).collect();
        for (x, y) in c2.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-12);
        }
    }

    #[test]
    fn a_column_major_product_is_the_row_major_one_transposed() {
        let a: Vec<f64> = (0..12).map(|i| i as f64 * 0.5 - 2.0).collect();
        let b: Vec<f64> = (0..20).map(|i| (i as f64).cos()).collect();
        let (ar, br) = (MatRef::row_major(&a, 3, 4), MatRef::row_major(&b, 4, 5));
        let want = naive(ar, br);
        let mut c = vec![0.25; 15];
        matmul_column_major_on(1, &mut c, ar, br, true).expect("shapes agree");
        for i in 0..3 {
            for j in 0..5 {
                assert!((c[j * 3 + i] - (want[i * 5 + j] + 0.25)).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn rejects_short_slices_instead_of_reading_past_them() {
        let a = vec![1.0f32; 5];
        let b = vec![1.0f32; 6];
        let mut c = vec![0.0f32; 4];
        let bad = MatRef::row_major(&a, 2, 3);
        let err = matmul(&mut c, bad, MatRef::row_major(&b, 3, 2), false).unwrap_err();
        assert!(matches!(err, TensorError::Shape { argument: "a", .. }));
        let mut small_c = vec![0.0f32; 3];
        let a6 = vec![1.0f32; 6];
        let err = matmul(
            &mut small_c,
            MatRef::row_major(&a6, 2, 3),
            MatRef::row_major(&b, 3, 2),
            false,
        )
        .unwrap_err();
        assert!(matches!(err, TensorError::Shape { argument: "c", .. }));
    }

    #[test]
    fn one_and_two_threads_give_identical_bits() {
        let (m, k, n) = (64, 700, 300);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 / 997.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104729) % 1000) as f32 / 991.0 - 0.5)
            .collect();
        let run = |threads| {
            crate::Runtime::new(threads).expect("starts").run(|| {
                let mut c = vec![0.0f32; m * n];
                matmul(
                    &mut c,
                    MatRef::row_major(&a, m, k),
                    MatRef::row_major(&b, k, n),
                    false,
                )
                .expect("shapes agree");
                c
            })
        };
        let one = run(1);
        let two = run(2);
        assert!(one
            .iter()
            .zip(&two)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}
