"""Convert the measured i7-12700K kernel latencies (shared/data/i7-12700k) into graphcal sweep
files: sweeps/data/i7-12700k/{calibration,validation}.csv.

Also writes each split cut by work, for the two variants: `-small` rows do under SMALL_WORK_FLOPS
(2e7 FLOP, about 0.1 ms on that machine: call overhead and cache-resident data dominate), `-large`
rows the rest.

Source: branes-ai/graphs, validation/model_v4/results/baselines/i7_12700k_*.csv (MIT licence,
copyright 2025 branes.ai). Each source row is the median of 11 timed calls after 3 warm-ups.

    python scripts/import_i7_data.py [--source ../shared/data/i7-12700k]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from graphcal import __version__
from graphcal.cost import cost_graph
from graphcal.load import graph_of_spec
from graphcal.precision import Precision
from graphcal.sweep.csvfile import COLUMNS

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "sweeps" / "data" / "i7-12700k"
SPEC_KIND = {"linear": "linear", "matmul": "matmul", "vector_add": "add"}
HOST = {
    "host_id": "i7-12700k-branes",
    "host_cpu_model": "12th Gen Intel(R) Core(TM) i7-12700K",
    "host_logical_cores": "20",
    "host_simd": "avx+avx2+fma",
    "torch_version": "unknown",
    "torch_backend": "unknown",
}
SMALL_WORK_FLOPS = 2e7
# Not recorded by the source: PyTorch's default on that machine, most likely its 12 physical cores.
ASSUMED_THREADS = 12


def convert(source: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {"calibration": [], "validation": []}
    for name in ("matmul", "linear", "vector_add"):
        with (source / f"{name}.csv").open(newline="") as handle:
            for raw in csv.DictReader(handle):
                spec = f"{SPEC_KIND[raw['op']]}:{raw['shape']}"
                total = cost_graph(graph_of_spec(spec, Precision.parse(raw["dtype"]))).total
                row = {c: "" for c in COLUMNS}
                row.update(HOST)
                row.update(
                    workload=spec,
                    dtype=raw["dtype"],
                    threads=str(ASSUMED_THREADS),
                    latency_s=raw["latency_s"],
                    median_s=raw["latency_s"],
                    samples=raw["trials"],
                    flops=repr(total.flops),
                    bytes=repr(total.bytes),
                    graphcal_version=__version__,
                    timestamp="2026-05-01T00:00:00+00:00",
                )
                rows[raw["split"]].append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "i7-12700k")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for split, rows in convert(args.source).items():
        small = [r for r in rows if float(r["flops"]) < SMALL_WORK_FLOPS]
        large = [r for r in rows if float(r["flops"]) >= SMALL_WORK_FLOPS]
        for name, part in ((split, rows), (f"{split}-small", small), (f"{split}-large", large)):
            path = OUT_DIR / f"{name}.csv"
            with path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
                writer.writeheader()
                writer.writerows(part)
            print(f"{path.relative_to(REPO)}: {len(part)} rows")


if __name__ == "__main__":
    main()
