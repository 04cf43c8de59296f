"""A torch.export archive (.pt2) at another batch size.

A program exported with static shapes computes for its example's batch only. One exported with
a dynamic batch dimension (`dynamic_shapes={"x": {0: torch.export.Dim("batch")}}`) records
symbols for it: the program is read with torch's deserializer (meta tensors, no weight bytes)
and its graph's shapes are propagated again on fake tensors with the batch set, which
specialises every op to that batch. The batch must lie in the range the program was exported
for (torch checks the same when the program runs).
"""

from __future__ import annotations

from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.formats.common import check_precision, dominant_float_dtype, first_line
from graphcal.load.formats.detect import ModelFile
from graphcal.load.graph import OpGraph
from graphcal.precision import Precision

DYNAMIC_HINT = (
    "export it with a dynamic batch dimension: torch.export.export(model, (x,), "
    "dynamic_shapes={'x': {0: torch.export.Dim('batch', min=1, max=1024)}})"
)


def load_exported_at_batch(
    mf: ModelFile, precision: Precision, batch: int | None, input_specs: tuple = ()
) -> tuple[OpGraph, int]:
    """(the program's OpGraph at `batch`, that batch); `batch=None`: the program as exported."""
    from graphcal.load.formats.exported import deserialize_program, load_exported, read_records
    from graphcal.load.formats.program_json import NotPlain, read_graph

    records = read_records(mf)
    program = None
    try:
        _, _, user_inputs = read_graph(records["program"], mf.path.name)
        shapes = [tuple(m.shape) for m in user_inputs]
    except NotPlain:
        program = deserialize_program(mf, records)
        user = set(program.graph_signature.user_inputs)
        shapes = [tuple(n.meta["val"].shape) for n in program.graph.nodes
                  if n.op == "placeholder" and n.name in user and hasattr(n.meta.get("val"), "shape")]
    if not any(shape and _symbol(shape[0]) is not None for shape in shapes):
        own = _own_batch(shapes, mf)
        if batch is not None and batch != own:
            raise GraphcalError(
                f"{mf.path}: the program was exported with static shapes for batch {own}, so it cannot run at "
                f"batch {batch}; {DYNAMIC_HINT}"
            )
        return load_exported(mf, precision, input_specs), own
    if batch is None:
        raise GraphcalError(f"{mf.path}: the program has a dynamic batch dimension; give --batch N to predict it")
    if input_specs:
        raise GraphcalError(f"{mf.path}: the program has a dynamic batch; drop --input-shape, --batch sets it")
    return _specialise(program or deserialize_program(mf, records), mf, precision, batch), batch


def _own_batch(shapes: list, mf: ModelFile) -> int:
    """The first dimension of the first input; 1 (one call) for a program without one."""
    return int(shapes[0][0]) if shapes and shapes[0] else 1


def _specialise(program: Any, mf: ModelFile, precision: Precision, batch: int) -> OpGraph:
    """Propagate fake tensors of concrete shapes through the program, the user inputs' symbolic
    first dimension set to `batch`, and read the graph."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    from graphcal.load.trace import graph_from_fx, meta_of, persistent_inputs

    user = set(program.graph_signature.user_inputs)
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
    batched = False
    mode = FakeTensorMode()
    args = []
    for node in placeholders:
        value = node.meta.get("val")
        if not isinstance(value, torch.Tensor):
            raise GraphcalError(f"{mf.path}: input {node.name} is not a tensor; graphcal rescales tensor inputs only")
        shape = list(value.shape)
        if node.name in user and shape and _symbol(shape[0]) is not None:
            _check_range(program, _symbol(shape[0]), batch, node.name, mf)
            shape[0], batched = batch, True
        if any(_symbol(d) is not None for d in shape):
            raise GraphcalError(
                f"{mf.path}: input {node.name} has dynamic dimensions besides the batch; graphcal sets only the "
                "batch, so export the other dimensions static"
            )
        with mode:
            args.append(torch.empty(shape, dtype=value.dtype, device="cpu"))
    if not batched:
        raise GraphcalError(f"{mf.path}: no input has a dynamic first dimension, so the batch cannot change; "
                            f"{DYNAMIC_HINT}")
    try:
        FakeTensorProp(program.graph_module, mode).propagate_dont_convert_inputs(*args)
    except Exception as exc:  # torch raises many types; the user needs its message
        raise GraphcalError(f"{mf.path}: cannot specialise the program to batch {batch}: {first_line(exc)}") from None
    metas = [meta_of(n.meta["val"]) for n in placeholders]
    check_precision(dominant_float_dtype(metas), precision, mf.path.name)
    return graph_from_fx(program.graph, mf.path.name, persistent_inputs(program))


def _symbol(size: Any) -> Any:
    """The sympy symbol of a symbolic size; None for a concrete one."""
    import torch

    if isinstance(size, torch.SymInt):
        expr = size.node.expr
        return None if expr.is_number else expr
    return None


def _check_range(program: Any, symbol: Any, batch: int, name: str, mf: ModelFile) -> None:
    bounds = program.range_constraints.get(symbol)
    if bounds is None:
        return
    lower, upper = int(bounds.lower), bounds.upper
    upper_shown = "any" if not upper.is_finite else str(int(upper))
    if batch < lower or (upper.is_finite and batch > int(upper)):
        raise GraphcalError(
            f"{mf.path}: batch {batch} is outside the range {lower} to {upper_shown} the program was exported for "
            f"(input {name}); export it again with torch.export.Dim('batch', min=..., max=...) covering it"
        )
