"""How far apart a graph's run places two calls of one op: the reuse distance of the code and
the runtime state (dispatch tables, the kernel's own code and constants) that run it.

A graph runs call after call, so an op's previous call is the last earlier op of its target in
the same call, or else its last one in the call before. The bytes the ops from that call to
this one move (read and written, that call's included) push the op's code and state out of the
caches: a small op behind a layer's worth of weights runs several microseconds slower than the
same op behind a few activations (mapper.rewarm_share prices it). An op cut out of its model (an
in-model sweep row) carries the distance its model gave it (OpGraph.code_reuse).
"""

from __future__ import annotations

from graphcal.cost.registry import OpCost
from graphcal.load.graph import OpGraph, OpNode


def code_reuse_bytes(graph: OpGraph, ops: list[tuple[OpNode, OpCost]]) -> dict[str, float]:
    """Each costed node's reuse distance in bytes, by node name: as `graph` recorded it, else
    the bytes moved from its target's previous call (the op's own bytes where it is its graph's
    only call of that target, and its graph's only op)."""
    moved: dict[str, float] = {}
    order: list[OpNode] = []
    for node, cost in ops:  # an op of several parts moves the bytes of all of them
        if node.name not in moved:
            order.append(node)
        moved[node.name] = moved.get(node.name, 0.0) + moved_bytes(node, cost)
    before = [0.0]
    for node in order:
        before.append(before[-1] + moved[node.name])
    total = before[-1]
    last = {node.target: i for i, node in enumerate(order)}
    previous: dict[str, int] = {}
    distance: dict[str, float] = {}
    for i, node in enumerate(order):
        j = previous.get(node.target)
        distance[node.name] = before[i] - before[j] if j is not None else total - before[last[node.target]] + before[i]
        previous[node.target] = i
    return {name: float(graph.code_reuse.get(name, value)) for name, value in distance.items()}


def moved_bytes(node: OpNode, cost: OpCost) -> float:
    """The bytes an op moves through the caches: those it reads and writes, and for a GEMM of
    several rows (linear, matmul; not batched) the packed copy of its K x N matrix that BLAS
    writes and reads back. On a Zen 5 EPYC, a 4-element rsqrt took 6.1 us after a GEMM of 32
    rows on 11.5 MB of weights, 2.8 us after the matrix-vector product on them; inside an LLM's
    decode step of batch 4 the norms and pointwise ops ran 1.5-2.5x their time at batch 1, on the
    same weights; and counting the copy took the fit's held-out models' rows from 26.0% to 20.6%
    (docs/model.md)."""
    packs = cost.family in ("linear", "matmul") and cost.rows > 1 and not cost.batched and node.outputs
    if not packs:
        return cost.bytes
    element = node.outputs[0].nbytes / max(node.outputs[0].numel, 1)
    return cost.bytes + 2.0 * cost.depth * cost.columns * element
