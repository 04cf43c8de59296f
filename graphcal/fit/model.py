"""Sweep rows, costed once per workload, and their predicted latency for any parameter values.

`evaluate` is graphcal.mapper applied to every op of every row at once with numpy, in the same
floating-point order, so its latency equals `predict_graph(...).latency_s` bit for bit (a test
holds it there). Fitting evaluates it hundreds of times; each workload is traced and costed only
once (`cost_workload`, about 40 ms a spec).

The regime of a row is defined here, once (`Terms.regimes`): the largest of its three terms
under the profile evaluated,

    overhead  n_ops x runtime.per_op_overhead_s
    compute   the compute time of the ops whose compute time >= memory time (mapper's `bound`)
    memory    the memory time of the other ops

and `Terms.fine_regimes` splits compute into `matrix` and `vector` by the larger of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from graphcal.cost import OpKind
from graphcal.errors import GraphcalError
from graphcal.fit.params import BY_NAME
from graphcal.precision import Precision
from graphcal.profile import HardwareProfile

REGIMES = ("compute", "memory", "overhead")


@dataclass(frozen=True)
class OpTable:
    """One workload's costed ops, in graph order."""

    flops: tuple[float, ...]
    bytes: tuple[float, ...]
    matrix: tuple[bool, ...]
    families: tuple[str, ...]
    unsupported: tuple[tuple[str, int], ...]


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
    """What a profile states and fit never moves: peak, bandwidth, cores."""

    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    physical_cores: int

    @classmethod
    def of(cls, profile: HardwareProfile, precision: Precision) -> "Facts":
        return cls(profile.peak_flops_per_s(precision), profile.bandwidth_bytes_per_s, profile.physical_cores)


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
    """graphcal.mapper on every op, with the parameters in `values`; same float operations, same order."""
    cores = facts.physical_cores
    share = np.minimum(rows.threads, cores) / cores                                # thread_share
    compute_peak = (facts.peak_flops_per_s * values["efficiency_factor"]) * share  # compute_peak
    matrix_rate = compute_peak * values["tile_utilization"]                        # matrix_compute_rate
    vector_rate = compute_peak * values["instruction_efficiency"]                  # vector_compute_rate
    memory_rate = facts.bandwidth_bytes_per_s * values["memory_bottleneck_factor"]  # memory_rate
    overhead = values["per_op_overhead_s"]

    rate = np.where(rows.matrix, matrix_rate[:, None], vector_rate[:, None])
    compute_s = rows.flops / rate
    memory_s = rows.bytes / memory_rate
    roofline = np.maximum(compute_s, memory_s)
    op_total = np.where(rows.valid, overhead + roofline, 0.0)                      # op_time().total_s
    latency = np.zeros(rows.n)
    for j in range(op_total.shape[1]):  # Python's sum() order: op by op, left to right
        latency = latency + op_total[:, j]
    compute_bound = rows.valid & (compute_s >= memory_s)
    memory_bound = rows.valid & ~compute_bound
    n_ops = rows.n_ops
    return Terms(
        latency_s=latency,
        overhead_s=n_ops * overhead,
        matrix_s=np.where(compute_bound & rows.matrix, compute_s, 0.0).sum(axis=1),
        vector_s=np.where(compute_bound & ~rows.matrix, compute_s, 0.0).sum(axis=1),
        memory_s=np.where(memory_bound, memory_s, 0.0).sum(axis=1),
        n_ops=n_ops,
        dominant_op=np.argmax(np.where(rows.valid, roofline, -1.0), axis=1),
    )


def log_jacobian(terms: Terms, values: dict[str, float], names: tuple[str, ...]) -> np.ndarray:
    """d log(latency) / d value for each parameter in `names`, one column each: a `rate`
    parameter divides the time of the terms it acts on, an `additive` one adds once per op."""
    columns = []
    for name in names:
        spec = BY_NAME[name]
        if spec.kind == "rate":
            acted = sum(terms.term(t) for t in spec.acts_on)
            columns.append(-acted / values[name] / terms.latency_s)
        elif spec.kind == "additive":
            columns.append(terms.n_ops / terms.latency_s)
        else:
            raise ValueError(f"parameter {name}: unknown kind {spec.kind!r}")
    return np.stack(columns, axis=1) if columns else np.zeros((len(terms.latency_s), 0))
