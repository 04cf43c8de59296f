"""GRUs, Elman RNNs and LSTMs timed on this machine against what graphcal predicts for them.

    python benchmarks/recurrent_costs.py --hw host-fit.yaml
    python benchmarks/recurrent_costs.py --hw host-fit.yaml --threads 1 --rounds 9
    python benchmarks/recurrent_costs.py --hw host-fit-bf16.yaml --dtype bf16

ATen runs a GRU or an RNN step by step, and graphcal prices it as the calls it makes (an input
projection per layer, the hidden steps' GEMMs, the gates: docs/model.md, Kernel classes);
oneDNN runs an LSTM as one fused op (the `lstm` class, whose compute and memory times add). This
times torch.nn.GRU and torch.nn.RNN of batch 1-8, hidden 256-1024, and torch.nn.LSTM of batch
1-32, hidden 320-1280, 64 steps, as users call them (eval, no_grad, batch_first), none of them a
model of the calibration grid (graphcal.load.nets: GRUs and LSTMs of hidden 384 over 48 steps and
of hidden 1024 over 32 steps) or the LSTM of the validation set (hidden 512). Each time is the
median over --rounds interleaved rounds of each round's lower quartile of 7 calls. Prints
measured and predicted latency, the error, and the predicted time of each part, with the CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.validate_accuracy import cpu_name  # noqa: E402

# (layer, batch, input size, hidden size, layers): 64 steps each
CASES = (
    ("GRU", 1, 256, 256, 1), ("GRU", 8, 256, 256, 1), ("GRU", 1, 768, 768, 2), ("GRU", 4, 256, 768, 2),
    ("GRU", 4, 768, 768, 2), ("GRU", 4, 1024, 1024, 1), ("RNN", 1, 512, 512, 2), ("RNN", 8, 512, 1024, 1),
    ("LSTM", 1, 128, 320, 1), ("LSTM", 4, 320, 640, 2), ("LSTM", 16, 256, 640, 1), ("LSTM", 2, 512, 1280, 1),
    ("LSTM", 32, 128, 320, 2), ("LSTM", 8, 640, 1280, 1),
)
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}
STEPS = 64
CALLS = 7


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hw", required=True, help="the profile to predict on (a path or a name)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    parser.add_argument("--layers", nargs="+", choices=("GRU", "RNN", "LSTM"), default=("GRU", "RNN", "LSTM"),
                        help="which kinds of layer to time")
    args = parser.parse_args(argv)
    cases = [case for case in CASES if case[0] in args.layers]

    import torch

    import graphcal

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, DTYPES[args.dtype])
    built = []
    for layer, batch, inputs, hidden, layers in cases:
        module = getattr(torch.nn, layer)(inputs, hidden, layers, batch_first=True).eval().to(dtype)
        built.append((module, torch.randn(batch, STEPS, inputs, dtype=dtype)))
    lows: list[list[float]] = [[] for _ in cases]
    with torch.no_grad():
        for module, x in built:  # warm-up
            module(x)
        for _ in range(args.rounds):
            for i, (module, x) in enumerate(built):
                calls = []
                for _ in range(CALLS):
                    start = time.perf_counter()
                    module(x)
                    calls.append(time.perf_counter() - start)
                lows[i].append(statistics.quantiles(calls, n=4)[0])

    print(f"CPU: {cpu_name()}; profile {args.hw}; {args.threads} thread(s), {STEPS} steps, batch_first, {args.dtype}")
    print(f"{'case':<28}{'measured':>11}{'predicted':>11}{'error':>9}   predicted parts")
    errors = []
    for (layer, batch, inputs, hidden, layers), (module, x), low in zip(cases, built, lows):
        measured = statistics.median(low)
        p = graphcal.predict(module, (x,), hw=args.hw, threads=args.threads, dtype=args.dtype)
        # NB: getattr lets this script run on code without parts too, for before-and-after comparisons
        parts = ", ".join(f"{op.cost.part} {op.time.total_s * 1e3:.2f}" for op in p.ops if getattr(op.cost, "part", ""))
        error = p.latency_s / measured - 1
        errors.append(error)
        name = f"{layer} b{batch} {inputs}->{hidden} x{layers}"
        print(f"{name:<28}{measured * 1e3:>8.2f} ms{p.latency_s * 1e3:>8.2f} ms{error:>+9.1%}   {parts} (ms)")
    for layer in args.layers:
        mine = [e for e, case in zip(errors, cases) if case[0] == layer]
        print(f"{layer}: MAPE {statistics.mean(abs(e) for e in mine):.1%} over {len(mine)} cases "
              f"({min(mine):+.1%} to {max(mine):+.1%})")
    print(f"MAPE {statistics.mean(abs(e) for e in errors):.1%} over {len(errors)} cases "
          f"({min(errors):+.1%} to {max(errors):+.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
