"""`sweep model` takes every MODEL form `predict` takes (specs, .pt2, TorchScript, trusted
torch.save files, factories) or refuses one in a single line, before anything is timed."""

from __future__ import annotations

import pytest
import torch

from graphcal.precision import Precision
from graphcal.sweep.workload import build_module
from tests.test_sweep import rows_of

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU()).eval()


@pytest.fixture
def scripted(tmp_path):
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.trace(_net(), torch.randn(2, 8)), str(path))
    return path


@pytest.fixture
def pickled(tmp_path):
    path = tmp_path / "net.pth"
    torch.save(_net(), path)
    return path


@pytest.fixture
def no_timing(monkeypatch):
    import graphcal.sweep.runner as runner

    monkeypatch.setattr(runner, "time_block", lambda *a, **k: pytest.fail("timed before refusing"))


def _one_line(result) -> str:
    assert result.code == 2, (result.code, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_a_torchscript_file_runs_on_its_input_shape(scripted):
    from graphcal.load import InputSpec

    module, inputs = build_module(str(scripted), Precision.FP32, (InputSpec((3, 8), None),))
    assert [tuple(t.shape) for t in inputs] == [(3, 8)]
    assert tuple(module(*inputs).shape) == (3, 4)


def test_a_torchscript_file_without_input_shape_is_refused_in_one_line(run_cli, scripted, no_timing, tmp_path):
    stderr = _one_line(run_cli("sweep", "model", scripted, "--out", tmp_path / "o.csv"))
    assert "--input-shape" in stderr


def test_a_pickled_module_needs_trust_as_in_predict(run_cli, pickled, no_timing, tmp_path):
    stderr = _one_line(run_cli("sweep", "model", pickled, "--input-shape", "2x8", "--out", tmp_path / "o.csv"))
    assert "--trust-pickle" in stderr


def test_a_trusted_pickled_module_builds(pickled):
    from graphcal.load import InputSpec

    module, inputs = build_module(str(pickled), Precision.FP32, (InputSpec((2, 8), None),), trust_pickle=True)
    assert tuple(module(*inputs).shape) == (2, 4)


def test_a_file_that_is_no_model_is_refused_in_one_line(run_cli, no_timing, tmp_path):
    junk = tmp_path / "junk.pt2"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    _one_line(run_cli("sweep", "model", junk, "--out", tmp_path / "o.csv"))


@pytest.mark.slow
def test_sweep_model_times_a_torchscript_file(run_cli, scripted, tmp_path):
    out = tmp_path / "ts.csv"
    result = run_cli("sweep", "model", scripted, "--input-shape", "2x8", "--out", out, "--threads", "1",
                     "--passes", "1")
    assert result.code == 0, result.stderr
    rows = [r for r in rows_of(out) if r["role"] == "measure"]
    assert [r["workload"] for r in rows] == [str(scripted)]
    assert float(rows[0]["flops"]) == 2 * 2 * 8 * 4 + 2 * 4  # linear 128 + relu 8, as predict counts it
