"""einsum costed from its contraction, view-like ops free, in-place ops costed as their
out-of-place twins: formulas with the arithmetic beside each number, then representative
torch.nn graphs (einsum attention as in MaxViT, swapaxes, reshape_as as in LeViT, in-place
activations and dropout) with nothing unsupported at any level graphcal traces."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import graphcal.cost.formulas  # noqa: F401  (fills FORMULAS)
from graphcal.cost import FREE_OPS, OpKind, cost_graph, cost_node
from graphcal.cost.formulas.einsum import contraction, subscripts
from graphcal.cost.registry import costed_as
from graphcal.load.graph import OpGraph, OpNode, TensorMeta
from graphcal.load.trace import export_module, graph_from_fx, record_calls


def T(*shape: int, dtype: str = "float32") -> TensorMeta:
    return TensorMeta(tuple(shape), dtype)


def einsum(equation: str, *operands: TensorMeta, out: TensorMeta):
    return cost_node(OpNode("e", "aten.einsum.default", (equation, list(operands)), {}, (out,)))


# --- einsum -------------------------------------------------------------------------------------

def test_einsum_attention_scores_are_a_batched_gemm():
    c = einsum("bhqd,bhkd->bhqk", T(2, 4, 6, 8), T(2, 4, 6, 8), out=T(2, 4, 6, 6))
    assert c.flops == 2 * 2 * 4 * 6 * 8 * 6  # distinct indices b, h, q, d, k: 2*2*4*6*8*6 = 4608
    assert c.bytes_read == 2 * (2 * 4 * 6 * 8) * 4  # two operands of 384 elements: 3072
    assert c.bytes_written == 2 * 4 * 6 * 6 * 4  # 288 elements: 1152
    assert c.kind is OpKind.MATRIX and c.family == "matmul"
    assert (c.rows, c.depth, c.columns) == (6, 8, 6)  # one head's q x d x k, as bmm


def test_einsum_equals_the_matmul_it_spells():
    a, b = T(5, 7), T(7, 3)
    mm = cost_node(OpNode("m", "aten.mm.default", (a, b), {}, (T(5, 3),)))
    c = einsum("ik,kj->ij", a, b, out=T(5, 3))
    assert (c.flops, c.bytes_read, c.bytes_written) == (mm.flops, mm.bytes_read, mm.bytes_written)  # 210, 224, 60
    assert (c.rows, c.depth, c.columns) == (5, 7, 3)


def test_einsum_of_three_operands_contracts_pairwise_left_to_right():
    flops, gemm = contraction("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)])
    # (ij,jk -> ik): 2*2*3*4 = 48; (ik,kl -> il): 2*2*4*5 = 80; 48 + 80 = 128
    assert flops == 128
    assert gemm == (2, 4, 5)  # the larger step's M x K x N


def test_einsum_ellipsis_broadcast_and_implicit_output():
    operands, output, sizes = subscripts("...ij,...jk", [(7, 2, 3), (1, 3, 4)])
    assert output == ["@0", "i", "k"]  # implicit: broadcast dimensions, then i and k (used once)
    assert sizes == {"@0": 7, "i": 2, "j": 3, "k": 4}  # the 1 broadcasts to 7
    c = einsum("...ij,...jk", T(7, 2, 3), T(1, 3, 4), out=T(7, 2, 4))
    assert c.flops == 2 * 7 * 2 * 3 * 4  # = 336
    assert einsum("b i d, b j d -> b i j", T(2, 3, 4), T(2, 5, 4), out=T(2, 3, 5)).flops == 2 * 2 * 3 * 4 * 5  # 240


def test_einsum_of_one_operand():
    assert einsum("ij->", T(3, 4), out=T()).flops == 12  # a sum: one add per element, 3*4 = 12
    assert einsum("ij->ji", T(3, 4), out=T(4, 3)).flops == 0  # a transpose: no arithmetic
    c = einsum("ii->i", T(3, 3), out=T(3))
    assert c.flops == 0 and c.bytes == (9 + 3) * 4  # a diagonal: read 9, write 3 elements = 48 B
    assert c.kind is OpKind.VECTOR


def test_einsum_that_does_not_match_its_operands_is_a_clear_error():
    from graphcal.errors import GraphcalError

    with pytest.raises(GraphcalError, match="einsum"):
        einsum("ij,jk->ik", T(3, 4), out=T(3, 4))


# --- free views and in-place forms ------------------------------------------------------------

@pytest.mark.parametrize("target", ["aten.dropout_.default", "aten.reshape_as.default", "aten.swapaxes.default",
                                    "aten.swapdims.default", "aten.feature_dropout_.default"])
def test_views_and_eval_dropout_are_free(target):
    assert target in FREE_OPS
    assert cost_node(OpNode("v", target, (T(2, 3), T(3, 2)), {}, (T(3, 2),))) is None


@pytest.mark.parametrize(("inplace", "twin"), [
    ("aten.relu_.default", "aten.relu.default"),
    ("aten.gelu_.default", "aten.gelu.default"),
    ("aten.hardswish_.default", "aten.hardswish.default"),
    ("aten.add_.Tensor", "aten.add.Tensor"),
    ("aten.baddbmm_.default", "aten.baddbmm.default"),
    ("aten.sigmoid_.default", "aten.sigmoid.default"),
    ("aten.silu_.default", "aten.silu.default"),
])
def test_an_inplace_op_costs_what_its_twin_costs(inplace, twin):
    shapes = (T(4, 8, 8), T(4, 8, 8), T(4, 8, 8)) if "baddbmm" in twin else (T(16, 16), T(16, 16))
    args = shapes if "add" in twin else shapes[:1]
    out = T(4, 8, 8) if "baddbmm" in twin else T(16, 16)
    a = cost_node(OpNode("a", inplace, args, {}, (out,)))
    b = cost_node(OpNode("b", twin, args, {}, (out,)))
    assert a == b and a.flops > 0


def test_the_inplace_rule_maps_only_to_a_known_twin():
    assert costed_as("aten.logit_.default") == "aten.logit_.default"  # registered itself
    assert costed_as("aten.logical_and_.default") == "aten.logical_and.default"  # by the rule
    assert costed_as("aten.detach_.default") == "aten.detach.default"  # free, as detach is
    assert costed_as("aten.frobnicate_.default") == "aten.frobnicate_.default"  # no twin: unsupported
    assert costed_as("aten.__iand__.Tensor") == "aten.__iand__.Tensor"  # a dunder is not an in-place form
    graph = OpGraph("m", (OpNode("f", "aten.frobnicate_.default", (T(3),), {}, (T(3),)),))
    assert cost_graph(graph).unsupported == {"aten.frobnicate_.default": 1}


# --- representative graphs ----------------------------------------------------------------------

class EinsumAttention(nn.Module):
    """Multi-head attention written with einsum and swapaxes (as MaxViT's and many timm blocks
    are), output reshaped with reshape_as (as LeViT's), in-place dropout, add, mul and ReLU."""

    def __init__(self, dim: int = 32, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.drop, self.act = nn.Dropout(0.1, inplace=True), nn.ReLU(inplace=True)

    def forward(self, x):
        b, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(b, length, 3, self.heads, dim // self.heads).unbind(2)
        q, k, v = (t.swapaxes(1, 2) for t in (q, k, v))
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) * (dim // self.heads) ** -0.5
        y = torch.einsum("bhqk,bhkd->bhqd", scores.softmax(-1), v).swapaxes(1, 2).reshape_as(x)
        y = self.drop(self.proj(y))
        y.add_(x).mul_(0.5)
        return self.act(y)


class InplaceCnn(nn.Module):
    """A conv stack with in-place activations (timm's default), in-place 2d dropout, a
    bilinear-style einsum head and a channel swap with swapdims."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Hardswish(inplace=True),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.SiLU(inplace=True), nn.Dropout2d(0.1, inplace=True),
                                  nn.LeakyReLU(0.1, inplace=True))
        self.weight = nn.Parameter(torch.randn(8, 8, 5))

    def forward(self, x):
        y = self.body(x).mean((2, 3))
        return torch.einsum("bi,bj,ijo->bo", y, y, self.weight).swapdims(0, 1)


MODELS = {
    "einsum_attention": (EinsumAttention, lambda: (torch.randn(2, 6, 32),)),
    "inplace_cnn": (InplaceCnn, lambda: (torch.randn(2, 3, 8, 8),)),
}


def _graphs(name: str) -> dict[str, OpGraph]:
    factory, make_inputs = MODELS[name]
    torch.manual_seed(0)
    module, inputs = factory().eval(), make_inputs()
    with torch.no_grad():
        decomposed = torch.export.export(module, inputs, strict=False).run_decompositions()
    return {
        "export": export_module(module, inputs, name),
        "decomposed": graph_from_fx(decomposed.graph, name),
        "eager": record_calls(module, inputs, name),
    }


@pytest.mark.parametrize("name", sorted(MODELS))
def test_representative_graphs_have_no_unsupported_op_and_agree_across_levels(name):
    graphs = _graphs(name)
    costs = {level: cost_graph(g) for level, g in graphs.items()}
    for level, c in costs.items():
        assert not c.unsupported, (level, dict(c.unsupported))
    assert "aten.einsum.default" in {n.target for n in graphs["export"].nodes}


def test_einsum_attention_costs_the_same_flops_as_its_decomposition():
    # the export level keeps einsum, swapaxes, reshape_as and the in-place ops; the decomposed
    # level spells them as bmm, permute, view and out-of-place ops
    graphs = _graphs("einsum_attention")
    assert cost_graph(graphs["export"]).total.flops == cost_graph(graphs["decomposed"]).total.flops


def test_three_operand_einsum_head_by_hand():
    graph = _graphs("inplace_cnn")["export"]
    node, = (n for n in graph.nodes if n.target == "aten.einsum.default")
    # bi,bj -> bij: 2*b*i*j = 2*2*8*8 = 256; bij,ijo -> bo: 2*b*i*j*o = 2*2*8*8*5 = 1280; 1536
    assert cost_node(node).flops == 256 + 1280
    assert {"aten.hardswish_.default", "aten.silu_.default", "aten.feature_dropout_.default",
            "aten.leaky_relu_.default", "aten.swapdims.default"} <= {n.target for n in graph.nodes}


def test_einsum_attention_at_the_export_level_by_hand():
    graph = _graphs("einsum_attention")["export"]
    ops = {n.target: n for n in graph.nodes}
    assert {"aten.swapaxes.default", "aten.reshape_as.default", "aten.dropout_.default",
            "aten.add_.Tensor", "aten.mul_.Tensor", "aten.relu_.default"} <= set(ops)
    costs = [cost_node(n) for n in graph.nodes if n.target == "aten.einsum.default"]
    # scores and output: b=2, h=4, q=k=6, d=8: 2*2*4*6*6*8 = 4608 FLOPs each
    assert [c.flops for c in costs] == [4608, 4608]
    relu = cost_node(ops["aten.relu_.default"])
    assert relu.flops == 2 * 6 * 32  # one compare per element: 384
    assert relu.bytes == 2 * (2 * 6 * 32 * 4)  # read and write 384 fp32: 3072 B


def test_an_op_allocates_its_outputs_and_an_in_place_op_none():
    big = TensorMeta((64, 1024, 1024), "float32")  # 256 MiB
    graph = OpGraph("relus", (
        OpNode("r", "aten.relu.default", (big,), {}, (big,)),
        OpNode("r_", "aten.relu_.default", (big,), {}, (big,)),
        OpNode("small", "aten.relu.default", (TensorMeta((1024,), "float32"),), {}, (TensorMeta((1024,), "float32"),)),
    ))
    costs = {node.name: cost for node, cost in cost_graph(graph).ops}
    assert costs["r"].flops == costs["r_"].flops  # the same arithmetic, only the allocation differs
    # no data flow recorded: each op replayed alone; only the 256 MiB output is mapped afresh on every call
    assert [costs[n].fault_bytes for n in ("r", "r_", "small")] == [big.nbytes, 0, 0]
