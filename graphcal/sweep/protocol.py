"""The measurement protocol: how one block of workloads is timed (docs/sweeps.md).

1. Every workload runs in eval mode under `torch.no_grad()`, with `torch.set_num_threads`
   fixed for the whole sweep and Python's garbage collector paused while timing.
2. Warm-up: each workload is called until both `warmup_calls` calls and `warmup_s` seconds have
   passed. The warm-up also picks `inner`, the calls per sample, so that one sample lasts at
   least `min_sample_s` (timer overhead stays far below 1% even for 2 us ops).
3. Interleaved rounds: every workload of the block in turn (the order rotates each round) is
   sampled for `window_s` seconds and at least `min_samples` samples. A sample is the mean
   time of `inner` back-to-back calls, read with `time.perf_counter_ns`.
4. Contention gauge: each round measures the share of the machine's CPU time that other
   processes used meanwhile (/proc/stat minus this process's own CPU time). A round above
   `max_contention` does not count: rounds go on until `rounds` quiet ones are in, or
   `max_rounds` were run (then every round counts, and the row's `contention` column says so).
   On a shared machine one busy neighbour can make a multi-threaded op 20-200x slower for
   seconds (OpenMP threads wait on a descheduled peer): see docs/sweeps.md.
5. Statistics over the counted rounds: `latency_s` is the minimum over rounds of each round's
   fastest sample (a sample being the mean of `inner` calls lasting >= `min_sample_s`), chosen
   over the minimum of the round medians (`best_round_median_s`, also recorded) because it
   repeated better here, quiet or contended.
   `median_s` and `p90_s` are taken over all their samples; `spread` is the relative range of
   the round medians, the per-configuration noise the summary reports.

6. Speed gauge: before each round a fixed fp32 matrix product (GAUGE_SIZE cubed, on the
   sweep's threads; the fastest of GAUGE_CALLS) is timed, and `gauge_s`, its median over the
   counted rounds, goes into the row. The contention gauge cannot see a neighbour outside this
   machine (another guest on the same cores, a lowered clock); the speed gauge can: rows, or
   whole sweeps, timed minutes apart compare their gauges to see how fast the host was then.
7. Passes (applied by graphcal.sweep.runner, not here): the whole grid is timed `passes`
   times, each pass in its own seeded block order, and a configuration's latency is the
   minimum over its passes (csvfile.read_sweep). The machine here has slow states that last
   seconds to minutes, longer than a block;
   passes minutes apart show them, and the faster pass is the one a slow state disturbed least.

Nothing here knows about CSV files, grids or progress bars: `time_block` takes prepared
callables and returns statistics.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    """Timing settings; the defaults are the ones docs/sweeps.md documents."""

    rounds: int = 5
    max_rounds: int = 15
    max_contention: float = 0.25
    backoff_s: float = 0.2
    window_s: float = 0.04
    min_samples: int = 5
    warmup_calls: int = 3
    warmup_s: float = 0.02
    min_sample_s: float = 100e-6
    passes: int = 2




@dataclass(frozen=True)
class Timing:
    latency_s: float      # minimum over rounds of each round's fastest sample
    best_round_median_s: float  # minimum over rounds of the round medians
    median_s: float       # median of all samples
    p90_s: float          # 90th percentile of all samples
    samples: int          # samples over all rounds (each the mean of `inner` calls)
    inner: int            # calls per sample
    spread: float         # (max - min) / min of the round medians
    round_medians: tuple[float, ...]
    contention: float     # mean share of the CPU other processes used in the counted rounds
    rounds_run: int       # rounds run, counted or not
    gauge_s: float | None = None  # median speed-gauge time over the counted rounds (None: no gauge)


GAUGE_SIZE = 256   # the speed gauge's square fp32 matrices: 34 MFLOP, 0.1-0.5 ms on 1-2 cores
GAUGE_CALLS = 3


def speed_gauge() -> Callable[[], float]:
    """A reading of the host's speed now: seconds of the fastest of GAUGE_CALLS fp32 products of
    two GAUGE_SIZE x GAUGE_SIZE matrices, on torch's current thread count."""
    import torch

    a, b = torch.randn(GAUGE_SIZE, GAUGE_SIZE), torch.randn(GAUGE_SIZE, GAUGE_SIZE)
    out = torch.empty(GAUGE_SIZE, GAUGE_SIZE)
    clock = time.perf_counter_ns

    def read() -> float:
        best = None
        for _ in range(GAUGE_CALLS):
            t0 = clock()
            torch.mm(a, b, out=out)
            elapsed = clock() - t0
            best = elapsed if best is None else min(best, elapsed)
        return best / 1e9

    return read


MIN_GAUGE_TICKS = 20  # clock ticks (all CPUs together) a round must span to be judged


class ContentionGauge:
    """Share of the machine's CPU time used by other processes between `start()` and `read()`.

    From /proc/stat (all CPUs, busy and idle ticks) minus this process's own CPU time (all its
    threads); None where /proc/stat is missing or the round spanned fewer than MIN_GAUGE_TICKS
    clock ticks (then the round counts).
    """

    def __init__(self) -> None:
        self._start = None

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat") as handle:
                fields = [int(v) for v in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
        return busy, idle, time.process_time()

    def start(self) -> None:
        self._start = self._sample()

    def read(self) -> float | None:
        end = self._sample()
        if self._start is None or end is None:
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy = (end[0] - self._start[0]) / hz
        total = busy + (end[1] - self._start[1]) / hz
        if total * hz < MIN_GAUGE_TICKS:
            return None  # too short to judge: a tick or two would read as 0% or 100%
        others = busy - (end[2] - self._start[2])
        return min(1.0, max(0.0, others / total))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between order statistics."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _warm_up(call: Callable[[], object], protocol: Protocol) -> int:
    """Run the warm-up and return `inner`, the calls per sample."""
    clock = time.perf_counter
    start = clock()
    calls = 0
    while calls < protocol.warmup_calls or clock() - start < protocol.warmup_s:
        call()
        calls += 1
    # one more timed call (the warm-up's first calls include one-time setup)
    t0 = clock()
    call()
    per_call = max(clock() - t0, 1e-9)
    return max(1, int(protocol.min_sample_s / per_call + 0.999))


def _sample_round(call: Callable[[], object], inner: int, protocol: Protocol) -> list[float]:
    clock = time.perf_counter_ns
    samples: list[float] = []
    deadline = clock() + int(protocol.window_s * 1e9)
    while len(samples) < protocol.min_samples or clock() < deadline:
        t0 = clock()
        for _ in range(inner):
            call()
        samples.append((clock() - t0) / inner / 1e9)
    return samples


def time_block(
    calls: list[Callable[[], object]],
    protocol: Protocol,
    on_switch: Callable[[int], None] = lambda index: None,
    gauge: Callable[[], float] | None = None,
) -> list[Timing]:
    """Time each callable of a block with interleaved rounds; one Timing per callable, in order.

    The callables must already be set up (eval, no_grad, threads): see `graphcal.sweep.workload`.
    `on_switch(i)` is called (outside any timed region) before callable i is warmed up or sampled;
    `gauge` (speed_gauge()), where given, is read before each round.
    """
    if not calls:
        return []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        inners = []
        for i, call in enumerate(calls):
            on_switch(i)
            inners.append(_warm_up(call, protocol))
        rounds: list[list[list[float]]] = [[] for _ in calls]
        contention: list[float | None] = []
        speeds: list[float] = []
        busy = ContentionGauge()
        order = list(range(len(calls)))
        while sum(_quiet(c, protocol) for c in contention) < protocol.rounds and len(contention) < max(
            protocol.rounds, protocol.max_rounds
        ):
            if contention and not _quiet(contention[-1], protocol):
                time.sleep(protocol.backoff_s)  # let a burst of neighbours' work pass
            shift = len(contention) % len(calls)
            if gauge is not None:
                speeds.append(gauge())
            busy.start()
            for i in order[shift:] + order[:shift]:
                on_switch(i)
                rounds[i].append(_sample_round(calls[i], inners[i], protocol))
            contention.append(busy.read())
    finally:
        if gc_was_enabled:
            gc.enable()
    counted = [r for r, c in enumerate(contention) if _quiet(c, protocol)] or list(range(len(contention)))
    shares = [contention[r] or 0.0 for r in counted]
    gauge_s = statistics.median(speeds[r] for r in counted) if speeds else None
    return [
        _stats([per_round[r] for r in counted], inner, sum(shares) / len(shares), len(contention), gauge_s)
        for per_round, inner in zip(rounds, inners)
    ]


def _quiet(contention: float | None, protocol: Protocol) -> bool:
    return contention is None or contention <= protocol.max_contention


def _stats(
    per_round: list[list[float]], inner: int, contention: float, rounds_run: int, gauge_s: float | None = None
) -> Timing:
    medians = tuple(statistics.median(samples) for samples in per_round)
    every = [s for samples in per_round for s in samples]
    low = min(medians)
    return Timing(
        latency_s=min(every),
        best_round_median_s=low,
        median_s=statistics.median(every),
        p90_s=percentile(every, 90),
        samples=len(every),
        inner=inner,
        spread=(max(medians) - low) / low,
        round_medians=medians,
        contention=contention,
        rounds_run=rounds_run,
        gauge_s=gauge_s,
    )
