"""What each activation costs on this machine against what graphcal predicts for it.

    python benchmarks/activation_costs.py --hw host-fit.yaml
    python benchmarks/activation_costs.py --hw host-fit.yaml --elements 393216 4194304 --threads 1 2

graphcal costs every activation built on exp, tanh or erf alike (formulas.common.TRANSCENDENTAL
FLOPs per element, one `activation` table), but PyTorch implements them very differently: some
with fast vectorised polynomials, some through slower library calls. This times each unary op of
the `eltwise:OP:N` specs with `graphcal sweep ops` (the calibration's protocol), predicts it with
`graphcal compare` on --hw, and prints both, with each op's time over relu's at the same size and
threads (relu streams its bytes and does nothing else).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.validate_accuracy import cpu_name  # noqa: E402
from graphcal.load.specs import ELTWISE_OPS  # noqa: E402

UNARY = tuple(op for op in ELTWISE_OPS if op not in ("add", "sub", "mul", "div"))
ACTIVATIONS = ("relu", "hardswish", "sigmoid", "silu", "gelu", "gelu_tanh", "exp", "tanh")


def grid_text(ops, elements, threads) -> str:
    return (
        "kind: ops\ndescription: activations, benchmarks/activation_costs.py\n"
        f"threads: [{', '.join(map(str, threads))}]\n"
        "products:\n  - template: \"eltwise:{op}:{n}\"\n"
        f"    op: [{', '.join(ops)}]\n    n: [{', '.join(map(str, elements))}]\n"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hw", required=True, help="the profile to predict on (a path or a name)")
    parser.add_argument("--ops", nargs="+", default=list(ACTIVATIONS), choices=UNARY, metavar="OP",
                        help=f"unary eltwise ops, of {', '.join(UNARY)} (default: {' '.join(ACTIVATIONS)})")
    parser.add_argument("--elements", nargs="+", type=int, default=[393216], help="vector sizes (default 393216: "
                        "GPT-2's MLP activation at 128 tokens)")
    parser.add_argument("--threads", nargs="+", type=int, default=[os.cpu_count() or 1])
    args = parser.parse_args(argv)
    ops = list(dict.fromkeys(["relu", *args.ops]))
    with tempfile.TemporaryDirectory() as tmp:
        grid, csv = Path(tmp) / "grid.yaml", Path(tmp) / "sweep.csv"
        grid.write_text(grid_text(ops, args.elements, args.threads))
        subprocess.run(["graphcal", "sweep", "ops", "--grid", str(grid), "--out", str(csv)], check=True,
                       stdout=subprocess.DEVNULL)
        compared = subprocess.run(["graphcal", "compare", str(csv), "--hw", args.hw, "--json"], check=True,
                                  capture_output=True, text=True)
    rows = json.loads(compared.stdout)["rows"]
    timed = {(r["workload"], r["threads"]): (r["measured_s"], r["predicted_s"]) for r in rows}
    print(f"CPU: {cpu_name()}; profile {args.hw}; each time the sweep protocol's latency (fastest pass)")
    print(f"{'op':12s} {'elements':>9s} {'threads':>7s} {'measured':>11s} {'predicted':>11s} {'error':>8s} "
          f"{'x relu':>7s}")
    for threads in args.threads:
        for n in args.elements:
            relu = timed[(f"eltwise:relu:{n}", threads)][0]
            for op in ops:
                measured, predicted = timed[(f"eltwise:{op}:{n}", threads)]
                print(f"{op:12s} {n:9d} {threads:7d} {measured * 1e6:8.1f} us {predicted * 1e6:8.1f} us "
                      f"{predicted / measured - 1:+7.1%} {measured / relu:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
