"""The tensors one call of a model allocates and frees, in the order eager PyTorch runs them, and
the pages glibc faults in for them (graphcal.hardware.allocator).

An op allocates each of its outputs; a view, a tuple index or an in-place op allocates nothing and
keeps its input's tensor alive. A tensor is freed after the last op that reads it (its own, or
through a view), and the call's outputs at its end. A convolution also allocates, for the call,
the buffers its kernel reorders into (`workspace_bytes`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

from graphcal.cost.registry import FREE_OPS, OpCost, is_in_place
from graphcal.hardware.allocator import Allocation, Release, faulted_bytes, heap_state
from graphcal.load.graph import GETITEM, OpGraph, OpNode

CONVOLUTIONS = frozenset({
    "aten.convolution.default", "aten._convolution.default",
    *(f"aten.conv{n}d.{overload}" for n in (1, 2, 3) for overload in ("default", "padding")),
})
# oneDNN keeps an input of at most this many channels in its plain layout (no copy)
PLAIN_INPUT_CHANNELS = 4


def workspace_bytes(node: OpNode, cost: OpCost | None) -> tuple[int, ...]:
    """Bytes of each buffer an op allocates and frees within its call. A convolution on oneDNN
    reorders its weights, its input (of more than PLAIN_INPUT_CHANNELS channels) and its output
    into blocked layouts; on ATen's own kernel (OpCost.conv_route "native"), a kernel larger than
    1 x 1 or a stride unfolds its input (im2col) first."""
    if node.target not in CONVOLUTIONS or len(node.args) < 2 or not node.outputs:
        return ()
    x, w, out = node.args[0], node.args[1], node.outputs[0]
    if cost is not None and cost.conv_route == "native":
        kernel = math.prod(w.shape[2:])
        if kernel == 1 and math.prod(out.shape[2:]) == math.prod(x.shape[2:]):
            return ()
        return (w.shape[1] * kernel * math.prod(out.shape[2:]) * out.nbytes // max(out.numel, 1),)
    # NB: "native-one-thread" is taken as oneDNN: at one thread its 1 x 1 kernel allocates no
    # buffer of its own, and replays do not depend on the thread count
    copies = (x.nbytes,) if x.shape[1] > PLAIN_INPUT_CHANNELS else ()
    return (*copies, w.nbytes, out.nbytes)


def output_names(node: OpNode) -> list[str]:
    """The names other ops' OpNode.sources give the node's outputs: its own, or name.i for each of
    several."""
    return [node.name] if len(node.outputs) == 1 else [f"{node.name}.{i}" for i in range(len(node.outputs))]


def call_events(graph: OpGraph, costs: dict[int, OpCost]) -> list[Allocation | Release] | None:
    """The allocations and frees of one call of `graph`, each owned by its op's index in
    graph.nodes (`costs`: the last cost of each costed op, by index); None where the graph
    records no data flow (OpNode.sources), or names as a producer an op it does not hold. A
    tensor no op reads is the call's output: it stays allocated (faulted_bytes frees it after
    the call)."""
    if any(node.sources is None for node in graph.nodes):
        return None
    made_by_ops = {name for node in graph.nodes for name in output_names(node)}
    if any(s and s not in made_by_ops for node in graph.nodes for s in node.sources):
        return None  # a producer the graph lacks: its data flow is not whole
    single = {node.name for node in graph.nodes if len(node.outputs) == 1}
    tensor_of: dict[str, int] = {}  # an op's output, by its name in OpNode.sources -> its tensor
    keys = itertools.count(1)
    made: dict[int, list[Allocation | Release]] = {}
    last_read: dict[int, int] = {}
    for index, node in enumerate(graph.nodes):
        read = [tensor_of[s] for s in node.sources if s in tensor_of]
        last_read.update({key: index for key in read})
        names = output_names(node)
        if node.target == GETITEM:  # of a multi-output op (its "name.i"), or of an autocast region's result
            picked = f".{node.arg(1, 'index')}"
            read = [tensor_of[s] for s in node.sources if (s.endswith(picked) or s in single) and s in tensor_of]
        if node.target == GETITEM or node.target in FREE_OPS or is_in_place(node.target):
            tensor_of.update({name: read[0] for name in names} if read else {})
            continue
        scratch = [Allocation(next(keys), n, index) for n in workspace_bytes(node, costs.get(index))]
        outputs = []
        for name, meta in zip(names, node.outputs):
            tensor_of[name] = next(keys)
            outputs.append(Allocation(tensor_of[name], meta.nbytes, index))
        made[index] = [*scratch, *outputs, *(Release(a.key) for a in scratch)]
    dying: dict[int, list[int]] = {}
    for key, index in last_read.items():
        dying.setdefault(index, []).append(key)
    return [event for index in range(len(graph.nodes))
            for event in (*made.get(index, ()), *(Release(key) for key in dying.get(index, ())))]


def call_faults(graph: OpGraph, costs: dict[int, OpCost], heap: str) -> tuple[dict[int, int], bool]:
    """Bytes of pages each op (by index) faults in per call from the `heap` state
    (hardware.allocator.HEAPS), and whether the whole call was replayed: where the graph's data
    flow is not whole (call_events), each op is replayed alone, as if timed on its own."""
    start = heap_state(heap, {t.nbytes for node in graph.nodes for t in node.inputs if t.persistent})
    events = call_events(graph, costs)
    if events is not None:
        return faulted_bytes(events, start), True
    faults = {}
    for index, node in enumerate(graph.nodes):
        alone = OpGraph(graph.model, (replace(node, sources=("",) * len(node.inputs)),))
        one = {0: costs[index]} if index in costs else {}
        faults[index] = sum(faulted_bytes(call_events(alone, one) or [], start).values())
    return faults, False
