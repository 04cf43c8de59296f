"""A Python factory `package.module:function` that returns an nn.Module, traced on --input-shape.

The module is imported as `python -m` would find it: the current directory comes first on
sys.path, so `graphcal predict mymodels:build ...` works from the folder holding mymodels.py.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.formats.common import first_line, require_input_specs, zero_inputs
from graphcal.load.graph import OpGraph
from graphcal.precision import Precision


def load_factory(ref: str, precision: Precision, input_specs: tuple, kwargs: dict | None = None) -> OpGraph:
    from graphcal.load.trace import export_module

    require_input_specs(input_specs, ref, "a factory")
    module = build_module(ref, precision, kwargs)
    return export_module(module, zero_inputs(input_specs, precision, ref, "a factory"), ref)


def build_module(ref: str, precision: Precision, kwargs: dict | None = None) -> Any:
    """The nn.Module the factory returns when called with `kwargs` (--factory-arg), floating
    tensors in `precision`."""
    import torch

    kwargs = kwargs or {}
    factory = resolve_factory(ref)
    try:
        module = factory(**kwargs)
    except Exception as exc:  # the user's code may raise anything
        called = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments; add --factory-arg NAME=VALUE"
        raise GraphcalError(
            f"factory {ref} raised {type(exc).__name__}: {first_line(exc)} (it was called with {called})"
        ) from None
    if not isinstance(module, torch.nn.Module):
        raise GraphcalError(f"factory {ref} returned a {type(module).__name__}, not a torch.nn.Module")
    return module.to(getattr(torch, precision.torch_dtype_name))


def resolve_factory(ref: str) -> Callable[[], Any]:
    """The function `package.module:function` names, or an error saying which part is missing."""
    module_name, _, function_name = ref.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise GraphcalError(
                f"factory {ref}: no module named {exc.name!r} on the Python path; run from the folder "
                "that holds it or add that folder to PYTHONPATH"
            ) from None
        raise GraphcalError(f"factory {ref}: importing {module_name} failed: {first_line(exc)}") from None
    except Exception as exc:  # the user's module may raise anything at import
        raise GraphcalError(
            f"factory {ref}: importing {module_name} failed with {type(exc).__name__}: {first_line(exc)}"
        ) from None
    factory = getattr(module, function_name, None)
    if factory is None:
        where = getattr(module, "__file__", None) or module_name
        raise GraphcalError(f"factory {ref}: {module_name} ({where}) has no attribute {function_name!r}")
    if not callable(factory):
        raise GraphcalError(f"factory {ref}: {function_name} is a {type(factory).__name__}, not a function")
    return factory
