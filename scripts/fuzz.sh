#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 30), one
# after the other, with the bounds the targets must hold: no panic, no
# abort, at most 2 GiB resident and 2 GiB in one allocation, at most 10 s
# per input. New inputs go to a scratch folder; the committed seed corpus
# in fuzz/corpus/<target> is only read. Needs nightly and cargo-fuzz.
#
#   scripts/fuzz.sh          # CI's smoke: 30 s per target
#   scripts/fuzz.sh 600      # what docs/reliability.md reports
set -euo pipefail
seconds="${1:-30}"
cd "$(dirname "$0")/../fuzz"
cargo +nightly fuzz build -O
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=0
for target in $(cargo +nightly fuzz list); do
    [ -d "corpus/$target" ] || continue
    mkdir -p "$scratch/$target"
    log="$scratch/$target.log"
    if cargo +nightly fuzz run -O "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
        >"$log" 2>&1; then
        echo "$target: ok, $(grep -E '^#[0-9]+.*DONE' "$log" | tail -1)"
    else
        failed=1
        echo "$target: FAILED"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20
    fi
done
exit "$failed"
