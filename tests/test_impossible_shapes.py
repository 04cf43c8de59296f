"""Impossible shapes in a .pt2 program and absurd workload specs are one line with exit code 2
(issue 14, classes 11 and 12).

A 0 dimension is not impossible: torch.export's graphs hold empty tensors (batch norm's saved
statistics in eval are (0,)), so it is costed as no work (the mapper used to divide 0 by 0)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from graphcal.errors import GraphcalError
from graphcal.load.graph import TensorMeta


@pytest.fixture(scope="module")
def tiny_pt2(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pt2") / "tiny.pt2"
    program = torch.export.export(nn.Sequential(nn.Linear(8, 4), nn.ReLU()), (torch.randn(2, 8),))
    torch.export.save(program, path)
    return path


def with_size(source: Path, out: Path, size) -> Path:
    """A copy of the archive whose first tensor's first dimension is `size` (any JSON value)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name.endswith("models/model.json"):
                program = json.loads(data)
                values = program["graph_module"]["graph"]["tensor_values"]
                values[next(iter(values))]["sizes"][0] = {"as_int": size}
                data = json.dumps(program).encode()
            zout.writestr(name, data)
    return out


@pytest.mark.parametrize("size", [-3, "abc", 1.5, True, None, [1], 10**29])
def test_an_impossible_dimension_is_one_line(tiny_pt2, tmp_path, run_cli, size):
    model = with_size(tiny_pt2, tmp_path / "m.pt2", size)
    result = run_cli("predict", model, "--hw", "i7-12700k")
    assert result.code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("graphcal: error: m.pt2: tensor") and "every dimension must be an integer" in line


def test_a_zero_dimension_is_costed_as_no_work(tiny_pt2, tmp_path, run_cli):
    model = with_size(tiny_pt2, tmp_path / "m.pt2", 0)
    result = run_cli("predict", model, "--hw", "i7-12700k", "--json")
    assert result.code == 0, result.stderr  # was ZeroDivisionError
    linear = next(op for op in result.json()["ops"] if op["family"] == "linear")
    assert linear["flops"] == 0 and linear["bound"] == "overhead"


@pytest.mark.parametrize("shape", [(-1, 2), ("2", 2), (2.0,), (True,), (2**63,)])
def test_tensor_meta_refuses_impossible_shapes(shape):
    with pytest.raises(GraphcalError, match="every dimension must be an integer"):
        TensorMeta(shape, "float32")


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("matmul:10000000000000000000000000000x2x2", "larger than 2^40"),  # was a 68-line torch traceback
        ("matmul:1000000000000x1000000000x1000000000", "torch cannot build it"),  # sizes within 2^40 overflow
        ("mlp:1:" + "8x" * 5000 + "8", "characters long"),  # was OSError: File name too long
        ("a" * 10000, "is not a file, a workload spec"),
        ("x\0y", "is not a file"),  # a NUL byte: was ValueError from the file system check
    ],
)
@pytest.mark.parametrize("command", ["predict", "compare"])
def test_absurd_specs_are_one_line(run_cli, model, words, command):
    result = run_cli(command, model, "--hw", "i7-12700k")
    assert result.code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert words in line


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "mlp:1:8x8", "--hw", "i7-12700k", "--input-shape", "9" * 5000],
        ["sweep", "mlp", "--grid", "smoke-mlp", "--out", "x.csv", "--shard", "1/" + "9" * 5000],
    ],
)
def test_a_5000_digit_number_in_an_option_is_one_line(run_cli, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = run_cli(*args)  # was ValueError: Exceeds the limit (4300 digits) for integer string conversion
    assert result.code == 2 and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()
