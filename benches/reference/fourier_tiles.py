"""How far Fourier tiles round in float32, beside the direct GEMM.

kymo's Fourier tiles (`crates/tensor/src/conv1d/fourier/`) compute a
correlation of a K-tap kernel over tiles of n inputs (a power of two, at
least 2K) through the tile's real DFT, each complex product taken with
Gauss's three real products ("gauss") or four ("4mul"). This script builds
those matrices, simulates a 'same' convolution of ReLU-like inputs through
them in float32 (transforms, one float32 matrix product per point, the
inverse transform), and prints the max and RMS distance from float64 over
the direct float32 GEMM's, with the products per output against the direct
GEMM's K. Winograd's F(4, 3) lands 2.7-3.0x the direct GEMM's RMS distance
on these shapes (`winograd_points.py`); the DFT's points, the roots of
unity, land about where the direct GEMM does. numpy only:

    python benches/reference/fourier_tiles.py
"""
import numpy as np

def matrices(n, r, gauss=True):
    m = n - r + 1
    ks = range(1, n // 2)
    pts = 2 + (3 if gauss else 4) * (n // 2 - 1)
    bt = np.zeros((pts, n)); g = np.zeros((pts, r)); at = np.zeros((m, pts))
    nn = np.arange(n); jj = np.arange(r); ii = np.arange(m)
    # DC and Nyquist
    p = 0
    for k in (0, n // 2):
        bt[p] = np.cos(2*np.pi*k*nn/n)
        g[p] = np.cos(2*np.pi*k*jj/n) / n
        at[:, p] = np.cos(2*np.pi*k*ii/n)
        p += 1
    for k in ks:
        a = np.cos(2*np.pi*k*nn/n); b = -np.sin(2*np.pi*k*nn/n)   # X = a.x + i b.x
        c = np.cos(2*np.pi*k*jj/n) / n * 2; d = np.sin(2*np.pi*k*jj/n) / n * 2  # conj(W)=c+id
        co = np.cos(2*np.pi*k*ii/n); si = np.sin(2*np.pi*k*ii/n)
        # out += Re*co - Im*si
        if gauss:
            bt[p] = a + b; g[p] = c; at[:, p] = co - si            # k1 -> Re, Im
            bt[p+1] = a; g[p+1] = d - c; at[:, p+1] = -si            # k2 -> Im
            bt[p+2] = b; g[p+2] = c + d; at[:, p+2] = -co            # k3 -> -Re
            p += 3
        else:
            bt[p] = a; g[p] = c; at[:, p] = co       # ac -> Re
            bt[p+1] = b; g[p+1] = d; at[:, p+1] = -co  # bd -> -Re
            bt[p+2] = a; g[p+2] = d; at[:, p+2] = -si  # ad -> Im
            bt[p+3] = b; g[p+3] = c; at[:, p+3] = -si  # bc -> Im
            p += 4
    return at, g, bt, m

def check(n, r, gauss):
    at, g, bt, m = matrices(n, r, gauss)
    rng = np.random.default_rng(1)
    x = rng.normal(size=n); w = rng.normal(size=r)
    y = np.array([w @ x[i:i+r] for i in range(m)])
    z = at @ ((g @ w) * (bt @ x))
    assert np.allclose(y, z), (y, z)

def distances(n, cin, cout, kernel, gauss, length=1040, seed=0):
    at, g, bt, m = matrices(n, kernel, gauss)
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.normal(size=(cin, length)), 0.0)
    limit = np.sqrt(6 / ((cin + cout) * kernel))
    w = rng.uniform(-limit, limit, size=(cout, cin, kernel))
    left = (kernel - 1) // 2
    tiles = -(-length // m)
    xp = np.pad(x, ((0, 0), (left, tiles*m + n - length - left)))
    columns = np.stack([xp[:, k:k + length] for k in range(kernel)], axis=1).reshape(-1, length)
    exact = w.reshape(cout, -1) @ columns
    direct = w.reshape(cout, -1).astype(np.float32) @ columns.astype(np.float32)
    at32, g32, bt32 = (q.astype(np.float32) for q in (at, g, bt))
    x32 = xp.astype(np.float32)
    index = np.arange(tiles)[:, None] * m + np.arange(n)
    v = np.einsum("pn,ctn->pct", bt32, x32[:, index])
    u = np.einsum("pk,ock->poc", g32, w.astype(np.float32))
    mm = np.stack([u[p] @ v[p] for p in range(len(bt))])
    y = np.einsum("ip,pot->oti", at32, mm).reshape(cout, -1)[:, :length]
    scale = np.abs(exact).max()
    out = []
    for yy in (direct, y):
        e = yy - exact
        out.append((np.abs(e).max()/scale, np.sqrt((e**2).mean())/scale))
    return out

for n, r in ((16, 8), (16, 5), (16, 3), (8, 3), (8, 5), (32, 8), (32, 10), (64, 40), (64, 20), (32, 20)):
    for gauss in (True, False):
        check(n, r, gauss)
for cin, cout, k, n in ((64, 128, 8, 16), (128, 256, 5, 16), (128, 128, 3, 16), (128,128,3,8), (64,128,8,32), (32, 32, 40, 64), (32,32,20,32), (32,32,10,32),(32,32,10,16)):
    for gauss in (True, False):
        runs = np.array([distances(n, cin, cout, k, gauss, seed=s) for s in range(2)]).mean(axis=0)
        (dm, dr), (fm, fr) = runs
        pts = 2 + (3 if gauss else 4)*(n//2-1); m = n-k+1
        print(f"{cin}->{cout} k{k} N{n} {'gauss' if gauss else '4mul '} prod/out {pts/m:.2f} vs {k}: max {fm/dm:.2f} rms {fr/dr:.2f}")
