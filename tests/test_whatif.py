"""What-ifs (`predict --batch 1,8 --threads 1,2 --dtype fp32,bf16`): every combination predicted,
the batch rescaled where the model holds it (specs, --input-shape, dynamic .pt2 programs),
throughput, the budget's answer, CSV, JSON, the plot and the exit codes."""

from __future__ import annotations

import csv
import io
import sys

import pytest
import torch

from graphcal.errors import GraphcalError
from graphcal.load.batch import spec_with_batch
from graphcal.load.specs import parse_spec
from graphcal.predict.whatif import parse_list, positive_int
from tests.helpers import base_profile_data

MLP = "mlp:32:64x32x10"
# the MLP's FLOPs per item: two linears (2 x in x out each; the bias add is not counted) and a ReLU
PER_ITEM_FLOPS = 2 * 64 * 32 + 32 + 2 * 32 * 10  # 4768


@pytest.fixture
def profile(write_profile):
    """A 4-core profile with fp32 and bf16 coefficients, calibrated at 2 threads only."""
    data = base_profile_data()
    data["peak_flops_per_s"]["bf16"] = 2 * data["peak_flops_per_s"]["fp32"]
    data["coefficients"]["bf16"] = dict(data["coefficients"]["fp32"])
    data["calibrated"] = {"families": ["linear"], "threads": [2]}
    return str(write_profile("two-dtypes", data))


def test_comma_lists_parse_in_order_and_refuse_repeats_and_bad_values():
    assert parse_list("1, 8,2", "--batch", positive_int("--batch", 64)) == (1, 8, 2)
    assert parse_list(None, "--batch", int) == ()
    for text, message in (("1,,2", "comma list"), ("1,1", "twice"), ("0", "from 1 to 64"), ("65", "from 1 to 64"),
                          ("x", "from 1 to 64"), (",".join(map(str, range(1, 70))), "at most 64")):
        with pytest.raises(GraphcalError, match=message):
            parse_list(text, "--batch", positive_int("--batch", 64))


@pytest.mark.parametrize(("spec", "batch", "expected"), [
    ("mlp:32:784x10", 8, "mlp:8:784x10"),
    ("net:res-cnn:4", 2, "net:res-cnn:2"),
    ("conv2d:1x16x32x32x16x3:s2", 4, "conv2d:4x16x32x32x16x3:s2"),
    ("embedding:2x8x100x16", 5, "embedding:5x8x100x16"),
])
def test_a_spec_is_rewritten_at_its_batch(spec, batch, expected):
    assert spec_with_batch(parse_spec(spec), batch).text == expected


def test_a_spec_without_a_batch_is_refused(run_cli):
    result = run_cli("predict", "matmul:8x8x8", "--hw", "i7-12700k", "--batch", "2,4")
    assert result.code == 2 and "has no batch dimension" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _grid(run_cli, *args):
    result = run_cli("predict", *args, "--json")
    assert result.code == 0, result.stderr
    return result.json()


def test_every_combination_is_predicted_with_throughput(run_cli, profile):
    data = _grid(run_cli, MLP, "--hw", profile, "--batch", "1,8", "--threads", "1,2", "--dtype", "fp32,bf16")
    assert [(d["dtype"], d["threads"], d["batch"]) for d in data] == [
        ("fp32", 1, 1), ("fp32", 1, 8), ("fp32", 2, 1), ("fp32", 2, 8),
        ("bf16", 1, 1), ("bf16", 1, 8), ("bf16", 2, 1), ("bf16", 2, 8)]
    for d in data:
        assert d["model"] == f"mlp:{d['batch']}:64x32x10"
        assert d["flops"] == d["batch"] * PER_ITEM_FLOPS
        assert d["throughput_per_s"] == pytest.approx(d["batch"] / d["latency_s"])
        assert d["threads_calibrated"] is (d["threads"] == 2)
    fp32, bf16 = data[1], data[5]
    assert bf16["bytes"] < fp32["bytes"]  # half the bytes per element


def test_one_value_keeps_the_single_prediction(run_cli):
    plain = _grid(run_cli, MLP, "--hw", "i7-12700k")
    same = _grid(run_cli, MLP, "--hw", "i7-12700k", "--batch", "32", "--threads", str(plain["threads"]),
                 "--dtype", "fp32")
    assert same == plain  # its own batch, the default threads and dtype: the object of today
    rescaled = _grid(run_cli, MLP, "--hw", "i7-12700k", "--batch", "8")
    assert isinstance(rescaled, dict) and rescaled["model"] == "mlp:8:64x32x10"
    assert rescaled["flops"] == pytest.approx(plain["flops"] / 4)  # 32 -> 8 items


def test_the_table_lists_the_combinations(run_cli, profile):
    result = run_cli("predict", MLP, "--hw", profile, "--batch", "1,8", "--threads", "1,2")
    assert result.code == 0, result.stderr
    assert "4 what-ifs" in result.stdout and "items/s" in result.stdout and "uncalibrated" in result.stdout
    assert "100.0% *" in result.stdout and "rows marked * run at a thread count" in result.stdout  # 1 thread


def test_csv_on_stdout_and_to_a_file(run_cli, profile, tmp_path):
    result = run_cli("predict", MLP, "--hw", profile, "--batch", "1,2,4", "--csv", "-")
    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["batch"]) for r in rows] == [1, 2, 4]
    assert all(float(r["throughput_per_s"]) == pytest.approx(int(r["batch"]) / float(r["latency_s"])) for r in rows)
    path = tmp_path / "grid.csv"
    written = run_cli("predict", MLP, "--hw", profile, "--batch", "1,2,4", "--csv", path)
    assert written.code == 0 and "3 what-ifs" in written.stdout
    assert list(csv.DictReader(path.open())) == rows


def test_the_budget_names_the_largest_throughput_that_fits(run_cli, profile):
    data = _grid(run_cli, MLP, "--hw", profile, "--batch", "1,4,16,64", "--threads", "1,2")
    latencies = sorted(d["latency_s"] for d in data)
    budget = (latencies[3] + latencies[4]) / 2  # four combinations fit
    fitting = [d for d in data if d["latency_s"] <= budget]
    best = max(fitting, key=lambda d: d["throughput_per_s"])
    result = run_cli("predict", MLP, "--hw", profile, "--batch", "1,4,16,64", "--threads", "1,2",
                     "--max-latency", f"{budget!r}")
    assert result.code == 0, result.stderr
    assert f"best batch {best['batch']}, {best['threads']} threads" in result.stdout


def test_no_combination_within_the_budget_exits_1_with_one_line(run_cli, profile):
    result = run_cli("predict", MLP, "--hw", profile, "--batch", "1,8", "--max-latency", "1e-12")
    assert result.code == 1 and "no combination fits" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no combination fits" in lines[0] and "the fastest is batch 1" in lines[0]


def test_the_plot_is_written(run_cli, profile, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "whatif.png"
    result = run_cli("predict", MLP, "--hw", profile, "--batch", "1,2,4", "--threads", "1,2", "--plot", path)
    assert result.code == 0, result.stderr
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_the_plot_says_how_to_install(run_cli, profile, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run_cli("predict", MLP, "--hw", profile, "--batch", "1,2", "--plot", tmp_path / "x.png")
    assert result.code == 2 and "pip install 'graphcal[plot]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_a_factory_is_rescaled_on_its_input_shapes(run_cli):
    args = ("torch.nn:Linear", "--hw", "i7-12700k", "--factory-arg", "in_features=16",
            "--factory-arg", "out_features=8", "--input-shape", "2x16")
    data = _grid(run_cli, *args, "--batch", "1,4")
    assert [d["batch"] for d in data] == [1, 4]
    assert data[1]["flops"] == pytest.approx(4 * data[0]["flops"])  # 2 x 16 x 8 per row
    assert data[0]["flops"] == pytest.approx(2 * 16 * 8)


class Small(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(16, 8)

    def forward(self, x):
        return torch.relu(self.linear(x))


def test_a_static_pt2_cannot_change_its_batch(run_cli, tmp_path):
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(Small(), (torch.randn(2, 16),)), path)
    result = run_cli("predict", path, "--hw", "i7-12700k", "--batch", "1,4")
    lines = result.stderr.strip().splitlines()
    assert result.code == 2 and len(lines) == 1 and "Traceback" not in result.stderr
    assert "static shapes for batch 2" in lines[0] and "torch.export.Dim" in lines[0]
    own = run_cli("predict", path, "--hw", "i7-12700k", "--batch", "2", "--json")
    assert own.code == 0 and own.json()["flops"] == pytest.approx(2 * (2 * 16 * 8 + 8))  # linear + ReLU


def test_a_dynamic_pt2_is_specialised_per_batch(run_cli, tmp_path):
    path = tmp_path / "dynamic.pt2"
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.export.save(torch.export.export(Small(), (torch.randn(2, 16),), dynamic_shapes={"x": {0: batch}}), path)
    data = _grid(run_cli, path, "--hw", "i7-12700k", "--batch", "1,4,64")
    assert [d["batch"] for d in data] == [1, 4, 64]
    for d in data:  # the linear, 2 x 16 x 8 per row, and the ReLU, 8 per row
        assert d["flops"] == pytest.approx(d["batch"] * (2 * 16 * 8 + 8))
    outside = run_cli("predict", path, "--hw", "i7-12700k", "--batch", "1,128")
    assert outside.code == 2 and "outside the range 1 to 64" in outside.stderr
    unset = run_cli("predict", path, "--hw", "i7-12700k", "--threads", "1,2")
    assert unset.code == 2 and "give --batch" in unset.stderr


def test_llm_takes_lists_of_batch_and_threads(run_cli):
    pytest.importorskip("transformers")
    fields = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=100)
    args = [f"--factory-arg={k}={v}" for k, v in fields.items()]
    result = run_cli("predict", "hf-config:LlamaConfig", "--llm", *args, "--hw", "i7-12700k", "--prompt", "8",
                     "--new-tokens", "3", "--batch", "1,2", "--threads", "1,2", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert [(d["threads"], d["batch"]) for d in data] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert data[1]["prefill"]["flops"] > 1.9 * data[0]["prefill"]["flops"]  # two sequences' prefill
    table = run_cli("predict", "hf-config:LlamaConfig", "--llm", *args, "--hw", "i7-12700k", "--prompt", "8",
                    "--new-tokens", "3", "--batch", "1,2")
    assert table.code == 0 and "2 what-ifs" in table.stdout and "tokens/s" in table.stdout


def test_llm_what_ifs_as_csv_and_plot(run_cli, tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("matplotlib")
    args = ["--factory-arg=hidden_size=64", "--factory-arg=intermediate_size=128", "--factory-arg=num_hidden_layers=2",
            "--factory-arg=num_attention_heads=4", "--factory-arg=vocab_size=100"]
    path = tmp_path / "llm.png"
    result = run_cli("predict", "hf-config:LlamaConfig", "--llm", *args, "--hw", "i7-12700k", "--prompt", "8",
                     "--new-tokens", "3", "--batch", "1,2", "--csv", "-", "--plot", path)
    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["batch"]) for r in rows] == [1, 2]
    assert all(float(r["total_s"]) > float(r["ttft_s"]) > 0 for r in rows)
    assert path.read_bytes()[:4] == b"\x89PNG"
