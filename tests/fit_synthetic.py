"""Synthetic sweeps for the fit tests: rows timed by a known profile through graphcal's own
model (graphcal.fit.model.evaluate), with small seeded noise, written in the sweep CSV format
(graphcal.sweep.csvfile.COLUMNS)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from graphcal.evaluate.costing import cost_workloads
from graphcal.fit import params as P
from graphcal.fit.model import Facts, evaluate
from graphcal.hardware.profile import load_profile
from graphcal.precision import Precision
from graphcal.sweep.csvfile import COLUMNS

FP32 = Precision.FP32
HOST = "synthetic-host"

# 8 cores, 1 TFLOP/s, 1 TB/s: with 1 thread an add is vector-compute-bound, with 8 memory-bound.
# The cache tier has the DRAM's bandwidth, so memory_bottleneck_factor is the one memory knob.
FACTS = {
    "cpu": {"model": "Synthetic CPU", "physical_cores": 8, "logical_cores": 8},
    "caches": {"l3_bytes": 8 * 2**20},
    "memory": {"bandwidth_bytes_per_s": 1.0e12, "cache_bandwidth_bytes_per_s": 1.0e12},
    "peak_flops_per_s": {"fp32": 1.0e12},
}
RUNTIME = ("per_op_overhead_s", "matrix_op_overhead_s", "matrix_half_rate_rows", "matrix_half_rate_depth",
           "matrix_half_rate_columns")
BASE = {"efficiency_factor": 0.5, "memory_bottleneck_factor": 0.5, "tile_utilization": 0.5,
        "instruction_efficiency": 0.5, "per_op_overhead_s": 1.0e-6, "matrix_op_overhead_s": 1.0e-6,
        "matrix_half_rate_rows": 4.0, "matrix_half_rate_depth": 0.0, "matrix_half_rate_columns": 0.0}
# per_op_overhead_s is confounded with matrix_op_overhead_s (both add time): the truth keeps it.
TRUTH = {"efficiency_factor": 0.5, "memory_bottleneck_factor": 0.7, "tile_utilization": 0.8,
         "instruction_efficiency": 0.3, "per_op_overhead_s": 1.0e-6, "matrix_op_overhead_s": 4.0e-6,
         "matrix_half_rate_rows": 12.0, "matrix_half_rate_depth": 0.0, "matrix_half_rate_columns": 0.0}

# Every regime: matrix compute (big matmuls), vector compute (adds on 1 thread), memory (adds on
# 8 threads, batch-1 linears), overhead (tiny ops); and MLPs that mix them.
WORKLOADS = (
    [(f"matmul:{n}x{n}x{n}", t) for n in (256, 512, 1024) for t in (1, 4, 8)]
    + [(f"add:{n}", t) for n in (200_000, 1_000_000, 4_000_000, 16_000_000) for t in (1, 2, 8)]
    + [(f"linear:1x{d}x{d}", t) for d in (1024, 2048, 4096) for t in (2, 8)]
    + [(w, t) for w in ("add:16", "add:256", "matmul:4x4x4", "mlp:1:8x8x8") for t in (1, 8)]
    + [(w, 8) for w in ("mlp:64:512x512x10", "mlp:256:1024x1024x1024", "mlp:4:2048x2048")]
)
MLP_ONLY = [(f"mlp:{b}:{d}x{d}x{d}", t) for b in (1, 16, 256) for d in (64, 512, 2048) for t in (1, 8)]


FAMILY_TERMS = {p.name for p in P.PARAMS if p.section == "families"}
# Convolutions of several sizes and thread counts, for the family terms.
CONVS = [(f"conv2d:{b}x{c}x{h}x{h}x{c}x3", t) for b, c, h in ((1, 8, 8), (1, 32, 28), (4, 64, 28), (1, 64, 56))
         for t in (1, 8)]


def profile_data(name: str, values: dict, bf16: dict | None = None) -> dict:
    """A profile of FACTS with `values`; with `bf16`, a bf16 table of those coefficients too (and
    a bf16 peak twice the fp32 one)."""
    data = {"name": name, **{k: dict(v) for k, v in FACTS.items()}}
    data["runtime"] = {k: values[k] for k in RUNTIME}
    data["coefficients"] = {"fp32": {k: v for k, v in values.items() if k not in RUNTIME and k not in FAMILY_TERMS}}
    if bf16 is not None:
        data["peak_flops_per_s"]["bf16"] = 2 * FACTS["peak_flops_per_s"]["fp32"]
        data["coefficients"]["bf16"] = {k: v for k, v in bf16.items() if k not in RUNTIME and k not in FAMILY_TERMS}
    families = {k: v for k, v in values.items() if k in FAMILY_TERMS}
    if families:
        data["families"] = families
    return data


def predicted(
    profile_path: Path, workloads: list[tuple[str, int]], precision: Precision = FP32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(latency_s, flops, bytes) of each (workload, threads) on the profile, by fit's model."""
    profile = load_profile(profile_path)
    rows = cost_workloads([w for w, _ in workloads], [t for _, t in workloads], precision)
    latency = evaluate(rows, Facts.of(profile, precision), P.base_values(profile, precision)).latency_s
    flops = np.array([sum(c.flops for c in t.costs) for t in rows.tables])
    nbytes = np.array([sum(c.bytes for c in t.costs) for t in rows.tables])
    return latency, flops, nbytes


def sweep_rows(
    profile_path: Path, workloads, sigma: float = 0.01, seed: int = 0, host: str = HOST, precision: Precision = FP32
) -> list[dict]:
    latency, flops, nbytes = predicted(profile_path, list(workloads), precision)
    noise = np.exp(np.random.default_rng(seed).normal(0.0, sigma, size=len(latency)))
    rows = []
    for (workload, threads), lat, f, b in zip(workloads, latency * noise, flops, nbytes):
        rows.append({
            "workload": workload, "dtype": precision.value, "threads": threads, "latency_s": repr(float(lat)),
            "median_s": repr(float(lat) * 1.02), "p90_s": repr(float(lat) * 1.05), "samples": 20,
            "flops": repr(float(f)), "bytes": repr(float(b)), "host_id": host,
            "host_cpu_model": "Synthetic CPU", "host_logical_cores": 8, "host_simd": "avx2+fma",
            "torch_version": "2.13.0+cpu", "torch_backend": "onednn", "graphcal_version": "0.1.0",
            "timestamp": "2026-01-01T00:00:00+00:00",
        })
    return rows


def write_sweep(path: Path, rows: list[dict], columns=COLUMNS) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
