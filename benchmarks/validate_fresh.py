"""The validation models as a user's script runs them: each built and called in a fresh process.

    python benchmarks/validate_fresh.py --hw host-fit.yaml
    python benchmarks/validate_fresh.py --hw host-fit.yaml --rounds 5 --results . --population models-fresh
    python benchmarks/validate_fresh.py --hw host-fit.yaml --loaded --results . --population models-fresh-loaded

`benchmarks/validate_accuracy.py` times the models with `graphcal sweep model`, whose process
has exported every model of a shape before timing them together: its heap is already large
when a model runs. A user's process builds one model and calls it, with glibc's default
allocator, which returns the top of the heap to the kernel between forward passes when the
activations' high-water mark exceeds its trim threshold (docs/model.md, What the model leaves
out). This times each model (benchmarks/zoo.py's FULL_ZOO) in processes of its own: per round,
every model once, in turn; each process warms up with --warmup passes, then times --passes
and keeps their lower quartile; a model's latency is the median over rounds. A process whose
passes shared the machine is run again, up to --retries times, and the least busy run kept:
busy by the larger of the share of CPU time other processes took (ContentionGauge, from
/proc/stat) and how much slower than the fastest reading of the run an sgemm gauge read before
or after its passes (speed_gauge: a neighbour on the host shows there and not in /proc/stat),
above --max-contention. Prints the latency beside graphcal's prediction on --hw, the busiest
kept run's figure and the minor page faults per pass, with the CPU; `--results`
writes the population (case, measured, predicted) for benchmarks/report.py. `--no-trim` runs
the processes with glibc told to return nothing (what jemalloc or those variables give a user).
`--loaded` gives each model its weights from a checkpoint file (torch.save, torch.load,
load_state_dict) before it is timed, as a user's script loads trained weights. Predictions start
from the heap state the processes run in (`predict --heap`): fresh (random weights, glibc's
defaults), loaded, or no-trim; beside the faults counted per pass, the pages predicted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def time_in_this_process(name: str, threads: int, warmup: int, passes: int, loaded: bool) -> dict:
    """Lower quartile of `passes` forward passes (s) after `warmup`, the median minor faults per
    pass, and the share of the CPU time others took meanwhile (None: too short to judge)."""
    import torch

    from benchmarks.page_faults import timed_passes
    from graphcal.sweep.protocol import ContentionGauge, speed_gauge

    torch.set_num_threads(threads)
    speed, others = speed_gauge(), ContentionGauge()
    before = speed()
    others.start()
    seconds, faults = timed_passes(name, threads, warmup, passes, loaded=loaded)
    return {"q25_s": statistics.quantiles(seconds, n=4)[0], "faults": statistics.median(faults),
            "contention": others.read(), "gauge_s": max(before, speed())}


def in_fresh_process(name: str, threads: int, warmup: int, passes: int, env: dict, loaded: bool) -> dict:
    command = [sys.executable, __file__, "--one", name, "--threads", str(threads), "--warmup", str(warmup),
               "--passes", str(passes)] + (["--loaded"] if loaded else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO, env={**os.environ, **env})
    return json.loads(done.stdout.strip().splitlines()[-1])


def busy(run: dict, fastest_gauge_s: float) -> float:
    """How shared the machine was during a run: the larger of the CPU share others took and the
    gauge's slowdown against the fastest reading."""
    return max(run["contention"] or 0.0, run["gauge_s"] / fastest_gauge_s - 1)


def least_busy_run(name: str, args, env: dict, gauges: list[float]) -> dict:
    """One fresh process's timing of `name`, run again while busy() exceeds --max-contention (at
    most --retries times); the least busy run. `gauges` collects every gauge reading."""
    run = in_fresh_process(name, args.threads, args.warmup, args.passes, env, args.loaded)
    gauges.append(run["gauge_s"])
    for _ in range(args.retries):
        if busy(run, min(gauges)) <= args.max_contention:
            break
        again = in_fresh_process(name, args.threads, args.warmup, args.passes, env, args.loaded)
        gauges.append(again["gauge_s"])
        run = min(run, again, key=lambda r: busy(r, min(gauges)))
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", help="the profile to predict on (required)")
    parser.add_argument("--models", nargs="*", help="zoo names (default: every validation model that imports)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--results", type=Path, help="a results folder: write populations/POPULATION.csv there")
    parser.add_argument("--population", default="models-fresh")
    parser.add_argument("--max-contention", type=float, default=0.1,
                        help="run a model's process again when busy beyond this (others' CPU share, or the gauge's "
                             "slowdown; default 0.1)")
    parser.add_argument("--retries", type=int, default=2, help="runs again of a busy process (default 2)")
    parser.add_argument("--no-trim", action="store_true",
                        help="set MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_ so that glibc returns no memory")
    parser.add_argument("--loaded", action="store_true",
                        help="load each model's weights from a checkpoint file before timing it (predicted from a "
                             "loaded heap)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    if args.one:
        print(json.dumps(time_in_this_process(args.one, args.threads, args.warmup, args.passes, args.loaded)))
        return 0
    if not args.hw:
        parser.error("--hw is required")

    import graphcal
    from benchmarks import zoo
    from benchmarks.page_faults import model_and_inputs
    from benchmarks.validate_accuracy import cpu_name, write_population
    from graphcal.hardware.allocator import NO_TRIM_ENV

    names = args.models or list(zoo.full_zoo_available()[0])
    runs: dict[str, list[dict]] = {name: [] for name in names}
    gauges: list[float] = []
    env = NO_TRIM_ENV if args.no_trim else {}
    heap = "no-trim" if args.no_trim else "loaded" if args.loaded else "fresh"
    for round_ in range(args.rounds):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        for name in order:
            runs[name].append(least_busy_run(name, args, env, gauges))
    print(f"CPU: {cpu_name()}; profile {args.hw}; {args.threads} thread(s); each model in a fresh process, "
          f"{args.rounds} round(s) of {args.warmup} warm-up + {args.passes} passes (lower quartile), "
          + ("glibc returning no memory (--no-trim)" if args.no_trim else "glibc defaults")
          + (", weights loaded from a checkpoint (--loaded)" if args.loaded else ", random weights"))
    print(f"{'model':26} {'measured':>10} {'spread':>7} {'predicted':>10} {'error':>8} {'busy':>6} "
          f"{'predicted faults':>16} {'faults/pass':>12}")
    cases, errors = [], []
    for name in names:
        times = [r["q25_s"] for r in runs[name]]
        measured = statistics.median(times)
        model, inputs = model_and_inputs(name, None)
        prediction = graphcal.predict(model, inputs, hw=args.hw, threads=args.threads, heap=heap)
        predicted = prediction.latency_s
        error = predicted / measured - 1
        errors.append(error)
        cases.append((name, measured, predicted))
        spread = (max(times) - min(times)) / min(times)
        faults = statistics.median(r["faults"] for r in runs[name])
        print(f"{name:26} {measured * 1e3:7.2f} ms {spread:7.1%} {predicted * 1e3:7.2f} ms {error:+8.1%} "
              f"{max(busy(r, min(gauges)) for r in runs[name]):6.1%} {prediction.fresh_bytes // 4096:16d} "
              f"{faults:12.0f}")
    print(f"MAPE {statistics.mean(abs(e) for e in errors):.1%}, within +-10%: "
          f"{sum(abs(e) <= 0.1 for e in errors) / len(errors):.0%}, mean {statistics.mean(errors):+.1%} "
          f"(n = {len(errors)})")
    if args.results:
        write_population(args.results, args.population, cases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
