"""Fit the shipped i7-12700K profiles on the measured i7 rows and record their errors.

    python scripts/calibrate_i7.py [--jobs 2] [--only NAME] [--out-dir DIR]   # kernel class tables
    python scripts/calibrate_i7.py --coefficients [...]                       # profile-wide coefficients
    python scripts/calibrate_i7.py --report [--out-dir DIR]   # the recorded errors as the README's tables
    python scripts/calibrate_i7.py --populations benchmarks/results/intel-i7-12700k-2026-12-05

Every row says 12 threads (scripts/import_i7_data.py: the source did not record it; PyTorch's
default there is the physical core count), so each table is calibrated at 12 threads only.
Validation rows (`validation*.csv`) are never fitted. `--out-dir` writes the profiles there
instead of graphcal/data/hardware, to measure a path without replacing the shipped profiles.

**Kernel class tables** (the default, as `graphcal fit` fits by default): each profile is one
`graphcal fit` of its kernel rows (`calibration*.csv`: matmul, linear, vector add) and in-model
rows (`in-model.csv`, subgraphs timed inside six torchvision models, the FX interpreter's
estimated cost taken off by the import): a table per kernel class (`kernels.fp32.<class>`), each
fitted on the rows whose longest op is of its class, the gemm, matvec and elementwise classes on
their kernel rows and in-model rows together, with in-model terms from both. `i7-12700k` is
fitted from i7-12700k-spec; `-tiny` and `-large` from i7-12700k (their fits start from its tables
and they extend it). Leave one architecture out: i7-12700k refitted from i7-12700k-spec without
each architecture, and each variant refitted from that fold's i7-12700k, so no fit of the chain
saw the architecture it predicts.

**Coefficients** (`--coefficients`, the path before the tables; fit --coefficients), in two stages:

1. **Kernel rows**: the class coefficients that every op reads (compute and memory rates, GEMM
   shape terms, per-op overheads) and the matmul family's terms, as before the in-model rows
   existed.
2. **Kernel rows + in-model rows**: the op-family terms (conv, depthwise, norm, activation, pool,
   adaptive_pool: rate factor and overhead), with stage 1's values held. Fitted together, the
   1,241 in-model rows (86% of their time in convolutions, which are GEMMs to the mapper) move
   the GEMM shape terms and the memory rate that 42 kernel rows determine, and the kernel
   validation rows' error goes from 27% to 62%; held, the convolutions' own terms take what is
   particular to them.

The profile written states both stages' values and extends stage 1's base; its provenance holds
stage 2's fit with every parameter's value and standard error (stage 1's for those it fitted) and
`stages` (what each stage fitted from which rows). Leave one architecture out refits stage 2 from
stage 1 (which saw kernel rows only).

Either path's provenance holds `validation` (the kernel validation rows, which no fit saw) and
`in_model_validation` (leave one architecture out: each architecture's runs predicted by a fit on
the other five, per architecture, per family and per run).

`i7-12700k` is fitted on every row; `i7-12700k-tiny` and `i7-12700k-large` on the small-work and
large-work rows: kernel rows split as scripts/import_i7_data.py does and in-model rows (one
subgraph each) by the same line, small < 2e7 FLOP <= large.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "sweeps" / "data" / "i7-12700k"
CONFIGS = REPO / "graphcal" / "data" / "hardware"
IN_MODEL = DATA / "in-model.csv"
sys.path.insert(0, str(REPO / "scripts"))
from evaluate_i7_in_model import SMALL_WORK_FLOP, SUBSETS, leave_one_architecture_out  # noqa: E402

from graphcal.fit import params as P  # noqa: E402
from graphcal.hardware.write import extends_ref  # noqa: E402

# Shipped on the coefficients path although the tables were measured (--out-dir): why.
COEFFICIENTS_SHIPPED = {
    "i7-12700k-tiny": "its tables, refitted on small work, predict whole runs one architecture left out at 30% "
                      "MAPE against 17%: the conv table fitted on small convolutions makes the ResNets' large ones "
                      "1.6-1.7x slow. It states every coefficient and extends i7-12700k-spec, so i7-12700k's tables do "
                      "not reach it",
}
# the six torchvision architectures of in-model.csv, each left out in turn
ARCHITECTURES = ("efficientnet_b0", "efficientnet_b1", "mobilenet_v3_large", "mobilenet_v3_small", "resnet18",
                 "resnet34")

# Held in stage 2 at stage 1's values: every parameter but the op-family terms, and the matmul
# family's terms, which only the kernel rows time.
CLASS_PARAMS = tuple(s.name for s in P.PARAMS if s.kind != "family") + ("matmul_rate_factor", "matmul_overhead_s")
# Held in stage 2 at the base value, from the data (see README "Shipped profiles"):
# pool_overhead_s: the 7 pool rows (ResNet's max-pool, batch 1-64) scale with the batch
# (0.87-0.89 ms per image) and give the overhead 0.45 +- 0.29 ms beside a rate factor: the rate
# alone describes them.
FAMILY_FIXED = ("pool_overhead_s",)


@dataclass(frozen=True)
class Variant:
    base: str
    kernel_rows: str       # stage 1's rows, and stage 2's kernel rows
    validation: str        # kernel rows no fit sees
    subset: str            # in-model rows of stage 2: all, small or large work
    purpose: str
    stage1_fixed: tuple[str, ...] = ()
    why_fixed: str = ""


# Stage 1 holds at the base value every parameter whose standard error, fitted, exceeds its
# value (the kernel rows cannot tell it from its neighbours); the figures are those fits'.
VARIANTS = {
    "i7-12700k": Variant(
        "i7-12700k-spec", "calibration.csv", "validation.csv", "all", "all measured shapes",
        ("matmul_overhead_s", "matmul_rate_factor", "matrix_half_rate_rows", "matrix_half_rate_columns"),
        "fitted free, matmul_overhead_s was 0 +- 3.3 us, matmul_rate_factor 1.09 +- 1.03 (against "
        "tile_utilization 0.87 +- 0.99), matrix_half_rate_rows 1.3 +- 12.8 and matrix_half_rate_columns 0 +- 53: "
        "held at i7-12700k-spec's 0, 1, 0 (off) and 0 (off)"),
    "i7-12700k-tiny": Variant(
        "i7-12700k", "calibration-small.csv", "validation-small.csv", "small", "small work (< 2e7 FLOP per op)",
        ("matmul_overhead_s", "matmul_rate_factor", "tile_utilization", "matrix_half_rate_rows",
         "matrix_half_rate_depth", "matrix_half_rate_columns"),
        "27 kernel rows of small work: fitted free, tile_utilization was 0.84 +- 3.6, matmul_rate_factor "
        "1.16 +- 3.9 and the three shape terms 0 +- 47-68 (matrix_half_rate_rows alone: 7.1 +- 7.5): held "
        "at i7-12700k's; efficiency_factor, no longer confounded with tile_utilization, is fitted"),
    "i7-12700k-large": Variant(
        "i7-12700k", "calibration-large.csv", "validation-large.csv", "large", "large work (>= 2e7 FLOP per op)",
        ("per_op_overhead_s", "matrix_op_overhead_s", "cache_bandwidth_bytes_per_s", "matrix_half_rate_rows",
         "matrix_half_rate_depth", "matrix_half_rate_columns", "matmul_overhead_s"),
        "15 kernel rows of large work determine the compute and memory rates only: overheads, the cache "
        "bandwidth and the shape terms stay at i7-12700k's (matrix_half_rate_depth, fitted, was 29 +- 30)"),
}


def graphcal(*args: str) -> dict:
    command = [sys.executable, "-m", "graphcal", *args, "--json"]
    print("$ graphcal " + " ".join(args) + " --json", flush=True)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def subset_file(subset: str, workdir: Path) -> tuple[Path, int]:
    """in-model.csv's rows of `subset` as a file for `graphcal fit`, and how many there are."""
    keep = SUBSETS[subset]
    with IN_MODEL.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames, [r for r in reader if keep(float(r["flops"]))]
    out = workdir / f"in-model-{subset}.csv"
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return out, len(rows)


def merged(stage1: dict, stage2: dict) -> dict:
    """The profile: stage 1's values with stage 2's over them, extending stage 1's base."""
    document = copy.deepcopy(stage2)
    document["extends"] = stage1["extends"]
    for section in ("coefficients", "runtime", "memory", "families"):
        values = copy.deepcopy(stage1.get(section, {}))
        for key, value in stage2.get(section, {}).items():
            if isinstance(value, dict):
                values.setdefault(key, {}).update(value)
            else:
                values[key] = value
        if values:
            document[section] = values
    order = ("name", "extends", "description", "coefficients", "runtime", "memory", "families", "kernels",
             "calibrated", "provenance")
    return {key: document[key] for key in order if key in document}


def provenance(stage1: dict, stage2: dict, fixed2: tuple[str, ...], in_model_rows: int, subset: str) -> dict:
    """Stage 2's provenance, its base named as stage 1's, every parameter's entry from the stage
    that fitted it, and `stages`."""
    first, second = stage1["provenance"], copy.deepcopy(stage2["provenance"])
    second["base"] = first["base"]
    selection = "every row" if subset == "all" else (
        f"rows of {'less than' if subset == 'small' else 'at least'} {SMALL_WORK_FLOP:.0e} FLOP ({subset} work)")
    for sweep in second["sweeps"]:
        if sweep["file"].startswith("in-model-"):
            sweep.update(file=IN_MODEL.name, sha256=sha256(IN_MODEL), rows=in_model_rows, selection=selection)
    parameters = {}
    for name, entry in second["parameters"].items():
        earlier = first["parameters"][name]
        if name in CLASS_PARAMS and earlier["status"] == "fitted":
            parameters[name] = {**earlier, "stage": 1, "note": "fitted on the kernel rows (stage 1), held in stage 2"}
        elif name in CLASS_PARAMS:
            parameters[name] = {**earlier, "stage": 1}
        else:
            parameters[name] = {**entry, "stage": 2}
            if name in fixed2 and name not in CLASS_PARAMS:
                parameters[name]["note"] = "fixed at the base value: " + ("the pool rows scale with the batch; "
                                                                          "a rate factor alone describes them")
    second["parameters"] = parameters
    second["stages"] = [
        {"stage": 1, "rows": [s["file"] for s in first["sweeps"]], "fitted": "class coefficients and matmul terms",
         "error": first["error"], "solver": first["solver"]},
        {"stage": 2, "rows": [s["file"] for s in second["sweeps"]], "in_model_selection": selection,
         "fitted": "op-family terms; stage 1's values held (" + ", ".join(CLASS_PARAMS) + ")",
         "error": second["error"]},
    ]
    return second


def in_model_summary(result: dict, command: str, subset: str) -> dict:
    """`in_model_validation`: leave one architecture out, by architecture, family and run."""
    summary = {
        "file": IN_MODEL.name,
        "sha256": sha256(IN_MODEL),
        "method": "leave one architecture out: each architecture's runs predicted by the profile refitted on the "
                  "kernel rows and the other five architectures' in-model rows"
                  + ("" if subset == "all" else f" ({subset} work)")
                  + "; MAPE of each run's sum of subgraphs against its measured sum",
        "command": command,
        "runs": result["runs"],
        "architectures": result["architectures"],
        "families": {f: {k: m[k] for k in ("n", "mape", "median_signed_error")}
                     for f, m in result["families"].items()},
    }
    if "subset_families" in result:
        summary[f"families_{subset}_work_rows"] = {f: {k: m[k] for k in ("n", "mape")}
                                                   for f, m in result["subset_families"].items()}
    summary["per_run"] = result["per_run"]
    return summary


def validation(variant: Variant, name: str, out: Path) -> dict:
    """`validation`: the profile at `out` on its kernel validation rows (graphcal compare)."""
    check = graphcal("compare", str((DATA / variant.validation).relative_to(REPO)), "--hw", str(out))
    return {
        "file": variant.validation,
        "sha256": sha256(DATA / variant.validation),
        "n": check["n"],
        "mape": check["mape"],
        "within_10": check["within_10"],
        "command": f"graphcal compare sweeps/data/i7-12700k/{variant.validation} --hw {name}",
    }


def base_ref(variant: Variant, out_dir: Path, kernels: bool) -> str:
    """The profile a variant's fit starts from: i7-12700k-spec, or a profile this script writes
    (by name when it writes the shipped ones, else its file in `out_dir`)."""
    base = "i7-12700k-spec" if kernels and variant.base == "i7-12700k-spec" else variant.base
    return base if out_dir == CONFIGS or base not in VARIANTS else str(out_dir / f"{base}.yaml")


def write(out: Path, header: str, document: dict) -> None:
    out.write_text(header + yaml.safe_dump(document, sort_keys=False))


def fit_stage1(name: str, variant: Variant, base: str, workdir: Path) -> tuple[Path, dict]:
    """Stage 1: the profile-wide coefficients on the kernel rows alone (fit --coefficients)."""
    kernel = DATA / variant.kernel_rows
    stage1_out = workdir / f"{name}-stage1.yaml"
    fix1 = ("--fix", ",".join(variant.stage1_fixed)) if variant.stage1_fixed else ()
    graphcal("fit", str(kernel.relative_to(REPO)), "--base", base, "--out", str(stage1_out),
             "--seed", "0", "--coefficients", *fix1)
    stage1 = yaml.safe_load(stage1_out.read_text())
    unfixed = [n for n, p in stage1["provenance"]["parameters"].items()
               if p["status"] == "fitted" and not isinstance(p["stderr"], (int, float))]
    if unfixed:
        sys.exit(f"{name} stage 1: no finite standard error for {unfixed}: fix them")
    return stage1_out, stage1


def calibrate_coefficients(name: str, variant: Variant, jobs: int, workdir: Path, out_dir: Path) -> None:
    """The two-stage fit of the profile-wide coefficients (module docstring)."""
    out = out_dir / f"{name}.yaml"
    base = base_ref(variant, out_dir, kernels=False)
    kernel = DATA / variant.kernel_rows
    stage1_out, stage1 = fit_stage1(name, variant, base, workdir)
    stage2_out = workdir / f"{name}-stage2.yaml"

    in_model, n_in_model = subset_file(variant.subset, workdir)
    fixed2 = tuple(dict.fromkeys(CLASS_PARAMS + FAMILY_FIXED))
    fix2 = ",".join(fixed2)
    fit2 = graphcal("fit", str(kernel.relative_to(REPO)), str(in_model), "--base", str(stage1_out),
                    "--out", str(stage2_out), "--seed", "0", "--coefficients", "--fix", fix2)
    stage2 = yaml.safe_load(stage2_out.read_text())
    document = merged(stage1, stage2)
    document["name"] = name
    document["extends"] = extends_ref(base, out)
    document["description"] = (f"i7-12700K calibrated on measured kernel latencies and subgraphs inside six "
                               f"torchvision models: {variant.purpose}")
    document["provenance"] = provenance(stage1, stage2, fixed2, n_in_model, variant.subset)
    if variant.stage1_fixed:
        document["provenance"]["stages"][0]["fixed"] = variant.why_fixed
    header = "".join(line + "\n" for line in stage2_out.read_text().splitlines() if line.startswith("#"))
    write(out, header, document)
    bad = [n for n, p in document["provenance"]["parameters"].items()
           if p["status"] == "fitted" and not isinstance(p["stderr"], (int, float))]
    if bad:
        sys.exit(f"{name} stage 2: no finite standard error for {bad}: fix them")

    document["provenance"]["validation"] = validation(variant, name, out)
    print(f"{name}: leaving each architecture out (6 fits, {jobs} at a time) ...", flush=True)
    result = leave_one_architecture_out(str(stage1_out), kernel, fix2, variant.subset, IN_MODEL, jobs,
                                        coefficients=True)
    command = (f"python scripts/calibrate_i7.py --coefficients (stage 2 as python scripts/evaluate_i7_in_model.py "
               f"--refit <{name} stage 1> --coefficients --fix {fix2}"
               + (f" --subset {variant.subset}" if variant.subset != "all" else "") + ")")
    document["provenance"]["in_model_validation"] = in_model_summary(result, command, variant.subset)
    write(out, header, document)
    summarize(name, fit2, document["provenance"])


def calibrate_kernels(name: str, variant: Variant, jobs: int, workdir: Path, out_dir: Path) -> None:
    """One `graphcal fit` of kernel class tables on the kernel and in-model rows (module docstring);
    leave one architecture out from the same chain of bases, each refitted without it."""
    out = out_dir / f"{name}.yaml"
    base = base_ref(variant, out_dir, kernels=True)
    kernel = DATA / variant.kernel_rows
    fitted = workdir / f"{name}-tables.yaml"
    in_model, n_in_model = subset_file(variant.subset, workdir)
    # from the datasheet: stage 1 first, so that ops of a class without a table (norms, copies, a
    # class with under MIN_ROWS rows) get the kernel rows' coefficients, not uncalibrated ones
    stage1_out, stage1 = fit_stage1(name, variant, base, workdir) if base == "i7-12700k-spec" else (None, None)
    tables_base = str(stage1_out) if stage1_out else base
    fit = graphcal("fit", str(kernel.relative_to(REPO)), str(in_model), "--base", tables_base, "--out", str(fitted),
                   "--seed", "0")
    document = yaml.safe_load(fitted.read_text())
    if stage1:
        document = merged(stage1, document)
        tables = document["provenance"]
        tables["base"] = stage1["provenance"]["base"]
        tables["parameters"] = {n: {**p, "stage": 1} for n, p in stage1["provenance"]["parameters"].items()}
        tables["stages"] = [
            {"stage": 1, "rows": [s["file"] for s in stage1["provenance"]["sweeps"]],
             "fitted": "profile-wide coefficients (fit --coefficients): what ops of a class without a table read, "
                       "and where the tables start", "error": stage1["provenance"]["error"],
             "solver": stage1["provenance"]["solver"], **({"fixed": variant.why_fixed} if variant.why_fixed else {})},
            {"stage": 2, "rows": [s["file"] for s in tables["sweeps"]],
             "fitted": "kernel class tables (kernels.fp32), stage 1's coefficients held", "error": tables["error"]},
        ]
    document["name"] = name
    document["extends"] = extends_ref(base, out)
    document["description"] = (f"i7-12700K calibrated on measured kernel latencies and subgraphs inside six "
                               f"torchvision models: {variant.purpose}")
    selection = "every row" if variant.subset == "all" else (
        f"rows of {'less than' if variant.subset == 'small' else 'at least'} {SMALL_WORK_FLOP:.0e} FLOP "
        f"({variant.subset} work)")
    for sweep in document["provenance"]["sweeps"]:
        if sweep["file"].startswith("in-model-"):
            sweep.update(file=IN_MODEL.name, sha256=sha256(IN_MODEL), rows=n_in_model, selection=selection)
    header = "".join(line + "\n" for line in fitted.read_text().splitlines() if line.startswith("#"))
    write(out, header, document)
    document["provenance"]["validation"] = validation(variant, name, out)

    # the folds' bases: i7-12700k-spec, or the base's own fold (i7-12700k without the architecture)
    folds = workdir / f"{name}-folds"
    folds.mkdir()
    fold_bases = str(stage1_out) if stage1_out else {
        arch: str(workdir / f"{variant.base}-folds" / f"without-{arch}.yaml") for arch in ARCHITECTURES}
    print(f"{name}: leaving each architecture out (6 fits, {jobs} at a time) ...", flush=True)
    result = leave_one_architecture_out(fold_bases, kernel, None, variant.subset, IN_MODEL, jobs, workdir=folds)
    command = ("python scripts/calibrate_i7.py (each fold as graphcal fit of the kernel rows and the other five "
               f"architectures' {variant.subset} in-model rows from "
               + (f"{name}'s stage 1)" if stage1_out else f"that fold's {variant.base})"))
    document["provenance"]["in_model_validation"] = in_model_summary(result, command, variant.subset)
    write(out, header, document)
    summarize(name, fit, document["provenance"])


def summarize(name: str, fit: dict, provenance: dict) -> None:
    check, runs = provenance["validation"], provenance["in_model_validation"]["runs"]
    print(f"{name}: holdout MAPE {fit['holdout']['mape']:.1%} (n={fit['holdout']['n']}), kernel validation "
          f"MAPE {check['mape']:.1%} (n={check['n']}), leave-one-architecture-out MAPE of the "
          f"{runs['n']} run sums {runs['mape']:.1%}", flush=True)


def report(directory: Path = CONFIGS) -> str:
    """Markdown tables of the profiles' recorded errors (README, "The shipped i7-12700K
    profiles"): kernel validation and leave-one-architecture-out, per architecture and family."""
    provenances = {name: yaml.safe_load((directory / f"{name}.yaml").read_text())["provenance"]
                   for name in VARIANTS if (directory / f"{name}.yaml").is_file()}
    names = list(provenances)
    pct = "{:.1%}".format
    lines = ["| profile | kernel validation rows: MAPE (rows) | in-model runs, leave one architecture out: "
             "MAPE of the run sums (runs) | within ±10% |", "| --- | ---: | ---: | ---: |"]
    for name, prov in provenances.items():
        check, runs = prov["validation"], prov["in_model_validation"]["runs"]
        lines.append(f"| `{name}` | {pct(check['mape'])} ({check['n']}, {check['file']}) | {pct(runs['mape'])} "
                     f"({runs['n']}) | {runs['within_10']:.0%} |")
    lines += ["", "| held-out architecture | runs | " + " | ".join(f"`{n}`" for n in names) + " |",
              "| --- | ---: |" + " ---: |" * len(names)]
    architectures = provenances[names[0]]["in_model_validation"]["architectures"]
    for arch, first in architectures.items():
        cells = []
        for name in names:
            m = provenances[name]["in_model_validation"]["architectures"][arch]
            cells.append(f"{pct(m['mape'])} ({m['mean_signed_error']:+.1%})")
        lines.append(f"| {arch} | {first['n']} | " + " | ".join(cells) + " |")
    lines += ["", "| family (held-out rows) | rows | " + " | ".join(f"`{n}`" for n in names) + " |",
              "| --- | ---: |" + " ---: |" * len(names)]
    families = provenances[names[0]]["in_model_validation"]["families"]
    for family, first in families.items():
        cells = [pct(provenances[n]["in_model_validation"]["families"][family]["mape"]) for n in names]
        lines.append(f"| {family} | {first['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_populations(results_dir: Path, name: str = "i7-12700k") -> None:
    """The shipped `name` as the results folder's populations i7-kernel (its kernel validation
    rows, predicted again) and i7-loao (the run sums its provenance recorded, one architecture
    left out)."""
    sys.path.insert(0, str(REPO))
    from benchmarks.populations import merge_entries, write_population
    from benchmarks.report import from_compare

    variant, shipped = VARIANTS[name], yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    kind = "kernel class tables" if shipped.get("kernels") else "profile-wide coefficients (fit --coefficients)"
    compare = graphcal("compare", f"sweeps/data/i7-12700k/{variant.validation}", "--hw", name)
    # as its command writes it (report.py from-compare: with the threads and dtype columns)
    (results_dir / "populations").mkdir(parents=True, exist_ok=True)
    (results_dir / "populations" / "i7-kernel.csv").write_text(from_compare(io.StringIO(json.dumps(compare))))
    merge_entries(results_dir / "results.yaml", {"i7-kernel": {
        "command": f"graphcal compare sweeps/data/i7-12700k/{variant.validation} --hw {name} --json "
                   "| python benchmarks/report.py from-compare > populations/i7-kernel.csv",
        "unit": "s",
        "description": f"{compare['n']} kernel validation rows of the i7-12700K (matmul, linear, vector add), "
                       f"predicted on the shipped {name} profile ({kind}).",
        "profile": f"{name} (shipped)",
    }})
    loao = shipped["provenance"]["in_model_validation"]
    write_population(results_dir, "i7-loao", [(r["run"], r["measured_s"], r["predicted_s"])
                                              for r in loao["per_run"]], {
        "command": "python scripts/calibrate_i7.py --only i7-12700k && python scripts/calibrate_i7.py "
                   f"--populations {results_dir.relative_to(REPO)}",
        "unit": "s",
        "description": f"{len(loao['per_run'])} runs of six torchvision architectures (sweeps/data/i7-12700k/"
                       "in-model.csv, each run the sum of its subgraphs), each predicted by "
                       f"{name} ({kind}) refitted on the kernel rows and the other five architectures' rows.",
        "profile": f"{name} (shipped), refitted without the held-out architecture",
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="leave-one-out refits at a time (each single-threaded)")
    parser.add_argument("--only", choices=sorted(VARIANTS), action="append", help="rebuild only these profiles")
    parser.add_argument("--coefficients", action="store_true",
                        help="fit the profile-wide coefficients in two stages instead of kernel class tables")
    parser.add_argument("--out-dir", type=Path, default=CONFIGS,
                        help="write the profiles here (default: the shipped ones, graphcal/data/hardware)")
    parser.add_argument("--report", action="store_true",
                        help="fit nothing: print the profiles' recorded errors (in --out-dir) as markdown tables")
    parser.add_argument("--populations", type=Path, metavar="RESULTS_DIR",
                        help="fit nothing: write the shipped i7-12700k's i7-kernel and i7-loao populations there")
    args = parser.parse_args()
    if args.report:
        print(report(args.out_dir.resolve()))
        return
    if args.populations:
        write_populations(args.populations.resolve())
        return
    out_dir = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="graphcal-calibrate-i7-") as workdir:
        for name, variant in VARIANTS.items():
            if args.only and name not in args.only:
                continue
            if not args.coefficients and out_dir == CONFIGS and name in COEFFICIENTS_SHIPPED:
                print(f"{name}: shipped with coefficients ({COEFFICIENTS_SHIPPED[name]}); kept", flush=True)
                continue
            if args.coefficients:
                calibrate_coefficients(name, variant, args.jobs, Path(workdir), out_dir)
            else:
                if variant.base in VARIANTS and not (Path(workdir) / f"{variant.base}-folds").is_dir():
                    sys.exit(f"{name}: its leave-one-architecture-out folds start from {variant.base}'s: "
                             f"rebuild {variant.base} in the same run")
                calibrate_kernels(name, variant, args.jobs, Path(workdir), out_dir)


if __name__ == "__main__":
    main()
