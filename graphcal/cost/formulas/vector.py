"""Vector ops: elementwise arithmetic and comparisons, activations, normalisations, softmax,
reductions, pooling and interpolation. FLOPs per element come from one table
(graphcal.cost.formulas.common); bytes are every input read and every output written.
"""

from __future__ import annotations

import dataclasses
import math

from graphcal.cost.formulas.common import (
    AFFINE,
    ARITH,
    NORMALIZE,
    SOFTMAX,
    TRANSCENDENTAL,
    VECTOR,
    io_cost,
    out,
    overloads,
    per_element,
)
from graphcal.cost.registry import OpCost, register
from graphcal.load.graph import OpNode

# Binary and unary arithmetic, comparisons, selection: ARITH per output element.
per_element("elementwise", ARITH, (
    *overloads("add sub mul div", "Tensor", "Scalar", inplace=True),
    *overloads("div", "Tensor_mode", "Scalar_mode", inplace=True),
    *overloads("rsub", "Tensor", "Scalar"),
    *overloads("remainder fmod eq ne lt le gt ge bitwise_and bitwise_or bitwise_xor", "Tensor", "Scalar",
               inplace=True),
    *overloads("__and__ __or__ __xor__", "Tensor", "Scalar"),
    *overloads("pow", "Tensor_Scalar", "Tensor_Tensor"), "aten.pow.Scalar", "aten.diff.default",
    *overloads("masked_fill", "Scalar", "Tensor", inplace=True),
    *overloads("where", "self", "ScalarOther", "ScalarSelf", "Scalar"),
    *overloads("maximum minimum floor_divide logical_and logical_or logical_xor", "default"),
    *overloads("clamp", "default", "Tensor", inplace=True),
    *overloads("clamp_min clamp_max", "default", inplace=True),
    *overloads("neg abs sqrt rsqrt reciprocal floor ceil round trunc sign square logical_not bitwise_not",
               "default", inplace=True),
))

# NB: addcmul / addcdiv / lerp: a multiply (or divide) and an add: 2 FLOPs per element.
per_element("elementwise", 2 * ARITH, (
    *overloads("addcmul addcdiv", "default", inplace=True), *overloads("lerp", "Scalar", "Tensor", inplace=True),
))

# Piecewise-linear activations: ARITH per element.
per_element("activation", ARITH, overloads(
    "relu relu6 hardtanh hardsigmoid hardswish leaky_relu threshold", "default", inplace=True,
))

# Activations and functions built on exp/tanh/erf: TRANSCENDENTAL per output element. tanh, exp
# and GELU's tanh approximation name their function: each runs on a kernel of its own speed
# (classes.FUNCTION_CLASSES).
per_element("activation", TRANSCENDENTAL, overloads(
    "silu sigmoid exp2 log log2 log1p expm1 erf sin cos elu selu celu mish logit", "default", inplace=True,
) + ("aten.softplus.default", "aten.glu.default"))
per_element("activation", TRANSCENDENTAL, overloads("tanh", "default", inplace=True), function="tanh")
per_element("activation", TRANSCENDENTAL, overloads("exp", "default", inplace=True), function="exp")


@register(*overloads("gelu", "default", inplace=True))
def gelu(node: OpNode) -> OpCost:
    """GELU: TRANSCENDENTAL per output element; approximate='tanh' is function gelu_tanh."""
    cost = dataclasses.replace(io_cost(node, TRANSCENDENTAL * out(node).numel, VECTOR, "activation"),
                               pointwise_elements=out(node).numel)
    return dataclasses.replace(cost, function="gelu_tanh") if node.arg(1, "approximate", "none") == "tanh" else cost


# Layer, group, RMS and instance norm: NORMALIZE per element.
per_element("norm", NORMALIZE, overloads(
    "layer_norm native_layer_norm group_norm native_group_norm rms_norm _fused_rms_norm instance_norm",
    "default",
))

# NB: batch norm is costed as in eval mode, a per-channel scale and shift (the graphs are
# traced in eval); the training variants that compute statistics are not registered.
per_element("norm", AFFINE, overloads(
    "batch_norm native_batch_norm _native_batch_norm_legit_no_training _batch_norm_no_update", "default",
))

per_element("softmax", SOFTMAX, (
    *overloads("softmax log_softmax", "int"), *overloads("_softmax _log_softmax _safe_softmax", "default"),
), doc="Softmax: max, subtract, exp, sum, divide: 4 ARITH + 1 TRANSCENDENTAL per element.")

# Reductions: ARITH per input element read (comparisons for max/argmax, adds for sum/mean).
per_element("reduction", ARITH, (
    *overloads("sum mean amax amin max min argmax argmin any all prod equal", "default"),
    "aten.sum.dim_IntList", "aten.mean.dim",
    *overloads("max min", "dim"), *overloads("any all", "dim", "dims"), "aten.prod.dim_int",
    "aten.cumsum.default", "aten.cumsum_.default", "aten.topk.default",
    "aten.linalg_vector_norm.default", "aten.norm.ScalarOpt_dim", "aten.norm.Scalar",
), count="input")

# NB: variance and standard deviation: subtract, square, accumulate: 3 FLOPs per input element.
per_element("reduction", 3 * ARITH, overloads(
    "var var_mean std std_mean", "correction",
), count="input")

# NB: logsumexp: an exp per element plus the sum.
per_element("reduction", TRANSCENDENTAL + ARITH, overloads("logsumexp", "default"), count="input")


def _dims(node: OpNode) -> int:
    """A pooling op's dimension count, from its name (max_pool2d: 2)."""
    return int(node.target.split(".")[1].split("pool")[1][0])


def _window(node: OpNode) -> int:
    """Elements in one pooling window."""
    dims = _dims(node)
    kernel = node.arg(1, "kernel_size")
    kernel = list(kernel) if isinstance(kernel, (list, tuple)) else [kernel]
    return math.prod(kernel * dims if len(kernel) == 1 else kernel)


@register(
    *overloads("max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d", "default"),
    *overloads("max_pool2d_with_indices max_pool3d_with_indices", "default"),
)
def pool(node: OpNode) -> OpCost:
    """Windowed pooling: ARITH per window element per output element."""
    # NB: a window that overlaps the padding is counted whole.
    cost = io_cost(node, _window(node) * out(node).numel * ARITH, VECTOR, "pool")
    return dataclasses.replace(cost, spatial_dims=_dims(node))


# NB: adaptive pooling reads each input element into about one window: ARITH per input element.
per_element("adaptive_pool", ARITH, overloads(
    "adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d _adaptive_avg_pool2d _adaptive_avg_pool3d "
    "adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d", "default",
), count="input")

# NB: bilinear interpolation: four taps, a multiply-add each: 8 FLOPs per output element.
per_element("interpolate", 8 * ARITH, overloads("upsample_bilinear2d", "vec", "default"))

# Bicubic interpolation, per output element: 16 taps (4 x 4), a multiply-add each (32 FLOPs),
# plus the 8 cubic-convolution weights (4 along each axis), each a cubic in Horner form: 3
# multiply-adds (48 FLOPs). NB: ATen shares an output row's y-weights across its columns, so
# the weights are an upper bound; the input is counted as read once, the output written once.
BICUBIC_TAPS = 16
BICUBIC_WEIGHTS = 8
per_element("interpolate", (BICUBIC_TAPS * 2 + BICUBIC_WEIGHTS * 3 * 2) * ARITH,
            overloads("upsample_bicubic2d", "vec", "default"),
            doc="bicubic interpolation: per output element, 16 taps of a multiply-add and 8 cubic weights "
            "of 3 multiply-adds each (80 FLOP); the input read once, the output written once.")
