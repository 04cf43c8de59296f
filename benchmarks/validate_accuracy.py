"""Accuracy on workloads the calibration never saw: random MLPs and whole models at full size.

Times them on this machine with `graphcal sweep` (its protocol, durability and progress, run as
subprocesses), predicts them on a host profile and prints, beside each figure, the measurement's
own repeatability (graphcal.sweep.csvfile.noise_floor: median |repeat - first| / first over the
rows the sweep re-timed at its end).

- MLPs: `--mlps` random specs (seeded): batch uniform in 1..400, 1-4 layers, widths log-uniform
  in 16..4096; any spec a shipped grid (graphcal/data/grids/mlp-*.yaml) holds is drawn again. Written to a
  grid in --out-dir, timed with `graphcal sweep mlp`, scored with `graphcal compare CSV --json`.
- Models: benchmarks/zoo.py's FULL_ZOO (BERT-base, GPT-2, ViT-B/16, ResNet-50, MobileNetV2,
  ConvNeXt-T, an LSTM, a GRU and an M5 Conv1d net, at their real sizes; entries whose library
  is missing are skipped with a note), none of them in any calibration grid, timed end to end
  with `graphcal sweep model benchmarks.zoo:FACTORY --input-shape ...` (one
  sweep per input shape, so models of one shape are interleaved). NB: `graphcal compare` cannot
  re-predict a factory row (the CSV does not record the input shapes), so each model is predicted
  with `graphcal predict FACTORY --input-shape ... --threads T --dtype D --heap settled --json`
  (the sweep times in a settled heap: graphcal.hardware.allocator.SWEEP_HEAP), at the row's own
  threads and dtype, which is what compare does row by row. Then `graphcal compare MODEL
  --measure` on each gives measured and predicted time per op family. `--stand-ins` adds the
  narrowed models (ZOO, HF_ZOO) as extra rows: their weights fit in cache, so they do not count.

Sweeps resume: run again with the same --out-dir to finish an interrupted run. Exit 0 whatever
the error is (this prints figures; it asserts nothing); a failing graphcal command stops it with
that command's exit code.

    python benchmarks/validate_accuracy.py --hw ./host-fit.yaml --out-dir validation [--threads 2]
    python benchmarks/validate_accuracy.py --hw ./host-fit.yaml --out-dir /tmp/v --quick   # smoke run
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import os
import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from graphcal.evaluate.metrics import metrics, relative_errors  # noqa: E402
from graphcal.hardware.allocator import SWEEP_HEAP  # noqa: E402
from graphcal.sweep.csvfile import noise_floor, read_sweep, relative_difference, repeat_pairs  # noqa: E402
from graphcal.sweep.grid import load_grid, shipped_grids  # noqa: E402

BATCH = (1, 400)
LAYERS = (1, 4)
WIDTH = (16, 4096)
QUICK_MODEL = "conv1d-audio b4 8000"
QUICK_BATCH, QUICK_WIDTH = 64, 1024  # NB: --quick draws small MLPs so the smoke run stays short
# NB: --quick also times its MLPs with smoke-mlp's weak protocol: a check that the pipeline runs,
# not a measurement
QUICK_PROTOCOL = {"rounds": 2, "max_rounds": 4, "window_s": 0.01, "min_samples": 3, "passes": 1}


def graphcal_cmd() -> list[str]:
    return ["graphcal"] if shutil.which("graphcal") else [sys.executable, "-m", "graphcal"]


def run(cmd: list[str], capture: bool = False) -> str:
    """Run a graphcal command from the repository root (so `benchmarks.zoo` imports); print it
    first; stop the benchmark with its exit code if it fails."""
    print(f"$ {shlex.join(cmd)}", flush=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(cmd, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE if capture else None)
    if done.returncode != 0:
        print(f"validate_accuracy: command failed with exit code {done.returncode}", file=sys.stderr)
        sys.exit(done.returncode)
    return done.stdout or ""


def pct(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def number(fields: dict, column: str) -> str:
    """A share column of a sweep row (spread, contention) as a percentage, '-' when empty."""
    value = fields.get(column) or ""
    return pct(float(value)) if value else "-"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


# --- MLPs ---------------------------------------------------------------------------------

def shipped_mlp_specs() -> set[str]:
    """Every canonical spec the shipped MLP grids expand to."""
    return {w for name in shipped_grids() if name.startswith("mlp-") for w in load_grid(name, "mlp").workloads}


def random_mlps(n: int, seed: int, quick: bool) -> list[str]:
    """n distinct MLP specs no shipped grid holds (a spec drawn twice, or shipped, is drawn again)."""
    rng = random.Random(seed)
    shipped, chosen = shipped_mlp_specs(), {}
    hi_batch, hi_width = (QUICK_BATCH, QUICK_WIDTH) if quick else (BATCH[1], WIDTH[1])
    while len(chosen) < n:
        batch = rng.randint(BATCH[0], hi_batch)
        widths = [round(math.exp(rng.uniform(math.log(WIDTH[0]), math.log(hi_width))))
                  for _ in range(rng.randint(*LAYERS) + 1)]
        spec = f"mlp:{batch}:{'x'.join(map(str, widths))}"
        if spec not in shipped and spec not in chosen:
            chosen[spec] = None
    return list(chosen)


def check_same_grid(csv_path: Path, grid_name: str) -> None:
    """Refuse to resume a CSV timed from another grid (another seed or --mlps): the figures
    would mix two sets of MLPs."""
    if not csv_path.exists():
        return
    with csv_path.open(newline="") as handle:
        grids = {row.get("grid") for row in csv.DictReader(handle)}
    if grids - {grid_name}:
        sys.exit(f"validate_accuracy: {csv_path} holds rows of grid(s) {', '.join(sorted(map(str, grids)))}, "
                 f"not {grid_name}; use another --out-dir or delete it")


def sweep_mlps(args, out_dir: Path, tag: str) -> Path:
    specs = random_mlps(3 if args.quick else args.mlps, args.seed, args.quick)
    grid_name = f"mlp-validation{tag}-seed{args.seed}-n{len(specs)}"
    grid = out_dir / f"{grid_name}.yaml"
    grid.write_text(yaml.safe_dump({
        "kind": "mlp",
        "description": f"{len(specs)} random MLPs (seed {args.seed}) that no shipped grid holds: batch "
                       f"{BATCH[0]}-{QUICK_BATCH if args.quick else BATCH[1]}, 1-4 layers, widths log-uniform "
                       f"in {WIDTH[0]}-{QUICK_WIDTH if args.quick else WIDTH[1]}; "
                       "written by benchmarks/validate_accuracy.py",
        "workloads": specs,
        **({"protocol": QUICK_PROTOCOL} if args.quick else {}),
    }, sort_keys=False))
    out = out_dir / f"mlp-validation{tag}.csv"
    check_same_grid(out, grid_name)
    cmd = graphcal_cmd() + ["sweep", "mlp", "--grid", str(grid), "--out", str(out)]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    cmd += ["--dtype", args.dtype] if args.dtype != "fp32" else []
    cmd += ["--resume"] if out.exists() else []
    run(cmd)
    return out


def report_mlps(csv_path: Path, hw: str) -> dict:
    result = json.loads(run(graphcal_cmd() + ["compare", str(csv_path), "--hw", hw, "--json"], capture=True))
    noise = noise_floor([csv_path])
    measured = {r.workload: r.fields for r in read_sweep(csv_path)}
    print(f"\nMLPs no shipped grid holds, on {result['hardware']}  ({csv_path})")
    print(f"  n = {result['n']}   MAPE {pct(result['mape'])}   within +-10%: {pct(result['within_10'])}"
          f"   | repeatability (noise floor): {pct(noise)}")
    for regime, m in result["by_regime"].items():
        print(f"    {regime:>9}: n = {m['n']:3d}   MAPE {pct(m['mape'])}   within +-10%: {pct(m['within_10'])}")
    print(
        f"  {'workload':34} {'threads':>7} {'measured':>12} {'predicted':>12} "
        f"{'error':>8} {'regime':>9} {'spread':>7} {'busy':>6}"
    )
    for row in sorted(result["rows"], key=lambda r: -abs(r["error"])):
        fields = measured.get(row["workload"], {})
        print(
            f"  {row['workload']:34} {row['threads']:>7} {ms(row['measured_s']):>12} {ms(row['predicted_s']):>12} "
            f"{row['error']:>+8.1%} {row['regime']:>9} {number(fields, 'spread'):>7} {number(fields, 'contention'):>6}"
        )
    cases = [(f"{r['workload']} t{r['threads']}", r["measured_s"], r["predicted_s"]) for r in result["rows"]]
    return {"n": result["n"], "mape": result["mape"], "within_10": result["within_10"], "noise_floor": noise,
            "cases": cases}


def write_population(results: Path, name: str, cases: list[tuple[str, float, float]]) -> Path:
    """results/populations/<name>.csv: case, measured, predicted (benchmarks/report.py reads it)."""
    path = results / "populations" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "measured", "predicted"])
        writer.writerows((case, repr(float(m)), repr(float(p))) for case, m, p in cases)
    print(f"wrote {path}")
    return path


# --- models -------------------------------------------------------------------------------

def zoo_entries(quick: bool, stand_ins: bool) -> dict:
    """The models to time: the full-size ones (what the targets count), or the narrowed
    stand-ins (extra rows: their weights and activations fit in cache)."""
    from benchmarks import zoo

    if quick:
        return {QUICK_MODEL: zoo.ZOO[QUICK_MODEL]}
    if not stand_ins:
        entries, notes = zoo.full_zoo_available()
        for note in notes:
            print(f"note: skipping {note}")
        return entries
    entries = dict(zoo.ZOO)
    if importlib.util.find_spec("transformers") is not None:
        entries.update(zoo.HF_ZOO)
    return entries


def sweep_models(args, out_dir: Path, tag: str, stand_ins: bool = False) -> tuple[Path, dict]:
    """One `sweep model` per distinct input shape, all into one CSV. Returns the CSV and
    name -> (factory ref, input shapes)."""
    from benchmarks.zoo import factory_ref, input_shapes

    tag = tag + ("-stand-ins" if stand_ins else "")
    out = out_dir / f"models-validation{tag}.csv"
    models = {
        name: (factory_ref(f), input_shapes(inputs))
        for name, (f, inputs) in zoo_entries(args.quick, stand_ins).items()
    }
    by_shapes: dict[tuple, list[str]] = {}
    for ref, shapes in models.values():
        by_shapes.setdefault(tuple(shapes), []).append(ref)
    for shapes, refs in by_shapes.items():
        cmd = graphcal_cmd() + ["sweep", "model", *refs, "--out", str(out)]
        for shape in shapes:
            cmd += ["--input-shape", shape]
        cmd += ["--threads", str(args.threads)] if args.threads else []
        cmd += ["--dtype", args.dtype] if args.dtype != "fp32" else []
        cmd += ["--resume"] if out.exists() else []
        run(cmd)
    return out, models


def report_models(csv_path: Path, models: dict, hw: str) -> dict:
    first = {r.workload: r for r in read_sweep(csv_path)}
    repeat = {m.workload: relative_difference(m.latency_s, r.latency_s) for m, r in repeat_pairs([csv_path])}
    lines, measured, predicted = [], [], []
    for name, (ref, shapes) in models.items():
        row = first.get(ref)
        if row is None:
            print(f"note: {name} ({ref}) has no row in {csv_path} (sweep stopped early?)")
            continue
        cmd = graphcal_cmd() + ["predict", ref, *[a for s in shapes for a in ("--input-shape", s)],
                                "--hw", hw, "--threads", str(row.threads), "--dtype", row.dtype,
                                "--heap", SWEEP_HEAP, "--json"]
        result = json.loads(run(cmd, capture=True))
        measured.append(row.latency_s)
        predicted.append(result["latency_s"])
        lines.append((name, ref, row, result))
    noise = noise_floor([csv_path])
    summary = metrics(predicted, measured)
    errors = relative_errors(predicted, measured) if lines else []
    print(f"\nWhole models, timed end to end, on {hw}  ({csv_path})")
    print(
        f"  n = {summary.n}   MAPE {pct(summary.mape)}   within +-10%: {pct(summary.within_10)}"
        f"   | repeatability (noise floor): {pct(noise)}"
    )
    print(
        f"  {'model':28} {'threads':>7} {'measured':>12} {'predicted':>12} "
        f"{'error':>8} {'spread':>7} {'busy':>6} {'repeat':>7}  unsupported"
    )
    for (name, ref, row, result), error in zip(lines, errors):
        unsupported = ", ".join(f"{t} x{n}" for t, n in result["unsupported_ops"].items()) or "-"
        print(
            f"  {name:28} {row.threads:>7} {ms(row.latency_s):>12} {ms(result['latency_s']):>12} {error:>+8.1%} "
            f"{number(row.fields, 'spread'):>7} {number(row.fields, 'contention'):>6} "
            f"{pct(repeat.get(ref)):>7}  {unsupported}"
        )
    cases = [(name, row.latency_s, result["latency_s"]) for name, _, row, result in lines]
    return {"n": summary.n, "mape": summary.mape, "within_10": summary.within_10, "noise_floor": noise,
            "cases": cases}


def report_families(models: dict, hw: str, threads: int | None, out_dir: Path) -> None:
    """`graphcal compare MODEL --measure` on each model: measured and predicted time per op family
    over all of them (the ops timed in place), and each model's largest family error."""
    totals: dict[str, list[float]] = {}
    print(f"\nPer op family, every op timed in place (graphcal compare MODEL --hw {hw} --measure)")
    for name, (ref, shapes) in models.items():
        cmd = graphcal_cmd() + ["compare", ref, *[a for s in shapes for a in ("--input-shape", s)],
                                "--hw", hw, "--measure", "--json"]
        cmd += ["--threads", str(threads)] if threads else []
        result = json.loads(run(cmd, capture=True))
        (out_dir / f"measure-{ref.split(':')[-1]}.json").write_text(json.dumps(result, indent=1))
        worst = max(result["families"].items(), key=lambda kv: abs(kv[1]["predicted_s"] - kv[1]["measured_s"]))
        print(f"  {name:26} ops in place {ms(result['ops_measured_s'])} (whole {ms(result['measured_s'])}); "
              f"largest family error: {worst[0]} {ms(worst[1]['measured_s'])} measured, "
              f"{ms(worst[1]['predicted_s'])} predicted")
        for family, t in result["families"].items():
            entry = totals.setdefault(family, [0.0, 0.0])
            entry[0] += t["measured_s"]
            entry[1] += t["predicted_s"]
    everything = sum(m for m, _ in totals.values()) or 1.0
    print(f"  {'family':14} {'measured':>12} {'predicted':>12} {'error':>8} {'share':>7}")
    for family, (measured, predicted) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
        error = f"{predicted / measured - 1:+8.1%}" if measured else "       -"
        print(f"  {family:14} {ms(measured):>12} {ms(predicted):>12} {error} {measured / everything:>7.1%}")


def cpu_name() -> str:
    from graphcal.hardware.host import cpu_model, physical_cores

    return f"{cpu_model()}, {physical_cores()} physical cores, {os.cpu_count()} logical"


def host_speed(hw: str) -> dict | None:
    """The host's sgemm rate now against the one its profile measured at calibration: the same
    probe as `profiles init --host`, on every physical core whatever `threads` the validation
    times with, so a ratio far from 1 says the machine is not running at the speed the profile
    was calibrated at (a busy neighbour, a changed clock), whatever the model."""
    import torch

    from graphcal.hardware.host import physical_cores
    from graphcal.hardware.init import probe_peak_flops
    from graphcal.hardware.profile import load_profile

    measured = load_profile(hw).data.get("measured", {}).get("sgemm_flops_per_s")
    if not measured:
        print(f"host speed: not checked ({hw} states no measured.sgemm_flops_per_s to compare with)")
        return None
    previous = torch.get_num_threads()
    torch.set_num_threads(physical_cores())
    try:
        now = probe_peak_flops(torch.get_num_threads()).value
    finally:
        torch.set_num_threads(previous)
    ratio = now / float(measured["value"])
    print(f"host speed: sgemm {now / 1e9:.0f} GFLOP/s now, {float(measured['value']) / 1e9:.0f} at calibration "
          f"({ratio:.2f}x)")
    return {"sgemm_flops_per_s": now, "calibration_sgemm_flops_per_s": float(measured["value"]), "ratio": ratio}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--hw", required=True, help="the host profile to evaluate (a path such as ./host-fit.yaml, or a name)"
    )
    parser.add_argument("--out-dir", type=Path, required=True, help="where the grid and the sweep CSVs go")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random MLPs (default 0)")
    parser.add_argument("--mlps", type=int, default=60, help="how many random MLPs (default 60)")
    parser.add_argument("--threads", type=int, default=None, help="threads to time with (default: torch's default)")
    parser.add_argument("--dtype", default="fp32",
                        help="precision to time and predict (default fp32; bf16 where the CPU runs it natively)")
    parser.add_argument("--results", type=Path,
                        help="a results folder: write its populations/<name>.csv (see --mlp-population, "
                             "--models-population)")
    parser.add_argument("--mlp-population", default="mlp", help="population name of the MLPs (default mlp)")
    parser.add_argument("--models-population", default="models",
                        help="population name of the models (default models)")
    parser.add_argument("--skip-mlps", action="store_true")
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--stand-ins", action="store_true",
                        help="also time the narrowed stand-in models (extra rows, not what the targets count)")
    parser.add_argument("--skip-families", action="store_true",
                        help="skip the per-family breakdown (compare --measure on each model)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: 3 small MLPs and one model ({QUICK_MODEL}), into *-quick.csv files")
    args = parser.parse_args(argv)

    hw = str(Path(args.hw).resolve()) if Path(args.hw).exists() else args.hw  # NB: commands run from the repo root
    out_dir = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = ("-quick" if args.quick else "") + (f"-{args.dtype}" if args.dtype != "fp32" else "")
    figures = {}
    print(f"CPU: {cpu_name()}; profile {hw}")
    speeds = [host_speed(hw)]
    if not args.skip_mlps:
        figures["MLPs"] = report_mlps(sweep_mlps(args, out_dir, tag), hw)
    if not args.skip_models:
        csv_path, models = sweep_models(args, out_dir, tag)
        figures["models"] = report_models(csv_path, models, hw)
        if not args.skip_families:
            report_families(models, hw, args.threads, out_dir)
        if args.stand_ins:
            csv_path, models = sweep_models(args, out_dir, tag, stand_ins=True)
            figures["stand-ins"] = report_models(csv_path, models, hw)
    speeds.append(host_speed(hw))
    if args.results is not None:
        names = {"MLPs": args.mlp_population, "models": args.models_population}
        for part, f in figures.items():
            if part in names:
                write_population(args.results, names[part], f["cases"])
    print(f"\nSummary on {cpu_name()} (targets: full-size models MAPE <= 8%, >= 75% within +-10%, mean "
          "within +-3%; MLPs at all cores MAPE <= 6%, >= 80% within +-10%; --threads 1 MLPs <= 10%)")
    for part, f in figures.items():
        print(f"  {part:7} n = {f['n']:3d}   MAPE {pct(f['mape']):>6}   within +-10%: {pct(f['within_10']):>6}"
              f"   noise floor {pct(f['noise_floor'])}")
    if all(speeds):
        print("  host speed (sgemm now / at calibration): "
              + ", ".join(f"{when} {s['ratio']:.2f}x" for when, s in zip(("before", "after"), speeds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
