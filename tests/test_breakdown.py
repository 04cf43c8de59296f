"""`predict --group-by op|family|module [--depth N]` and `--csv`: the prediction broken down
by the program's nn_module_stack, read the same from a .pt2's JSON and from a traced module."""

from __future__ import annotations

import csv
import sys

import pytest
import torch

SOURCE = '''
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.Linear(8, 8)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))

    def forward(self, x):
        return self.mlp(self.attn(x)) + x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.head(x).relu()


def build():
    return Net()
'''
HW = ("--hw", "i7-12700k-large")


@pytest.fixture
def net(tmp_path, monkeypatch):
    """(the factory, its .pt2, its TorchScript archive), all of the same Net."""
    (tmp_path / "gc_breakdown.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import gc_breakdown

    module, x = gc_breakdown.build().eval(), torch.zeros(4, 8)
    pt2, ts = tmp_path / "net.pt2", tmp_path / "net.pt"
    torch.export.save(torch.export.export(module, (x,)), pt2)
    torch.jit.save(torch.jit.script(module), str(ts))
    yield "gc_breakdown:build", pt2, ts
    sys.modules.pop("gc_breakdown", None)


def _groups(run_cli, model, *extra):
    result = run_cli("predict", model, *HW, "--json", *extra)
    assert result.code == 0, result.stderr
    data = result.json()
    assert sum(g["time_s"] for g in data["groups"]) == pytest.approx(data["latency_s"])
    return data, {g["group"]: g["ops"] for g in data["groups"]}


def test_group_by_module_from_the_pt2_program(run_cli, net):
    _, pt2, _ = net
    data, ops = _groups(run_cli, pt2, "--group-by", "module")
    assert data["group_by"] == "module"
    # per block: attn linear, mlp.0 linear, mlp.1 relu, mlp.2 linear, and the residual add in the block
    for i in (0, 1):
        for part in ("attn", "mlp.0", "mlp.1", "mlp.2"):
            assert ops[f"layers.{i}.{part}"] == 1
        assert ops[f"layers.{i}"] == 1  # the add
    assert ops["head"] == 1 and ops["(model)"] == 1  # the final relu runs in Net.forward itself
    assert sum(ops.values()) == len(data["ops"]) == 2 * 5 + 2


def test_depth_cuts_module_paths(run_cli, net):
    _, pt2, _ = net
    _, ops = _groups(run_cli, pt2, "--group-by", "module", "--depth", "1")
    assert ops == {"layers": 10, "head": 1, "(model)": 1}  # 2 blocks x 5 ops
    _, ops = _groups(run_cli, pt2, "--group-by", "module", "--depth", "2")
    assert ops == {"layers.0": 5, "layers.1": 5, "head": 1, "(model)": 1}


def test_a_factory_traced_in_process_groups_as_its_pt2(run_cli, net):
    factory, pt2, _ = net
    from_file, _ = _groups(run_cli, pt2, "--group-by", "module")
    traced, _ = _groups(run_cli, factory, "--input-shape", "4x8", "--group-by", "module")
    assert [(g["group"], g["ops"]) for g in from_file["groups"]] == [(g["group"], g["ops"]) for g in traced["groups"]]


def test_group_by_op_and_family(run_cli, net):
    _, pt2, _ = net
    _, ops = _groups(run_cli, pt2, "--group-by", "op")
    assert ops == {"aten.linear.default": 7, "aten.relu.default": 3, "aten.add.Tensor": 2}
    _, ops = _groups(run_cli, pt2, "--group-by", "family")
    assert ops == {"linear": 7, "activation": 3, "elementwise": 2}


def test_the_table_shows_the_groups(run_cli, net):
    _, pt2, _ = net
    result = run_cli("predict", pt2, *HW, "--group-by", "module", "--depth", "1")
    assert result.code == 0 and "costliest 3 of 3 module groups" in result.stdout and "layers" in result.stdout


def test_csv_per_op_and_per_group(run_cli, net, tmp_path):
    _, pt2, _ = net
    per_op, per_group = tmp_path / "ops.csv", tmp_path / "groups.csv"
    plain = run_cli("predict", pt2, *HW, "--json", "--csv", per_op)
    grouped = run_cli("predict", pt2, *HW, "--group-by", "module", "--depth", "1", "--csv", per_group)
    assert plain.code == 0 and grouped.code == 0, plain.stderr + grouped.stderr
    rows = list(csv.DictReader(per_op.open()))
    assert [r["name"] for r in rows] == [op["name"] for op in plain.json()["ops"]]
    assert {"target", "family", "module", "time_s", "share", "flops", "bytes", "bound"} <= set(rows[0])
    assert rows[0]["module"] == "layers.0.attn"
    groups = list(csv.DictReader(per_group.open()))
    # largest predicted time first; head (a linear) and (model) (a relu) swap with the profile's overheads
    assert groups[0]["group"] == "layers" and [float(g["time_s"]) for g in groups] == sorted(
        (float(g["time_s"]) for g in groups), reverse=True)
    assert sorted((g["group"], g["ops"]) for g in groups) == [("(model)", "1"), ("head", "1"), ("layers", "10")]
    assert sum(float(g["time_s"]) for g in groups) == pytest.approx(plain.json()["latency_s"])


def test_torchscript_records_no_modules_and_says_so_in_one_line(run_cli, net):
    _, _, ts = net
    result = run_cli("predict", ts, *HW, "--input-shape", "4x8", "--group-by", "module")
    assert result.code == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "records no module names" in result.stderr
    assert run_cli("predict", ts, *HW, "--input-shape", "4x8", "--group-by", "family").code == 0


@pytest.mark.parametrize(("extra", "message"), [
    (("--depth", "2"), "use it with --group-by module"),
    (("--group-by", "family", "--depth", "2"), "use it with --group-by module"),
    (("--csv", "/nonexistent-dir/x.csv"), "does not exist"),
])
def test_bad_options_are_one_line(run_cli, extra, message):
    result = run_cli("predict", "mlp:1:8x8", *HW, *extra)
    assert result.code == 2 and message in result.stderr and result.stdout == ""
