"""In-model rows: ops timed inside a running model, their JSON, holdouts by model, thread counts,
and the round trip sweep model --per-op -> fit / compare; compare --measure.

Real kernels are timed only with a quick protocol on a small calibration net; nothing asserts a
speed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from graphcal.cost import cost_graph
from graphcal.fit.calibrate import grouped_split
from graphcal.load import load_graph
from graphcal.load.graph import OpNode, TensorMeta
from graphcal.load.opjson import graph_from_json, ops_from_json, ops_to_json
from graphcal.precision import Precision
from graphcal.sweep.grid import calibration_threads, load_grid

QUICK = {
    "rounds": 2, "max_rounds": 3, "window_s": 0.002, "min_samples": 3,
    "warmup_calls": 1, "warmup_s": 0.0, "min_sample_s": 0.00002, "passes": 1,
}
NET = "net:audio-conv1d:1"


def rows_of(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_op_of_a_model_round_trips_through_json_to_the_same_cost():
    graph = load_graph(NET, Precision.FP32)
    # NB: in the heap a sweep times in, no op of this net faults a page, in the call or alone
    costed = cost_graph(graph, "settled")
    assert costed.ops and not costed.unsupported
    assert graph.persistent_bytes > 0 and any(cost.state_bytes for _, cost in costed.ops)
    for node, cost in costed.ops:
        back_graph = graph_from_json(ops_to_json([node], graph.persistent_bytes, {node.name: cost.code_reuse_bytes}),
                                     "test")
        (back,) = back_graph.nodes
        assert back.target == node.target and back.name == node.name and back.inputs == node.inputs
        assert cost_graph(back_graph, "settled").ops[0][1] == cost


def test_ops_json_keeps_several_ops_and_refuses_what_it_did_not_write():
    x = TensorMeta((2, 8), "float32")
    nodes = [OpNode("relu", "aten.relu.default", (x,), {}, (x,)), OpNode("add", "aten.add.Tensor", (x, x), {}, (x,))]
    assert [n.name for n in ops_from_json(ops_to_json(nodes), "t")] == ["relu", "add"]
    for bad in ("", "[]", "{}", '[{"target": "x"}]', "not json"):
        with pytest.raises(Exception, match="ops column"):
            ops_from_json(bad, "file.csv:3")


def test_grouped_split_keeps_every_model_wholly_on_one_side():
    groups = ["net:a:1"] * 30 + ["net:b:1"] * 20 + ["net:c:4"] * 25 + [f"mlp:{i}:8x8" for i in range(40)]
    in_model = [g.startswith("net") for g in groups]
    labels = np.array(["compute"] * len(groups), dtype=object)
    train, held = grouped_split(labels, groups, in_model, 0.34, seed=0)
    assert len(train) + len(held) == len(groups) and set(train).isdisjoint(held)
    held_models = {groups[i] for i in held if in_model[i]}
    train_models = {groups[i] for i in train if in_model[i]}
    assert held_models and not held_models & train_models  # a model is held out whole or not at all
    assert 0 < sum(not m for i, m in enumerate(in_model) if i in set(held)) < 40


@pytest.mark.parametrize("cores, expected", [(1, (1,)), (2, (1, 2)), (4, (1, 2, 3, 4)), (12, (1, 2, 4, 8, 12)),
                                             (16, (1, 2, 4, 8, 16))])
def test_calibration_threads(cores, expected):
    assert calibration_threads(cores) == expected


def test_a_grid_states_its_thread_counts(tmp_path):
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump({"kind": "model", "workloads": [NET], "threads": [2, 1, 2]}))
    assert load_grid(str(grid), "model").threads == (1, 2)
    grid.write_text(yaml.safe_dump({"kind": "model", "workloads": [NET], "threads": [0]}))
    with pytest.raises(Exception, match="threads must be"):
        load_grid(str(grid), "model")


@pytest.mark.slow
def test_per_op_rows_round_trip_into_compare_and_fit(run_cli, tmp_path, write_profile):
    from tests.helpers import base_profile_data

    grid = tmp_path / "models.yaml"
    grid.write_text(yaml.safe_dump({"kind": "model", "workloads": [NET, "net:lstm:1", "net:embedding-bag:1"],
                                    "protocol": QUICK,
                                    "threads": [1, 2]}))
    out = tmp_path / "models.csv"
    result = run_cli("sweep", "model", "--grid", str(grid), "--per-op", "--out", str(out))
    assert result.code == 0, result.stderr
    rows = rows_of(out)
    models = [r for r in rows if r["scope"] == "model" and r["role"] == "measure"]
    ops = [r for r in rows if r["scope"] == "op"]
    assert sorted((r["workload"], r["threads"]) for r in models) == sorted(
        (w, t) for w in (NET, "net:lstm:1", "net:embedding-bag:1") for t in ("1", "2"))
    costed = {n.name: c for n, c in cost_graph(load_graph(NET, Precision.FP32)).ops}
    net_ops = [r for r in ops if r["workload"] == NET and r["threads"] == "1"]
    assert {r["node"] for r in net_ops} == set(costed)  # every costed op has its row, nothing else
    for r in net_ops:
        assert float(r["flops"]) == costed[r["node"]].flops and r["family"] == costed[r["node"]].family
        assert float(r["latency_s"]) > 0
    # compare scores each op row as predict scores its op, and the model rows as predict does
    profile = write_profile("p", base_profile_data())
    comparison = run_cli("compare", str(out), "--hw", str(profile), "--json")
    assert comparison.code == 0, comparison.stderr
    assert comparison.json()["n"] == len(models) + len(ops)
    fitted = run_cli("fit", str(out), "--base", str(profile), "--holdout", "0.3", "--json",
                     "--out", str(tmp_path / "fitted.yaml"))
    assert fitted.code == 0, fitted.stderr
    report = fitted.json()
    assert report["train"]["n"] + report["holdout"]["n"] == len(models) + len(ops)
    held = report["holdout"]["n"]
    sizes = {w: sum(r["workload"] == w for r in models + ops) for w in (NET, "net:lstm:1", "net:embedding-bag:1")}
    assert held in sizes.values()  # exactly one model held out, with all its rows


@pytest.mark.slow
def test_compare_measure_puts_each_op_beside_its_prediction(run_cli, write_profile):
    from tests.helpers import base_profile_data

    profile = write_profile("p", base_profile_data())
    result = run_cli("compare", NET, "--hw", str(profile), "--measure", "--json", "--threads", "1")
    assert result.code == 0, result.stderr
    report = result.json()
    assert set(report) >= {"model", "hardware", "measured_s", "predicted_s", "families", "ops"}
    predicted = run_cli("predict", NET, "--hw", str(profile), "--threads", "1", "--json").json()
    assert report["predicted_s"] == pytest.approx(predicted["latency_s"], rel=1e-9)
    assert report["measured_s"] > 0
    assert {o["name"] for o in report["ops"] if o["family"] not in ("free", "unsupported")} == {
        o["name"] for o in predicted["ops"]}
    assert sum(f["predicted_s"] for f in report["families"].values()) == pytest.approx(report["predicted_s"])


def test_predict_flags_families_and_threads_no_fit_calibrated(run_cli, write_profile):
    from tests.helpers import base_profile_data

    bare = write_profile("bare", base_profile_data())
    data = base_profile_data()
    data["calibrated"] = {"families": ["linear", "activation"], "threads": [4]}
    fitted = write_profile("fitted", data)
    # mlp:8:64x64x64 = linear, relu, linear: linear and activation
    report = run_cli("predict", "mlp:8:64x64x64", "--hw", str(bare), "--json").json()
    assert {u["family"] for u in report["uncalibrated"]} == {"linear", "activation"}
    assert sum(u["share"] for u in report["uncalibrated"]) == pytest.approx(1.0)
    assert report["threads_calibrated"] is False
    report = run_cli("predict", "mlp:8:64x64x64", "--hw", str(fitted), "--json").json()
    assert report["uncalibrated"] == [] and report["threads_calibrated"] is True
    table = run_cli("predict", "mlp:8:64x64x64", "--hw", str(bare)).stdout
    assert "uncalibrated:" in table and "never calibrated" in table
    table = run_cli("predict", "mlp:8:64x64x64", "--hw", str(fitted), "--threads", "2").stdout
    assert "uncalibrated:" not in table and "2 thread(s) were never calibrated" in table
