//! # kymo-optim
//!
//! Optimizers over (value, gradient) slices with Keras's update rules and
//! defaults — [`Adam`] (and AdamW), [`Sgd`] (momentum, Nesterov),
//! [`RmsProp`] — learning-rate [`Schedule`]s, and gradient clipping. State is
//! serializable, so checkpoints resume exactly. Of kymo's crates it uses
//! only kymo-tensor, whose thread setting and gate
//! ([`kymo_tensor::parallel::for_each_block`]) spread Adam's update over
//! threads.
//!
//! ```
//! use kymo_optim::{Adam, Optimizer, Slot};
//!
//! // Minimise (x - 3)^2 from x = 0.
//! let mut adam = Adam::new(0.1);
//! let mut x = [0.0f32];
//! for _ in 0..500 {
//!     let grad = [2.0 * (x[0] - 3.0)];
//!     adam.step(&mut [Slot { value: &mut x, grad: &grad }]).unwrap();
//! }
//! assert!((x[0] - 3.0).abs() < 1e-2);
//! ```

mod adam;
mod clip;
mod error;
mod optimizer;
mod rmsprop;
mod schedule;
mod sgd;

pub use adam::Adam;
pub use clip::{clip_by_global_norm, clip_by_norm_each, clip_by_value};
pub use error::OptimError;
pub use optimizer::{AnyOptimizer, Optimizer, Slot, SlotState};
pub use rmsprop::RmsProp;
pub use schedule::Schedule;
pub use sgd::Sgd;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every optimizer minimises a badly scaled quadratic
    /// `f(x) = Σ c_i (x_i - t_i)^2`.
    #[test]
    fn every_optimizer_minimises_a_quadratic() {
        let optimizers = [
            AnyOptimizer::Adam(Adam::new(0.05)),
            AnyOptimizer::Adam(Adam {
                weight_decay: Some(1e-4),
                ..Adam::new(0.05)
            }),
            AnyOptimizer::Sgd(Sgd {
                learning_rate: 0.02,
                ..Sgd::default()
            }),
            AnyOptimizer::Sgd(Sgd {
                learning_rate: 0.02,
                momentum: 0.9,
                ..Sgd::default()
            }),
            AnyOptimizer::Sgd(Sgd {
                learning_rate: 0.02,
                momentum: 0.9,
                nesterov: true,
                ..Sgd::default()
            }),
            AnyOptimizer::RmsProp(RmsProp {
                learning_rate: 0.01,
                ..RmsProp::default()
            }),
        ];
        let (c, t) = ([1.0f32, 10.0], [2.0f32, -1.0]);
        for mut opt in optimizers {
            let mut x = [0.0f32, 0.0];
            let start: f32 = (0..2).map(|i| c[i] * (x[i] - t[i]).powi(2)).sum();
            for _ in 0..2000 {
                let grad = [2.0 * c[0] * (x[0] - t[0]), 2.0 * c[1] * (x[1] - t[1])];
                opt.step(&mut [Slot {
                    value: &mut x,
                    grad: &grad,
                }])
                .expect("fixed slots");
            }
            let end: f32 = (0..2).map(|i| c[i] * (x[i] - t[i]).powi(2)).sum();
            assert!(end < 1e-3 * start, "{}: loss {start} -> {end}", opt.name());
        }
    }

    #[test]
    fn optimizer_specs_parse_with_keras_defaults_and_state_round_trips() {
        let mut opt: AnyOptimizer = serde_json::from_str(r#"{"Adam": {}}"#).expect("parses");
        assert_eq!(opt.learning_rate(), 1e-3);
        let mut x = [1.0f32];
        opt.step(&mut [Slot {
            value: &mut x,
            grad: &[0.3],
        }])
        .expect("one slot");
        let saved = serde_json::to_string(&opt).expect("serializes");
        let restored: AnyOptimizer = serde_json::from_str(&saved).expect("round trip");
        assert_eq!(restored, opt);
        assert_eq!(restored.iterations(), 1);
    }
}
