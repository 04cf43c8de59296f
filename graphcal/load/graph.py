"""The traced model as plain data: ops with the shapes and dtypes of what they read and write.

Everything downstream (costing, mapping) works on these values and never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphcal.errors import GraphcalError

# Bytes per element, by torch dtype name (str(torch.float32) without the "torch." prefix).
ITEMSIZE = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
    "complex64": 8, "complex128": 16,
    "float8_e4m3fn": 1, "float8_e5m2": 1,
}


MAX_SIZE = 2**63 - 1  # torch's sizes are int64


@dataclass(frozen=True)
class TensorMeta:
    """Shape and dtype of one tensor; no data. `persistent`: the tensor is state the model keeps
    between calls (a parameter, a buffer, a KV cache passed in), not an activation of this call."""

    shape: tuple[int, ...]
    dtype: str
    persistent: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in ITEMSIZE:
            raise GraphcalError(f"tensor dtype {self.dtype!r} is not supported by graphcal's costing")
        for size in self.shape:
            # NB: 0 is a real size (an empty tensor: batch norm's saved statistics in eval)
            if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
                raise GraphcalError(f"tensor shape {self.shape!r}: every dimension must be an integer in [0, 2^63)")

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * ITEMSIZE[self.dtype]


@dataclass(frozen=True)
class OpNode:
    """One call of an op. `args` and `kwargs` hold TensorMeta where the call had a tensor."""

    name: str
    target: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[TensorMeta, ...] = ()
    # The innermost nn.Module the call ran in, as its dotted path in the model
    # ("encoder.layer.3.attention"; "" for the model's own forward), from the program's
    # nn_module_stack; None where the format records no modules (TorchScript, recorded calls).
    module: str | None = None
    # Where each of `inputs` comes from: the name of the op whose output it is ("name.i" for
    # output i of an op with several), or "" for a tensor the program was handed (an input, a
    # weight); None where the format records no data flow (TorchScript, recorded calls).
    sources: tuple[str, ...] | None = None

    @property
    def inputs(self) -> tuple[TensorMeta, ...]:
        """Every tensor the call reads, in argument order (tensors inside lists included)."""
        return tuple(tensors_in((self.args, tuple(self.kwargs.values()))))

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """Argument by position, else by keyword, else `default`."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)


@dataclass(frozen=True)
class OpGraph:
    """A model as the ordered list of op calls it makes for one input."""

    model: str
    nodes: tuple[OpNode, ...]
    # Bytes of the distinct persistent tensors the program reads (its weights, buffers and any
    # state passed in): between two reads of one weight, all of them stream through the caches.
    persistent_bytes: int = 0
    # Reuse distances (cost.reuse) recorded where the ops ran inside a larger graph, by node name:
    # an in-model sweep row's op, cut out of its model
    code_reuse: Mapping[str, float] = field(default_factory=dict)


def tensors_in(value: Any):
    """Every tensor (TensorMeta) in a value, lists and tuples included, in order."""
    if isinstance(value, TensorMeta):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors_in(item)


def innermost_module(paths: list[str] | None) -> str | None:
    """The module an op ran in, from its nn_module_stack's paths (outermost first): the last
    one; "" for an empty stack (the model's own forward); None when no stack was recorded."""
    if paths is None:
        return None
    return paths[-1] if paths else ""


RESHAPE = "aten.reshape.default"
GETITEM = "<built-in function getitem>"  # str(operator.getitem), as FX records it
RESHAPE_COPY = "aten._reshape_copy.default"


def reshape_target(shape: tuple[int, ...], strides: tuple[int, ...], new_shape: tuple[int, ...]) -> str:
    """What a reshape of a tensor of `shape` and `strides` to `new_shape` runs: a view where
    the strides allow one (aten.reshape, free), else a copy (aten._reshape_copy): an expanded
    tensor, say, as grouped-query attention repeats its keys. ATen's computeStride, in Python."""
    if not shape or math.prod(shape) == 0:
        return RESHAPE
    view_d = len(new_shape) - 1
    chunk_stride = strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * chunk_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return RESHAPE_COPY
            if d > 0:
                chunk_stride, tensor_numel, view_numel = strides[d - 1], 1, 1
    return RESHAPE if view_d == -1 else RESHAPE_COPY
