//! Gradient clipping by global norm, by each gradient's own norm and by
//! value (Keras's `global_clipnorm`, `clipnorm` and `clipvalue`; PyTorch's
//! `clip_grad_norm_` and `clip_grad_value_`).

/// Scales every gradient by `max_norm / norm` when their joint L2 norm
/// exceeds `max_norm`. Returns the norm before clipping.
pub fn clip_by_global_norm(grads: &mut [&mut [f32]], max_norm: f64) -> f64 {
    let norm = grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm > max_norm && norm > 0.0 {
        let scale = (max_norm / norm) as f32;
        for g in grads.iter_mut() {
            g.iter_mut().for_each(|x| *x *= scale);
        }
    }
    norm
}

/// Scales each gradient on its own by `max_norm / norm` when its own L2
/// norm exceeds `max_norm` (Keras's `clipnorm`: one weight tensor at a
/// time, where `global_clipnorm` takes them together).
pub fn clip_by_norm_each(grads: &mut [&mut [f32]], max_norm: f64) {
    for g in grads.iter_mut() {
        clip_by_global_norm(&mut [&mut **g], max_norm);
    }
}

/// Clamps every gradient element to `[-limit, limit]`.
pub fn clip_by_value(grads: &mut [&mut [f32]], limit: f32) {
    for g in grads.iter_mut() {
        g.iter_mut().for_each(|x| *x = x.clamp(-limit, limit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_norm_scales_all_gradients_together() {
        let (mut a, mut b) = (vec![3.0f32], vec![4.0f32]);
        let norm = clip_by_global_norm(&mut [&mut a, &mut b], 1.0);
        assert_eq!(norm, 5.0);
        assert!((a[0] - 0.6).abs() < 1e-7 && (b[0] - 0.8).abs() < 1e-7);
        let norm = clip_by_global_norm(&mut [&mut a, &mut b], 2.0);
        assert!(
            (norm - 1.0).abs() < 1e-6 && (a[0] - 0.6).abs() < 1e-7,
            "under the limit: unchanged"
        );
    }

    #[test]
    fn norm_clipping_scales_each_gradient_by_its_own_norm() {
        let (mut a, mut b) = (vec![3.0f32, 4.0], vec![0.3f32, 0.4]);
        clip_by_norm_each(&mut [&mut a, &mut b], 1.0);
        // a's norm 5 comes down to 1; b's 0.5 is under the limit and stays.
        assert!((a[0] - 0.6).abs() < 1e-7 && (a[1] - 0.8).abs() < 1e-7);
        assert_eq!(b, vec![0.3, 0.4]);
    }

    #[test]
    fn value_clipping_clamps_each_element() {
        let mut g = vec![-3.0f32, 0.5, 9.0];
        clip_by_value(&mut [&mut g], 1.0);
        assert_eq!(g, vec![-1.0, 0.5, 1.0]);
    }
}
