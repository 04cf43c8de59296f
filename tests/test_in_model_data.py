"""The committed in-model rows of the i7-12700K (sweeps/data/i7-12700k/in-model*.csv, written by
scripts/import_i7_in_model.py): graphcal's reader takes them, their ops decode, and the registry
costs them to the FLOPs and bytes recorded beside them. No torchvision needed. After a change to
a cost formula, `python scripts/import_i7_in_model.py --recost` rewrites the recorded figures."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict

from graphcal.cost import OpCost, cost_node
from graphcal.evaluate.costing import cost_rows
from graphcal.load.opjson import ops_from_json
from graphcal.precision import Precision
from graphcal.sweep.csvfile import read_sweep
from tests.helpers import REPO

DATA = REPO / "sweeps" / "data" / "i7-12700k"
ARCHITECTURES = {"resnet18", "resnet34", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
                 "efficientnet_b1"}


def costs_of(ops_text: str, where: str) -> list[OpCost]:
    return [c for c in (cost_node(op) for op in ops_from_json(ops_text, where)) if c is not None]


def total(ops_text: str, where: str) -> OpCost:
    return sum(costs_of(ops_text, where), OpCost())


def test_in_model_rows_read_and_cost_to_their_recorded_flops_and_bytes():
    rows = read_sweep(DATA / "in-model.csv")
    assert len(rows) == 1241  # 1,331 source subgraphs less 90 that do no tensor work
    assert {r.workload.split()[0].removeprefix("torchvision:") for r in rows} == ARCHITECTURES
    for row in rows:
        assert row.is_op and (row.dtype, row.threads) == ("fp32", 12)
        costs = costs_of(row.fields["ops"], row.source)
        cost = sum(costs, OpCost())
        assert cost.flops == float(row.fields["flops"]) > 0, row.source
        assert cost.bytes == float(row.fields["bytes"]), row.source
        assert row.fields["family"] == max(costs, key=lambda c: (c.flops, c.bytes)).family, row.source


def test_fit_and_compare_cost_them_as_the_registry_does():
    rows = read_sweep(DATA / "in-model.csv")[:40]
    costed = cost_rows(rows, Precision.FP32)
    assert costed.n == 40 and set(costed.groups) == {"torchvision:efficientnet_b0 b1"}
    for row, table in zip(rows, costed.tables, strict=True):
        assert not table.unsupported
        assert sum(c.flops for c in table.costs) == float(row.fields["flops"])


def test_a_fresh_process_costs_in_model_rows_before_anything_else_loaded_the_formulas():
    # cost_ops checked `target in FORMULAS` before any formula module was imported: in a fresh
    # `graphcal compare in-model.csv` every op was unsupported and every row predicted 0 s.
    code = ("from graphcal.evaluate.costing import cost_ops; from graphcal.sweep.csvfile import read_sweep; "
            f"row = read_sweep(__import__('pathlib').Path({str(DATA / 'in-model.csv')!r}))[0]; "
            "table = cost_ops(row.fields['ops'], row.source); print(len(table.costs), len(table.unsupported))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["6", "0"]  # EfficientNet-B0's stem: (conv, batch norm, SiLU) x 2


def test_resnet18_stem_maps_to_its_convolution_norm_and_relu():
    stem = next(r for r in read_sweep(DATA / "in-model.csv")
                if (r.workload, r.node) == ("torchvision:resnet18 b1", "conv1+bn1+relu"))
    conv, norm, relu = ops_from_json(stem.fields["ops"], stem.source)
    assert (conv.target, conv.args[0].shape, conv.args[1].shape, conv.outputs[0].shape) == (
        "aten.conv2d.default", (1, 3, 224, 224), (64, 3, 7, 7), (1, 64, 112, 112))
    assert (norm.target, relu.target) == ("aten.batch_norm.default", "aten.relu_.default")
    # conv 2*64*3*7*7*112*112 = 236,027,904 (the source's own count) + batch norm 2*802,816
    # + relu 802,816 (64*112*112 = 802,816 elements)
    assert total(stem.fields["ops"], stem.source).flops == 236_027_904 + 3 * 802_816


def test_each_model_row_costs_as_the_sum_of_its_op_rows():
    # Rows left out of in-model.csv do no costed work (identity, views, eval dropout), so a
    # run's op rows hold every FLOP and byte of the whole model.
    summed: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in read_sweep(DATA / "in-model.csv"):
        summed[row.workload][0] += float(row.fields["flops"])
        summed[row.workload][1] += float(row.fields["bytes"])
    models = read_sweep(DATA / "in-model-models.csv")
    assert len(models) == 19 and {m.fields["scope"] for m in models} == {"model"}
    for model in models:
        cost = total(model.fields["ops"], model.source)
        assert cost.flops == float(model.fields["flops"]) == summed[model.workload][0], model.workload
        assert cost.bytes == float(model.fields["bytes"]) == summed[model.workload][1], model.workload


def test_the_interpreters_estimated_cost_is_taken_off_once_per_fx_node():
    # scripts/import_i7_in_model.py: interpreter_overhead_s = FX nodes x one per-node estimate
    # (the median fastest run of the source's 59 nodes that call no aten op: 5.65 us), and
    # latency_s = the source's mean less it; latency_s + interpreter_overhead_s is as measured.
    rows = read_sweep(DATA / "in-model.csv")
    per_node = [float(r.fields["interpreter_overhead_s"]) / len(r.node.split("+")) for r in rows]
    assert 5.6e-6 < min(per_node) and max(per_node) - min(per_node) < 1e-9 * min(per_node)
    estimate = min(per_node)
    for row in rows:
        measured = row.latency_s + float(row.fields["interpreter_overhead_s"])
        assert row.latency_s >= 0.1 * measured, row.source  # never more than 90% of a row
    stem = next(r for r in rows if (r.workload, r.node) == ("torchvision:resnet18 b1", "conv1+bn1+relu"))
    assert float(stem.fields["interpreter_overhead_s"]) == 3 * estimate  # conv1, bn1, relu: 3 nodes
    # A model row subtracts it for every FX node of the run, the 90 left out of in-model.csv
    # (they do no tensor work) included.
    op_nodes: dict[str, int] = defaultdict(int)
    for row in rows:
        op_nodes[row.workload] += len(row.node.split("+"))
    model_nodes = {m.workload: float(m.fields["interpreter_overhead_s"]) / estimate
                   for m in read_sweep(DATA / "in-model-models.csv")}
    assert all(abs(n - round(n)) < 1e-6 for n in model_nodes.values())
    assert sum(round(n) - op_nodes[w] for w, n in model_nodes.items()) == 90
