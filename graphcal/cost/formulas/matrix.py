"""Matrix ops: linear, the matmul family and convolutions, at the export level (aten.linear,
aten.matmul, aten.conv2d) and the decomposed level (aten.addmm, aten.mm, aten.bmm,
aten.convolution). FLOPs equal torch.utils.flop_counter.FlopCounterMode's: 2 per multiply-add,
a bias add not counted. Bytes: every operand (weights and bias included) read, the result written.
"""

from __future__ import annotations

import dataclasses
import math

from graphcal.cost.formulas.common import MATRIX, io_cost, out
from graphcal.cost.registry import OpCost, register
from graphcal.load.graph import OpNode


@register("aten.linear.default")
def linear(node: OpNode) -> OpCost:
    """x (..., IN) @ W (OUT, IN)^T (+ b): 2 * rows * IN * OUT."""
    x, w = node.args[0], node.args[1]
    rows = x.numel // x.shape[-1]
    out_features = w.shape[0] if len(w.shape) == 2 else 1
    return io_cost(node, 2 * rows * w.shape[-1] * out_features, MATRIX, "linear", (rows, w.shape[-1], out_features))


@register("aten.addmm.default", "aten.addmm_.default")
def addmm(node: OpNode) -> OpCost:
    """bias + A (M, K) @ B (K, N): 2 * M * K * N (FlopCounterMode leaves out the bias add)."""
    a, b = node.args[1], node.args[2]
    return io_cost(
        node, 2 * a.shape[0] * a.shape[1] * b.shape[1], MATRIX, "linear", (a.shape[0], a.shape[1], b.shape[1])
    )


@register("aten.mm.default")
def mm(node: OpNode) -> OpCost:
    """A (M, K) @ B (K, N): 2 * M * K * N."""
    a, b = node.args[0], node.args[1]
    return io_cost(
        node, 2 * a.shape[0] * a.shape[1] * b.shape[1], MATRIX, "matmul", (a.shape[0], a.shape[1], b.shape[1])
    )


@register("aten.bmm.default", "aten.baddbmm.default", "aten.baddbmm_.default")
def bmm(node: OpNode) -> OpCost:
    """A (B, M, K) @ B (B, K, N) (+ C for baddbmm): 2 * B * M * K * N."""
    a, b = node.args[0:2] if node.target == "aten.bmm.default" else node.args[1:3]
    batch, m, k = a.shape
    # NB: rows are one matrix's M; the batch adds parallel work, not taller tiles
    cost = io_cost(node, 2 * batch * m * k * b.shape[-1], MATRIX, "matmul", (m, k, b.shape[-1]))
    return dataclasses.replace(cost, batched=True)


@register("aten.matmul.default", "aten.mv.default", "aten.dot.default", "aten.vdot.default")
def matmul(node: OpNode) -> OpCost:
    """Broadcasting matmul, matrix-vector, dot: 2 * output elements * K (K contracted)."""
    k = node.args[0].shape[-1]
    a = node.args[0]
    rows = a.shape[-2] if len(a.shape) >= 2 else 1  # NB: one matrix's M, as for bmm
    columns = out(node).shape[-1] if out(node).shape else 1
    return io_cost(node, 2 * out(node).numel * k, MATRIX, "matmul", (rows, k, columns))


# Targets whose argument 6 says whether the convolution is transposed.
_GENERIC_CONV = {"aten.convolution.default", "aten._convolution.default"}
_TRANSPOSED_CONV = {
    "aten.conv_transpose1d.default", "aten.conv_transpose2d.input", "aten.conv_transpose3d.input",
}


@register(
    *sorted(_GENERIC_CONV), *sorted(_TRANSPOSED_CONV),
    "aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default",
    "aten.conv1d.padding", "aten.conv2d.padding", "aten.conv3d.padding",
)
def convolution(node: OpNode) -> OpCost:
    """2 * N * prod(weight shape) * prod(output spatial; input spatial if transposed)."""
    # As FlopCounterMode's conv_flop_count; groups are in the weight's C_in/groups dimension.
    x, w = node.args[0], node.args[1]
    transposed = node.target in _TRANSPOSED_CONV or (node.target in _GENERIC_CONV and bool(node.args[6]))
    spatial_dims = len(w.shape) - 2
    batch = x.shape[0] if len(x.shape) == len(w.shape) else 1  # an unbatched input has no N
    spatial = (x if transposed else out(node)).shape[-spatial_dims:]
    rows = batch * math.prod(spatial)  # the im2col GEMM's M: one row per output position
    # NB: columns are all output channels, the dimension oneDNN vectorises (grouped and
    # depthwise convolutions too: their channel blocks span groups)
    columns = out(node).shape[-spatial_dims - 1]
    depth = math.prod(w.shape[1:])  # C_in / groups x kernel elements per output
    # A depthwise convolution (one input channel per group, several groups) is its own family:
    # oneDNN runs it as a direct vector kernel, not an im2col GEMM, far below conv's rate.
    family = "depthwise" if w.shape[1] == 1 and x.shape[-spatial_dims - 1] > 1 and not transposed else "conv"
    cost = io_cost(node, 2 * batch * math.prod(w.shape) * math.prod(spatial), MATRIX, family, (rows, depth, columns))
    return dataclasses.replace(cost, spatial_dims=spatial_dims)
