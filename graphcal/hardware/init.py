"""`graphcal profiles init --host`: a base profile for the machine at hand.

What can be read is read: the CPU model, logical and physical cores and SIMD flags from
/proc/cpuinfo, clocks from cpufreq (else the model name's "@ 3.60GHz", else cpuinfo's "cpu MHz"),
cache sizes from /sys/devices/system/cpu/cpu0/cache. FP32 FLOP per cycle follows from the
widest SIMD and FMA: lanes x 2 (a multiply-add) x FMA units, with two units assumed where the
flags cannot tell. What cannot be read is probed, briefly, and marked so in the file:

    peak      a large fp32 sgemm (torch.mm) on every physical core; the profile's peak is the
              larger of this and cores x FLOP/cycle x clock, so that coefficients in (0, 1]
              can express every rate measured
    bf16 peak the same torch.mm in bf16, only where the CPU computes bf16 natively (x86
              avx512_bf16 or amx_bf16, aarch64 bf16): its peak and `coefficients.bf16` start as
              fp32's do. Elsewhere torch converts bf16 to fp32 and back, so no bf16 table is
              written and `provenance.notes` says why
    memory    a streaming copy of buffers larger than the last-level cache (bytes read + written)
    cache     copies from 2 to 256 MiB: where the last-level cache a run can use ends; then copies
              of 1.5 to 4 times that, repeated: the share of each the cache still serves
    overhead  a tiny op called back to back (the eager dispatch cost per op)

Every fact's origin is in `provenance.sources` (detected, computed, assumed or probed) and every
probe's figure and method in `measured`. The coefficients start where the probes put them
(tile_utilization from the sgemm, the others 1.0 or an uncalibrated guess): run `graphcal fit`.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphcal import __version__
from graphcal.hardware.allocator import FRESH_MAPPING_BYTES, PAGE_BYTES
from graphcal.hardware.host import SIMD_FLAGS, Bf16Support, bf16_support, core_count, parse_cpuinfo
from graphcal.precision import Precision

CPUINFO = Path("/proc/cpuinfo")
SYS_CPU = Path("/sys/devices/system/cpu")
UNCALIBRATED_VECTOR = 0.5  # instruction_efficiency before any fit: a guess, and said to be one
AMX_BF16_FLOPS_PER_CYCLE = 1024  # Intel's figure for AMX: 1,024 bf16 operations per cycle per core


@dataclass
class Fact:
    value: Any
    source: str  # "detected: ...", "computed: ...", "assumed: ...", "probed: ..."


@dataclass
class Detected:
    facts: dict[str, Fact] = field(default_factory=dict)  # keyed by profile field path
    bf16: Bf16Support = Bf16Support(None, "no CPU flags read")

    def get(self, path: str, default: Any = None) -> Any:
        fact = self.facts.get(path)
        return default if fact is None else fact.value

    def set(self, path: str, value: Any, source: str) -> None:
        self.facts[path] = Fact(value, source)


# --- reading -------------------------------------------------------------------------------------

def parse_size(text: str) -> int | None:
    """'48K' / '2048K' / '260M' / '1024 KB' -> bytes."""
    match = re.fullmatch(r"\s*([0-9]+)\s*([KMG]?)i?B?\s*", text, flags=re.IGNORECASE)
    if not match:
        return None
    return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match.group(2).upper()]


def simd_width_bits(flags: set[str]) -> int | None:
    for flag, bits in (("avx512f", 512), ("avx", 256), ("sse", 128), ("asimd", 128), ("neon", 128)):
        if flag in flags:
            return bits
    return None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def detect(cpuinfo_path: Path = CPUINFO, sys_cpu: Path = SYS_CPU) -> Detected:
    """Every fact that can be read without timing anything."""
    d = Detected()
    blocks = parse_cpuinfo(read_text(cpuinfo_path) or "")
    first = blocks[0] if blocks else {}
    model = first.get("model name") or first.get("Processor") or first.get("cpu model")
    d.set("cpu.model", model or "unknown", f"detected: {cpuinfo_path} model name" if model else "assumed: unknown")
    logical = len(blocks) or os.cpu_count() or 1
    d.set(
        "cpu.logical_cores",
        logical,
        f"detected: {cpuinfo_path} processor count" if blocks else "detected: os.cpu_count()",
    )
    cores = core_count(blocks)
    if cores:
        d.set("cpu.physical_cores", cores, f"detected: {cpuinfo_path} distinct (physical id, core id)")
    else:
        d.set("cpu.physical_cores", logical, "assumed: one thread per core (no core ids in cpuinfo)")

    flags = set((first.get("flags") or first.get("Features") or "").split())
    present = [f for f in SIMD_FLAGS if f in flags]
    d.set("cpu.simd", "+".join(present) or "none", f"detected: {cpuinfo_path} flags")
    d.bf16 = bf16_support(first, str(cpuinfo_path))
    width = simd_width_bits(flags)
    if width:
        lanes = width // 32
        has_fma = "fma" in flags or "asimd" in flags
        if has_fma:
            per_cycle = lanes * 2 * 2
            how = (
                f"computed: {width}-bit SIMD ({lanes} fp32 lanes) x 2 FLOP per FMA x 2 FMA units "
                "(assumed: the flags cannot tell 1 from 2)"
            )
        else:
            per_cycle = lanes * 2
            how = f"computed: {width}-bit SIMD ({lanes} fp32 lanes), one add and one multiply per cycle (no FMA flag)"
        d.set("cpu.fp32_flops_per_cycle_per_core", per_cycle, how)

    cpufreq = sys_cpu / "cpu0" / "cpufreq"
    max_khz = read_text(cpufreq / "cpuinfo_max_freq")
    base_khz = read_text(cpufreq / "base_frequency")
    if max_khz and max_khz.isdigit():
        d.set("cpu.max_clock_hz", int(max_khz) * 1000, f"detected: {cpufreq}/cpuinfo_max_freq")
    if base_khz and base_khz.isdigit():
        d.set("cpu.base_clock_hz", int(base_khz) * 1000, f"detected: {cpufreq}/base_frequency")
    elif model and (m := re.search(r"@\s*([0-9.]+)\s*GHz", model)):
        d.set("cpu.base_clock_hz", int(float(m.group(1)) * 1e9), f"detected: {cpuinfo_path} model name")
    elif first.get("cpu MHz"):
        d.set(
            "cpu.base_clock_hz",
            int(float(first["cpu MHz"]) * 1e6),
            f"detected: {cpuinfo_path} cpu MHz (the clock reported, not a guaranteed one)",
        )

    for index in sorted((sys_cpu / "cpu0" / "cache").glob("index*")):
        level, kind, size = (read_text(index / n) for n in ("level", "type", "size"))
        size_bytes = parse_size(size or "")
        if size_bytes is None:
            continue
        key = {("1", "Data"): "caches.l1d_bytes_per_core", ("2", "Unified"): "caches.l2_bytes_per_core",
               ("3", "Unified"): "caches.l3_bytes"}.get((level, kind))
        if key:
            d.set(key, size_bytes, f"detected: {index}/size")
    return d


# --- probes --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    value: Any  # a rate, a time, a size; a mapping for caches.l3_retained_share
    method: str


def _best_seconds(call: Callable[[], Any], budget_s: float, min_calls: int = 3) -> tuple[float, int]:
    """Fastest of repeated calls, after one warm-up: at least `min_calls`, until `budget_s`."""
    call()
    best, calls, start = float("inf"), 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
        calls += 1
    return best, calls


def probe_peak_flops(
    threads: int, n: int = 2048, budget_s: float = 1.0, precision: Precision = Precision.FP32
) -> Probe:
    """Sustained matrix throughput in `precision`: the fastest of repeated n x n x n torch.mm calls."""
    import torch

    dtype = getattr(torch, precision.torch_dtype_name)
    with torch.no_grad():
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        out = torch.empty(n, n, dtype=dtype)
        seconds, calls = _best_seconds(lambda: torch.mm(a, b, out=out), budget_s)
    return Probe(
        2.0 * n**3 / seconds, f"torch.mm {n}x{n}x{n} {precision.value} on {threads} threads, fastest of {calls} calls"
    )


def probe_bandwidth(threads: int, nbytes: int = 512 * 1024**2, budget_s: float = 1.0) -> Probe:
    """Streaming copy between two buffers of `nbytes`: (read + written bytes) / seconds."""
    import torch

    count = max(nbytes // 4, 1)
    with torch.no_grad():
        src, dst = torch.ones(count), torch.zeros(count)
        seconds, calls = _best_seconds(lambda: dst.copy_(src), budget_s)
    return Probe(
        2.0 * count * 4 / seconds,
        f"copy of {count * 4 / 1024**2:.0f} MiB fp32 on {threads} threads (read + write), fastest of {calls} calls",
    )


LLC_PROBE_MIB = (2, 4, 8, 16, 32, 64, 128, 256)  # working sets (two buffers) the knee is looked for at


def effective_cache_bytes(rates: dict[int, float], dram_rate: float) -> int | None:
    """The largest working set (bytes) whose copy rate is still nearer the cache's (the rate of
    the smallest) than DRAM's, on a log scale: where the cache a run can use ends. A VM's
    share of a server's last-level cache is often far below what /sys states. None where even
    the smallest is no faster than DRAM."""
    sizes = sorted(rates)
    cache_rate = rates[sizes[0]]
    if cache_rate <= dram_rate * 1.2:
        return None
    middle = (cache_rate * dram_rate) ** 0.5
    fitting = [size for size in sizes if rates[size] >= middle]
    return fitting[-1] if fitting else None


def probe_cache_capacity(threads: int, dram_rate: float, above: int = 0, budget_s: float = 0.15) -> Probe | None:
    """Copy rates of working sets from 2 to 256 MiB, those larger than `above` (twice the
    cores' L2s, so the knee found is the last-level cache's): the effective last-level cache
    (effective_cache_bytes), or None where no knee shows."""
    rates = {}
    for mib in LLC_PROBE_MIB:
        if mib * 1024**2 > above:
            rates[mib * 1024**2] = probe_bandwidth(threads, mib * 1024**2 // 2, budget_s).value
    if len(rates) < 2:
        return None
    size = effective_cache_bytes(rates, dram_rate)
    if size is None:
        return None
    listed = ", ".join(f"{s // 1024**2} MiB {r / 1e9:.0f} GB/s" for s, r in sorted(rates.items()))
    return Probe(float(size), f"fp32 copies on {threads} threads, working sets {listed}: the largest nearer the "
                              f"cache rate than DRAM's (geometric mean)")


RETAINED_MULTIPLES = (1.5, 2.0, 3.0, 4.0)  # working sets, in last-level caches, the retained share is probed at
RETAINED_MAX_BYTES = 4 * 1024**3  # larger working sets are not probed


def retained_shares(rates: dict[float, float], cache_rate: float, dram_rate: float) -> dict[float, float]:
    """The share of each working set (keyed by multiple of the last-level cache) that its copy
    read from the cache: the s with 1 / rate = s / cache_rate + (1 - s) / dram_rate, the blend
    graphcal.mapper.tier_bandwidth makes, within [0, 1] and never larger than a smaller
    working set's share (a timing's noise cannot make the cache keep more of a larger one)."""
    shares, previous = {}, 1.0
    spread = 1.0 / dram_rate - 1.0 / cache_rate
    for multiple in sorted(rates):
        share = (1.0 / dram_rate - 1.0 / rates[multiple]) / spread if spread > 0 else 0.0
        previous = min(previous, max(0.0, share))
        shares[multiple] = round(previous, 3)
    return shares


def probe_retained_share(threads: int, cache_bytes: int, cache_rate: float, dram_rate: float,
                         budget_s: float = 0.15) -> Probe | None:
    """Copies of working sets 1.5 to 4 times the last-level cache, called again and again as a
    forward pass reads its weights: the share of each the cache still served (retained_shares).
    A desktop's own cache keeps much of a working set twice its size; a VM's share of a server's
    cache, with busy neighbours, little. None where the cache is no faster than DRAM."""
    if cache_rate <= dram_rate:
        return None
    rates = {m: probe_bandwidth(threads, int(m * cache_bytes) // 2, budget_s).value
             for m in RETAINED_MULTIPLES if m * cache_bytes <= RETAINED_MAX_BYTES}
    if not rates:
        return None
    listed = ", ".join(f"{m:g}x {rates[m] / 1e9:.0f} GB/s" for m in sorted(rates))
    return Probe(retained_shares(rates, cache_rate, dram_rate),
                 f"fp32 copies on {threads} threads of working sets {listed} of {cache_bytes / 1024**2:.0f} MiB, "
                 f"between the cache's {cache_rate / 1e9:.0f} and DRAM's {dram_rate / 1e9:.0f} GB/s")


def fault_thread_counts(cores: int) -> list[int]:
    """The thread counts fresh pages are probed at: 1, the powers of two between, and `cores`."""
    counts, t = {1, cores}, 2
    while t < cores:
        counts.add(t)
        t *= 2
    return sorted(counts)


def probe_fresh_pages(cores: int, nbytes: int = 2 * FRESH_MAPPING_BYTES, repeats: int = 9) -> Probe:
    """What a freshly mapped output costs in page faults: a fill of a new `nbytes` tensor (above
    the allocator's fresh-mapping size, so mapped afresh on every call) against a fill of one
    kept, per 4 KiB page; the median of `repeats` at each thread count (fault_thread_counts)."""
    import torch

    pages = nbytes / PAGE_BYTES
    previous = torch.get_num_threads()
    per_page: dict[int, float] = {}
    try:
        kept = torch.empty(nbytes, dtype=torch.uint8)
        for threads in fault_thread_counts(cores):
            torch.set_num_threads(threads)
            kept.fill_(1)
            fresh_s, kept_s = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                torch.empty(nbytes, dtype=torch.uint8).fill_(1)
                fresh_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                kept.fill_(1)
                kept_s.append(time.perf_counter() - start)
            per_page[threads] = max(0.0, (statistics.median(fresh_s) - statistics.median(kept_s)) / pages)
    finally:
        torch.set_num_threads(previous)
    listed = ", ".join(f"{t}: {s * 1e9:.0f} ns" for t, s in per_page.items())
    return Probe(per_page, f"fills of a new {nbytes / 1024**2:.0f} MiB tensor against a kept one, per 4 KiB page, "
                           f"median of {repeats} by threads ({listed})")


def probe_overhead(elements: int = 16, calls: int = 2000) -> Probe:
    """Eager dispatch cost: mean time of a tiny add called back to back, the fastest of 5 batches."""
    import torch

    a, b = torch.ones(elements), torch.ones(elements)
    out = torch.empty(elements)
    best = float("inf")
    with torch.no_grad():
        for _ in range(6):
            t0 = time.perf_counter()
            for _ in range(calls):
                torch.add(a, b, out=out)
            best = min(best, (time.perf_counter() - t0) / calls)
    return Probe(
        best, f"torch.add on {elements} fp32 elements, mean of {calls} back-to-back calls, fastest of 6 batches"
    )


def probe_matrix_overhead(features: int = 16, calls: int = 2000) -> Probe:
    """BLAS dispatch cost: mean time of a 1 x 16 x 16 linear called back to back, fastest of 6 batches."""
    import torch
    from torch.nn import functional as F

    x, w, b = torch.ones(1, features), torch.ones(features, features), torch.ones(features)
    best = float("inf")
    with torch.no_grad():
        for _ in range(6):
            t0 = time.perf_counter()
            for _ in range(calls):
                F.linear(x, w, b)
            best = min(best, (time.perf_counter() - t0) / calls)
    return Probe(
        best, f"F.linear 1x{features}x{features} fp32, mean of {calls} back-to-back calls, fastest of 6 batches"
    )


@dataclass(frozen=True)
class Probes:
    peak: Probe
    bandwidth: Probe
    overhead: Probe
    cache_bandwidth: Probe
    matrix_overhead: Probe
    bf16_peak: Probe | None = None  # only where the CPU computes bf16 natively
    l2_bandwidth: Probe | None = None  # where the L2 size is known
    cache_capacity: Probe | None = None  # where copies show where the last-level cache ends
    retained_share: Probe | None = None  # where the last-level cache is faster than DRAM
    fresh_pages: Probe | None = None  # where the allocator maps large tensors afresh (glibc)


def run_probes(detected: Detected) -> Probes:
    """Run the probes on every physical core (threads restored afterwards); the bf16 peak only
    where the CPU computes bf16 natively."""
    import torch

    threads = detected.get("cpu.physical_cores", 1)
    last_level = detected.get("caches.l3_bytes") or detected.get("caches.l2_bytes_per_core") or 32 * 1024**2
    # Buffers of 8 last-level caches each (256 MiB to 1 GiB), so the copy streams from memory
    # whatever share of a server's cache the run gets: on a 2-vCPU Zen 5 EPYC guest (32 MiB L3),
    # copies of 64 MiB buffers ran at 48 GB/s in one hour and 100 GB/s in the next, partly
    # served by a cache its neighbours had left free; of 256 and 512 MiB at 44-46 GB/s
    nbytes = int(min(max(8 * last_level, 256 * 1024**2), 1024**3))
    l2 = detected.get("caches.l2_bytes_per_core")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        bandwidth = probe_bandwidth(threads, nbytes)
        capacity = probe_cache_capacity(threads, bandwidth.value, above=2 * (l2 or 0) * threads)
        usable = min(last_level, int(capacity.value)) if capacity else last_level
        # A copy whose two buffers take an eighth of the usable last-level cache (1 to 32 MiB
        # each) stays there between calls: the rate of an op whose working set fits.
        cache_nbytes = int(min(max(usable // 16, 1024**2), 32 * 1024**2))
        cache_bandwidth = probe_bandwidth(threads, cache_nbytes, budget_s=0.5)
        return Probes(
            probe_peak_flops(threads), bandwidth, probe_overhead(),
            cache_bandwidth, probe_matrix_overhead(),
            probe_peak_flops(threads, precision=Precision.BF16) if detected.bf16.native else None,
            # two buffers that fill half of the cores' L2s between them
            probe_bandwidth(threads, l2 * threads // 4, budget_s=0.3) if l2 else None,
            capacity,
            probe_retained_share(threads, usable, cache_bandwidth.value, bandwidth.value),
            probe_fresh_pages(threads) if platform.libc_ver()[0] == "glibc" else None,
        )
    finally:
        torch.set_num_threads(previous)


# --- the profile ---------------------------------------------------------------------------------

def build_profile(name: str, detected: Detected, probes: Probes, date: str | None = None) -> dict:
    """The profile document: detected facts, the peaks, probed bandwidth and overhead, starting
    coefficients per precision (fp32; bf16 where the CPU computes it natively and it was
    probed), and where each value came from."""
    d = Detected(dict(detected.facts), detected.bf16)
    per_cycle = d.get("cpu.fp32_flops_per_cycle_per_core")
    tables = {Precision.FP32: (set_peak(d, Precision.FP32, probes.peak, per_cycle), probes.peak, "sgemm")}
    notes = []
    bf16 = detected.bf16
    if bf16.native and probes.bf16_peak is not None:
        bf16_per_cycle, how = bf16_flops_per_cycle(bf16.flag, per_cycle)
        peak = set_peak(d, Precision.BF16, probes.bf16_peak, bf16_per_cycle, how)
        tables[Precision.BF16] = (peak, probes.bf16_peak, "bf16 torch.mm")
    elif bf16.native:
        notes.append(f"bf16: native ({bf16.evidence}) but not probed, so no bf16 table was written")
    else:
        notes.append(f"{bf16.not_native()}, so graphcal does not calibrate it: no bf16 table written")
    d.set("memory.bandwidth_bytes_per_s", float(probes.bandwidth.value), f"probed: {probes.bandwidth.method}")
    d.set("memory.cache_bandwidth_bytes_per_s", max(float(probes.cache_bandwidth.value), float(probes.bandwidth.value)),
          f"probed: {probes.cache_bandwidth.method} (at least the DRAM figure)")
    if d.get("caches.l3_bytes") is None:
        d.set("caches.l3_bytes", 32 * 1024**2, "assumed: 32 MiB (no last-level cache size could be read)")
    if probes.cache_capacity is not None and probes.cache_capacity.value < d.get("caches.l3_bytes"):
        stated = d.get("caches.l3_bytes")
        d.set("caches.l3_bytes", int(probes.cache_capacity.value),
              f"probed: {probes.cache_capacity.method}; the system states {stated / 1024**2:.0f} MiB")
    if probes.retained_share is not None:
        d.set("caches.l3_retained_share", probes.retained_share.value, f"probed: {probes.retained_share.method}")
    if probes.fresh_pages is not None:
        d.set("memory.fresh_page_s", probes.fresh_pages.value, f"probed: {probes.fresh_pages.method}")
    if probes.l2_bandwidth is not None:
        d.set("memory.l2_bandwidth_bytes_per_s",
              max(float(probes.l2_bandwidth.value), float(d.get("memory.cache_bandwidth_bytes_per_s"))),
              f"probed: {probes.l2_bandwidth.method} (at least the last-level cache figure)")
    d.set("runtime.per_op_overhead_s", float(probes.overhead.value), f"probed: {probes.overhead.method}")
    d.set(
        "runtime.matrix_op_overhead_s", float(probes.matrix_overhead.value), f"probed: {probes.matrix_overhead.method}"
    )
    for dimension in ("rows", "depth", "columns"):
        d.set(f"runtime.matrix_half_rate_{dimension}", 0,
              "assumed: 0 (no shape term), uncalibrated: graphcal fit sets it from MLP sweeps")
    document: dict[str, Any] = {
        "name": name,
        "description": (
            f"{d.get('cpu.model')}: detected and probed by graphcal profiles init --host; calibrate with graphcal fit"
        ),
    }
    for path, fact in d.facts.items():
        section, _, key = path.partition(".")
        document.setdefault(section, {})[key] = fact.value
    document["coefficients"] = {
        precision.value: starting_coefficients(probe.value / peak) for precision, (peak, probe, _) in tables.items()
    }
    document["measured"] = {
        "sgemm_flops_per_s": {"value": probes.peak.value, "method": probes.peak.method},
        **({"bf16_gemm_flops_per_s": {"value": probes.bf16_peak.value, "method": probes.bf16_peak.method}}
           if Precision.BF16 in tables else {}),
        "copy_bandwidth_bytes_per_s": {"value": probes.bandwidth.value, "method": probes.bandwidth.method},
        "per_op_overhead_s": {"value": probes.overhead.value, "method": probes.overhead.method},
        "cache_copy_bandwidth_bytes_per_s": {
            "value": probes.cache_bandwidth.value,
            "method": probes.cache_bandwidth.method,
        },
        "matrix_op_overhead_s": {"value": probes.matrix_overhead.value, "method": probes.matrix_overhead.method},
        **{name: {"value": probe.value, "method": probe.method}
           for name, probe in (("l2_copy_bandwidth_bytes_per_s", probes.l2_bandwidth),
                               ("cache_capacity_bytes", probes.cache_capacity),
                               ("l3_retained_share", probes.retained_share),
                               ("fresh_page_s", probes.fresh_pages)) if probe is not None},
    }
    sources = {path: fact.source for path, fact in d.facts.items()}
    for precision, (_, _, probe_name) in tables.items():
        sources.update(coefficient_sources(precision, probe_name))
    document["provenance"] = {
        "tool": "graphcal profiles init --host",
        "graphcal_version": __version__,
        "date": date or dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "host": _fingerprint(),
        "sources": sources,
        **({"notes": notes} if notes else {}),
    }
    return document


def set_peak(d: Detected, precision: Precision, probe: Probe, per_cycle: int | None, how: str = "") -> float:
    """`peak_flops_per_s.<precision>`: the larger of cores x FLOP/cycle x clock and the probed
    torch.mm rate, so that coefficients in (0, 1] can express every rate measured."""
    cores = d.get("cpu.physical_cores")
    clock = d.get("cpu.max_clock_hz") or d.get("cpu.base_clock_hz")
    theoretical = cores * per_cycle * clock if per_cycle and clock else None
    path = f"peak_flops_per_s.{precision.value}"
    if theoretical and theoretical >= probe.value:
        d.set(path, float(theoretical),
              f"computed: {cores} cores x {per_cycle} FLOP/cycle{how} x {clock / 1e9:.2f} GHz (the "
              f"{precision.value} torch.mm probe reached {probe.value / theoretical:.0%} of it)")
    else:
        why = "above the computed figure" if theoretical else "no clock or FLOP/cycle to compute it from"
        d.set(path, float(probe.value), f"probed: {probe.method} ({why})")
    return d.get(path)


def bf16_flops_per_cycle(flag: str | None, fp32_per_cycle: int | None) -> tuple[int | None, str]:
    """bf16 FLOP per cycle per core from the flag that shows native bf16, and how it was reckoned:
    AMX's own figure; for avx512_bf16 and aarch64 bf16 (dot products: two multiply-adds per fp32
    lane) twice the fp32 figure, with its FMA-unit assumption."""
    if flag == "amx_bf16":
        return AMX_BF16_FLOPS_PER_CYCLE, " (assumed: AMX, Intel's 1,024 bf16 FLOP per cycle per core)"
    if fp32_per_cycle is None:
        return None, ""
    return 2 * fp32_per_cycle, f" (assumed: {flag} dot products, twice fp32's {fp32_per_cycle})"


def starting_coefficients(tile: float) -> dict[str, float]:
    """A precision's coefficients before any fit: tile_utilization from its torch.mm probe."""
    return {
        "efficiency_factor": 1.0,
        "memory_bottleneck_factor": 1.0,
        "tile_utilization": min(1.0, tile),
        "instruction_efficiency": UNCALIBRATED_VECTOR,
    }


def coefficient_sources(precision: Precision, probe_name: str) -> dict[str, str]:
    table = f"coefficients.{precision.value}"
    return {
        f"{table}.tile_utilization": f"probed: {probe_name} throughput / peak (efficiency_factor 1.0)",
        f"{table}.efficiency_factor": "assumed: 1.0 (the probes set the rates; fit adjusts)",
        f"{table}.memory_bottleneck_factor": "assumed: 1.0 (the bandwidth is the probed copy rate)",
        f"{table}.instruction_efficiency": (
            f"assumed: {UNCALIBRATED_VECTOR}, uncalibrated: run graphcal sweep ops"
            + ("" if precision is Precision.FP32 else f" --dtype {precision.value}")
            + " and graphcal fit"
        ),
    }


def _fingerprint() -> dict:
    from dataclasses import asdict

    from graphcal.hardware.host import fingerprint

    fp = fingerprint()
    return {"host_id": fp.host_id, **{k: str(v) if isinstance(v, str) else v for k, v in asdict(fp).items()}}


HEADER = (
    "# Written by `graphcal profiles init --host`. provenance.sources says where each value came\n"
    "# from: detected (read from the system), computed, assumed, or probed (timed briefly here;\n"
    "# the figures and methods are under `measured`). Calibrate it: graphcal sweep mlp, graphcal fit.\n"
)


def init_host_profile(out: Path, probe: Callable[[Detected], Probes] | None = None) -> dict:
    """Detect, probe, write `out` atomically (validated by loading it); return the document."""
    from graphcal.hardware.write import write_profile

    detected = detect()
    document = build_profile(out.stem, detected, (probe or run_probes)(detected))
    write_profile(document, out, HEADER)
    return document
