"""How fast the `graphcal` command starts and predicts, against `python -c "import torch"`.

Prints, as medians (and minima) over interleaved rounds, with ratios to `import torch`:
  (a) `graphcal --help`, and whether it imports torch (goal: no torch, <= 0.5x);
  (b) `graphcal predict BERT.pt2 --hw i7-12700k --json` as a whole process (goal: <= 2x), and
      `torch.export.load(BERT.pt2)` alone for reference;
  (c) the peak RSS of each process.

The BERT-base archive (~440 MB, random weights) is built in a temporary folder: with
transformers when it is installed (BertModel from BertConfig(), return_dict=False, 1x128
token ids), else a torch.nn.TransformerEncoder of the same size (12 layers, d=768, ff=3072).

    python benchmarks/bench_cli_speed.py [--rounds 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_bert(folder: Path) -> tuple[Path, str]:
    import torch

    path = folder / "bert-base.pt2"
    torch.manual_seed(0)
    try:
        from transformers import BertConfig, BertModel

        model = BertModel(BertConfig()).eval()
        args, kwargs, what = (torch.zeros(1, 128, dtype=torch.long),), {"return_dict": False}, "transformers BertModel"
    except ImportError:
        layer = torch.nn.TransformerEncoderLayer(768, 12, 3072, batch_first=True)
        model = torch.nn.TransformerEncoder(layer, 12, enable_nested_tensor=False).eval()
        args, kwargs, what = (torch.zeros(1, 128, 768),), {}, "torch.nn.TransformerEncoder"
    with torch.no_grad():
        program = torch.export.export(model, args, kwargs, strict=False)
    torch.export.save(program, path)
    params = sum(p.numel() for p in model.parameters())
    return path, f"{what}, {params / 1e6:.1f}M params, {path.stat().st_size / 1e6:.0f} MB"


def run(cmd: list[str]) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS in MB, exit code, stderr) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode, stderr  # ru_maxrss is in KiB on Linux


def interleave(commands: dict[str, list[str]], rounds: int) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():
            wall, rss, code, stderr = run(cmd)
            if code != 0:
                sys.exit(f"{name} failed ({code}): {stderr.strip()[-500:]}")
            results[name].append((wall, rss))
    return results


def report(results: dict[str, list[tuple[float, float]]], reference: str) -> None:
    ref_median = statistics.median(w for w, _ in results[reference])
    ref_min = min(w for w, _ in results[reference])
    print(
        f"  {'process':<44} {'median s':>9} {'min s':>7} "
        f"{'x torch (median)':>17} {'x torch (min)':>14} {'peak RSS MB':>12}"
    )
    for name, rows in results.items():
        walls = [w for w, _ in rows]
        med, low = statistics.median(walls), min(walls)
        rss = max(r for _, r in rows)
        print(f"  {name:<44} {med:9.2f} {low:7.2f} {med / ref_median:17.2f} {low / ref_min:14.2f} {rss:12.0f}")


def imports_torch() -> bool:
    """Whether `graphcal --help` (the console script's code path) imports torch."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "graphcal", "--help"], capture_output=True, text=True, check=True
    )
    modules = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    return "torch" in modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the .pt2 in DIR and keep it")
    parser.add_argument("--build-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_into:  # in a child process: see below
        print(build_bert(args.build_into)[1])
        return

    exe = shutil.which("graphcal")
    graphcal = [exe] if exe else [sys.executable, "-m", "graphcal"]
    import_torch = [sys.executable, "-c", "import torch"]

    print("(a) graphcal --help")
    print(f"  imports torch: {'YES (goal: no)' if imports_torch() else 'no'}")
    report(
        interleave({"import torch": import_torch, "graphcal --help": [*graphcal, "--help"]}, args.rounds),
        "import torch",
    )

    folder = args.keep or Path(tempfile.mkdtemp(prefix="graphcal-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        pt2 = folder / "bert-base.pt2"
        if pt2.exists():
            what = f"reused, {pt2.stat().st_size / 1e6:.0f} MB"
        else:
            # NB: built in a child: a forked process starts with its parent's peak RSS, so
            # building BERT (1 GB) here would show in every measured process's figure
            what = subprocess.run([sys.executable, __file__, "--build-into", str(folder)], check=True,
                                  capture_output=True, text=True).stdout.strip()
        print(f"\n(b, c) BERT-base .pt2: {what}")
        commands = {
            "import torch": import_torch,
            "graphcal predict BERT.pt2 --hw i7-12700k --json": [
                *graphcal,
                "predict",
                str(pt2),
                "--hw",
                "i7-12700k",
                "--json",
            ],
            "torch.export.load(BERT.pt2)": [sys.executable, "-c", f"import torch; torch.export.load({str(pt2)!r})"],
        }
        report(interleave(commands, args.rounds), "import torch")
        print("\n  goals: --help <= 0.5x import torch and no torch import; predict <= 2x import torch")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
