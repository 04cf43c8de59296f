"""The accuracy report, rendered from the measured results in benchmarks/results/.

    python benchmarks/report.py            # rewrite docs/accuracy.md and the README's accuracy table
    python benchmarks/report.py --check    # exit 1 if either differs from what would be written
    graphcal compare VALIDATION.csv --hw PROFILE --json | python benchmarks/report.py from-compare > populations/mlp.csv

Every folder benchmarks/results/<cpu-slug>-<YYYY-MM-DD>/ holding a results.yaml is one machine's
measurement (benchmarks/results/README.md describes the format); a folder without one is still
being filled and is skipped, with a note on stderr. Each population's figures (n, MAPE, share
within +-10%, mean signed error) are computed from its populations/<name>.csv, never typed in.
An error is predicted / measured - 1, as graphcal.evaluate.metrics defines it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graphcal.errors import GraphcalError
from graphcal.evaluate.metrics import metrics, relative_errors
from graphcal.yamlfile import load_yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
ACCURACY_MD = ROOT / "docs" / "accuracy.md"
README_MD = ROOT / "README.md"
TABLE_BEGIN = "<!-- accuracy-table:begin -->"
TABLE_END = "<!-- accuracy-table:end -->"

# The population names a results.yaml may use, in the order the report lists them, with a label.
POPULATIONS = {
    "mlp": "random MLPs, all cores",
    "mlp-rested": "random MLPs, all cores, after the host rests",
    "mlp-threads1": "random MLPs, 1 thread",
    "models": "full-size models",
    "models-rested": "full-size models, after the host rests",
    "models-fresh": "full-size models, each in a process of its own",
    "models-fresh-loaded": "full-size models, each in a process of its own, weights loaded from a checkpoint",
    "models-fresh-no-trim": "full-size models, each in a process of its own, no heap trimming",
    "llm-ttft": "LLM time to first token",
    "llm-tokens-per-s": "LLM decode tokens/s",
    "bf16-models": "full-size models, bf16",
    "fit-train": "fit, training rows",
    "fit-holdout": "fit, held-out rows",
    "i7-loao": "i7-12700K in-model runs, one architecture left out",
    "i7-kernel": "i7-12700K kernel validation rows",
}
UNITS = ("s", "tokens/s")
POPULATION_KEYS = {"command", "unit", "description", "profile"}
# what benchmarks/populations.py adds: the CSV's path, the CPU and time of the measurement, and
# the command that took the timings when the population was predicted again from them
OPTIONAL_POPULATION_KEYS = {"csv", "cpu", "measured", "measured_by"}
RESULTS_KEYS = {"date", "time", "cpu", "notes", "populations"}


@dataclass(frozen=True)
class Figures:
    n: int
    mape: float
    within_10: float
    mean_signed: float


@dataclass(frozen=True)
class Population:
    name: str
    command: str
    unit: str
    description: str
    profile: str
    figures: Figures


@dataclass(frozen=True)
class Result:
    folder: str
    date: str
    time: str  # HH:MM UTC when the folder's measurements ended; "" where not recorded
    cpu: str
    notes: str
    populations: tuple[Population, ...]


def figures_of(measured: np.ndarray, predicted: np.ndarray) -> Figures:
    """n, MAPE, share within +-10% and mean signed error of predicted against measured."""
    summary = metrics(predicted, measured)
    return Figures(summary.n, summary.mape, summary.within_10, float(np.mean(relative_errors(predicted, measured))))


def read_population_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The measured and predicted columns of a population CSV (case,measured,predicted[,...])."""
    if not path.is_file():
        raise GraphcalError(f"{path}: missing (results.yaml names this population)")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"case", "measured", "predicted"} - set(reader.fieldnames or ())
        if missing:
            raise GraphcalError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        measured, predicted = [], []
        for line, row in enumerate(reader, start=2):
            try:
                m, p = float(row["measured"]), float(row["predicted"])
            except (TypeError, ValueError):
                raise GraphcalError(f"{path}:{line}: measured and predicted must be numbers") from None
            if not (m > 0 and p >= 0 and np.isfinite(m) and np.isfinite(p)):
                raise GraphcalError(f"{path}:{line}: measured must be > 0 and predicted >= 0, both finite")
            measured.append(m)
            predicted.append(p)
    if not measured:
        raise GraphcalError(f"{path}: no rows")
    return np.array(measured), np.array(predicted)


def _text(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GraphcalError(f"{where}: must be a non-empty string")
    return value.strip()


def load_result(folder: Path) -> Result:
    """One results folder: its results.yaml, each population's figures computed from its CSV."""
    where = f"{folder.name}/results.yaml"
    data = load_yaml((folder / "results.yaml").read_text(encoding="utf-8"), where)
    if not isinstance(data, dict):
        raise GraphcalError(f"{where}: must be a mapping")
    unknown = set(data) - RESULTS_KEYS
    if unknown:
        raise GraphcalError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    date = str(data.get("date", ""))
    if not folder.name.endswith(date) or len(date) != 10:
        raise GraphcalError(f"{where}: date must be YYYY-MM-DD and end the folder's name, got {date!r}")
    time = str(data.get("time", ""))
    if time and not re.fullmatch(r"[0-2]\d:[0-5]\d", time):
        raise GraphcalError(f"{where}: time must be 'HH:MM' (UTC, quoted), got {time!r}")
    populations = data.get("populations") or {}
    if not isinstance(populations, dict):
        raise GraphcalError(f"{where}: populations must be a mapping")
    found = []
    for name in POPULATIONS:
        if name not in populations:
            continue
        entry = populations[name]
        at = f"{where}: populations.{name}"
        if not isinstance(entry, dict) or set(entry) - POPULATION_KEYS - OPTIONAL_POPULATION_KEYS:
            allowed = sorted(POPULATION_KEYS | OPTIONAL_POPULATION_KEYS)
            raise GraphcalError(f"{at}: must hold only {', '.join(allowed)}")
        unit = _text(entry.get("unit"), f"{at}.unit")
        if unit not in UNITS:
            raise GraphcalError(f"{at}.unit: must be one of {', '.join(UNITS)}, got {unit!r}")
        measured, predicted = read_population_csv(folder / "populations" / f"{name}.csv")
        found.append(Population(
            name, _text(entry.get("command"), f"{at}.command"), unit,
            _text(entry.get("description"), f"{at}.description"), _text(entry.get("profile"), f"{at}.profile"),
            figures_of(measured, predicted),
        ))
    strays = set(populations) - set(POPULATIONS)
    if strays:
        raise GraphcalError(f"{where}: unknown population(s) {', '.join(sorted(strays))}; "
                            f"known: {', '.join(POPULATIONS)}")
    notes = data.get("notes") or ""
    return Result(folder.name, date, time, _text(data.get("cpu"), f"{where}: cpu"), str(notes).strip(), tuple(found))


def run_order(folder: str) -> tuple:
    """A folder name's sort key with its numbers as numbers: run10 after run9, and a day's first
    folder (no run number) before its run2."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", folder) if part)


def load_results(results_dir: Path) -> list[Result]:
    """Every folder with a results.yaml, newest first: by date, then time (a folder without one
    first), then folder name (run10 after run9)."""
    results = []
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        if (folder / "results.yaml").is_file():
            results.append(load_result(folder))
        else:
            print(f"report: {folder.name}: no results.yaml yet, skipped", file=sys.stderr)
    return sorted(results, key=lambda r: (r.date, r.time, run_order(r.folder)), reverse=True)


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _signed(value: float) -> str:
    return f"{value:+.1%}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def _within(f: Figures) -> str:
    return f"{f.within_10:.0%} ({round(f.within_10 * f.n)} of {f.n})"


def latest(results: list[Result]) -> list[tuple[Result, Population]]:
    """For each population, the newest folder that measured it, in POPULATIONS order."""
    rows = []
    for name in POPULATIONS:
        for result in results:
            match = [p for p in result.populations if p.name == name]
            if match:
                rows.append((result, match[0]))
                break
    return rows


def readme_table(results: list[Result]) -> str:
    lines = [
        _row(["population", "n", "MAPE", "within ±10%", "CPU", "date", "command"]),
        _row(["---", "---:", "---:", "---:", "---", "---", "---"]),
    ]
    for result, pop in latest(results):
        f = pop.figures
        lines.append(_row([POPULATIONS[pop.name], str(f.n), f"**{_pct(f.mape)}**", _within(f), _cell(result.cpu),
                           result.date, f"`{_cell(pop.command)}`"]))
    lines.append("")
    lines.append("Every population, every machine, with its notes: [docs/accuracy.md](docs/accuracy.md).")
    return "\n".join(lines)


ACCURACY_INTRO = """\
# Accuracy

<!-- Generated by `python benchmarks/report.py` from benchmarks/results/; do not edit by hand. -->

Every figure here is an error on timings that no fit saw, computed from the measured results in
[`benchmarks/results/`](../benchmarks/results/), one folder per machine and date. An error is
predicted / measured - 1; MAPE is the mean of its absolute value; "within ±10%" is the share of
cases whose error is at most 10% either way; the mean signed error says which way the errors
lean (negative: predictions too fast). A machine measured long ago stays here, with its date.

A results folder, `benchmarks/results/<cpu-slug>-<YYYY-MM-DD>/`, holds:

- `machine.json`: the CPU as `python benchmarks/machine.py` describes it (lscpu's model name,
  vendor, family and model numbers, logical CPUs, SIMD flags, caches, torch version);
- `results.yaml`: `date`, `cpu` (one line), optional `notes`, and `populations`: for each, the
  `command` that produced it, its `unit` (`s` or `tokens/s`), a `description` and the `profile`
  it was predicted on;
- `populations/<population>.csv`: columns `case,measured,predicted`, one row per case (more
  columns allowed);
- anything else: the raw sweeps, profiles and command outputs behind the populations
  (`mlp.csv`, `ops.csv`, `models.csv`, `host.yaml`, `host-fit.yaml`, ...).

Populations: `mlp` (random MLPs no grid holds, all cores), `mlp-threads1` (the same at one
thread), `models` (full-size models no grid holds), `llm-ttft` and `llm-tokens-per-s` (LLM
generation: time to first token, decode tokens per second), `bf16-models`, `fit-train` and
`fit-holdout` (a fit's own rows and its held-out rows), `i7-loao` (the shipped i7-12700K
profiles: in-model run sums, one architecture left out) and `i7-kernel` (their kernel
validation rows).

`python benchmarks/report.py` rewrites this page and the README's table from those files;
`python benchmarks/report.py --check` fails when either is stale.
"""


def accuracy_page(results: list[Result]) -> str:
    out = [ACCURACY_INTRO, "## Summary", ""]
    out.append(_row(["population", "n", "MAPE", "within ±10%", "mean signed error", "CPU", "date"]))
    out.append(_row(["---", "---:", "---:", "---:", "---:", "---", "---"]))
    for result in results:
        for pop in result.populations:
            f = pop.figures
            out.append(_row([f"[{pop.name}](#{result.folder})", str(f.n), _pct(f.mape), _within(f),
                             _signed(f.mean_signed), _cell(result.cpu), result.date]))
    if not results:
        out.append("")
        out.append("No results yet.")
    for result in results:
        out += ["", f"## {result.folder}", "", f"**CPU**: {result.cpu}  ", f"**Date**: {result.date}  ",
                f"**Data**: [`benchmarks/results/{result.folder}/`](../benchmarks/results/{result.folder}/)"]
        if result.notes:
            out += ["", result.notes]
        for pop in result.populations:
            f = pop.figures
            out += ["", f"### {pop.name}: {POPULATIONS[pop.name]}", "", pop.description, "",
                    _row(["n", "MAPE", "within ±10%", "mean signed error", "unit", "profile"]),
                    _row(["---:", "---:", "---:", "---:", "---", "---"]),
                    _row([str(f.n), _pct(f.mape), _within(f), _signed(f.mean_signed), pop.unit,
                          f"`{_cell(pop.profile)}`"]),
                    "", "```bash", pop.command, "```"]
    return "\n".join(out) + "\n"


def with_table(readme: str, table: str) -> str:
    """The README with its text between the accuracy-table markers replaced by table."""
    begin, end = readme.find(TABLE_BEGIN), readme.find(TABLE_END)
    if begin < 0 or end < begin:
        raise GraphcalError(f"README.md: needs the markers {TABLE_BEGIN} and {TABLE_END}, in that order")
    return readme[: begin + len(TABLE_BEGIN)] + "\n" + table + "\n" + readme[end:]


def render(results_dir: Path, readme_text: str) -> tuple[str, str]:
    """(docs/accuracy.md, README.md) as they should read."""
    results = load_results(results_dir)
    return accuracy_page(results), with_table(readme_text, readme_table(results))


def from_compare(stream) -> str:
    """`graphcal compare SWEEP.csv --json` as a population CSV: case (workload @ threads), measured, predicted."""
    data = json.load(stream)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["case", "measured", "predicted", "threads", "dtype"])
    for row in data["rows"]:
        writer.writerow([row["workload"], repr(row["measured_s"]), repr(row["predicted_s"]), row["threads"],
                         row["dtype"]])
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", choices=["render", "from-compare"], default="render")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs from what would be written")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--accuracy", type=Path, default=ACCURACY_MD)
    parser.add_argument("--readme", type=Path, default=README_MD)
    args = parser.parse_args(argv)
    if args.action == "from-compare":
        sys.stdout.write(from_compare(sys.stdin))
        return 0
    try:
        page, readme = render(args.results, args.readme.read_text(encoding="utf-8"))
    except GraphcalError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in ((args.accuracy, page), (args.readme, readme))
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"report: {path} is stale; run python benchmarks/report.py", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page if path == args.accuracy else readme, encoding="utf-8")
        print(f"report: wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
