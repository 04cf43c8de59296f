"""How well a profile predicts the i7-12700K in-model rows (sweeps/data/i7-12700k/in-model.csv),
one held-out architecture at a time.

For each of the six architectures, every subgraph row of its runs is predicted as the sum of the
mapper's op times over the row's ops (graphcal.mapper.op_time through graphcal.evaluate, as
predict, fit and compare do), and

- per architecture: the MAPE of its runs' sums (predicted sum of its subgraphs against the
  measured sum, one figure per model/batch run), and the mean signed error;
- per family (the row's `family`: the cost family of its costliest op): the MAPE of the held-out
  architecture's rows.

With `--hw` the profile is used as it is for every architecture: the baseline of a profile that
saw none of these rows. With `--refit BASE`, each architecture is predicted by a profile that
`graphcal fit` fits from BASE on the kernel rows (`--kernel-rows`) and the other five
architectures' in-model rows, never its own (fits run one at a time, single-threaded): kernel
class tables, as `graphcal fit` fits by default, or with `--coefficients` the profile-wide
coefficients and family terms.

    python scripts/evaluate_i7_in_model.py [--hw i7-12700k --hw i7-12700k-tiny ...] [--runs] [--json]
    python scripts/evaluate_i7_in_model.py --refit i7-12700k-spec [--runs]
    python scripts/evaluate_i7_in_model.py --refit BASE --coefficients [--fix NAME,...] [--runs]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from graphcal.evaluate.costing import CostedRows, cost_rows, evaluate_profile
from graphcal.evaluate.metrics import metrics
from graphcal.hardware.profile import HardwareProfile, load_profile
from graphcal.precision import Precision
from graphcal.sweep.csvfile import SweepRow, read_sweep

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "sweeps" / "data" / "i7-12700k" / "in-model.csv"
SHIPPED = ("i7-12700k", "i7-12700k-tiny", "i7-12700k-large")
KERNEL_ROWS = REPO / "sweeps" / "data" / "i7-12700k" / "calibration.csv"


def architecture(row: SweepRow) -> str:
    """`torchvision:resnet18 b4` -> resnet18."""
    return row.workload.split()[0].split(":")[-1]


def predict(rows: list[SweepRow], costed: CostedRows, profile_for: Callable[[str], HardwareProfile]) -> np.ndarray:
    """Each row's latency on the profile its architecture gets: graphcal.evaluate's
    evaluate_profile (the mapper's op_time summed over the row's ops, as fit and compare do)."""
    predicted = np.zeros(len(rows))
    by_arch: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_arch[architecture(row)].append(i)
    for arch, index in by_arch.items():
        predicted[index] = evaluate_profile(costed.take(np.array(index)), profile_for(arch)).latency_s
    return predicted


def evaluate(rows: list[SweepRow], costed: CostedRows, profile_for: Callable[[str], HardwareProfile]) -> dict:
    """Each architecture's rows predicted with `profile_for(architecture)`."""
    predicted = predict(rows, costed, profile_for)
    measured = np.array([r.latency_s for r in rows])
    runs: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        runs[row.workload].append(i)
    run_names = sorted(runs, key=lambda w: (w.split()[0], int(w.split()[1][1:])))
    run_pred = np.array([predicted[runs[w]].sum() for w in run_names])
    run_meas = np.array([measured[runs[w]].sum() for w in run_names])
    run_arch = np.array([architecture(rows[runs[w][0]]) for w in run_names])
    architectures = {}
    for arch in sorted(set(run_arch)):
        mask = run_arch == arch
        signed = (run_pred[mask] - run_meas[mask]) / run_meas[mask]
        architectures[str(arch)] = {**metrics(run_pred[mask], run_meas[mask]).as_dict(("n", "mape", "within_10")),
                               "mean_signed_error": float(signed.mean())}
    families = {}
    labels = np.array([r.fields["family"] for r in rows], dtype=object)
    for family in sorted(set(labels)):
        mask = labels == family
        signed = (predicted[mask] - measured[mask]) / measured[mask]
        families[str(family)] = {**metrics(predicted[mask], measured[mask]).as_dict(("n", "mape", "within_10")),
                            "median_signed_error": float(np.median(signed)),
                            "measured_share": float(measured[mask].sum() / measured.sum())}
    return {
        "runs": metrics(run_pred, run_meas).as_dict(("n", "mape", "within_10")),
        "architectures": architectures,
        "families": families,
        "per_run": [{"run": w, "predicted_s": float(p), "measured_s": float(m)}
                    for w, p, m in zip(run_names, run_pred, run_meas, strict=True)],
    }


SMALL_WORK_FLOP = 2e7  # the kernel rows' split (scripts/import_i7_data.py): small < 2e7 FLOP <= large
SUBSETS = {
    "all": lambda flops: True,
    "small": lambda flops: flops < SMALL_WORK_FLOP,
    "large": lambda flops: flops >= SMALL_WORK_FLOP,
}


def in_subset(row: SweepRow, subset: str) -> bool:
    """Whether an in-model row (one subgraph, by its FLOPs) is small or large work."""
    return SUBSETS[subset](float(row.fields["flops"]))


def refit_leaving_out(architectures: list[str], data: Path, kernel_rows: Path, base: str | dict[str, str],
                      fix: str | None, workdir: Path, subset: str = "all", jobs: int = 1,
                      coefficients: bool = False) -> tuple[dict[str, HardwareProfile], dict[str, dict]]:
    """Per architecture: `graphcal fit` of `base` (or `base[architecture]`: a profile that saw
    none of that architecture's rows) on the kernel rows and the other architectures'
    in-model rows of `subset` (small or large work, or all), `jobs` fits at a time, each
    single-threaded, with no row held out of a fit (the held-out architecture is its holdout):
    kernel class tables, or with `coefficients` the profile-wide coefficients (fit --coefficients).
    Writes `workdir`/without-<architecture>.yaml; returns the fitted profiles and each fit's JSON."""
    with data.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header, raws = reader.fieldnames, list(reader)
    profiles, fits = {}, {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running: dict[str, tuple[subprocess.Popen, Path]] = {}

    def finish(arch: str) -> None:
        process, out = running.pop(arch)
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"fit without {arch} failed: {stderr.strip()}")
        fits[arch] = json.loads(stdout)
        profiles[arch] = load_profile(out)

    for arch in architectures:
        train = workdir / f"in-model-without-{arch}.csv"
        with train.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
            writer.writeheader()
            writer.writerows(r for r in raws if r["workload"].split()[0].split(":")[-1] != arch
                             and SUBSETS[subset](float(r["flops"])))
        out = workdir / f"without-{arch}.yaml"
        fold_base = base[arch] if isinstance(base, dict) else base
        command = [sys.executable, "-m", "graphcal", "fit", str(kernel_rows), str(train), "--base", fold_base,
                   "--out", str(out), "--seed", "0", "--holdout", "0", "--json", *(("--fix", fix) if fix else ()),
                   *(("--coefficients",) if coefficients else ())]
        if len(running) >= jobs:
            finish(next(iter(running)))
        print(f"fitting {fold_base} without {arch} ({subset} in-model rows) ...", file=sys.stderr, flush=True)
        running[arch] = (subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          env=env, cwd=REPO), out)
    while running:
        finish(next(iter(running)))
    return {a: profiles[a] for a in architectures}, {a: fits[a] for a in architectures}


def leave_one_architecture_out(base: str | dict[str, str], kernel_rows: Path, fix: str | None = None,
                               subset: str = "all", data: Path = DATA, jobs: int = 1, coefficients: bool = False,
                               workdir: Path | None = None) -> dict:
    """Each architecture predicted by `base` fitted (class tables, or with `coefficients` the
    profile-wide coefficients) on the kernel rows and the other five architectures' in-model rows
    of `subset`: `evaluate`'s figures over every held-out row (whole runs), `subset_families` over
    the held-out rows of the subset, and each fit's JSON. The fitted profiles are kept in
    `workdir` (without-<architecture>.yaml) when it is given."""
    rows = read_sweep(data)
    costed = cost_rows(rows, Precision.FP32)
    architectures = sorted({architecture(r) for r in rows})
    with tempfile.TemporaryDirectory(prefix="graphcal-loao-") as temporary:
        profiles, fits = refit_leaving_out(architectures, data, kernel_rows, base, fix, Path(workdir or temporary),
                                           subset, jobs, coefficients)
    result = evaluate(rows, costed, profiles.__getitem__)
    if subset != "all":
        index = np.array([i for i, r in enumerate(rows) if in_subset(r, subset)])
        part = [rows[i] for i in index]
        result["subset_families"] = evaluate(part, costed.take(index), profiles.__getitem__)["families"]
    result["fits"] = fits
    return result


def fit_summary(fits: dict[str, dict]) -> str:
    """Markdown: each fit's holdout (its own split, in-model rows by run) and its parameters' values
    and standard errors across the six fits."""
    lines = ["| left out | fit's training MAPE (rows) | parameters without a finite standard error |",
             "| --- | ---: | --- |"]
    for arch, fit in fits.items():
        parameters = fit["provenance"]["parameters"]
        bad = sorted(name for name, p in parameters.items()
                     if p.get("status") == "fitted" and not isinstance(p.get("stderr"), (int, float)))
        lines.append(f"| {arch} | {fit['train']['mape']:.1%} ({fit['train']['n']}) | {', '.join(bad) or '-'} |")
    names = sorted({n for fit in fits.values() for n, p in fit["provenance"]["parameters"].items()
                    if p.get("status") == "fitted"})
    lines += ["", "| parameter | " + " | ".join(f"without {a}" for a in fits) + " |",
              "| --- |" + " ---: |" * len(fits)]
    for name in names:
        cells = []
        for fit in fits.values():
            p = fit["provenance"]["parameters"].get(name, {})
            if p.get("status") != "fitted":
                cells.append(p.get("status", "-"))
                continue
            stderr = p.get("stderr")
            error = f" ± {stderr:.2g}" if isinstance(stderr, (int, float)) else " (no std. error)"
            cells.append(f"{p['fitted']:.3g}{error}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pct(x: float) -> str:
    return f"{x:+.1%}" if x < 0 or x > 0 else "0.0%"


def render(name: str, result: dict, show_runs: bool) -> str:
    runs = result["runs"]
    lines = [f"## {name}: MAPE of the {runs['n']} run sums {runs['mape']:.1%}, "
             f"{runs['within_10']:.0%} within 10%", "",
             "| held-out architecture | runs | MAPE of run sums | mean signed error |", "| --- | ---: | ---: | ---: |"]
    for arch, m in result["architectures"].items():
        lines.append(f"| {arch} | {m['n']} | {m['mape']:.1%} | {pct(m['mean_signed_error'])} |")
    lines += ["", "| family | rows | share of measured time | MAPE | median signed error |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for family, m in result["families"].items():
        lines.append(f"| {family} | {m['n']} | {m['measured_share']:.1%} | {m['mape']:.1%} | "
                     f"{pct(m['median_signed_error'])} |")
    if "subset_families" in result:
        lines += ["", "held-out rows of the work the variant is for only:", "",
                  "| family | rows | MAPE | median signed error |", "| --- | ---: | ---: | ---: |"]
        for family, m in result["subset_families"].items():
            lines.append(f"| {family} | {m['n']} | {m['mape']:.1%} | {pct(m['median_signed_error'])} |")
    if show_runs:
        lines += ["", "| run | predicted | measured | error |", "| --- | ---: | ---: | ---: |"]
        for r in result["per_run"]:
            error = (r["predicted_s"] - r["measured_s"]) / r["measured_s"]
            lines.append(f"| {r['run']} | {r['predicted_s'] * 1e3:.2f} ms | {r['measured_s'] * 1e3:.2f} ms | "
                         f"{pct(error)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", action="append", help="profile name or path (repeatable; default the shipped three)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--runs", action="store_true", help="also print every run's sums")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--refit", metavar="BASE", help="fit BASE leaving each architecture out, and score that")
    parser.add_argument("--kernel-rows", type=Path, default=KERNEL_ROWS, help="kernel rows every refit also fits")
    parser.add_argument("--coefficients", action="store_true",
                        help="refit the profile-wide coefficients and family terms instead of kernel class tables")
    parser.add_argument("--fix", metavar="NAME,...", help="parameters the refits hold at BASE's values")
    parser.add_argument("--subset", choices=sorted(SUBSETS), default="all",
                        help=f"in-model rows the refits train on: small (< {SMALL_WORK_FLOP:.0e} FLOP) or large work")
    parser.add_argument("--jobs", type=int, default=1, help="refits run at a time (each single-threaded)")
    args = parser.parse_args()
    rows = read_sweep(args.data)
    if not all(r.is_op and r.dtype == "fp32" for r in rows):
        raise SystemExit(f"{args.data}: expected fp32 in-model op rows only")
    costed = cost_rows(rows, Precision.FP32)
    results = {}
    if args.refit:
        name = f"{args.refit} refitted without the held-out architecture"
        results[name] = leave_one_architecture_out(args.refit, args.kernel_rows, args.fix, args.subset, args.data,
                                                   args.jobs, args.coefficients)
        if not args.json:
            print(fit_summary(results[name]["fits"]) + "\n")
    for name in args.hw or ([] if args.refit else SHIPPED):
        profile = load_profile(name)
        results[name] = evaluate(rows, costed, lambda _architecture, profile=profile: profile)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print("\n\n".join(render(name, result, args.runs) for name, result in results.items()))


if __name__ == "__main__":
    main()
