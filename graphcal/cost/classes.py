"""Kernel classes: which kind of kernel runs an op, from its cost alone.

A profile calibrates each class on its own (`kernels.<precision>.<class>`, applied by
graphcal.mapper): the kernels behind one class share their loops, so they share an efficiency
curve; two classes do not, and fitting one curve for both lets each pull the other off.

    gemm        linear and matmul of more than one row (BLAS/oneDNN GEMM)
    matvec      linear and matmul of one row (M = 1): a matrix-vector product, memory-bound
    bmm         batched matmul (several GEMMs in one call; aten.bmm even of a batch of one)
    conv        2-D and 3-D convolutions on oneDNN's kernels (direct and 1x1)
    conv1d      1-D convolutions on oneDNN's kernels (audio and sequence models: long rows, few
                input channels, wide windows)
    conv_native convolutions that eager PyTorch runs on ATen's own kernel instead of oneDNN's
                (formulas.matrix.conv_route: small batch-1 inputs, and 1x1 kernels over a few
                images at one thread): no oneDNN primitive to build per call (55-65 us each on
                a Xeon, whatever the size), a BLAS GEMM per image instead
    depthwise   depthwise convolutions
    attention   fused scaled-dot-product attention
    recurrent   the gate arithmetic of a GRU, RNN or LSTM cell that ATen runs step by step, per
                step (about ten small elementwise calls); the cell's GEMMs are `gemm` or
                `matvec` like any linear (OpCost.part: formulas.recurrent.stepped_formula)
    lstm        the fused LSTM (oneDNN's RNN primitive), whole
    pool1d, pool2d, pool3d   windowed pooling, by dimension count; adaptive_pool
    elementwise arithmetic and comparisons of two or more tensors (x + y, a mask's where)
    elementwise_scalar  of a tensor and a Python number (x + 1e-6, x * 0.125): ATen wraps the
                number into a tensor at every call, a fixed cost the others do not pay (on a
                Zen 5 EPYC, add on 4,096 elements: 2.5 us with a number, 1.4 us with a tensor)
    elementwise_unary   of one tensor (rsqrt, neg, x ** 2, clamp(x, 0, 6)): one operand to read
                and no wrapping
    norm, softmax, activation, reduction, embedding, copy (data movement)
    tanh, exp, gelu_tanh     activations whose kernels run at speeds of their own, unlike the
                rest of `activation` (OpCost.function): on a Zen 5 EPYC, 2 threads, 393k
                elements, sigmoid, SiLU and GELU take 2.6x relu's time, exp 7x, GELU's tanh
                approximation 14x, tanh 24x (benchmarks/activation_costs.py)
"""

from __future__ import annotations

from graphcal.cost.registry import OpCost, OpKind
from graphcal.hardware.profile import KERNEL_CLASSES, MATRIX_CLASSES
from graphcal.precision import Precision

__all__ = [
    "DRAM_FETCH_CLASSES", "KERNEL_CLASSES", "KINDRED_CLASSES", "MATRIX_CLASSES", "SERIAL_CLASSES", "gemm_count",
    "kernel_class", "runs_native",
]

# family -> class, for the families whose class does not depend on shape
_BY_FAMILY = {
    "depthwise": "depthwise", "attention": "attention", "recurrent": "recurrent", "lstm": "lstm",
    "adaptive_pool": "adaptive_pool", "norm": "norm", "softmax": "softmax", "activation": "activation",
    "elementwise": "elementwise", "reduction": "reduction", "embedding": "embedding", "memory": "copy",
    "interpolate": "elementwise",
}

# OpCost.function -> class: functions whose kernels share no speed with their family's others
FUNCTION_CLASSES = {"tanh": "tanh", "exp": "exp", "gelu_tanh": "gelu_tanh"}

# class -> the class whose table prices its ops where a profile has none of its own (one fitted
# with a single elementwise table, or on rows that held none of its ops); such ops are reported
# extrapolated (mapper.kernel_terms)
KINDRED_CLASSES = {"elementwise_scalar": "elementwise", "elementwise_unary": "elementwise"}

# classes whose memory share is fitted on weights in the caches: weights beyond the last-level
# cache are fetched at the DRAM bandwidth, before the arithmetic (cold_rate 1 where their table
# states none; mapper.kernel_terms). oneDNN reorders a convolution's weights into its blocked
# layout at every eager call, and the reorder reads them first
DRAM_FETCH_CLASSES = frozenset({"conv", "conv1d", "conv_native", "depthwise"})

# classes with a cold_rate whose kernels stream their weights beyond the last-level cache with the
# arithmetic (mapper.class_memory_time): a matrix-vector product reads each weight once, as it
# multiplies it, where BLAS packs a GEMM's weights before computing on them
STREAMED_COLD_CLASSES = frozenset({"matvec"})

# classes whose compute and memory times add instead of overlapping (mapper.serial_time): each
# step of oneDNN's LSTM streams the layer's hidden weights, then multiplies a few rows by them.
# Measured on a Zen 5 EPYC (nn.LSTM, hidden 256-1536, batch 1-32, 32 steps, fp32 and bf16, 1 and
# 2 threads): a step's time fitted as the sum 6-9% MAPE, as the max() 9-14%
SERIAL_CLASSES = frozenset({"lstm"})


def gemm_count(cost: OpCost) -> float:
    """How many M x K x N GEMMs the op's FLOPs make (1 for linear; the batch of a bmm)."""
    one = 2.0 * cost.rows * cost.depth * cost.columns
    return cost.flops / one if one else 0.0


def runs_native(cost: OpCost, threads: int, precision: Precision) -> bool:
    """Whether a convolution runs on ATen's own kernel rather than oneDNN's: in fp32 as its
    conv_route says at `threads`; in fp64 always (oneDNN has no fp64 convolution); in bf16 and
    fp16 never (oneDNN's, on a CPU that runs them natively: the only one a profile calibrates
    them on)."""
    if not cost.conv_route or precision in (Precision.BF16, Precision.FP16):
        return False
    if precision is Precision.FP64:
        return True
    return cost.conv_route == "native" or (cost.conv_route == "native-one-thread" and threads == 1)


def kernel_class(cost: OpCost, threads: int, precision: Precision) -> str:
    """The op's kernel class (KERNEL_CLASSES) when it runs on `threads` threads in `precision`;
    'other' for a family no class covers."""
    if cost.function in FUNCTION_CLASSES:
        return FUNCTION_CLASSES[cost.function]
    family = cost.family
    if family == "recurrent" and cost.kind is OpKind.MATRIX:  # a stepped cell's GEMMs (OpCost.part)
        family = "linear"
    if family in ("conv", "depthwise") and runs_native(cost, threads, precision):
        return "conv_native"
    if family in ("linear", "matmul"):
        if family == "matmul" and (cost.batched or gemm_count(cost) > 1.5):
            return "bmm"
        return "matvec" if cost.kind is OpKind.MATRIX and cost.rows == 1 else "gemm"
    if family == "conv":
        return "conv1d" if cost.spatial_dims == 1 else "conv"
    if family == "pool":
        return f"pool{cost.spatial_dims}d" if cost.spatial_dims in (1, 2, 3) else "pool2d"
    if family == "elementwise" and cost.operands:
        return f"elementwise_{cost.operands}"
    return _BY_FAMILY.get(family, "other")
