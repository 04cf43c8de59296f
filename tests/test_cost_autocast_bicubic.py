"""Two op targets costed by hand: an autocast region (torch.autocast inside forward, which
torch.export keeps as the higher-order op wrap_with_autocast) at its dtype, with the casts it
makes, and bicubic interpolation (aten.upsample_bicubic2d)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphcal.cost import cost_graph
from graphcal.load.trace import export_module


class Autocast(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(8, 4)

    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = torch.relu(self.linear(x))
        return y.float() + 1


class Bicubic(torch.nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)


def _costs(module, *inputs):
    graph = export_module(module.eval(), inputs, "m")
    costed = cost_graph(graph)
    assert not costed.unsupported
    return [(node.target, node.inputs, cost) for node, cost in costed.ops]


def test_an_autocast_region_costs_its_body_at_the_autocast_dtype():
    ops = _costs(Autocast(), torch.randn(2, 8))
    targets = [t for t, _, _ in ops]
    # x, the weight and the bias cast to bf16, then the linear and the ReLU in bf16, then .float() and + 1
    assert targets == ["aten._to_copy.default"] * 3 + ["aten.linear.default", "aten.relu.default",
                                                        "aten.to.dtype", "aten.add.Tensor"]
    casts = [c for t, _, c in ops[:3]]
    # x 2x8, W 4x8, b 4: read at 4 bytes, written at 2
    assert [(c.bytes_read, c.bytes_written) for c in casts] == [(64, 32), (128, 64), (16, 8)]
    _, inputs, linear = ops[3]
    assert all(t.dtype == "bfloat16" for t in inputs)
    assert linear.flops == 2 * 2 * 8 * 4  # 128: rows x in x out, a multiply-add 2
    assert linear.bytes_read == (2 * 8 + 4 * 8 + 4) * 2  # 104: x, W, b in bf16
    assert linear.bytes_written == 2 * 4 * 2  # 16
    relu = ops[4][2]
    assert (relu.bytes_read, relu.bytes_written) == (16, 16)  # bf16 in and out, no cast
    upcast = ops[5][2]
    assert (upcast.bytes_read, upcast.bytes_written) == (16, 32)


def test_the_weight_cast_reads_state():
    graph = export_module(Autocast().eval(), (torch.randn(2, 8),), "m")
    costed = cost_graph(graph)
    state = [cost.state_bytes for _, cost in costed.ops]
    assert state[:4] == [0, 128, 16, 0]  # the weight's and the bias's casts read the model's state


def test_a_saved_program_costs_the_region_the_same(tmp_path):
    from graphcal.load import load_graph
    from graphcal.precision import Precision

    module, x = Autocast().eval(), torch.randn(2, 8)
    path = tmp_path / "autocast.pt2"
    torch.export.save(torch.export.export(module, (x,)), path)
    saved = cost_graph(load_graph(str(path), Precision.FP32))
    traced = cost_graph(export_module(module, (x,), "m"))
    assert [(n.target, c) for n, c in saved.ops] == [(n.target, c) for n, c in traced.ops]


def test_bicubic_interpolation_by_hand():
    ops = _costs(Bicubic(), torch.randn(1, 2, 4, 4))
    ((target, _, cost),) = ops
    assert target.startswith("aten.upsample_bicubic2d.")
    outputs = 1 * 2 * 8 * 8  # 128 output elements
    assert cost.flops == outputs * (16 * 2 + 8 * 3 * 2)  # 10240: 16 taps, 8 cubic weights
    assert cost.bytes_read == 1 * 2 * 4 * 4 * 4  # 128: the input once
    assert cost.bytes_written == outputs * 4  # 512
    assert cost.family == "interpolate"


@pytest.mark.parametrize("target", ["aten.upsample_bicubic2d.vec", "aten.upsample_bicubic2d.default"])
def test_both_bicubic_overloads_are_costed(target):
    from graphcal.cost.registry import is_costed

    assert is_costed(target)
