"""einsum, costed from its contraction.

The equation is parsed (spaces, `...` broadcasting and the implicit output of an equation
without `->` included) and the operands are contracted pairwise, left to right, as
torch.einsum does without opt_einsum. Each pairwise step costs 2 FLOPs per combination of the
distinct indices of its two operands (a multiply-add per term). Bytes: every operand read once
and the result written once (the intermediates of a 3+-operand einsum are not counted).
"""

from __future__ import annotations

import math

from graphcal.cost.formulas.common import ARITH, MATRIX, VECTOR, io_cost
from graphcal.cost.registry import OpCost, register
from graphcal.load.graph import OpNode, TensorMeta

ELLIPSIS = "..."


def subscripts(equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[list[str]], list[str], dict[str, int]]:
    """(each operand's index labels, the output's labels, each label's size) of an equation.
    Labels of `...` dimensions are `@0` (the last broadcast dimension), `@1`, ... so that they
    align from the right, as broadcasting does."""
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum {equation!r} names {len(terms)} operands, got {len(shapes)}")
    ellipsis_dims = max((len(s) - len(t.replace(ELLIPSIS, "")) for t, s in zip(terms, shapes) if ELLIPSIS in t),
                        default=0)
    operands, sizes = [], {}
    for term, shape in zip(terms, shapes):
        labels = _labels(term, len(shape))
        if len(labels) != len(shape):
            raise ValueError(f"einsum term {term!r} does not match a tensor of {len(shape)} dimensions")
        for label, size in zip(labels, shape):
            sizes[label] = max(sizes.get(label, 1), size)  # NB: a size-1 dimension broadcasts
        operands.append(labels)
    if arrow:
        output = _labels(rhs, len(rhs.replace(ELLIPSIS, "")) + ellipsis_dims)
    else:  # implicit: broadcast dimensions, then the letters used once, in alphabetical order
        letters = [label for labels in operands for label in labels if not label.startswith("@")]
        output = _labels(ELLIPSIS, ellipsis_dims) + sorted(c for c in set(letters) if letters.count(c) == 1)
    return operands, output, sizes


def _labels(term: str, ndim: int) -> list[str]:
    if ELLIPSIS not in term:
        return list(term)
    before, after = term.split(ELLIPSIS)
    broadcast = ndim - len(before) - len(after)
    return list(before) + [f"@{broadcast - 1 - i}" for i in range(broadcast)] + list(after)


def contraction(equation: str, shapes: list[tuple[int, ...]]) -> tuple[float, tuple[int, int, int]]:
    """(FLOPs, the M x K x N of the largest pairwise step) of contracting the operands left to
    right; one operand: ARITH per input combination if it sums an index, else 0 (a permute or
    a diagonal)."""
    operands, output, sizes = subscripts(equation, shapes)

    def size(labels) -> int:
        return math.prod(sizes[label] for label in labels)

    current = operands[0]
    if len(operands) == 1:
        summed = set(current) - set(output)
        return (float(ARITH * size(set(current))) if summed else 0.0), (0, 0, 0)
    flops, largest_step, largest = 0.0, 0, (0, 0, 0)
    for i, other in enumerate(operands[1:], start=1):
        union = list(dict.fromkeys(current + other))
        # NB: 2 FLOPs per combination of all distinct indices of the pair, even where an index
        # appears in one operand only and could be summed first (torch does that; rare in models)
        step = 2 * size(union)
        flops += step
        later = set(output).union(*operands[i + 1:])
        kept = [label for label in union if label in later]
        contracted = [label for label in union if label not in later]
        rows = size(label for label in kept if label in current and label not in other)
        columns = size(label for label in kept if label in other and label not in current)
        if step >= largest_step:
            largest_step, largest = step, (rows, size(contracted), columns)
        current = kept
    return float(flops), largest


@register("aten.einsum.default")
def einsum(node: OpNode) -> OpCost:
    """einsum: 2 FLOPs per index combination of each pairwise contraction, left to right."""
    operands = [t for t in node.args[1] if isinstance(t, TensorMeta)]
    flops, gemm = contraction(node.args[0], [t.shape for t in operands])
    if len(operands) == 1:
        return io_cost(node, flops, VECTOR, "reduction")
    # NB: the GEMM shape is the largest step's: batch indices (kept in both operands) add
    # parallel work, not taller tiles, as for bmm
    return io_cost(node, flops, MATRIX, "matmul", gemm)
