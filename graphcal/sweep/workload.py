"""What a sweep times: a MODEL (spec, .pt2, TorchScript or trusted torch.save file, or factory)
costed as predict costs it, and the same model built for real on the CPU with its inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graphcal.errors import GraphcalError
from graphcal.load.resolve import InputSpec, ModelKind, check_factory_kwargs, load_graph, model_kind
from graphcal.load.specs import parse_spec
from graphcal.precision import Precision


@dataclass(frozen=True)
class Workload:
    text: str             # the `workload` column: what `graphcal predict` takes
    flops: float          # as predict counts them
    bytes: float
    unsupported: str      # "target xN; ..." for ops predict cannot cost ("" when none)


def cost_workload(
    model: str, precision: Precision, input_specs: tuple[InputSpec, ...] = (), trust_pickle: bool = False,
    factory_kwargs: dict | None = None,
) -> Workload:
    """Flops and bytes exactly as `graphcal predict MODEL` counts them."""
    from graphcal.cost import cost_graph

    text = parse_spec(model).text if model_kind(model) is ModelKind.SPEC else model
    costed = cost_graph(load_graph(text, precision, input_specs, trust_pickle, factory_kwargs))
    total = costed.total
    unsupported = "; ".join(f"{t} x{n}" for t, n in sorted(costed.unsupported.items()))
    return Workload(text, total.flops, total.bytes, unsupported)


def build_module(
    model: str, precision: Precision, input_specs: tuple[InputSpec, ...] = (), trust_pickle: bool = False,
    factory_kwargs: dict | None = None,
):
    """(nn.Module, inputs) on the CPU for anything `load_graph` accepts: every MODEL form
    `graphcal predict` takes, checked (and refused in one line) as predict checks it."""
    kind = model_kind(model)
    check_factory_kwargs(model, kind, factory_kwargs)
    if kind is ModelKind.FILE:
        return _file_module(Path(model), precision, input_specs, trust_pickle)
    if kind is ModelKind.SPEC:
        return parse_spec(model).build(dtype=precision.torch_dtype_name, device="cpu")
    return _factory_module(model, precision, input_specs, factory_kwargs or {})


def _file_module(path: Path, precision: Precision, input_specs: tuple[InputSpec, ...], trust_pickle: bool):
    """A model file, by the format its content shows (as predict detects it)."""
    from graphcal.load.formats.common import require_input_specs
    from graphcal.load.formats.detect import Kind, inspect_file

    mf = inspect_file(path)
    if mf.kind is Kind.EXPORT:
        return _exported_module(path)
    require_input_specs(input_specs, path.name, "a TorchScript archive" if mf.kind is Kind.TORCHSCRIPT
                        else "a torch.save'd module")
    if mf.kind is Kind.TORCHSCRIPT:
        from graphcal.load.formats.scripted import scripted_module

        module = scripted_module(mf, precision)
    else:
        from graphcal.load.formats.pickled import pickled_module

        module = pickled_module(mf, precision, input_specs, trust_pickle).eval()
    return module, _random_inputs(input_specs, precision)


def _exported_module(path: Path):
    """A torch.export archive as a runnable module with its saved example inputs (or random
    inputs of the exported shapes when none were saved)."""
    import torch

    from graphcal.load.formats.common import first_line

    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # torch raises many types on archives it cannot read
        raise GraphcalError(f"{path}: torch.export.load cannot run this archive: {first_line(exc)}") from None
    from graphcal.sweep.inmodel import EXPORTED_PROGRAM

    module = program.module()  # NB: already in eval mode, and refuses eval()
    module.meta[EXPORTED_PROGRAM] = program  # what --per-op runs node by node
    saved = getattr(program, "example_inputs", None)
    if saved is not None:
        args, kwargs = saved
        if kwargs:
            raise GraphcalError(f"{path}: keyword example inputs are not supported by `sweep model`")
        return module, tuple(args)
    user_inputs = set(program.graph_signature.user_inputs)
    inputs = []
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta.get("val")
            if val is None:
                raise GraphcalError(f"{path}: input {node.name} has no recorded shape")
            inputs.append(random_tensor(tuple(val.shape), val.dtype))
    return module, tuple(inputs)


def _factory_module(ref: str, precision: Precision, input_specs: tuple[InputSpec, ...], kwargs: dict):
    """The factory's module (imported and checked as predict does) with random inputs."""
    from graphcal.load.formats.common import require_input_specs
    from graphcal.load.formats.factory import build_module as build_factory_module

    require_input_specs(input_specs, ref, "a factory")
    module = build_factory_module(ref, precision, kwargs)
    return module.eval(), _random_inputs(input_specs, precision)


def _random_inputs(input_specs: tuple[InputSpec, ...], precision: Precision) -> tuple:
    from graphcal.load.formats.common import torch_dtype

    return tuple(random_tensor(s.shape, torch_dtype(s.dtype or precision.torch_dtype_name)) for s in input_specs)


def random_tensor(shape: tuple[int, ...], dtype):
    """randn for floating dtypes; zeros for integer ones (always valid indices)."""
    import torch

    if dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype)
    return torch.zeros(shape, dtype=dtype)
