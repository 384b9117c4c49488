//! Each transform of F(4, 3) against its matrices (Lavin and Gray's, and
//! the balanced points'), one tile at a time in f64, and the identity they
//! exist for: `Aᵀ[(G g) ⊙ (Bᵀ d)]` is the 3-tap correlation of `d` with
//! `g`.

use super::*;

/// Lavin and Gray (2016), F(4, 3), interpolation points 0, ±1, ±2, ∞.
const B_T: [[f64; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];
const G: [[f64; 3]; 6] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];
const A_T: [[f64; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// `matrix · vector`.
fn times<const R: usize, const C: usize>(matrix: &[[f64; C]; R], vector: &[f64]) -> Vec<f64> {
    matrix
        .iter()
        .map(|row| row.iter().zip(vector).map(|(a, b)| a * b).sum())
        .collect()
}

/// `matrixᵀ · vector`.
fn times_transposed<const R: usize, const C: usize>(
    matrix: &[[f64; C]; R],
    vector: &[f64],
) -> Vec<f64> {
    (0..C)
        .map(|c| (0..R).map(|r| matrix[r][c] * vector[r]).sum())
        .collect()
}

fn values(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = crate::SeededRng::new(seed, 0);
    (0..n).map(|_| rng.uniform_in(-1.0, 1.0)).collect()
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < 1e-12, "[{i}]: {g} vs {w}");
    }
}

/// Six planes of one value each, as the transforms take them.
fn planes(values: &mut [f64]) -> [&mut [f64]; POINTS] {
    let (a, rest) = values.split_at_mut(1);
    let (b, rest) = rest.split_at_mut(1);
    let (c, rest) = rest.split_at_mut(1);
    let (d, rest) = rest.split_at_mut(1);
    let (e, f) = rest.split_at_mut(1);
    [a, b, c, d, e, f]
}

/// One tile's six inputs as the input transforms take them: phase `r`
/// holds `d[r]` and `d[4 + r]` (the next tile's start).
fn one_tile_phases(d: &[f64]) -> [Vec<f64>; OUTPUTS] {
    [
        vec![d[0], d[4]],
        vec![d[1], d[5]],
        vec![d[2], 0.0],
        vec![d[3], 0.0],
    ]
}

/// Four phases of one value each, as the output transforms write them.
fn output_phases(y: &mut [f64]) -> [&mut [f64]; OUTPUTS] {
    let (y0, rest) = y.split_at_mut(1);
    let (y1, rest) = rest.split_at_mut(1);
    let (y2, y3) = rest.split_at_mut(1);
    [y0, y1, y2, y3]
}

#[test]
fn the_input_transform_is_b_transposed() {
    let d = values(1, 6);
    let phases = one_tile_phases(&d);
    let mut v = vec![0.0; POINTS];
    Points::Lavin.transform_input(phases.each_ref().map(|p| p.as_slice()), planes(&mut v));
    assert_close(&v, &times(&B_T, &d));
}

#[test]
fn the_kernel_transform_is_g_and_its_gradient_g_transposed() {
    let g = values(2, 3);
    let mut u = Vec::new();
    assert_close(
        Points::Lavin.transform_kernel(&g, 1, &mut u),
        &times(&G, &g),
    );
    let du = values(3, 6);
    let mut dg = vec![0.5; 3];
    add_kernel_gradient(&du, 1, &mut dg);
    let want: Vec<f64> = times_transposed(&G, &du).iter().map(|v| v + 0.5).collect();
    assert_close(&dg, &want);
}

#[test]
fn the_output_transform_is_a_transposed_plus_bias() {
    let mut m = values(4, 6);
    let want: Vec<f64> = times(&A_T, &m).iter().map(|v| v + 0.25).collect();
    let mut y = vec![0.0; OUTPUTS];
    Points::Lavin.transform_output(planes(&mut m), 0.25, output_phases(&mut y));
    assert_close(&y, &want);
}

#[test]
fn the_gradient_transforms_are_the_adjoints() {
    // E = A · dy.
    let dy = values(5, 4);
    let phases = [vec![dy[0]], vec![dy[1]], vec![dy[2]], vec![dy[3]]];
    let mut e = vec![0.0; POINTS];
    transform_gradient(phases.each_ref().map(|p| p.as_slice()), planes(&mut e));
    assert_close(&e, &times_transposed(&A_T, &dy));
    // dd = B · z, over one tile's 6 inputs (its last two in the next
    // tile's phases).
    let mut z = values(6, 6);
    let want = times_transposed(&B_T, &z);
    let mut rows = vec![vec![0.0; 2]; OUTPUTS];
    let [r0, r1, r2, r3] = &mut rows[..] else {
        unreachable!("four phases")
    };
    input_gradient(planes(&mut z), [r0, r1, r2, r3]);
    let dd = [
        rows[0][0], rows[1][0], rows[2][0], rows[3][0], rows[0][1], rows[1][1],
    ];
    assert_close(&dd, &want);
}

#[test]
fn the_transforms_compute_a_three_tap_correlation() {
    assert_correlates(&B_T, &G, &A_T, 7);
}

/// `Aᵀ[(G g) ⊙ (Bᵀ d)]` through `b_t`, `g_matrix` and `a_t` is the 3-tap
/// correlation of a tile `d` with a kernel `g`, drawn from `seed` and
/// `seed + 1`.
fn assert_correlates(
    b_t: &[[f64; 6]; 6],
    g_matrix: &[[f64; 3]; 6],
    a_t: &[[f64; 6]; 4],
    seed: u64,
) {
    let (d, g) = (values(seed, 6), values(seed + 1, 3));
    let u = times(g_matrix, &g);
    let v = times(b_t, &d);
    let m: Vec<f64> = u.iter().zip(&v).map(|(a, b)| a * b).collect();
    let want: Vec<f64> = (0..4)
        .map(|i| (0..3).map(|k| g[k] * d[i + k]).sum())
        .collect();
    assert_close(&times(a_t, &m), &want);
}

/// F(4, 3) through the points 0, 1, −1, 2, −1/2, ∞ (`Points::Balanced`).
const B_T_BALANCED: [[f64; 6]; 6] = [
    [2.0, 3.0, -4.0, -3.0, 2.0, 0.0],
    [0.0, 2.0, 5.0, 1.0, -2.0, 0.0],
    [0.0, 2.0, 1.0, -5.0, 2.0, 0.0],
    [0.0, -1.0, -2.0, 1.0, 2.0, 0.0],
    [0.0, -2.0, 1.0, 2.0, -1.0, 0.0],
    [0.0, 2.0, 3.0, -4.0, -3.0, 2.0],
];
const G_BALANCED: [[f64; 3]; 6] = [
    [0.5, 0.0, 0.0],
    [1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0],
    [1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0],
    [1.0 / 30.0, 1.0 / 15.0, 2.0 / 15.0],
    [16.0 / 15.0, -8.0 / 15.0, 4.0 / 15.0],
    [0.0, 0.0, 0.5],
];
const A_T_BALANCED: [[f64; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -0.5, 0.0],
    [0.0, 1.0, 1.0, 4.0, 0.25, 0.0],
    [0.0, 1.0, -1.0, 8.0, -0.125, 1.0],
];

#[test]
fn the_balanced_matrices_compute_a_three_tap_correlation() {
    for seed in [9, 20, 31] {
        assert_correlates(&B_T_BALANCED, &G_BALANCED, &A_T_BALANCED, seed);
    }
}

#[test]
fn the_balanced_transforms_are_their_matrices() {
    let d = values(12, 6);
    let phases = one_tile_phases(&d);
    let mut v = vec![0.0; POINTS];
    Points::Balanced.transform_input(phases.each_ref().map(|p| p.as_slice()), planes(&mut v));
    assert_close(&v, &times(&B_T_BALANCED, &d));
    let g = values(13, 3);
    let mut u = Vec::new();
    assert_close(
        Points::Balanced.transform_kernel(&g, 1, &mut u),
        &times(&G_BALANCED, &g),
    );
    let mut m = values(14, 6);
    let want: Vec<f64> = times(&A_T_BALANCED, &m).iter().map(|v| v - 0.75).collect();
    let mut y = vec![0.0; OUTPUTS];
    Points::Balanced.transform_output(planes(&mut m), -0.75, output_phases(&mut y));
    assert_close(&y, &want);
}
