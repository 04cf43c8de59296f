"""How well a profile predicts the i7-12700K in-model rows (sweeps/data/i7-12700k/in-model.csv),
one held-out architecture at a time.

For each of the six architectures, every subgraph row of its runs is predicted as the sum of the
mapper's op times over the row's ops (graphcal.mapper.op_time, as predict does), and

- per architecture: the MAPE of its runs' sums (predicted sum of its subgraphs against the
  measured sum, one figure per model/batch run), and the mean signed error;
- per family (the cost family of the row's costliest op as graphcal costs it now, a grouped
  convolution marked `/grouped` where the registry has no family of its own for it): the MAPE of
  the held-out architecture's rows.

With `--hw` the profile is used as it is for every architecture: the baseline of a profile that
saw none of these rows. (A refit that leaves each architecture out plugs in at `profile_for`.)

    python scripts/evaluate_i7_in_model.py [--hw i7-12700k --hw i7-12700k-tiny ...] [--runs] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from import_i7_in_model import costliest_family  # the family a row is labelled with

from graphcal.cost import OpCost, cost_node
from graphcal.evaluate.metrics import metrics
from graphcal.hardware.profile import HardwareProfile, load_profile
from graphcal.load.opjson import ops_from_json
from graphcal.mapper import Target, op_time
from graphcal.precision import Precision

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "sweeps" / "data" / "i7-12700k" / "in-model.csv"
SHIPPED = ("i7-12700k", "i7-12700k-tiny", "i7-12700k-large")


@dataclass(frozen=True)
class Row:
    run: str            # the workload: model and batch
    architecture: str
    family: str
    measured_s: float
    precision: Precision
    threads: int
    costs: tuple[OpCost, ...]


def family_of(ops) -> str:
    """The costliest op's family, `conv/grouped` for a grouped convolution costed as `conv`."""
    family = costliest_family(ops)
    if family == "conv":
        _, conv = max(((c.flops, c.bytes), op) for op in ops if (c := cost_node(op)) and c.family == "conv")
        if int(conv.arg(6, "groups", 1) or 1) > 1:
            return "conv/grouped"
    return family


def read_rows(path: Path) -> list[Row]:
    rows = []
    with path.open(newline="") as handle:
        for line, raw in enumerate(csv.DictReader(handle), start=2):
            ops = ops_from_json(raw["ops"], f"{path.name}:{line}")
            costs = tuple(c for c in (cost_node(op) for op in ops) if c is not None)
            rows.append(Row(raw["workload"], raw["workload"].split()[0].split(":")[-1], family_of(ops),
                            float(raw["latency_s"]), Precision.parse(raw["dtype"]), int(raw["threads"]), costs))
    return rows


def predict(row: Row, profile: HardwareProfile) -> float:
    target = Target(profile, row.precision, row.threads)
    return sum(op_time(cost, target).total_s for cost in row.costs)


def evaluate(rows: list[Row], profile_for: Callable[[str], HardwareProfile]) -> dict:
    """Each architecture's rows predicted with `profile_for(architecture)`."""
    predicted = np.array([predict(r, profile_for(r.architecture)) for r in rows])
    measured = np.array([r.measured_s for r in rows])
    runs: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        runs[row.run].append(i)
    run_names = sorted(runs, key=lambda w: (w.split()[0], int(w.split()[1][1:])))
    run_pred = np.array([predicted[runs[w]].sum() for w in run_names])
    run_meas = np.array([measured[runs[w]].sum() for w in run_names])
    run_arch = np.array([rows[runs[w][0]].architecture for w in run_names])
    architectures = {}
    for arch in sorted(set(run_arch)):
        mask = run_arch == arch
        signed = (run_pred[mask] - run_meas[mask]) / run_meas[mask]
        architectures[arch] = {**metrics(run_pred[mask], run_meas[mask]).as_dict(("n", "mape", "within_10")),
                               "mean_signed_error": float(signed.mean())}
    families = {}
    labels = np.array([r.family for r in rows], dtype=object)
    for family in sorted(set(labels)):
        mask = labels == family
        signed = (predicted[mask] - measured[mask]) / measured[mask]
        families[family] = {**metrics(predicted[mask], measured[mask]).as_dict(("n", "mape", "within_10")),
                            "median_signed_error": float(np.median(signed)),
                            "measured_share": float(measured[mask].sum() / measured.sum())}
    return {
        "runs": metrics(run_pred, run_meas).as_dict(("n", "mape", "within_10")),
        "architectures": architectures,
        "families": families,
        "per_run": [{"run": w, "predicted_s": float(p), "measured_s": float(m)}
                    for w, p, m in zip(run_names, run_pred, run_meas, strict=True)],
    }


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
    args = parser.parse_args()
    rows = read_rows(args.data)
    results = {}
    for name in args.hw or SHIPPED:
        profile = load_profile(name)
        results[name] = evaluate(rows, lambda _architecture, profile=profile: profile)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print("\n\n".join(render(name, result, args.runs) for name, result in results.items()))


if __name__ == "__main__":
    main()
