"""What the formula families share: bytes from a node's tensors, the per-element factory, and
explicit lists of op overloads.

Conventions (stated once): a multiply-add is 2 FLOPs; bytes are every tensor the op reads
(activations and weights, at their own dtypes) plus every tensor it writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from graphcal.cost.registry import OpCost, OpKind, register
from graphcal.load.graph import OpNode, TensorMeta

MATRIX, VECTOR = OpKind.MATRIX, OpKind.VECTOR


def io_cost(node: OpNode, flops: float, kind: OpKind, family: str, gemm: tuple[int, int, int] = (0, 0, 0)) -> OpCost:
    """Cost that reads every input tensor of `node` once and writes every output once.
    Matrix ops give `gemm`, the M, K, N of their GEMM (see mapper.shape_utilization)."""
    read = sum(t.nbytes for t in node.inputs)
    written = sum(t.nbytes for t in node.outputs)
    rows, depth, columns = (int(d) for d in gemm)
    return OpCost(float(flops), float(read), float(written), kind, family, rows, depth, columns)


def out(node: OpNode) -> TensorMeta:
    """The op's first (main) output."""
    return node.outputs[0]


def overloads(names: str, *suffixes: str, inplace: bool = False) -> tuple[str, ...]:
    """`aten.NAME.SUFFIX` for each whitespace-separated NAME and each suffix; with `inplace`,
    the `NAME_` forms too. tests/test_cost_formulas.py checks every target exists in torch."""
    bases = names.split()
    if inplace:
        bases = [b for name in bases for b in (name, name + "_")]
    return tuple(f"aten.{base}.{suffix}" for base in bases for suffix in suffixes)


# families whose per-element ops ATen runs as one loop over the output's elements (TensorIterator)
POINTWISE_FAMILIES = ("elementwise", "activation")


# binary arithmetic and comparisons: ATen wraps a Python number operand into a 0-dim tensor
BINARY_OPS = frozenset((
    "add sub mul div rsub remainder fmod eq ne lt le gt ge bitwise_and bitwise_or bitwise_xor __and__ __or__ "
    "__xor__ maximum minimum floor_divide logical_and logical_or logical_xor"
).split())


def operand_kind(node: OpNode) -> str:
    """OpCost.operands of an elementwise call: "" where it reads two or more tensors; "scalar"
    where a binary op (BINARY_OPS) takes one tensor and a Python number (x + 1e-6, x * 0.125),
    which ATen wraps into a tensor at every call; else "unary" (one tensor, and constants of
    the kernel's own: x ** 2, clamp(x, 0, 6))."""
    if len(node.inputs) > 1:
        return ""
    name = node.target.split(".")[1]
    name = name[:-1] if name.endswith("_") and not name.endswith("__") else name  # add_ is add
    values = (*node.args, *node.kwargs.values())
    numbers = [a for a in values if isinstance(a, (int, float)) and not isinstance(a, bool)]
    return "scalar" if name in BINARY_OPS and numbers else "unary"


def per_element(
    family: str, flops_per_element: float, targets: tuple[str, ...], count: str = "output",
    doc: str = "", function: str = "",
) -> Callable[[OpNode], OpCost]:
    """Register a vector formula: `flops_per_element` per output (or input) element; bytes are
    all inputs read and all outputs written; `function` names the kernel (OpCost.function). An op
    of POINTWISE_FAMILIES states its output's elements (OpCost.pointwise_elements)."""

    def formula(node: OpNode) -> OpCost:
        if not flops_per_element:  # a copy: bytes only (.item() has no tensor output)
            return io_cost(node, 0, VECTOR, family)
        elements = out(node).numel if count == "output" else node.inputs[0].numel
        cost = io_cost(node, flops_per_element * elements, VECTOR, family)
        if family in POINTWISE_FAMILIES:
            cost = dataclasses.replace(cost, pointwise_elements=out(node).numel)
        if family == "elementwise":
            cost = dataclasses.replace(cost, operands=operand_kind(node))
        return dataclasses.replace(cost, function=function) if function else cost

    formula.__name__ = f"{family}_{count}_{flops_per_element:g}".replace(".", "_")
    formula.__doc__ = doc or f"{family}: {flops_per_element:g} FLOP per {count} element."
    return register(*targets)(formula)


# Per-element FLOPs of vector work, one table for every family (the fused ops reuse it).
ARITH = 1  # NB: add, multiply, compare, select, piecewise-linear activation: 1 FLOP each
TRANSCENDENTAL = 8  # NB: exp, tanh, sigmoid, erf, GELU, SiLU: about a polynomial's worth
NORMALIZE = 5  # NB: layer/group/RMS norm: mean, variance, normalise, scale, shift: 1 each
AFFINE = 2  # eval-mode batch norm: a per-channel scale and shift
SOFTMAX = 4 * ARITH + TRANSCENDENTAL  # max, subtract, exp, sum, divide
