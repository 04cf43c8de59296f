"""Map op costs onto a hardware profile: a roofline with calibrated coefficients.

    op time = per-op overhead + max(compute time, memory time)

Each coefficient of `coefficients.<precision>` is applied in exactly one function below:

    efficiency_factor         compute_peak()        every op's compute rate
    tile_utilization          matrix_compute_rate() matrix ops (linear, matmul, conv, attention)
    instruction_efficiency    vector_compute_rate() vector ops (elementwise, norms, pools, ...)
    memory_bottleneck_factor  memory_rate()         every op's memory rate

and the profile's `runtime.per_op_overhead_s` only in op_time().
"""

from __future__ import annotations

from dataclasses import dataclass

from graphcal.cost import OpCost, OpKind
from graphcal.errors import GraphcalError
from graphcal.precision import Precision
from graphcal.profile import HardwareProfile


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


def matrix_compute_rate(target: Target) -> float:
    """Matrix ops (linear, matmul, bmm, conv, attention): compute_peak x tile_utilization."""
    return compute_peak(target) * target.profile.coefficient(target.precision, "tile_utilization")


def vector_compute_rate(target: Target) -> float:
    """Vector ops (elementwise, activations, norms, softmax, pools, reductions):
    compute_peak x instruction_efficiency."""
    return compute_peak(target) * target.profile.coefficient(target.precision, "instruction_efficiency")


def memory_rate(target: Target) -> float:
    """Every op's memory rate: bandwidth_bytes_per_s x memory_bottleneck_factor."""
    return target.profile.bandwidth_bytes_per_s * target.profile.coefficient(
        target.precision, "memory_bottleneck_factor"
    )


def op_time(cost: OpCost, target: Target) -> OpTime:
    """Time of one op: runtime.per_op_overhead_s + max(compute, memory)."""
    rate = matrix_compute_rate(target) if cost.kind is OpKind.MATRIX else vector_compute_rate(target)
    return OpTime(
        compute_s=cost.flops / rate,
        memory_s=cost.bytes / memory_rate(target),
        overhead_s=target.profile.per_op_overhead_s,
    )
