//! Scatter corrections of spectra: standard normal variate (each spectrum
//! centred and scaled by its own mean and deviation) and multiplicative
//! scatter correction (each spectrum regressed on a reference spectrum, the
//! training mean, and the fit's offset and slope removed).

use crate::DataError;

/// SNV: `(x - mean(x)) / std(x)` over one spectrum (population deviation).
/// A flat spectrum is only centred, since it has no scale to remove.
pub fn snv(signal: &[f32], out: &mut [f32]) {
    let n = signal.len().max(1) as f64;
    let mean = signal.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = signal
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let scale = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
    for (o, &v) in out.iter_mut().zip(signal) {
        *o = ((f64::from(v) - mean) / scale) as f32;
    }
}

/// MSC against `reference`: fits `x = a + b * reference` by least squares
/// and returns `(x - a) / b`. `row` names the sample in the error raised
/// when the slope is not usable (a spectrum unrelated to the reference).
pub fn msc(
    signal: &[f32],
    reference: &[f32],
    out: &mut [f32],
    row: usize,
) -> Result<(), DataError> {
    let n = signal.len().max(1) as f64;
    let mean_x = signal.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let mean_r = reference.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (mut cov, mut var) = (0.0f64, 0.0f64);
    for (&x, &r) in signal.iter().zip(reference) {
        let dr = f64::from(r) - mean_r;
        cov += dr * (f64::from(x) - mean_x);
        var += dr * dr;
    }
    let slope = if var > 0.0 { cov / var } else { 0.0 };
    if !slope.is_finite() || slope.abs() < 1e-9 {
        return Err(DataError::Shape(format!(
            "MSC: sample {row} has slope {slope:e} on the reference spectrum; scatter correction needs spectra that follow the reference"
        )));
    }
    let offset = mean_x - slope * mean_r;
    for (o, &x) in out.iter_mut().zip(signal) {
        *o = ((f64::from(x) - offset) / slope) as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snv_gives_zero_mean_and_unit_deviation_and_centres_a_flat_spectrum() {
        let x = [1.0f32, 2.0, 4.0, 8.0, 3.0];
        let mut out = [0.0f32; 5];
        snv(&x, &mut out);
        let mean: f32 = out.iter().sum::<f32>() / 5.0;
        let var: f32 = out.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 5.0;
        assert!(
            mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
            "{mean} {var}"
        );
        snv(&[2.0; 5], &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn msc_removes_an_offset_and_a_gain_exactly() {
        let reference = [0.1f32, 0.5, 0.9, 0.4, 0.2, 0.7];
        let scattered: Vec<f32> = reference.iter().map(|r| 0.3 + 1.7 * r).collect();
        let mut out = [0.0f32; 6];
        msc(&scattered, &reference, &mut out, 1).expect("follows the reference");
        for (o, r) in out.iter().zip(&reference) {
            assert!((o - r).abs() < 1e-5, "{o} vs {r}");
        }
        let error = msc(&[1.0; 6], &reference, &mut out, 7)
            .unwrap_err()
            .to_string();
        assert!(error.contains("sample 7"), "{error}");
    }
}
