"""The fast capture of an nn.Module (graphcal.load.capture, what graphcal.predict uses) gives the
graph torch.export gives: the same ops, names, modules, costs and state, on models of every
family, on the CPU and on the meta device."""

from __future__ import annotations

import pytest
import torch

from benchmarks.zoo import ZOO
from graphcal.cost import cost_graph
from graphcal.hardware.profile import load_profile
from graphcal.load.capture import graph_of_module, record_module
from graphcal.load.trace import export_module
from graphcal.mapper import Target
from graphcal.precision import Precision
from graphcal.predict import predict_graph


def costed_ops(graph):
    costed = cost_graph(graph)
    return [(node.name, node.target, node.module, cost) for node, cost in costed.ops], dict(costed.unsupported)


def assert_same_graph(recorded, exported, stateless=False):
    assert costed_ops(recorded) == costed_ops(exported)
    assert recorded.persistent_bytes == exported.persistent_bytes
    assert (exported.persistent_bytes == 0) == stateless
    target = Target(load_profile("i7-12700k"), Precision.FP32, 2)
    assert predict_graph(recorded, target).latency_s == pytest.approx(predict_graph(exported, target).latency_s,
                                                                      rel=1e-12)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_the_recorded_graph_is_the_exported_graph(name):
    factory, inputs = ZOO[name]
    torch.manual_seed(0)
    module, x = factory().eval(), inputs()
    assert_same_graph(record_module(module, x, name), export_module(module, x, name))


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16", "densenet121"])
def test_torchvision_models_on_the_meta_device(name):
    from benchmarks.zoo import define_torchvision_schemas

    define_torchvision_schemas()
    tvm = pytest.importorskip("torchvision.models")
    with torch.device("meta"):
        module = tvm.get_model(name).eval()
    x = torch.empty(1, 3, 224, 224, device="meta")
    assert_same_graph(record_module(module, (x,), name), export_module(module, (x,), name))


RECURRENT_LAYERS = {
    "lstm": lambda: torch.nn.LSTM(16, 32, num_layers=2, batch_first=True),
    "lstm time-first": lambda: torch.nn.LSTM(16, 32),
    "lstm bidirectional, projected": lambda: torch.nn.LSTM(16, 32, batch_first=True, bidirectional=True, proj_size=8),
    "gru bidirectional": lambda: torch.nn.GRU(16, 24, num_layers=2, bidirectional=True),
    "rnn tanh": lambda: torch.nn.RNN(16, 24, batch_first=True),
    "rnn relu": lambda: torch.nn.RNN(16, 24, nonlinearity="relu"),
}


class _Recurrent(torch.nn.Module):
    """A recurrent layer whose every result feeds an op: their shapes and strides reach the graph."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        out, state = self.layer(x)
        states = state if isinstance(state, tuple) else (state,)
        return out.reshape(-1).sum() + sum(s.reshape(-1).sum() for s in states)


@pytest.mark.parametrize("name", sorted(RECURRENT_LAYERS))
def test_a_recurrent_layer_on_the_meta_device_is_recorded_as_exported(name, monkeypatch):
    import graphcal.load.capture as capture

    with torch.device("meta"):
        module = _Recurrent(RECURRENT_LAYERS[name]()).eval()
    x = torch.empty(3, 5, 16, device="meta")
    exported = export_module(module, (x,), name)
    made, real = [], capture._recurrent_result
    monkeypatch.setattr(capture, "_recurrent_result", lambda args: made.append(args) or real(args))
    assert_same_graph(record_module(module, (x,), name), exported)
    assert made  # the results were made from the shapes, not run


def test_a_module_the_recorder_cannot_follow_is_exported(monkeypatch):
    import graphcal.load.capture as capture

    def refuse(*args):
        raise RuntimeError("cannot follow")

    monkeypatch.setattr(capture, "record_module", refuse)
    module, x = torch.nn.Linear(4, 2).eval(), torch.zeros(3, 4)
    graph = graph_of_module(module, (x,), "linear", Precision.FP32)
    assert costed_ops(graph) == costed_ops(export_module(module, (x,), "linear"))


def test_a_shape_error_in_the_model_is_one_line():
    from graphcal.errors import GraphcalError

    with pytest.raises(GraphcalError, match="could not trace net") as caught:
        graph_of_module(torch.nn.Linear(4, 2), (torch.zeros(3, 5),), "net", Precision.FP32)
    assert "\n" not in str(caught.value)


def spec_shapes() -> list[str]:
    """One workload of each shape of spec the shipped grids hold (digits aside), and one of each
    kind of spec no grid holds."""
    import re

    import yaml

    from graphcal.load.specs import SPEC_KINDS
    from graphcal.sweep.grid import load_grid, resolve_grid, shipped_grids

    found: dict[str, str] = {}
    for name in shipped_grids():
        kind = yaml.safe_load(resolve_grid(name).read_text())["kind"]
        for workload in load_grid(name, kind).workloads:
            found.setdefault(re.sub(r"\d+", "N", workload), workload)
    kinds = {w.split(":")[0] for w in found.values()}
    extra = {"linear": "linear:4x64x32", "matmul": "matmul:8x16x4", "add": "add:1024"}
    return sorted(found.values()) + [extra[k] for k in sorted(SPEC_KINDS) if k not in kinds]


@pytest.mark.parametrize("workload", spec_shapes())
def test_a_workload_spec_is_recorded_as_torch_export_traces_it(workload, monkeypatch):
    import graphcal.load.trace as trace
    from graphcal.load.resolve import graph_of_spec
    from graphcal.load.specs import parse_spec

    spec = parse_spec(workload)
    module, inputs = spec.build(dtype="float32", device="meta")
    exported = export_module(module, inputs, spec.text)
    monkeypatch.setattr(trace, "export_module", lambda *args: pytest.fail("the recorder fell back to torch.export"))
    stateless = not any(True for _ in (*module.parameters(), *module.buffers()))
    assert_same_graph(graph_of_spec(workload, Precision.FP32), exported, stateless)
