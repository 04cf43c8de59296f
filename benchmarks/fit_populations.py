"""The fit's own error, row by row, as results populations: fit-train (the training rows, predicted
by the fit on them) and fit-holdout (the rows it held out, whole workloads, predicted by that
same fit). The same calibration `graphcal fit` runs, with its defaults.

    python benchmarks/fit_populations.py RESULTS_DIR mlp.csv ops.csv models.csv --base host.yaml [--dtype fp32]

Writes RESULTS_DIR/populations/fit-train.csv and fit-holdout.csv (case, measured, predicted) and
prints both MAPEs with the CPU. Sweep and base paths are relative to RESULTS_DIR.

Then the floor of the train MAPE that no model of the calls can go below: rows that time the
very same call (the same ops on the same shapes, at the same threads: an in-model op repeated
in every layer of a model, timed in each place) can only be predicted alike, so each group is
priced at its own median, the best one price can do, and the train rows' MAPE under those
prices is printed, with the groups that contribute most.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.validate_accuracy import cpu_name, write_population  # noqa: E402
from graphcal.evaluate.costing import row_label  # noqa: E402
from graphcal.fit.calibrate import FitOptions, calibrate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("sweeps", nargs="+")
    parser.add_argument("--base", required=True)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--prefix", default="fit", help="population names: PREFIX-train, PREFIX-holdout")
    args = parser.parse_args(argv)
    sweeps = [args.results / s for s in args.sweeps]
    cal = calibrate(sweeps, str(args.results / args.base), FitOptions(dtype=args.dtype))
    for part, index, predicted in (("train", cal.train, cal.train_fit.predicted_s),
                                   ("holdout", cal.holdout, cal.holdout_predicted_s)):
        cases = [(f"{row_label(cal.rows[i])} t{cal.rows[i].threads}", cal.measured_s[i], p)
                 for i, p in zip(index, predicted)]
        write_population(args.results, f"{args.prefix}-{part}", cases)
    print(f"CPU: {cpu_name()}; {cal.precision.value}: train MAPE {cal.train_metrics.mape:.1%} "
          f"({cal.train_metrics.n} rows), holdout {cal.holdout_metrics.mape:.1%} ({cal.holdout_metrics.n} rows)")
    print_floor(cal)
    return 0


def same_call(row) -> tuple:
    """What a model of the calls sees of a row: its ops and their shapes (or its workload, for a
    row timed alone), threads and dtype; not the ops' names in their graph."""
    ops = row.fields.get("ops")
    if not ops:
        return (row.workload, row.threads, row.dtype)
    calls = [{k: v for k, v in op.items() if k != "name"} for op in json.loads(ops)]
    return (json.dumps(calls, sort_keys=True), row.threads, row.dtype)


def print_floor(cal, top: int = 8) -> None:
    """The train MAPE if each group of rows timing the same call were priced at its own median."""
    train = np.asarray(cal.train)
    measured = cal.measured_s[train]
    keys = [same_call(cal.rows[i]) for i in train]
    groups: dict = {}
    for position, key in enumerate(keys):
        groups.setdefault(key, []).append(position)
    floor = np.empty(len(train))
    for members in groups.values():
        floor[members] = np.median(measured[members])
    errors = np.abs(floor / measured - 1)
    repeated = [m for m in groups.values() if len(m) > 1]
    in_repeats = sum(len(m) for m in repeated)
    print(f"floor: {in_repeats} of {len(train)} train rows time a call that other train rows time too "
          f"({len(repeated)} calls); priced at each call's median, the train MAPE would be "
          f"{errors.mean():.1%} (the fit: {cal.train_metrics.mape:.1%})")
    share = sorted(repeated, key=lambda m: -errors[m].sum())[:top]
    for members in share:
        row = cal.rows[train[members[0]]]
        label = f"{row_label(row)} t{row.threads}"
        print(f"  {label[:60]:<60} {len(members):>4} rows  median {np.median(measured[members]) * 1e6:8.1f} us  "
              f"scatter {errors[members].mean():6.1%}  ({errors[members].sum() / len(train):.2%} of the MAPE)")


if __name__ == "__main__":
    sys.exit(main())
