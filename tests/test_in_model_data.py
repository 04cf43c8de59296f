"""The committed in-model rows of the i7-12700K (sweeps/data/i7-12700k/in-model*.csv, written by
scripts/import_i7_in_model.py): graphcal's reader takes them, their ops decode, and the registry
costs them to the FLOPs and bytes recorded beside them. No torchvision needed. After a change to
a cost formula, `python scripts/import_i7_in_model.py --recost` rewrites the recorded figures."""

from __future__ import annotations

import csv
from collections import defaultdict

from graphcal.cost import OpCost, cost_node
from graphcal.load.opjson import ops_from_json
from graphcal.sweep.csvfile import read_sweep
from tests.helpers import REPO

DATA = REPO / "sweeps" / "data" / "i7-12700k"
ARCHITECTURES = {"resnet18", "resnet34", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
                 "efficientnet_b1"}


def total(ops_text: str, where: str) -> OpCost:
    costs = (cost_node(op) for op in ops_from_json(ops_text, where))
    return sum((c for c in costs if c is not None), OpCost())


def test_in_model_rows_read_and_cost_to_their_recorded_flops_and_bytes():
    rows = read_sweep(DATA / "in-model.csv")
    assert {r.workload.split()[0].removeprefix("torchvision:") for r in rows} == ARCHITECTURES
    for row in rows:
        assert (row.dtype, row.threads, row.fields["scope"]) == ("fp32", 12, "op")
        cost = total(row.fields["ops"], row.source)
        assert cost.flops == float(row.fields["flops"]) > 0, row.source
        assert cost.bytes == float(row.fields["bytes"]), row.source


def op_rows() -> list[dict]:
    """Every op row as csv reads it (read_sweep keeps one row per workload until the reader
    knows in-model rows: all of a run's op rows share its workload)."""
    with (DATA / "in-model.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_resnet18_stem_maps_to_its_convolution_norm_and_relu():
    stem = next(r for r in op_rows() if (r["workload"], r["node"]) == ("torchvision:resnet18 b1", "conv1+bn1+relu"))
    conv, norm, relu = ops_from_json(stem["ops"], "stem")
    assert (conv.target, conv.args[0].shape, conv.args[1].shape, conv.outputs[0].shape) == (
        "aten.conv2d.default", (1, 3, 224, 224), (64, 3, 7, 7), (1, 64, 112, 112))
    assert (norm.target, relu.target) == ("aten.batch_norm.default", "aten.relu_.default")
    # conv 2*64*3*7*7*112*112 = 236,027,904 (the source's own count) + batch norm 2*802,816
    # + relu 802,816 (64*112*112 = 802,816 elements)
    assert total(stem["ops"], "stem").flops == 236_027_904 + 3 * 802_816


def test_each_model_row_costs_as_the_sum_of_its_op_rows():
    # Rows left out of in-model.csv do no costed work (identity, views, eval dropout), so a
    # run's op rows hold every FLOP and byte of the whole model.
    summed: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for raw in op_rows():
        summed[raw["workload"]][0] += float(raw["flops"])
        summed[raw["workload"]][1] += float(raw["bytes"])
    models = read_sweep(DATA / "in-model-models.csv")
    assert len(models) == 19 and {m.fields["scope"] for m in models} == {"model"}
    for model in models:
        cost = total(model.fields["ops"], model.source)
        assert cost.flops == float(model.fields["flops"]) == summed[model.workload][0], model.workload
        assert cost.bytes == float(model.fields["bytes"]) == summed[model.workload][1], model.workload
