//! The overlap-save transforms against a naive DFT, and the tiling's
//! arithmetic, in f64.

use super::*;

fn values(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = crate::SeededRng::new(seed, 0);
    (0..n).map(|_| rng.uniform_in(-1.0, 1.0)).collect()
}

/// `X[k] = Σ_u x[u] e^{-2πi k u / n}` for the first `n / 2 + 1` bins.
fn naive_dft(x: &[f64]) -> Vec<Complex<f64>> {
    let n = x.len();
    (0..=n / 2)
        .map(|k| {
            x.iter()
                .enumerate()
                .fold(Complex::new(0.0, 0.0), |sum, (u, &v)| {
                    let angle = -2.0 * std::f64::consts::PI * (k * u) as f64 / n as f64;
                    sum + Complex::new(v * angle.cos(), v * angle.sin())
                })
        })
        .collect()
}

#[test]
fn tile_spectra_are_the_dft_of_each_zero_padded_tile() {
    let (length, size, n) = (37, 6, 16);
    let tiling = Tiling::with(n, size, length);
    let data = values(1, 2 * length); // two rows of one sample
    let mut workspace = SpectralWorkspace::<f64>::default();
    let plans = workspace.plans(n);
    let mut spectra = vec![Complex::new(0.0, 0.0); 2 * tiling.tiles * tiling.bins];
    // Tiles start one point before the row (a lead of -1), as `same`
    // padding makes them, and take `n - 1` points each.
    let (lead, take) = (-1isize, n - 1);
    transform_tiles(
        &plans,
        tiling,
        (&data, 1, 2, length),
        lead,
        take,
        &mut spectra,
    );
    for row in 0..2 {
        for j in 0..tiling.tiles {
            let mut tile = vec![0.0; n];
            for (u, point) in tile.iter_mut().enumerate().take(take) {
                let at = (j * tiling.m) as isize + lead + u as isize;
                if (0..length as isize).contains(&at) {
                    *point = data[row * length + at as usize];
                }
            }
            let want = naive_dft(&tile);
            let got = &spectra[(row * tiling.tiles + j) * tiling.bins..][..tiling.bins];
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).norm() < 1e-12,
                    "row {row} tile {j} bin {k}: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn the_inverse_undoes_the_forward_up_to_n() {
    let n = 32;
    let x = values(2, n);
    let mut workspace = SpectralWorkspace::<f64>::default();
    let plans = workspace.plans(n);
    let spectrum = naive_dft(&x);
    let mut scratch = InverseScratch::new(&plans, n / 2 + 1);
    let points = scratch.invert(&plans, &spectrum, 1, 0);
    for (i, (p, v)) in points.iter().zip(&x).enumerate() {
        assert!((p / n as f64 - v).abs() < 1e-12, "[{i}]");
    }
}

#[test]
fn the_tiling_covers_every_output_with_a_power_of_two() {
    for (size, outputs, batch) in [(40, 1040, 1), (70, 1040, 32), (16, 20, 4), (100, 1040, 1)] {
        let t = Tiling::new(size, outputs, batch);
        assert!(t.n.is_power_of_two() && t.n >= 2 * size, "{t:?}");
        assert_eq!(t.m, t.n - size + 1);
        assert!(
            t.tiles * t.m >= outputs && (t.tiles - 1) * t.m < outputs,
            "{t:?}"
        );
        assert_eq!(t.bins, t.n / 2 + 1);
    }
}
