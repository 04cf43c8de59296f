"""One registry of per-op cost formulas, keyed by the op as `str(node.target)` prints it.

FLOP convention: one multiply-add is 2 FLOPs (PyTorch's FlopCounterMode does the same).
Bytes: every tensor the op reads (activations and weights) plus every tensor it writes, at the
tensors' own dtypes. Ops in FREE_OPS cost nothing; an in-place op (`aten.relu_.default`) with
no entry of its own is costed as its out-of-place twin (`costed_as`); any other op without a
formula is reported as unsupported, never costed as zero in silence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum

from graphcal.errors import GraphcalError
from graphcal.hardware.allocator import DEFAULT_HEAP
from graphcal.load.graph import OpGraph, OpNode


class OpKind(str, Enum):
    """Which compute rate the mapper applies: matrix units or vector (elementwise) code."""

    MATRIX = "matrix"
    VECTOR = "vector"


@dataclass(frozen=True)
class OpCost:
    flops: float = 0.0
    bytes_read: float = 0.0
    bytes_written: float = 0.0
    kind: OpKind = OpKind.VECTOR
    family: str = "other"  # op class for reports: linear, conv, attention, elementwise, ...
    # matrix ops: the GEMM's M x K x N (rows, contracted depth, columns); 0 for vector ops
    rows: int = 0
    depth: int = 0
    columns: int = 0
    # kernel calls one after another: a recurrent op's time steps x layers (1 for any other op)
    steps: int = 1
    # Of bytes_read, those read from the model's state (weights, buffers, a KV cache), and the
    # bytes of state the whole model reads between two reads of them (OpGraph.persistent_bytes):
    # set by cost_graph, 0 where the op's graph is unknown
    state_bytes: float = 0.0
    reuse_bytes: float = 0.0
    # windowed ops (pooling, convolution): the window's dimension count, 1 for max_pool1d and
    # conv1d (0 elsewhere)
    spatial_dims: int = 0
    # recurrent ops: the weight-matrix bytes each of the `steps` calls reads again (one layer's)
    step_bytes: float = 0.0
    # a batched matrix call (aten.bmm, baddbmm): the batched kernel, whatever its batch
    batched: bool = False
    # a convolution in fp32: which kernel eager PyTorch runs it on (formulas.matrix.conv_route:
    # "onednn", "native", or "native-one-thread": native at one thread, oneDNN at more); "" elsewhere
    conv_route: str = ""
    # bytes of the pages the C allocator faults in for the op's tensors on every call of its
    # graph (cost.allocations.call_faults): set by cost_graph, 0 where the op's graph is unknown
    fault_bytes: int = 0
    # a vector op whose function PyTorch runs on a kernel of its own speed, unlike its family's
    # others (classes.FUNCTION_CLASSES: tanh, exp, the tanh approximation of GELU); "" elsewhere
    function: str = ""
    # one of the calls an op makes that a kernel class of its own prices (a GRU's input
    # projection, its hidden steps, its gates: formulas.recurrent.stepped_formula); "" for a
    # whole op
    part: str = ""
    # a pointwise op (elementwise arithmetic, activations): the elements of its iteration space
    # (its output, broadcast), which ATen splits between threads (mapper.kernel_threads); 0 for an
    # op that divides its work otherwise
    pointwise_elements: int = 0
    # an elementwise op's operands: "unary" (one tensor), "scalar" (one tensor and a Python
    # number, which ATen wraps into a tensor at every call), "" (two or more tensors; any other op)
    operands: str = ""
    # the bytes the graph moves between the op's previous call and this one (cost.reuse): how far
    # out of the caches its code and runtime state were pushed; set by cost_graph
    code_reuse_bytes: float = 0.0

    @property
    def bytes(self) -> float:
        return self.bytes_read + self.bytes_written

    def __add__(self, other: OpCost) -> OpCost:
        return OpCost(
            self.flops + other.flops,
            self.bytes_read + other.bytes_read,
            self.bytes_written + other.bytes_written,
            self.kind,
            self.family,
            max(self.rows, other.rows),
            max(self.depth, other.depth),
            max(self.columns, other.columns),
            max(self.steps, other.steps),
            self.state_bytes + other.state_bytes,
            max(self.reuse_bytes, other.reuse_bytes),
            max(self.spatial_dims, other.spatial_dims),
            max(self.step_bytes, other.step_bytes),
            self.batched or other.batched,
            self.conv_route or other.conv_route,
            self.fault_bytes + other.fault_bytes,
        )


# A formula gives one cost, or a tuple of parts for an op that runs as several kernels
Formula = Callable[[OpNode], "OpCost | tuple[OpCost, ...]"]
FORMULAS: dict[str, Formula] = {}


def register(*targets: str) -> Callable[[Formula], Formula]:
    """Register one formula for several op targets; a second registration of a target is a bug."""

    def wrap(formula: Formula) -> Formula:
        taken = [t for t in targets if t in FORMULAS or t in FREE_OPS]
        if taken or len(set(targets)) != len(targets):
            raise RuntimeError(f"cost formula registered twice (or for a free op): {taken or targets}")
        for target in targets:  # checked first, so a refused call registers nothing
            FORMULAS[target] = formula
        return formula

    return wrap


# Ops that move no data and do no arithmetic in eager PyTorch, listed one by one so nothing is
# free by accident. A copy (clone, contiguous, cat, _to_copy, lift_fresh_copy) is not here.
FREE_OPS: frozenset[str] = frozenset(
    {
        # Tuple indexing of a multi-output op.
        "<built-in function getitem>",
        # Views: a new shape or stride over the same storage.
        # NB: reshape and flatten copy a non-contiguous input; the export-level graph (no strides)
        # cannot tell, while the decomposed graph shows such a copy as an explicit clone.
        "aten.view.default", "aten._unsafe_view.default", "aten._reshape_alias.default",
        "aten.reshape.default", "aten.view_as.default", "aten.flatten.using_ints",
        "aten.unflatten.int", "aten.squeeze.dim", "aten.squeeze.dims", "aten.squeeze.default",
        "aten.unsqueeze.default", "aten.expand.default", "aten.expand_as.default",
        "aten.permute.default", "aten.transpose.int", "aten.t.default", "aten.numpy_T.default",
        "aten.movedim.int", "aten.as_strided.default", "aten.diagonal.default", "aten.unfold.default",
        "aten.select.int", "aten.slice.Tensor", "aten.narrow.default",
        "aten.split.Tensor", "aten.split_with_sizes.default", "aten.unsafe_split.Tensor",
        "aten.unsafe_split_with_sizes.default", "aten.chunk.default", "aten.unsafe_chunk.default",
        "aten.unbind.int", "aten.alias.default", "aten.detach.default",
        # In-place metadata changes (TorchScript's GRU runs transpose_ on its weights).
        "aten.transpose_.default", "aten.t_.default", "aten.squeeze_.dim", "aten.unsqueeze_.default",
        "aten.reshape_as.default", "aten.swapaxes.default", "aten.swapdims.default", "aten.moveaxis.int",
        "aten.swapaxes_.default", "aten.swapdims_.default",
        # Identity in eval mode: graphcal costs inference graphs, traced in eval (the in-place
        # forms too: nn.Dropout(inplace=True) returns its input untouched in eval).
        "aten.dropout.default", "aten.feature_dropout.default", "aten.alpha_dropout.default",
        "aten.dropout_.default", "aten.feature_dropout_.default", "aten.alpha_dropout_.default",
        # Shape queries and assertions: no tensor data touched.
        "aten.sym_size.int", "aten.sym_numel.default", "aten.sym_stride.int",
        "aten.size.int", "aten.size.default", "aten.numel.default", "aten.dim.default",
        "aten.stride.int", "aten.stride.default",  # TorchScript's shape queries
        "aten._assert_tensor_metadata.default", "aten._assert_scalar.default",
    }
)


@dataclass
class GraphCost:
    """Costed ops in graph order (an op of several parts once per part), and the targets that
    had no formula with their counts."""

    ops: list[tuple[OpNode, OpCost]] = field(default_factory=list)
    unsupported: Counter = field(default_factory=Counter)
    # whether the allocator's faults come from a replay of the whole call (False: of each op
    # alone, where the graph records no data flow; cost.allocations.call_faults)
    call_replayed: bool = True

    @property
    def total(self) -> OpCost:
        return sum((cost for _, cost in self.ops), OpCost())


def costed_as(target: str) -> str:
    """The target whose formula (or place in FREE_OPS) costs `target`: itself, or for an
    in-place op `aten.NAME_.OVERLOAD` with no entry of its own, `aten.NAME.OVERLOAD`."""
    if target in FORMULAS or target in FREE_OPS:
        return target
    # NB: an in-place op does its out-of-place twin's arithmetic and writes a result of the same
    # shape into its first input, so it reads and writes the same bytes; only the allocation of
    # the output is saved, which the per-op overhead holds
    if is_in_place(target):
        parts = target.split(".")
        twin = ".".join((parts[0], parts[1][:-1], parts[2]))
        if twin in FORMULAS or twin in FREE_OPS:
            return twin
    return target


def is_costed(target: str) -> bool:
    """Whether `target` has a formula or is free, directly or as the in-place form of one."""
    twin = costed_as(target)
    return twin in FORMULAS or twin in FREE_OPS


def cost_node(node: OpNode) -> OpCost | tuple[OpCost, ...] | None:
    """The cost of one op, or of each of its parts (OpCost.part); None for a free op. Raises
    KeyError for an op without a formula."""
    _load_formulas()
    target = costed_as(node.target)
    if target in FREE_OPS:
        return None
    formula = FORMULAS[target]
    try:
        return formula(node)
    except (IndexError, TypeError, ValueError) as exc:
        raise GraphcalError(
            f"cannot cost {node.name} ({node.target}): unexpected arguments ({exc})"
        ) from None


def _load_formulas() -> None:
    """Import the formula modules, which fill FORMULAS (deferred: they import this module)."""
    from graphcal.cost import formulas  # noqa: F401


def cost_graph(graph: OpGraph, heap: str = DEFAULT_HEAP) -> GraphCost:
    """Every op's cost, with the bytes it reads from the model's state and the graph's state
    bytes (their reuse distance), the reuse distance of its code (cost.reuse), and on its last
    part the pages the allocator faults in for it on every call from the `heap` state
    (cost.allocations.call_faults)."""
    from graphcal.cost.allocations import call_faults  # NB: deferred, they import this module
    from graphcal.cost.reuse import code_reuse_bytes

    _load_formulas()
    result = GraphCost()
    last_part: dict[int, int] = {}  # node index -> the position of its last part in result.ops
    for index, node in enumerate(graph.nodes):
        if not is_costed(node.target):
            result.unsupported[node.target] += 1
            continue
        cost = cost_node(node)
        if cost is None:
            continue
        if isinstance(cost, OpCost):
            result.ops.append((node, with_state(node, cost, graph.persistent_bytes)))
        else:  # parts state their own state bytes
            result.ops += [(node, replace(part, reuse_bytes=float(graph.persistent_bytes) if part.state_bytes else 0.0))
                           for part in cost]
        last_part[index] = len(result.ops) - 1
    faults, result.call_replayed = call_faults(graph, {i: result.ops[at][1] for i, at in last_part.items()}, heap)
    for index, at in last_part.items():
        if faults.get(index):
            node, cost = result.ops[at]
            result.ops[at] = (node, replace(cost, fault_bytes=faults[index]))
    reuse = code_reuse_bytes(graph, result.ops)
    result.ops = [(node, replace(cost, code_reuse_bytes=reuse[node.name])) for node, cost in result.ops]
    return result


def is_in_place(target: str) -> bool:
    """Whether `target` is an in-place op, `aten.NAME_.OVERLOAD`: it writes into its first input."""
    parts = target.split(".")
    return len(parts) == 3 and parts[1].endswith("_") and not parts[1].endswith("__")


def with_state(node: OpNode, cost: OpCost, graph_state_bytes: int) -> OpCost:
    """`cost` with state_bytes (its persistent inputs, at most what it reads: a gather reads
    only its rows of a table) and reuse_bytes set."""
    state = sum(t.nbytes for t in node.inputs if t.persistent)
    if not state:
        return cost
    return replace(cost, state_bytes=float(min(state, cost.bytes_read)), reuse_bytes=float(graph_state_bytes))
