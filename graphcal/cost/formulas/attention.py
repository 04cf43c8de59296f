"""Attention: scaled_dot_product_attention and its CPU kernels, and the fused eval fast paths
of torch.nn (nn.MultiheadAttention's aten._native_multi_head_attention and
nn.TransformerEncoderLayer's aten._transformer_encoder_layer_fwd).

FLOPs of the attention core: 2*L*S*D for Q K^T plus 2*L*S*Dv for P V per batch-head, i.e.
4*B*H*L*S*D when Dv = D. (FlopCounterMode counts this op as 0 on CPU; on GPU it counts the same.)
"""

from __future__ import annotations

import math

from graphcal.cost.formulas.common import (
    ARITH,
    MATRIX,
    NORMALIZE,
    TRANSCENDENTAL,
    io_cost,
)
from graphcal.cost.registry import OpCost, register
from graphcal.load.graph import ITEMSIZE, OpNode, TensorMeta


def attention_flops(q: TensorMeta, k: TensorMeta, v: TensorMeta) -> int:
    """2 * batch-heads * L * S * (D + Dv) for Q (..., L, D), K (..., S, D), V (..., S, Dv)."""
    batch_heads = math.prod(q.shape[:-2])
    return 2 * batch_heads * q.shape[-2] * k.shape[-2] * (q.shape[-1] + v.shape[-1])


@register(
    "aten.scaled_dot_product_attention.default",
    "aten._scaled_dot_product_flash_attention_for_cpu.default",
    "aten._scaled_dot_product_flash_attention.default",
    "aten._scaled_dot_product_efficient_attention.default",
    "aten._scaled_dot_product_attention_math.default",
)
def attention(node: OpNode) -> OpCost:
    """softmax(Q K^T + mask) V: 4*B*H*L*S*D FLOPs; Q, K, V, mask read, outputs written."""
    # NB: the softmax's own work is not counted (nor by FlopCounterMode on GPU).
    # NB: a causal mask is costed as the full L x S product; a flash kernel skips about half.
    q, k, v = node.args[0], node.args[1], node.args[2]
    return io_cost(node, attention_flops(q, k, v), MATRIX, "attention", (q.shape[-2], q.shape[-1], v.shape[-1]))


# --- fused layers, costed as the sum of the kernels they run ------------------------------------

def _gemm(rows: int, k: int, n: int, itemsize: int) -> OpCost:
    """rows x k @ k x n plus a bias: reads input, weight and bias, writes the result."""
    return OpCost(2.0 * rows * k * n, float((rows * k + k * n + n) * itemsize),
                  float(rows * n * itemsize), MATRIX, rows=rows, depth=k, columns=n)


def _core(batch_heads: int, length: int, source: int, depth: int, itemsize: int) -> OpCost:
    """The attention core on Q, K, V of depth `depth` (as `attention` above, without a mask)."""
    read = batch_heads * (length + 2 * source) * depth * itemsize
    return OpCost(4.0 * batch_heads * length * source * depth, float(read),
                  float(batch_heads * length * depth * itemsize), MATRIX, rows=length, depth=depth, columns=depth)


def _pointwise(elements: int, flops_per_element: int, reads: int, extra_read: int, itemsize: int) -> OpCost:
    """`reads` tensors of `elements` (plus `extra_read` parameter elements) in, one tensor out."""
    return OpCost(float(flops_per_element * elements),
                  float((reads * elements + extra_read) * itemsize), float(elements * itemsize), MATRIX)


def _sum(parts: list[OpCost], node: OpNode, extra_inputs: tuple, extra_outputs: tuple) -> OpCost:
    """Total of a fused op's kernels, plus the mask it reads and any extra outputs it writes."""
    # NB: intermediates (projections, hidden activations) count written once and read once.
    # NB: the vector parts (norms, activation, residual adds) go at the matrix rate, since an op
    # has one kind; they are a small fraction of the FLOPs at the usual sizes.
    extra_read = sum(t.nbytes for t in extra_inputs if isinstance(t, TensorMeta))
    extra_written = sum(t.nbytes for t in extra_outputs)
    return OpCost(
        sum(p.flops for p in parts), sum(p.bytes_read for p in parts) + extra_read,
        sum(p.bytes_written for p in parts) + extra_written, MATRIX, "attention",
        min(p.rows for p in parts if p.rows),  # NB: the smallest GEMM sets the shape terms
        min(p.depth for p in parts if p.depth),
        min(p.columns for p in parts if p.columns),
    )


@register("aten._native_multi_head_attention.default")
def native_multi_head_attention(node: OpNode) -> OpCost:
    """nn.MultiheadAttention fast path: Q, K, V projections, attention core, out projection."""
    # NB: with need_weights the kernel runs explicit bmm + softmax; costed the same.
    query, key = node.args[0], node.args[1]
    dim, heads = node.args[3], node.args[4]
    itemsize = ITEMSIZE[query.dtype]
    rows_q, rows_kv = query.numel // dim, key.numel // dim
    batch = math.prod(query.shape[:-2]) if len(query.shape) > 2 else 1
    parts = [
        _gemm(rows_q, dim, dim, itemsize), _gemm(rows_kv, dim, dim, itemsize),
        _gemm(rows_kv, dim, dim, itemsize),
        _core(batch * heads, query.shape[-2], key.shape[-2], dim // heads, itemsize),
        _gemm(rows_q, dim, dim, itemsize),
    ]
    return _sum(parts, node, (node.arg(9, "mask"),), node.outputs[1:])


@register("aten._transformer_encoder_layer_fwd.default")
def transformer_encoder_layer(node: OpNode) -> OpCost:
    """nn.TransformerEncoderLayer fast path: attention, FFN, two residual adds and norms."""
    src, dim, heads = node.args[0], node.args[1], node.args[2]
    use_gelu, ffn = bool(node.args[7]), node.args[14].shape[0]
    itemsize = ITEMSIZE[src.dtype]
    rows = src.numel // dim
    batch = math.prod(src.shape[:-2]) if len(src.shape) > 2 else 1
    residual = _pointwise(rows * dim, ARITH, 2, 0, itemsize)
    norm = _pointwise(rows * dim, NORMALIZE, 1, 2 * dim, itemsize)
    parts = [
        _gemm(rows, dim, 3 * dim, itemsize),
        _core(batch * heads, src.shape[-2], src.shape[-2], dim // heads, itemsize),
        _gemm(rows, dim, dim, itemsize), residual, norm,
        _gemm(rows, dim, ffn, itemsize),
        _pointwise(rows * ffn, TRANSCENDENTAL if use_gelu else ARITH, 1, 0, itemsize),
        _gemm(rows, ffn, dim, itemsize), residual, norm,
    ]
    return _sum(parts, node, (node.arg(18, "mask"),), ())
