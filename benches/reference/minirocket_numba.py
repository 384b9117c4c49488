"""sktime's numba MiniRocket (the reference implementation's port) timed
on the signals `cargo xtask bench-minirocket` wrote, for its side-by-side
table. Prints one JSON line: fit and transform seconds (best of
--repeats), after a warm-up that compiles numba's functions.

pip install sktime numba
"""
import argparse
import json
import time

import numba
import numpy as np
from sktime.transformations.rocket import MiniRocket, MiniRocketMultivariate


def best_of(repeats, work):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", required=True, help=".npy file, [N, C, L] float32")
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    signals = np.load(args.signals).astype(np.float32)
    kind = MiniRocket if signals.shape[1] == 1 else MiniRocketMultivariate

    def fitted():
        return kind(num_kernels=args.features, n_jobs=args.threads, random_state=0).fit(signals)

    # Warm-up: numba compiles (or loads from its cache) on first use.
    fitted().transform(signals[:4])
    fit_seconds = best_of(args.repeats, fitted)
    model = fitted()
    transform_seconds = best_of(args.repeats, lambda: model.transform(signals))
    print(
        json.dumps(
            {
                "framework": "sktime-numba",
                "fit_seconds": fit_seconds,
                "transform_seconds": transform_seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
