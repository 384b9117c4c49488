#!/usr/bin/env bash
# The cluster path of docs/cluster.md, run for real on this machine:
#   1. installs Slurm and MUNGE from Debian's packages (if absent) and starts
#      a one-node cluster (munged, slurmctld, slurmd; a node with 2 CPUs);
#   2. runs the experiment unsharded, as the reference;
#   3. submits the array job of docs/cluster.md (3 shards), waits, merges
#      with `cargo xtask report` and checks that summary.csv equals the
#      reference column for column (wall time aside);
#   4. submits it again into a fresh folder, kills one shard with SIGKILL
#      mid-run, resubmits that shard, merges, and checks that finished runs
#      were skipped, the interrupted one resumed, and the summary is again
#      the reference's.
# Needs root (it installs packages and starts daemons). CI runs it when
# KYMO_SLURM=1. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
# A small experiment: the quick profile with 2 seeds, 3 epochs, 160 samples.
experiment_args=(--seeds 2 --epochs 3 --samples 160)
shards=3

say() { printf '== slurm-smoke: %s\n' "$*"; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y slurm-wlm munge >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y slurm-wlm munge >/dev/null; }
fi

work="$(mktemp -d /tmp/kymo-slurm.XXXXXX)"
host="$(hostname -s)"
conf="$work/slurm.conf"
mkdir -p "$work/state" "$work/spool" "$work/log" "$work/munge"
cleanup() {
    set +e
    scancel --full --signal=KILL --user=root >/dev/null 2>&1
    [ -f "$work/slurmd.pid" ] && kill "$(cat "$work/slurmd.pid")" 2>/dev/null
    [ -f "$work/slurmctld.pid" ] && kill "$(cat "$work/slurmctld.pid")" 2>/dev/null
    [ -f "$work/munge/munged.pid" ] && kill "$(cat "$work/munge/munged.pid")" 2>/dev/null
    sleep 1
}
trap cleanup EXIT

say "starting munged"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" \
    --socket="$work/munge/munge.socket" --pid-file="$work/munge/munged.pid" \
    --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed"

cat >"$conf" <<EOF
ClusterName=kymo
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$conf"

say "starting slurmctld and slurmd"
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 60); do
    sinfo -h -o '%T' 2>/dev/null | grep -qE '^idle' && break
    sleep 1
done
sinfo

say "building xtask once (the array tasks then only run it)"
cargo build --release --quiet -p xtask

say "reference: the unsharded experiment"
cargo xtask experiment "${experiment_args[@]}" --jobs 1 --out "$work/whole" >"$work/whole.log" 2>&1

# docs/cluster.md's array script, with this smoke's experiment and folder.
job_script="$work/array.sh"
cat >"$job_script" <<EOF
#!/bin/bash
#SBATCH --job-name=kymo-smoke
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
set -euo pipefail
cd "$repo"
# The shard count is fixed, not SLURM_ARRAY_TASK_COUNT: a task resubmitted
# alone (--array=0) sees a count of 1 and would run every shard's runs.
SHARDS=$shards
cargo xtask experiment ${experiment_args[*]} --jobs 1 \\
    --shard "\${SLURM_ARRAY_TASK_ID}/\${SHARDS}" \\
    --out "\$KYMO_OUT"
EOF

without_timings() { # summary.csv without its `seconds` column
    python3 - "$1" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
keep = [i for i, name in enumerate(rows[0]) if name != "seconds"]
for row in rows:
    print(",".join(row[i] for i in keep))
PY
}

same_summary() {
    if diff <(without_timings "$work/whole/summary.csv") <(without_timings "$1/summary.csv"); then
        say "summary.csv of $1 equals the unsharded one, column for column (timings aside)"
    else
        say "FAILED: summary.csv of $1 differs from the unsharded one"
        exit 1
    fi
}

say "array job: $shards shards"
KYMO_OUT="$work/sharded" sbatch --wait --export=ALL,KYMO_OUT="$work/sharded" \
    --array=0-$((shards - 1)) --output="$work/log/sharded-%a.out" "$job_script"
cargo xtask report "$work/sharded" >/dev/null
same_summary "$work/sharded"

say "array job again; shard 0 is killed mid-run with SIGKILL"
job=$(sbatch --parsable --export=ALL,KYMO_OUT="$work/killed" \
    --array=0-$((shards - 1)) --output="$work/log/killed-%a.out" "$job_script")
# Shard 0's first run is the first variant at seed 0 (seed-major order):
# kill once that run has saved an epoch's state.
first=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["variants"][0]["name"])' "$work/whole/config.toml")
for _ in $(seq 3000); do
    ls "$work/killed/runs/$first"/seed0-*.backup/state.kymo >/dev/null 2>&1 && break
    sleep 0.2
done
scancel --full --signal=KILL "${job}_0"
say "killed ${job}_0 after $(ls -d "$work/killed/runs/$first"/seed0-*.backup | xargs -n1 basename)"
# Wait for the other shards to finish.
while squeue -h -j "$job" 2>/dev/null | grep -q .; do sleep 1; done
sbatch --wait --export=ALL,KYMO_OUT="$work/killed" --array=0 \
    --output="$work/log/resubmitted-%a.out" "$job_script"
grep -E 'already done|resuming after epoch' "$work/log/resubmitted-0.out" | sed 's/^/   /'
grep -q 'resuming after epoch' "$work/log/resubmitted-0.out" ||
    { say "FAILED: the resubmitted shard did not resume its interrupted run"; exit 1; }
cargo xtask report "$work/killed" >/dev/null
same_summary "$work/killed"
say "ok (logs and results in $work)"
