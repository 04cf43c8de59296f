"""What the allocator costs a model between its ops: the minor page faults of one forward pass,
and its latency with glibc's heap trimming on (as users run it) and off.

    python benchmarks/page_faults.py                 # the validation models (benchmarks/zoo.py)
    python benchmarks/page_faults.py --models "m5-audio b4 16000" --threads 2

glibc's malloc returns the free top of its heap to the kernel once it exceeds the trim
threshold (2x the mmap threshold, which the largest freed chunk raises to at most 32 MiB). A
model whose live activations grow and shrink by more than that gives memory back at the end of
every forward pass and takes it again in the next: each 4 KiB page it touches again is a page
fault. Each model is timed twice, each time in a fresh process: with the default allocator, and
with MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_ set so high that nothing is returned.
The difference is what the faults cost; the ops timed in place (`sweep model --per-op`) and
graphcal's predictions leave it out. Prints the fastest and median of --runs forward passes
after 5 warm-up passes, and the median faults per pass.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NO_TRIM = {"MALLOC_TRIM_THRESHOLD_": str(2**40), "MALLOC_MMAP_THRESHOLD_": str(2**30)}


def time_model(name: str, threads: int, runs: int) -> dict:
    """Fastest and median latency (s) and median minor faults of `runs` forward passes."""
    import torch

    from benchmarks import zoo

    torch.set_num_threads(threads)
    entries, _ = zoo.full_zoo_available()
    factory, make_inputs = entries[name]
    model, inputs = factory().eval(), make_inputs()
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    seconds, faults = [], []
    with torch.no_grad():
        for _ in range(5):
            model(*inputs)
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            model(*inputs)
            seconds.append(time.perf_counter() - start)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return {"min_s": min(seconds), "median_s": statistics.median(seconds), "faults": statistics.median(faults)}


def in_fresh_process(name: str, threads: int, runs: int, env: dict) -> dict:
    command = [sys.executable, __file__, "--one", name, "--threads", str(threads), "--runs", str(runs)]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="zoo names (default: every validation model that imports)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    if args.one:
        print(json.dumps(time_model(args.one, args.threads, args.runs)))
        return 0
    from benchmarks import zoo
    from benchmarks.machine import lscpu

    names = args.models or list(zoo.full_zoo_available()[0])
    print(f"{lscpu().get('Model name', '?')}, {args.threads} threads, {args.runs} passes each")
    print(f"{'model':26} {'trimming on: min':>17} {'median':>9} {'faults':>7} {'MB':>4}   "
          f"{'trimming off: min':>17} {'median':>9} {'faults':>7}   {'on / off':>8}")
    for name in names:
        on = in_fresh_process(name, args.threads, args.runs, {})
        off = in_fresh_process(name, args.threads, args.runs, NO_TRIM)
        print(f"{name:26} {on['min_s'] * 1e3:14.2f} ms {on['median_s'] * 1e3:6.2f} ms {on['faults']:7.0f} "
              f"{on['faults'] * 4096 / 1e6:4.0f}   {off['min_s'] * 1e3:14.2f} ms {off['median_s'] * 1e3:6.2f} ms "
              f"{off['faults']:7.0f}   {on['min_s'] / off['min_s']:7.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
