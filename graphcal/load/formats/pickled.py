"""torch.save files: a pickle that may run arbitrary code when loaded.

Such a file is first opened with `torch.load(weights_only=True)`, whose unpickler allows only
tensors and plain containers. If that succeeds, the file holds data and no model (a state
dict): there is no graph to trace, and the error says how to export the model instead. If the
unpickler refuses, the file needs arbitrary code (a pickled nn.Module): it is loaded only with
--trust-pickle, and then traced like a factory's module on --input-shape.
"""

from __future__ import annotations

import pickle
import re
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.formats.common import first_line, require_input_specs, zero_inputs
from graphcal.load.formats.detect import ModelFile
from graphcal.load.graph import OpGraph
from graphcal.precision import Precision

EXPORT_HOWTO = (
    "export the model instead: ep = torch.export.export(model.eval(), example_inputs); "
    "torch.export.save(ep, 'model.pt2'); then predict model.pt2"
)
REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def load_pickled(mf: ModelFile, precision: Precision, input_specs: tuple, trust_pickle: bool) -> OpGraph:
    from graphcal.load.trace import export_module

    name = mf.path.name
    module = pickled_module(mf, precision, input_specs, trust_pickle)
    return export_module(module, zero_inputs(input_specs, precision, name, "a torch.save'd module"), name)


def pickled_module(mf: ModelFile, precision: Precision, input_specs: tuple, trust_pickle: bool) -> Any:
    """The pickled nn.Module, floating tensors in `precision`: loaded only with --trust-pickle,
    and only after --input-shape is known to be given."""
    import torch

    name = mf.path.name
    refused = _weights_only_refusal(mf)
    if refused is None:
        raise GraphcalError(
            f"{mf.path}: holds only weights (a state dict or tensors), no model to trace; {EXPORT_HOWTO}"
        )
    if not trust_pickle:
        raise GraphcalError(
            f"{mf.path}: a torch.save file whose loading runs code from the file ({refused}); "
            f"graphcal refuses it. Better, {EXPORT_HOWTO}. Or, only if you trust the file, pass --trust-pickle"
        )
    require_input_specs(input_specs, name, "a torch.save'd module")
    try:
        module = torch.load(mf.path, map_location="cpu", weights_only=False)
    except (ImportError, AttributeError) as exc:
        raise GraphcalError(
            f"{mf.path}: the pickled model's code is not importable here ({first_line(exc)}); "
            "put the module that defines its classes on PYTHONPATH"
        ) from None
    except Exception as exc:
        raise GraphcalError(f"{mf.path}: cannot unpickle the file: {first_line(exc)}") from None
    if not isinstance(module, torch.nn.Module):
        raise GraphcalError(f"{mf.path}: holds a {type(module).__name__}, not a torch.nn.Module; {EXPORT_HOWTO}")
    return module.to(getattr(torch, precision.torch_dtype_name))


def _weights_only_refusal(mf: ModelFile) -> Any:
    """None when the weights-only unpickler loads the file; else what it refused (a class name)."""
    import torch

    try:
        # mmap: storages stay on disk, so a multi-GB state dict costs no memory here
        torch.load(mf.path, map_location="cpu", weights_only=True, mmap=bool(mf.records))
    except pickle.UnpicklingError as exc:
        found = REFUSED_GLOBAL.search(str(exc))
        return f"it needs {found.group(1)}" if found else "it is not weights-only"
    except Exception as exc:  # torch raises RuntimeError for a corrupt archive or stream
        raise GraphcalError(
            f"{mf.path}: a corrupt or truncated torch.save file ({first_line(exc)}); save it again"
        ) from None
    return None
