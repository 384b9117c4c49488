//! Helpers shared by the parity tests: fixture JSON to arrays, and the
//! closeness check with its floor.

use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

fn flat(value: &Value, out: &mut Vec<f64>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flat(v, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap_or(f64::NAN)),
        _ => {}
    }
}

fn shape(value: &Value) -> Vec<usize> {
    match value {
        Value::Array(items) => {
            let mut s = vec![items.len()];
            if let Some(first) = items.first() {
                s.extend(shape(first));
            }
            s
        }
        _ => vec![],
    }
}

/// A nested JSON list as an f32 array.
pub fn array(value: &Value) -> ArrayD<f32> {
    array64(value).mapv(|v| v as f32)
}

/// A nested JSON list as an f64 array.
pub fn array64(value: &Value) -> ArrayD<f64> {
    let mut data = Vec::new();
    flat(value, &mut data);
    ArrayD::from_shape_vec(IxDyn(&shape(value)), data).expect("fixture arrays are rectangular")
}

/// Relative error is measured against the element, but never against less
/// than a tenth of the tensor's largest magnitude: a gradient element that is
/// a sum of terms of that size cancelling to near zero carries their f32
/// rounding (a few 1e-8 of the terms), which is no semantic difference.
pub const FLOOR: f32 = 0.1;

/// Asserts `got` is within `rtol` of `want` (relative, floored at
/// `FLOOR` times the tensor's largest magnitude) and names `peer` on failure.
pub fn assert_close(peer: &str, what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>, rtol: f32) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    if std::env::var("KYMO_PARITY_REPORT").is_ok() {
        let worst = got
            .iter()
            .zip(want.iter())
            .map(|(g, w)| (g - w).abs() / (w.abs().max(g.abs()) + FLOOR * scale))
            .fold(0.0f32, f32::max);
        eprintln!("{what}: worst relative difference {worst:.2e}");
        return;
    }
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        let tolerance = rtol * (w.abs().max(g.abs()) + FLOOR * scale);
        assert!(
            (g - w).abs() <= tolerance,
            "{what}[{i}]: kymo {g}, {peer} {w} (tolerance {tolerance})"
        );
    }
}
