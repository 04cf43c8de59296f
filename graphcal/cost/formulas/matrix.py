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
    route = "onednn" if transposed else conv_route(node, batch, spatial_dims)
    return dataclasses.replace(cost, spatial_dims=spatial_dims, conv_route=route)


# (stride, dilation, groups) argument positions of each non-transposed convolution overload
_CONV_ARGS = {target: (3, 5, 8) for target in _GENERIC_CONV} | {
    f"aten.conv{n}d.{overload}": (3, 5, 6) for n in (1, 2, 3) for overload in ("default", "padding")}
NATIVE_MAX_INPUT = 20480  # elements: a smaller batch-1 input with a small kernel stays on ATen's own kernel


def _per_dim(value, n: int) -> list[int]:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    return [int(v) for v in (values * n if len(values) == 1 else values)]


def conv_route(node: OpNode, batch: int, spatial_dims: int) -> str:
    """Which kernel eager PyTorch runs a (non-transposed) fp32 convolution on: oneDNN's, or
    ATen's own (slow_conv2d: im2col and a BLAS GEMM per image, no primitive to build).
    As ATen's ConvParams::use_mkldnn decides (checked against torch's dispatch in
    tests/test_conv_route.py), a 1-D convolution viewed as 2-D with a kernel 1 high: oneDNN
    unless (a) the input is one image of at most NATIVE_MAX_INPUT elements, with one group and
    no kernel over 3 in both dimensions, or (b) at one thread, a 1 x 1 kernel of stride 1 and
    dilation 1 over fewer than 16 images. Returns "native" for (a), "native-one-thread" for (b)
    only, else "onednn"."""
    x, w = node.args[0], node.args[1]
    stride_at, dilation_at, groups_at = _CONV_ARGS[node.target]
    stride = _per_dim(node.arg(stride_at, "stride", 1), spatial_dims)
    dilation = _per_dim(node.arg(dilation_at, "dilation", 1), spatial_dims)
    groups = int(node.arg(groups_at, "groups", 1))
    kernel = ([1] if spatial_dims == 1 else []) + list(w.shape[2:])
    # NB: the input's first four dimensions, as ATen counts them (a 1-D input viewed as 2-D)
    elements = math.prod(([batch] if len(x.shape) == len(w.shape) else [1]) + list(x.shape[-spatial_dims - 1:])[:3])
    large_window = kernel[-1] > 3 and kernel[-2] > 3
    if groups == 1 and not large_window and batch == 1 and elements <= NATIVE_MAX_INPUT:
        return "native"
    pointwise = kernel[-1] == 1 and kernel[-2] == 1 and max(stride) == 1 and max(dilation) == 1 and batch < 16
    return "native-one-thread" if pointwise else "onednn"
