"""The parameters `graphcal fit` may move: named, bounded, each with the regime it acts on.

PARAMS is the one declared list. The solver sees a vector of the free parameters, each divided
by its `scale` (so an overhead of microseconds and a coefficient near 0.5 are both of order
one); `to_vector`, `from_vector` and `bounds` are the only conversions between the two.

A parameter `acts_on` the terms of a row's predicted time it changes (see graphcal.evaluate.costing.Terms):
`matrix` and `vector` compute, `memory`, `overhead`. `kind` says how: a `rate` coefficient
divides the time of those terms, an `additive` one is added once per op. The order of PARAMS is
the order in which confounded parameters are resolved: a parameter whose regimes are already
covered by earlier free ones (efficiency_factor, which scales matrix and vector compute alike)
keeps its base value.

To fit a new coefficient: one entry here. It is applied in exactly one function of
graphcal.mapper (a row in the mapper's table and a live test in tests/test_coefficients_live.py);
graphcal.fit.model only sets its value on the profile (`with_values`) and never applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphcal.errors import GraphcalError
from graphcal.hardware.profile import COEFFICIENTS, FAMILIES, FAMILY_RATE_FACTOR_MAX, HardwareProfile
from graphcal.precision import Precision

TERMS = ("matrix", "vector", "memory", "overhead")
TERM_LABELS = {"matrix": "matrix-compute", "vector": "vector-compute", "memory": "memory", "overhead": "overhead"}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    section: str          # "coefficients" (per precision) or "runtime"
    lower: float
    upper: float
    scale: float          # typical magnitude: the solver works on value / scale
    acts_on: frozenset    # terms of TERMS this parameter changes
    kind: str             # "rate": divides those terms' time; "additive": added per op;
                          # "shape": changes those terms by op shape (not confounded with a rate);
                          # "distinct": acts on other ops than the earlier parameters of its terms;
                          # "family": acts only on the ops of `family` (fitted from rows whose
                          # longest op is of that family);
                          # "threads": acts only on rows timed at fewer threads than cores;
                          # "vector_product": acts only on matrix-vector products (one-row GEMMs)
    doc: str
    family: str | None = None
    default: float | None = None  # the value a profile that states none implies (optional values only)

    def path(self, precision: Precision) -> str:
        if self.section == "coefficients":
            return f"coefficients.{precision.value}.{self.name}"
        return f"{self.section}.{self.name}"


# Coefficients live in (0, 1] (the profile schema); the lower bound keeps rates finite.
COEFFICIENT_BOUNDS = (1e-4, 1.0)

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("tile_utilization", "coefficients", *COEFFICIENT_BOUNDS, 1.0, frozenset({"matrix"}), "rate",
              "matrix compute rate"),
    ParamSpec("instruction_efficiency", "coefficients", *COEFFICIENT_BOUNDS, 1.0, frozenset({"vector"}), "rate",
              "vector compute rate"),
    ParamSpec("memory_bottleneck_factor", "coefficients", *COEFFICIENT_BOUNDS, 1.0, frozenset({"memory"}), "rate",
              "memory rate"),
    ParamSpec("matrix_op_overhead_s", "runtime", 0.0, 1e-3, 1e-6, frozenset({"overhead"}), "additive",
              "fixed time per matrix op"),
    ParamSpec("per_op_overhead_s", "runtime", 0.0, 1e-3, 1e-6, frozenset({"overhead"}), "distinct",
              "fixed time per vector op"),
    *(ParamSpec(f"matrix_half_rate_{d}", "runtime", 0.0, 4096.0, 16.0, frozenset({"matrix"}), "shape",
                f"GEMM {d} at half the matrix rate") for d in ("rows", "depth", "columns")),
    ParamSpec("vector_product_half_rate_depth", "runtime", 0.0, 65536.0, 100.0, frozenset({"memory"}),
              "vector_product",
              "matrix-vector row length at half the memory rate", None, 0.0),
    ParamSpec("cache_bandwidth_bytes_per_s", "memory", 1e9, 1e13, 1e10, frozenset({"memory"}), "shape",
              "bandwidth of working sets within the last-level cache"),
    ParamSpec("single_thread_share", "memory", 0.05, 1.0, 1.0, frozenset({"memory"}), "threads",
              "share of the bandwidths one thread reaches", None, 1.0),
    ParamSpec("efficiency_factor", "coefficients", *COEFFICIENT_BOUNDS, 1.0, frozenset({"matrix", "vector"}), "rate",
              "every compute rate"),
    *(ParamSpec(f"{f}_rate_factor", "families", 1e-3, FAMILY_RATE_FACTOR_MAX, 1.0,
                frozenset({"matrix", "vector", "memory"}), "family", f"{f} ops' compute and memory rates", f, 1.0)
      for f in FAMILIES),
    *(ParamSpec(f"{f}_overhead_s", "families", 0.0, 1e-3, 1e-6, frozenset({"overhead"}), "family",
                f"extra fixed time per {f} op", f, 0.0)
      for f in FAMILIES),
)
BY_NAME = {p.name: p for p in PARAMS}
assert {p.name for p in PARAMS if p.section == "coefficients"} == set(COEFFICIENTS), "PARAMS must cover COEFFICIENTS"


def parse_fixed(text: str | None) -> tuple[str, ...]:
    """`--fix a,b` -> ('a', 'b'), each a known parameter name."""
    if not text:
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise GraphcalError(
            f"--fix: unknown parameter(s) {', '.join(unknown)}; the fitted parameters are {', '.join(BY_NAME)}"
        )
    return names


def base_values(profile: HardwareProfile, precision: Precision) -> dict[str, float]:
    """Every parameter's value in `profile` (raises if the profile lacks the precision)."""
    values = {}
    for spec in PARAMS:
        if spec.section == "coefficients":
            values[spec.name] = profile.coefficient(precision, spec.name)
        elif spec.section == "families":
            stated = profile.family_term(spec.name)
            values[spec.name] = spec.default if stated is None else stated
        elif spec.default is not None:
            values[spec.name] = float(profile.data[spec.section].get(spec.name, spec.default))
        else:
            values[spec.name] = float(profile.data[spec.section][spec.name])
    return values


def to_vector(values: dict[str, float], free: tuple[str, ...]) -> np.ndarray:
    """The solver's vector: each free parameter divided by its scale, clipped into its bounds."""
    lower, upper = bounds(free)
    x = np.array([values[n] / BY_NAME[n].scale for n in free], dtype=float)
    return np.clip(x, lower, upper)


def from_vector(x: np.ndarray, start: dict[str, float], free: tuple[str, ...]) -> dict[str, float]:
    """`start` with the free parameters replaced by the solver's vector `x`."""
    values = dict(start)
    for name, xi in zip(free, x):
        values[name] = float(xi) * BY_NAME[name].scale
    return values


def bounds(free: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the solver's vector."""
    lower = np.array([BY_NAME[n].lower / BY_NAME[n].scale for n in free], dtype=float)
    upper = np.array([BY_NAME[n].upper / BY_NAME[n].scale for n in free], dtype=float)
    return lower, upper


def profile_fragment(values: dict[str, float], names: tuple[str, ...], precision: Precision) -> dict:
    """The YAML fragment that sets `names` to `values` (what a fitted profile overrides)."""
    fragment: dict = {}
    for name in names:
        spec = BY_NAME[name]
        if spec.section == "coefficients":
            fragment.setdefault("coefficients", {}).setdefault(precision.value, {})[name] = values[name]
        else:
            fragment.setdefault(spec.section, {})[name] = values[name]
    return fragment


def with_values(profile: HardwareProfile, precision: Precision, values: dict[str, float]) -> HardwareProfile:
    """A copy of `profile` whose parameters for `precision` are `values` (for checks and reports)."""
    import copy

    data = copy.deepcopy(profile.data)
    for name, value in values.items():
        spec = BY_NAME[name]
        if spec.section == "coefficients":
            data["coefficients"][precision.value][name] = value
        else:
            data.setdefault(spec.section, {})[name] = value
    return HardwareProfile(profile.name, profile.source, data)
