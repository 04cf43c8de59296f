"""Cost formulas for ATen ops, at both the export level (aten.linear) and the decomposed level
(aten.addmm), so a graph costs the same whichever way it was produced.

Each formula takes an OpNode and returns an OpCost. FLOPs: a multiply-add is 2. Bytes: all
tensors read plus all written (`_io`), unless the op is known to touch less (embedding).
"""

from __future__ import annotations

import math

from graphcal.cost.registry import OpCost, OpKind, register
from graphcal.graph import OpNode, TensorMeta

MATRIX, VECTOR = OpKind.MATRIX, OpKind.VECTOR


def _io(node: OpNode, flops: float, kind: OpKind, family: str) -> OpCost:
    read = sum(t.nbytes for t in node.inputs)
    written = sum(t.nbytes for t in node.outputs)
    return OpCost(float(flops), float(read), float(written), kind, family)


def _out(node: OpNode) -> TensorMeta:
    return node.outputs[0]


# --- matrix ops ---------------------------------------------------------------------------------

@register("aten.linear.default")
def linear(node: OpNode) -> OpCost:
    """x (..., IN) @ W(OUT, IN)^T (+ b): 2 * rows * IN * OUT; the bias add is not counted."""
    x, w = node.args[0], node.args[1]
    rows = math.prod(x.shape[:-1])
    return _io(node, 2 * rows * w.shape[1] * w.shape[0], MATRIX, "linear")


@register("aten.addmm.default")
def addmm(node: OpNode) -> OpCost:
    """bias + A(M, K) @ B(K, N): 2 * M * K * N, as FlopCounterMode counts it."""
    a, b = node.args[1], node.args[2]
    return _io(node, 2 * a.shape[0] * a.shape[1] * b.shape[1], MATRIX, "linear")


@register("aten.mm.default")
def mm(node: OpNode) -> OpCost:
    """A(M, K) @ B(K, N): 2 * M * K * N."""
    a, b = node.args[0], node.args[1]
    return _io(node, 2 * a.shape[0] * a.shape[1] * b.shape[1], MATRIX, "matmul")


@register("aten.bmm.default", "aten.baddbmm.default")
def bmm(node: OpNode) -> OpCost:
    """A(B, M, K) @ B(B, K, N): 2 * B * M * K * N."""
    a, b = (node.args[0], node.args[1]) if node.target == "aten.bmm.default" else node.args[1:3]
    batch, m, k = a.shape
    return _io(node, 2 * batch * m * k * b.shape[-1], MATRIX, "matmul")


@register("aten.matmul.default")
def matmul(node: OpNode) -> OpCost:
    """Broadcasting matmul: 2 * (output elements) * K, K the contracted dimension."""
    a = node.args[0]
    k = a.shape[-1]
    return _io(node, 2 * _out(node).numel * k, MATRIX, "matmul")


@register(
    "aten.convolution.default",
    "aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default",
    "aten.conv1d.padding", "aten.conv2d.padding", "aten.conv3d.padding",
    "aten._convolution.default",
    "aten.conv_transpose1d.default", "aten.conv_transpose2d.input", "aten.conv_transpose3d.input",
)
def convolution(node: OpNode) -> OpCost:
    """2 * N * prod(weight shape) * prod(spatial): output spatial for a convolution, input spatial
    for a transposed one (FlopCounterMode's conv_flop_count)."""
    x, w = node.args[0], node.args[1]
    transposed = "transpose" in node.target or (
        node.target in ("aten.convolution.default", "aten._convolution.default") and bool(node.args[6])
    )
    spatial = x.shape[2:] if transposed else _out(node).shape[2:]
    batch = x.shape[0] if len(x.shape) == len(w.shape) else 1  # unbatched conv input
    return _io(node, 2 * batch * math.prod(w.shape) * math.prod(spatial), MATRIX, "conv")


@register(
    "aten.scaled_dot_product_attention.default",
    "aten._scaled_dot_product_flash_attention_for_cpu.default",
    "aten._scaled_dot_product_efficient_attention.default",
    "aten._scaled_dot_product_flash_attention.default",
)
def attention(node: OpNode) -> OpCost:
    """softmax(Q K^T) V with Q (..., L, D), K (..., S, D), V (..., S, Dv): 2*L*S*D + 2*L*S*Dv per
    batch-head, i.e. 4*B*H*L*S*D when Dv = D. NB: the softmax's own work is not counted."""
    q, k, v = node.args[0], node.args[1], node.args[2]
    heads = math.prod(q.shape[:-2])
    length, depth = q.shape[-2], q.shape[-1]
    source = k.shape[-2]
    flops = 2 * heads * length * source * (depth + v.shape[-1])
    read = q.nbytes + k.nbytes + v.nbytes + sum(
        t.nbytes for t in node.inputs[3:]
    )
    return OpCost(float(flops), float(read), float(_out(node).nbytes), MATRIX, "attention")


# --- vector ops ---------------------------------------------------------------------------------

def vector_family(family: str, flops_per_element: float, targets: tuple[str, ...]) -> None:
    """Register ops that do `flops_per_element` per output element and read all inputs."""

    def formula(node: OpNode) -> OpCost:
        return _io(node, flops_per_element * _out(node).numel, VECTOR, family)

    formula.__doc__ = f"{family}: {flops_per_element} FLOP per output element"
    register(*targets)(formula)


def _variants(*names: str) -> tuple[str, ...]:
    """aten.NAME.Tensor / .Scalar / .default and the in-place NAME_ forms."""
    out = []
    for name in names:
        for base in (name, name + "_"):
            out += [f"aten.{base}.Tensor", f"aten.{base}.Scalar", f"aten.{base}.default"]
    return tuple(dict.fromkeys(out))


# NB: one FLOP per element for arithmetic and comparisons.
vector_family("elementwise", 1, _variants(
    "add", "sub", "mul", "div", "rsub", "neg", "abs", "maximum", "minimum", "clamp", "clamp_min",
    "clamp_max", "eq", "ne", "lt", "le", "gt", "ge", "where", "masked_fill", "pow", "sqrt", "rsqrt",
    "reciprocal", "floor", "ceil", "round", "sign", "logical_not", "logical_and", "logical_or",
    "bitwise_not", "bitwise_and", "bitwise_or", "remainder", "fmod", "square",
) + ("aten.div.Tensor_mode", "aten.where.self", "aten.where.ScalarOther", "aten.where.ScalarSelf",
     "aten.pow.Tensor_Scalar",
     "aten.pow.Tensor_Tensor", "aten.addcmul.default", "aten.addcdiv.default",
     "aten.lerp.Scalar"))

# NB: piecewise-linear activations cost 1 FLOP per element.
vector_family("activation", 1, _variants(
    "relu", "relu6", "leaky_relu", "hardtanh", "hardsigmoid", "hardswish", "threshold", "elu",
))

# NB: transcendental activations are counted as 8 FLOPs per element (a polynomial evaluation).
vector_family("activation", 8, _variants(
    "gelu", "silu", "sigmoid", "tanh", "exp", "log", "softplus", "mish", "erf", "sin", "cos",
    "log1p", "expm1", "glu",
))

# Copies and constructors: no arithmetic, only data movement.
vector_family("memory", 0, (
    "aten.clone.default", "aten.contiguous.default", "aten.copy.default", "aten.copy_.default",
    "aten._to_copy.default", "aten.to.dtype", "aten.to.dtype_layout", "aten.to.device",
    "aten.cat.default", "aten.stack.default", "aten.concat.default", "aten.pad.default",
    "aten.constant_pad_nd.default", "aten.repeat.default", "aten.flip.default", "aten.roll.default",
    "aten.index_select.default", "aten.gather.default", "aten.index.Tensor", "aten.tril.default",
    "aten.triu.default", "aten.zeros.default", "aten.ones.default", "aten.full.default",
    "aten.zeros_like.default", "aten.ones_like.default", "aten.full_like.default",
    "aten.empty.memory_format", "aten.new_zeros.default", "aten.new_ones.default",
    "aten.new_full.default", "aten.arange.default", "aten.arange.start", "aten.arange.start_step",
    "aten.fill_.Scalar", "aten.zero_.default", "aten.scalar_tensor.default",
    "aten.slice_scatter.default", "aten.select_scatter.default", "aten.index_put_.default",
    "aten.index_put.default", "aten.repeat_interleave.self_int", "aten.channel_shuffle.default",
    "aten.pixel_shuffle.default", "aten.upsample_nearest2d.vec", "aten.lift_fresh.default",
))

# NB: normalisation: mean, variance, normalise, scale and shift: about 5 FLOPs per element.
vector_family("norm", 5, (
    "aten.layer_norm.default", "aten.native_layer_norm.default", "aten.group_norm.default",
    "aten.native_group_norm.default", "aten.rms_norm.default", "aten.instance_norm.default",
))

# NB: eval-mode batch norm is a per-channel scale and shift: 2 FLOPs per element.
vector_family("norm", 2, (
    "aten.batch_norm.default", "aten._native_batch_norm_legit_no_training.default",
    "aten.native_batch_norm.default", "aten._native_batch_norm_legit.default",
    "aten.cudnn_batch_norm.default",
))

# NB: softmax: max, subtract, exp, sum, divide: about 5 FLOPs per element.
vector_family("softmax", 5, (
    "aten.softmax.int", "aten._softmax.default", "aten.log_softmax.int",
    "aten._log_softmax.default", "aten._safe_softmax.default",
))


def _reduce_formula(family: str):
    def formula(node: OpNode) -> OpCost:
        return _io(node, node.inputs[0].numel, VECTOR, family)

    return formula


reduce = _reduce_formula("reduction")
reduce.__doc__ = "Reductions: one FLOP per element read."
register(
    "aten.sum.default", "aten.sum.dim_IntList", "aten.mean.default", "aten.mean.dim",
    "aten.amax.default", "aten.amin.default", "aten.max.default", "aten.min.default",
    "aten.max.dim", "aten.min.dim", "aten.argmax.default", "aten.argmin.default",
    "aten.var.correction", "aten.var_mean.correction", "aten.std.correction", "aten.norm.ScalarOpt_dim",
    "aten.linalg_vector_norm.default", "aten.cumsum.default", "aten.prod.default", "aten.any.dim",
    "aten.all.dim", "aten.topk.default", "aten.sort.default",
)(reduce)


@register(
    "aten.max_pool1d.default", "aten.max_pool2d.default", "aten.max_pool3d.default",
    "aten.max_pool2d_with_indices.default", "aten.max_pool3d_with_indices.default",
    "aten.avg_pool1d.default", "aten.avg_pool2d.default", "aten.avg_pool3d.default",
)
def pool(node: OpNode) -> OpCost:
    """Windowed pooling: one FLOP per window element per output element."""
    kernel = node.arg(1, "kernel_size")
    window = math.prod(kernel) if isinstance(kernel, (list, tuple)) else kernel ** (len(node.args[0].shape) - 2)
    return _io(node, _out(node).numel * window, VECTOR, "pool")


@register(
    "aten.adaptive_avg_pool1d.default", "aten.adaptive_avg_pool2d.default",
    "aten.adaptive_avg_pool3d.default", "aten._adaptive_avg_pool2d.default",
    "aten._adaptive_avg_pool3d.default", "aten.adaptive_max_pool1d.default",
    "aten.adaptive_max_pool2d.default", "aten.adaptive_max_pool3d.default",
)
def adaptive_pool(node: OpNode) -> OpCost:
    """Adaptive pooling: each input element is read into about one window: 1 FLOP per input."""
    return _io(node, node.args[0].numel, VECTOR, "pool")


@register("aten.embedding.default")
def embedding(node: OpNode) -> OpCost:
    """Row gather: no FLOPs. NB: reads only the gathered rows (as many bytes as it writes) and
    the indices, not the whole table."""
    indices = node.args[1]
    out = _out(node)
    return OpCost(0.0, float(indices.nbytes + out.nbytes), float(out.nbytes), VECTOR, "embedding")
