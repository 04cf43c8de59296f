"""`graphcal compare SWEEP.csv --hw PROFILE`: every measured row predicted on one profile."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graphcal.evaluate.costing import cost_rows, evaluate_profile, op_classes, read_sweeps
from graphcal.evaluate.metrics import Metrics, breakdown, metrics, relative_errors
from graphcal.hardware.profile import load_profile
from graphcal.precision import Precision
from graphcal.sweep.csvfile import SweepRow


@dataclass(frozen=True)
class Comparison:
    profile: str
    rows: list[SweepRow]
    predicted_s: np.ndarray
    measured_s: np.ndarray
    regimes: np.ndarray
    op_classes: np.ndarray
    overall: Metrics
    by_regime: dict[str, Metrics]
    by_op_class: dict[str, Metrics]
    unsupported_rows: int

    def as_json(self) -> dict:
        errors = relative_errors(self.predicted_s, self.measured_s)
        return {
            "hardware": self.profile,
            "n": self.overall.n,
            "mape": self.overall.mape,
            "within_10": self.overall.within_10,
            "rmspe": self.overall.rmspe,
            "by_regime": {k: m.as_dict() for k, m in self.by_regime.items()},
            "by_op_class": {k: m.as_dict() for k, m in self.by_op_class.items()},
            "rows_with_unsupported_ops": self.unsupported_rows,
            "rows": [
                {
                    "workload": r.workload,
                    "dtype": r.dtype,
                    "threads": r.threads,
                    "measured_s": float(m),
                    "predicted_s": float(p),
                    "error": float(e),
                    "regime": str(g),
                    "op_class": str(c),
                }
                for r, m, p, e, g, c in zip(
                    self.rows, self.measured_s, self.predicted_s, errors, self.regimes, self.op_classes
                )
            ],
        }


def compare_sweep(
    paths: Sequence[Path],
    profile_ref: str,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Predict every measurement row of the sweeps on one profile, each with its own dtype and
    threads, exactly as `graphcal predict ROW.workload --dtype ROW.dtype --threads ROW.threads`."""
    rows = read_sweeps(paths)
    profile = load_profile(profile_ref)
    predicted = np.empty(len(rows))
    regimes = np.empty(len(rows), dtype=object)
    classes = np.empty(len(rows), dtype=object)
    unsupported = 0
    for dtype in sorted({r.dtype for r in rows}):
        index = np.array([i for i, r in enumerate(rows) if r.dtype == dtype])
        precision = Precision.parse(dtype)
        part = [rows[i] for i in index]
        costed = cost_rows(part, precision, progress)
        profile.coefficient(precision, "efficiency_factor")  # raises if the precision is absent
        terms = evaluate_profile(costed, profile)
        predicted[index], regimes[index], classes[index] = terms.latency_s, terms.regimes(), op_classes(costed, terms)
        unsupported += sum(1 for t in costed.tables if t.unsupported)
    measured = np.array([r.latency_s for r in rows])
    return Comparison(
        profile.name, rows, predicted, measured, regimes, classes,
        metrics(predicted, measured), breakdown(predicted, measured, regimes), breakdown(predicted, measured, classes),
        unsupported,
    )
