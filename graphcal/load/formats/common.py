"""Shared by the loaders: inputs from `--input-shape`, dtype checks, error text."""

from __future__ import annotations

from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.graph import TensorMeta
from graphcal.precision import Precision


def torch_dtype(name: str) -> Any:
    """The torch dtype named `name` (`int64`, `float32`, `bool`), or a GraphcalError."""
    import torch

    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise GraphcalError(
            f"unknown input dtype {name!r}: use a torch dtype name such as float32, int64 or bool"
        )
    return dtype


def require_input_specs(input_specs: tuple, model: str, what: str) -> None:
    if not input_specs:
        raise GraphcalError(
            f"{model}: {what} has no recorded input shapes; pass --input-shape for each input "
            "(e.g. --input-shape 1x3x224x224, or 1x128:int64 for token ids)"
        )


def zero_inputs(input_specs: tuple, precision: Precision, model: str, what: str) -> tuple:
    """One zero tensor per spec: in the spec's dtype, else in the prediction's precision."""
    import torch

    require_input_specs(input_specs, model, what)
    return tuple(
        torch.zeros(s.shape, dtype=torch_dtype(s.dtype or precision.torch_dtype_name))
        for s in input_specs
    )


def dominant_float_dtype(tensors: list[TensorMeta]) -> str | None:
    """The floating dtype name holding the most bytes among `tensors`; None when none is
    floating."""
    totals: dict[str, int] = {}
    for t in tensors:
        if t.dtype.startswith(("float", "bfloat")):
            totals[t.dtype] = totals.get(t.dtype, 0) + t.nbytes
    return max(totals, key=totals.get) if totals else None


def check_precision(model_dtype: str | None, precision: Precision, model: str) -> None:
    """A model whose floating dtype is not the requested precision is an error, never a cast."""
    if model_dtype is None or model_dtype == precision.torch_dtype_name:
        return
    other = Precision.of_dtype(model_dtype)
    fix = f"predict with --dtype {other.value}" if other else "export it in a supported precision"
    raise GraphcalError(
        f"{model}: the program computes in {model_dtype} but --dtype is {precision.value} "
        f"({precision.torch_dtype_name}); {fix}, or export the model again in "
        f"{precision.torch_dtype_name}"
    )


def first_line(exc: BaseException) -> str:
    """The informative line of a torch exception (TorchScript puts it last)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].startswith("The following operation failed in the TorchScript interpreter"):
        return lines[-1]
    return lines[0]
