//! Keras's weight constraints (`kernel_constraint`, `bias_constraint`):
//! projections applied to a weight after every optimizer step, as Keras's
//! optimizer assigns `constraint(variable)` once it has applied the
//! gradients.
//!
//! A constraint's `axis` names the axes of the weight *in Keras's layout*
//! (a Conv1D kernel `(taps, in, out)`, a Dense kernel `(in, out)`), the
//! axes its norms are taken over. A layer maps it onto its own layout when
//! it builds the weight ([`Constraint::in_layout`]), so that a spec says
//! what the Keras file said and the projection reduces the same elements.

use kymo_tensor::Float;
use ndarray::{ArrayD, Dimension};
use serde::{Deserialize, Serialize};

/// Keras's `backend.epsilon()`, which the norm constraints add to a norm
/// before dividing by it.
const KERAS_EPSILON: f64 = 1e-7;

/// One of Keras's built-in weight constraints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "class", deny_unknown_fields)]
pub enum Constraint {
    /// `MaxNorm(max_value, axis)`: each slice's L2 norm over `axis` at
    /// most `max_value`.
    MaxNorm {
        /// The largest norm (Keras's default 2).
        max_value: f64,
        /// The axes the norm is taken over (Keras's default `[0]`).
        axis: Vec<i64>,
    },
    /// `NonNeg()`: negative elements set to zero.
    NonNeg,
    /// `UnitNorm(axis)`: each slice scaled to unit norm over `axis`.
    UnitNorm {
        /// The axes the norm is taken over (Keras's default `[0]`).
        axis: Vec<i64>,
    },
    /// `MinMaxNorm(min_value, max_value, rate, axis)`: each slice's norm
    /// moved `rate` of the way into `[min_value, max_value]`.
    MinMaxNorm {
        /// The smallest norm (Keras's default 0).
        min_value: f64,
        /// The largest norm (Keras's default 1).
        max_value: f64,
        /// How far towards the interval each step moves the norm (1: all
        /// the way).
        rate: f64,
        /// The axes the norm is taken over (Keras's default `[0]`).
        axis: Vec<i64>,
    },
}

impl Constraint {
    /// The axes the constraint's norms are taken over (none for `NonNeg`).
    fn axis(&self) -> &[i64] {
        match self {
            Constraint::MaxNorm { axis, .. }
            | Constraint::UnitNorm { axis }
            | Constraint::MinMaxNorm { axis, .. } => axis,
            Constraint::NonNeg => &[],
        }
    }

    /// The same constraint for a weight whose Keras axis `a` is axis
    /// `keras_to_own[a]` of its own layout (a negative axis counts from
    /// the end, as Keras counts it). An axis the weight does not have is
    /// an error naming it.
    pub fn in_layout(&self, keras_to_own: &[usize]) -> Result<Self, String> {
        let rank = keras_to_own.len() as i64;
        let mut own = Vec::with_capacity(self.axis().len());
        for &axis in self.axis() {
            let from_start = if axis < 0 { axis + rank } else { axis };
            if !(0..rank).contains(&from_start) {
                return Err(format!(
                    "axis {axis} is not an axis of a weight of {rank} axes"
                ));
            }
            own.push(keras_to_own[from_start as usize] as i64);
        }
        let mut mapped = self.clone();
        match &mut mapped {
            Constraint::MaxNorm { axis, .. }
            | Constraint::UnitNorm { axis }
            | Constraint::MinMaxNorm { axis, .. } => *axis = own,
            Constraint::NonNeg => {}
        }
        Ok(mapped)
    }

    /// Projects `value` in place, its axes already those of
    /// [`Constraint::in_layout`]. Norms are summed in f64 and the scale
    /// applied in `T`, as Keras's `w * (desired / (epsilon + norms))`.
    pub fn project<T: Float>(&self, value: &mut ArrayD<T>) {
        if let Constraint::NonNeg = self {
            value.mapv_inplace(|w| if w < T::zero() { T::zero() } else { w });
            return;
        }
        // Each element's slice is found from its index, so the step that
        // projects a weight allocates only one norm per slice.
        let slices = Slices::of(value.shape(), self.axis());
        let mut squares = vec![0.0f64; slices.count];
        for (index, w) in value.indexed_iter() {
            let w = w.to_f64_lossless();
            squares[slices.of_index(index.slice())] += w * w;
        }
        let scales: Vec<T> = squares
            .into_iter()
            .map(|square| {
                let norm = square.sqrt();
                T::from_f64_lossy(self.desired(norm) / (KERAS_EPSILON + norm))
            })
            .collect();
        for (index, w) in value.indexed_iter_mut() {
            *w *= scales[slices.of_index(index.slice())];
        }
    }

    /// The norm a slice of norm `norm` is scaled to.
    fn desired(&self, norm: f64) -> f64 {
        match *self {
            Constraint::MaxNorm { max_value, .. } => norm.clamp(0.0, max_value),
            Constraint::UnitNorm { .. } => 1.0,
            Constraint::MinMaxNorm {
                min_value,
                max_value,
                rate,
                ..
            } => rate * norm.clamp(min_value, max_value) + (1.0 - rate) * norm,
            Constraint::NonNeg => norm,
        }
    }
}

/// The slices a norm constraint takes its norms over: one per position on
/// the axes it does not reduce.
struct Slices {
    /// The size of each axis, 1 for a reduced one (every index on it
    /// belongs to the same slice).
    kept_sizes: Vec<usize>,
    /// How many slices there are.
    count: usize,
}

impl Slices {
    /// The slices of an array of `shape` whose norms are taken over the
    /// axes `reduced`.
    fn of(shape: &[usize], reduced: &[i64]) -> Self {
        let kept_sizes: Vec<usize> = shape
            .iter()
            .enumerate()
            .map(|(axis, &n)| {
                if reduced.contains(&(axis as i64)) {
                    1
                } else {
                    n
                }
            })
            .collect();
        let count = kept_sizes.iter().product();
        Self { kept_sizes, count }
    }

    /// The slice of the element at `index`: its row-major position over
    /// the kept axes.
    fn of_index(&self, index: &[usize]) -> usize {
        index.iter().zip(&self.kept_sizes).fold(
            0,
            |slice, (&i, &n)| if n == 1 { slice } else { slice * n + i },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn max_norm_scales_each_slice_over_its_axes_and_leaves_small_ones_nearly_alone() {
        // A Dense kernel in kymo's layout [units = 2, inputs = 2]; Keras's
        // axis 0 is the inputs, kymo's axis 1: one norm per unit.
        let keras = Constraint::MaxNorm {
            max_value: 1.0,
            axis: vec![0],
        };
        let own = keras.in_layout(&[1, 0]).expect("a two-axis weight");
        assert_eq!(
            own,
            Constraint::MaxNorm {
                max_value: 1.0,
                axis: vec![1]
            }
        );
        let mut w =
            ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![3.0f32, 4.0, 0.3, 0.4]).expect("2x2");
        own.project(&mut w);
        // Unit 0's norm 5 comes down to 1; unit 1's 0.5 stays, but for
        // Keras's epsilon: 0.5 / (0.5 + 1e-7).
        assert!((w[[0, 0]] - 0.6).abs() < 1e-6 && (w[[0, 1]] - 0.8).abs() < 1e-6);
        let kept = 0.5 / (0.5 + 1e-7);
        assert!((f64::from(w[[1, 0]]) - 0.3 * kept).abs() < 1e-7);
    }

    #[test]
    fn unit_norm_min_max_norm_and_non_neg_project_as_keras_defines_them() {
        let mut w = ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![3.0f32, -4.0]).expect("1x2");
        let unit = Constraint::UnitNorm { axis: vec![1] };
        unit.project(&mut w);
        let norm = (f64::from(w[[0, 0]]).powi(2) + f64::from(w[[0, 1]]).powi(2)).sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
        let half_way = Constraint::MinMaxNorm {
            min_value: 2.0,
            max_value: 3.0,
            rate: 0.5,
            axis: vec![1],
        };
        half_way.project(&mut w);
        // From norm 1, half the way to 2: 1.5.
        let norm = (f64::from(w[[0, 0]]).powi(2) + f64::from(w[[0, 1]]).powi(2)).sqrt();
        assert!((norm - 1.5).abs() < 1e-6, "{norm}");
        Constraint::NonNeg.project(&mut w);
        assert!(w[[0, 0]] > 0.0 && w[[0, 1]] == 0.0);
    }

    #[test]
    fn a_spec_with_constraints_survives_its_own_toml() {
        let text = r#"
            input = { channels = 1, length = 16 }
            [[layers]]
            type = "Conv1D"
            filters = 2
            kernel_size = 3
            kernel_constraint = { class = "MaxNorm", max_value = 3.0, axis = [0, 1] }
            bias_constraint = { class = "NonNeg" }
            [[layers]]
            type = "Flatten"
            [[layers]]
            type = "Dense"
            units = 1
            kernel_constraint = { class = "MinMaxNorm", min_value = 0.0, max_value = 1.0, rate = 1.0, axis = [0] }
        "#;
        let spec = crate::ModelSpec::from_toml_str(text).expect("a valid spec");
        let constraints: Vec<_> = spec
            .layers
            .iter()
            .flat_map(crate::LayerSpec::constraints)
            .flatten()
            .collect();
        assert_eq!(constraints.len(), 3);
        let again =
            crate::ModelSpec::from_toml_str(&spec.to_toml().expect("writes")).expect("reads");
        assert_eq!(again, spec);
    }

    #[test]
    fn an_axis_the_weight_lacks_is_named() {
        let bad = Constraint::UnitNorm { axis: vec![3] };
        let error = bad.in_layout(&[2, 1, 0]).expect_err("a kernel has 3 axes");
        assert!(error.contains("axis 3"), "{error}");
        // -1 is the last axis: a Conv1D kernel's filters, kymo's axis 0.
        let last = Constraint::UnitNorm { axis: vec![-1] };
        assert_eq!(
            last.in_layout(&[2, 1, 0]).expect("valid"),
            Constraint::UnitNorm { axis: vec![0] }
        );
    }
}
