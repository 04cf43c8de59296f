"""The fit's view of costed rows: their predicted latency for any parameter values.

`evaluate` sets the parameters (graphcal.fit.params) on the base profile and calls
graphcal.evaluate.costing.evaluate_profile, which applies graphcal.mapper.op_time to every op:
a parameter is applied only there, in the mapper, never here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphcal.evaluate.costing import CostedRows, Terms, evaluate_profile
from graphcal.fit.params import BY_NAME, with_values
from graphcal.hardware.profile import HardwareProfile
from graphcal.precision import Precision


@dataclass(frozen=True)
class Facts:
    """The base profile and precision whose parameters a fit moves (everything else stays)."""

    profile: HardwareProfile
    precision: Precision

    @classmethod
    def of(cls, profile: HardwareProfile, precision: Precision) -> Facts:
        profile.coefficient(precision, "efficiency_factor")  # raises if the precision is absent
        return cls(profile, precision)


def evaluate(rows: CostedRows, facts: Facts, values: dict[str, float]) -> Terms:
    """graphcal.mapper.op_time on every op of every row, on the base profile with `values`:
    the very function predict uses, so fit and predict cannot disagree."""
    return evaluate_profile(rows, with_values(facts.profile, facts.precision, values))


def log_jacobian(rows: CostedRows, facts: Facts, values: dict[str, float], names: tuple[str, ...]) -> np.ndarray:
    """d log(latency) / d value for each parameter in `names`, by central differences of
    `evaluate` (a relative step of 1e-4, kept inside the parameter's bounds). A family term
    moves only rows holding an op of its family, so only those are evaluated (the column is
    exactly zero elsewhere): with in-model rows that is most of a fit's time saved."""
    columns = []
    for name in names:
        spec = BY_NAME[name]
        step = max(abs(values[name]) * 1e-4, spec.scale * 1e-6)
        up = dict(values, **{name: min(values[name] + step, spec.upper)})
        down = dict(values, **{name: max(values[name] - step, spec.lower)})
        column = np.zeros(rows.n)
        index = np.arange(rows.n) if spec.family is None else rows.holding(spec.family)
        if len(index):
            part = rows if len(index) == rows.n else rows.take(index)
            rise = np.log(evaluate(part, facts, up).latency_s) - np.log(evaluate(part, facts, down).latency_s)
            column[index] = rise / (up[name] - down[name])
        columns.append(column)
    return np.stack(columns, axis=1) if columns else np.zeros((rows.n, 0))
