"""What an output width that is not whole cache lines costs a GEMM: linear M x K -> N timed at
output widths around whole 64-byte lines, and each width's time beyond the aligned rate, in
columns (the unit of the gemm table's `misaligned_columns`).

    python benchmarks/partial_stores.py                       # 1 and 2 threads, fp32
    python benchmarks/partial_stores.py --dtype bf16 --threads 1
    python benchmarks/partial_stores.py --hw host-fit.yaml    # beside what the profile charges

Each width is timed in interleaved rounds (every width once per round, --rounds rounds) as the
median time of one call, in eval mode under torch.no_grad(). A width's extra columns are its
time divided by the time of one column at the aligned rate, less its own width; the aligned
rate is that of the nearest whole-line widths below and above it (their time per column,
averaged). `stores` is what graphcal charges for (mapper.partial_vectors); with --hw, `charged`
is misaligned_columns x stores from the profile's gemm table at that precision.
"""

from __future__ import annotations

import argparse
import statistics
import time

from graphcal.hardware.profile import load_profile
from graphcal.mapper import CACHE_LINE_BYTES, partial_vectors
from graphcal.precision import Precision

WIDTHS = (16, 17, 20, 23, 24, 28, 31, 32, 39, 40, 47, 48, 63, 64, 127, 128, 176, 177, 180, 256, 257, 260, 272, 288)


def call_time(layer, x, seconds: float = 2e-3) -> float:
    """Median seconds of one call, over calls filling about `seconds`."""
    layer(x)
    start = time.perf_counter()
    layer(x)
    once = max(time.perf_counter() - start, 1e-7)
    times = []
    for _ in range(max(3, int(seconds / once))):
        start = time.perf_counter()
        layer(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(rows: int, depth: int, widths, dtype, rounds: int) -> dict[int, float]:
    import torch

    x = torch.randn(rows, depth, dtype=dtype)
    layers = {n: torch.nn.Linear(depth, n).eval().to(dtype) for n in widths}
    times: dict[int, list[float]] = {n: [] for n in widths}
    with torch.no_grad():
        for _ in range(rounds):
            for n in widths:
                times[n].append(call_time(layers[n], x))
    return {n: statistics.median(t) for n, t in times.items()}


def aligned_column_time(n: int, times: dict[int, float], line: int) -> float | None:
    """Time per column at the aligned rate near width n: the nearest whole-line widths timed."""
    aligned = [w for w in times if w % line == 0]
    below = [w for w in aligned if w <= n]
    above = [w for w in aligned if w >= n]
    if not below or not above:
        return None
    lo, hi = max(below), min(above)
    return (times[lo] / lo + times[hi] / hi) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--rows", type=int, default=256, help="M (default 256)")
    parser.add_argument("--depth", type=int, default=1024, help="K (default 1024)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hw", help="profile whose gemm table's misaligned_columns to print beside")
    args = parser.parse_args()
    import torch

    precision = Precision.parse(args.dtype)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    line_elements = CACHE_LINE_BYTES // precision.element_bytes
    charged_per_store = None
    if args.hw:
        table = load_profile(args.hw).kernel_table(precision, "gemm") or {}
        charged_per_store = float(table.get("misaligned_columns", 0.0))
    print(f"linear {args.rows} x {args.depth} -> N, {args.dtype}, median of {args.rounds} interleaved rounds")
    for threads in args.threads:
        torch.set_num_threads(threads)
        times = measure(args.rows, args.depth, WIDTHS, dtype, args.rounds)
        print(f"\n{threads} thread(s)")
        header = f"{'N':>5} {'GFLOP/s':>8} {'stores':>6} {'extra columns':>13}"
        print(header + (f" {'charged':>8}" if charged_per_store is not None else ""))
        for n in WIDTHS:
            rate = 2 * args.rows * args.depth * n / times[n] / 1e9
            stores = int(partial_vectors(n, precision.element_bytes))
            column = aligned_column_time(n, times, line_elements)
            extra = "" if column is None or n % line_elements == 0 else f"{times[n] / column - n:.1f}"
            row = f"{n:>5} {rate:>8.1f} {stores:>6} {extra:>13}"
            if charged_per_store is not None:
                row += f" {charged_per_store * stores:>8.1f}"
            print(row)


if __name__ == "__main__":
    main()
