"""Map op costs onto a hardware profile: a roofline with calibrated coefficients.

    op time = overhead + page faults + max(compute time, memory time)
              (+ min(compute time, memory time) for a class of classes.SERIAL_CLASSES: serial_time)
    compute time = FLOPs / compute rate        memory time = bytes / memory rate

Each profile value is read in exactly one function below, whose docstring says what it
multiplies:

    coefficients.<p>.efficiency_factor         compute_peak()          every compute rate
    coefficients.<p>.tile_utilization          matrix_compute_rate()   matrix ops
    runtime.matrix_half_rate_{rows,depth,columns}  shape_utilization()  matrix ops, by GEMM shape
    runtime.vector_product_half_rate_depth     vector_product_share()  matrix-vector products' memory rate
    coefficients.<p>.instruction_efficiency    vector_compute_rate()   vector ops
    memory.bandwidth_bytes_per_s               tier_bandwidth()        the share beyond the LLC
    memory.l2_bandwidth_bytes_per_s            tier_bandwidth()        the share within the cores' L2s
    memory.cache_bandwidth_bytes_per_s         tier_bandwidth()        the share within the LLC
    caches.l3_bytes                            tier_bandwidth()        how much of it fits (see memory_time)
    caches.l3_retained_share                   l3_retained_share()     how much of a state beyond it stays there
    coefficients.<p>.memory_bottleneck_factor  memory_rate()           every memory rate
    memory.single_thread_share                 thread_bandwidth_share()  every memory rate, by threads
    memory.fresh_page_s                        fault_time()            pages the allocator maps afresh
    runtime.per_op_overhead_s                  op_overhead()           vector ops
    runtime.matrix_op_overhead_s               op_overhead()           matrix ops
    families.<family>_overhead_s               op_overhead()           that family's ops, added per step
    families.<family>_rate_factor              family_rate_factor()    that family's compute and memory rates

Matrix ops are linear, matmul, bmm, convolution, attention and recurrent cells; vector ops are
the rest (elementwise, activations, norms, softmax, pooling, reductions, copies).

A profile may calibrate kernel classes (graphcal.cost.classes) one by one, per precision, under
`kernels.<precision>.<class>`. An op whose class has a table is timed by that table alone
(class_op_time), and none of the terms above except the machine's facts (peak, bandwidths,
cache size) reaches it:

    kernels.<p>.<class>.compute[threads]       class_op_time()       the class's compute rate
    kernels.<p>.<class>.memory[threads]        class_op_time()       the class's memory rate
    kernels.<p>.<class>.overhead_s[threads]    class_op_time()       the class's fixed cost per call
    kernels.<p>.<class>.half_rate_<dim>[threads]  class_shape_share()  matrix classes, by GEMM shape
    kernels.<p>.gemm.pack_rows, pack_rate      class_op_time()       gemm: packing its K x N matrix
    kernels.<p>.gemm.misaligned_columns        alignment_share()     gemm: N not whole cache lines
    kernels.<p>.<class>.in_model[threads], in_model_half_ops, in_model_from_ops
                                               context_factor()      ops inside models
    kernels.<p>.gemm.in_model_rate[threads]    context_rate()        gemm: its memory rate inside models
    kernels.<p>.gemm.cold_rate[threads]        class_memory_time()   gemm: weights fetched from beyond the LLC
                                                                     (convolutions: 1, classes.DRAM_FETCH_CLASSES)
    kernels.<p>.matvec.cold_rate[threads], cold_half_depth
                                               cold_rate_at_depth()  matvec: weights streamed from beyond the LLC
    kernels.<p>.<class>.rewarm_s[threads], rewarm_half
                                               rewarm_share()        the fixed cost of code fetched again

class_unit_times and class_shares are the two halves the fit evaluates on arrays (graphcal.fit.kernels).

Values at each calibrated thread count; between two, interpolated linearly in threads; beyond
them, the nearest (and the op is reported as extrapolated: kernel_terms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from graphcal.cost import OpCost, OpKind
from graphcal.cost.classes import (
    DRAM_FETCH_CLASSES,
    KINDRED_CLASSES,
    SERIAL_CLASSES,
    STREAMED_COLD_CLASSES,
    kernel_class,
)
from graphcal.errors import GraphcalError
from graphcal.hardware.allocator import DEFAULT_HEAP, PAGE_BYTES, check_heap
from graphcal.hardware.profile import HardwareProfile
from graphcal.precision import Precision


@dataclass(frozen=True)
class OpTime:
    compute_s: float
    memory_s: float
    overhead_s: float
    fault_s: float = 0.0  # the page faults of the pages the allocator maps afresh for it (fault_time)
    serial_s: float = 0.0  # the compute or memory time that does not overlap the other (serial_time)

    @property
    def total_s(self) -> float:
        return self.overhead_s + self.fault_s + self.serial_s + max(self.compute_s, self.memory_s)

    @property
    def bound(self) -> str:
        """What sets the time: 'overhead' if the fixed cost exceeds the roofline term,
        'allocation' if the page faults exceed both."""
        roofline = max(self.compute_s, self.memory_s)
        if self.fault_s > max(roofline, self.overhead_s):
            return "allocation"
        if self.overhead_s > roofline:
            return "overhead"
        return "compute" if self.compute_s >= self.memory_s else "memory"


@dataclass(frozen=True)
class Target:
    """Where a prediction runs: a profile, a precision, a thread count and the state of the C
    allocator's heap the calls start from (hardware.allocator.HEAPS)."""

    profile: HardwareProfile
    precision: Precision
    threads: int
    # ops the graph runs per call: how much other work runs between two calls of one op (the
    # in-model terms of a kernel table); 1 for an op timed alone
    graph_ops: int = 1
    heap: str = DEFAULT_HEAP

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise GraphcalError(f"--threads must be at least 1, got {self.threads}")
        self.profile.coefficient(self.precision, "efficiency_factor")  # raises if absent
        check_heap(self.heap)


def working_ops(costs) -> int:
    """A graph's size as Target.graph_ops counts it: the ops that move bytes or do arithmetic
    (views are free), at least 1."""
    return max(1, sum(1 for c in costs if c.flops or c.bytes))


def thread_share(target: Target) -> float:
    """Fraction of the profile's cores the run may use: min(threads, cores) / cores. The peak
    describes all physical cores; compute rates scale linearly with the cores used."""
    cores = target.profile.physical_cores
    return min(target.threads, cores) / cores


def thread_peak(target: Target) -> float:
    """The peak of the cores a run uses: peak_flops_per_s x thread_share (a machine fact)."""
    return target.profile.peak_flops_per_s(target.precision) * thread_share(target)


def compute_peak(target: Target) -> float:
    """Sustained compute: thread_peak x efficiency_factor."""
    return thread_peak(target) * target.profile.coefficient(target.precision, "efficiency_factor")


GEMM_DIMENSIONS = ("rows", "depth", "columns")  # M, K, N


def is_vector_product(cost: OpCost) -> bool:
    """A matrix op of one row (M = 1: a batch-1 linear): BLAS runs it as a matrix-vector product."""
    return cost.kind is OpKind.MATRIX and cost.rows == 1


def shape_utilization(cost: OpCost, target: Target) -> float:
    """Share of the matrix rate a GEMM of M x K x N reaches: the product over its three sizes
    of size / (size + h), h = runtime.matrix_half_rate_<rows|depth|columns>, the size at which
    that dimension alone halves the rate. A small batch (M), a short contraction (K) or few
    outputs (N) leave the kernel's fixed costs (packing, loading and storing tiles, splitting
    work over threads) unamortised; h = 0 turns a dimension's term off. A GEMM of one row
    (M = 1, a batch-1 linear) is a matrix-vector product, which BLAS runs without packing
    tiles: the rows term does not apply to it."""
    share = 1.0
    for dimension in GEMM_DIMENSIONS:
        half = target.profile.runtime(f"matrix_half_rate_{dimension}")
        size = getattr(cost, dimension)
        if dimension == "rows" and is_vector_product(cost):
            continue
        if half:
            share *= size / (size + half)
    return share


def vector_product_share(cost: OpCost, target: Target) -> float:
    """Share of the memory rate a matrix-vector product (a matrix op of one row: a batch-1
    linear, as in an LLM's decode) streams its matrix at: K / (K + h), h =
    runtime.vector_product_half_rate_depth, K the length of the rows it reads (the GEMM's depth).
    Each output is a dot product over one row; a short row leaves the kernel's per-row costs
    unamortised (2 threads here: 7 GB/s at K = 384, 14 GB/s at K = 4096). 1 for any other op,
    and where the profile states no h."""
    half = target.profile.runtime("vector_product_half_rate_depth")
    if not is_vector_product(cost) or not half or not cost.depth:
        return 1.0
    return cost.depth / (cost.depth + half)


def matrix_compute_rate(target: Target, cost: OpCost) -> float:
    """Matrix ops: compute_peak x tile_utilization x shape_utilization(the op's GEMM)."""
    return (
        compute_peak(target)
        * target.profile.coefficient(target.precision, "tile_utilization")
        * shape_utilization(cost, target)
    )


def vector_compute_rate(target: Target) -> float:
    """Vector ops (elementwise, activations, norms, softmax, pools, reductions):
    compute_peak x instruction_efficiency."""
    return compute_peak(target) * target.profile.coefficient(target.precision, "instruction_efficiency")


def tier_bandwidth(working_set_bytes: float, target: Target) -> float:
    """The bandwidth an op streams at, from where its working set (every byte it reads and
    writes) lives between calls: the share that fits in the L2 caches of the cores used
    (caches.l2_bytes_per_core x threads) moves at memory.l2_bandwidth_bytes_per_s x the cores'
    share of all cores (each core has its own L2), where the profile states it; the share that
    fits in the last-level cache (caches.l3_bytes) at memory.cache_bandwidth_bytes_per_s; the
    rest at memory.bandwidth_bytes_per_s (DRAM). The time per byte is the sum of each share
    over its bandwidth."""
    profile = target.profile
    if not working_set_bytes:
        return profile.l2_tier[1] if profile.l2_tier else profile.cache_bandwidth_bytes_per_s
    in_llc = min(1.0, profile.last_level_cache_bytes / working_set_bytes)
    in_l2 = 0.0
    seconds_per_byte = 0.0
    if profile.l2_tier:
        l2_bytes, l2_bandwidth = profile.l2_tier
        cores = min(target.threads, profile.physical_cores)
        in_l2 = min(in_llc, l2_bytes * cores / working_set_bytes)
        seconds_per_byte += in_l2 / (l2_bandwidth * cores / profile.physical_cores)
    seconds_per_byte += (in_llc - in_l2) / profile.cache_bandwidth_bytes_per_s
    seconds_per_byte += (1.0 - in_llc) / profile.bandwidth_bytes_per_s
    return 1.0 / seconds_per_byte


def thread_bandwidth_share(target: Target) -> float:
    """Share of the all-core bandwidths that `threads` threads reach: min(1, s x threads),
    s = memory.single_thread_share (one thread's share; 1 where the profile states none). One
    core cannot keep enough loads in flight to reach the bandwidth all cores reach together."""
    return min(1.0, target.profile.single_thread_share * target.threads)


def memory_rate(working_set_bytes: float, target: Target) -> float:
    """Every op's memory rate: tier_bandwidth x memory_bottleneck_factor x thread_bandwidth_share."""
    return (
        tier_bandwidth(working_set_bytes, target)
        * target.profile.coefficient(target.precision, "memory_bottleneck_factor")
        * thread_bandwidth_share(target)
    )


def memory_time(cost: OpCost, target: Target, rate=None) -> float:
    """Bytes over memory_rate, by where they live between two uses. An op's activations were
    just written by its producers: their working set is the op's own bytes. The bytes it reads
    from the model's state (cost.state_bytes: weights, a KV cache) were last read one forward
    pass ago, after every other byte of state (cost.reuse_bytes): their working set is that,
    when it is larger (state_working_set). Ops timed alone (a sweep's kernel, reuse_bytes 0)
    reuse only their own bytes. `rate(working set)` is the memory rate (memory_rate's, where
    the op's kernel class has no table)."""
    rate = rate or (lambda working_set: memory_rate(working_set, target))
    streamed = cost.bytes - cost.state_bytes
    # NB: a part's calls (OpCost.part: a GRU's hidden steps) each touch their share of its bytes
    own = cost.bytes / cost.steps if cost.part else cost.bytes
    time = streamed / rate(own) if streamed else 0.0
    if cost.state_bytes:
        time += cost.state_bytes / rate(state_working_set(cost, target))
    return time


def state_working_set(cost: OpCost, target: Target) -> float:
    """The working set whose tiers the op's state streams from: its own bytes or the model's
    state read between two uses (cost.reuse_bytes), whichever is larger, while that fits in
    caches.l3_bytes. Beyond it, a pass reads the state in the same order every time and the
    cache keeps only the share l3_retained_share says of it: the working set whose share
    that fits is that share (infinite where it is 0: the state streams from DRAM in full)."""
    working_set = max(cost.bytes, cost.reuse_bytes)
    cache = target.profile.last_level_cache_bytes
    if working_set <= cache:
        return working_set
    share = l3_retained_share(working_set / cache, target.profile)
    return cache / share if share else math.inf


def l3_retained_share(multiple: float, profile: HardwareProfile) -> float:
    """caches.l3_retained_share at a working set of `multiple` x l3_bytes (multiple > 1):
    linear in log(multiple) between the stated multiples, and from a share of 1 at 1x to the
    smallest; beyond the largest, its share x largest / multiple (the cache keeps no more
    bytes as the working set grows). 0 where the profile states none: each byte has been
    evicted before its next use, as on a VM whose neighbours share the cache (measured on an
    Emerald Rapids Xeon, 2 vCPUs: a 540 MB decoder streams its weights at 17-20 GB/s, below
    the DRAM copy rate, although 256 MiB of its 300 MiB cache "fit")."""
    shares = profile.l3_retained_share
    if not shares:
        return 0.0
    points = [(1.0, 1.0), *shares.items()]
    for (m0, s0), (m1, s1) in zip(points, points[1:]):
        if multiple < m1:
            return s0 + (s1 - s0) * math.log(multiple / m0) / math.log(m1 / m0)
    largest, last = points[-1]
    return last * largest / multiple


def op_overhead(cost: OpCost, target: Target) -> float:
    """The fixed cost of one eager call: runtime.matrix_op_overhead_s for a matrix op (BLAS
    and oneDNN dispatch), runtime.per_op_overhead_s for any other, plus
    families.<family>_overhead_s where the profile states one for the op's family (a
    convolution's primitive setup, say); the family's term is paid once per kernel call in
    sequence (`cost.steps`: a recurrent op's time steps x layers, 1 for any other op)."""
    name = "matrix_op_overhead_s" if cost.kind is OpKind.MATRIX else "per_op_overhead_s"
    extra = target.profile.family_term(f"{cost.family}_overhead_s")
    return target.profile.runtime(name) + (extra or 0.0) * cost.steps


def family_rate_factor(cost: OpCost, target: Target) -> float:
    """families.<family>_rate_factor: multiplies both the compute and the memory rate of the
    op's family (a kernel that reaches more or less of its class's rates: max-pooling's
    scalar loops, say); 1 where the profile states none."""
    factor = target.profile.family_term(f"{cost.family}_rate_factor")
    return 1.0 if factor is None else factor


@dataclass(frozen=True)
class KernelTerms:
    """A kernel class's table at one thread count (kernel_terms)."""

    kernel_class: str
    compute: float
    memory: float
    overhead_s: float
    half_rates: dict
    extrapolated: bool   # the thread count lies outside the table's calibrated ones, or the table is borrowed
    pack_rows: float = 0.0   # 0: no packing term
    pack_rate: float = 1.0
    in_model: float = 1.0    # the class's slowdown inside a model (at the thread count)
    in_model_half_ops: float = 0.0
    in_model_from_ops: float = 0.0
    misaligned_columns: float = 0.0  # columns of work each partial vector ending an output row costs (0: none)
    in_model_rate: float = 1.0  # share of the class's rates kept inside a model (at the thread count)
    cold_rate: float = 0.0   # share of the DRAM bandwidth cold weights come at (0: no term)
    rewarm_s: float = 0.0    # fixed cost added once the op's code has left the caches (at the thread count)
    rewarm_half: float = 0.0  # the code reuse distance, in last-level caches, that costs half of it (0: no term)
    cold_half_depth: float = 0.0  # the row length at which matvec streams at half its cold_rate (0: no term)


def at_threads(values: dict, threads: int) -> tuple[float, bool]:
    """A per-thread-count value at `threads`: exact, linear between two calibrated counts, else
    the nearest; and whether `threads` was one of the calibrated counts."""
    if threads in values:
        return float(values[threads]), False
    counts = sorted(values)
    below = [c for c in counts if c < threads]
    above = [c for c in counts if c > threads]
    if below and above:
        lo, hi = below[-1], above[0]
        share = (threads - lo) / (hi - lo)
        return float(values[lo]) * (1 - share) + float(values[hi]) * share, True
    return float(values[(below or above)[-1 if below else 0]]), True


def shape_term(value, threads: int) -> tuple[float, bool]:
    """A class's half_rate_<dim> at `threads`: one number for every thread count, or a value per
    calibrated thread count (at_threads): splitting a GEMM between threads shortens each thread's
    share of it, so a shape's efficiency depends on how many threads divide it."""
    if isinstance(value, dict):
        return at_threads(value, threads)
    return float(value), False


def kernel_terms(cost: OpCost, target: Target) -> KernelTerms | None:
    """The table of the op's kernel class at the target's precision and threads, or None where
    the profile calibrates no such table (the op then takes the coefficients path above). A
    class of classes.KINDRED_CLASSES without a table of its own takes its kindred class's,
    and is extrapolated."""
    name = kernel_class(cost, target.threads, target.precision)
    table = target.profile.kernel_table(target.precision, name)
    borrowed = table is None and name in KINDRED_CLASSES
    if borrowed:
        table = target.profile.kernel_table(target.precision, KINDRED_CLASSES[name])
    if table is None:
        return None
    compute, off_compute = at_threads(table["compute"], target.threads)
    memory, off_memory = at_threads(table["memory"], target.threads)
    overhead, off_overhead = at_threads(table["overhead_s"], target.threads)
    halves, off_shape = {}, False
    for d in GEMM_DIMENSIONS:
        halves[d], off = shape_term(table.get(f"half_rate_{d}", 0.0), target.threads)
        off_shape = off_shape or off
    in_model = at_threads(table["in_model"], target.threads)[0] if "in_model" in table else 1.0
    in_model_rate = at_threads(table["in_model_rate"], target.threads)[0] if "in_model_rate" in table else 1.0
    rates = cold_rates(table, name)
    cold_rate = at_threads(rates, target.threads)[0] if rates else 0.0
    rewarm = at_threads(table["rewarm_s"], target.threads)[0] if "rewarm_s" in table else 0.0
    return KernelTerms(name, compute, memory, overhead, halves,
                       borrowed or off_compute or off_memory or off_overhead or off_shape,
                       float(table.get("pack_rows", 0.0)), float(table.get("pack_rate", 1.0)), in_model,
                       float(table.get("in_model_half_ops", 0.0)), float(table.get("in_model_from_ops", 0.0)),
                       float(table.get("misaligned_columns", 0.0)), in_model_rate, cold_rate, rewarm,
                       float(table.get("rewarm_half", 0.0)),
                       float(table.get("cold_half_depth", 0.0)))


def cold_rates(table: dict, kernel: str) -> dict | None:
    """A class table's cold_rate by threads: as stated; 1 at each of its thread counts for a class
    of classes.DRAM_FETCH_CLASSES that states none; else None (no term)."""
    if "cold_rate" in table:
        return table["cold_rate"]
    if kernel in DRAM_FETCH_CLASSES:
        return dict.fromkeys(table["compute"], 1.0)
    return None


def class_shape_share(sizes: dict, halves: dict, vector_product: bool):
    """The product over the GEMM's sizes of size / (size + h), h = the class's
    half_rate_<rows|depth|columns> (0: no term), for floats or numpy arrays alike. A
    matrix-vector product has one row: its rows term does not apply."""
    share = 1.0
    for dimension in GEMM_DIMENSIONS:
        if vector_product and dimension == "rows":
            continue
        size, half = sizes[dimension], halves[dimension]
        # a size of 0 (no work) or a half rate of 0 (no term): a factor of 1
        share = share * (size / (size + half + (size + half == 0)) + (size == 0))
    return share


def class_unit_times(cost: OpCost, target: Target) -> tuple[float, float, float, float]:
    """(compute, memory, pack, cold) seconds of an op before its class's shares divide them: FLOPs at
    thread_peak, memory_time at the tier bandwidths (plus, for a recurrent op, its layer's
    hidden weights read again at every step, at the tier that holds them: an LSTM layer of
    hidden size 1024 streams 16.8 MB from the last-level cache 32 times in 32 steps), and the
    GEMM's K x N matrix at the tier of its own size, once per call (`steps` calls: a GRU's
    hidden steps pack W_hh at every step): memory_time already fetches the matrix
    from wherever the model keeps it; the packed copy BLAS writes and reads back is the
    matrix's size, in the caches while it fits; and the GEMM's weights that lie beyond the
    last-level cache at DRAM bandwidth (cold_bytes)."""
    compute = cost.flops / thread_peak(target) if cost.flops else 0.0
    memory = memory_time(cost, target, lambda working_set: tier_bandwidth(working_set, target)) if cost.bytes else 0.0
    if cost.step_bytes:
        memory += cost.steps * cost.step_bytes / tier_bandwidth(cost.step_bytes, target)
    matrix_bytes = float(cost.depth * cost.columns * target.precision.element_bytes)
    pack = (cost.steps * matrix_bytes / tier_bandwidth(matrix_bytes, target)
            if cost.kind is OpKind.MATRIX and matrix_bytes else 0.0)
    cold = (cold_bytes(cost, target) / target.profile.bandwidth_bytes_per_s
            if cost.kind is OpKind.MATRIX and cost.state_bytes else 0.0)
    return compute, memory, pack, cold


def cold_bytes(cost: OpCost, target: Target) -> float:
    """The bytes of an op's state (weights) that its model left beyond the last-level cache:
    the share of them that state_working_set puts in DRAM (none while the state fits)."""
    if not cost.state_bytes:
        return 0.0
    return cost.state_bytes * (1.0 - min(1.0, target.profile.last_level_cache_bytes / state_working_set(cost, target)))


def cold_fetch_time(unit_cold, cold_rate):
    """The time a GEMM spends fetching its cold weights (class_unit_times' cold seconds, at DRAM
    bandwidth) before the arithmetic that uses them: unit cold / the class's cold_rate, added to
    the op's time, not overlapped (class_op_time adds none where the class has no cold_rate).
    BLAS packs the weights into its tile layout block by block and computes on each packed
    block: the arithmetic hides a fetch from the caches, not one from DRAM. Measured on an
    Emerald Rapids Xeon, 2 threads: linear 128 x 768 -> 3072 takes 2.09 ms cycling through 63
    weight matrices (600 MB) and 1.77 ms on one, the difference the 9.4 MB of weights at 30
    GB/s; at 32 rows, 0.89 ms against 0.61 ms. Floats or arrays."""
    return unit_cold / cold_rate


def cold_rate_at_depth(depth, terms: KernelTerms):
    """The class's cold_rate for an op of reduction depth K: cold_rate x K / (K + cold_half_depth)
    where the class states a cold_half_depth (matvec), else cold_rate (0: no term). Each output of
    a matrix-vector product reads one row of K weights and reduces it: the shorter the row, the
    more of its stream is ramp-up and reduction. Measured on a Zen 5 EPYC, 2 vCPUs, in a decode
    step's weights from DRAM: rows of 320 streamed at 13-14 GB/s, of 640 at 15-16, of 1728 at
    18-19, and a 1.1B-parameter LLM's decode (rows of 2048 and 5632) at 21 GB/s and more. Floats
    or arrays."""
    if not terms.cold_half_depth:
        return terms.cold_rate + 0.0 * depth
    return terms.cold_rate * depth / (depth + terms.cold_half_depth)


def class_memory_time(unit_memory, unit_cold, memory_share, cold_rate, kernel: str = ""):
    """(memory seconds, serial seconds) of a class's op. Without a cold_rate (None), its cold
    weights are part of its memory time, at the DRAM tier (memory_time), over the memory share.
    With one, the memory term keeps the other bytes over the memory share (fitted on weights in
    the caches, it says nothing of DRAM) and the cold weights take unit cold / cold_rate: for a
    class of classes.STREAMED_COLD_CLASSES (matvec, whose cold_rate is cold_rate_at_depth's),
    streamed with the arithmetic, in the memory term; for any other (gemm), fetched before it
    (cold_fetch_time, serial). Floats or arrays."""
    if cold_rate is None:
        return unit_memory / memory_share, 0.0
    if kernel in STREAMED_COLD_CLASSES:
        return (unit_memory - unit_cold) / memory_share + unit_cold / cold_rate, 0.0 * unit_cold
    return (unit_memory - unit_cold) / memory_share, cold_fetch_time(unit_cold, cold_rate)


def pack_share(rows, terms: KernelTerms):
    """Share of the K x N matrix's packing time a GEMM of M rows pays, at the class's memory
    rate: M^2 / (M^2 + r^2) / (pack_rate x memory), r = the class's pack_rows (0: none). BLAS
    packs the matrix into its tile layout once per call when M is large enough to reuse it,
    and streams it unpacked for a few rows: a cost of the matrix's size, not amortised over M
    (measured: linear 3072 x 3072 on one core, 1.2 ms at M = 1-3, 4.0 ms at M = 8)."""
    if not terms.pack_rows:
        return 0.0 * rows
    return rows * rows / (rows * rows + terms.pack_rows ** 2) / (terms.pack_rate * terms.memory)


CACHE_LINE_BYTES = 64


def partial_vectors(columns, element_bytes: int):
    """How many partial vector stores end each of a GEMM's output rows (N values, floats or
    arrays) at a cost: 0 where a row is whole 64-byte cache lines or shorter than one; else, for
    fp32, one per set bit of N mod 8 (4, 2, 1 floats; a remainder's half-line store of 8 floats
    costs little), and for 2-byte types, one. Measured on a Zen 5 EPYC, linear 256 x 1024 -> N,
    one and two threads (benchmarks/partial_stores.py): beyond the aligned rate, a remainder
    (N mod 16) of 8 floats cost 3-4 columns, of 1 or 4 floats 7-15, of 12 (8 + 4) 9-10, of 7
    (4 + 2 + 1) 24-27, of 15 (8 + 4 + 2 + 1) 26-33; in bf16, N = 177 to 260 cost 17-27 columns
    whatever the remainder. An Emerald Rapids Xeon ran N of 176-260 at 0.89-0.90x where the
    remainder was whole 16-byte lanes and 0.82-0.83x where it was not. Rows under one line
    (N < 16 floats) take a narrow kernel whose time grows with N."""
    row_bytes = columns * element_bytes
    remainder = (row_bytes % CACHE_LINE_BYTES) // element_bytes
    if element_bytes == 4:
        stores = sum((remainder // 2 ** bit) % 2 for bit in range(3))
    else:
        stores = 1.0 * (remainder > 0)
    return stores * (row_bytes >= CACHE_LINE_BYTES)


def alignment_share(columns, stores, terms: KernelTerms):
    """Share of the compute rate a GEMM keeps when its output rows end in `stores` partial vector
    stores (partial_vectors): N / (N + misaligned_columns x stores), each store costing the
    work of misaligned_columns whole columns; 1 where the table states none. Floats or arrays."""
    extra = terms.misaligned_columns * stores
    # NB: + (extra == 0) keeps a row without stores (N = 0 included) at 1, without dividing by zero
    return 1.0 - extra / (columns + extra + (extra == 0))


def class_shares(terms: KernelTerms, shape, alignment, graph_ops):
    """(compute share, memory share): the class's compute and memory values, times the shape
    share on the compute rate of a matrix class, or on the memory rate of a matrix-vector
    product (each output streams one row of the matrix); times a GEMM's alignment_share on its
    compute rate, and for an op inside a graph of `graph_ops` ops the context_rate share on
    its memory rate. Floats or arrays."""
    memory = terms.memory * context_rate(graph_ops, terms)
    if terms.kernel_class == "matvec":
        return terms.compute, memory * shape
    return terms.compute * shape * alignment, memory


def graph_ramp(graph_ops, terms: KernelTerms):
    """How far a graph of `graph_ops` ops is into the in-model regime, 0 to 1: n^2 / (n^2 + h^2),
    n = graph_ops - in_model_from_ops (the largest graph the calibration timed alone: at most
    that many ops, 0), h = in_model_half_ops (0: no in-model terms, 0); floats or arrays."""
    if not terms.in_model_half_ops:
        return 0.0 * graph_ops
    beyond = graph_ops - terms.in_model_from_ops
    n2 = beyond * beyond * (beyond > 0)
    return n2 / (n2 + terms.in_model_half_ops ** 2)


def context_rate(graph_ops, terms: KernelTerms):
    """The share of the class's memory rate an op keeps inside a graph of `graph_ops` ops:
    1 + (in_model_rate - 1) x graph_ramp. Fitted for gemm, whose rates MLPs calibrate alone
    (ops timed back to back on warm weights): inside a
    model the same GEMM runs after other ops that evicted its weights, packed buffers and code
    (measured: the linears of a text encoder and of a decoder step, timed in place, take 1.3x to
    2.2x what MLPs of their shapes predict)."""
    return 1.0 + (terms.in_model_rate - 1.0) * graph_ramp(graph_ops, terms)


def context_factor(graph_ops, terms: KernelTerms):
    """How much larger the class's fixed cost per call is inside a graph of `graph_ops` ops
    than timed alone: 1 + (in_model - 1) x n^2 / (n^2 + h^2), n = graph_ops - in_model_from_ops
    (the largest graph the calibration timed alone: at most that many ops, n = 0), h =
    in_model_half_ops. Between
    two calls of an op a model runs its other ops, whose code, descriptors and buffers evict
    the op's own, and allocates their outputs; an op timed alone, or in an MLP of a few layers,
    keeps them (measured on the calibration grid's in-model rows against the same classes timed
    alone; floats or arrays). The rates are not scaled: a large op's streaming and arithmetic
    are the same wherever it runs, and the state-bytes rule of memory_time already places its
    weights where the rest of the model leaves them."""
    return 1.0 + (terms.in_model - 1.0) * graph_ramp(graph_ops, terms)


def rewarm_share(reuse_llcs, terms: KernelTerms):
    """The share of the class's rewarm_s an op pays: w^2 / (w^2 + h^2), w = the bytes its graph
    moves between two calls of its code (OpCost.code_reuse_bytes) in last-level caches, h =
    rewarm_half (0: no term). The dispatcher's tables and the kernel's code that an op runs on
    stay cached while little moves between its calls; behind a layer's worth of weights they
    come back from DRAM: on a Zen 5 EPYC, a 4-element rsqrt took 1.5 us behind 4 MB of other
    work and 4-5 us behind 64 MB, and the in-model rows of small ops ran 9 us over their
    prediction at 1 to 4 LLCs of reuse distance, none below a quarter of one. Floats or arrays."""
    if not terms.rewarm_half:
        return 0.0 * reuse_llcs
    w2 = reuse_llcs * reuse_llcs
    return w2 / (w2 + terms.rewarm_half ** 2)


def class_op_time(cost: OpCost, target: Target, terms: KernelTerms) -> OpTime:
    """Time of an op whose kernel class has a table: overhead_s x steps (a recurrent op's calls)
    + packing (unit pack x pack_share, counted as fixed cost: it does not overlap the GEMM)
    + max(unit compute / compute share, unit memory / memory share) + its cold weights' fetch
    (cold_fetch_time); the fixed cost times context_factor, plus rewarm_s x rewarm_share."""
    unit_compute, unit_memory, unit_pack, unit_cold = class_unit_times(cost, target)
    sizes = {d: getattr(cost, d) for d in GEMM_DIMENSIONS}
    shape = class_shape_share(sizes, terms.half_rates, terms.kernel_class == "matvec")
    stores = partial_vectors(cost.columns, target.precision.element_bytes)
    alignment = alignment_share(cost.columns, stores, terms)
    compute_share, memory_share = class_shares(terms, shape, alignment, target.graph_ops)
    context = context_factor(target.graph_ops, terms)
    cold_rate = cold_rate_at_depth(cost.depth, terms) or None
    memory_s, cold_s = class_memory_time(unit_memory, unit_cold, memory_share, cold_rate, terms.kernel_class)
    compute_s = unit_compute / compute_share if unit_compute else 0.0
    return OpTime(
        compute_s=compute_s,
        memory_s=memory_s,
        overhead_s=(context * terms.overhead_s * cost.steps + unit_pack * pack_share(cost.rows, terms) + cold_s
                    + terms.rewarm_s * rewarm_share(code_reuse_llcs(cost, target), terms)),
        serial_s=serial_time(compute_s, memory_s, terms.kernel_class),
    )


def code_reuse_llcs(cost: OpCost, target: Target) -> float:
    """The op's code reuse distance (OpCost.code_reuse_bytes) in last-level caches."""
    return cost.code_reuse_bytes / target.profile.last_level_cache_bytes


def serial_time(compute_s, memory_s, kernel: str):
    """The smaller of an op's compute and memory times for a class of classes.SERIAL_CLASSES,
    whose kernels read their operands and then compute on them, one after the other; 0 for the
    others, whose roofline max() overlaps the two. Floats or arrays."""
    if kernel not in SERIAL_CLASSES:
        return 0.0 * compute_s
    shorter = compute_s < memory_s
    return shorter * compute_s + (1 - shorter) * memory_s


def fault_time(cost: OpCost, target: Target) -> float:
    """The page faults of the pages the C allocator maps afresh for the op on every call
    (OpCost.fault_bytes, cost.allocations): their count x memory.fresh_page_s at the thread count
    (between two probed counts, interpolated); 0 where the profile states no fresh_page_s
    (Prediction.fresh_bytes and faults_costed report them)."""
    per_page = target.profile.fresh_page_s
    if not cost.fault_bytes or not per_page:
        return 0.0
    return cost.fault_bytes / PAGE_BYTES * at_threads(per_page, target.threads)[0]


# at::internal::GRAIN_SIZE: the fewest elements per thread ATen's pointwise loops split off
GRAIN_ELEMENTS = 32768


def kernel_threads(cost: OpCost, threads: int) -> int:
    """The threads the op's kernel runs on. A pointwise op (cost.pointwise_elements) splits its
    elements between threads in grains of GRAIN_ELEMENTS, and runs one of at most that many
    inline on the calling thread: min(threads, ceil(elements / GRAIN_ELEMENTS)). Any other op,
    `threads`. Measured on a Zen 5 EPYC: relu and add on 4,096 to 32,768 elements take the
    same time at 1 and 2 threads; on 32,769, 2 threads are slower (the split's cost), and from
    65,536 faster."""
    if not cost.pointwise_elements:
        return threads
    return max(1, min(threads, -(-cost.pointwise_elements // GRAIN_ELEMENTS)))


def kernel_target(cost: OpCost, target: Target) -> Target:
    """The target at the threads the op's kernel runs on (kernel_threads): every term of the
    op's time is read there."""
    threads = kernel_threads(cost, target.threads)
    return target if threads == target.threads else replace(target, threads=threads)


def op_time(cost: OpCost, target: Target) -> OpTime:
    """Time of one op, at kernel_target: class_op_time where its kernel class has a table, else
    op_overhead + max(compute, memory) on the coefficients; either with its outputs' page
    faults (fault_time)."""
    target = kernel_target(cost, target)
    return replace(kernel_op_time(cost, target), fault_s=fault_time(cost, target))


def kernel_op_time(cost: OpCost, target: Target) -> OpTime:
    """The kernel's own time: class_op_time where its kernel class has a table, else op_overhead
    + max(compute, memory) on the coefficients."""
    terms = kernel_terms(cost, target)
    if terms is not None:
        return class_op_time(cost, target, terms)
    if cost.kind is OpKind.MATRIX:
        rate = matrix_compute_rate(target, cost)
    else:
        rate = vector_compute_rate(target)
    factor = family_rate_factor(cost, target)
    # NB: an op on empty tensors (a 0 dimension: batch norm's saved statistics in eval) does no
    # work, and a GEMM of 0 rows has no rate to divide by: its compute and memory times are 0
    return OpTime(
        compute_s=cost.flops / (rate * factor) if cost.flops else 0.0,
        memory_s=memory_time(cost, target) / (factor * vector_product_share(cost, target)) if cost.bytes else 0.0,
        overhead_s=op_overhead(cost, target),
    )
