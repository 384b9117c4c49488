//! Average pooling over the length axis: `same` windows divide by their
//! count of real elements, as Keras does, not by the pool size.

use ndarray::{Array3, ArrayView3, Axis, Zip};

use super::{window_span, Pool1dConfig};
use crate::{Float, TensorError};

/// Average pooling forward, dividing by each window's count of real elements.
pub fn avg_pool1d_forward<T: Float>(
    x: ArrayView3<'_, T>,
    config: Pool1dConfig,
) -> Result<Array3<T>, TensorError> {
    let (batch, channels, length) = x.dim();
    let window = config.window(length)?;
    let out = window.output_length;
    let mut output = Array3::<T>::zeros((batch, channels, out));
    Zip::from(output.lanes_mut(Axis(2)))
        .and(x.lanes(Axis(2)))
        .for_each(|mut y, row| {
            for p in 0..out {
                let span = window_span(&window, p);
                let count = T::from_usize(span.len()).unwrap_or_else(T::one);
                let sum: T = span.map(|i| row[i]).sum();
                y[p] = sum / count;
            }
        });
    Ok(output)
}

/// Average pooling backward: each window's gradient is spread evenly over
/// its real elements.
pub fn avg_pool1d_backward<T: Float>(
    grad_output: ArrayView3<'_, T>,
    input_length: usize,
    config: Pool1dConfig,
) -> Result<Array3<T>, TensorError> {
    let (batch, channels, out) = grad_output.dim();
    let window = config.window(input_length)?;
    if out != window.output_length {
        return Err(TensorError::Shape {
            kernel: "avg_pool1d_backward",
            argument: "grad_output",
            expected: vec![batch, channels, window.output_length],
            found: grad_output.shape().to_vec(),
        });
    }
    let mut grad_x = Array3::<T>::zeros((batch, channels, input_length));
    Zip::from(grad_x.lanes_mut(Axis(2)))
        .and(grad_output.lanes(Axis(2)))
        .for_each(|mut gx, gy| {
            for (p, &g) in gy.iter().enumerate() {
                let span = window_span(&window, p);
                let share = g / T::from_usize(span.len()).unwrap_or_else(T::one);
                for i in span {
                    gx[i] += share;
                }
            }
        });
    Ok(grad_x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Padding;

    #[test]
    fn same_avg_pool_divides_by_real_elements() {
        let x = Array3::from_shape_vec((1, 1, 4), vec![1.0f64, 2.0, 3.0, 4.0]).expect("shape");
        let cfg = Pool1dConfig {
            pool_size: 3,
            stride: 1,
            padding: Padding::Same,
        };
        let y = avg_pool1d_forward(x.view(), cfg).expect("fits");
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            vec![1.5, 2.0, 3.0, 3.5]
        );
        // Backward spreads each window's gradient over its real elements:
        // the first window has two, so each gets half.
        let g = avg_pool1d_backward(Array3::<f64>::from_elem((1, 1, 4), 1.0).view(), 4, cfg)
            .expect("fits");
        let third: f64 = 1.0 / 3.0;
        let want = [
            0.5 + third,
            0.5 + 2.0 * third,
            2.0 * third + 0.5,
            third + 0.5,
        ];
        for (got, want) in g.iter().zip(want) {
            assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        }
    }
}
