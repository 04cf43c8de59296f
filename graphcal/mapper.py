"""Map op costs onto a hardware profile: a roofline with calibrated coefficients.

    op time = overhead + max(compute time, memory time)
    compute time = FLOPs / compute rate        memory time = bytes / memory rate

Each profile value is read in exactly one function below, whose docstring says what it
multiplies:

    coefficients.<p>.efficiency_factor         compute_peak()          every compute rate
    coefficients.<p>.tile_utilization          matrix_compute_rate()   matrix ops
    runtime.matrix_half_rate_{rows,depth,columns}  shape_utilization()  matrix ops, by GEMM shape
    runtime.vector_product_half_rate_depth     vector_product_share()  matrix-vector products' memory rate
    coefficients.<p>.instruction_efficiency    vector_compute_rate()   vector ops
    memory.bandwidth_bytes_per_s               tier_bandwidth()        the share beyond the LLC
    memory.cache_bandwidth_bytes_per_s         tier_bandwidth()        the share within the LLC
    caches.l3_bytes                            tier_bandwidth()        how much of it fits (see memory_time)
    coefficients.<p>.memory_bottleneck_factor  memory_rate()           every memory rate
    memory.single_thread_share                 thread_bandwidth_share()  every memory rate, by threads
    runtime.per_op_overhead_s                  op_overhead()           vector ops
    runtime.matrix_op_overhead_s               op_overhead()           matrix ops
    families.<family>_overhead_s               op_overhead()           that family's ops, added per step
    families.<family>_rate_factor              family_rate_factor()    that family's compute and memory rates

Matrix ops are linear, matmul, bmm, convolution, attention and recurrent cells; vector ops are
the rest (elementwise, activations, norms, softmax, pooling, reductions, copies).
"""

from __future__ import annotations

from dataclasses import dataclass

from graphcal.cost import OpCost, OpKind
from graphcal.errors import GraphcalError
from graphcal.hardware.profile import HardwareProfile
from graphcal.precision import Precision


@dataclass(frozen=True)
class OpTime:
    compute_s: float
    memory_s: float
    overhead_s: float

    @property
    def total_s(self) -> float:
        return self.overhead_s + max(self.compute_s, self.memory_s)

    @property
    def bound(self) -> str:
        """What sets the time: 'overhead' if the fixed cost exceeds the roofline term."""
        roofline = max(self.compute_s, self.memory_s)
        if self.overhead_s > roofline:
            return "overhead"
        return "compute" if self.compute_s >= self.memory_s else "memory"


@dataclass(frozen=True)
class Target:
    """Where a prediction runs: a profile, a precision and a thread count."""

    profile: HardwareProfile
    precision: Precision
    threads: int

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise GraphcalError(f"--threads must be at least 1, got {self.threads}")
        self.profile.coefficient(self.precision, "efficiency_factor")  # raises if absent


def thread_share(target: Target) -> float:
    """Fraction of the profile's cores the run may use: min(threads, cores) / cores. The peak
    describes all physical cores; compute rates scale linearly with the cores used."""
    cores = target.profile.physical_cores
    return min(target.threads, cores) / cores


def compute_peak(target: Target) -> float:
    """Sustained compute: peak_flops_per_s x efficiency_factor x thread_share."""
    profile, precision = target.profile, target.precision
    return (
        profile.peak_flops_per_s(precision)
        * profile.coefficient(precision, "efficiency_factor")
        * thread_share(target)
    )


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
    writes) lives between calls: the share h = min(1, caches.l3_bytes / working set) that fits
    in the last-level cache moves at memory.cache_bandwidth_bytes_per_s, the rest at
    memory.bandwidth_bytes_per_s (DRAM): 1 / (h / cache + (1 - h) / dram)."""
    profile = target.profile
    cached = min(1.0, profile.last_level_cache_bytes / working_set_bytes) if working_set_bytes else 1.0
    return 1.0 / (cached / profile.cache_bandwidth_bytes_per_s + (1.0 - cached) / profile.bandwidth_bytes_per_s)


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


def memory_time(cost: OpCost, target: Target) -> float:
    """Bytes over memory_rate, by where they live between two uses. An op's activations were
    just written by its producers: their working set is the op's own bytes. The bytes it reads
    from the model's state (cost.state_bytes: weights, a KV cache) were last read one forward
    pass ago, after every other byte of state (cost.reuse_bytes): their working set is that,
    when it is larger. A decode step at batch 1 reads each weight once per token, so a model
    larger than the last-level cache streams its weights from DRAM, whatever one layer's size.
    Ops timed alone (a sweep's kernel, reuse_bytes 0) reuse only their own bytes."""
    streamed = cost.bytes - cost.state_bytes
    time = streamed / memory_rate(cost.bytes, target) if streamed else 0.0
    if cost.state_bytes:
        time += cost.state_bytes / memory_rate(max(cost.bytes, cost.reuse_bytes), target)
    return time


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


def op_time(cost: OpCost, target: Target) -> OpTime:
    """Time of one op: op_overhead + max(compute, memory)."""
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
