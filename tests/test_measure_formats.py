"""`compare --measure` and `sweep model --per-op` on every MODEL form: .pt2 archives, TorchScript,
trusted pickles, factories and specs. Each op timed in place is paired with the op predict costs
for the same MODEL. Real kernels are timed with a quick protocol on a tiny net; nothing asserts a
speed."""

from __future__ import annotations

import pytest
import torch

from graphcal.evaluate.measure import measure_model
from graphcal.hardware.profile import load_profile
from graphcal.load import InputSpec, load_graph
from graphcal.mapper import Target
from graphcal.precision import Precision
from graphcal.predict import predict_graph
from graphcal.sweep.protocol import Protocol
from tests.test_sweep import rows_of

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

QUICK = Protocol(rounds=2, max_rounds=3, window_s=0.002, min_samples=3, warmup_calls=1, warmup_s=0.0,
                 min_sample_s=0.00002, passes=1)
HW = "i7-12700k"
SHAPE = (InputSpec((2, 8), None),)


def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)).eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    x = torch.randn(2, 8)
    torch.export.save(torch.export.export(tiny(), (x,)), str(folder / "tiny.pt2"))
    torch.jit.save(torch.jit.trace(tiny(), x), str(folder / "tiny-traced.pt"))
    torch.jit.save(torch.jit.script(tiny()), str(folder / "tiny-scripted.pt"))
    torch.save(tiny(), folder / "tiny.pth")
    return folder


def _target() -> Target:
    return Target(load_profile(HW), Precision.FP32, 1)


@pytest.mark.parametrize(("model", "specs", "trust"), [
    ("tiny.pt2", (), False),
    ("tiny-traced.pt", SHAPE, False),
    ("tiny-scripted.pt", SHAPE, False),
    ("tiny.pth", SHAPE, True),
    ("tests.test_measure_formats:tiny", SHAPE, False),
    ("mlp:2:8x16x4", (), False),
])
def test_measure_pairs_every_op_with_its_prediction(files, model, specs, trust):
    path = str(files / model) if "." in model and ":" not in model else model
    target = _target()
    measured = measure_model(path, target, specs, QUICK, trust_pickle=trust)
    predicted = predict_graph(load_graph(path, Precision.FP32, specs, trust), target)
    assert measured.measured_s > 0 and all(op.measured_s > 0 for op in measured.ops)
    costed = {op.name: op for op in measured.ops if op.family not in ("free", "unsupported")}
    assert set(costed) == {op.name for op in predicted.ops}
    for op in predicted.ops:
        assert costed[op.name].predicted_s == pytest.approx(op.time_s, rel=1e-12)
        assert costed[op.name].family == op.family
    assert measured.predicted_s == pytest.approx(predicted.latency_s, rel=1e-9)
    # two linears and a relu: 2*2*(8*16 + 16*4) FLOPs of matrix products, whatever op the format records
    assert sum(op.flops for op in predicted.ops if op.family != "activation") >= 2 * 2 * (8 * 16 + 16 * 4)


def test_compare_measure_takes_a_pt2(run_cli, files):
    result = run_cli("compare", files / "tiny.pt2", "--hw", HW, "--measure", "--threads", "1", "--json")
    assert result.code == 0, result.stderr
    report = result.json()
    predicted = run_cli("predict", files / "tiny.pt2", "--hw", HW, "--threads", "1", "--json").json()
    assert report["predicted_s"] == pytest.approx(predicted["latency_s"], rel=1e-9) and report["measured_s"] > 0


@pytest.mark.slow
def test_sweep_model_per_op_takes_a_pt2_and_torchscript(run_cli, files, tmp_path):
    out = tmp_path / "ops.csv"
    result = run_cli("sweep", "model", files / "tiny.pt2", files / "tiny-traced.pt", "--input-shape", "2x8",
                     "--per-op", "--out", out, "--threads", "1", "--passes", "1")
    assert result.code == 0, result.stderr
    rows = rows_of(out)
    for model in ("tiny.pt2", "tiny-traced.pt"):
        ops = [r for r in rows if r["scope"] == "op" and r["workload"].endswith(model)]
        expected = predict_graph(load_graph(str(files / model), Precision.FP32, SHAPE if model.endswith(".pt")
                                            else ()), _target())
        assert sorted(r["node"] for r in ops) == sorted(op.name for op in expected.ops)
        assert sum(float(r["flops"]) for r in ops) == pytest.approx(expected.flops)


def test_an_op_of_several_parts_is_timed_in_place_as_one_op(files, run_cli, tmp_path):
    """A GRU, costed as its parts (input projection, hidden steps, gates), is one op timed in
    place: `compare --measure` pairs it with the sum of its parts' times, and `sweep model
    --per-op` writes one row for it with the parts' FLOPs added up."""
    torch.manual_seed(0)
    gru, x = torch.nn.GRU(8, 16, batch_first=True).eval(), torch.randn(2, 5, 8)
    path = files / "gru.pt2"
    torch.export.save(torch.export.export(gru, (x,)), str(path))
    target = _target()
    predicted = predict_graph(load_graph(str(path), Precision.FP32, ()), target)
    parts = [op for op in predicted.ops if op.cost.part]
    assert {op.cost.part for op in parts} == {"input projection", "hidden steps", "gates"}
    node = parts[0].name
    measured = {op.name: op for op in measure_model(str(path), target, (), QUICK).ops}
    assert measured[node].predicted_s == pytest.approx(sum(op.time_s for op in parts), rel=1e-12)
    out = tmp_path / "gru.csv"
    result = run_cli("sweep", "model", path, "--per-op", "--out", out, "--threads", "1", "--passes", "1")
    assert result.code == 0, result.stderr
    rows = [r for r in rows_of(out) if r["scope"] == "op" and r["node"] == node]
    assert len(rows) == 1 and float(rows[0]["flops"]) == pytest.approx(sum(op.cost.flops for op in parts))
