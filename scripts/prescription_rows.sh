#!/usr/bin/env bash
# The doctor's prescription four ways, on a built-in regression set's test
# split: one network, a seed ensemble of five, the budgeted search on
# validation (8 setups) then one network, and the search then an ensemble
# of five. For each start seed (0, 5, 10, ... : `starts` of them) it runs
#   kymo fit --ensemble 5 --search 0   (five single networks, one ensemble)
#   kymo fit --ensemble 5 --search 8   (the search, then five networks)
# and prints the test RMSE of each row: median, IQR and range over the
# networks or ensembles. The test rows are never seen by any choice.
#
#   scripts/prescription_rows.sh tablet 5     # or: corn 5
#
# Needs `kymo` on PATH (cargo install --path crates/cli) and python3.
set -euo pipefail
set_name=${1:-tablet}
starts=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
kymo dataset "$set_name" --out data >/dev/null
kymo doctor original --data data/calibration.csv --target target --prescribe rx >/dev/null 2>&1
fit() { # seed, search trials, folder
    kymo fit --model rx/model.toml --data data/calibration.csv --target target \
        --seed "$1" --ensemble 5 --search "$2" --out "$3" >/dev/null 2>&1
    kymo predict "$3" data/test.csv --target target 2>/dev/null >"$3-ensemble.csv"
    for member in best best-2 best-3 best-4 best-5; do
        kymo predict "$3/$member.kymo" data/test.csv --target target 2>/dev/null \
            >"$3-single-$member.csv"
    done
}
started=$SECONDS
for ((i = 0; i < starts; i++)); do
    fit $((5 * i)) 0 "plain$i"
    fit $((5 * i)) 8 "search$i"
    cp "search$i/search.csv" "trials$i.csv"
done
python3 - "$set_name" $((SECONDS - started)) <<'PY'
import csv, glob, statistics, sys
truth = [float(r["target"]) for r in csv.DictReader(open("data/test.csv"))]
def rmse(path):
    p = [float(r["prediction"]) for r in csv.DictReader(open(path))]
    return (sum((a - b) ** 2 for a, b in zip(p, truth)) / len(truth)) ** 0.5
def row(name, pattern):
    v = sorted(rmse(p) for p in glob.glob(pattern))
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    print(f"| {name} | {len(v)} | {statistics.median(v):.4f} [{q[0]:.4f} – {q[2]:.4f}] | {v[0]:.4f} – {v[-1]:.4f} |")
print(f"{sys.argv[1]}: test RMSE, {sys.argv[2]} s of fitting\n")
print("| prescription | runs | median [IQR] | range |\n|---|---|---|---|")
row("one network", "plain*-single-*.csv")
row("seed ensemble of 5", "plain*-ensemble.csv")
row("search (8 setups on validation), one network", "search*-single-*.csv")
row("search, then an ensemble of 5", "search*-ensemble.csv")
chosen = []
for path in sorted(glob.glob("trials*.csv")):
    for r in csv.DictReader(open(path)):
        if r["chosen"] == "true":
            chosen.append(f"width x{float(r['width']):g}, lr {float(r['learning_rate']):.2g}, wd {r['weight_decay'] or '-'}")
print("\nchosen setups:", "; ".join(chosen))
PY
