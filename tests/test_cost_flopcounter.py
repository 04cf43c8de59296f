"""Matrix FLOPs equal torch.utils.flop_counter.FlopCounterMode on the same program.

Each model (from test_cost_coverage's ZOO) is exported once; the graph graphcal costs and the
program FlopCounterMode runs (the exported program's module, on real small inputs) are the
same, at the export level and after run_decompositions(). Our side is the sum over MATRIX ops
outside the attention family: FlopCounterMode counts scaled_dot_product_attention's CPU kernel
as 0, so that family is checked against 4*B*H*L*S*D by hand instead.
"""

from __future__ import annotations

import pytest
import torch
from test_cost_coverage import MhaSelf, TorchEncoder, eager_graph, exported
from torch.utils.flop_counter import FlopCounterMode

from graphcal.cost import OpKind, cost_graph
from graphcal.load.trace import graph_from_fx

CASES = {
    "cnn": "resnet",
    "cnn_grouped_transposed": "cnn_transposed",
    "depthwise": "mobilenet",
    "transformer_encoder": "torch_encoder",
    "transformer_explicit_attention": "bert_explicit",
    "mlp": "mlp",
    "conv1d": "audio",
    "attention": "attention_explicit",
}


def _flop_counter_total(program, inputs) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        program.module()(*inputs)
    return counter.get_total_flops()


@pytest.mark.parametrize("decomposed", [False, True], ids=["export", "decomposed"])
@pytest.mark.parametrize("case", list(CASES))
def test_matrix_flops_equal_flop_counter(case, decomposed):
    program, decomposed_program, inputs = exported(CASES[case])
    program = decomposed_program if decomposed else program
    costs = cost_graph(graph_from_fx(program.graph, case))
    assert not costs.unsupported
    ours = sum(c.flops for _, c in costs.ops if c.kind is OpKind.MATRIX and c.family != "attention")
    theirs = _flop_counter_total(program, inputs)
    assert theirs > 0
    assert ours == theirs


def test_sdpa_counts_four_bhlsd():
    program, _, _ = exported("torch_encoder")
    attention = [c for _, c in cost_graph(graph_from_fx(program.graph, "enc")).ops if c.family == "attention"]
    # one layer, one sdpa on (B 2, H 4, L 10, D 8): 4*2*4*10*10*8 = 25600
    assert [c.flops for c in attention] == [25600]


def test_fused_encoder_fast_path_matches_unfused_graph():
    torch.manual_seed(0)
    module, inputs = TorchEncoder(), (torch.randn(2, 10, 32), torch.zeros(2, 10, dtype=torch.bool))
    fused = cost_graph(eager_graph(module, inputs, "eager"))  # eval + no_grad: the fast path
    assert [n.target for n, _ in fused.ops].count("aten._transformer_encoder_layer_fwd.default") == 1
    program, _, _ = exported("torch_encoder")
    unfused = cost_graph(graph_from_fx(program.graph, "export"))
    # the same kernels: matrix parts equal; the vector parts' per-element counts agree within
    # a few percent (the unfused graph also costs its mask arithmetic)
    assert abs(fused.total.flops - unfused.total.flops) / unfused.total.flops < 0.05


def test_fused_mha_fast_path_matches_unfused_graph():
    torch.manual_seed(0)
    module, inputs = MhaSelf(), (torch.randn(2, 6, 32),)
    fused = cost_graph(eager_graph(module, inputs, "eager"))
    assert "aten._native_multi_head_attention.default" in {n.target for n, _ in fused.ops}
    program, _, _ = exported("mha_self")
    unfused = cost_graph(graph_from_fx(program.graph, "export"))
    matrix = sum(c.flops for _, c in unfused.ops if c.kind is OpKind.MATRIX)
    # q, k, v, out projections 4 * 2*12*32*32 = 98304 and the core 4*8*6*6*8 = 9216: 107520
    assert matrix == 107520
    assert fused.total.flops == matrix
