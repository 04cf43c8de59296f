"""How fast graphcal.predict answers inside one process, as a neural architecture search calls it.

Every torchvision classification model is built on the meta device (no weights exist) and
predicted with `graphcal.predict(model, torch.empty(..., device="meta"), hw=...)`. After one
warm-up prediction (the process's first call pays for torch's lazy initialisation), each model is
predicted once per round, rounds interleaved, and its median is kept; each model is built anew
for every call, so nothing is reused between calls but what graphcal caches itself. Goal: a
median over the models of at most 0.25 s on 2 cores. Printed beside it: the CPU, and the time of
`import torch` in a fresh process (what a CLI call pays before any work).

    python benchmarks/nas_speed.py [--rounds 3] [--hw i7-12700k] [--models resnet50,vit_b_16]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

INPUT_SIDE = {"inception_v3": 299}  # torchvision's size for it; every other model takes 224


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no lscpu)"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def import_torch_s(runs: int = 3) -> float:
    """Median wall time of `python -c "import torch"` in a fresh process."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def classification_models() -> list[str]:
    from benchmarks.zoo import define_torchvision_schemas

    define_torchvision_schemas()
    import torchvision.models

    return sorted(torchvision.models.list_models(module=torchvision.models))


def build(name: str):
    """The model on the meta device, with a meta input. A few builders (RegNets) compute their
    widths from tensors' values, which meta tensors lack: those are built on the CPU and moved."""
    import torch
    import torchvision.models

    side = INPUT_SIDE.get(name, 224)
    try:
        with torch.device("meta"):
            model = torchvision.models.get_model(name)
    except NotImplementedError:
        model = torchvision.models.get_model(name).to("meta")
    return model.eval(), torch.empty(1, 3, side, side, device="meta")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hw", default="i7-12700k")
    parser.add_argument("--models", help="comma-separated torchvision names (default: every classification model)")
    parser.add_argument("--check", action="store_true",
                        help="also predict each model through torch.export and compare latency, FLOPs and bytes")
    args = parser.parse_args()

    print(f"CPU: {cpu_model()}")
    print(f"import torch in a fresh process: {import_torch_s():.2f} s (median of 3)")
    import torch

    import graphcal

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    names = args.models.split(",") if args.models else classification_models()
    profile = graphcal.load_profile(args.hw)

    start = time.perf_counter()
    graphcal.predict(*build("resnet18"), hw=profile)
    print(f"first call (warm-up, resnet18): {time.perf_counter() - start:.2f} s")

    times: dict[str, list[float]] = {name: [] for name in names}
    ops: dict[str, int] = {}
    failed: dict[str, str] = {}
    for _ in range(args.rounds):
        for name in names:
            if name in failed:
                continue
            model, x = build(name)
            start = time.perf_counter()
            try:
                p = graphcal.predict(model, x, hw=profile, name=name)
            except graphcal.GraphcalError as exc:
                failed[name] = str(exc)
                continue
            times[name].append(time.perf_counter() - start)
            ops[name] = len(p.ops)
    medians = {name: statistics.median(t) for name, t in times.items() if t}
    print(f"\n{'model':<24} {'ops':>5} {'predict s':>10}")
    for name, t in sorted(medians.items(), key=lambda item: item[1]):
        print(f"{name:<24} {ops[name]:>5} {t:>10.3f}")
    for name, message in failed.items():
        print(f"{name:<24} failed: {message}")
    overall = statistics.median(medians.values())
    print(f"\nmedian over {len(medians)} models (median of {args.rounds} rounds each): {overall:.3f} s "
          f"(goal 0.25 s); slowest {max(medians.values()):.3f} s")
    if args.check:
        check_against_export(list(medians), profile)


def check_against_export(names: list[str], profile) -> None:
    """The largest relative difference, over the models, between the prediction graphcal.predict
    makes and the one from a torch.export of the same module (the CLI's path)."""
    from graphcal.api import make_target
    from graphcal.load.trace import export_module
    from graphcal.predict import predict_graph

    target = make_target(profile, "fp32", None)
    worst = (0.0, "")
    for name in names:
        model, x = build(name)
        fast = graphcal_predict(model, x, profile, name)
        exported = predict_graph(export_module(model, (x,), name), target)
        for what in ("latency_s", "flops", "bytes"):
            a, b = getattr(fast, what), getattr(exported, what)
            gap = abs(a - b) / abs(b) if b else abs(a)
            worst = max(worst, (gap, f"{name} {what}"))
    print(f"against torch.export on {len(names)} models: largest relative difference {worst[0]:.2e} ({worst[1]})")


def graphcal_predict(model, x, profile, name):
    import graphcal

    return graphcal.predict(model, x, hw=profile, name=name)


if __name__ == "__main__":
    main()
