"""Data movement without arithmetic: copies, concatenation, padding, dtype conversions,
constructors, gathers (embedding, index_select). A copy is never free: it reads and writes.
"""

from __future__ import annotations

from graphcal.cost.formulas.common import VECTOR, out, overloads, per_element
from graphcal.cost.registry import OpCost, register
from graphcal.load.graph import OpNode

# Copies: read every input, write every output, no FLOPs.
# NB: aten.contiguous is counted as a copy; it copies only a non-contiguous input, which the
# graph (shapes, no strides) cannot tell, but export places it after a layout change.
per_element("memory", 0, (
    *overloads("clone contiguous _to_copy lift_fresh_copy cat concat stack constant_pad_nd pad repeat "
               "flip roll tril triu slice_scatter select_scatter index_put pixel_shuffle "
               "pixel_unshuffle channel_shuffle upsample_nearest1d upsample_nearest2d upsample_nearest3d",
               "default"),
    *overloads("tril_ triu_ index_put_ copy_ copy", "default"),
    *overloads("upsample_nearest1d upsample_nearest2d upsample_nearest3d", "vec"),
    "aten.repeat_interleave.self_int", "aten.repeat_interleave.Tensor",
    "aten._local_scalar_dense.default", "aten.item.default",  # .item(): reads one element
    "aten._reshape_copy.default",  # a reshape of a tensor no view can describe (load.trace)
), doc="Copy: reads its inputs and writes its outputs, no FLOPs.")

# Constructors and fills: write their output, read nothing (a fill reads no data either).
per_element("memory", 0, (
    *overloads("zeros ones full zeros_like ones_like full_like new_zeros new_ones new_full "
               "scalar_tensor zero_ zero", "default"),
    *overloads("arange", "default", "start", "start_step"),
    *overloads("fill fill_", "Scalar", "Tensor"),
), doc="Constructor: writes its output, no FLOPs.")


@register(*overloads("empty_like new_empty empty_strided", "default"), "aten.empty.memory_format")
def allocation(node: OpNode) -> OpCost:
    """Uninitialised allocation: no FLOPs and no bytes (nothing is read or written)."""
    # NB: the allocator's own time is left to the per-op overhead.
    return OpCost(0.0, 0.0, 0.0, VECTOR, "memory")


@register(*overloads("to", "dtype", "dtype_layout", "device", "other"), "aten.type_as.default")
def conversion(node: OpNode) -> OpCost:
    """Tensor.to / type_as: a copy if the dtype changes or copy=True, else free (returns self)."""
    # NB: a device change alone is assumed not to happen on a CPU graph.
    source = node.args[0]
    copies = bool(node.arg(4 if node.target == "aten.to.device" else 3, "copy", False))
    if out(node).dtype == source.dtype and not copies:
        return OpCost(0.0, 0.0, 0.0, VECTOR, "memory")
    return OpCost(0.0, float(source.nbytes), float(out(node).nbytes), VECTOR, "memory")


@register(
    "aten.embedding.default", "aten.index_select.default", "aten.gather.default",
    "aten.index.Tensor", "aten.take.default",
)
def gather(node: OpNode) -> OpCost:
    """Row or element gather (embedding, index_select): no FLOPs, gathered data moved."""
    # NB: reads only the gathered data (as many bytes as it writes) and the indices, not the
    # whole source table.
    result = out(node)
    indices = sum(t.nbytes for t in node.inputs[1:])
    return OpCost(0.0, float(indices + result.nbytes), float(result.nbytes), VECTOR, "embedding")
