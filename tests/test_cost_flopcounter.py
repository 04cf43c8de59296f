"""Matrix FLOPs equal torch.utils.flop_counter.FlopCounterMode on the same program.

Each model is exported; the graph graphcal costs and the program FlopCounterMode runs (the
exported program's module, on real small inputs) are the same, at the export level and after
run_decompositions(). Our side is the sum over MATRIX ops outside the attention family:
FlopCounterMode counts scaled_dot_product_attention's CPU kernel as 0, so that family is
checked against 4*B*H*L*S*D by hand instead.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from graphcal.cost import OpKind, cost_graph
from graphcal.trace import graph_from_fx
from test_cost_coverage import Bert, SelfAttention, TorchEncoder, audio, mobilenet, resnet


def mlp():
    return nn.Sequential(nn.Linear(24, 64), nn.ReLU(), nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 10))


def cnn_transposed():
    """Encoder-decoder CNN: strided, grouped and transposed convolutions, batch norm."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, 1, 1, groups=2), nn.ReLU(),
                         nn.ConvTranspose2d(16, 4, 4, 2, 1), nn.Conv2d(4, 1, 1))


class Attention(nn.Module):
    """Explicit (matmul, softmax) causal self-attention: FlopCounterMode sees its bmm calls."""

    def __init__(self):
        super().__init__()
        self.attn = SelfAttention(32, 4, fused=False, causal=True)

    def forward(self, x):
        return self.attn(x)


CASES = {
    "cnn": (resnet, lambda: (torch.randn(2, 3, 32, 32),)),
    "cnn_grouped_transposed": (cnn_transposed, lambda: (torch.randn(2, 3, 16, 16),)),
    "mobilenet_depthwise": (mobilenet, lambda: (torch.randn(2, 3, 32, 32),)),
    "transformer_encoder": (TorchEncoder, lambda: (torch.randn(2, 10, 32), torch.zeros(2, 10, dtype=torch.bool))),
    "bert_explicit_attention": (lambda: Bert(fused=False), lambda: (torch.randint(0, 100, (2, 12)),
                                                                   torch.ones(2, 12, dtype=torch.long))),
    "mlp": (mlp, lambda: (torch.randn(8, 24),)),
    "conv1d": (audio, lambda: (torch.randn(2, 1, 400),)),
    "attention": (Attention, lambda: (torch.randn(2, 12, 32),)),
}


def _program(name: str, decomposed: bool):
    factory, make_inputs = CASES[name]
    torch.manual_seed(0)
    module, inputs = factory().eval(), make_inputs()
    with torch.no_grad():
        program = torch.export.export(module, inputs, strict=False)
        if decomposed:
            program = program.run_decompositions()
    return program, inputs


def _flop_counter_total(program, inputs) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        program.module()(*inputs)
    return counter.get_total_flops()


@pytest.mark.parametrize("decomposed", [False, True], ids=["export", "decomposed"])
@pytest.mark.parametrize("name", list(CASES))
def test_matrix_flops_equal_flop_counter(name, decomposed):
    program, inputs = _program(name, decomposed)
    costs = cost_graph(graph_from_fx(program.graph, name))
    assert not costs.unsupported
    ours = sum(c.flops for _, c in costs.ops if c.kind is OpKind.MATRIX and c.family != "attention")
    theirs = _flop_counter_total(program, inputs)
    assert theirs > 0
    assert ours == theirs


def test_sdpa_counts_four_bhlsd():
    program, _ = _program("transformer_encoder", decomposed=False)
    attention = [c for n, c in cost_graph(graph_from_fx(program.graph, "enc")).ops if c.family == "attention"]
    # two layers, each one sdpa on (B 2, H 4, L 10, D 8): 4*2*4*10*10*8 = 25600
    assert [c.flops for c in attention] == [25600, 25600]


def _eager_ops(module, inputs):
    """Op costs of an eager run in eval/no_grad, where torch.nn takes its fused fast paths."""
    from test_cost_coverage import eager_graph

    return cost_graph(eager_graph(module, inputs, "eager"))


def test_fused_encoder_fast_path_matches_unfused_graph():
    torch.manual_seed(0)
    module, inputs = TorchEncoder(), (torch.randn(2, 10, 32), torch.zeros(2, 10, dtype=torch.bool))
    fused = _eager_ops(module, inputs)
    assert [n.target for n, _ in fused.ops].count("aten._transformer_encoder_layer_fwd.default") == 2
    unfused = cost_graph(graph_from_fx(torch.export.export(module.eval(), inputs, strict=False).graph, "x"))
    fused_flops, unfused_flops = fused.total.flops, unfused.total.flops
    # the same kernels' arithmetic: matrix parts equal, the vector parts' per-element counts
    # agree within a few percent (the unfused graph also costs its mask arithmetic)
    assert abs(fused_flops - unfused_flops) / unfused_flops < 0.05


def test_fused_mha_fast_path_matches_unfused_graph():
    from test_cost_coverage import MhaSelf

    torch.manual_seed(0)
    module, inputs = MhaSelf(), (torch.randn(2, 6, 32),)
    fused = _eager_ops(module, inputs)
    assert "aten._native_multi_head_attention.default" in {n.target for n, _ in fused.ops}
    unfused = cost_graph(graph_from_fx(torch.export.export(module.eval(), inputs, strict=False).graph, "x"))
    matrix = sum(c.flops for _, c in unfused.ops if c.kind is OpKind.MATRIX)
    # q, k, v, out projections 4 * 2*12*32*32 = 98304 and the core 4*8*6*6*8 = 9216: 107520
    assert matrix == 107520
    assert fused.total.flops == matrix
