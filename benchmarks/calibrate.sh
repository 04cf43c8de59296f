#!/usr/bin/env bash
# The README's calibration commands, timed, into a results folder:
#   bash benchmarks/calibrate.sh benchmarks/results/<cpu>-<date> [--bf16]
# writes machine.json, host.yaml, mlp.csv, ops.csv, models.csv (and *-bf16.csv with --bf16),
# each command's output (*.txt) and times.txt (UTC start of each step). Fitting is separate.
set -euo pipefail
out="$1"; shift
bf16="${1:-}"
mkdir -p "$out"
here="$(cd "$(dirname "$0")" && pwd)"
python "$here/machine.py" > "$out/machine.json"
lscpu > "$out/lscpu.txt"
stamp() { echo "$(date -u +%H:%M:%S) $1" >> "$out/times.txt"; }
run() { local name="$1"; shift; stamp "$name"; "$@" > "$out/$name.txt" 2>&1; }
: > "$out/times.txt"
run init graphcal profiles init --host --out "$out/host.yaml" --force
run sweep-mlp graphcal sweep mlp --out "$out/mlp.csv"
run sweep-ops graphcal sweep ops --out "$out/ops.csv"
run sweep-models graphcal sweep model --grid models-default --per-op --out "$out/models.csv"
if [ "$bf16" = "--bf16" ]; then
    run sweep-mlp-bf16 graphcal sweep mlp --dtype bf16 --out "$out/mlp-bf16.csv"
    run sweep-ops-bf16 graphcal sweep ops --dtype bf16 --out "$out/ops-bf16.csv"
    run sweep-models-bf16 graphcal sweep model --grid models-default --per-op --dtype bf16 --out "$out/models-bf16.csv"
fi
stamp done
