"""Kernel-class calibration: each class's table (`kernels.<precision>.<class>`) fitted on its own rows.

Every op of every row is split once into the two unit times the mapper defines
(mapper.class_unit_times: compute seconds at the thread peak, memory seconds at the tier
bandwidths); a class's table then only divides them (mapper.class_shares) and adds its fixed
cost, so a fit evaluates thousands of ops as arrays with the mapper's own functions. A row
belongs to the class of its longest op (or to an OWNING_CLASSES class it holds). Each class is
fitted on its rows alone, by least squares on log residuals, with the ops of other classes held
at their current tables; the classes are visited in turn, three times, since a row's other ops
move with their own classes.

A weak prior holds each value near its start (the base profile's equivalent): a value its rows
cannot determine (a compute rate where every row is memory-bound) stays there instead of
drifting, and the report says which values moved less than their standard error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from graphcal.cost.classes import STREAMED_COLD_CLASSES, kernel_class
from graphcal.evaluate.costing import CostedRows
from graphcal.hardware.profile import MATRIX_CLASSES, HardwareProfile
from graphcal.mapper import (
    GEMM_DIMENSIONS,
    KernelTerms,
    Target,
    alignment_share,
    at_threads,
    class_memory_time,
    class_shape_share,
    class_shares,
    class_unit_times,
    code_reuse_llcs,
    cold_rate_at_depth,
    cold_rates,
    context_factor,
    kernel_target,
    op_time,
    pack_share,
    partial_vectors,
    rewarm_share,
    serial_time,
    shape_term,
    thread_bandwidth_share,
)

MIN_ROWS = 4            # rows a class needs before it gets a table of its own
PRIOR = 0.03            # weight of each value's pull toward its start, in log units per row-equivalent
PASSES = 3
# where the solver starts (solve_class): from the current values or the rows' envelope, times
# (compute, memory) multiples
STARTS = (("current", 1.0, 1.0), ("envelope", 1.0, 1.0), ("envelope", 0.5, 1.0), ("envelope", 1.0, 0.5),
          ("envelope", 0.5, 0.5))
# Plausible ranges of each term (docs/model.md): a fitted value outside comes with a note.
PLAUSIBLE = {
    "compute": (0.02, 1.2),      # share of the peak of the threads used
    "memory": (0.1, 4.0),        # share of the tier bandwidth (> 1: working sets in private caches)
    "overhead_s": (0.0, 100e-6),  # per call
    "half_rate": (0.0, 2048.0),
    "pack_rows": (1.0, 256.0),
    "pack_rate": (0.05, 4.0),
    "misaligned_columns": (1.0, 96.0),  # columns of work each partial vector ending an output row costs (gemm)
    "in_model_rate": (0.3, 1.2),  # share of the rates kept inside a model
    "cold_rate": (0.1, 10.0),    # share of the DRAM bandwidth cold weights come at (gemm: serially; matvec: streamed)
    "rewarm_s": (0.0, 30e-6),    # fixed cost added when the op's code comes back from DRAM
    "rewarm_half": (0.1, 8.0),   # code reuse distance costing half of it, in last-level caches
    "cold_half_depth": (8.0, 2048.0),  # depth at which matvec streams cold weights at half its cold_rate
}
PACK_TERMS = ("pack_rows", "pack_rate")
# classes fitted on graphs timed alone that get in-model rates (mapper.context_rate): gemm, whose
# in-model rows MLPs underrate by half; matvec's agree with its MLP rows (a decode step streams
# its weights alone or in a model alike), and an in-model rate fitted for it misread LLM decoding
IN_MODEL_RATE_CLASSES = ("gemm",)
# classes fitted on graphs timed alone that get cold_rate (mapper.class_memory_time) where their
# in-model rows have weights beyond the LLC: gemm, and matvec with cold_half_depth too, from the
# grid's decode steps. Without them, matvec streamed from DRAM at its memory share of the copy
# probe, which neighbours move: a probe that read 104 GB/s (73 in the next calibration) had LLM
# decoding predicted 50% fast
COLD_CLASSES = ("gemm", "matvec")
# where the fit starts gemm's packing and partial-vector terms from
GEMM_TERM_START = {"pack_rows": 6.0, "pack_rate": 0.5, "misaligned_columns": 16.0}
SHAPE_TERMS = {
    "gemm": ("rows", "depth", "columns"), "bmm": ("rows", "depth", "columns"),
    "conv": ("rows", "depth", "columns"), "conv1d": ("rows", "depth", "columns"),
    "conv_native": ("rows", "depth", "columns"),
    "depthwise": ("rows", "columns"), "attention": ("rows", "depth"),
    "matvec": ("depth",),
}


@dataclass(frozen=True)
class OpColumns:
    """Every op of every row, flattened: what a class's table acts on."""

    row: np.ndarray            # (m,) the row it belongs to
    kernel_class: np.ndarray   # (m,) object
    threads: np.ndarray        # (m,) int
    unit_compute: np.ndarray   # (m,) seconds at the thread peak
    unit_memory: np.ndarray    # (m,) seconds at the tier bandwidths
    unit_pack: np.ndarray      # (m,) seconds to pack the GEMM's K x N matrix at its tier bandwidth
    unit_cold: np.ndarray      # (m,) seconds to fetch the op's weights beyond the LLC at DRAM bandwidth
    sizes: dict                # GEMM dimension -> (m,) float
    steps: np.ndarray          # (m,) kernel calls in sequence
    base_s: np.ndarray         # (m,) the op's time on the base profile (ops of classes without a table)
    flops: np.ndarray          # (m,)
    bytes: np.ndarray          # (m,)
    graph_ops: np.ndarray      # (m,) ops of the graph the op's row ran in (mapper.Target.graph_ops)
    stores: np.ndarray         # (m,) partial vector stores ending each output row (mapper.partial_vectors)
    fault_s: np.ndarray        # (m,) the page faults of its freshly mapped outputs (mapper.fault_time)
    code_reuse: np.ndarray     # (m,) its code's reuse distance in last-level caches (mapper.code_reuse_llcs)
    n_rows: int

    @functools.cached_property
    def _thread_counts(self) -> tuple[list[int], np.ndarray]:
        """The thread counts among the ops, ascending, and each op's index into them."""
        counts = sorted(set(self.threads.tolist()))
        return counts, np.searchsorted(np.array(counts, dtype=self.threads.dtype), self.threads)

    def by_threads(self, value_at) -> np.ndarray:
        """(m,) `value_at(threads)` for each op, called once per thread count: a fit evaluates a
        table's per-thread values thousands of times."""
        counts, index = self._thread_counts
        return np.array([value_at(t) for t in counts])[index]

    def take(self, mask: np.ndarray) -> OpColumns:
        return OpColumns(self.row[mask], self.kernel_class[mask], self.threads[mask], self.unit_compute[mask],
                         self.unit_memory[mask], self.unit_pack[mask], self.unit_cold[mask],
                         {d: s[mask] for d, s in self.sizes.items()},
                         self.steps[mask],
                         self.base_s[mask], self.flops[mask], self.bytes[mask], self.graph_ops[mask],
                         self.stores[mask], self.fault_s[mask], self.code_reuse[mask], self.n_rows)


def op_columns(rows: CostedRows, profile: HardwareProfile) -> OpColumns:
    """Unit times and shapes of every op, each (op, threads) mapped once, at the threads its
    kernel runs on (mapper.kernel_threads)."""
    targets = {(int(t), int(g)): Target(profile, rows.precision, int(t), int(g))
               for t, g in set(zip(rows.threads.tolist(), rows.graph_ops.tolist()))}
    seen: dict = {}
    row_of, classes, threads, compute, memory, pack, cold, steps, base, flops, nbytes, graph, faults, reuse = (
        [] for _ in range(14))
    sizes = {d: [] for d in GEMM_DIMENSIONS}
    for i, (table, t, g) in enumerate(zip(rows.tables, rows.threads, rows.graph_ops)):
        for cost in table.costs:
            target = kernel_target(cost, targets[(int(t), int(g))])
            key = (cost, target.threads, int(g))
            if key not in seen:
                time = op_time(cost, target)
                seen[key] = (*class_unit_times(cost, target), time.total_s, time.fault_s)
            unit_compute, unit_memory, unit_pack, unit_cold, base_s, fault_s = seen[key]
            row_of.append(i)
            classes.append(kernel_class(cost, target.threads, rows.precision))
            threads.append(target.threads)
            compute.append(unit_compute)
            memory.append(unit_memory)
            pack.append(unit_pack)
            cold.append(unit_cold)
            steps.append(cost.steps)
            base.append(base_s)
            flops.append(cost.flops)
            nbytes.append(cost.bytes)
            graph.append(int(g))
            faults.append(fault_s)
            reuse.append(code_reuse_llcs(cost, target))
            for d in GEMM_DIMENSIONS:
                sizes[d].append(float(getattr(cost, d)))
    return OpColumns(
        np.array(row_of, dtype=int), np.array(classes, dtype=object), np.array(threads, dtype=int),
        np.array(compute), np.array(memory), np.array(pack), np.array(cold), {d: np.array(s) for d, s in sizes.items()},
        np.array(steps, dtype=float), np.array(base), np.array(flops, dtype=float), np.array(nbytes, dtype=float),
        np.array(graph, dtype=float),
        partial_vectors(np.array(sizes["columns"]), rows.precision.element_bytes), np.array(faults), np.array(reuse),
        rows.n,
    )


def start_table(profile: HardwareProfile, rows: CostedRows, kernel: str, threads: list[int]) -> dict:
    """The table that times `kernel` as the base profile's coefficients do (family corrections
    aside): the fit's starting point and the prior's centre."""
    p = rows.precision
    matrix = kernel in MATRIX_CLASSES
    compute = profile.coefficient(p, "efficiency_factor") * profile.coefficient(
        p, "tile_utilization" if matrix else "instruction_efficiency")
    overhead = profile.runtime("matrix_op_overhead_s" if matrix else "per_op_overhead_s")
    table: dict = {"compute": {}, "memory": {}, "overhead_s": {}}
    for t in threads:
        share = thread_bandwidth_share(Target(profile, p, t))
        table["compute"][t] = compute
        table["memory"][t] = profile.coefficient(p, "memory_bottleneck_factor") * share
        table["overhead_s"][t] = overhead
    for d in SHAPE_TERMS.get(kernel, ()):
        table[f"half_rate_{d}"] = dict.fromkeys(threads, 0.0)
    return table


def base_table(profile: HardwareProfile, rows: CostedRows, kernel: str, threads: list[int]) -> dict:
    """The start of `kernel`'s fit: the base profile's own table where it has one (at `threads`,
    as the mapper reads it between and beyond its thread counts), else start_table."""
    stated = profile.kernel_table(rows.precision, kernel)
    if stated is None:
        return start_table(profile, rows, kernel, threads)
    table = {name: {t: at_threads(stated[name], t)[0] for t in threads}
             for name in ("compute", "memory", "overhead_s")}
    for d in SHAPE_TERMS.get(kernel, ()):
        table[f"half_rate_{d}"] = {t: shape_term(stated.get(f"half_rate_{d}", 0.0), t)[0] for t in threads}
    return table


def class_times(ops: OpColumns, kernel: str, table: dict) -> np.ndarray:
    """Time of each op of `ops` (all of class `kernel`) under `table`: the mapper's
    class_op_time, on arrays, with the ops' page faults (fixed by the profile, not fitted)."""
    def per_op(name: str) -> np.ndarray:
        return ops.by_threads(lambda t: shape_term(table[name], t)[0])

    halves = {d: per_op(f"half_rate_{d}") if f"half_rate_{d}" in table else 0.0 for d in GEMM_DIMENSIONS}
    in_model = per_op("in_model") if "in_model" in table else 1.0
    in_model_rate = per_op("in_model_rate") if "in_model_rate" in table else 1.0
    rewarm = per_op("rewarm_s") if "rewarm_s" in table else 0.0
    rates = cold_rates(table, kernel)
    terms = KernelTerms(kernel, per_op("compute"), per_op("memory"), 0.0, halves, False,
                        float(table.get("pack_rows", 0.0)), float(table.get("pack_rate", 1.0)), in_model,
                        float(table.get("in_model_half_ops", 0.0)), float(table.get("in_model_from_ops", 0.0)),
                        float(table.get("misaligned_columns", 0.0)), in_model_rate,
                        0.0 if rates is None else ops.by_threads(lambda t: at_threads(rates, t)[0]),
                        rewarm_half=float(table.get("rewarm_half", 0.0)),
                        cold_half_depth=float(table.get("cold_half_depth", 0.0)))
    shape = class_shape_share(ops.sizes, halves, kernel == "matvec")
    alignment = alignment_share(ops.sizes["columns"], ops.stores, terms)
    compute_share, memory_share = class_shares(terms, shape, alignment, ops.graph_ops)
    compute_s = np.divide(ops.unit_compute, compute_share, out=np.zeros(len(ops.row)), where=ops.unit_compute > 0)
    cold_rate = None if rates is None else cold_rate_at_depth(ops.sizes["depth"], terms)
    memory_s, cold = class_memory_time(ops.unit_memory, ops.unit_cold, memory_share, cold_rate, kernel)
    packing = ops.unit_pack * pack_share(ops.sizes["rows"], terms)
    context = context_factor(ops.graph_ops, terms)
    return (context * per_op("overhead_s") * ops.steps + packing + cold + ops.fault_s
            + rewarm * rewarm_share(ops.code_reuse, terms)
            + serial_time(compute_s, memory_s, kernel) + np.maximum(compute_s, memory_s))


def op_times(ops: OpColumns, tables: dict[str, dict]) -> np.ndarray:
    """Every op's time: ops of a tabled class by their table, the rest at their base time."""
    times = ops.base_s.copy()
    for kernel, table in tables.items():
        mask = ops.kernel_class == kernel
        if mask.any():
            times[mask] = class_times(ops.take(mask), kernel, table)
    return times


def row_latency(ops: OpColumns, tables: dict[str, dict]) -> np.ndarray:
    """Every row's latency: the sum of its ops' times."""
    return np.bincount(ops.row, weights=op_times(ops, tables), minlength=ops.n_rows)


# classes that own every row holding one of their ops, whatever its longest op: a stepped
# recurrent cell's gates (formulas.recurrent.stepped_formula) come with GEMMs that the gemm and
# matvec tables already price, so its rows determine the gates' table, and only theirs
OWNING_CLASSES = ("recurrent",)


def dominant_class(ops: OpColumns, tables: dict[str, dict]) -> np.ndarray:
    """Each row's class: that of its longest op under `tables` (ties: the first op), or an
    OWNING_CLASSES class the row holds an op of."""
    times = op_times(ops, tables)
    order = np.lexsort((-times, ops.row))  # by row, longest first
    first = np.ones(len(order), dtype=bool)
    first[1:] = ops.row[order][1:] != ops.row[order][:-1]
    classes = np.full(ops.n_rows, "none", dtype=object)
    classes[ops.row[order][first]] = ops.kernel_class[order][first]
    for kernel in OWNING_CLASSES:
        classes[np.unique(ops.row[ops.kernel_class == kernel])] = kernel
    return classes


# --- one class's least squares ----------------------------------------------------------------

@dataclass
class Layout:
    """A class table's free values as the solver's vector (log rates, overheads in us, half rates / 16)."""

    kernel: str
    threads: list[int]
    shape_terms: tuple[str, ...]

    @property
    def packs(self) -> bool:
        """gemm: its packing terms and misaligned_columns, beside its shape terms."""
        return self.kernel == "gemm"

    def to_vector(self, table: dict) -> np.ndarray:
        x = []
        for t in self.threads:
            x += [np.log(table["compute"][t]), np.log(table["memory"][t]), table["overhead_s"][t] / 1e-6]
        x += [shape_term(table[f"half_rate_{d}"], t)[0] / 16.0 for d in self.shape_terms for t in self.threads]
        if self.packs:
            x += [np.log(table.get("pack_rows", GEMM_TERM_START["pack_rows"])),
                  np.log(table.get("pack_rate", GEMM_TERM_START["pack_rate"]))]
            x += [np.log(table.get("misaligned_columns", GEMM_TERM_START["misaligned_columns"]))]
        return np.array(x)

    def to_table(self, x: np.ndarray, like: dict) -> dict:
        table = {**like, "compute": dict(like["compute"]), "memory": dict(like["memory"]),
                 "overhead_s": dict(like["overhead_s"])}
        for k, t in enumerate(self.threads):
            table["compute"][t] = float(np.exp(x[3 * k]))
            table["memory"][t] = float(np.exp(x[3 * k + 1]))
            table["overhead_s"][t] = float(x[3 * k + 2] * 1e-6)
        base = 3 * len(self.threads)
        for j, d in enumerate(self.shape_terms):
            stated = like.get(f"half_rate_{d}")
            halves = dict(stated) if isinstance(stated, dict) else {}
            halves.update({t: float(x[base + j * len(self.threads) + k] * 16.0) for k, t in enumerate(self.threads)})
            table[f"half_rate_{d}"] = halves
        if self.packs:
            first = base + self.n_shape
            table["pack_rows"] = float(np.exp(x[first]))
            table["pack_rate"] = float(np.exp(x[first + 1]))
            table["misaligned_columns"] = float(np.exp(x[first + 2]))
        return table

    @property
    def n_shape(self) -> int:
        return len(self.shape_terms) * len(self.threads)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lower, upper = [], []
        for _ in self.threads:
            # NB: a rate below half its plausible range explains no kernel; a class with few rows
            # reaches such values by trading against its overhead (max-pooling at 0.1% of peak)
            lower += [np.log(PLAUSIBLE["compute"][0] / 2), np.log(PLAUSIBLE["memory"][0] / 2), 0.0]
            upper += [np.log(4.0), np.log(20.0), 1000.0]
        lower += [0.0] * self.n_shape
        upper += [4096.0 / 16.0] * self.n_shape
        if self.packs:
            lower += [np.log(0.5), np.log(0.02), np.log(PLAUSIBLE["misaligned_columns"][0])]
            upper += [np.log(4096.0), np.log(20.0), np.log(PLAUSIBLE["misaligned_columns"][1])]
        return np.array(lower), np.array(upper)

    def standard_errors(self, x: np.ndarray, stderr_x: np.ndarray) -> dict[str, float]:
        """Errors in the table's own units (a rate's log error times the rate)."""
        out = {}
        for k, t in enumerate(self.threads):
            out[f"compute@{t}"] = float(np.exp(x[3 * k]) * stderr_x[3 * k])
            out[f"memory@{t}"] = float(np.exp(x[3 * k + 1]) * stderr_x[3 * k + 1])
            out[f"overhead_s@{t}"] = float(stderr_x[3 * k + 2] * 1e-6)
        base = 3 * len(self.threads)
        for j, d in enumerate(self.shape_terms):
            for k, t in enumerate(self.threads):
                out[f"half_rate_{d}@{t}"] = float(stderr_x[base + j * len(self.threads) + k] * 16.0)
        if self.packs:
            first = base + self.n_shape
            for j, name in enumerate(PACK_TERMS):
                out[name] = float(np.exp(x[first + j]) * stderr_x[first + j])
            j = first + len(PACK_TERMS)
            out["misaligned_columns"] = float(np.exp(x[j]) * stderr_x[j])
        return out


@dataclass(frozen=True)
class ClassSolution:
    kernel: str
    table: dict
    stderr: dict[str, float]
    rows: int


def solve_class(
    kernel: str, ops: OpColumns, rows: np.ndarray, measured: np.ndarray, weights: np.ndarray,
    tables: dict[str, dict], start: dict, refine: bool = False,
) -> ClassSolution:
    """Fit `kernel`'s table on `rows` (indices), every other class held at `tables`; with
    `refine`, from its current table only (a later pass, whose start is an earlier optimum)."""
    from scipy.optimize import least_squares

    in_rows = np.isin(ops.row, rows)
    mine = in_rows & (ops.kernel_class == kernel)
    others = ops.take(in_rows & ~mine)
    fixed = row_latency(others, {k: v for k, v in tables.items() if k != kernel})
    own = ops.take(mine)
    threads = sorted(set(own.threads.tolist()))
    layout = Layout(kernel, threads, SHAPE_TERMS.get(kernel, ()))
    current = tables.get(kernel, start)
    x0 = np.clip(layout.to_vector(current), *layout.bounds())
    prior_centre = np.clip(layout.to_vector(start), *layout.bounds())
    log_measured = np.log(measured[rows])
    root_weights = np.sqrt(weights[rows])
    position = np.full(ops.n_rows, -1)
    position[rows] = np.arange(len(rows))
    own_rows = position[own.row]

    def residuals(x: np.ndarray) -> np.ndarray:
        times = class_times(own, kernel, layout.to_table(x, current))
        latency = fixed[rows] + np.bincount(own_rows, weights=times, minlength=len(rows))
        fit = (np.log(latency) - log_measured) * root_weights
        return np.concatenate([fit, PRIOR * (x - prior_centre)])

    # NB: op time is a max(): where one term dominates every row the other has no gradient, and a
    # rate started far off never moves. So each rate starts from the rows' envelope (the share
    # of the thread peak, or of the tier bandwidth, that the fastest rows reach), and from a few
    # multiples of it; the best solution is kept.
    result = None
    lower, upper = layout.bounds()
    envelope = x0.copy()
    for k, t in enumerate(threads):
        at = own_rows[own.threads == t]
        if len(at):
            reached = measured[rows][np.unique(at)]
            unit_c = np.bincount(own_rows, weights=own.unit_compute * (own.threads == t), minlength=len(rows))
            unit_m = np.bincount(own_rows, weights=own.unit_memory * (own.threads == t), minlength=len(rows))
            envelope[3 * k] = np.log(max(np.percentile(unit_c[np.unique(at)] / reached, 90), 1e-3))
            envelope[3 * k + 1] = np.log(max(np.percentile(unit_m[np.unique(at)] / reached, 90), 1e-2))
    for origin, compute_scale, memory_scale in STARTS[:1] if refine else STARTS:
        start_x = (x0 if origin == "current" else envelope).copy()
        for k in range(len(threads)):
            start_x[3 * k] += np.log(compute_scale)
            start_x[3 * k + 1] += np.log(memory_scale)
        trial = least_squares(residuals, np.clip(start_x, lower, upper), bounds=(lower, upper), method="trf",
                              loss="soft_l1", f_scale=0.1, x_scale="jac", max_nfev=200)
        if result is None or trial.cost < result.cost:
            result = trial
    jac = result.jac
    r = result.fun
    dof = max(len(rows) - len(x0), 1)
    s2 = float(r @ r) / dof
    cov = s2 * np.linalg.pinv(jac.T @ jac)
    stderr_x = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return ClassSolution(kernel, layout.to_table(result.x, current), layout.standard_errors(result.x, stderr_x),
                         len(rows))


CONTEXT_START_HALF_OPS = 16.0
# rewarm_s's start, and its prior's centre; rewarm_half's bounds, in last-level caches
REWARM_START_S = 2e-6
REWARM_HALF_BOUNDS = (0.1, 8.0)
# rewarm is fitted at a thread count where MIN_ROWS rows hold ops at least this many LLCs from
# their previous call (at the start, such an op pays half of rewarm_s)
REWARM_FAR_LLCS = 1.0
# cold_half_depth's start (its prior's centre) and bounds
COLD_HALF_DEPTH_START = 256.0
COLD_HALF_DEPTH_BOUNDS = (8.0, 4096.0)


def solve_context(
    kernel: str, ops: OpColumns, rows: np.ndarray, measured: np.ndarray, weights: np.ndarray,
    tables: dict[str, dict], alone_graph_ops: int, cold: bool = False, in_model_rate: bool = False,
    in_model: bool = True,
) -> dict:
    """`kernel`'s table with its context terms fitted on `rows` (its rows timed alone and inside
    models), every value of the table fitted before held:
    - in_model (at each thread count of its in-model rows) and in_model_half_ops: how much
      slower the class runs inside a model, and from how many ops on (unless `in_model` is
      False: a class without rows timed alone has no standalone fixed cost to scale);
    - rewarm_s and rewarm_half (mapper.rewarm_share), at each thread count where MIN_ROWS rows
      have ops REWARM_FAR_LLCS or more of code reuse distance apart;
    - with `cold`, cold_rate at each thread count where MIN_ROWS rows have ops with weights
      beyond the LLC, and for a class of STREAMED_COLD_CLASSES cold_half_depth; with
      `in_model_rate` (gemm), that rate where no thread count has such rows: both describe a
      model's weights coming from farther than an MLP's, and fitted together they trade on the
      same rows (two calibrations of one hour on an Emerald Rapids Xeon fitted in_model_rate 1.33
      and 0.33 at 2 threads beside cold_rate 0.73 and 0.87)."""
    from scipy.optimize import least_squares

    table = tables[kernel]
    in_rows = np.isin(ops.row, rows)
    mine = in_rows & (ops.kernel_class == kernel)
    fixed = row_latency(ops.take(in_rows & ~mine), {k: v for k, v in tables.items() if k != kernel})
    own = ops.take(mine)
    threads = sorted(set(own.threads[own.graph_ops > 1].tolist()) | set(table["compute"]))
    position = np.full(ops.n_rows, -1)
    position[rows] = np.arange(len(rows))
    own_rows = position[own.row]
    log_measured = np.log(measured[rows])
    root_weights = np.sqrt(weights[rows])
    largest_alone = float(alone_graph_ops)

    def rows_with(mask: np.ndarray, t: int) -> int:
        return len(set(own.row[mask & (own.threads == t)].tolist()))

    n = len(threads) if in_model else 0
    cold_threads = [t for t in threads if cold and rows_with(own.unit_cold > 0, t) >= MIN_ROWS]
    cold_half = bool(cold_threads) and kernel in STREAMED_COLD_CLASSES
    rewarm_threads = [t for t in threads if kernel not in MATRIX_CLASSES
                      and rows_with(own.code_reuse >= REWARM_FAR_LLCS, t) >= MIN_ROWS]
    rate_threads = threads if in_model and in_model_rate and not cold_threads else []
    # x: log in_model (n), log in_model_rate, log cold_rate, log rewarm_s / REWARM_START_S, by
    # thread count; then log rewarm_half, log cold_half_depth / COLD_HALF_DEPTH_START, log
    # in_model_half_ops (each where it has values)
    sizes = (n, len(rate_threads), len(cold_threads), len(rewarm_threads))
    edges = np.cumsum((0, *sizes))
    halves_at = edges[-1]
    held = {k: v for k, v in table.items()
            if k not in ("in_model_rate", "cold_rate", "cold_half_depth", "rewarm_s", "rewarm_half")}

    def with_context(x: np.ndarray) -> dict:
        blocks = [x[a:b] for a, b in zip(edges[:-1], edges[1:])]
        out = dict(held)
        at = halves_at
        if rewarm_threads:
            out["rewarm_s"] = {t: REWARM_START_S * float(np.exp(v)) for t, v in zip(rewarm_threads, blocks[3])}
            out["rewarm_half"] = float(np.exp(x[at]))
            at += 1
        if cold_half:
            out["cold_half_depth"] = COLD_HALF_DEPTH_START * float(np.exp(x[at]))
            at += 1
        if n:
            out.update({"in_model": {t: float(np.exp(v)) for t, v in zip(threads, blocks[0])},
                        "in_model_half_ops": float(np.exp(x[at])), "in_model_from_ops": largest_alone})
        if rate_threads:
            out["in_model_rate"] = {t: float(np.exp(v)) for t, v in zip(rate_threads, blocks[1])}
        if cold_threads:
            out["cold_rate"] = {t: float(np.exp(v)) for t, v in zip(cold_threads, blocks[2])}
        return out

    def residuals(x: np.ndarray) -> np.ndarray:
        times = class_times(own, kernel, with_context(x))
        latency = fixed[rows] + np.bincount(own_rows, weights=times, minlength=len(rows))
        # NB: every value but in_model_half_ops is pulled toward its start
        pulled = x[:-1] if n else x
        return np.concatenate([(np.log(latency) - log_measured) * root_weights, PRIOR * pulled])

    lower = np.r_[[np.log(0.5)] * sizes[0], [np.log(0.2)] * sizes[1], [np.log(0.05)] * sizes[2],
                  [np.log(1e-3)] * sizes[3]]
    upper = np.r_[[np.log(40.0)] * sizes[0], [np.log(2.0)] * sizes[1], [np.log(50.0)] * sizes[2],
                  [np.log(15.0)] * sizes[3]]
    if rewarm_threads:
        lower, upper = np.r_[lower, np.log(REWARM_HALF_BOUNDS[0])], np.r_[upper, np.log(REWARM_HALF_BOUNDS[1])]
    if cold_half:
        lower = np.r_[lower, np.log(COLD_HALF_DEPTH_BOUNDS[0] / COLD_HALF_DEPTH_START)]
        upper = np.r_[upper, np.log(COLD_HALF_DEPTH_BOUNDS[1] / COLD_HALF_DEPTH_START)]
    if n:
        # NB: half-way no sooner than twice the largest graph timed alone: an MLP a layer deeper than
        # the grid's deepest is not yet a model
        lower, upper = np.r_[lower, np.log(max(1.0, largest_alone))], np.r_[upper, np.log(4096.0)]
    if not len(lower):
        return dict(table)
    best = None
    for start in (0.0, np.log(1.5), np.log(2.5)):
        x0 = np.r_[[start] * sizes[0], [0.0] * (sizes[1] + sizes[2] + sizes[3]), [0.0] * bool(rewarm_threads),
                   [0.0] * cold_half, [max(np.log(CONTEXT_START_HALF_OPS), lower[-1])] * bool(n)]
        trial = least_squares(residuals, x0, bounds=(lower, upper),
                              method="trf", loss="soft_l1", f_scale=0.1, x_scale="jac", max_nfev=200)
        if best is None or trial.cost < best.cost:
            best = trial
        if not n:
            break
    return with_context(best.x)


def fit_tables(
    ops: OpColumns, rows: np.ndarray, measured: np.ndarray, weights: np.ndarray,
    starts: dict[str, dict], tables: dict[str, dict] | None = None, kernels: set[str] | None = None,
) -> tuple[dict[str, dict], dict[str, ClassSolution]]:
    """Fit the tables of the classes with at least MIN_ROWS of `rows` (indices); `tables` holds
    classes fitted before (by another population), which stay as they are; `kernels` limits
    which classes may be fitted."""
    tables = dict(tables or {})
    held = set(tables)
    solutions: dict[str, ClassSolution] = {}
    sub = ops.take(np.isin(ops.row, rows))
    for _ in range(PASSES):
        fitted = set(solutions)
        owner = dominant_class(sub, {**starts, **tables})
        counts = {k: int(np.sum(owner[rows] == k)) for k in set(owner[rows].tolist())}
        order = sorted((k for k, n in counts.items() if n >= MIN_ROWS and k in starts and k not in held
                        and (kernels is None or k in kernels)), key=lambda k: (-counts[k], k))
        for kernel in order:
            mine = rows[owner[rows] == kernel]
            solution = solve_class(kernel, ops, mine, measured, weights, tables, starts[kernel],
                                   refine=kernel in fitted)
            tables[kernel] = solution.table
            solutions[kernel] = solution
    return tables, solutions


# --- populations and the whole stage ------------------------------------------------------------

STANDALONE, IN_MODEL, WHOLE_MODEL = "standalone", "in-model", "whole model"


def populations(rows) -> np.ndarray:
    """Each sweep row's population: timed alone (a kernel, an MLP), an op timed inside a model,
    or a whole model timed with its ops."""
    from graphcal.sweep.csvfile import MODEL_SCOPE

    return np.array([IN_MODEL if r.is_op else WHOLE_MODEL if r.fields.get("scope") == MODEL_SCOPE else STANDALONE
                     for r in rows], dtype=object)


@dataclass(frozen=True)
class KernelFit:
    tables: dict[str, dict]              # fitted on every row: what the profile gets
    solutions: dict[str, ClassSolution]  # of that fit
    fitted_by: dict[str, str]            # class -> the population whose rows fitted it
    train_predicted_s: np.ndarray
    holdout_predicted_s: np.ndarray
    final_predicted_s: np.ndarray
    row_class: np.ndarray                # each row's class under the final tables
    population: np.ndarray


def staged_fit(
    ops: OpColumns, rows: np.ndarray, measured: np.ndarray, weights: np.ndarray, population: np.ndarray,
    starts: dict[str, dict],
) -> tuple[dict[str, dict], dict[str, ClassSolution], dict[str, str]]:
    """First the classes that graphs timed alone (an MLP sweep's rows) are made of, fitted on
    the rows timed alone only: rows timed inside models never move them, and MLP predictions
    stay what the MLP rows made them. Then every other class on its rows timed alone (single ops) and
    inside models together; then the in-model terms of every class, from its rows of both kinds
    (the ones timed alone hold the terms near 1 for small graphs): the fixed cost's for all, and
    the rates' for the first classes, whose rates the graphs timed alone set."""
    alone = rows[population[rows] == STANDALONE]
    inside = rows[population[rows] == IN_MODEL]
    graphs = ops.graph_ops[np.searchsorted(ops.row, alone)] if len(alone) else np.zeros(0)
    in_graphs = np.isin(ops.row, alone[graphs > 1])
    first = {k for k in starts if len(set(ops.row[in_graphs & (ops.kernel_class == k)].tolist())) >= MIN_ROWS}
    tables, solutions = fit_tables(ops, alone, measured, weights, starts, kernels=first)
    fitted_by = dict.fromkeys(tables, f"{STANDALONE} graphs")
    both = np.concatenate([alone, inside])
    tables, found = fit_tables(ops, both, measured, weights, starts, tables)
    for kernel, solution in found.items():
        solutions[kernel] = solution
        fitted_by[kernel] = f"{STANDALONE} and {IN_MODEL}"
    # the in-model terms and the rates they were fitted beside, in turn: each fit holds the other;
    # a class fitted on graphs timed alone keeps its rates and gets in-model rates of its own
    for _ in range(PASSES):
        owner = dominant_class(ops, tables)
        for kernel in sorted(set(tables) - set(found)):
            ins, outs = inside[owner[inside] == kernel], alone[owner[alone] == kernel]
            if len(ins) >= MIN_ROWS and len(outs) >= MIN_ROWS:
                tables[kernel] = solve_context(kernel, ops, np.concatenate([outs, ins]), measured, weights, tables,
                                               int(graphs.max()), cold=kernel in COLD_CLASSES,
                                               in_model_rate=kernel in IN_MODEL_RATE_CLASSES)
        owner = dominant_class(ops, tables)
        for kernel in found:
            ins, outs = inside[owner[inside] == kernel], alone[owner[alone] == kernel]
            if len(ins) >= MIN_ROWS:
                # a class timed only inside models has no fixed cost alone for in_model to scale
                alone_too = len(outs) >= MIN_ROWS
                mine = np.concatenate([outs, ins]) if alone_too else ins
                tables[kernel] = solve_context(kernel, ops, mine, measured, weights, tables,
                                               int(graphs.max(initial=1)), in_model=alone_too)
                solutions[kernel] = solve_class(kernel, ops, mine, measured, weights, tables, starts[kernel],
                                                refine=True)
                tables[kernel] = solutions[kernel].table
    return tables, solutions, fitted_by


def staged_fits(ops: OpColumns, row_sets: list[np.ndarray], measured, weights, population, starts) -> list:
    """staged_fit of each row set, the sets in forked processes (one per core, at most one per
    set): the training split's fit and the final fit on every row are independent. Serial where
    the platform cannot fork."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    workers = min(len(row_sets), os.cpu_count() or 1)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [staged_fit(ops, rows, measured, weights, population, starts) for rows in row_sets]
    # NB: fork, not spawn: a spawned worker re-imports the caller's __main__, which breaks a
    # script that calls graphcal without an `if __name__ == "__main__"` guard; the workers run
    # numpy and scipy only, never torch, so the parent's torch threads do not matter to them
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        jobs = [pool.submit(staged_fit, ops, rows, measured, weights, population, starts) for rows in row_sets]
        return [job.result() for job in jobs]


def fit_kernels(
    costed: CostedRows, sweep_rows, measured: np.ndarray, base: HardwareProfile, train: np.ndarray,
    holdout: np.ndarray,
) -> KernelFit:
    """Tables fitted on the training rows (scored on the holdout), then on every row."""
    ops = op_columns(costed, base)
    population = populations(sweep_rows)
    weights = costed.weights
    starts = {
        kernel: base_table(base, costed, kernel, sorted(set(ops.threads[ops.kernel_class == kernel].tolist())))
        for kernel in set(ops.kernel_class.tolist()) if kernel != "other"
    }
    everything = np.arange(costed.n)
    if len(holdout):
        (train_tables, _, _), (tables, solutions, fitted_by) = staged_fits(
            ops, [train, everything], measured, weights, population, starts)
    else:
        tables, solutions, fitted_by = staged_fit(ops, train, measured, weights, population, starts)
        train_tables = tables
    tables = {k: with_covers(v, ops, k, population, fitted_by[k]) for k, v in tables.items()}
    latency_train = row_latency(ops, train_tables)
    return KernelFit(
        tables, solutions, fitted_by, latency_train[train], latency_train[holdout], row_latency(ops, tables),
        dominant_class(ops, tables), population,
    )


def with_covers(table: dict, ops: OpColumns, kernel: str, population: np.ndarray, fitted_by: str) -> dict:
    """`table` with `covers`: the thread counts and the FLOP and byte ranges of the class's ops
    in the population that fitted it (predict flags an op outside them as extrapolated)."""
    mask = (ops.kernel_class == kernel) & np.isin(population[ops.row], fitted_by.removesuffix(" graphs").split(" and "))
    return {**table, "covers": {
        "threads": sorted(set(ops.threads[mask].tolist())),
        "flops": [float(ops.flops[mask].min()), float(ops.flops[mask].max())],
        "bytes": [float(ops.bytes[mask].min()), float(ops.bytes[mask].max())],
    }}


# --- the report by class ----------------------------------------------------------------------

@dataclass(frozen=True)
class ClassRow:
    kernel: str
    fitted_by: str
    rows: int                       # rows its final fit used
    train: object                   # Metrics of the training rows of this class (None: none)
    holdout: object                 # Metrics of the held-out rows of this class (None: none)
    values: dict[str, float]        # flattened: compute@2, half_rate_rows, ...
    stderr: dict[str, float]
    notes: list[str]


def flatten(table: dict) -> dict[str, float]:
    out = {}
    for name in ("compute", "memory", "overhead_s", "in_model_rate", "cold_rate", "rewarm_s"):
        for t, value in sorted(table.get(name, {}).items()):
            out[f"{name}@{t}"] = float(value)
    for name, value in table.items():
        if name.startswith("half_rate_") and isinstance(value, dict):
            out.update({f"{name}@{t}": float(v) for t, v in sorted(value.items())})
        elif name.startswith("half_rate_") or name in (*GEMM_TERM_START, "rewarm_half", "cold_half_depth"):
            out[name] = float(value)
    return out


def plausibility_notes(values: dict[str, float], stderr: dict[str, float]) -> list[str]:
    """A note for each value outside its plausible range (PLAUSIBLE), and for each whose
    standard error exceeds it (its rows hardly determine it: it stays near its start)."""
    notes = []
    for name, value in values.items():
        low, high = PLAUSIBLE["half_rate" if name.startswith("half_rate_") else name.split("@")[0]]
        if not low <= value <= high:
            notes.append(f"{name} = {value:.3g} is outside its plausible range [{low:g}, {high:g}]")
        error = stderr.get(name)
        if error is not None and np.isfinite(error) and value and error > abs(value):
            notes.append(f"{name} = {value:.3g} ± {error:.2g}: its rows hardly determine it")
    return notes


def class_report(cal) -> list[ClassRow]:
    """Per fitted class, largest first: rows, train and holdout error, values with errors, notes."""
    from graphcal.evaluate.metrics import metrics

    fit: KernelFit = cal.kernels
    train_class, holdout_class = fit.row_class[cal.train], fit.row_class[cal.holdout]
    out = []
    for kernel, solution in fit.solutions.items():
        in_train, in_holdout = train_class == kernel, holdout_class == kernel
        train = (metrics(fit.train_predicted_s[in_train], cal.measured_s[cal.train][in_train])
                 if in_train.any() else None)
        holdout = (metrics(fit.holdout_predicted_s[in_holdout], cal.measured_s[cal.holdout][in_holdout])
                   if in_holdout.any() else None)
        values = flatten(fit.tables[kernel])
        out.append(ClassRow(kernel, fit.fitted_by[kernel], solution.rows, train, holdout, values, solution.stderr,
                            plausibility_notes(values, solution.stderr)))
    return sorted(out, key=lambda r: -r.rows)
