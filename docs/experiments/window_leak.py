"""What a shuffled split of overlapping windows does to validation.

Recordings of three kinds (classes) are cut into windows of 64 points, 8
apart, as activity, ECG or vibration data are. Each recording's kind sets
its frequency, but every recording (a subject, a machine) has its own
frequency jitter, harmonic and noise, so the kinds overlap across
recordings while windows of one recording look alike. The training file
holds 20 recordings of each kind, its rows shuffled as scikit-learn's
`train_test_split` leaves them; the test file holds 10 new recordings of
each kind.

`kymo fit` trains FCN on the training file with `--split shuffled` (a
seeded random 20% of rows validates: windows of the training recordings,
the leak) and with `--split blocked` (kymo's default for such rows: the
last 20% of each class in recording order, which kymo recovers from the
windows' shared points, with the training windows that share points with
them dropped), over seeds, and reports the validation and test accuracy of
the best checkpoint. Run from the repository root:

    cargo build --release -p kymo-cli
    python docs/experiments/window_leak.py [--seeds 3] [--kymo target/release/kymo]

Needs numpy. Prints the Markdown table in docs/experiments/window_leak.md.
"""

import argparse
import re
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np

LENGTH, STEP, POINTS = 64, 8, 400
KINDS = {"a": 0.040, "b": 0.055, "c": 0.070}


def one_recording(frequency: float, rng: np.random.Generator) -> np.ndarray:
    """A recording of one kind: its own frequency jitter, harmonic, phase
    and noise level."""
    t = np.arange(POINTS)
    f = frequency + rng.uniform(-0.012, 0.012)
    harmonic = rng.uniform(0.0, 0.8)
    phase = rng.uniform(0, 2 * np.pi)
    noise = rng.uniform(0.2, 0.6) * rng.normal(size=POINTS)
    signal = np.sin(2 * np.pi * f * t + phase) + harmonic * np.sin(4 * np.pi * f * t + 2 * phase) + noise
    return signal.astype(np.float32)


def windows(recordings: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, list[str]]:
    rows, labels = [], []
    for label, signal in recordings:
        for start in range(0, POINTS - LENGTH + 1, STEP):
            rows.append(signal[start : start + LENGTH])
            labels.append(label)
    return np.stack(rows), labels


def write_csv(path: Path, x: np.ndarray, labels: list[str]) -> None:
    with path.open("w") as f:
        f.write("kind," + ",".join(f"p{i}" for i in range(LENGTH)) + "\n")
        for row, label in zip(x, labels):
            # repr of the float32 value: reads back to the same bits.
            f.write(label + "," + ",".join(repr(float(v)) for v in row) + "\n")


def fit(kymo: str, folder: Path, split: str, seed: int) -> tuple[float, float]:
    out = subprocess.run(
        [kymo, "fit", "--model", "fcn", "--classes", "--data", str(folder / "train.csv"),
         "--target", "kind", "--test", str(folder / "test.csv"), "--split", split,
         "--seed", str(seed), "--out", str(folder / f"run-{split}-{seed}")],
        check=True, capture_output=True, text=True,
    ).stdout
    figures = [float(v) for v in re.findall(r"(?<!balanced )accuracy ([0-9.]+)", out)]
    if len(figures) < 2:
        raise SystemExit(f"no validation and test accuracy in:\n{out}")
    return figures[0], figures[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--kymo", default="target/release/kymo")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    train = [(k, one_recording(f, rng)) for _ in range(20) for k, f in KINDS.items()]
    test = [(k, one_recording(f, rng)) for _ in range(10) for k, f in KINDS.items()]
    x, labels = windows(train)
    order = np.random.default_rng(0).permutation(len(labels))
    x_test, labels_test = windows(test)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_csv(folder / "train.csv", x[order], [labels[i] for i in order])
        write_csv(folder / "test.csv", x_test, labels_test)
        print(f"{len(labels)} training windows from {len(train)} recordings (shuffled), "
              f"{len(labels_test)} test windows from {len(test)} new recordings; "
              f"seeds 0..{args.seeds - 1}; median [min, max] accuracy\n")
        print("| split | validation accuracy | test accuracy (new recordings) | validation - test |")
        print("|---|---|---|---|")
        for split in ["shuffled", "blocked"]:
            runs = [fit(args.kymo, folder, split, seed) for seed in range(args.seeds)]
            val = [v for v, _ in runs]
            test_accuracy = [t for _, t in runs]
            gap = [v - t for v, t in runs]
            cell = lambda xs: f"{statistics.median(xs):.3f} [{min(xs):.3f}, {max(xs):.3f}]"
            print(f"| `{split}` | {cell(val)} | {cell(test_accuracy)} | {cell(gap)} |")


if __name__ == "__main__":
    main()
