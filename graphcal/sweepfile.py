"""The sweep CSV format: what `sweep` writes and `fit` and `compare` read.

One row per timed configuration. Files from several machines concatenate into one (same
header). `read_sweep` validates what fit and compare rely on and names the file and row of
any problem.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from graphcal.errors import GraphcalError

COLUMNS = (
    "workload",          # a spec that `graphcal predict` accepts
    "dtype",             # precision: fp32, bf16, ...
    "threads",           # torch.set_num_threads during timing
    "latency_s",         # minimum over interleaved rounds (see the README's measurement protocol)
    "median_s",
    "p90_s",
    "samples",
    "flops",             # exactly as predict counts them for the spec
    "bytes",
    "host_id",
    "host_cpu_model",
    "host_logical_cores",
    "host_simd",
    "torch_version",
    "torch_backend",
    "graphcal_version",
    "timestamp",
)
REQUIRED_FOR_FIT = ("workload", "dtype", "threads", "latency_s", "host_id")


@dataclass(frozen=True)
class SweepRow:
    workload: str
    dtype: str
    threads: int
    latency_s: float
    host_id: str
    source: str           # file:line, for messages
    fields: dict          # every column as read


def read_sweep(path: Path) -> list[SweepRow]:
    """All rows of one sweep CSV, checked: required columns present, latencies finite and > 0."""
    if not path.is_file():
        raise GraphcalError(f"sweep file {path} not found")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED_FOR_FIT if c not in header]
        if missing:
            raise GraphcalError(f"{path}: missing column(s) {', '.join(missing)}; is this a graphcal sweep file?")
        rows = []
        for line_no, raw in enumerate(reader, start=2):
            where = f"{path.name}:{line_no}"
            try:
                latency = float(raw["latency_s"])
                threads = int(raw["threads"])
            except (TypeError, ValueError):
                raise GraphcalError(f"{where}: latency_s and threads must be numbers") from None
            if not math.isfinite(latency) or latency <= 0:
                raise GraphcalError(f"{where}: latency_s must be a positive number, got {raw['latency_s']}")
            rows.append(SweepRow(raw["workload"], raw["dtype"], threads, latency, raw["host_id"], where, dict(raw)))
    if not rows:
        raise GraphcalError(f"{path}: the sweep file has no rows")
    return rows
