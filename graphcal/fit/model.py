"""Sweep rows, costed once per workload, and their predicted latency for any parameter values.

`evaluate` applies graphcal.mapper.op_time itself to every op of every row, so its latency is
`predict_graph(...).latency_s` by construction (a test holds it there): the fit has no model of
its own. Fitting evaluates it hundreds of times; each workload is traced and costed only once
(`cost_workload`, about 40 ms a spec).

The regime of a row is defined here, once (`Terms.regimes`): the largest of its three terms
under the profile evaluated,

    overhead  the ops' fixed costs (mapper.op_overhead)
    compute   the compute time of the ops whose compute time >= memory time (mapper's `bound`)
    memory    the memory time of the other ops

and `Terms.fine_regimes` splits compute into `matrix` and `vector` by the larger of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from graphcal.cost import OpCost, OpKind
from graphcal.errors import GraphcalError
from graphcal.fit.params import BY_NAME, with_values
from graphcal.mapper import Target, op_time
from graphcal.precision import Precision
from graphcal.hardware.profile import HardwareProfile

REGIMES = ("compute", "memory", "overhead")


@dataclass(frozen=True)
class OpTable:
    """One workload's costed ops, in graph order."""

    flops: tuple[float, ...]
    bytes: tuple[float, ...]
    matrix: tuple[bool, ...]
    families: tuple[str, ...]
    unsupported: tuple[tuple[str, int], ...]
    costs: tuple[OpCost, ...]


@lru_cache(maxsize=None)
def cost_workload(workload: str, precision: Precision) -> OpTable:
    """Trace and cost one workload (a spec, or a model file predict accepts without options)."""
    from graphcal.cost import cost_graph
    from graphcal.load import load_graph

    costed = cost_graph(load_graph(workload, precision))
    ops = [cost for _, cost in costed.ops]
    return OpTable(
        tuple(c.flops for c in ops),
        tuple(c.bytes for c in ops),
        tuple(c.kind is OpKind.MATRIX for c in ops),
        tuple(c.family for c in ops),
        tuple(sorted(costed.unsupported.items())),
        tuple(ops),
    )


@dataclass(frozen=True)
class CostedRows:
    """Rows as padded op arrays: row i has ops [0, n_ops[i]) of flops[i], bytes[i], ..."""

    precision: Precision
    workloads: tuple[str, ...]
    threads: np.ndarray     # (n,) int
    flops: np.ndarray       # (n, k)
    bytes: np.ndarray       # (n, k)
    matrix: np.ndarray      # (n, k) bool
    valid: np.ndarray       # (n, k) bool: a real op, not padding
    tables: tuple[OpTable, ...]

    @property
    def n(self) -> int:
        return len(self.workloads)

    @property
    def n_ops(self) -> np.ndarray:
        return self.valid.sum(axis=1)

    def take(self, index: np.ndarray) -> "CostedRows":
        index = np.asarray(index, dtype=int)
        return CostedRows(
            self.precision,
            tuple(self.workloads[i] for i in index),
            self.threads[index],
            self.flops[index],
            self.bytes[index],
            self.matrix[index],
            self.valid[index],
            tuple(self.tables[i] for i in index),
        )


def cost_rows(
    workloads: Sequence[str],
    threads: Sequence[int],
    precision: Precision,
    sources: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CostedRows:
    """Cost each distinct workload once and lay the rows out as arrays."""
    distinct = list(dict.fromkeys(workloads))
    tables: dict[str, OpTable] = {}
    for i, workload in enumerate(distinct):
        try:
            tables[workload] = cost_workload(workload, precision)
        except GraphcalError as exc:
            where = sources[list(workloads).index(workload)] if sources else workload
            raise GraphcalError(f"{where}: workload {workload!r}: {exc}") from None
        if progress:
            progress(i + 1, len(distinct))
    row_tables = tuple(tables[w] for w in workloads)
    width = max((len(t.flops) for t in row_tables), default=0) or 1
    n = len(row_tables)
    flops, nbytes = np.zeros((n, width)), np.zeros((n, width))
    matrix, valid = np.zeros((n, width), dtype=bool), np.zeros((n, width), dtype=bool)
    for i, table in enumerate(row_tables):
        k = len(table.flops)
        flops[i, :k], nbytes[i, :k] = table.flops, table.bytes
        matrix[i, :k], valid[i, :k] = table.matrix, True
    return CostedRows(precision, tuple(workloads), np.asarray(threads, dtype=int), flops, nbytes, matrix, valid, row_tables)


@dataclass(frozen=True)
class Facts:
    """The base profile and precision whose parameters a fit moves (everything else stays)."""

    profile: HardwareProfile
    precision: Precision

    @classmethod
    def of(cls, profile: HardwareProfile, precision: Precision) -> "Facts":
        profile.coefficient(precision, "efficiency_factor")  # raises if the precision is absent
        return cls(profile, precision)


@dataclass(frozen=True)
class Terms:
    """Per row: predicted latency and the parts it is made of (see the module docstring)."""

    latency_s: np.ndarray
    overhead_s: np.ndarray
    matrix_s: np.ndarray
    vector_s: np.ndarray
    memory_s: np.ndarray
    n_ops: np.ndarray
    dominant_op: np.ndarray   # position of the row's longest op

    def term(self, name: str) -> np.ndarray:
        return getattr(self, f"{name}_s")

    def regimes(self) -> np.ndarray:
        """compute, memory or overhead: the largest of the row's three terms (ties: that order)."""
        stacked = np.stack([self.matrix_s + self.vector_s, self.memory_s, self.overhead_s])
        return np.array(REGIMES, dtype=object)[np.argmax(stacked, axis=0)]

    def fine_regimes(self) -> np.ndarray:
        """The regime with compute split into matrix and vector (the larger of the two)."""
        coarse = self.regimes()
        compute = np.where(self.matrix_s >= self.vector_s, "matrix", "vector").astype(object)
        return np.where(coarse == "compute", compute, coarse)


def op_classes(rows: CostedRows, terms: Terms) -> np.ndarray:
    """Each row's op class: the cost family of its longest op (linear, conv, elementwise, ...)."""
    return np.array(
        [t.families[j] if t.families else "none" for t, j in zip(rows.tables, terms.dominant_op)], dtype=object
    )


def evaluate(rows: CostedRows, facts: Facts, values: dict[str, float]) -> Terms:
    """graphcal.mapper.op_time on every op of every row, on the base profile with `values`:
    the very function predict uses, so fit and predict cannot disagree."""
    profile = with_values(facts.profile, facts.precision, values)
    targets = {t: Target(profile, facts.precision, int(t)) for t in set(rows.threads.tolist())}
    n = rows.n
    latency, overhead = np.zeros(n), np.zeros(n)
    matrix_s, vector_s, memory_s = np.zeros(n), np.zeros(n), np.zeros(n)
    dominant = np.zeros(n, dtype=int)
    for i, (table, threads) in enumerate(zip(rows.tables, rows.threads)):
        target = targets[int(threads)]
        longest = -1.0
        for j, cost in enumerate(table.costs):
            time = op_time(cost, target)
            latency[i] += time.total_s
            overhead[i] += time.overhead_s
            if time.compute_s >= time.memory_s:
                if cost.kind is OpKind.MATRIX:
                    matrix_s[i] += time.compute_s
                else:
                    vector_s[i] += time.compute_s
            else:
                memory_s[i] += time.memory_s
            roofline = max(time.compute_s, time.memory_s)
            if roofline > longest:
                longest, dominant[i] = roofline, j
    return Terms(latency, overhead, matrix_s, vector_s, memory_s, rows.n_ops, dominant)


def log_jacobian(rows: CostedRows, facts: Facts, values: dict[str, float], names: tuple[str, ...]) -> np.ndarray:
    """d log(latency) / d value for each parameter in `names`, by central differences of
    `evaluate` (a relative step of 1e-4, kept inside the parameter's bounds)."""
    columns = []
    for name in names:
        spec = BY_NAME[name]
        step = max(abs(values[name]) * 1e-4, spec.scale * 1e-6)
        up = dict(values, **{name: min(values[name] + step, spec.upper)})
        down = dict(values, **{name: max(values[name] - step, spec.lower)})
        rise = np.log(evaluate(rows, facts, up).latency_s) - np.log(evaluate(rows, facts, down).latency_s)
        columns.append(rise / (up[name] - down[name]))
    return np.stack(columns, axis=1) if columns else np.zeros((rows.n, 0))
