"""A TorchScript archive traced on --input-shape into the same op vocabulary torch.export uses.

TorchScript calls aten ops through the dispatcher, so `make_fx(pre_dispatch=True)` records
them before CompositeImplicit ops decompose: `aten.linear`, `aten.conv2d`, `aten.layer_norm`,
as in a torch.export graph (torch.jit.trace archives record `aten._convolution`, as they were
saved). The trace runs under a FakeTensorMode first: shapes only, no arithmetic. Scripted code
that branches on tensor values cannot run on fake tensors; it is then run once on real zero
inputs, which take the branches zeros take.
"""

from __future__ import annotations

from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.formats.common import first_line, zero_inputs
from graphcal.load.formats.detect import ModelFile
from graphcal.load.graph import OpGraph
from graphcal.precision import Precision


def load_scripted(mf: ModelFile, precision: Precision, input_specs: tuple) -> OpGraph:
    from graphcal.load.trace import graph_from_fx, record_calls

    name = mf.path.name
    inputs = zero_inputs(input_specs, precision, name, "a TorchScript archive")
    module = scripted_module(mf, precision)
    try:
        return graph_from_fx(trace_callable(module, inputs, name).graph, name)
    except GraphcalError:
        # e.g. torch.jit.trace archives of attention models, whose shape arithmetic
        # make_fx cannot follow: record the calls of one real run instead.
        try:
            return record_calls(module, inputs, name)
        except Exception as exc:
            raise GraphcalError(f"could not trace {name} on the given --input-shape: {first_line(exc)}") from None


def scripted_module(mf: ModelFile, precision: Precision) -> Any:
    """The archive's ScriptModule on the CPU, in eval mode, floating tensors in `precision`."""
    import torch

    try:
        module = torch.jit.load(str(mf.path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError with a C++ backtrace on corrupt archives
        raise GraphcalError(f"{mf.path}: cannot load the TorchScript archive: {first_line(exc)}") from None
    return module.to(getattr(torch, precision.torch_dtype_name)).eval()


def trace_callable(fn: Any, inputs: tuple, name: str) -> Any:
    """An FX GraphModule of `fn(*inputs)` at the pre-dispatch aten level, with meta["val"]."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx

    def call(*args):
        return fn(*args)

    with torch.no_grad():
        try:
            fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
            fake_inputs = tuple(fake_mode.from_tensor(t) for t in inputs)
            with fake_mode:
                return make_fx(call, pre_dispatch=True, tracing_mode="real")(*fake_inputs)
        except Exception:  # data-dependent code: trace once more on the real zeros
            pass
        try:
            return make_fx(call, pre_dispatch=True, tracing_mode="real")(*inputs)
        except Exception as exc:
            raise GraphcalError(f"could not trace {name} on the given --input-shape: {first_line(exc)}") from None

