"""Predictions beside measurements: the errors `compare SWEEP.csv` and `fit` report.

An error is relative: (predicted - measured) / measured. Summaries are fractions (0.08 is 8%):
MAPE (mean |error|), within_10 (share of rows with |error| <= 0.10) and RMSPE (root mean square
error). Breakdowns group rows by regime and by op class, both defined in graphcal.fit.model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from graphcal.errors import GraphcalError
from graphcal.sweep.csvfile import SweepRow, read_sweep

WITHIN = 0.10
WITHIN_TOLERANCE = 1e-9  # so that an error of exactly 10% (in decimal) counts as within


@dataclass(frozen=True)
class Metrics:
    n: int
    mape: float | None
    within_10: float | None
    rmspe: float | None

    def as_dict(self, keys: Sequence[str] = ("n", "mape", "within_10", "rmspe")) -> dict:
        return {k: v for k, v in asdict(self).items() if k in keys}


def relative_errors(predicted_s: np.ndarray, measured_s: np.ndarray) -> np.ndarray:
    return (np.asarray(predicted_s) - np.asarray(measured_s)) / np.asarray(measured_s)


def metrics(predicted_s: np.ndarray, measured_s: np.ndarray) -> Metrics:
    errors = relative_errors(predicted_s, measured_s)
    if errors.size == 0:
        return Metrics(0, None, None, None)
    return Metrics(
        int(errors.size),
        float(np.mean(np.abs(errors))),
        float(np.mean(np.abs(errors) <= WITHIN + WITHIN_TOLERANCE)),
        float(np.sqrt(np.mean(errors ** 2))),
    )


def breakdown(predicted_s: np.ndarray, measured_s: np.ndarray, labels: np.ndarray) -> dict[str, Metrics]:
    """Metrics per distinct label, labels in sorted order."""
    labels = np.asarray(labels, dtype=object)
    return {
        str(label): metrics(predicted_s[labels == label], measured_s[labels == label])
        for label in sorted(set(labels.tolist()))
    }


# --- reading sweeps --------------------------------------------------------------------------

def is_sweep_file(path: Path) -> bool:
    """True if `path` is a CSV whose header has the columns fit and compare need (by content)."""
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    if b"\0" in head:
        return False
    first = head.decode("utf-8", errors="replace").splitlines()[0] if head.strip() else ""
    columns = {c.strip().strip('"') for c in first.split(",")}
    return "workload" in columns and "latency_s" in columns


def read_sweeps(paths: Sequence[Path]) -> list[SweepRow]:
    """The measurement rows of every file, in order (each file checked by read_sweep)."""
    if not paths:
        raise GraphcalError("no sweep file given")
    rows: list[SweepRow] = []
    for path in paths:
        rows.extend(read_sweep(Path(path)))
    for row in rows:
        if row.threads < 1:
            raise GraphcalError(f"{row.source}: threads must be at least 1, got {row.threads}")
    return rows


def single_dtype(rows: list[SweepRow], dtype: str | None) -> tuple[list[SweepRow], str]:
    """Rows of one precision: `dtype` if given, else the only one present."""
    present = sorted({r.dtype for r in rows})
    if dtype is None:
        if len(present) > 1:
            raise GraphcalError(f"the sweep has rows of several dtypes ({', '.join(present)}); pick one with --dtype")
        return rows, present[0]
    chosen = [r for r in rows if r.dtype == dtype]
    if not chosen:
        raise GraphcalError(f"no rows of dtype {dtype} in the sweep (it has {', '.join(present)})")
    return chosen, dtype


# --- compare SWEEP.csv --hw PROFILE --------------------------------------------------------

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
    from graphcal.fit import params as P
    from graphcal.fit.model import Facts, cost_rows, evaluate, op_classes
    from graphcal.precision import Precision
    from graphcal.hardware.profile import load_profile

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
        costed = cost_rows([r.workload for r in part], [r.threads for r in part], precision,
                           [r.source for r in part], progress)
        terms = evaluate(costed, Facts.of(profile, precision), P.base_values(profile, precision))
        predicted[index], regimes[index], classes[index] = terms.latency_s, terms.regimes(), op_classes(costed, terms)
        unsupported += sum(1 for t in costed.tables if t.unsupported)
    measured = np.array([r.latency_s for r in rows])
    return Comparison(
        profile.name, rows, predicted, measured, regimes, classes,
        metrics(predicted, measured), breakdown(predicted, measured, regimes), breakdown(predicted, measured, classes),
        unsupported,
    )


def percent(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"

