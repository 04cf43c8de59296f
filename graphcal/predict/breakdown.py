"""A prediction broken down by op target, op family or module, and written as CSV.

Modules come from the program's nn_module_stack (OpNode.module): the innermost module each op
ran in, cut to its first `depth` dotted components (`encoder.layer.3.attention` at depth 3 is
`encoder.layer.3`). A format that records no modules (TorchScript, recorded calls) is said to
be one, in one line, never guessed.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.predict.prediction import OpPrediction, Prediction

GROUP_BYS = ("op", "family", "module")
MODEL_ITSELF = "(model)"                # ops of the model's own forward, in no submodule
NO_MODULE = "(no module recorded)"      # ops whose node carries no nn_module_stack


@dataclass(frozen=True)
class Group:
    key: str
    ops: int
    time_s: float
    flops: float
    bytes: float


def group_key(op: OpPrediction, by: str, depth: int | None = None) -> str:
    if by == "op":
        return op.node.target
    if by == "family":
        return op.cost.family
    module = op.node.module
    if module is None:
        return NO_MODULE
    if module == "":
        return MODEL_ITSELF
    return ".".join(module.split(".")[:depth]) if depth else module


def group_ops(p: Prediction, by: str, depth: int | None = None) -> list[Group]:
    """The prediction's ops summed by `by` (one of GROUP_BYS), costliest group first."""
    if by not in GROUP_BYS:
        raise GraphcalError(f"--group-by {by!r}: choose one of {', '.join(GROUP_BYS)}")
    if depth is not None and by != "module":
        raise GraphcalError("--depth cuts module paths: use it with --group-by module")
    if by == "module" and p.ops and all(op.node.module is None for op in p.ops):
        raise GraphcalError(
            f"{p.model}: this model's format records no module names (TorchScript archives do not), so "
            "--group-by module cannot group its ops; export it with torch.export (a .pt2) or use a factory"
        )
    totals: dict[str, list[Any]] = {}
    for op in p.ops:
        entry = totals.setdefault(group_key(op, by, depth), [0, 0.0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += op.time.total_s
        entry[2] += op.cost.flops
        entry[3] += op.cost.bytes
    groups = [Group(key, n, t, f, b) for key, (n, t, f, b) in totals.items()]
    return sorted(groups, key=lambda g: g.time_s, reverse=True)


def op_rows(p: Prediction) -> list[dict[str, Any]]:
    """One row per costed op, in graph order: the per-op CSV."""
    total = p.latency_s
    return [
        {"name": op.node.name, "part": op.cost.part, "target": op.node.target, "family": op.cost.family,
         "module": "" if op.node.module is None else op.node.module,
         "time_s": op.time.total_s, "share": op.time.total_s / total if total else 0.0,
         "flops": op.cost.flops, "bytes": op.cost.bytes, "bound": op.time.bound}
        for op in p.ops
    ]


def group_rows(groups: list[Group], total_s: float) -> list[dict[str, Any]]:
    """One row per group, costliest first: the per-group CSV and JSON."""
    return [
        {"group": g.key, "ops": g.ops, "time_s": g.time_s, "share": g.time_s / total_s if total_s else 0.0,
         "flops": g.flops, "bytes": g.bytes}
        for g in groups
    ]


def check_csv_path(path: Path) -> None:
    """Refuse a --csv that cannot be written before any work."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise GraphcalError(f"--csv {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise GraphcalError(f"--csv {path}: directory {parent} is not writable")


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows (all with the same keys) as CSV text, for stdout."""
    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["name"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return handle.getvalue()


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows (all with the same keys) atomically: a temporary file, then os.replace."""
    check_csv_path(path)
    fields = list(rows[0]) if rows else ["name"]
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise GraphcalError(f"--csv {path}: cannot write: {exc.strerror}") from None
