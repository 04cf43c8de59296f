"""The fit's own error, row by row, as results populations: fit-train (the training rows, predicted
by the fit on them) and fit-holdout (the rows it held out, whole workloads, predicted by that
same fit). The same calibration `graphcal fit` runs, with its defaults.

    python benchmarks/fit_populations.py RESULTS_DIR mlp.csv ops.csv models.csv --base host.yaml [--dtype fp32]

Writes RESULTS_DIR/populations/fit-train.csv and fit-holdout.csv (case, measured, predicted) and
prints both MAPEs with the CPU. Sweep and base paths are relative to RESULTS_DIR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
