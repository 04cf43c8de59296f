"""Re-time some of a calibration's own MLPs now: how far the host's speed has moved since the
calibration, measured on its workloads rather than on a proxy, and what a validation's error
would be had the calibration been timed at today's speed.

    python benchmarks/recheck.py mlp.csv --out-dir recheck \\
        --validation validation/mlp-validation.csv validation/models-validation.csv --hw host-fit.yaml

Picks --n of the calibration's MLPs that take at least 100 us at every calibrated thread count
(evenly spread over their latencies: the GEMMs whose speed a shared host moves most), times them
with `graphcal sweep mlp` at the calibration's thread counts, and prints, per thread count, the
median ratio of their latency now to their latency in the calibration (above 1: slower now).
The speed gauge every sweep row carries (a 256^3 matmul) can miss such a move: it runs from the
cores' private caches, where the calibration's large GEMMs do not.

With --validation and --hw: each file's MAPE as measured (the result) and with every prediction
scaled by its thread count's ratio (a diagnosis of how much of the error is the host's speed
moving, not a figure to quote as accuracy).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.host_drift import compared_rows, mape  # noqa: E402
from graphcal.sweep.csvfile import read_sweep  # noqa: E402

MIN_LATENCY_S = 100e-6


def chosen(calibration: dict[tuple[str, int], float], n: int) -> list[str]:
    """n workloads of at least MIN_LATENCY_S at every thread count, evenly spread by latency."""
    threads = {t for _, t in calibration}
    slowest_first = sorted(
        (w for w in {w for w, _ in calibration}
         if all(calibration.get((w, t), 0.0) >= MIN_LATENCY_S for t in threads)),
        key=lambda w: -min(calibration[(w, t)] for t in threads))
    if len(slowest_first) <= n:
        return slowest_first
    step = (len(slowest_first) - 1) / (n - 1)
    return [slowest_first[round(k * step)] for k in range(n)]


def ratios(calibration: dict[tuple[str, int], float], now: dict[tuple[str, int], float]) -> dict[int, float]:
    by_threads: dict[int, list[float]] = {}
    for key, latency in now.items():
        by_threads.setdefault(key[1], []).append(latency / calibration[key])
    return {t: statistics.median(v) for t, v in sorted(by_threads.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("calibration", type=Path, help="the calibration's MLP sweep (mlp.csv)")
    parser.add_argument("--out-dir", type=Path, required=True, help="where the grid and the re-timed sweep go")
    parser.add_argument("--n", type=int, default=10, help="how many MLPs to re-time (default 10)")
    parser.add_argument("--validation", nargs="*", type=Path, default=[], help="validation sweep CSVs")
    parser.add_argument("--hw", help="the fitted profile: also print raw and speed-scaled MAPE of --validation")
    args = parser.parse_args(argv)

    calibration = {(r.workload, r.threads): r.latency_s for r in read_sweep(args.calibration)}
    workloads = chosen(calibration, args.n)
    if not workloads:
        print(f"no MLP in {args.calibration} takes {MIN_LATENCY_S * 1e6:.0f} us at every thread count")
        return 1
    args.out_dir.mkdir(parents=True, exist_ok=True)
    grid, out = args.out_dir / "recheck-grid.yaml", args.out_dir / "recheck.csv"
    threads = sorted({t for _, t in calibration})
    grid.write_text("kind: mlp\ndescription: calibration MLPs re-timed (benchmarks/recheck.py)\n"
                    f"threads: [{', '.join(map(str, threads))}]\nworkloads:\n"
                    + "".join(f"  - {w}\n" for w in workloads))
    cmd = [sys.executable, "-m", "graphcal", "sweep", "mlp", "--grid", str(grid.resolve()), "--out", str(out.resolve()),
           "--force"]
    print("$ " + " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    now = {(r.workload, r.threads): r.latency_s for r in read_sweep(out)}
    for (workload, t), latency in sorted(now.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        then = calibration[(workload, t)]
        print(f"  {workload:34} {t} thread(s): {latency * 1e6:9.1f} us now, "
              f"{then * 1e6:9.1f} us at calibration ({latency / then:.2f}x)")
    speed = ratios(calibration, now)
    for t, ratio in speed.items():
        print(f"calibration MLPs re-timed, {t} thread(s): {ratio:.2f}x their calibration latency (median)")
    if args.hw:
        for path in args.validation:
            rows = [r for r in compared_rows(path, args.hw) if r["threads"] in speed]
            for t in sorted({r["threads"] for r in rows}):
                mine = [r for r in rows if r["threads"] == t]
                raw = [r["predicted_s"] / r["measured_s"] - 1 for r in mine]
                scaled = [r["predicted_s"] * speed[t] / r["measured_s"] - 1 for r in mine]
                print(f"{path.name}, {t} thread(s): MAPE as measured {mape(raw):.1f}% "
                      f"(mean {100 * statistics.mean(raw):+.1f}%); predictions x{speed[t]:.2f}: {mape(scaled):.1f}% "
                      f"(mean {100 * statistics.mean(scaled):+.1f}%), n = {len(mine)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
