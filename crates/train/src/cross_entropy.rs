//! The three cross-entropies of Keras 3, per sample, in f64: the loss of
//! one row of predictions against one row of targets, and its gradient with
//! respect to those predictions.
//!
//! On probabilities (`from_logits = false`) they follow Keras's backend
//! formulas: probabilities clipped to `[1e-7, 1 - 1e-7]` (Keras's
//! `epsilon()`), the clipped entries passing no gradient; the categorical
//! loss first renormalizes the row to sum to 1, the sparse one renormalizes
//! after clipping. On logits they use the fused, stable forms
//! (`log_softmax`, `max(z, 0) - z t + log1p(exp(-|z|))`).
//!
//! Keras's TensorFlow backend, seeing probabilities that a softmax or
//! sigmoid layer just produced, silently takes the logits path instead;
//! the two agree until a probability falls below 1e-7. kymo computes what
//! the loss is given, as the JAX and PyTorch backends do.

/// Keras's `backend.epsilon()`.
pub(crate) const EPSILON: f64 = 1e-7;

/// Binary cross-entropy of one row, averaged over its entries (Keras's
/// `mean(axis=-1)`), with `targets` already smoothed. Writes `d loss /
/// d prediction` per entry into `grad`.
pub(crate) fn binary(
    predictions: &[f64],
    targets: &[f64],
    from_logits: bool,
    grad: &mut [f64],
) -> f64 {
    let count = predictions.len().max(1) as f64;
    let mut total = 0.0;
    for ((&p, &t), g) in predictions.iter().zip(targets).zip(grad.iter_mut()) {
        let (value, slope) = if from_logits {
            // max(z, 0) - z t + log(1 + exp(-|z|)); its derivative is
            // sigmoid(z) - t.
            let value = p.max(0.0) - p * t + (-p.abs()).exp().ln_1p();
            (value, 1.0 / (1.0 + (-p).exp()) - t)
        } else {
            let clipped = p.clamp(EPSILON, 1.0 - EPSILON);
            let value = -(t * clipped.ln() + (1.0 - t) * (1.0 - clipped).ln());
            let inside = (EPSILON..=1.0 - EPSILON).contains(&p);
            let slope = if inside {
                -(t / clipped) + (1.0 - t) / (1.0 - clipped)
            } else {
                0.0
            };
            (value, slope)
        };
        total += value;
        *g = slope / count;
    }
    total / count
}

/// The log of the sum of the exponentials of `z`, with its maximum taken
/// out first.
fn log_sum_exp(z: &[f64]) -> f64 {
    let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return top;
    }
    top + z.iter().map(|&v| (v - top).exp()).sum::<f64>().ln()
}

/// Categorical cross-entropy of one row, `-Σ t_k log q_k`, with `targets`
/// already smoothed; writes the gradient with respect to the predictions.
pub(crate) fn categorical(
    predictions: &[f64],
    targets: &[f64],
    from_logits: bool,
    grad: &mut [f64],
) -> f64 {
    let z = predictions;
    if from_logits {
        let lse = log_sum_exp(z);
        let mass: f64 = targets.iter().sum();
        let mut value = 0.0;
        for ((&zk, &tk), g) in z.iter().zip(targets).zip(grad.iter_mut()) {
            value -= tk * (zk - lse);
            *g = (zk - lse).exp() * mass - tk;
        }
        return value;
    }
    let total: f64 = z.iter().sum();
    // d loss / d q_k for the renormalized, clipped q.
    let mut value = 0.0;
    let mut dq = vec![0.0; z.len()];
    let mut weighted = 0.0;
    for ((&pk, &tk), d) in z.iter().zip(targets).zip(dq.iter_mut()) {
        let q = pk / total;
        let clipped = q.clamp(EPSILON, 1.0 - EPSILON);
        value -= tk * clipped.ln();
        if (EPSILON..=1.0 - EPSILON).contains(&q) {
            *d = -tk / clipped;
        }
        weighted += *d * q;
    }
    // q_k = p_k / Σp: d q_j / d p_i = (δ_ij - q_j) / Σp.
    for (g, &d) in grad.iter_mut().zip(&dq) {
        *g = (d - weighted) / total;
    }
    value
}

/// Sparse categorical cross-entropy of one row against class `label`;
/// writes the gradient with respect to the predictions.
pub(crate) fn sparse(
    predictions: &[f64],
    label: usize,
    from_logits: bool,
    grad: &mut [f64],
) -> f64 {
    let z = predictions;
    if from_logits {
        let lse = log_sum_exp(z);
        for (k, (&zk, g)) in z.iter().zip(grad.iter_mut()).enumerate() {
            *g = (zk - lse).exp() - f64::from(u8::from(k == label));
        }
        return lse - z[label];
    }
    // Keras: log(clip(p)) fed to a softmax, that is clip(p) renormalized.
    let clipped: Vec<f64> = z.iter().map(|&p| p.clamp(EPSILON, 1.0 - EPSILON)).collect();
    let total: f64 = clipped.iter().sum();
    for (k, ((&p, &c), g)) in z.iter().zip(&clipped).zip(grad.iter_mut()).enumerate() {
        let inside = (EPSILON..=1.0 - EPSILON).contains(&p);
        let slope = 1.0 / total - if k == label { 1.0 / c } else { 0.0 };
        *g = if inside { slope } else { 0.0 };
    }
    total.ln() - clipped[label].ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Central finite differences of `loss` at `x`, against `analytic`.
    fn check_gradient(x: &[f64], loss: impl Fn(&[f64], &mut [f64]) -> f64) -> Result<(), String> {
        let mut analytic = vec![0.0; x.len()];
        loss(x, &mut analytic);
        let mut scratch = vec![0.0; x.len()];
        for i in 0..x.len() {
            let h = 1e-6;
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss(&up, &mut scratch) - loss(&down, &mut scratch)) / (2.0 * h);
            if (numeric - analytic[i]).abs() > 1e-6 * (1.0 + numeric.abs()) {
                return Err(format!(
                    "entry {i}: analytic {} numeric {numeric}",
                    analytic[i]
                ));
            }
        }
        Ok(())
    }

    /// A probability row that sums to 1, away from the clip edges.
    fn probabilities(raw: &[f64]) -> Vec<f64> {
        let total: f64 = raw.iter().sum();
        raw.iter().map(|r| r / total).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn binary_gradients_match_finite_differences(
            row in prop::collection::vec((0.02f64..0.98, 0.0f64..=1.0), 1..5),
            smoothing in 0.0f64..0.3,
            logits in any::<bool>(),
        ) {
            let x: Vec<f64> = row.iter().map(|&(p, _)| if logits { 6.0 * p - 3.0 } else { p }).collect();
            let t: Vec<f64> = row.iter().map(|&(_, t)| t * (1.0 - smoothing) + smoothing / 2.0).collect();
            check_gradient(&x, |x, g| binary(x, &t, logits, g)).map_err(TestCaseError::fail)?;
        }

        #[test]
        fn categorical_gradients_match_finite_differences(
            raw in prop::collection::vec(0.05f64..1.0, 2..6),
            hot in 0usize..6,
            smoothing in 0.0f64..0.3,
            logits in any::<bool>(),
        ) {
            let classes = raw.len();
            let hot = hot % classes;
            let t: Vec<f64> = (0..classes)
                .map(|k| f64::from(u8::from(k == hot)) * (1.0 - smoothing) + smoothing / classes as f64)
                .collect();
            // Unnormalized probabilities exercise the renormalization too.
            let x: Vec<f64> = if logits { raw.iter().map(|r| 4.0 * r - 2.0).collect() } else { raw.clone() };
            check_gradient(&x, |x, g| categorical(x, &t, logits, g)).map_err(TestCaseError::fail)?;
        }

        #[test]
        fn sparse_gradients_match_finite_differences(
            raw in prop::collection::vec(0.05f64..1.0, 2..6),
            label in 0usize..6,
            logits in any::<bool>(),
        ) {
            let label = label % raw.len();
            let x: Vec<f64> = if logits { raw.iter().map(|r| 4.0 * r - 2.0).collect() } else { probabilities(&raw) };
            check_gradient(&x, |x, g| sparse(x, label, logits, g)).map_err(TestCaseError::fail)?;
        }

        #[test]
        fn logits_and_probabilities_agree_inside_the_clip(
            logits in prop::collection::vec(-3.0f64..3.0, 2..6),
            label in 0usize..6,
        ) {
            let label = label % logits.len();
            let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exp: Vec<f64> = logits.iter().map(|z| (z - top).exp()).collect();
            let p = probabilities(&exp);
            let t: Vec<f64> = (0..p.len()).map(|k| f64::from(u8::from(k == label))).collect();
            let mut g = vec![0.0; p.len()];
            let on_logits = categorical(&logits, &t, true, &mut g);
            let on_probabilities = categorical(&p, &t, false, &mut g);
            prop_assert!((on_logits - on_probabilities).abs() < 1e-12);
            let sparse_logits = sparse(&logits, label, true, &mut g);
            prop_assert!((sparse_logits - on_logits).abs() < 1e-12);
            prop_assert!((sparse(&p, label, false, &mut g) - on_logits).abs() < 1e-12);
        }
    }

    #[test]
    fn keras_documented_values() {
        // keras.losses.categorical_crossentropy's docstring example.
        let targets = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let predictions = [[0.9, 0.05, 0.05], [0.05, 0.89, 0.06], [0.05, 0.01, 0.94]];
        let mut g = [0.0; 3];
        for ((t, p), expected) in targets
            .iter()
            .zip(&predictions)
            .zip([0.10536, 0.11653, 0.06188])
        {
            assert!((categorical(p, t, false, &mut g) - expected).abs() < 5e-6);
        }
        // A probability of exactly 0 is clipped to 1e-7: -ln(1e-7) = 16.118.
        let value = binary(&[0.0], &[1.0], false, &mut g[..1]);
        assert!((value - 16.118_095_65).abs() < 1e-6, "{value}");
        assert_eq!(g[0], 0.0, "a clipped probability passes no gradient");
        // A large logit stays finite on the logits path.
        let value = binary(&[-800.0], &[1.0], true, &mut g[..1]);
        assert!((value - 800.0).abs() < 1e-9 && (g[0] + 1.0).abs() < 1e-12);
    }
}
