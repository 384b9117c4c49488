"""How far Winograd's F(4, 3) over groups of 3 taps rounds in float32, for
several choices of interpolation points, beside the direct GEMM.

kymo's F(4, 3) uses Lavin and Gray's points (0, ±1, ±2, ∞) in training;
its float32 outputs land 2-3 times as far from the exact sum as the direct
GEMM's, which keeps the training forward pass of ResNet's and FCN's 5- and
8-tap kernels direct (docs/performance.md, "Float32 accuracy"). Inference
forward passes of 3-tap kernels use 0, ±1, 2, -1/2, ∞ (the largest error
about two thirds of Lavin and Gray's on the 3-tap shape). Barabasz et al.
(2020, "Error analysis and improving the accuracy of Winograd convolution
for deep neural networks") find better-conditioned points. This script
builds the Toom-Cook matrices for any 5 finite points plus ∞, simulates a
'same' convolution of ReLU-like inputs through them in float32 (transforms,
one float32 matrix product per point, the inverse transform), and prints
each point set's max and RMS distance from float64 relative to the direct
float32 GEMM's. numpy only:

    python benches/reference/winograd_points.py
"""
from fractions import Fraction

import numpy as np

OUTPUTS, TAPS = 4, 3
POINTS = OUTPUTS + TAPS - 1


def matrices(finite):
    """Aᵀ (4 x 6), G (6 x 3), Bᵀ (6 x 6) of F(4, 3) at `finite` points and ∞."""
    a = [Fraction(p) for p in finite]
    at = np.zeros((OUTPUTS, POINTS))
    g = np.zeros((POINTS, TAPS))
    for j, aj in enumerate(a):
        denominator = Fraction(1)
        for k, ak in enumerate(a):
            if k != j:
                denominator *= aj - ak
        at[:, j] = [float(aj**i) for i in range(OUTPUTS)]
        g[j] = [float(aj**k / denominator) for k in range(TAPS)]
    at[OUTPUTS - 1, POINTS - 1] = g[POINTS - 1, TAPS - 1] = 1.0
    # Bᵀ solves Σ_j Aᵀ[i, j] G[j, k] Bᵀ[j, l] = [l == i + k], a linear
    # system in Bᵀ's entries (consistent for distinct points).
    rows, rhs = [], []
    for i in range(OUTPUTS):
        for k in range(TAPS):
            for l in range(POINTS):
                row = np.zeros((POINTS, POINTS))
                row[:, l] = at[i] * g[:, k]
                rows.append(row.ravel())
                rhs.append(float(l == i + k))
    solution = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    assert np.allclose(np.array(rows) @ solution, rhs, atol=1e-9)
    return at, g, solution.reshape(POINTS, POINTS)


def distances(at, g, bt, cin, cout, kernel, length=1040, seed=0):
    """(direct, Winograd) float32 distances from float64, max and RMS,
    relative to the largest output."""
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.normal(size=(cin, length)), 0.0)
    limit = np.sqrt(6 / ((cin + cout) * kernel))
    w = rng.uniform(-limit, limit, size=(cout, cin, kernel))
    groups = -(-kernel // TAPS)
    left = (kernel - 1) // 2
    xp = np.pad(x, ((0, 0), (left, kernel - 1 - left + TAPS * groups - kernel + POINTS)))
    columns = np.stack([xp[:, k:k + length] for k in range(kernel)], axis=1).reshape(-1, length)
    exact = w.reshape(cout, -1) @ columns
    direct = w.reshape(cout, -1).astype(np.float32) @ columns.astype(np.float32)
    tiles = length // OUTPUTS
    at32, g32, bt32 = (m.astype(np.float32) for m in (at, g, bt))
    x32 = xp.astype(np.float32)
    wp = np.zeros((cout, cin, TAPS * groups), np.float32)
    wp[:, :, :kernel] = w
    v = np.zeros((POINTS, groups * cin, tiles), np.float32)
    u = np.zeros((POINTS, cout, groups * cin), np.float32)
    for group in range(groups):
        index = np.arange(tiles)[:, None] * OUTPUTS + np.arange(POINTS) + TAPS * group
        v[:, group * cin:(group + 1) * cin] = np.einsum("pn,ctn->pct", bt32, x32[:, index])
        u[:, :, group * cin:(group + 1) * cin] = np.einsum(
            "pk,ock->poc", g32, wp[:, :, TAPS * group:TAPS * (group + 1)])
    m = np.stack([u[p] @ v[p] for p in range(POINTS)])
    winograd = np.einsum("ip,pot->oti", at32, m).reshape(cout, -1)
    scale = np.abs(exact).max()
    out = []
    for y, reference in ((direct, exact), (winograd, exact[:, :tiles * OUTPUTS])):
        error = y - reference
        out.append((np.abs(error).max() / scale, np.sqrt((error**2).mean()) / scale))
    return out


SETS = {
    "0, ±1, ±2 (Lavin and Gray; training's)": [0, 1, -1, 2, -2],
    "0, ±1, ±1/2": [0, 1, -1, Fraction(1, 2), Fraction(-1, 2)],
    "0, ±1, 1/2, -2 (Barabasz et al.)": [0, 1, -1, Fraction(1, 2), -2],
    "0, ±1, 2, -1/2 (kymo's inference)": [0, 1, -1, 2, Fraction(-1, 2)],
}
SHAPES = [(64, 128, 3), (128, 256, 5), (64, 128, 8)]

print("F(4, 3) float32 distance from float64 over the direct GEMM's: max / RMS, 3 seeds")
print("points".ljust(38) + "".join(f"{cin}->{cout}, {k} taps".ljust(22) for cin, cout, k in SHAPES))
for name, finite in SETS.items():
    at, g, bt = matrices(finite)
    cells = []
    for cin, cout, kernel in SHAPES:
        runs = np.array([distances(at, g, bt, cin, cout, kernel, seed=s) for s in range(3)])
        (direct_max, direct_rms), (max_, rms) = runs.mean(axis=0)
        cells.append(f"{max_ / direct_max:.2f} / {rms / direct_rms:.2f}".ljust(22))
    print(name.ljust(38) + "".join(cells))
