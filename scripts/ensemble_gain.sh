#!/usr/bin/env bash
# The doctor's prescription as one network and as a seed ensemble of five,
# on a built-in regression set's test split: five disjoint ensembles
# (seeds 0-4, 5-9, ..., 20-24) against the 25 networks they are made of.
#
#   scripts/ensemble_gain.sh tablet     # or corn
#
# Needs `kymo` on PATH (cargo install --path crates/cli) and python3.
set -euo pipefail
set_name=${1:-tablet}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
kymo dataset "$set_name" --out data >/dev/null
kymo doctor original --data data/calibration.csv --target target --prescribe rx >/dev/null 2>&1
for start in 0 5 10 15 20; do
    kymo fit --model rx/model.toml --data data/calibration.csv --target target \
        --seed "$start" --ensemble 5 --out "run$start" >/dev/null 2>&1
    kymo predict "run$start" data/test.csv --target target 2>/dev/null >"ensemble$start.csv"
    for member in best best-2 best-3 best-4 best-5; do
        kymo predict "run$start/$member.kymo" data/test.csv --target target 2>/dev/null \
            >"single$start-$member.csv"
    done
done
python3 - "$set_name" <<'PY'
import csv, glob, statistics, sys
truth = [float(r["target"]) for r in csv.DictReader(open("data/test.csv"))]
def rmse(path):
    p = [float(r["prediction"]) for r in csv.DictReader(open(path))]
    return (sum((a - b) ** 2 for a, b in zip(p, truth)) / len(truth)) ** 0.5
def summary(paths):
    v = sorted(rmse(p) for p in paths)
    q = statistics.quantiles(v, n=4)
    return f"median {statistics.median(v):.4f}, IQR {q[0]:.4f}-{q[2]:.4f}, range {v[0]:.4f}-{v[-1]:.4f} ({len(v)} runs)"
print(f"{sys.argv[1]}: one network: {summary(glob.glob('single*.csv'))}")
print(f"{sys.argv[1]}: ensemble of 5: {summary(glob.glob('ensemble*.csv'))}")
PY
