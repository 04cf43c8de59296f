"""What the allocator costs a model between its ops: the minor page faults of one forward pass,
and its latency with glibc's heap trimming on (as users run it) and off.

    python benchmarks/page_faults.py                 # the validation models (benchmarks/zoo.py)
    python benchmarks/page_faults.py --models "m5-audio b4 16000" --threads 2
    python benchmarks/page_faults.py --models "resnet50 b1 224px" --batch 4 16 --hw host-fit.yaml

glibc's malloc returns the free top of its heap to the kernel once it exceeds the trim
threshold (2x the mmap threshold, which the largest freed chunk raises to at most 32 MiB). A
model whose live activations grow and shrink by more than that gives memory back at the end of
every forward pass and takes it again in the next: each 4 KiB page it touches again is a page
fault. Each model is timed twice, each time in a fresh process: with the default allocator, and
with MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_ set so high that nothing is returned.
The difference is what the faults cost. Prints the fastest and median of --runs forward passes
after 5 warm-up passes, and the median faults per pass. `--batch` repeats each model's input to
those batch sizes; `--hw` adds graphcal's prediction on that profile from a fresh heap and from
one that returns nothing (`predict --heap fresh` and `no-trim`), and the page faults it predicts
per pass (graphcal.hardware.allocator replays the pass on a model of glibc's heap).
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

from graphcal.hardware.allocator import NO_TRIM_ENV

REPO = Path(__file__).resolve().parents[1]


def model_and_inputs(name: str, batch: int | None):
    """The zoo's model and its inputs, repeated along the first dimension to `batch` rows."""
    import torch

    from benchmarks import zoo

    entries, _ = zoo.full_zoo_available()
    factory, make_inputs = entries[name]
    model, inputs = factory().eval(), make_inputs()
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    if batch:
        inputs = tuple(torch.cat([x[:1]] * batch) for x in inputs)
    return model, inputs


def load_checkpoint(model) -> None:
    """Give `model` its weights back from a checkpoint file, as a user's script loads trained
    weights: torch.save, torch.load, load_state_dict, and the loaded copy dropped."""
    import tempfile

    import torch

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.pt"
        torch.save(model.state_dict(), path)
        model.load_state_dict(torch.load(path))


def timed_passes(name: str, threads: int, warmup: int, passes: int, batch: int | None = None, loaded: bool = False):
    """(seconds, minor faults) of each of `passes` forward passes of the zoo model, after `warmup`;
    `loaded`: its weights loaded from a checkpoint first (load_checkpoint)."""
    import torch

    torch.set_num_threads(threads)
    model, inputs = model_and_inputs(name, batch)
    if loaded:
        load_checkpoint(model)
    seconds, faults = [], []
    with torch.no_grad():
        for _ in range(warmup):
            model(*inputs)
        for _ in range(passes):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            model(*inputs)
            seconds.append(time.perf_counter() - start)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return seconds, faults


def time_model(name: str, threads: int, runs: int, batch: int | None) -> dict:
    """Fastest and median latency (s) and median minor faults of `runs` forward passes."""
    seconds, faults = timed_passes(name, threads, 5, runs, batch)
    return {"min_s": min(seconds), "median_s": statistics.median(seconds), "faults": statistics.median(faults)}


def predicted(name: str, batch: int | None, hw: str, threads: int, heap: str = "fresh") -> tuple[float, float, int]:
    """graphcal's latency on `hw` from the `heap` state, its page faults' share of it (s), and
    the pages it predicts are faulted per pass."""
    import graphcal

    model, inputs = model_and_inputs(name, batch)
    prediction = graphcal.predict(model, inputs, hw=hw, threads=threads, heap=heap)
    return prediction.latency_s, prediction.fault_s, prediction.fresh_bytes // 4096


def in_fresh_process(name: str, threads: int, runs: int, batch: int | None, env: dict) -> dict:
    command = [sys.executable, __file__, "--one", name, "--threads", str(threads), "--runs", str(runs)]
    command += ["--batch", str(batch)] if batch else []
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="zoo names (default: every validation model that imports)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--batch", type=int, nargs="*", help="batch sizes to repeat each input to (default: its own)")
    parser.add_argument("--hw", help="a profile: print graphcal's prediction and its fresh pages' share")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    if args.one:
        batch = args.batch[0] if args.batch else None
        print(json.dumps(time_model(args.one, args.threads, args.runs, batch)))
        return 0
    from benchmarks import zoo
    from benchmarks.machine import lscpu

    names = args.models or list(zoo.full_zoo_available()[0])
    print(f"{lscpu().get('Model name', '?')}, {args.threads} threads, {args.runs} passes each")
    print(f"{'model':26} {'batch':>5} {'trimming on: min':>17} {'median':>9} {'faults':>7} {'MB':>5}   "
          f"{'trimming off: min':>17} {'median':>9} {'faults':>7}   {'on / off':>8}"
          + (f"   {'predicted on':>12} {'faults':>7} {'of which':>9} {'off':>9}" if args.hw else ""))
    for name in names:
        for batch in args.batch or [None]:
            on = in_fresh_process(name, args.threads, args.runs, batch, {})
            off = in_fresh_process(name, args.threads, args.runs, batch, NO_TRIM_ENV)
            line = (f"{name:26} {batch or '-':>5} {on['min_s'] * 1e3:14.2f} ms {on['median_s'] * 1e3:6.2f} ms "
                    f"{on['faults']:7.0f} {on['faults'] * 4096 / 1e6:5.0f}   {off['min_s'] * 1e3:14.2f} ms "
                    f"{off['median_s'] * 1e3:6.2f} ms {off['faults']:7.0f}   {on['min_s'] / off['min_s']:7.2f}x")
            if args.hw:
                latency, fault_s, pages = predicted(name, batch, args.hw, args.threads)
                untrimmed = predicted(name, batch, args.hw, args.threads, "no-trim")[0]
                line += f"   {latency * 1e3:9.2f} ms {pages:7d} {fault_s * 1e3:6.2f} ms {untrimmed * 1e3:6.2f} ms"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
