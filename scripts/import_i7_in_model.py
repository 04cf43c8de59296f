"""Convert the per-subgraph latencies measured inside six torchvision models on an i7-12700K
(shared/data/i7-12700k/in-model) into graphcal's in-model rows:

    sweeps/data/i7-12700k/in-model.csv          one `scope=op` row per subgraph of one model run
    sweeps/data/i7-12700k/in-model-models.csv   one `scope=model` row per model run

Source: branes-ai/graphs, calibration_data/intel_core_i7_12700k/measurements/fp32/*.json (MIT
licence, copyright 2025 branes.ai). The source traced each model with torch.fx.symbolic_trace,
timed every FX node in an FX interpreter and summed a subgraph's node times; each row names its
FX nodes (module paths such as `layer1_1_conv1`, functional nodes such as `add_3`).

The mapping to graphcal's ops: each architecture is built on the meta device, traced with
torch.fx.symbolic_trace as the source did (so the FX node names are the source's), and every FX
node is wrapped in a module named after it; torch.export then records, for every aten op, the
wrapper it ran in (node metadata `nn_module_stack`), so each op belongs to exactly one FX node,
with no matching by position or name. A subgraph's ops are its FX nodes' ops, in graph order,
as graphcal.load.trace.graph_from_fx reads them. Rows that cannot be mapped or that do no tensor
work are left out, counted and listed with the reason.

The interpreter's own cost: every source row includes the FX interpreter's Python work once per
FX node, which a plain eager run of the model does not pay. The source's nodes that make no aten
call at all (EfficientNet's stochastic_depth, the identity in eval) measure it: the estimate is
the median over them of their fastest of the 50 runs (`interpreter_estimate`). Each row records
`interpreter_overhead_s` = its FX node count x the estimate, and `latency_s` = the source's mean
less that, never below KEPT_AT_LEAST of the mean; `latency_s + interpreter_overhead_s` is the
time as measured. graphcal's mapper knows nothing of it.

Needs torchvision's pure-Python model definitions (`pip install --no-deps torchvision pillow`);
its C extension is not loaded. `--recost` needs neither torchvision nor the source: it recomputes
the written rows' flops, bytes and family from their ops, after a change to graphcal's costing.

    python scripts/import_i7_in_model.py [--source ../shared/data/i7-12700k/in-model]
    python scripts/import_i7_in_model.py --recost
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from import_i7_data import ASSUMED_THREADS, HOST  # the kernel rows' host and thread assumption

from graphcal import __version__
from graphcal.cost import OpCost, cost_graph, cost_node
from graphcal.load.graph import OpGraph, OpNode
from graphcal.load.opjson import ops_from_json, ops_to_json
from graphcal.sweep.csvfile import MODEL_SCOPE, OP_SCOPE, SWEEP_COLUMNS, complete_row

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "sweeps" / "data" / "i7-12700k"
GRID = "branes-in-model"
IMAGE = (3, 224, 224)
# The source ran efficientnet_b1 at its own resolution, 240x240 (torchvision's EfficientNet_B1
# weights are evaluated at 240): its FLOPs are (240/224)^2 = 1.148x those at 224 on every row.
IMAGE_SIZE = {"efficientnet_b1": (3, 240, 240)}
# Families whose FLOPs the source counts (convolution, linear, add, mul); it counts none for batch
# norm, activations and pooling.
SOURCE_COUNTED = ("conv", "depthwise", "linear", "elementwise")
WRAPPER = "fxnode__"
NO_ATEN_OP = "no tensor work (no aten op in eval)"  # why_not's reason for a node that calls nothing
KEPT_AT_LEAST = 0.1  # a row keeps at least this share of its measured time (no row needs it)


def workload(model: str, batch: int) -> str:
    """The text that names one model run (fit holds out by model: the part before the space)."""
    return f"torchvision:{model} b{batch}"


# --- tracing ---------------------------------------------------------------------------------

def torchvision_models():
    """torchvision.models without its C extension: define the two schemas it registers fakes for."""
    import torch

    global _TORCHVISION_LIBRARY  # kept alive: the schemas go when the Library is collected
    if "torchvision.models" not in sys.modules:
        _TORCHVISION_LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
        _TORCHVISION_LIBRARY.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _TORCHVISION_LIBRARY.define(
            "qnms(Tensor qdets, Tensor qscores, float iou_threshold, Tensor reference) -> Tensor"
        )
    import torchvision.models

    return torchvision.models


@dataclass(frozen=True)
class TracedRun:
    """One architecture at one batch: its FX node names in order and the aten ops of each."""

    fx_nodes: tuple[str, ...]
    ops: dict[str, tuple[OpNode, ...]]  # FX node name -> its ops, in graph order
    graph_ops: tuple[OpNode, ...]       # every op of the exported program, in order


def trace(model: str, batch: int) -> TracedRun:
    """Trace `model` as the source did (symbolic_trace), wrap each FX node in a module named
    after it, export on the meta device and group the aten ops by the wrapper they ran in."""
    import torch
    import torch.fx

    from graphcal.load.trace import graph_from_fx

    class Call(torch.nn.Module):
        """One FX node as a module, so that export's nn_module_stack names the node."""

        def __init__(self, op: str, target, inner=None) -> None:
            super().__init__()
            self.op, self.target = op, target
            if inner is not None:
                self.inner = inner

        def forward(self, *args, **kwargs):
            if self.op == "call_module":
                return self.inner(*args, **kwargs)
            if self.op == "call_method":
                return getattr(args[0], self.target)(*args[1:], **kwargs)
            return self.target(*args, **kwargs)

    with torch.device("meta"):
        module = getattr(torchvision_models(), model)().eval()
    gm = torch.fx.symbolic_trace(module)
    names = []
    for node in list(gm.graph.nodes):
        if node.op not in ("call_module", "call_function", "call_method"):
            continue
        names.append(node.name)
        inner = gm.get_submodule(node.target) if node.op == "call_module" else None
        gm.add_submodule(WRAPPER + node.name, Call(node.op, node.target, inner))
        with gm.graph.inserting_before(node):
            wrapped = gm.graph.call_module(WRAPPER + node.name, node.args, node.kwargs)
        node.replace_all_uses_with(wrapped)
        gm.graph.erase_node(node)
    gm.recompile()
    with torch.no_grad():
        image = IMAGE_SIZE.get(model, IMAGE)
        program = torch.export.export(gm, (torch.empty(batch, *image, device="meta"),), strict=False)
    calls = [n for n in program.graph.nodes if n.op == "call_function"]
    graph = graph_from_fx(program.graph, workload(model, batch))
    assert [c.name for c in calls] == [n.name for n in graph.nodes]
    ops: dict[str, list[OpNode]] = defaultdict(list)
    for call, op in zip(calls, graph.nodes, strict=True):
        paths = [path for path, _ in (call.meta.get("nn_module_stack") or {}).values()]
        owners = [p.removeprefix(WRAPPER) for p in paths if p.startswith(WRAPPER) and "." not in p]
        if len(owners) != 1:
            raise SystemExit(f"{model} b{batch}: op {call.name} ran in {paths}, not in one FX node")
        ops[owners[0]].append(op)
    return TracedRun(tuple(names), {k: tuple(v) for k, v in ops.items()}, graph.nodes)


# --- rows ------------------------------------------------------------------------------------

def costs(ops: tuple[OpNode, ...]) -> list[OpCost]:
    """The costs of the ops that have one (free ops cost nothing and have none)."""
    return [c for c in (cost_node(op) for op in ops) if c is not None]


def costliest_family(ops: tuple[OpNode, ...]) -> str:
    """The cost family of the op with the most FLOPs (then bytes)."""
    return max(costs(ops), key=lambda c: (c.flops, c.bytes)).family


def row_of(model: str, batch: int, ops: tuple[OpNode, ...], scope: str, node: str, latency_s: str,
           samples: str, timestamp: str) -> dict:
    total = sum(costs(ops), OpCost())
    return complete_row(dict(
        **HOST,
        workload=workload(model, batch), dtype="fp32", threads=str(ASSUMED_THREADS),
        latency_s=latency_s, samples=samples, flops=repr(total.flops), bytes=repr(total.bytes),
        graphcal_version=__version__, timestamp=timestamp, role="measure", grid=GRID, **{"pass": "1"},
        scope=scope, node=node, target="+".join(op.target for op in ops), family=costliest_family(ops),
        ops=ops_to_json(ops),
    ))


def why_not(ops: tuple[OpNode, ...]) -> str | None:
    """Why a subgraph's ops cannot make a row, or None if they can."""
    costed = cost_graph(OpGraph("", ops))
    if costed.unsupported:
        return "an op without a cost formula: " + ", ".join(sorted(costed.unsupported))
    if not costed.ops:
        targets = sorted({op.target for op in ops})
        return "no tensor work (" + ", ".join(targets) + ": free ops)" if targets else NO_ATEN_OP
    return None


@dataclass
class Imported:
    op_rows: list[dict]
    model_rows: list[dict]
    left_out: list[tuple[dict, str]]  # (source row, reason)
    ratios: dict[str, list[tuple[float, float]]]  # source op_type -> graphcal FLOPs / source FLOPs:
    #   (all ops, the ops of the families the source counts)
    zero_flops: Counter               # source op_type -> rows where the source counts 0 FLOPs
    source_rows: list[dict]           # every subgraph row of the source
    interpreter_s: float = 0.0        # the per-node estimate subtracted (interpreter_estimate)
    interpreter_nodes: int = 0        # how many no-aten-call nodes it is the median of
    kept_at_least: int = 0            # rows whose subtraction KEPT_AT_LEAST limited


def interpreter_estimate(left_out: list[tuple[dict, str]]) -> tuple[float, int]:
    """(the FX interpreter's estimated cost per node, from how many nodes): the median over the
    source's nodes that make no aten call (their time is the interpreter's work and a Python
    call that returns its input) of each one's fastest run, `min_s`, which leaves out the noise
    that the means of the rows carry on top."""
    pure = [raw for raw, reason in left_out if reason == NO_ATEN_OP]
    if not pure:
        raise SystemExit("no source node without an aten call: nothing measures the interpreter's cost")
    return statistics.median(float(raw["min_s"]) for raw in pure), len(pure)


def subtract_interpreter(row: dict, nodes: int, per_node_s: float) -> bool:
    """Set `row`'s interpreter_overhead_s to nodes x per_node_s and take it off latency_s, keeping
    at least KEPT_AT_LEAST of the measured time; True if that limit applied."""
    measured = float(row["latency_s"])
    overhead = nodes * per_node_s
    kept = max(measured - overhead, KEPT_AT_LEAST * measured)
    row.update(latency_s=repr(kept), interpreter_overhead_s=repr(measured - kept))
    return measured - overhead < KEPT_AT_LEAST * measured


def convert(source: Path) -> Imported:
    with (source / "subgraphs.csv").open(newline="") as handle:
        subgraphs = list(csv.DictReader(handle))
    with (source / "models.csv").open(newline="") as handle:
        runs = list(csv.DictReader(handle))
    by_run: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for raw in subgraphs:
        by_run[raw["model"], int(raw["batch"])].append(raw)
    result = Imported([], [], [], defaultdict(list), Counter(), subgraphs)
    for run in sorted(runs, key=lambda r: (r["model"], int(r["batch"]))):
        model, batch = run["model"], int(run["batch"])
        rows = sorted(by_run[model, batch], key=lambda r: int(r["subgraph"]))
        timestamp = f"{run['measured']}T00:00:00+00:00"
        print(f"{workload(model, batch)}: tracing", flush=True)
        traced = trace(model, batch)
        check_coverage(model, batch, traced, rows, run)
        order = {name: i for i, name in enumerate(traced.fx_nodes)}
        for raw in rows:
            names = raw["nodes"].split("+")
            unknown = [n for n in names if n not in order]
            if unknown:
                result.left_out.append((raw, "FX node(s) not in the traced graph: " + ", ".join(unknown)))
                continue
            ops = tuple(op for name in sorted(names, key=order.get) for op in traced.ops.get(name, ()))
            reason = why_not(ops)
            if reason:
                result.left_out.append((raw, reason))
                continue
            row = row_of(model, batch, ops, OP_SCOPE, raw["nodes"], raw["mean_s"], raw["samples"], timestamp)
            result.op_rows.append(row)
            if float(raw["flops"]) > 0:
                counted = sum(c.flops for c in costs(ops) if c.family in SOURCE_COUNTED)
                result.ratios[raw["op_type"]].append(
                    (float(row["flops"]) / float(raw["flops"]), counted / float(raw["flops"]))
                )
            else:
                result.zero_flops[raw["op_type"]] += 1
        result.model_rows.append(
            row_of(model, batch, traced.graph_ops, MODEL_SCOPE, model, run["sum_of_means_s"], "", timestamp)
        )
    per_node, result.interpreter_nodes = interpreter_estimate(result.left_out)
    result.interpreter_s = per_node
    result.kept_at_least = sum(subtract_interpreter(row, len(row["node"].split("+")), per_node)
                               for row in result.op_rows)
    for row in result.model_rows:  # every FX node of the run, those left out included
        name, batch = row["workload"].removeprefix("torchvision:").split(" b")
        subtract_interpreter(row, sum(len(raw["nodes"].split("+")) for raw in by_run[name, int(batch)]), per_node)
    return result


def check_coverage(model: str, batch: int, traced: TracedRun, rows: list[dict], run: dict) -> None:
    """Every FX node of the traced model in exactly one subgraph, and the run's total the sum of
    its subgraphs' means: else the source and the trace disagree and nothing can be trusted."""
    seen = Counter(name for raw in rows for name in raw["nodes"].split("+"))
    twice = sorted(n for n, k in seen.items() if k > 1)
    missing = sorted(set(traced.fx_nodes) - set(seen))
    if twice or missing:
        raise SystemExit(f"{model} b{batch}: FX nodes in two subgraphs {twice} or in none {missing}")
    total = sum(float(raw["mean_s"]) for raw in rows)
    if abs(total - float(run["sum_of_means_s"])) > 1e-9 * total or len(rows) != int(run["subgraphs"]):
        raise SystemExit(f"{model} b{batch}: models.csv disagrees with its subgraphs ({total} s, {len(rows)})")


# --- report ----------------------------------------------------------------------------------

def agreement_table(imported: Imported) -> str:
    """Markdown: graphcal's FLOPs over the source's, per source op_type."""
    lines = ["| source op_type | rows | source counts 0 FLOPs | all ops: median | min | max "
             "| conv, linear, add, mul only: median | min | max |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for op_type in sorted(set(imported.ratios) | set(imported.zero_flops)):
        pairs = imported.ratios.get(op_type, [])
        n = len(pairs) + imported.zero_flops[op_type]
        figures = []
        for ratios in ([a for a, _ in pairs], [b for _, b in pairs]):
            figures.append(f"{statistics.median(ratios):.3f} | {min(ratios):.3f} | {max(ratios):.3f}"
                           if ratios else "- | - | -")
        lines.append(f"| {op_type} | {n} | {imported.zero_flops[op_type]} | {' | '.join(figures)} |")
    return "\n".join(lines)


def left_out_table(imported: Imported) -> str:
    """Markdown: the rows left out, grouped by reason, with their share of the measured time."""
    total = sum(float(r["mean_s"]) for r in imported.source_rows)
    groups: dict[str, list[dict]] = defaultdict(list)
    for raw, reason in imported.left_out:
        groups[reason].append(raw)
    lines = ["| reason | rows | examples | share of measured time | median latency |",
             "| --- | ---: | --- | ---: | ---: |"]
    for reason, raws in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        names = sorted({r["nodes"].rstrip("_0123456789") for r in raws})
        time = sum(float(r["mean_s"]) for r in raws)
        median = statistics.median(float(r["mean_s"]) for r in raws)
        lines.append(f"| {reason} | {len(raws)} | {', '.join(names)} | {time / total:.2%} | {median * 1e6:.1f} us |")
    return "\n".join(lines)


def interpreter_table(op_rows: list[dict]) -> str:
    """Markdown: per architecture, the share of the measured time subtracted as the interpreter's."""
    subtracted: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in op_rows:
        share = subtracted[row["workload"]]
        share[0] += float(row["interpreter_overhead_s"])
        share[1] += float(row["latency_s"]) + float(row["interpreter_overhead_s"])
    by_model: dict[str, list[str]] = defaultdict(list)
    for name, (overhead, measured) in sorted(subtracted.items(), key=lambda kv: (kv[0].split()[0],
                                                                                int(kv[0].split()[1][1:]))):
        model, batch = name.removeprefix("torchvision:").split()
        by_model[model].append(f"{batch} {overhead / measured:.1%}")
    lines = ["| architecture | share of each run's measured time subtracted (batch share) |", "| --- | --- |"]
    lines += [f"| {model} | {', '.join(cells)} |" for model, cells in by_model.items()]
    return "\n".join(lines)


def write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(SWEEP_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{path.relative_to(REPO)}: {len(rows)} rows")


def recost(path: Path) -> None:
    """Rewrite a written file's `flops`, `bytes` and `family` from its `ops` column, as graphcal
    costs them now (after a change to a cost formula or family), without tracing anything."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for line, row in enumerate(rows, start=2):
        ops = ops_from_json(row["ops"], f"{path.name}:{line}")
        total = sum(costs(ops), OpCost())
        row.update(flops=repr(total.flops), bytes=repr(total.bytes), family=costliest_family(ops))
    rows = [complete_row(row) for row in rows]
    write(path, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "i7-12700k" / "in-model")
    parser.add_argument("--recost", action="store_true",
                        help="only recompute the written rows' flops, bytes and family from their ops")
    args = parser.parse_args()
    if args.recost:
        for name in ("in-model.csv", "in-model-models.csv"):
            recost(OUT_DIR / name)
        return
    imported = convert(args.source)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write(OUT_DIR / "in-model.csv", imported.op_rows)
    write(OUT_DIR / "in-model-models.csv", imported.model_rows)
    mapped, left_out = len(imported.op_rows), len(imported.left_out)
    print(f"\n{len(imported.source_rows)} source rows: {mapped} mapped, {left_out} left out")
    print(f"interpreter per node: {imported.interpreter_s * 1e6:.2f} us (median fastest run of the "
          f"{imported.interpreter_nodes} nodes without an aten call), subtracted once per FX node; "
          f"{imported.kept_at_least} row(s) kept {KEPT_AT_LEAST:.0%} of their time instead")
    print(interpreter_table(imported.op_rows) + "\n")
    print(left_out_table(imported) + "\n")
    print(agreement_table(imported))


if __name__ == "__main__":
    main()
