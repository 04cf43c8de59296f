"""Sweep rows read, costed once per workload, and their predicted latency on a profile.

`evaluate_profile` applies graphcal.mapper.op_time itself to every op of every row, so its
latency is `predict_graph(...).latency_s` by construction (a test holds it there): neither
compare nor fit has a model of its own. Fitting evaluates it hundreds of times (through
graphcal.fit.model); each workload is traced and costed only once (`cost_workload`, about 40 ms
a spec).

The regime of a row is defined here, once (`Terms.regimes`): the largest of its three terms
under the profile evaluated,

    overhead  the ops' fixed costs (mapper.op_overhead)
    compute   the compute time of the ops whose compute time >= memory time (mapper's `bound`)
    memory    the memory time of the other ops

and `Terms.fine_regimes` splits compute into `matrix` and `vector` by the larger of the two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from graphcal.cost import OpCost, OpKind
from graphcal.errors import GraphcalError
from graphcal.hardware.allocator import SWEEP_HEAP
from graphcal.hardware.profile import HardwareProfile
from graphcal.mapper import OpTime, Target, is_vector_product, op_time, working_ops
from graphcal.precision import Precision
from graphcal.sweep.csvfile import SweepRow, read_sweep

REGIMES = ("compute", "memory", "overhead")


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


# --- costing rows -------------------------------------------------------------------------

@dataclass(frozen=True)
class OpTable:
    """One workload's costed ops, in graph order."""

    families: tuple[str, ...]
    unsupported: tuple[tuple[str, int], ...]
    costs: tuple[OpCost, ...]


@cache
def cost_workload(workload: str, precision: Precision, inputs: str = "") -> OpTable:
    """Trace and cost one workload (a spec, or a model predict accepts, with its recorded
    --input-shape texts, space-separated)."""
    from graphcal.cost import cost_graph
    from graphcal.load import InputSpec, load_graph

    specs = tuple(InputSpec.parse(text) for text in inputs.split())
    return _table(cost_graph(load_graph(workload, precision, specs), SWEEP_HEAP))


@cache
def cost_ops(ops_json: str, where: str) -> OpTable:
    """Cost the op calls of an in-model row (its `ops` column), as predict costs them."""
    from graphcal.cost import cost_graph
    from graphcal.load.opjson import graph_from_json

    return _table(cost_graph(graph_from_json(ops_json, where), SWEEP_HEAP))


def _table(costed) -> OpTable:
    ops = [cost for _, cost in costed.ops]
    return OpTable(tuple(c.family for c in ops), tuple(sorted(costed.unsupported.items())), tuple(ops))


@dataclass(frozen=True)
class CostedRows:
    """Sweep rows of one precision, each with its costed ops (rows of one workload share them)."""

    precision: Precision
    workloads: tuple[str, ...]  # a label per row: the workload, and the node for in-model rows
    threads: np.ndarray     # (n,) int
    tables: tuple[OpTable, ...]
    groups: tuple[str, ...]     # the model a row belongs to (its workload): holdouts split by it
    weights: np.ndarray | None = None  # (n,) how much each row's error counts in a fit (None: all 1)
    # (n,) ops that do work in the graph the row ran in (mapper.Target.graph_ops): its own for a
    # workload timed whole, its model's for an in-model row (None: each table's own)
    graph_ops: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.weights is None:
            object.__setattr__(self, "weights", np.ones(len(self.workloads)))
        if self.graph_ops is None:
            object.__setattr__(self, "graph_ops", np.array([working_ops(t.costs) for t in self.tables], dtype=int))

    @property
    def n(self) -> int:
        return len(self.workloads)

    @property
    def n_ops(self) -> np.ndarray:
        return np.array([len(t.costs) for t in self.tables], dtype=int)

    def holding(self, family: str) -> np.ndarray:
        """Indices of the rows with at least one op of `family`."""
        return np.array([i for i, t in enumerate(self.tables) if family in t.families], dtype=int)

    def take(self, index: np.ndarray) -> CostedRows:
        index = np.asarray(index, dtype=int)
        return CostedRows(
            self.precision,
            tuple(self.workloads[i] for i in index),
            self.threads[index],
            tuple(self.tables[i] for i in index),
            tuple(self.groups[i] for i in index),
            self.weights[index],
        )


def model_graph_ops(rows: Sequence[SweepRow], tables: Sequence[OpTable]) -> np.ndarray:
    """Each row's graph_ops: for an in-model row, the working ops among its model's rows (same
    file, workload, threads and dtype); for any other row, its own table's."""
    counts: dict[tuple, int] = {}
    for row, table in zip(rows, tables):
        if row.is_op:
            key = (row.host_id, row.workload, row.threads, row.dtype)
            counts[key] = counts.get(key, 0) + (1 if any(c.flops or c.bytes for c in table.costs) else 0)
    return np.array([max(1, counts[(r.host_id, r.workload, r.threads, r.dtype)]) if r.is_op else working_ops(t.costs)
                     for r, t in zip(rows, tables)], dtype=int)


def row_label(row: SweepRow) -> str:
    """How reports name a row: its workload, and for an in-model row the node too."""
    return f"{row.workload} {row.node}" if row.is_op else row.workload


def cost_rows(
    rows: Sequence[SweepRow],
    precision: Precision,
    progress: Callable[[int, int], None] | None = None,
) -> CostedRows:
    """Cost every row: an in-model row from its `ops` column, any other from its workload
    (each distinct workload traced once)."""
    tables = []
    for i, row in enumerate(rows):
        try:
            if row.is_op:
                tables.append(cost_ops(row.fields.get("ops") or "", row.source))
            else:
                tables.append(cost_workload(row.workload, precision, row.fields.get("inputs") or ""))
        except GraphcalError as exc:
            raise GraphcalError(f"{row.source}: {row_label(row)!r}: {exc}") from None
        if progress and (i + 1 == len(rows) or i % 50 == 0):
            progress(i + 1, len(rows))
    return CostedRows(
        precision, tuple(row_label(r) for r in rows), np.asarray([r.threads for r in rows], dtype=int),
        tuple(tables), tuple(r.workload for r in rows), None, model_graph_ops(rows, tables),
    )


def cost_workloads(workloads: Sequence[str], threads: Sequence[int], precision: Precision) -> CostedRows:
    """Rows of plain workloads (specs) at thread counts, without a sweep file (tests, synthetic fits)."""
    tables = tuple(cost_workload(w, precision) for w in workloads)
    return CostedRows(precision, tuple(workloads), np.asarray(threads, dtype=int), tables, tuple(workloads))


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


def vector_product_rows(rows: CostedRows, terms: Terms) -> np.ndarray:
    """Whether each row's longest op is a matrix-vector product (a matrix op of one row)."""
    return np.array([bool(t.costs) and is_vector_product(t.costs[j]) for t, j in zip(rows.tables, terms.dominant_op)],
                    dtype=bool)


def evaluate_profile(rows: CostedRows, profile: HardwareProfile) -> Terms:
    """graphcal.mapper.op_time on every op of every row, on `profile` at the rows' precision:
    the very function predict uses, so fit, compare and predict cannot disagree."""
    targets = {(int(t), int(g)): Target(profile, rows.precision, int(t), int(g))
               for t, g in set(zip(rows.threads.tolist(), rows.graph_ops.tolist()))}
    n = rows.n
    latency, overhead = np.zeros(n), np.zeros(n)
    matrix_s, vector_s, memory_s = np.zeros(n), np.zeros(n), np.zeros(n)
    dominant = np.zeros(n, dtype=int)
    times: dict[tuple[OpCost, int], OpTime] = {}  # an op met again (a model row's op, a repeated block) is mapped once
    for i, (table, threads, graph_ops) in enumerate(zip(rows.tables, rows.threads, rows.graph_ops)):
        target = targets[(int(threads), int(graph_ops))]
        longest = -1.0
        for j, cost in enumerate(table.costs):
            key = (cost, int(threads), int(graph_ops))
            time = times.get(key)
            if time is None:
                time = times[key] = op_time(cost, target)
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
