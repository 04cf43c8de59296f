"""predict, compare and profiles through the CLI: JSON contracts, tables, and bad input."""

from __future__ import annotations

import pytest

from graphcal.errors import GraphcalError
from graphcal.hardware.profile import load_profile
from graphcal.load.graph import OpGraph, OpNode, TensorMeta
from graphcal.mapper import Target
from graphcal.precision import Precision
from graphcal.predict import predict_graph
from tests.helpers import PREDECESSOR_LARGE, PREDECESSOR_TINY


def test_predict_json_has_the_contract_keys(run_cli):
    result = run_cli("predict", "mlp:8:64x32x10", "--hw", "i7-12700k-large", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert {"model", "hardware", "dtype", "latency_s", "flops", "bytes", "ops", "unsupported_ops"} <= set(data)
    assert data["model"] == "mlp:8:64x32x10" and data["hardware"] == "i7-12700k-large" and data["dtype"] == "fp32"
    assert [op["target"] for op in data["ops"]] == ["aten.linear.default", "aten.relu.default", "aten.linear.default"]
    for op in data["ops"]:
        assert {"name", "target", "flops", "bytes", "time_s", "bound"} <= set(op)
        assert op["bound"] in {"compute", "memory", "overhead"}
    # 2*8*64*32 + 8*32 (relu) + 2*8*32*10 = 32768 + 256 + 5120
    assert data["flops"] == 32768 + 256 + 5120
    assert data["latency_s"] == pytest.approx(sum(op["time_s"] for op in data["ops"]))
    assert data["unsupported_ops"] == {}


def test_predict_table_names_model_profile_and_ops(run_cli):
    result = run_cli("predict", "mlp:4:128x128x128", "--hw", "i7-12700k-tiny", "--top", "2")
    assert result.code == 0
    assert "mlp:4:128x128x128" in result.stdout and "i7-12700k-tiny" in result.stdout
    assert "costliest 2 of 3 ops" in result.stdout


def test_predict_table_shows_whole_op_targets_in_80_columns(run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("predict", "mlp:8:512x1024x10", "--hw", "i7-12700k-tiny")
    assert result.code == 0
    table = result.stdout.split("costliest 3 of 3 ops")[1]
    assert "…" not in table  # was `aten.li…` before targets lost their `aten.` prefix
    # the target column, row by row (ordered by the profile's times): two linears and a relu
    assert sorted(line.split("│")[2].strip() for line in table.splitlines() if line.startswith("│")) == [
        "linear",
        "linear",
        "relu",
    ]


def test_spec_never_allocates(run_cli):
    # 200000^2 fp32 weights would be 160 GB each; costing must not touch memory
    result = run_cli("predict", "matmul:200000x200000x200000", "--hw", "i7-12700k", "--json")
    assert result.code == 0
    assert result.json()["flops"] == 2 * 200000**3


def _graph_with(target: str) -> OpGraph:
    t = TensorMeta((4, 4), "float32")
    nodes = (
        OpNode("a", "aten.add.Tensor", (t, t), {}, (t,)),
        OpNode("f1", target, (t,), {}, (t,)),
        OpNode("f2", target, (t,), {}, (t,)),
    )
    return OpGraph("synthetic", nodes)


def test_unsupported_ops_are_listed_with_counts_and_strict_refuses_them():
    target = Target(load_profile("i7-12700k"), Precision.FP32, 12)
    prediction = predict_graph(_graph_with("aten.mystery_op.default"), target)
    assert prediction.unsupported == {"aten.mystery_op.default": 2}
    assert len(prediction.ops) == 1  # only the add was costed
    with pytest.raises(GraphcalError, match=r"--strict.*aten.mystery_op.default x2"):
        predict_graph(_graph_with("aten.mystery_op.default"), target, strict=True)


def test_free_ops_cost_nothing_and_are_not_unsupported():
    target = Target(load_profile("i7-12700k"), Precision.FP32, 12)
    prediction = predict_graph(_graph_with("aten.view.default"), target)
    assert prediction.unsupported == {} and len(prediction.ops) == 1


BAD_INPUT = {
    "unknown profile": (["predict", "add:10", "--hw", "nope"], "unknown hardware profile 'nope'"),
    "missing profile file": (["predict", "add:10", "--hw", "./nope.yaml"], "not found"),
    "malformed spec": (["predict", "mlp:8:64xx32", "--hw", "i7-12700k"], "malformed workload spec"),
    "zero dimension": (["predict", "linear:0x4x4", "--hw", "i7-12700k"], "must be positive"),
    "one-width mlp": (["predict", "mlp:8:64", "--hw", "i7-12700k"], "at least two widths"),
    "unknown model": (["predict", "no-such-thing", "--hw", "i7-12700k"], "not a file, a workload spec"),
    "unknown precision": (["predict", "add:10", "--hw", "i7-12700k", "--dtype", "float33"], "unknown precision"),
    "precision the profile lacks": (
        ["predict", "add:10", "--hw", "i7-12700k", "--dtype", "bf16"],
        "has no bf16 coefficients",
    ),
    "compare with unknown profile": (
        ["compare", "add:10", "--hw", "i7-12700k", "--hw", "i9"],
        "unknown hardware profile 'i9'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_exit_2_no_traceback(case, run_cli):
    args, message = BAD_INPUT[case]
    result = run_cli(*args)
    assert result.code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert result.stdout == ""


def test_debug_env_shows_the_traceback(run_cli, monkeypatch):
    monkeypatch.setenv("GRAPHCAL_DEBUG", "1")
    with pytest.raises(GraphcalError):
        run_cli("predict", "add:10", "--hw", "nope")


def test_profiles_list_and_show_json(run_cli):
    listing = run_cli("profiles", "list", "--json").json()
    assert {"i7-12700k", "i7-12700k-tiny", "i7-12700k-large"} <= {p["name"] for p in listing["profiles"]}
    shown = run_cli("profiles", "show", PREDECESSOR_TINY, "--json").json()
    assert shown["coefficients"]["fp32"]["efficiency_factor"] == 0.20
    # effective matrix rate: 720 GFLOP/s x 0.20 x 0.50 = 72 GFLOP/s; large: x 0.60 x 0.80 = 345.6
    assert shown["effective"]["fp32"]["matrix_flops_per_s"] == pytest.approx(72e9)
    large = run_cli("profiles", "show", PREDECESSOR_LARGE, "--json").json()
    assert large["effective"]["fp32"]["matrix_flops_per_s"] == pytest.approx(345.6e9)


def test_profiles_show_table_prints_effective_throughput(run_cli):
    result = run_cli("profiles", "show", PREDECESSOR_LARGE)
    assert result.code == 0 and "345.6" in result.stdout


def test_profiles_show_gives_the_cache_and_dram_rates_apart(run_cli, write_profile):
    from tests.helpers import base_profile_data

    data = base_profile_data(memory_bottleneck_factor=0.5)
    data["memory"] = {"bandwidth_bytes_per_s": 100e9, "cache_bandwidth_bytes_per_s": 400e9}
    rates = run_cli("profiles", "show", write_profile("tiers", data), "--json").json()["effective"]["fp32"]
    assert rates["cache_bytes_per_s"] == pytest.approx(200e9)  # 400 GB/s x 0.5
    assert rates["memory_bytes_per_s"] == pytest.approx(50e9)  # 100 GB/s x 0.5


@pytest.mark.parametrize("args, message", [
    (["predict", "add:10", "--hw", "i7-12700k", "--threads", "0"], "--threads"),
    (["predict", "add:10", "--hw", "i7-12700k", "--top", "x"], "--top"),
    (["nosuch"], "No such command"),
])
def test_usage_errors_exit_2_without_a_traceback(args, message, run_cli):
    result = run_cli(*args)
    assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_binary_file_given_as_profile_is_one_line(run_cli, tmp_path):
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    result = run_cli("predict", "add:10", "--hw", binary)
    assert result.code == 2 and "not a hardware profile" in result.stderr
    assert result.stderr.strip().count("\n") == 0
