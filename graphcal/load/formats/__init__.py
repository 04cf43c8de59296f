"""Model files and factories turned into OpGraphs.

- `detect`: the file's format from its bytes (no torch import);
- `exported`: torch.export archives, read for the program only (no weights);
- `scripted`: TorchScript archives, traced on --input-shape;
- `pickled`: torch.save files: refused unless trusted, state dicts pointed to torch.export;
- `factory`: `package.module:function` returning an nn.Module, traced on --input-shape.
"""

from __future__ import annotations

from pathlib import Path

from graphcal.load.formats.detect import Kind, inspect_file
from graphcal.load.graph import OpGraph
from graphcal.precision import Precision


def load_file(path: Path, precision: Precision, input_specs: tuple = (), trust_pickle: bool = False) -> OpGraph:
    """The OpGraph of a model file, whatever its extension."""
    mf = inspect_file(path)
    if mf.kind is Kind.EXPORT:
        from graphcal.load.formats.exported import load_exported

        return load_exported(mf, precision, input_specs)
    if mf.kind is Kind.TORCHSCRIPT:
        from graphcal.load.formats.scripted import load_scripted

        return load_scripted(mf, precision, input_specs)
    from graphcal.load.formats.pickled import load_pickled

    return load_pickled(mf, precision, input_specs, trust_pickle)


def load_factory(ref: str, precision: Precision, input_specs: tuple = (), kwargs: dict | None = None) -> OpGraph:
    """The OpGraph of the nn.Module that `package.module:function(**kwargs)` returns."""
    from graphcal.load.formats.factory import load_factory as load

    return load(ref, precision, input_specs, kwargs or {})
