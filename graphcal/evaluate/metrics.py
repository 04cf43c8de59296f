"""Predictions beside measurements: the errors `compare SWEEP.csv` and `fit` report.

An error is relative: (predicted - measured) / measured. Summaries are fractions (0.08 is 8%):
MAPE (mean |error|), within_10 (share of rows with |error| <= 0.10) and RMSPE (root mean square
error). Breakdowns group rows by regime and by op class, both defined in graphcal.evaluate.costing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

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


def percent(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"

