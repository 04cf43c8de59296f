#!/usr/bin/env bash
# A blind accuracy run on the machine at hand, into a results folder:
#   bash benchmarks/blind_run.sh benchmarks/results/<cpu>-<date> SEED SEED_THREADS1 [REST_MINUTES]
# 1. the README's calibration (benchmarks/calibrate.sh --bf16), then `graphcal fit` for fp32 and bf16;
# 2. the validations, right after: random MLPs (seed SEED) and the nine models at all cores,
#    MLPs at 1 thread (SEED_THREADS1), bf16 models, LLMs with generate;
# 3. REST_MINUTES (default 10) with nothing running, then the same MLPs and models timed again:
#    a host that slows under minutes of full load is then back at the speed the calibration's
#    first sweep (the MLP grid, timed from rest) saw;
# 4. the fit's own rows, the host's drift, and the models in processes of their own.
# Every timing of steps 2-4 comes after the fit and is never fitted. Each command's output is kept
# beside the populations it writes; times.txt has the UTC start of each step. Run it alone: the
# timings are only as good as the machine is quiet (it runs under chrt when it may).
set -uo pipefail
out="$1"; seed="$2"; seed1="$3"; rest_min="${4:-10}"
here="$(cd "$(dirname "$0")" && pwd)"
rt=()
if chrt -f 50 true 2>/dev/null; then rt=(chrt -f 50); fi
mkdir -p "$out"
"${rt[@]}" bash "$here/calibrate.sh" "$out" --bf16 || exit 1
cd "$out"
stamp() { echo "$(date -u +%H:%M:%S) $1" >> times.txt; }
run() { local name="$1"; shift; stamp "$name"; "${rt[@]}" "$@" > "$name.txt" 2>&1; }
quiet() { local name="$1"; shift; "$@" > "$name.txt" 2>&1; }

run fit graphcal fit mlp.csv ops.csv models.csv --base host.yaml --out host-fit.yaml
run fit-bf16 graphcal fit mlp-bf16.csv ops-bf16.csv models-bf16.csv --base host-fit.yaml \
    --out host-fit-bf16.yaml --dtype bf16
run validate python "$here/validate_accuracy.py" --hw host-fit.yaml --out-dir validation --seed "$seed" \
    --skip-families --results .
run recheck python "$here/recheck.py" mlp.csv --out-dir recheck --validation validation/mlp-validation.csv \
    --hw host-fit.yaml
run validate-threads1 python "$here/validate_accuracy.py" --hw host-fit.yaml --out-dir validation-threads1 \
    --seed "$seed1" --mlps 20 --threads 1 --skip-models --results . --mlp-population mlp-threads1
run validate-bf16 python "$here/validate_accuracy.py" --hw host-fit-bf16.yaml --out-dir validation-bf16 \
    --dtype bf16 --skip-mlps --skip-families --results . --models-population bf16-models
run validate-llm-timing python "$here/validate_llm.py" --hw host.yaml --out-dir llm --rounds 7
stamp rest
sleep $(( rest_min * 60 ))
run validate-rested python "$here/validate_accuracy.py" --hw host-fit.yaml --out-dir validation-rested \
    --seed "$seed" --skip-families --results . --mlp-population mlp-rested --models-population models-rested
run recheck-rested python "$here/recheck.py" mlp.csv --out-dir recheck-rested \
    --validation validation-rested/mlp-validation.csv --hw host-fit.yaml
stamp offline
quiet validate-llm-repredicted python "$here/validate_llm.py" --from-json llm/llm-validation.json \
    --hw host-fit.yaml --out-dir llm --results .
quiet fit-populations python "$here/fit_populations.py" . mlp.csv ops.csv models.csv --base host.yaml --dtype fp32
quiet host-drift python "$here/host_drift.py" --calibration mlp.csv ops.csv models.csv \
    --validation validation/mlp-validation.csv validation/models-validation.csv \
    validation-rested/mlp-validation.csv validation-rested/models-validation.csv --hw host-fit.yaml
run validate-fresh python "$here/validate_fresh.py" --hw host-fit.yaml --rounds 3 --results .
stamp done
