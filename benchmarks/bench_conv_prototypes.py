"""Two ways of computing the wide CNN's conv2 (32→64, 3×3, padding 1, 14×14) that the engine
does not use, timed beside the engine's own (reports/benchmarks.md, "Two more prototypes"):

- forward by Winograd F(2×2, 3×3) (Lavin & Gray, 2015): 16 products of 4×4-transformed tiles
  in place of im2col and one product with 9 taps per output;
- the input gradient as a correlation of the padded upstream gradient with the flipped kernel
  (an im2col and one product) in place of `Wᵀ @ g` and col2im's scatter.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_conv_prototypes.py [--images 32]
"""

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one worker's share of a batch, as the engine runs it

import numpy as np

from handgrad.nn.kernels import col2im, im2col, pad

C, O, H = 32, 64, 14
T = H // 2  # 2×2 output tiles per side
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)  # kernel transform


def winograd_forward(xp, U):
    """y (O, H, W, N) from the padded input xp (C, H + 2, W + 2, N) and the transformed kernel U (16, O, C)."""
    n = xp.shape[3]
    d = [xp[:, r : r + 2 * T : 2] for r in range(4)]  # row r of every 4×4 input tile: (C, T, W + 2, N)
    t = [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]]  # Bᵀ d
    V = np.empty((4, 4, C, T, T, n), np.float32)
    for a in range(4):  # (Bᵀ d) B
        e = [t[a][:, :, s : s + 2 * T : 2] for s in range(4)]
        np.subtract(e[0], e[2], out=V[a, 0])
        np.add(e[1], e[2], out=V[a, 1])
        np.subtract(e[2], e[1], out=V[a, 2])
        np.subtract(e[1], e[3], out=V[a, 3])
    M = np.matmul(U, V.reshape(16, C, -1)).reshape(4, 4, O, T, T, n)
    # Aᵀ M A with Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]: first over the rows of M, then its columns
    s = [[M[0, b] + M[1, b] + M[2, b] for b in range(4)], [M[1, b] - M[2, b] - M[3, b] for b in range(4)]]
    y = np.empty((O, T, 2, T, 2, n), np.float32)
    for i in range(2):
        y[:, :, i, :, 0] = s[i][0] + s[i][1] + s[i][2]
        y[:, :, i, :, 1] = s[i][1] - s[i][2] - s[i][3]
    return y.reshape(O, H, H, n)


def best_ms(fn, calls: int = 30) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32, help="images per call (a worker's half of a batch of 64)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    n = args.images
    rng = np.random.default_rng(0)
    W = rng.standard_normal((O, C, 3, 3), dtype=np.float32)
    xp = pad(rng.standard_normal((C, H, H, n), dtype=np.float32), 1, 1)
    g = rng.standard_normal((O, H, H, n), dtype=np.float32)
    U = np.einsum("ai,ocij,bj->abco", G, W, G).reshape(16, C, O).transpose(0, 2, 1).copy()
    flipped = np.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, -1))

    def gemm_forward():
        return (W.reshape(O, -1) @ im2col(xp, (3, 3), (1, 1), (H, H))).reshape(O, H, H, n)

    def scatter_input_gradient():
        dxp = col2im(W.reshape(O, -1).T @ g.reshape(O, -1), xp.shape, (3, 3), (1, 1), (H, H))
        return dxp[:, 1 : 1 + H, 1 : 1 + H]

    def correlation_input_gradient():
        return (flipped @ im2col(pad(g, 1, 1), (3, 3), (1, 1), (H, H))).reshape(C, H, H, n)

    for name, ours, other in (("forward: im2col + product / Winograd", gemm_forward, lambda: winograd_forward(xp, U)),
                              ("input gradient: product + col2im / correlation", scatter_input_gradient,
                               correlation_input_gradient)):
        a, b = ours(), other()
        print(f"{name}: max difference {np.abs(a - b).max():.1e} on values up to {np.abs(a).max():.0f}")
        for _ in range(args.rounds):
            print(f"  {best_ms(ours):.2f} ms / {best_ms(other):.2f} ms")


if __name__ == "__main__":
    main()
