"""A results folder's populations: each a CSV of measured and predicted figures per case, listed
in the folder's results.yaml.

    DIR/populations/NAME.csv    columns case,measured,predicted
    DIR/results.yaml            populations: {NAME: {csv, unit, description, profile, command, ...}}

Writing a population replaces its CSV and its entry; the other entries and the other keys of
results.yaml stay as they were.
"""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

COLUMNS = ("case", "measured", "predicted")
RESULTS = "results.yaml"


def write_population(results_dir: Path, name: str, rows: list[tuple[str, float, float]], entry: dict) -> Path:
    """Write NAME's CSV and merge its entry (with `csv` set to the CSV's relative path) into
    results.yaml. Returns the CSV's path."""
    if not rows:
        raise ValueError(f"population {name}: no case has both a measurement and a prediction")
    path = results_dir / "populations" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows((case, repr(float(measured)), repr(float(predicted))) for case, measured, predicted in rows)
    merge_entries(results_dir / RESULTS, {name: {"csv": str(path.relative_to(results_dir)), **entry}})
    return path


def merge_entries(results_yaml: Path, entries: dict[str, dict]) -> None:
    """Set `populations.NAME` for each entry in results.yaml, keeping everything else."""
    document = {}
    if results_yaml.exists():
        document = yaml.safe_load(results_yaml.read_text()) or {}
        if not isinstance(document, dict) or not isinstance(document.get("populations", {}), dict):
            raise ValueError(f"{results_yaml}: a mapping whose `populations` is a mapping")
    document.setdefault("populations", {}).update(entries)
    results_yaml.write_text(yaml.safe_dump(document, sort_keys=False, width=120))


def read_population(path: Path) -> list[tuple[str, float, float]]:
    """A population CSV's rows as (case, measured, predicted)."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: columns {','.join(COLUMNS)}, got {reader.fieldnames}")
        return [(row["case"], float(row["measured"]), float(row["predicted"])) for row in reader]
