"""Model files and factories: torch.export archives, TorchScript, Python factories, and the
refusal of pickles that would run arbitrary code."""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path

from graphcal.errors import GraphcalError
from graphcal.graph import OpGraph
from graphcal.precision import Precision


def load_file(path: Path, precision: Precision, input_specs, trust_pickle: bool) -> OpGraph:
    if not path.is_file():
        raise GraphcalError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise GraphcalError(f"{path}: the file is empty")
    if not zipfile.is_zipfile(path):
        raise GraphcalError(f"{path}: not a PyTorch model file (expected a torch.export .pt2 archive)")
    names = zipfile.ZipFile(path).namelist()
    if any("/models/" in n or n.endswith("archive_format") for n in names):
        return _load_export(path)
    raise GraphcalError(f"{path}: unrecognised archive")


def _load_export(path: Path) -> OpGraph:
    import torch

    from graphcal.trace import graph_from_fx

    program = torch.export.load(str(path))
    return graph_from_fx(program.graph, path.name)


def _inputs(input_specs, precision: Precision, model: str):
    import torch

    if not input_specs:
        raise GraphcalError(f"{model}: needs --input-shape (e.g. --input-shape 1x3x224x224)")
    return tuple(
        torch.zeros(s.shape, dtype=getattr(torch, s.dtype or precision.torch_dtype_name))
        for s in input_specs
    )


def load_factory(ref: str, precision: Precision, input_specs) -> OpGraph:
    import torch

    from graphcal.trace import export_module

    module_name, _, function_name = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GraphcalError(f"cannot import {module_name!r} for factory {ref}: {exc}") from None
    factory = getattr(module, function_name, None)
    if factory is None:
        raise GraphcalError(f"{module_name} has no function {function_name!r}")
    model = factory()
    if not isinstance(model, torch.nn.Module):
        raise GraphcalError(f"factory {ref} returned {type(model).__name__}, not a torch.nn.Module")
    model = model.to(getattr(torch, precision.torch_dtype_name))
    return export_module(model, _inputs(input_specs, precision, ref), ref)
