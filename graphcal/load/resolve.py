"""Find out what MODEL names and turn it into an OpGraph.

MODEL is, in this order of checks: an existing file (format detected by content, not by
extension), a built-in workload spec (`mlp:8:512x10`, see graphcal.load.specs), or a Python
factory `package.module:function` that returns an nn.Module.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.graph import OpGraph
from graphcal.load.specs import MAX_SPEC_CHARS, looks_like_spec, parse_spec
from graphcal.precision import Precision

FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class InputSpec:
    """One model input given on the command line: `1x3x224x224` or `1x128:int64`."""

    shape: tuple[int, ...]
    dtype: str | None  # torch dtype name; None: the prediction's precision

    @property
    def text(self) -> str:
        """The option text that parses back to this spec."""
        return "x".join(map(str, self.shape)) + (f":{self.dtype}" if self.dtype else "")

    @classmethod
    def parse(cls, text: str) -> InputSpec:
        shape_text, _, dtype = text.partition(":")
        if not re.fullmatch(r"[0-9]{1,19}(x[0-9]{1,19})*", shape_text) or len(text) > MAX_SPEC_CHARS:
            raise GraphcalError(
                f"malformed --input-shape {text!r}: expected dimensions joined by x, "
                "optionally with a dtype, e.g. 1x3x224x224 or 1x128:int64"
            )
        shape = tuple(int(d) for d in shape_text.split("x"))
        if any(d <= 0 for d in shape):
            raise GraphcalError(f"--input-shape {text!r}: every dimension must be positive")
        return cls(shape, dtype or None)


_BARE_WORD = re.compile(r"^[A-Za-z_][\w.\-]*$")


def parse_factory_args(texts: Sequence[str]) -> dict[str, Any]:
    """`--factory-arg NAME=VALUE`s as keyword arguments: each VALUE read as a Python literal
    (`224`, `True`, `(1, 3)`, `'resnet50'`), a bare word that is not one (`resnet50`) as a string."""
    kwargs: dict[str, Any] = {}
    for text in texts:
        name, eq, value = text.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier() or keyword.iskeyword(name):
            raise GraphcalError(f"--factory-arg {text!r}: expected NAME=VALUE, e.g. model_name=resnet50")
        if name in kwargs:
            raise GraphcalError(f"--factory-arg {name} is given twice")
        try:
            kwargs[name] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            if not _BARE_WORD.match(value.strip()):
                raise GraphcalError(
                    f"--factory-arg {text!r}: {value!r} is neither a Python literal nor a bare word; "
                    "quote a string, e.g. name='\"a b\"'"
                ) from None
            kwargs[name] = value.strip()  # NB: a bare word such as resnet50 reads as the string
    return kwargs


def is_existing_path(text: str) -> bool:
    """Whether `text` names an existing file or directory; False for a text that cannot be a
    path (too long for the file system, a NUL byte) instead of OSError or ValueError."""
    try:
        return Path(text).exists()
    except (OSError, ValueError):
        return False


class ModelKind(Enum):
    FILE = "file"
    SPEC = "spec"
    FACTORY = "factory"


def model_kind(model: str) -> ModelKind:
    """What MODEL names, in this order of checks (the one resolver predict, compare and sweep
    use), or an error saying what it is not."""
    if is_existing_path(model):
        return ModelKind.FILE
    if looks_like_spec(model):
        return ModelKind.SPEC
    if FACTORY.match(model):
        return ModelKind.FACTORY
    if "/" in model or "\\" in model or Path(model).suffix:
        raise GraphcalError(f"{model}: no such file; check the path")
    raise GraphcalError(
        f"MODEL {model!r} is not a file, a workload spec (e.g. mlp:8:512x512x10) "
        "or a factory (package.module:function)"
    )


def load_graph(
    model: str,
    precision: Precision,
    input_specs: tuple[InputSpec, ...] = (),
    trust_pickle: bool = False,
    factory_kwargs: Mapping[str, Any] | None = None,
) -> OpGraph:
    """The OpGraph of MODEL, with tensors in `precision` where the caller builds them;
    `factory_kwargs` are passed to a factory (and refused for any other MODEL)."""
    kind = model_kind(model)
    check_factory_kwargs(model, kind, factory_kwargs)
    if kind is ModelKind.FILE:
        from graphcal.load.formats import load_file

        return load_file(Path(model), precision, input_specs, trust_pickle)
    if kind is ModelKind.SPEC:
        return graph_of_spec(model, precision)
    from graphcal.load.formats import load_factory

    return load_factory(model, precision, input_specs, factory_kwargs or {})


def check_factory_kwargs(model: str, kind: ModelKind, factory_kwargs: Mapping[str, Any] | None) -> None:
    if factory_kwargs and kind is not ModelKind.FACTORY:
        raise GraphcalError(
            f"--factory-arg is for a factory MODEL (package.module:function); {model} is a {kind.value}"
        )


def graph_of_spec(text: str, precision: Precision) -> OpGraph:
    """Trace a workload spec on the meta device, nothing allocated, with the recorder that gives
    torch.export's graph (graphcal.load.capture): a fit costs every workload of its sweeps, 1-4 ms
    each recorded against 7-160 ms exported."""
    from graphcal.load.capture import graph_of_module
    from graphcal.load.formats.common import first_line

    spec = parse_spec(text)
    try:
        module, inputs = spec.build(dtype=precision.torch_dtype_name, device="meta")
        return graph_of_module(module, inputs, spec.text, precision)
    except (RuntimeError, ValueError, OverflowError) as exc:  # e.g. sizes whose product overflows int64
        raise GraphcalError(f"workload spec {spec.text!r}: torch cannot build it ({first_line(exc)})") from None
