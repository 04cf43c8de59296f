"""How fast the host was when a validation was timed, against when its calibration was: from the
speed gauge every sweep row carries (`gauge_s`, docs/sweeps.md), and what the validation's error
would be at the calibration's host speed.

    python benchmarks/host_drift.py --calibration mlp.csv ops.csv models.csv \\
        --validation validation/mlp-validation.csv validation/models-validation.csv --hw host-fit.yaml

For each thread count: the calibration rows' median gauge; for each validation file, its rows'
median gauge and the ratio (above 1: the host ran slower than at calibration). With --hw, each
validation file's MAPE as measured (the result) and with every row's time scaled by its own
gauge against the calibration's (calibration gauge / row gauge): a diagnosis of how much of the
error is the host's speed moving, not a figure to quote as accuracy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from graphcal.sweep.csvfile import read_sweep  # noqa: E402


def gauges(paths: list[Path]) -> dict[int, list[float]]:
    """Gauge readings by thread count, one per configuration (its fastest pass's row)."""
    out: dict[int, list[float]] = {}
    for path in paths:
        for row in read_sweep(path):
            value = row.fields.get("gauge_s")
            if value:
                out.setdefault(row.threads, []).append(float(value))
    return out


def compared_rows(path: Path, hw: str) -> list[dict]:
    """`graphcal compare CSV --hw HW --json` rows, each with its sweep row's gauge."""
    hw = str(Path(hw).resolve()) if Path(hw).exists() else hw
    # from the repository root, where the validation's model factories (benchmarks.zoo) import
    result = subprocess.run([sys.executable, "-m", "graphcal", "compare", str(path.resolve()), "--hw", hw, "--json"],
                            capture_output=True, text=True, check=True, cwd=REPO)
    rows = json.loads(result.stdout)["rows"]
    by_key = {(r.workload, r.threads, r.latency_s): r.fields.get("gauge_s") for r in read_sweep(path)}
    for row in rows:
        gauge = by_key.get((row["workload"], row["threads"], row["measured_s"]))
        row["gauge_s"] = float(gauge) if gauge else None
    return rows


def mape(errors: list[float]) -> float:
    return 100.0 * statistics.mean(abs(e) for e in errors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calibration", nargs="+", type=Path, required=True, help="the calibration's sweep CSVs")
    parser.add_argument("--validation", nargs="+", type=Path, required=True, help="validation sweep CSVs")
    parser.add_argument("--hw", help="the fitted profile: also print raw and gauge-scaled MAPE")
    args = parser.parse_args(argv)

    reference = {t: statistics.median(v) for t, v in gauges(args.calibration).items()}
    if not reference:
        print("no gauge_s in the calibration CSVs (timed before sweeps recorded the speed gauge)")
        return 1
    for threads, value in sorted(reference.items()):
        print(f"calibration, {threads} thread(s): gauge {value * 1e6:.1f} us (median)")
    for path in args.validation:
        for threads, values in sorted(gauges([path]).items()):
            if threads in reference:
                ratio = statistics.median(values) / reference[threads]
                print(f"{path.name}, {threads} thread(s): gauge {statistics.median(values) * 1e6:.1f} us, "
                      f"{ratio:.2f}x the calibration's ({len(values)} rows)")
        if args.hw:
            rows = [r for r in compared_rows(path, args.hw) if r["gauge_s"] and r["threads"] in reference]
            if not rows:
                continue
            raw = [r["error"] for r in rows]
            scaled = [r["predicted_s"] / (r["measured_s"] * reference[r["threads"]] / r["gauge_s"]) - 1 for r in rows]
            print(f"  MAPE as measured {mape(raw):.1f}% (mean {100 * statistics.mean(raw):+.1f}%); at the "
                  f"calibration's host speed {mape(scaled):.1f}% (mean {100 * statistics.mean(scaled):+.1f}%), "
                  f"n = {len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
