//! Keras's weight layouts to kymo's, in one place: Conv1D kernels are
//! `(kernel_size, in, filters)` in Keras and `[filters, in, kernel_size]`
//! in kymo; Dense kernels `(in, units)` and `[units, in]`; and a Dense
//! after a Flatten reads features that Keras flattened length-major
//! (`(steps, channels)`) and kymo channel-major (`[channels, steps]`).
//! Every other weight (biases, BatchNormalization's four) has one axis and
//! the same layout.

use ndarray::{ArrayD, IxDyn};

/// How a stored weight maps onto kymo's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A Conv1D kernel.
    ConvKernel,
    /// A Dense kernel; `flattened` is the `(channels, steps)` of the
    /// Flatten before it, when there is one.
    DenseKernel {
        /// The signal the Flatten read.
        flattened: Option<(usize, usize)>,
    },
    /// Any weight whose layout is the same in both.
    Same,
}

/// The Keras array (`shape`, `values`) in kymo's layout for `role`, or a
/// sentence saying what did not fit `expected` (kymo's shape).
pub fn to_kymo(
    role: Role,
    shape: &[usize],
    values: Vec<f32>,
    expected: &[usize],
) -> Result<ArrayD<f32>, String> {
    let keras = ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|e| e.to_string())?;
    let converted = match (role, shape.len()) {
        (Role::ConvKernel, 3) => keras
            .permuted_axes(IxDyn(&[2, 1, 0]))
            .as_standard_layout()
            .into_owned(),
        (Role::DenseKernel { flattened }, 2) => {
            let (features, units) = (shape[0], shape[1]);
            match flattened {
                Some((channels, steps))
                    if channels * steps == features && channels > 1 && steps > 1 =>
                {
                    ArrayD::from_shape_fn(IxDyn(&[units, features]), |i| {
                        let (unit, feature) = (i[0], i[1]);
                        let (channel, step) = (feature / steps, feature % steps);
                        keras[[step * channels + channel, unit]]
                    })
                }
                _ => keras.reversed_axes().as_standard_layout().into_owned(),
            }
        }
        _ => keras,
    };
    if converted.shape() != expected {
        return Err(format!(
            "stored shape {shape:?} gives {:?} in kymo's layout; the layer needs {expected:?}",
            converted.shape()
        ));
    }
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_and_flattened_features_land_where_kymo_reads_them() {
        // Conv1D (k=2, in=1, out=3): value k*3 + out.
        let conv = to_kymo(
            Role::ConvKernel,
            &[2, 1, 3],
            (0..6).map(|v| v as f32).collect(),
            &[3, 1, 2],
        )
        .expect("fits");
        assert_eq!(conv[[2, 0, 1]], 5.0, "filter 2, tap 1");
        // Dense after Flatten of (steps 2, channels 3): Keras feature
        // step*3 + channel is kymo feature channel*2 + step.
        let dense = to_kymo(
            Role::DenseKernel {
                flattened: Some((3, 2)),
            },
            &[6, 1],
            (0..6).map(|v| v as f32).collect(),
            &[1, 6],
        )
        .expect("fits");
        assert_eq!(
            dense.iter().copied().collect::<Vec<_>>(),
            vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
        );
        let plain = to_kymo(
            Role::DenseKernel { flattened: None },
            &[2, 3],
            (0..6).map(|v| v as f32).collect(),
            &[3, 2],
        )
        .expect("fits");
        assert_eq!(plain[[2, 1]], 5.0);
        let error = to_kymo(Role::Same, &[4], vec![0.0; 4], &[5]).expect_err("wrong size");
        assert!(error.contains("[4]") && error.contains("[5]"), "{error}");
    }
}
